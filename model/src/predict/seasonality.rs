//! `seasonality_suspected`: holdout error concentrated in a few calendar periods (a
//! season, a promotion, an outage), which no model of these families can express: their
//! purchase rates do not depend on the calendar. `holdout_diagnosis::holdout_bias` looks
//! at the holdout customer by customer; this looks at it period by period.
//!
//! The comparison is, per period k of the holdout (weeks from the day after the
//! calibration end, [`PERIOD_DAYS`]), between the calibration customers' actual purchase
//! days `A_k` ([`HoldoutPeriods`], counted from raw transactions: summaries alone cannot
//! give it) and the model's expected purchases of the same customers in that period,
//! `E_k = Σ_i E[X(t_k) − X(t_{k−1}) | x_i, t_x,i, T_i]`, the difference of the conditional
//! expectation at successive horizons after the calibration end. Only whole periods are
//! compared; a last partial period is left out.
//!
//! # The rule, and why it does not fire on noise, bias or trends
//!
//! 1. **Level.** The model may be off by a constant factor (a uniform bias, a step in
//!    activity at the calibration end): that is `holdout_bias`'s business, not this one's.
//!    So the expectation is first scaled by `c` = the median over periods of `A_k / E_k`.
//!    A median ignores up to half the periods, so a season in a minority of the periods
//!    does not move it, while a uniform bias moves it fully and then leaves no residual.
//! 2. **Dispersion.** Residuals `z_k = (A_k − c·E_k) / √(c·E_k)` are standardized on a
//!    Poisson scale: given the customers' latent rates, a period's purchase count is a sum
//!    of independent Poisson counts, and what the model cannot know about those rates
//!    changes smoothly from period to period (it is mostly absorbed by `c`). For a right
//!    model, `D = Σ z_k² / (K − 1)` is then about χ²_{K−1} / (K − 1), near 1: it is at
//!    least [`MIN_DISPERSION`] (3) with probability 0.4 % for the minimum of 8 periods,
//!    2·10⁻⁴ for 13 and below 10⁻⁷ for 39.
//! 3. **Concentration.** A large `D` alone only says the model is wrong somewhere; with
//!    many customers any smooth misfit (a gradual trend, dropout timed a little off) makes
//!    it large. What sets a season apart is that a few periods carry most of the error. The
//!    largest fifth of the periods by absolute error must carry at least
//!    [`MIN_TOP_ERROR_SHARE`] (60 %) of the total absolute error: residuals growing
//!    linearly over the holdout give that fifth 36 %, quadratically 49 %, and pure
//!    Poisson noise about 44 % on average.
//! 4. **Materiality.** The error in those periods must be at least
//!    [`MIN_ERROR_OF_PURCHASES`] (5 %) of the holdout's purchases, so that a season real
//!    but too small to matter in a very large population is not reported.
//!
//! And the data must be able to say anything: at least [`MIN_PERIODS`] whole periods and
//! on average [`MIN_EXPECTED_PER_PERIOD`] expected purchases per period, so that a Poisson
//! scale is a fair description of the noise.
//!
//! An error concentrated in the first weeks after the calibration end can also be dropout
//! the model times wrongly; the message names the periods so that a reader can tell.

use rayon::prelude::*;

use crate::data::rfm::HoldoutPeriods;
use crate::data::units::TimeUnit;
use crate::error::{ModelError, Result};
use crate::fit::{FitWarning, GroupedRfm, WarningCode};
use crate::models::TransactionModel;

/// Length of the compared periods: a week, so that weekday patterns cancel out.
pub const PERIOD_DAYS: u32 = 7;

/// Fewer whole periods than this, and the holdout is too short to tell a few periods
/// from the rest.
pub const MIN_PERIODS: usize = 8;

/// Mean expected purchases per period, at the holdout's level, below which a Poisson
/// scale is too coarse a description of the noise.
pub const MIN_EXPECTED_PER_PERIOD: f64 = 10.0;

/// Dispersion of the standardized residuals at least this: three times what sampling
/// noise gives.
pub const MIN_DISPERSION: f64 = 3.0;

