//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie's 2005 derivation notes).
//!
//! Purchases at rate λ ~ Gamma(r, α) while alive; exponential lifetime with rate
//! μ ~ Gamma(s, β). The likelihood is
//!
//! L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^−(r+x) (β+T)^−s + s ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ ].
//!
//! The integral is written as a difference of two tail integrals, each a Gauss 2F1 that
//! after Euler's transformation is a series of positive terms (no cancellation), and
//! everything is combined in log space: customers with x in the hundreds, where the
//! textbook form overflows (α+T)^(r+x), stay finite. The gradient is exact: the same code
//! runs on forward-mode dual numbers (`crate::dual`). The series' coefficients depend on
//! the parameters and x only, so the fit tabulates them (with their derivatives) once per
//! frequency per evaluation, and each row's two series are polynomials evaluated in vector
//! lanes (`SeriesTable`).

use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::fit::{self, FitOptions, Fitted, GroupedRfm, LogLikelihood};
use crate::numerics::dual::{Dual, Real, logaddexp, logsubexp};
use crate::numerics::quadrature;
use crate::numerics::special::ln_gamma;
use crate::params::ParetoNbdParams;
use wide::f64x4;

/// Longest series we accept; reached only when |α−β| ≈ max(α, β), i.e. one rate scale
/// thousands of times the other.
const MAX_TERMS: usize = 200_000;

/// ln ∫_y^∞ (α+τ)^−m (β+τ)^−k dτ for m + k > 1.
///
/// With A ≥ B the larger of α, β (exponent e_A) and the smaller (exponent e_B):
/// G(y) = (A+y)^−e_A (B+y)^−(e_B−1) · S / (m+k−1), S = Σ_n Π_{j<n} (e_A+j)/(m+k+j) · z^n,
/// z = (A−B)/(A+y) ∈ [0, 1). Here at each lower limit y in `ys`; `sums(e_A, m + k, z)`
/// sums the series S at each z ([`adaptive_sums`], or a [`SeriesTable`]'s polynomial).
/// Returns `None` if a series does not converge.
pub(crate) fn ln_tail_integrals<T: Real, const N: usize>(
    alpha: T,
    m: T,
    beta: T,
    k: T,
    ys: [f64; N],
    sums: impl FnOnce(T, T, [T; N]) -> Option<[T; N]>,
) -> Option<[T; N]> {
    let (big, e_big, small, e_small) = if alpha.val() >= beta.val() {
        (alpha, m, beta, k)
    } else {
        (beta, k, alpha, m)
    };
    let big_y = ys.map(|y| big + T::cst(y));
    let z = big_y.map(|big_y| (big - small) / big_y);
    let mk = m + k;
    let sum = sums(e_big, mk, z)?;
    let shared = -(mk - T::cst(1.0)).ln();
    Some(std::array::from_fn(|j| {
        let small_y = small + T::cst(ys[j]);
        -(e_big * big_y[j].ln()) - (e_small - T::cst(1.0)) * small_y.ln() + sum[j].ln() + shared
    }))
}

/// S = Σ_n Π_{j<n} (e_A+j)/(m+k+j) · z^n term by term until the tail is below 1e-17 of the
/// sum; `None` if that takes more than [`MAX_TERMS`]. The series side by side: each is a
/// chain of dependent multiplications, so their steps overlap.
fn adaptive_sums<T: Real, const N: usize>(e_big: T, mk: T, z: [T; N]) -> Option<[T; N]> {
    let mut term = [T::cst(1.0); N];
    let mut sum = [T::cst(1.0); N];
    // At z = 0 (α = β) the sum is 1, but its derivative in α and β is c_1·dz: one term.
    let mut done = [false; N];
    let mut n = 0;
    while !done.iter().all(|&d| d) {
        if n == MAX_TERMS {
            return None;
        }
        let ratio = (e_big + T::cst(n as f64)) / (mk + T::cst(n as f64));
        for j in 0..N {
            if done[j] {
                continue;
            }
            term[j] = term[j] * ratio * z[j];
            sum[j] = sum[j] + term[j];
            // Ratios are below z, so the remaining tail is below term·z/(1−z).
            let zv = z[j].val();
            done[j] = term[j].val() * zv < 1e-17 * (1.0 - zv) * sum[j].val();
        }
        n += 1;
    }
    Some(sum)
}

