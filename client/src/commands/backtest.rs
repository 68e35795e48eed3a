//! `custval backtest`: cuts a transaction log at several calibration ends on the server
//! (Backtest), fits every family on each calibration period and judges it on the holdout
//! after it, beside naive baselines; with `--name`, stores the winner fitted on the whole
//! log.

use std::collections::HashMap;

use custval_proto::v1 as pb;
use custval_wire::dates::timestamp_of_day;
use serde_json::json;

use super::fit::SpendArg;
use super::holdout::holdout_json;
use super::{TimeUnitArg, params_json, parse_day, unit_to_proto};
use crate::connect::ConnectOptions;
use crate::error::ClientError;
use crate::files::{InputKind, InputOptions, Purchase};

/// Purchases per message: a chunk stays far below the server's message size limit.
const CHUNK_TRANSACTIONS: usize = 20_000;

#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub input: InputOptions,
    /// The last day the log covers, YYYY-MM-DD: the last holdout of a rolling origin
    /// ends here, and a later purchase is an error.
    #[arg(long)]
    pub data_end: String,
    /// Length of every holdout, in --time-unit (rounded to whole days).
    #[arg(long)]
    pub holdout: f64,
    /// A rolling origin of this many folds, the last holdout ending at --data-end.
    #[arg(long, conflicts_with = "calibration_end")]
    pub folds: Option<u32>,
    /// Between the calibration ends of a rolling origin, in --time-unit (default: the
    /// holdout length, so that the holdouts tile the end of the log).
    #[arg(long, requires = "folds")]
    pub step: Option<f64>,
    /// An explicit calibration end, YYYY-MM-DD (repeat for several folds).
    #[arg(long)]
    pub calibration_end: Vec<String>,
    /// The unit of the models' rates, --holdout and --step.
    #[arg(long, value_enum, default_value = "week", hide_possible_values = true)]
    pub time_unit: TimeUnitArg,
    /// Families to compare, comma-separated (default: every family the server lists;
    /// `--model` is the older spelling).
    #[arg(long, alias = "model", value_delimiter = ',')]
    pub family: Vec<String>,
    /// gamma-gamma (needs amounts; gives revenue rankings) or none.
    #[arg(
        long,
        value_enum,
        default_value = "gamma-gamma",
        hide_possible_values = true
    )]
    pub spend: SpendArg,
    /// L2 penalty on the log-parameters (lifetimes' penalizer_coef).
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// Fit the winner on the whole log and store it under this name.
    #[arg(long)]
    pub name: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn exec(connect: &ConnectOptions, a: &BacktestArgs) -> Result<(), ClientError> {
    if a.input.kind()? == InputKind::Summaries {
        return Err(ClientError::Invalid(
            "a backtest cuts a transaction log at each calibration end: summaries cannot be \
             re-cut"
                .into(),
        ));
    }
    if a.folds.is_none() && a.calibration_end.is_empty() {
        return Err(ClientError::Invalid(
            "give --folds (a rolling origin) or one or more --calibration-end".into(),
        ));
    }
    let unit = a.time_unit.unit();
    let duration = |v: f64| pb::Duration {
        value: v,
        unit: unit_to_proto(unit),
    };
    let data_end = parse_day(&a.data_end, "--data-end")?;
    let spec = pb::BacktestSpec {
        families: a.family.clone(),
        spend_model: match a.spend {
            SpendArg::GammaGamma => pb::SpendModelKind::GammaGamma,
            SpendArg::None => pb::SpendModelKind::None,
        } as i32,
        time_unit: unit_to_proto(unit),
        data_end: Some(timestamp_of_day(data_end)),
        holdout: Some(duration(a.holdout)),
        calibration_ends: a
            .calibration_end
            .iter()
            .map(|d| parse_day(d, "--calibration-end").map(timestamp_of_day))
            .collect::<Result<_, _>>()?,
        folds: a.folds.unwrap_or(0),
        step: a.step.map(duration),
        penalizer: a.penalizer,
        max_iterations: 0,
        name: a.name.clone().unwrap_or_default(),
    };
    let mut purchases = a.input.purchases(a.spend == SpendArg::GammaGamma)?;
    if a.input.read.ignore_later_rows {
        let read = purchases.len();
        purchases.retain(|p| p.day <= data_end);
        let late = read - purchases.len();
        if late > 0 {
            eprintln!(
                "custval: left out {late} rows of {read} dated after {data_end} \
                 (--ignore-later-rows)"
            );
        }
    }
    let chunks = chunks(spec, purchases);
    let conn = connect.connect().await?;
    let r = conn.backtest(chunks).await.map_err(|e| match e {
        // A purchase after --data-end: name the way out, as for the local summarizer.
        ClientError::Refused {
            what,
            code,
            message,
            mut violations,
        } if violations
            .iter()
            .any(|(_, d)| d.contains("after the data end")) =>
        {
            violations.push((
                "hint".into(),
                "--ignore-later-rows leaves rows after --data-end out".into(),
            ));
            ClientError::Refused {
                what,
                code,
                message,
                violations,
            }
        }
        other => other,
    })?;
    if a.json {
        crate::outln!("{:#}", response_json(&r));
    } else {
        print_text(&r);
    }
    Ok(())
}

