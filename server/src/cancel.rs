//! Stopping work nobody waits for, and keeping what it holds until it has stopped.
//!
//! Every admitted call runs in a [`scope`]: a [`Request`] whose token (a child of the
//! server's shutdown token) fires when the handler's future ends or is dropped (the client
//! cancelled, the deadline passed, see `admission::within_deadline`) and, through its
//! parent, when the drain deadline passes at shutdown (`app`). Work on the blocking pool
//! passes the token into the model crate (`FitOptions::cancel`, `SegmentOptions::cancel`:
//! checked per optimizer iteration and k-means pass) and checks it between chunks and
//! folds. While it runs it [`hold`]s the request (its token and its place in the
//! `custval_request_work_running` gauge); the admission place itself is held by the
//! `admission::Permit` the work carries, so the limit counts work still running, not
//! handlers still waiting.
//!
//! Storing is one step against the same request ([`Request::store`]), so that a fit is kept
//! exactly when its caller is answered OK: the step does not start once the token has
//! fired, and a handler that goes away while (or after) the step runs, without answering,
//! undoes what it stored (the undo runs wherever it is noticed, by the worker or by the
//! handler's drop). The one window left is the response's own way to the client after the
//! handler answered, which no server can close.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

pub use custval_model::Cancel;

use crate::error::ApiError;
use crate::metrics::{Metrics, WorkRunning};
use crate::record::ModelRecord;
use crate::registry::Registry;

tokio::task_local! {
    static CURRENT: Arc<Request>;
}

/// Where a request's store step is. Moves forward only, except STORING → LIVE when the
/// step failed (and undid itself).
const LIVE: u8 = 0;
const STORING: u8 = 1;
const STORED: u8 = 2;
/// The handler ended without answering OK: nothing may be stored any more.
const GONE: u8 = 3;

/// How to take back one write of a store step.
#[derive(Debug)]
enum Undo {
    Delete { name: String, version: u64 },
    Restore(Arc<ModelRecord>),
}

/// One admitted call, shared by its handler and the blocking work it started.
pub struct Request {
    token: Cancel,
    shutdown: Cancel,
    stage: AtomicU8,
    /// The writes of the store step, to undo if the handler goes away without answering.
    writes: Mutex<Option<(Arc<Registry>, Vec<Undo>)>>,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("token", &self.token)
            .field("stage", &self.stage.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

std::thread_local! {
    /// The request whose blocking work this thread runs ([`Hold::run`]): the task-local
    /// above does not reach the blocking pool.
    static BLOCKING: std::cell::RefCell<Option<Arc<Request>>> = const { std::cell::RefCell::new(None) };
}

/// The request the current task serves, or whose work this blocking thread runs (see
/// [`Hold::run`]), so that loops deep in a pipeline (decoding, scoring) can check its
/// token without having it passed down; outside both (a pipeline called directly, as
/// tests do), one that is never cancelled.
pub fn current() -> Arc<Request> {
    CURRENT
        .try_with(Arc::clone)
        .ok()
        .or_else(|| BLOCKING.with(|b| b.borrow().clone()))
        .unwrap_or_else(|| Arc::new(Request::new(&Cancel::never(), None)))
}

/// Runs `work` as one request: see the [module documentation](self). A `Cancelled`
/// outcome caused by the shutdown becomes UNAVAILABLE (retry elsewhere; nothing was
/// stored).
pub async fn scope<T>(
    shutdown: &Cancel,
    metrics: &Arc<Metrics>,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let request = Arc::new(Request::new(shutdown, Some(metrics.clone())));
    let mut handler = Handler {
        request: request.clone(),
        answered: false,
    };
    let result = CURRENT.scope(request, work).await.map_err(|e| match e {
        ApiError::Cancelled if handler.request.shutdown.is_cancelled() => ApiError::ShuttingDown,
        other => other,
    });
    handler.answered = result.is_ok();
    result
}

/// The handler's end, however it comes: fires the token, and undoes a store whose caller
/// was not answered OK.
struct Handler {
    request: Arc<Request>,
    answered: bool,
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.request.token.cancel();
        if !self.answered {
            self.request.abandon();
        }
    }
}

/// What a piece of blocking work keeps while it runs: its request (and so the admission
/// permit) and its place in the `custval_request_work_running` gauge.
#[derive(Debug)]
pub struct Hold {
    request: Arc<Request>,
    _running: Option<WorkRunning>,
}

/// A hold on the current request, for work about to start on the blocking pool.
pub fn hold() -> Hold {
    let request = current();
    Hold {
        _running: request.metrics.as_ref().map(|m| m.work_running()),
        request,
    }
}

impl Hold {
    /// Runs `work` (on this blocking thread) as the held request's: [`current`] is that
    /// request until `work` returns.
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        /// Puts back what the thread ran before, also if `work` panics.
        struct Restore(Option<Arc<Request>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                BLOCKING.with(|b| *b.borrow_mut() = previous);
            }
        }
        let previous = BLOCKING.with(|b| b.borrow_mut().replace(self.request.clone()));
        let _restore = Restore(previous);
        work()
    }
}

