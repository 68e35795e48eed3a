//! Property tests of the client's readers: generated customer files, text (plain and
//! gzip) and Parquet, with bad values planted in them (junk, NaN, infinities, negatives,
//! values above the models' limits, recency past T, empty ids, nulls, missing fields,
//! invalid UTF-8), never panic; a file with a bad value is refused with an error that
//! names the file, the line of the first bad row and a column of it, and a good file
//! reads back exactly. Corrupted gzip and Parquet bytes are refused naming the file.
//!
//! Budget: about 5 s on one of the CI machine's 2 cores (small files, written to a
//! temporary directory per case). `PROPTEST_CASES` overrides the counts.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use custval_client::ClientError;
use custval_client::files::InputOptions;
use custval_model::TimeUnit;
use custval_model::data::summary::Day;
use parquet::arrow::arrow_writer::ArrowWriter;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

#[path = "../../model/tests/common/proptest_config.rs"]
mod proptest_config;
use proptest_config::config;

type Outcome = Result<(), TestCaseError>;

fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Outcome)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------
// Summary rows: valid values, then bad ones planted with the columns they may be blamed on.

/// One summary row as it will be written: (id, frequency, recency, T, monetary value)
/// texts, and the 1-based columns a reader may name for it (empty: the row is good).
#[derive(Debug, Clone)]
struct Row {
    cells: [Vec<u8>; 5],
    blame: Vec<usize>,
    /// The values a good row reads back as.
    values: (String, u32, f64, f64, f64),
}

fn good_row() -> impl Strategy<Value = (u32, f64, f64, f64)> {
    let age = prop_oneof![Just(0.0), 0.0..100.0, Just(custval_model::MAX_AGE)];
    (0u32..6, age, 0.0..=1.0f64, 0.0..1000.0f64).prop_map(|(x, t, share, m)| {
        // Values that print and parse back exactly.
        let t = (t * 4.0).round() / 4.0;
        let recency = if x == 0 {
            0.0
        } else {
            (t * share * 4.0).floor() / 4.0
        };
        let m = if x == 0 {
            0.0
        } else {
            (m * 100.0).round() / 100.0
        };
        (x, recency, t, m)
    })
}

/// A bad value for column `col` (0-based: id, frequency, recency, T, monetary value).
fn bad_cell(col: usize) -> BoxedStrategy<Vec<u8>> {
    let number = prop_oneof![
        Just("nan"),
        Just("NaN"),
        Just("inf"),
        Just("-inf"),
        Just("-1"),
        Just("1e400"),
        Just("abc"),
        Just(""),
        Just("1,5"),
    ];
    match col {
        0 => prop_oneof![Just(""), Just("   ")]
            .prop_map(|s| s.as_bytes().to_vec())
            .boxed(),
        1 => prop_oneof![
            number.clone(),
            Just("1.5"),
            Just("1000001"),
            Just("4294967296")
        ]
        .prop_map(|s| s.as_bytes().to_vec())
        .boxed(),
        2 | 3 => prop_oneof![number.clone(), Just("1000000.5"), Just("2e6")]
            .prop_map(|s| s.as_bytes().to_vec())
            .boxed(),
        _ => prop_oneof![number, Just("1e13"), Just("1.7976931348623157e308")]
            .prop_map(|s| s.as_bytes().to_vec())
            .boxed(),
    }
}

fn row(index: usize) -> impl Strategy<Value = Row> {
    let corruption = prop_oneof![
        8 => Just(None),
        3 => (0usize..5).prop_flat_map(|c| bad_cell(c).prop_map(move |v| Some((c, v)))),
        1 => Just(Some((9, Vec::new()))),  // recency past T
        1 => Just(Some((8, Vec::new()))),  // invalid UTF-8 in the id
    ];
    (good_row(), corruption).prop_map(move |((x, recency, t, m), corruption)| {
        let id = format!("c{index}");
        let mut cells = [
            id.clone().into_bytes(),
            x.to_string().into_bytes(),
            recency.to_string().into_bytes(),
            t.to_string().into_bytes(),
            m.to_string().into_bytes(),
        ];
        let mut blame = Vec::new();
        match corruption {
            None => {}
            Some((9, _)) => {
                // One more repeat purchase than none, a quarter past T.
                cells[1] = (x + 1).to_string().into_bytes();
                cells[2] = (t + 0.25).to_string().into_bytes();
                blame = vec![3, 4];
            }
            Some((8, _)) => {
                cells[0] = vec![b'c', 0xff, 0xfe];
                blame = vec![1];
            }
            Some((c, v)) => {
                // A quoted value with the delimiter in it stays one field.
                cells[c] = if v.contains(&b',') {
                    [b"\"".as_slice(), &v, b"\""].concat()
                } else {
                    v
                };
                blame = vec![c + 1];
                // Recency 0 with repeat purchases is fine, but junk in frequency or T can
                // make the row's other values the first to fail: any of them may be named.
                if c == 1 || c == 3 {
                    blame.extend([2, 3, 4]);
                }
                if c == 2 {
                    blame.push(4);
                }
            }
        }
        Row {
            cells,
            blame,
            values: (id, x, recency, t, m),
        }
    })
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    (1usize..12).prop_flat_map(|n| (0..n).map(row).collect::<Vec<_>>())
}

