//! The holdout sections a business reads beside the ranking table: decile calibration
//! (does the forecast hold from the model's lowest customers to its highest?) and gain
//! curves (how much of the outcome the top of each ranking captures), the model beside
//! every naive baseline and the diagonal of a random order.

use custval_proto::v1 as pb;

use super::chart::{
    AMBER, BLUE, ColumnChart, GREEN, LineChart, MUTED, PURPLE, RED, SLATE, Series, column_chart,
    line_chart,
};
use super::text::{esc, fmt_count, fmt_pct, fmt_sig, not_available, w};

/// The holdout rankings of a model (purchases, then revenue), or why there are none.
fn rankings<'a>(
    model: Result<&'a pb::Model, &String>,
) -> Result<Vec<&'a pb::HoldoutRanking>, String> {
    let m = model.map_err(Clone::clone)?;
    let h = m
        .holdout
        .as_ref()
        .ok_or("the model was fitted without a holdout period")?;
    let rankings: Vec<&pb::HoldoutRanking> = h
        .purchases_ranking
        .iter()
        .chain(&h.revenue_ranking)
        .collect();
    if rankings.is_empty() {
        return Err("the holdout metrics have no rankings (an older server)".to_owned());
    }
    Ok(rankings)
}

/// What the outcome is called on an axis: "purchases", "revenue".
fn outcome_noun(r: &pb::HoldoutRanking) -> String {
    if r.outcome.is_empty() {
        "outcome".to_owned()
    } else {
        r.outcome.clone()
    }
}

/// Customers in ten groups by the model's prediction: mean predicted against mean actual,
/// for purchases and (with a spend model) revenue.
pub(super) fn deciles_section(out: &mut String, model: Result<&pb::Model, &String>) {
    let rankings = match rankings(model) {
        Ok(r) => r,
        Err(why) => return not_available(out, &why),
    };
    let with_deciles: Vec<(&pb::HoldoutRanking, &[pb::DecileBin])> = rankings
        .iter()
        .filter_map(|r| {
            let d = &r.model.as_ref()?.deciles;
            (!d.is_empty()).then_some((*r, d.as_slice()))
        })
        .collect();
    if with_deciles.is_empty() {
        return not_available(
            out,
            "the holdout metrics have no decile calibration (an older server)",
        );
    }
    out.push_str(
        "<p>Customers sorted by the model's prediction into ten groups of equal size \
         (1 = lowest predictions); in each, the mean the model predicted for the holdout \
         against what the customers did. Customers with equal predictions stay in one \
         group, so a group can be missing.</p>\n<div class=\"grid\">\n",
    );
    for (r, deciles) in &with_deciles {
        out.push_str("<div>\n");
        decile_chart(out, r, deciles);
        decile_table(out, r, deciles);
        out.push_str("</div>\n");
    }
    out.push_str("</div>\n");
}

/// Mean actual and mean predicted per decile, as grouped columns.
fn decile_chart(out: &mut String, r: &pb::HoldoutRanking, deciles: &[pb::DecileBin]) {
    let noun = outcome_noun(r);
    let labels: Vec<String> = deciles.iter().map(|d| d.decile.to_string()).collect();
    column_chart(
        out,
        &ColumnChart {
            id: &format!("deciles-{}", r.outcome),
            title: &format!("Mean holdout {noun} by decile of the prediction"),
            desc: &format!(
                "Grouped column chart: customers in deciles of the model's predicted holdout {noun}, lowest first; the mean actual and mean predicted {noun} in each."
            ),
            x_label: "decile of the model's prediction",
            y_label: &format!("mean holdout {noun}"),
            categories: &labels,
            series: &[
                (
                    "actual",
                    SLATE,
                    deciles.iter().map(|d| d.mean_actual).collect(),
                ),
                (
                    "predicted",
                    BLUE,
                    deciles.iter().map(|d| d.mean_predicted).collect(),
                ),
            ],
        },
    );
}

/// The numbers behind the decile chart, with predicted / actual per decile.
fn decile_table(out: &mut String, r: &pb::HoldoutRanking, deciles: &[pb::DecileBin]) {
    w(
        out,
        format_args!(
            "<table id=\"deciles-{}-table\"><thead><tr><th>Decile ({})</th>\
             <th class=\"n\">Customers</th><th class=\"n\">Mean predicted</th>\
             <th class=\"n\">Mean actual</th><th class=\"n\">Predicted / actual</th>\
             </tr></thead><tbody>\n",
            esc(&r.outcome),
            esc(&outcome_noun(r))
        ),
    );
    for d in deciles {
        let ratio = if d.mean_actual > 0.0 {
            fmt_sig(d.mean_predicted / d.mean_actual, 3)
        } else {
            "—".to_owned()
        };
        w(
            out,
            format_args!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{ratio}</td></tr>\n",
                d.decile,
                fmt_count(d.customers),
                fmt_sig(d.mean_predicted, 3),
                fmt_sig(d.mean_actual, 3),
            ),
        );
    }
    out.push_str("</tbody></table>\n");
}

