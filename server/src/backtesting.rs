//! The backtest pipeline: a checked spec and a whole transaction log in, every family's
//! result on every fold out, plus the winner fitted on the whole log when asked to store it.
//! Synchronous and CPU-bound: the service runs it on the blocking pool.
//!
//! Each fold goes through the same fit pipeline as a fit with a holdout ([`fitting`]), on
//! summaries cut from the log by the same summary builder, so a one-fold backtest and a
//! `FitModel` with the same calibration and holdout ends report the same numbers.

use std::time::Instant;

use custval_model::data::log::TransactionLog;
use custval_model::data::summary::Day;
use custval_model::predict::backtest::{self, BacktestPlan, FamilySummary, Fold};
use custval_model::{Cancel, TimeUnit, TransactionFamily};
use custval_proto::v1 as pb;
use rustc_hash::FxHashSet;

use crate::admission::past;
use crate::error::ApiError;
use crate::fitting::{self, FamilyChoice, FitSpec};
use crate::input::DecodedTable;
use crate::record::{InputKind, ModelRecord};
use crate::wire;

/// A checked [`pb::BacktestSpec`].
#[derive(Debug, Clone)]
pub struct BacktestSpec {
    pub families: Vec<&'static dyn TransactionFamily>,
    pub spend: bool,
    pub unit: TimeUnit,
    pub data_end: Day,
    pub plan: BacktestPlan,
    pub penalizer: f64,
    pub max_iterations: u32,
    /// Where to store the winner, if anywhere.
    pub name: Option<String>,
}

