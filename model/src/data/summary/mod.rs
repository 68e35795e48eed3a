//! Transaction logs → per-customer RFM summaries, streamed.
//!
//! The semantics are those of Python `lifetimes`'
//! `summary_data_from_transaction_data(..., freq='D', freq_multiplier=k)` and
//! `calibration_and_holdout_data(..., freq='D', freq_multiplier=k)`:
//!
//! * timestamps are floored to a calendar [`Day`] (proleptic Gregorian, no time zones: a
//!   time of day and a zone suffix are ignored, the date is used as written);
//! * a customer's purchases on one day are merged into one purchase (amounts summed);
//! * frequency x = distinct purchase days after the first, recency t_x = (last purchase day
//!   − first day) / unit, age T = (end − first day) / unit, where end is the calibration end
//!   if given, else the observation end, and unit = [`TimeUnit::days`];
//! * monetary value = mean over the repeat purchase days of that day's summed spend (first
//!   purchase day excluded; 0 when x = 0);
//! * with a calibration end, purchases in (calibration end, observation end] form the
//!   holdout: distinct purchase days there and their total spend; customers whose first
//!   purchase is in the holdout are left out (and counted in [`SummaryStats`]).
//!
//! Unlike `lifetimes`, a row dated after the observation end is a *bad row* (an error in
//! [`RowPolicy::Strict`], skipped and counted in [`RowPolicy::Lenient`]), not silently
//! dropped.
//!
//! # Memory and row order
//!
//! Rows are consumed one at a time; nothing per row is kept. Each customer has one 88-byte
//! slot in an open-addressing table (load factor <= 5/8): its id (inline up to 22 bytes,
//! else on the heap) and a fixed state (first / last / last-calibration day, distinct-day
//! counts, spends, a recent-days bitmap). About 140–280 bytes per customer, so memory
//! grows with the number of customers, not of rows (1M customers: ~185 MB, plus the
//! output table). [`summarize_csv`] parses on one thread and builds on another (when there
//! are two cores), handing rows over in batches, in order; the builder looks up the
//! customers of a few dozen rows together, so that the table's cache misses overlap.
//!
//! Rows normally arrive in time order per customer (files sorted by date, or by customer
//! then date); then the state above is all that is needed. A row *earlier* than the
//! customer's latest day is harder: whether its day is a new distinct day depends on the
//! customer's earlier days, which the compact state does not keep. It is handled exactly
//! as follows:
//!
//! * the state also keeps a bitmap of the customer's purchase days among the last
//!   [`WINDOW_DAYS`] days up to their latest purchase, so a late row within that window
//!   (e.g. a file sorted by timestamp with a little jitter), on the first purchase day, or
//!   before the first purchase day is placed exactly in O(1) with no extra memory;
//! * a late row further back, when every earlier purchase day of that customer is still
//!   known (all of them inside the window, apart from the first), moves that customer to a
//!   side structure (a sorted list of its distinct days); from then on that customer's
//!   rows go through the list, exactly, whatever their order. Only customers that need it
//!   get one;
//! * otherwise (the row falls more than [`WINDOW_DAYS`] days before the customer's latest
//!   purchase, after their first purchase, and some other purchase day of theirs has
//!   already left the window) exactness would need that customer's full history, which a
//!   memory bound in customers cannot keep. Such a row is reported as a bad row with the
//!   reason [`OUT_OF_ORDER_REASON`] (an error in `Strict`, skipped and counted in
//!   `Lenient`) rather than summarized approximately. Sorting the input by customer and
//!   date, or by date, avoids it entirely; for input in arbitrary order,
//!   [`SummaryBuilder::with_exact_history`] (with [`summarize_csv_with`]) keeps every
//!   customer's distinct days instead (memory then grows with distinct customer-days).
//!
//! # Layout
//!
//! This file holds the configuration, the statistics, the errors and the entry points;
//! `dates` reads calendar days, `text` splits files into records, `layout` turns records
//! into validated rows, `ids` finds each row's customer, `customer` places the row among
//! that customer's days, `builder` drives it all and builds the table, and `pipe` runs the
//! parsing and the building on two threads.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use thiserror::Error;

use crate::data::rfm::CustomerTable;
use crate::data::units::TimeUnit;
use crate::error::ModelError;

