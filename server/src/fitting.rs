//! The fit pipeline: a checked spec and decoded customers in, a model record out.
//! Synchronous and CPU-bound: the service runs it on the blocking pool.

use std::time::Instant;

use custval_model::data::summary::Day;
use custval_model::fit::{FitWarning, WarningCode};
use custval_model::models::gamma_gamma::{self, SpendData};
use custval_model::{
    Cancel, CustomerModel, CustomerTable, FitOptions, GroupedRfm, HoldoutSpend, TimeUnit,
    TransactionFamily, TransactionModel, holdout_report,
};
use custval_proto::v1 as pb;

use crate::error::ApiError;
use crate::fingerprint::Fingerprint;
use crate::input::{DecodedTable, InputSettings};
use crate::record::{InputKind, ModelRecord, TrainingInfo};
use crate::wire;

/// `FitSpec.family` asking for a model competition.
pub const AUTO: &str = "auto";

/// Which family a fit asks for.
#[derive(Debug, Clone, Copy)]
pub enum FamilyChoice {
    One(&'static dyn TransactionFamily),
    /// Every registered family, the best kept (see [`compete`]).
    Auto,
}

/// The most optimizer iterations a request may ask for (`max_iterations`; 0 = the
/// default): the built-in fits converge in tens, and each iteration is a pass over the data.
pub const MAX_FIT_ITERATIONS: u32 = 10_000;

/// INVALID_ARGUMENT naming `field` when `value` is above [`MAX_FIT_ITERATIONS`].
pub fn check_max_iterations(value: u32, field: &str) -> Result<(), ApiError> {
    if value > MAX_FIT_ITERATIONS {
        return Err(ApiError::invalid(
            field,
            format!("{value} is above the limit of {MAX_FIT_ITERATIONS}"),
        ));
    }
    Ok(())
}

/// A checked [`pb::FitSpec`].
#[derive(Debug, Clone)]
pub struct FitSpec {
    pub name: String,
    /// The transaction model family (`spec.family`, else the built-in enum), or every
    /// family in competition.
    pub family: FamilyChoice,
    pub spend: bool,
    pub unit: TimeUnit,
    pub observation_end: Option<Day>,
    pub holdout_end: Option<Day>,
    /// In `unit`.
    pub holdout_duration: Option<f64>,
    pub penalizer: f64,
    pub max_iterations: u32,
    /// `spec.summarized_log`: the client's count of transactions and its holdout end,
    /// recorded when the customers came as summaries.
    pub summarized_log: Option<(u64, Option<Day>)>,
}

impl FitSpec {
    /// Checks every field of the spec; paths start with `spec.`.
    pub fn parse(spec: Option<&pb::FitSpec>) -> Result<FitSpec, ApiError> {
        let s = spec.ok_or_else(|| ApiError::invalid("spec", "is required"))?;
        wire::model_name(&s.name, "spec.name")?;
        let unit = wire::time_unit(s.time_unit, "spec.time_unit")?;
        let observation_end =
            wire::optional_day(s.observation_end.as_ref(), "spec.observation_end")?;
        let holdout_end = wire::optional_day(s.holdout_end.as_ref(), "spec.holdout_end")?;
        if let Some(h) = holdout_end {
            match observation_end {
                None => {
                    return Err(ApiError::invalid(
                        "spec.holdout_end",
                        "needs spec.observation_end (the calibration end)",
                    ));
                }
                Some(o) if h <= o => {
                    return Err(ApiError::invalid(
                        "spec.holdout_end",
                        format!("{h} is not after the observation end {o}"),
                    ));
                }
                Some(_) => {}
            }
        }
        let holdout_duration = s
            .holdout_duration
            .as_ref()
            .map(|d| wire::duration(Some(d), "spec.holdout_duration").map(|d| d.in_unit(unit)))
            .transpose()?;
        check_max_iterations(s.max_iterations, "spec.max_iterations")?;
        if !(s.penalizer.is_finite() && s.penalizer >= 0.0) {
            return Err(ApiError::invalid(
                "spec.penalizer",
                format!("must be finite and >= 0, got {}", s.penalizer),
            ));
        }
        let summarized_log = s
            .summarized_log
            .as_ref()
            .map(|l| {
                let end =
                    wire::optional_day(l.holdout_end.as_ref(), "spec.summarized_log.holdout_end")?;
                Ok::<_, ApiError>((l.transactions, end))
            })
            .transpose()?;
        Ok(FitSpec {
            name: s.name.clone(),
            family: if s.family.trim().eq_ignore_ascii_case(AUTO) {
                FamilyChoice::Auto
            } else {
                FamilyChoice::One(wire::family(&s.family, s.transaction_model, "spec")?)
            },
            spend: wire::spend_model(s.spend_model, "spec.spend_model")?,
            unit,
            observation_end,
            holdout_end,
            holdout_duration,
            penalizer: s.penalizer,
            max_iterations: s.max_iterations,
            summarized_log,
        })
    }

