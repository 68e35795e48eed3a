//! Calibration/holdout evaluation: how well a fitted model predicts what customers did next,
//! and whether it ranks them better than naive baselines on the same customers.
//!
//! * this module: [`HoldoutReport`] (totals, MAE/RMSE, Pearson, AUC and Brier of the
//!   propensity, FHL's frequency table) built by [`holdout_report`];
//! * [`ranking`]: gain curve, normalized Gini, top shares and lift, decile calibration
//!   (for the model and every baseline, in each [`RankingMetrics`]);
//! * [`baselines`]: `past_spend`, `past_frequency` and `same_rate` beside the model.

pub mod baselines;
pub mod ranking;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use baselines::{Baseline, HoldoutRankings, RankingInputs, RankingReport, holdout_rankings};
pub use ranking::{DecileBin, GainCurve, RankingMetrics};

use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::models::TransactionModel;
use crate::models::params::GammaGammaParams;

/// One row of Fader, Hardie & Lee's calibration table: customers grouped by calibration
/// frequency (0..6, then 7+), mean actual vs predicted holdout purchases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequencyBin {
    /// "0" … "6", "7+".
    pub label: String,
    pub customers: u64,
    pub mean_actual: f64,
    pub mean_predicted: f64,
}

/// Holdout metrics of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutReport {
    pub customers: u64,
    /// Holdout length in the model's unit.
    pub holdout_duration: f64,
    pub actual_total: f64,
    pub predicted_total: f64,
    pub mae: f64,
    pub rmse: f64,
    /// Pearson correlation of actual and predicted counts; `None` if either is constant.
    pub pearson_r: Option<f64>,
    /// AUC of the propensity for "at least one holdout purchase"; `None` if all or none bought.
    pub auc: Option<f64>,
    pub brier: f64,
    pub by_frequency: Vec<FrequencyBin>,
    /// The model's ranking of holdout purchases (and revenue) beside naive baselines on the
    /// same customers. `None` only in reports stored before it existed.
    #[serde(default)]
    pub rankings: Option<HoldoutRankings>,
}

/// The money columns of a holdout evaluation, per customer in the order of the summaries.
/// `HoldoutSpend::default()` means none: then the rankings have no `past_spend` baseline
/// and no revenue ranking.
#[derive(Debug, Clone, Copy, Default)]
pub struct HoldoutSpend<'a> {
    /// Mean spend per repeat purchase in calibration (0 when x = 0).
    pub monetary_value: Option<&'a [f64]>,
    /// Total calibration spend, first purchase included, when known (summaries built from
    /// transactions); `past_spend` then ranks by it.
    pub calibration_spend: Option<&'a [f64]>,
    /// Total spend in the holdout, when known.
    pub holdout_spend: Option<&'a [f64]>,
    /// The spend model giving the model's predicted revenue (expected holdout purchases ×
    /// Gamma-Gamma expected spend per purchase); without it, no revenue ranking.
    pub spend_model: Option<&'a GammaGammaParams>,
}

