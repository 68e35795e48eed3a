#!/usr/bin/env python3
"""Reference predictions of BG/NBD and MBG/NBD at extreme parameters, for
tests/beta_geo_extremes.rs (fixture tests/fixtures/beta_geo/extreme_predictions.json).

Every input is a Python float, i.e. the exact f64 the Rust test uses. mpmath evaluates
each quantity from its closed form (FHL 2005; Batislam et al. 2007) at 40 and at 70
significant digits; a value on which the two disagree beyond 1e-20 (relative) aborts the
script. The grid covers a, b in 1e-6..1e12 (including a, b -> inf with a/(a+b) small, the
no-dropout limit, and b -> 0), ordinary and huge (r, alpha), and the two fits reported
from simulated no-dropout populations.

    python3 model/tests/tools/gen_beta_geo_extreme_refs.py \
        > model/tests/fixtures/beta_geo/extreme_predictions.json

Tested with mpmath 1.3.0.
"""
import json
import sys

import mpmath as mp

AB = [1e-6, 1e-3, 0.793, 3.0, 1e3, 1e6, 1e9, 1e12]
RALPHA = [(0.243, 4.414), (1.59, 11.79), (2e4, 2e5)]
FITS = [
    # BG/NBD on a no-dropout simulation, 52-week horizon (issue item 6).
    (1.59, 11.79, 7.7e11, 3.9e12),
    # BG/NBD on a no-dropout simulation with truth r=0.55, alpha=10.58, a=1e-4, b=10.
    (0.55, 10.58, 9.35e6, 3.16e10),
]
# (x, t_x, T, t)
CUSTOMERS = [
    (0, 0.0, 30.0, 52.0),
    (1, 10.0, 35.0, 52.0),
    (4, 27.57, 48.86, 39.0),
    (6, 30.0, 40.0, 52.0),
    (60, 38.0, 40.0, 52.0),
    (2, 1.0, 1.5, 52.0),
]
NS = [0, 1, 2, 5]


def hyp_series(a, b, c, z):
    """2F1(a, b; c; z) for 0 <= z < 1 (c not a pole) by its Taylor series
    at the working precision. mpmath's own hyp2f1 gives up on parameters near
    1e12 (NoConvergence), and the plain series is exact enough at 40-70 digits."""
    eps = mp.mpf(10) ** (-mp.mp.dps - 5)
    term, total, k = mp.mpf(1), mp.mpf(1), 0
    while True:
        ratio = (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        term *= ratio
        total += term
        k += 1
        if abs(term) < eps * abs(total) and abs(ratio) < 0.99:
            return total
        if k > 5_000_000:
            raise RuntimeError(f"series too long: {(a, b, c, z)}")


def hyp_neg(a, b, c, u):
    """2F1(a, b; c; -u), u >= 0, by Pfaff: (1+u)^-a 2F1(a, c-b; c; u/(1+u))."""
    return (1 + u) ** (-a) * hyp_series(a, c - b, c, u / (1 + u))


def e_fresh(r, alpha, a, b, t):
    """E[N(t)] alive at 0 with lambda ~ Gamma(r, alpha), p ~ Beta(a, b) (FHL eq. 9):
    (a+b-1)/(a-1) [1 - 2F1(r, a-1; a+b-1; -t/alpha)]; the grid has no a = 1. The
    cancellation in 1 - 2F1 is harmless at 40-70 digits (the two precisions must agree)."""
    c = a + b - 1
    return c / (a - 1) * (1 - hyp_neg(r, a - 1, c, t / alpha))


def prob_fresh(r, alpha, a, b, t, n):
    q = alpha / (alpha + t)
    first = (mp.beta(a, b + n) / mp.beta(a, b) * mp.gamma(r + n) / (mp.gamma(r) * mp.factorial(n))
             * q ** r * (1 - q) ** n)
    if n == 0:
        return first
    tail = mp.betainc(n, r, 0, 1 - q, regularized=True)
    return first + mp.beta(a + 1, b + n - 1) / mp.beta(a, b) * tail


def row(variant, r, alpha, a, b, x, tx, T, t):
    r, alpha, a, b, tx, T, t = (mp.mpf(v) for v in (r, alpha, a, b, tx, T, t))
    k = x if variant == "bgnbd" else x + 1
    if k == 0:
        pa = mp.mpf(1)
    else:
        pa = 1 / (1 + a / (b + k - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))
    rp, ap, bp = r + x, alpha + T, b + k
    e = pa * e_fresh(rp, ap, a, bp, t)
    pat = pa * hyp_neg(rp, a, a + bp, t / ap)
    prop = pa * (1 - (ap / (ap + t)) ** rp)
    probs = [pa * prob_fresh(rp, ap, a, bp, t, n) + ((1 - pa) if n == 0 else 0) for n in NS]
    if variant == "bgnbd":
        enew = e_fresh(r, alpha, a, b, t)
    else:
        enew = b / (a + b) * e_fresh(r, alpha, a, b + 1, t)
    return [pa, e, pat, prop, enew] + probs


def both(*args):
    with mp.workdps(40):
        lo = row(*args)
    with mp.workdps(70):
        hi = row(*args)
    for l, h in zip(lo, hi):
        if abs(l - h) > mp.mpf("1e-20") * abs(h) and abs(h) > mp.mpf("1e-300"):
            sys.exit(f"precision disagreement at {args}: {l} vs {h}")
    return [float(h) for h in hi]


def main():
    params = [(r, al, a, b) for (r, al) in RALPHA for a in AB for b in AB] + FITS
    cases = []
    for variant in ("bgnbd", "mbgnbd"):
        for (r, al, a, b) in params:
            for (x, tx, T, t) in CUSTOMERS:
                v = both(variant, r, al, a, b, x, tx, T, t)
                cases.append({
                    "model": variant, "params": [r, al, a, b], "x": x, "t_x": tx, "T": T,
                    "t": t, "p_alive": v[0], "expected_purchases": v[1], "p_alive_at": v[2],
                    "propensity": v[3], "expected_new_customer": v[4],
                    "prob_n": dict(zip((str(n) for n in NS), v[5:])),
                })
            print(f"{variant} {r} {al} {a} {b}", file=sys.stderr)
    json.dump({"generator": "model/tests/tools/gen_beta_geo_extreme_refs.py",
               "mpmath": mp.__version__, "cases": cases}, sys.stdout, indent=None)
    print()


if __name__ == "__main__":
    main()