    pub fn input_settings(&self, max_customers: usize) -> InputSettings {
        InputSettings {
            unit: self.unit,
            observation_end: self.observation_end,
            holdout_end: self.holdout_end,
            holdout_duration: self.holdout_duration,
            takes_holdout: true,
            observation_end_field: "spec.observation_end",
            max_customers,
            unique_across_chunks: true,
            keep_ids: false,
        }
    }
}

/// A fitted spend model and its diagnostics, or none when the spec asks for none.
type SpendFit = Option<(
    custval_model::GammaGammaParams,
    custval_model::FitDiagnostics,
)>;

/// Fits `family` (and the spec's spend model) on `input`. The record's version is assigned
/// by the registry. Once `cancel` fires the fit stops with `Cancelled`.
pub fn fit(
    spec: &FitSpec,
    family: &'static dyn TransactionFamily,
    input: &DecodedTable,
    now_ms: i64,
    cancel: &Cancel,
) -> Result<ModelRecord, ApiError> {
    fit_with(spec, family, input, None, now_ms, cancel)
}

/// As [`fit`], with the spend model already fitted on the same input when `spend` is given
/// (a competition fits it once for every family; it does not depend on the family).
fn fit_with(
    spec: &FitSpec,
    family: &'static dyn TransactionFamily,
    input: &DecodedTable,
    spend: Option<&SpendFit>,
    now_ms: i64,
    cancel: &Cancel,
) -> Result<ModelRecord, ApiError> {
    let started = Instant::now();
    let table = &input.table;
    if table.is_empty() {
        return Err(ApiError::InsufficientData(
            "no customer has a first purchase in the calibration period".into(),
        ));
    }
    let options = fit_options(spec, cancel);
    let grouped = GroupedRfm::build(&table.rfm, None)?;
    let data = |e| ApiError::from_data(e, &format!("fit {} to these customers", family.title()));
    let fitted = TransactionModel::fit(family, &grouped, &options).map_err(data)?;
    let mut transaction_fit = fitted.diagnostics;
    if !transaction_fit.converged {
        return Err(not_converged(transaction_fit));
    }
    if input.born_in_holdout > 0 {
        transaction_fit.warnings.push(FitWarning::new(
            WarningCode::HoldoutBirthsLeftOut,
            format!(
                "{} customers whose first purchase is in the holdout were left out",
                input.born_in_holdout
            ),
        ));
    }
    // Holdout error concentrated in a few weeks: only raw transactions give the weeks.
    // Judged now, so the grouped rows (as large as the table for continuous times) are
    // freed before the spend model's own copy of the data is made; reported below, after
    // the holdout bias, as always.
    let seasonality = match table.holdout.as_ref().and_then(|h| h.periods.as_ref()) {
        Some(periods) => custval_model::predict::seasonality::seasonality_suspected(
            &fitted.params,
            &grouped,
            spec.unit,
            periods,
        )
        .map_err(data)?,
        None => None,
    };
    // A model that cannot score its own customers is not kept (see `self_check`): the
    // purchase half now, while the grouped rows exist; the spend half once it is fitted.
    let unchecked = |spend| CustomerModel {
        unit: spec.unit,
        transaction: fitted.params.clone(),
        spend,
    };
    let keep = |e| ApiError::from_data(e, &format!("keep the {} fit", family.title()));
    let most_purchases = unchecked(None)
        .check_purchases_of_training(table, &grouped)
        .map_err(keep)?;
    drop(grouped);

    // Summaries the client made from its log: the model was fitted on a transaction log.
    let summarized_log = spec
        .summarized_log
        .filter(|_| input.kind == InputKind::Summaries);
    let (spend, spend_fit) = match spend {
        Some(fitted) => fitted.clone(),
        None => spend_model(spec, table, &options)?,
    }
    .unzip();
    unchecked(spend)
        .check_spend_of_training(table, most_purchases)
        .map_err(keep)?;

    let holdout = match &table.holdout {
        Some(h) => {
            // Columns of zeros mean the input had no amounts: no spend baselines then.
            let known = |v: &[f64]| v.iter().any(|&s| s > 0.0);
            let money = HoldoutSpend {
                monetary_value: known(&table.monetary_value).then_some(&table.monetary_value[..]),
                calibration_spend: table.calibration_spend.as_deref().filter(|v| known(v)),
                holdout_spend: known(&h.spend).then_some(&h.spend[..]),
                spend_model: spend.as_ref(),
            };
            Some(
                holdout_report(&fitted.params, &table.rfm, &h.frequency, h.duration, money)
                    .map_err(data)?,
            )
        }
        None => None,
    };
    // A model off the same way in every frequency bin is biased, not unlucky.
    if let Some(w) = holdout
        .as_ref()
        .and_then(custval_model::predict::holdout_diagnosis::holdout_bias)
    {
        transaction_fit.warnings.push(w);
    }
    transaction_fit.warnings.extend(seasonality);

    Ok(ModelRecord {
        name: spec.name.clone(),
        version: 0,
        created_at_ms: now_ms,
        model: CustomerModel {
            unit: spec.unit,
            transaction: fitted.params,
            spend,
        },
        transaction_fit,
        spend_fit,
        holdout,
        training: TrainingInfo {
            customers: table.len() as u64,
            transactions: summarized_log.map_or(input.transactions, |(n, _)| n),
            input_kind: if summarized_log.is_some() {
                InputKind::Transactions
            } else {
                input.kind
            },
            observation_end_day: spec.observation_end.map(|d| d.0),
            holdout_end_day: spec
                .holdout_end
                .or(summarized_log.and_then(|(_, end)| end))
                .map(|d| d.0),
            fingerprint: input
                .fingerprint
                .unwrap_or_else(|| Fingerprint::of_table(table))
                .finish(table.unit),
            fit_seconds: started.elapsed().as_secs_f64(),
            penalizer: spec.penalizer,
            server_version: env!("CARGO_PKG_VERSION").into(),
            summarized_by_client: summarized_log.is_some(),
        },
        segments: None,
    })
}

/// The outcome of a model competition: the records to store, in order (the chosen one
/// last, so it is the name's latest version), and the selection to report (versions are
/// filled in once stored).
#[derive(Debug)]
pub struct Competition {
    pub records: Vec<ModelRecord>,
    pub selection: pb::ModelSelection,
}

/// Fits every registered family on the same data and ranks them: by holdout MAE of
/// purchases when the fit has a holdout (the error a business sees), else by BIC. A family
/// that cannot be fitted is reported with its error and not stored; the competition fails
/// only when none can be (or when `cancel` fires).
pub fn compete(
    spec: &FitSpec,
    input: &DecodedTable,
    now_ms: i64,
    cancel: &Cancel,
) -> Result<Competition, ApiError> {
    let families = custval_model::models::families();
    let fits = fit_each(spec, &families, input, now_ms, cancel)?;
    let holdout = input.table.holdout.is_some();
    let criterion = if holdout { "holdout_mae" } else { "bic" };
    let score = |r: &ModelRecord| match (&r.holdout, holdout) {
        (Some(h), true) => h.mae,
        _ => r.transaction_fit.bic,
    };
    let chosen = fits
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.as_ref().ok().map(|r| (i, score(r))))
        .filter(|(_, v)| v.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i);
    let Some(chosen) = chosen else {
        // Nothing fitted: the first family's error says why.
        return Err(fits
            .into_iter()
            .find_map(Result::err)
            .unwrap_or_else(|| ApiError::Internal("no model family is registered".into())));
    };
    let candidates: Vec<pb::Candidate> = families
        .iter()
        .zip(&fits)
        .map(|(family, f)| match f {
            Ok(r) => pb::Candidate {
                family: family.name().to_owned(),
                version: 0,
                log_likelihood: r.transaction_fit.log_likelihood,
                bic: r.transaction_fit.bic,
                holdout_mae: r.holdout.as_ref().map(|h| h.mae),
                holdout_total_error: r
                    .holdout
                    .as_ref()
                    .filter(|h| h.actual_total > 0.0)
                    .map(|h| (h.predicted_total - h.actual_total) / h.actual_total),
                error: String::new(),
            },
            Err(e) => pb::Candidate {
                family: family.name().to_owned(),
                error: e.to_string(),
                ..Default::default()
            },
        })
        .collect();
    let winner = &families[chosen];
    let fitted = fits.iter().filter(|f| f.is_ok()).count();
    let reason = if holdout {
        format!(
            "{} has the lowest holdout MAE of purchases per customer ({:.4}) among {} fitted families",
            winner.name(),
            candidates[chosen].holdout_mae.unwrap_or(f64::NAN),
            fitted
        )
    } else {
        format!(
            "{} has the lowest BIC ({:.2}) among {} fitted families (no holdout to judge by)",
            winner.name(),
            candidates[chosen].bic,
            fitted
        )
    };
    let mut records: Vec<(usize, ModelRecord)> = fits
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| f.ok().map(|r| (i, r)))
        .collect();
    // The chosen one last: it becomes the name's latest version.
    records.sort_by_key(|(i, _)| *i == chosen);
    Ok(Competition {
        records: records.into_iter().map(|(_, r)| r).collect(),
        selection: pb::ModelSelection {
            criterion: criterion.to_owned(),
            chosen: winner.name().to_owned(),
            reason,
            candidates,
        },
    })
}

