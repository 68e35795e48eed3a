//! The `custval` binary's file formats against a real server on 127.0.0.1:0: delimited and
//! whitespace text with or without a header, renamed columns and date patterns, gzip in
//! and out, Parquet in and out, and malformed files that must name the file, line and
//! column.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMillisecondArray,
};
use common::{CDNOW_RENAMED, CDNOW_RENAMED_COLUMNS, CDNOW_SAMPLE, Server, cdnow, fails, ok, p};
use custval_client::files::InputOptions;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;

/// Calibration to 1997-09-30 (39 weeks), holdout to 1998-06-30.
const CDNOW_PERIODS: [&str; 4] = [
    "--observation-end",
    "1997-09-30",
    "--holdout-end",
    "1998-06-30",
];

fn fit(server: &Server, name: &str, input: &str, args: &[&str]) -> Value {
    // BG/NBD: these tests compare with its published CDNOW estimates.
    let mut all = vec![
        "fit", "--input", input, "--name", name, "--model", "bgnbd", "--json",
    ];
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
        "--model",
        "bgnbd",
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
    let renamed = cdnow(CDNOW_RENAMED);
    let columns = CDNOW_RENAMED_COLUMNS;
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
    assert_eq!(page.matches("<svg").count(), 12, "every chart drawn");
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

    // A summary with an absurd frequency (beyond what the models tabulate).
    let summaries = p(d, "absurd.csv");
    std::fs::write(
        &summaries,
        "customer_id,frequency,recency,T,monetary_value\na,2,10,30,20\nb,2000000,10,30,20\n",
    )
    .unwrap();
    let err = fails(
        server.run(&[
            "fit",
            "--input",
            &summaries,
            "--name",
            "x",
            "--time-unit",
            "weeks",
        ]),
        3,
    );
    assert!(
        err.contains(&summaries) && err.contains("line 3, column 2") && err.contains("1000000"),
        "{err}"
    );

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

/// Writes `columns` as a one-batch Parquet file (gzip-compressed pages if `gzip`).
fn write_parquet(path: &str, columns: Vec<(&str, ArrayRef)>, gzip: bool) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_compression(if gzip {
            Compression::GZIP(Default::default())
        } else {
            Compression::UNCOMPRESSED
        })
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A Parquet file's columns by name: strings as they are, numbers as text (null: empty),
/// as a CSV would have them.
fn read_parquet(path: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        names = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for i in 0..batch.num_rows() {
            let row = batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(i) {
                        String::new()
                    } else if let Some(s) = c.as_string_opt::<i32>() {
                        s.value(i).to_owned()
                    } else if let Some(f) = c.as_primitive_opt::<Float64Type>() {
                        f.value(i).to_string()
                    } else {
                        c.as_primitive::<Int64Type>().value(i).to_string()
                    }
                })
                .collect();
            rows.push(row);
        }
    }
    (names, rows)
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let split = |l: &str| l.split(',').map(str::to_owned).collect::<Vec<_>>();
    let names = split(lines.next().unwrap());
    (names, lines.map(split).collect())
}

