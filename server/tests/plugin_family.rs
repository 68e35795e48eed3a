//! A model family is a plug-in: a toy family defined in this test file (no dropout,
//! Poisson purchases) and registered with the model crate's registry is listed, fitted,
//! stored, read back and scored by the real server, whose code knows nothing of it.

mod common;

use common::poisson::{self, POISSON};
use common::*;
use custval_model::{Rfm, TransactionFamily};
use custval_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_family_is_listed_fitted_stored_and_scored() {
    poisson::register();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;

    let families = models
        .list_families(pb::ListFamiliesRequest {})
        .await
        .unwrap()
        .into_inner()
        .families;
    let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(&names[..3], ["bgnbd", "mbgnbd", "pareto-nbd"]);
    let toy = families.iter().find(|f| f.name == "poisson").unwrap();
    assert_eq!(toy.params, ["lambda"]);
    assert_eq!(
        toy.transaction_model,
        pb::TransactionModelKind::Unspecified as i32
    );

    let columns = cdnow_columns();
    let rows: Vec<Rfm> = (0..columns.customer_id.len())
        .map(|i| Rfm::new(columns.frequency[i], columns.recency[i], columns.age[i]).unwrap())
        .collect();
    let spec = pb::FitSpec {
        family: POISSON.name().into(),
        ..fit_spec("toy", pb::TransactionModelKind::Unspecified, true)
    };
    let model = models
        .fit_model(pb::FitModelRequest {
            spec: Some(spec),
            customers: vec![],
            summary_columns: Some(columns.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(model.family, "poisson");
    assert_eq!(
        model.transaction_model,
        pb::TransactionModelKind::Unspecified as i32
    );
    assert!(model.diagnostics.as_ref().unwrap().converged);
    let lambda = model.params[0].value;
    let want = poisson::rate_estimate(&rows);
    assert!((lambda - want).abs() < 1e-6 * want, "{lambda} vs {want}");

    // Stored: listed and read back with its family.
    let listed = models
        .list_models(pb::ListModelsRequest { name: "toy".into() })
        .await
        .unwrap()
        .into_inner()
        .models;
    assert_eq!(listed[0].family, "poisson");

    // Scored through the generic batch path: E[X(t)] = λt, P(alive) = 1.
    let mut scoring = server.scoring().await;
    let scores = scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("toy")),
            customers: vec![],
            summary_columns: Some(columns),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(scores.scores.len(), rows.len());
    for s in &scores.scores {
        assert!((s.expected_purchases - lambda * 52.0).abs() < 1e-9);
        assert_eq!(s.p_alive, 1.0);
        assert!((s.propensity - (1.0 - (-lambda * 52.0).exp())).abs() < 1e-12);
        assert!(s.clv.is_some_and(|v| v.is_finite() && v > 0.0));
    }
    server.stop().await.unwrap();

    // A restarted server reads the stored toy model back (same process, family registered).
    let server = TestServer::start(dir.path(), &[]).await;
    let got = server
        .models()
        .await
        .get_model(pb::GetModelRequest {
            name: "toy".into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(got.family, "poisson");
    assert_eq!(got.params[0].value, lambda);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_family_is_invalid_argument_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let spec = pb::FitSpec {
        family: "no-such-family".into(),
        ..fit_spec("x", pb::TransactionModelKind::Unspecified, false)
    };
    let e = server
        .models()
        .await
        .fit_model(pb::FitModelRequest {
            spec: Some(spec),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "spec.family");
    assert!(e.message().contains("bgnbd, mbgnbd, pareto-nbd"), "{e:?}");
    server.stop().await.unwrap();
}
