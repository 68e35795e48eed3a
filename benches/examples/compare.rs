//! The custval side of `benches/compare` (custval against lifetimes, scikit-learn and
//! PyMC-Marketing on identical inputs). Driven by `benches/compare/driver.py` (through
//! `run.sh`); two subcommands:
//!
//! * `compare gen DIR --sizes N,.. --tx ROWS,..` writes the seeded inputs every side reads:
//!   `customers_N.csv` (continuous times), `customers_day_N.csv` (times floored to days),
//!   `features_N.f64` (the standardized k-means features, row-major n × 6, little-endian)
//!   and `transactions_ROWS.csv`.
//! * `compare serve DIR [--threads T]` is a worker: it reads commands on stdin, one a line,
//!   and answers each with one JSON line on stdout.
//!   - `prepare TASK N [PEER]` reads the task's inputs (untimed);
//!   - `rep TASK` runs the task once and answers `{"seconds", "cpu_seconds"}`;
//!   - `finish TASK` measures the heap peak over one more, untimed run, writes the per-customer
//!     outputs (`custval_*.f64`, `custval_summary_*.csv`) and answers the task's entry
//!     (fitted parameters, diagnostics, `peak_bytes`);
//!   - `quit`.
//!
//!   The driver interleaves the reps of every side, so each side gets the same number of
//!   runs under the same load. `--threads T` below the CPUs available restricts the
//!   process to its first T CPUs (sched_setaffinity) before anything starts a thread: the
//!   rayon pool and the two-thread summarizing pipe both size themselves from the CPUs
//!   the process may use, so `--threads 1` is custval on one core, parallelism taken out.
//!   Scoring uses the peer's fitted parameters (`PEER_params_N.txt`, written by the peer's
//!   worker: `lifetimes` or `pymc`) and the peer's CLV month, so predictions are compared
//!   on identical parameters.
//!
//! Memory: `peak_bytes`, the heap's peak above what was in use before, over one extra
//! untimed run of each task (a counting global allocator; its relaxed atomic counters
//! stay in place for the timed runs too, at a cost below the timing noise: the tasks
//! allocate a few large buffers, not many small ones).
//!
//! Time: wall clock around the call only (reading a file included where the task is
//! reading a file), and the process's CPU time (CLOCK_PROCESS_CPUTIME_ID, all threads).
#![allow(clippy::unwrap_used)] // a benchmark harness that cannot set up should stop loudly

use custval_benches::{
    cdnow_bgnbd, cdnow_spend, day_resolution, simulated_customers, transaction_csv,
};
use custval_model::data::summary::{
    CsvOptions, Day, RowPolicy, SummaryConfig, SummaryOutput, summarize_csv,
};
use custval_model::decide::segments::{
    self, Feature, FeatureTable, KMeansFit, SegmentOptions, Segmentation,
};
use custval_model::fit::FitOptions;
use custval_model::models::beta_geo::{fit_bgnbd, log_likelihood_bgnbd};
use custval_model::models::gamma_gamma::{self, SpendData};
use custval_model::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Counts heap bytes, for each task's peak (`peak_bytes`; one extra, untimed run).
#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

/// Peak heap bytes above those in use before, during one run of `f`: the task's working
/// memory and its output, not its input.
fn heap_peak<T>(f: impl FnOnce() -> T) -> f64 {
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let out = f();
    let peak = HEAP.peak_usage().saturating_sub(before);
    drop(out);
    peak as f64
}

