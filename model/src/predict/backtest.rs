//! Rolling-origin backtests: where to cut a log ([`BacktestPlan`]) and what the folds say
//! about a family taken together ([`FamilySummary`]).
//!
//! One holdout is one season, one promotion, one economy: a model that wins it may have been
//! lucky. A backtest cuts the same log at several calibration ends, fits on what came before
//! each and judges on the fixed-length holdout after it, so a family is chosen by its error
//! over several periods. The fitting itself (family, spend model, diagnosis) is the
//! caller's: the server runs its fit pipeline on each split of
//! [`TransactionLog::split`](crate::data::log::TransactionLog::split).

use serde::{Deserialize, Serialize};

use super::evaluate::{HoldoutReport, RankingReport};
use crate::data::summary::Day;
use crate::error::{ModelError, Result};

/// More folds than this is a request for a different tool: each fold is a fit of every
/// family, and the folds of a rolling origin overlap more the more there are.
pub const MAX_FOLDS: usize = 24;

/// A calibration/holdout split of the log, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    pub calibration_end: Day,
    pub holdout_end: Day,
}

/// The folds of a backtest, oldest first, every holdout `holdout_days` long and within the
/// data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacktestPlan {
    folds: Vec<Fold>,
    holdout_days: i32,
}

impl BacktestPlan {
    /// Folds at the given calibration ends. Each needs a whole holdout before `data_end`
    /// (the last day the log covers): a holdout cut short would count too few purchases
    /// and make every model look like it over-predicts.
    pub fn at(calibration_ends: &[Day], holdout_days: i32, data_end: Day) -> Result<Self> {
        check_holdout(holdout_days)?;
        if calibration_ends.is_empty() {
            return Err(ModelError::invalid(
                "calibration_ends",
                "give at least one calibration end, or a number of folds",
            ));
        }
        if calibration_ends.len() > MAX_FOLDS {
            return Err(ModelError::invalid(
                "calibration_ends",
                format!(
                    "{} calibration ends; at most {MAX_FOLDS}",
                    calibration_ends.len()
                ),
            ));
        }
        let mut ends = calibration_ends.to_vec();
        ends.sort();
        if let Some(w) = ends.windows(2).find(|w| w[0] == w[1]) {
            return Err(ModelError::invalid(
                "calibration_ends",
                format!("{} is given twice", w[0]),
            ));
        }
        let folds = ends
            .iter()
            .map(|&c| {
                let holdout_end = Day(c.0.saturating_add(holdout_days));
                if holdout_end > data_end {
                    Err(ModelError::invalid(
                        "calibration_ends",
                        format!(
                            "{c}: its {holdout_days}-day holdout ends {holdout_end}, after the \
                             data end {data_end}"
                        ),
                    ))
                } else {
                    Ok(Fold {
                        calibration_end: c,
                        holdout_end,
                    })
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BacktestPlan {
            folds,
            holdout_days,
        })
    }

    /// A rolling origin: `folds` splits, the last holdout ending at `data_end`, each
    /// earlier calibration end `step_days` before the next.
    pub fn rolling(data_end: Day, holdout_days: i32, folds: usize, step_days: i32) -> Result<Self> {
        check_holdout(holdout_days)?;
        if folds == 0 || folds > MAX_FOLDS {
            return Err(ModelError::invalid(
                "folds",
                format!("must be 1..={MAX_FOLDS}, got {folds}"),
            ));
        }
        if step_days < 1 {
            return Err(ModelError::invalid(
                "step",
                format!("must be at least one day, got {step_days} days"),
            ));
        }
        let last = data_end.0 - holdout_days;
        let ends: Vec<Day> = (0..folds as i32)
            .rev()
            .map(|k| Day(last - k * step_days))
            .collect();
        Self::at(&ends, holdout_days, data_end)
    }

    pub fn folds(&self) -> &[Fold] {
        &self.folds
    }

    pub fn holdout_days(&self) -> i32 {
        self.holdout_days
    }

    /// Checks that every fold has purchases before its calibration end: a fold whose
    /// calibration period is empty has no one to fit.
    pub fn check_against(&self, first_purchase: Day) -> Result<()> {
        match self.folds.first() {
            Some(f) if f.calibration_end < first_purchase => Err(ModelError::invalid(
                "calibration_ends",
                format!(
                    "the earliest calibration end {} is before the first purchase in the log \
                     {first_purchase}",
                    f.calibration_end
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Holdouts are whole days (purchases are days) and at most ten years: a longer one is a
/// unit mistake.
fn check_holdout(days: i32) -> Result<()> {
    if (1..=3653).contains(&days) {
        Ok(())
    } else {
        Err(ModelError::invalid(
            "holdout",
            format!("must be 1 to 3653 days, got {days} days"),
        ))
    }
}

/// A naive baseline over the folds, beside one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineSummary {
    pub name: String,
    /// Mean normalized Gini of holdout purchases over the folds where it is defined.
    pub mean_normalized_gini: Option<f64>,
    /// Mean MAE over the folds where the baseline predicts the outcome itself.
    pub mean_mae: Option<f64>,
    /// Folds in which the baseline ranks or predicts purchases better than the family.
    pub folds_beating_model: u32,
}

/// One family over every fold it could be fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilySummary {
    pub family: String,
    pub folds: u32,
    pub folds_fitted: u32,
    /// Mean over the fitted folds of the holdout MAE of purchases per customer: the
    /// backtest's selection criterion.
    pub mean_holdout_mae: f64,
    /// Mean of (predicted − actual) / actual total purchases: the direction of the error.
    pub mean_total_error: Option<f64>,
    /// Mean of |predicted − actual| / actual: its size whatever the direction.
    pub mean_abs_total_error: Option<f64>,
    pub mean_normalized_gini: Option<f64>,
    pub baselines: Vec<BaselineSummary>,
}

/// The name of the backtest's selection criterion, as responses state it.
pub const CRITERION: &str = "mean_holdout_mae";

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

/// Summarizes `family` over the folds: `reports[k]` is its holdout report on fold `k`, or
/// `None` when it could not be fitted there. `None` when it was fitted on no fold.
pub fn summarize(family: &str, reports: &[Option<&HoldoutReport>]) -> Option<FamilySummary> {
    let fitted: Vec<&HoldoutReport> = reports.iter().flatten().copied().collect();
    let mean_holdout_mae = mean(fitted.iter().map(|r| r.mae))?;
    let total_errors: Vec<f64> = fitted
        .iter()
        .filter(|r| r.actual_total > 0.0)
        .map(|r| (r.predicted_total - r.actual_total) / r.actual_total)
        .collect();
    let rankings: Vec<&RankingReport> = fitted
        .iter()
        .filter_map(|r| r.rankings.as_ref().map(|k| &k.purchases))
        .collect();
    let mut names: Vec<&str> = Vec::new();
    for b in rankings.iter().flat_map(|r| &r.baselines) {
        if !names.contains(&b.name.as_str()) {
            names.push(&b.name);
        }
    }
    let baselines = names
        .into_iter()
        .map(|name| {
            let of = || {
                rankings
                    .iter()
                    .filter_map(move |r| r.baselines.iter().find(|b| b.name == name))
            };
            BaselineSummary {
                name: name.to_owned(),
                mean_normalized_gini: mean(of().filter_map(|b| b.metrics.normalized_gini)),
                mean_mae: mean(of().filter_map(|b| b.metrics.mae)),
                folds_beating_model: of().filter(|b| !b.beats_model_on.is_empty()).count() as u32,
            }
        })
        .collect();
    Some(FamilySummary {
        family: family.to_owned(),
        folds: reports.len() as u32,
        folds_fitted: fitted.len() as u32,
        mean_holdout_mae,
        mean_total_error: mean(total_errors.iter().copied()),
        mean_abs_total_error: mean(total_errors.iter().map(|e| e.abs())),
        mean_normalized_gini: mean(rankings.iter().filter_map(|r| r.model.normalized_gini)),
        baselines,
    })
}

/// The family with the lowest mean holdout MAE among those fitted on every fold (a family
/// that failed on a fold was not tested on it, and a mean over fewer, maybe easier, folds
/// is not comparable); among all fitted ones when none was fitted everywhere.
pub fn choose(summaries: &[FamilySummary]) -> Option<&FamilySummary> {
    let best = |complete: bool| {
        summaries
            .iter()
            .filter(|s| !complete || s.folds_fitted == s.folds)
            .filter(|s| s.mean_holdout_mae.is_finite())
            .min_by(|a, b| a.mean_holdout_mae.total_cmp(&b.mean_holdout_mae))
    };
    best(true).or_else(|| best(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::evaluate::{Baseline, HoldoutRankings, RankingMetrics};

    fn day(y: i32, m: u32, d: u32) -> Day {
        Day::from_ymd(y, m, d).unwrap()
    }

    #[test]
    fn a_rolling_origin_ends_its_last_holdout_at_the_data_end() {
        let end = day(1998, 6, 30);
        let plan = BacktestPlan::rolling(end, 91, 3, 28).unwrap();
        let f = plan.folds();
        assert_eq!(f.len(), 3);
        assert_eq!(f[2].holdout_end, end);
        assert_eq!(f[2].calibration_end, Day(end.0 - 91));
        assert_eq!(f[1].calibration_end, Day(end.0 - 91 - 28));
        assert_eq!(f[0].calibration_end, Day(end.0 - 91 - 56));
        assert!(
            f.iter()
                .all(|f| f.holdout_end.0 - f.calibration_end.0 == 91)
        );
    }

    #[test]
    fn impossible_plans_are_refused_naming_the_field() {
        let end = day(1998, 6, 30);
        let field = |r: Result<BacktestPlan>| match r.unwrap_err() {
            ModelError::InvalidInput { field, .. } => field,
            e => panic!("{e}"),
        };
        assert_eq!(field(BacktestPlan::rolling(end, 0, 3, 7)), "holdout");
        assert_eq!(field(BacktestPlan::rolling(end, 7, 0, 7)), "folds");
        assert_eq!(field(BacktestPlan::rolling(end, 7, 25, 7)), "folds");
        assert_eq!(field(BacktestPlan::rolling(end, 7, 2, 0)), "step");
        // A holdout past the data end.
        assert_eq!(
            field(BacktestPlan::at(&[day(1998, 6, 1)], 91, end)),
            "calibration_ends"
        );
        assert_eq!(
            field(BacktestPlan::at(
                &[day(1998, 1, 1), day(1998, 1, 1)],
                7,
                end
            )),
            "calibration_ends"
        );
        let plan = BacktestPlan::at(&[day(1997, 9, 30)], 273, end).unwrap();
        assert!(plan.check_against(day(1997, 1, 1)).is_ok());
        assert!(plan.check_against(day(1997, 10, 1)).is_err());
    }

    fn report(mae: f64, predicted: f64, gini: f64, baseline_gini: f64) -> HoldoutReport {
        let metrics = |g: f64| RankingMetrics {
            normalized_gini: Some(g),
            mae: Some(mae),
            ..RankingMetrics::default()
        };
        HoldoutReport {
            customers: 10,
            holdout_duration: 4.0,
            actual_total: 100.0,
            predicted_total: predicted,
            mae,
            rmse: mae,
            pearson_r: None,
            auc: None,
            brier: 0.0,
            by_frequency: vec![],
            rankings: Some(HoldoutRankings {
                purchases: RankingReport {
                    outcome: "purchases".into(),
                    model: metrics(gini),
                    baselines: vec![Baseline {
                        name: "past_frequency".into(),
                        description: String::new(),
                        metrics: metrics(baseline_gini),
                        beats_model_on: if baseline_gini > gini {
                            vec!["normalized_gini".into()]
                        } else {
                            vec![]
                        },
                    }],
                    model_beaten_by: vec![],
                },
                revenue: None,
            }),
        }
    }

    #[test]
    fn folds_are_averaged_and_a_family_missing_a_fold_does_not_win() {
        let (a1, a2) = (report(0.5, 90.0, 0.6, 0.5), report(0.7, 120.0, 0.4, 0.5));
        let s = summarize("a", &[Some(&a1), Some(&a2)]).unwrap();
        assert!((s.mean_holdout_mae - 0.6).abs() < 1e-12);
        assert!((s.mean_total_error.unwrap() - 0.05).abs() < 1e-12);
        assert!((s.mean_abs_total_error.unwrap() - 0.15).abs() < 1e-12);
        assert!((s.mean_normalized_gini.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(s.baselines[0].folds_beating_model, 1);
        assert_eq!(s.baselines[0].mean_normalized_gini, Some(0.5));
        // b is better where it fitted, but failed on one fold.
        let b1 = report(0.1, 100.0, 0.9, 0.5);
        let b = summarize("b", &[Some(&b1), None]).unwrap();
        assert_eq!((b.folds, b.folds_fitted), (2, 1));
        let all = [s, b];
        assert_eq!(choose(&all).unwrap().family, "a");
        assert_eq!(choose(&all[1..]).unwrap().family, "b");
        assert!(summarize("c", &[None, None]).is_none());
    }
}
