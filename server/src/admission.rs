//! Admission and deadlines. A bounded number of requests run at once (weighted by their
//! estimated [`Cost`]); the next ones wait in a bounded queue where freed places are shared
//! by cost between the cheapest waiter and the oldest (see [`crate::places`]), each at most
//! its deadline or
//! `--max-queue-wait-ms`; beyond that they are shed with RESOURCE_EXHAUSTED and RetryInfo. A request's place is a [`Permit`] held by its work
//! until the work stops (also when the caller has stopped waiting for it), and every
//! request's CPU work runs on the blocking pool through it, so the runtime's threads stay
//! free to accept, queue and shed whatever the load. Also: the client's deadline (stopping
//! 2 ms before `grpc-timeout`) and per-call accounting and logging.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tonic::{Code, Request, Response, Status};

use crate::cancel::{self, Cancel};
use crate::cost::Cost;
use crate::error::ApiError;
use crate::metrics::{InFlight, Metrics};
use crate::places::{Place, Places, Refused};

/// The bounds admission enforces (server flags).
#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    /// Places to run (`--max-concurrent-requests`).
    pub max_running: usize,
    /// Requests that may wait for a place (`--max-queued-requests`).
    pub max_queued: usize,
    /// Longest wait for a place (`--max-queue-wait-ms`).
    pub max_queue_wait: Duration,
    /// Largest cost of one request (`--max-request-cost`).
    pub max_request_cost: u64,
}

/// Shortest and longest retry delay a shed request is given.
const RETRY_DELAY_RANGE: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(5));

/// The concurrency limit, its queue, and the accounting of every call.
#[derive(Debug)]
pub struct Admission {
    limits: AdmissionLimits,
    places: Arc<Places>,
    pace: Arc<Pace>,
    metrics: Arc<Metrics>,
    /// Fired when the drain deadline passes: every request's token is its child.
    shutdown: Cancel,
}

/// Recent queue waits and service times (exponential moving averages, in µs): a shed
/// request is told to come back after about one of each.
#[derive(Debug, Default)]
struct Pace {
    wait_us: AtomicU64,
    hold_us: AtomicU64,
}

impl Pace {
    fn note(average: &AtomicU64, sample: Duration) {
        let x = u64::try_from(sample.as_micros()).unwrap_or(u64::MAX);
        // Races lose a sample at worst: this is a hint, not an account.
        let old = average.load(Ordering::Relaxed);
        let new = if old == 0 { x } else { old - old / 8 + x / 8 };
        average.store(new, Ordering::Relaxed);
    }

    fn retry_after(&self) -> Duration {
        let us = self.wait_us.load(Ordering::Relaxed) + self.hold_us.load(Ordering::Relaxed);
        Duration::from_micros(us).clamp(RETRY_DELAY_RANGE.0, RETRY_DELAY_RANGE.1)
    }
}

impl Admission {
    pub fn new(limits: AdmissionLimits, metrics: Arc<Metrics>) -> Admission {
        let limits = AdmissionLimits {
            max_running: limits.max_running.clamp(1, 1 << 20),
            max_request_cost: limits.max_request_cost.max(1),
            ..limits
        };
        Admission {
            places: {
                let metrics = metrics.clone();
                Places::observed(
                    u32::try_from(limits.max_running).unwrap_or(1 << 20),
                    limits.max_queued,
                    move |waiting| metrics.set_queued(waiting),
                )
            },
            limits,
            pace: Arc::new(Pace::default()),
            metrics,
            shutdown: Cancel::new(),
        }
    }

    /// The server-wide token: firing it stops every request's work (see [`crate::cancel`]).
    pub fn shutdown(&self) -> &Cancel {
        &self.shutdown
    }

    /// INVALID_ARGUMENT naming the field when one request alone costs more than the cap.
    pub fn check(&self, cost: &Cost) -> Result<(), ApiError> {
        let max = self.limits.max_request_cost;
        if cost.units <= max {
            return Ok(());
        }
        Err(ApiError::invalid(
            cost.field.clone(),
            format!(
                "{} is an estimated cost of {} customer-passes, above the limit of {max} per \
                 request (--max-request-cost): send fewer customers per request",
                cost.how, cost.units
            ),
        ))
    }

