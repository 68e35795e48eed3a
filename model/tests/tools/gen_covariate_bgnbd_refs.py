#!/usr/bin/env python3
"""An independent BG/NBD-with-static-covariates implementation (numpy + scipy), for
tests/covariates.rs; writes tests/fixtures/covariate_bgnbd.json.

It shares no code and no decomposition with the Rust one: the likelihood is Fader, Hardie &
Lee's (2005) eq. 6 as printed,

    L_i = B(a_i, b_i + x) / B(a_i, b_i) * Γ(r+x) α_i^r / (Γ(r) (α_i+T)^(r+x))
        + [x > 0] B(a_i + 1, b_i + x − 1) / B(a_i, b_i) * Γ(r+x) α_i^r / (Γ(r) (α_i+t_x)^(r+x)),

with CLVTools' static-covariate links α_i = α0 exp(−γ_pᵀz_i), a_i = a0 exp(γ_lᵀw_i),
b_i = b0 exp(γ_lᵀw_i) (Fader & Hardie 2007), summed with scipy's gammaln/betaln and
logaddexp. The optimum is scipy's BFGS on (ln r, ln α0, ln a0, ln b0, γ) with a
central-difference gradient, polished by Newton steps on a central-difference Hessian.

The customers are simulated here with numpy (seeded): a binary and a continuous covariate,
both on both processes.

    python3 model/tests/tools/gen_covariate_bgnbd_refs.py   # from the repository root

Tested with numpy 2.4.6 and scipy 1.17.1.
"""
import json
import os

import numpy as np
import scipy
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

TRUE = {"r": 0.8, "alpha": 6.0, "a": 0.7, "b": 2.5,
        "purchase": [0.5, 0.3], "lifetime": [-0.4, 0.25]}
N = 2000
CALIBRATION = 52.0


def simulate(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(N):
        web = float(rng.random() < 0.4)
        size = float(rng.normal())
        z = np.array([web, size])
        alpha = TRUE["alpha"] * np.exp(-np.dot(TRUE["purchase"], z))
        life = np.exp(np.dot(TRUE["lifetime"], z))
        a, b = TRUE["a"] * life, TRUE["b"] * life
        lam = rng.gamma(TRUE["r"], 1.0 / alpha)
        p = rng.beta(a, b)
        birth = 26.0 * rng.random()
        t, x, last = birth, 0, birth
        while True:
            t += rng.exponential(1.0 / lam)
            if t > CALIBRATION:
                break
            x, last = x + 1, t
            if rng.random() < p:
                break
        rows.append([x, last - birth, CALIBRATION - birth, web, size])
    return np.array(rows)


def log_likelihood(params, data):
    r, alpha0, a0, b0, gp1, gp2, gl1, gl2 = params
    x, tx, T = data[:, 0], data[:, 1], data[:, 2]
    z = data[:, 3:5]
    alpha = alpha0 * np.exp(-(z @ np.array([gp1, gp2])))
    life = np.exp(z @ np.array([gl1, gl2]))
    a, b = a0 * life, b0 * life
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped = np.where(
            x > 0,
            betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
    return float(np.sum(common + np.logaddexp(alive, dropped)))


def natural(u):
    return np.concatenate([np.exp(u[:4]), u[4:]])


def fit(data):
    f = lambda u: -log_likelihood(natural(u), data) / len(data)

    def grad(u, h=1e-6):
        g = np.zeros_like(u)
        for k in range(len(u)):
            e = np.zeros_like(u)
            e[k] = h
            g[k] = (f(u + e) - f(u - e)) / (2 * h)
        return g

    u0 = np.array([0.0, np.log(5.0), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    res = minimize(f, u0, jac=grad, method="BFGS", options={"gtol": 1e-10, "maxiter": 2000})
    u = res.x
    for _ in range(6):  # Newton polish on a central-difference Hessian of the gradient
        n = len(u)
        H = np.zeros((n, n))
        for k in range(n):
            e = np.zeros(n)
            e[k] = 1e-4
            H[:, k] = (grad(u + e) - grad(u - e)) / 2e-4
        H = 0.5 * (H + H.T)
        u = u - np.linalg.solve(H, grad(u))
    return natural(u), float(np.max(np.abs(grad(u))))


def main():
    data = simulate(20261203)
    at = [
        [0.8, 6.0, 0.7, 2.5, 0.5, 0.3, -0.4, 0.25],
        [0.243, 4.414, 0.793, 2.426, 0.0, 0.0, 0.0, 0.0],
        [2.0, 15.0, 0.2, 6.0, -0.7, 0.1, 0.9, -0.6],
    ]
    optimum, gradient = fit(data)
    out = {
        "generator": "model/tests/tools/gen_covariate_bgnbd_refs.py (numpy %s, scipy %s)"
        % (np.__version__, scipy.__version__),
        "params": "r, alpha0, a0, b0, purchase[web, size], lifetime[web, size]",
        "customers": [[int(r[0])] + [float(v) for v in r[1:]] for r in data],
        "log_likelihoods": [{"at": p, "value": log_likelihood(np.array(p), data)} for p in at],
        "optimum": [float(v) for v in optimum],
        "optimum_gradient": gradient,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "covariate_bgnbd.json")
    with open(path, "w") as fh:
        fh.write("{\n")
        items = list(out.items())
        for i, (k, v) in enumerate(items):
            sep = "," if i + 1 < len(items) else ""
            if k == "customers":
                fh.write(' "customers": [\n')
                fh.write(",\n".join("  " + json.dumps(c) for c in v))
                fh.write("\n ]%s\n" % sep)
            else:
                fh.write(" %s: %s%s\n" % (json.dumps(k), json.dumps(v), sep))
        fh.write("}\n")
    print("optimum", optimum, "gradient", gradient, "->", path)


if __name__ == "__main__":
    main()
