//! `custval fit`: fits a model on a transaction log or summaries, streamed to the server
//! in chunks, and stores it under a name.

use std::time::Instant;

use custval_proto::v1 as pb;
use serde_json::json;

use super::scoring::Customers;
use custval_wire::dates::timestamp_of_day;

use super::holdout::holdout_json;
use super::{TimeUnitArg, params_json, parse_day, unit_to_proto};
use crate::connect::ConnectOptions;
use crate::error::ClientError;
use crate::files::InputOptions;

#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub input: InputOptions,
    /// Model name in the registry.
    #[arg(long)]
    pub name: String,
    /// Calibration end, YYYY-MM-DD (required with a transaction log).
    #[arg(long)]
    pub observation_end: Option<String>,
    /// Transactions after --observation-end up to this day form the holdout.
    #[arg(long)]
    pub holdout_end: Option<String>,
    #[arg(long, value_enum, default_value = "week", hide_possible_values = true)]
    pub time_unit: TimeUnitArg,
    /// The transaction model family: auto, bgnbd, mbgnbd, pareto-nbd, or any family the
    /// server lists (`custval models families`); passed to the server as it is. `auto` (the
    /// default) fits every family and keeps the best: by holdout MAE with a holdout, else
    /// by BIC (each candidate is stored as a version; the chosen one is the latest). No
    /// single family is a safe default: BG/NBD, for one, calls every one-time buyer alive.
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// gamma-gamma or none.
    #[arg(
        long,
        value_enum,
        default_value = "gamma-gamma",
        hide_possible_values = true
    )]
    pub spend: SpendArg,
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--spend`: the spend model, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpendArg {
    #[value(alias = "gg")]
    GammaGamma,
    None,
}

pub async fn exec(connect: &ConnectOptions, a: &FitArgs) -> Result<(), ClientError> {
    let unit = a.time_unit.unit();
    let spend = match a.spend {
        SpendArg::GammaGamma => pb::SpendModelKind::GammaGamma,
        SpendArg::None => pb::SpendModelKind::None,
    };
    let obs = a
        .observation_end
        .as_deref()
        .map(|d| parse_day(d, "--observation-end"))
        .transpose()?;
    let hold = a
        .holdout_end
        .as_deref()
        .map(|d| parse_day(d, "--holdout-end"))
        .transpose()?;
    let mut customers = Customers::open(&a.input, unit, obs, hold)?;
    let spec = pb::FitSpec {
        name: a.name.clone(),
        // By name: the server resolves it, so a family the CLI has never heard of works.
        family: a.model.clone(),
        transaction_model: pb::TransactionModelKind::Unspecified as i32,
        spend_model: spend as i32,
        time_unit: unit_to_proto(unit),
        observation_end: obs.map(timestamp_of_day),
        holdout_end: None,
        holdout_duration: customers.holdout_duration().map(|d| pb::Duration {
            value: d,
            unit: unit_to_proto(unit),
        }),
        penalizer: a.penalizer,
        max_iterations: 0,
        summarized_log: None,
    };
    let mut chunks = Vec::new();
    while let Some(c) = customers.next_chunk()? {
        chunks.push(pb::FitModelChunk {
            spec: chunks.is_empty().then(|| spec.clone()),
            customers: vec![],
            summary_columns: Some(c),
        });
    }
    let conn = connect.connect().await?;
    let started = Instant::now();
    let model = conn.fit_stream(chunks).await?;
    let selection = model.selection;
    let model = model
        .model
        .ok_or_else(|| ClientError::Internal("the server returned no model".into()))?;
    let mut d = model.diagnostics.clone().unwrap_or_default();
    if let Some(w) = seasonality_here(&customers, &model, unit) {
        d.warnings.push(w.to_string());
        d.findings.push(pb::FitWarning {
            code: w.code.as_str().into(),
            message: w.message,
        });
    }
    if a.json {
        let mut v = json!({
            "name": model.name,
            "version": model.version,
            "family": model.family,
            "transaction_model": a.model,
            "params": params_json(&model.params),
            "spend_params": params_json(&model.spend_params),
            "log_likelihood": d.log_likelihood,
            "converged": d.converged,
            "aic": d.aic,
            "bic": d.bic,
            "warnings": d.warnings,
            "diagnostics": {
                "converged": d.converged,
                "method": d.method,
                "iterations": d.iterations,
                "gradient_norm": d.gradient_norm,
                "warnings": d.findings.iter()
                    .map(|w| json!({"code": w.code, "message": w.message}))
                    .collect::<Vec<_>>(),
            },
            "time_unit": unit.as_str(),
            "seconds": started.elapsed().as_secs_f64(),
        });
        if let Some(sel) = &selection {
            v["selection"] = selection_json(sel);
        }
        if let Some(h) = &model.holdout {
            v["holdout"] = holdout_json(h);
        }
        crate::outln!("{v:#}");
    } else {
        crate::outln!(
            "fitted {} version {} ({}, {})",
            model.name,
            model.version,
            model.family,
            unit.as_str()
        );
        if let Some(sel) = &selection {
            crate::outln!("  chosen by {}: {}", sel.criterion, sel.reason);
            for c in &sel.candidates {
                match (c.error.is_empty(), c.holdout_mae) {
                    (false, _) => {
                        crate::outln!("  candidate {:<12} not fitted: {}", c.family, c.error)
                    }
                    (true, Some(mae)) => crate::outln!(
                        "  candidate {:<12} v{} BIC {:.2}, holdout MAE {mae:.4}",
                        c.family,
                        c.version,
                        c.bic
                    ),
                    (true, None) => {
                        crate::outln!(
                            "  candidate {:<12} v{} BIC {:.2}",
                            c.family,
                            c.version,
                            c.bic
                        )
                    }
                }
            }
        }
        for p in model.params.iter().chain(&model.spend_params) {
            let se = p
                .standard_error
                .map_or(String::new(), |s| format!(" ± {s:.4}"));
            crate::outln!("  {:<6} {:.6}{se}", p.name, p.value);
        }
        crate::outln!(
            "  log-likelihood {:.4}, converged {}, {} iterations",
            d.log_likelihood,
            d.converged,
            d.iterations
        );
        for w in &d.warnings {
            crate::outln!("  warning: {w}");
        }
        if let Some(h) = &model.holdout {
            crate::outln!(
                "  holdout: {:.0} actual vs {:.1} predicted repeat purchases; MAE {:.3}, AUC {}",
                h.actual_total,
                h.predicted_total,
                h.mae,
                h.auc.map_or("-".into(), |a| format!("{a:.3}"))
            );
            for r in h.purchases_ranking.iter().chain(&h.revenue_ranking) {
                let m = r.model.clone().unwrap_or_default();
                let baselines: Vec<String> = r
                    .baselines
                    .iter()
                    .map(|b| {
                        let gini = b.metrics.as_ref().and_then(|m| m.normalized_gini);
                        format!("{} {}", b.name, fmt_gini(gini))
                    })
                    .collect();
                crate::outln!(
                    "  ranking {}: normalized Gini {} (baselines: {})",
                    r.outcome,
                    fmt_gini(m.normalized_gini),
                    baselines.join(", ")
                );
                for loss in &r.losses {
                    crate::outln!("  warning: {loss}");
                }
            }
        }
    }
    Ok(())
}

/// `seasonality_suspected` for a fit of a transaction log with a holdout. The server got
/// summaries, which carry no purchases per week, so it cannot diagnose this; the weeks
/// were counted here while summarizing, and the returned model is judged on them. The
/// finding is in this command's output only, not in the stored model's diagnostics. A
/// family this client does not know, or a failed evaluation, leaves it out (with a note).
fn seasonality_here(
    customers: &Customers,
    model: &pb::Model,
    unit: custval_model::TimeUnit,
) -> Option<custval_model::fit::FitWarning> {
    let table = customers.table()?;
    let periods = table.holdout.as_ref()?.periods.as_ref()?;
    let diagnosis = crate::report::transaction_model_from_proto(model).and_then(|m| {
        let grouped =
            custval_model::GroupedRfm::build(&table.rfm, None).map_err(|e| e.to_string())?;
        custval_model::predict::seasonality::seasonality_suspected(&m, &grouped, unit, periods)
            .map_err(|e| e.to_string())
    });
    diagnosis
        .inspect_err(|e| eprintln!("custval: no seasonality diagnosis: {e}"))
        .ok()
        .flatten()
}

fn fmt_gini(g: Option<f64>) -> String {
    g.map_or("-".into(), |g| format!("{g:.3}"))
}

/// How `--model auto` chose: the criterion, the winner and every candidate, under the
/// CLI's `--model` names.
fn selection_json(s: &pb::ModelSelection) -> serde_json::Value {
    json!({
        "criterion": s.criterion,
        "chosen": s.chosen,
        "reason": s.reason,
        "candidates": s.candidates.iter().map(|c| {
            let mut v = json!({
                "model": c.family,
                "version": c.version,
                "log_likelihood": c.log_likelihood,
                "bic": c.bic,
                "holdout": {"mae": c.holdout_mae, "total_error": c.holdout_total_error},
            });
            if !c.error.is_empty() {
                v["error"] = json!(c.error);
            }
            v
        }).collect::<Vec<_>>(),
    })
}
