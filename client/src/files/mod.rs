//! Customer files in and score files out: transaction logs and lifetimes-style summaries
//! as delimited text (optionally gzip-compressed) or Parquet, read in bounded chunks;
//! scores and summaries written as CSV, JSON Lines or Parquet, chunk by chunk.

//!
//! * `mod.rs` (here): the input options, and the one place that picks the text or the
//!   Parquet reader for a file;
//! * [`text`], [`parquet`]: the readers (Parquet also writes, to keep arrow in one place);
//! * [`write`]: every output format;
//! * [`fields`]: what readers and writers share, so none of them depends on another;
//! * [`unique`]: the summary readers' check that no customer appears twice;
//! * [`shield`]: catching the parquet crate's panics without their message.

mod fields;
pub mod parquet;
pub mod shield;
mod text;
mod unique;
mod write;

use std::path::PathBuf;

use custval_model::TimeUnit;
use custval_model::data::summary::{
    ColumnRef, CsvOptions, DateFormat, Day, Delimiter, RowPolicy, SummaryBuilder, SummaryConfig,
    SummaryError, SummaryOutput, parse_day, summarize_csv_with,
};
use custval_proto::v1 as pb;

use self::fields::{AMOUNT, DATE, HoldoutColumns, ID};
use self::parquet::{LogNames, ParquetInput, ParquetSummaries, SummaryNames};
use self::text::{TextInput, TextSummaries};
use self::unique::UniqueIds;
use crate::error::ClientError;
use crate::gzip;

pub use self::fields::{csv_field, table_columns};
pub use self::write::{
    LogWriter, OutputFormat, ScoreWriter, summary_column_names, write_summaries, write_text,
};

/// Which kind of customer file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputKind {
    /// Decide from the header: a frequency column means summaries (without a header:
    /// summaries if --frequency-column is given).
    Auto,
    /// `customer_id,date,amount` rows, one per purchase.
    Transactions,
    /// lifetimes' `customer_id,frequency,recency,T,monetary_value`.
    Summaries,
}

/// How to read a customer file, apart from its path (`report` takes the path as an
/// option of its own).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadOptions {
    /// What the input holds: auto (summaries if it has a frequency column), transactions
    /// or summaries.
    #[arg(long, value_enum, default_value = "auto")]
    pub input_kind: InputKind,
    /// Field delimiter: one character, `\t` (or `tab`) for tabs, or `whitespace` for runs
    /// of spaces and tabs without quoting (the CDNOW files).
    #[arg(long, default_value = ",", value_parser = parse_delimiter)]
    pub delimiter: Delimiter,
    /// The file has no header line; column options are then 1-based column numbers.
    #[arg(long)]
    pub no_header: bool,
    /// Column of the customer id (transactions and summaries).
    #[arg(long, default_value = "customer_id")]
    pub id_column: String,
    /// Column of the purchase date (transactions).
    #[arg(long, default_value = "date")]
    pub date_column: String,
    /// Column of the amount (transactions).
    #[arg(long, default_value = "amount")]
    pub amount_column: String,
    /// Column of the number of repeat purchases (summaries) [default: frequency].
    #[arg(long)]
    pub frequency_column: Option<String>,
    /// Column of the recency, in --time-unit (summaries) [default: recency].
    #[arg(long)]
    pub recency_column: Option<String>,
    /// Column of the age T, in --time-unit (summaries) [default: T].
    #[arg(long)]
    pub t_column: Option<String>,
    /// Column of the mean repeat-purchase value (summaries) [default: monetary_value, if
    /// the file has it].
    #[arg(long)]
    pub monetary_column: Option<String>,
    /// Date format of transactions: auto (ISO or compact per value), iso (YYYY-MM-DD,
    /// optionally with a time), compact (YYYYMMDD), or a pattern of %Y (4 digits), %m,
    /// %d (1 or 2 digits) and literal separators, e.g. %m/%d/%Y or %d.%m.%Y.
    #[arg(long, default_value = "auto", value_parser = parse_date_format)]
    pub date_format: DateFormat,
    /// Skip and count bad transaction rows instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,
    /// Leave out (and count) transaction rows dated after the last day read
    /// (--holdout-end, else --observation-end; backtest: --data-end), as lifetimes does,
    /// instead of stopping at the first as a bad row.
    #[arg(long)]
    pub ignore_later_rows: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            input_kind: InputKind::Auto,
            delimiter: Delimiter::Byte(b','),
            no_header: false,
            id_column: "customer_id".into(),
            date_column: "date".into(),
            amount_column: "amount".into(),
            frequency_column: None,
            recency_column: None,
            t_column: None,
            monetary_column: None,
            date_format: DateFormat::Auto,
            lenient: false,
            ignore_later_rows: false,
        }
    }
}