impl BacktestSpec {
    /// Checks every field of the spec; paths start with `spec.`.
    pub fn parse(spec: Option<&pb::BacktestSpec>) -> Result<BacktestSpec, ApiError> {
        let s = spec.ok_or_else(|| ApiError::invalid("spec", "is required"))?;
        let name = (!s.name.is_empty()).then(|| s.name.clone());
        if let Some(n) = &name {
            wire::model_name(n, "spec.name")?;
        }
        let unit = wire::time_unit(s.time_unit, "spec.time_unit")?;
        let data_end = wire::required_day(s.data_end.as_ref(), "spec.data_end")?;
        let holdout_days = whole_days(s.holdout.as_ref(), "spec.holdout")?;
        let within_spec = |e: custval_model::ModelError| ApiError::from(e).within("spec");
        let plan = match (s.calibration_ends.is_empty(), s.folds) {
            (false, 0) => {
                let ends = s
                    .calibration_ends
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        wire::required_day(Some(t), &format!("spec.calibration_ends[{i}]"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                BacktestPlan::at(&ends, holdout_days, data_end).map_err(within_spec)?
            }
            (true, 0) => {
                return Err(ApiError::invalid(
                    "spec.folds",
                    "give a number of folds (a rolling origin) or spec.calibration_ends",
                ));
            }
            (true, folds) => {
                let step = match &s.step {
                    Some(_) => whole_days(s.step.as_ref(), "spec.step")?,
                    None => holdout_days,
                };
                BacktestPlan::rolling(data_end, holdout_days, folds as usize, step)
                    .map_err(within_spec)?
            }
            (false, _) => {
                return Err(ApiError::invalid(
                    "spec.folds",
                    "give spec.folds or spec.calibration_ends, not both",
                ));
            }
        };
        if s.step.is_some() && !s.calibration_ends.is_empty() {
            return Err(ApiError::invalid(
                "spec.step",
                "is for a rolling origin (spec.folds), not with spec.calibration_ends",
            ));
        }
        let families = if s.families.is_empty() {
            custval_model::models::families()
        } else {
            let mut seen = Vec::new();
            for (i, f) in s.families.iter().enumerate() {
                let field = format!("spec.families[{i}]");
                let family = custval_model::models::family(f).map_err(|e| match e {
                    custval_model::ModelError::InvalidInput { reason, .. } => {
                        ApiError::invalid(&field, reason)
                    }
                    other => other.into(),
                })?;
                if seen
                    .iter()
                    .any(|s: &&dyn TransactionFamily| s.name() == family.name())
                {
                    return Err(ApiError::invalid(
                        field,
                        format!("{} is listed twice", family.name()),
                    ));
                }
                seen.push(family);
            }
            seen
        };
        fitting::check_max_iterations(s.max_iterations, "spec.max_iterations")?;
        if !(s.penalizer.is_finite() && s.penalizer >= 0.0) {
            return Err(ApiError::invalid(
                "spec.penalizer",
                format!("must be finite and >= 0, got {}", s.penalizer),
            ));
        }
        Ok(BacktestSpec {
            families,
            spend: wire::spend_model(s.spend_model, "spec.spend_model")?,
            unit,
            data_end,
            plan,
            penalizer: s.penalizer,
            max_iterations: s.max_iterations,
            name,
        })
    }

    /// The fit spec of one fold (or, with `fold = None`, of the final fit on the whole log).
    fn fit_spec(&self, family: FamilyChoice, fold: Option<Fold>) -> FitSpec {
        FitSpec {
            name: self.name.clone().unwrap_or_else(|| "backtest".into()),
            family,
            spend: self.spend,
            unit: self.unit,
            observation_end: Some(fold.map_or(self.data_end, |f| f.calibration_end)),
            holdout_end: fold.map(|f| f.holdout_end),
            holdout_duration: None,
            penalizer: self.penalizer,
            max_iterations: self.max_iterations,
            summarized_log: None,
        }
    }
}

/// A duration as whole days: holdouts and steps cut a log of purchase days.
fn whole_days(d: Option<&pb::Duration>, field: &str) -> Result<i32, ApiError> {
    let d = wire::duration(d, field)?;
    let days = d.in_unit(TimeUnit::Day).round();
    if !(1.0..=3653.0).contains(&days) {
        return Err(ApiError::invalid(
            format!("{field}.value"),
            format!("must be 1 day to 10 years, got {days} days"),
        ));
    }
    Ok(days as i32)
}

/// Raw histories from backtest chunks into a [`TransactionLog`], field by field.
#[derive(Debug)]
pub struct LogBuilder {
    log: TransactionLog,
    seen: FxHashSet<String>,
    data_end: Day,
    max_customers: usize,
}

impl LogBuilder {
    pub fn new(data_end: Day, max_customers: usize) -> LogBuilder {
        LogBuilder {
            log: TransactionLog::new(),
            seen: FxHashSet::default(),
            data_end,
            max_customers,
        }
    }

    /// Customers added so far.
    pub fn customers(&self) -> usize {
        self.log.customers()
    }

    /// Adds a chunk's customers; paths are relative to the chunk (`customers[i]...`).
    pub fn add(&mut self, customers: Vec<pb::Customer>) -> Result<(), ApiError> {
        for (i, c) in customers.into_iter().enumerate() {
            let path = format!("customers[{i}]");
            if self.log.customers() >= self.max_customers {
                return Err(ApiError::invalid(
                    "customers",
                    format!("more than {} customers in one backtest", self.max_customers),
                ));
            }
            if c.customer_id.trim().is_empty() {
                return Err(ApiError::invalid(
                    format!("{path}.customer_id"),
                    "must not be empty",
                ));
            }
            if c.summary.is_some() || c.holdout.is_some() {
                return Err(ApiError::invalid(
                    format!("{path}.summary"),
                    "a backtest cuts raw histories at each calibration end; summaries \
                     cannot be re-cut",
                ));
            }
            if c.transactions.is_empty() {
                return Err(ApiError::invalid(
                    format!("{path}.transactions"),
                    "has no purchases",
                ));
            }
            let mut purchases = Vec::with_capacity(c.transactions.len());
            for (j, t) in c.transactions.iter().enumerate() {
                let field = |f: &str| format!("{path}.transactions[{j}].{f}");
                let day = wire::required_day(t.time.as_ref(), &field("time"))?;
                if day > self.data_end {
                    return Err(ApiError::invalid(
                        field("time"),
                        format!(
                            "{day} is after the data end {} (spec.data_end)",
                            self.data_end
                        ),
                    ));
                }
                if !(t.amount.is_finite() && (0.0..=custval_model::MAX_AMOUNT).contains(&t.amount))
                {
                    return Err(ApiError::invalid(
                        field("amount"),
                        format!(
                            "must be finite, >= 0 and at most {:e}, got {}",
                            custval_model::MAX_AMOUNT,
                            t.amount
                        ),
                    ));
                }
                purchases.push((day, t.amount));
            }
            if !self.seen.insert(c.customer_id.clone()) {
                return Err(ApiError::invalid(
                    format!("{path}.customer_id"),
                    format!("duplicate customer id {:?}", c.customer_id),
                ));
            }
            self.log
                .push_customer(c.customer_id, purchases)
                .map_err(|e| ApiError::from(e).within(&path))?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<TransactionLog, ApiError> {
        if self.log.is_empty() {
            return Err(ApiError::invalid(
                "customers",
                "no customers: a backtest needs raw histories",
            ));
        }
        Ok(self.log)
    }
}

/// A finished backtest: the response, and the winner fitted on the whole log when the spec
/// names where to store it (the caller stores it and fills in `response.model`).
#[derive(Debug)]
pub struct Backtest {
    pub response: pb::BacktestResponse,
    pub winner: Option<ModelRecord>,
}

/// Runs every fold of `spec` on `log`. Fails when the deadline passes between folds, when
/// `cancel` fires (checked between folds and inside every fit), or when no family could
/// be fitted on any fold.
pub fn run(
    spec: &BacktestSpec,
    log: &TransactionLog,
    deadline: Option<Instant>,
    now_ms: i64,
    cancel: &Cancel,
) -> Result<Backtest, ApiError> {
    if let Some((first, _)) = log.span() {
        // The spec came in the stream's first chunk.
        spec.plan
            .check_against(first)
            .map_err(|e| ApiError::from(e).within("chunks[0].spec"))?;
    }
    let mut folds = Vec::new();
    // results[family][fold]
    let mut results: Vec<Vec<Option<ModelRecord>>> = vec![Vec::new(); spec.families.len()];
    for &fold in spec.plan.folds() {
        if past(deadline) {
            return Err(ApiError::DeadlineExceeded("nothing was stored"));
        }
        cancel.check()?;
        let out = log.split(spec.unit, fold.calibration_end, fold.holdout_end)?;
        let input = DecodedTable {
            born_in_holdout: out.stats.customers_born_in_holdout,
            transactions: out.stats.rows_read,
            table: out.table,
            kind: InputKind::Transactions,
            fingerprint: None,
        };
        let fit_spec = spec.fit_spec(FamilyChoice::Auto, Some(fold));
        let fits = if input.table.is_empty() {
            Err(ApiError::InsufficientData(format!(
                "no customer has a first purchase by {}",
                fold.calibration_end
            )))
        } else {
            fitting::fit_each(&fit_spec, &spec.families, &input, now_ms, cancel)
        };
        // Cancelled is not a fold result: the whole backtest stops.
        if matches!(fits, Err(ApiError::Cancelled)) {
            return Err(ApiError::Cancelled);
        }
        let candidates = spec
            .families
            .iter()
            .enumerate()
            .map(|(k, family)| {
                let fit = match &fits {
                    Ok(fits) => fits[k].as_ref().map_err(ToString::to_string),
                    Err(e) => Err(e.to_string()),
                };
                match fit {
                    Ok(r) => candidate(family.name(), r, spec.unit),
                    Err(error) => pb::BacktestCandidate {
                        family: family.name().to_owned(),
                        error,
                        ..Default::default()
                    },
                }
            })
            .collect();
        folds.push(pb::BacktestFold {
            calibration_end: Some(wire::timestamp_of_day(fold.calibration_end)),
            holdout_end: Some(wire::timestamp_of_day(fold.holdout_end)),
            customers: input.table.len() as u64,
            born_in_holdout: input.born_in_holdout,
            candidates,
        });
        let mut fits = fits.map(|f| f.into_iter().map(Result::ok).collect::<Vec<_>>());
        for (k, slot) in results.iter_mut().enumerate() {
            let record = fits.as_mut().ok().and_then(|f| f[k].take());
            slot.push(record);
        }
    }

    let summaries: Vec<Option<FamilySummary>> = spec
        .families
        .iter()
        .zip(&results)
        .map(|(family, records)| {
            let reports: Vec<_> = records
                .iter()
                .map(|r| r.as_ref().and_then(|r| r.holdout.as_ref()))
                .collect();
            backtest::summarize(family.name(), &reports)
        })
        .collect();
    let folds_len = spec.plan.folds().len();
    let fitted: Vec<FamilySummary> = summaries.iter().flatten().cloned().collect();
    let Some(winner) = backtest::choose(&fitted) else {
        // Nothing fitted anywhere: the first error says why.
        let first = folds
            .iter()
            .flat_map(|f| &f.candidates)
            .find(|c| !c.error.is_empty())
            .map_or_else(
                || "no family could be fitted".to_owned(),
                |c| c.error.clone(),
            );
        return Err(ApiError::InsufficientData(format!(
            "no family could be fitted on any fold of the backtest: {first}"
        )));
    };
    let reason = reason(winner, fitted.len());
    let chosen = winner.family.clone();

    let winner_record = match &spec.name {
        Some(_) => {
            if past(deadline) {
                return Err(ApiError::DeadlineExceeded("nothing was stored"));
            }
            let family = spec
                .families
                .iter()
                .copied()
                .find(|f| f.name() == chosen)
                .ok_or_else(|| ApiError::Internal(format!("chosen family {chosen} is gone")))?;
            let out = log.summarize(spec.unit, spec.data_end)?;
            let input = DecodedTable {
                born_in_holdout: 0,
                transactions: out.stats.rows_read,
                table: out.table,
                kind: InputKind::Transactions,
                fingerprint: None,
            };
            let fit_spec = spec.fit_spec(FamilyChoice::One(family), None);
            Some(fitting::fit(&fit_spec, family, &input, now_ms, cancel)?)
        }
        None => None,
    };

    Ok(Backtest {
        response: pb::BacktestResponse {
            criterion: backtest::CRITERION.to_owned(),
            chosen,
            reason,
            time_unit: wire::time_unit_to_proto(spec.unit) as i32,
            holdout_days: spec.plan.holdout_days() as u32,
            folds,
            summaries: spec
                .families
                .iter()
                .zip(&summaries)
                .map(|(family, s)| summary_to_proto(family.name(), s.as_ref(), folds_len))
                .collect(),
            model: None,
        },
        winner: winner_record,
    })
}

fn candidate(family: &str, r: &ModelRecord, unit: TimeUnit) -> pb::BacktestCandidate {
    pb::BacktestCandidate {
        family: family.to_owned(),
        params: wire::params_to_proto(&r.model.transaction.named_params(), &r.transaction_fit),
        diagnostics: Some(wire::diagnostics_to_proto(&r.transaction_fit)),
        holdout: r.holdout.as_ref().map(|h| wire::holdout_to_proto(h, unit)),
        error: String::new(),
    }
}

/// Why the winner won, and where a naive baseline did better in most folds: a backtest
/// that hides a lost ranking would be the same mistake as a fit that hides it.
fn reason(winner: &FamilySummary, fitted: usize) -> String {
    let mut reason = format!(
        "{} has the lowest mean holdout MAE of purchases per customer ({:.4}) over {} folds \
         among {} fitted families",
        winner.family, winner.mean_holdout_mae, winner.folds_fitted, fitted
    );
    if winner.folds_fitted < winner.folds {
        reason.push_str(&format!(
            " (it could be fitted on {} of {} folds only; no family was fitted on all)",
            winner.folds_fitted, winner.folds
        ));
    }
    let losing: Vec<String> = winner
        .baselines
        .iter()
        .filter(|b| 2 * b.folds_beating_model > winner.folds_fitted)
        .map(|b| {
            format!(
                "{} in {} of {} folds",
                b.name, b.folds_beating_model, winner.folds_fitted
            )
        })
        .collect();
    if !losing.is_empty() {
        reason.push_str(&format!(
            "; but naive baselines rank or predict purchases better: {}",
            losing.join(", ")
        ));
    }
    reason
}

fn summary_to_proto(family: &str, s: Option<&FamilySummary>, folds: usize) -> pb::BacktestSummary {
    let Some(s) = s else {
        return pb::BacktestSummary {
            family: family.to_owned(),
            folds: folds as u32,
            ..Default::default()
        };
    };
    pb::BacktestSummary {
        family: s.family.clone(),
        folds: s.folds,
        folds_fitted: s.folds_fitted,
        mean_holdout_mae: Some(s.mean_holdout_mae),
        mean_total_error: s.mean_total_error,
        mean_abs_total_error: s.mean_abs_total_error,
        mean_normalized_gini: s.mean_normalized_gini,
        baselines: s
            .baselines
            .iter()
            .map(|b| pb::BacktestBaseline {
                name: b.name.clone(),
                mean_normalized_gini: b.mean_normalized_gini,
                mean_mae: b.mean_mae,
                folds_beating_model: b.folds_beating_model,
            })
            .collect(),
    }
}
