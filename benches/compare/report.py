"""Joins lifetimes_results.json and custval_results.json (and the per-customer outputs both
sides wrote) into one table on stdout and one JSON file.

Agreement is the maximum relative difference |a - b| / max(|a|, |b|) over the compared
numbers: the four (or three) parameters of a fit; every customer's E[X], P(alive) and CLV
for scoring (both sides use lifetimes' parameters there); every customer's frequency,
recency, T and monetary value for summarizing. k-means is compared by inertia, which two
different runs of k-means need not share (different seeding, sample + Lloyd in custval).
"""

import argparse
import json
import os
import sys

import numpy as np
import pandas as pd

# Targets of the write-up (lifetimes time / custval time), not asserts.
TARGET_RATIO = {
    "fit_bgnbd": 20,
    "fit_bgnbd_day": 100,
    "fit_bgnbd_day_weighted": None,
    "fit_gamma_gamma": None,
    "score": 100,
    "summarize_csv": 10,
    "kmeans": 1,
}
PARAM_TOL, PREDICTION_TOL = 1e-4, 1e-6


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    den = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(a == b, 0.0, np.abs(a - b) / den)
    return r


def worst(name, a, b, ids=None):
    """Max relative difference and the customer where it occurs."""
    r = rel(a, b)
    if r.size == 0:
        return {f"{name}_max_rel_diff": 0.0}
    nan = np.isnan(r)
    i = int(np.nanargmax(r)) if not nan.all() else 0
    out = {
        f"{name}_max_rel_diff": float(np.nanmax(r)) if not nan.all() else float("nan"),
        f"{name}_worst_customer": str(ids[i]) if ids is not None else i,
        f"{name}_worst_lifetimes": float(np.asarray(a)[i]),
        f"{name}_worst_custval": float(np.asarray(b)[i]),
        f"{name}_over_1e-6": int(np.sum(r > PREDICTION_TOL)),
    }
    if nan.any():
        out[f"{name}_nan"] = int(nan.sum())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--out", required=True)
    ap.add_argument("--plot", help="write the time-against-N chart here (SVG)")
    args = ap.parse_args()
    d = args.dir
    with open(os.path.join(d, "lifetimes_results.json")) as fh:
        lt = json.load(fh)
    with open(os.path.join(d, "custval_results.json")) as fh:
        cv = json.load(fh)
    cv_by = {(r["task"], r["n"]): r for r in cv["results"]}

    rows = []
    for L in lt["results"]:
        task, n = L["task"], L["n"]
        C = cv_by.get(("fit_bgnbd_day" if task == "fit_bgnbd_day_weighted" else task, n))
        if C is None:
            continue
        row = dict(task=task, n=n, lifetimes_s=L["seconds"], custval_s=C["seconds"],
                   lifetimes_peak_bytes=L.get("peak_bytes"), custval_peak_bytes=C.get("peak_bytes"))
        row["ratio"] = L["seconds"] / C["seconds"] if C["seconds"] > 0 else float("inf")
        agree = {}
        if task.startswith("fit_"):
            names = ("p", "q", "v") if task == "fit_gamma_gamma" else ("r", "alpha", "a", "b")
            diffs = {k: float(rel(L[k], C[k])) for k in names}
            agree["params_max_rel_diff"] = max(diffs.values())
            agree["params_lifetimes"] = {k: L[k] for k in names}
            agree["params_custval"] = {k: C[k] for k in names}
            if "log_likelihood_at_lifetimes" in C and task != "fit_bgnbd_day_weighted":
                # > 0: custval's estimate has the higher likelihood (custval's formula).
                agree["loglik_custval_minus_lifetimes"] = (
                    C["log_likelihood"] - C["log_likelihood_at_lifetimes"])
            row["max_rel_diff"] = agree["params_max_rel_diff"]
            row["tolerance"] = PARAM_TOL
        elif task == "score":
            for name in ("expected", "palive", "clv"):
                x = np.fromfile(os.path.join(d, f"lifetimes_{name}_{n}.f64"), dtype="<f8")
                y = np.fromfile(os.path.join(d, f"custval_{name}_{n}.f64"), dtype="<f8")
                agree.update(worst(name, x, y))
            row["max_rel_diff"] = max(agree[f"{k}_max_rel_diff"]
                                      for k in ("expected", "palive", "clv"))
            row["tolerance"] = PREDICTION_TOL
        elif task == "summarize_csv":
            ls = pd.read_csv(os.path.join(d, f"lifetimes_summary_{n}.csv"), index_col="customer_id")
            cs = pd.read_csv(os.path.join(d, f"custval_summary_{n}.csv"), index_col="customer_id")
            agree["customers_lifetimes"], agree["customers_custval"] = len(ls), len(cs)
            both = ls.index.intersection(cs.index)
            agree["customers_in_one_only"] = int(len(ls) + len(cs) - 2 * len(both))
            ls, cs = ls.loc[both], cs.loc[both]
            agree["frequency_mismatches"] = int((ls["frequency"] != cs["frequency"]).sum())
            for col in ("recency", "T", "monetary_value"):
                agree.update(worst(col, ls[col].to_numpy(), cs[col].to_numpy(), both))
            row["max_rel_diff"] = max(agree[f"{k}_max_rel_diff"]
                                      for k in ("recency", "T", "monetary_value"))
            if agree["frequency_mismatches"] or agree["customers_in_one_only"]:
                row["max_rel_diff"] = float("inf")
            row["tolerance"] = PREDICTION_TOL
        elif task == "kmeans":
            agree["inertia_lifetimes_side"] = L["inertia"]
            agree["inertia_custval"] = C["inertia"]
            agree["sklearn_iterations"] = L["iterations"]
            agree["sklearn_seconds_default_threads"] = L["seconds_default_threads"]
            agree["sklearn_seconds_one_thread"] = L["seconds_one_thread"]
            agree["custval_iterations"] = int(C.get("iterations", 0))
            seg = cv_by.get(("segment", n), {})
            agree["scaler_max_rel_diff"] = seg.get("scaler_max_rel_diff", float("nan"))
            agree["custval_segment_s"] = seg.get("seconds")
            # custval / sklearn - 1: > 0 means custval's clustering is worse.
            agree["inertia_custval_over_sklearn_minus_1"] = C["inertia"] / L["inertia"] - 1
            row["max_rel_diff"] = float(rel(L["inertia"], C["inertia"]))
            row["tolerance"] = None
        target = TARGET_RATIO.get(task)
        row["target_ratio"] = target
        row["target_met"] = None if target is None else bool(row["ratio"] >= target)
        if row.get("tolerance") is not None:
            row["within_tolerance"] = bool(row["max_rel_diff"] <= row["tolerance"])
        row["agreement"] = agree
        rows.append(row)

    order = list(TARGET_RATIO)
    rows.sort(key=lambda r: (order.index(r["task"]), r["n"]))

    print(f"{'task':<24}{'N':>10}{'lifetimes s':>13}{'custval s':>12}{'ratio':>10}"
          f"{'target':>8}{'max rel diff':>14}{'tol':>8}")
    for r in rows:
        target = "" if r["target_ratio"] is None else (
            f"{r['target_ratio']}x " + ("ok" if r["target_met"] else "MISS"))
        tol = "" if r["tolerance"] is None else (
            "ok" if r["within_tolerance"] else "OVER")
        print(f"{r['task']:<24}{r['n']:>10}{r['lifetimes_s']:>13.4f}{r['custval_s']:>12.5f}"
              f"{r['ratio']:>9.1f}x{target:>8}{r['max_rel_diff']:>14.2e}{tol:>8}")
    print()
    for r in rows:
        a = r["agreement"]
        if r["task"].startswith("fit_"):
            ll = a.get("loglik_custval_minus_lifetimes")
            extra = "" if ll is None else f"; LL(custval) - LL(lifetimes) = {ll:.3g}"
            print(f"{r['task']} {r['n']}: lifetimes {fmt(a['params_lifetimes'])}; "
                  f"custval {fmt(a['params_custval'])}{extra}")
        elif r["task"] == "score":
            print(f"score {r['n']}: " + "; ".join(
                f"{k} {a[k + '_max_rel_diff']:.2e} (customer {a[k + '_worst_customer']}: "
                f"{a[k + '_worst_lifetimes']:.10g} vs {a[k + '_worst_custval']:.10g}, "
                f"{a[k + '_over_1e-6']} over 1e-6)" for k in ("expected", "palive", "clv")))
        elif r["task"] == "summarize_csv":
            print(f"summarize {r['n']} rows: {a['customers_custval']} customers "
                  f"(lifetimes {a['customers_lifetimes']}), frequency mismatches "
                  f"{a['frequency_mismatches']}, " + ", ".join(
                      f"{k} {a[k + '_max_rel_diff']:.2e}"
                      for k in ("recency", "T", "monetary_value")))
        elif r["task"] == "kmeans":
            print(f"kmeans {r['n']}: inertia sklearn {a['inertia_lifetimes_side']:.6g} "
                  f"({a['sklearn_iterations']} iterations; {a['sklearn_seconds_default_threads']:.4f} s "
                  f"default threads, {a['sklearn_seconds_one_thread']:.4f} s one thread), custval {a['inertia_custval']:.6g} "
                  f"({a['custval_iterations']} Lloyd iterations after seeding on a sample) "
                  f"({a['inertia_custval_over_sklearn_minus_1']:+.2%}); features identical "
                  f"to segment()'s: scaler max rel diff {a['scaler_max_rel_diff']:.1e}; "
                  f"segment() as a whole (features, k-means, naming, tiers, RFM quintiles, "
                  f"concentration) {a['custval_segment_s']:.4f} s")

    print()
    print(growth_table(rows))
    if args.plot:
        with open(args.plot, "w") as fh:
            fh.write(time_vs_n_svg(rows))
        print(f"written {args.plot}", file=sys.stderr)

    print(f"load average after the Python side: {lt['load_average']}; custval threads: "
          f"{cv['threads']}")
    result = dict(versions=lt["versions"], custval_threads=cv["threads"],
                  load_average_after_python=lt["load_average"],
                  timing=("min over runs: 1 run if > 2 s, else >= 3 runs and >= 1 s in total (max 50); "
                          "ratio = lifetimes/custval"),
                  rows=rows)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1, default=float)
    print(f"\nwritten {args.out}", file=sys.stderr)


