//! Delimited text files (gzip-compressed or not) read record by record: the one way
//! summaries, purchase days and the kind of a text file are read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use custval_model::data::summary::{
    ColumnRef, Delimiter, SummaryError, TextRecords, resolve_column,
};
use custval_proto::v1 as pb;

use custval_model::Rfm;

use super::fields::{
    DURATION_HOLDOUT, FREQUENCY_HOLDOUT, HoldoutColumns, ID, SummaryField, check_summary, explain,
    push_holdout, whole_frequency,
};
use super::unique::{UniqueIds, repeated};
use crate::error::ClientError;
use crate::gzip;

/// A text file opened for reading, past its header if it has one: the one way summaries,
/// purchase days and the kind of a file are read (the summarizer reads through the same
/// [`TextRecords`]).
#[derive(Debug)]
pub(super) struct TextInput {
    path: PathBuf,
    pub(super) records: TextRecords<Box<dyn Read + Send>>,
    pub(super) header: Option<Vec<String>>,
    /// Bytes read from the file so far, and its size.
    consumed: Arc<AtomicU64>,
    size: u64,
    /// How it was opened, to read it again.
    delimiter: Delimiter,
}

impl TextInput {
    /// Opens the file for reading records, and reads its header if it has one.
    pub(super) fn open(
        path: &Path,
        delimiter: Delimiter,
        has_header: bool,
    ) -> Result<TextInput, ClientError> {
        let consumed = Arc::new(AtomicU64::new(0));
        let file = gzip::open_counted(path, consumed.clone())?;
        let records = TextRecords::new(file, delimiter).map_err(|e| summary_error(path, e))?;
        let mut t = TextInput {
            path: path.to_owned(),
            records,
            header: None,
            consumed,
            size: std::fs::metadata(path).map_or(0, |m| m.len()),
            delimiter,
        };
        if has_header {
            if t.next()?.is_none() {
                return Err(t.error(0, None, "the file is empty: no header line".into()));
            }
            t.header = Some(t.records.names());
        }
        Ok(t)
    }

    /// The same file opened again from its start (past its header).
    fn reopen(&self) -> Result<TextInput, ClientError> {
        TextInput::open(&self.path, self.delimiter, self.header.is_some())
    }

    pub(super) fn fraction_read(&self) -> Option<f64> {
        let read = self.consumed.load(Ordering::Relaxed);
        (read > 0 && self.size > 0).then(|| (read as f64 / self.size as f64).min(1.0))
    }

    pub(super) fn error(&self, line: u64, column: Option<usize>, message: String) -> ClientError {
        ClientError::Input {
            path: self.path.clone(),
            line,
            column,
            message,
        }
    }

    /// The next record's line, or `None` at the end.
    pub(super) fn next(&mut self) -> Result<Option<u64>, ClientError> {
        self.records.next_record().map_err(|e| {
            let message = match e {
                SummaryError::Io(m) => m,
                other => other.to_string(),
            };
            self.error(0, None, message)
        })
    }

    /// The 0-based column of `col`.
    pub(super) fn column(&self, role: &str, col: &ColumnRef) -> Result<usize, ClientError> {
        resolve_column(role, col, self.header.as_deref())
            .map_err(|e| self.error(u64::from(self.header.is_some()), None, e.to_string()))
    }

    /// A column by header name, if there is a header and it has the column.
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        self.header.as_ref()?;
        self.column(name, &ColumnRef::Name(name.to_owned())).ok()
    }

    /// Field `i` of the current record, trimmed, as UTF-8 text.
    pub(super) fn str(&self, line: u64, i: usize, role: &str) -> Result<&str, ClientError> {
        let raw = self.records.get(i).unwrap_or_default().trim_ascii();
        std::str::from_utf8(raw).map_err(|_| {
            self.error(
                line,
                Some(i + 1),
                format!(
                    "{role}: {:?}: not valid UTF-8",
                    String::from_utf8_lossy(raw)
                ),
            )
        })
    }
}

#[derive(Debug)]
pub(super) struct TextSummaries {
    pub(super) text: TextInput,
    /// id, frequency, recency, T (0-based).
    pub(super) columns: [usize; 4],
    pub(super) monetary: Option<usize>,
    /// Read for a fit only (see [`HoldoutColumns`]).
    pub(super) holdout: Option<HoldoutColumns<usize>>,
    /// The holdout length the rows so far give.
    pub(super) duration: Option<f64>,
    pub(super) chunk: usize,
    /// The ids read so far; `None` once the end was reached and checked.
    pub(super) unique: Option<UniqueIds>,
}