/// Seed of the simulated customers (every side reads the files, so any seed would do).
const SEED: u64 = 1;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: compare gen DIR [--sizes N,..] [--tx ROWS,..] | compare serve DIR [--threads T]";
    let (Some(cmd), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let mut sizes = vec![10_000, 100_000, 1_000_000];
    let mut tx = vec![1_000_000, 10_000_000];
    let mut threads = None;
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        let list = |v: Option<&String>| -> Vec<usize> {
            v.map(|s| {
                s.split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.trim().replace('_', "").parse().unwrap())
                    .collect()
            })
            .unwrap_or_default()
        };
        match flag.as_str() {
            "--sizes" => sizes = list(rest.next()),
            "--tx" => tx = list(rest.next()),
            "--threads" => threads = list(rest.next()).first().copied(),
            other => {
                eprintln!("unknown argument {other:?}\n{usage}");
                std::process::exit(2);
            }
        }
    }
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    match cmd.as_str() {
        "gen" => generate(&dir, &sizes, &tx),
        "serve" => serve(&dir, threads),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

fn generate(dir: &Path, sizes: &[usize], tx: &[usize]) {
    for &n in sizes {
        let table = simulated_customers(n, SEED);
        write_customers(&dir.join(format!("customers_{n}.csv")), &table, &table.rfm);
        let days = day_resolution(&table.rfm);
        write_customers(&dir.join(format!("customers_day_{n}.csv")), &table, &days);
        let (features, _) = kmeans_features(&table.rfm, &table.monetary_value);
        write_f64(&dir.join(format!("features_{n}.f64")), &features);
        eprintln!("gen: {n} customers");
    }
    for &rows in tx {
        // Generated once under target/bench-data (shared with the criterion benches) and
        // linked here, so both harnesses read the same file.
        let src = transaction_csv(rows);
        let dst = dir.join(format!("transactions_{rows}.csv"));
        if !dst.exists() && std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).unwrap();
        }
        eprintln!("gen: {rows} transactions -> {}", dst.display());
    }
}

fn write_customers(path: &Path, table: &CustomerTable, rfm: &[Rfm]) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(w, "customer_id,frequency,recency,T,monetary_value").unwrap();
    // `{}` prints the shortest representation that parses back to the same f64.
    for (i, c) in rfm.iter().enumerate() {
        writeln!(
            w,
            "{i},{},{},{},{}",
            c.frequency, c.recency, c.age, table.monetary_value[i]
        )
        .unwrap();
    }
    w.flush().unwrap();
}

fn read_customers(path: &Path) -> (Vec<Rfm>, Vec<f64>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `compare gen` first)", path.display()));
    let mut rfm = Vec::new();
    let mut money = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        rfm.push(Rfm {
            frequency: f[1].parse().unwrap(),
            recency: f[2].parse().unwrap(),
            age: f[3].parse().unwrap(),
        });
        money.push(f[4].parse().unwrap());
    }
    (rfm, money)
}

fn write_f64(path: &Path, values: &[f64]) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for v in values {
        w.write_all(&v.to_le_bytes()).unwrap();
    }
    w.flush().unwrap();
}

/// The model the k-means features are scored with: the simulation's own parameters, so
/// the feature matrix does not depend on either side's fit.
fn feature_model() -> (CustomerModel, ClvSpec) {
    (
        CustomerModel {
            unit: TimeUnit::Week,
            transaction: TransactionModel::bg_nbd(cdnow_bgnbd()),
            spend: Some(cdnow_spend()),
        },
        ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week),
    )
}

