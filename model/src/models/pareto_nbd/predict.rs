//! Per-customer Pareto/NBD predictions: P(alive), expected purchases, propensity,
//! purchase-count probabilities and DERT. Times are in the parameters' unit.

use super::integral::{adaptive_sums, ln_integral};
use super::likelihood::ln_core;
use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::models::params::ParetoNbdParams;
use crate::numerics::quadrature;
use crate::numerics::special::ln_gamma;

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
    .ok_or_else(|| {
        numerical("the integral over the time since the last purchase did not converge")
    })?;
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
/// ∫_0^t E[λ e^−λu] E[e^−μu] du = (r+x) α'^(r+x) β'^s ∫_0^t (α'+u)^−(r+x+1) (β'+u)^−s du
/// = (r+x)/α' · J, J = ∫_0^t (1+u/α')^−(r+x+1) (1+u/β')^−s du (see `integral`).
fn any_purchase_if_alive(p: &ParetoNbdParams, x: u32, age: f64, t: f64) -> Result<f64> {
    if t <= 0.0 {
        return Ok(0.0);
    }
    let rx = p.r + x as f64;
    let (a1, b1) = (p.alpha + age, p.beta + age);
    // Shift the origin to T: α' = α+T, β' = β+T.
    let ln_j = ln_integral(a1, rx + 1.0, b1, p.s, 0.0, t, adaptive_sums)
        .ok_or_else(|| numerical("the purchase-propensity integral did not converge"))?;
    Ok((rx.ln() + ln_j - a1.ln()).exp().clamp(0.0, 1.0))
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
