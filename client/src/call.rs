//! Deadlines and retries. Every call a command makes goes through [`CallPolicy::run`]:
//! the deadline covers the whole call including its retries (as gRPC deadlines do), and
//! only failures that say "come back later" are retried.

use std::future::Future;
use std::time::{Duration, Instant};

use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::error::ClientError;

/// How long the client waits past the deadline for the server's own DEADLINE_EXCEEDED
/// (which says more) before giving up itself.
pub const DEADLINE_GRACE: Duration = Duration::from_millis(250);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether a failed call may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads and scores: sending twice gives the same answer.
    Idempotent,
    /// Fits, deletes, stored segmentations: a second send could store twice, so a call
    /// that may have reached the server is never repeated.
    Never,
}

/// Deadline and retry settings of one command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallPolicy {
    /// For the whole call, retries included; `None` waits as long as it takes.
    pub deadline: Option<Duration>,
    /// Attempts after the first, for transient failures.
    pub retries: u32,
    /// Wait before the first retry; doubles with each further one (with jitter).
    pub backoff: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            deadline: None,
            retries: 4,
            backoff: Duration::from_millis(100),
        }
    }
}

impl CallPolicy {
    /// Runs `attempt` (given the time left, to send as the call's `grpc-timeout`) until it
    /// succeeds, fails for good, or the deadline passes. `what` names the call in errors.
    pub async fn run<R, F, Fut>(
        &self,
        what: &str,
        retry: Retry,
        mut attempt: F,
    ) -> Result<R, ClientError>
    where
        F: FnMut(Option<Duration>) -> Fut,
        Fut: Future<Output = Result<R, Status>>,
    {
        let started = Instant::now();
        let mut failures = 0u32;
        loop {
            let left = self.time_left(started);
            let result = match left {
                Some(left) if left.is_zero() => Err(self.expired()),
                Some(left) => tokio::time::timeout(left + DEADLINE_GRACE, attempt(Some(left)))
                    .await
                    .unwrap_or_else(|_| Err(self.expired())),
                None => attempt(None).await,
            };
            let status = match result {
                Ok(r) => return Ok(r),
                Err(status) => self.settle(status, started),
            };
            failures += 1;
            let delay = match self.retry_after(&status, retry, failures) {
                Some(d) if self.time_left(started).is_none_or(|left| d < left) => d,
                _ => return Err(ClientError::call(what, &status)),
            };
            eprintln!(
                "custval: {what}: {} ({}); retry {failures} of {} in {} ms",
                crate::error::code_name(status.code()),
                status.message(),
                self.retries,
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// The wait before retrying after `failures` failed attempts, or `None` to give up.
    pub fn retry_after(&self, status: &Status, retry: Retry, failures: u32) -> Option<Duration> {
        if retry == Retry::Never || failures > self.retries {
            return None;
        }
        let hint = status
            .get_error_details()
            .retry_info()
            .and_then(|r| r.retry_delay);
        match status.code() {
            Code::Unavailable => {}
            // A connection that broke mid-call: tonic reports the transport's error (it
            // carries it as the source; statuses the server sent have none).
            Code::Unknown | Code::Internal if std::error::Error::source(status).is_some() => {}
            // Shedding is transient only when the server says so (it sends RetryInfo);
            // other RESOURCE_EXHAUSTED causes, such as a message over the size limit,
            // would fail the same way again.
            Code::ResourceExhausted if hint.is_some() => {}
            _ => return None,
        }
        Some(self.backoff(failures).max(hint.unwrap_or_default()))
    }

    /// Exponential backoff with "equal jitter": between half and all of base·2^(n-1), so
    /// clients shed together do not come back together.
    fn backoff(&self, failures: u32) -> Duration {
        let full = self
            .backoff
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        full / 2 + full.mul_f64(0.5 * jitter())
    }

    /// The status to act on. A server's own timeout answers CANCELLED ("Timeout
    /// expired"); once our deadline has passed, that is DEADLINE_EXCEEDED, as gRPC
    /// clients report it.
    pub fn settle(&self, status: Status, started: Instant) -> Status {
        let passed = self.time_left(started).is_some_and(|left| left.is_zero());
        if passed && status.code() == Code::Cancelled {
            self.expired()
        } else {
            status
        }
    }

    fn time_left(&self, started: Instant) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_sub(started.elapsed()))
    }

    fn expired(&self) -> Status {
        deadline_exceeded(self.deadline.unwrap_or_default())
    }
}

/// The status of a call the client stopped waiting for.
pub fn deadline_exceeded(deadline: Duration) -> Status {
    Status::deadline_exceeded(format!("no answer within the --deadline of {deadline:?}"))
}

/// A request carrying the time left as its `grpc-timeout`, so the server stops working on
/// it when the client would no longer wait.
pub fn request<T>(message: T, time_left: Option<Duration>) -> Request<T> {
    let mut r = Request::new(message);
    if let Some(t) = time_left {
        r.set_timeout(t);
    }
    r
}

/// A number in [0, 1) that differs between processes and calls (std's hasher keys are
/// random per process; the clock varies per call).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> CallPolicy {
        CallPolicy {
            deadline: None,
            retries: 3,
            backoff: Duration::from_millis(1),
        }
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let p = policy();
        let unavailable = Status::unavailable("restarting");
        assert!(p.retry_after(&unavailable, Retry::Idempotent, 1).is_some());
        assert!(p.retry_after(&unavailable, Retry::Idempotent, 3).is_some());
        assert!(p.retry_after(&unavailable, Retry::Idempotent, 4).is_none());
        assert!(p.retry_after(&unavailable, Retry::Never, 1).is_none());
        let too_big = Status::resource_exhausted("message larger than the limit");
        assert!(p.retry_after(&too_big, Retry::Idempotent, 1).is_none());
        let shed = Status::with_error_details(
            Code::ResourceExhausted,
            "busy",
            tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_millis(40))),
        );
        let wait = p.retry_after(&shed, Retry::Idempotent, 1).unwrap();
        assert!(wait >= Duration::from_millis(40), "{wait:?}");
        for code in [
            Code::InvalidArgument,
            Code::NotFound,
            Code::DeadlineExceeded,
        ] {
            assert!(
                p.retry_after(&Status::new(code, "x"), Retry::Idempotent, 1)
                    .is_none()
            );
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let p = CallPolicy {
            backoff: Duration::from_millis(100),
            ..policy()
        };
        for n in 1..=4u32 {
            let full = Duration::from_millis(100 * (1 << (n - 1)));
            let b = p.backoff(n);
            assert!(b >= full / 2 && b <= full, "{n}: {b:?}");
        }
        assert!(p.backoff(40) <= MAX_BACKOFF);
    }

    #[tokio::test]
    async fn retries_until_success_and_gives_up_after_the_limit() {
        let tries = AtomicU32::new(0);
        let r = policy()
            .run("x", Retry::Idempotent, |_| {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(Status::unavailable("down"))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(r, 2);

        let tries = AtomicU32::new(0);
        let e = policy()
            .run("x", Retry::Idempotent, |_| {
                tries.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Status::unavailable("down")) }
            })
            .await
            .unwrap_err();
        assert_eq!(tries.load(Ordering::SeqCst), 4, "first try and 3 retries");
        assert!(e.to_string().contains("UNAVAILABLE"), "{e}");

        let tries = AtomicU32::new(0);
        policy()
            .run("x", Retry::Never, |_| {
                tries.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Status::unavailable("down")) }
            })
            .await
            .unwrap_err();
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_deadline_covers_the_call_and_is_sent_along() {
        let p = CallPolicy {
            deadline: Some(Duration::from_millis(50)),
            ..policy()
        };
        let e = p
            .run("slow", Retry::Idempotent, |left| async move {
                assert!(left.is_some_and(|l| l <= Duration::from_millis(50)));
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<(), Status>(())
            })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("DEADLINE_EXCEEDED"), "{e}");
        let r = request((), Some(Duration::from_millis(1500)));
        assert!(r.metadata().get("grpc-timeout").is_some());
    }
}