    /// The places a request of this cost takes: its share of the limit, from one (most
    /// requests) to all of them (a request at the cost cap).
    fn weight(&self, cost: &Cost) -> u32 {
        let running = self.limits.max_running as u128;
        let share =
            (u128::from(cost.units) * running).div_ceil(u128::from(self.limits.max_request_cost));
        u32::try_from(share.clamp(1, running)).unwrap_or(u32::MAX)
    }

    /// A place to run: at once if one is free, else after a wait in the queue (at most
    /// the deadline or --max-queue-wait-ms). A full queue or a wait that runs out sheds
    /// the request with RESOURCE_EXHAUSTED; a deadline that passes is DEADLINE_EXCEEDED.
    pub async fn admit(&self, cost: &Cost, deadline: Option<Instant>) -> Result<Permit, ApiError> {
        self.check(cost)?;
        let place = self.take(self.weight(cost), cost, deadline).await?;
        Ok(self.hold(place))
    }

    /// `weight` places for work of this cost, waiting in the queue if need be.
    async fn take(
        &self,
        weight: u32,
        cost: &Cost,
        deadline: Option<Instant>,
    ) -> Result<Place, ApiError> {
        if let Some(place) = self.places.try_take(weight) {
            return Ok(place);
        }
        let Ok(wait) = self.places.join(weight, cost.units) else {
            return Err(self.shed(format!(
                "all {} places are taken and {} requests are waiting",
                self.limits.max_running, self.limits.max_queued
            )));
        };
        let since = Instant::now();
        let give_up = since + self.limits.max_queue_wait;
        // Ending 2 ms early lets the client see DEADLINE_EXCEEDED (see `within_deadline`).
        let by_deadline = deadline
            .map(|d| d.checked_sub(Duration::from_millis(2)).unwrap_or(d))
            .filter(|d| *d < give_up);
        let until = by_deadline.unwrap_or(give_up);
        let waited = wait.until(until).await;
        Pace::note(&self.pace.wait_us, since.elapsed());
        match waited {
            Ok(place) => Ok(place),
            Err(Refused::TimedOut) if by_deadline.is_some() => {
                Err(ApiError::DeadlineExceeded("the request got a place to run"))
            }
            Err(_) => Err(self.shed(format!(
                "no place to run freed up within {} ms",
                self.limits.max_queue_wait.as_millis()
            ))),
        }
    }

    fn shed(&self, message: String) -> ApiError {
        self.metrics.shed();
        ApiError::Overloaded {
            message,
            retry_after: self.pace.retry_after(),
        }
    }

    fn hold(&self, place: Place) -> Permit {
        Permit {
            _held: Arc::new(Held {
                _place: place,
                _in_flight: Some(self.metrics.in_flight()),
                since: Instant::now(),
                pace: Some(self.pace.clone()),
            }),
        }
    }

    /// The places one chunk of a stream takes beyond the one its stream holds: a stream
    /// is admitted at a fixed cost (its size is not known yet), and each chunk is then
    /// assessed as a request of its own size: refused above --max-request-cost, and its
    /// share of the limit beyond the stream's place taken in the queue, ranked by its
    /// cost like any request (`None` when the stream's place suffices). The chunk's work
    /// holds the returned permit until it stops.
    pub async fn widen(
        &self,
        cost: &Cost,
        deadline: Option<Instant>,
    ) -> Result<Option<Permit>, ApiError> {
        self.check(cost)?;
        let extra = self.weight(cost) - 1;
        if extra == 0 {
            return Ok(None);
        }
        let place = self.take(extra, cost, deadline).await?;
        // The stream is already one request in flight, and its pace is the stream's.
        Ok(Some(Permit {
            _held: Arc::new(Held {
                _place: place,
                _in_flight: None,
                since: Instant::now(),
                pace: None,
            }),
        }))
    }

    /// Starts accounting one call (finished, or dropped as CANCELLED).
    pub fn start(&self, method: &'static str) -> Call {
        Call {
            method,
            started: Instant::now(),
            metrics: self.metrics.clone(),
            finished: false,
        }
    }