fn parse_delimiter(text: &str) -> Result<Delimiter, String> {
    match text {
        "whitespace" => Ok(Delimiter::Whitespace),
        "\\t" | "tab" => Ok(Delimiter::Byte(b'\t')),
        d if d.len() == 1 && !matches!(d, "\"" | "\n" | "\r") => {
            Ok(Delimiter::Byte(d.as_bytes()[0]))
        }
        _ => Err("use one character (not a quote), \\t (or tab), or whitespace".into()),
    }
}

fn parse_date_format(text: &str) -> Result<DateFormat, String> {
    text.parse().map_err(|e| match e {
        custval_model::ModelError::InvalidInput { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// One row of a transaction log.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub customer_id: String,
    pub day: Day,
    pub amount: f64,
}

/// A customer file and how to read it.
#[derive(Debug, Clone, clap::Args)]
pub struct InputOptions {
    /// Transactions or summaries: CSV or other delimited text, gzip-compressed if the name
    /// ends `.gz` (or the data starts with gzip's magic bytes); or Parquet (`.parquet`, or
    /// the `PAR1` magic), columns found by name. In errors about Parquet, "line" is the row
    /// number + 1 (the column names count as line 1, as a CSV header would). Summaries are
    /// streamed (memory: a few chunks, and 8 bytes per customer to refuse an id that
    /// appears twice); a transaction log is summarized whole first (memory grows with its
    /// customers).
    #[arg(long)]
    pub input: PathBuf,
    #[command(flatten)]
    pub read: ReadOptions,
}

impl InputOptions {
    /// Default reading options for `path` (comma-separated, lifetimes' column names).
    pub fn for_file(path: PathBuf) -> InputOptions {
        InputOptions {
            input: path,
            read: ReadOptions::default(),
        }
    }

    fn input_error(&self, line: u64, column: Option<usize>, message: String) -> ClientError {
        ClientError::Input {
            path: self.input.clone(),
            line,
            column,
            message,
        }
    }

    /// A column option: a name, or with --no-header a 1-based column number.
    fn column(&self, flag: &str, value: &str) -> Result<ColumnRef, ClientError> {
        if !self.read.no_header {
            return Ok(ColumnRef::Name(value.to_owned()));
        }
        match value.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(ColumnRef::Index(n - 1)),
            _ => Err(ClientError::Invalid(format!(
                "with --no-header, {flag} must be a 1-based column number, not {value:?}"
            ))),
        }
    }

    fn open_text(&self) -> Result<TextInput, ClientError> {
        TextInput::open(&self.input, self.read.delimiter, !self.read.no_header)
    }

    fn summary_error(&self, e: SummaryError) -> ClientError {
        text::summary_error(&self.input, e)
    }

    /// (customer id, purchase day) of every row of a transaction log, for tracking plots;
    /// read with the same options as [`summarize`](Self::summarize) (rows with a bad date
    /// are skipped with --lenient).
    pub fn purchase_days(&self) -> Result<Vec<(String, Day)>, ClientError> {
        Ok(self
            .purchases(false)?
            .into_iter()
            .map(|p| (p.customer_id, p.day))
            .collect())
    }

    /// Every row of a transaction log, with its amount when `with_amount` (else 0), read
    /// with the same options as [`summarize`](Self::summarize): for a backtest, which
    /// cuts the log itself. A bad row is an error naming its line and column, or skipped
    /// with --lenient.
    pub fn purchases(&self, with_amount: bool) -> Result<Vec<Purchase>, ClientError> {
        if let Some(p) = self.parquet()? {
            let (format, lenient) = (self.read.date_format, self.read.lenient);
            return parquet::purchases(p, &self.log_names(), format, lenient, with_amount);
        }
        let mut t = self.open_text()?;
        let id = t.column(ID, &self.column("--id-column", &self.read.id_column)?)?;
        let date = t.column(DATE, &self.column("--date-column", &self.read.date_column)?)?;
        let amount = if with_amount {
            let col = self.column("--amount-column", &self.read.amount_column)?;
            Some(t.column(AMOUNT, &col)?)
        } else {
            None
        };
        let format = self.read.date_format;
        let mut out = Vec::new();
        while let Some(line) = t.next()? {
            let text = t.records.get(date).unwrap_or_default().trim_ascii();
            let Some(day) = parse_day(text, format) else {
                if self.read.lenient {
                    continue;
                }
                return Err(self.input_error(
                    line,
                    Some(date + 1),
                    format!(
                        "{DATE}: {:?}: {}",
                        String::from_utf8_lossy(text),
                        format.reason()
                    ),
                ));
            };
            let value = match amount {
                None => 0.0,
                Some(a) => match fields::amount(t.str(line, a, AMOUNT)?) {
                    Ok(v) => v,
                    Err(_) if self.read.lenient => continue,
                    Err(why) => {
                        return Err(self.input_error(
                            line,
                            Some(a + 1),
                            format!("{AMOUNT}: {why}"),
                        ));
                    }
                },
            };
            let customer_id = t.str(line, id, ID)?;
            if customer_id.is_empty() {
                // As the summarizer: the service would refuse it by index, not by line.
                if self.read.lenient {
                    continue;
                }
                return Err(self.input_error(
                    line,
                    Some(id + 1),
                    format!("{ID}: customer id is empty"),
                ));
            }
            out.push(Purchase {
                customer_id: customer_id.to_owned(),
                day,
                amount: value,
            });
        }
        Ok(out)
    }

    /// The file opened as Parquet, if it is Parquet.
    fn parquet(&self) -> Result<Option<ParquetInput>, ClientError> {
        if !parquet::is_parquet(&self.input)? {
            return Ok(None);
        }
        if self.read.no_header {
            return Err(ClientError::Invalid(
                "--no-header is for text files: Parquet columns are found by name".into(),
            ));
        }
        ParquetInput::open(&self.input).map(Some)
    }

    fn log_names(&self) -> LogNames<'_> {
        LogNames {
            id: &self.read.id_column,
            date: &self.read.date_column,
            amount: &self.read.amount_column,
        }
    }

    /// The file's kind: as given, or from its header.
    pub fn kind(&self) -> Result<InputKind, ClientError> {
        if self.read.input_kind != InputKind::Auto {
            return Ok(self.read.input_kind);
        }
        let frequency = self.read.frequency_column.as_deref().unwrap_or("frequency");
        if let Some(p) = self.parquet()? {
            return Ok(if p.find(frequency).is_some() {
                InputKind::Summaries
            } else {
                InputKind::Transactions
            });
        }
        if self.read.no_header {
            return Ok(if self.read.frequency_column.is_some() {
                InputKind::Summaries
            } else {
                InputKind::Transactions
            });
        }
        let t = self.open_text()?;
        Ok(if t.find(frequency).is_some() {
            InputKind::Summaries
        } else {
            InputKind::Transactions
        })
    }

    /// Summarizes a transaction log locally (streamed; memory grows with customers).
    pub fn summarize(
        &self,
        unit: TimeUnit,
        observation_end: Day,
        calibration_end: Option<Day>,
    ) -> Result<SummaryOutput, ClientError> {
        let config = SummaryConfig {
            unit,
            observation_end,
            calibration_end,
            policy: if self.read.lenient {
                RowPolicy::Lenient
            } else {
                RowPolicy::Strict
            },
        };
        // Holdout purchases per week, for the seasonality diagnosis of `custval fit`.
        let mut builder = SummaryBuilder::new(config)?
            .with_holdout_periods(custval_model::predict::seasonality::PERIOD_DAYS);
        if self.read.ignore_later_rows {
            builder = builder.ignoring_rows_after_end();
        }
        if let Some(p) = self.parquet()? {
            return parquet::summarize(p, &self.log_names(), self.read.date_format, builder);
        }
        let options = CsvOptions {
            has_header: !self.read.no_header,
            delimiter: self.read.delimiter,
            customer_id: self.column("--id-column", &self.read.id_column)?,
            date: self.column("--date-column", &self.read.date_column)?,
            amount: self.column("--amount-column", &self.read.amount_column)?,
            date_format: self.read.date_format,
        };
        summarize_csv_with(gzip::open(&self.input)?, &options, builder)
            .map_err(|e| self.summary_error(e))
    }

    /// Reads a summary file in chunks of at most `chunk` customers (holdout columns, if
    /// any, are not read: scores and segments have no use for them).
    pub fn summaries(&self, chunk: usize) -> Result<SummaryReader, ClientError> {
        self.read_summaries(chunk, false)
    }

    /// As [`summaries`](Self::summaries), with the holdout columns `custval summarize
    /// --holdout-end` writes (`frequency_holdout`, `spend_holdout` or lifetimes'
    /// `monetary_value_holdout`, `duration_holdout`, `calibration_spend`), for a fit to be
    /// judged on. A `frequency_holdout` without a `duration_holdout` is an error saying so.
    pub fn summaries_with_holdout(&self, chunk: usize) -> Result<SummaryReader, ClientError> {
        self.read_summaries(chunk, true)
    }

    fn read_summaries(
        &self,
        chunk: usize,
        with_holdout: bool,
    ) -> Result<SummaryReader, ClientError> {
        let r = &self.read;
        if let Some(p) = self.parquet()? {
            let names = SummaryNames {
                id: &r.id_column,
                frequency: r.frequency_column.as_deref().unwrap_or("frequency"),
                recency: r.recency_column.as_deref().unwrap_or("recency"),
                t: r.t_column.as_deref().unwrap_or("T"),
                monetary: r.monetary_column.as_deref(),
            };
            let p = ParquetSummaries::open(p, &names, chunk, with_holdout)?;
            return Ok(SummaryReader(Box::new(Summaries::Parquet(p))));
        }
        let t = self.open_text()?;
        let need = |role: &str, flag: &str, value: &Option<String>| {
            t.column(role, &self.column(flag, value.as_deref().unwrap_or(role))?)
        };
        let id = match (self.column("--id-column", &r.id_column)?, &t.header) {
            // lifetimes writes the id as the first column (often unnamed or "ID").
            (ColumnRef::Name(n), Some(_)) if n == "customer_id" && t.find(&n).is_none() => {
                t.find("ID").unwrap_or(0)
            }
            (c, _) => t.column(ID, &c)?,
        };
        let columns = [
            id,
            need("frequency", "--frequency-column", &r.frequency_column)?,
            need("recency", "--recency-column", &r.recency_column)?,
            need("T", "--t-column", &r.t_column)?,
        ];
        let monetary = match (&r.monetary_column, r.no_header) {
            (None, false) => t.find("monetary_value"),
            (None, true) => None,
            (Some(m), _) => {
                Some(t.column("monetary_value", &self.column("--monetary-column", m)?)?)
            }
        };
        let holdout = if with_holdout {
            HoldoutColumns::find(|name| t.find(name)).map_err(|m| t.error(1, None, m))?
        } else {
            None
        };
        Ok(SummaryReader(Box::new(Summaries::Text(TextSummaries {
            text: t,
            columns,
            monetary,
            holdout,
            duration: None,
            chunk: chunk.max(1),
            unique: Some(UniqueIds::default()),
        }))))
    }
}

/// Summary rows in chunks, as the wire's columns.
#[derive(Debug)]
pub struct SummaryReader(Box<Summaries>);

#[derive(Debug)]
enum Summaries {
    Text(TextSummaries),
    Parquet(ParquetSummaries),
}

impl SummaryReader {
    /// The next chunk, or `None` at the end of the file.
    pub fn next_chunk(&mut self) -> Result<Option<pb::SummaryColumns>, ClientError> {
        match &mut *self.0 {
            Summaries::Text(t) => t.next_chunk(),
            Summaries::Parquet(p) => p.next_chunk(),
        }
    }

    /// The holdout length (in the file's time unit) its `duration_holdout` column gives,
    /// once rows were read from a reader with holdout columns.
    pub fn holdout_duration(&self) -> Option<f64> {
        match &*self.0 {
            Summaries::Text(t) => t.duration,
            Summaries::Parquet(p) => p.holdout_duration(),
        }
    }

    /// The holdout columns this reader reads, by name (none without holdout columns).
    pub fn holdout_columns(&self) -> Vec<&'static str> {
        match &*self.0 {
            Summaries::Text(t) => t.holdout.as_ref().map_or(vec![], HoldoutColumns::names),
            Summaries::Parquet(p) => p.holdout_columns(),
        }
    }

    /// How much of the file has been read, in (0, 1], once something has: bytes of the
    /// file (compressed ones for gzip) or Parquet rows.
    pub fn fraction_read(&self) -> Option<f64> {
        match &*self.0 {
            Summaries::Text(t) => t.text.fraction_read(),
            Summaries::Parquet(p) => p.fraction_read(),
        }
    }
}
