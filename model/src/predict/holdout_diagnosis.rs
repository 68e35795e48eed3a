//! Diagnoses a fit can only get from a holdout: predictions biased one way in every
//! frequency bin, which no sampling noise explains and which a model with the wrong
//! dropout (or none) shows first. Run on a [`HoldoutReport`]; the fit's own diagnosis is in
//! `crate::models::diagnosis`.
//!
//! Error concentrated in calendar periods (a season the model cannot express) needs the
//! holdout's purchases per period, which only raw transactions give: see
//! `crate::predict::seasonality`.

use super::evaluate::HoldoutReport;
use crate::fit::{FitWarning, WarningCode};

/// Frequency bins with fewer customers are left out: their means are noise.
pub const MIN_BIN_CUSTOMERS: u64 = 30;

/// At least this many bins must be populated before one sign in all of them means
/// anything: if a model were right on average, each bin would be high or low by chance,
/// and all of five bins on one side has probability 2 · 2⁻⁵ = 1/16, all of eight 1/128.
pub const MIN_BINS: usize = 5;

/// And the total must be off by more than this share of the actual purchases, so that a
/// bias too small to matter (a few percent, within what a year's trend explains) is not
/// reported.
pub const MIN_TOTAL_BIAS: f64 = 0.10;

/// `holdout_bias` when the predicted mean is above the actual one in every populated
/// frequency bin, or below it in every one, and the total is off by more than
/// [`MIN_TOTAL_BIAS`].
pub fn holdout_bias(report: &HoldoutReport) -> Option<FitWarning> {
    let bins: Vec<_> = report
        .by_frequency
        .iter()
        .filter(|b| b.customers >= MIN_BIN_CUSTOMERS)
        .collect();
    if bins.len() < MIN_BINS || report.actual_total.is_nan() || report.actual_total <= 0.0 {
        return None;
    }
    let over = bins.iter().all(|b| b.mean_predicted > b.mean_actual);
    let under = bins.iter().all(|b| b.mean_predicted < b.mean_actual);
    let total = report.predicted_total / report.actual_total - 1.0;
    ((over || under) && total.abs() > MIN_TOTAL_BIAS).then(|| {
        FitWarning::new(
            WarningCode::HoldoutBias,
            format!(
                "holdout purchases are {} in every one of the {} frequency bins with at least \
                 {MIN_BIN_CUSTOMERS} customers, {:+.1}% in total: the model's error is \
                 systematic, not noise (a dropout or a trend it cannot express)",
                if over {
                    "over-predicted"
                } else {
                    "under-predicted"
                },
                bins.len(),
                100.0 * total
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::evaluate::FrequencyBin;

    fn report(pairs: &[(f64, f64)], customers: u64) -> HoldoutReport {
        let by_frequency: Vec<FrequencyBin> = pairs
            .iter()
            .enumerate()
            .map(|(i, &(actual, predicted))| FrequencyBin {
                label: i.to_string(),
                customers,
                mean_actual: actual,
                mean_predicted: predicted,
            })
            .collect();
        let n = customers as f64;
        HoldoutReport {
            customers: customers * pairs.len() as u64,
            holdout_duration: 39.0,
            actual_total: pairs.iter().map(|p| p.0 * n).sum(),
            predicted_total: pairs.iter().map(|p| p.1 * n).sum(),
            mae: 0.0,
            rmse: 0.0,
            pearson_r: None,
            auc: None,
            brier: 0.0,
            by_frequency,
            rankings: None,
        }
    }

    #[test]
    fn one_sign_everywhere_and_a_large_total_is_bias() {
        let over = [(0.2, 0.3), (0.8, 1.0), (1.5, 1.8), (2.0, 2.6), (3.0, 3.5)];
        let w = holdout_bias(&report(&over, 100)).unwrap();
        assert_eq!(w.code, WarningCode::HoldoutBias);
        assert!(
            w.message.contains("over-predicted in every one of the 5"),
            "{}",
            w.message
        );
        let under: Vec<_> = over.iter().map(|&(a, p)| (p, a)).collect();
        assert!(
            holdout_bias(&report(&under, 100))
                .unwrap()
                .message
                .contains("under")
        );
    }

    #[test]
    fn mixed_signs_small_bias_or_few_bins_are_not() {
        let mixed = [(0.2, 0.3), (0.8, 0.7), (1.5, 1.8), (2.0, 2.6), (3.0, 3.5)];
        assert_eq!(holdout_bias(&report(&mixed, 100)), None);
        let slight = [
            (1.0, 1.01),
            (1.0, 1.02),
            (1.0, 1.01),
            (1.0, 1.03),
            (1.0, 1.02),
        ];
        assert_eq!(holdout_bias(&report(&slight, 100)), None);
        let over = [(0.2, 0.3), (0.8, 1.0), (1.5, 1.8), (2.0, 2.6), (3.0, 3.5)];
        assert_eq!(holdout_bias(&report(&over[..4], 100)), None);
        assert_eq!(holdout_bias(&report(&over, MIN_BIN_CUSTOMERS - 1)), None);
    }
}
