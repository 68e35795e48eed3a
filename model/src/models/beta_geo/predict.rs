//! Per-customer predictions of the beta-geometric family: P(alive), expected purchases,
//! propensity, purchase-count probabilities. Times are in the parameters' unit.

use statrs::function::beta::beta_reg;

use super::Variant;
use super::expectation::{ExpectationTable, b_offset, expected_fresh};
use super::forms::survival;
use crate::data::rfm::Rfm;
use crate::error::Result;
use crate::models::params::BetaGeoParams;
use crate::numerics::special::{ln_gamma, ln_gamma_shift};

/// P(alive at T | x, t_x, T).
pub(crate) fn p_alive(p: &BetaGeoParams, variant: Variant, c: &Rfm) -> f64 {
    p_alive_with(p, variant, c, log_drop_odds(p, variant, c.frequency))
}

/// ln(a / (b + k − 1)) with k the dropout checks survived: the x-only part of the log-odds
/// of "dropped" against "alive" (a batch tabulates it per frequency).
pub(crate) fn log_drop_odds(p: &BetaGeoParams, variant: Variant, x: u32) -> f64 {
    let k = variant.checks(x);
    if k == 0.0 {
        f64::NEG_INFINITY
    } else {
        // b + (k − 1): with b = 1e-6 and k = 1, (b + k) − 1 would keep 10 digits.
        (p.a / (p.b + (k - 1.0))).ln()
    }
}

/// P(alive) given the customer's [`log_drop_odds`].
#[inline]
pub(crate) fn p_alive_with(p: &BetaGeoParams, variant: Variant, c: &Rfm, log_drop: f64) -> f64 {
    if variant.checks(c.frequency) == 0.0 {
        return 1.0;
    }
    sigmoid(-log_odds_dropped(p, c, log_drop))
}

/// ln(P(dropped) / P(alive)) given the customer's [`log_drop_odds`].
fn log_odds_dropped(p: &BetaGeoParams, c: &Rfm, log_drop: f64) -> f64 {
    let rx = p.r + c.frequency as f64;
    // ln((α+T)/(α+t_x)) as ln_1p: α may be ~1e5 and T − t_x a few weeks.
    log_drop + rx * ((c.age - c.recency) / (p.alpha + c.recency)).ln_1p()
}

/// 1 − P(alive), formed directly: 1 − 0.99999… would keep only its last digits.
fn p_dropped(p: &BetaGeoParams, variant: Variant, c: &Rfm) -> f64 {
    if variant.checks(c.frequency) == 0.0 {
        return 0.0;
    }
    sigmoid(log_odds_dropped(
        p,
        c,
        log_drop_odds(p, variant, c.frequency),
    ))
}

