//! The `custval` binary's file formats against a real server on 127.0.0.1:0: delimited and
//! whitespace text with or without a header, renamed columns and date patterns, gzip in
//! and out, and malformed files that must name the file, line and column.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::io::{Read, Write};

use common::{Server, cdnow, fails, ok, p};
use serde_json::Value;

/// How to read `CDNOW_sample.txt`: whitespace-separated, no header, sample id in column 2,
/// YYYYMMDD date in column 3, dollar value in column 5.
const CDNOW_SAMPLE: [&str; 9] = [
    "--delimiter",
    "whitespace",
    "--no-header",
    "--id-column",
    "2",
    "--date-column",
    "3",
    "--amount-column",
    "5",
];

/// Calibration to 1997-09-30 (39 weeks), holdout to 1998-06-30.
const CDNOW_PERIODS: [&str; 4] = [
    "--observation-end",
    "1997-09-30",
    "--holdout-end",
    "1998-06-30",
];

fn fit(server: &Server, name: &str, input: &str, args: &[&str]) -> Value {
    let mut all = vec!["fit", "--input", input, "--name", name, "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(server.run(&all))).unwrap()
}

fn param(fit: &Value, name: &str) -> f64 {
    fit["params"][name].as_f64().unwrap()
}

/// The CDNOW sample as `cust;when;value` rows with US dates (month/day/year, no zero
/// padding), `bad` (if any) replacing the date of the third row.
fn us_log(bad: Option<&str>) -> String {
    let text = std::fs::read_to_string(cdnow("CDNOW_sample.txt")).unwrap();
    let mut out = String::from("cust;when;value\n");
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (y, m, d) = (&f[2][..4], &f[2][4..6], &f[2][6..]);
        let date = match bad {
            Some(b) if i == 2 => b.to_owned(),
            _ => format!(
                "{}/{}/{y}",
                m.trim_start_matches('0'),
                d.trim_start_matches('0')
            ),
        };
        out.push_str(&format!("{};{date};{}\n", f[1], f[4]));
    }
    out
}

/// `fit` arguments for a file written by [`us_log`].
fn us_fit(input: &str) -> Vec<&str> {
    let mut v = vec![
        "fit",
        "--input",
        input,
        "--name",
        "us",
        "--json",
        "--delimiter",
        ";",
        "--id-column",
        "cust",
        "--date-column",
        "when",
        "--amount-column",
        "value",
        "--date-format",
        "%m/%d/%Y",
    ];
    v.extend_from_slice(&CDNOW_PERIODS);
    v
}

#[test]
fn text_files_with_options() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sample = cdnow("CDNOW_sample.txt");

    // The raw CDNOW sample: whitespace-separated, no header. Published BG/NBD estimates.
    let mut args = CDNOW_SAMPLE.to_vec();
    args.extend_from_slice(&CDNOW_PERIODS);
    let ws = fit(&server, "ws", &sample, &args);
    for (k, published) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        let v = param(&ws, k);
        assert!(
            (v - published).abs() < 0.001 * published.max(1.0),
            "{k} = {v}"
        );
    }
    assert!(ws["holdout"]["actual_total"].as_f64().unwrap() > 0.0);

    // The same purchases with US dates, ';' and other column names: the same fit.
    let us = p(d, "us.csv");
    std::fs::write(&us, us_log(None)).unwrap();
    let from_us: Value = serde_json::from_str(&ok(server.run(&us_fit(&us)))).unwrap();
    assert_eq!(from_us["params"], ws["params"]);
    assert_eq!(from_us["spend_params"], ws["spend_params"]);
    assert_eq!(from_us["log_likelihood"], ws["log_likelihood"]);

    // lifetimes' summary with other column names (ID,x,t_x,T,zbar), rounded to 2 decimals.
    let renamed = cdnow("cdnow_customers_summary_with_transactions.csv");
    let columns = [
        "--id-column",
        "ID",
        "--frequency-column",
        "x",
        "--recency-column",
        "t_x",
        "--t-column",
        "T",
        "--monetary-column",
        "zbar",
    ];
    let summ = fit(&server, "renamed", &renamed, &columns);
    for k in ["r", "alpha", "a", "b"] {
        let (a, b) = (param(&summ, k), param(&ws, k));
        assert!((a - b).abs() < 0.01 * b, "{k}: {a} vs {b}");
    }
    assert!(summ["spend_params"]["p"].as_f64().unwrap() > 0.0);
    let scores = p(d, "renamed_scores.csv");
    let mut args = vec![
        "score", "--model", "renamed", "--input", &renamed, "--output", &scores,
    ];
    args.extend_from_slice(&columns);
    ok(server.run(&args));
    let text = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(text.lines().count(), 2358);
    assert!(text.lines().nth(1).unwrap().starts_with("1,"));

    // The report reads the headerless log with the same options (tracking needs dates).
    let html = p(d, "report.html");
    let mut args = vec![
        "report", "--model", "ws", "--input", &sample, "--output", &html,
    ];
    args.extend_from_slice(&CDNOW_SAMPLE);
    args.extend_from_slice(&CDNOW_PERIODS);
    ok(server.run(&args));
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 8, "every chart drawn");
    assert!(!page.contains("not available"), "no section missing");
}

