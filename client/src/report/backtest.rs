//! The backtest section: every family over several calibration/holdout splits of the log,
//! beside the naive baselines, and which family the folds choose. One holdout can flatter
//! a model; the folds show whether its lead holds.

use custval_proto::v1 as pb;

use super::text::{esc, fmt_count, fmt_date, fmt_fixed, fmt_signed_pct, not_available, w};

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("—".to_owned(), |v| fmt_fixed(v, decimals))
}

fn day(t: Option<&prost_types::Timestamp>) -> String {
    t.map_or_else(|| "—".into(), |t| fmt_date(t.seconds))
}

pub fn backtest_section(out: &mut String, backtest: Result<&pb::BacktestResponse, &String>) {
    let r = match backtest {
        Ok(r) => r,
        // Opt-in (it fits every family on every fold): say how to ask for it.
        Err(why) if why == super::NOT_REQUESTED => {
            out.push_str(
                "<p class=\"na\">Run with <code>--backtest-folds N</code> (and a transaction \
                 log with <code>--observation-end</code>) to compare every family over N \
                 holdouts beside the naive baselines.</p>\n",
            );
            return;
        }
        Err(why) => return not_available(out, why),
    };
    let unit =
        custval_wire::units::time_unit_from_proto(r.time_unit).map_or("period", |u| u.as_str());
    w(
        out,
        format_args!(
            "<p>{} folds with {}-day holdouts; rates per {unit}. Chosen by {}: {}.</p>\n",
            r.folds.len(),
            r.holdout_days,
            esc(&r.criterion),
            esc(&r.reason)
        ),
    );
    out.push_str(
        "<h3>Over the folds</h3>\n<table><thead><tr><th>family</th><th class=\"n\">folds \
         fitted</th><th class=\"n\">mean MAE</th><th class=\"n\">mean total error</th>\
         <th class=\"n\">mean |total error|</th><th class=\"n\">mean Gini</th>\
         <th>baselines: mean Gini (folds better than the family)</th></tr></thead><tbody>\n",
    );
    for s in &r.summaries {
        let baselines: Vec<String> = s
            .baselines
            .iter()
            .map(|b| {
                format!(
                    "{} {} ({})",
                    b.name,
                    opt(b.mean_normalized_gini, 3),
                    b.folds_beating_model
                )
            })
            .collect();
        let chosen = if s.family == r.chosen { " ✓" } else { "" };
        w(
            out,
            format_args!(
                "<tr><th>{}{chosen}</th><td class=\"n\">{}/{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td>{}</td></tr>\n",
                esc(&s.family),
                s.folds_fitted,
                s.folds,
                opt(s.mean_holdout_mae, 4),
                s.mean_total_error.map_or("—".into(), fmt_signed_pct),
                s.mean_abs_total_error
                    .map_or("—".into(), |v| fmt_signed_pct(v).replace('+', "")),
                opt(s.mean_normalized_gini, 3),
                esc(&baselines.join(", "))
            ),
        );
    }
    out.push_str("</tbody></table>\n");
    let beaten: Vec<String> = r
        .summaries
        .iter()
        .flat_map(|s| {
            s.baselines
                .iter()
                .filter(|b| 2 * b.folds_beating_model > s.folds_fitted)
                .map(move |b| {
                    format!(
                        "{} ranks or predicts purchases better than {} in {} of {} folds",
                        b.name, s.family, b.folds_beating_model, s.folds_fitted
                    )
                })
        })
        .collect();
    if beaten.is_empty() {
        out.push_str("<p class=\"ok\">No baseline beats a family in most folds.</p>\n");
    } else {
        out.push_str("<ul class=\"warnings\">\n");
        for b in &beaten {
            w(out, format_args!("<li>{}</li>\n", esc(b)));
        }
        out.push_str("</ul>\n");
    }

    out.push_str(
        "<h3>Fold by fold</h3>\n<table><thead><tr><th>calibration to</th><th>holdout to</th>\
         <th class=\"n\">customers</th><th>family</th><th class=\"n\">actual</th>\
         <th class=\"n\">predicted</th><th class=\"n\">total error</th><th class=\"n\">MAE</th>\
         <th class=\"n\">Gini</th><th class=\"n\">best baseline Gini</th><th>warnings</th>\
         </tr></thead><tbody>\n",
    );
    for f in &r.folds {
        for c in &f.candidates {
            let lead = format!(
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><th>{}</th>",
                day(f.calibration_end.as_ref()),
                day(f.holdout_end.as_ref()),
                fmt_count(f.customers),
                esc(&c.family)
            );
            let Some(h) = c.holdout.as_ref().filter(|_| c.error.is_empty()) else {
                w(
                    out,
                    format_args!(
                        "{lead}<td colspan=\"7\" class=\"bad\">not fitted: {}</td></tr>\n",
                        esc(&c.error)
                    ),
                );
                continue;
            };
            let ranking = h.purchases_ranking.as_ref();
            let gini = ranking
                .and_then(|r| r.model.as_ref())
                .and_then(|m| m.normalized_gini);
            let best = ranking
                .into_iter()
                .flat_map(|r| &r.baselines)
                .filter_map(|b| b.metrics.as_ref()?.normalized_gini.map(|g| (g, &b.name)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let warnings: Vec<&str> = c
                .diagnostics
                .iter()
                .flat_map(|d| &d.findings)
                .map(|w| w.code.as_str())
                .collect();
            w(
                out,
                format_args!(
                    "{lead}<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td>{}</td></tr>\n",
                    fmt_fixed(h.actual_total, 0),
                    fmt_fixed(h.predicted_total, 1),
                    if h.actual_total > 0.0 {
                        fmt_signed_pct(h.predicted_total / h.actual_total - 1.0)
                    } else {
                        "—".into()
                    },
                    fmt_fixed(h.mae, 4),
                    opt(gini, 3),
                    best.map_or("—".into(), |(g, n)| format!(
                        "{} {}",
                        esc(n),
                        fmt_fixed(g, 3)
                    )),
                    esc(&warnings.join(", "))
                ),
            );
        }
    }
    out.push_str("</tbody></table>\n");
}
