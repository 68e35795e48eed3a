//! `custval simulate`: writes simulated customers, locally (no server).

use std::path::PathBuf;

use custval_model::data::summary::Day;

use crate::error::ClientError;
use crate::files::{self, OutputFormat};

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Weeks of observation; births spread over the first half.
    #[arg(long, default_value_t = 52.0)]
    pub weeks: f64,
    /// Write a transaction log (customer_id,date,amount from 2024-01-01) instead of summaries.
    #[arg(long)]
    pub transactions: bool,
    #[arg(long)]
    pub output: PathBuf,
}

/// `custval simulate`: CDNOW-like BG/NBD customers with Gamma-Gamma spend, locally.
pub fn exec(a: &SimulateArgs) -> Result<(), ClientError> {
    use custval_model::simulate::{SimulationSpec, simulate_summaries, simulate_transactions};
    let spec = SimulationSpec::cdnow_like(a.customers, a.seed, a.weeks);
    if a.transactions {
        use std::io::Write;
        let mut out = crate::gzip::Sink::create(&a.output)?;
        let start = Day::from_ymd(2024, 1, 1).unwrap_or(Day(19_723));
        let mut failed = None;
        writeln!(out, "customer_id,date,amount").map_err(|e| ClientError::file(&a.output, e))?;
        simulate_transactions(&spec, |t| {
            let day = Day(start.0 + (t.time * 7.0).floor() as i32);
            if let Err(e) = writeln!(out, "c{},{day},{:.2}", t.customer, t.amount)
                && failed.is_none()
            {
                failed = Some(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(ClientError::file(&a.output, e));
        }
        out.finish().map_err(|e| ClientError::file(&a.output, e))?;
        eprintln!(
            "simulated {} customers' transactions -> {} (observation end {})",
            a.customers,
            a.output.display(),
            Day(start.0 + (a.weeks * 7.0) as i32)
        );
    } else {
        let t = simulate_summaries(&spec)?.table;
        files::write_summaries(&a.output, OutputFormat::Auto, &t)?;
        eprintln!(
            "simulated {} customers (weeks) -> {}",
            a.customers,
            a.output.display()
        );
    }
    Ok(())
}
