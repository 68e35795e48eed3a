//! `custval report`: one self-contained HTML page about a model — fit, holdout tracking,
//! calibration, P(alive), value concentration, segments and the budget plan — with inline
//! SVG charts drawn here (no scripts, no fonts or styles from the network).
//!
//! [`ReportData`] holds what the page shows: RPC responses as they arrive, the tracking
//! curves computed locally with [`custval_model::tracking`], and which P(alive) matrix to
//! draw (computed here from the model's parameters). Every part is a `Result`: `Err(why)`
//! renders as a short "not available: why" line instead of a chart. [`render`] is a pure
//! function of the data.

use std::fmt::Write as _;

use custval_model::tracking::Tracking;
use custval_model::{BetaGeoParams, ParetoNbdParams, Rfm, TimeUnit, TransactionModel};
use custval_proto::v1 as pb;

/// A part of the report: the data, or why it is not there.
pub type Part<T> = Result<T, String>;

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Page heading, e.g. "Model cdnow".
    pub title: String,
    /// A line under the heading, e.g. where and when the report was made.
    pub subtitle: String,
    /// `GetModel` → `GetModelResponse.model`.
    pub model: Part<pb::Model>,
    /// `ModelMetadata`.
    pub metadata: Part<pb::ModelMetadataResponse>,
    /// Computed locally from the transaction log with
    /// [`custval_model::tracking::track_transactions`].
    pub tracking: Part<Tracking>,
    /// Which P(alive) matrix to draw; the values come from `model`'s parameters.
    pub p_alive: Part<PAliveMatrix>,
    /// `Segment` (segments, tiers, concentration).
    pub segments: Part<pb::SegmentResponse>,
    /// `Recommend`, with a budget for the plan.
    pub recommendations: Part<pb::RecommendResponse>,
}

impl ReportData {
    /// A report with every part "not requested".
    pub fn new(title: impl Into<String>) -> ReportData {
        fn missing<T>() -> Part<T> {
            Err("not requested".to_owned())
        }
        ReportData {
            title: title.into(),
            subtitle: String::new(),
            model: missing(),
            metadata: missing(),
            tracking: missing(),
            p_alive: missing(),
            segments: missing(),
            recommendations: missing(),
        }
    }
}

/// The frequency × recency grid of P(alive) for customers of one age.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PAliveMatrix {
    /// Customer age T in the model's unit (e.g. the calibration length).
    pub age: f64,
    /// Rows: repeat purchases 0..=max_frequency.
    pub max_frequency: u32,
    /// Columns: recency 0, T/steps, …, T.
    pub recency_steps: u32,
}

impl PAliveMatrix {
    /// Frequencies 0..=20 by 20 recency steps, at `age`.
    pub fn at_age(age: f64) -> PAliveMatrix {
        PAliveMatrix {
            age,
            max_frequency: 20,
            recency_steps: 20,
        }
    }
}

/// The model crate's transaction model for a `pb::Model`'s kind and parameters.
pub fn transaction_model_from_proto(m: &pb::Model) -> Result<TransactionModel, String> {
    let param = |name: &str| {
        m.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value)
            .ok_or_else(|| format!("the model has no parameter {name:?}"))
    };
    let kind = pb::TransactionModelKind::try_from(m.transaction_model)
        .map_err(|_| format!("unknown transaction model {}", m.transaction_model))?;
    let model = match kind {
        pb::TransactionModelKind::BgNbd | pb::TransactionModelKind::MbgNbd => {
            let p = BetaGeoParams::new(param("r")?, param("alpha")?, param("a")?, param("b")?)
                .map_err(|e| e.to_string())?;
            if kind == pb::TransactionModelKind::BgNbd {
                TransactionModel::BgNbd(p)
            } else {
                TransactionModel::MbgNbd(p)
            }
        }
        pb::TransactionModelKind::ParetoNbd => TransactionModel::ParetoNbd(
            ParetoNbdParams::new(param("r")?, param("alpha")?, param("s")?, param("beta")?)
                .map_err(|e| e.to_string())?,
        ),
        pb::TransactionModelKind::Unspecified => {
            return Err("the model's kind is unspecified".to_owned());
        }
    };
    Ok(model)
}

/// The model crate's unit for a `pb::TimeUnit` value.
pub fn time_unit_from_proto(value: i32) -> Option<TimeUnit> {
    match pb::TimeUnit::try_from(value).ok()? {
        pb::TimeUnit::Day => Some(TimeUnit::Day),
        pb::TimeUnit::Week => Some(TimeUnit::Week),
        pb::TimeUnit::Month => Some(TimeUnit::Month),
        pb::TimeUnit::Year => Some(TimeUnit::Year),
        pb::TimeUnit::Unspecified => None,
    }
}

// ---------------------------------------------------------------------------------------
// Page
// ---------------------------------------------------------------------------------------

/// Section ids, in page order.
pub const SECTIONS: [&str; 8] = [
    "model",
    "fit",
    "tracking",
    "calibration",
    "p-alive",
    "concentration",
    "segments",
    "budget",
];