/// [`ln_tail_integrals`] at one lower limit.
#[cfg(test)]
fn ln_tail_integral<T: Real>(alpha: T, m: T, beta: T, k: T, y: f64) -> Option<T> {
    ln_tail_integrals(alpha, m, beta, k, [y], adaptive_sums).map(|[g]| g)
}

/// Most coefficients tabulated per evaluation over all frequencies (32 bytes each); rows
/// that would need more sum their series term by term.
const MAX_TABULATED_TERMS: usize = 1 << 17;

/// The series of [`ln_tail_integrals`] for m = r + x, k = s + 1 as a polynomial in z whose
/// coefficients c_n = Π_{j<n} (e_A+j)/(m+k+j) depend on the parameters and x only: the
/// likelihood tabulates them once per frequency per evaluation, with their derivatives, and
/// a row's series and its gradient are then one Horner pass of vector multiply-adds
/// instead of three products and a quotient of dual numbers per term. Entry n holds
/// [c_n, ∂c_n/∂r, ∂c_n/∂s, (n+1)·c_{n+1}]: the last lane sums to dS/dz, which carries the
/// derivatives in α and β (only z depends on them).
struct SeriesTable {
    coefficients: Vec<f64x4>,
}

impl SeriesTable {
    /// As many terms as a row with t_x = 0 needs at these parameters, at most `cap`.
    fn new(r: Dual, alpha: Dual, s: Dual, beta: Dual, x: u32, cap: usize) -> SeriesTable {
        let m = r + Dual::cst(f64::from(x));
        let mk = m + s + Dual::cst(1.0);
        let (e_big, z_max) = if alpha.v >= beta.v {
            (m, (alpha.v - beta.v) / alpha.v)
        } else {
            (s + Dual::cst(1.0), (beta.v - alpha.v) / beta.v)
        };
        let len = terms_needed(z_max).min(cap);
        let mut c = Dual::cst(1.0);
        let coefficients = (0..len)
            .map(|n| {
                let nf = n as f64;
                let next = c * (e_big + Dual::cst(nf)) / (mk + Dual::cst(nf));
                let entry = f64x4::new([c.v, c.d[R], c.d[S], (nf + 1.0) * next.v]);
                c = next;
                entry
            })
            .collect();
        SeriesTable { coefficients }
    }

    /// The series at each z (dual numbers in α and β only); `None` if it needs more terms
    /// than the table has.
    fn sums<const N: usize>(&self, z: [Dual; N]) -> Option<[Dual; N]> {
        let z_max = z.iter().fold(0.0, |m: f64, z| m.max(z.v));
        let len = terms_needed(z_max);
        let coefficients = self.coefficients.get(..len)?;
        let zs = z.map(|z| f64x4::splat(z.v));
        let mut acc = [f64x4::ZERO; N];
        for &c in coefficients.iter().rev() {
            for j in 0..N {
                acc[j] = acc[j].mul_add(zs[j], c);
            }
        }
        Some(std::array::from_fn(|j| {
            let [v, d_r, d_s, d_z] = acc[j].to_array();
            let mut d = z[j].d.map(|dz| d_z * dz);
            d[R] += d_r;
            d[S] += d_s;
            Dual { v, d }
        }))
    }
}

/// Terms of Σ c_n z^n (every c_n ≤ 1, falling) after which the tail is below 1e-17 of the
/// sum (≥ 1): z^n/(1−z) < 1e-17.
fn terms_needed(z: f64) -> usize {
    if z <= 0.0 {
        1
    } else if z < 1.0 {
        ((1e-17 * (1.0 - z)).ln() / z.ln()).ceil().max(0.0) as usize + 1
    } else {
        usize::MAX
    }
}