impl Request {
    fn new(shutdown: &Cancel, metrics: Option<Arc<Metrics>>) -> Request {
        Request {
            token: shutdown.child(),
            shutdown: shutdown.clone(),
            stage: AtomicU8::new(LIVE),
            writes: Mutex::new(None),
            metrics,
        }
    }

    /// The request's token, for the model crate's options and the pipelines' loops.
    pub fn token(&self) -> Cancel {
        self.token.clone()
    }

    /// `Err(Cancelled)` once the token has fired.
    pub fn check(&self) -> Result<(), ApiError> {
        Ok(self.token.check()?)
    }

    /// Runs the store step `write` (on the blocking pool): not at all once the token has
    /// fired; undone, and `Cancelled`, if the handler went away meanwhile; undone if
    /// `write` fails part-way.
    pub fn store<T>(
        &self,
        registry: &Arc<Registry>,
        write: impl FnOnce(&Store<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.check()?;
        if self
            .stage
            .compare_exchange(LIVE, STORING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(ApiError::Cancelled);
        }
        *self.lock_writes() = Some((registry.clone(), Vec::new()));
        let result = write(&Store {
            request: self,
            registry,
        });
        let next = if result.is_ok() { STORED } else { LIVE };
        match self
            .stage
            .compare_exchange(STORING, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) if result.is_ok() => result,
            // Failed part-way: what was written goes (the handler answers the error).
            Ok(_) => {
                self.undo("the store step failed");
                result
            }
            // The handler went away while we wrote.
            Err(_) => {
                self.undo("its caller went away while it was stored");
                Err(ApiError::Cancelled)
            }
        }
    }

    /// The handler ended without answering OK.
    fn abandon(&self) {
        // LIVE: nothing written; STORING: the worker undoes when it finishes; STORED:
        // written, but never answered: take it back.
        if self.stage.swap(GONE, Ordering::AcqRel) == STORED {
            self.undo("its caller went away before the answer");
        }
    }

    fn lock_writes(&self) -> std::sync::MutexGuard<'_, Option<(Arc<Registry>, Vec<Undo>)>> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes back the store step's writes, newest first. Blocking (a disk write), and rare:
    /// only a handler dropped in the moment between its store and its answer gets here
    /// outside the worker.
    fn undo(&self, why: &str) {
        let Some((registry, writes)) = self.lock_writes().take() else {
            return;
        };
        for undo in writes.into_iter().rev() {
            let outcome = match &undo {
                Undo::Delete { name, version } => registry.delete(name, *version).map(|_| ()),
                Undo::Restore(previous) => registry.replace((**previous).clone()).map(|_| ()),
            };
            match outcome {
                Ok(()) => tracing::info!(?undo, "store undone: {why}"),
                Err(e) => tracing::error!(?undo, error = %e, "cannot undo a store ({why})"),
            }
        }
    }
}

/// The writes of one store step ([`Request::store`]), each remembered so that it can be
/// taken back.
#[derive(Debug)]
pub struct Store<'a> {
    request: &'a Request,
    registry: &'a Arc<Registry>,
}

