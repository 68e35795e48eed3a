//! The Segment and Recommend pipelines: scored customers into segments, tiers, RFM cells,
//! actions and a budget plan. Synchronous; the service runs them on the blocking pool.

use std::collections::BTreeMap;

use custval_model::decide::recommend::{self, Action, ActionAssumption, Economics};
use custval_model::decide::segments::{
    self, Placement, SegmentModel, SegmentOptions, Tier, TierCutoffs,
};
use custval_model::{Cancel, Scores};
use custval_proto::v1 as pb;

use crate::error::ApiError;
use crate::input::DecodedTable;
use crate::record::StoredSegments;
use crate::scoring::ScoreSetup;

fn or_default<T: PartialEq + Default>(v: T, default: T) -> T {
    if v == T::default() { default } else { v }
}

/// Zero fields take the model crate's defaults.
/// The most segments a request may ask for (`k`, `k_min`, `k_max`): a segmentation is for
/// people to act on, and each candidate k is a k-means run over every customer.
pub const MAX_SEGMENTS: u32 = 50;
/// The most k-means++ restarts (`runs`).
pub const MAX_RUNS: u32 = 100;
/// The most Lloyd iterations per run (`max_iterations`).
pub const MAX_KMEANS_ITERATIONS: u32 = 10_000;

/// The request's segment options over the defaults; a value above its documented bound is
/// INVALID_ARGUMENT naming the field (an unbounded `runs` would keep a core busy for hours).
pub fn segment_options(o: Option<&pb::SegmentOptions>) -> Result<SegmentOptions, ApiError> {
    let d = SegmentOptions::default();
    let Some(o) = o else {
        return Ok(d);
    };
    for (field, value, max) in [
        ("k", o.k, MAX_SEGMENTS),
        ("k_min", o.k_min, MAX_SEGMENTS),
        ("k_max", o.k_max, MAX_SEGMENTS),
        ("runs", o.runs, MAX_RUNS),
        ("max_iterations", o.max_iterations, MAX_KMEANS_ITERATIONS),
    ] {
        if value > max {
            return Err(ApiError::invalid(
                format!("segment_options.{field}"),
                format!("{value} is above the limit of {max}"),
            ));
        }
    }
    let tiers = o.tiers.as_ref().map_or(d.tiers, |t| TierCutoffs {
        key: or_default(t.key, d.tiers.key),
        growth: or_default(t.growth, d.tiers.growth),
        standard: or_default(t.standard, d.tiers.standard),
    });
    Ok(SegmentOptions {
        k: o.k as usize,
        k_min: or_default(o.k_min as usize, d.k_min),
        k_max: or_default(o.k_max as usize, d.k_max),
        seed: or_default(o.seed, d.seed),
        runs: or_default(o.runs as usize, d.runs),
        max_iterations: or_default(u64::from(o.max_iterations), d.max_iterations),
        tiers,
        ..d
    })
}

/// Economics from the request over `base`; every value checked (paths `economics.*`).
pub fn economics(e: Option<&pb::Economics>, base: Economics) -> Result<Economics, ApiError> {
    let Some(e) = e else {
        return Ok(base);
    };
    let action = |a: Option<&pb::ActionAssumption>, base: ActionAssumption| {
        a.map_or(base, |a| ActionAssumption {
            cost: a.cost,
            uplift: a.uplift,
        })
    };
    let out = Economics {
        margin: e.margin.unwrap_or(base.margin),
        cost_to_serve: e.cost_to_serve.unwrap_or(base.cost_to_serve),
        retain: action(e.retain.as_ref(), base.retain),
        grow: action(e.grow.as_ref(), base.grow),
        nurture: action(e.nurture.as_ref(), base.nurture),
        healthy_p_alive: e.healthy_p_alive.unwrap_or(base.healthy_p_alive),
        min_propensity: e.min_propensity.unwrap_or(base.min_propensity),
    };
    out.validate()
        .map_err(|err| ApiError::from(err).within("economics"))?;
    Ok(out)
}

