//! Customer files in and score files out: transaction logs and lifetimes-style summaries
//! as delimited text (optionally gzip-compressed) or Parquet, read in bounded chunks;
//! scores and summaries written as CSV, JSON Lines or Parquet, chunk by chunk.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use custval_model::data::summary::{
    ColumnRef, CsvOptions, DateFormat, Day, Delimiter, RowPolicy, SummaryBuilder, SummaryConfig,
    SummaryError, SummaryOutput, TextRecords, parse_day, resolve_column, summarize_csv_with,
};
use custval_model::{CustomerTable, MAX_FREQUENCY, TimeUnit};
use custval_proto::v1 as pb;

use crate::error::ClientError;
use crate::gzip::{self, Sink};
use crate::parquet::{self, LogNames, ParquetInput, ParquetSummaries, ParquetWriter, SummaryNames};

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

/// A customer file and how to read it.
#[derive(Debug, Clone, clap::Args)]
pub struct InputOptions {
    /// Transactions or summaries: CSV or other delimited text, gzip-compressed if the name
    /// ends `.gz` (or the data starts with gzip's magic bytes); or Parquet (`.parquet`, or
    /// the `PAR1` magic), columns found by name. In errors about Parquet, "line" is the row
    /// number + 1 (the column names count as line 1, as a CSV header would).
    #[arg(long)]
    pub input: PathBuf,
    #[command(flatten)]
    pub read: ReadOptions,
}

