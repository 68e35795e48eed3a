"""The Python side of benches/compare: lifetimes 0.11.3 and scikit-learn on the files
`compare gen` wrote. Writes lifetimes_results.json, lifetimes_params_N.txt (read by
`compare run`, which scores with these parameters), per-customer predictions
(lifetimes_*.f64) and the summaries of the transaction logs (lifetimes_summary_*.csv).

Memory: peak_bytes, the peak of tracemalloc's traced heap (Python objects and numpy and
pandas buffers, which numpy reports to tracemalloc) over one extra, untimed run.

Timing: time.perf_counter around the call only (plus pandas.read_csv for summarizing);
the minimum over repeated runs: one run if it takes more than 2 s, else at least 3 and until
1 s has been spent (at most 50), as on the Rust side.
"""

import argparse
import gc
import json
import os
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")  # lifetimes under pandas 3 warns about chained assignment

import lifetimes  # noqa: E402
import sklearn  # noqa: E402
from lifetimes import BetaGeoFitter, GammaGammaFitter  # noqa: E402
from lifetimes.utils import summary_data_from_transaction_data  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def timed(f):
    best, total, runs = float("inf"), 0.0, 0
    while True:
        t = time.perf_counter()
        out = f()
        s = time.perf_counter() - t
        best, total, runs = min(best, s), total + s, runs + 1
        if s > 2.0 or (runs >= 3 and total >= 1.0) or runs >= 50:
            return best, out


def measured(f):
    """timed(f), then the heap peak of one more run: (seconds, result, peak bytes)."""
    best, out = timed(f)
    gc.collect()
    tracemalloc.start()
    try:
        f()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return best, out, peak


def read_customers(path):
    # The files hold shortest round-trip decimals; pandas 3's parser reads them back
    # exactly (checked: no value differs from Python's float()).
    return pd.read_csv(path, index_col="customer_id")


def bg_fit(df, weighted=False):
    def go():
        if not weighted:
            return BetaGeoFitter().fit(df["frequency"], df["recency"], df["T"])
        # What a careful lifetimes user does with repeated rows: group them first and
        # pass the counts as weights (the grouping is inside the timing).
        g = df.groupby(["frequency", "recency", "T"], sort=False).size().reset_index(name="w")
        return BetaGeoFitter().fit(g["frequency"], g["recency"], g["T"], weights=g["w"])

    return measured(go)