#[test]
fn parquet_summaries_in_scores_out() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (summ, summ_pq) = (p(d, "summ.csv"), p(d, "summ.parquet"));
    for output in [&summ, &summ_pq] {
        ok(server.run(&["simulate", "--customers", "3000", "--output", output]));
    }
    assert_eq!(
        read_parquet(&summ_pq),
        csv_rows(&std::fs::read_to_string(&summ).unwrap())
    );
    let a = fit(&server, "m", &summ, &[]);
    let b = fit(&server, "m", &summ_pq, &[]);
    assert_eq!(a["params"], b["params"]);
    assert_eq!(a["spend_params"], b["spend_params"]);

    // Scores from Parquet to Parquet: the CSV path's rows, without a spend model (nulls),
    // with one, and with segments; the format by name or by --output-format.
    fit(&server, "nospend", &summ, &["--spend", "none"]);
    let score = |model: &str, input: &str, output: &str, more: &[&str]| {
        let mut args = vec![
            "score", "--model", model, "--input", input, "--output", output,
        ];
        args.extend_from_slice(more);
        ok(server.run(&args));
    };
    let (scores, scores_pq, other) = (p(d, "s.csv"), p(d, "s.parquet"), p(d, "s.out"));
    for (model, labelled) in [("nospend", false), ("m", false), ("m", true)] {
        if labelled {
            ok(server.run(&[
                "segment", "--model", model, "--input", &summ, "--k", "3", "--store",
            ]));
        }
        score(model, &summ, &scores, &[]);
        score(model, &summ_pq, &scores_pq, &[]);
        score(model, &summ_pq, &other, &["--output-format", "parquet"]);
        let csv = csv_rows(&std::fs::read_to_string(&scores).unwrap());
        assert_eq!(csv.0.len(), if labelled { 9 } else { 6 });
        assert_eq!(csv.1.len(), 3000);
        let no_spend = csv.1.iter().all(|r| r[4].is_empty() && r[5].is_empty());
        assert_eq!(no_spend, model == "nospend");
        assert_eq!(read_parquet(&scores_pq), csv);
        assert_eq!(read_parquet(&other), csv);
    }

    // Summaries are read one chunk (record batch) at a time.
    let input = InputOptions::for_file(summ_pq.clone().into());
    let mut reader = input.summaries(1000).unwrap();
    let mut chunks = 0;
    while let Some(c) = reader.next_chunk().unwrap() {
        assert_eq!(c.customer_id.len(), 1000);
        assert_eq!(c.monetary_value.len(), 1000);
        chunks += 1;
    }
    assert_eq!(chunks, 3);

    // Summaries from a log to Parquet, and an empty score file is still Parquet.
    let tx = p(d, "tx.csv");
    ok(server.run(&[
        "simulate",
        "--customers",
        "500",
        "--transactions",
        "--output",
        &tx,
    ]));
    let (from_log, from_log_pq) = (p(d, "from_log.csv"), p(d, "from_log.dat"));
    for (output, format) in [(&from_log, "csv"), (&from_log_pq, "parquet")] {
        ok(server.run(&[
            "summarize",
            "--input",
            &tx,
            "--observation-end",
            "2024-12-29",
            "--calibration-end",
            "2024-09-30",
            "--output",
            output,
            "--output-format",
            format,
        ]));
    }
    let expected = csv_rows(&std::fs::read_to_string(&from_log).unwrap());
    assert_eq!(
        expected.0.len(),
        9,
        "with the holdout's columns and calibration_spend"
    );
    assert_eq!(read_parquet(&from_log_pq), expected);
    let empty = p(d, "empty.csv");
    std::fs::write(&empty, "customer_id,frequency,recency,T\n").unwrap();
    score("m", &empty, &scores_pq, &[]);
    assert_eq!(read_parquet(&scores_pq), (vec![], vec![]));
    assert!(std::fs::read(&scores_pq).unwrap().starts_with(b"PAR1"));
}

