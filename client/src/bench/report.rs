//! The bench's report: the set-up and one row per level, printed as a table, serialized
//! as JSON, or as per-second rows (intervals CSV).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

use super::options::Rpc;
use crate::error::ClientError;

/// The result of a bench: the set-up, then one row per concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub server: String,
    pub rpc: Rpc,
    pub method: String,
    /// The model scored with, or the name the fit bench fits under.
    pub model: String,
    /// Latest version of the scored model when the bench started (absent for fits).
    pub model_version: Option<u64>,
    /// "closed-loop" or "open-loop".
    pub mode: String,
    /// Requests per second of the open loop's levels.
    pub rates: Vec<f64>,
    pub batch_size: usize,
    /// Customers in one call (a whole stream for score-stream).
    pub customers_per_request: u64,
    /// Chunks per ScoreStream call.
    pub chunks_per_stream: Option<u64>,
    pub connections: usize,
    pub warmup_s: f64,
    /// Measured time per level (when not counting requests).
    pub duration_s: Option<f64>,
    /// Measured requests per level (when not timed).
    pub requests_per_level: Option<u64>,
    /// Stopped by Ctrl-C: the levels measured until then (the last one cut short).
    pub interrupted: bool,
    pub levels: Vec<LevelReport>,
}

/// One concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    /// Requests per second asked for (open loop).
    pub rate: Option<f64>,
    /// Workers (closed loop) or the cap on requests in flight (open loop).
    pub concurrency: usize,
    /// Calls measured: `ok + errors`.
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    /// Failed calls by gRPC status code name (`INVALID_RESPONSE`: a reply that did not
    /// match the request, e.g. a missing score).
    pub errors_by_code: BTreeMap<String, u64>,
    /// From the start of the measurement to the last reply.
    pub elapsed_s: f64,
    pub requests_per_s: f64,
    /// Customers in successful calls.
    pub customers: u64,
    pub customers_per_s: f64,
    /// Of successful calls; absent when none succeeded.
    pub latency_ms: Option<Latency>,
    /// Open loop: how late each call's task started relative to the schedule (the
    /// generator's own delay, thread wake-ups included; part of `latency_ms`).
    pub schedule_lag_ms: Option<Latency>,
    /// Per second of the measurement.
    pub intervals: Vec<Interval>,
}

impl LevelReport {
    /// How the level is named in tables: its concurrency, or its rate and in-flight cap.
    pub fn label(&self) -> String {
        match self.rate {
            Some(r) => format!("{r}, {}", self.concurrency),
            None => self.concurrency.to_string(),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One second of a level's measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    /// Start of the second, from the start of the measurement.
    pub time_s: u64,
    /// Calls that ended in this second.
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.3}")
    } else if v < 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// The report as a table.
pub fn render_table(r: &BenchReport) -> String {
    let mut out = String::new();
    let what = match r.rpc {
        Rpc::ScoreStream => format!(
            "{} customers per stream in {} chunks of {}",
            r.customers_per_request,
            r.chunks_per_stream.unwrap_or(0),
            r.batch_size
        ),
        _ => format!("{} customers per request", r.customers_per_request),
    };
    let measured = match (r.requests_per_level, r.duration_s) {
        (Some(n), _) => format!("{n} requests"),
        (None, Some(d)) => format!("{d}s"),
        (None, None) => String::new(),
    };
    let version = r
        .model_version
        .map(|v| format!(" v{v}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} on {} (model {}{version}): {what}",
        r.method, r.server, r.model
    );
    let _ = writeln!(
        out,
        "{}{}, {} connection{}, {} per level after {}s warm-up; latency in ms",
        r.mode,
        if r.interrupted {
            " (interrupted by Ctrl-C)"
        } else {
            ""
        },
        r.connections,
        if r.connections == 1 { "" } else { "s" },
        measured,
        r.warmup_s
    );
    let first = if r.mode == "open-loop" {
        "rate/s, cap"
    } else {
        "concurrency"
    };
    // The open loop's own lag behind its schedule sits beside the latency it is part
    // of: a tail the generator made is not the server's.
    let open = r.mode == "open-loop";
    let _ = write!(
        out,
        "{first:>14} {:>9} {:>7} {:>10} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "requests", "errors", "req/s", "customers/s", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    if open {
        let _ = write!(out, " {:>10} {:>10}", "lag p99", "lag p99.9");
    }
    out.push('\n');
    for l in &r.levels {
        let lat = l.latency_ms.map_or_else(
            || vec!["-".to_owned(); 6],
            |x| [x.p50, x.p90, x.p95, x.p99, x.p999, x.max].map(ms).to_vec(),
        );
        let _ = write!(
            out,
            "{:>14} {:>9} {:>7} {:>10.1} {:>12.0} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            l.label(),
            l.requests,
            l.errors,
            l.requests_per_s,
            l.customers_per_s,
            lat[0],
            lat[1],
            lat[2],
            lat[3],
            lat[4],
            lat[5]
        );
        if open {
            let lag = l.schedule_lag_ms.map_or_else(
                || ["-".to_owned(), "-".to_owned()],
                |x| [x.p99, x.p999].map(ms),
            );
            let _ = write!(out, " {:>10} {:>10}", lag[0], lag[1]);
        }
        out.push('\n');
    }
    for l in r.levels.iter().filter(|l| l.errors > 0) {
        let codes: Vec<String> = l
            .errors_by_code
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "errors at {}: {}", l.label(), codes.join(", "));
    }
    for l in &r.levels {
        if let Some(lag) = l.schedule_lag_ms {
            let _ = writeln!(
                out,
                "generator lag behind schedule at {} (included in the latency): p50 {} p99 {} \
                 p99.9 {} max {} ms",
                l.label(),
                ms(lag.p50),
                ms(lag.p99),
                ms(lag.p999),
                ms(lag.max)
            );
        }
    }
    out
}

/// The per-second rows of every level as CSV.
pub fn intervals_csv(r: &BenchReport) -> String {
    let mut out = String::from("rate,concurrency,time_s,requests,errors,p50_ms,p99_ms\n");
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
    for l in &r.levels {
        for i in &l.intervals {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{}",
                l.rate.map(|r| r.to_string()).unwrap_or_default(),
                l.concurrency,
                i.time_s,
                i.requests,
                i.errors,
                opt(i.p50_ms),
                opt(i.p99_ms)
            );
        }
    }
    out
}

/// Writes [`intervals_csv`] to `path`.
pub fn write_intervals_csv(r: &BenchReport, path: &Path) -> Result<(), ClientError> {
    let mut f = std::fs::File::create(path).map_err(|e| ClientError::file(path, e))?;
    f.write_all(intervals_csv(r).as_bytes())
        .map_err(|e| ClientError::file(path, e))
}
