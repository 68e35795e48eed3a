"""Turns DIR/compare-runs.json (driver.py) into tables on stdout and one JSON file.

Time: every side ran the same number of timed runs, interleaved; the tables give the
minimum and the median of each side's runs, and the ratios peer / custval of both, with
custval on one thread (one CPU: the algorithm) and on two. The load average (1 minute,
/proc/loadavg before each run) is summarized per side: how busy the machine was.

Agreement is the maximum relative difference |a - b| / max(|a|, |b|) over the compared
numbers: the four (or three) parameters of a fit; every customer's E[X], P(alive) and CLV
for scoring (custval scores with the peer's parameters and CLV month there); every
customer's frequency, recency, T and monetary value for summarizing. k-means is compared
by inertia, which two different runs of k-means need not share.
"""

import argparse
import json
import os
import statistics
import sys

import numpy as np
import pandas as pd

# Targets (peer time / custval time, at 1M customers; summarizing at every size), not
# asserts: by custval's thread count.
TARGETS = {
    "fit_bgnbd": {"1t": 30, "2t": 70},
    "fit_bgnbd_day": {"1t": 30, "2t": 100},
    "fit_bgnbd_day_weighted": {},
    "fit_gamma_gamma": {},
    "score": {"1t": 50, "2t": 100},
    "pymc_fit_bgnbd": {"2t": 100},
    "pymc_fit_gamma_gamma": {},
    "pymc_score": {"2t": 100},
    "e2e_fit": {"cli": 20},
    "kmeans": {"2t": 1},
    "segment": {},
    "summarize_csv": {"2t": 10},
}
TARGET_N = 1_000_000
# The server's CPU time for an end-to-end fit against the in-process fit's: at most this.
E2E_CPU_TARGET = 2.0
PARAM_TOL, PREDICTION_TOL = 1e-4, 1e-6
PEER_NAMES = {"lifetimes": "lifetimes", "sklearn": "scikit-learn",
              "sklearn_1t": "scikit-learn (1 thread)", "pymc": "PyMC-Marketing"}


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
        f"{name}_worst_peer": float(np.asarray(a)[i]),
        f"{name}_worst_custval": float(np.asarray(b)[i]),
        f"{name}_over_1e-6": int(np.sum(r > PREDICTION_TOL)),
    }
    if nan.any():
        out[f"{name}_nan"] = int(nan.sum())
    return out


def stats(reps, key="seconds"):
    v = [r[key] for r in reps if r.get(key) is not None]
    return dict(min=min(v), median=statistics.median(v)) if v else None


def load_stats(reps):
    v = [r["load"][0] for r in reps]
    return dict(min=min(v), median=statistics.median(v), max=max(v))


def summarize_row(row, d):
    task, n = row["task"], row["n"]
    sides = {s["side"]: s for s in row["sides"]}
    peers = [s for s in row["sides"] if not s["side"].startswith("custval")]
    out = dict(task=task, n=n, sides={})
    for s in row["sides"]:
        out["sides"][s["side"]] = dict(
            seconds=stats(s["reps"]), cpu_seconds=stats(s["reps"], "cpu_seconds"),
            load1=load_stats(s["reps"]), runs=len(s["reps"]),
            peak_bytes=s["entry"].get("peak_bytes"))
    # k-means: scikit-learn's faster thread setting counts (see lifetimes_side.py).
    if peers:
        best = min(peers, key=lambda s: stats(s["reps"])["min"])
        out["peer"] = best["side"]
        ps = out["sides"][best["side"]]["seconds"]
        peer_entry = best["entry"]
    else:
        ps, peer_entry = None, None
    ratios = {}
    for key in ("custval_1t", "custval_2t", "custval_cli"):
        if key in out["sides"] and ps is not None:
            cs = out["sides"][key]["seconds"]
            ratios[key] = dict(min=ps["min"] / cs["min"], median=ps["median"] / cs["median"])
    out["ratio"] = ratios
    targets = TARGETS.get(task, {})
    checked = task == "summarize_csv" or n >= TARGET_N
    out["targets"] = {}
    for k, t in targets.items():
        side = {"1t": "custval_1t", "2t": "custval_2t", "cli": "custval_cli"}[k]
        if side in ratios:
            out["targets"][k] = dict(target=t, met=(ratios[side]["min"] >= t) if checked
                                     else None)
    out["agreement"] = agreement(task, n, d, peer_entry, sides)
    return out


