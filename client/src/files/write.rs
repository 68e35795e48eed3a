//! Scores and summaries out, chunk by chunk: CSV or JSON Lines (gzip-compressed if the
//! name ends `.gz`), or Parquet.

use std::io::Write;
use std::path::{Path, PathBuf};

use custval_model::CustomerTable;
use custval_model::data::summary::Day;
use custval_proto::v1 as pb;

use super::fields::csv_field;
use super::parquet::{self, ParquetWriter};
use crate::error::ClientError;
use crate::gzip::{self, Sink};

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

/// Writes a transaction log (`customer_id,date,amount`) row by row: CSV or JSON Lines
/// (gzip-compressed if the name ends `.gz`), or Parquet (dates as `Date32`), by the
/// format asked for or the name.
pub struct LogWriter {
    path: PathBuf,
    out: LogOut,
}

enum LogOut {
    Text { out: Sink, jsonl: bool },
    Parquet(ParquetWriter, parquet::LogRows),
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LogWriter {
    pub fn create(path: &Path, format: OutputFormat) -> Result<LogWriter, ClientError> {
        let io = |e| ClientError::file(path, e);
        let out = match format.for_path(path) {
            OutputFormat::Parquet => {
                LogOut::Parquet(ParquetWriter::create(path)?, parquet::LogRows::default())
            }
            format => {
                let mut out = Sink::create(path)?;
                let jsonl = format == OutputFormat::Jsonl;
                if !jsonl {
                    writeln!(out, "customer_id,date,amount").map_err(io)?;
                }
                LogOut::Text { out, jsonl }
            }
        };
        Ok(LogWriter {
            path: path.to_owned(),
            out,
        })
    }

    /// Appends one purchase, its amount in cents: every format holds the value the CSV
    /// shows.
    pub fn push(&mut self, id: &str, day: Day, amount: f64) -> Result<(), ClientError> {
        let cents = || format!("{amount:.2}").parse::<f64>().unwrap_or(amount);
        let path = &self.path;
        match &mut self.out {
            LogOut::Text { out, jsonl: false } => {
                writeln!(out, "{},{day},{amount:.2}", csv_field(id))
            }
            LogOut::Text { out, jsonl: true } => {
                let v = serde_json::json!({"customer_id": id, "date": day.to_string(),
                                           "amount": cents()});
                writeln!(out, "{v}")
            }
            LogOut::Parquet(w, rows) => {
                rows.push(id, day, cents());
                if rows.len() >= parquet::ROW_GROUP_ROWS {
                    w.write(&rows.take_batch()?)?;
                }
                return Ok(());
            }
        }
        .map_err(|e| ClientError::file(path, e))
    }

    /// Ends the file and moves it to its name.
    pub fn finish(self) -> Result<(), ClientError> {
        match self.out {
            LogOut::Text { out, .. } => out.finish().map_err(|e| ClientError::file(&self.path, e)),
            LogOut::Parquet(mut w, mut rows) => {
                if !rows.is_empty() {
                    w.write(&rows.take_batch()?)?;
                }
                w.finish(parquet::log_schema())
            }
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

/// The columns [`write_summaries`] writes for `t`, in order: lifetimes' names, then with a
/// holdout `frequency_holdout` (repeat-purchase days in it), `spend_holdout` (its total
/// spend) and `duration_holdout` (its length in the table's unit, as lifetimes names
/// it), then `calibration_spend` (total calibration spend, first purchase included) when
/// the table was summarized from a log. `custval fit` reads all of them back.
pub fn summary_column_names(t: &CustomerTable) -> Vec<&'static str> {
    let mut names = vec!["customer_id", "frequency", "recency", "T", "monetary_value"];
    if t.holdout.is_some() {
        names.extend(["frequency_holdout", "spend_holdout", "duration_holdout"]);
    }
    if t.calibration_spend.is_some() {
        names.push("calibration_spend");
    }
    names
}

/// Writes a summary table with the columns of [`summary_column_names`]: CSV or JSON Lines
/// (gzip-compressed if the name ends `.gz`), or Parquet.
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
    let spent = t.calibration_spend.as_deref();
    if format == OutputFormat::Csv {
        writeln!(out, "{}", summary_column_names(t).join(",")).map_err(io)?;
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
                v["duration_holdout"] = h.duration.into();
            }
            if let Some(s) = spent {
                v["calibration_spend"] = s[i].into();
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
            write!(out, ",{},{},{}", h.frequency[i], h.spend[i], h.duration).map_err(io)?;
        }
        if let Some(s) = spent {
            write!(out, ",{}", s[i]).map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    out.finish().map_err(io)
}