/// The matrix `segments::segment` clusters: its feature table, log1p of every feature but
/// P(alive), standardized with the population standard deviation. Returns the row-major
/// matrix and the (mean, std) per column, which `run` checks against segment's own scaler.
fn kmeans_features(rfm: &[Rfm], money: &[f64]) -> (Vec<f64>, Vec<(f64, f64)>) {
    let (model, spec) = feature_model();
    let scores = model.score(rfm, money, TimeUnit::Week, &spec).unwrap();
    let table = FeatureTable::build(
        rfm,
        money,
        &scores,
        UnitConversion::identity(TimeUnit::Week),
    )
    .unwrap();
    let d = table.features.len();
    let mut x = table.values.clone();
    for row in x.chunks_exact_mut(d) {
        for (v, f) in row.iter_mut().zip(&table.features) {
            if *f != Feature::PAlive {
                *v = v.max(0.0).ln_1p();
            }
        }
    }
    let n = x.len() / d;
    let mut scale = Vec::with_capacity(d);
    for j in 0..d {
        let mean = x.iter().skip(j).step_by(d).sum::<f64>() / n as f64;
        let var = x
            .iter()
            .skip(j)
            .step_by(d)
            .map(|v| (v - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let std = if var > 1e-24 { var.sqrt() } else { 1.0 };
        scale.push((mean, std));
    }
    for row in x.chunks_exact_mut(d) {
        for (v, (mean, std)) in row.iter_mut().zip(&scale) {
            *v = (*v - mean) / std;
        }
    }
    (x, scale)
}

// ---------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------

/// Restricts the process to its first `threads` allowed CPUs and sizes rayon's pool to
/// match. Must run before anything starts a thread. Returns (threads, CPUs) in effect.
fn limit_threads(threads: Option<usize>) -> (usize, Vec<usize>) {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let allowed = sched_getaffinity(None).unwrap();
    let mut cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&c| allowed.is_set(c))
        .collect();
    if let Some(t) = threads {
        assert!(t >= 1, "--threads must be at least 1");
        if t < cpus.len() {
            cpus.truncate(t);
            let mut set = CpuSet::new();
            for &c in &cpus {
                set.set(c);
            }
            sched_setaffinity(None, &set).unwrap();
        }
    }
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads(available)
        .build_global()
        .unwrap();
    (rayon::current_num_threads(), cpus)
}

/// CPU time of the whole process (every thread, finished ones included), in seconds.
fn process_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// What one run of a task leaves, for its entry (parameters, diagnostics, outputs).
enum Done {
    Bg(GroupedRfm, Box<Fitted<BetaGeoParams>>),
    Gg(SpendData, Box<Fitted<GammaGammaParams>>),
    BgGg(
        GroupedRfm,
        Box<Fitted<BetaGeoParams>>,
        Box<Fitted<GammaGammaParams>>,
    ),
    Scores(Scores),
    Kmeans(KMeansFit),
    Segment(Box<Segmentation>),
    Summary(Box<SummaryOutput>),
}

/// One run of a task: what is timed.
type Run = Box<dyn FnMut() -> Done>;
/// The entry describing a run's result.
type Describe = Box<dyn Fn(&Done) -> Entry>;

/// A prepared task: `run` is what is timed; `entry` describes the last run's result.
struct Job {
    task: String,
    n: usize,
    run: Run,
    entry: Describe,
}

fn serve(dir: &Path, threads: Option<usize>) {
    let (threads, cpus) = limit_threads(threads);
    let mut out = std::io::stdout().lock();
    let mut answer = |line: String| {
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    answer(format!(
        "{{\"ready\": true, \"threads\": {threads}, \"cpus\": {cpus:?}}}"
    ));
    // Prepared tasks by name, each with its last result (two sides may share a worker).
    let mut jobs: BTreeMap<String, (Job, Option<Done>)> = BTreeMap::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["prepare", task, n, rest @ ..] => {
                let job = prepare(dir, task, n.parse().unwrap(), rest.first().copied());
                jobs.insert((*task).to_owned(), (job, None));
                answer("{\"ok\": true}".to_owned());
            }
            ["rep", task] => {
                let (job, last) = jobs.get_mut(*task).expect("rep before prepare");
                drop(last.take()); // the previous result is freed outside the timing
                let (cpu, t) = (process_cpu_seconds(), Instant::now());
                let done = (job.run)();
                let seconds = t.elapsed().as_secs_f64();
                let cpu_seconds = process_cpu_seconds() - cpu;
                *last = Some(done);
                answer(format!(
                    "{{\"seconds\": {seconds:?}, \"cpu_seconds\": {cpu_seconds:?}}}"
                ));
            }
            ["finish", task] => {
                let (mut job, last) = jobs.remove(*task).expect("finish before prepare");
                let done = last.unwrap_or_else(|| (job.run)());
                let peak = heap_peak(|| (job.run)());
                let mut e = (job.entry)(&done).num("peak_bytes", peak);
                e.task = job.task;
                e.n = job.n;
                answer(e.json());
            }
            ["quit"] | [] => break,
            other => panic!("unknown command {other:?}"),
        }
    }
}