def agreement(task, n, d, peer, sides):
    a = {}
    c1, c2 = sides.get("custval_1t", {}).get("entry"), sides.get("custval_2t", {}).get("entry")
    if task.startswith("fit_") or task in ("pymc_fit_bgnbd", "pymc_fit_gamma_gamma", "e2e_fit"):
        names = ("p", "q", "v") if task.endswith("gamma_gamma") else ("r", "alpha", "a", "b")
        if task == "e2e_fit":
            names = ("r", "alpha", "a", "b", "p", "q", "v")
            cli = sides["custval_cli"]["entry"]
            a["cli_params_max_rel_diff"] = max(float(rel(peer[k], cli[k])) for k in names)
            a["params_cli"] = {k: cli[k] for k in names}
            for k in ("server_peak_rss_bytes", "server_rss_after_bytes", "cli_peak_rss_bytes"):
                a[k] = cli.get(k)
        a["params_peer"] = {k: peer[k] for k in names}
        a["params_custval"] = {k: c2[k] for k in names}
        a["params_max_rel_diff"] = max(float(rel(peer[k], c2[k])) for k in names)
        # The thread count must not change the estimate.
        a["custval_1t_vs_2t_max_rel_diff"] = max(float(rel(c1[k], c2[k])) for k in names)
        if "log_likelihood_at_peer" in c2 and task != "fit_bgnbd_day_weighted":
            # > 0: custval's estimate has the higher likelihood (custval's formula).
            a["loglik_custval_minus_peer"] = c2["log_likelihood"] - c2["log_likelihood_at_peer"]
        a["max_rel_diff"], a["tolerance"] = a["params_max_rel_diff"], PARAM_TOL
    elif task in ("score", "pymc_score"):
        who = "pymc" if task == "pymc_score" else "lifetimes"
        for name in ("expected", "palive", "clv"):
            x = np.fromfile(os.path.join(d, f"{who}_{name}_{n}.f64"), dtype="<f8")
            y = np.fromfile(os.path.join(d, f"custval_{who}_{name}_{n}.f64"), dtype="<f8")
            a.update(worst(name, x, y))
        a["max_rel_diff"] = max(a[f"{k}_max_rel_diff"] for k in ("expected", "palive", "clv"))
        a["tolerance"] = PREDICTION_TOL
    elif task == "summarize_csv":
        ls = pd.read_csv(os.path.join(d, f"lifetimes_summary_{n}.csv"), index_col="customer_id")
        cs = pd.read_csv(os.path.join(d, f"custval_summary_{n}.csv"), index_col="customer_id")
        a["customers_peer"], a["customers_custval"] = len(ls), len(cs)
        both = ls.index.intersection(cs.index)
        a["customers_in_one_only"] = int(len(ls) + len(cs) - 2 * len(both))
        ls, cs = ls.loc[both], cs.loc[both]
        a["frequency_mismatches"] = int((ls["frequency"] != cs["frequency"]).sum())
        for col in ("recency", "T", "monetary_value"):
            a.update(worst(col, ls[col].to_numpy(), cs[col].to_numpy(), both))
        a["max_rel_diff"] = max(a[f"{k}_max_rel_diff"] for k in ("recency", "T", "monetary_value"))
        if a["frequency_mismatches"] or a["customers_in_one_only"]:
            a["max_rel_diff"] = float("inf")
        a["tolerance"] = PREDICTION_TOL
    elif task == "kmeans":
        a["inertia_peer"], a["inertia_custval"] = peer["inertia"], c2["inertia"]
        a["sklearn_iterations"], a["custval_iterations"] = peer["iterations"], int(c2["iterations"])
        # custval / sklearn - 1: > 0 means custval's clustering is worse.
        a["inertia_custval_over_sklearn_minus_1"] = c2["inertia"] / peer["inertia"] - 1
        a["max_rel_diff"], a["tolerance"] = float(rel(peer["inertia"], c2["inertia"])), None
    elif task == "segment":
        a["scaler_max_rel_diff"] = c2["scaler_max_rel_diff"]
        a["inertia"] = c2["inertia"]
    if a.get("tolerance") is not None:
        a["within_tolerance"] = bool(a["max_rel_diff"] <= a["tolerance"])
    return a


