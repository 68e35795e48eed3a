//! Naive baselines beside a model's holdout ranking, on the same customers.
//!
//! A model that ranks customers no better than their past spend is no use for targeting,
//! and that is only visible next to the baseline. Each baseline is a score every analyst
//! could compute from the calibration summary alone, with `h` the holdout length, `T` a
//! customer's age at the calibration end and `T̄` the mean age over the customers:
//!
//! | name | purchases score | revenue score |
//! |---|---|---|
//! | [`PAST_SPEND`] | S, or x · m (ranking only) | S or x · m, scaled (a revenue prediction) |
//! | [`PAST_FREQUENCY`] | x · h / T̄ (a count prediction) | x (ranking only) |
//! | [`SAME_RATE`] | x · h / T (a count prediction) | x · m · h / T (a revenue prediction) |
//!
//! x is the calibration repeat-purchase count and m the mean spend per repeat purchase, so
//! x · m is the total repeat spend in calibration. `past_spend` is the customer's *total*
//! calibration spend S, first purchase included, wherever it is known (summaries built
//! from transactions); x · m is the fallback for summaries, which carry only the mean
//! repeat spend ([`Baseline::description`] says which was used). `past_frequency` and
//! `past_spend` are scaled by one factor for every customer, h / T̄: the ranking is that of
//! x (or the past spend) alone, and the predicted total is the population's pooled
//! calibration rate (Σx / ΣT) over the holdout. Holdout revenue is repeat spend only, so
//! a total spend S is scaled by h / T̄ · Σ(x · m) / ΣS: the same pooled repeat-spend rate,
//! with the ranking of S. `same_rate` is "the same as last period": each customer's
//! own rate x / T carried over the holdout. A customer with T = 0 has no observed rate;
//! `same_rate` gives them x (0 for every valid summary but a degenerate one). When every
//! T is 0, `past_frequency` and `past_spend` are left unscaled and are ranking-only.
//!
//! MAE and decile calibration are reported only for a score that predicts the outcome's
//! own quantity (marked above).

use serde::{Deserialize, Serialize};

use super::ranking::RankingMetrics;
use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};

/// Total calibration spend (first purchase included), or x · m where only that is known.
pub const PAST_SPEND: &str = "past_spend";
/// x: calibration repeat purchases.
pub const PAST_FREQUENCY: &str = "past_frequency";
/// x / T carried over the holdout: "the same as last period".
pub const SAME_RATE: &str = "same_rate";

const PAST_SPEND_TOTAL: &str = "total calibration spend, first purchase included";
const PAST_SPEND_REPEAT: &str =
    "repeat calibration spend x · m only (summaries carry no first-purchase amount)";
const PAST_FREQUENCY_DESCRIPTION: &str =
    "calibration repeat purchases x, at the population's pooled rate over the holdout";
const SAME_RATE_DESCRIPTION: &str = "each customer's own calibration rate x / T over the holdout";

/// What [`holdout_rankings`] needs, all per customer in the same order.
#[derive(Debug, Clone, Copy)]
pub struct RankingInputs<'a> {
    /// Calibration summaries.
    pub rfm: &'a [Rfm],
    /// Mean spend per repeat purchase in calibration (0 when x = 0); `None` when the data
    /// has no amounts: then there is no `past_spend` baseline and no revenue ranking.
    pub monetary_value: Option<&'a [f64]>,
    /// Total calibration spend, first purchase included, when known (summaries built from
    /// transactions): `past_spend` then ranks by it rather than by x · m. Used only with
    /// `monetary_value`.
    pub calibration_spend: Option<&'a [f64]>,
    /// Holdout length, in the unit of the summaries.
    pub holdout_duration: f64,
    /// Holdout purchases (distinct purchase periods, as counted in the summaries).
    pub holdout_purchases: &'a [u32],
    /// Total spend in the holdout; `None` when unknown (no revenue ranking).
    pub holdout_spend: Option<&'a [f64]>,
    /// The model's expected holdout purchases.
    pub predicted_purchases: &'a [f64],
    /// The model's expected holdout revenue (expected purchases × expected spend per
    /// purchase, over the holdout); `None` when the model has no spend part (no revenue
    /// ranking).
    pub predicted_revenue: Option<&'a [f64]>,
}

