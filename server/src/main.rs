//! `custval-server`: serves custval.v1 on `--listen` with the model store in `--data-dir`.
#![forbid(unsafe_code)]

use clap::Parser;
use custval_server::{Config, app::BoxError};

/// mimalloc instead of glibc's malloc: after a 10M-customer fit glibc kept ~0.5 GB of
/// freed memory resident in its per-thread arenas; mimalloc returns freed pages to the OS
/// after a short delay (BENCHMARKS.md, "Server memory of large fits").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long blocking work may outlive `serve` at exit.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("custval-server: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(serve());
    // Dropping the runtime would wait for every blocking task. Work still running was told
    // to stop at the drain deadline; a step that cannot notice (a k-means seeding, a disk
    // write) gets this long, so the process ends within the drain plus a few seconds.
    runtime.shutdown_timeout(EXIT_GRACE);
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A sentence for people, not a Debug dump.
        Err(e) => {
            eprintln!("custval-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), BoxError> {
    let config = Config::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    if config.probe {
        std::process::exit(if probe(&config).await { 0 } else { 1 });
    }
    let grpc = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let metrics = match config.metrics_addr()? {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?,
        ),
        None => None,
    };
    custval_server::run(config, grpc, metrics, wait_for_signal()).await
}

/// One grpc.health.v1 check against the configured address: plain text, or TLS trusting
/// --probe-ca (default: the certificates in --tls-cert) for --probe-domain.
async fn probe(config: &Config) -> bool {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let check = async {
        let endpoint = match &config.tls_cert {
            None => tonic::transport::Endpoint::from_shared(format!("http://{addr}")),
            Some(cert) => {
                let ca = config.probe_ca.as_ref().unwrap_or(cert);
                let Ok(pem) = std::fs::read(ca) else {
                    eprintln!("custval-server --probe: cannot read {}", ca.display());
                    return false;
                };
                let tls = tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(pem))
                    .domain_name(config.probe_domain.clone());
                tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
                    .and_then(|e| e.tls_config(tls))
            }
        };
        let Ok(endpoint) = endpoint else {
            return false;
        };
        let Ok(channel) = endpoint.connect().await else {
            return false;
        };
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let request = tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        };
        matches!(health.check(request).await, Ok(r)
            if r.get_ref().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
    };
    tokio::time::timeout(std::time::Duration::from_secs(3), check)
        .await
        .unwrap_or(false)
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