/// The log grouped by customer (in order of first appearance) as wire chunks, the spec in
/// the first.
pub(super) fn chunks(spec: pb::BacktestSpec, purchases: Vec<Purchase>) -> Vec<pb::BacktestChunk> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut customers: Vec<pb::Customer> = Vec::new();
    for p in purchases {
        let i = *index.entry(p.customer_id.clone()).or_insert_with(|| {
            customers.push(pb::Customer {
                customer_id: p.customer_id.clone(),
                ..Default::default()
            });
            customers.len() - 1
        });
        customers[i].transactions.push(pb::Transaction {
            time: Some(timestamp_of_day(p.day)),
            amount: p.amount,
        });
    }
    let mut out = vec![pb::BacktestChunk {
        spec: Some(spec),
        customers: Vec::new(),
    }];
    let mut size = 0;
    for c in customers {
        let n = c.transactions.len();
        let last = out.len() - 1;
        if size > 0 && size + n > CHUNK_TRANSACTIONS {
            out.push(pb::BacktestChunk {
                spec: None,
                customers: vec![c],
            });
            size = n;
        } else {
            out[last].customers.push(c);
            size += n;
        }
    }
    out
}

fn day_text(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| custval_wire::dates::day(t, "").ok())
        .map_or_else(|| "-".into(), |d| d.to_string())
}

fn unit_name(value: i32) -> &'static str {
    custval_wire::units::time_unit_from_proto(value).map_or("unspecified", |u| u.as_str())
}

fn response_json(r: &pb::BacktestResponse) -> serde_json::Value {
    let mut v = json!({
        "criterion": r.criterion,
        "chosen": r.chosen,
        "reason": r.reason,
        "time_unit": unit_name(r.time_unit),
        "holdout_days": r.holdout_days,
        "folds": r.folds.iter().map(fold_json).collect::<Vec<_>>(),
        "summaries": r.summaries.iter().map(summary_json).collect::<Vec<_>>(),
    });
    if let Some(m) = &r.model {
        v["model"] = json!({"name": m.name, "version": m.version, "family": m.family});
    }
    v
}

fn fold_json(f: &pb::BacktestFold) -> serde_json::Value {
    json!({
        "calibration_end": day_text(f.calibration_end.as_ref()),
        "holdout_end": day_text(f.holdout_end.as_ref()),
        "customers": f.customers,
        "born_in_holdout": f.born_in_holdout,
        "candidates": f.candidates.iter().map(|c| {
            if !c.error.is_empty() {
                return json!({"model": c.family, "error": c.error});
            }
            let d = c.diagnostics.clone().unwrap_or_default();
            let mut v = json!({
                "model": c.family,
                "params": params_json(&c.params),
                "log_likelihood": d.log_likelihood,
                "bic": d.bic,
                "warnings": d.findings.iter()
                    .map(|w| json!({"code": w.code, "message": w.message}))
                    .collect::<Vec<_>>(),
            });
            if let Some(h) = &c.holdout {
                // The same object as `fit --json`'s holdout, with the signed total error.
                v["holdout"] = holdout_json(h);
                v["holdout"]["total_error"] = json!(total_error(h));
            }
            v
        }).collect::<Vec<_>>(),
    })
}