#[test]
fn malformed_text_says_where() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // A date that does not match the pattern, or is no calendar date: file, line, column.
    let bad = p(d, "bad_us.csv");
    for date in ["2/30/1997", "1-18-1997"] {
        std::fs::write(&bad, us_log(Some(date))).unwrap();
        let err = fails(server.run(&us_fit(&bad)), 3);
        assert!(
            err.contains(&bad) && err.contains("line 4, column 2") && err.contains(date),
            "{err}"
        );
        assert!(err.contains("expected %m/%d/%Y"), "{err}");
    }

    // Usage errors (exit 2): a column name without a header, a bad pattern, a bad delimiter.
    let sample = cdnow("CDNOW_sample.txt");
    let err = fails(
        server.run(&[
            "fit",
            "--input",
            &sample,
            "--name",
            "x",
            "--delimiter",
            "whitespace",
            "--no-header",
            "--date-column",
            "3",
            "--amount-column",
            "5",
            "--observation-end",
            "1998-06-30",
        ]),
        2,
    );
    assert!(
        err.contains("--id-column") && err.contains("1-based column number"),
        "{err}"
    );
    let mut args = vec!["fit", "--input", &sample, "--name", "x"];
    args.extend_from_slice(&CDNOW_SAMPLE);
    args.extend_from_slice(&["--date-format", "%Y%m%e", "--observation-end", "1998-06-30"]);
    let err = fails(server.run(&args), 2);
    assert!(
        err.contains("\"%Y%m%e\"") && err.contains("unsupported directive %e"),
        "{err}"
    );
    let err = fails(
        server.run(&[
            "fit",
            "--input",
            &sample,
            "--name",
            "x",
            "--delimiter",
            "::",
        ]),
        2,
    );
    assert!(err.contains("--delimiter"), "{err}");
}

fn gunzip(path: &str) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn gzip(from: &str, to: &str) {
    let mut out = flate2::write::GzEncoder::new(
        std::fs::File::create(to).unwrap(),
        flate2::Compression::fast(),
    );
    out.write_all(&std::fs::read(from).unwrap()).unwrap();
    out.finish().unwrap();
}

#[test]
fn gzip_in_and_out() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (tx, tx_gz) = (p(d, "tx.csv"), p(d, "tx.csv.gz"));
    let simulate = |output: &str| {
        ok(server.run(&[
            "simulate",
            "--customers",
            "3000",
            "--transactions",
            "--output",
            output,
        ]))
    };
    simulate(&tx);
    simulate(&tx_gz);
    let plain = std::fs::read_to_string(&tx).unwrap();
    assert_eq!(gunzip(&tx_gz), plain, "simulate writes .gz compressed");

    // Logs: the same fit, and the same summaries, from the compressed file.
    let periods = [
        "--observation-end",
        "2024-09-30",
        "--holdout-end",
        "2024-12-29",
    ];
    let a = fit(&server, "plain", &tx, &periods);
    let b = fit(&server, "gz", &tx_gz, &periods);
    assert_eq!(a["params"], b["params"]);
    assert_eq!(a["holdout"], b["holdout"]);
    let (summ, summ_gz) = (p(d, "summ.csv"), p(d, "summ.csv.gz"));
    for (input, output) in [(&tx, &summ), (&tx_gz, &summ_gz)] {
        ok(server.run(&[
            "summarize",
            "--input",
            input,
            "--observation-end",
            "2024-12-29",
            "--output",
            output,
        ]));
    }
    let summaries = std::fs::read_to_string(&summ).unwrap();
    assert_eq!(gunzip(&summ_gz), summaries);

    // Summaries: scores from .gz (or gzip data under another name) to .csv.gz are the
    // plain CSV's rows.
    let score = |input: &str, output: &str| {
        ok(server.run(&[
            "score", "--model", "plain", "--input", input, "--output", output,
        ]))
    };
    let scores = p(d, "scores.csv");
    score(&summ, &scores);
    let expected = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(expected.lines().count(), 3001);
    let scores_gz = p(d, "scores.csv.gz");
    score(&summ_gz, &scores_gz);
    assert_eq!(gunzip(&scores_gz), expected);
    let disguised = p(d, "summ_gz.csv");
    std::fs::copy(&summ_gz, &disguised).unwrap();
    score(&disguised, &scores);
    assert_eq!(std::fs::read_to_string(&scores).unwrap(), expected);
    let jsonl_gz = p(d, "scores.jsonl.gz");
    score(&summ_gz, &jsonl_gz);
    let first: Value = serde_json::from_str(gunzip(&jsonl_gz).lines().next().unwrap()).unwrap();
    assert!(first["p_alive"].as_f64().is_some(), "{first}");

    // The report's tracking reads the compressed log.
    let html = p(d, "report.html");
    let mut args = vec![
        "report", "--model", "plain", "--input", &tx_gz, "--output", &html,
    ];
    args.extend_from_slice(&periods);
    ok(server.run(&args));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("not available"), "no section missing");

    // A gzip that is cut short, or a .gz that is not gzip: the file is named.
    let gz = std::fs::read(&tx_gz).unwrap();
    let cut = p(d, "cut.csv.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let mut args = vec!["fit", "--input", &cut, "--name", "x"];
    args.extend_from_slice(&periods);
    let err = fails(server.run(&args), 3);
    assert!(
        err.contains(&cut) && err.contains("corrupt gzip data"),
        "{err}"
    );
    let summ_cut = p(d, "summ_cut.csv.gz");
    gzip(&summ, &summ_cut);
    let gz = std::fs::read(&summ_cut).unwrap();
    std::fs::write(&summ_cut, &gz[..gz.len() - 20]).unwrap();
    let err = fails(
        server.run(&[
            "score", "--model", "plain", "--input", &summ_cut, "--output", &scores,
        ]),
        3,
    );
    assert!(
        err.contains(&summ_cut) && err.contains("corrupt gzip data"),
        "{err}"
    );
    let fake = p(d, "fake.csv.gz");
    std::fs::copy(&summ, &fake).unwrap();
    let err = fails(server.run(&["fit", "--input", &fake, "--name", "x"]), 3);
    assert!(
        err.contains(&fake) && err.contains("not gzip data"),
        "{err}"
    );
}