const STYLE: &str = "
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;color:#1f2937;background:#fff;margin:0}
main{max-width:1160px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:24px;margin:8px 0 2px}h2{font-size:19px;margin:0 0 8px;border-bottom:2px solid #e5e7eb;padding-bottom:4px}
h3{font-size:15px;margin:8px 0 4px}p{margin:4px 0 8px}
.sub{color:#6b7280;margin:0 0 12px}
section{margin:14px 0 4px}
table{border-collapse:collapse;font-size:12.5px;margin:2px 0 8px}
th,td{padding:2px 8px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
thead th{background:#f3f4f6}
.tables{display:flex;flex-wrap:wrap;gap:0 18px;align-items:flex-start}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:8px 20px;align-items:start}
figure{margin:0}
svg{max-width:100%;height:auto;font-family:'DejaVu Sans',Helvetica,Arial,sans-serif}
.na{color:#6b7280;font-style:italic;margin:4px 0}
.warn{color:#92400e;background:#fef3c7;padding:4px 8px;border-radius:4px;margin:4px 0}
.ok{color:#166534}.bad{color:#b91c1c;font-weight:bold}
ul.warnings{margin:4px 0;padding-left:20px;font-size:13px;color:#92400e}
";

// Chart colours.
const INK: &str = "#1f2937";
const MUTED: &str = "#6b7280";
const GRID: &str = "#e5e7eb";
const BLUE: &str = "#2563eb";
const AMBER: &str = "#f59e0b";
const SLATE: &str = "#475569";
const PURPLE: &str = "#7c3aed";
const RED: &str = "#dc2626";
const GREEN: &str = "#16a34a";

/// The report as one HTML document.
pub fn render(data: &ReportData) -> String {
    let mut out = String::with_capacity(64 * 1024);
    w(
        &mut out,
        format_args!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
             <h1>{}</h1>\n",
            esc(&data.title),
            esc(&data.title)
        ),
    );
    if !data.subtitle.is_empty() {
        w(
            &mut out,
            format_args!("<p class=\"sub\">{}</p>\n", esc(&data.subtitle)),
        );
    }
    let model = data.model.as_ref();
    let unit = model
        .ok()
        .and_then(|m| time_unit_from_proto(m.time_unit))
        .map_or("period", TimeUnit::as_str);

    section(&mut out, "model", "Model", |o| {
        overview(o, model, data.metadata.as_ref())
    });
    section(&mut out, "fit", "Fit diagnostics and parameters", |o| {
        fit_section(o, model)
    });
    section(&mut out, "tracking", "Holdout tracking", |o| {
        tracking_section(o, data.tracking.as_ref())
    });
    section(&mut out, "calibration", "Calibration by frequency", |o| {
        calibration_section(o, model, unit)
    });
    out.push_str("<div class=\"grid\">\n");
    section(
        &mut out,
        "p-alive",
        "P(alive) by frequency and recency",
        |o| p_alive_section(o, model, data.p_alive.as_ref(), unit),
    );
    section(&mut out, "concentration", "Value concentration", |o| {
        concentration_section(o, data.segments.as_ref())
    });
    out.push_str("</div>\n");
    section(&mut out, "segments", "Segments and tiers", |o| {
        segments_section(o, data.segments.as_ref())
    });
    section(&mut out, "budget", "Recommended budget plan", |o| {
        budget_section(o, data.recommendations.as_ref())
    });
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn w(out: &mut String, args: std::fmt::Arguments<'_>) {
    let _ = out.write_fmt(args);
}

fn section(out: &mut String, id: &str, heading: &str, body: impl FnOnce(&mut String)) {
    w(
        out,
        format_args!("<section id=\"{id}\">\n<h2>{}</h2>\n", esc(heading)),
    );
    body(out);
    out.push_str("</section>\n");
}

fn not_available(out: &mut String, why: &str) {
    w(
        out,
        format_args!("<p class=\"na\">not available: {}</p>\n", esc(why)),
    );
}

// ---------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------

fn overview(
    out: &mut String,
    model: Result<&pb::Model, &String>,
    metadata: Result<&pb::ModelMetadataResponse, &String>,
) {
    out.push_str("<div class=\"grid\">\n<div>\n<h3>Fitted model</h3>\n");
    match model {
        Ok(m) => {
            let mut rows: Vec<(&str, String)> = vec![
                ("Name", m.name.clone()),
                ("Version", m.version.to_string()),
                (
                    "Transaction model",
                    kind_name(m.transaction_model).to_owned(),
                ),
                (
                    "Spend model",
                    match pb::SpendModelKind::try_from(m.spend_model) {
                        Ok(pb::SpendModelKind::GammaGamma) => "Gamma-Gamma".to_owned(),
                        _ => "none".to_owned(),
                    },
                ),
                (
                    "Time unit",
                    time_unit_from_proto(m.time_unit)
                        .map_or("unspecified", TimeUnit::as_str)
                        .to_owned(),
                ),
            ];
            if let Some(t) = &m.created_at {
                rows.push(("Created", fmt_time(t.seconds)));
            }
            kv_table(out, &rows);
        }
        Err(why) => not_available(out, why),
    }
    out.push_str("</div>\n<div>\n<h3>Training data</h3>\n");
    match metadata {
        Ok(md) => {
            let mut rows: Vec<(&str, String)> = Vec::new();
            if let Some(t) = &md.training {
                rows.push(("Customers", fmt_count(t.customers)));
                if t.transactions > 0 {
                    rows.push(("Transactions", fmt_count(t.transactions)));
                }
                rows.push(("Input", t.input_kind.clone()));
                if let Some(e) = &t.observation_end {
                    rows.push(("Calibration end", fmt_date(e.seconds)));
                }
                if let Some(e) = &t.holdout_end {
                    rows.push(("Holdout end", fmt_date(e.seconds)));
                }
                rows.push(("Fit time", format!("{} s", fmt_sig(t.fit_seconds, 3))));
                if !t.fingerprint.is_empty() {
                    rows.push((
                        "Data fingerprint",
                        t.fingerprint.chars().take(16).collect::<String>() + "…",
                    ));
                }
            }
            rows.push(("Penalizer", fmt_sig(md.penalizer, 3)));
            if !md.server_version.is_empty() {
                rows.push(("Server version", md.server_version.clone()));
            }
            kv_table(out, &rows);
        }
        Err(why) => not_available(out, why),
    }
    out.push_str("</div>\n</div>\n");
}

fn kind_name(value: i32) -> &'static str {
    match pb::TransactionModelKind::try_from(value) {
        Ok(pb::TransactionModelKind::BgNbd) => "BG/NBD",
        Ok(pb::TransactionModelKind::MbgNbd) => "MBG/NBD",
        Ok(pb::TransactionModelKind::ParetoNbd) => "Pareto/NBD",
        _ => "unspecified",
    }
}

fn fit_section(out: &mut String, model: Result<&pb::Model, &String>) {
    let m = match model {
        Ok(m) => m,
        Err(why) => return not_available(out, why),
    };
    out.push_str("<div class=\"grid\">\n<div>\n");
    w(
        out,
        format_args!(
            "<h3>{} (purchase and dropout)</h3>\n",
            kind_name(m.transaction_model)
        ),
    );
    params_table(out, &m.params);
    match &m.diagnostics {
        Some(d) => diagnostics_table(out, d),
        None => not_available(out, "the model carries no fit diagnostics"),
    }
    out.push_str("</div>\n<div>\n<h3>Gamma-Gamma (spend per transaction)</h3>\n");
    if m.spend_params.is_empty() {
        not_available(out, "the model has no spend model");
    } else {
        params_table(out, &m.spend_params);
        match &m.spend_diagnostics {
            Some(d) => diagnostics_table(out, d),
            None => not_available(out, "the spend model carries no fit diagnostics"),
        }
    }
    out.push_str("</div>\n</div>\n");
}

fn params_table(out: &mut String, params: &[pb::Parameter]) {
    out.push_str(
        "<table><thead><tr><th>Parameter</th><th class=\"n\">Estimate</th>\
         <th class=\"n\">Std. error</th><th class=\"n\">95% interval</th></tr></thead><tbody>\n",
    );
    for p in params {
        let (se, ci) = match p.standard_error {
            Some(se) if se.is_finite() => (
                fmt_sig(se, 3),
                format!(
                    "{} – {}",
                    fmt_sig(p.value - 1.96 * se, 4),
                    fmt_sig(p.value + 1.96 * se, 4)
                ),
            ),
            _ => ("—".to_owned(), "—".to_owned()),
        };
        w(
            out,
            format_args!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                esc(&p.name),
                fmt_sig(p.value, 4),
                se,
                ci
            ),
        );
    }
    out.push_str("</tbody></table>\n");
}

fn diagnostics_table(out: &mut String, d: &pb::FitDiagnostics) {
    if !d.converged {
        w(
            out,
            format_args!(
                "<p class=\"warn\">The optimizer did not converge: {}</p>\n",
                esc(&d.message)
            ),
        );
    }
    let converged = if d.converged {
        "<span class=\"ok\">yes</span>".to_owned()
    } else {
        "<span class=\"bad\">no</span>".to_owned()
    };
    let rows = [
        ("Converged", converged),
        ("Method", esc(&d.method)),
        ("Log-likelihood", fmt_fixed(d.log_likelihood, 2)),
        ("AIC", fmt_fixed(d.aic, 2)),
        ("BIC", fmt_fixed(d.bic, 2)),
        ("Observations", fmt_num(d.observations)),
        ("Distinct rows", fmt_count(d.groups)),
        (
            "Iterations / evaluations",
            format!("{} / {}", fmt_count(d.iterations), fmt_count(d.evaluations)),
        ),
        ("Gradient norm", fmt_sci(d.gradient_norm)),
    ];
    out.push_str("<table><tbody>\n");
    for (k, v) in rows {
        w(
            out,
            format_args!("<tr><th>{k}</th><td class=\"n\">{v}</td></tr>\n"),
        );
    }
    out.push_str("</tbody></table>\n");
    if !d.warnings.is_empty() {
        out.push_str("<ul class=\"warnings\">\n");
        for warning in &d.warnings {
            w(out, format_args!("<li>{}</li>\n", esc(warning)));
        }
        out.push_str("</ul>\n");
    }
}

fn tracking_section(out: &mut String, tracking: Result<&Tracking, &String>) {
    let t = match tracking {
        Ok(t) if t.predicted.is_empty() => {
            return not_available(out, "the tracking calendar has no periods");
        }
        Ok(t) => t,
        Err(why) => return not_available(out, why),
    };
    let period = match t.period_days {
        7 => "week".to_owned(),
        1 => "day".to_owned(),
        n => format!("{n}-day period"),
    };
    let x: Vec<f64> = (1..=t.predicted.len()).map(|k| k as f64).collect();
    let has_actual = t.actual.len() == t.predicted.len();
    let marker = t
        .calibration_periods
        .filter(|c| c.is_finite())
        .map(|c| (c, "calibration end"));
    let mut cumulative = vec![Series {
        name: "predicted".into(),
        color: BLUE,
        dashed: true,
        points: x.iter().copied().zip(t.predicted.iter().copied()).collect(),
    }];
    let mut weekly = vec![Series {
        name: "predicted".into(),
        color: BLUE,
        dashed: true,
        points: x.iter().copied().zip(t.predicted_per_period()).collect(),
    }];
    if has_actual {
        cumulative.insert(
            0,
            Series {
                name: "actual".into(),
                color: INK,
                dashed: false,
                points: x.iter().copied().zip(t.actual.iter().copied()).collect(),
            },
        );
        weekly.insert(
            0,
            Series {
                name: "actual".into(),
                color: INK,
                dashed: false,
                points: x.iter().copied().zip(t.actual_per_period()).collect(),
            },
        );
    }
    w(
        out,
        format_args!(
            "<p>{} customers from {}; {} periods of {} days.</p>\n",
            fmt_count(t.customers),
            t.start,
            t.predicted.len(),
            t.period_days
        ),
    );
    out.push_str("<div class=\"grid\">\n");
    line_chart(
        out,
        &LineChart {
            id: "tracking-cumulative",
            title: "Cumulative repeat transactions, actual vs predicted",
            desc: "Line chart of cumulative repeat transactions by period since the start of the data; the vertical line marks the end of calibration.",
            x_label: &format!("{period}s since start"),
            y_label: "cumulative repeat transactions",
            series: &cumulative,
            marker,
        },
    );
    line_chart(
        out,
        &LineChart {
            id: "tracking-weekly",
            title: "Repeat transactions per period, actual vs predicted",
            desc: "Line chart of repeat transactions within each period.",
            x_label: &format!("{period}s since start"),
            y_label: "repeat transactions per period",
            series: &weekly,
            marker,
        },
    );
    out.push_str("</div>\n");
    // The numbers behind the curves at calibration end and at the last period.
    let last = t.predicted.len() - 1;
    let cal = t.calibration_period_index();
    out.push_str(
        "<table><thead><tr><th>Repeat transactions</th><th class=\"n\">Actual</th>\
         <th class=\"n\">Predicted</th><th class=\"n\">Difference</th></tr></thead><tbody>\n",
    );
    let mut row = |label: &str, actual: Option<f64>, predicted: f64| {
        let diff = actual
            .filter(|a| *a > 0.0)
            .map_or("—".to_owned(), |a| fmt_signed_pct((predicted - a) / a));
        w(
            out,
            format_args!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                esc(label),
                actual.map_or("—".to_owned(), fmt_num),
                fmt_num(predicted),
                diff
            ),
        );
    };
    let actual_at = |i: usize| has_actual.then(|| t.actual[i]);
    match cal {
        Some(c) => {
            row(
                &format!("Calibration ({period}s 1–{})", c + 1),
                actual_at(c),
                t.predicted[c],
            );
            if c < last {
                row(
                    &format!("Holdout ({period}s {}–{})", c + 2, last + 1),
                    actual_at(last).zip(actual_at(c)).map(|(a, b)| a - b),
                    t.predicted[last] - t.predicted[c],
                );
            }
        }
        None => row(
            &format!("All {} {period}s", last + 1),
            actual_at(last),
            t.predicted[last],
        ),
    }
    out.push_str("</tbody></table>\n");
}

fn calibration_section(out: &mut String, model: Result<&pb::Model, &String>, unit: &str) {
    let m = match model {
        Ok(m) => m,
        Err(why) => return not_available(out, why),
    };
    let Some(h) = &m.holdout else {
        return not_available(out, "the model was fitted without a holdout period");
    };
    let duration = h.duration.as_ref().map_or("—".to_owned(), |d| {
        format!("{} {unit}s", fmt_sig(d.value, 4))
    });
    out.push_str("<div class=\"grid\">\n<div>\n");
    if h.by_frequency.is_empty() {
        not_available(out, "the holdout metrics have no frequency table");
    } else {
        let labels: Vec<String> = h.by_frequency.iter().map(|b| b.label.clone()).collect();
        column_chart(
            out,
            &ColumnChart {
                id: "calibration-bins",
                title: "Mean holdout purchases by calibration frequency, actual vs predicted",
                desc: "Grouped column chart: for customers grouped by repeat purchases in calibration, the mean actual and mean predicted purchases in the holdout.",
                x_label: "repeat purchases in calibration",
                y_label: "mean holdout purchases",
                categories: &labels,
                series: &[
                    (
                        "actual",
                        SLATE,
                        h.by_frequency.iter().map(|b| b.mean_actual).collect(),
                    ),
                    (
                        "predicted",
                        BLUE,
                        h.by_frequency.iter().map(|b| b.mean_predicted).collect(),
                    ),
                ],
            },
        );
    }
    out.push_str("</div>\n<div class=\"tables\">\n");
    kv_table(
        out,
        &[
            ("Holdout length", duration),
            ("Customers", fmt_count(h.customers)),
            ("Actual repeat purchases", fmt_num(h.actual_total)),
            ("Predicted repeat purchases", fmt_num(h.predicted_total)),
            (
                "Predicted vs actual",
                if h.actual_total > 0.0 {
                    fmt_signed_pct((h.predicted_total - h.actual_total) / h.actual_total)
                } else {
                    "—".to_owned()
                },
            ),
            ("MAE per customer", fmt_sig(h.mae, 3)),
            ("RMSE per customer", fmt_sig(h.rmse, 3)),
            (
                "Pearson r",
                h.pearson_r.map_or("—".to_owned(), |r| fmt_fixed(r, 3)),
            ),
            (
                "AUC (any purchase)",
                h.auc.map_or("—".to_owned(), |a| fmt_fixed(a, 3)),
            ),
            ("Brier score", fmt_fixed(h.brier, 4)),
        ],
    );
    if !h.by_frequency.is_empty() {
        out.push_str(
            "<table><thead><tr><th>Frequency</th><th class=\"n\">Customers</th>\
             <th class=\"n\">Mean actual</th><th class=\"n\">Mean predicted</th></tr></thead><tbody>\n",
        );
        for b in &h.by_frequency {
            w(
                out,
                format_args!(
                    "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                    esc(&b.label),
                    fmt_count(b.customers),
                    fmt_fixed(b.mean_actual, 2),
                    fmt_fixed(b.mean_predicted, 2)
                ),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</div>\n</div>\n");
}

fn p_alive_section(
    out: &mut String,
    model: Result<&pb::Model, &String>,
    spec: Result<&PAliveMatrix, &String>,
    unit: &str,
) {
    let m = match model {
        Ok(m) => m,
        Err(why) => return not_available(out, why),
    };
    let spec = match spec {
        Ok(s) => *s,
        Err(why) => return not_available(out, why),
    };
    if !(spec.age.is_finite() && spec.age > 0.0) {
        return not_available(out, "the customer age for the matrix must be positive");
    }
    if spec.recency_steps == 0 || spec.max_frequency > 200 || spec.recency_steps > 200 {
        return not_available(
            out,
            "the matrix must have 1-200 recency steps and frequencies",
        );
    }
    let tm = match transaction_model_from_proto(m) {
        Ok(tm) => tm,
        Err(why) => return not_available(out, &why),
    };
    let steps = spec.recency_steps as usize;
    let recency: Vec<f64> = (0..=steps)
        .map(|j| spec.age * j as f64 / steps as f64)
        .collect();
    let cells: Vec<Vec<Option<f64>>> = (0..=spec.max_frequency)
        .map(|x| {
            recency
                .iter()
                .map(|&r| {
                    if x == 0 && r > 0.0 {
                        return None;
                    }
                    let c = Rfm {
                        frequency: x,
                        recency: r,
                        age: spec.age,
                    };
                    tm.p_alive(&c).ok().filter(|p| p.is_finite())
                })
                .collect()
        })
        .collect();
    w(
        out,
        format_args!(
            "<p>Probability that a customer is still active, {} {unit}s after the first purchase.</p>\n",
            fmt_sig(spec.age, 4)
        ),
    );
    heatmap(out, &recency, &cells, unit);
}

fn concentration_section(out: &mut String, segments: Result<&pb::SegmentResponse, &String>) {
    let s = match segments {
        Ok(s) => s,
        Err(why) => return not_available(out, why),
    };
    let Some(c) = &s.concentration else {
        return not_available(out, "the segmentation has no concentration figures");
    };
    if !(c.total_value.is_finite() && c.total_value > 0.0) {
        return not_available(out, "the customers' total value is zero");
    }
    let measure = value_measure(&s.value_measure);
    out.push_str("<div class=\"grid\">\n");
    lorenz_chart(out, c, measure);
    out.push_str("<div>\n");
    w(
        out,
        format_args!(
            "<p>Total {}: <b>{}</b>.</p>\n",
            esc(measure),
            fmt_num(c.total_value)
        ),
    );
    out.push_str(
        "<table><thead><tr><th>Most valuable</th><th class=\"n\">Share of value</th></tr></thead><tbody>\n",
    );
    for t in &c.top_shares {
        w(
            out,
            format_args!(
                "<tr><td>top {}</td><td class=\"n\">{}</td></tr>\n",
                fmt_pct(t.top_fraction),
                fmt_pct(t.value_share)
            ),
        );
    }
    out.push_str("</tbody></table>\n</div>\n</div>\n");
}

fn value_measure(m: &str) -> &str {
    match m {
        "clv" => "CLV",
        "expected_purchases" => "expected purchases",
        "" => "value",
        other => other,
    }
}

fn segments_section(out: &mut String, segments: Result<&pb::SegmentResponse, &String>) {
    let s = match segments {
        Ok(s) => s,
        Err(why) => return not_available(out, why),
    };
    let measure = value_measure(&s.value_measure);
    if let Some(ctx) = &s.context
        && let Some(h) = &ctx.horizon
    {
        w(
            out,
            format_args!(
                "<p>Value measure: {} over {} {}s.</p>\n",
                esc(measure),
                fmt_sig(h.value, 4),
                time_unit_from_proto(h.unit).map_or("period", TimeUnit::as_str)
            ),
        );
    }
    out.push_str("<div class=\"grid\">\n<div>\n<h3>Segments</h3>\n");
    if s.segments.is_empty() {
        not_available(out, "the response has no segments");
    } else {
        let names: Vec<String> = s.segments.iter().map(|p| p.name.clone()).collect();
        share_chart(
            out,
            "segment-shares",
            "Customer share vs value share by segment",
            &names,
            s.segments.iter().map(|p| p.customer_share).collect(),
            s.segments.iter().map(|p| p.value_share).collect(),
        );
    }
    out.push_str("</div>\n<div>\n<h3>Value tiers</h3>\n");
    if s.tiers.is_empty() {
        not_available(out, "the response has no tiers");
    } else {
        let names: Vec<String> = s.tiers.iter().map(|p| p.name.clone()).collect();
        share_chart(
            out,
            "tier-shares",
            "Customer share vs value share by tier",
            &names,
            s.tiers.iter().map(|p| p.customer_share).collect(),
            s.tiers.iter().map(|p| p.value_share).collect(),
        );
        group_table(out, &s.tiers, measure);
    }
    out.push_str("</div>\n</div>\n");
    if !s.segments.is_empty() {
        // Centroid features as columns, in the first segment's order.
        let features: Vec<&str> = s.segments[0]
            .centroid
            .iter()
            .map(|f| f.feature.as_str())
            .collect();
        w(
            out,
            format_args!(
                "<table><thead><tr><th>Segment</th><th class=\"n\">Customers</th>\
                 <th class=\"n\">Customer share</th><th class=\"n\">Total {}</th>\
                 <th class=\"n\">Value share</th>",
                esc(measure)
            ),
        );
        for f in &features {
            w(
                out,
                format_args!("<th class=\"n\">mean {}</th>", esc(&f.replace('_', " "))),
            );
        }
        out.push_str("</tr></thead><tbody>\n");
        for p in &s.segments {
            w(
                out,
                format_args!(
                    "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                    esc(&p.name),
                    fmt_count(p.customers),
                    fmt_pct(p.customer_share),
                    fmt_num(p.total_value),
                    fmt_pct(p.value_share)
                ),
            );
            for f in &features {
                let v = p.centroid.iter().find(|c| c.feature == *f).map(|c| c.value);
                w(
                    out,
                    format_args!(
                        "<td class=\"n\">{}</td>",
                        v.map_or("—".to_owned(), |v| fmt_sig(v, 3))
                    ),
                );
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
    if !s.silhouette_by_k.is_empty() {
        let text: Vec<String> = s
            .silhouette_by_k
            .iter()
            .map(|k| format!("k = {}: {}", k.k, fmt_fixed(k.silhouette, 3)))
            .collect();
        w(
            out,
            format_args!(
                "<p class=\"sub\">Silhouette by number of segments: {}.</p>\n",
                esc(&text.join("; "))
            ),
        );
    }
}

fn group_table(out: &mut String, groups: &[pb::GroupProfile], measure: &str) {
    w(
        out,
        format_args!(
            "<table><thead><tr><th>Tier</th><th class=\"n\">Customers</th>\
             <th class=\"n\">Customer share</th><th class=\"n\">Total {}</th>\
             <th class=\"n\">Value share</th></tr></thead><tbody>\n",
            esc(measure)
        ),
    );
    for g in groups {
        w(
            out,
            format_args!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                esc(&g.name),
                fmt_count(g.customers),
                fmt_pct(g.customer_share),
                fmt_num(g.total_value),
                fmt_pct(g.value_share)
            ),
        );
    }
    out.push_str("</tbody></table>\n");
}

fn budget_section(out: &mut String, recommendations: Result<&pb::RecommendResponse, &String>) {
    let r = match recommendations {
        Ok(r) => r,
        Err(why) => return not_available(out, why),
    };
    out.push_str("<div class=\"grid\">\n<div>\n");
    match &r.plan {
        None => not_available(out, "no budget was given to allocate"),
        Some(p) => {
            kv_table(
                out,
                &[
                    ("Budget", fmt_num(p.budget)),
                    ("Spent", fmt_num(p.spent)),
                    ("Customers funded", fmt_count(p.customers_funded)),
                    (
                        "Expected incremental value",
                        fmt_num(p.expected_incremental_value),
                    ),
                    ("ROI", p.roi.map_or("—".to_owned(), fmt_pct)),
                    (
                        "Marginal value of budget",
                        format!("{} per unit", fmt_sig(p.marginal_value, 3)),
                    ),
                ],
            );
            actions_table(out, "Funded actions", &p.by_action);
        }
    }
    out.push_str("</div>\n<div>\n");
    match &r.plan {
        Some(p) if !p.by_action.is_empty() => {
            let names: Vec<String> = p.by_action.iter().map(|a| a.action.clone()).collect();
            bar_chart(
                out,
                &BarChart {
                    id: "budget-actions",
                    title: "Budget plan by action: spent vs expected incremental value",
                    desc: "Grouped bar chart of the budget spent on each action and the net incremental value expected from it.",
                    categories: &names,
                    series: &[
                        (
                            "spent",
                            RED,
                            p.by_action.iter().map(|a| a.total_cost).collect(),
                        ),
                        (
                            "incremental value",
                            GREEN,
                            p.by_action
                                .iter()
                                .map(|a| a.total_incremental_value)
                                .collect(),
                        ),
                    ],
                    percent: false,
                },
            );
        }
        Some(_) => not_available(out, "the plan funds no action"),
        None => {}
    }
    out.push_str("</div>\n</div>\n");
    if !r.by_action.is_empty() {
        actions_table(out, "Recommended actions (all customers)", &r.by_action);
    }
    if let Some(e) = &r.economics {
        let action = |name: &str, a: &Option<pb::ActionAssumption>| {
            a.as_ref().map_or(format!("{name}: default"), |a| {
                format!(
                    "{name}: cost {}, uplift {}",
                    fmt_sig(a.cost, 3),
                    fmt_pct(a.uplift)
                )
            })
        };
        let parts = [
            e.margin
                .map_or(String::new(), |m| format!("margin {}", fmt_pct(m))),
            e.cost_to_serve.map_or(String::new(), |c| {
                format!("cost to serve {}", fmt_sig(c, 3))
            }),
            action("retain", &e.retain),
            action("grow", &e.grow),
            action("nurture", &e.nurture),
        ];
        let text: Vec<&str> = parts
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        w(
            out,
            format_args!(
                "<p class=\"sub\">Assumptions: {}.</p>\n",
                esc(&text.join("; "))
            ),
        );
    }
}

fn actions_table(out: &mut String, caption: &str, actions: &[pb::ActionSummary]) {
    w(
        out,
        format_args!(
            "<h3>{}</h3>\n<table><thead><tr><th>Action</th><th class=\"n\">Customers</th>\
             <th class=\"n\">Cost</th><th class=\"n\">Incremental value</th>\
             <th class=\"n\">ROI</th></tr></thead><tbody>\n",
            esc(caption)
        ),
    );
    for a in actions {
        let roi = if a.total_cost > 0.0 {
            fmt_pct(a.total_incremental_value / a.total_cost)
        } else {
            "—".to_owned()
        };
        w(
            out,
            format_args!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                esc(&a.action),
                fmt_count(a.customers),
                fmt_num(a.total_cost),
                fmt_num(a.total_incremental_value),
                roi
            ),
        );
    }
    out.push_str("</tbody></table>\n");
}

fn kv_table(out: &mut String, rows: &[(&str, String)]) {
    out.push_str("<table><tbody>\n");
    for (k, v) in rows {
        w(
            out,
            format_args!("<tr><th>{}</th><td>{}</td></tr>\n", esc(k), esc(v)),
        );
    }
    out.push_str("</tbody></table>\n");
}

// ---------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------

/// A plot area inside an SVG of `width` × `height`.
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, v: f64) -> f64 {
        let (lo, hi) = self.x;
        let span = if hi > lo { hi - lo } else { 1.0 };
        finite(self.left + (v - lo) / span * (self.width - self.left - self.right))
    }

    fn py(&self, v: f64) -> f64 {
        let (lo, hi) = self.y;
        let span = if hi > lo { hi - lo } else { 1.0 };
        finite(self.height - self.bottom - (v - lo) / span * (self.height - self.top - self.bottom))
    }

    fn plot_left(&self) -> f64 {
        self.left
    }
    fn plot_right(&self) -> f64 {
        self.width - self.right
    }
    fn plot_top(&self) -> f64 {
        self.top
    }
    fn plot_bottom(&self) -> f64 {
        self.height - self.bottom
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

fn svg_open(out: &mut String, id: &str, title: &str, desc: &str, width: f64, height: f64) {
    w(
        out,
        format_args!(
            "<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" viewBox=\"0 0 {width} {height}\" \
             width=\"{width}\" height=\"{height}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\n\
             <title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n\
             <rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n",
            esc(title),
            esc(desc)
        ),
    );
}

fn svg_close(out: &mut String) {
    out.push_str("</svg>\n</figure>\n");
}

/// About `target` round tick values covering [lo, hi].
fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![finite(lo)];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Rounds `hi` up to a tick of a nice scale.
fn nice_max(hi: f64) -> f64 {
    if !(hi.is_finite() && hi > 0.0) {
        return 1.0;
    }
    let ticks = nice_ticks(0.0, hi, 5);
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        hi
    };
    (hi / step).ceil() * step
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, size: u32, color: &str, body: &str) {
    w(
        out,
        format_args!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"{size}\" fill=\"{color}\">{}</text>\n",
            finite(x),
            finite(y),
            esc(body)
        ),
    );
}

fn chart_title(out: &mut String, f: &Frame, title: &str) {
    text(out, f.width / 2.0, 18.0, "middle", 14, INK, title);
}

/// Y grid lines with labels, the x axis line, and the axis titles.
fn y_axis(out: &mut String, f: &Frame, ticks: &[f64], label: &dyn Fn(f64) -> String) {
    for &t in ticks {
        let y = f.py(t);
        w(
            out,
            format_args!(
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\n",
                f.plot_left(),
                f.plot_right()
            ),
        );
        text(
            out,
            f.plot_left() - 6.0,
            y + 4.0,
            "end",
            11,
            MUTED,
            &label(t),
        );
    }
}

fn axis_titles(out: &mut String, f: &Frame, x_label: &str, y_label: &str) {
    text(
        out,
        (f.plot_left() + f.plot_right()) / 2.0,
        f.height - 8.0,
        "middle",
        12,
        MUTED,
        x_label,
    );
    let (x, y) = (14.0, (f.plot_top() + f.plot_bottom()) / 2.0);
    w(
        out,
        format_args!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"12\" fill=\"{MUTED}\" \
             transform=\"rotate(-90 {x:.1} {y:.1})\">{}</text>\n",
            esc(y_label)
        ),
    );
}

fn frame_lines(out: &mut String, f: &Frame) {
    w(
        out,
        format_args!(
            "<line x1=\"{l:.1}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\" stroke=\"{INK}\"/>\n\
             <line x1=\"{l:.1}\" y1=\"{t:.1}\" x2=\"{l:.1}\" y2=\"{b:.1}\" stroke=\"{INK}\"/>\n",
            l = f.plot_left(),
            r = f.plot_right(),
            t = f.plot_top(),
            b = f.plot_bottom()
        ),
    );
}

/// A legend row at the top right: (name, colour, dashed line or filled box).
fn legend(out: &mut String, f: &Frame, items: &[(&str, &str, Option<bool>)]) {
    let mut x = f.plot_right();
    let y = f.plot_top() - 8.0;
    for (name, color, line) in items.iter().rev() {
        let width = 7.0 * name.chars().count() as f64 + 30.0;
        x -= width;
        match line {
            Some(dashed) => w(
                out,
                format_args!(
                    "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"2.5\"{}/>\n",
                    x,
                    y - 4.0,
                    x + 18.0,
                    y - 4.0,
                    if *dashed {
                        " stroke-dasharray=\"6 3\""
                    } else {
                        ""
                    }
                ),
            ),
            None => w(
                out,
                format_args!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"10\" fill=\"{color}\"/>\n",
                    x,
                    y - 9.0
                ),
            ),
        }
        text(out, x + 22.0, y, "start", 11, INK, name);
    }
}

struct Series<'a> {
    name: String,
    color: &'a str,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

struct LineChart<'a> {
    id: &'a str,
    title: &'a str,
    desc: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series<'a>],
    /// A vertical line at x with a label.
    marker: Option<(f64, &'a str)>,
}

fn line_chart(out: &mut String, c: &LineChart<'_>) {
    let points = || {
        c.series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let x_max = points().map(|p| p.0).fold(1.0, f64::max);
    let y_max = nice_max(points().map(|p| p.1).fold(0.0, f64::max));
    let y_min = points().map(|p| p.1).fold(0.0, f64::min);
    let f = Frame {
        width: 560.0,
        height: 300.0,
        left: 64.0,
        right: 16.0,
        top: 44.0,
        bottom: 44.0,
        x: (0.0, x_max),
        y: (y_min, y_max),
    };
    svg_open(out, c.id, c.title, c.desc, f.width, f.height);
    chart_title(out, &f, c.title);
    y_axis(out, &f, &nice_ticks(y_min, y_max, 5), &|v| fmt_num(v));
    for t in nice_ticks(0.0, x_max, 8) {
        let x = f.px(t);
        w(
            out,
            format_args!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{INK}\"/>\n",
                f.plot_bottom(),
                f.plot_bottom() + 4.0
            ),
        );
        text(
            out,
            x,
            f.plot_bottom() + 16.0,
            "middle",
            11,
            MUTED,
            &fmt_num(t),
        );
    }
    if let Some((mx, label)) = c.marker {
        let x = f.px(mx);
        w(
            out,
            format_args!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{MUTED}\" stroke-dasharray=\"4 4\"/>\n",
                f.plot_top(),
                f.plot_bottom()
            ),
        );
        text(out, x - 4.0, f.plot_top() + 12.0, "end", 11, MUTED, label);
    }
    frame_lines(out, &f);
    for s in c.series {
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", f.px(x), f.py(y)))
            .collect();
        if path.is_empty() {
            continue;
        }
        w(
            out,
            format_args!(
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\"{} points=\"{}\"><title>{}</title></polyline>\n",
                s.color,
                if s.dashed {
                    " stroke-dasharray=\"7 4\""
                } else {
                    ""
                },
                path.join(" "),
                esc(&s.name)
            ),
        );
    }
    let items: Vec<(&str, &str, Option<bool>)> = c
        .series
        .iter()
        .map(|s| (s.name.as_str(), s.color, Some(s.dashed)))
        .collect();
    legend(out, &f, &items);
    axis_titles(out, &f, c.x_label, c.y_label);
    svg_close(out);
}

struct ColumnChart<'a> {
    id: &'a str,
    title: &'a str,
    desc: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    categories: &'a [String],
    series: &'a [(&'a str, &'a str, Vec<f64>)],
}

/// Vertical grouped columns, one group per category.
fn column_chart(out: &mut String, c: &ColumnChart<'_>) {
    let values = || {
        c.series
            .iter()
            .flat_map(|s| s.2.iter().copied())
            .filter(|v| v.is_finite())
    };
    let y_max = nice_max(values().fold(0.0, f64::max));
    let n = c.categories.len().max(1) as f64;
    let f = Frame {
        width: 560.0,
        height: 300.0,
        left: 64.0,
        right: 16.0,
        top: 44.0,
        bottom: 44.0,
        x: (0.0, n),
        y: (0.0, y_max),
    };
    svg_open(out, c.id, c.title, c.desc, f.width, f.height);
    chart_title(out, &f, c.title);
    y_axis(out, &f, &nice_ticks(0.0, y_max, 5), &|v| fmt_num(v));
    let slot = f.px(1.0) - f.px(0.0);
    let k = c.series.len().max(1) as f64;
    let bar = slot * 0.8 / k;
    for (i, cat) in c.categories.iter().enumerate() {
        let x0 = f.px(i as f64) + slot * 0.1;
        for (j, (name, color, vals)) in c.series.iter().enumerate() {
            let v = vals
                .get(i)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            let (top, bottom) = (f.py(v.max(0.0)), f.py(0.0));
            w(
                out,
                format_args!(
                    "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {} {}</title></rect>\n",
                    x0 + j as f64 * bar,
                    (bar - 1.0).max(1.0),
                    (bottom - top).max(0.0),
                    esc(cat),
                    esc(name),
                    fmt_sig(v, 3)
                ),
            );
        }
        text(
            out,
            f.px(i as f64 + 0.5),
            f.plot_bottom() + 16.0,
            "middle",
            11,
            MUTED,
            cat,
        );
    }
    frame_lines(out, &f);
    let items: Vec<(&str, &str, Option<bool>)> =
        c.series.iter().map(|s| (s.0, s.1, None)).collect();
    legend(out, &f, &items);
    axis_titles(out, &f, c.x_label, c.y_label);
    svg_close(out);
}

struct BarChart<'a> {
    id: &'a str,
    title: &'a str,
    desc: &'a str,
    categories: &'a [String],
    series: &'a [(&'a str, &'a str, Vec<f64>)],
    /// Values are shares, labelled as percentages.
    percent: bool,
}

/// Horizontal grouped bars, one group per category (labels on the left).
fn bar_chart(out: &mut String, c: &BarChart<'_>) {
    let values = || {
        c.series
            .iter()
            .flat_map(|s| s.2.iter().copied())
            .filter(|v| v.is_finite())
    };
    let hi = if c.percent {
        nice_max(values().fold(0.0, f64::max)).min(1.0)
    } else {
        nice_max(values().fold(0.0, f64::max))
    };
    let lo = values().fold(0.0, f64::min);
    let lo = if lo < 0.0 { -nice_max(-lo) } else { 0.0 };
    let n = c.categories.len().max(1);
    let k = c.series.len().max(1);
    let row = (8.0 + 14.0 * k as f64).max(24.0);
    let label_width = c
        .categories
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 28) as f64
        * 6.6
        + 14.0;
    let f = Frame {
        width: 560.0,
        height: 44.0 + 40.0 + row * n as f64,
        left: label_width,
        right: 56.0,
        top: 44.0,
        bottom: 40.0,
        x: (lo, hi),
        y: (0.0, n as f64),
    };
    let fmt = |v: f64| if c.percent { fmt_pct(v) } else { fmt_num(v) };
    svg_open(out, c.id, c.title, c.desc, f.width, f.height);
    chart_title(out, &f, c.title);
    for t in nice_ticks(lo, hi, 5) {
        let x = f.px(t);
        w(
            out,
            format_args!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{GRID}\"/>\n",
                f.plot_top(),
                f.plot_bottom()
            ),
        );
        text(out, x, f.plot_bottom() + 16.0, "middle", 11, MUTED, &fmt(t));
    }
    let band = (f.plot_bottom() - f.plot_top()) / n as f64;
    let bar = (band - 8.0) / k as f64;
    let zero = f.px(0.0);
    for (i, cat) in c.categories.iter().enumerate() {
        let y0 = f.plot_top() + band * i as f64 + 4.0;
        let shown: String = if cat.chars().count() > 28 {
            cat.chars().take(27).collect::<String>() + "…"
        } else {
            cat.clone()
        };
        text(
            out,
            f.plot_left() - 6.0,
            y0 + band / 2.0,
            "end",
            11,
            INK,
            &shown,
        );
        for (j, (name, color, vals)) in c.series.iter().enumerate() {
            let v = vals
                .get(i)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            let x = f.px(v);
            let (left, width) = if x >= zero {
                (zero, x - zero)
            } else {
                (x, zero - x)
            };
            let y = y0 + bar * j as f64;
            w(
                out,
                format_args!(
                    "<rect x=\"{left:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {} {}</title></rect>\n",
                    width.max(0.5),
                    (bar - 1.0).max(1.0),
                    esc(cat),
                    esc(name),
                    fmt(v)
                ),
            );
            text(
                out,
                left + width + 4.0,
                y + bar / 2.0 + 3.5,
                "start",
                10,
                MUTED,
                &fmt(v),
            );
        }
    }
    w(
        out,
        format_args!(
            "<line x1=\"{zero:.1}\" y1=\"{:.1}\" x2=\"{zero:.1}\" y2=\"{:.1}\" stroke=\"{INK}\"/>\n",
            f.plot_top(),
            f.plot_bottom()
        ),
    );
    let items: Vec<(&str, &str, Option<bool>)> =
        c.series.iter().map(|s| (s.0, s.1, None)).collect();
    legend(out, &f, &items);
    svg_close(out);
}