fn total_error(h: &pb::HoldoutMetrics) -> Option<f64> {
    (h.actual_total > 0.0).then(|| (h.predicted_total - h.actual_total) / h.actual_total)
}

fn summary_json(s: &pb::BacktestSummary) -> serde_json::Value {
    json!({
        "model": s.family,
        "folds": s.folds,
        "folds_fitted": s.folds_fitted,
        "mean_holdout_mae": s.mean_holdout_mae,
        "mean_total_error": s.mean_total_error,
        "mean_abs_total_error": s.mean_abs_total_error,
        "mean_normalized_gini": s.mean_normalized_gini,
        "baselines": s.baselines.iter().map(|b| json!({
            "name": b.name,
            "mean_normalized_gini": b.mean_normalized_gini,
            "mean_mae": b.mean_mae,
            "folds_beating_model": b.folds_beating_model,
        })).collect::<Vec<_>>(),
    })
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:+.1}%", 100.0 * v))
}

fn print_text(r: &pb::BacktestResponse) {
    crate::outln!(
        "backtest: {} folds, {}-day holdouts, rates per {}",
        r.folds.len(),
        r.holdout_days,
        unit_name(r.time_unit)
    );
    for f in &r.folds {
        crate::outln!(
            "fold: calibration to {}, holdout to {}, {} customers",
            day_text(f.calibration_end.as_ref()),
            day_text(f.holdout_end.as_ref()),
            f.customers
        );
        for c in &f.candidates {
            let Some(h) = c.holdout.as_ref().filter(|_| c.error.is_empty()) else {
                crate::outln!("  {:<12} not fitted: {}", c.family, c.error);
                continue;
            };
            let gini = |m: Option<&pb::RankingMetrics>| m.and_then(|m| m.normalized_gini);
            let ranking = h.purchases_ranking.as_ref();
            let best_baseline = ranking
                .into_iter()
                .flat_map(|r| &r.baselines)
                .filter_map(|b| gini(b.metrics.as_ref()).map(|g| (g, &b.name)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            crate::outln!(
                "  {:<12} MAE {:.4}  total {:>7}  Gini {}  (best baseline: {})",
                c.family,
                h.mae,
                pct(total_error(h)),
                fmt(gini(ranking.and_then(|r| r.model.as_ref())), 3),
                best_baseline.map_or("-".into(), |(g, n)| format!("{n} {g:.3}"))
            );
            let warnings = c
                .diagnostics
                .as_ref()
                .map(|d| &d.findings[..])
                .unwrap_or(&[]);
            for w in warnings {
                crate::outln!("    warning {}: {}", w.code, w.message);
            }
        }
    }
    crate::outln!("over the folds:");
    for s in &r.summaries {
        let beaten: Vec<String> = s
            .baselines
            .iter()
            .filter(|b| b.folds_beating_model > 0)
            .map(|b| format!("{} in {}", b.name, b.folds_beating_model))
            .collect();
        crate::outln!(
            "  {:<12} {}/{} folds  mean MAE {}  mean total {}  mean |total| {}  mean Gini {}{}",
            s.family,
            s.folds_fitted,
            s.folds,
            fmt(s.mean_holdout_mae, 4),
            pct(s.mean_total_error),
            pct(s.mean_abs_total_error).trim_start_matches('+'),
            fmt(s.mean_normalized_gini, 3),
            if beaten.is_empty() {
                String::new()
            } else {
                format!("  beaten by {}", beaten.join(", "))
            }
        );
    }
    crate::outln!("chosen by {}: {}", r.criterion, r.reason);
    if let Some(m) = &r.model {
        crate::outln!("stored {} version {} ({})", m.name, m.version, m.family);
    }
}