/// Column roles, as named in messages.
const ID: &str = "customer_id";
const DATE: &str = "date";

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

    /// Opens the file for reading records, and reads its header if it has one.
    fn open_text(&self) -> Result<TextInput, ClientError> {
        let consumed = Arc::new(AtomicU64::new(0));
        let file = gzip::open_counted(&self.input, consumed.clone())?;
        let records =
            TextRecords::new(file, self.read.delimiter).map_err(|e| self.summary_error(e))?;
        let mut t = TextInput {
            path: self.input.clone(),
            records,
            header: None,
            consumed,
            size: std::fs::metadata(&self.input).map_or(0, |m| m.len()),
        };
        if !self.read.no_header {
            if t.next()?.is_none() {
                return Err(self.input_error(0, None, "the file is empty: no header line".into()));
            }
            t.header = Some(t.records.names());
        }
        Ok(t)
    }

    fn summary_error(&self, e: SummaryError) -> ClientError {
        match e {
            SummaryError::Row(r) => self.input_error(
                r.line,
                r.column,
                format!("{}: {:?}: {}", r.field, r.value, r.reason),
            ),
            SummaryError::Header(h) => self.input_error(1, None, h),
            SummaryError::Config(e) => self.input_error(0, None, e.to_string()),
            SummaryError::Io(e) => self.input_error(0, None, e),
        }
    }

    /// (customer id, purchase day) of every row of a transaction log, for tracking plots;
    /// read with the same options as [`summarize`](Self::summarize) (rows with a bad date
    /// are skipped with --lenient).
    pub fn purchase_days(&self) -> Result<Vec<(String, Day)>, ClientError> {
        if let Some(p) = self.parquet()? {
            let (format, lenient) = (self.read.date_format, self.read.lenient);
            return parquet::purchase_days(p, &self.log_names(), format, lenient);
        }
        let mut t = self.open_text()?;
        let id = t.column(ID, &self.column("--id-column", &self.read.id_column)?)?;
        let date = t.column(DATE, &self.column("--date-column", &self.read.date_column)?)?;
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
            out.push((t.str(line, id, ID)?.to_owned(), day));
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
        let builder = SummaryBuilder::new(config)?.with_exact_history();
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

    /// Reads a summary file in chunks of at most `chunk` customers.
    pub fn summaries(&self, chunk: usize) -> Result<SummaryReader, ClientError> {
        let r = &self.read;
        if let Some(p) = self.parquet()? {
            let names = SummaryNames {
                id: &r.id_column,
                frequency: r.frequency_column.as_deref().unwrap_or("frequency"),
                recency: r.recency_column.as_deref().unwrap_or("recency"),
                t: r.t_column.as_deref().unwrap_or("T"),
                monetary: r.monetary_column.as_deref(),
            };
            let p = ParquetSummaries::open(p, &names, chunk)?;
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
        Ok(SummaryReader(Box::new(Summaries::Text(TextSummaries {
            text: t,
            columns,
            monetary,
            chunk: chunk.max(1),
        }))))
    }
}

/// A text file opened for reading, past its header if it has one: the one way summaries,
/// purchase days and the kind of a file are read (the summarizer reads through the same
/// [`TextRecords`]).
#[derive(Debug)]
struct TextInput {
    path: PathBuf,
    records: TextRecords<Box<dyn Read + Send>>,
    header: Option<Vec<String>>,
    /// Bytes read from the file so far, and its size.
    consumed: Arc<AtomicU64>,
    size: u64,
}

impl TextInput {
    fn fraction_read(&self) -> Option<f64> {
        let read = self.consumed.load(Ordering::Relaxed);
        (read > 0 && self.size > 0).then(|| (read as f64 / self.size as f64).min(1.0))
    }

    fn error(&self, line: u64, column: Option<usize>, message: String) -> ClientError {
        ClientError::Input {
            path: self.path.clone(),
            line,
            column,
            message,
        }
    }

    /// The next record's line, or `None` at the end.
    fn next(&mut self) -> Result<Option<u64>, ClientError> {
        self.records.next_record().map_err(|e| {
            let message = match e {
                SummaryError::Io(m) => m,
                other => other.to_string(),
            };
            self.error(0, None, message)
        })
    }

    /// The 0-based column of `col`.
    fn column(&self, role: &str, col: &ColumnRef) -> Result<usize, ClientError> {
        resolve_column(role, col, self.header.as_deref())
            .map_err(|e| self.error(u64::from(self.header.is_some()), None, e.to_string()))
    }

    /// A column by header name, if there is a header and it has the column.
    fn find(&self, name: &str) -> Option<usize> {
        self.header.as_ref()?;
        self.column(name, &ColumnRef::Name(name.to_owned())).ok()
    }

    /// Field `i` of the current record, trimmed, as UTF-8 text.
    fn str(&self, line: u64, i: usize, role: &str) -> Result<&str, ClientError> {
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

    /// How much of the file has been read, in (0, 1], once something has: bytes of the
    /// file (compressed ones for gzip) or Parquet rows.
    pub fn fraction_read(&self) -> Option<f64> {
        match &*self.0 {
            Summaries::Text(t) => t.text.fraction_read(),
            Summaries::Parquet(p) => p.fraction_read(),
        }
    }
}

#[derive(Debug)]
struct TextSummaries {
    text: TextInput,
    /// id, frequency, recency, T (0-based).
    columns: [usize; 4],
    monetary: Option<usize>,
    chunk: usize,
}

impl TextSummaries {
    fn next_chunk(&mut self) -> Result<Option<pb::SummaryColumns>, ClientError> {
        let mut c = pb::SummaryColumns::default();
        let [id, x, rec, age] = self.columns;
        while c.customer_id.len() < self.chunk {
            let Some(line) = self.text.next()? else {
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
            c.customer_id.push(t.str(line, id, ID)?.to_owned());
            let frequency = whole_frequency(number(x, "frequency")?)
                .map_err(|message| t.error(line, Some(x + 1), message))?;
            c.frequency.push(frequency);
            c.recency.push(number(rec, "recency")?);
            c.age.push(number(age, "T")?);
            if let Some(m) = self.monetary {
                c.monetary_value.push(number(m, "monetary_value")?);
            }
        }
        Ok((!c.customer_id.is_empty()).then_some(c))
    }
}

/// A summary's frequency read as a number: a whole number from 0 to the models'
/// [`MAX_FREQUENCY`]; otherwise the message.
pub(crate) fn whole_frequency(f: f64) -> Result<u32, String> {
    if f >= 0.0 && f.fract() == 0.0 && f <= f64::from(MAX_FREQUENCY) {
        Ok(f as u32)
    } else {
        Err(format!(
            "frequency must be a whole number from 0 to {MAX_FREQUENCY}: {f}"
        ))
    }
}

/// Rows `range` of a local summary table as wire columns.
pub fn table_columns(t: &CustomerTable, range: std::ops::Range<usize>) -> pb::SummaryColumns {
    let rows = &t.rfm[range.clone()];
    let mut c = pb::SummaryColumns {
        customer_id: t.ids[range.clone()].to_vec(),
        frequency: rows.iter().map(|r| r.frequency).collect(),
        recency: rows.iter().map(|r| r.recency).collect(),
        age: rows.iter().map(|r| r.age).collect(),
        monetary_value: t.monetary_value[range.clone()].to_vec(),
        ..Default::default()
    };
    if let Some(h) = &t.holdout {
        c.holdout_frequency = h.frequency[range.clone()].to_vec();
        c.holdout_spend = h.spend[range].to_vec();
    }
    c
}

/// Output format of scores and summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// From the file name (before a `.gz`): `.parquet`/`.pq` is Parquet, `.jsonl`/`.ndjson`
    /// JSON Lines, anything else CSV.
    Auto,
    Csv,
    Jsonl,
    Parquet,
}

impl OutputFormat {
    /// The format for `path`: as given, or from its name.
    pub fn for_path(self, path: &Path) -> OutputFormat {
        if self != OutputFormat::Auto {
            return self;
        }
        match gzip::inner_extension(path).as_str() {
            "parquet" | "pq" => OutputFormat::Parquet,
            "jsonl" | "ndjson" => OutputFormat::Jsonl,
            _ => OutputFormat::Csv,
        }
    }
}

/// Writes score rows as CSV or JSON Lines (gzip-compressed if the name ends `.gz`), or as
/// Parquet.
pub struct ScoreWriter {
    path: PathBuf,
    out: ScoreOut,
}

enum ScoreOut {
    Csv {
        out: Sink,
        header_written: bool,
    },
    Jsonl(Sink),
    /// And whether the scores carry segment, tier and action.
    Parquet(ParquetWriter, bool),
}

impl std::fmt::Debug for ScoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScoreWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl ScoreWriter {
    /// `-` writes to standard output.
    pub fn create(path: &Path, format: OutputFormat) -> Result<ScoreWriter, ClientError> {
        let out = match format.for_path(path) {
            OutputFormat::Parquet => ScoreOut::Parquet(ParquetWriter::create(path)?, false),
            OutputFormat::Jsonl => ScoreOut::Jsonl(Sink::create(path)?),
            _ => ScoreOut::Csv {
                out: Sink::create(path)?,
                header_written: false,
            },
        };
        Ok(ScoreWriter {
            path: path.to_owned(),
            out,
        })
    }

    /// Appends one chunk of score columns.
    pub fn write(&mut self, s: &pb::ScoreColumns) -> Result<(), ClientError> {
        let labelled = !s.segment.is_empty();
        let spend = !s.expected_spend.is_empty();
        let mut undefined = s.undefined_spend.iter().peekable();
        let path = &self.path;
        let io = |e| ClientError::file(path, e);
        let (out, jsonl) = match &mut self.out {
            ScoreOut::Parquet(w, has_labels) => {
                *has_labels = labelled;
                return w.write(&parquet::score_batch(s)?);
            }
            ScoreOut::Jsonl(out) => (out, true),
            ScoreOut::Csv {
                out,
                header_written,
            } => {
                if !*header_written {
                    let mut h = String::from(
                        "customer_id,expected_purchases,p_alive,propensity,expected_spend,clv",
                    );
                    if labelled {
                        h.push_str(",segment,tier,action");
                    }
                    writeln!(out, "{h}").map_err(io)?;
                    *header_written = true;
                }
                (out, false)
            }
        };
        for i in 0..s.customer_id.len() {
            let defined = spend && undefined.next_if(|&&u| u as usize == i).is_none();
            let (es, clv) = if defined {
                (Some(s.expected_spend[i]), Some(s.clv[i]))
            } else {
                (None, None)
            };
            let r = if jsonl {
                let mut v = serde_json::json!({
                    "customer_id": s.customer_id[i],
                    "expected_purchases": s.expected_purchases[i],
                    "p_alive": s.p_alive[i],
                    "propensity": s.propensity[i],
                    "expected_spend": es,
                    "clv": clv,
                });
                if labelled {
                    v["segment"] = s.segment[i].clone().into();
                    v["tier"] = s.tier[i].clone().into();
                    v["action"] = s.action[i].clone().into();
                }
                writeln!(out, "{v}")
            } else {
                let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
                let mut line = format!(
                    "{},{},{},{},{},{}",
                    csv_field(&s.customer_id[i]),
                    s.expected_purchases[i],
                    s.p_alive[i],
                    s.propensity[i],
                    opt(es),
                    opt(clv)
                );
                if labelled {
                    line.push_str(&format!(
                        ",{},{},{}",
                        csv_field(&s.segment[i]),
                        s.tier[i],
                        s.action[i]
                    ));
                }
                writeln!(out, "{line}")
            };
            r.map_err(io)?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), ClientError> {
        let io = |e| ClientError::file(&self.path, e);
        match self.out {
            ScoreOut::Csv { out, .. } | ScoreOut::Jsonl(out) => out.finish().map_err(io),
            ScoreOut::Parquet(w, labelled) => w.finish(parquet::score_schema(labelled)),
        }
    }
}

/// Writes `text` to `path` (gzip-compressed if the name ends `.gz`).
pub fn write_text(path: &Path, text: &str) -> Result<(), ClientError> {
    let mut out = Sink::create(path)?;
    out.write_all(text.as_bytes())
        .and_then(|()| out.finish())
        .map_err(|e| ClientError::file(path, e))
}

/// A CSV field, quoted when it needs to be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Writes a summary table with lifetimes' column names (and `frequency_holdout`,
/// `spend_holdout` with a holdout): CSV or JSON Lines (gzip-compressed if the name ends
/// `.gz`), or Parquet.
pub fn write_summaries(
    path: &Path,
    format: OutputFormat,
    t: &CustomerTable,
) -> Result<(), ClientError> {
    let format = format.for_path(path);
    if format == OutputFormat::Parquet {
        return parquet::write_summaries(path, t);
    }
    let mut out = Sink::create(path)?;
    let io = |e| ClientError::file(path, e);
    let holdout = t.holdout.as_ref();
    if format == OutputFormat::Csv {
        write!(out, "customer_id,frequency,recency,T,monetary_value").map_err(io)?;
        if holdout.is_some() {
            write!(out, ",frequency_holdout,spend_holdout").map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    for i in 0..t.len() {
        let r = &t.rfm[i];
        if format == OutputFormat::Jsonl {
            let mut v = serde_json::json!({
                "customer_id": t.ids[i],
                "frequency": r.frequency,
                "recency": r.recency,
                "T": r.age,
                "monetary_value": t.monetary_value[i],
            });
            if let Some(h) = holdout {
                v["frequency_holdout"] = h.frequency[i].into();
                v["spend_holdout"] = h.spend[i].into();
            }
            writeln!(out, "{v}").map_err(io)?;
            continue;
        }
        write!(
            out,
            "{},{},{},{},{}",
            csv_field(&t.ids[i]),
            r.frequency,
            r.recency,
            r.age,
            t.monetary_value[i]
        )
        .map_err(io)?;
        if let Some(h) = holdout {
            write!(out, ",{},{}", h.frequency[i], h.spend[i]).map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    out.finish().map_err(io)
}
