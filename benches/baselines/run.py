#!/usr/bin/env python3
"""Every family (and --model auto) on real purchase logs, judged on a holdout beside the
naive baselines, then backtested over three 13-week holdouts: a markdown report on
standard output.

Usage: benches/baselines/run.py CUSTVAL CUSTVAL_SERVER [LIFETIMES_DATASETS_DIR]

CUSTVAL and CUSTVAL_SERVER are the built binaries (cargo build --release -p custval-client
-p custval-server). The CDNOW files come from ../shared/data/cdnow; lifetimes'
example_transactions.csv from its package's datasets/ folder when given (it has no
amounts: a column of zeros is added, so there is no spend model and no revenue ranking).
"""
import json, os, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CDNOW = os.path.join(ROOT, "..", "shared", "data", "cdnow")
FAMILIES = ["bgnbd", "mbgnbd", "pareto-nbd", "auto"]
TIMEOUT = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def datasets(lifetimes_dir, work):
    whitespace = ["--delimiter", "whitespace", "--no-header"]
    out = [
        ("CDNOW master (23,570 customers)", os.path.join(CDNOW, "CDNOW_master.txt"),
         ["--delimiter", "whitespace", "--amount-column", "dollar_value"],
         "1997-09-30", "1998-06-30", "gamma-gamma"),
        ("CDNOW sample (2,357 customers)", os.path.join(CDNOW, "CDNOW_sample.txt"),
         whitespace + ["--id-column", "2", "--date-column", "3", "--amount-column", "5"],
         "1997-09-30", "1998-06-30", "gamma-gamma"),
    ]
    if lifetimes_dir:
        src = os.path.join(lifetimes_dir, "example_transactions.csv")
        dst = os.path.join(work, "example_transactions.csv")
        with open(src) as f, open(dst, "w") as g:
            g.write("date,customer_id,amount\n")
            for line in list(f)[1:]:
                g.write(line.strip() + ",0\n")
        out.append(("lifetimes example_transactions (5,000 customers, no amounts)", dst,
                    [], "2014-09-30", "2014-12-31", "none"))
    return out