    /// Admits, runs and accounts one unary call, bounded by the client's deadline. `work`
    /// gets the call's permit: CPU work runs through it ([`Permit::blocking`]), so the
    /// place stays taken until that work stops, even after a deadline ends the call.
    pub async fn unary<T, F, Fut>(
        &self,
        method: &'static str,
        deadline: Option<Instant>,
        cost: Cost,
        work: F,
    ) -> Result<Response<T>, Status>
    where
        F: FnOnce(Permit) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let call = self.start(method);
        let result = async {
            let permit = self.admit(&cost, deadline).await?;
            // The request's token fires when this future ends or is dropped; the place is
            // held by the permit's clones in the work.
            let work = cancel::scope(&self.shutdown, &self.metrics, work(permit));
            within_deadline(deadline, work).await
        }
        .await
        .map_err(Status::from);
        call.finish(result.as_ref().err());
        result.map(Response::new)
    }

    /// Admits a call whose response is a stream: accounting starts, a place is taken
    /// (waiting in the queue if need be), then `ready` runs (e.g. the registry check).
    /// Refused, the call is accounted with the refusal.
    pub async fn admit_stream<R>(
        &self,
        method: &'static str,
        deadline: Option<Instant>,
        ready: impl FnOnce() -> Result<R, ApiError>,
    ) -> Result<(Admitted, R), Status> {
        let call = self.start(method);
        let admitted = match self.admit(&Cost::fixed(), deadline).await {
            Ok(permit) => ready().map(|r| (permit, r)),
            Err(e) => Err(e),
        };
        match admitted {
            Ok((permit, r)) => Ok((Admitted { call, permit }, r)),
            Err(e) => {
                let status = Status::from(e);
                call.finish(Some(&status));
                Err(status)
            }
        }
    }
}

/// A request's place under the concurrency limit. Clones share it; it is given back when
/// the last clone drops: the handler's, and those moved into the work it started.
#[derive(Debug, Clone)]
pub struct Permit {
    _held: Arc<Held>,
}

#[derive(Debug)]
struct Held {
    _place: Place,
    _in_flight: Option<InFlight>,
    since: Instant,
    pace: Option<Arc<Pace>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(pace) = &self.pace {
            Pace::note(&pace.hold_us, self.since.elapsed());
        }
    }
}

/// Work of at most this many customer-passes runs inline on the runtime's thread (see
/// [`Permit::run`]): a few microseconds of scoring, less than the two thread hand-offs
/// (to the blocking pool and back) it would otherwise take.
pub const INLINE_MAX_UNITS: u64 = 64;

impl Permit {
    /// Runs `f`, holding this place while it runs: inline on the calling runtime thread
    /// when its cost is at most [`INLINE_MAX_UNITS`] (a one-customer Score then needs no
    /// thread wake-up between its request and its reply), else on the blocking pool
    /// ([`Permit::blocking`]) so the runtime's threads stay free to accept, queue and shed.
    pub async fn run<T: Send + 'static>(
        &self,
        units: u64,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if units <= INLINE_MAX_UNITS {
            let _hold = cancel::hold();
            return f();
        }
        self.blocking(f).await
    }

    /// Starts `f` on the blocking pool, holding this place until `f` returns.
    pub fn spawn_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Worker<T> {
        let held = self.clone();
        // The request's token and the running-work gauge go with the work (see `cancel`).
        let hold = cancel::hold();
        tokio::task::spawn_blocking(move || {
            let result = hold.run(f);
            drop(hold);
            drop(held);
            result
        })
    }

    /// Runs `f` on the blocking pool, holding this place until `f` returns, and waits for
    /// it. If the caller stops waiting (deadline, client gone), `f` still holds the place.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        join(self.spawn_blocking(f)).await
    }
}

/// An admitted call whose response is a stream: its accounting and its permit, held
/// until the stream ends.
#[derive(Debug)]
pub struct Admitted {
    call: Call,
    permit: Permit,
}

impl Admitted {
    /// The stream's place, for the work it starts.
    pub fn permit(&self) -> &Permit {
        &self.permit
    }

