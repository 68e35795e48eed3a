"""The lifetimes 0.11.3 + scikit-learn worker of benches/compare (protocol: worker.py).

    lifetimes_side.py DIR

Tasks, on the files `compare gen` wrote to DIR:
  fit_bgnbd, fit_bgnbd_day      BetaGeoFitter().fit(f, r, T), continuous / day resolution
  fit_bgnbd_day_weighted        the day-resolution rows grouped, counts as weights (what a
                                careful lifetimes user does; the grouping is timed)
  fit_gamma_gamma               GammaGammaFitter().fit on the repeat customers
  score                         E[X(52.14 w)], P(alive), customer_lifetime_value(time=12,
                                discount_rate=0.01, freq='W') with this worker's own fits
  e2e_fit                       read_csv of the summary file + BG/NBD fit + Gamma-Gamma fit
  kmeans, kmeans_1thread        scikit-learn's KMeans with its default threads / one thread
  summarize_csv                 read_csv + summary_data_from_transaction_data (N = rows)

Fitted parameters go to lifetimes_params_N.txt (bg_*, day_*, gg_*), which custval's
worker reads to score with the same parameters; predictions to lifetimes_*_N.f64,
summaries to lifetimes_summary_N.csv.
"""

import os
import sys
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

from worker import serve, write_params  # noqa: E402

# E[X] at the CLV horizon: 12 lifetimes months of 4.345 weeks.
HORIZON = 12 * 4.345


def main():
    d = sys.argv[1]
    fitted = {}  # n -> {"bg": BetaGeoFitter, "day": ..., "gg": GammaGammaFitter}

    def read_customers(n, day=False):
        # The files hold shortest round-trip decimals; pandas 3's parser reads them back
        # exactly (checked: no value differs from Python's float()).
        name = "customers_day" if day else "customers"
        return pd.read_csv(os.path.join(d, f"{name}_{n}.csv"), index_col="customer_id")

    def keep(n, key, model):
        """Remember a fit and rewrite lifetimes_params_N.txt with every fit so far."""
        fitted.setdefault(n, {})[key] = model
        params = {}
        for k, m in sorted(fitted[n].items()):
            names = ("p", "q", "v") if k == "gg" else ("r", "alpha", "a", "b")
            params.update({f"{k}_{p}": float(m.params_[p]) for p in names})
        write_params(os.path.join(d, f"lifetimes_params_{n}.txt"), params)

    def params(m, names):
        return {k: float(m.params_[k]) for k in names}

    bg_names, gg_names = ("r", "alpha", "a", "b"), ("p", "q", "v")

    def bg_fit(df):
        return BetaGeoFitter().fit(df["frequency"], df["recency"], df["T"])

    def gg_fit(df):
        rep = df[df["frequency"] > 0]
        return GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])

    def prepare(task, n, _peer):
        if task in ("fit_bgnbd", "fit_bgnbd_day"):
            key = "day" if task == "fit_bgnbd_day" else "bg"
            df = read_customers(n, day=key == "day")

            def entry(m):
                keep(n, key, m)
                return params(m, bg_names)
            return (lambda: bg_fit(df)), entry
        if task == "fit_bgnbd_day_weighted":
            df = read_customers(n, day=True)

            def grouped():
                g = (df.groupby(["frequency", "recency", "T"], sort=False).size()
                     .reset_index(name="w"))
                return BetaGeoFitter().fit(g["frequency"], g["recency"], g["T"],
                                           weights=g["w"])
            return grouped, lambda m: params(m, bg_names)
        if task == "fit_gamma_gamma":
            df = read_customers(n)

            def entry(m):
                keep(n, "gg", m)
                return params(m, gg_names)
            return (lambda: gg_fit(df)), entry
        if task == "score":
            df = read_customers(n)
            have = fitted.get(n, {})
            # Scoring on its own (--only score): fit first, untimed.
            if "bg" not in have:
                keep(n, "bg", bg_fit(df))
            if "gg" not in have:
                keep(n, "gg", gg_fit(df))
            bgf, ggf = fitted[n]["bg"], fitted[n]["gg"]
            f, r, T, m = df["frequency"], df["recency"], df["T"], df["monetary_value"]

            def score():
                e = bgf.conditional_expected_number_of_purchases_up_to_time(HORIZON, f, r, T)
                pa = bgf.conditional_probability_alive(f, r, T)
                clv = ggf.customer_lifetime_value(bgf, f, r, T, m, time=12,
                                                  discount_rate=0.01, freq="W")
                return e, pa, clv

            def entry(out):
                for name, v in zip(("expected", "palive", "clv"), out):
                    np.asarray(v, dtype="<f8").tofile(
                        os.path.join(d, f"lifetimes_{name}_{n}.f64"))
                return dict(horizon=HORIZON)
            return score, entry
        if task == "e2e_fit":
            path = os.path.join(d, f"customers_{n}.csv")

            def e2e():
                df = pd.read_csv(path, index_col="customer_id")
                return bg_fit(df), gg_fit(df)
            return e2e, lambda m: {**params(m[0], bg_names), **params(m[1], gg_names)}
        if task in ("kmeans", "kmeans_1thread"):
            # scikit-learn's OpenMP barriers are erratic when the other core is busy (a 10k
            # fit went from 0.01 s to 0.5 s on a shared 2-core machine): it is timed with
            # its default threads and with one, as two sides.
            x = np.fromfile(os.path.join(d, f"features_{n}.f64"), dtype="<f8").reshape(n, -1)
            limit = 1 if task == "kmeans_1thread" else None

            def kmeans():
                with threadpool_limits(limits=limit):
                    return KMeans(n_clusters=6, init="k-means++", n_init=1, max_iter=100,
                                  tol=1e-4, random_state=0).fit(x)
            return kmeans, lambda km: dict(inertia=float(km.inertia_),
                                           iterations=int(km.n_iter_))
        if task == "summarize_csv":
            path = os.path.join(d, f"transactions_{n}.csv")

            def summarize():
                t = pd.read_csv(path)
                return summary_data_from_transaction_data(
                    t, "customer_id", "date", monetary_value_col="amount",
                    observation_period_end="2026-01-01", freq="D", freq_multiplier=7)

            def entry(summ):
                summ.to_csv(os.path.join(d, f"lifetimes_summary_{n}.csv"))
                return dict(customers=len(summ))
            return summarize, entry
        raise SystemExit(f"lifetimes_side.py: unknown task {task!r}")

    serve(prepare, dict(versions=dict(
        lifetimes=lifetimes.__version__, sklearn=sklearn.__version__, pandas=pd.__version__,
        numpy=np.__version__, python=sys.version.split()[0])))


if __name__ == "__main__":
    main()
