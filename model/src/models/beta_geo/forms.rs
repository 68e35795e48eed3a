//! E[N(t)] and the survival factor E[(1 + p·t/α)^(−r)] for a customer alive now, with
//! λ ~ Gamma(r, α) and p ~ Beta(a, b) (posterior parameters), in every regime the fitter
//! can return — including a, b → ∞ with a/(a+b) small (the no-dropout limit), b → 0,
//! a → 0 and r, α → ∞ — at a bounded cost, finite or a clear error.
//!
//! Both are ₂F₁'s with three series forms, each fast and accurate in its own corner
//! (u = t/α, z = u/(1+u), c = a+b−1, p̄ = a/(a+b) the mean dropout probability):
//!
//! * Euler (the form [`super::expectation`] tabulates): S₁ needs ≈ a·z/(1−z) terms and
//!   E = c·(first − e^{(a−1)L}·S₁) cancels like 2c/r. Right for moderate a and b (CDNOW);
//!   with a ≈ 1e12 it needs 1e12 terms (the scoring hang), and with b ≈ 1e10 the two parts
//!   agree to 10 digits, or overflow into ∞·0 (the NaN).
//! * Pfaff in −u: E = r·u·Σ_j (r+1)_j (a)_j / ((c+1)_j (j+1)!) (−u)^j, terms alternating
//!   and shrinking like (p̄·u)^j while j ≪ a+b. Right for the no-dropout fits: a few dozen
//!   terms, and it tends to the Poisson-Gamma limit r·u term by term.
//! * FHL: E = c/(a−1)·[1 − (1−z)^r ₂F₁(r, b; c; z)], positive terms shrinking like
//!   ((1−p̄)·z)^k, cancelling like 1/(p̄·E): right when a+b is large and p̄·u is not
//!   small (customers expected to leave within the horizon).
//!
//! Each form is summed with a term cap and its cancellation measured; the first one that
//! converges with little cancellation is returned. The general [`hyp2f1`] (which has the
//! 1−z connection formula) is the last resort, and if nothing is accurate the caller gets
//! [`ModelError::Numerical`], never NaN or an unbounded loop.

use crate::error::{ModelError, Result};
use crate::numerics::special::hyp2f1;

/// Relative size below which a series' remaining tail is dropped.
const TOL: f64 = 1e-17;

/// Cancellation factor Σ|parts| / |result| (≈ 6e-14 relative) below which a form is taken
/// at once.
pub(crate) const MAX_KAPPA: f64 = 256.0;

/// Largest cancellation factor accepted at all (≈ 1e-11 relative), for the best form when
/// none reaches [`MAX_KAPPA`] (e.g. a = 1e-6, b = 1e3, where every form loses ~3 digits).
const LAST_KAPPA: f64 = 1e5;

/// Terms allowed per series: bounds the cost of one evaluation (≈ 50 µs) whatever the
/// parameters.
pub(crate) const MAX_TERMS: usize = 20_000;

/// Running sums are rescaled by 2^-600 past this size (a series may peak far above its
/// value before the prefactor brings it back).
const BIG: f64 = 1e200;
const RESCALE: f64 = f64::from_bits((1023 - 600) << 52);
const RESCALE_LN: f64 = 600.0 * std::f64::consts::LN_2;

/// A sum m·e^scale_ln with Σ|terms| (same scale) and the number of terms used.
#[derive(Debug, Clone, Copy)]
struct Summed {
    m: f64,
    abs: f64,
    scale_ln: f64,
    terms: usize,
}

/// Upper bound of |t_{k+1}/t_k| = (A+k)(B+k)/((C+k)(k+1))·|z| over all k ≥ n (a series.rs
/// bound, restated): (A+k)(B+k)/((C+k)(k+1)) − 1 = (p k + q)/((C+k)(k+1)) with
/// p = A+B−C−1, q = AB−C. Infinite where it does not hold (a parameter + n ≤ 0).
fn ratio_bound(big_a: f64, big_b: f64, big_c: f64, n: f64, z: f64) -> f64 {
    if big_a + n <= 0.0 || big_b + n <= 0.0 || big_c + n <= 0.0 {
        return f64::INFINITY;
    }
    let p = big_a + big_b - big_c - 1.0;
    let q = big_a * big_b - big_c;
    z.abs() * (1.0 + p.max(0.0) / (big_c + n) + q.max(0.0) / ((big_c + n) * (n + 1.0)))
}

