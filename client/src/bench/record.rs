//! What one level measured: latency of successful calls in HDR histograms (whole level
//! and per second), failures by status code, the open loop's lag behind its schedule.
//! Calls issued during the warm-up are dropped here, so the load code needs no clock logic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::report::{Interval, Latency, LevelReport};

/// Failures that are not gRPC statuses.
pub const INVALID_RESPONSE: &str = "INVALID_RESPONSE";

const NANOS_PER_MS: f64 = 1e6;

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("constant, valid bounds")
}

fn latency(h: &Histogram<u64>) -> Option<Latency> {
    if h.is_empty() {
        return None;
    }
    let ms = |v: u64| v as f64 / NANOS_PER_MS;
    Some(Latency {
        min: ms(h.min()),
        mean: h.mean() / NANOS_PER_MS,
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed(&'static str),
}

/// Everything measured in one level. Calls issued (or scheduled) before the measurement
/// starts are warm-up and ignored.
#[derive(Debug)]
pub(super) struct Recorder {
    measure_start: Instant,
    latency: Histogram<u64>,
    lag: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<&'static str, u64>,
    last_done: Option<Instant>,
    second: u64,
    second_latency: Histogram<u64>,
    second_requests: u64,
    second_errors: u64,
    intervals: Vec<Interval>,
}

impl Recorder {
    pub(super) fn new(measure_start: Instant) -> Recorder {
        Recorder {
            measure_start,
            latency: new_histogram(),
            lag: new_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            last_done: None,
            second: 0,
            second_latency: new_histogram(),
            second_requests: 0,
            second_errors: 0,
            intervals: Vec::new(),
        }
    }

    fn close_second(&mut self) {
        let h = &self.second_latency;
        let q = |q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / NANOS_PER_MS);
        self.intervals.push(Interval {
            time_s: self.second,
            requests: self.second_requests,
            errors: self.second_errors,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        });
        self.second += 1;
        self.second_latency.reset();
        self.second_requests = 0;
        self.second_errors = 0;
    }

    /// `issued`: when the call was sent (closed loop) or scheduled (open loop).
    pub(super) fn record(
        &mut self,
        issued: Instant,
        done: Instant,
        outcome: Outcome,
        lag: Option<Duration>,
    ) {
        if issued < self.measure_start {
            return;
        }
        let second = done.saturating_duration_since(self.measure_start).as_secs();
        while self.second < second {
            self.close_second();
        }
        self.second_requests += 1;
        match outcome {
            Outcome::Ok => {
                let n = nanos(done.saturating_duration_since(issued));
                self.latency.saturating_record(n);
                self.second_latency.saturating_record(n);
                self.ok += 1;
            }
            Outcome::Failed(code) => {
                *self.errors.entry(code).or_default() += 1;
                self.second_errors += 1;
            }
        }
        if let Some(l) = lag {
            self.lag.saturating_record(nanos(l));
        }
        self.last_done = Some(self.last_done.map_or(done, |d| d.max(done)));
    }

    pub(super) fn finish(
        mut self,
        rate: Option<f64>,
        concurrency: usize,
        customers_per_request: u64,
    ) -> LevelReport {
        if self.second_requests > 0 {
            self.close_second();
        }
        let errors: u64 = self.errors.values().sum();
        let requests = self.ok + errors;
        let elapsed = self
            .last_done
            .map_or(0.0, |d| (d - self.measure_start).as_secs_f64());
        let per_s = |n: u64| {
            if elapsed > 0.0 {
                n as f64 / elapsed
            } else {
                0.0
            }
        };
        let customers = self.ok * customers_per_request;
        LevelReport {
            rate,
            concurrency,
            requests,
            ok: self.ok,
            errors,
            errors_by_code: self
                .errors
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            elapsed_s: elapsed,
            requests_per_s: per_s(requests),
            customers,
            customers_per_s: per_s(customers),
            latency_ms: latency(&self.latency),
            schedule_lag_ms: latency(&self.lag),
            intervals: self.intervals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_ignored_and_seconds_are_split() {
        let t0 = Instant::now();
        let start = t0 + Duration::from_secs(1);
        let mut r = Recorder::new(start);
        let ms = Duration::from_millis;
        r.record(t0, start + ms(5), Outcome::Ok, None); // warm-up
        r.record(start, start + ms(2), Outcome::Ok, None);
        r.record(start + ms(10), start + ms(14), Outcome::Ok, None);
        r.record(
            start + ms(1500),
            start + ms(1501),
            Outcome::Failed("UNAVAILABLE"),
            None,
        );
        r.record(start + ms(2500), start + ms(2508), Outcome::Ok, None);
        let l = r.finish(None, 4, 10);
        assert_eq!((l.requests, l.ok, l.errors), (4, 3, 1));
        assert_eq!(l.errors_by_code["UNAVAILABLE"], 1);
        assert_eq!(l.customers, 30);
        assert!((l.elapsed_s - 2.508).abs() < 1e-9);
        let lat = l.latency_ms.unwrap();
        assert!((lat.min - 2.0).abs() < 0.01 && (lat.max - 8.0).abs() < 0.01);
        let rows: Vec<(u64, u64, u64)> = l
            .intervals
            .iter()
            .map(|i| (i.time_s, i.requests, i.errors))
            .collect();
        assert_eq!(rows, vec![(0, 2, 0), (1, 1, 1), (2, 1, 0)]);
        assert_eq!(l.intervals[1].p50_ms, None);
    }
}