    /// Records the stream's outcome (`None`: OK), then gives back its place (once the
    /// work it started has stopped).
    pub fn finish(self, error: Option<&Status>) {
        let Admitted { call, permit } = self;
        call.finish(error);
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
    finished: bool,
}

impl Call {
    /// Records the call's outcome (`None`: OK) and duration, and logs a failure with its
    /// status message: at info when the caller can act on it, warn when it is ours, and
    /// debug for shed requests (under overload, a line per shed would add to the load;
    /// `custval_requests_shed_total` counts them).
    pub fn finish(mut self, error: Option<&Status>) {
        self.finished = true;
        let code = error.map_or(Code::Ok, Status::code);
        self.metrics
            .observe(self.method, code, self.started.elapsed());
        let Some(status) = error else {
            tracing::debug!(method = self.method, "ok");
            return;
        };
        let (method, message) = (self.method, status.message());
        match code {
            Code::Internal | Code::Unknown | Code::DataLoss | Code::Unimplemented => {
                tracing::warn!(method, ?code, message, "request failed")
            }
            Code::ResourceExhausted => tracing::debug!(method, ?code, message, "request failed"),
            _ => tracing::info!(method, ?code, message, "request failed"),
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

/// The result of work started with [`Permit::spawn_blocking`]; a worker that panicked is
/// INTERNAL.
pub async fn join<T>(worker: Worker<T>) -> Result<T, ApiError> {
    worker
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn admission(max_running: usize, max_queued: usize, wait_ms: u64) -> Admission {
        let limits = AdmissionLimits {
            max_running,
            max_queued,
            max_queue_wait: Duration::from_millis(wait_ms),
            max_request_cost: 1000,
        };
        Admission::new(limits, Arc::new(Metrics::new()))
    }

    fn small() -> Cost {
        Cost::score(1, "customers")
    }

    #[tokio::test]
    async fn the_queue_is_bounded_and_served_in_order() {
        let a = Arc::new(admission(1, 1, 60_000));
        let running = a.admit(&small(), None).await.unwrap();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.admit(&small(), None).await.map(drop) })
        };
        while a.places.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        // One running, one waiting: the next is shed at once, saying when to retry.
        match a.admit(&small(), None).await {
            Err(ApiError::Overloaded { retry_after, .. }) => {
                assert!(retry_after >= RETRY_DELAY_RANGE.0, "{retry_after:?}")
            }
            other => panic!("expected a shed, got {other:?}"),
        }
        assert!(!waiter.is_finished());
        drop(running);
        waiter.await.unwrap().unwrap();
        assert_eq!(a.places.waiting(), 0);
        assert!(a.admit(&small(), None).await.is_ok());
    }

    #[tokio::test]
    async fn a_wait_ends_at_the_queue_limit_or_the_deadline() {
        let a = admission(1, 8, 30);
        let _running = a.admit(&small(), None).await.unwrap();
        let shed = a.admit(&small(), None).await;
        assert!(matches!(shed, Err(ApiError::Overloaded { .. })), "{shed:?}");
        let a = admission(1, 8, 60_000);
        let _running = a.admit(&small(), None).await.unwrap();
        let soon = Instant::now() + Duration::from_millis(30);
        let late = a.admit(&small(), Some(soon)).await;
        assert!(
            matches!(late, Err(ApiError::DeadlineExceeded(_))),
            "{late:?}"
        );
        assert_eq!(a.places.waiting(), 0);
    }

