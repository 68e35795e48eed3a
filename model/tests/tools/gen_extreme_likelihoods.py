#!/usr/bin/env python3
"""Reference per-customer log-likelihoods (and Pareto/NBD P(alive)) at extreme parameters,
for tests/extreme_likelihoods.rs; writes tests/fixtures/extreme_likelihoods.json.

Every input is a Python float (the exact f64 the Rust test uses). mpmath evaluates the
textbook formulas at those exact binary values with 60 significant digits:

* BG/NBD and MBG/NBD: lnΓ differences plus ln[(α+T)^-(r+x) + a/(b+x-1+δ) (α+t_x)^-(r+x)]
  (Fader, Hardie & Lee 2005; Batislam et al. 2007).
* Pareto/NBD: lnΓ(r+x) - lnΓ(r) + r ln α + s ln β + ln[(α+T)^-(r+x) (β+T)^-s + s I],
  I = ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ computed twice: by mp.quad on geometrically
  graded breakpoints, and as a difference of the 2F1 tails of Fader, Hardie & Shang (2005);
  a case is kept only if the two agree to 1e-25 relative (where mpmath's 2F1 does not
  converge, the quadrature on breakpoints three times finer is the second opinion).

    python3 model/tests/tools/gen_extreme_likelihoods.py          # from the repository root
    python3 model/tests/tools/gen_extreme_likelihoods.py --small  # the committed fixture

Also customers with a million purchases (MAX_FREQUENCY), at ordinary and extreme
parameters of each family.

The full grid takes over an hour on the 2-core machine (the quadrature at r = α = 1e8 and
β = 1e9 is slow); the committed fixture is the `--small` grid: β in {1e3, 1e9}, s in
{1e-6, 1}, without r = α = 1e8 at β = 1e9 (about ten minutes).

Tested with mpmath 1.3.0.
"""
import json
import os
import sys

import mpmath as mp

mp.mp.dps = 60


def pareto_integral_quad(r, alpha, s, beta, x, tx, T, refine=1):
    m, k = mp.mpf(r) + x, mp.mpf(s) + 1
    # Relative to the integrand at t_x: mp.quad's error control is absolute.
    ln_top = -m * mp.log(alpha + tx) - k * mp.log(beta + tx)
    f = lambda t: mp.exp(-m * mp.log(alpha + t) - k * mp.log(beta + t) - ln_top)
    c = min(mp.mpf(alpha), mp.mpf(beta))
    # Breakpoints: panels no wider than the smaller scale (plus t) nor than 4/(log-slope)
    # of either factor; once the integrand is e^-80 of its start the rest is one panel.
    pts = [mp.mpf(tx)]
    while pts[-1] < T and -mp.log(f(pts[-1])) < 80:
        t = pts[-1]
        step = min(c + t, 4 * (alpha + t) / m, 4 * (beta + t) / k)
        pts.append(min(mp.mpf(T), t + step / refine))
    if pts[-1] < T:
        pts.append(mp.mpf(T))
    return mp.quad(f, pts, maxdegree=10) * mp.exp(ln_top)


def pareto_integral_2f1(r, alpha, s, beta, x, tx, T):
    m, k = mp.mpf(r) + x, mp.mpf(s) + 1
    A, eA, B, eB = (mp.mpf(alpha), m, mp.mpf(beta), k) if alpha >= beta else (mp.mpf(beta), k, mp.mpf(alpha), m)

    def tail(y):
        z = (A - B) / (A + y)
        return (A + y) ** (-eA) * (B + y) ** (-(eB - 1)) * mp.hyp2f1(eA, 1, eA + eB, z) / (eA + eB - 1)

    return tail(mp.mpf(tx)) - tail(mp.mpf(T))


def pareto(r, alpha, s, beta, x, tx, T):
    r, alpha, s, beta, tx, T = map(mp.mpf, (r, alpha, s, beta, tx, T))
    a_term = (alpha + T) ** (-(r + x)) * (beta + T) ** (-s)
    if tx < T:
        i1 = pareto_integral_quad(r, alpha, s, beta, x, tx, T)
        try:
            i2 = pareto_integral_2f1(r, alpha, s, beta, x, tx, T)
        except mp.libmp.libhyper.NoConvergence:
            # mpmath's 2F1 gives up near z = 1 with huge parameters: check the quadrature
            # against itself on breakpoints three times finer instead.
            i2 = pareto_integral_quad(r, alpha, s, beta, x, tx, T, refine=3)
        if abs(i1 - i2) > mp.mpf("1e-25") * abs(i2):
            return None
        b_term = s * i2
    else:
        b_term = mp.mpf(0)
    ll = mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(alpha) + s * mp.log(beta) + mp.log(a_term + b_term)
    return ll, a_term / (a_term + b_term)