/// Derivative lanes of the parameters.
const R: usize = 0;
const S: usize = 2;

/// The part of the log-likelihood that depends on (t_x, T), without the x-only terms:
/// ln[(α+T)^−(r+x)(β+T)^−s + s·I]. Also returns ln(s·I) − (first term) for P(alive).
/// `sums` sums the two tail integrals' series (see [`ln_tail_integrals`]).
#[allow(clippy::too_many_arguments)] // the four parameters, the row, how to sum its series
fn ln_core<T: Real>(
    r: T,
    alpha: T,
    s: T,
    beta: T,
    x: u32,
    recency: f64,
    age: f64,
    sums: impl FnOnce(T, T, [T; 2]) -> Option<[T; 2]>,
) -> Option<(T, T)> {
    let m = r + T::cst(x as f64);
    let a_term = -(m * (alpha + T::cst(age)).ln()) - s * (beta + T::cst(age)).ln();
    if recency >= age {
        return Some((a_term, T::cst(f64::NEG_INFINITY)));
    }
    let k = s + T::cst(1.0);
    let [g_lo, g_hi] = ln_tail_integrals(alpha, m, beta, k, [recency, age], sums)?;
    let b_term = s.ln() + logsubexp(g_lo, g_hi);
    Some((logaddexp(a_term, b_term), b_term - a_term))
}

struct ParetoLikelihood<'a> {
    data: &'a GroupedRfm,
    weight_by_x: Vec<f64>,
    /// The frequencies that occur, ascending (one series table each per evaluation).
    frequencies: Vec<u32>,
    total_weight: f64,
}

impl<'a> ParetoLikelihood<'a> {
    fn new(data: &'a GroupedRfm) -> Self {
        let weight_by_x = data.weight_by_frequency();
        let frequencies = (0..weight_by_x.len())
            .filter(|&x| weight_by_x[x] > 0.0)
            .map(|x| x as u32)
            .collect();
        Self {
            data,
            weight_by_x,
            frequencies,
            total_weight: data.total_weight(),
        }
    }
}

impl LogLikelihood for ParetoLikelihood<'_> {
    const MODEL: &'static str = "Pareto/NBD";
    const PARAM_NAMES: &'static [&'static str] = &["r", "alpha", "s", "beta"];

    fn ll_grad(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let (r, alpha, s, beta) = (params[0], params[1], params[2], params[3]);
        // x-only terms: lnΓ(r+x) − lnΓ(r) by recurrence, plus r ln α + s ln β.
        let (mut constant, mut g) = (0.0, [0.0; 4]);
        let (mut lg, mut dg) = (0.0, 0.0);
        for (x, &w) in self.weight_by_x.iter().enumerate() {
            if w > 0.0 {
                constant += w * (lg + r * alpha.ln() + s * beta.ln());
                g[0] += w * (dg + alpha.ln());
                g[1] += w * r / alpha;
                g[2] += w * beta.ln();
                g[3] += w * s / beta;
            }
            lg += (r + x as f64).ln();
            dg += 1.0 / (r + x as f64);
        }
        let (dr, da, ds, db) = (
            Dual::var(r, 0),
            Dual::var(alpha, 1),
            Dual::var(s, 2),
            Dual::var(beta, 3),
        );
        let d = self.data;
        let n = d.len();
        let cap = MAX_TABULATED_TERMS / self.frequencies.len().max(1);
        let tables: Vec<SeriesTable> = self
            .frequencies
            .iter()
            .map(|&x| SeriesTable::new(dr, da, ds, db, x, cap))
            .collect();
        let core = fit::chunked_sum(n, |start, end| {
            let mut acc = Dual::cst(0.0);
            for i in start..end {
                let x = d.frequency[i];
                let t = self
                    .frequencies
                    .binary_search(&x)
                    .ok()
                    .and_then(|k| tables.get(k));
                let sums = |e_big, mk, z| {
                    t.and_then(|t| t.sums(z))
                        .or_else(|| adaptive_sums(e_big, mk, z))
                };
                match ln_core(dr, da, ds, db, x, d.recency[i], d.age[i], sums) {
                    Some((core, _)) => acc = acc + core.scale(d.weight[i]),
                    None => return [f64::NAN; 5],
                }
            }
            [acc.v, acc.d[0], acc.d[1], acc.d[2], acc.d[3]]
        });
        for i in 0..4 {
            grad[i] = g[i] + core[i + 1];
        }
        constant + core[0]
    }

    fn total_weight(&self) -> f64 {
        self.total_weight
    }

    fn groups(&self) -> usize {
        self.data.len()
    }

    fn initial_guess(&self) -> Vec<f64> {
        let (r, alpha) = self.data.rate_start();
        // Lifetimes on the order of the observation span.
        let mean_age = self
            .data
            .age
            .iter()
            .zip(&self.data.weight)
            .map(|(t, w)| t * w)
            .sum::<f64>()
            / self.total_weight;
        vec![r, alpha, 1.0, mean_age.max(1e-3)]
    }
}

