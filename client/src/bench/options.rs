//! What a bench sends and how: the call, the batch, the sweep of concurrency levels and
//! rates, timings; `custval bench`'s arguments, checked before anything is sent.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::error::{ClientError, parse_duration};

/// Default in-flight cap of the open loop when no `--concurrency` is given.
pub const DEFAULT_OPEN_LOOP_IN_FLIGHT: usize = 256;
/// Closed-loop sweep when no `--concurrency` is given.
pub const DEFAULT_CONCURRENCY: [usize; 4] = [1, 4, 16, 64];

/// The call a bench sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rpc {
    /// Unary custval.v1.Scoring/Score of `--batch-size` customers.
    Score,
    /// custval.v1.Scoring/ScoreStream of `--stream-customers` in chunks of `--batch-size`.
    ScoreStream,
    /// Unary custval.v1.Models/FitModel on `--batch-size` customers.
    Fit,
    /// Unary custval.v1.Scoring/Segment of `--batch-size` customers (default options, not
    /// stored): much work for the server per byte sent and received, the call to overload
    /// a server with when the generator shares its machine.
    Segment,
}

impl Rpc {
    pub fn method(self) -> &'static str {
        match self {
            Rpc::Score => "custval.v1.Scoring/Score",
            Rpc::ScoreStream => "custval.v1.Scoring/ScoreStream",
            Rpc::Fit => "custval.v1.Models/FitModel",
            Rpc::Segment => "custval.v1.Scoring/Segment",
        }
    }

    /// `--batch-size` when none is given.
    pub fn default_batch(self) -> usize {
        match self {
            Rpc::Score => 1,
            Rpc::ScoreStream | Rpc::Fit => 10_000,
            Rpc::Segment => 1000,
        }
    }
}

/// Options of `custval bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// The call to load the server with.
    #[arg(long, value_enum, default_value_t = Rpc::Score)]
    pub rpc: Rpc,

    /// The stored model to load the server with (its name, as `--name` everywhere else);
    /// fitted on simulated customers first if it does not exist.
    #[arg(long, alias = "model", default_value = "bench")]
    pub name: String,

    /// Customers per Score request, per ScoreStream chunk, or per FitModel or Segment
    /// request [default: 1 for score, 1000 for segment, 10000 for score-stream and fit].
    #[arg(long)]
    pub batch_size: Option<usize>,

    /// Customers per ScoreStream call, over all its chunks.
    #[arg(long, default_value_t = 1_000_000)]
    pub stream_customers: usize,

    /// Concurrency levels to sweep, e.g. 1,4,16,64: workers in the closed loop, the cap
    /// on requests in flight with --rate [default: 1,4,16,64; with --rate, 256].
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,

    /// How long each level is measured (after the warm-up).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,

    /// Measure this many requests per level instead of a duration.
    #[arg(long, conflicts_with = "duration")]
    pub requests: Option<u64>,

    /// Load before each level's measurement, not counted.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub warmup: Duration,

    /// Open loop: send this many requests per second on a fixed schedule. A list, e.g.
    /// 500,1000,2000, sweeps the rates (each with every --concurrency cap).
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,

    /// HTTP/2 connections to spread the load over.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,

    /// Deadline of each call.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,

    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Write per-second rows (time, requests, errors, p50, p99) of every level here.
    #[arg(long, value_name = "FILE")]
    pub intervals_csv: Option<PathBuf>,

    /// Seed of the simulated customers.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Model name the fit bench fits under (its versions are deleted afterwards).
    #[arg(long, default_value = "bench-fit")]
    pub fit_name: String,

    /// Keep the model versions the fit bench created.
    #[arg(long)]
    pub keep_fits: bool,

    /// Worker threads of the client's runtime [default: one per CPU; 1 with --rate, where
    /// hand-offs between idle threads would add their wake-up latency to every call].
    #[arg(long)]
    pub threads: Option<usize>,

    /// No progress messages on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            rpc: Rpc::Score,
            name: "bench".into(),
            batch_size: None,
            stream_customers: 1_000_000,
            concurrency: Vec::new(),
            duration: Duration::from_secs(10),
            requests: None,
            warmup: Duration::from_secs(2),
            rate: Vec::new(),
            connections: 1,
            timeout: Duration::from_secs(60),
            json: false,
            intervals_csv: None,
            seed: 42,
            fit_name: "bench-fit".into(),
            keep_fits: false,
            threads: None,
            quiet: false,
        }
    }
}