/// Evaluates `model` on calibration summaries `rfm` against holdout counts `actual` over a
/// holdout of length `duration` (in the model's unit, as are the summaries), with its
/// rankings beside the naive baselines ([`baselines`]) using the money columns in `spend`.
pub fn holdout_report(
    model: &TransactionModel,
    rfm: &[Rfm],
    actual: &[u32],
    duration: f64,
    spend: HoldoutSpend<'_>,
) -> Result<HoldoutReport> {
    if rfm.len() != actual.len() {
        return Err(ModelError::invalid(
            "holdout_frequency",
            format!("expected {} values, got {}", rfm.len(), actual.len()),
        ));
    }
    if rfm.is_empty() {
        return Err(ModelError::invalid("customers", "no customers to evaluate"));
    }
    if !(duration.is_finite() && duration > 0.0) {
        return Err(ModelError::invalid(
            "holdout_duration",
            format!("must be finite and > 0, got {duration}"),
        ));
    }
    let preds: Vec<(f64, f64)> = rfm
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            let within = |e: ModelError| e.within(&format!("customers[{i}]"));
            Ok((
                model.expected_purchases(c, duration).map_err(within)?,
                model.propensity(c, duration).map_err(within)?,
            ))
        })
        .collect::<Result<_>>()?;
    let n = rfm.len() as f64;
    let act: Vec<f64> = actual.iter().map(|&a| a as f64).collect();
    let pred: Vec<f64> = preds.iter().map(|p| p.0).collect();
    let actual_total: f64 = act.iter().sum();
    let predicted_total: f64 = pred.iter().sum();
    let mae = act
        .iter()
        .zip(&pred)
        .map(|(a, p)| (a - p).abs())
        .sum::<f64>()
        / n;
    let rmse = (act
        .iter()
        .zip(&pred)
        .map(|(a, p)| (a - p).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let bought: Vec<bool> = actual.iter().map(|&a| a > 0).collect();
    let prop: Vec<f64> = preds.iter().map(|p| p.1).collect();
    let brier = prop
        .iter()
        .zip(&bought)
        .map(|(p, &b)| (p - if b { 1.0 } else { 0.0 }).powi(2))
        .sum::<f64>()
        / n;

    let mut bins: Vec<(u64, f64, f64)> = vec![(0, 0.0, 0.0); 8];
    for ((c, a), p) in rfm.iter().zip(&act).zip(&pred) {
        let b = (c.frequency as usize).min(7);
        bins[b].0 += 1;
        bins[b].1 += a;
        bins[b].2 += p;
    }
    let by_frequency = bins
        .into_iter()
        .enumerate()
        .map(|(i, (count, a, p))| FrequencyBin {
            label: if i == 7 { "7+".into() } else { i.to_string() },
            customers: count,
            mean_actual: if count > 0 { a / count as f64 } else { 0.0 },
            mean_predicted: if count > 0 { p / count as f64 } else { 0.0 },
        })
        .collect();
    let predicted_revenue = predicted_revenue(&pred, rfm, &spend);
    let rankings = holdout_rankings(&RankingInputs {
        rfm,
        monetary_value: spend.monetary_value,
        calibration_spend: spend.calibration_spend,
        holdout_duration: duration,
        holdout_purchases: actual,
        holdout_spend: spend.holdout_spend,
        predicted_purchases: &pred,
        predicted_revenue: predicted_revenue.as_deref(),
    })?;
    Ok(HoldoutReport {
        customers: rfm.len() as u64,
        holdout_duration: duration,
        actual_total,
        predicted_total,
        mae,
        rmse,
        pearson_r: pearson(&act, &pred),
        auc: auc(&prop, &bought),
        brier,
        by_frequency,
        rankings: Some(rankings),
    })
}

/// Expected holdout purchases × Gamma-Gamma expected spend per purchase; `None` without
/// monetary values or a spend model, or where the spend model has no finite expectation.
fn predicted_revenue(purchases: &[f64], rfm: &[Rfm], spend: &HoldoutSpend<'_>) -> Option<Vec<f64>> {
    let (monetary, model) = (spend.monetary_value?, spend.spend_model?);
    if monetary.len() != rfm.len() {
        return None;
    }
    rfm.iter()
        .zip(monetary)
        .zip(purchases)
        .map(|((c, &m), &p)| model.expected_spend(c.frequency, m).map(|z| p * z))
        .collect()
}

/// Pearson correlation; `None` when either side has zero variance.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Area under the ROC curve by the rank-sum (Mann-Whitney) statistic with tied scores
/// given their average rank. `None` when only one class is present.
pub fn auc(score: &[f64], positive: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut rank_sum, mut n_pos) = (0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if positive[k] {
                rank_sum += avg_rank;
                n_pos += 1.0;
            }
        }
        i = j + 1;
    }
    let n_neg = score.len() as f64 - n_pos;
    (n_pos > 0.0 && n_neg > 0.0).then(|| (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_pearson_known_values() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5, 0.7], &[true, true]), None);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap() - 0.997_948_7).abs() < 1e-6);
        assert_eq!(pearson(&[1.0, 1.0], &[2.0, 3.0]), None);
    }

    fn published() -> TransactionModel {
        TransactionModel::bg_nbd(crate::models::params::BetaGeoParams::published_cdnow())
    }

    /// Stored records written before the rankings existed still load, with `rankings: None`.
    #[test]
    fn a_report_stored_without_rankings_still_loads() {
        let old = r#"{"customers": 2, "holdout_duration": 39.0, "actual_total": 3.0,
            "predicted_total": 2.5, "mae": 0.75, "rmse": 0.9, "pearson_r": 0.6, "auc": null,
            "brier": 0.2, "by_frequency": [{"label": "0", "customers": 2,
            "mean_actual": 1.5, "mean_predicted": 1.25}]}"#;
        let report: HoldoutReport = serde_json::from_str(old).unwrap();
        assert_eq!(report.rankings, None);
        assert_eq!(report.mae, 0.75);
    }

    #[test]
    fn a_report_carries_rankings_and_survives_json() {
        let rfm = [
            Rfm::new(0, 0.0, 30.0).unwrap(),
            Rfm::new(2, 20.0, 30.0).unwrap(),
            Rfm::new(5, 28.0, 35.0).unwrap(),
            Rfm::new(1, 2.0, 20.0).unwrap(),
        ];
        let monetary = [0.0, 20.0, 35.0, 10.0];
        let spend = [0.0, 25.0, 120.0, 0.0];
        let gg = GammaGammaParams::published_cdnow();
        let report = holdout_report(
            &published(),
            &rfm,
            &[0, 1, 4, 0],
            39.0,
            HoldoutSpend {
                monetary_value: Some(&monetary),
                calibration_spend: None,
                holdout_spend: Some(&spend),
                spend_model: Some(&gg),
            },
        )
        .unwrap();
        let rankings = report.rankings.as_ref().unwrap();
        assert_eq!(rankings.purchases.baselines.len(), 3);
        assert!(rankings.revenue.is_some());
        // The model's purchases MAE in the ranking is the report's own MAE.
        assert!((rankings.purchases.model.mae.unwrap() - report.mae).abs() < 1e-12);
        // serde_json writes NaN as null, which would not read back into an f64.
        let json = serde_json::to_string(&report).unwrap();
        let back: HoldoutReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        // Without money columns: no past_spend, no revenue.
        let bare = holdout_report(
            &published(),
            &rfm,
            &[0, 1, 4, 0],
            39.0,
            HoldoutSpend::default(),
        )
        .unwrap()
        .rankings
        .unwrap();
        assert_eq!(bare.purchases.baselines.len(), 2);
        assert_eq!(bare.revenue, None);
    }
}