def growth_table(rows):
    """Markdown: cost per customer (per row for summarizing) and heap peak, both sides."""
    out = ["| task | N | lifetimes µs/customer | custval µs/customer | lifetimes peak MB "
           "| custval peak MB |", "|---|---|---|---|---|---|"]
    mb = lambda b: "-" if b is None else f"{b / 1e6:.1f}"  # noqa: E731
    for r in rows:
        out.append(f"| {r['task']} | {r['n']:,} | {1e6 * r['lifetimes_s'] / r['n']:.3g} "
                   f"| {1e6 * r['custval_s'] / r['n']:.3g} | {mb(r['lifetimes_peak_bytes'])} "
                   f"| {mb(r['custval_peak_bytes'])} |")
    return "\n".join(out)


# Tasks in the chart (summarizing is over transaction rows, a different N).
PLOT_TASKS = [("fit_bgnbd", "fit, continuous", "#1f77b4"),
              ("fit_bgnbd_day", "fit, day resolution", "#ff7f0e"),
              ("score", "score + 12-month CLV", "#2ca02c"),
              ("kmeans", "k-means, k = 6", "#9467bd")]


def time_vs_n_svg(rows):
    """A log-log chart of seconds against customers: solid custval, dashed lifetimes /
    scikit-learn, one colour per task. Plain SVG, no plotting library."""
    import math
    w, h, left, right, top, bottom = 720, 440, 70, 190, 30, 50
    pts = [(r["n"], t) for r in rows if r["task"] in dict((k, 0) for k, _, _ in PLOT_TASKS)
           for t in (r["lifetimes_s"], r["custval_s"])]
    if not pts:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    nx = [math.log10(p[0]) for p in pts]
    ty = [math.log10(max(p[1], 1e-6)) for p in pts]
    x0, x1 = math.floor(min(nx)), math.ceil(max(nx))
    y0, y1 = math.floor(min(ty)), math.ceil(max(ty))
    x1 = max(x1, x0 + 1)
    y1 = max(y1, y0 + 1)
    X = lambda v: left + (math.log10(v) - x0) / (x1 - x0) * (w - left - right)  # noqa: E731
    Y = lambda v: top + (y1 - math.log10(max(v, 1e-6))) / (y1 - y0) * (h - top - bottom)  # noqa: E731
    o = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' "
         f"font-family='sans-serif' font-size='12'>",
         f"<rect width='{w}' height='{h}' fill='white'/>",
         f"<text x='{left}' y='18' font-size='14'>Time against customers (log-log): "
         f"custval solid, lifetimes / scikit-learn dashed</text>"]
    for e in range(y0, y1 + 1):
        y = Y(10 ** e)
        o.append(f"<line x1='{left}' x2='{w - right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>")
        label = f"{10 ** e:g} s" if e >= 0 else f"{10 ** (e + 3):g} ms"
        o.append(f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{label}</text>")
    for e in range(x0, x1 + 1):
        x = X(10 ** e)
        o.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top}' y2='{h - bottom}' stroke='#ddd'/>")
        o.append(f"<text x='{x:.1f}' y='{h - bottom + 16}' text-anchor='middle'>{10 ** e:,}</text>")
    o.append(f"<text x='{(left + w - right) / 2:.0f}' y='{h - 12}' text-anchor='middle'>"
             f"customers</text>")
    legend_y = top + 10
    for task, label, colour in PLOT_TASKS:
        series = sorted((r["n"], r["lifetimes_s"], r["custval_s"]) for r in rows
                        if r["task"] == task)
        if not series:
            continue
        for k, dash in ((1, "6 4"), (2, None)):
            path = " ".join(f"{X(p[0]):.1f},{Y(p[k]):.1f}" for p in series)
            d = f" stroke-dasharray='{dash}'" if dash else ""
            o.append(f"<polyline points='{path}' fill='none' stroke='{colour}' "
                     f"stroke-width='2'{d}/>")
            for p in series:
                o.append(f"<circle cx='{X(p[0]):.1f}' cy='{Y(p[k]):.1f}' r='3' fill='{colour}'/>")
        o.append(f"<line x1='{w - right + 12}' x2='{w - right + 36}' y1='{legend_y}' "
                 f"y2='{legend_y}' stroke='{colour}' stroke-width='2'/>")
        o.append(f"<text x='{w - right + 42}' y='{legend_y + 4}'>{label}</text>")
        legend_y += 20
    o.append("</svg>")
    return "\n".join(o)


def fmt(p):
    return " ".join(f"{k}={v:.7g}" for k, v in p.items())


if __name__ == "__main__":
    main()