#[test]
fn parquet_logs_fit_like_text() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sample = cdnow("CDNOW_sample.txt");
    let mut args = CDNOW_SAMPLE.to_vec();
    args.extend_from_slice(&CDNOW_PERIODS);
    let text = fit(&server, "text", &sample, &args);

    // The sample's rows in Parquet, with two sets of column types.
    let (mut ids, mut days, mut cents) = (vec![], vec![], vec![]);
    for line in std::fs::read_to_string(&sample).unwrap().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        ids.push(f[1].to_owned());
        let (y, m, dd) = (&f[2][..4], &f[2][4..6], &f[2][6..]);
        let day = custval_model::data::summary::Day::from_ymd(
            y.parse().unwrap(),
            m.parse().unwrap(),
            dd.parse().unwrap(),
        )
        .unwrap();
        days.push(day.0);
        cents.push((f[4].parse::<f64>().unwrap() * 100.0).round() as i128);
    }
    let typed = p(d, "typed.parquet");
    write_parquet(
        &typed,
        vec![
            (
                "customer_id",
                Arc::new(Int64Array::from_iter_values(
                    ids.iter().map(|s| s.parse::<i64>().unwrap()),
                )),
            ),
            ("date", Arc::new(Date32Array::from(days.clone()))),
            (
                "amount",
                Arc::new(Float64Array::from_iter_values(
                    cents.iter().map(|&c| c as f64 / 100.0),
                )),
            ),
        ],
        false,
    );
    let other = p(d, "other.pq");
    write_parquet(
        &other,
        vec![
            ("ID", Arc::new(StringArray::from(ids.clone()))),
            (
                "when",
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(
                        days.iter().map(|&d| i64::from(d) * 86_400_000 + 43_200_000),
                    )
                    .with_timezone("UTC"),
                ),
            ),
            (
                "value",
                Arc::new(
                    Decimal128Array::from(cents.clone())
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
        ],
        true,
    );
    let from_typed = fit(&server, "typed", &typed, &CDNOW_PERIODS);
    let mut args = vec![
        "--id-column",
        "ID",
        "--date-column",
        "when",
        "--amount-column",
        "value",
    ];
    args.extend_from_slice(&CDNOW_PERIODS);
    let from_other = fit(&server, "other", &other, &args);
    for v in [&from_typed, &from_other] {
        assert_eq!(v["params"], text["params"]);
        assert_eq!(v["spend_params"], text["spend_params"]);
        assert_eq!(v["holdout"], text["holdout"]);
    }

    // Dates as strings with a pattern; the report's tracking from a Parquet log.
    let strings = p(d, "strings.parquet");
    let us: Vec<String> = days
        .iter()
        .map(|&x| {
            let (y, m, dd) = custval_model::data::summary::Day(x).to_ymd();
            format!("{m}/{dd}/{y}")
        })
        .collect();
    write_parquet(
        &strings,
        vec![
            ("customer_id", Arc::new(StringArray::from(ids.clone()))),
            ("date", Arc::new(StringArray::from(us))),
            (
                "amount",
                Arc::new(Float64Array::from_iter_values(
                    cents.iter().map(|&c| c as f64 / 100.0),
                )),
            ),
        ],
        false,
    );
    let mut args = vec!["--date-format", "%m/%d/%Y"];
    args.extend_from_slice(&CDNOW_PERIODS);
    let from_strings = fit(&server, "strings", &strings, &args);
    assert_eq!(from_strings["params"], text["params"]);
    let html = p(d, "report.html");
    let mut args = vec![
        "report", "--model", "text", "--input", &typed, "--output", &html,
    ];
    args.extend_from_slice(&CDNOW_PERIODS);
    ok(server.run(&args));
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 12, "every chart drawn");
    assert!(!page.contains("not available"), "no section missing");
}

