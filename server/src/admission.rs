//! Admission and deadlines: the global concurrency limit (shedding with
//! RESOURCE_EXHAUSTED, never queueing), the client's deadline (stopping 2 ms before
//! `grpc-timeout`), per-call accounting, and what runs on the blocking pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tonic::{Code, Request, Response, Status};

use crate::cancel::{self, Cancel};
use crate::error::ApiError;
use crate::metrics::{InFlight, Metrics};

/// Below this many customers a score runs on the request's own task: handing it to the
/// blocking pool would cost more than the scoring.
pub const INLINE_SCORE_CUSTOMERS: usize = 2048;

/// The global concurrency limit, and the accounting of every call.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    /// Fired when the drain deadline passes: every request's token is its child.
    shutdown: Cancel,
}

impl Admission {
    /// At most `limit` calls in flight; more are shed.
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Admission {
        Admission {
            limit,
            permits: Arc::new(Semaphore::new(limit)),
            metrics,
            shutdown: Cancel::new(),
        }
    }

    /// The server-wide token: firing it stops every request's work (see [`crate::cancel`]).
    pub fn shutdown(&self) -> &Cancel {
        &self.shutdown
    }

    /// A permit to run, or RESOURCE_EXHAUSTED when the limit is reached.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            ApiError::Overloaded(format!(
                "{} requests in flight; retry with backoff",
                self.limit
            ))
        })
    }

    /// Starts accounting one call (in flight until finished or dropped).
    pub fn start(&self, method: &'static str) -> Call {
        Call {
            method,
            started: Instant::now(),
            metrics: self.metrics.clone(),
            _in_flight: self.metrics.in_flight(),
            finished: false,
        }
    }

    /// Admits, runs and accounts one unary call, bounded by the client's deadline.
    pub async fn unary<T>(
        &self,
        method: &'static str,
        deadline: Option<Instant>,
        work: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<Response<T>, Status> {
        let call = self.start(method);
        let result = match self.admit() {
            // The permit is held until the work stops, not only until the answer.
            Ok(permit) => {
                let work = cancel::scope(&self.shutdown, &self.metrics, permit, work);
                within_deadline(deadline, work).await
            }
            Err(e) => Err(e),
        };
        let result = result.map_err(Status::from);
        call.finish(result.as_ref().err().map_or(Code::Ok, Status::code));
        result.map(Response::new)
    }

    /// Admits a call whose response is a stream: accounting starts, a permit is taken, then
    /// `ready` runs (e.g. the registry check). Refused, the call is accounted with the
    /// refusal's code.
    pub fn admit_stream<R>(
        &self,
        method: &'static str,
        ready: impl FnOnce() -> Result<R, ApiError>,
    ) -> Result<(Admitted, R), Status> {
        let call = self.start(method);
        match self.admit().and_then(|permit| Ok((permit, ready()?))) {
            Ok((permit, r)) => Ok((Admitted { call, permit }, r)),
            Err(e) => {
                let status = Status::from(e);
                call.finish(status.code());
                Err(status)
            }
        }
    }
}

/// An admitted call whose response is a stream: its accounting and its permit, held
/// until the stream ends.
#[derive(Debug)]
pub struct Admitted {
    call: Call,
    permit: OwnedSemaphorePermit,
}

impl Admitted {
    /// Records the stream's outcome, then frees its place under the limit.
    pub fn finish(self, code: Code) {
        let Admitted { call, permit } = self;
        call.finish(code);
        drop(permit);
    }
}

/// One call's accounting. Dropped unfinished (deadline passed, client went away), it
/// counts as CANCELLED.
#[derive(Debug)]
pub struct Call {
    method: &'static str,
    started: Instant,
    metrics: Arc<Metrics>,
    _in_flight: InFlight,
    finished: bool,
}

impl Call {
    /// Records the call's outcome and duration.
    pub fn finish(mut self, code: Code) {
        self.finished = true;
        self.metrics
            .observe(self.method, code, self.started.elapsed());
        match code {
            Code::Ok => tracing::debug!(method = self.method, "ok"),
            code => tracing::info!(method = self.method, code = ?code, "request failed"),
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.finished {
            self.metrics
                .observe(self.method, Code::Cancelled, self.started.elapsed());
        }
    }
}

/// The client's deadline, from the `grpc-timeout` header.
pub fn deadline<T>(request: &Request<T>) -> Option<Instant> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    Instant::now().checked_add(timeout)
}

/// Whether the deadline has passed: work finished after it is not kept (a fit is not
/// stored, a segmentation not attached).
pub fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Runs `work` until the deadline. tonic's own timeout answers CANCELLED; ending a hair
/// earlier lets the client see DEADLINE_EXCEEDED, as the gRPC spec asks.
pub async fn within_deadline<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    match deadline {
        None => work.await,
        Some(d) => {
            let early = d.checked_sub(Duration::from_millis(2)).unwrap_or(d);
            tokio::time::timeout_at(early.into(), work)
                .await
                .unwrap_or(Err(ApiError::DeadlineExceeded("the request completed")))
        }
    }
}

/// Work handed to the blocking pool; [`join`] waits for it.
pub type Worker<T> = JoinHandle<Result<T, ApiError>>;

/// Starts `f` on the blocking pool (CPU-bound work: fits, large scores, stream chunks).
pub fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Worker<T> {
    let hold = cancel::hold();
    tokio::task::spawn_blocking(move || {
        let _hold = hold;
        f()
    })
}

/// The result of work started with [`spawn_blocking`]; a worker that panicked is INTERNAL.
pub async fn join<T>(worker: Worker<T>) -> Result<T, ApiError> {
    worker
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
}

/// Runs `f` on the blocking pool and waits for it.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    join(spawn_blocking(f)).await
}

/// Runs a score of `customers` customers: on the request's own task up to
/// [`INLINE_SCORE_CUSTOMERS`], on the blocking pool above.
pub async fn sized<T: Send + 'static>(
    customers: usize,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if customers <= INLINE_SCORE_CUSTOMERS {
        f()
    } else {
        blocking(f).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_the_deadline_is_deadline_exceeded() {
        let soon = Instant::now() + Duration::from_millis(20);
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        };
        let r = within_deadline(Some(soon), slow).await;
        assert!(matches!(r, Err(ApiError::DeadlineExceeded(_))));
        assert!(within_deadline(Some(soon), async { Ok(1) }).await.is_ok());
        assert!(within_deadline(None, async { Ok(1) }).await.is_ok());
    }

    #[test]
    fn grpc_timeout_header_is_read() {
        let mut r = Request::new(());
        r.metadata_mut()
            .insert("grpc-timeout", "250m".parse().unwrap());
        let d = deadline(&r).unwrap();
        let left = d.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_millis(250) && left > Duration::from_millis(100));
        let mut r = Request::new(());
        r.metadata_mut()
            .insert("grpc-timeout", "bogus".parse().unwrap());
        assert!(deadline(&r).is_none());
        assert!(deadline(&Request::new(())).is_none());
    }
}
