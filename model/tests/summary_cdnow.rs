//! CDNOW sample → summary, checked against the summary files shipped with `lifetimes`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

use custval_model::TimeUnit;
use custval_model::data::summary::{
    CsvOptions, Day, RowPolicy, SummaryConfig, SummaryOutput, summarize_csv,
};

fn cdnow_dir() -> PathBuf {
    std::env::var_os("CDNOW_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cdnow"))
        })
}

fn sample_options() -> CsvOptions {
    common::cdnow_sample_options()
}

fn day(y: i32, m: u32, d: u32) -> Day {
    Day::from_ymd(y, m, d).unwrap()
}

fn summarize(config: SummaryConfig) -> SummaryOutput {
    let file = File::open(cdnow_dir().join("CDNOW_sample.txt")).unwrap();
    summarize_csv(file, &sample_options(), config).unwrap()
}

/// ID -> the other columns, from a lifetimes summary CSV.
fn read_expected(name: &str) -> HashMap<String, Vec<f64>> {
    let text = std::fs::read_to_string(cdnow_dir().join(name)).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.trim().split(',');
            let id = it.next().unwrap().to_owned();
            (id, it.map(|v| v.parse().unwrap()).collect())
        })
        .collect()
}

fn check_calibration(out: &SummaryOutput) {
    let t = &out.table;
    let summary = read_expected("cdnow_customers_summary.csv");
    let with_tx = read_expected("cdnow_customers_summary_with_transactions.csv");
    assert_eq!(t.len(), 2357);
    assert_eq!(summary.len(), 2357);
    assert_eq!(with_tx.len(), 2357);
    assert_eq!(t.unit, Some(TimeUnit::Week));
    let mut repeaters = 0;
    for i in 0..t.len() {
        // Ids are kept as written: the sample file zero-pads them ("0001").
        assert_eq!(t.ids[i].len(), 4);
        let id = t.ids[i].parse::<u32>().unwrap().to_string();
        assert_eq!(id, (i + 1).to_string(), "first-appearance order");
        let e = &summary[&id];
        let z = &with_tx[&id];
        let r = t.rfm[i];
        assert_eq!(f64::from(r.frequency), e[0], "frequency of {id}");
        assert_eq!(z[0], e[0]);
        assert!(
            (r.recency - e[1]).abs() <= 0.005 + 1e-9,
            "recency of {id}: {} vs {}",
            r.recency,
            e[1]
        );
        assert!(
            (r.age - e[2]).abs() <= 0.005 + 1e-9,
            "T of {id}: {} vs {}",
            r.age,
            e[2]
        );
        assert!(
            (t.monetary_value[i] - z[3]).abs() <= 0.005 + 1e-9,
            "zbar of {id}: {} vs {}",
            t.monetary_value[i],
            z[3]
        );
        repeaters += usize::from(r.frequency > 0);
    }
    assert_eq!(repeaters, 946);
}

#[test]
fn cdnow_calibration_summary_matches_lifetimes() {
    // Rows after the observation end are bad rows: lenient mode skips and counts them.
    let out = summarize(SummaryConfig {
        unit: TimeUnit::Week,
        observation_end: day(1997, 9, 30),
        calibration_end: None,
        policy: RowPolicy::Lenient,
    });
    check_calibration(&out);
    let s = &out.stats;
    assert_eq!(s.rows_read, 6919);
    assert_eq!(s.rows_used + s.rows_skipped, 6919);
    assert_eq!(s.skipped_by_reason.len(), 1, "{:?}", s.skipped_by_reason);
    assert_eq!(
        s.skipped_by_reason["date is after observation_end"],
        s.rows_skipped
    );
    assert_eq!(s.customers, 2357);
    assert_eq!(s.customers_born_in_holdout, 0);
    assert!(out.table.holdout.is_none());
    // The first bad row names its line, column and text.
    let e = &s.examples[0];
    assert_eq!((e.column, e.field.as_str()), (Some(3), "date"));
    assert!(
        e.value.starts_with("1997") && e.value.as_str() > "19970930",
        "{e}"
    );
}

#[test]
fn cdnow_calibration_and_holdout() {
    let out = summarize(SummaryConfig {
        unit: TimeUnit::Week,
        observation_end: day(1998, 6, 30),
        calibration_end: Some(day(1997, 9, 30)),
        policy: RowPolicy::Strict,
    });
    check_calibration(&out);
    let h = out.table.holdout.as_ref().unwrap();
    assert_eq!(h.duration, 39.0);
    assert_eq!(h.frequency.len(), 2357);
    assert_eq!(h.frequency.iter().map(|&x| u64::from(x)).sum::<u64>(), 1882);
    assert!(h.spend.iter().all(|s| s.is_finite() && *s >= 0.0));
    assert!(
        h.frequency
            .iter()
            .zip(&h.spend)
            .all(|(&x, &s)| (x == 0) == (s == 0.0) || x > 0)
    );
    let s = &out.stats;
    assert_eq!((s.rows_read, s.rows_used, s.rows_skipped), (6919, 6919, 0));
    assert_eq!(s.customers_born_in_holdout, 0);
}

#[test]
fn cdnow_strict_mode_stops_at_the_first_row_after_the_end() {
    let file = File::open(cdnow_dir().join("CDNOW_sample.txt")).unwrap();
    let config = SummaryConfig {
        unit: TimeUnit::Week,
        observation_end: day(1997, 9, 30),
        calibration_end: None,
        policy: RowPolicy::Strict,
    };
    let err = summarize_csv(file, &sample_options(), config).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("column 3 (date)") && msg.contains("after observation_end"),
        "{msg}"
    );
}