fn share_chart(
    out: &mut String,
    id: &str,
    title: &str,
    names: &[String],
    customer_share: Vec<f64>,
    value_share: Vec<f64>,
) {
    bar_chart(
        out,
        &BarChart {
            id,
            title,
            desc: "Horizontal bar chart: each group's share of customers next to its share of total value.",
            categories: names,
            series: &[
                ("customer share", BLUE, customer_share),
                ("value share", AMBER, value_share),
            ],
            percent: true,
        },
    );
}

/// Viridis, 0 → 1.
const RAMP: [(f64, [u8; 3]); 5] = [
    (0.0, [0x44, 0x01, 0x54]),
    (0.25, [0x3b, 0x52, 0x8b]),
    (0.5, [0x21, 0x91, 0x8c]),
    (0.75, [0x5e, 0xc9, 0x62]),
    (1.0, [0xfd, 0xe7, 0x25]),
];

fn ramp(v: f64) -> String {
    let v = finite(v).clamp(0.0, 1.0);
    let mut rgb = RAMP[RAMP.len() - 1].1;
    for pair in RAMP.windows(2) {
        let ((a, ca), (b, cb)) = (pair[0], pair[1]);
        if v <= b {
            let t = if b > a { (v - a) / (b - a) } else { 0.0 };
            for i in 0..3 {
                rgb[i] =
                    (f64::from(ca[i]) + t * (f64::from(cb[i]) - f64::from(ca[i]))).round() as u8;
            }
            break;
        }
    }
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

/// P(alive) cells: rows = frequency (0 at the bottom), columns = recency.
fn heatmap(out: &mut String, recency: &[f64], cells: &[Vec<Option<f64>>], unit: &str) {
    let rows = cells.len().max(1);
    let cols = recency.len().max(1);
    let cell_w = (440.0 / cols as f64).clamp(4.0, 40.0);
    let cell_h = (360.0 / rows as f64).clamp(4.0, 24.0);
    let f = Frame {
        width: 64.0 + cell_w * cols as f64 + 110.0,
        height: 44.0 + cell_h * rows as f64 + 48.0,
        left: 64.0,
        right: 110.0,
        top: 44.0,
        bottom: 48.0,
        x: (0.0, cols as f64),
        y: (0.0, rows as f64),
    };
    let title = "P(alive) by repeat purchases and recency";
    let desc = format!(
        "Heatmap: rows are repeat purchases (0 at the bottom), columns the time from the first to the last purchase in {unit}s; colour is the probability the customer is still active."
    );
    svg_open(out, "p-alive-matrix", title, &desc, f.width, f.height);
    chart_title(out, &f, title);
    for (x, row) in cells.iter().enumerate() {
        let y = f.py(x as f64 + 1.0);
        for (j, cell) in row.iter().enumerate() {
            let px = f.px(j as f64);
            let fill = cell.map_or_else(|| "#f3f4f6".to_owned(), ramp);
            let tip = match cell {
                Some(p) => format!(
                    "{x} repeat purchases, last at {} {unit}s: P(alive) {}",
                    fmt_sig(recency[j], 3),
                    fmt_fixed(*p, 3)
                ),
                None => format!(
                    "{x} repeat purchases cannot have recency {}",
                    fmt_sig(recency[j], 3)
                ),
            };
            w(
                out,
                format_args!(
                    "<rect x=\"{px:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" shape-rendering=\"crispEdges\"><title>{}</title></rect>\n",
                    cell_w + 0.3,
                    cell_h + 0.3,
                    esc(&tip)
                ),
            );
        }
    }
    // Frequency labels every few rows, recency labels every few columns.
    let row_step = (rows as f64 / 10.0).ceil().max(1.0) as usize;
    for x in (0..rows).step_by(row_step) {
        text(
            out,
            f.plot_left() - 6.0,
            f.py(x as f64 + 0.5) + 4.0,
            "end",
            11,
            MUTED,
            &x.to_string(),
        );
    }
    let col_step = (cols as f64 / 6.0).ceil().max(1.0) as usize;
    for j in (0..cols).step_by(col_step) {
        text(
            out,
            f.px(j as f64 + 0.5),
            f.plot_bottom() + 16.0,
            "middle",
            11,
            MUTED,
            &fmt_sig(recency[j], 3),
        );
    }
    // Colour scale.
    let lx = f.plot_right() + 24.0;
    let (top, bottom) = (f.plot_top(), f.plot_bottom());
    out.push_str("<defs><linearGradient id=\"p-alive-ramp\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
    for (stop, _) in RAMP {
        w(
            out,
            format_args!("<stop offset=\"{stop}\" stop-color=\"{}\"/>", ramp(stop)),
        );
    }
    out.push_str("</linearGradient></defs>\n");
    w(
        out,
        format_args!(
            "<rect x=\"{lx:.1}\" y=\"{top:.1}\" width=\"16\" height=\"{:.1}\" fill=\"url(#p-alive-ramp)\" stroke=\"{GRID}\"/>\n",
            bottom - top
        ),
    );
    for v in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = bottom - v * (bottom - top);
        text(
            out,
            lx + 22.0,
            y + 4.0,
            "start",
            11,
            MUTED,
            &fmt_fixed(v, 2),
        );
    }
    axis_titles(
        out,
        &f,
        &format!("recency: time of the last purchase ({unit}s after the first)"),
        "repeat purchases",
    );
    svg_close(out);
}

/// Share of value held by the top x% of customers.
fn lorenz_chart(out: &mut String, c: &pb::Concentration, measure: &str) {
    let f = Frame {
        width: 520.0,
        height: 360.0,
        left: 64.0,
        right: 20.0,
        top: 44.0,
        bottom: 44.0,
        x: (0.0, 1.0),
        y: (0.0, 1.0),
    };
    let title = format!("Share of total {measure} held by the most valuable customers");
    let desc = "Concentration curve: the share of total value held by the top x% of customers, against the diagonal of equal value.";
    svg_open(out, "concentration-curve", &title, desc, f.width, f.height);
    chart_title(out, &f, &title);
    let ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
    y_axis(out, &f, &ticks, &fmt_pct);
    for t in ticks {
        text(
            out,
            f.px(t),
            f.plot_bottom() + 16.0,
            "middle",
            11,
            MUTED,
            &fmt_pct(t),
        );
    }
    w(
        out,
        format_args!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{MUTED}\" stroke-dasharray=\"4 4\"/>\n",
            f.px(0.0),
            f.py(0.0),
            f.px(1.0),
            f.py(1.0)
        ),
    );
    // The 101-point curve, or the top shares when the curve is missing.
    let mut points: Vec<(f64, f64)> = if c.curve.len() >= 2 {
        let n = (c.curve.len() - 1) as f64;
        c.curve
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64 / n, v))
            .collect()
    } else {
        std::iter::once((0.0, 0.0))
            .chain(c.top_shares.iter().map(|t| (t.top_fraction, t.value_share)))
            .collect()
    };
    points.retain(|(x, y)| x.is_finite() && y.is_finite());
    let line: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", f.px(x), f.py(y.clamp(0.0, 1.0))))
        .collect();
    w(
        out,
        format_args!(
            "<polygon fill=\"{PURPLE}\" fill-opacity=\"0.15\" stroke=\"none\" points=\"{:.1},{:.1} {} {:.1},{:.1}\"/>\n\
             <polyline fill=\"none\" stroke=\"{PURPLE}\" stroke-width=\"2.5\" points=\"{}\"/>\n",
            f.px(0.0),
            f.py(0.0),
            line.join(" "),
            f.px(points.last().map_or(1.0, |p| p.0)),
            f.py(0.0),
            line.join(" ")
        ),
    );
    for t in c.top_shares.iter().filter(|t| t.top_fraction < 0.999) {
        let (x, y) = (f.px(t.top_fraction), f.py(t.value_share.clamp(0.0, 1.0)));
        w(
            out,
            format_args!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{PURPLE}\"><title>top {}: {}</title></circle>\n",
                fmt_pct(t.top_fraction),
                fmt_pct(t.value_share)
            ),
        );
        if t.top_fraction >= 0.05 {
            text(
                out,
                x + 6.0,
                y + 14.0,
                "start",
                10,
                INK,
                &format!(
                    "top {}: {}",
                    fmt_pct(t.top_fraction),
                    fmt_pct(t.value_share)
                ),
            );
        }
    }
    frame_lines(out, &f);
    axis_titles(
        out,
        &f,
        "most valuable customers (share of all)",
        "share of total value",
    );
    svg_close(out);
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Digits with thousands separators.
fn group_digits(digits: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `v` with `decimals` decimals and thousands separators; "—" when not finite.
pub fn fmt_fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let negative = v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0');
    let mut out = String::new();
    if negative {
        out.push('−');
    }
    out.push_str(&group_digits(int));
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A count with thousands separators.
pub fn fmt_count(v: u64) -> String {
    group_digits(&v.to_string())
}

/// A quantity for people: no decimals from 1,000 on, fewer decimals as it grows.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 1000.0 || a == 0.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    if a != 0.0 && v.fract() == 0.0 && a < 1e15 {
        return fmt_fixed(v, 0);
    }
    fmt_fixed(v, decimals)
}

