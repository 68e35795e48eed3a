//! Customer files in and score files out: transaction logs and lifetimes-style summary
//! CSVs, read in bounded chunks; CSV or JSON Lines written row by row.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use custval_model::summary::{
    ColumnRef, CsvOptions, DateFormat, Day, Delimiter, RowPolicy, SummaryBuilder, SummaryConfig,
    SummaryError, SummaryOutput, summarize_csv_with,
};
use custval_model::{CustomerTable, TimeUnit};
use custval_proto::v1 as pb;

use crate::error::ClientError;

/// Which kind of customer file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputKind {
    /// Decide from the header: a `frequency` column means summaries.
    Auto,
    /// `customer_id,date,amount` rows, one per purchase.
    Transactions,
    /// lifetimes' `customer_id,frequency,recency,T,monetary_value`.
    Summaries,
}

/// How to read a customer file.
#[derive(Debug, Clone, clap::Args)]
pub struct InputOptions {
    /// CSV of transactions or summaries.
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub input_kind: InputKind,
    /// Field delimiter (one character; `\t` for tabs).
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// Column of the customer id (transactions and summaries).
    #[arg(long, default_value = "customer_id")]
    pub id_column: String,
    /// Column of the purchase date (transactions).
    #[arg(long, default_value = "date")]
    pub date_column: String,
    /// Column of the amount (transactions).
    #[arg(long, default_value = "amount")]
    pub amount_column: String,
    /// Date format of transactions: auto, iso (YYYY-MM-DD) or compact (YYYYMMDD).
    #[arg(long, default_value = "auto")]
    pub date_format: String,
    /// Skip and count bad transaction rows instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,
}

impl InputOptions {
    /// Default reading options for `path` (comma-separated, lifetimes' column names).
    pub fn for_file(path: PathBuf) -> InputOptions {
        InputOptions {
            input: path,
            input_kind: InputKind::Auto,
            delimiter: ",".into(),
            id_column: "customer_id".into(),
            date_column: "date".into(),
            amount_column: "amount".into(),
            date_format: "auto".into(),
            lenient: false,
        }
    }