mod builder;
mod customer;
mod dates;
mod ids;
mod layout;
mod pipe;
#[cfg(test)]
mod test_support;
mod text;

pub use builder::SummaryBuilder;
pub use dates::{DateFormat, DatePattern, Day, parse_day};
pub use layout::{ColumnRef, CsvOptions, resolve_column};
pub use text::{Delimiter, TextRecords};

use layout::{Batch, RowSink, read_records};
use text::Source;

/// How far back (in days before a customer's latest purchase) late rows are placed exactly
/// without any side structure.
pub const WINDOW_DAYS: i64 = 64;

/// The `reason` of a row that is too far out of order to be summarized exactly (see the
/// module documentation).
pub const OUT_OF_ORDER_REASON: &str = "row is out of order: more than 64 days before this \
     customer's latest purchase, with an earlier purchase day no longer tracked; sort the \
     input by customer and date (or by date)";

/// How many bad rows [`SummaryStats::examples`] keeps.
pub const MAX_EXAMPLES: usize = 10;

/// One bad input row. `column` is 1-based; `field` is the role of the column
/// (`customer_id`, `date`, `amount`) or, for a wrong field count, the column's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: Option<usize>,
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, " ({}): {:?}: {}", self.field, self.value, self.reason)
    }
}

impl std::error::Error for RowError {}

/// What happened to the input rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryStats {
    /// Data rows seen (header and blank lines excluded).
    pub rows_read: u64,
    /// Rows that entered the summary.
    pub rows_used: u64,
    /// Bad rows (skipped in lenient mode).
    pub rows_skipped: u64,
    /// Skipped rows per `RowError::reason`.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// The first [`MAX_EXAMPLES`] bad rows.
    pub examples: Vec<RowError>,
    /// Customers in the output table.
    pub customers: u64,
    /// Customers left out because their first purchase is after the calibration end.
    pub customers_born_in_holdout: u64,
    /// Rows dated after the observation end, left out (only with
    /// [`SummaryBuilder::ignoring_rows_after_end`]; otherwise such a row is bad).
    pub rows_after_end: u64,
}