/// Σ_{k≥0} t_k with t_0 = 1 and t_{k+1} = t_k·(A+k)(B+k)/((C+k)(k+d))·z (d = 1: a ₂F₁;
/// d = 2: the ₃F₂(1, A, B; 2, C; z) of E[N(t)]). Stops when the remaining tail is provably
/// below TOL·|sum| — or, where the bound does not apply (`heuristic`, an asymptotically
/// divergent alternating series whose terms first fall like (p̄u)^k), when a term is below
/// TOL·|sum| and the next ones keep falling by half. None after `cap` terms.
fn hyper_sum(
    big_a: f64,
    big_b: f64,
    big_c: f64,
    d: f64,
    z: f64,
    heuristic: bool,
    cap: usize,
) -> Option<Summed> {
    let (mut term, mut sum, mut abs, mut scale_ln) = (1.0f64, 1.0f64, 1.0f64, 0.0f64);
    let mut comp = 0.0;
    for k in 0..cap {
        let kf = k as f64;
        let ratio = (big_a + kf) * (big_b + kf) / ((big_c + kf) * (kf + d)) * z;
        term *= ratio;
        // TwoSum: the alternating forms would otherwise lose the small terms' digits.
        let next = sum + term;
        let back = next - sum;
        comp += (sum - (next - back)) + (term - back);
        sum = next;
        abs += term.abs();
        if !(abs.is_finite() && sum.is_finite()) {
            return None;
        }
        if abs > BIG {
            term *= RESCALE;
            sum *= RESCALE;
            comp *= RESCALE;
            abs *= RESCALE;
            scale_ln += RESCALE_LN;
        }
        if term.abs() <= TOL * (sum + comp).abs() {
            let n = kf + 1.0;
            let rho = if heuristic {
                let next = (big_a + n) * (big_b + n) / ((big_c + n) * (n + d)) * z;
                if next.abs() <= 0.5 { 0.5 } else { 1.0 }
            } else {
                ratio_bound(big_a, big_b, big_c, n, z)
            };
            if term == 0.0 || (rho < 1.0 && term.abs() * rho <= TOL * (1.0 - rho) * sum.abs()) {
                return Some(Summed {
                    m: sum + comp,
                    abs,
                    scale_ln,
                    terms: k + 1,
                });
            }
        }
    }
    None
}

/// An upper bound of ln P(p ≥ s) for p ~ Beta(a, b): Markov's inequality with the best
/// moment, min_k ln(E[p^k] / s^k), E[p^k] = (a)_k / (a+b)_k. The factors
/// (a+j)/((a+b+j)·s) grow with j, so the minimum is where they pass 1; the loop stops
/// there, below −800, or after MAX_TERMS factors.
fn ln_beta_tail_bound(a: f64, b: f64, s: f64) -> f64 {
    let mut acc = 0.0;
    for j in 0..MAX_TERMS {
        let jf = j as f64;
        let factor = (a + jf) / ((a + b + jf) * s);
        if factor >= 1.0 || acc < -800.0 {
            break;
        }
        acc += factor.ln();
    }
    acc
}

/// Whether a Pfaff series in −u (coefficients (r)_k·E[p^k]-like) summed to K terms
/// represents the function. It converges for u < 1. Beyond, it is the expansion of
/// (1 + p·u)^(−r) about p = 0 averaged over p: exact to the truncation where p·u ≤ ½,
/// and off by at most ~(r)_K/K!·u^K where p·u > ½ — negligible when the Beta mass there
/// is (the no-dropout fits: p ≈ a/(a+b) with a+b ~ 1e12).
fn pfaff_represents(a: f64, b: f64, u: f64, r: f64, terms: usize) -> bool {
    if u < 1.0 {
        return true;
    }
    let k = terms as f64;
    let growth = k * u.ln() + r.max(1.0) * (1.0 + k).ln();
    ln_beta_tail_bound(a, b, 0.5 / u) + growth < TOL.ln()
}

/// Which form produced a value (tests count them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Euler,
    Pfaff,
    Fhl,
    General,
}

/// The Euler form of E[N(t)] is worth trying when it is short: ≈ a·z/(1−z) terms.
fn euler_suits(a: f64, z: f64) -> bool {
    (a.abs() + 40.0) * z <= MAX_TERMS as f64 * (1.0 - z)
}