/// A colour per baseline, in the order the server lists them; the model is blue.
const BASELINE_COLORS: [&str; 4] = [AMBER, GREEN, PURPLE, RED];

/// The share of the holdout outcome held by the top of each ranking: the model, every
/// baseline and the diagonal of a random order, with a sentence on the top 20 %.
pub(super) fn gain_section(out: &mut String, model: Result<&pb::Model, &String>) {
    let rankings = match rankings(model) {
        Ok(r) => r,
        Err(why) => return not_available(out, &why),
    };
    let gain = |m: Option<&pb::RankingMetrics>| -> Vec<(f64, f64)> {
        m.map(|m| {
            m.gain
                .iter()
                .map(|g| (100.0 * g.customer_share, 100.0 * g.outcome_share))
                .collect()
        })
        .unwrap_or_default()
    };
    let with_curves: Vec<&pb::HoldoutRanking> = rankings
        .into_iter()
        .filter(|r| !gain(r.model.as_ref()).is_empty())
        .collect();
    if with_curves.is_empty() {
        return not_available(
            out,
            "the holdout metrics have no gain curves (an older server, or no customer \
             bought in the holdout)",
        );
    }
    out.push_str(
        "<p>Customers ranked by each score, best first: the share of the holdout outcome \
         held by the top x % of customers. The higher the curve, the better the score \
         finds the customers worth targeting; the diagonal is a random order.</p>\n",
    );
    for r in &with_curves {
        w(
            out,
            format_args!("<p>{}</p>\n", esc(&top_fifth_sentence(r))),
        );
    }
    out.push_str("<div class=\"grid\">\n");
    for r in &with_curves {
        let noun = outcome_noun(r);
        // Every curve starts at the origin; the server sends the points after it.
        let from_origin = |mut points: Vec<(f64, f64)>| {
            points.insert(0, (0.0, 0.0));
            points
        };
        let mut series = vec![Series {
            name: "model".into(),
            color: BLUE,
            dashed: false,
            points: from_origin(gain(r.model.as_ref())),
        }];
        for (b, color) in r.baselines.iter().zip(BASELINE_COLORS.iter().cycle()) {
            let points = gain(b.metrics.as_ref());
            if !points.is_empty() {
                series.push(Series {
                    name: b.name.clone(),
                    color,
                    dashed: true,
                    points: from_origin(points),
                });
            }
        }
        series.push(Series {
            name: "random".into(),
            color: MUTED,
            dashed: true,
            points: vec![(0.0, 0.0), (100.0, 100.0)],
        });
        line_chart(
            out,
            &LineChart {
                id: &format!("gain-{}", r.outcome),
                title: &format!("Share of holdout {noun} captured, by ranking"),
                desc: &format!(
                    "Gain curves: customers ranked by the model and by each naive baseline, best first; the share of all holdout {noun} held by the top x % of them. The diagonal is a random order."
                ),
                x_label: "top % of customers by score",
                y_label: &format!("% of holdout {noun}"),
                series: &series,
                marker: None,
            },
        );
    }
    out.push_str("</div>\n");
}

/// "The model's top 20 % of customers hold 61.5% of holdout purchases; by the best
/// baseline (same_rate), the top 20 % hold 60.2%."
fn top_fifth_sentence(r: &pb::HoldoutRanking) -> String {
    let at = |m: Option<&pb::RankingMetrics>| {
        m?.gain
            .iter()
            .find(|g| (g.customer_share - 0.2).abs() < 1e-9)
            .map(|g| g.outcome_share)
    };
    let noun = outcome_noun(r);
    let Some(model) = at(r.model.as_ref()) else {
        return format!("The gain curve of holdout {noun} has no point at 20 % of customers.");
    };
    let best = r
        .baselines
        .iter()
        .filter_map(|b| Some((b.name.as_str(), at(b.metrics.as_ref())?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match best {
        Some((name, share)) => format!(
            "The model's top 20 % of customers hold {} of holdout {noun}; by the best baseline ({name}), the top 20 % hold {}.",
            fmt_pct(model),
            fmt_pct(share)
        ),
        None => format!(
            "The model's top 20 % of customers hold {} of holdout {noun}.",
            fmt_pct(model)
        ),
    }
}