def bg_params(bgf):
    p = bgf.params_
    return {k: float(p[k]) for k in ("r", "alpha", "a", "b")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--tx", default="1000000,10000000")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s]
    txs = [int(s) for s in a.tx.split(",") if s]
    d = a.dir
    out = []

    def log(msg):
        print(f"lifetimes {msg}", file=sys.stderr, flush=True)

    for n in sizes:
        df = read_customers(os.path.join(d, f"customers_{n}.csv"))
        day = read_customers(os.path.join(d, f"customers_day_{n}.csv"))

        # 1. BG/NBD, continuous times.
        s, bgf, mem = bg_fit(df)
        out.append(dict(task="fit_bgnbd", n=n, seconds=s, peak_bytes=mem, **bg_params(bgf)))
        log(f"{n}: fit continuous {s:.3f} s {bg_params(bgf)}")

        # 2. BG/NBD, day resolution: as given (one row per customer), and grouped + weights.
        s, bgd, mem = bg_fit(day)
        out.append(dict(task="fit_bgnbd_day", n=n, seconds=s, peak_bytes=mem, **bg_params(bgd)))
        log(f"{n}: fit day-resolution {s:.3f} s")
        s, bgw, mem = bg_fit(day, weighted=True)
        out.append(dict(task="fit_bgnbd_day_weighted", n=n, seconds=s, peak_bytes=mem,
                        **bg_params(bgw)))
        log(f"{n}: fit day-resolution, grouped with weights {s:.3f} s")

        # Gamma-Gamma on the repeat customers of the continuous table.
        rep = df[df["frequency"] > 0]
        s, ggf, mem = measured(
            lambda: GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"]))
        gp = {k: float(ggf.params_[k]) for k in ("p", "q", "v")}
        out.append(dict(task="fit_gamma_gamma", n=n, seconds=s, peak_bytes=mem, **gp))

        with open(os.path.join(d, f"lifetimes_params_{n}.txt"), "w") as fh:
            for prefix, m in (("bg", bgf), ("day", bgd)):
                for k, v in bg_params(m).items():
                    fh.write(f"{prefix}_{k} {v!r}\n")
            for k, v in gp.items():
                fh.write(f"gg_{k} {v!r}\n")

        # 3. Scoring with the continuous fit: E[X(t)] at the CLV horizon (12 lifetimes
        #    months of 4.345 weeks = 52.14 weeks, the horizon custval's score reports),
        #    P(alive), and CLV over 12 months at 1% per month.
        f, r, T, m = df["frequency"], df["recency"], df["T"], df["monetary_value"]
        horizon = 12 * 4.345

        def score():
            e = bgf.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, T)
            pa = bgf.conditional_probability_alive(f, r, T)
            clv = ggf.customer_lifetime_value(bgf, f, r, T, m, time=12, discount_rate=0.01,
                                              freq="W")
            return e, pa, clv

        s, (e, pa, clv), mem = measured(score)
        out.append(dict(task="score", n=n, seconds=s, peak_bytes=mem, horizon=horizon))
        for name, v in (("expected", e), ("palive", pa), ("clv", clv)):
            np.asarray(v, dtype="<f8").tofile(os.path.join(d, f"lifetimes_{name}_{n}.f64"))
        log(f"{n}: score {s:.3f} s")

        # 5. k-means on the standardized features custval's segment() clusters. OpenMP's
        #    barriers make scikit-learn erratic when the other core is busy (a 10k fit went
        #    from 0.01 s to 0.5 s on a shared 2-core machine), so it is timed with its
        #    default threads and with one thread, and the faster one counts.
        x = np.fromfile(os.path.join(d, f"features_{n}.f64"), dtype="<f8").reshape(n, -1)

        def kmeans():
            return KMeans(n_clusters=6, init="k-means++", n_init=1, max_iter=100, tol=1e-4,
                          random_state=0).fit(x)

        s_default, km, mem = measured(kmeans)
        with threadpool_limits(limits=1):
            s_one, _ = timed(kmeans)
        s = min(s_default, s_one)
        out.append(dict(task="kmeans", n=n, seconds=s, peak_bytes=mem,
                        seconds_default_threads=s_default,
                        seconds_one_thread=s_one, inertia=float(km.inertia_),
                        iterations=int(km.n_iter_)))
        log(f"{n}: k-means {s_default:.4f} s, one thread {s_one:.4f} s "
            f"({km.n_iter_} iterations)")

    # 4. Summaries of transaction logs (read_csv included).
    for rows in txs:
        path = os.path.join(d, f"transactions_{rows}.csv")

        def summarize():
            t = pd.read_csv(path)
            return summary_data_from_transaction_data(
                t, "customer_id", "date", monetary_value_col="amount",
                observation_period_end="2026-01-01", freq="D", freq_multiplier=7)

        s, summ, mem = measured(summarize)
        summ.to_csv(os.path.join(d, f"lifetimes_summary_{rows}.csv"))
        out.append(dict(task="summarize_csv", n=rows, seconds=s, peak_bytes=mem,
                        customers=len(summ)))
        log(f"{rows} rows: summarize {s:.3f} s")

    versions = dict(lifetimes=lifetimes.__version__, sklearn=sklearn.__version__,
                    pandas=pd.__version__, numpy=np.__version__, python=sys.version.split()[0])
    with open(os.path.join(d, "lifetimes_results.json"), "w") as fh:
        # The load average says how much the machine was shared while timing.
        json.dump(dict(versions=versions, load_average=os.getloadavg(), results=out), fh,
                  indent=1)


if __name__ == "__main__":
    main()
