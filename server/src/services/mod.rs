//! The custval.v1 services, one file each (`models`, `scoring`): each handler admits the
//! call, decodes the request, runs the pipeline and responds. Here: the state they share.
//! Admission, deadlines and where work runs are in [`crate::admission`].

use std::sync::{Arc, OnceLock};

use tonic::{Code, Status};

use crate::admission::Admission;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::Registry;

mod models;
mod scoring;

pub use models::ModelsService;
pub use scoring::ScoringService;

/// Limits applied to request content.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_batch_customers: usize,
    pub max_fit_customers: usize,
    pub max_concurrent_requests: usize,
}

/// State shared by the services.
#[derive(Debug)]
pub struct AppState {
    /// Set once the store is loaded; until then custval.v1 calls are UNAVAILABLE.
    registry: OnceLock<Arc<Registry>>,
    limits: Limits,
    admission: Admission,
    metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(limits: Limits, metrics: Arc<Metrics>) -> AppState {
        AppState {
            registry: OnceLock::new(),
            admission: Admission::new(limits.max_concurrent_requests, metrics.clone()),
            limits,
            metrics,
        }
    }

    /// Makes the registry available; returns false if one was already set.
    pub fn set_registry(&self, registry: Arc<Registry>) -> bool {
        self.registry.set(registry).is_ok()
    }

    /// The server-wide token: fired at the drain deadline, it stops every request's work.
    pub fn shutdown(&self) -> &crate::cancel::Cancel {
        self.admission.shutdown()
    }

    fn registry(&self) -> Result<Arc<Registry>, ApiError> {
        self.registry.get().cloned().ok_or(ApiError::Unavailable)
    }
}

/// A failure reading the client's stream (malformed or oversized message, reset).
/// Reads a client stream whose first chunk carries the spec: `start` checks it and makes
/// the builder, `add` feeds each chunk's customers to the builder on the blocking pool.
/// Field paths are prefixed with `chunks[i]`; a spec in a later chunk, or no chunk at all,
/// is INVALID_ARGUMENT.
async fn read_chunks<M, S, B>(
    mut inbound: tonic::Streaming<M>,
    has_spec: fn(&M) -> bool,
    start: impl Fn(&M) -> Result<(S, B), ApiError>,
    add: fn(&mut B, M) -> Result<(), ApiError>,
) -> Result<(S, B), ApiError>
where
    M: Send + 'static,
    B: Send + 'static,
{
    let mut state: Option<(S, B)> = None;
    let mut chunk = 0usize;
    while let Some(msg) = inbound.message().await.map_err(stream_error)? {
        let prefix = format!("chunks[{chunk}]");
        let (spec, mut builder) = match state.take() {
            None => start(&msg).map_err(|e| e.within(&prefix))?,
            Some(_) if has_spec(&msg) => {
                return Err(ApiError::invalid(
                    format!("{prefix}.spec"),
                    "only the first chunk carries the spec",
                ));
            }
            Some(s) => s,
        };
        let request = crate::cancel::current();
        builder = crate::admission::blocking(move || {
            // A chunk read before the caller went away is not decoded after.
            request.check()?;
            add(&mut builder, msg).map_err(|e| e.within(&prefix))?;
            Ok(builder)
        })
        .await?;
        state = Some((spec, builder));
        chunk += 1;
    }
    state.ok_or_else(|| ApiError::invalid("chunks", "the stream had no chunks"))
}

fn stream_error(status: Status) -> ApiError {
    match status.code() {
        Code::Cancelled => ApiError::Cancelled,
        _ => ApiError::invalid("chunks", status.message().to_owned()),
    }
}
