#!/usr/bin/env python3
"""Every family (and --model auto) on real purchase logs, judged on a holdout beside the
naive baselines: a markdown report on standard output.

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
                 "--model", family, "--spend", spend, "--name", name, "--json"],
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


if __name__ == "__main__":
    main()