/// The peer's fitted parameters, `PEER_params_N.txt` (`bg_r`, ..., `gg_p`, ...).
fn peer_params(dir: &Path, peer: &str, n: usize) -> BTreeMap<String, f64> {
    let path = dir.join(format!("{peer}_params_{n}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the {peer} worker writes it after its fit)",
            path.display()
        )
    });
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.parse().ok()?))
        })
        .collect()
}

fn bg_of(p: &BTreeMap<String, f64>, prefix: &str) -> Option<BetaGeoParams> {
    let get = |k: &str| p.get(&format!("{prefix}_{k}")).copied();
    BetaGeoParams::new(get("r")?, get("alpha")?, get("a")?, get("b")?).ok()
}

fn gg_of(p: &BTreeMap<String, f64>) -> Option<GammaGammaParams> {
    GammaGammaParams::new(*p.get("gg_p")?, *p.get("gg_q")?, *p.get("gg_v")?).ok()
}

/// The CLV convention of each peer: lifetimes' month is 4.345 weeks, PyMC-Marketing's
/// 30.4375 days (both: 12 monthly steps, 1% per month).
fn peer_clv_spec(peer: &str) -> ClvSpec {
    match peer {
        "pymc" => {
            let month = Duration::new(30.4375 / 7.0, TimeUnit::Week);
            ClvSpec {
                horizon: Duration::new(12.0 * month.value, TimeUnit::Week),
                discount: Discount {
                    rate: 0.01,
                    period: month,
                },
            }
        }
        _ => ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week),
    }
}