/// The summary table and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryOutput {
    pub table: CustomerTable,
    pub stats: SummaryStats,
}

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowPolicy {
    /// The first bad row is an error.
    #[default]
    Strict,
    /// Bad rows are skipped and counted.
    Lenient,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryConfig {
    pub unit: TimeUnit,
    /// Last day of observation, inclusive.
    pub observation_end: Day,
    /// Last day of the calibration period, inclusive; `None`: no holdout.
    pub calibration_end: Option<Day>,
    pub policy: RowPolicy,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum SummaryError {
    #[error("bad transaction row: {0}")]
    Row(RowError),
    #[error("cannot read transactions: {0}")]
    Io(String),
    #[error("bad header: {0}")]
    Header(String),
    #[error("invalid summary configuration: {0}")]
    Config(ModelError),
}

impl From<RowError> for SummaryError {
    fn from(e: RowError) -> Self {
        SummaryError::Row(e)
    }
}

impl From<ModelError> for SummaryError {
    fn from(e: ModelError) -> Self {
        SummaryError::Config(e)
    }
}

const F_CUSTOMER: &str = "customer_id";
const F_DATE: &str = "date";
const F_AMOUNT: &str = "amount";

const R_EMPTY_ID: &str = "customer id is empty";
const R_ID_UTF8: &str = "customer id is not valid UTF-8";
/// Why a row dated after the observation end is bad (`RowError::reason`).
pub const R_AFTER_END: &str = "date is after observation_end";
const R_AMOUNT_NAN: &str = "amount is not a number";
const R_AMOUNT_INF: &str = "amount must be finite";
const R_AMOUNT_NEG: &str = "amount must be >= 0";
/// Above [`crate::MAX_AMOUNT`]: the service refuses such a summary, so the row is named here.
const R_AMOUNT_BIG: &str = "amount is above the limit of 1e12";
const R_MISSING: &str = "missing field(s): the row has fewer fields than expected";
const R_EXTRA: &str = "too many fields: the row has more fields than expected";
const R_TOO_MANY: &str = "too many customers (more than 4294967294)";

/// Summarizes a transaction file. Blank lines are ignored; a UTF-8 byte order mark is
/// skipped. Line numbers in errors are 1-based physical lines of the input.
pub fn summarize_csv<R: Read>(
    reader: R,
    options: &CsvOptions,
    config: SummaryConfig,
) -> Result<SummaryOutput, SummaryError> {
    summarize_csv_with(reader, options, SummaryBuilder::new(config)?)
}

/// [`summarize_csv`] with a prepared builder (e.g.
/// [`SummaryBuilder::with_exact_history`] for unsorted input).
pub fn summarize_csv_with<R: Read>(
    reader: R,
    options: &CsvOptions,
    builder: SummaryBuilder,
) -> Result<SummaryOutput, SummaryError> {
    summarize_text(reader, options, builder, pipe::worthwhile())
}

/// [`summarize_csv_with`], parsing on this thread and building on a second one when
/// `two_threads` (see [`pipe`]); the result is the same either way.
fn summarize_text<R: Read>(
    reader: R,
    options: &CsvOptions,
    mut builder: SummaryBuilder,
    two_threads: bool,
) -> Result<SummaryOutput, SummaryError> {
    let source = TextRecords::new(reader, options.delimiter)?.0;
    if two_threads {
        return pipe::run(builder, |sink| match source {
            Source::Csv(mut records) => read_records(&mut records, options, sink),
            Source::Whitespace(mut records) => read_records(&mut records, options, sink),
        });
    }
    match source {
        Source::Csv(mut records) => read_records(&mut records, options, &mut builder)?,
        Source::Whitespace(mut records) => read_records(&mut records, options, &mut builder)?,
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    /// Many customers (the id table grows many times), ids short, long (heap keys) and
    /// non-ASCII, rows spread over many read-ahead batches with bad rows in between: the
    /// CSV path, the row-by-row `push` path and the naive reference agree.
    #[test]
    fn many_customers_through_csv_and_push_agree() {
        let mut rng = Rng(2024);
        let start = d(2019, 1, 1).0;
        let cfg = SummaryConfig {
            unit: TimeUnit::Day,
            observation_end: Day(start + 400),
            calibration_end: Some(Day(start + 300)),
            policy: RowPolicy::Lenient,
        };
        let id = |c: u64| match c % 3 {
            0 => format!("c{c}"),
            1 => format!("a-rather-long-customer-identifier-{c:012}"),
            _ => format!("kund\u{e9}-{c}-\u{1F600}"),
        };
        let mut text = String::from("customer_id,date,amount\n");
        let mut good: Vec<(String, Day, f64)> = Vec::new();
        let mut bad_rows = 0;
        let mut day = start;
        for i in 0..40_000u64 {
            if i % 100 == 0 {
                day += 1;
            }
            let c = rng.below(5000);
            let amount = rng.below(100_000) as f64 / 100.0;
            if rng.below(500) == 0 {
                text.push_str(&format!("{},{},-1\n", id(c), Day(day)));
                bad_rows += 1;
                continue;
            }
            text.push_str(&format!("{},{},{amount}\n", id(c), Day(day)));
            good.push((id(c), Day(day), amount));
        }
        let via_csv = csv(&text, &opts(), cfg).unwrap();
        let mut b = SummaryBuilder::new(cfg).unwrap();
        for (i, (c, dd, a)) in good.iter().enumerate() {
            b.push(i as u64, c, *dd, *a).unwrap();
        }
        let via_push = b.finish();
        assert_eq!(via_csv.table, via_push.table);
        assert_eq!(via_csv.stats.rows_skipped, bad_rows);
        assert_eq!(via_csv.stats.rows_used, good.len() as u64);
        assert!(via_csv.stats.customers > 4900);
        assert!(via_csv.stats.customers_born_in_holdout > 0);
        let mut want = reference(&good, &cfg);
        let got = as_ref(&via_csv);
        want.sort_by_key(|r| got.iter().position(|g| g.0 == r.0));
        assert_same(&got, &want);
        // Strict: the first bad row is reported with its line, after the rows before it.
        let strict = SummaryConfig {
            policy: RowPolicy::Strict,
            ..cfg
        };
        let SummaryError::Row(e) = csv(&text, &opts(), strict).unwrap_err() else {
            panic!()
        };
        let first_bad = text.lines().position(|l| l.ends_with(",-1")).unwrap() as u64 + 1;
        assert_eq!(
            (e.line, e.column, e.value.as_str()),
            (first_bad, Some(3), "-1")
        );
    }
}
