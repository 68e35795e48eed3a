//! Load generation: closed-loop workers, the open loop's dispatcher on a fixed schedule
//! (latency counted from the scheduled time), one level of a sweep, and Ctrl-C.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tonic::client::Grpc;

use super::options::BenchOptions;
use super::record::{Outcome, Recorder};
use super::report::LevelReport;
use super::workload::Workload;
use crate::connect::{AuthChannel, Connection};
use crate::error::ClientError;

/// The open-loop dispatcher sleeps until this close to a send time, then spins: the OS
/// wakes sleepers tens of microseconds late, which would count as latency.
const SPIN_BEFORE_SEND: Duration = Duration::from_micros(80);

#[derive(Debug, Clone, Copy)]
enum Stop {
    /// Issue nothing at or after this instant.
    At(Instant),
    /// Issue this many measured calls.
    Count(u64),
}

#[derive(Debug)]
struct Level {
    workload: Arc<Workload>,
    start: Instant,
    measure_start: Instant,
    stop: Stop,
    /// Set by Ctrl-C: issue nothing more.
    interrupted: Arc<AtomicBool>,
    /// Calls issued, warm-up included (picks the prebuilt request).
    next: AtomicU64,
    /// Measured calls issued.
    measured: AtomicU64,
    recorder: Mutex<Recorder>,
}

impl Level {
    fn new(workload: Arc<Workload>, opts: &BenchOptions, interrupted: Arc<AtomicBool>) -> Level {
        let start = Instant::now();
        let measure_start = start + opts.warmup;
        let stop = match opts.requests {
            Some(n) => Stop::Count(n),
            None => Stop::At(measure_start + opts.duration),
        };
        Level {
            workload,
            start,
            measure_start,
            stop,
            interrupted,
            next: AtomicU64::new(0),
            measured: AtomicU64::new(0),
            recorder: Mutex::new(Recorder::new(measure_start)),
        }
    }

    /// Whether a call may be issued (or scheduled) at `at`; counts it when measured.
    fn admit(&self, at: Instant) -> bool {
        if self.interrupted.load(Ordering::Relaxed) {
            return false;
        }
        if at < self.measure_start {
            return true;
        }
        match self.stop {
            Stop::At(end) => at < end,
            Stop::Count(n) => self.measured.fetch_add(1, Ordering::Relaxed) < n,
        }
    }

    fn record(&self, issued: Instant, done: Instant, outcome: Outcome, lag: Option<Duration>) {
        self.recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(issued, done, outcome, lag);
    }

    fn finish(self, rate: Option<f64>, concurrency: usize) -> LevelReport {
        let per_request = self.workload.customers_per_request;
        self.recorder
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .finish(rate, concurrency, per_request)
    }
}

/// One closed-loop worker: send, wait, record, repeat.
async fn closed_loop_worker(level: Arc<Level>, mut grpc: Grpc<AuthChannel>) {
    loop {
        let issued = Instant::now();
        if !level.admit(issued) {
            return;
        }
        let k = level.next.fetch_add(1, Ordering::Relaxed);
        let outcome = level.workload.call(&mut grpc, k).await;
        level.record(issued, Instant::now(), outcome, None);
    }
}

/// Sleeps until `t`: the OS sleep for most of the wait, a spin for the last stretch.
fn sleep_until(t: Instant) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        let left = t - now;
        if left > SPIN_BEFORE_SEND {
            std::thread::sleep(left - SPIN_BEFORE_SEND);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The open loop's dispatcher (on its own thread): call `k` is due at `start + k/rate`
/// and is sent then, or as soon as one of the `cap` in-flight slots frees up.
fn dispatch(
    level: Arc<Level>,
    runtime: tokio::runtime::Handle,
    clients: Vec<Grpc<AuthChannel>>,
    rate: f64,
    cap: usize,
) -> Result<(), ClientError> {
    let permits = u32::try_from(cap).map_err(|_| ClientError::Invalid("cap too large".into()))?;
    let slots = Arc::new(Semaphore::new(cap));
    let lost = |_| ClientError::Internal("in-flight slots closed".into());
    let mut k: u64 = 0;
    loop {
        let scheduled = level.start + Duration::from_secs_f64(k as f64 / rate);
        if !level.admit(scheduled) {
            break;
        }
        sleep_until(scheduled);
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => runtime
                .block_on(slots.clone().acquire_owned())
                .map_err(lost)?,
        };
        let mut grpc = clients[(k % clients.len() as u64) as usize].clone();
        let l = level.clone();
        runtime.spawn(async move {
            // Taken when the call's task starts: the generator's own delay, wake-up of a
            // runtime thread included.
            let lag = Instant::now().saturating_duration_since(scheduled);
            let outcome = l.workload.call(&mut grpc, k).await;
            l.record(scheduled, Instant::now(), outcome, Some(lag));
            // The level before the slot: once every slot is back, nothing holds it.
            drop(l);
            drop(permit);
        });
        k += 1;
    }
    // Every slot back: every call has been recorded.
    let _all = runtime
        .block_on(slots.acquire_many(permits))
        .map_err(lost)?;
    Ok(())
}

pub(super) async fn run_level(
    connections: &[Connection],
    workload: &Arc<Workload>,
    opts: &BenchOptions,
    (rate, concurrency): (Option<f64>, usize),
    interrupted: &Arc<AtomicBool>,
) -> Result<LevelReport, ClientError> {
    let level = Arc::new(Level::new(workload.clone(), opts, interrupted.clone()));
    match rate {
        None => {
            let mut workers = tokio::task::JoinSet::new();
            for i in 0..concurrency {
                let grpc = connections[i % connections.len()].grpc();
                workers.spawn(closed_loop_worker(level.clone(), grpc));
            }
            while let Some(done) = workers.join_next().await {
                done.map_err(|e| ClientError::Internal(format!("bench worker: {e}")))?;
            }
        }
        Some(rate) => {
            let clients = connections.iter().map(Connection::grpc).collect();
            let runtime = tokio::runtime::Handle::current();
            let l = level.clone();
            tokio::task::spawn_blocking(move || dispatch(l, runtime, clients, rate, concurrency))
                .await
                .map_err(|e| ClientError::Internal(format!("bench dispatcher: {e}")))??;
        }
    }
    let level = Arc::try_unwrap(level)
        .map_err(|_| ClientError::Internal("a bench task outlived its level".into()))?;
    Ok(level.finish(rate, concurrency))
}

/// Sets `interrupted` on the first Ctrl-C, so the sweep ends with what it measured; a
/// second Ctrl-C ends the process at once.
pub(super) fn stop_on_ctrl_c(
    interrupted: Arc<AtomicBool>,
    opts: &BenchOptions,
) -> tokio::task::JoinHandle<()> {
    let quiet = opts.quiet;
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        interrupted.store(true, Ordering::Relaxed);
        if !quiet {
            eprintln!("bench: interrupted: reporting what was measured (Ctrl-C again to quit)");
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    })
}