#[test]
fn malformed_parquet_says_where() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ids = || -> ArrayRef { Arc::new(StringArray::from(vec!["a", "b", "c"])) };
    let floats = |v: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
    let run = |name: &str, columns: Vec<(&str, ArrayRef)>, code: i32| {
        let path = p(d, name);
        write_parquet(&path, columns, false);
        let err = fails(
            server.run(&[
                "fit",
                "--input",
                &path,
                "--name",
                "x",
                "--observation-end",
                "2024-12-31",
            ]),
            code,
        );
        assert!(err.contains(&path), "{err}");
        err
    };
    // A string frequency column: summaries (by the column's name) that cannot be read.
    let err = run(
        "string_frequency.parquet",
        vec![
            ("customer_id", ids()),
            (
                "frequency",
                Arc::new(StringArray::from(vec!["1", "2", "x"])),
            ),
            ("recency", floats(vec![1.0, 2.0, 3.0])),
            ("T", floats(vec![5.0, 5.0, 5.0])),
        ],
        3,
    );
    assert!(
        err.contains("line 1, column 2") && err.contains("frequency") && err.contains("Utf8"),
        "{err}"
    );
    let err = run(
        "negative.parquet",
        vec![
            ("customer_id", ids()),
            ("frequency", Arc::new(Int32Array::from(vec![1, 0, -2]))),
            // Recency 0 without repeat purchases: only row 3's frequency is wrong.
            ("recency", floats(vec![1.0, 0.0, 3.0])),
            ("T", floats(vec![5.0, 5.0, 5.0])),
        ],
        3,
    );
    assert!(
        err.contains("line 4, column 2") && err.contains("row 3") && err.contains("-2"),
        "{err}"
    );
    let err = run(
        "null_id.parquet",
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ),
            ("frequency", Arc::new(Int64Array::from(vec![1, 0, 2]))),
            ("recency", floats(vec![1.0, 0.0, 3.0])),
            ("T", floats(vec![5.0, 5.0, 5.0])),
        ],
        3,
    );
    assert!(
        err.contains("line 3, column 1") && err.contains("customer_id") && err.contains("null"),
        "{err}"
    );
    let err = run(
        "no_t.parquet",
        vec![
            ("customer_id", ids()),
            ("frequency", Arc::new(Int64Array::from(vec![1, 0, 2]))),
            ("recency", floats(vec![1.0, 0.0, 3.0])),
        ],
        3,
    );
    assert!(err.contains("missing T column \"T\""), "{err}");
    // Logs: a null date, an amount that is text.
    let dates = |v: Vec<Option<i32>>| -> ArrayRef { Arc::new(Date32Array::from(v)) };
    let err = run(
        "null_date.parquet",
        vec![
            ("customer_id", ids()),
            ("date", dates(vec![Some(19_800), Some(19_801), None])),
            ("amount", floats(vec![1.0, 2.0, 3.0])),
        ],
        3,
    );
    assert!(
        err.contains("line 4, column 2") && err.contains("date") && err.contains("null"),
        "{err}"
    );
    let err = run(
        "text_amount.parquet",
        vec![
            ("customer_id", ids()),
            (
                "date",
                dates(vec![Some(19_800), Some(19_801), Some(19_802)]),
            ),
            ("amount", Arc::new(StringArray::from(vec!["1", "2", "3"]))),
        ],
        3,
    );
    assert!(err.contains("column 3") && err.contains("amount"), "{err}");
    // Not Parquet at all, by its name.
    let fake = p(d, "fake.parquet");
    std::fs::write(&fake, "customer_id,frequency,recency,T\na,1,2,3\n").unwrap();
    let err = fails(server.run(&["fit", "--input", &fake, "--name", "x"]), 3);
    assert!(
        err.contains(&fake) && err.contains("not a readable Parquet file"),
        "{err}"
    );
}

#[test]
fn simulated_logs_are_written_in_the_format_asked_for() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut summaries = Vec::new();
    for name in ["log.csv", "log.parquet", "log.jsonl"] {
        let log = p(d, name);
        let made: Value = serde_json::from_str(&ok(server.run(&[
            "simulate",
            "--transactions",
            "--customers",
            "300",
            "--seed",
            "3",
            "--output",
            &log,
            "--json",
        ])))
        .unwrap();
        let head = std::fs::read(&log).unwrap();
        match name {
            "log.parquet" => assert!(head.starts_with(b"PAR1"), "not Parquet"),
            "log.jsonl" => assert!(head.starts_with(b"{\""), "not JSON Lines"),
            _ => assert!(head.starts_with(b"customer_id,date,amount\n")),
        }
        if name == "log.jsonl" {
            continue; // logs are read as text or Parquet
        }
        // Read back, the log summarizes as the CSV does.
        let out = p(d, &format!("{name}.summaries.csv"));
        let end = made["observation_end"].as_str().unwrap();
        ok(server.run(&[
            "summarize",
            "--input",
            &log,
            "--observation-end",
            end,
            "--output",
            &out,
        ]));
        summaries.push(std::fs::read_to_string(&out).unwrap());
    }
    assert_eq!(summaries[0].lines().count(), 301);
    assert_eq!(summaries[0], summaries[1]);
}

