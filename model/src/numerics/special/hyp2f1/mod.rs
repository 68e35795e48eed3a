//! The Gauss hypergeometric function ₂F₁(a, b; c; z) for real arguments: the driver that
//! picks a regime (transformations, [`series`], [`polynomial`], [`connection`] formula).
//!
//! Its method, accuracy, cost and domain / NaN policy are documented on the parent module
//! (`numerics::special`), where the public functions are.

use std::f64::consts::LN_2;

use super::double_double::{Dd, two_diff};
use super::gamma::{is_nonpos_int, is_pole, ln_gamma_quot4};
use super::scaled::Scaled;

mod connection;
mod polynomial;
mod series;
#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::approx_constant)] // reference values: 20 digits
mod tests;

use connection::connection;
use polynomial::polynomial;
use series::{Cand, Series, best};

/// Relative size below which the remaining tail of a series is dropped.
const TOL: f64 = 1.0 / 72_057_594_037_927_936.0; // 2^-56
/// Terms tried on the plain series (z > 0.5) before the connection formula is considered.
const FIRST_TRY_TERMS: usize = 400;
/// Absolute cap on the number of series terms.
const HARD_CAP: usize = 1_000_000;
/// Largest polynomial degree evaluated.
const MAX_POLY_DEGREE: f64 = 1e7;
/// Largest `round(c-a-b)` for which the connection formula is tried.
const MAX_CONN_FINITE: f64 = 5000.0;
/// Accepted cancellation factor (Σ|parts| / |result|).
const KAPPA_SERIES: f64 = 1000.0;
const KAPPA_CONN: f64 = 30.0;
/// Rescaling of running sums: 2^-500 (exact), applied when they exceed 1e150.
const RESCALE: f64 = f64::from_bits(523u64 << 52);
const RESCALE_LN: f64 = 500.0 * LN_2;
const BIG: f64 = 1e150;
/// Series rescale threshold (leaves room for a block of 8 growing terms).
const SERIES_BIG: f64 = 1e100;

/// Gauss hypergeometric function ₂F₁(a, b; c; z) for real arguments.
///
/// Accurate to ~1e-13 relative in the customer-base-model regimes (see the module docs for
/// the method, the cost and the NaN policy). Returns ±inf when the value exceeds the f64
/// range; [`ln_hyp2f1`] gives its logarithm in that case.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    hyp2f1_scaled(a, b, c, z).to_f64()
}

/// ln ₂F₁(a, b; c; z), computed without ever forming ₂F₁ itself, so it stays finite when the
/// function overflows f64 (huge parameters near z = 1, or a factor (1−z)^(c−a−b) of 1e400).
///
/// Intended for the positive-valued cases (a, b, c > 0, z < 1, where ₂F₁ > 0 whenever
/// c > min(a, b), and always for 0 ≤ z < 1). Returns −∞ if the value is exactly 0 and NaN if
/// it is negative or undefined (same NaN policy as [`hyp2f1`]).
pub fn ln_hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let s = hyp2f1_scaled(a, b, c, z);
    if s.m > 0.0 {
        s.ln_abs()
    } else if s.m == 0.0 {
        f64::NEG_INFINITY
    } else {
        f64::NAN
    }
}