fn sigmoid(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// E[X(t) | x, t_x, T]: expected repeat purchases in (T, T + t].
pub(crate) fn expected_purchases(
    p: &BetaGeoParams,
    variant: Variant,
    c: &Rfm,
    t: f64,
) -> Result<f64> {
    let table = ExpectationTable::scalar(p.r, p.a, b_offset(p, variant));
    Ok(p_alive(p, variant, c) * table.expected(c.frequency, p.alpha + c.age, t)?)
}

/// P(no purchase in (T, T+t] | alive at T) = ((α+T)/(α+T+t))^(r+x); the propensity is
/// P(alive) · (1 − that).
pub(crate) fn propensity(p: &BetaGeoParams, variant: Variant, c: &Rfm, t: f64) -> f64 {
    let rx = p.r + c.frequency as f64;
    let at = p.alpha + c.age;
    let none_if_alive = -rx * (t / at).ln_1p();
    p_alive(p, variant, c) * -none_if_alive.exp_m1()
}

/// P(alive at T + t | x, t_x, T): alive now, and no dropout among the purchases made in
/// (T, T+t] — E[exp(−λ p t)] under the posterior, a 2F1 with negative argument.
pub(crate) fn p_alive_at(p: &BetaGeoParams, variant: Variant, c: &Rfm, t: f64) -> Result<f64> {
    let x = c.frequency as f64;
    let b_post = p.b + variant.checks(c.frequency);
    let surv = survival(p.r + x, p.alpha + c.age, p.a, b_post, t)?;
    Ok(p_alive(p, variant, c) * surv)
}

/// P(N(t) = n) for a customer alive at 0 with λ ~ Gamma(r, α), p ~ Beta(a, b) whose next
/// dropout check follows the next purchase (FHL 2005 eq. 8), in log space with the
/// finite-sum tail written as a regularized incomplete beta (no cancellation). The ratios
/// B(a, b+n)/B(a, b) and Γ(r+n)/Γ(r) are formed as shifts of ln Γ, not differences: with
/// a, b or r near 1e12 each ln Γ is ~3e13 and a difference would keep no digits.
pub(crate) fn prob_n_fresh(r: f64, alpha: f64, a: f64, b: f64, t: f64, n: u32) -> f64 {
    if t <= 0.0 {
        return if n == 0 { 1.0 } else { 0.0 };
    }
    let nf = n as f64;
    // ln B(a, b+k) − ln B(a, b).
    let ln_beta_shift = |k: f64| ln_gamma_shift(b, k) - ln_gamma_shift(a + b, k);
    let first =
        (ln_beta_shift(nf) + ln_gamma_shift(r, nf) - ln_gamma(nf + 1.0) - r * (t / alpha).ln_1p()
            + nf * (t / (alpha + t)).ln())
        .exp();
    if n == 0 {
        return first;
    }
    // 1 − Σ_{j<n} NB(j; r, q) = P(NB ≥ n) = I_{1−q}(n, r).
    let tail = beta_reg(nf, r, t / (alpha + t));
    // B(a+1, b+n−1)/B(a, b) = a/(a+b+n−1) · B(a, b+n−1)/B(a, b).
    let second = ((a / (a + b + nf - 1.0)).ln() + ln_beta_shift(nf - 1.0)).exp() * tail;
    first + second
}

/// P(N(T, T+t] = n | x, t_x, T).
pub(crate) fn prob_n_purchases(
    p: &BetaGeoParams,
    variant: Variant,
    c: &Rfm,
    t: f64,
    n: u32,
) -> f64 {
    let x = c.frequency as f64;
    let pa = p_alive(p, variant, c);
    let b_post = p.b + variant.checks(c.frequency);
    let alive_part = pa * prob_n_fresh(p.r + x, p.alpha + c.age, p.a, b_post, t, n);
    if n == 0 {
        p_dropped(p, variant, c) + alive_part
    } else {
        alive_part
    }
}

/// E[X(t)] for a customer just acquired (first purchase at 0).
pub(crate) fn expected_new_customer(p: &BetaGeoParams, variant: Variant, t: f64) -> Result<f64> {
    Ok(match variant {
        Variant::Classic => expected_fresh(p.r, p.alpha, p.a, p.b, t)?,
        // Survives the check after the first purchase with probability b/(a+b).
        Variant::Modified => p.b / (p.a + p.b) * expected_fresh(p.r, p.alpha, p.a, p.b + 1.0, t)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_sum_to_one_and_match_expectation() {
        let p = BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap();
        let c = Rfm::new(2, 30.43, 38.86).unwrap();
        for variant in [Variant::Classic, Variant::Modified] {
            let probs: Vec<f64> = (0..400)
                .map(|n| prob_n_purchases(&p, variant, &c, 39.0, n))
                .collect();
            let total: f64 = probs.iter().sum();
            let mean: f64 = probs.iter().enumerate().map(|(n, q)| n as f64 * q).sum();
            assert!((total - 1.0).abs() < 1e-9, "{total}");
            let e = expected_purchases(&p, variant, &c, 39.0).unwrap();
            assert!((mean - e).abs() < 1e-8 * e, "{mean} vs {e}");
            let prop = propensity(&p, variant, &c, 39.0);
            assert!((prop - (1.0 - probs[0])).abs() < 1e-12);
        }
    }
}
