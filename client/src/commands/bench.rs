//! `custval bench`: runs the load generator of [`crate::bench`] (whose options are the
//! command's arguments, so library callers set them the same way) and prints its report.

use super::runtime;
use crate::bench::{self, BenchOptions};
use crate::connect::ConnectOptions;
use crate::error::ClientError;

/// Runs the bench and prints its report; whether Ctrl-C cut it short.
pub fn exec(connect: &ConnectOptions, opts: &BenchOptions) -> Result<bool, ClientError> {
    let report = runtime(opts.runtime_threads())?.block_on(bench::run(connect, opts))?;
    if let Some(path) = &opts.intervals_csv {
        bench::write_intervals_csv(&report, path)?;
    }
    if opts.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| ClientError::Internal(format!("report as JSON: {e}")))?;
        crate::outln!("{text}");
    } else {
        crate::out!("{}", bench::render_table(&report));
    }
    Ok(report.interrupted)
}