def main():
    custval, server = sys.argv[1], sys.argv[2]
    lifetimes_dir = sys.argv[3] if len(sys.argv) > 3 else None
    work = tempfile.mkdtemp()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([server, "--listen", f"127.0.0.1:{port}", "--data-dir",
                            os.path.join(work, "data"), "--metrics-listen", "127.0.0.1:0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run([custval, "--server", url, "health"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        for title, path, cols, obs, hold, spend in datasets(lifetimes_dir, work):
            report(custval, url, title, path, cols, obs, hold, spend)
            backtest(custval, url, path, cols, hold, spend)
    finally:
        srv.terminate()
        srv.wait()


def fmt(v, d=3):
    return "–" if v is None else f"{v:.{d}f}"


def report(custval, url, title, path, cols, obs, hold, spend):
    print(f"### {title}\n\nCalibration to {obs}, holdout to {hold} (weeks).\n")
    print("| model | seconds | LL | BIC | holdout total error | MAE | Gini (purchases) "
          "| top 10 % | loses to | warnings |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    baselines, revenue, chosen = None, [], None
    for family in FAMILIES:
        name = f"{os.path.basename(path).split('.')[0]}-{family}"
        started = time.time()
        try:
            out = subprocess.run(
                [custval, "--server", url, "fit", "--input", path, *cols,
                 "--observation-end", obs, "--holdout-end", hold, "--time-unit", "week",
                 "--family", family, "--spend", spend, "--name", name, "--json"],
                capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"| {family} | > {TIMEOUT} | | | | | | | | timed out |")
            continue
        seconds = time.time() - started
        if out.returncode != 0:
            print(f"| {family} | {seconds:.1f} | | | | | | | | {out.stderr.strip()} |")
            continue
        fit = json.loads(out.stdout)
        h = fit["holdout"]
        r = h["ranking"]
        total = (h["predicted_total"] - h["actual_total"]) / h["actual_total"]
        codes = ", ".join(w["code"] for w in fit["diagnostics"]["warnings"]) or "–"
        label = family if family != "auto" else f"auto → {fit['selection']['chosen']}"
        print(f"| {label} | {seconds:.2f} | {fit['log_likelihood']:.1f} | {fit['bic']:.1f} "
              f"| {100 * total:+.1f} % | {fmt(h['mae'])} | {fmt(r['normalized_gini'])} "
              f"| {fmt(r['top_share'].get('10%'))} | {', '.join(r['beaten_by']) or '–'} "
              f"| {codes} |")
        baselines = h["baselines"]
        if "revenue_ranking" in h:
            rr = h["revenue_ranking"]
            revenue.append((family, rr["normalized_gini"], ", ".join(rr["beaten_by"]) or "–"))
            revenue_baselines = h["revenue_baselines"]
    if baselines:
        for b in baselines:
            print(f"| *baseline* {b['name']} | | | | | {fmt(b['mae'])} "
                  f"| {fmt(b['normalized_gini'])} | {fmt(b['top_share'].get('10%'))} | | |")
    if revenue:
        print("\nRanking by holdout revenue (normalized Gini):\n")
        print("| model | Gini (revenue) | loses to |")
        print("|---|---|---|")
        for family, g, lost in revenue:
            print(f"| {family} | {fmt(g)} | {lost} |")
        for b in revenue_baselines:
            print(f"| *baseline* {b['name']} | {fmt(b['normalized_gini'])} | |")
    print()


def backtest(custval, url, path, cols, data_end, spend, folds=3, weeks=13):
    """Every family over `folds` holdouts of `weeks` ending at `data_end`: how often, and by
    how much, the naive baselines rank holdout purchases better."""
    started = time.time()
    out = subprocess.run(
        [custval, "--server", url, "backtest", "--input", path, *cols, "--data-end", data_end,
         "--holdout", str(weeks), "--folds", str(folds), "--time-unit", "week",
         "--spend", spend, "--json"],
        capture_output=True, text=True, timeout=TIMEOUT)
    seconds = time.time() - started
    if out.returncode != 0:
        print(f"Backtest failed: {out.stderr.strip()}\n")
        return
    r = json.loads(out.stdout)
    ends = ", ".join(f["calibration_end"] for f in r["folds"])
    print(f"Backtest: {folds} folds of {weeks} weeks, calibration ends {ends} "
          f"({seconds:.1f} s for every family on every fold). Chosen: **{r['chosen']}** "
          f"by {r['criterion']}.\n")
    print("| model | mean MAE | mean total error | mean abs total error | mean Gini "
          "| best baseline (mean Gini) | folds a baseline ranks better | model − best baseline Gini (mean) |")
    print("|---|---|---|---|---|---|---|---|")
    for s in r["summaries"]:
        if not s["folds_fitted"]:
            print(f"| {s['model']} | not fitted | | | | | | |")
            continue
        best = max((b for b in s["baselines"] if b["mean_normalized_gini"] is not None),
                   key=lambda b: b["mean_normalized_gini"], default=None)
        # Per fold: does any baseline's Gini beat the model's, and by how much.
        wins, gaps = 0, []
        for f in r["folds"]:
            c = next(c for c in f["candidates"] if c["model"] == s["model"])
            if "holdout" not in c:
                continue
            g = c["holdout"]["ranking"]["normalized_gini"]
            top = max((b["normalized_gini"] for b in c["holdout"]["baselines"]
                       if b["normalized_gini"] is not None), default=None)
            if g is not None and top is not None:
                gaps.append(g - top)
                wins += top > g
        gap = sum(gaps) / len(gaps) if gaps else None
        total = s["mean_total_error"]
        abs_total = s["mean_abs_total_error"]
        print(f"| {s['model']} | {fmt(s['mean_holdout_mae'], 4)} "
              f"| {'–' if total is None else f'{100 * total:+.1f} %'} "
              f"| {'–' if abs_total is None else f'{100 * abs_total:.1f} %'} "
              f"| {fmt(s['mean_normalized_gini'])} "
              f"| {best['name'] + ' ' + fmt(best['mean_normalized_gini']) if best else '–'} "
              f"| {wins} of {s['folds_fitted']} | {'–' if gap is None else f'{gap:+.3f}'} |")
    print()


if __name__ == "__main__":
    main()