/// One baseline's metrics on the same customers and outcome as the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// [`PAST_SPEND`], [`PAST_FREQUENCY`] or [`SAME_RATE`].
    pub name: String,
    /// What the score is, in a phrase; for `past_spend` whether it is the total
    /// calibration spend or repeat spend only. Empty in reports stored before it existed.
    #[serde(default)]
    pub description: String,
    pub metrics: RankingMetrics,
    /// The metrics on which this baseline does better than the model: "normalized_gini"
    /// (higher) and/or "mae" (lower). Empty when the model is at least as good on both.
    pub beats_model_on: Vec<String>,
}

/// A model's ranking of one outcome beside the naive baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingReport {
    /// "purchases" or "revenue".
    pub outcome: String,
    pub model: RankingMetrics,
    pub baselines: Vec<Baseline>,
    /// Names of the baselines that beat the model on normalized Gini or MAE, in the
    /// order of `baselines`; empty when the model beats them all.
    pub model_beaten_by: Vec<String>,
}

impl RankingReport {
    /// One plain sentence per baseline that beats the model, e.g. "the model ranks
    /// purchases worse than past_spend: normalized Gini 0.512 vs 0.547"; empty when none.
    pub fn losses(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.baselines {
            for metric in &b.beats_model_on {
                let (what, model, base) = match metric.as_str() {
                    "normalized_gini" => (
                        "ranks",
                        self.model.normalized_gini,
                        b.metrics.normalized_gini,
                    ),
                    _ => ("predicts", self.model.mae, b.metrics.mae),
                };
                if let (Some(m), Some(v)) = (model, base) {
                    out.push(format!(
                        "the model {what} {} worse than {}: {metric} {m:.3} vs {v:.3}",
                        self.outcome, b.name
                    ));
                }
            }
        }
        out
    }
}

/// Holdout rankings of purchases and, when spend is known, revenue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutRankings {
    pub purchases: RankingReport,
    /// `Some` when monetary values, holdout spend and the model's predicted revenue are
    /// all given.
    pub revenue: Option<RankingReport>,
}

/// Scores the model's predictions and the naive baselines (see the module docs) against
/// the holdout on the same customers. Errors name the offending input.
pub fn holdout_rankings(inputs: &RankingInputs<'_>) -> Result<HoldoutRankings> {
    check(inputs)?;
    let rfm = inputs.rfm;
    let h = inputs.holdout_duration;
    let x: Vec<f64> = rfm.iter().map(|c| c.frequency as f64).collect();
    let mean_age = rfm.iter().map(|c| c.age).sum::<f64>() / rfm.len() as f64;
    // One factor for every customer: h / T̄ (None when every customer is aged 0).
    let pooled = (mean_age > 0.0).then(|| h / mean_age);
    let own_rate = |c: &Rfm| {
        if c.age > 0.0 {
            c.frequency as f64 * h / c.age
        } else {
            c.frequency as f64
        }
    };
    let scaled = |v: &[f64]| -> (Vec<f64>, bool) {
        match pooled {
            Some(f) => (v.iter().map(|a| a * f).collect(), true),
            None => (v.to_vec(), false),
        }
    };

    let bought: Vec<f64> = inputs.holdout_purchases.iter().map(|&a| a as f64).collect();
    let repeat_spend: Option<Vec<f64>> = inputs
        .monetary_value
        .map(|m| x.iter().zip(m).map(|(a, b)| a * b).collect());
    // (score, description, factor turning the score into repeat spend at the pooled rate)
    let past_spend: Option<(Vec<f64>, &str, f64)> =
        repeat_spend
            .as_ref()
            .map(|repeat| match inputs.calibration_spend {
                Some(total) => {
                    let total_sum: f64 = total.iter().sum();
                    let repeat_sum: f64 = repeat.iter().sum();
                    let to_repeat = if total_sum > 0.0 {
                        repeat_sum / total_sum
                    } else {
                        1.0
                    };
                    (total.to_vec(), PAST_SPEND_TOTAL, to_repeat)
                }
                None => (repeat.clone(), PAST_SPEND_REPEAT, 1.0),
            });

    let mut purchase_baselines = Vec::new();
    if let Some((s, description, _)) = &past_spend {
        purchase_baselines.push((PAST_SPEND, *description, s.clone(), false));
    }
    let (freq, freq_predicts) = scaled(&x);
    purchase_baselines.push((
        PAST_FREQUENCY,
        PAST_FREQUENCY_DESCRIPTION,
        freq,
        freq_predicts,
    ));
    purchase_baselines.push((
        SAME_RATE,
        SAME_RATE_DESCRIPTION,
        rfm.iter().map(own_rate).collect(),
        true,
    ));
    let purchases = report(
        "purchases",
        inputs.predicted_purchases,
        &bought,
        purchase_baselines,
    );

    let revenue = match (
        &past_spend,
        inputs.monetary_value,
        inputs.holdout_spend,
        inputs.predicted_revenue,
    ) {
        (Some((spent, description, to_repeat)), Some(m), Some(actual), Some(predicted)) => {
            let as_repeat: Vec<f64> = spent.iter().map(|s| s * to_repeat).collect();
            let (spend_scaled, spend_predicts) = scaled(&as_repeat);
            let same_rate = rfm.iter().zip(m).map(|(c, mv)| own_rate(c) * mv).collect();
            Some(report(
                "revenue",
                predicted,
                actual,
                vec![
                    (PAST_SPEND, *description, spend_scaled, spend_predicts),
                    (
                        PAST_FREQUENCY,
                        "calibration repeat purchases x (ranking only)",
                        x.clone(),
                        false,
                    ),
                    (SAME_RATE, SAME_RATE_DESCRIPTION, same_rate, true),
                ],
            ))
        }
        _ => None,
    };
    Ok(HoldoutRankings { purchases, revenue })
}

