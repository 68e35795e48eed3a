//! Shared fixtures for the integration tests: the CDNOW sample and lifetimes' golden values.
#![allow(dead_code)]

use custval_model::Rfm;
use serde_json::Value;

pub fn fixture_dir() -> String {
    std::env::var("CDNOW_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cdnow").into())
}

/// (id, rfm, zbar) rows of `cdnow_customers_summary_with_transactions.csv` (weeks).
pub fn cdnow_summary() -> Vec<(u32, Rfm, f64)> {
    let text = std::fs::read_to_string(format!(
        "{}/cdnow_customers_summary_with_transactions.csv",
        fixture_dir()
    ))
    .unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.trim().split(',').collect();
            let x: u32 = f[1].parse().unwrap();
            (
                f[0].parse().unwrap(),
                Rfm::new(x, f[2].parse().unwrap(), f[3].parse().unwrap()).unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}

pub fn reference() -> Value {
    let text =
        std::fs::read_to_string(format!("{}/reference_lifetimes.json", fixture_dir())).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("no number at {path:?}"))
}

#[track_caller]
pub fn assert_rel(actual: f64, expected: f64, tol: f64, what: &str) {
    let rel = (actual - expected).abs() / expected.abs().max(1e-300);
    assert!(
        rel <= tol,
        "{what}: got {actual}, expected {expected} (relative error {rel:.3e} > {tol:.0e})"
    );
}

/// How to read `CDNOW_sample.txt`: whitespace-separated, no header, sample id in column 1,
/// YYYYMMDD date in column 2, dollar value in column 4.
pub fn cdnow_sample_options() -> custval_model::data::summary::CsvOptions {
    use custval_model::data::summary::{ColumnRef, CsvOptions, DateFormat, Delimiter};
    CsvOptions {
        has_header: false,
        delimiter: Delimiter::Whitespace,
        customer_id: ColumnRef::Index(1),
        date: ColumnRef::Index(2),
        amount: ColumnRef::Index(4),
        date_format: DateFormat::Compact,
    }
}
