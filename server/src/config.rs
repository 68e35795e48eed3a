//! Server configuration: every flag has an environment variable and a default that works
//! on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "custval-server",
    version,
    about = "custval customer-value model service (gRPC, package custval.v1)"
)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "CUSTVAL_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Directory of the embedded model store (created if missing).
    #[arg(long, env = "CUSTVAL_DATA_DIR", default_value = "./custval-data")]
    pub data_dir: PathBuf,

    /// Address of the Prometheus `/metrics` endpoint; `off` disables it.
    #[arg(long, env = "CUSTVAL_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    pub metrics_listen: String,

    /// Longest time in-flight requests get to finish after a shutdown signal.
    #[arg(long, env = "CUSTVAL_DRAIN_SECONDS", default_value_t = 10)]
    pub drain_seconds: u64,

    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "CUSTVAL_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Most customers in one request message (or one stream chunk).
    #[arg(long, env = "CUSTVAL_MAX_BATCH_CUSTOMERS", default_value_t = 1_000_000)]
    pub max_batch_customers: usize,

    /// Most customers in one streamed fit, over all its chunks.
    #[arg(long, env = "CUSTVAL_MAX_FIT_CUSTOMERS", default_value_t = 50_000_000)]
    pub max_fit_customers: usize,

    /// Most customers in one ScoreStream, over all its chunks.
    #[arg(
        long,
        env = "CUSTVAL_MAX_STREAM_CUSTOMERS",
        default_value_t = 100_000_000
    )]
    pub max_stream_customers: usize,

    /// Requests running at once; 0: four per CPU (the work is CPU-bound: more running
    /// at once only makes each slower). A request holds its place from admission until
    /// its work stops (one costing more takes a larger share, see --max-request-cost); the
    /// next ones wait in the queue, and beyond it are shed with RESOURCE_EXHAUSTED.
    #[arg(long, env = "CUSTVAL_MAX_CONCURRENT_REQUESTS", default_value_t = 0)]
    pub max_concurrent_requests: usize,

    /// Requests waiting for a place to run (freed places are shared by cost between the
    /// cheapest waiter and the oldest, so small calls pass expensive ones); more are shed at
    /// once with RESOURCE_EXHAUSTED and RetryInfo. 0: shed whenever all places are taken.
    #[arg(long, env = "CUSTVAL_MAX_QUEUED_REQUESTS", default_value_t = 256)]
    pub max_queued_requests: usize,

    /// Longest wait in the queue, in milliseconds (less when the caller's deadline is
    /// nearer); a request still waiting then is shed with RESOURCE_EXHAUSTED.
    #[arg(long, env = "CUSTVAL_MAX_QUEUE_WAIT_MS", default_value_t = 1000)]
    pub max_queue_wait_ms: u64,

    /// Largest estimated cost of one request, in customer-passes (customers scored, or
    /// customers x families fitted, x folds in a backtest, x restarts x segment counts
    /// in a segmentation). Above it a request is INVALID_ARGUMENT naming the field that
    /// drives the cost; below, its share of --max-concurrent-requests grows with its cost
    /// (one at the cap takes every place).
    #[arg(
        long,
        env = "CUSTVAL_MAX_REQUEST_COST",
        default_value_t = 1_000_000_000
    )]
    pub max_request_cost: u64,

    /// A client stream (ScoreStream, FitModelStream, Backtest) that neither sends nor
    /// reads for this many seconds is ended with DEADLINE_EXCEEDED, freeing its place.
    #[arg(long, env = "CUSTVAL_STREAM_IDLE_SECONDS", default_value_t = 60)]
    pub stream_idle_seconds: u64,

    /// PEM certificate chain; with --tls-key, serve TLS (rustls).
    #[arg(long, env = "CUSTVAL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "CUSTVAL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require `authorization: Bearer <token>` on custval.v1 calls (health and reflection
    /// stay open for probes and tooling). Visible in the process list: prefer
    /// --auth-token-file or the environment variable.
    #[arg(long, env = "CUSTVAL_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,

    /// A file holding the bearer token (surrounding whitespace ignored), e.g. a container
    /// secret: the token stays out of the process list and the environment.
    #[arg(long, env = "CUSTVAL_AUTH_TOKEN_FILE", conflicts_with = "auth_token")]
    pub auth_token_file: Option<PathBuf>,

    /// Serve a non-loopback --listen address without a token. Refused by default: anyone
    /// who can reach the port could then read, overwrite and delete models. Set it only
    /// where a network policy or a proxy in front does the authentication.
    #[arg(long, env = "CUSTVAL_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,

    /// Log format: `text` for people, `json` for log pipelines. Levels via RUST_LOG.
    #[arg(long, env = "CUSTVAL_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Do not serve: ask the server at --listen for its health (grpc.health.v1, over TLS
    /// when --tls-cert is set) and exit 0 if SERVING, 1 otherwise (a container HEALTHCHECK
    /// with no extra binary).
    #[arg(long)]
    pub probe: bool,

    /// With --probe over TLS: the PEM certificates to trust (default: those in
    /// --tls-cert, which suffices when the chain includes its CA or is self-signed).
    #[arg(long, env = "CUSTVAL_PROBE_CA")]
    pub probe_ca: Option<PathBuf>,

    /// With --probe over TLS: the name the certificate must be valid for.
    #[arg(long, env = "CUSTVAL_PROBE_DOMAIN", default_value = "localhost")]
    pub probe_domain: String,

    /// How long to wait for the store file's lock at start-up (another process using it).
    #[arg(long, env = "CUSTVAL_STORE_BUSY_SECONDS", default_value_t = 30)]
    pub store_busy_seconds: u64,
}