/// Fits Pareto/NBD by maximum likelihood.
pub fn fit(data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<ParetoNbdParams>> {
    let opts = fit::with_warm_start(data, opts, |sub, o| fit(sub, o).map(|f| f.params.to_vec()));
    let ll = ParetoLikelihood::new(data);
    let raw = fit::maximize(&ll, &opts)?;
    Ok(Fitted {
        params: ParetoNbdParams::from_slice(&raw.params),
        diagnostics: raw.diagnostics,
    })
}

/// Total log-likelihood of `data` under `params` (NaN only if a series failed to converge).
pub fn log_likelihood(data: &GroupedRfm, params: &ParetoNbdParams) -> f64 {
    ParetoLikelihood::new(data).ll_grad(&params.to_vec(), &mut [0.0; 4])
}

fn numerical(reason: &str) -> ModelError {
    ModelError::Numerical {
        what: "Pareto/NBD",
        reason: reason.into(),
    }
}

/// P(alive at T | x, t_x, T).
pub(crate) fn p_alive(p: &ParetoNbdParams, c: &Rfm) -> Result<f64> {
    let (_, log_ratio) = ln_core(
        p.r,
        p.alpha,
        p.s,
        p.beta,
        c.frequency,
        c.recency.min(c.age),
        c.age,
        adaptive_sums,
    )
    .ok_or_else(|| numerical("2F1 series did not converge (|alpha - beta| ~ max(alpha, beta))"))?;
    // P(alive) = e^A / (e^A + s·I) = 1 / (1 + e^(ln(sI) − A)).
    Ok(if log_ratio > 0.0 {
        let e = (-log_ratio).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + log_ratio.exp())
    })
}

/// ∫_0^t of the expected rate given alive: (r+x)/(α+T) · (β+T) · [1 − ((β+T)/(β+T+t))^(s−1)]/(s−1).
fn expected_if_alive(p: &ParetoNbdParams, x: u32, age: f64, t: f64) -> f64 {
    let rx = p.r + x as f64;
    let bt = p.beta + age;
    let u = (t / bt).ln_1p();
    let sm1 = p.s - 1.0;
    // [1 − e^(−(s−1)u)]/(s−1) → u as s → 1.
    let factor = if (sm1 * u).abs() < 1e-10 {
        u * (1.0 - 0.5 * sm1 * u)
    } else {
        -(-sm1 * u).exp_m1() / sm1
    };
    rx / (p.alpha + age) * bt * factor
}

/// E[X(t) | x, t_x, T].
pub(crate) fn expected_purchases(p: &ParetoNbdParams, c: &Rfm, t: f64) -> Result<f64> {
    Ok(p_alive(p, c)? * expected_if_alive(p, c.frequency, c.age, t))
}