/// Whether a batch may tabulate the Euler form for every z ≤ z_max without checking each
/// row's cancellation: short, and cancelling at most like its small-z limit 2c/r (c =
/// a+b−1 with posterior b, r with x added) allows. CDNOW's fits are at 2c/r ≤ 20; the
/// no-dropout fits (c ~ 1e12) go to the other forms.
pub(crate) fn euler_tabulates(r: f64, a: f64, c: f64, z_max: f64) -> bool {
    euler_suits(a, z_max) && 2.0 * c.abs() <= MAX_KAPPA * r
}

/// E[N(t)]/c by the Euler form from its S₁ (value, Σ|·|): c·(first − e^{εL}·S₁) with the
/// (a−1) cancelled analytically, and the cancellation factor.
pub(crate) fn euler_combine(a: f64, u: f64, s1: f64, s1_abs: f64, s1_ln: f64) -> (f64, f64) {
    let l = -u.ln_1p();
    let eps = a - 1.0;
    let em1 = (eps * l).exp_m1();
    // −expm1(εL)/ε → −L as ε → 0.
    let first = if (eps * l).abs() < 1e-9 {
        -l * (1.0 + 0.5 * eps * l)
    } else {
        -em1 / eps
    };
    let w = (eps * l + s1_ln).exp();
    let second = w * s1;
    let value = first - second;
    (value, (first.abs() + w * s1_abs) / value.abs())
}

/// Each form gives (E[N(t)], its cancellation factor), or None where it does not converge
/// within [`MAX_TERMS`] or does not apply.
fn euler(r: f64, a: f64, b: f64, u: f64) -> Option<(f64, f64)> {
    let c = a + b - 1.0;
    let z = u / (1.0 + u);
    if !euler_suits(a, z) {
        return None;
    }
    let big_a = c - r;
    // S₁ = (A/c)·z·₃F₂(1, A+1, a; 2, c+1; z).
    let s = hyper_sum(big_a + 1.0, a, c + 1.0, 2.0, z, false, MAX_TERMS)?;
    let lead = big_a / c * z;
    let (v, kappa) = euler_combine(a, u, lead * s.m, (lead * s.abs).abs(), s.scale_ln);
    Some((c * v, kappa))
}

fn pfaff(r: f64, a: f64, b: f64, u: f64) -> Option<(f64, f64)> {
    let c = a + b - 1.0;
    let s = hyper_sum(r + 1.0, a, c + 1.0, 2.0, -u, u >= 1.0, MAX_TERMS)?;
    let kappa = s.abs / s.m.abs();
    pfaff_represents(a, b, u, r, s.terms).then(|| (r * u * s.m * s.scale_ln.exp(), kappa))
}

fn fhl(r: f64, a: f64, b: f64, u: f64) -> Option<(f64, f64)> {
    let c = a + b - 1.0;
    if a == 1.0 || c <= 0.0 {
        return None;
    }
    let z = u / (1.0 + u);
    let f = hyper_sum(r, b, c, 1.0, z, false, MAX_TERMS)?;
    // G = (1−z)^r·F = ₂F₁(r, a−1; c; −u).
    let g = (f.m.ln() + f.scale_ln - r * u.ln_1p()).exp();
    let one_minus = 1.0 - g;
    let kappa = (1.0 + g.abs()) / one_minus.abs();
    Some((c / (a - 1.0) * one_minus, kappa))
}

fn general(r: f64, a: f64, b: f64, u: f64) -> Option<(f64, f64)> {
    let c = a + b - 1.0;
    if a == 1.0 {
        return None;
    }
    let g = hyp2f1(r, a - 1.0, c, -u);
    let kappa = (1.0 + g.abs()) / (1.0 - g).abs();
    Some((c / (a - 1.0) * (1.0 - g), kappa))
}

