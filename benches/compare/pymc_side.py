"""The PyMC-Marketing 1.3 worker of benches/compare (protocol: worker.py). Python 3.12,
its own venv (target/compare-venv-pymc, from requirements-pymc.txt).

    pymc_side.py DIR

Tasks, on the customers `compare gen` wrote to DIR (continuous times, weeks):
  fit_bgnbd        BetaGeoModel(model_config=flat).fit(data, method="map")
  fit_gamma_gamma  GammaGammaModel(model_config=flat).fit(repeat customers, method="map")
  score            expected_purchases(future_t=12 months), expected_probability_alive,
                   expected_customer_lifetime_value(future_t=12, discount_rate=0.01,
                   time_unit="W") with this worker's own fits

Flat priors: every parameter's prior is Prior("HalfFlat") (the positive half-line, density
1), given through model_config; pm.find_MAP optimizes the log-posterior without the
log-transform's Jacobian, so its MAP is the maximum-likelihood estimate lifetimes and
custval compute. PyMC-Marketing's month is 30.4375 days (lifetimes': 4.345 weeks).

Each model is built and compiled inside the timed fit, as a user's model.fit does; the
first fit of the worker (untimed, on the first 1,000 customers) fills PyTensor's
compilation cache, so the timed fits find it warm. Fitted parameters go to
pymc_params_N.txt (bg_*, gg_*), which custval's worker reads to score with the same
parameters and month; predictions to pymc_*_N.f64.
"""

import os
import sys
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

import pymc  # noqa: E402
import pymc_marketing  # noqa: E402
import pytensor  # noqa: E402
from pymc_extras.prior import Prior  # noqa: E402
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel  # noqa: E402

from worker import serve, write_params  # noqa: E402

MONTH_WEEKS = 30.4375 / 7
HORIZON = 12 * MONTH_WEEKS
BG, GG = ("r", "alpha", "a", "b"), ("p", "q", "v")


def flat(names):
    return {k: Prior("HalfFlat") for k in names}


def fit_bg(df):
    m = BetaGeoModel(model_config=flat(BG))
    m.fit(df[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False)
    return m


def fit_gg(df):
    rep = df[df["frequency"] > 0]
    m = GammaGammaModel(model_config=flat(GG))
    m.fit(rep[["customer_id", "frequency", "monetary_value"]], method="map",
          progressbar=False)
    return m


def params(m, names):
    return {k: float(np.asarray(m.fit_result[k]).squeeze()) for k in names}


def main():
    d = sys.argv[1]
    fitted = {}  # n -> {"bg": BetaGeoModel, "gg": GammaGammaModel}
    warm = []

    def read_customers(n):
        return pd.read_csv(os.path.join(d, f"customers_{n}.csv"))

    def warm_up(df):
        if not warm:
            fit_bg(df.head(1000))
            fit_gg(df.head(1000))
            warm.append(True)

    def keep(n, key, m):
        fitted.setdefault(n, {})[key] = m
        out = {}
        for k, model in sorted(fitted[n].items()):
            out.update({f"{k}_{p}": v for p, v in params(model, GG if k == "gg" else BG).items()})
        write_params(os.path.join(d, f"pymc_params_{n}.txt"), out)

    def prepare(task, n, _peer):
        df = read_customers(n)
        warm_up(df)
        if task == "fit_bgnbd":
            return (lambda: fit_bg(df)), lambda m: (keep(n, "bg", m), params(m, BG))[1]
        if task == "fit_gamma_gamma":
            return (lambda: fit_gg(df)), lambda m: (keep(n, "gg", m), params(m, GG))[1]
        if task == "score":
            have = fitted.get(n, {})
            # Scoring on its own (--only pymc without fits): fit first, untimed.
            if "bg" not in have:
                keep(n, "bg", fit_bg(df))
            if "gg" not in have:
                keep(n, "gg", fit_gg(df))
            bg, gg = fitted[n]["bg"], fitted[n]["gg"]

            def score():
                e = bg.expected_purchases(df, future_t=HORIZON).values
                pa = bg.expected_probability_alive(df).values
                clv = gg.expected_customer_lifetime_value(
                    bg, df, future_t=12, discount_rate=0.01, time_unit="W").values
                return e, pa, clv

            def entry(out):
                for name, v in zip(("expected", "palive", "clv"), out):
                    np.asarray(v, dtype="<f8").ravel().tofile(
                        os.path.join(d, f"pymc_{name}_{n}.f64"))
                return dict(horizon=HORIZON)
            return score, entry
        raise SystemExit(f"pymc_side.py: unknown task {task!r}")

    serve(prepare, dict(versions=dict(
        pymc_marketing=pymc_marketing.__version__, pymc=pymc.__version__,
        pytensor=pytensor.__version__, pandas=pd.__version__, numpy=np.__version__,
        python=sys.version.split()[0])))


if __name__ == "__main__":
    main()