impl Config {
    /// The bearer token, from --auth-token or read from --auth-token-file.
    pub fn token(&self) -> Result<Option<String>, String> {
        let Some(path) = &self.auth_token_file else {
            return Ok(self.auth_token.clone());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--auth-token-file {}: {e}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!(
                "--auth-token-file {}: the file is empty",
                path.display()
            ));
        }
        Ok(Some(token.to_owned()))
    }

    /// Refuses to expose an unauthenticated service beyond this machine unless told to;
    /// returns a warning for a token that would travel in clear text.
    pub fn check_exposure(
        &self,
        addr: SocketAddr,
        has_token: bool,
    ) -> Result<Option<String>, String> {
        let ip = addr.ip();
        if ip.is_loopback() {
            return Ok(None);
        }
        if !has_token && !self.allow_unauthenticated {
            return Err(format!(
                "refusing to serve {} (not a loopback address) without authentication: anyone \
                 who can reach it could read, overwrite and delete models. Set \
                 --auth-token-file (or CUSTVAL_AUTH_TOKEN), or pass --allow-unauthenticated \
                 (CUSTVAL_ALLOW_UNAUTHENTICATED=true) if a network policy or proxy guards it",
                addr
            ));
        }
        Ok(match (has_token, self.tls_cert.is_some()) {
            (true, false) => Some(format!(
                "serving {} with a bearer token but without TLS: the token travels in clear \
                 text; set --tls-cert and --tls-key",
                addr
            )),
            (false, _) => Some(format!(
                "serving {} without authentication (--allow-unauthenticated)",
                addr
            )),
            _ => None,
        })
    }

    /// Requests running at once: --max-concurrent-requests, or four per CPU.
    pub fn max_running(&self) -> usize {
        match self.max_concurrent_requests {
            0 => 4 * std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// The metrics address, or `None` when disabled.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, String> {
        match self.metrics_listen.trim() {
            "" | "off" | "none" => Ok(None),
            s => s
                .parse()
                .map(Some)
                .map_err(|e| format!("--metrics-listen {s:?}: {e}")),
        }
    }
}
