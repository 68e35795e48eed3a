//! Backtests (`Models/Backtest`): a raw log cut at several calibration ends, every family
//! fitted on each calibration period and judged on the holdout after it, beside naive
//! baselines; the winner stored only when asked.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;
use custval_proto::v1 as pb;

fn spec() -> pb::BacktestSpec {
    pb::BacktestSpec {
        spend_model: pb::SpendModelKind::GammaGamma as i32,
        time_unit: weeks(),
        data_end: Some(ts(ymd(1998, 6, 30))),
        holdout: Some(duration(39.0, pb::TimeUnit::Week)),
        ..Default::default()
    }
}

async fn backtest(
    server: &TestServer,
    spec: pb::BacktestSpec,
    customers: Vec<pb::Customer>,
) -> Result<pb::BacktestResponse, tonic::Status> {
    // Two chunks, so that the stream path is the one tested.
    let half = customers.len() / 2;
    let mut first = customers;
    let second = first.split_off(half);
    let chunks = vec![
        pb::BacktestChunk {
            spec: Some(spec),
            customers: first,
        },
        pb::BacktestChunk {
            spec: None,
            customers: second,
        },
    ];
    server
        .models()
        .await
        .backtest(tokio_stream::iter(chunks))
        .await
        .map(tonic::Response::into_inner)
}

async fn stored(server: &TestServer) -> usize {
    server
        .models()
        .await
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models
        .len()
}

/// One fold at FHL's split is the fit with a holdout, family by family: the same summaries
/// through the same pipeline give the same figures (FHL: 1,882 actual repeat purchases in
/// weeks 40-78, BG/NBD predicts about 1,654), and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fold_at_fhl_split_reproduces_the_fits_with_a_holdout() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let r = backtest(
        &server,
        pb::BacktestSpec {
            calibration_ends: vec![ts(ymd(1997, 9, 30))],
            ..spec()
        },
        cdnow_customers(),
    )
    .await
    .unwrap();
    assert_eq!(r.criterion, "mean_holdout_mae");
    assert_eq!(r.holdout_days, 273);
    assert_eq!(r.time_unit, weeks());
    assert_eq!(r.folds.len(), 1);
    let fold = &r.folds[0];
    assert_eq!(fold.customers, 2357);
    assert_eq!(fold.holdout_end, Some(ts(ymd(1998, 6, 30))));
    let names: Vec<&str> = fold.candidates.iter().map(|c| c.family.as_str()).collect();
    assert_eq!(names, ["bgnbd", "mbgnbd", "pareto-nbd"]);

    let mut models = server.models().await;
    for c in &fold.candidates {
        assert!(c.error.is_empty(), "{c:?}");
        let h = c.holdout.as_ref().unwrap();
        assert_eq!(h.actual_total, 1882.0);
        let mut fit = fit_spec(&c.family, pb::TransactionModelKind::Unspecified, true);
        fit.family = c.family.clone();
        fit.observation_end = Some(ts(ymd(1997, 9, 30)));
        fit.holdout_end = Some(ts(ymd(1998, 6, 30)));
        let model = models
            .fit_model(pb::FitModelRequest {
                spec: Some(fit),
                customers: cdnow_customers(),
                summary_columns: None,
            })
            .await
            .unwrap()
            .into_inner()
            .model
            .unwrap();
        let expected = model.holdout.unwrap();
        assert_eq!(h.predicted_total, expected.predicted_total, "{}", c.family);
        assert_eq!(h.mae, expected.mae, "{}", c.family);
        assert_eq!(
            h.purchases_ranking, expected.purchases_ranking,
            "{}",
            c.family
        );
        assert_eq!(h.revenue_ranking, expected.revenue_ranking, "{}", c.family);
        assert_eq!(c.params, model.params, "{}", c.family);
        // Baselines sit beside the model on the same customers.
        let baselines: Vec<&str> = h
            .purchases_ranking
            .as_ref()
            .unwrap()
            .baselines
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        assert!(baselines.contains(&"past_frequency"), "{baselines:?}");
    }
    let bg = &fold.candidates[0];
    let predicted = bg.holdout.as_ref().unwrap().predicted_total;
    assert!(
        (predicted - 1654.0).abs() < 15.0,
        "BG/NBD predicts {predicted}"
    );

    // The summaries are the folds' figures, and the winner has the lowest MAE.
    for (s, c) in r.summaries.iter().zip(&fold.candidates) {
        assert_eq!(s.family, c.family);
        assert_eq!((s.folds, s.folds_fitted), (1, 1));
        assert_eq!(s.mean_holdout_mae, Some(c.holdout.as_ref().unwrap().mae));
        let e = s.mean_total_error.unwrap();
        assert!(
            (-0.20..-0.05).contains(&e),
            "FHL: every family under-predicts: {s:?}"
        );
        assert_eq!(s.mean_abs_total_error, Some(e.abs()));
    }
    let best = r
        .summaries
        .iter()
        .min_by(|a, b| {
            a.mean_holdout_mae
                .unwrap()
                .total_cmp(&b.mean_holdout_mae.unwrap())
        })
        .unwrap();
    assert_eq!(r.chosen, best.family);
    assert!(r.reason.contains(&r.chosen), "{}", r.reason);
    assert!(r.model.is_none());
    // Only the three fits of this test are stored; the backtest stored nothing.
    assert_eq!(stored(&server).await, 3);
}