def t(s):
    """Seconds for a table cell."""
    if s is None:
        return "—"
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def cell(st):
    return "—" if st is None else f"{t(st['min'])} / {t(st['median'])}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", help="compare-runs.json written by driver.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--plot", help="write the time-against-N chart here (SVG)")
    args = ap.parse_args()
    with open(args.runs) as fh:
        runs = json.load(fh)
    d = os.path.dirname(os.path.abspath(args.runs))
    rows = [summarize_row(r, d) for r in runs["rows"]]

    print(f"{runs['reps']} timed runs per side and row, interleaved; times min / median; "
          f"ratios peer / custval, min (median); load = 1-minute load average over the "
          f"row's runs (min–max)")
    print()
    print("| task | N | peer | peer time | custval 1 thread | custval 2 threads | ratio 1 thread "
          "| ratio 2 threads | target | load | max rel. diff (tol.) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["sides"]
        peer = r.get("peer")
        ratio = lambda k: ("—" if k not in r["ratio"] else  # noqa: E731
                           f"{r['ratio'][k]['min']:.1f}x ({r['ratio'][k]['median']:.1f}x)")
        targets = " ".join(
            f"{k} ≥{v['target']}x " + {True: "ok", False: "MISS", None: "(1M)"}[v["met"]]
            for k, v in r["targets"].items()) or "—"
        loads = [v["load1"] for v in s.values()]
        load = f"{min(x['min'] for x in loads):.1f}–{max(x['max'] for x in loads):.1f}"
        a = r["agreement"]
        diff = "—"
        if "max_rel_diff" in a:
            tol = a.get("tolerance")
            diff = f"{a['max_rel_diff']:.1e}" + (
                "" if tol is None else f" ({tol:g}{'' if a['within_tolerance'] else ' OVER'})")
        peer_cell = cell(s[peer]["seconds"]) if peer else "—"
        second = ""
        if "custval_cli" in s:
            second = f"; CLI → server {cell(s['custval_cli']['seconds'])}"
        print(f"| {r['task']} | {r['n']:,} | {PEER_NAMES.get(peer, peer or '—')} | {peer_cell} "
              f"| {cell(s.get('custval_1t', {}).get('seconds'))} "
              f"| {cell(s.get('custval_2t', {}).get('seconds'))}{second} "
              f"| {ratio('custval_1t')} | {ratio('custval_2t')}"
              + (f"; CLI {ratio('custval_cli')}" if "custval_cli" in r["ratio"] else "")
              + f" | {targets} | {load} | {diff} |")
    print()
    for r in rows:
        details(r)
    print()
    print(growth_table(rows))
    print()
    for name, w in runs["workers"].items():
        info = ", ".join(f"{k} {v}" for k, v in w.items() if k not in ("ready", "versions"))
        versions = ", ".join(f"{k} {v}" for k, v in (w.get("versions") or {}).items())
        print(f"{name}: {'; '.join(x for x in (info, versions) if x)}")
    if args.plot:
        with open(args.plot, "w") as fh:
            fh.write(time_vs_n_svg([plot_row(r) for r in rows if plot_row(r)]))
        print(f"written {args.plot}", file=sys.stderr)
    result = dict(started=runs["started"], wall_seconds=runs["wall_seconds"],
                  reps=runs["reps"], host=runs["host"], workers=runs["workers"],
                  timing=("every side the same number of timed runs, interleaved; min and "
                          "median; ratio = peer / custval"),
                  rows=rows)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1, default=float)
    print(f"\nwritten {args.out} (the run took {runs['wall_seconds']:.0f} s)", file=sys.stderr)