/// P(alive at T + t | x, t_x, T) = P(alive) · ((β+T)/(β+T+t))^s.
pub(crate) fn p_alive_at(p: &ParetoNbdParams, c: &Rfm, t: f64) -> Result<f64> {
    Ok(p_alive(p, c)? * (-p.s * (t / (p.beta + c.age)).ln_1p()).exp())
}

/// P(at least one purchase in (T, T+t] | alive at T):
/// ∫_0^t E[λ e^−λu] E[e^−μu] du = (r+x) α'^(r+x) β'^s ∫_0^t (α'+u)^−(r+x+1) (β'+u)^−s du.
fn any_purchase_if_alive(p: &ParetoNbdParams, x: u32, age: f64, t: f64) -> Result<f64> {
    if t <= 0.0 {
        return Ok(0.0);
    }
    let rx = p.r + x as f64;
    let (a1, b1) = (p.alpha + age, p.beta + age);
    // Shift the origin to T: α' = α+T, β' = β+T.
    let [lo, hi] = ln_tail_integrals(a1, rx + 1.0, b1, p.s, [0.0, t], adaptive_sums)
        .ok_or_else(|| numerical("2F1 series did not converge"))?;
    let ln_int = logsubexp(lo, hi);
    Ok((rx.ln() + rx * a1.ln() + p.s * b1.ln() + ln_int)
        .exp()
        .clamp(0.0, 1.0))
}

/// One customer's scores with P(alive) computed once (its two 2F1 series are the cost;
/// every other quantity is P(alive) times a closed form): E[X(horizon)], P(alive),
/// P(≥1 purchase in the horizon), and the discounted purchases of a CLV `schedule`
/// (period ends and discount factors). Each equals its stand-alone function bit for bit.
pub(crate) struct Scored {
    pub expected_purchases: f64,
    pub p_alive: f64,
    pub propensity: f64,
    pub discounted_purchases: f64,
}

pub(crate) fn score(
    p: &ParetoNbdParams,
    c: &Rfm,
    horizon: f64,
    schedule: &[(f64, f64)],
) -> Result<Scored> {
    let pa = p_alive(p, c)?;
    let (mut prev, mut discounted) = (0.0, 0.0);
    for &(t, factor) in schedule {
        let e = pa * expected_if_alive(p, c.frequency, c.age, t);
        discounted += (e - prev) * factor;
        prev = e;
    }
    Ok(Scored {
        expected_purchases: pa * expected_if_alive(p, c.frequency, c.age, horizon),
        p_alive: pa,
        propensity: pa * any_purchase_if_alive(p, c.frequency, c.age, horizon)?,
        discounted_purchases: discounted,
    })
}

/// P(at least one purchase in (T, T+t] | x, t_x, T).
pub(crate) fn propensity(p: &ParetoNbdParams, c: &Rfm, t: f64) -> Result<f64> {
    Ok(p_alive(p, c)? * any_purchase_if_alive(p, c.frequency, c.age, t)?)
}

/// P(N(T, T+t] = n | x, t_x, T). For n ≥ 1 the death time is integrated out numerically
/// (composite Gauss-Legendre on a smooth integrand).
pub(crate) fn prob_n_purchases(p: &ParetoNbdParams, c: &Rfm, t: f64, n: u32) -> Result<f64> {
    let pa = p_alive(p, c)?;
    if n == 0 {
        return Ok((1.0 - pa) + pa * (1.0 - any_purchase_if_alive(p, c.frequency, c.age, t)?));
    }
    if t <= 0.0 {
        return Ok(0.0);
    }
    let rx = p.r + c.frequency as f64;
    let (a1, b1) = (p.alpha + c.age, p.beta + c.age);
    let nf = n as f64;
    let ln_coef = ln_gamma(rx + nf) - ln_gamma(rx) - ln_gamma(nf + 1.0);
    // NB(n; rx, α'/(α'+τ)): Poisson(λτ) mixed over λ ~ Gamma(rx, α').
    let nb = |tau: f64| -> f64 {
        if tau <= 0.0 {
            return 0.0;
        }
        (ln_coef + rx * (a1 / (a1 + tau)).ln() + nf * (tau / (a1 + tau)).ln()).exp()
    };
    let survive_all = nb(t) * (-p.s * (t / b1).ln_1p()).exp();
    // Death at τ < t with density E[μ e^−μτ] = (s/β')(β'/(β'+τ))^(s+1).
    let died = quadrature::integrate(0.0, t, 32, |tau| {
        nb(tau) * p.s / b1 * (-(p.s + 1.0) * (tau / b1).ln_1p()).exp()
    });
    Ok(pa * (survive_all + died))
}