/// A rolling origin: folds that tile the end of the log, families averaged over them, and
/// the winner fitted on the whole log and stored under the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_origin_averages_the_folds_and_stores_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let r = backtest(
        &server,
        pb::BacktestSpec {
            holdout: Some(duration(13.0, pb::TimeUnit::Week)),
            folds: 3,
            families: vec!["bg-nbd".into(), "pareto-nbd".into()],
            name: "cdnow-bt".into(),
            ..spec()
        },
        cdnow_customers(),
    )
    .await
    .unwrap();
    assert_eq!(r.holdout_days, 91);
    let ends: Vec<_> = r
        .folds
        .iter()
        .map(|f| {
            (
                f.calibration_end.unwrap().seconds,
                f.holdout_end.unwrap().seconds,
            )
        })
        .collect();
    let day = 86_400;
    let data_end = ts(ymd(1998, 6, 30)).seconds;
    assert_eq!(ends.len(), 3);
    assert_eq!(ends[2].1, data_end);
    for (k, &(cal, hold)) in ends.iter().enumerate() {
        assert_eq!(hold - cal, 91 * day);
        assert_eq!(cal, data_end - (91 + 91 * (2 - k as i64)) * day);
    }
    // The later the calibration end, the more customers have had a first purchase.
    assert!(r.folds.windows(2).all(|w| w[0].customers <= w[1].customers));
    for (k, s) in r.summaries.iter().enumerate() {
        assert_eq!((s.folds, s.folds_fitted), (3, 3), "{s:?}");
        let maes: Vec<f64> = r
            .folds
            .iter()
            .map(|f| f.candidates[k].holdout.as_ref().unwrap().mae)
            .collect();
        let mean = maes.iter().sum::<f64>() / 3.0;
        assert!((s.mean_holdout_mae.unwrap() - mean).abs() < 1e-12);
        assert!(!s.baselines.is_empty());
    }
    let names: Vec<&str> = r.summaries.iter().map(|s| s.family.as_str()).collect();
    assert_eq!(names, ["bgnbd", "pareto-nbd"]);
    let best = r
        .summaries
        .iter()
        .min_by(|a, b| {
            a.mean_holdout_mae
                .unwrap()
                .total_cmp(&b.mean_holdout_mae.unwrap())
        })
        .unwrap();
    assert_eq!(r.chosen, best.family);

    let model = r.model.expect("the winner is stored under the name");
    assert_eq!((model.name.as_str(), model.version), ("cdnow-bt", 1));
    assert_eq!(model.family, r.chosen);
    assert!(model.holdout.is_none(), "the final fit uses the whole log");
    let meta = server
        .models()
        .await
        .model_metadata(pb::ModelMetadataRequest {
            name: "cdnow-bt".into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let training = meta.training.unwrap();
    assert_eq!(training.observation_end, Some(ts(ymd(1998, 6, 30))));
    // CDNOW's cohort joined in early 1997: everyone is in every fold and the final fit.
    assert_eq!(training.customers, r.folds[2].customers);
    assert_eq!(stored(&server).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_backtests_are_refused_naming_the_field_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let customers = || cdnow_customers()[..40].to_vec();
    let at = |ends: Vec<prost_types::Timestamp>| pb::BacktestSpec {
        calibration_ends: ends,
        ..spec()
    };
    let cases: Vec<(pb::BacktestSpec, Vec<pb::Customer>, &str)> = vec![
        (spec(), customers(), "chunks[0].spec.folds"),
        (
            pb::BacktestSpec {
                folds: 2,
                ..at(vec![ts(ymd(1997, 9, 30))])
            },
            customers(),
            "chunks[0].spec.folds",
        ),
        (
            pb::BacktestSpec {
                folds: 25,
                ..spec()
            },
            customers(),
            "chunks[0].spec.folds",
        ),
        // Its 39-week holdout would run past the data end.
        (
            at(vec![ts(ymd(1998, 1, 1))]),
            customers(),
            "chunks[0].spec.calibration_ends",
        ),
        (
            pb::BacktestSpec {
                holdout: Some(duration(0.0, pb::TimeUnit::Week)),
                ..at(vec![ts(ymd(1997, 9, 30))])
            },
            customers(),
            "chunks[0].spec.holdout.value",
        ),
        (
            pb::BacktestSpec {
                families: vec!["bgnbd".into(), "no-such-family".into()],
                ..at(vec![ts(ymd(1997, 9, 30))])
            },
            customers(),
            "chunks[0].spec.families[1]",
        ),
        (
            pb::BacktestSpec {
                data_end: Some(ts(ymd(1997, 12, 31))),
                ..at(vec![ts(ymd(1997, 3, 31))])
            },
            vec![pb::Customer {
                customer_id: "late".into(),
                transactions: [ymd(1997, 1, 5), ymd(1998, 3, 1)]
                    .into_iter()
                    .map(|d| pb::Transaction {
                        time: Some(ts(d)),
                        amount: 1.0,
                    })
                    .collect(),
                ..Default::default()
            }],
            "chunks[0].customers[0].transactions[1].time",
        ),
        (
            at(vec![ts(ymd(1997, 9, 30))]),
            vec![pb::Customer {
                customer_id: "s".into(),
                summary: Some(pb::Summary::default()),
                ..Default::default()
            }],
            "chunks[0].customers[0].summary",
        ),
        (
            at(vec![ts(ymd(1997, 9, 30))]),
            {
                let mut c = customers();
                c[3].transactions[0].amount = f64::NAN;
                c
            },
            "chunks[0].customers[3].transactions[0].amount",
        ),
    ];
    for (spec, customers, field) in cases {
        let chunks = vec![pb::BacktestChunk {
            spec: Some(spec.clone()),
            customers,
        }];
        let status = server
            .models()
            .await
            .backtest(tokio_stream::iter(chunks))
            .await
            .unwrap_err();
        assert_eq!(violation(&status), field, "{spec:?}: {status:?}");
    }
    // Earliest calibration end before the first purchase: nobody to fit.
    let status = backtest(&server, at(vec![ts(ymd(1996, 12, 1))]), customers())
        .await
        .unwrap_err();
    assert_eq!(
        violation(&status),
        "chunks[0].spec.calibration_ends",
        "{status:?}"
    );
    assert_eq!(stored(&server).await, 0);
}
