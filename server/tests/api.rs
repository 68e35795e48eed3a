//! Every custval.v1 RPC against a real server on 127.0.0.1:0.

mod common;

use std::time::Duration;

use common::*;
use custval_model::{ClvSpec, Discount, Rfm, TimeUnit};
use custval_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

fn fit_request(spec: pb::FitSpec, columns: pb::SummaryColumns) -> pb::FitModelRequest {
    pb::FitModelRequest {
        spec: Some(spec),
        customers: vec![],
        summary_columns: Some(columns),
    }
}

fn param(m: &pb::Model, name: &str) -> f64 {
    m.params
        .iter()
        .chain(&m.spend_params)
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no parameter {name}"))
        .value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fit_on_cdnow_reproduces_the_published_models() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let fit = models
        .fit_model(fit_request(
            fit_spec("cdnow", pb::TransactionModelKind::BgNbd, true),
            cdnow_columns(),
        ))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!((fit.name.as_str(), fit.version), ("cdnow", 1));
    assert_eq!(fit.time_unit, weeks());
    // Fader, Hardie & Lee (2005) and lifetimes' CDNOW estimates, at their rounding.
    for (name, published) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        assert!(
            (param(&fit, name) - published).abs() < 6e-4,
            "{name} = {}",
            param(&fit, name)
        );
    }
    let d = fit.diagnostics.as_ref().unwrap();
    assert!(d.converged);
    assert!(
        (d.log_likelihood - -9582.4).abs() < 0.05,
        "{}",
        d.log_likelihood
    );
    assert!(fit.params.iter().all(|p| p.standard_error.is_some()));
    // lifetimes' refined Gamma-Gamma MLE (reference_lifetimes.json).
    for (name, refined) in [
        ("p", 6.248802297324715),
        ("q", 3.744588616087888),
        ("v", 15.44774908914824),
    ] {
        let rel = (param(&fit, name) - refined).abs() / refined;
        assert!(rel < 1e-4, "{name} = {}", param(&fit, name));
    }

    let pareto = models
        .fit_model(fit_request(
            fit_spec("cdnow", pb::TransactionModelKind::ParetoNbd, false),
            cdnow_columns(),
        ))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(pareto.version, 2, "each fit adds the next version");
    for (name, published) in [
        ("r", 0.553),
        ("alpha", 10.578),
        ("s", 0.606),
        ("beta", 11.669),
    ] {
        assert!((param(&pareto, name) - published).abs() < 6e-3, "{name}");
    }
    assert!(pareto.spend_params.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_transactions_with_holdout_give_the_fhl_holdout_figures() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let mut spec = fit_spec("cdnow-raw", pb::TransactionModelKind::BgNbd, true);
    spec.observation_end = Some(ts(ymd(1997, 9, 30)));
    spec.holdout_end = Some(ts(ymd(1998, 6, 30)));
    let model = models
        .fit_model(pb::FitModelRequest {
            spec: Some(spec),
            customers: cdnow_customers(),
            summary_columns: None,
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    let h = model.holdout.expect("holdout metrics");
    assert_eq!(h.customers, 2357);
    assert_eq!(h.actual_total, 1882.0);
    assert!(
        (h.predicted_total - 1654.0).abs() < 15.0,
        "{}",
        h.predicted_total
    );
    assert_eq!(h.by_frequency.len(), 8);
    assert!(h.auc.unwrap() > 0.5);
    let meta = models
        .model_metadata(pb::ModelMetadataRequest {
            name: "cdnow-raw".into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let training = meta.training.unwrap();
    assert_eq!(training.input_kind, "transactions");
    assert_eq!(training.customers, 2357);
    assert_eq!(training.transactions, 6919);
    assert_eq!(training.fingerprint.len(), 64);
    assert_eq!(training.observation_end, Some(ts(ymd(1997, 9, 30))));
    assert!(meta.outputs.iter().any(|c| c.name == "clv"));
    assert!(
        meta.inputs
            .iter()
            .any(|c| c.name == "recency" && c.unit == "week")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_fit_equals_unary_fit() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let all = cdnow_columns();
    let unary = models
        .fit_model(fit_request(
            fit_spec("whole", pb::TransactionModelKind::BgNbd, true),
            all.clone(),
        ))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    let n = all.customer_id.len();
    let chunks: Vec<pb::FitModelChunk> = (0..n)
        .step_by(500)
        .enumerate()
        .map(|(k, start)| {
            let end = (start + 500).min(n);
            pb::FitModelChunk {
                spec: (k == 0).then(|| fit_spec("chunked", pb::TransactionModelKind::BgNbd, true)),
                customers: vec![],
                summary_columns: Some(pb::SummaryColumns {
                    customer_id: all.customer_id[start..end].to_vec(),
                    frequency: all.frequency[start..end].to_vec(),
                    recency: all.recency[start..end].to_vec(),
                    age: all.age[start..end].to_vec(),
                    monetary_value: all.monetary_value[start..end].to_vec(),
                    ..Default::default()
                }),
            }
        })
        .collect();
    let streamed = models
        .fit_model_stream(tokio_stream::iter(chunks))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(streamed.params, unary.params);
    assert_eq!(streamed.spend_params, unary.spend_params);
    let fingerprint = |name: &str| {
        let mut m = models.clone();
        let name = name.to_owned();
        async move {
            m.model_metadata(pb::ModelMetadataRequest { name, version: 0 })
                .await
                .unwrap()
                .into_inner()
                .training
                .unwrap()
                .fingerprint
        }
    };
    assert_eq!(fingerprint("whole").await, fingerprint("chunked").await);

    // A duplicate id in a later chunk names the chunk.
    let dup = vec![
        pb::FitModelChunk {
            spec: Some(fit_spec("dup", pb::TransactionModelKind::BgNbd, false)),
            customers: vec![],
            summary_columns: Some(pb::SummaryColumns {
                customer_id: vec!["a".into()],
                frequency: vec![1],
                recency: vec![1.0],
                age: vec![2.0],
                ..Default::default()
            }),
        },
        pb::FitModelChunk {
            spec: None,
            customers: vec![],
            summary_columns: Some(pb::SummaryColumns {
                customer_id: vec!["b".into(), "a".into()],
                frequency: vec![1, 1],
                recency: vec![1.0, 1.0],
                age: vec![2.0, 2.0],
                ..Default::default()
            }),
        },
    ];
    let e = models
        .fit_model_stream(tokio_stream::iter(dup))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "chunks[1].summary_columns.customer_id[1]");
}

/// The model crate's own scores for `columns` under a stored model.
fn model_crate_scores(
    model: &custval_model::CustomerModel,
    c: &pb::SummaryColumns,
    spec: &ClvSpec,
) -> custval_model::Scores {
    let rfm: Vec<Rfm> = (0..c.customer_id.len())
        .map(|i| Rfm {
            frequency: c.frequency[i],
            recency: c.recency[i],
            age: c.age[i],
        })
        .collect();
    model
        .score(&rfm, &c.monetary_value, TimeUnit::Week, spec)
        .expect("the model crate scores the batch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_over_grpc_equal_the_model_crate_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let mut scoring = server.scoring().await;
    let columns = cdnow_columns();
    models
        .fit_model(fit_request(
            fit_spec("cdnow", pb::TransactionModelKind::BgNbd, true),
            columns.clone(),
        ))
        .await
        .unwrap();
    // The stored model, read back the way the server reads it.
    drop(models);
    let registry = {
        // Read-only look at the store, as a second process would.
        custval_server::registry::Registry::open(dir.path(), Duration::from_secs(5)).unwrap()
    };
    let model = registry.get("cdnow", 0).unwrap().model.clone();
    let spec = ClvSpec {
        horizon: custval_model::Duration::new(52.0, TimeUnit::Week),
        discount: Discount {
            rate: 0.01,
            period: custval_model::Duration::new(1.0, TimeUnit::Month),
        },
    };
    let expected = model_crate_scores(&model, &columns, &spec);

    let response = scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("cdnow")),
            customers: vec![],
            summary_columns: Some(columns.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    let ctx = response.context.unwrap();
    assert_eq!((ctx.model_name.as_str(), ctx.model_version), ("cdnow", 1));
    assert_eq!(ctx.request_id, "req-1");
    assert_eq!(ctx.time_unit, weeks());
    assert_eq!(ctx.horizon, Some(duration(52.0, pb::TimeUnit::Week)));
    assert_eq!(response.scores.len(), columns.customer_id.len());
    for (i, s) in response.scores.iter().enumerate() {
        assert_eq!(s.customer_id, columns.customer_id[i]);
        assert_eq!(s.expected_purchases, expected.expected_purchases[i]);
        assert_eq!(s.p_alive, expected.p_alive[i]);
        assert_eq!(s.propensity, expected.propensity[i]);
        assert_eq!(s.expected_spend, expected.expected_spend[i]);
        assert_eq!(s.clv, expected.clv[i]);
    }

    // The same through ScoreStream, in chunks, as columns: each chunk equals the model
    // crate's scores of that chunk.
    let n = columns.customer_id.len();
    let chunk = 1000;
    let slice = |start: usize| {
        let end = (start + chunk).min(n);
        pb::SummaryColumns {
            customer_id: columns.customer_id[start..end].to_vec(),
            frequency: columns.frequency[start..end].to_vec(),
            recency: columns.recency[start..end].to_vec(),
            age: columns.age[start..end].to_vec(),
            monetary_value: columns.monetary_value[start..end].to_vec(),
            ..Default::default()
        }
    };
    let requests: Vec<pb::ScoreStreamRequest> = (0..n)
        .step_by(chunk)
        .enumerate()
        .map(|(k, start)| pb::ScoreStreamRequest {
            options: (k == 0).then(|| score_options("cdnow")),
            customers: vec![],
            summary_columns: Some(slice(start)),
        })
        .collect();
    let mut stream = scoring
        .score_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut offset = 0;
    let mut chunks = 0;
    while let Some(r) = stream.message().await.unwrap() {
        assert_eq!(r.chunk, chunks);
        assert_eq!(r.context.is_some(), chunks == 0);
        let s = r.scores.unwrap();
        let part = slice(offset);
        let expected = model_crate_scores(&model, &part, &spec);
        assert_eq!(s.customer_id, part.customer_id);
        assert_eq!(s.expected_purchases, expected.expected_purchases);
        assert_eq!(s.p_alive, expected.p_alive);
        assert_eq!(s.propensity, expected.propensity);
        let clv: Vec<Option<f64>> = s.clv.iter().map(|&c| Some(c)).collect();
        assert_eq!(clv, expected.clv);
        assert!(s.undefined_spend.is_empty());
        offset += s.customer_id.len();
        chunks += 1;
    }
    assert_eq!(offset, n);
    assert_eq!(chunks as usize, n.div_ceil(chunk));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_histories_score_like_their_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let mut scoring = server.scoring().await;
    models
        .fit_model(fit_request(
            fit_spec("m", pb::TransactionModelKind::MbgNbd, true),
            cdnow_columns(),
        ))
        .await
        .unwrap();
    // Purchases on 2024-01-01, 2024-01-01, 2024-01-15, 2024-02-12; now = 2024-03-11.
    let day = |d: u32, m: u32| Some(ts(ymd(2024, m, d)));
    let raw = pb::Customer {
        customer_id: "c1".into(),
        transactions: vec![
            pb::Transaction {
                time: day(1, 1),
                amount: 10.0,
            },
            pb::Transaction {
                time: day(12, 2),
                amount: 30.0,
            },
            pb::Transaction {
                time: day(1, 1),
                amount: 5.0,
            },
            pb::Transaction {
                time: day(15, 1),
                amount: 20.0,
            },
        ],
        ..Default::default()
    };
    let summary = pb::Customer {
        customer_id: "c1".into(),
        summary: Some(pb::Summary {
            frequency: 2,
            recency: 6.0,
            age: 10.0,
            monetary_value: 25.0,
        }),
        ..Default::default()
    };
    let mut options = score_options("m");
    options.observation_end = Some(ts(ymd(2024, 3, 11)));
    let a = scoring
        .score(pb::ScoreRequest {
            options: Some(options.clone()),
            customers: vec![raw],
            summary_columns: None,
        })
        .await
        .unwrap()
        .into_inner();
    let b = scoring
        .score(pb::ScoreRequest {
            options: Some(options),
            customers: vec![summary],
            summary_columns: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.scores, b.scores);
    assert!(a.scores[0].clv.unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_rpcs_list_get_delete_and_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let mut scoring = server.scoring().await;
    for name in ["b", "a", "a"] {
        models
            .fit_model(fit_request(
                fit_spec(name, pb::TransactionModelKind::BgNbd, false),
                cdnow_columns(),
            ))
            .await
            .unwrap();
    }
    let list = models
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models;
    let keys: Vec<(String, u64)> = list.iter().map(|m| (m.name.clone(), m.version)).collect();
    assert_eq!(
        keys,
        vec![("a".into(), 1), ("a".into(), 2), ("b".into(), 1)]
    );
    assert!(list.iter().all(|m| m.customers == 2357));
    let only_a = models
        .list_models(pb::ListModelsRequest { name: "a".into() })
        .await
        .unwrap()
        .into_inner()
        .models;
    assert_eq!(only_a.len(), 2);

    let got = models
        .get_model(pb::GetModelRequest {
            name: "a".into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(got.version, 1);

    let not_found = |r: Result<tonic::Response<pb::GetModelResponse>, tonic::Status>| {
        assert_eq!(r.unwrap_err().code(), Code::NotFound)
    };
    not_found(
        models
            .get_model(pb::GetModelRequest {
                name: "zzz".into(),
                version: 0,
            })
            .await,
    );
    not_found(
        models
            .get_model(pb::GetModelRequest {
                name: "a".into(),
                version: 9,
            })
            .await,
    );
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("zzz")),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let mut versioned = score_options("a");
    versioned.model_version = 7;
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(versioned),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    let deleted = models
        .delete_model(pb::DeleteModelRequest {
            name: "a".into(),
            version: 2,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted_versions, vec![2]);
    let latest = models
        .get_model(pb::GetModelRequest {
            name: "a".into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(latest.version, 1);
    let e = models
        .delete_model(pb::DeleteModelRequest {
            name: "a".into(),
            version: 2,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let all = models
        .delete_model(pb::DeleteModelRequest {
            name: "a".into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.deleted_versions, vec![1]);
    let next = models
        .fit_model(fit_request(
            fit_spec("a", pb::TransactionModelKind::BgNbd, false),
            cdnow_columns(),
        ))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(next.version, 3, "versions are never reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &["--max-batch-customers", "5000"]).await;
    let mut models = server.models().await;
    let mut scoring = server.scoring().await;
    models
        .fit_model(fit_request(
            fit_spec("m", pb::TransactionModelKind::BgNbd, true),
            cdnow_columns(),
        ))
        .await
        .unwrap();

    let tx = |d: u32, amount: f64| pb::Transaction {
        time: Some(ts(ymd(2024, 1, d))),
        amount,
    };
    let customer = |id: &str, t: Vec<pb::Transaction>| pb::Customer {
        customer_id: id.into(),
        transactions: t,
        ..Default::default()
    };
    let with_bad = |bad: pb::Transaction| {
        let mut cs: Vec<pb::Customer> = (0..4)
            .map(|i| customer(&format!("c{i}"), vec![tx(2, 1.0)]))
            .collect();
        cs[3].transactions = (0..7).map(|_| tx(3, 2.0)).chain([bad]).collect();
        cs
    };
    let mut options = score_options("m");
    options.observation_end = Some(ts(ymd(2024, 1, 20)));
    let score = |customers: Vec<pb::Customer>, options: pb::ScoreOptions| {
        let mut s = scoring.clone();
        async move {
            s.score(pb::ScoreRequest {
                options: Some(options),
                customers,
                summary_columns: None,
            })
            .await
            .unwrap_err()
        }
    };
    for (bad, field) in [
        (tx(4, f64::NAN), "customers[3].transactions[7].amount"),
        (tx(4, f64::INFINITY), "customers[3].transactions[7].amount"),
        (tx(4, -1.0), "customers[3].transactions[7].amount"),
        (tx(25, 1.0), "customers[3].transactions[7].time"),
    ] {
        let e = score(with_bad(bad), options.clone()).await;
        assert_eq!(violation(&e), field);
    }
    let mut dup = with_bad(tx(4, 1.0));
    dup[2].customer_id = "c0".into();
    assert_eq!(
        violation(&score(dup, options.clone()).await),
        "customers[2].customer_id"
    );
    let mut empty = with_bad(tx(4, 1.0));
    empty[1].customer_id = String::new();
    assert_eq!(
        violation(&score(empty, options.clone()).await),
        "customers[1].customer_id"
    );

    let ok = || with_bad(tx(4, 1.0));
    let mut o = options.clone();
    o.horizon = Some(duration(0.0, pb::TimeUnit::Week));
    assert_eq!(violation(&score(ok(), o).await), "options.horizon.value");
    let mut o = options.clone();
    o.horizon = Some(duration(-3.0, pb::TimeUnit::Week));
    assert_eq!(violation(&score(ok(), o).await), "options.horizon.value");
    let mut o = options.clone();
    o.horizon = Some(pb::Duration {
        value: 4.0,
        unit: 42,
    });
    assert_eq!(violation(&score(ok(), o).await), "options.horizon.unit");
    let mut o = options.clone();
    o.horizon = None;
    assert_eq!(violation(&score(ok(), o).await), "options.horizon");
    let mut o = options.clone();
    o.observation_end = None;
    assert_eq!(violation(&score(ok(), o).await), "options.observation_end");

    // Summaries: unknown unit, and a batch above the limit.
    let mut o = options.clone();
    o.time_unit = 9;
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(o),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "options.time_unit");
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(options.clone()),
            customers: vec![],
            summary_columns: Some(simulated_columns(6000, 1)),
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "summary_columns");
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(options.clone()),
            customers: vec![],
            summary_columns: Some(pb::SummaryColumns {
                monetary_value: vec![],
                ..cdnow_columns()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "summary_columns.monetary_value");

    // Fit spec checks.
    let mut spec = fit_spec("m", pb::TransactionModelKind::BgNbd, false);
    spec.time_unit = 0;
    let e = models
        .fit_model(fit_request(spec, cdnow_columns()))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "spec.time_unit");
    let e = models
        .fit_model(fit_request(
            fit_spec("bad name!", pb::TransactionModelKind::BgNbd, false),
            cdnow_columns(),
        ))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "spec.name");
    // A bad summary value, and an absurd frequency (per-frequency tables would need
    // gigabytes): refused by name.
    let mut nan_recency = cdnow_columns();
    nan_recency.recency[10] = f64::NAN;
    let mut absurd_frequency = cdnow_columns();
    absurd_frequency.frequency[11] = u32::MAX;
    for (cols, field) in [
        (nan_recency, "summary_columns.recency[10]"),
        (absurd_frequency, "summary_columns.frequency[11]"),
    ] {
        let e = models
            .fit_model(fit_request(
                fit_spec("m", pb::TransactionModelKind::BgNbd, false),
                cols,
            ))
            .await
            .unwrap_err();
        assert_eq!(violation(&e), field);
    }

    // Nothing stored was lost along the way, and the server still serves.
    let list = models
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models;
    assert_eq!(list.len(), 1);
    scoring
        .score(pb::ScoreRequest {
            options: Some(options),
            customers: ok(),
            summary_columns: None,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fit_that_does_not_converge_is_failed_precondition_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    // One optimizer iteration cannot reach the Pareto/NBD optimum.
    let mut spec = fit_spec("flat", pb::TransactionModelKind::ParetoNbd, false);
    spec.max_iterations = 1;
    let e = models
        .fit_model(fit_request(spec, cdnow_columns()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let details = e.get_error_details();
    assert!(details.precondition_failure().is_some(), "{e:?}");
    let e = models
        .get_model(pb::GetModelRequest {
            name: "flat".into(),
            version: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "custval.v1.Models",
        "custval.v1.Scoring",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // And the file defining Scoring, with its imports, so tools can build requests.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "custval.v1.Scoring".into(),
        )),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    assert!(matches!(
        response.message_response,
        Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_are_respected_and_late_fits_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    // Pareto/NBD on 100k customers takes far longer than 50 ms.
    let mut request = tonic::Request::new(fit_request(
        fit_spec("slow", pb::TransactionModelKind::ParetoNbd, false),
        simulated_columns(100_000, 3),
    ));
    // The deadline travels as the grpc-timeout header only, so the answer is the server's.
    request
        .metadata_mut()
        .insert("grpc-timeout", "50m".parse().unwrap());
    let started = std::time::Instant::now();
    let e = models.fit_model(request).await.unwrap_err();
    // tonic's client enforces the header too and may answer first, with CANCELLED.
    assert!(
        matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The work may finish in the background; it must not be stored.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let list = models
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models;
    assert!(list.is_empty(), "{list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fits_and_scores_all_succeed_with_distinct_versions() {
    let dir = tempfile::tempdir().unwrap();
    // The requests beyond the places to run wait for one, however busy the machine.
    let server = TestServer::start(dir.path(), &["--max-queue-wait-ms", "600000"]).await;
    let models = server.models().await;
    let scoring = server.scoring().await;
    models
        .clone()
        .fit_model(fit_request(
            fit_spec("base", pb::TransactionModelKind::BgNbd, true),
            cdnow_columns(),
        ))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let mut m = models.clone();
        tasks.push(tokio::spawn(async move {
            let kind = [
                pb::TransactionModelKind::BgNbd,
                pb::TransactionModelKind::MbgNbd,
            ][i % 2];
            m.fit_model(fit_request(fit_spec("many", kind, true), cdnow_columns()))
                .await
                .map(|r| r.into_inner().model.unwrap().version)
        }));
    }
    let mut scores = Vec::new();
    for _ in 0..24 {
        let mut s = scoring.clone();
        scores.push(tokio::spawn(async move {
            s.score(pb::ScoreRequest {
                options: Some(score_options("base")),
                customers: vec![],
                summary_columns: Some(cdnow_columns()),
            })
            .await
            .map(|r| r.into_inner().scores)
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap().unwrap());
    }
    versions.sort();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6]);
    let first = scores.remove(0).await.unwrap().unwrap();
    for s in scores {
        assert_eq!(s.await.unwrap().unwrap(), first, "concurrent scores agree");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_customers_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let mut scoring = server.scoring().await;
    models
        .fit_model(fit_request(
            fit_spec("m", pb::TransactionModelKind::BgNbd, false),
            cdnow_columns(),
        ))
        .await
        .unwrap();
    scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("m")),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap();
    let _ = models
        .get_model(pb::GetModelRequest {
            name: "nope".into(),
            version: 0,
        })
        .await;
    let text = server.metrics_text().await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for want in [
        r#"custval_requests_total{method="FitModel",code="OK"} 1"#,
        r#"custval_requests_total{method="Score",code="OK"} 1"#,
        r#"custval_requests_total{method="GetModel",code="NOT_FOUND"} 1"#,
        "custval_customers_scored_total 2357",
        "custval_customers_fitted_total 2357",
        r#"custval_request_duration_seconds_count{method="Score"} 1"#,
        "custval_requests_in_flight 0",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_guards_the_api_but_not_health() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &["--auth-token", "t0ken"]).await;
    let mut models = server.models().await;
    let e = models
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut request = tonic::Request::new(pb::ListModelsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Bearer t0ken".parse().unwrap());
    models.list_models(request).await.unwrap();
    assert_eq!(
        server.health("").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_clients_that_trust_the_certificate() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig};
    let tls = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let dir = tempfile::tempdir().unwrap();
    let cert = tls.join("server.pem").display().to_string();
    let key = tls.join("server.key").display().to_string();
    let server =
        TestServer::start_loading(dir.path(), &["--tls-cert", &cert, "--tls-key", &key]).await;
    let ca = Certificate::from_pem(std::fs::read(tls.join("ca.pem")).unwrap());
    let endpoint = Channel::from_shared(format!("https://localhost:{}", server.addr.port()))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(ca)
                .domain_name("localhost"),
        )
        .unwrap();
    let mut listed = None;
    for _ in 0..200 {
        if let Ok(channel) = endpoint.connect().await {
            let mut models = pb::models_client::ModelsClient::new(channel);
            match models.list_models(pb::ListModelsRequest::default()).await {
                Ok(r) => {
                    listed = Some(r.into_inner());
                    break;
                }
                Err(e) if e.code() == Code::Unavailable => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(listed.expect("TLS call succeeded").models.is_empty());
    // Plain-text clients cannot talk to it.
    let plain = Channel::from_shared(server.url()).unwrap().connect().await;
    if let Ok(channel) = plain {
        let mut models = pb::models_client::ModelsClient::new(channel);
        assert!(
            models
                .list_models(pb::ListModelsRequest::default())
                .await
                .is_err()
        );
    }
}

/// Field paths as the request carries them (regressions: a score's holdout columns were
/// blamed on `spec.holdout_duration`, too many discount periods on
/// `options.discount_period`, a one-customer segmentation on `segment_options.customers`),
/// and NOT_FOUND says which resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_field_and_the_resource_the_request_used() {
    use tonic_types::StatusExt;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let mut scoring = server.scoring().await;
    models
        .fit_model(fit_request(
            fit_spec("m", pb::TransactionModelKind::BgNbd, true),
            cdnow_columns(),
        ))
        .await
        .unwrap();
    let mut columns = cdnow_columns();
    let n = columns.customer_id.len();
    columns.holdout_frequency = vec![0; n];
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("m")),
            customers: vec![],
            summary_columns: Some(columns),
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "summary_columns.holdout_frequency");
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("m")),
            customers: vec![pb::Customer {
                customer_id: "a".into(),
                summary: Some(pb::Summary {
                    frequency: 1,
                    recency: 2.0,
                    age: 5.0,
                    monetary_value: 3.0,
                }),
                holdout: Some(pb::HoldoutSummary::default()),
                ..Default::default()
            }],
            summary_columns: None,
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "customers[0].holdout");

    let mut options = score_options("m");
    options.horizon = Some(duration(1000.0, pb::TimeUnit::Year));
    options.discount = Some(pb::DiscountRate {
        rate: 0.01,
        period: Some(duration(1.0, pb::TimeUnit::Day)),
    });
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(options),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "options.discount.period");

    let mut one = cdnow_columns();
    one.customer_id.truncate(1);
    one.frequency.truncate(1);
    one.recency.truncate(1);
    one.age.truncate(1);
    one.monetary_value.truncate(1);
    let e = scoring
        .segment(pb::SegmentRequest {
            options: Some(score_options("m")),
            summary_columns: Some(one),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "summary_columns.customer_id");

    for (name, version, resource) in [("nope", 0, "nope"), ("m", 7, "m/versions/7")] {
        let e = models
            .get_model(pb::GetModelRequest {
                name: name.into(),
                version,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        let info = e
            .get_error_details()
            .resource_info()
            .cloned()
            .expect("NOT_FOUND carries ResourceInfo");
        assert_eq!(info.resource_type, "custval.v1.Model");
        assert_eq!(info.resource_name, resource);
    }
}

/// Options that would keep a core busy for hours are refused up front, naming the field
/// (regression: `runs = 4294967295` answered DEADLINE_EXCEEDED and then kept running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_options_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let mut scoring = server.scoring().await;
    let mut spec = fit_spec("m", pb::TransactionModelKind::BgNbd, true);
    spec.max_iterations = u32::MAX;
    let e = models
        .fit_model(fit_request(spec.clone(), cdnow_columns()))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "spec.max_iterations");
    spec.max_iterations = 10_000;
    models
        .fit_model(fit_request(spec, cdnow_columns()))
        .await
        .unwrap();
    let cases = [
        (
            pb::SegmentOptions {
                runs: u32::MAX,
                ..Default::default()
            },
            "segment_options.runs",
        ),
        (
            pb::SegmentOptions {
                k_max: 1_000_000,
                ..Default::default()
            },
            "segment_options.k_max",
        ),
        (
            pb::SegmentOptions {
                k: 51,
                ..Default::default()
            },
            "segment_options.k",
        ),
        (
            pb::SegmentOptions {
                max_iterations: 10_001,
                ..Default::default()
            },
            "segment_options.max_iterations",
        ),
    ];
    for (options, field) in cases {
        let e = scoring
            .segment(pb::SegmentRequest {
                options: Some(score_options("m")),
                summary_columns: Some(cdnow_columns()),
                segment_options: Some(options),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violation(&e), field);
    }
}

/// Finite but absurd inputs are INVALID_ARGUMENT naming the field, in every RPC that reads
/// customers (regression: `monetary_value = 1e308` gave `clv = inf` in an OK Score and
/// INTERNAL errors from Segment, Recommend and FitModel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_finite_inputs_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let mut scoring = server.scoring().await;
    models
        .fit_model(fit_request(
            fit_spec("m", pb::TransactionModelKind::BgNbd, true),
            cdnow_columns(),
        ))
        .await
        .unwrap();
    let mut rich = cdnow_columns();
    let k = rich.frequency.iter().position(|&f| f > 0).unwrap();
    rich.monetary_value[k] = 1e308;
    let field = format!("summary_columns.monetary_value[{k}]");
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("m")),
            customers: vec![],
            summary_columns: Some(rich.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), field);
    let e = scoring
        .segment(pb::SegmentRequest {
            options: Some(score_options("m")),
            summary_columns: Some(rich.clone()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), field);
    let e = scoring
        .recommend(pb::RecommendRequest {
            options: Some(score_options("m")),
            summary_columns: Some(rich.clone()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), field);
    let e = models
        .fit_model(fit_request(
            fit_spec("m2", pb::TransactionModelKind::BgNbd, true),
            rich,
        ))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), field);
    // An age of 1e300 weeks, and a purchase of 1e300.
    let mut old = cdnow_columns();
    old.age[0] = 1e300;
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(score_options("m")),
            customers: vec![],
            summary_columns: Some(old),
        })
        .await
        .unwrap_err();
    assert!(violation(&e).starts_with("summary_columns."), "{e:?}");
    let mut options = score_options("m");
    options.observation_end = Some(ts(ymd(2024, 1, 20)));
    let e = scoring
        .score(pb::ScoreRequest {
            options: Some(options),
            customers: vec![pb::Customer {
                customer_id: "big".into(),
                transactions: vec![pb::Transaction {
                    time: Some(ts(ymd(2024, 1, 2))),
                    amount: 1e300,
                }],
                ..Default::default()
            }],
            summary_columns: None,
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "customers[0].transactions[0].amount");
    // Nothing stored was lost.
    assert_eq!(
        models
            .list_models(pb::ListModelsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .models
            .len(),
        1
    );
}
