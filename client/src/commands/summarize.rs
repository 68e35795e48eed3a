//! `custval summarize`: a transaction log to lifetimes-style summaries, locally (no
//! server).

use std::path::PathBuf;
use std::time::Instant;

use super::{TimeUnitArg, parse_day};
use crate::error::ClientError;
use crate::files::{self, InputOptions, OutputFormat};

#[derive(Debug, Clone, clap::Args)]
pub struct SummarizeArgs {
    #[command(flatten)]
    pub input: InputOptions,
    #[arg(long)]
    pub observation_end: String,
    /// With a holdout: calibration end, YYYY-MM-DD (--observation-end is then the holdout end).
    #[arg(long)]
    pub calibration_end: Option<String>,
    #[arg(long, value_enum, default_value = "week", hide_possible_values = true)]
    pub time_unit: TimeUnitArg,
    /// CSV, JSON Lines or Parquet (by --output-format or the name; `.gz` compresses text).
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub output_format: OutputFormat,
}

/// `custval summarize`: a transaction log to lifetimes-style summaries, locally.
pub fn exec(a: &SummarizeArgs) -> Result<(), ClientError> {
    let unit = a.time_unit.unit();
    let end = parse_day(&a.observation_end, "--observation-end")?;
    let cal = a
        .calibration_end
        .as_deref()
        .map(|d| parse_day(d, "--calibration-end"))
        .transpose()?;
    let started = Instant::now();
    let out = a.input.summarize(unit, end, cal)?;
    files::write_summaries(&a.output, a.output_format, &out.table)?;
    eprintln!(
        "summarized {} rows into {} customers in {:.2} s ({} skipped) -> {}",
        out.stats.rows_read,
        out.stats.customers,
        started.elapsed().as_secs_f64(),
        out.stats.rows_skipped,
        a.output.display()
    );
    Ok(())
}
