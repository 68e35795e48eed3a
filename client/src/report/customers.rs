//! The sections about customers: value concentration, segments and tiers, and the
//! recommended budget plan (all from the Segment and Recommend responses).

use custval_model::TimeUnit;
use custval_proto::v1 as pb;

use super::chart::{BarChart, GREEN, RED, bar_chart, lorenz_chart, share_chart};
use super::text::{
    esc, fmt_count, fmt_fixed, fmt_num, fmt_pct, fmt_sig, kv_table, not_available, w,
};
use super::time_unit_from_proto;

pub(super) fn concentration_section(
    out: &mut String,
    segments: Result<&pb::SegmentResponse, &String>,
) {
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

pub(super) fn segments_section(out: &mut String, segments: Result<&pb::SegmentResponse, &String>) {
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

pub(super) fn budget_section(
    out: &mut String,
    recommendations: Result<&pb::RecommendResponse, &String>,
) {
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