    /// (customer id, purchase day) of every row of a transaction log, for tracking plots.
    pub fn purchase_days(&self) -> Result<Vec<(String, Day)>, ClientError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter_byte()?)
            .from_path(&self.input)
            .map_err(|e| csv_error(&self.input, e))?;
        let headers = reader
            .headers()
            .map_err(|e| csv_error(&self.input, e))?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| ClientError::Input {
                    path: self.input.clone(),
                    line: 1,
                    column: None,
                    message: format!("no column {name:?} in the header"),
                })
        };
        let (id, date) = (col(&self.id_column)?, col(&self.date_column)?);
        let mut out = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(&self.input, e))?;
            let line = record.position().map_or(0, |p| p.line());
            let text = record.get(date).unwrap_or("").trim();
            let day = custval_model::summary::parse_day(text.as_bytes(), DateFormat::Auto)
                .ok_or_else(|| ClientError::Input {
                    path: self.input.clone(),
                    line,
                    column: Some(date + 1),
                    message: format!("not a date: {text:?}"),
                })?;
            out.push((record.get(id).unwrap_or("").to_owned(), day));
        }
        Ok(out)
    }

    fn delimiter_byte(&self) -> Result<u8, ClientError> {
        match self.delimiter.as_str() {
            "\\t" | "tab" => Ok(b'\t'),
            d if d.len() == 1 => Ok(d.as_bytes()[0]),
            d => Err(ClientError::Invalid(format!(
                "--delimiter {d:?}: use one character, or \\t"
            ))),
        }
    }

    /// The file's kind: as given, or from its header.
    pub fn kind(&self) -> Result<InputKind, ClientError> {
        if self.input_kind != InputKind::Auto {
            return Ok(self.input_kind);
        }
        let mut r = csv::ReaderBuilder::new()
            .delimiter(self.delimiter_byte()?)
            .from_path(&self.input)
            .map_err(|e| csv_error(&self.input, e))?;
        let headers = r.headers().map_err(|e| csv_error(&self.input, e))?;
        Ok(if headers.iter().any(|h| h.trim() == "frequency") {
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
        let date_format = match self.date_format.as_str() {
            "auto" => DateFormat::Auto,
            "iso" => DateFormat::Iso,
            "compact" => DateFormat::Compact,
            other => {
                return Err(ClientError::Invalid(format!(
                    "--date-format {other:?}: use auto, iso or compact"
                )));
            }
        };
        let options = CsvOptions {
            has_header: true,
            delimiter: Delimiter::Byte(self.delimiter_byte()?),
            customer_id: ColumnRef::Name(self.id_column.clone()),
            date: ColumnRef::Name(self.date_column.clone()),
            amount: ColumnRef::Name(self.amount_column.clone()),
            date_format,
        };
        let config = SummaryConfig {
            unit,
            observation_end,
            calibration_end,
            policy: if self.lenient {
                RowPolicy::Lenient
            } else {
                RowPolicy::Strict
            },
        };
        let file = File::open(&self.input).map_err(|e| ClientError::file(&self.input, e))?;
        let builder = SummaryBuilder::new(config)?.with_exact_history();
        summarize_csv_with(file, &options, builder).map_err(|e| match e {
            SummaryError::Row(r) => ClientError::Input {
                path: self.input.clone(),
                line: r.line,
                column: r.column,
                message: format!("{}: {:?}: {}", r.field, r.value, r.reason),
            },
            other => ClientError::Input {
                path: self.input.clone(),
                line: 0,
                column: None,
                message: other.to_string(),
            },
        })
    }

    /// Reads a summary CSV in chunks of at most `chunk` customers.
    pub fn summaries(&self, chunk: usize) -> Result<SummaryReader, ClientError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter_byte()?)
            .from_path(&self.input)
            .map_err(|e| csv_error(&self.input, e))?;
        let headers = reader
            .headers()
            .map_err(|e| csv_error(&self.input, e))?
            .clone();
        let find = |name: &str| headers.iter().position(|h| h.trim() == name);
        let need = |name: &str| {
            find(name).ok_or_else(|| ClientError::Input {
                path: self.input.clone(),
                line: 1,
                column: None,
                message: format!("no column {name:?} in the header"),
            })
        };
        // lifetimes writes the id as the first column (often unnamed or "ID").
        let id = find(&self.id_column).or_else(|| find("ID")).unwrap_or(0);
        let total_bytes = std::fs::metadata(&self.input).map_or(0, |m| m.len());
        Ok(SummaryReader {
            path: self.input.clone(),
            reader,
            total_bytes,
            columns: [id, need("frequency")?, need("recency")?, need("T")?],
            monetary: find("monetary_value"),
            chunk: chunk.max(1),
        })
    }
}

fn csv_error(path: &Path, e: csv::Error) -> ClientError {
    let (line, column) = match e.position() {
        Some(p) => (p.line(), None),
        None => (0, None),
    };
    ClientError::Input {
        path: path.to_owned(),
        line,
        column,
        message: e.to_string(),
    }
}

/// Summary rows in chunks, as the wire's columns.
#[derive(Debug)]
pub struct SummaryReader {
    path: PathBuf,
    reader: csv::Reader<File>,
    /// id, frequency, recency, T (0-based).
    columns: [usize; 4],
    monetary: Option<usize>,
    chunk: usize,
    total_bytes: u64,
}

impl SummaryReader {
    /// How much of the file has been read, in (0, 1], once something has.
    pub fn fraction_read(&self) -> Option<f64> {
        let read = self.reader.position().byte();
        (read > 0 && self.total_bytes > 0).then(|| (read as f64 / self.total_bytes as f64).min(1.0))
    }

