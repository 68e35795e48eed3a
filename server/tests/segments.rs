//! Segment and Recommend over gRPC, and the segment, tier and action fields of Score.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;
use custval_proto::v1 as pb;

async fn fitted(server: &TestServer) {
    server
        .models()
        .await
        .fit_model(pb::FitModelRequest {
            spec: Some(fit_spec("cdnow", pb::TransactionModelKind::BgNbd, true)),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap();
}

fn segment_request(k: u32, store: bool) -> pb::SegmentRequest {
    pb::SegmentRequest {
        options: Some(score_options("cdnow")),
        customers: vec![],
        summary_columns: Some(cdnow_columns()),
        segment_options: Some(pb::SegmentOptions {
            k,
            ..Default::default()
        }),
        economics: None,
        store,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_segments_label_later_scores_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    fitted(&server).await;
    let mut scoring = server.scoring().await;
    let first = scoring
        .segment(segment_request(5, false))
        .await
        .unwrap()
        .into_inner();
    let again = scoring
        .segment(segment_request(5, true))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.stored && again.stored);
    assert_eq!(first.segments, again.segments, "deterministic for a seed");
    assert_eq!(first.customers, again.customers);
    assert_eq!(first.segments.len(), 5);
    assert_eq!(first.value_measure, "clv");
    let shares: f64 = first.segments.iter().map(|s| s.customer_share).sum();
    let value: f64 = first.segments.iter().map(|s| s.value_share).sum();
    assert!((shares - 1.0).abs() < 1e-9 && (value - 1.0).abs() < 1e-9);
    let tier_customers: u64 = first.tiers.iter().map(|t| t.customers).sum();
    assert_eq!(tier_customers, 2357);
    let c = first.concentration.as_ref().unwrap();
    assert_eq!(c.curve.len(), 101);
    assert!(
        c.top_shares
            .windows(2)
            .all(|w| w[1].value_share >= w[0].value_share)
    );
    assert!(
        first
            .customers
            .iter()
            .all(|c| c.rfm_score.len() == 3 && !c.rfm_segment.is_empty())
    );

    // Scores now carry the stored segment, tier and an action.
    let scores = scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("cdnow")),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap()
        .into_inner()
        .scores;
    for (s, c) in scores.iter().zip(&first.customers) {
        assert_eq!(s.customer_id, c.customer_id);
        assert_eq!(s.segment, c.segment);
        assert_eq!(s.tier, c.tier);
        assert!(
            ["retain", "grow", "nurture", "maintain", "deprioritize"].contains(&s.action.as_str())
        );
    }
    // A different horizon in the request does not move anyone's segment.
    let mut other = score_options("cdnow");
    other.horizon = Some(duration(13.0, pb::TimeUnit::Week));
    let moved = scoring
        .score(pb::ScoreRequest {
            options: Some(other),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap()
        .into_inner()
        .scores;
    assert!(
        moved
            .iter()
            .zip(&scores)
            .all(|(a, b)| a.segment == b.segment && a.tier == b.tier)
    );

    drop(scoring);
    server.stop().await.unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let after = server
        .scoring()
        .await
        .score(pb::ScoreRequest {
            options: Some(score_options("cdnow")),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap()
        .into_inner()
        .scores;
    assert_eq!(after, scores);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_and_a_budget_plan() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    fitted(&server).await;
    let mut scoring = server.scoring().await;
    let response = scoring
        .recommend(pb::RecommendRequest {
            options: Some(score_options("cdnow")),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
            economics: Some(pb::Economics {
                cost_to_serve: Some(3.0),
                ..Default::default()
            }),
            budget: Some(500.0),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.recommendations.len(), 2357);
    let econ = response.economics.unwrap();
    assert_eq!(econ.cost_to_serve, Some(3.0));
    assert_eq!(econ.margin, Some(0.3));
    for r in &response.recommendations {
        if r.expected_value < 0.0 {
            assert_eq!(r.action, "deprioritize");
            assert_eq!(r.cost, 0.0);
            assert!(!r.funded);
        }
        if r.action != "maintain" && r.action != "deprioritize" {
            assert!(r.incremental_value > 0.0 && r.cost > 0.0);
        }
    }
    let plan = response.plan.unwrap();
    assert!(plan.spent <= 500.0 + 1e-9 && plan.spent > 0.0);
    let funded = response.recommendations.iter().filter(|r| r.funded).count() as u64;
    assert_eq!(funded, plan.customers_funded);
    let by_action_cost: f64 = plan.by_action.iter().map(|a| a.total_cost).sum();
    assert!((by_action_cost - plan.spent).abs() < 1e-6);
    assert!(plan.marginal_value > 0.0);
    let counted: u64 = response.by_tier.iter().map(|t| t.customers).sum();
    assert_eq!(counted, 2357);
    assert!(!response.by_segment.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_segment_and_recommend_inputs_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    fitted(&server).await;
    let mut scoring = server.scoring().await;
    let e = scoring
        .segment(segment_request(5000, false))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "segment_options.k");
    let mut r = segment_request(0, false);
    r.segment_options.as_mut().unwrap().k_min = 1;
    r.segment_options.as_mut().unwrap().k_max = 3;
    let e = scoring.segment(r).await.unwrap_err();
    assert_eq!(violation(&e), "segment_options.k_range");

    let recommend = |economics: pb::Economics, budget: Option<f64>| {
        let mut s = scoring.clone();
        async move {
            s.recommend(pb::RecommendRequest {
                options: Some(score_options("cdnow")),
                customers: vec![],
                summary_columns: Some(cdnow_columns()),
                economics: Some(economics),
                budget,
            })
            .await
            .unwrap_err()
        }
    };
    let e = recommend(
        pb::Economics {
            retain: Some(pb::ActionAssumption {
                cost: -1.0,
                uplift: 0.1,
            }),
            ..Default::default()
        },
        None,
    )
    .await;
    assert_eq!(violation(&e), "economics.retain.cost");
    let e = recommend(
        pb::Economics {
            grow: Some(pb::ActionAssumption {
                cost: 1.0,
                uplift: 1.5,
            }),
            ..Default::default()
        },
        None,
    )
    .await;
    assert_eq!(violation(&e), "economics.grow.uplift");
    let e = recommend(pb::Economics::default(), Some(-5.0)).await;
    assert_eq!(violation(&e), "budget");
    let e = recommend(
        pb::Economics {
            margin: Some(0.0),
            ..Default::default()
        },
        None,
    )
    .await;
    assert_eq!(violation(&e), "economics.margin");
}