fn prepare(dir: &Path, task: &str, n: usize, peer: Option<&str>) -> Job {
    let peer = peer.unwrap_or("lifetimes").to_owned();
    let opts = FitOptions::default();
    let customers = |day: bool| {
        let name = if day { "customers_day" } else { "customers" };
        read_customers(&dir.join(format!("{name}_{n}.csv")))
    };
    let d = dir.to_owned();
    let (run, entry): (Run, Describe) = match task {
        // BG/NBD (grouping is part of custval's fit).
        "fit_bgnbd" | "fit_bgnbd_day" => {
            let (rfm, _) = customers(task == "fit_bgnbd_day");
            let prefix = if task == "fit_bgnbd_day" { "day" } else { "bg" };
            (
                Box::new(move || {
                    let g = GroupedRfm::build(&rfm, None).unwrap();
                    let f = fit_bgnbd(&g, &opts).unwrap();
                    Done::Bg(g, Box::new(f))
                }),
                Box::new(move |done| {
                    let Done::Bg(g, f) = done else { unreachable!() };
                    let theirs = bg_of(&peer_params(&d, &peer, n), prefix);
                    bg_entry(g, f, theirs)
                }),
            )
        }
        // Gamma-Gamma on the continuous customers (x >= 1 only, as the peers are given).
        "fit_gamma_gamma" => {
            let (rfm, money) = customers(false);
            let freq: Vec<u32> = rfm.iter().map(|c| c.frequency).collect();
            (
                Box::new(move || {
                    let data = SpendData::build(&freq, &money).unwrap();
                    let f = gamma_gamma::fit(&data, &opts).unwrap();
                    Done::Gg(data, Box::new(f))
                }),
                Box::new(move |done| {
                    let Done::Gg(data, f) = done else {
                        unreachable!()
                    };
                    let theirs = gg_of(&peer_params(&d, &peer, n));
                    gg_entry(data, f, theirs)
                }),
            )
        }
        // What the server does for `custval fit --family bgnbd --spend gamma-gamma` on a
        // summary file, from rows already in memory: the in-process side of the end-to-end
        // row (its CPU time is the server's yardstick).
        "fit_bgnbd_gg" => {
            let (rfm, money) = customers(false);
            let freq: Vec<u32> = rfm.iter().map(|c| c.frequency).collect();
            (
                Box::new(move || {
                    let g = GroupedRfm::build(&rfm, None).unwrap();
                    let bg = fit_bgnbd(&g, &opts).unwrap();
                    let data = SpendData::build(&freq, &money).unwrap();
                    let gg = gamma_gamma::fit(&data, &opts).unwrap();
                    Done::BgGg(g, Box::new(bg), Box::new(gg))
                }),
                Box::new(move |done| {
                    let Done::BgGg(g, bg, gg) = done else {
                        unreachable!()
                    };
                    bg_entry(g, bg, None)
                        .num("p", gg.params.p())
                        .num("q", gg.params.q())
                        .num("v", gg.params.v())
                }),
            )
        }
        // E[X(horizon)], P(alive) and CLV with the peer's parameters and CLV month.
        "score" => {
            let (rfm, money) = customers(false);
            let p = peer_params(dir, &peer, n);
            let model = CustomerModel {
                unit: TimeUnit::Week,
                transaction: TransactionModel::bg_nbd(bg_of(&p, "bg").expect("bg_ params")),
                spend: Some(gg_of(&p).expect("gg_ params")),
            };
            let spec = peer_clv_spec(&peer);
            (
                Box::new(move || {
                    Done::Scores(model.score(&rfm, &money, TimeUnit::Week, &spec).unwrap())
                }),
                Box::new(move |done| {
                    let Done::Scores(s) = done else {
                        unreachable!()
                    };
                    let clv: Vec<f64> = s.clv.iter().map(|c| c.unwrap_or(f64::NAN)).collect();
                    for (name, v) in [
                        ("expected", &s.expected_purchases),
                        ("palive", &s.p_alive),
                        ("clv", &clv),
                    ] {
                        write_f64(&d.join(format!("custval_{peer}_{name}_{n}.f64")), v);
                    }
                    Entry::new()
                        .num("horizon", s.horizon)
                        .txt("params_from", &*peer)
                }),
            )
        }
        // k-means, k = 6, one k-means++ run, 100 iterations at most, on the matrix
        // scikit-learn gets (the one segment() builds).
        "kmeans" => {
            let (rfm, money) = customers(false);
            let (features, scale) = kmeans_features(&rfm, &money);
            let x = ndarray::Array2::from_shape_vec((n, scale.len()), features).unwrap();
            (
                Box::new(move || {
                    Done::Kmeans(segments::kmeans_fit(&x, 6, &kmeans_options()).unwrap())
                }),
                Box::new(|done| {
                    let Done::Kmeans(km) = done else {
                        unreachable!()
                    };
                    Entry::new()
                        .num("inertia", km.inertia)
                        .num("iterations", km.iterations as f64)
                        .num("k", km.centroids.nrows() as f64)
                }),
            )
        }
        // segment() as a whole: it also builds and standardizes the features, orders and
        // names the segments, and computes tiers and RFM quintiles.
        "segment" => {
            let (rfm, money) = customers(false);
            let (model, spec) = feature_model();
            let scores = model.score(&rfm, &money, TimeUnit::Week, &spec).unwrap();
            let (_, scale) = kmeans_features(&rfm, &money);
            (
                Box::new(move || {
                    Done::Segment(Box::new(
                        segments::segment(
                            &rfm,
                            &money,
                            &scores,
                            UnitConversion::identity(TimeUnit::Week),
                            spec,
                            &kmeans_options(),
                        )
                        .unwrap(),
                    ))
                }),
                Box::new(move |done| {
                    let Done::Segment(seg) = done else {
                        unreachable!()
                    };
                    // The matrix given to scikit-learn must be the one segment() clustered.
                    let scaler = &seg.model.scaler;
                    let scale_diff = scale
                        .iter()
                        .zip(scaler.mean.iter().zip(&scaler.std))
                        .map(|((m1, s1), (m2, s2))| rel(*m1, *m2).max(rel(*s1, *s2)))
                        .fold(0.0, f64::max);
                    Entry::new()
                        .num("inertia", seg.model.inertia)
                        .num("k", seg.model.centroids.len() as f64)
                        .num("scaler_max_rel_diff", scale_diff)
                }),
            )
        }
        // Summaries of a transaction log (n = rows), reading the file included.
        "summarize_csv" => {
            let path = dir.join(format!("transactions_{n}.csv"));
            let config = SummaryConfig {
                unit: TimeUnit::Week,
                observation_end: Day::from_ymd(2026, 1, 1).unwrap(),
                calibration_end: None,
                policy: RowPolicy::Strict,
            };
            (
                Box::new(move || {
                    let file = std::fs::File::open(&path).unwrap();
                    let s = summarize_csv(file, &CsvOptions::default(), config).unwrap();
                    Done::Summary(Box::new(s))
                }),
                Box::new(move |done| {
                    let Done::Summary(summary) = done else {
                        unreachable!()
                    };
                    write_summary(&d.join(format!("custval_summary_{n}.csv")), &summary.table);
                    Entry::new()
                        .num("customers", summary.table.len() as f64)
                        .num("rows_used", summary.stats.rows_used as f64)
                }),
            )
        }
        other => panic!("unknown task {other:?}"),
    };
    Job {
        task: task.to_owned(),
        n,
        run,
        entry,
    }
}