/// `sig` significant digits (no exponent; thousands separators).
pub fn fmt_sig(v: f64, sig: usize) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let magnitude = v.abs().log10().floor() as i64;
    let decimals = (sig as i64 - 1 - magnitude).clamp(0, 12) as usize;
    fmt_fixed(v, decimals)
}

/// Scientific notation for small diagnostics, e.g. "3.2 × 10⁻⁸".
fn fmt_sci(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e6) {
        return fmt_sig(v, 3);
    }
    let exp = v.abs().log10().floor() as i32;
    let mantissa = v / 10f64.powi(exp);
    let sup: String = exp
        .to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect();
    format!("{} × 10{sup}", fmt_fixed(mantissa, 1))
}

/// A share as a percentage: "64.2%", "0.35%", "100%".
pub fn fmt_pct(share: f64) -> String {
    if !share.is_finite() {
        return "—".to_owned();
    }
    // Ticks such as 0.6 are 60.00000000000001 in percent.
    let p = (share * 100.0 * 1e9).round() / 1e9;
    let decimals = if p == p.round() {
        0
    } else if p.abs() < 1.0 {
        2
    } else {
        1
    };
    format!("{}%", fmt_fixed(p, decimals))
}

fn fmt_signed_pct(share: f64) -> String {
    if share > 0.0 {
        format!("+{}", fmt_pct(share))
    } else {
        fmt_pct(share)
    }
}

