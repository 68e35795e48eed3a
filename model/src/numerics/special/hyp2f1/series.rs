//! The Taylor series of ₂F₁ about z = 0, resumable, with compensated summation and a
//! rigorous bound on the remaining tail; and the choice among candidate evaluations.

use super::super::scaled::Scaled;
use super::{RESCALE, RESCALE_LN, SERIES_BIG, TOL};

/// Upper bound of |t_{k+1}/t_k| over all k ≥ n, valid when a+n, b+n, c+n > 0:
/// (a+k)(b+k)/((c+k)(k+1)) − 1 = (p k + q)/((c+k)(k+1)), p = a+b−c−1, q = ab−c.
pub(super) fn ratio_bound(a: f64, b: f64, c: f64, n: f64, z: f64) -> f64 {
    let p = a + b - c - 1.0;
    let q = a * b - c;
    z.abs() * (1.0 + p.max(0.0) / (c + n) + q.max(0.0) / ((c + n) * (n + 1.0)))
}

/// Resumable Taylor series Σ (a)_n (b)_n / ((c)_n n!) z^n with compensated summation.
pub(super) struct Series {
    pub(super) a: f64,
    pub(super) b: f64,
    pub(super) c: f64,
    pub(super) z: f64,
    pub(super) n: f64,
    pub(super) term: f64,
    pub(super) sum: f64,
    pub(super) comp: f64,
    pub(super) abs_sum: f64,
    pub(super) e: f64,
    pub(super) n_min: f64,
    pub(super) iters: usize,
    pub(super) converged: bool,
    pub(super) failed: bool,
}

impl Series {
    pub(super) fn new(a: f64, b: f64, c: f64, z: f64) -> Self {
        let n_min = (0.0f64).max(-a).max(-b).max(-c).floor() + 1.0;
        Series {
            a,
            b,
            c,
            z,
            n: 0.0,
            term: 1.0,
            sum: 1.0,
            comp: 0.0,
            abs_sum: 1.0,
            e: 0.0,
            n_min,
            iters: 0,
            converged: false,
            failed: false,
        }
    }

    /// Adds terms until the tail bound is below TOL·|sum| or `cap` terms in total.
    /// Adds terms until the tail bound is below TOL·|sum|, or `cap` terms in total.
    ///
    /// Terms come in blocks of up to 8 that are summed plainly (relative error ≤ 8 ε for
    /// same-sign terms) and added to the running total with an error-free TwoSum, so the
    /// rounding error does not grow with the number of terms. Two terms share one division,
    /// which stays off the loop-carried dependency chain.
    pub(super) fn run(&mut self, cap: usize) -> bool {
        if self.converged || self.failed {
            return self.converged;
        }
        let (a, b, c, z) = (self.a, self.b, self.c, self.z);
        let (mut n, mut term, mut sum, mut comp) = (self.n, self.term, self.sum, self.comp);
        let (mut abs_sum, mut e, mut iters) = (self.abs_sum, self.e, self.iters);
        while iters < cap {
            let block = (cap - iters).min(8);
            let (mut bs, mut ba) = (0.0f64, 0.0f64);
            let mut k = 0;
            while k + 2 <= block {
                let d0 = (c + n) * (n + 1.0);
                let d1 = (c + n + 1.0) * (n + 2.0);
                let u0 = (a + n) * (b + n) * z;
                let u1 = (a + n + 1.0) * (b + n + 1.0) * z;
                let r = 1.0 / (d0 * d1);
                let t0 = term * (u0 * d1 * r);
                term *= u0 * u1 * r;
                bs += t0 + term;
                ba += t0.abs() + term.abs();
                n += 2.0;
                k += 2;
            }
            if k < block {
                term *= ((a + n) * (b + n) * z) / ((c + n) * (n + 1.0));
                bs += term;
                ba += term.abs();
                n += 1.0;
                k += 1;
            }
            iters += k;
            // TwoSum: sum + bs = t + error, exactly
            let t = sum + bs;
            let bb = t - sum;
            comp += (sum - (t - bb)) + (bs - bb);
            sum = t;
            abs_sum += ba;
            if abs_sum.is_nan() || abs_sum > SERIES_BIG {
                if !(abs_sum.is_finite() && sum.is_finite()) {
                    self.failed = true;
                    break;
                }
                term *= RESCALE;
                sum *= RESCALE;
                comp *= RESCALE;
                abs_sum *= RESCALE;
                e += RESCALE_LN;
            }
            let at = term.abs();
            if at <= TOL * sum.abs() {
                if term == 0.0 {
                    self.converged = true;
                    break;
                }
                if n >= self.n_min {
                    let rho = ratio_bound(a, b, c, n, z);
                    if rho < 1.0 && at * rho <= TOL * (1.0 - rho) * sum.abs() {
                        self.converged = true;
                        break;
                    }
                }
            }
        }
        (self.n, self.term, self.sum, self.comp) = (n, term, sum, comp);
        (self.abs_sum, self.e, self.iters) = (abs_sum, e, iters);
        self.converged
    }

    pub(super) fn value(&self) -> Scaled {
        if self.failed {
            return Scaled::NAN;
        }
        Scaled::new(self.sum + self.comp, self.e)
    }

    pub(super) fn kappa(&self) -> f64 {
        self.abs_sum / (self.sum + self.comp).abs()
    }

    /// Candidate with a crude error estimate (∞-like if not converged).
    pub(super) fn candidate(&self, factor: Scaled) -> Cand {
        let err = if self.converged && !self.failed {
            f64::EPSILON * self.kappa() * (4.0 + (self.iters as f64).sqrt())
        } else {
            f64::INFINITY
        };
        Cand {
            val: factor.mul(self.value()),
            err: if err.is_nan() { f64::INFINITY } else { err },
        }
    }
}

#[derive(Clone, Copy)]
pub(super) struct Cand {
    pub(super) val: Scaled,
    pub(super) err: f64,
}

pub(super) fn best(c: &[Cand]) -> Scaled {
    let mut out = Cand {
        val: Scaled::NAN,
        err: f64::NAN,
    };
    for x in c {
        if out.err.is_nan() || x.err < out.err || (out.val.m.is_nan() && !x.val.m.is_nan()) {
            out = *x;
        }
    }
    out.val
}
