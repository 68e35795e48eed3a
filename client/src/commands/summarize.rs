//! `custval summarize`: a transaction log to lifetimes-style summaries, locally (no
//! server); with a holdout, the holdout columns `custval fit` judges a model on.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use super::{TimeUnitArg, parse_day};
use crate::error::ClientError;
use crate::files::{self, InputOptions, OutputFormat};

#[derive(Debug, Clone, clap::Args)]
pub struct SummarizeArgs {
    #[command(flatten)]
    pub input: InputOptions,
    /// Calibration end, YYYY-MM-DD: frequency, recency and T are as of this day (as for
    /// `fit`).
    #[arg(long)]
    pub observation_end: String,
    /// Holdout end, YYYY-MM-DD: purchases after --observation-end up to this day become
    /// the holdout columns (frequency_holdout, spend_holdout, duration_holdout) that
    /// `fit --input` on the output judges the model on (as `fit --holdout-end`).
    #[arg(long, conflicts_with = "calibration_end")]
    pub holdout_end: Option<String>,
    /// lifetimes' spelling of a holdout (calibration_period_end): with it,
    /// --observation-end is the holdout end. `--observation-end CAL --holdout-end END` is
    /// the same and reads as `fit` does.
    #[arg(long, hide = true)]
    pub calibration_end: Option<String>,
    /// Unit of recency, T and duration_holdout (day, week, month, year).
    #[arg(long, value_enum, default_value = "week", hide_possible_values = true)]
    pub time_unit: TimeUnitArg,
    /// CSV, JSON Lines or Parquet (by --output-format or the name; `.gz` compresses text).
    #[arg(long)]
    pub output: PathBuf,
    /// Format of --output (auto: from its name).
    #[arg(long, value_enum, default_value = "auto")]
    pub output_format: OutputFormat,
    /// Print what was written as JSON (file, columns, customers, rows read, used,
    /// skipped and left out) instead of a line on standard error.
    #[arg(long)]
    pub json: bool,
}

/// `custval summarize`: a transaction log to lifetimes-style summaries, locally.
pub fn exec(a: &SummarizeArgs) -> Result<(), ClientError> {
    let unit = a.time_unit.unit();
    let first = parse_day(&a.observation_end, "--observation-end")?;
    // (last day read, calibration end if there is a holdout)
    let (end, cal) = match (&a.holdout_end, &a.calibration_end) {
        (Some(h), _) => (parse_day(h, "--holdout-end")?, Some(first)),
        (None, Some(c)) => (first, Some(parse_day(c, "--calibration-end")?)),
        (None, None) => (first, None),
    };
    let started = Instant::now();
    let out = a.input.summarize(unit, end, cal)?;
    files::write_summaries(&a.output, a.output_format, &out.table)?;
    let s = &out.stats;
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        let holdout = out.table.holdout.as_ref();
        crate::outln!(
            "{:#}",
            json!({
                "output": a.output,
                "format": format!("{:?}", a.output_format.for_path(&a.output)).to_lowercase(),
                "columns": files::summary_column_names(&out.table),
                "customers": s.customers,
                "time_unit": unit.as_str(),
                "observation_end": cal.unwrap_or(end).to_string(),
                "holdout_end": cal.map(|_| end.to_string()),
                "holdout_duration": holdout.map(|h| h.duration),
                "customers_born_in_holdout": s.customers_born_in_holdout,
                "rows_read": s.rows_read,
                "rows_used": s.rows_used,
                "rows_skipped": s.rows_skipped,
                "skipped_by_reason": s.skipped_by_reason,
                "rows_after_end": s.rows_after_end,
                "seconds": seconds,
            })
        );
    } else {
        let late = if s.rows_after_end > 0 {
            format!(", {} after {end} left out", s.rows_after_end)
        } else {
            String::new()
        };
        eprintln!(
            "summarized {} rows into {} customers in {seconds:.2} s ({} skipped{late}) -> {}",
            s.rows_read,
            s.customers,
            s.rows_skipped,
            a.output.display()
        );
    }
    Ok(())
}