impl BenchOptions {
    /// The batch size in effect.
    pub fn batch(&self) -> usize {
        self.batch_size.unwrap_or(self.rpc.default_batch())
    }

    /// Worker threads for the runtime that runs the bench (`None`: the runtime's default).
    pub fn runtime_threads(&self) -> Option<usize> {
        self.threads.or((!self.rate.is_empty()).then_some(1))
    }

    /// Whether requests go out on a schedule (open loop).
    pub fn open_loop(&self) -> bool {
        !self.rate.is_empty()
    }

    /// The concurrency levels in effect.
    pub fn levels(&self) -> Vec<usize> {
        match (self.concurrency.is_empty(), self.open_loop()) {
            (false, _) => self.concurrency.clone(),
            (true, false) => DEFAULT_CONCURRENCY.to_vec(),
            (true, true) => vec![DEFAULT_OPEN_LOOP_IN_FLIGHT],
        }
    }

    /// Every level of the sweep: (rate of the open loop, concurrency), rates outermost.
    pub fn sweep(&self) -> Vec<(Option<f64>, usize)> {
        let rates: Vec<Option<f64>> = if self.open_loop() {
            self.rate.iter().copied().map(Some).collect()
        } else {
            vec![None]
        };
        rates
            .into_iter()
            .flat_map(|r| self.levels().into_iter().map(move |c| (r, c)))
            .collect()
    }

    pub(super) fn check(&self) -> Result<(), ClientError> {
        let bad = |m: String| Err(ClientError::Invalid(m));
        if self.batch() == 0 {
            return bad("--batch-size must be at least 1".into());
        }
        if self.rpc == Rpc::ScoreStream && self.stream_customers == 0 {
            return bad("--stream-customers must be at least 1".into());
        }
        if let Some(c) = self.levels().iter().find(|&&c| c == 0 || c > 100_000) {
            return bad(format!("--concurrency {c}: each level must be 1..=100000"));
        }
        if self.connections == 0 || self.connections > 1024 {
            return bad("--connections must be 1..=1024".into());
        }
        if self.requests == Some(0) {
            return bad("--requests must be at least 1".into());
        }
        if self.requests.is_none() && self.duration.is_zero() {
            return bad("--duration must be longer than 0".into());
        }
        if let Some(r) = self
            .rate
            .iter()
            .find(|r| !(r.is_finite() && **r > 0.0 && **r <= 10_000_000.0))
        {
            return bad(format!(
                "--rate {r}: must be > 0 and at most 1e7 requests/s"
            ));
        }
        if self.timeout.is_zero() {
            return bad("--timeout must be longer than 0".into());
        }
        if self.threads == Some(0) {
            return bad("--threads must be at least 1".into());
        }
        Ok(())
    }

    pub(super) fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("bench: {message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchOptions,
    }

    #[test]
    fn defaults_match_the_command_line() {
        let parsed = Cli::parse_from(["bench"]).bench;
        let d = BenchOptions::default();
        assert_eq!(format!("{parsed:?}"), format!("{d:?}"));
        assert_eq!(d.levels(), vec![1, 4, 16, 64]);
        let open = BenchOptions {
            rate: vec![100.0],
            ..BenchOptions::default()
        };
        assert_eq!(open.levels(), vec![DEFAULT_OPEN_LOOP_IN_FLIGHT]);
        let sweep = BenchOptions {
            rate: vec![100.0, 200.0],
            concurrency: vec![8, 64],
            ..BenchOptions::default()
        };
        assert_eq!(
            sweep.sweep(),
            vec![
                (Some(100.0), 8),
                (Some(100.0), 64),
                (Some(200.0), 8),
                (Some(200.0), 64)
            ]
        );
        assert_eq!(BenchOptions::default().sweep()[0], (None, 1));
    }

    #[test]
    fn options_parse() {
        let o = Cli::parse_from([
            "bench",
            "--rpc",
            "score-stream",
            "--concurrency",
            "1,2",
            "--requests",
            "5",
            "--warmup",
            "0s",
        ])
        .bench;
        assert_eq!(o.rpc, Rpc::ScoreStream);
        assert_eq!(o.concurrency, vec![1, 2]);
        assert_eq!(o.batch(), 10_000);
        assert_eq!(o.requests, Some(5));
        assert!(Cli::try_parse_from(["bench", "--requests", "5", "--duration", "1s"]).is_err());
        let bad = BenchOptions {
            concurrency: vec![0],
            ..BenchOptions::default()
        };
        assert!(bad.check().is_err());
    }
}