pub fn economics_to_proto(e: &Economics) -> pb::Economics {
    let a = |a: ActionAssumption| pb::ActionAssumption {
        cost: a.cost,
        uplift: a.uplift,
    };
    pb::Economics {
        margin: Some(e.margin),
        cost_to_serve: Some(e.cost_to_serve),
        retain: Some(a(e.retain)),
        grow: Some(a(e.grow)),
        nurture: Some(a(e.nurture)),
        healthy_p_alive: Some(e.healthy_p_alive),
        min_propensity: Some(e.min_propensity),
    }
}

fn rfm_label(s: [u8; 3]) -> String {
    format!("{}{}{}", s[0], s[1], s[2])
}

fn group_profiles(names: &[String], index: &[usize], value: &[f64]) -> Vec<pb::GroupProfile> {
    let n = index.len().max(1) as f64;
    let total: f64 = value.iter().map(|v| v.max(0.0)).sum();
    let mut out: Vec<pb::GroupProfile> = names
        .iter()
        .map(|name| pb::GroupProfile {
            name: name.clone(),
            ..Default::default()
        })
        .collect();
    for (&g, &v) in index.iter().zip(value) {
        out[g].customers += 1;
        out[g].total_value += v.max(0.0);
    }
    for g in &mut out {
        g.customer_share = g.customers as f64 / n;
        g.value_share = if total > 0.0 {
            g.total_value / total
        } else {
            0.0
        };
    }
    out
}

fn tier_index(t: Tier) -> usize {
    Tier::ALL.iter().position(|&x| x == t).unwrap_or(0)
}

/// Runs a segmentation, stopped by `cancel` (checked per candidate k and k-means pass);
/// the caller decides whether to store it.
pub fn segment(
    setup: &ScoreSetup,
    request: pb::SegmentRequest,
    max_customers: usize,
    cancel: &Cancel,
) -> Result<(pb::SegmentResponse, StoredSegments), ApiError> {
    let options = SegmentOptions {
        cancel: cancel.clone(),
        ..segment_options(request.segment_options.as_ref())?
    };
    let economics = economics(request.economics.as_ref(), Economics::default())?;
    let request_had_columns = request.summary_columns.is_some();
    let (decoded, scores) =
        setup.scored(request.customers, request.summary_columns, max_customers)?;
    let t = &decoded.table;
    if t.len() < 2 {
        // The customers came as rows or as columns: name the one the request used.
        let field = if request_had_columns {
            "summary_columns.customer_id"
        } else {
            "customers"
        };
        return Err(ApiError::invalid(
            field,
            format!("{} customer(s): at least 2 are needed to segment", t.len()),
        ));
    }
    if options.k > t.len() {
        return Err(ApiError::invalid(
            "segment_options.k",
            format!("{} segments for {} customers", options.k, t.len()),
        ));
    }
    let seg = segments::segment(
        &t.rfm,
        &t.monetary_value,
        &scores,
        setup.units,
        setup.spec,
        &options,
    )
    .map_err(|e| ApiError::from_data(e, "segment these customers").within("segment_options"))?;
    let value: Vec<f64> = if scores.clv.iter().all(Option::is_some) {
        scores.clv.iter().map(|c| c.unwrap_or(0.0)).collect()
    } else {
        scores.expected_purchases.clone()
    };
    let m = &seg.model;
    let tiers = group_profiles(
        &Tier::ALL
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect::<Vec<_>>(),
        &seg.tiers.iter().map(|&t| tier_index(t)).collect::<Vec<_>>(),
        &value,
    );
    let customers = t
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| pb::CustomerSegment {
            customer_id: id.clone(),
            segment_index: seg.labels[i] as u32,
            segment: m.name(seg.labels[i]).to_owned(),
            tier: seg.tiers[i].as_str().to_owned(),
            rfm_score: rfm_label(seg.rfm_scores[i]),
            rfm_segment: segments::rfm_segment_name(seg.rfm_scores[i][0], seg.rfm_scores[i][1])
                .to_owned(),
        })
        .collect();
    let response = pb::SegmentResponse {
        context: Some(setup.context.clone()),
        value_measure: if m.features.contains(&segments::Feature::Clv) {
            "clv".into()
        } else {
            "expected_purchases".into()
        },
        silhouette_by_k: m
            .silhouette_by_k
            .iter()
            .map(|&(k, s)| pb::SilhouetteScore {
                k: k as u32,
                silhouette: s,
            })
            .collect(),
        segments: profiles_to_proto(m),
        tiers,
        concentration: Some(pb::Concentration {
            total_value: seg.concentration.total_value,
            top_shares: seg
                .concentration
                .top_shares
                .iter()
                .map(|&(f, s)| pb::TopShare {
                    top_fraction: f,
                    value_share: s,
                })
                .collect(),
            curve: seg.concentration.curve.clone(),
        }),
        customers,
        stored: false,
    };
    Ok((
        response,
        StoredSegments {
            model: seg.model,
            economics,
        },
    ))
}

