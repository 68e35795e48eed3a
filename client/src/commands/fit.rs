//! `custval fit`: fits a model on a transaction log or summaries, streamed to the server
//! in chunks, and stores it under a name.

use std::time::{Duration, Instant};

use custval_proto::v1 as pb;
use serde_json::json;

use super::scoring::Customers;
use custval_wire::dates::timestamp_of_day;

use super::feed;
use super::model_view::{model_json, print_holdout, print_params};
use super::{TimeUnitArg, parse_day, unit_to_proto};
use crate::connect::ConnectOptions;
use crate::error::ClientError;
use crate::files::InputOptions;

/// How long a fit that failed waits for the file reader to stop and say whether it failed
/// too (it stops at its next chunk, milliseconds away).
const READER_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub input: InputOptions,
    /// Name to store the model under (each fit adds a version); the other commands take
    /// it as --name.
    #[arg(long)]
    pub name: String,
    /// Calibration end, YYYY-MM-DD (required with a transaction log; with summaries,
    /// recorded in the metadata).
    #[arg(long)]
    pub observation_end: Option<String>,
    /// Holdout end, YYYY-MM-DD: purchases after --observation-end up to this day are the
    /// holdout the model is judged on (a transaction log only; a summary file's holdout is
    /// its frequency_holdout and duration_holdout columns, as `summarize --holdout-end`
    /// writes them).
    #[arg(long)]
    pub holdout_end: Option<String>,
    /// Unit of the model's rates, and of recency, T and duration_holdout in a summary file
    /// (day, week, month, year).
    #[arg(long, value_enum, default_value = "week", hide_possible_values = true)]
    pub time_unit: TimeUnitArg,
    /// The transaction model family: auto, bgnbd, mbgnbd, pareto-nbd, or any family the
    /// server lists (`custval models families`); passed to the server as it is. `auto` (the
    /// default) fits every family and keeps the best: by holdout MAE with a holdout, else
    /// by BIC (each candidate is stored as a version; the chosen one is the latest). No
    /// single family is a safe default: BG/NBD, for one, calls every one-time buyer alive.
    /// (`--model` is the older spelling.)
    #[arg(long, alias = "model", default_value = "auto")]
    pub family: String,
    /// The spend model: gamma-gamma (needs amounts; gives expected spend and CLV) or none.
    #[arg(
        long,
        value_enum,
        default_value = "gamma-gamma",
        hide_possible_values = true
    )]
    pub spend: SpendArg,
    /// L2 penalty on the log-parameters (lifetimes' penalizer_coef); 0 = none.
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// Print the result as JSON (see the README for its shape).
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
    let (mut customers, log_rows) = Customers::open_for_fit(&a.input, unit, obs, hold)?;
    let Some(first) = customers.next_chunk()? else {
        return Err(ClientError::Invalid(format!(
            "{}: no customers to fit",
            a.input.input.display()
        )));
    };
    // A summary file's holdout length is known from its first row (every row must give
    // the same one: the reader checks), so the spec can lead the stream.
    let holdout_duration = customers.holdout_duration();
    let holdout_columns = customers.holdout_columns();
    if let Some(d) = holdout_duration.filter(|_| !holdout_columns.is_empty()) {
        eprintln!(
            "custval: judging the model on the file's holdout ({}): {d} {}s",
            holdout_columns.join(", "),
            unit.as_str()
        );
    }
    let spec = pb::FitSpec {
        name: a.name.clone(),
        // By name: the server resolves it, so a family the CLI has never heard of works.
        family: a.family.clone(),
        transaction_model: pb::TransactionModelKind::Unspecified as i32,
        spend_model: spend as i32,
        time_unit: unit_to_proto(unit),
        observation_end: obs.map(timestamp_of_day),
        holdout_end: None,
        holdout_duration: holdout_duration.map(|d| pb::Duration {
            value: d,
            unit: unit_to_proto(unit),
        }),
        penalizer: a.penalizer,
        max_iterations: 0,
        // The log was summarized here: the stored metadata says it was a log.
        summarized_log: log_rows.map(|transactions| pb::SummarizedLog {
            transactions,
            holdout_end: hold.map(timestamp_of_day),
        }),
    };
    let conn = connect.connect().await?;
    let started = Instant::now();
    // The file is read on the blocking pool while earlier chunks are on their way: the
    // CLI holds a few chunks, whatever the file size (a transaction log was summarized
    // whole above: memory grows with its customers).
    let (stream, tx, held) = feed::feed();
    let first = pb::FitModelChunk {
        spec: Some(spec),
        customers: vec![],
        summary_columns: Some(first),
    };
    let reader = tokio::task::spawn_blocking(move || {
        let mut next = Some(first);
        let mut failed = None;
        while let Some(chunk) = next.take() {
            if !tx.send(chunk) {
                break; // the call ended: its outcome says why
            }
            match customers.next_chunk() {
                Ok(c) => {
                    next = c.map(|c| pb::FitModelChunk {
                        spec: None,
                        customers: vec![],
                        summary_columns: Some(c),
                    })
                }
                Err(e) => {
                    tx.hold();
                    failed = Some(e);
                }
            }
        }
        (customers, failed)
    });
    let outcome = feed::unless_held(conn.fit_stream(stream), held).await;
    let read = match &outcome {
        Some(Ok(_)) => reader.await.map(Some),
        // The call failed or was cancelled: the reader stops at its next chunk.
        _ => tokio::time::timeout(READER_GRACE, reader)
            .await
            .map_or(Ok(None), |r| r.map(Some)),
    }
    .map_err(|e| ClientError::Internal(format!("reading the input: {e}")))?;
    // The reader's error wins: it names file, line and column, and the server may have
    // refused the same data first by its place in a chunk (a repeated id whose first and
    // second rows went out in one chunk).
    let customers = match read {
        Some((_, Some(read_error))) => return Err(read_error),
        Some((customers, None)) => Some(customers),
        None => None,
    };
    let model = match outcome {
        Some(result) => result?,
        None => {
            return Err(ClientError::Internal(
                "the input reader stopped the fit without saying why".into(),
            ));
        }
    };
    let customers =
        customers.ok_or_else(|| ClientError::Internal("the input reader did not finish".into()))?;
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
        let mut v = model_json(&model, &d);
        v["seconds"] = json!(started.elapsed().as_secs_f64());
        if let Some(sel) = &selection {
            v["selection"] = selection_json(sel);
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
        print_params(&model);
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
            print_holdout(h);
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

/// How `--family auto` chose: the criterion, the winner and every candidate, by family
/// name.
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
