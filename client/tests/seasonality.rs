//! `custval fit` on a transaction log with a holdout reports `seasonality_suspected` when
//! the holdout has a season: the CLI sends summaries, so it judges the returned model on
//! the holdout weeks it counted itself.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::fmt::Write;

use common::{Server, ok, p};
use custval_model::data::summary::Day;
use custval_model::simulate::{CalendarClock, SimulationSpec, simulate_transactions_on_clock};
use custval_model::{BetaGeoParams, TransactionModel};
use serde_json::Value;

const CALIBRATION_WEEKS: i32 = 52;
const HOLDOUT_WEEKS: i32 = 39;

fn origin() -> Day {
    Day::from_ymd(1997, 4, 1).unwrap()
}

/// A transaction log of CDNOW-like customers on `clock`.
fn log(clock: &CalendarClock) -> String {
    let spec = SimulationSpec {
        customers: 8000,
        seed: 9,
        process: TransactionModel::bg_nbd(BetaGeoParams::published_cdnow()),
        spend: None,
        calibration_length: f64::from(CALIBRATION_WEEKS),
        birth_window: f64::from(CALIBRATION_WEEKS) / 2.0,
        holdout_length: f64::from(HOLDOUT_WEEKS),
    };
    let last_day = origin().0 + 7 * (CALIBRATION_WEEKS + HOLDOUT_WEEKS) - 1;
    let mut text = String::from("customer_id,date,amount\n");
    simulate_transactions_on_clock(&spec, clock, |t| {
        let day = Day((origin().0 + (t.time * 7.0).floor() as i32).min(last_day));
        writeln!(text, "c{},{day},10", t.customer).unwrap();
    })
    .unwrap();
    text
}

fn fit(server: &Server, dir: &std::path::Path, name: &str, clock: &CalendarClock) -> Value {
    let tx = p(dir, &format!("{name}.csv"));
    std::fs::write(&tx, log(clock)).unwrap();
    let observation_end = Day(origin().0 + 7 * CALIBRATION_WEEKS - 1).to_string();
    let holdout_end = Day(origin().0 + 7 * (CALIBRATION_WEEKS + HOLDOUT_WEEKS) - 1).to_string();
    serde_json::from_str(&ok(server.run(&[
        "fit",
        "--input",
        &tx,
        "--observation-end",
        &observation_end,
        "--holdout-end",
        &holdout_end,
        "--spend",
        "none",
        "--name",
        name,
        "--json",
    ])))
    .unwrap()
}

fn seasonality(fit: &Value) -> Option<String> {
    fit["diagnostics"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "seasonality_suspected")
        .map(|w| w["message"].as_str().unwrap().to_owned())
}

#[test]
fn a_holdout_season_reaches_the_fit_output() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    // Holdout weeks 34 to 37 (from 1998-11-24) at three times the usual activity.
    let peak = f64::from(CALIBRATION_WEEKS + 34);
    let seasonal = CalendarClock::new(&[(0.0, 1.0), (peak, 3.0), (peak + 4.0, 1.0)]).unwrap();
    let fitted = fit(&server, dir.path(), "seasonal", &seasonal);
    let message = seasonality(&fitted).unwrap_or_else(|| panic!("{fitted:#}"));
    for week in 34..38 {
        let start = Day(origin().0 + 7 * (CALIBRATION_WEEKS + week)).to_string();
        assert!(message.contains(&start), "{start}: {message}");
    }
    // The plain-string list has it too.
    assert!(
        fitted["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("seasonality_suspected: ")),
        "{fitted:#}"
    );
    let steady = fit(&server, dir.path(), "steady", &CalendarClock::steady());
    assert_eq!(seasonality(&steady), None, "{steady:#}");
}
