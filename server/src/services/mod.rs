//! The custval.v1 services, one file each (`models`, `scoring`): each handler admits the
//! call, decodes the request, runs the pipeline and responds. Here: the state they share.
//! Admission, deadlines and where work runs are in [`crate::admission`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tonic::{Code, Status, Streaming};

use crate::admission::{Admission, AdmissionLimits, Permit};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::Registry;

mod models;
mod scoring;

pub use models::ModelsService;
pub use scoring::ScoringService;

/// Limits applied to request content, and admission's.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Customers in one message (a unary request, or one chunk of a stream).
    pub max_batch_customers: usize,
    /// Customers in a streamed fit or backtest, over all its chunks.
    pub max_fit_customers: usize,
    /// Customers in one ScoreStream, over all its chunks.
    pub max_stream_customers: usize,
    /// A client stream that neither sends nor reads for this long is ended.
    pub stream_idle: Duration,
    pub admission: AdmissionLimits,
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
            admission: Admission::new(limits.admission, metrics.clone()),
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

/// Reads a client stream whose first chunk carries the spec: `start` checks it and makes
/// the builder, `add` feeds each chunk's customers to the builder on the blocking pool
/// (holding the call's place). Field paths are prefixed with `chunks[i]`; a spec in a
/// later chunk, no chunk at all, or a chunk above --max-batch-customers (`customers`
/// counts them, naming their field) is INVALID_ARGUMENT; a stream idle for
/// --stream-idle-seconds is ended.
async fn read_chunks<M, S, B>(
    state: &AppState,
    permit: &Permit,
    mut inbound: Streaming<M>,
    has_spec: fn(&M) -> bool,
    customers: fn(&M) -> (usize, &'static str),
    start: impl Fn(&M) -> Result<(S, B), ApiError>,
    add: fn(&mut B, M) -> Result<(), ApiError>,
) -> Result<(S, B), ApiError>
where
    M: Send + 'static,
    B: Send + 'static,
{
    let limits = state.limits;
    let mut state: Option<(S, B)> = None;
    let mut chunk = 0usize;
    while let Some(msg) = next_message(&mut inbound, limits.stream_idle).await? {
        let prefix = format!("chunks[{chunk}]");
        let (n, field) = customers(&msg);
        if n > limits.max_batch_customers {
            return Err(ApiError::invalid(
                format!("{prefix}.{field}"),
                format!(
                    "{n} customers in one chunk is above the limit of {} \
                     (--max-batch-customers): send smaller chunks",
                    limits.max_batch_customers
                ),
            ));
        }
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
        builder = permit
            .blocking(move || {
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

/// The client stream's next message, waiting at most `idle`: a stream that sends nothing
/// for that long would hold its place under the limit for ever.
async fn next_message<M>(
    inbound: &mut Streaming<M>,
    idle: Duration,
) -> Result<Option<M>, ApiError> {
    match tokio::time::timeout(idle, inbound.message()).await {
        Ok(read) => read.map_err(stream_error),
        Err(_) => Err(ApiError::StreamIdle(idle)),
    }
}

/// A failure reading the client's stream: gone (CANCELLED), a message above
/// --max-message-bytes (RESOURCE_EXHAUSTED), or malformed.
fn stream_error(status: Status) -> ApiError {
    match status.code() {
        Code::Cancelled => ApiError::Cancelled,
        _ if crate::oversize::is_size_limit(&status) => {
            ApiError::TooLarge(status.message().to_owned())
        }
        _ => ApiError::invalid("chunks", status.message().to_owned()),
    }
}