fn profiles_to_proto(m: &SegmentModel) -> Vec<pb::SegmentProfile> {
    m.profiles
        .iter()
        .map(|p| pb::SegmentProfile {
            index: p.index as u32,
            name: p.name.clone(),
            customers: p.customers,
            customer_share: p.customer_share,
            total_value: p.total_value,
            value_share: p.value_share,
            centroid: p
                .centroid
                .iter()
                .map(|(f, v)| pb::FeatureValue {
                    feature: f.as_str().into(),
                    value: *v,
                })
                .collect(),
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    customers: u64,
    cost: f64,
    incremental: f64,
}

fn action_summaries(rows: impl Iterator<Item = (Action, f64, f64)>) -> Vec<pb::ActionSummary> {
    let mut by: BTreeMap<Action, Tally> = BTreeMap::new();
    for (a, cost, inc) in rows {
        let t = by.entry(a).or_default();
        t.customers += 1;
        t.cost += cost;
        t.incremental += inc;
    }
    Action::ALL
        .iter()
        .filter_map(|a| {
            by.get(a).map(|t| pb::ActionSummary {
                action: a.as_str().into(),
                customers: t.customers,
                total_cost: t.cost,
                total_incremental_value: t.incremental,
            })
        })
        .collect()
}

/// Recommendations (and a budget plan) for a batch. Uses the model's stored segmentation
/// when it has one; otherwise segments the batch itself with default options (stopped by
/// `cancel`).
pub fn recommend(
    setup: &ScoreSetup,
    request: pb::RecommendRequest,
    max_customers: usize,
    cancel: &Cancel,
) -> Result<pb::RecommendResponse, ApiError> {
    if setup.record.model.spend.is_none() {
        return Err(ApiError::InsufficientData(format!(
            "model {:?} has no spend model: recommendations weigh value in money",
            setup.record.name
        )));
    }
    let stored = setup.record.segments.as_ref();
    let base = stored.map_or(Economics::default(), |s| s.economics);
    let econ = economics(request.economics.as_ref(), base)?;
    if let Some(b) = request.budget
        && !(b.is_finite() && b >= 0.0)
    {
        return Err(ApiError::invalid(
            "budget",
            format!("must be finite and >= 0, got {b}"),
        ));
    }
    let (decoded, scores) =
        setup.scored(request.customers, request.summary_columns, max_customers)?;
    let (seg_model, placement, own): (SegmentModel, Placement, Scores) = match stored {
        Some(s) => {
            let own = setup.scores_for(&decoded, &scores, &s.model.spec)?;
            let t = &decoded.table;
            let placed = s
                .model
                .assign(&t.rfm, &t.monetary_value, &own, setup.units)?;
            (s.model.clone(), placed, own)
        }
        None => batch_segments(setup, &decoded, &scores, cancel)?,
    };
    let t = &decoded.table;
    let recs = recommend::recommend_all(&t.rfm, &own, &seg_model, &placement, &econ);
    let plan = match request.budget {
        Some(b) => {
            let candidates: Vec<_> = recs.iter().map(|r| r.candidates.clone()).collect();
            Some(recommend::allocate(&candidates, b)?)
        }
        None => None,
    };
    let mut funded: Vec<Option<Action>> = vec![None; t.len()];
    if let Some(p) = &plan {
        for &(i, a) in &p.funded {
            funded[i] = Some(a);
        }
    }
    let recommendations = t
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let r = &recs[i];
            pb::CustomerRecommendation {
                customer_id: id.clone(),
                action: r.action.as_str().into(),
                reasons: r.reasons.iter().map(|x| x.as_str().into()).collect(),
                expected_value: r.expected_value,
                incremental_value: r.incremental_value,
                cost: r.cost,
                roi: r.roi,
                segment: seg_model.name(placement.labels[i]).to_owned(),
                tier: placement.tiers[i].as_str().into(),
                funded: funded[i].is_some(),
                funded_action: funded[i].map_or(String::new(), |a| a.as_str().into()),
            }
        })
        .collect();
    let by_action = action_summaries(recs.iter().map(|r| (r.action, r.cost, r.incremental_value)));
    let plan = plan.map(|p| {
        let gain = |i: usize, a: Action| {
            recs[i]
                .candidates
                .iter()
                .find(|o| o.action == a)
                .map_or((0.0, 0.0), |o| (o.cost, o.gross - o.cost))
        };
        pb::BudgetPlan {
            budget: p.budget,
            spent: p.spent,
            customers_funded: p.funded.len() as u64,
            expected_incremental_value: p.expected_incremental_value,
            roi: p.roi,
            marginal_value: p.marginal_value,
            by_action: action_summaries(p.funded.iter().map(|&(i, a)| {
                let (c, v) = gain(i, a);
                (a, c, v)
            })),
        }
    });
    let clv = |i: usize| own.clv[i].unwrap_or(0.0);
    let group = |name: String, members: Vec<usize>| pb::GroupActions {
        name,
        customers: members.len() as u64,
        total_clv: members.iter().map(|&i| clv(i)).sum(),
        total_incremental_value: members.iter().map(|&i| recs[i].incremental_value).sum(),
        actions: action_summaries(
            members
                .iter()
                .map(|&i| (recs[i].action, recs[i].cost, recs[i].incremental_value)),
        ),
    };
    let by_segment = (0..seg_model.profiles.len())
        .map(|s| {
            let members = (0..t.len()).filter(|&i| placement.labels[i] == s).collect();
            group(seg_model.name(s).to_owned(), members)
        })
        .collect();
    let by_tier = Tier::ALL
        .iter()
        .map(|&tier| {
            let members = (0..t.len())
                .filter(|&i| placement.tiers[i] == tier)
                .collect();
            group(tier.as_str().to_owned(), members)
        })
        .collect();
    Ok(pb::RecommendResponse {
        context: Some(setup.context.clone()),
        economics: Some(economics_to_proto(&econ)),
        recommendations,
        by_action,
        plan,
        by_segment,
        by_tier,
    })
}

/// Segments of the batch itself, when the model has none stored.
fn batch_segments(
    setup: &ScoreSetup,
    decoded: &DecodedTable,
    scores: &Scores,
    cancel: &Cancel,
) -> Result<(SegmentModel, Placement, Scores), ApiError> {
    let t = &decoded.table;
    let options = SegmentOptions {
        cancel: cancel.clone(),
        k: 0,
        k_max: SegmentOptions::default()
            .k_max
            .min(t.len().saturating_sub(1))
            .max(2),
        ..SegmentOptions::default()
    };
    if t.len() < 3 {
        return Err(ApiError::invalid(
            "customers",
            "at least 3 customers are needed to recommend without a stored segmentation",
        ));
    }
    let seg = segments::segment(
        &t.rfm,
        &t.monetary_value,
        scores,
        setup.units,
        setup.spec,
        &options,
    )
    .map_err(|e| ApiError::from_data(e, "segment these customers"))?;
    let placement = Placement {
        labels: seg.labels,
        tiers: seg.tiers,
        rfm_scores: seg.rfm_scores,
    };
    Ok((seg.model, placement, scores.clone()))
}