/// The model's and each baseline's metrics, and who beats the model.
fn report(
    outcome: &str,
    model_score: &[f64],
    actual: &[f64],
    baselines: Vec<(&str, &str, Vec<f64>, bool)>,
) -> RankingReport {
    let model = RankingMetrics::of(model_score, actual, true);
    let baselines: Vec<Baseline> = baselines
        .into_iter()
        .map(|(name, description, score, predicts)| {
            let metrics = RankingMetrics::of(&score, actual, predicts);
            let mut beats_model_on = Vec::new();
            // A margin far below any meaningful difference, so that a baseline equal to
            // the model up to rounding is not reported as beating it.
            if let (Some(b), Some(m)) = (metrics.normalized_gini, model.normalized_gini)
                && b > m + 1e-9
            {
                beats_model_on.push("normalized_gini".to_string());
            }
            if let (Some(b), Some(m)) = (metrics.mae, model.mae)
                && b < m - 1e-9 * m.max(1.0)
            {
                beats_model_on.push("mae".to_string());
            }
            Baseline {
                name: name.to_string(),
                description: description.to_string(),
                metrics,
                beats_model_on,
            }
        })
        .collect();
    RankingReport {
        outcome: outcome.to_string(),
        model_beaten_by: baselines
            .iter()
            .filter(|b| !b.beats_model_on.is_empty())
            .map(|b| b.name.clone())
            .collect(),
        model,
        baselines,
    }
}

fn check(inputs: &RankingInputs<'_>) -> Result<()> {
    let n = inputs.rfm.len();
    if n == 0 {
        return Err(ModelError::invalid("customers", "no customers to evaluate"));
    }
    let h = inputs.holdout_duration;
    if !(h.is_finite() && h > 0.0) {
        return Err(ModelError::invalid(
            "holdout_duration",
            format!("must be finite and > 0, got {h}"),
        ));
    }
    if inputs.holdout_purchases.len() != n {
        return Err(length(
            "holdout_frequency",
            n,
            inputs.holdout_purchases.len(),
        ));
    }
    let columns = [
        ("predicted_purchases", Some(inputs.predicted_purchases)),
        ("predicted_revenue", inputs.predicted_revenue),
        ("monetary_value", inputs.monetary_value),
        ("calibration_spend", inputs.calibration_spend),
        ("holdout_spend", inputs.holdout_spend),
    ];
    for (name, column) in columns {
        let Some(values) = column else { continue };
        if values.len() != n {
            return Err(length(name, n, values.len()));
        }
        if let Some(i) = values.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(ModelError::invalid(
                format!("{name}[{i}]"),
                format!("must be finite and >= 0, got {}", values[i]),
            ));
        }
    }
    Ok(())
}

fn length(field: &str, expected: usize, got: usize) -> ModelError {
    ModelError::invalid(field, format!("expected {expected} values, got {got}"))
}

#[cfg(test)]
mod tests {
    use super::super::ranking::normalized_gini;
    use super::*;

