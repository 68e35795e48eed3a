//! The HTML page: its style, its sections in order, and the sections about the model
//! (overview, fit, tracking, calibration, P(alive)). The sections about customers are in
//! [`super::customers`]; the charts in [`super::chart`].

use custval_model::TimeUnit;
use custval_model::predict::tracking::Tracking;
use custval_proto::v1 as pb;

use super::backtest::backtest_section;
use super::chart::{
    BLUE, ColumnChart, INK, LineChart, SLATE, Series, column_chart, heatmap, line_chart,
};
use super::customers::{budget_section, concentration_section, segments_section};
use super::gains::{deciles_section, gain_section};
use super::text::{
    esc, fmt_count, fmt_date, fmt_fixed, fmt_num, fmt_pct, fmt_sci, fmt_sig, fmt_signed_pct,
    fmt_time, kv_table, not_available, w,
};
use super::{PAliveMatrix, ReportData, time_unit_from_proto};

/// Section ids, in page order.
pub const SECTIONS: [&str; 12] = [
    "model",
    "fit",
    "tracking",
    "calibration",
    "ranking",
    "deciles",
    "gain",
    "backtest",
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
    section(
        &mut out,
        "ranking",
        "Ranking against naive baselines",
        |o| ranking_section(o, model),
    );
    section(
        &mut out,
        "deciles",
        "Decile calibration: predicted against actual",
        |o| deciles_section(o, model),
    );
    section(
        &mut out,
        "gain",
        "Gain curves: the model and the baselines",
        |o| gain_section(o, model),
    );
    section(
        &mut out,
        "backtest",
        "Backtest over several holdouts",
        |o| backtest_section(o, data.backtest.as_ref()),
    );
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

fn section(out: &mut String, id: &str, heading: &str, body: impl FnOnce(&mut String)) {
    w(
        out,
        format_args!("<section id=\"{id}\">\n<h2>{}</h2>\n", esc(heading)),
    );
    body(out);
    out.push_str("</section>\n");
}

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
                ("Transaction model", family_title(m)),
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

/// The family's title where this build knows the family, else its name as the server gave it.
fn family_title(m: &pb::Model) -> String {
    match custval_wire::models::family(&m.family, m.transaction_model, "model") {
        Ok(f) => f.title().to_owned(),
        Err(_) if !m.family.is_empty() => m.family.clone(),
        Err(_) => "unspecified".to_owned(),
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
            esc(&family_title(m))
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

/// How the model ranks customers by their holdout purchases (and revenue) beside the naive
/// baselines on the same customers, and where it loses.
fn ranking_section(out: &mut String, model: Result<&pb::Model, &String>) {
    let m = match model {
        Ok(m) => m,
        Err(why) => return not_available(out, why),
    };
    let Some(h) = &m.holdout else {
        return not_available(out, "the model was fitted without a holdout period");
    };
    let rankings: Vec<&pb::HoldoutRanking> = h
        .purchases_ranking
        .iter()
        .chain(&h.revenue_ranking)
        .collect();
    if rankings.is_empty() {
        return not_available(
            out,
            "the holdout metrics have no rankings (an older server)",
        );
    }
    let gini = |v: Option<f64>| v.map_or("—".to_owned(), |g| fmt_fixed(g, 3));
    let top = |m: &pb::RankingMetrics, share: f64| {
        m.top
            .iter()
            .find(|t| (t.customer_share - share).abs() < 1e-9)
            .map_or("—".to_owned(), |t| fmt_pct(t.outcome_share))
    };
    for r in rankings {
        w(
            out,
            format_args!("<h3>Customers ranked by holdout {}</h3>\n", esc(&r.outcome)),
        );
        out.push_str(
            "<table><thead><tr><th>score</th><th>normalized Gini</th><th>top 1 %</th>\
             <th>top 10 %</th><th>MAE</th><th>what it is</th></tr></thead><tbody>\n",
        );
        let model_metrics = r.model.clone().unwrap_or_default();
        let rows =
            std::iter::once(("model", "", model_metrics)).chain(r.baselines.iter().map(|b| {
                let metrics = b.metrics.clone().unwrap_or_default();
                (b.name.as_str(), b.description.as_str(), metrics)
            }));
        for (name, description, metrics) in rows {
            w(
                out,
                format_args!(
                    "<tr><th>{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                    esc(name),
                    gini(metrics.normalized_gini),
                    top(&metrics, 0.01),
                    top(&metrics, 0.10),
                    metrics.mae.map_or("—".to_owned(), |v| fmt_fixed(v, 3)),
                    esc(description),
                ),
            );
        }
        out.push_str("</tbody></table>\n");
        if r.losses.is_empty() {
            out.push_str("<p class=\"ok\">The model does better than every baseline.</p>\n");
        } else {
            out.push_str("<ul class=\"warnings\">\n");
            for loss in &r.losses {
                w(out, format_args!("<li>{}</li>\n", esc(loss)));
            }
            out.push_str("</ul>\n");
        }
    }
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
    let grid = match spec.grid(m) {
        Ok(grid) => grid,
        Err(why) => return not_available(out, &why),
    };
    w(
        out,
        format_args!(
            "<p>Probability that a customer is still active, {} {unit}s after the first purchase.</p>\n",
            fmt_sig(spec.age, 4)
        ),
    );
    heatmap(out, &grid.recency, &grid.cells, unit);
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // The opt-in backtest says how to ask for it instead of "not available".
        assert!(html.contains("Run with <code>--backtest-folds N</code>"));
        assert!(!html.contains("<svg"));
    }
}