def beta_geo(modified, r, alpha, a, b, x, tx, T):
    r, alpha, a, b, tx, T = map(mp.mpf, (r, alpha, a, b, tx, T))
    d = 1 if modified else 0
    ll = (mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(alpha)
          + mp.loggamma(a + b) + mp.loggamma(b + x + d) - mp.loggamma(b) - mp.loggamma(a + b + x + d))
    inner = (alpha + T) ** (-(r + x))
    if modified or x > 0:
        inner += a / (b + x - 1 + d) * (alpha + tx) ** (-(r + x))
    return ll + mp.log(inner)


# (x, t_x, T): short and long histories, with and without a recent purchase
HISTORIES = [(0, 0.0, 1.0), (0, 0.0, 52.0), (3, 0.5, 1.0), (3, 30.0, 52.0), (3, 1.0, 520.0),
             (1000, 51.0, 52.0), (1000, 5.0, 520.0)]
MILLION_HISTORIES = [(1000000, 51.9, 52.0), (999999, 26.0, 52.0)]


def main():
    rows = []
    SMALL = "--small" in sys.argv
    for beta in (1e3, 1e9) if SMALL else (1e3, 1e6, 1e9):
        for s in (1e-6, 1.0) if SMALL else (1e-6, 0.5, 1.0):
            for r, alpha in ((0.55, 10.6), (5.0, 1.0), (1e4, 1e5), (1e8, 1e8), (0.3, 1e8)):
                if SMALL and r == 1e8 and beta == 1e9:
                    continue
                for x, tx, T in HISTORIES:
                    got = pareto(r, alpha, s, beta, x, tx, T)
                    if got is None:
                        print("skipped (quadrature and 2F1 disagree):", r, alpha, s, beta, x, tx, T)
                        continue
                    ll, pa = got
                    print(r, alpha, s, beta, x, tx, T, flush=True)
                    rows.append({"family": "pareto-nbd", "params": [r, alpha, s, beta], "x": x,
                                 "t_x": tx, "T": T, "ll": float(ll), "p_alive": float(pa)})

    for modified in (False, True):
        fam = "mbgnbd" if modified else "bgnbd"
        for r, alpha in ((0.243, 4.414), (3e7, 1.2e8), (1e8, 1e8), (0.5, 1e8)):
            for a, b in ((0.793, 2.426), (1e-6, 2.4), (0.8, 1e8), (1e-6, 1e9)):
                for x, tx, T in HISTORIES:
                    ll = beta_geo(modified, r, alpha, a, b, x, tx, T)
                    rows.append({"family": fam, "params": [r, alpha, a, b], "x": x, "t_x": tx,
                                 "T": T, "ll": float(ll)})

    # A million purchases (MAX_FREQUENCY): the fit's per-frequency terms are closed forms
    # there, not sums of a million terms.
    for x, tx, T in MILLION_HISTORIES:
        for params in ((0.55, 10.6, 0.6, 11.7), (1e4, 50.0, 0.01, 1e3)):
            ll, pa = pareto(*params, x, tx, T)
            rows.append({"family": "pareto-nbd", "params": list(params), "x": x, "t_x": tx,
                         "T": T, "ll": float(ll), "p_alive": float(pa)})
        for modified in (False, True):
            for params in ((0.243, 4.414, 0.793, 2.426), (1e4, 50.0, 1e-3, 100.0)):
                rows.append({"family": "mbgnbd" if modified else "bgnbd", "params": list(params),
                             "x": x, "t_x": tx, "T": T,
                             "ll": float(beta_geo(modified, *params, x, tx, T))})

    write_fixture("extreme_likelihoods.json", "gen_extreme_likelihoods.py", rows)


def write_fixture(name, generator, rows):
    """Writes tests/fixtures/NAME: the generator and mpmath version, then one case a line."""
    out = os.path.join(os.path.dirname(__file__), "..", "fixtures", name)
    with open(out, "w") as f:
        f.write('{"generator": "model/tests/tools/%s (mpmath %s, 60 digits)",\n'
                % (generator, mp.__version__))
        f.write(' "cases": [\n')
        f.write(",\n".join("  " + json.dumps(r) for r in rows))
        f.write("\n]}\n")
    print(len(rows), "cases written to", out)


if __name__ == "__main__":
    main()