fn fmt_date(seconds: i64) -> String {
    custval_model::data::summary::Day(seconds.div_euclid(86_400) as i32).to_string()
}

fn fmt_time(seconds: i64) -> String {
    let s = seconds.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        fmt_date(seconds),
        s / 3600,
        (s % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(fmt_fixed(1234567.891, 2), "1,234,567.89");
        assert_eq!(fmt_fixed(-9582.4321, 1), "−9,582.4");
        assert_eq!(fmt_fixed(-0.0001, 2), "0.00");
        assert_eq!(fmt_fixed(f64::NAN, 2), "—");
        assert_eq!(fmt_count(2357), "2,357");
        assert_eq!(fmt_count(100), "100");
        assert_eq!(fmt_num(1882.0), "1,882");
        assert_eq!(fmt_num(1654.37), "1,654");
        assert_eq!(fmt_num(12.3456), "12.35");
        assert_eq!(fmt_num(0.01234), "0.012");
        assert_eq!(fmt_sig(0.2426, 4), "0.2426");
        assert_eq!(fmt_sig(4.414, 4), "4.414");
        assert_eq!(fmt_sig(12345.6, 3), "12,346");
        assert_eq!(fmt_pct(0.642), "64.2%");
        assert_eq!(fmt_pct(1.0), "100%");
        assert_eq!(fmt_pct(0.0035), "0.35%");
        assert_eq!(fmt_pct(0.6000000000000001), "60%");
        assert_eq!(fmt_signed_pct(-0.121), "−12.1%");
        assert_eq!(fmt_sci(3.2e-8), "3.2 × 10⁻⁸");
        assert_eq!(fmt_date(0), "1970-01-01");
        assert_eq!(fmt_time(86_400 + 3_660), "1970-01-02 01:01 UTC");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<b>\"Tom\" & 'Jerry'</b>"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_max(4166.0), 5000.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(ramp(0.0), "#440154");
        assert_eq!(ramp(1.0), "#fde725");
        assert_eq!(ramp(f64::NAN), "#440154");
    }

    #[test]
    fn an_empty_report_says_what_is_missing() {
        let mut data = ReportData::new("Model <x>");
        data.segments = Err("Segment failed: UNAVAILABLE".into());
        let html = render(&data);
        assert!(html.contains("<h1>Model &lt;x&gt;</h1>"));
        for id in SECTIONS {
            assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
        }
        assert!(html.contains("not available: Segment failed: UNAVAILABLE"));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn proto_params_become_a_model() {
        let param = |name: &str, value: f64| pb::Parameter {
            name: name.into(),
            value,
            standard_error: None,
        };
        let mut m = pb::Model {
            transaction_model: pb::TransactionModelKind::ParetoNbd as i32,
            params: vec![
                param("r", 0.55),
                param("alpha", 10.58),
                param("s", 0.61),
                param("beta", 11.67),
            ],
            ..Default::default()
        };
        assert_eq!(
            transaction_model_from_proto(&m).unwrap(),
            TransactionModel::ParetoNbd(ParetoNbdParams::new(0.55, 10.58, 0.61, 11.67).unwrap())
        );
        m.transaction_model = pb::TransactionModelKind::BgNbd as i32;
        assert!(
            transaction_model_from_proto(&m)
                .unwrap_err()
                .contains("\"a\"")
        );
        m.transaction_model = 0;
        assert!(transaction_model_from_proto(&m).is_err());
    }
}