/// Fits each of `families` on the same input, with the spend model fitted once for all of
/// them (it does not depend on the family). A family that cannot be fitted is an `Err` in
/// its place; only a spend model that cannot be fitted, or `cancel` firing, fails the
/// whole (a cancelled family is not a family that cannot be fitted).
pub fn fit_each(
    spec: &FitSpec,
    families: &[&'static dyn TransactionFamily],
    input: &DecodedTable,
    now_ms: i64,
    cancel: &Cancel,
) -> Result<Vec<Result<ModelRecord, ApiError>>, ApiError> {
    let spend = spend_model(spec, &input.table, &fit_options(spec, cancel))?;
    families
        .iter()
        .map(
            |&family| match fit_with(spec, family, input, Some(&spend), now_ms, cancel) {
                Err(ApiError::Cancelled) => Err(ApiError::Cancelled),
                fitted => Ok(fitted),
            },
        )
        .collect()
}

/// The optimizer options a spec asks for (its penalizer and iteration cap), stopped by
/// `cancel`.
fn fit_options(spec: &FitSpec, cancel: &Cancel) -> FitOptions {
    FitOptions {
        cancel: cancel.clone(),
        penalizer: spec.penalizer,
        max_iterations: if spec.max_iterations == 0 {
            FitOptions::default().max_iterations
        } else {
            u64::from(spec.max_iterations)
        },
        ..FitOptions::default()
    }
}

/// The spec's spend model fitted on `table`, if it asks for one.
fn spend_model(
    spec: &FitSpec,
    table: &CustomerTable,
    options: &FitOptions,
) -> Result<SpendFit, ApiError> {
    if spec.spend {
        fit_spend(table, options).map(Some)
    } else {
        Ok(None)
    }
}

fn not_converged(d: custval_model::FitDiagnostics) -> ApiError {
    ApiError::NotConverged {
        reason: format!(
            "{} stopped after {} iterations with gradient norm {:.3e} ({})",
            d.model, d.iterations, d.gradient_norm, d.message
        ),
        diagnostics: Some(Box::new(d)),
    }
}

/// Gamma-Gamma on the customers with repeat purchases and positive spend.
fn fit_spend(
    table: &CustomerTable,
    options: &FitOptions,
) -> Result<
    (
        custval_model::GammaGammaParams,
        custval_model::FitDiagnostics,
    ),
    ApiError,
> {
    let (mut freq, mut money) = (Vec::new(), Vec::new());
    let mut zero_spend = 0usize;
    for (c, &m) in table.rfm.iter().zip(&table.monetary_value) {
        if c.frequency == 0 {
            continue;
        }
        if m > 0.0 {
            freq.push(c.frequency);
            money.push(m);
        } else {
            zero_spend += 1;
        }
    }
    let data = SpendData::build(&freq, &money)?;
    let fitted = gamma_gamma::fit(&data, options)
        .map_err(|e| ApiError::from_data(e, "fit Gamma-Gamma to these customers' spend"))?;
    let mut d = fitted.diagnostics;
    if !d.converged {
        return Err(not_converged(d));
    }
    if zero_spend > 0 {
        d.warnings.push(FitWarning::new(
            WarningCode::ZeroSpendLeftOut,
            format!(
                "{zero_spend} customers with repeat purchases but zero spend were left out of the spend fit"
            ),
        ));
    }
    Ok((fitted.params, d))
}

/// The training fingerprint of `table`: the same customers give the same print whatever
/// order they were sent in (see [`crate::fingerprint`]).
pub fn fingerprint(table: &CustomerTable) -> String {
    Fingerprint::of_table(table).finish(table.unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use custval_model::Rfm;

    #[test]
    fn fingerprint_ignores_order_but_not_values() {
        let mut t = CustomerTable {
            ids: vec!["a".into(), "b".into()],
            rfm: vec![
                Rfm {
                    frequency: 1,
                    recency: 2.0,
                    age: 3.0,
                },
                Rfm {
                    frequency: 0,
                    recency: 0.0,
                    age: 4.0,
                },
            ],
            monetary_value: vec![5.0, 0.0],
            calibration_spend: None,
            holdout: None,
            unit: Some(TimeUnit::Week),
        };
        let f = fingerprint(&t);
        assert_eq!(f.len(), 64);
        let mut swapped = t.clone();
        swapped.ids.swap(0, 1);
        swapped.rfm.swap(0, 1);
        swapped.monetary_value.swap(0, 1);
        assert_eq!(fingerprint(&swapped), f);
        t.rfm[1].age = 4.5;
        assert_ne!(fingerprint(&t), f);
    }

    /// The columns of `table`'s customers in `order`.
    fn columns(table: &CustomerTable, order: &[usize]) -> pb::SummaryColumns {
        pb::SummaryColumns {
            customer_id: order.iter().map(|&i| table.ids[i].clone()).collect(),
            frequency: order.iter().map(|&i| table.rfm[i].frequency).collect(),
            recency: order.iter().map(|&i| table.rfm[i].recency).collect(),
            age: order.iter().map(|&i| table.rfm[i].age).collect(),
            monetary_value: order.iter().map(|&i| table.monetary_value[i]).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn chunking_and_order_change_neither_parameters_nor_fingerprint() {
        use custval_model::simulate::{SimulationSpec, simulate_summaries};
        let table = simulate_summaries(&SimulationSpec::cdnow_like(3000, 7, 52.0))
            .unwrap()
            .table;
        let spec = FitSpec::parse(Some(&pb::FitSpec {
            name: "m".into(),
            transaction_model: pb::TransactionModelKind::BgNbd as i32,
            spend_model: pb::SpendModelKind::GammaGamma as i32,
            time_unit: pb::TimeUnit::Week as i32,
            ..Default::default()
        }))
        .unwrap();
        let fit_in = |order: Vec<usize>, chunk: usize| {
            let mut b = crate::input::TableBuilder::new(spec.input_settings(10_000));
            for part in order.chunks(chunk) {
                b.add(vec![], Some(columns(&table, part))).unwrap();
            }
            let decoded = b.finish().unwrap();
            assert!(decoded.table.ids.is_empty(), "a fit keeps no ids");
            let family = custval_model::models::families()[0];
            fit(&spec, family, &decoded, 0, &Cancel::default()).unwrap()
        };
        let n = table.len();
        let forward: Vec<usize> = (0..n).collect();
        let mut shuffled = forward.clone();
        // A fixed permutation: i -> i * 1031 mod n (1031 is prime, coprime with 3000).
        for (i, slot) in shuffled.iter_mut().enumerate() {
            *slot = i * 1031 % n;
        }
        let one = fit_in(forward.clone(), n);
        // The print summed as chunks came equals the print of the whole table with ids.
        let sent = CustomerTable {
            holdout: None,
            calibration_spend: None,
            unit: Some(TimeUnit::Week),
            ..table.clone()
        };
        assert_eq!(one.training.fingerprint, fingerprint(&sent));
        // Chunking alone: bit-identical.
        let chunked = fit_in(forward, 7);
        assert_eq!(chunked.model, one.model);
        assert_eq!(chunked.training.fingerprint, one.training.fingerprint);
        // Another order: the transaction model is bit-identical (rows are grouped in hash
        // order); the spend model's groups keep first-seen order, so its sums change order
        // and its parameters move in the last bits only.
        for other in [fit_in(shuffled.clone(), n), fit_in(shuffled, 250)] {
            assert_eq!(other.training.fingerprint, one.training.fingerprint);
            assert_eq!(other.model.transaction, one.model.transaction);
            assert_eq!(
                other.transaction_fit.log_likelihood,
                one.transaction_fit.log_likelihood
            );
            let (a, b) = (other.model.spend.unwrap(), one.model.spend.unwrap());
            for (x, y) in [(a.p(), b.p()), (a.q(), b.q()), (a.v(), b.v())] {
                assert!((x - y).abs() <= 1e-12 * y.abs(), "{x} vs {y}");
            }
        }
    }

    #[test]
    fn spec_fields_are_checked() {
        let good = pb::FitSpec {
            name: "m".into(),
            transaction_model: pb::TransactionModelKind::BgNbd as i32,
            time_unit: pb::TimeUnit::Week as i32,
            ..Default::default()
        };
        assert!(FitSpec::parse(Some(&good)).is_ok());
        let field = |s: pb::FitSpec| match FitSpec::parse(Some(&s)) {
            Err(ApiError::InvalidArgument(v)) => v[0].field.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(pb::FitSpec {
                penalizer: -1.0,
                ..good.clone()
            }),
            "spec.penalizer"
        );
        assert_eq!(
            field(pb::FitSpec {
                time_unit: 0,
                ..good.clone()
            }),
            "spec.time_unit"
        );
        assert_eq!(
            field(pb::FitSpec {
                holdout_end: Some(wire::timestamp_of_day(Day(10))),
                ..good.clone()
            }),
            "spec.holdout_end"
        );
        assert_eq!(
            field(pb::FitSpec {
                spend_model: 7,
                ..good
            }),
            "spec.spend_model"
        );
    }
}