def details(r):
    a, s, n = r["agreement"], r["sides"], r["n"]
    task = r["task"]
    if "params_peer" in a:
        ll = a.get("loglik_custval_minus_peer")
        extra = "" if ll is None else f"; LL(custval) - LL(peer) = {ll:.3g}"
        if ll is not None and ll > 0 and not a.get("within_tolerance", True):
            extra += " (custval's estimate is the better maximum: the peer's optimizer stopped short)"
        line = (f"{task} {n:,}: {PEER_NAMES.get(r.get('peer'), r.get('peer'))} "
                f"{fmt(a['params_peer'])}; custval {fmt(a['params_custval'])}{extra}; "
                f"1 vs 2 threads {a['custval_1t_vs_2t_max_rel_diff']:.1e}")
        if task == "e2e_fit":
            cli = s["custval_cli"]
            inproc = s["custval_2t"]["cpu_seconds"]["min"]
            server = cli["cpu_seconds"]["min"]
            mb = lambda b: "?" if b is None else f"{b / 1e6:.0f} MB"  # noqa: E731
            line += (f"; CLI params {a['cli_params_max_rel_diff']:.1e} from the peer's; server "
                     f"CPU {t(server)} (median {t(cli['cpu_seconds']['median'])}) against the "
                     f"in-process fit's {t(inproc)} (one thread: "
                     f"{t(s['custval_1t']['cpu_seconds']['min'])}): ")
            if server < 0.1:
                # /proc/PID/stat counts clock ticks (10 ms): too coarse to compare here.
                line += "too small for /proc's 10 ms ticks"
            else:
                line += (f"{server / inproc:.2f}x (target ≤ {E2E_CPU_TARGET:g}x"
                         + ("" if n < TARGET_N else
                            (" ok" if server / inproc <= E2E_CPU_TARGET else " MISS")) + ")")
            line += (f"; peak RSS server {mb(a.get('server_peak_rss_bytes'))}, "
                     f"after {mb(a.get('server_rss_after_bytes'))}, CLI "
                     f"{mb(a.get('cli_peak_rss_bytes'))}")
        print(line)
    elif task in ("score", "pymc_score"):
        print(f"{task} {n:,}: " + "; ".join(
            f"{k} {a[k + '_max_rel_diff']:.2e} (customer {a[k + '_worst_customer']}: "
            f"{a[k + '_worst_peer']:.10g} vs {a[k + '_worst_custval']:.10g}, "
            f"{a[k + '_over_1e-6']} over 1e-6)" for k in ("expected", "palive", "clv")))
    elif task == "summarize_csv":
        print(f"summarize {n:,} rows: {a['customers_custval']} customers "
              f"(lifetimes {a['customers_peer']}), frequency mismatches "
              f"{a['frequency_mismatches']}, " + ", ".join(
                  f"{k} {a[k + '_max_rel_diff']:.2e}" for k in ("recency", "T", "monetary_value")))
    elif task == "kmeans":
        print(f"kmeans {n:,}: inertia sklearn {a['inertia_peer']:.6g} "
              f"({a['sklearn_iterations']} iterations; {cell(s['sklearn']['seconds'])} default "
              f"threads, {cell(s['sklearn_1t']['seconds'])} one thread), custval "
              f"{a['inertia_custval']:.6g} ({a['custval_iterations']} Lloyd iterations after "
              f"seeding on a sample) ({a['inertia_custval_over_sklearn_minus_1']:+.2%})")
    elif task == "segment":
        print(f"segment {n:,}: segment() as a whole (features, k-means, naming, tiers, RFM "
              f"quintiles, concentration) {cell(s['custval_1t']['seconds'])} one thread, "
              f"{cell(s['custval_2t']['seconds'])} two; features identical to the k-means "
              f"rows': scaler max rel diff {a['scaler_max_rel_diff']:.1e}")


def growth_table(rows):
    """Markdown: cost per customer (per row for summarizing) and heap peak, every side."""
    out = ["| task | N | peer µs/customer | custval 1 thread | custval 2 threads "
           "| peer peak MB | custval peak MB |", "|---|---|---|---|---|---|---|"]
    mb = lambda b: "-" if b is None else f"{b / 1e6:.1f}"  # noqa: E731
    us = lambda st, n: "-" if st is None else f"{1e6 * st['min'] / n:.3g}"  # noqa: E731
    for r in rows:
        s, n, peer = r["sides"], r["n"], r.get("peer")
        if not peer or r["task"] == "e2e_fit":
            continue
        out.append(f"| {r['task']} | {n:,} | {us(s[peer]['seconds'], n)} "
                   f"| {us(s['custval_1t']['seconds'], n)} | {us(s['custval_2t']['seconds'], n)} "
                   f"| {mb(s[peer]['peak_bytes'])} | {mb(s['custval_2t']['peak_bytes'])} |")
    return "\n".join(out)


def plot_row(r):
    if not r.get("peer") or "custval_1t" not in r["sides"]:
        return None
    return dict(task=r["task"], n=r["n"], peer_s=r["sides"][r["peer"]]["seconds"]["min"],
                custval_s=r["sides"]["custval_1t"]["seconds"]["min"])


# Tasks in the chart (summarizing is over transaction rows, a different N).
PLOT_TASKS = [("fit_bgnbd", "fit, continuous", "#1f77b4"),
              ("fit_bgnbd_day", "fit, day resolution", "#ff7f0e"),
              ("score", "score + 12-month CLV", "#2ca02c"),
              ("kmeans", "k-means, k = 6", "#9467bd")]


def time_vs_n_svg(rows):
    """A log-log chart of seconds against customers: solid custval (one thread), dashed lifetimes /
    scikit-learn, one colour per task. Plain SVG, no plotting library."""
    import math
    w, h, left, right, top, bottom = 720, 440, 70, 190, 30, 50
    pts = [(r["n"], t) for r in rows if r["task"] in dict((k, 0) for k, _, _ in PLOT_TASKS)
           for t in (r["peer_s"], r["custval_s"])]
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
         f"custval on one thread solid, lifetimes / scikit-learn dashed</text>"]
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
        series = sorted((r["n"], r["peer_s"], r["custval_s"]) for r in rows
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
