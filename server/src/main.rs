//! `custval-server`: the custval gRPC service.
//!
//! This first cut serves `grpc.health.v1` on `--listen`, prepares `--data-dir`, and shuts
//! down gracefully on SIGTERM/SIGINT (health goes NOT_SERVING before the drain). The model
//! RPCs of custval.v1 are added by the service issue.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tonic::transport::Server;
use tonic_health::ServingStatus;

#[derive(Debug, Parser)]
#[command(
    name = "custval-server",
    version,
    about = "custval customer-value model service"
)]
struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "CUSTVAL_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Directory of the embedded model store (created if missing).
    #[arg(long, env = "CUSTVAL_DATA_DIR", default_value = "./custval-data")]
    data_dir: PathBuf,
    /// Longest time in-flight requests get to finish after a shutdown signal.
    #[arg(long, env = "CUSTVAL_DRAIN_SECONDS", default_value_t = 10)]
    drain_seconds: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::parse();
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", config.data_dir.display()))?;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, data_dir = %config.data_dir.display(), "custval-server listening");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let server = tokio::spawn(
        Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop_rx.await;
            }),
    );

    wait_for_signal().await;
    tracing::info!("shutdown signal: reporting NOT_SERVING, then draining");
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(config.drain_seconds), server).await {
        Ok(joined) => joined??,
        Err(_) => tracing::warn!(
            seconds = config.drain_seconds,
            "drain deadline passed; exiting with requests in flight"
        ),
    }
    Ok(())
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