impl TextSummaries {
    pub(super) fn next_chunk(&mut self) -> Result<Option<pb::SummaryColumns>, ClientError> {
        // Sized once (up to a bound, for callers asking for huge chunks): growing the
        // columns row by row copied each of them about twice.
        let n = self.chunk.min(1 << 20);
        let mut c = pb::SummaryColumns {
            customer_id: Vec::with_capacity(n),
            frequency: Vec::with_capacity(n),
            recency: Vec::with_capacity(n),
            age: Vec::with_capacity(n),
            monetary_value: Vec::with_capacity(if self.monetary.is_some() { n } else { 0 }),
            ..Default::default()
        };
        let [id, x, rec, age] = self.columns;
        while c.customer_id.len() < self.chunk {
            let Some(line) = self.text.next()? else {
                // Before the last rows go out, so a fit of the file is never completed.
                if let Some(mut unique) = self.unique.take() {
                    self.check_unique(&mut unique)?;
                }
                break;
            };
            let t = &self.text;
            let number = |k: usize, role: &str| -> Result<f64, ClientError> {
                let text = t.str(line, k, role)?;
                text.parse().map_err(|_| {
                    t.error(
                        line,
                        Some(k + 1),
                        format!("{role} is not a number: {text:?}"),
                    )
                })
            };
            let customer_id = t.str(line, id, ID)?;
            let frequency = whole_frequency(number(x, "frequency")?)
                .map_err(|message| t.error(line, Some(x + 1), message))?;
            let rfm = Rfm {
                frequency,
                recency: number(rec, "recency")?,
                age: number(age, "T")?,
            };
            let monetary = self
                .monetary
                .map(|m| number(m, "monetary_value"))
                .transpose()?;
            check_summary(customer_id, rfm, monetary).map_err(|(field, why)| {
                let (role, k) = match field {
                    SummaryField::Id => (ID, id),
                    SummaryField::Frequency => ("frequency", x),
                    SummaryField::Recency => ("recency", rec),
                    SummaryField::T => ("T", age),
                    // Only a monetary column's value is checked.
                    SummaryField::Monetary => ("monetary_value", self.monetary.unwrap_or(0)),
                };
                t.error(line, Some(k + 1), format!("{role}: {why}"))
            })?;
            if let Some(u) = &mut self.unique {
                u.add(customer_id);
            }
            c.customer_id.push(customer_id.to_owned());
            c.frequency.push(rfm.frequency);
            c.recency.push(rfm.recency);
            c.age.push(rfm.age);
            c.monetary_value.extend(monetary);
            if let Some(h) = &self.holdout {
                let frequency = number(h.frequency, FREQUENCY_HOLDOUT)?;
                let spend = match h.spend {
                    Some((k, kind)) => Some((number(k, "holdout spend")?, kind)),
                    None => None,
                };
                let length = number(h.duration, DURATION_HOLDOUT)?;
                let spent = h
                    .calibration_spend
                    .map(|k| number(k, "calibration_spend"))
                    .transpose()?;
                push_holdout(&mut c, &mut self.duration, frequency, spend, length, spent).map_err(
                    |(column, message)| {
                        let k = if column == FREQUENCY_HOLDOUT {
                            h.frequency
                        } else {
                            h.duration
                        };
                        t.error(line, Some(k + 1), message)
                    },
                )?;
            }
        }
        Ok((!c.customer_id.is_empty()).then_some(c))
    }
}

impl TextSummaries {
    /// At the end of the file: an error naming the first id that appears twice (its line
    /// and column, and the line it first appeared on), if one does.
    fn check_unique(&self, unique: &mut UniqueIds) -> Result<(), ClientError> {
        let mut suspects = unique.suspects();
        if suspects.is_empty() {
            return Ok(());
        }
        let id = self.columns[0];
        let mut again = self.text.reopen()?;
        while let Some(line) = again.next()? {
            let customer_id = again.str(line, id, ID)?;
            if let Some(first) = suspects.repeat(customer_id, line) {
                let why = format!("{ID}: {}", repeated(customer_id, first));
                return Err(again.error(line, Some(id + 1), why));
            }
        }
        Ok(())
    }
}

/// A summarizer's or record reader's error as an input error of the file at `path`.
pub(super) fn summary_error(path: &Path, e: SummaryError) -> ClientError {
    let input_error = |line, column, message| ClientError::Input {
        path: path.to_owned(),
        line,
        column,
        message,
    };
    match e {
        SummaryError::Row(r) => input_error(
            r.line,
            r.column,
            format!("{}: {:?}: {}", r.field, r.value, explain(&r.reason)),
        ),
        SummaryError::Header(h) => input_error(1, None, h),
        SummaryError::Config(e) => input_error(0, None, e.to_string()),
        SummaryError::Io(e) => input_error(0, None, e),
    }
}
