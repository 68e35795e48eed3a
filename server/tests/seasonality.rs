//! A fit on raw transactions with a holdout gets the `seasonality_suspected` finding when
//! the holdout has a season the model cannot express, and not when it has none.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;
use custval_model::data::summary::Day;
use custval_model::simulate::{CalendarClock, SimulationSpec, simulate_transactions_on_clock};
use custval_model::{BetaGeoParams, TransactionModel};
use custval_proto::v1 as pb;

const CALIBRATION_WEEKS: i32 = 52;
const HOLDOUT_WEEKS: i32 = 39;

/// Day of simulated time 0: the holdout runs from 1998-03-31 to 1998-12-28.
fn origin() -> Day {
    ymd(1997, 4, 1)
}

/// CDNOW-like customers on `clock`, as raw transactions on calendar days.
fn customers(clock: &CalendarClock) -> Vec<pb::Customer> {
    let spec = SimulationSpec {
        customers: 8000,
        seed: 5,
        process: TransactionModel::bg_nbd(BetaGeoParams::published_cdnow()),
        spend: None,
        calibration_length: f64::from(CALIBRATION_WEEKS),
        birth_window: f64::from(CALIBRATION_WEEKS) / 2.0,
        holdout_length: f64::from(HOLDOUT_WEEKS),
    };
    let last_day = origin().0 + 7 * (CALIBRATION_WEEKS + HOLDOUT_WEEKS) - 1;
    let mut out: Vec<pb::Customer> = Vec::new();
    simulate_transactions_on_clock(&spec, clock, |t| {
        let id = t.customer.to_string();
        if out.last().is_none_or(|c| c.customer_id != id) {
            out.push(pb::Customer {
                customer_id: id,
                ..Default::default()
            });
        }
        let day = Day((origin().0 + (t.time * 7.0).floor() as i32).min(last_day));
        out.last_mut().unwrap().transactions.push(pb::Transaction {
            time: Some(ts(day)),
            amount: 10.0,
        });
    })
    .unwrap();
    out
}

async fn findings(server: &TestServer, name: &str, clock: &CalendarClock) -> Vec<pb::FitWarning> {
    let spec = pb::FitSpec {
        observation_end: Some(ts(Day(origin().0 + 7 * CALIBRATION_WEEKS - 1))),
        holdout_end: Some(ts(Day(origin().0
            + 7 * (CALIBRATION_WEEKS + HOLDOUT_WEEKS)
            - 1))),
        ..fit_spec(name, pb::TransactionModelKind::BgNbd, false)
    };
    let r = server
        .models()
        .await
        .fit_model(pb::FitModelRequest {
            spec: Some(spec),
            customers: customers(clock),
            summary_columns: None,
        })
        .await
        .unwrap()
        .into_inner();
    r.model.unwrap().diagnostics.unwrap().findings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holdout_season_is_a_finding_of_a_fit_on_raw_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    // Holdout weeks 34 to 37 (from 1998-11-24) at three times the usual activity.
    let peak = f64::from(CALIBRATION_WEEKS + 34);
    let seasonal = CalendarClock::new(&[(0.0, 1.0), (peak, 3.0), (peak + 4.0, 1.0)]).unwrap();
    let found = findings(&server, "seasonal", &seasonal).await;
    let w = found
        .iter()
        .find(|w| w.code == "seasonality_suspected")
        .unwrap_or_else(|| panic!("{found:#?}"));
    for week in 34..38 {
        let start = Day(origin().0 + 7 * (CALIBRATION_WEEKS + week)).to_string();
        assert!(w.message.contains(&start), "{start}: {}", w.message);
    }
    // The same customers without the season.
    let steady = findings(&server, "steady", &CalendarClock::steady()).await;
    assert!(
        steady.iter().all(|w| w.code != "seasonality_suspected"),
        "{steady:#?}"
    );
}