    /// The next chunk, or `None` at the end of the file.
    pub fn next_chunk(&mut self) -> Result<Option<pb::SummaryColumns>, ClientError> {
        let mut c = pb::SummaryColumns::default();
        let mut record = csv::StringRecord::new();
        while c.customer_id.len() < self.chunk {
            if !self
                .reader
                .read_record(&mut record)
                .map_err(|e| csv_error(&self.path, e))?
            {
                break;
            }
            let line = record.position().map_or(0, |p| p.line());
            let field = |k: usize| record.get(k).unwrap_or("").trim();
            let bad = |k: usize, what: &str| ClientError::Input {
                path: self.path.clone(),
                line,
                column: Some(k + 1),
                message: format!("{what}: {:?}", field(k)),
            };
            let [id, x, rec, age] = self.columns;
            c.customer_id.push(field(id).to_owned());
            let frequency: f64 = field(x)
                .parse()
                .map_err(|_| bad(x, "frequency is not a number"))?;
            if !(frequency >= 0.0 && frequency.fract() == 0.0 && frequency <= f64::from(u32::MAX)) {
                return Err(bad(x, "frequency must be a whole number >= 0"));
            }
            c.frequency.push(frequency as u32);
            c.recency.push(
                field(rec)
                    .parse()
                    .map_err(|_| bad(rec, "recency is not a number"))?,
            );
            c.age.push(
                field(age)
                    .parse()
                    .map_err(|_| bad(age, "T is not a number"))?,
            );
            if let Some(m) = self.monetary {
                c.monetary_value.push(
                    field(m)
                        .parse()
                        .map_err(|_| bad(m, "monetary_value is not a number"))?,
                );
            }
        }
        Ok((!c.customer_id.is_empty()).then_some(c))
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

/// Output format of scored customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// From the file name: `.jsonl`/`.ndjson` is JSON Lines, anything else CSV.
    Auto,
    Csv,
    Jsonl,
}

/// Writes score rows as CSV or JSON Lines.
pub struct ScoreWriter {
    path: PathBuf,
    out: BufWriter<Box<dyn Write>>,
    jsonl: bool,
    header_written: bool,
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
        let out: Box<dyn Write> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(File::create(path).map_err(|e| ClientError::file(path, e))?)
        };
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        Ok(ScoreWriter {
            path: path.to_owned(),
            out: BufWriter::with_capacity(1 << 20, out),
            jsonl: match format {
                OutputFormat::Jsonl => true,
                OutputFormat::Csv => false,
                OutputFormat::Auto => matches!(ext, "jsonl" | "ndjson"),
            },
            header_written: false,
        })
    }

    fn io(&self, e: std::io::Error) -> ClientError {
        ClientError::file(&self.path, e)
    }

    /// Appends one chunk of score columns.
    pub fn write(&mut self, s: &pb::ScoreColumns) -> Result<(), ClientError> {
        let labelled = !s.segment.is_empty();
        let spend = !s.expected_spend.is_empty();
        let mut undefined = s.undefined_spend.iter().peekable();
        if !self.jsonl && !self.header_written {
            let mut h = String::from(
                "customer_id,expected_purchases,p_alive,propensity,expected_spend,clv",
            );
            if labelled {
                h.push_str(",segment,tier,action");
            }
            writeln!(self.out, "{h}").map_err(|e| self.io(e))?;
            self.header_written = true;
        }
        for i in 0..s.customer_id.len() {
            let defined = spend && undefined.next_if(|&&u| u as usize == i).is_none();
            let (es, clv) = if defined {
                (Some(s.expected_spend[i]), Some(s.clv[i]))
            } else {
                (None, None)
            };
            let r = if self.jsonl {
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
                writeln!(self.out, "{v}")
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
                writeln!(self.out, "{line}")
            };
            r.map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), ClientError> {
        self.out
            .flush()
            .map_err(|e| ClientError::file(&self.path, e))
    }
}

/// A CSV field, quoted when it needs to be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Writes a summary table with lifetimes' column names.
pub fn write_summaries(path: &Path, t: &CustomerTable) -> Result<(), ClientError> {
    let file = File::create(path).map_err(|e| ClientError::file(path, e))?;
    let mut out = BufWriter::new(file);
    let io = |e| ClientError::file(path, e);
    let holdout = t.holdout.as_ref();
    write!(out, "customer_id,frequency,recency,T,monetary_value").map_err(io)?;
    if holdout.is_some() {
        write!(out, ",frequency_holdout,spend_holdout").map_err(io)?;
    }
    writeln!(out).map_err(io)?;
    for i in 0..t.len() {
        let r = &t.rfm[i];
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
    out.flush().map_err(io)
}