fn kmeans_options() -> SegmentOptions {
    SegmentOptions {
        k: 6,
        runs: 1,
        max_iterations: 100,
        tolerance: 1e-4,
        seed: 0,
        ..Default::default()
    }
}

fn write_summary(path: &Path, t: &CustomerTable) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(w, "customer_id,frequency,recency,T,monetary_value").unwrap();
    for i in 0..t.len() {
        let c = t.rfm[i];
        writeln!(
            w,
            "{},{},{},{},{}",
            t.ids[i], c.frequency, c.recency, c.age, t.monetary_value[i]
        )
        .unwrap();
    }
    w.flush().unwrap();
}

/// One task's result, serialized by hand (no serde in this crate).
struct Entry {
    task: String,
    n: usize,
    numbers: BTreeMap<String, f64>,
    text: BTreeMap<String, String>,
}

impl Entry {
    fn new() -> Self {
        Entry {
            task: String::new(),
            n: 0,
            numbers: BTreeMap::new(),
            text: BTreeMap::new(),
        }
    }

    fn num(mut self, k: &str, v: f64) -> Self {
        self.numbers.insert(k.to_owned(), v);
        self
    }

    fn txt(mut self, k: &str, v: impl Into<String>) -> Self {
        self.text.insert(k.to_owned(), v.into());
        self
    }

    fn json(&self) -> String {
        let num = |v: f64| {
            if v.is_finite() {
                format!("{v:?}")
            } else {
                "null".to_owned()
            }
        };
        let mut s = format!("{{\"task\": {:?}, \"n\": {}", self.task, self.n);
        for (k, v) in &self.numbers {
            write!(s, ", {k:?}: {}", num(*v)).unwrap();
        }
        for (k, v) in &self.text {
            write!(s, ", {k:?}: {v:?}").unwrap();
        }
        s.push('}');
        s
    }
}

/// A BG/NBD fit's entry; with the peer's estimate, custval's likelihood at it too (which
/// of the two is the better maximum).
fn bg_entry(g: &GroupedRfm, f: &Fitted<BetaGeoParams>, peer: Option<BetaGeoParams>) -> Entry {
    let p = f.params;
    let mut e = Entry::new()
        .num("r", p.r())
        .num("alpha", p.alpha())
        .num("a", p.a())
        .num("b", p.b())
        .num("groups", g.len() as f64)
        .num("log_likelihood", f.diagnostics.log_likelihood)
        .num("gradient_norm", f.diagnostics.gradient_norm)
        .num("converged", f64::from(u8::from(f.diagnostics.converged)))
        .txt("method", f.diagnostics.method.clone());
    if let Some(peer) = peer {
        e = e.num("log_likelihood_at_peer", log_likelihood_bgnbd(g, &peer));
    }
    e
}

fn gg_entry(
    data: &SpendData,
    f: &Fitted<GammaGammaParams>,
    peer: Option<GammaGammaParams>,
) -> Entry {
    let mut e = Entry::new()
        .num("p", f.params.p())
        .num("q", f.params.q())
        .num("v", f.params.v())
        .num("log_likelihood", f.diagnostics.log_likelihood)
        .num("converged", f64::from(u8::from(f.diagnostics.converged)));
    if let Some(peer) = peer {
        e = e.num(
            "log_likelihood_at_peer",
            gamma_gamma::log_likelihood(data, &peer),
        );
    }
    e
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}
