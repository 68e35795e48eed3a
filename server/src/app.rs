//! Assembling and running the server: health and reflection beside the custval.v1
//! services, the registry loaded while health says NOT_SERVING, metrics on their own port,
//! and a bounded drain at shutdown: in-flight calls get `--drain-seconds`, then every
//! request's work is told to stop (see [`crate::cancel`]) and the server is cut after
//! [`STOP_GRACE`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use custval_proto::v1::models_server::ModelsServer;
use custval_proto::v1::scoring_server::ScoringServer;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::admission::AdmissionLimits;
use crate::auth::BearerAuth;
use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::registry::Registry;
use crate::services::{AppState, Limits, ModelsService, ScoringService};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// After the drain deadline, how long calls whose work was stopped get to answer
/// (UNAVAILABLE) before the server is cut. Work checks its token once per optimizer
/// evaluation, k-means pass, backtest fold or chunk.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

const MODELS: &str = <ModelsServer<ModelsService> as NamedService>::NAME;
const SCORING: &str = <ScoringServer<ScoringService> as NamedService>::NAME;

async fn set_health(reporter: &HealthReporter, status: ServingStatus) {
    for name in ["", MODELS, SCORING] {
        reporter.set_service_status(name, status).await;
    }
}

/// Serves until `shutdown` resolves, then drains for at most `config.drain_seconds`.
pub async fn run(
    config: Config,
    grpc: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), BoxError> {
    // Refuse an unsafe exposure before anything listens or loads.
    let token = config.token()?;
    if let Some(warning) = config.check_exposure(grpc.local_addr()?, token.is_some())? {
        tracing::warn!("{warning}");
    }
    let metrics = Arc::new(Metrics::new());
    let limits = Limits {
        max_batch_customers: config.max_batch_customers,
        max_fit_customers: config.max_fit_customers,
        max_stream_customers: config.max_stream_customers,
        stream_idle: Duration::from_secs(config.stream_idle_seconds.max(1)),
        admission: AdmissionLimits {
            max_running: config.max_running(),
            max_queued: config.max_queued_requests,
            max_queue_wait: Duration::from_millis(config.max_queue_wait_ms),
            max_request_cost: config.max_request_cost.max(1),
        },
    };
    let state = Arc::new(AppState::new(limits, metrics.clone()));

    let (reporter, health) = tonic_health::server::health_reporter();
    set_health(&reporter, ServingStatus::NotServing).await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(custval_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let auth = BearerAuth::new(token.as_deref());
    let size = config.max_message_bytes;
    let models = InterceptedService::new(
        ModelsServer::new(ModelsService(state.clone()))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size),
        auth.clone(),
    );
    let scoring = InterceptedService::new(
        ScoringServer::new(ScoringService(state.clone()))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size),
        auth,
    );

    // Messages above the size limit are RESOURCE_EXHAUSTED, not tonic's OUT_OF_RANGE.
    let mut builder = Server::builder().layer(tower::util::MapResponseLayer::new(
        crate::oversize::remap_response,
    ));
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let identity = Identity::from_pem(read(cert)?, read(key)?);
        builder = builder.tls_config(ServerTlsConfig::new().identity(identity))?;
    }
    let addr = grpc.local_addr()?;
    // Small scores are latency-bound: no Nagle delay on accepted connections.
    let incoming = TcpListenerStream::new(grpc).map(|conn| {
        if let Ok(c) = &conn {
            let _ = c.set_nodelay(true);
        }
        conn
    });
    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(
        builder
            .add_service(health)
            .add_service(reflection)
            .add_service(models)
            .add_service(scoring)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = grpc_stopped.await;
            }),
    );
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_task = match metrics_listener {
        Some(l) => {
            tracing::info!(addr = %l.local_addr()?, "metrics at /metrics");
            Some(tokio::spawn(metrics::serve(l, metrics, async {
                let _ = metrics_stopped.await;
            })))
        }
        None => None,
    };
    tracing::info!(%addr, tls = config.tls_cert.is_some(), auth = token.is_some(),
        data_dir = %config.data_dir.display(), "custval-server listening; loading models");

    // Load the store while health already answers NOT_SERVING.
    let dir = config.data_dir.clone();
    let busy = Duration::from_secs(config.store_busy_seconds);
    let load = tokio::task::spawn_blocking(move || {
        crate::store::create_private_dir(&dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
        Registry::open(&dir, busy).map_err(|e| e.to_string())
    });
    tokio::pin!(shutdown);
    let outcome: Result<(), BoxError> = tokio::select! {
        loaded = load => match loaded {
            Ok(Ok(registry)) => {
                state.set_registry(Arc::new(registry));
                set_health(&reporter, ServingStatus::Serving).await;
                tracing::info!("serving");
                tokio::select! {
                    _ = &mut shutdown => Ok(()),
                    ended = &mut server => Err(format!("gRPC server stopped: {ended:?}").into()),
                }
            }
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(format!("model store loader failed: {e}").into()),
        },
        _ = &mut shutdown => Ok(()),
    };

    tracing::info!("shutting down: NOT_SERVING, then draining");
    set_health(&reporter, ServingStatus::NotServing).await;
    let _ = stop_grpc.send(());
    let _ = stop_metrics.send(());
    let drain = Duration::from_secs(config.drain_seconds);
    if !server.is_finished() {
        match tokio::time::timeout(drain, &mut server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "gRPC server error while draining"),
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(
                    seconds = config.drain_seconds,
                    "drain deadline passed; stopping the work of the requests in flight"
                );
                state.shutdown().cancel();
                if tokio::time::timeout(STOP_GRACE, &mut server).await.is_err() {
                    server.abort();
                }
            }
        }
    }
    if let Some(t) = metrics_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    outcome
}
