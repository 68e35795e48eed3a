#!/usr/bin/env python3
"""Reference Pareto/NBD log-likelihoods and P(alive) where one scale dwarfs the other (β ≫ α + T
on data without dropout, and α ≫ β + T), for tests/pareto_expansion.rs; writes
tests/fixtures/pareto_expansion.json.

These are the parameters at which the likelihood expands the larger scale's factor in
powers of the smaller (`ln_integral_expanded` in src/models/pareto_nbd/integral.rs): each
case records that expansion's ratio bound q = max(e_A, 1)·(B + T)/(A − B), which the code
uses when below 0.5, and the grid straddles that limit. Shapes include the edge cases of
the expansion's moments: r + x an integer (a moment exponent exactly 0) and r + x within
1e-7 of 1. The values are 60-digit mpmath evaluations of the textbook formula (quadrature
cross-checked against the 2F1 tails, see gen_extreme_likelihoods.py) at the exact f64
inputs.

    python3 model/tests/tools/gen_pareto_expansion_refs.py   # from the repository root

Tested with mpmath 1.3.0 (about two minutes).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gen_extreme_likelihoods import mp, pareto, write_fixture  # noqa: E402

# (x, t_x, T)
HISTORIES = [(0, 0.0, 52.0), (3, 30.0, 52.0), (1, 1.0, 520.0), (40, 51.99, 52.0),
             (1000, 5.0, 520.0), (2, 0.001, 1.0)]


def ratio(r, alpha, s, beta, x, T):
    """The expansion's ratio bound q (infinite when α = β)."""
    big, e_big, small = (alpha, r + x, beta) if alpha >= beta else (beta, s + 1, alpha)
    return max(e_big, 1.0) * (small + T) / (big - small) if big > small else float("inf")


def grid():
    # β ≫ α: nobody drops out.
    for beta in (1e4, 1e7, 1e12):
        for s in (1e-9, 0.5, 3.0):
            for r, alpha in ((0.553, 10.578), (2.0, 10.0), (0.9999999, 1e-3), (40.0, 2.0)):
                yield r, alpha, s, beta
    # α ≫ β: the other orientation (the larger scale's exponent is r + x).
    for r, alpha in ((0.3, 1e8), (2.0, 1e9)):
        for beta in (1.0, 30.0):
            for s in (1e-9, 0.5, 3.0):
                yield r, alpha, s, beta
    # Either side of the limit q = 0.5 at CDNOW's r, α with s = 0.5 and T = 52 (q is
    # 1.5·(α + 52)/(β − α)): β = 210 and 230 against 170 and 190.
    for beta in (170.0, 190.0, 210.0, 230.0):
        yield 0.553, 10.578, 0.5, beta


def main():
    rows = []
    for r, alpha, s, beta in grid():
        for x, tx, T in HISTORIES:
            got = pareto(r, alpha, s, beta, x, tx, T)
            if got is None:
                print("skipped (quadrature and 2F1 disagree):", r, alpha, s, beta, x, tx, T)
                continue
            ll, pa = got
            q = ratio(r, alpha, s, beta, x, T)
            print(r, alpha, s, beta, x, tx, T, "q = %.3g" % q, flush=True)
            rows.append({"params": [r, alpha, s, beta], "x": x, "t_x": tx, "T": T,
                         "q": q, "ll": float(ll), "p_alive": float(pa)})
    write_fixture("pareto_expansion.json", "gen_pareto_expansion_refs.py", rows)


if __name__ == "__main__":
    main()