/// A summary file of `rows` customers whose row `repeat` (0-based) repeats row `of`'s id.
fn summaries_with_a_repeat(path: &str, rows: usize, repeat: usize, of: usize) {
    let mut text = String::from("customer_id,frequency,recency,T,monetary_value\n");
    for i in 0..rows {
        let id = if i == repeat { of } else { i };
        let f = i % 3;
        let recency = if f == 0 { 0.0 } else { f as f64 * 4.0 + 0.5 };
        text.push_str(&format!("c{id},{f},{recency},30,{}.25\n", i % 50));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_repeated_customer_is_refused_naming_both_lines_and_nothing_is_kept() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Past the first chunks (50,000 customers each): they are on their way when the
    // repeat is found, and the fit must still not happen.
    let repeated = p(d, "repeated.csv");
    summaries_with_a_repeat(&repeated, 120_000, 110_000, 5);
    let err = fails(
        server.run(&[
            "fit", "--input", &repeated, "--name", "dup", "--model", "bgnbd",
        ]),
        3,
    );
    assert!(
        err.contains(&repeated)
            && err.contains("line 110002, column 1")
            && err.contains("\"c5\" appears again (first on line 7)"),
        "{err}"
    );
    let list = ok(server.run(&["models", "list", "--json"]));
    assert_eq!(list.trim(), "[]", "a refused file was fitted");

    // Scores of it leave no output behind.
    let good = p(d, "good.csv");
    ok(server.run(&["simulate", "--customers", "2000", "--output", &good]));
    ok(server.run(&["fit", "--input", &good, "--name", "m", "--model", "bgnbd"]));
    let scores = p(d, "scores.csv");
    let err = fails(
        server.run(&[
            "score", "--input", &repeated, "--name", "m", "--output", &scores,
        ]),
        3,
    );
    assert!(err.contains("line 110002, column 1"), "{err}");
    assert!(!std::path::Path::new(&scores).exists());
    let listing: Vec<_> = std::fs::read_dir(d).unwrap().collect();
    assert_eq!(listing.len(), 2, "a temporary file was left: {listing:?}");

    // Parquet: the row, and the line as the other Parquet errors count it (row + 1).
    let pq = p(d, "repeated.parquet");
    write_parquet(
        &pq,
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from(vec!["a", "b", "c", "b"])),
            ),
            ("frequency", Arc::new(Int64Array::from(vec![1, 0, 2, 0]))),
            (
                "recency",
                Arc::new(Float64Array::from(vec![1.0, 0.0, 3.0, 0.0])),
            ),
            ("T", Arc::new(Float64Array::from(vec![5.0; 4]))),
        ],
        false,
    );
    let err = fails(server.run(&["fit", "--input", &pq, "--name", "dup"]), 3);
    assert!(
        err.contains("line 5, column 1")
            && err.contains("row 4")
            && err.contains("\"b\" appears again (first on line 3)"),
        "{err}"
    );
}

#[test]
fn a_damaged_parquet_file_is_an_error_without_a_panic_message() {
    let dir = tempfile::tempdir().unwrap();
    let good = p(dir.path(), "good.parquet");
    let ids: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    write_parquet(
        &good,
        vec![
            ("customer_id", Arc::new(StringArray::from(ids))),
            ("frequency", Arc::new(Int64Array::from(vec![0; 40]))),
            ("recency", Arc::new(Float64Array::from(vec![0.0; 40]))),
            ("T", Arc::new(Float64Array::from(vec![5.0; 40]))),
        ],
        false,
    );
    let bytes = std::fs::read(&good).unwrap();
    // A damage the parquet crate panics on (the reader says "damaged Parquet data").
    let damaged = p(dir.path(), "damaged.parquet");
    let panics = (0..bytes.len())
        .flat_map(|i| [(i, 0x01u8), (i, 0xff)])
        .find(|&(i, flip)| {
            let mut b = bytes.clone();
            b[i] ^= flip;
            std::fs::write(&damaged, &b).unwrap();
            let read = InputOptions::for_file(damaged.clone().into())
                .summaries(10)
                .and_then(|mut r| while_chunks(&mut r));
            read.is_err_and(|e| e.to_string().contains("damaged Parquet data"))
        });
    assert!(panics.is_some(), "no damage made the parquet crate panic");
    let out = common::custval(
        "http://127.0.0.1:9",
        &["fit", "--input", &damaged, "--name", "x"],
    );
    let err = fails(out, 3);
    assert!(err.contains("damaged Parquet data"), "{err}");
    assert!(!err.contains("panicked"), "the panic was reported: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

fn while_chunks(
    r: &mut custval_client::files::SummaryReader,
) -> Result<(), custval_client::ClientError> {
    while r.next_chunk()?.is_some() {}
    Ok(())
}