impl Store<'_> {
    fn remember(&self, undo: Undo) {
        if let Some((_, writes)) = self.request.lock_writes().as_mut() {
            writes.push(undo);
        }
    }

    /// Stores `record` as the next version of its name.
    pub fn insert(&self, record: ModelRecord) -> Result<Arc<ModelRecord>, ApiError> {
        let stored = self.registry.insert(record)?;
        self.remember(Undo::Delete {
            name: stored.name.clone(),
            version: stored.version,
        });
        Ok(stored)
    }

    /// Stores `record` in place of `previous` (the same name and version).
    pub fn replace(
        &self,
        previous: Arc<ModelRecord>,
        record: ModelRecord,
    ) -> Result<Arc<ModelRecord>, ApiError> {
        let stored = self.registry.replace(record)?;
        self.remember(Undo::Restore(previous));
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::tests::sample_record;

    fn registry() -> (tempfile::TempDir, Arc<Registry>) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(dir.path(), Duration::from_secs(1)).unwrap();
        (dir, Arc::new(registry))
    }

    /// A request outside any scope, and its handler end.
    fn new_request() -> (Arc<Request>, Handler) {
        let request = Arc::new(Request::new(&Cancel::new(), None));
        let handler = Handler {
            request: request.clone(),
            answered: false,
        };
        (request, handler)
    }

    #[test]
    fn nothing_is_stored_once_the_handler_has_gone() {
        let (_dir, registry) = registry();
        let (request, handler) = new_request();
        drop(handler);
        assert!(request.token().is_cancelled());
        let r = request.store(&registry, |s| s.insert(sample_record("m")));
        assert!(matches!(r, Err(ApiError::Cancelled)), "{r:?}");
        assert!(registry.list(None).is_empty());
    }

    #[test]
    fn a_handler_gone_while_storing_leaves_nothing_stored() {
        let (_dir, registry) = registry();
        let (request, handler) = new_request();
        let r = request.store(&registry, |s| {
            s.insert(sample_record("m"))?;
            // The client goes away between two writes of a competition.
            drop(handler);
            s.insert(sample_record("m"))
        });
        assert!(matches!(r, Err(ApiError::Cancelled)), "{r:?}");
        assert!(registry.list(None).is_empty());
    }

    #[test]
    fn a_store_is_kept_exactly_when_its_caller_is_answered() {
        let (_dir, registry) = registry();
        // Stored, then the handler ends without answering OK: taken back.
        let (request, handler) = new_request();
        request
            .store(&registry, |s| s.insert(sample_record("m")))
            .unwrap();
        assert_eq!(registry.list(None).len(), 1);
        drop(handler);
        assert!(registry.list(None).is_empty());
        // Stored and answered: kept.
        let (request, mut handler) = new_request();
        let stored = request
            .store(&registry, |s| s.insert(sample_record("m")))
            .unwrap();
        handler.answered = true;
        drop(handler);
        assert_eq!(registry.get("m", 0).unwrap().version, stored.version);
    }

    #[test]
    fn a_store_step_that_fails_part_way_is_undone() {
        let (_dir, registry) = registry();
        let first = registry.insert(sample_record("m")).unwrap();
        let (request, _handler) = new_request();
        let r: Result<(), ApiError> = request.store(&registry, |s| {
            s.insert(sample_record("m"))?;
            let mut replaced = (*first).clone();
            replaced.training.penalizer = 7.0;
            s.replace(first.clone(), replaced)?;
            Err(ApiError::Internal("disk full".into()))
        });
        assert!(matches!(r, Err(ApiError::Internal(_))), "{r:?}");
        let left = registry.list(None);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].training.penalizer, first.training.penalizer);
    }

    #[tokio::test]
    // That the work also keeps its admission place is `admission`'s test
    // `work_holds_its_place_after_the_caller_stops_waiting`.
    async fn work_is_counted_until_it_stops_and_learns_the_caller_went_away() {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = std::sync::mpsc::channel();
        let shutdown = Cancel::new();
        let handler = scope(&shutdown, &metrics, async move {
            // Work started on the blocking pool, then a handler that waits forever.
            tx.send((hold(), current().token())).unwrap();
            std::future::pending::<Result<(), ApiError>>().await
        });
        // The deadline passes: the handler's future is dropped.
        let cut = tokio::time::timeout(Duration::from_millis(10), handler).await;
        assert!(cut.is_err());
        let (work, token) = rx.recv().unwrap();
        assert!(token.is_cancelled());
        assert!(metrics.render().contains("custval_request_work_running 1"));
        drop(work);
        assert!(metrics.render().contains("custval_request_work_running 0"));
    }

    #[tokio::test]
    async fn work_stopped_by_the_shutdown_is_unavailable() {
        let metrics = Arc::new(Metrics::new());
        let shutdown = Cancel::new();
        let r = scope(&shutdown, &metrics, async {
            let token = current().token();
            shutdown.cancel();
            Ok(token.check()?)
        })
        .await;
        assert!(matches!(r, Err(ApiError::ShuttingDown)), "{r:?}");
        // A caller that went away is not the shutdown.
        let r = scope(&Cancel::new(), &metrics, async {
            Err::<(), _>(ApiError::Cancelled)
        })
        .await;
        assert!(matches!(r, Err(ApiError::Cancelled)), "{r:?}");
    }
}