/// E[N(t)] for a customer alive at 0 with λ ~ Gamma(r, α), p ~ Beta(a, b) whose next
/// dropout check follows the next purchase (FHL 2005 eq. 9), and the form that gave it.
pub(crate) fn expected_alive_form(
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    t: f64,
) -> Result<(f64, Form)> {
    if t <= 0.0 {
        return Ok((0.0, Form::Euler));
    }
    let u = t / alpha;
    type Eval = fn(f64, f64, f64, f64) -> Option<(f64, f64)>;
    let forms: [(Form, Eval); 4] = [
        (Form::Euler, euler),
        (Form::Pfaff, pfaff),
        (Form::Fhl, fhl),
        (Form::General, general),
    ];
    // E[N(t)] lies in (0, r·u] (no dropout buys r·u on average): clamping is rounding only.
    let mut best: Option<(f64, f64, Form)> = None;
    for (form, f) in forms {
        let Some((v, kappa)) = f(r, a, b, u).filter(|(v, k)| v.is_finite() && k.is_finite()) else {
            continue;
        };
        if kappa <= MAX_KAPPA {
            return Ok((v.clamp(0.0, r * u), form));
        }
        if best.is_none_or(|(_, k, _)| kappa < k) {
            best = Some((v, kappa, form));
        }
    }
    if let Some((v, kappa, form)) = best
        && kappa <= LAST_KAPPA
    {
        return Ok((v.clamp(0.0, r * u), form));
    }
    Err(ModelError::Numerical {
        what: "BG/NBD expected purchases",
        reason: format!(
            "no series form is accurate at r = {r:e}, alpha = {alpha:e}, a = {a:e}, b = {b:e}, \
             t = {t:e}"
        ),
    })
}

/// [`expected_alive_form`] without the form.
pub(crate) fn expected_alive(r: f64, alpha: f64, a: f64, b: f64, t: f64) -> Result<f64> {
    expected_alive_form(r, alpha, a, b, t).map(|(v, _)| v)
}

/// E[(1 + p·t/α)^(−r)] = ₂F₁(r, a; a+b; −t/α) with p ~ Beta(a, b): the probability that a
/// customer alive now (λ ~ Gamma(r, α)) does not drop out in the next t. The Pfaff
/// series in −u where it represents the function and cancels little (large a+b with
/// p̄·u small: a few dozen terms where the general routine's series in z needs ~1/(1−z)
/// of them), else the general ₂F₁.
pub(crate) fn survival(r: f64, alpha: f64, a: f64, b: f64, t: f64) -> Result<f64> {
    if t <= 0.0 {
        return Ok(1.0);
    }
    let u = t / alpha;
    if let Some(s) = hyper_sum(r, a, a + b, 1.0, -u, u >= 1.0, MAX_TERMS)
        && s.abs <= MAX_KAPPA * s.m.abs()
        && pfaff_represents(a, b, u, r, s.terms)
    {
        return Ok((s.m * s.scale_ln.exp()).clamp(0.0, 1.0));
    }
    let v = hyp2f1(r, a, a + b, -u);
    if v.is_finite() {
        Ok(v.clamp(0.0, 1.0))
    } else {
        Err(ModelError::Numerical {
            what: "BG/NBD probability of staying alive",
            reason: format!("2F1({r:e}, {a:e}; {:e}; {:e}) is not finite", a + b, -u),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form agrees with the others where both are accurate (independent sums of the
    /// same function), and the Poisson-Gamma limit r·u appears as a, b → ∞ with a/(a+b) → 0.
    #[test]
    fn forms_agree_where_they_overlap() {
        for (r, a, b, u) in [
            (0.243, 0.793, 2.426, 0.4),
            (1.5, 2.0, 5.0, 0.3),
            (4.0, 3.0, 40.0, 0.8),
            (0.7, 30.0, 300.0, 0.5),
        ] {
            let vals: Vec<f64> = [euler(r, a, b, u), pfaff(r, a, b, u), fhl(r, a, b, u)]
                .into_iter()
                .flatten()
                .filter(|&(_, kappa)| kappa <= MAX_KAPPA)
                .map(|(v, _)| v)
                .collect();
            assert!(vals.len() >= 2, "{:?}: {vals:?}", (r, a, b, u));
            for v in &vals {
                assert!(
                    (v - vals[0]).abs() <= 1e-13 * vals[0],
                    "{:?}: {vals:?}",
                    (r, a, b, u)
                );
            }
        }
        let (v, form) = expected_alive_form(1.59, 1.0, 1e-6, 1e12, 0.8).unwrap();
        assert_eq!(form, Form::Pfaff);
        assert!((v - 1.59 * 0.8).abs() < 1e-12, "{v}");
    }
}