/// E[X(t)] for a newly acquired customer: rβ/(α(s−1)) · [1 − (β/(β+t))^(s−1)].
pub(crate) fn expected_new_customer(p: &ParetoNbdParams, t: f64) -> f64 {
    expected_if_alive(p, 0, 0.0, t)
}

/// Discounted expected residual transactions (Fader, Hardie & Lee 2005, "RFM and CLV"):
/// E[∫_0^∞ e^−δu dN(T+u)] for a continuous discount rate δ per time unit:
/// P(alive) · (r+x)/(α+T) · ∫_0^∞ e^−δu ((β+T)/(β+T+u))^s du.
pub(crate) fn dert(p: &ParetoNbdParams, c: &Rfm, delta: f64) -> Result<f64> {
    if !(delta.is_finite() && delta > 0.0) {
        return Err(ModelError::invalid(
            "discount_rate",
            format!("continuous rate must be finite and > 0, got {delta}"),
        ));
    }
    let b1 = p.beta + c.age;
    // u = β'(e^v − 1): integrand β' e^((1−s)v) e^(−δβ'(e^v − 1)), double-exponential decay.
    let db = delta * b1;
    let f = |v: f64| b1 * ((1.0 - p.s) * v - db * v.exp_m1()).exp();
    // Upper limit where the exponent has fallen below −50 and is decreasing.
    let mut upper = 1.0f64;
    while (1.0 - p.s) * upper - db * upper.exp_m1() > -50.0 || (1.0 - p.s) - db * upper.exp() > 0.0
    {
        upper *= 1.5;
        if upper > 1e4 {
            return Err(numerical(
                "DERT integral does not decay: discount rate too small",
            ));
        }
    }
    let integral = quadrature::integrate(0.0, upper, 64, f);
    Ok(p_alive(p, c)? * (p.r + c.frequency as f64) / (p.alpha + c.age) * integral)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail integral equals direct quadrature of its definition, for α ≥ β and α < β.
    #[test]
    fn tail_integral_matches_quadrature() {
        for &(alpha, m, beta, k, y) in &[
            (10.58, 2.55, 11.67, 1.61, 5.0),
            (11.67, 0.6, 3.0, 2.5, 0.0),
            (2.0, 30.0, 40.0, 1.2, 10.0),
        ] {
            let g = ln_tail_integral(alpha, m, beta, k, y).unwrap().exp();
            // ∫_y^∞ via u = y + w/(1−w) on [0, 1).
            let q = quadrature::integrate(0.0, 1.0, 256, |w: f64| {
                if w >= 1.0 {
                    return 0.0;
                }
                let tau = y + w / (1.0 - w);
                (alpha + tau).powf(-m) * (beta + tau).powf(-k) / ((1.0 - w) * (1.0 - w))
            });
            assert!((g - q).abs() < 1e-9 * q, "{g} vs {q}");
        }
    }

    #[test]
    fn gradient_matches_central_differences() {
        let rows = [
            Rfm::new(0, 0.0, 38.86).unwrap(),
            Rfm::new(2, 30.43, 38.86).unwrap(),
            Rfm::new(26, 30.86, 31.0).unwrap(),
            Rfm::new(7, 29.43, 38.86).unwrap(),
        ];
        let d = GroupedRfm::build(&rows, None).unwrap();
        let ll = ParetoLikelihood::new(&d);
        for p in [[0.553, 10.578, 0.606, 11.669], [0.553, 20.0, 0.606, 3.0]] {
            crate::fit::assert_gradient_matches(&ll, &p, "Pareto/NBD");
        }
    }

    /// The tabulated polynomial gives the term-by-term series and its gradient.
    #[test]
    fn series_table_matches_term_by_term_sums() {
        for (r, alpha, s, beta) in [
            (0.553, 10.578, 0.606, 11.669),
            (0.5, 9.8, 0.94, 27.8),
            (2.0, 40.0, 0.3, 4.0),
            (0.8, 5.0, 1.5, 5.0),
        ] {
            let (dr, da, ds, db) = (
                Dual::var(r, 0),
                Dual::var(alpha, 1),
                Dual::var(s, 2),
                Dual::var(beta, 3),
            );
            for x in [0, 1, 5, 200] {
                let table = SeriesTable::new(dr, da, ds, db, x, usize::MAX);
                let m = dr + Dual::cst(f64::from(x));
                let k = ds + Dual::cst(1.0);
                let (big, e_big, small) = if alpha >= beta {
                    (da, m, db)
                } else {
                    (db, k, da)
                };
                let z = [0.0, 3.5, 40.0].map(|y| (big - small) / (big + Dual::cst(y)));
                let want = adaptive_sums(e_big, m + k, z).unwrap();
                let got = table.sums(z).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    assert!((g.v - w.v).abs() <= 1e-14 * w.v, "{g:?} vs {w:?}");
                    for i in 0..4 {
                        let scale = w.d[i].abs().max(1e-12 * w.v);
                        assert!(
                            (g.d[i] - w.d[i]).abs() <= 1e-11 * scale,
                            "{i}: {g:?} vs {w:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn shared_p_alive_scores_equal_the_stand_alone_functions() {
        let p = ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).unwrap();
        let schedule: Vec<(f64, f64)> = (1..=12)
            .map(|m| (m as f64 * 4.345, 1.01f64.powi(-m)))
            .collect();
        for (x, recency, age) in [
            (0, 0.0, 30.0),
            (2, 10.5, 38.0),
            (40, 37.9, 38.0),
            (400, 70.0, 78.0),
        ] {
            let c = Rfm {
                frequency: x,
                recency,
                age,
            };
            let s = score(&p, &c, 52.0, &schedule).unwrap();
            assert_eq!(s.p_alive, p_alive(&p, &c).unwrap());
            assert_eq!(
                s.expected_purchases,
                expected_purchases(&p, &c, 52.0).unwrap()
            );
            assert_eq!(s.propensity, propensity(&p, &c, 52.0).unwrap());
            let (mut prev, mut want) = (0.0, 0.0);
            for &(t, f) in &schedule {
                let e = expected_purchases(&p, &c, t).unwrap();
                want += (e - prev) * f;
                prev = e;
            }
            assert_eq!(s.discounted_purchases, want);
            assert!(want > 0.0);
        }
    }

    #[test]
    fn probabilities_sum_to_one_and_match_expectation() {
        let p = ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).unwrap();
        let c = Rfm::new(2, 30.43, 38.86).unwrap();
        let probs: Vec<f64> = (0..200)
            .map(|n| prob_n_purchases(&p, &c, 39.0, n).unwrap())
            .collect();
        let total: f64 = probs.iter().sum();
        let mean: f64 = probs.iter().enumerate().map(|(n, q)| n as f64 * q).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let e = expected_purchases(&p, &c, 39.0).unwrap();
        assert!((mean - e).abs() < 1e-8 * e, "{mean} vs {e}");
        assert!((propensity(&p, &c, 39.0).unwrap() - (1.0 - probs[0])).abs() < 1e-12);
    }
}