    #[tokio::test]
    async fn costs_take_their_share_and_one_above_the_cap_is_refused() {
        let a = admission(4, 0, 0);
        assert_eq!(a.weight(&small()), 1);
        assert_eq!(a.weight(&Cost::score(500, "customers")), 2);
        assert_eq!(a.weight(&Cost::score(1000, "customers")), 4);
        let half = a.admit(&Cost::score(500, "customers"), None).await.unwrap();
        let _one = a.admit(&small(), None).await.unwrap();
        assert!(a.admit(&Cost::score(500, "customers"), None).await.is_err());
        drop(half);
        match a.admit(&Cost::fit(600, 2, "summary_columns"), None).await {
            Err(ApiError::InvalidArgument(v)) => {
                assert_eq!(v[0].field, "summary_columns");
                assert!(v[0].description.contains("--max-request-cost"), "{v:?}");
            }
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_cheap_call_is_not_stuck_behind_queued_expensive_ones() {
        // Before: first come, first served, so the Score waited for every segmentation
        // queued ahead of it (and here, for ever: each keeps its place).
        let limits = AdmissionLimits {
            max_running: 1,
            max_queued: 8,
            max_queue_wait: Duration::from_secs(60),
            max_request_cost: 1 << 40,
        };
        let a = Arc::new(Admission::new(limits, Arc::new(Metrics::new())));
        let running = a.admit(&small(), None).await.unwrap();
        let (kept, mut admitted) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..3 {
            let (a, kept) = (a.clone(), kept.clone());
            tokio::spawn(async move {
                let segment = Cost::segment(1000, "customers", None);
                let permit = a.admit(&segment, None).await.unwrap();
                let _ = kept.send(("segment", permit));
            });
        }
        while a.places.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        {
            let (a, kept) = (a.clone(), kept.clone());
            tokio::spawn(async move {
                let permit = a.admit(&small(), None).await.unwrap();
                let _ = kept.send(("score", permit));
            });
        }
        while a.places.waiting() < 4 {
            tokio::task::yield_now().await;
        }
        drop(running);
        let first = tokio::time::timeout(Duration::from_secs(30), admitted.recv())
            .await
            .expect("a place was handed out")
            .unwrap();
        assert_eq!(first.0, "score");
        assert_eq!(a.places.waiting(), 3);
        // Then the oldest: the segmentations still advance.
        drop(first);
        let second = admitted.recv().await.unwrap();
        assert_eq!(second.0, "segment");
    }

    #[tokio::test]
    async fn a_stream_chunk_takes_its_own_share_of_the_limit() {
        // Before: a stream took one place whatever its chunks held.
        let a = admission(4, 0, 0);
        let stream = a.admit(&Cost::fixed(), None).await.unwrap();
        assert!(a.widen(&small(), None).await.unwrap().is_none());
        let chunk = a
            .widen(&Cost::score(1000, "chunks[0].customers"), None)
            .await
            .unwrap()
            .expect("a chunk at the cap takes every place");
        assert_eq!(a.places.free(), 0);
        assert!(matches!(
            a.admit(&small(), None).await,
            Err(ApiError::Overloaded { .. })
        ));
        drop(chunk);
        assert_eq!(a.places.free(), 3);
        match a
            .widen(&Cost::score(1001, "chunks[1].customers"), None)
            .await
        {
            Err(ApiError::InvalidArgument(v)) => assert_eq!(v[0].field, "chunks[1].customers"),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
        drop(stream);
        assert_eq!(a.places.free(), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn small_work_runs_inline_and_large_work_on_the_blocking_pool() {
        let a = admission(1, 0, 0);
        let permit = a.admit(&small(), None).await.unwrap();
        let here = std::thread::current().id();
        let inline = permit
            .run(INLINE_MAX_UNITS, || Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(inline, here, "no hand-off for a small score");
        let pooled = permit
            .run(INLINE_MAX_UNITS + 1, || Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(pooled, here);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn work_holds_its_place_after_the_caller_stops_waiting() {
        let a = admission(1, 0, 0);
        let permit = a.admit(&small(), None).await.unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let work = permit.spawn_blocking(move || {
            let _ = released.recv();
            Ok(())
        });
        drop(permit);
        assert!(
            a.admit(&small(), None).await.is_err(),
            "the work holds the place"
        );
        release.send(()).unwrap();
        join(work).await.unwrap();
        assert!(a.admit(&small(), None).await.is_ok());
    }

    /// Log lines written under a test subscriber.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_call_is_logged_with_its_message() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let a = admission(1, 0, 0);
        tracing::subscriber::with_default(subscriber, || {
            let bad = Status::invalid_argument("customers[3].amount: is NaN");
            a.start("Score").finish(Some(&bad));
            let ours = Status::internal("store write failed: disk full");
            a.start("FitModel").finish(Some(&ours));
            a.start("Score").finish(None);
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let info = text.lines().find(|l| l.contains("Score")).unwrap();
        assert!(
            info.contains("INFO") && info.contains("customers[3].amount: is NaN"),
            "{text}"
        );
        let warn = text.lines().find(|l| l.contains("FitModel")).unwrap();
        assert!(
            warn.contains("WARN") && warn.contains("disk full"),
            "{text}"
        );
        assert_eq!(
            text.lines().count(),
            2,
            "OK calls are not logged at info: {text}"
        );
    }

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