/// The share of the periods (rounded up) that must carry most of the error.
pub const TOP_PERIODS: f64 = 0.2;

/// Share of the absolute error the top periods must carry.
pub const MIN_TOP_ERROR_SHARE: f64 = 0.6;

/// The top periods' absolute error as a share of the holdout's actual purchases, at least.
pub const MIN_ERROR_OF_PURCHASES: f64 = 0.05;

/// The message names the top periods whose own standardized residual is at least this
/// (noise alone gets there in 3 periods out of 1000), so that it lists the season, not
/// the noisiest of the ordinary periods that fill up the top fifth.
pub const MIN_NAMED_RESIDUAL: f64 = 3.0;

/// Groups per parallel task (partial sums are added in task order: the result does not
/// depend on thread scheduling).
const CHUNK: usize = 256;

/// The model's expected purchases of `customers` in each whole period of `periods`
/// (`E_k` above), with times in `unit` (the model's).
pub fn expected_per_period(
    model: &TransactionModel,
    customers: &GroupedRfm,
    unit: TimeUnit,
    periods: &HoldoutPeriods,
) -> Result<Vec<f64>> {
    let whole = whole_periods(periods);
    let horizons: Vec<f64> = (0..whole)
        .map(|k| f64::from(periods.period_end_offset(k)) / unit.days())
        .collect();
    let groups: Vec<usize> = (0..customers.len()).collect();
    let partials: Vec<Vec<f64>> = groups
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut sums = vec![0.0; whole];
            for &g in chunk {
                let rfm = crate::Rfm {
                    frequency: customers.frequency[g],
                    recency: customers.recency[g],
                    age: customers.age[g],
                };
                let weight = customers.weight[g];
                let mut before = 0.0;
                for (sum, &h) in sums.iter_mut().zip(&horizons) {
                    let by_then = model
                        .expected_purchases(&rfm, h)
                        .map_err(|e| e.within("holdout_periods"))?;
                    *sum += weight * (by_then - before);
                    before = by_then;
                }
            }
            Ok(sums)
        })
        .collect::<Result<_>>()?;
    let mut total = vec![0.0; whole];
    for part in partials {
        for (acc, v) in total.iter_mut().zip(part) {
            *acc += v;
        }
    }
    Ok(total)
}

/// Periods of `periods` that are whole (a last shorter one is left out).
fn whole_periods(periods: &HoldoutPeriods) -> usize {
    let whole = (periods.days / periods.period_days.max(1)) as usize;
    whole.min(periods.purchases.len())
}

/// How the holdout error is spread over the periods: the statistics of the rule in the
/// module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodErrors {
    /// `c`: the median of actual / expected over the periods.
    pub level: f64,
    /// `D`: the mean squared standardized residual (K − 1 degrees of freedom).
    pub dispersion: f64,
    /// The top fifth of the periods by absolute error, in calendar order (0-based).
    pub top: Vec<usize>,
    /// Their share of the total absolute error.
    pub top_share: f64,
    /// Their absolute error as a share of the actual purchases of all compared periods.
    pub top_of_purchases: f64,
    /// The top periods with a standardized residual of at least [`MIN_NAMED_RESIDUAL`]
    /// (all of the top ones if none is), in calendar order: what the message names.
    pub named: Vec<usize>,
    /// Their share of the total absolute error.
    pub named_share: f64,
}

impl PeriodErrors {
    /// Whether the rule fires.
    pub fn concentrated(&self) -> bool {
        self.dispersion >= MIN_DISPERSION
            && self.top_share >= MIN_TOP_ERROR_SHARE
            && self.top_of_purchases >= MIN_ERROR_OF_PURCHASES
    }
}