fn summary_text(rows: &[Row]) -> Vec<u8> {
    let mut out = b"customer_id,frequency,recency,T,monetary_value\n".to_vec();
    for r in rows {
        out.extend(r.cells.join(&b","[..]));
        out.push(b'\n');
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Every chunk of a summary file, or the first error.
fn read_summaries(path: &Path) -> Result<Vec<custval_proto::v1::SummaryColumns>, ClientError> {
    let mut reader = InputOptions::for_file(path.to_owned()).summaries(3)?;
    let mut chunks = Vec::new();
    while let Some(c) = reader.next_chunk()? {
        chunks.push(c);
    }
    Ok(chunks)
}

/// The reader's answer for `rows` written to `path`: the first bad row named by line and
/// one of its columns (`first_line` is the line of row 0), or every value back.
fn assert_read_as_planted(
    path: &Path,
    rows: &[Row],
    first_line: u64,
    answer: Result<Vec<custval_proto::v1::SummaryColumns>, ClientError>,
) -> Outcome {
    match (rows.iter().position(|r| !r.blame.is_empty()), answer) {
        (None, Ok(chunks)) => {
            let ids: Vec<&String> = chunks.iter().flat_map(|c| &c.customer_id).collect();
            prop_assert_eq!(ids.len(), rows.len());
            let read: Vec<(u32, f64, f64, f64)> = chunks
                .iter()
                .flat_map(|c| {
                    (0..c.customer_id.len())
                        .map(|i| (c.frequency[i], c.recency[i], c.age[i], c.monetary_value[i]))
                })
                .collect();
            for (r, got) in rows.iter().zip(read) {
                let (_, x, rec, t, m) = r.values;
                prop_assert_eq!((x, rec, t, m), got);
            }
            Ok(())
        }
        (None, Err(e)) => Err(TestCaseError::fail(format!("a good file refused: {e}"))),
        (Some(k), Ok(_)) => Err(TestCaseError::fail(format!(
            "row {k} ({:?}) was accepted",
            rows[k]
        ))),
        (Some(k), Err(e)) => {
            let ClientError::Input {
                path: named,
                line,
                column,
                ..
            } = &e
            else {
                return Err(TestCaseError::fail(format!("not an input error: {e:?}")));
            };
            prop_assert_eq!(named.as_path(), path);
            prop_assert_eq!(*line, first_line + k as u64, "{}", e);
            let column = column.unwrap_or(0);
            prop_assert!(
                rows[k].blame.contains(&column),
                "{e}: expected one of columns {:?}",
                rows[k].blame
            );
            Ok(())
        }
    }
}

#[test]
fn text_summaries_name_the_line_and_column_of_the_first_bad_value() {
    check(400, (rows(), any::<bool>()), |(rows, gz)| {
        let dir = tempfile::tempdir().unwrap();
        let text = summary_text(&rows);
        let path = if gz {
            write(dir.path(), "s.csv.gz", &gzip(&text))
        } else {
            write(dir.path(), "s.csv", &text)
        };
        assert_read_as_planted(&path, &rows, 2, read_summaries(&path))
    });
}

/// The same rows as a Parquet file: numbers as floats (junk text becomes a null, NaN or
/// an infinity, as a writer would store it), the id as a string.
fn parquet_bytes(rows: &[Row]) -> Vec<u8> {
    let mut ids: Vec<Option<String>> = Vec::new();
    let mut numbers: [Vec<Option<f64>>; 4] = Default::default();
    for r in rows {
        // Parquet strings are UTF-8: a null stands for an unreadable id.
        ids.push(String::from_utf8(r.cells[0].clone()).ok());
        for (column, cell) in numbers.iter_mut().zip(&r.cells[1..]) {
            let text = String::from_utf8_lossy(cell).replace('"', "");
            column.push(match text.as_str() {
                "abc" | "" | "1,5" => None,
                t => t.parse::<f64>().ok(),
            });
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("customer_id", Arc::new(StringArray::from(ids))),
        (
            "frequency",
            Arc::new(Float64Array::from(numbers[0].clone())),
        ),
        ("recency", Arc::new(Float64Array::from(numbers[1].clone()))),
        ("T", Arc::new(Float64Array::from(numbers[2].clone()))),
        (
            "monetary_value",
            Arc::new(Float64Array::from(numbers[3].clone())),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[test]
fn parquet_summaries_name_the_row_and_column_of_the_first_bad_value() {
    check(200, rows(), |rows| {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s.parquet", &parquet_bytes(&rows));
        // "line" is the row number + 1: the column names count as line 1.
        assert_read_as_planted(&path, &rows, 2, read_summaries(&path))
    });
}

/// A refusal of a damaged file names it; nothing panics.
fn assert_names_file(path: &Path, answer: Result<(), ClientError>) -> Outcome {
    if let Err(e) = answer {
        let text = e.to_string();
        prop_assert!(
            text.contains(&path.display().to_string()),
            "the error does not name the file: {text}"
        );
    }
    Ok(())
}

#[test]
fn damaged_gzip_and_parquet_bytes_are_refused_naming_the_file() {
    let strategy = (
        rows(),
        any::<bool>(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<bool>(),
    );
    check(200, strategy, |(rows, parquet, at, byte, truncate)| {
        let dir = tempfile::tempdir().unwrap();
        let (mut bytes, name) = if parquet {
            (parquet_bytes(&rows), "s.parquet")
        } else {
            (gzip(&summary_text(&rows)), "s.csv.gz")
        };
        let i = at.index(bytes.len());
        if truncate {
            bytes.truncate(i);
        } else {
            bytes[i] ^= byte | 1;
        }
        let path = write(dir.path(), name, &bytes);
        assert_names_file(&path, read_summaries(&path).map(drop))
    });
}

/// Every single-byte damage of one small Parquet file, deterministically: the parquet
/// crate panics on some (a missing dictionary decoder, negative column offsets), which the
/// reader must turn into an error naming the file. The random property above found these
/// only now and then.
#[test]
fn every_damaged_byte_of_a_parquet_file_is_an_error_not_a_panic() {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::deterministic();
    let dir = tempfile::tempdir().unwrap();
    let mut refused = 0;
    for _ in 0..4 {
        let rows = rows().new_tree(&mut runner).unwrap().current();
        let good = parquet_bytes(&rows);
        for i in 0..good.len() {
            for flip in [0x01u8, 0xff] {
                let mut bytes = good.clone();
                bytes[i] ^= flip;
                let path = write(dir.path(), "s.parquet", &bytes);
                if let Err(e) = read_summaries(&path) {
                    refused += 1;
                    let text = e.to_string();
                    assert!(
                        text.contains(&path.display().to_string()),
                        "byte {i}: {text}"
                    );
                }
            }
        }
    }
    assert!(refused > 0, "no damage was noticed");
}

// ---------------------------------------------------------------------------------------
// Transaction logs, summarized locally as `custval fit` and `score` do.

#[derive(Debug, Clone)]
struct LogRow {
    cells: [String; 3],
    /// 1-based columns a reader may name; empty: a good row.
    blame: Vec<usize>,
}

fn log_row() -> impl Strategy<Value = LogRow> {
    let good = (0u32..4, 0i32..365, 0.0..500.0).prop_map(|(c, d, a)| {
        [
            format!("c{c}"),
            Day(19_000 + d).to_string(),
            format!("{:.2}", a),
        ]
    });
    let bad = prop_oneof![
        (
            0usize..1,
            prop_oneof![Just(""), Just("  ")].prop_map(str::to_owned)
        ),
        (
            1usize..2,
            prop_oneof![
                Just("2024-13-01"),
                Just("2024-02-30"),
                Just("x"),
                Just(""),
                Just("2030-01-01")
            ]
            .prop_map(str::to_owned)
        ),
        (
            2usize..3,
            prop_oneof![
                Just("-1"),
                Just("nan"),
                Just("inf"),
                Just("x"),
                Just(""),
                Just("1e13"),
                Just("1e400")
            ]
            .prop_map(str::to_owned)
        ),
    ];
    (good, proptest::option::weighted(0.15, bad)).prop_map(|(mut cells, bad)| {
        let mut blame = Vec::new();
        if let Some((c, v)) = bad {
            cells[c] = v;
            blame.push(c + 1);
        }
        LogRow { cells, blame }
    })
}

#[test]
fn transaction_logs_name_the_line_and_column_of_the_first_bad_value() {
    let strategy = (proptest::collection::vec(log_row(), 1..15), any::<bool>());
    check(300, strategy, |(rows, gz)| {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("customer_id,date,amount\n");
        for r in &rows {
            text.push_str(&r.cells.join(","));
            text.push('\n');
        }
        let path = if gz {
            write(dir.path(), "t.csv.gz", &gzip(text.as_bytes()))
        } else {
            write(dir.path(), "t.csv", text.as_bytes())
        };
        let options = InputOptions::for_file(path.clone());
        let end = Day(19_000 + 400);
        let summarized = options.summarize(TimeUnit::Week, end, None).map(drop);
        let purchases = options.purchases(true).map(drop);
        // `purchases` reads a log for plots and backtests, and keeps days after the
        // observation end (a backtest cuts the log itself); `summarize` refuses them.
        let after_end = |r: &LogRow| r.cells[1] == "2030-01-01";
        let bad_for_summary = rows.iter().position(|r| !r.blame.is_empty());
        let bad_for_purchases = rows
            .iter()
            .position(|r| !r.blame.is_empty() && !after_end(r));
        for (first_bad, answer) in [
            (bad_for_summary, summarized),
            (bad_for_purchases, purchases),
        ] {
            match (first_bad, answer) {
                (None, Ok(())) => {}
                (None, Err(e)) => return Err(TestCaseError::fail(format!("refused: {e}"))),
                (
                    Some(k),
                    Err(ClientError::Input {
                        path: p,
                        line,
                        column,
                        ..
                    }),
                ) => {
                    prop_assert_eq!(&p, &path);
                    prop_assert_eq!(line, k as u64 + 2);
                    let column = column.unwrap_or(0);
                    prop_assert!(
                        rows[k].blame.contains(&column),
                        "column {column}, expected {:?}",
                        rows[k].blame
                    );
                }
                (Some(k), other) => {
                    return Err(TestCaseError::fail(format!(
                        "row {k} {:?}: {other:?}",
                        rows[k]
                    )));
                }
            }
        }
        Ok(())
    });
}

/// Regressions found by the properties above, minimized: each was read without complaint
/// and refused by the service by index only (`summary_columns.recency[0]`,
/// `customers[0].customer_id`), never by the file's line and column.
#[test]
fn values_the_service_refuses_are_named_by_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let where_ = |e: ClientError| match e {
        ClientError::Input { line, column, .. } => (line, column),
        other => panic!("not an input error: {other:?}"),
    };
    let summaries = write(
        dir.path(),
        "s.csv",
        b"customer_id,frequency,recency,T,monetary_value\na,1,2,3,4\nb,1,3.25,3,4\n",
    );
    let e = read_summaries(&summaries).unwrap_err();
    assert_eq!(where_(e), (3, Some(3)));
    let spend = write(
        dir.path(),
        "m.csv",
        b"customer_id,frequency,recency,T,monetary_value\na,1,2,3,1e13\n",
    );
    assert_eq!(where_(read_summaries(&spend).unwrap_err()), (2, Some(5)));
    let log = write(
        dir.path(),
        "t.csv",
        b"customer_id,date,amount\na,2022-01-08,1\n,2022-01-09,1\n",
    );
    let e = InputOptions::for_file(log).purchases(true).unwrap_err();
    assert_eq!(where_(e), (3, Some(1)));
    let big = write(
        dir.path(),
        "b.csv",
        b"customer_id,date,amount\na,2022-01-08,1e13\n",
    );
    let e = InputOptions::for_file(big.clone())
        .summarize(TimeUnit::Week, Day(19_400), None)
        .unwrap_err();
    assert_eq!(where_(e), (2, Some(3)));
    let e = InputOptions::for_file(big).purchases(true).unwrap_err();
    assert_eq!(where_(e), (2, Some(3)));
}
