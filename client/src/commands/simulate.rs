//! `custval simulate`: writes simulated customers, locally (no server).

use std::fmt::Write;
use std::path::PathBuf;

use custval_model::data::summary::Day;
use serde_json::json;

use crate::error::ClientError;
use crate::files::{self, OutputFormat};

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Customers to simulate.
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    /// Seed of the random numbers: the same seed gives the same customers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Weeks of observation; births spread over the first half.
    #[arg(long, default_value_t = 52.0)]
    pub weeks: f64,
    /// Write a transaction log (customer_id,date,amount from 2024-01-01) instead of
    /// summaries (lifetimes' columns, in weeks).
    #[arg(long)]
    pub transactions: bool,
    /// The file to write, in the format its name says: CSV (`.gz` compresses it), JSON
    /// Lines (`.jsonl`, `.ndjson`) or Parquet (`.parquet`, `.pq`); summaries or, with
    /// --transactions, a log.
    #[arg(long)]
    pub output: PathBuf,
    /// Print what was written as JSON: `{"output", "kind", "customers", "transactions",
    /// "observation_end", "seed"}` (`transactions` and `observation_end` for a log).
    #[arg(long)]
    pub json: bool,
}

/// `custval simulate`: CDNOW-like BG/NBD customers with Gamma-Gamma spend, locally.
pub fn exec(a: &SimulateArgs) -> Result<(), ClientError> {
    use custval_model::simulate::{SimulationSpec, simulate_summaries, simulate_transactions};
    let spec = SimulationSpec::cdnow_like(a.customers, a.seed, a.weeks);
    if a.transactions {
        let mut out = files::LogWriter::create(&a.output, OutputFormat::Auto)?;
        let start = Day::from_ymd(2024, 1, 1).unwrap_or(Day(19_723));
        let mut failed = None;
        let mut rows = 0u64;
        let mut id = String::new();
        simulate_transactions(&spec, |t| {
            if failed.is_some() {
                return;
            }
            rows += 1;
            let day = Day(start.0 + (t.time * 7.0).floor() as i32);
            id.clear();
            let _ = write!(id, "c{}", t.customer);
            failed = out.push(&id, day, t.amount).err();
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        out.finish()?;
        let end = Day(start.0 + (a.weeks * 7.0) as i32);
        if a.json {
            crate::outln!(
                "{:#}",
                json!({"output": a.output, "kind": "transactions", "customers": a.customers,
                       "transactions": rows, "observation_end": end.to_string(),
                       "seed": a.seed})
            );
        } else {
            eprintln!(
                "simulated {} customers' {rows} transactions -> {} (observation end {end})",
                a.customers,
                a.output.display(),
            );
        }
    } else {
        let t = simulate_summaries(&spec)?.table;
        files::write_summaries(&a.output, OutputFormat::Auto, &t)?;
        if a.json {
            crate::outln!(
                "{:#}",
                json!({"output": a.output, "kind": "summaries", "customers": t.len(),
                       "time_unit": "week", "seed": a.seed})
            );
        } else {
            eprintln!(
                "simulated {} customers (weeks) -> {}",
                a.customers,
                a.output.display()
            );
        }
    }
    Ok(())
}