    // x 2, 0, 1, 4 over ages 10, 5, 5, 20 (mean 10); holdout 10, so h / T̄ = 1:
    // past_frequency predicts x; same_rate x · 10 / T = 2, 0, 2, 2.
    fn customers() -> Vec<Rfm> {
        vec![
            Rfm::new(2, 8.0, 10.0).unwrap(),
            Rfm::new(0, 0.0, 5.0).unwrap(),
            Rfm::new(1, 3.0, 5.0).unwrap(),
            Rfm::new(4, 19.0, 20.0).unwrap(),
        ]
    }
    const BOUGHT: [u32; 4] = [2, 0, 1, 3];
    const MONETARY: [f64; 4] = [10.0, 0.0, 50.0, 5.0];

    fn inputs<'a>(rfm: &'a [Rfm], predicted: &'a [f64]) -> RankingInputs<'a> {
        RankingInputs {
            rfm,
            monetary_value: Some(&MONETARY),
            calibration_spend: None,
            holdout_duration: 10.0,
            holdout_purchases: &BOUGHT,
            holdout_spend: None,
            predicted_purchases: predicted,
            predicted_revenue: None,
        }
    }

    fn baseline<'a>(r: &'a RankingReport, name: &str) -> &'a Baseline {
        r.baselines.iter().find(|b| b.name == name).unwrap()
    }

    #[test]
    fn baselines_score_the_same_customers_as_stated() {
        let rfm = customers();
        let perfect = [2.0, 0.0, 1.0, 3.0];
        let r = holdout_rankings(&inputs(&rfm, &perfect)).unwrap().purchases;
        assert_eq!(r.outcome, "purchases");
        let names: Vec<&str> = r.baselines.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, vec![PAST_SPEND, PAST_FREQUENCY, SAME_RATE]);
        // past_frequency predicts x = 2, 0, 1, 4: off by 1 for one customer in four.
        assert_eq!(baseline(&r, PAST_FREQUENCY).metrics.mae, Some(0.25));
        // same_rate predicts 2, 0, 2, 2: off by 1 twice.
        assert_eq!(baseline(&r, SAME_RATE).metrics.mae, Some(0.5));
        // past_spend (20, 0, 50, 20) ranks but predicts no count.
        let spend = &baseline(&r, PAST_SPEND).metrics;
        assert_eq!(spend.mae, None);
        assert!(spend.calibration.is_empty());
        // x orders the customers exactly as the holdout does.
        assert_eq!(
            baseline(&r, PAST_FREQUENCY).metrics.normalized_gini,
            Some(1.0)
        );
        // A perfect model is beaten by nobody.
        assert_eq!(r.model.mae, Some(0.0));
        assert!(r.model_beaten_by.is_empty(), "{:?}", r.model_beaten_by);
        assert!(r.losses().is_empty());
    }

    #[test]
    fn a_model_worse_than_a_baseline_is_reported_as_beaten() {
        let rfm = customers();
        // Ranks customer 1 (who bought nothing) first and predicts badly.
        let poor = [1.0, 3.0, 1.0, 0.5];
        let r = holdout_rankings(&inputs(&rfm, &poor)).unwrap().purchases;
        assert_eq!(
            r.model_beaten_by,
            vec![PAST_SPEND, PAST_FREQUENCY, SAME_RATE]
        );
        assert_eq!(
            baseline(&r, PAST_SPEND).beats_model_on,
            vec!["normalized_gini"]
        );
        assert_eq!(
            baseline(&r, PAST_FREQUENCY).beats_model_on,
            vec!["normalized_gini", "mae"]
        );
        let losses = r.losses();
        assert_eq!(losses.len(), 5);
        assert!(
            losses[0].starts_with("the model ranks purchases worse than past_spend"),
            "{losses:?}"
        );
    }

    #[test]
    fn revenue_is_ranked_only_with_spend_and_a_revenue_prediction() {
        let rfm = customers();
        let predicted = [2.0, 0.0, 1.0, 3.0];
        assert!(
            holdout_rankings(&inputs(&rfm, &predicted))
                .unwrap()
                .revenue
                .is_none()
        );
        let spend = [30.0, 0.0, 40.0, 12.0];
        let revenue = [25.0, 0.0, 45.0, 15.0];
        let r = holdout_rankings(&RankingInputs {
            holdout_spend: Some(&spend),
            predicted_revenue: Some(&revenue),
            ..inputs(&rfm, &predicted)
        })
        .unwrap()
        .revenue
        .unwrap();
        assert_eq!(r.outcome, "revenue");
        // past_spend x · m · h / T̄ = 20, 0, 50, 20 predicts revenue; x alone only ranks;
        // same_rate x · m · h / T = 20, 0, 100, 10.
        assert_eq!(
            baseline(&r, PAST_SPEND).metrics.mae,
            Some((10.0 + 0.0 + 10.0 + 8.0) / 4.0)
        );
        assert_eq!(baseline(&r, PAST_FREQUENCY).metrics.mae, None);
        assert_eq!(
            baseline(&r, SAME_RATE).metrics.mae,
            Some((10.0 + 0.0 + 60.0 + 2.0) / 4.0)
        );
        assert_eq!(r.model.mae, Some((5.0 + 0.0 + 5.0 + 3.0) / 4.0));
        // The model orders revenue perfectly; x does not (customer 3 has most x).
        assert_eq!(r.model.normalized_gini, Some(1.0));
        assert!(r.model_beaten_by.is_empty());
    }

    #[test]
    fn bad_inputs_are_named() {
        let rfm = customers();
        let field = |i: RankingInputs<'_>| match holdout_rankings(&i) {
            Err(ModelError::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(inputs(&rfm, &[1.0, 2.0])), "predicted_purchases");
        assert_eq!(
            field(inputs(&rfm, &[1.0, f64::NAN, 0.0, 0.0])),
            "predicted_purchases[1]"
        );
        let short_spend = [1.0];
        assert_eq!(
            field(RankingInputs {
                holdout_spend: Some(&short_spend),
                ..inputs(&rfm, &[0.0; 4])
            }),
            "holdout_spend"
        );
        assert_eq!(
            field(RankingInputs {
                holdout_duration: 0.0,
                ..inputs(&rfm, &[0.0; 4])
            }),
            "holdout_duration"
        );
        assert_eq!(field(inputs(&[], &[])), "customers");
    }

    #[test]
    fn past_spend_ranks_by_total_calibration_spend_when_known() {
        let rfm = customers();
        let predicted = [2.0, 0.0, 1.0, 3.0];
        // Repeat spend x · m = 20, 0, 50, 20; with first purchases of 5, 90, 5, 40 the
        // totals are 25, 90, 55, 60: customer 1, a one-time buyer, now ranks first.
        let total = [25.0, 90.0, 55.0, 60.0];
        let spend = [30.0, 0.0, 40.0, 12.0];
        let revenue = [25.0, 0.0, 45.0, 15.0];
        let with_total = RankingInputs {
            calibration_spend: Some(&total),
            holdout_spend: Some(&spend),
            predicted_revenue: Some(&revenue),
            ..inputs(&rfm, &predicted)
        };
        let r = holdout_rankings(&with_total).unwrap();
        let by_total = baseline(&r.purchases, PAST_SPEND);
        assert_eq!(by_total.description, PAST_SPEND_TOTAL);
        assert_eq!(
            by_total.metrics.normalized_gini,
            normalized_gini(&total, &[2.0, 0.0, 1.0, 3.0])
        );
        let repeat_only = holdout_rankings(&RankingInputs {
            calibration_spend: None,
            ..with_total
        })
        .unwrap();
        let by_repeat = baseline(&repeat_only.purchases, PAST_SPEND);
        assert_eq!(by_repeat.description, PAST_SPEND_REPEAT);
        assert_ne!(by_total.metrics, by_repeat.metrics);
        // Revenue: the totals (sum 230) scaled to the pooled repeat spend (sum 90) over
        // h / T̄ = 1, so the prediction's total is the repeat spend's.
        let rev = baseline(r.revenue.as_ref().unwrap(), PAST_SPEND);
        let scaled: Vec<f64> = total.iter().map(|s| s * 90.0 / 230.0).collect();
        let mae = scaled
            .iter()
            .zip(spend)
            .map(|(p, a)| (p - a).abs())
            .sum::<f64>()
            / 4.0;
        assert!((rev.metrics.mae.unwrap() - mae).abs() < 1e-12);
        assert_eq!(rev.description, PAST_SPEND_TOTAL);
        // Every baseline says what it is.
        for b in r
            .purchases
            .baselines
            .iter()
            .chain(&r.revenue.unwrap().baselines)
        {
            assert!(!b.description.is_empty(), "{}", b.name);
        }
    }

    /// Baselines stored before descriptions existed still load.
    #[test]
    fn a_baseline_stored_without_description_still_loads() {
        let old = r#"{"name": "past_spend", "metrics": {"normalized_gini": 0.5,
            "gain": [], "top": [], "mae": null, "calibration": []}, "beats_model_on": []}"#;
        let b: Baseline = serde_json::from_str(old).unwrap();
        assert_eq!(b.description, "");
        assert_eq!(b.metrics.normalized_gini, Some(0.5));
    }
}
