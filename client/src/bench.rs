//! `custval bench`: a gRPC load generator for custval.v1, in the spirit of ghz and
//! Triton's perf_analyzer.
//!
//! * Every request is built and encoded before the timed region (simulated customers as
//!   [`pb::SummaryColumns`]); a call sends the prebuilt bytes, so the numbers are the
//!   server's and the transport's, not data generation's.
//! * Closed loop (default): `concurrency` workers each send a request, wait for its reply,
//!   and send the next. One result row per concurrency level of the sweep.
//! * Open loop (`--rate R`): requests are sent on a fixed schedule whatever the replies
//!   do, with at most `concurrency` in flight; latency counts from the *scheduled* send
//!   time, so a stalled server shows up in the percentiles (no coordinated omission).
//! * Latency of successful calls goes into an HDR histogram; failures are counted by gRPC
//!   status code and kept out of the histogram (a server that sheds load fast would
//!   otherwise look fast).
//!
//! A "request" is one call: a unary Score of `batch_size` customers, a whole ScoreStream
//! of `stream_customers` customers in chunks of `batch_size`, or one FitModel of
//! `batch_size` customers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use custval_model::CustomerTable;
use custval_proto::v1 as pb;
use hdrhistogram::Histogram;
use prost::Message;
use serde::Serialize;
use tokio::sync::Semaphore;
use tonic::Request;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;

use crate::codec::PreEncoded;
use crate::connect::{AuthChannel, ConnectOptions, Connection};
use crate::error::{ClientError, code_name, parse_duration};

/// Customers of the model fitted when `--model` does not exist yet.
pub const SETUP_FIT_CUSTOMERS: usize = 50_000;
/// At most this many distinct customers are encoded for unary Score requests (requests
/// are reused round-robin).
const SCORE_POOL_CUSTOMERS: usize = 100_000;
/// At most this many distinct prebuilt unary requests.
const SCORE_POOL_REQUESTS: usize = 1024;
/// At most this many distinct customers are encoded for a stream (chunks are reused).
const STREAM_POOL_CUSTOMERS: usize = 1_000_000;
/// Default in-flight cap of the open loop when no `--concurrency` is given.
pub const DEFAULT_OPEN_LOOP_IN_FLIGHT: usize = 256;
/// Closed-loop sweep when no `--concurrency` is given.
pub const DEFAULT_CONCURRENCY: [usize; 4] = [1, 4, 16, 64];
/// The open-loop dispatcher sleeps until this close to a send time, then spins: the OS
/// wakes sleepers tens of microseconds late, which would count as latency.
const SPIN_BEFORE_SEND: Duration = Duration::from_micros(80);
/// Failures that are not gRPC statuses.
pub const INVALID_RESPONSE: &str = "INVALID_RESPONSE";

const SCORE_PATH: &str = "/custval.v1.Scoring/Score";
const SCORE_STREAM_PATH: &str = "/custval.v1.Scoring/ScoreStream";
const FIT_PATH: &str = "/custval.v1.Models/FitModel";

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
}

impl Rpc {
    pub fn method(self) -> &'static str {
        match self {
            Rpc::Score => "custval.v1.Scoring/Score",
            Rpc::ScoreStream => "custval.v1.Scoring/ScoreStream",
            Rpc::Fit => "custval.v1.Models/FitModel",
        }
    }

    /// `--batch-size` when none is given.
    pub fn default_batch(self) -> usize {
        match self {
            Rpc::Score => 1,
            Rpc::ScoreStream | Rpc::Fit => 10_000,
        }
    }
}

