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

    /// Requests served at once; more are shed with RESOURCE_EXHAUSTED, not queued.
    #[arg(long, env = "CUSTVAL_MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    pub max_concurrent_requests: usize,

    /// PEM certificate chain; with --tls-key, serve TLS (rustls).
    #[arg(long, env = "CUSTVAL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "CUSTVAL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require `authorization: Bearer <token>` on custval.v1 calls (health and reflection
    /// stay open for probes and tooling).
    #[arg(long, env = "CUSTVAL_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,

    /// Log format: `text` for people, `json` for log pipelines. Levels via RUST_LOG.
    #[arg(long, env = "CUSTVAL_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Do not serve: ask the server at --listen for its health and exit 0 if SERVING, 1
    /// otherwise (a container HEALTHCHECK with no extra binary).
    #[arg(long)]
    pub probe: bool,

    /// How long to wait for the store file's lock at start-up (another process using it).
    #[arg(long, env = "CUSTVAL_STORE_BUSY_SECONDS", default_value_t = 30)]
    pub store_busy_seconds: u64,
}

impl Config {
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
