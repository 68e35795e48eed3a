//! The `holdout` object of `fit --json` and `models show --json`: the model judged on the
//! holdout beside the naive baselines, its calibration by frequency bin and by decile, and
//! the gain curves.

use custval_proto::v1 as pb;
use serde_json::{Value, json};

/// Totals, error and propensity metrics, and per outcome (purchases; revenue when the
/// model has a spend part): the model's ranking, the baselines', the model's deciles and
/// every score's gain curve. Keys as in the README's "fit --json".
pub(super) fn holdout_json(h: &pb::HoldoutMetrics) -> Value {
    let mut v = json!({
        "actual_total": h.actual_total,
        "predicted_total": h.predicted_total,
        "customers": h.customers,
        "mae": h.mae,
        "rmse": h.rmse,
        "pearson_r": h.pearson_r,
        "auc": h.auc,
        "brier": h.brier,
        "duration": h.duration.as_ref().map(|d| json!({
            "value": d.value,
            "unit": super::model_view::unit_name(d.unit),
        })),
        "by_frequency": h.by_frequency.iter().map(|b| json!({
            "label": b.label,
            "customers": b.customers,
            "mean_actual": b.mean_actual,
            "mean_predicted": b.mean_predicted,
        })).collect::<Vec<_>>(),
    });
    for (r, prefix) in [(&h.purchases_ranking, ""), (&h.revenue_ranking, "revenue_")] {
        let Some(r) = r else { continue };
        let ranking = if prefix.is_empty() {
            "ranking"
        } else {
            "revenue_ranking"
        };
        v[ranking] = ranking_json(r);
        v[format!("{prefix}baselines")] = baselines_json(r);
        v[format!("{prefix}deciles")] = deciles_json(r);
        v[format!("{prefix}gain_curve")] = gain_curve_json(r);
    }
    v
}

/// The model's side of a holdout ranking: normalized Gini, top shares, MAE, and where it
/// loses to a baseline.
fn ranking_json(r: &pb::HoldoutRanking) -> Value {
    let m = r.model.clone().unwrap_or_default();
    json!({
        "outcome": r.outcome,
        "normalized_gini": m.normalized_gini,
        "top_share": top_shares_json(&m),
        "top_lift": top_lifts_json(&m),
        "mae": m.mae,
        "beaten_by": r.model_beaten_by,
        "losses": r.losses,
    })
}

/// Each baseline's normalized Gini, MAE and top shares, on the same customers, and what
/// the score is.
fn baselines_json(r: &pb::HoldoutRanking) -> Value {
    r.baselines
        .iter()
        .map(|b| {
            let m = b.metrics.clone().unwrap_or_default();
            json!({
                "name": b.name,
                "description": b.description,
                "normalized_gini": m.normalized_gini,
                "mae": m.mae,
                "top_share": top_shares_json(&m),
                "top_lift": top_lifts_json(&m),
                "beats_model_on": b.beats_model_on,
            })
        })
        .collect()
}

/// Share of the outcome in the top 1/5/10/20 % by score, keyed by that fraction.
fn top_shares_json(m: &pb::RankingMetrics) -> Value {
    m.top
        .iter()
        .map(|t| {
            (
                format!("{}%", (t.customer_share * 100.0).round()),
                json!(t.outcome_share),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The lift of the top 1/5/10/20 % (their share of the outcome over their share of the
/// customers: 1 = no better than random), keyed as the top shares.
fn top_lifts_json(m: &pb::RankingMetrics) -> Value {
    m.top
        .iter()
        .map(|t| {
            (
                format!("{}%", (t.customer_share * 100.0).round()),
                json!(t.lift),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The model's decile calibration: `[{decile, customers, mean_predicted, mean_actual}]`,
/// decile 1 the lowest predictions.
fn deciles_json(r: &pb::HoldoutRanking) -> Value {
    r.model
        .iter()
        .flat_map(|m| &m.deciles)
        .map(|d| {
            json!({
                "decile": d.decile,
                "customers": d.customers,
                "mean_predicted": d.mean_predicted,
                "mean_actual": d.mean_actual,
            })
        })
        .collect()
}

/// The gain curves on one grid of customer shares:
/// `{"customer_share": [...], "model": [...], "baselines": {name: [...]}}`, each value
/// the share of the outcome held by that top share of customers by the score (`null`
/// where a score has no point at that share).
fn gain_curve_json(r: &pb::HoldoutRanking) -> Value {
    let model = r.model.clone().unwrap_or_default();
    let shares: Vec<f64> = model.gain.iter().map(|g| g.customer_share).collect();
    let on_grid = |m: Option<&pb::RankingMetrics>| -> Vec<Option<f64>> {
        shares
            .iter()
            .map(|&s| {
                m.and_then(|m| {
                    m.gain
                        .iter()
                        .find(|g| (g.customer_share - s).abs() < 1e-9)
                        .map(|g| g.outcome_share)
                })
            })
            .collect()
    };
    let baselines: serde_json::Map<String, Value> = r
        .baselines
        .iter()
        .map(|b| (b.name.clone(), json!(on_grid(b.metrics.as_ref()))))
        .collect();
    json!({
        "customer_share": shares,
        "model": on_grid(Some(&model)),
        "baselines": baselines,
    })
}