fn hyp2f1_scaled(a: f64, b: f64, c: f64, z: f64) -> Scaled {
    if !(a.is_finite() && b.is_finite() && c.is_finite() && z.is_finite()) {
        return Scaled::NAN;
    }
    if z == 0.0 || a == 0.0 || b == 0.0 {
        return Scaled::ONE;
    }
    let poly = is_nonpos_int(a) || is_nonpos_int(b);
    if is_nonpos_int(c) {
        let deg = match (is_nonpos_int(a), is_nonpos_int(b)) {
            (true, true) => (-a).min(-b),
            (true, false) => -a,
            (false, true) => -b,
            (false, false) => return Scaled::NAN,
        };
        return if deg <= -c {
            polynomial(a, b, c, z)
        } else {
            Scaled::NAN
        };
    }
    if poly {
        return polynomial(a, b, c, z);
    }
    let (ad, bd) = (Dd::exact(a), Dd::exact(b));
    let m = Dd::exact(c).sub(ad).sub(bd);
    let (ca, cb) = (two_diff(c, a), two_diff(c, b));
    if z >= 1.0 {
        if z == 1.0 && m.hi > 0.0 {
            // Gauss: Γ(c) Γ(m) / (Γ(c−a) Γ(c−b)); zero if c−a or c−b is a pole.
            let (sq, lq) = ln_gamma_quot4(c, m, ca, cb);
            return Scaled::from_log(sq, lq);
        }
        return Scaled::NAN;
    }
    let w = Dd::one_minus(z);
    if is_pole(ca) || is_pole(cb) {
        // Euler: (1−z)^m × polynomial
        return w.pow(m).mul(polynomial(ca.hi, cb.hi, c, z));
    }
    if z < 0.0 {
        // Pfaff on the smaller numerator parameter p, so that the transformed function has
        // c' − a' − b' = q − p ≥ 0 and needs no further Euler factor (the two factors
        // (1−z)^(−p) and (1−ζ)^(...) would otherwise be huge and nearly cancel).
        let (p, q) = if a <= b { (a, b) } else { (b, a) };
        let cq = two_diff(c, q);
        return w
            .pow(Dd::exact(-p))
            .mul(hyp_unit(Dd::exact(p), cq, c, -z / w.hi, w.recip()));
    }
    hyp_unit(ad, bd, c, z, w)
}

/// F(a,b;c;z) for 0 ≤ z < 1 with w = 1 − z; no parameter is a pole or terminating.
fn hyp_unit(a: Dd, b: Dd, c: f64, z: f64, w: Dd) -> Scaled {
    let m = Dd::exact(c).sub(a).sub(b);
    let (ca, cb) = (Dd::exact(c).sub(a), Dd::exact(c).sub(b));
    // primary form: the one with c' − a' − b' ≥ 0 (direct if m ≥ 0, else Euler)
    let direct_first = m.hi >= 0.0;
    let factor = |euler: bool| if euler { w.pow(m) } else { Scaled::ONE };
    let (pa, pb) = if direct_first {
        (a.hi, b.hi)
    } else {
        (ca.hi, cb.hi)
    };
    let (sa, sb) = if direct_first {
        (ca.hi, cb.hi)
    } else {
        (a.hi, b.hi)
    };
    let mut s1 = Series::new(pa, pb, c, z);
    if z <= 0.5 {
        s1.run(HARD_CAP);
        if s1.converged && s1.kappa() <= KAPPA_SERIES {
            return factor(!direct_first).mul(s1.value());
        }
        let mut s2 = Series::new(sa, sb, c, z);
        s2.run(HARD_CAP);
        return best(&[
            s1.candidate(factor(!direct_first)),
            s2.candidate(factor(direct_first)),
        ]);
    }
    let conv = s1.run(FIRST_TRY_TERMS);
    if conv && s1.kappa() <= KAPPA_SERIES {
        return factor(!direct_first).mul(s1.value());
    }
    let conn = connection(a, b, c, w);
    if let Some((val, kappa)) = conn
        && kappa <= KAPPA_CONN
    {
        return val;
    }
    s1.run(HARD_CAP);
    let none = Cand {
        val: Scaled::NAN,
        err: f64::INFINITY,
    };
    let mut cands = [s1.candidate(factor(!direct_first)), none, none];
    if let Some((val, kappa)) = conn {
        cands[1] = Cand {
            val,
            err: f64::EPSILON * kappa * 32.0,
        };
    }
    if !(s1.converged && s1.kappa() <= KAPPA_SERIES) {
        let mut s2 = Series::new(sa, sb, c, z);
        s2.run(HARD_CAP);
        cands[2] = s2.candidate(factor(direct_first));
    }
    best(&cands)
}