/// The statistics of `actual` against `expected` per period, or `None` when there is
/// too little to judge by (fewer than [`MIN_PERIODS`] periods, too few purchases, an
/// expectation that is not positive).
pub fn period_errors(actual: &[u64], expected: &[f64]) -> Option<PeriodErrors> {
    let k = actual.len().min(expected.len());
    if k < MIN_PERIODS || !expected[..k].iter().all(|&e| e.is_finite() && e > 0.0) {
        return None;
    }
    let actual: Vec<f64> = actual[..k].iter().map(|&a| a as f64).collect();
    let expected = &expected[..k];
    let mut ratios: Vec<f64> = actual.iter().zip(expected).map(|(a, e)| a / e).collect();
    ratios.sort_unstable_by(f64::total_cmp);
    let level = if k % 2 == 1 {
        ratios[k / 2]
    } else {
        0.5 * (ratios[k / 2 - 1] + ratios[k / 2])
    };
    let scaled: Vec<f64> = expected.iter().map(|e| level * e).collect();
    if scaled.iter().sum::<f64>() / (k as f64) < MIN_EXPECTED_PER_PERIOD {
        return None;
    }
    let dispersion = actual
        .iter()
        .zip(&scaled)
        .map(|(a, s)| (a - s).powi(2) / s)
        .sum::<f64>()
        / (k - 1) as f64;
    let errors: Vec<f64> = actual
        .iter()
        .zip(&scaled)
        .map(|(a, s)| (a - s).abs())
        .collect();
    let total_error: f64 = errors.iter().sum();
    let mut by_error: Vec<usize> = (0..k).collect();
    by_error.sort_by(|&i, &j| errors[j].total_cmp(&errors[i]).then(i.cmp(&j)));
    let m = ((TOP_PERIODS * k as f64).ceil() as usize).max(1);
    let mut top = by_error[..m].to_vec();
    top.sort_unstable();
    let share = |periods: &[usize]| {
        let error: f64 = periods.iter().map(|&i| errors[i]).sum();
        if total_error > 0.0 {
            error / total_error
        } else {
            0.0
        }
    };
    let top_error: f64 = top.iter().map(|&i| errors[i]).sum();
    let purchases: f64 = actual.iter().sum();
    let mut named: Vec<usize> = top
        .iter()
        .copied()
        .filter(|&i| errors[i] >= MIN_NAMED_RESIDUAL * scaled[i].sqrt())
        .collect();
    if named.is_empty() {
        named = top.clone();
    }
    Some(PeriodErrors {
        level,
        dispersion,
        top_share: share(&top),
        top,
        top_of_purchases: if purchases > 0.0 {
            top_error / purchases
        } else {
            0.0
        },
        named_share: share(&named),
        named,
    })
}

/// `seasonality_suspected` when the model's holdout error for `customers` (the fitted
/// table's, grouped) is concentrated in a few periods of `periods` by the rule in the
/// module documentation.
pub fn seasonality_suspected(
    model: &TransactionModel,
    customers: &GroupedRfm,
    unit: TimeUnit,
    periods: &HoldoutPeriods,
) -> Result<Option<FitWarning>> {
    if periods.period_days == 0 {
        return Err(ModelError::invalid("period_days", "must be > 0"));
    }
    if whole_periods(periods) < MIN_PERIODS {
        return Ok(None);
    }
    let expected = expected_per_period(model, customers, unit, periods)?;
    let Some(errors) = period_errors(&periods.purchases, &expected) else {
        return Ok(None);
    };
    if !errors.concentrated() {
        return Ok(None);
    }
    Ok(Some(warning(periods, &expected, &errors)))
}