/// Options of `custval bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// The call to load the server with.
    #[arg(long, value_enum, default_value_t = Rpc::Score)]
    pub rpc: Rpc,

    /// Model to score with; fitted on simulated customers first if it does not exist.
    #[arg(long, default_value = "bench")]
    pub model: String,

    /// Customers per Score request, per ScoreStream chunk, or per FitModel request
    /// [default: 1 for score, 10000 for score-stream and fit].
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
            model: "bench".into(),
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

    fn check(&self) -> Result<(), ClientError> {
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

    fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("bench: {message}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

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

const NANOS_PER_MS: f64 = 1e6;

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("constant, valid bounds")
}

fn latency(h: &Histogram<u64>) -> Option<Latency> {
    if h.is_empty() {
        return None;
    }
    let ms = |v: u64| v as f64 / NANOS_PER_MS;
    Some(Latency {
        min: ms(h.min()),
        mean: h.mean() / NANOS_PER_MS,
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

// ---------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed(&'static str),
}

/// Everything measured in one level. Calls issued (or scheduled) before the measurement
/// starts are warm-up and ignored.
#[derive(Debug)]
struct Recorder {
    measure_start: Instant,
    latency: Histogram<u64>,
    lag: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<&'static str, u64>,
    last_done: Option<Instant>,
    second: u64,
    second_latency: Histogram<u64>,
    second_requests: u64,
    second_errors: u64,
    intervals: Vec<Interval>,
}

impl Recorder {
    fn new(measure_start: Instant) -> Recorder {
        Recorder {
            measure_start,
            latency: new_histogram(),
            lag: new_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            last_done: None,
            second: 0,
            second_latency: new_histogram(),
            second_requests: 0,
            second_errors: 0,
            intervals: Vec::new(),
        }
    }

    fn close_second(&mut self) {
        let h = &self.second_latency;
        let q = |q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / NANOS_PER_MS);
        self.intervals.push(Interval {
            time_s: self.second,
            requests: self.second_requests,
            errors: self.second_errors,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        });
        self.second += 1;
        self.second_latency.reset();
        self.second_requests = 0;
        self.second_errors = 0;
    }

    /// `issued`: when the call was sent (closed loop) or scheduled (open loop).
    fn record(&mut self, issued: Instant, done: Instant, outcome: Outcome, lag: Option<Duration>) {
        if issued < self.measure_start {
            return;
        }
        let second = done.saturating_duration_since(self.measure_start).as_secs();
        while self.second < second {
            self.close_second();
        }
        self.second_requests += 1;
        match outcome {
            Outcome::Ok => {
                let n = nanos(done.saturating_duration_since(issued));
                self.latency.saturating_record(n);
                self.second_latency.saturating_record(n);
                self.ok += 1;
            }
            Outcome::Failed(code) => {
                *self.errors.entry(code).or_default() += 1;
                self.second_errors += 1;
            }
        }
        if let Some(l) = lag {
            self.lag.saturating_record(nanos(l));
        }
        self.last_done = Some(self.last_done.map_or(done, |d| d.max(done)));
    }

    fn finish(
        mut self,
        rate: Option<f64>,
        concurrency: usize,
        customers_per_request: u64,
    ) -> LevelReport {
        if self.second_requests > 0 {
            self.close_second();
        }
        let errors: u64 = self.errors.values().sum();
        let requests = self.ok + errors;
        let elapsed = self
            .last_done
            .map_or(0.0, |d| (d - self.measure_start).as_secs_f64());
        let per_s = |n: u64| {
            if elapsed > 0.0 {
                n as f64 / elapsed
            } else {
                0.0
            }
        };
        let customers = self.ok * customers_per_request;
        LevelReport {
            rate,
            concurrency,
            requests,
            ok: self.ok,
            errors,
            errors_by_code: self
                .errors
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            elapsed_s: elapsed,
            requests_per_s: per_s(requests),
            customers,
            customers_per_s: per_s(customers),
            latency_ms: latency(&self.latency),
            schedule_lag_ms: latency(&self.lag),
            intervals: self.intervals,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Workload: prebuilt requests and how to send them
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum Calls {
    /// Encoded ScoreRequests, sent round-robin.
    Score(Vec<Bytes>),
    /// The encoded chunks of one ScoreStream call, in order (the first has the options).
    Stream(Vec<Bytes>),
    /// One encoded FitModelRequest.
    Fit(Bytes),
}

/// The prebuilt calls of a bench and how to check their replies.
#[derive(Debug)]
struct Workload {
    calls: Calls,
    customers_per_request: u64,
    timeout: Duration,
    /// Versions created by the fit bench, for the clean-up.
    fitted: Mutex<Vec<u64>>,
}

/// Simulated BG/NBD + Gamma-Gamma customers with CDNOW-like parameters, in weeks
/// (52-week calibration, births over the first 26 weeks).
pub fn simulated_customers(n: usize, seed: u64) -> Result<CustomerTable, ClientError> {
    use custval_model::simulate::{SimulationSpec, simulate_summaries};
    Ok(simulate_summaries(&SimulationSpec::cdnow_like(n.max(1), seed, 52.0))?.table)
}

fn weeks(value: f64) -> pb::Duration {
    pb::Duration {
        value,
        unit: pb::TimeUnit::Week as i32,
    }
}

/// Options of every bench score: 52 weeks, 1% per month, summaries in weeks.
pub fn score_options(model: &str) -> pb::ScoreOptions {
    pb::ScoreOptions {
        request_id: "custval-bench".into(),
        model_name: model.into(),
        model_version: 0,
        horizon: Some(weeks(52.0)),
        discount: Some(pb::DiscountRate {
            rate: 0.01,
            period: Some(pb::Duration {
                value: 1.0,
                unit: pb::TimeUnit::Month as i32,
            }),
        }),
        time_unit: pb::TimeUnit::Week as i32,
        observation_end: None,
    }
}

/// A BG/NBD + Gamma-Gamma fit spec in weeks.
pub fn fit_spec(name: &str) -> pb::FitSpec {
    pb::FitSpec {
        name: name.into(),
        transaction_model: pb::TransactionModelKind::BgNbd as i32,
        spend_model: pb::SpendModelKind::GammaGamma as i32,
        time_unit: pb::TimeUnit::Week as i32,
        ..Default::default()
    }
}

fn encode(m: &impl Message) -> Bytes {
    Bytes::from(m.encode_to_vec())
}

impl Workload {
    /// Simulates and encodes everything the bench will send (CPU-bound; off the runtime).
    fn build(opts: &BenchOptions) -> Result<Workload, ClientError> {
        let batch = opts.batch();
        let (calls, customers_per_request) = match opts.rpc {
            Rpc::Score => {
                let n = SCORE_POOL_CUSTOMERS
                    .div_ceil(batch)
                    .clamp(1, SCORE_POOL_REQUESTS);
                let t = simulated_customers(n * batch, opts.seed)?;
                let options = score_options(&opts.model);
                let requests = (0..n)
                    .map(|i| {
                        encode(&pb::ScoreRequest {
                            options: Some(options.clone()),
                            customers: Vec::new(),
                            summary_columns: Some(crate::files::table_columns(
                                &t,
                                i * batch..(i + 1) * batch,
                            )),
                        })
                    })
                    .collect();
                (Calls::Score(requests), batch as u64)
            }
            Rpc::ScoreStream => {
                let total = opts.stream_customers;
                let chunk = batch.min(total);
                let chunks = total.div_ceil(chunk);
                let pool = chunks.min(STREAM_POOL_CUSTOMERS.div_ceil(chunk)).max(1);
                let t = simulated_customers(pool * chunk, opts.seed)?;
                let options = score_options(&opts.model);
                let message = |p: usize, size: usize, first: bool| {
                    encode(&pb::ScoreStreamRequest {
                        options: first.then(|| options.clone()),
                        customers: Vec::new(),
                        summary_columns: Some(crate::files::table_columns(
                            &t,
                            p * chunk..p * chunk + size,
                        )),
                    })
                };
                let full: Vec<Bytes> = (0..pool).map(|p| message(p, chunk, false)).collect();
                let sequence = (0..chunks)
                    .map(|i| {
                        let size = chunk.min(total - i * chunk);
                        if i == 0 || size < chunk {
                            message(i % pool, size, i == 0)
                        } else {
                            full[i % pool].clone()
                        }
                    })
                    .collect();
                (Calls::Stream(sequence), total as u64)
            }
            Rpc::Fit => {
                let t = simulated_customers(batch, opts.seed)?;
                let request = encode(&pb::FitModelRequest {
                    spec: Some(fit_spec(&opts.fit_name)),
                    customers: Vec::new(),
                    summary_columns: Some(crate::files::table_columns(&t, 0..batch)),
                });
                (Calls::Fit(request), batch as u64)
            }
        };
        Ok(Workload {
            calls,
            customers_per_request,
            timeout: opts.timeout,
            fitted: Mutex::new(Vec::new()),
        })
    }

    fn chunks_per_stream(&self) -> Option<u64> {
        match &self.calls {
            Calls::Stream(c) => Some(c.len() as u64),
            _ => None,
        }
    }

    /// Sends call number `k` and checks the reply. Never longer than the deadline (plus
    /// a second for a server that ignores it).
    async fn call(&self, grpc: &mut Grpc<AuthChannel>, k: u64) -> Outcome {
        let limit = self.timeout + Duration::from_secs(1);
        match tokio::time::timeout(limit, self.send(grpc, k)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Failed(code_name(tonic::Code::DeadlineExceeded)),
        }
    }

    async fn send(&self, grpc: &mut Grpc<AuthChannel>, k: u64) -> Outcome {
        let failed = |s: tonic::Status| Outcome::Failed(code_name(s.code()));
        if grpc.ready().await.is_err() {
            return Outcome::Failed(code_name(tonic::Code::Unavailable));
        }
        let expected = self.customers_per_request as usize;
        match &self.calls {
            Calls::Score(requests) => {
                let body = requests[(k % requests.len() as u64) as usize].clone();
                let mut request = Request::new(body);
                request.set_timeout(self.timeout);
                let path = PathAndQuery::from_static(SCORE_PATH);
                match grpc
                    .unary(request, path, PreEncoded::<pb::ScoreResponse>::default())
                    .await
                {
                    Ok(r) if r.get_ref().scores.len() == expected => Outcome::Ok,
                    Ok(_) => Outcome::Failed(INVALID_RESPONSE),
                    Err(s) => failed(s),
                }
            }
            Calls::Stream(chunks) => {
                let mut request = Request::new(tokio_stream::iter(chunks.clone()));
                request.set_timeout(self.timeout);
                let path = PathAndQuery::from_static(SCORE_STREAM_PATH);
                let mut replies = match grpc
                    .streaming(
                        request,
                        path,
                        PreEncoded::<pb::ScoreStreamResponse>::default(),
                    )
                    .await
                {
                    Ok(r) => r.into_inner(),
                    Err(s) => return failed(s),
                };
                let (mut seen, mut index) = (0usize, 0u64);
                loop {
                    match replies.message().await {
                        Ok(Some(r)) => {
                            if r.chunk != index {
                                return Outcome::Failed(INVALID_RESPONSE);
                            }
                            seen += r.scores.map_or(0, |s| s.customer_id.len());
                            index += 1;
                        }
                        Ok(None) => break,
                        Err(s) => return failed(s),
                    }
                }
                if seen == expected && index == chunks.len() as u64 {
                    Outcome::Ok
                } else {
                    Outcome::Failed(INVALID_RESPONSE)
                }
            }
            Calls::Fit(body) => {
                let mut request = Request::new(body.clone());
                request.set_timeout(self.timeout);
                let path = PathAndQuery::from_static(FIT_PATH);
                match grpc
                    .unary(request, path, PreEncoded::<pb::FitModelResponse>::default())
                    .await
                {
                    Ok(r) => match r.into_inner().model {
                        Some(m) => {
                            self.fitted
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(m.version);
                            Outcome::Ok
                        }
                        None => Outcome::Failed(INVALID_RESPONSE),
                    },
                    Err(s) => failed(s),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running a level
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Stop {
    /// Issue nothing at or after this instant.
    At(Instant),
    /// Issue this many measured calls.
    Count(u64),
}

#[derive(Debug)]
struct Level {
    workload: Arc<Workload>,
    start: Instant,
    measure_start: Instant,
    stop: Stop,
    /// Set by Ctrl-C: issue nothing more.
    interrupted: Arc<AtomicBool>,
    /// Calls issued, warm-up included (picks the prebuilt request).
    next: AtomicU64,
    /// Measured calls issued.
    measured: AtomicU64,
    recorder: Mutex<Recorder>,
}

impl Level {
    fn new(workload: Arc<Workload>, opts: &BenchOptions, interrupted: Arc<AtomicBool>) -> Level {
        let start = Instant::now();
        let measure_start = start + opts.warmup;
        let stop = match opts.requests {
            Some(n) => Stop::Count(n),
            None => Stop::At(measure_start + opts.duration),
        };
        Level {
            workload,
            start,
            measure_start,
            stop,
            interrupted,
            next: AtomicU64::new(0),
            measured: AtomicU64::new(0),
            recorder: Mutex::new(Recorder::new(measure_start)),
        }
    }

    /// Whether a call may be issued (or scheduled) at `at`; counts it when measured.
    fn admit(&self, at: Instant) -> bool {
        if self.interrupted.load(Ordering::Relaxed) {
            return false;
        }
        if at < self.measure_start {
            return true;
        }
        match self.stop {
            Stop::At(end) => at < end,
            Stop::Count(n) => self.measured.fetch_add(1, Ordering::Relaxed) < n,
        }
    }

    fn record(&self, issued: Instant, done: Instant, outcome: Outcome, lag: Option<Duration>) {
        self.recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(issued, done, outcome, lag);
    }

    fn finish(self, rate: Option<f64>, concurrency: usize) -> LevelReport {
        let per_request = self.workload.customers_per_request;
        self.recorder
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .finish(rate, concurrency, per_request)
    }
}

/// One closed-loop worker: send, wait, record, repeat.
async fn closed_loop_worker(level: Arc<Level>, mut grpc: Grpc<AuthChannel>) {
    loop {
        let issued = Instant::now();
        if !level.admit(issued) {
            return;
        }
        let k = level.next.fetch_add(1, Ordering::Relaxed);
        let outcome = level.workload.call(&mut grpc, k).await;
        level.record(issued, Instant::now(), outcome, None);
    }
}

/// Sleeps until `t`: the OS sleep for most of the wait, a spin for the last stretch.
fn sleep_until(t: Instant) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        let left = t - now;
        if left > SPIN_BEFORE_SEND {
            std::thread::sleep(left - SPIN_BEFORE_SEND);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The open loop's dispatcher (on its own thread): call `k` is due at `start + k/rate`
/// and is sent then, or as soon as one of the `cap` in-flight slots frees up.
fn dispatch(
    level: Arc<Level>,
    runtime: tokio::runtime::Handle,
    clients: Vec<Grpc<AuthChannel>>,
    rate: f64,
    cap: usize,
) -> Result<(), ClientError> {
    let permits = u32::try_from(cap).map_err(|_| ClientError::Invalid("cap too large".into()))?;
    let slots = Arc::new(Semaphore::new(cap));
    let lost = |_| ClientError::Internal("in-flight slots closed".into());
    let mut k: u64 = 0;
    loop {
        let scheduled = level.start + Duration::from_secs_f64(k as f64 / rate);
        if !level.admit(scheduled) {
            break;
        }
        sleep_until(scheduled);
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => runtime
                .block_on(slots.clone().acquire_owned())
                .map_err(lost)?,
        };
        let mut grpc = clients[(k % clients.len() as u64) as usize].clone();
        let l = level.clone();
        runtime.spawn(async move {
            // Taken when the call's task starts: the generator's own delay, wake-up of a
            // runtime thread included.
            let lag = Instant::now().saturating_duration_since(scheduled);
            let outcome = l.workload.call(&mut grpc, k).await;
            l.record(scheduled, Instant::now(), outcome, Some(lag));
            // The level before the slot: once every slot is back, nothing holds it.
            drop(l);
            drop(permit);
        });
        k += 1;
    }
    // Every slot back: every call has been recorded.
    let _all = runtime
        .block_on(slots.acquire_many(permits))
        .map_err(lost)?;
    Ok(())
}

async fn run_level(
    connections: &[Connection],
    workload: &Arc<Workload>,
    opts: &BenchOptions,
    (rate, concurrency): (Option<f64>, usize),
    interrupted: &Arc<AtomicBool>,
) -> Result<LevelReport, ClientError> {
    let level = Arc::new(Level::new(workload.clone(), opts, interrupted.clone()));
    match rate {
        None => {
            let mut workers = tokio::task::JoinSet::new();
            for i in 0..concurrency {
                let grpc = connections[i % connections.len()].grpc();
                workers.spawn(closed_loop_worker(level.clone(), grpc));
            }
            while let Some(done) = workers.join_next().await {
                done.map_err(|e| ClientError::Internal(format!("bench worker: {e}")))?;
            }
        }
        Some(rate) => {
            let clients = connections.iter().map(Connection::grpc).collect();
            let runtime = tokio::runtime::Handle::current();
            let l = level.clone();
            tokio::task::spawn_blocking(move || dispatch(l, runtime, clients, rate, concurrency))
                .await
                .map_err(|e| ClientError::Internal(format!("bench dispatcher: {e}")))??;
        }
    }
    let level = Arc::try_unwrap(level)
        .map_err(|_| ClientError::Internal("a bench task outlived its level".into()))?;
    Ok(level.finish(rate, concurrency))
}

/// Sets `interrupted` on the first Ctrl-C, so the sweep ends with what it measured; a
/// second Ctrl-C ends the process at once.
fn stop_on_ctrl_c(
    interrupted: Arc<AtomicBool>,
    opts: &BenchOptions,
) -> tokio::task::JoinHandle<()> {
    let quiet = opts.quiet;
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        interrupted.store(true, Ordering::Relaxed);
        if !quiet {
            eprintln!("bench: interrupted: reporting what was measured (Ctrl-C again to quit)");
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    })
}

// ---------------------------------------------------------------------------------------
// The bench
// ---------------------------------------------------------------------------------------

/// Makes sure `--model` exists (fitting it on simulated customers if not); its version.
async fn ensure_model(conn: &Connection, opts: &BenchOptions) -> Result<u64, ClientError> {
    match conn.get_model(&opts.model, 0).await {
        Ok(m) => Ok(m.version),
        Err(ClientError::Rpc {
            code: tonic::Code::NotFound,
            ..
        }) => {
            opts.note(format_args!(
                "model {:?} not found: fitting BG/NBD + Gamma-Gamma on {SETUP_FIT_CUSTOMERS} simulated customers",
                opts.model
            ));
            let seed = opts.seed;
            let table =
                tokio::task::spawn_blocking(move || simulated_customers(SETUP_FIT_CUSTOMERS, seed))
                    .await
                    .map_err(|e| ClientError::Internal(format!("simulation: {e}")))??;
            let request = pb::FitModelRequest {
                spec: Some(fit_spec(&opts.model)),
                customers: Vec::new(),
                summary_columns: Some(crate::files::table_columns(&table, 0..table.ids.len())),
            };
            let fitted = conn
                .models()
                .fit_model(request)
                .await
                .map_err(|s| ClientError::rpc(format!("fitting model {:?}", opts.model), &s))?;
            fitted
                .into_inner()
                .model
                .map(|m| m.version)
                .ok_or_else(|| ClientError::Invalid("FitModel returned no model".into()))
        }
        Err(e) => Err(e),
    }
}

/// Runs the bench against the server `connect` points at.
pub async fn run(
    connect: &ConnectOptions,
    opts: &BenchOptions,
) -> Result<BenchReport, ClientError> {
    opts.check()?;
    // From the start: a Ctrl-C during the set-up ends the bench with an empty report.
    let interrupted = Arc::new(AtomicBool::new(false));
    let ctrl_c = stop_on_ctrl_c(interrupted.clone(), opts);
    let connections = connect.connect_many(opts.connections).await?;
    let first = connections
        .first()
        .ok_or_else(|| ClientError::Invalid("no connection".into()))?;
    let model_version = match opts.rpc {
        Rpc::Fit => None,
        Rpc::Score | Rpc::ScoreStream => Some(ensure_model(first, opts).await?),
    };

    opts.note(format_args!("preparing {} requests", opts.rpc.method()));
    let o = opts.clone();
    let workload = tokio::task::spawn_blocking(move || Workload::build(&o))
        .await
        .map_err(|e| ClientError::Internal(format!("building requests: {e}")))??;
    let workload = Arc::new(workload);

    let mut levels = Vec::new();
    for (rate, concurrency) in opts.sweep() {
        let what = match opts.requests {
            Some(n) => format!("{n} requests"),
            None => format!("{:?}", opts.duration),
        };
        let level = match rate {
            Some(r) => format!("rate {r}/s, in-flight cap {concurrency}"),
            None => format!("concurrency {concurrency}"),
        };
        opts.note(format_args!(
            "{level}: warm-up {:?}, then {what}",
            opts.warmup,
        ));
        let report = run_level(
            &connections,
            &workload,
            opts,
            (rate, concurrency),
            &interrupted,
        );
        let report = report.await?;
        if interrupted.load(Ordering::Relaxed) {
            if report.requests > 0 {
                levels.push(report);
            }
            break;
        }
        levels.push(report);
    }
    ctrl_c.abort();

    if opts.rpc == Rpc::Fit && !opts.keep_fits {
        let versions = std::mem::take(
            &mut *workload
                .fitted
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        delete_versions(first, &opts.fit_name, &versions, opts).await;
    }

    Ok(BenchReport {
        server: first.url().to_owned(),
        rpc: opts.rpc,
        method: opts.rpc.method().to_owned(),
        model: if opts.rpc == Rpc::Fit {
            opts.fit_name.clone()
        } else {
            opts.model.clone()
        },
        model_version,
        mode: if opts.open_loop() {
            "open-loop"
        } else {
            "closed-loop"
        }
        .into(),
        rates: opts.rate.clone(),
        batch_size: opts.batch(),
        customers_per_request: workload.customers_per_request,
        chunks_per_stream: workload.chunks_per_stream(),
        connections: opts.connections,
        warmup_s: opts.warmup.as_secs_f64(),
        duration_s: opts
            .requests
            .is_none()
            .then_some(opts.duration.as_secs_f64()),
        requests_per_level: opts.requests,
        interrupted: interrupted.load(Ordering::Relaxed),
        levels,
    })
}

async fn delete_versions(conn: &Connection, name: &str, versions: &[u64], opts: &BenchOptions) {
    let mut failed = 0usize;
    for &version in versions {
        if conn.delete_model(name, version).await.is_err() {
            failed += 1;
        }
    }
    if failed > 0 {
        opts.note(format_args!(
            "could not delete {failed} of the {} versions of {name:?} the fit bench created",
            versions.len()
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

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
    let _ = writeln!(
        out,
        "{first:>14} {:>9} {:>7} {:>10} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "requests", "errors", "req/s", "customers/s", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    for l in &r.levels {
        let lat = l.latency_ms.map_or_else(
            || vec!["-".to_owned(); 6],
            |x| [x.p50, x.p90, x.p95, x.p99, x.p999, x.max].map(ms).to_vec(),
        );
        let _ = writeln!(
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
                "generator lag behind schedule at {} (included above): p50 {} p99 {} max {} ms",
                l.label(),
                ms(lag.p50),
                ms(lag.p99),
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

    #[test]
    fn warmup_is_ignored_and_seconds_are_split() {
        let t0 = Instant::now();
        let start = t0 + Duration::from_secs(1);
        let mut r = Recorder::new(start);
        let ms = Duration::from_millis;
        r.record(t0, start + ms(5), Outcome::Ok, None); // warm-up
        r.record(start, start + ms(2), Outcome::Ok, None);
        r.record(start + ms(10), start + ms(14), Outcome::Ok, None);
        r.record(
            start + ms(1500),
            start + ms(1501),
            Outcome::Failed("UNAVAILABLE"),
            None,
        );
        r.record(start + ms(2500), start + ms(2508), Outcome::Ok, None);
        let l = r.finish(None, 4, 10);
        assert_eq!((l.requests, l.ok, l.errors), (4, 3, 1));
        assert_eq!(l.errors_by_code["UNAVAILABLE"], 1);
        assert_eq!(l.customers, 30);
        assert!((l.elapsed_s - 2.508).abs() < 1e-9);
        let lat = l.latency_ms.unwrap();
        assert!((lat.min - 2.0).abs() < 0.01 && (lat.max - 8.0).abs() < 0.01);
        let rows: Vec<(u64, u64, u64)> = l
            .intervals
            .iter()
            .map(|i| (i.time_s, i.requests, i.errors))
            .collect();
        assert_eq!(rows, vec![(0, 2, 0), (1, 1, 1), (2, 1, 0)]);
        assert_eq!(l.intervals[1].p50_ms, None);
    }
}