fn warning(periods: &HoldoutPeriods, expected: &[f64], errors: &PeriodErrors) -> FitWarning {
    let what = if periods.period_days == 7 {
        "weeks".to_owned()
    } else {
        format!("{}-day periods", periods.period_days)
    };
    let starts: Vec<String> = errors
        .named
        .iter()
        .map(|&k| periods.period_start(k).to_string())
        .collect();
    let actual: u64 = errors.named.iter().map(|&k| periods.purchases[k]).sum();
    let predicted: f64 = errors.named.iter().map(|&k| expected[k]).sum();
    FitWarning::new(
        WarningCode::SeasonalitySuspected,
        format!(
            "the holdout error is concentrated in a few calendar periods: the {what} starting \
             {} (counted from the day after the calibration end) carry {:.0}% of it, with \
             {actual} actual purchases against {predicted:.0} expected; their variation is \
             {:.1} times what sampling noise explains. A season, a promotion or an event the \
             model cannot express: its forecasts for such periods will be off",
            starts.join(", "),
            100.0 * errors.named_share,
            errors.dispersion,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected purchases declining as customers leave, 20 periods.
    fn expected() -> Vec<f64> {
        (0..20).map(|k| 400.0 * 0.98f64.powi(k)).collect()
    }

    /// Poisson-like noise without a random generator: ±√e alternating, which has
    /// dispersion about 1.
    fn noisy(expected: &[f64], factor: f64) -> Vec<u64> {
        expected
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let mean = factor * e;
                let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                (mean + sign * mean.sqrt()).round() as u64
            })
            .collect()
    }

    #[test]
    fn noise_and_a_uniform_bias_are_not_concentrated() {
        let e = expected();
        for factor in [1.0, 1.3, 0.7] {
            let got = period_errors(&noisy(&e, factor), &e).unwrap();
            assert!((got.level / factor - 1.0).abs() < 0.1, "{got:?}");
            assert!(got.dispersion < 1.5, "{factor}: {got:?}");
            assert!(!got.concentrated(), "{factor}: {got:?}");
        }
    }

    #[test]
    fn a_few_peak_periods_are_concentrated() {
        let e = expected();
        let mut actual = noisy(&e, 1.0);
        for k in [14, 15, 16] {
            actual[k] *= 2;
        }
        let got = period_errors(&actual, &e).unwrap();
        assert_eq!(got.top.len(), 4);
        assert!([14, 15, 16].iter().all(|k| got.top.contains(k)), "{got:?}");
        assert!(got.dispersion > 10.0, "{got:?}");
        assert!(got.top_share > 0.7, "{got:?}");
        assert!(got.concentrated());
        assert_eq!(got.named, [14, 15, 16]);
        assert!(got.named_share > 0.6 && got.named_share < got.top_share);
    }

    #[test]
    fn a_smooth_trend_is_not_concentrated() {
        // Actual activity growing 2% a period against a flat model: a large dispersion,
        // but spread over the whole holdout.
        let e = vec![400.0; 20];
        let actual: Vec<u64> = (0..20)
            .map(|k| (400.0 * 1.02f64.powi(k)).round() as u64)
            .collect();
        let got = period_errors(&actual, &e).unwrap();
        assert!(got.dispersion > MIN_DISPERSION, "{got:?}");
        assert!(got.top_share < MIN_TOP_ERROR_SHARE, "{got:?}");
        assert!(!got.concentrated());
    }

    #[test]
    fn too_little_data_is_not_judged() {
        let e = expected();
        assert_eq!(period_errors(&noisy(&e, 1.0)[..7], &e[..7]), None);
        let few = vec![2.0; 20];
        assert_eq!(period_errors(&[2; 20], &few), None);
        let mut zero = e.clone();
        zero[3] = 0.0;
        assert_eq!(period_errors(&noisy(&e, 1.0), &zero), None);
    }

    #[test]
    fn the_message_names_the_periods() {
        let e = expected();
        let mut actual = noisy(&e, 1.0);
        actual[15] *= 3;
        actual[16] *= 3;
        let periods = HoldoutPeriods {
            start: crate::data::summary::Day(0),
            period_days: 7,
            days: 7 * 20 + 3,
            purchases: actual,
        };
        let errors = period_errors(&periods.purchases, &e).unwrap();
        assert!(errors.concentrated(), "{errors:?}");
        let w = warning(&periods, &e, &errors);
        assert_eq!(w.code, WarningCode::SeasonalitySuspected);
        // Day 0 is 1970-01-01; period 15 starts 105 days later.
        assert!(w.message.contains("weeks starting"), "{}", w.message);
        assert!(w.message.contains("1970-04-16"), "{}", w.message);
        assert!(w.message.contains("1970-04-23"), "{}", w.message);
        assert_eq!(errors.named, [15, 16]);
    }
}
