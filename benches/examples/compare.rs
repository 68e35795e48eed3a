//! The custval side of `benches/compare` (lifetimes + scikit-learn vs custval on identical
//! inputs). Driven by `benches/compare/run.sh`; two subcommands:
//!
//! * `compare gen DIR --sizes N,.. --tx ROWS,..` writes the seeded inputs both sides read:
//!   `customers_N.csv` (continuous times), `customers_day_N.csv` (times floored to days),
//!   `features_N.f64` (the standardized k-means features, row-major n × 6, little-endian)
//!   and `transactions_ROWS.csv`.
//! * `compare run DIR --sizes N,.. --tx ROWS,..` times custval on them and writes
//!   `custval_results.json` plus per-customer outputs (`custval_*.f64`, `custval_summary_*.csv`)
//!   for `report.py`. Scoring uses lifetimes' fitted parameters from `lifetimes_params_N.txt`
//!   (written by `lifetimes_side.py`), so predictions are compared on identical parameters.
//!
//! Memory: `peak_bytes`, the heap's peak above what was in use before, over one extra
//! untimed run of each task (a counting global allocator; its relaxed atomic counters
//! stay in place for the timed runs too, at a cost below the timing noise: the tasks
//! allocate a few large buffers, not many small ones).
//!
//! Timings: wall clock around the call only (reading a file included where the task is
//! reading a file); the minimum over repeated runs: one run if it takes more than 2 s, else
//! at least 3 and until 1 s has been spent (at most 50). The Python side uses the same rule;
//! the minimum filters out the noise of a shared machine.
#![allow(clippy::unwrap_used)] // a benchmark harness that cannot set up should stop loudly

use custval_benches::{
    cdnow_bgnbd, cdnow_spend, day_resolution, simulated_customers, transaction_csv,
};
use custval_model::data::summary::{CsvOptions, Day, RowPolicy, SummaryConfig, summarize_csv};
use custval_model::decide::segments::{self, Feature, FeatureTable, SegmentOptions};
use custval_model::fit::FitOptions;
use custval_model::models::beta_geo::{fit_bgnbd, log_likelihood_bgnbd};
use custval_model::models::gamma_gamma::{self, SpendData};
use custval_model::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
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

/// Seed of the simulated customers (both sides read the files, so any seed would do).
const SEED: u64 = 1;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: compare (gen|run) DIR [--sizes N,..] [--tx ROWS,..]";
    let (Some(cmd), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let mut sizes = vec![10_000, 100_000, 1_000_000];
    let mut tx = vec![1_000_000, 10_000_000];
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
        "run" => run(&dir, &sizes, &tx),
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
// Timed runs
// ---------------------------------------------------------------------------------------

/// Minimum wall time over repeated runs (see the module docs) and the last result.
fn timed<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let (mut best, mut total, mut runs) = (f64::INFINITY, 0.0, 0);
    loop {
        let t = Instant::now();
        let r = f();
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        total += s;
        runs += 1;
        if s > 2.0 || (runs >= 3 && total >= 1.0) || runs >= 50 {
            return (best, r);
        }
    }
}

/// [`timed`], then the heap peak of one more run: (seconds, result, peak bytes).
fn measured<T>(mut f: impl FnMut() -> T) -> (f64, T, f64) {
    let (s, out) = timed(&mut f);
    let mem = heap_peak(f);
    (s, out, mem)
}

/// One task's result, serialized by hand (no serde in this crate).
struct Entry {
    task: String,
    n: usize,
    seconds: f64,
    numbers: BTreeMap<String, f64>,
    text: BTreeMap<String, String>,
}

impl Entry {
    fn new(task: &str, n: usize, seconds: f64) -> Self {
        Entry {
            task: task.to_owned(),
            n,
            seconds,
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
        let mut s = format!(
            "{{\"task\": {:?}, \"n\": {}, \"seconds\": {}",
            self.task,
            self.n,
            num(self.seconds)
        );
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

fn read_lifetimes_params(path: &Path) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (lifetimes_side.py writes it before `compare run`)",
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

fn bg_entry(
    task: &str,
    n: usize,
    seconds: f64,
    g: &GroupedRfm,
    f: &Fitted<BetaGeoParams>,
    lt: Option<BetaGeoParams>,
) -> Entry {
    let p = f.params;
    let mut e = Entry::new(task, n, seconds)
        .num("r", p.r())
        .num("alpha", p.alpha())
        .num("a", p.a())
        .num("b", p.b())
        .num("groups", g.len() as f64)
        .num("log_likelihood", f.diagnostics.log_likelihood)
        .num("gradient_norm", f.diagnostics.gradient_norm)
        .num("converged", f64::from(u8::from(f.diagnostics.converged)))
        .txt("method", f.diagnostics.method.clone());
    if let Some(lt) = lt {
        // The same likelihood at lifetimes' estimate: which of the two is the better MLE.
        e = e.num("log_likelihood_at_lifetimes", log_likelihood_bgnbd(g, &lt));
    }
    e
}

fn run(dir: &Path, sizes: &[usize], tx: &[usize]) {
    let mut out: Vec<Entry> = Vec::new();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for &n in sizes {
        let lt = read_lifetimes_params(&dir.join(format!("lifetimes_params_{n}.txt")));
        let get = |k: &str| -> f64 { *lt.get(k).unwrap_or_else(|| panic!("no {k} in params")) };
        let bg = |prefix: &str| {
            BetaGeoParams::new(
                get(&format!("{prefix}_r")),
                get(&format!("{prefix}_alpha")),
                get(&format!("{prefix}_a")),
                get(&format!("{prefix}_b")),
            )
            .expect("lifetimes' parameters are in the domain")
        };
        let gg = GammaGammaParams::new(get("gg_p"), get("gg_q"), get("gg_v")).unwrap();

        // 1. BG/NBD on continuous-time summaries (grouping is part of custval's fit).
        let (rfm, money) = read_customers(&dir.join(format!("customers_{n}.csv")));
        let opts = FitOptions::default();
        let (s, (g, f), mem) = measured(|| {
            let g = GroupedRfm::build(&rfm, None).unwrap();
            let f = fit_bgnbd(&g, &opts).unwrap();
            (g, f)
        });
        out.push(bg_entry("fit_bgnbd", n, s, &g, &f, Some(bg("bg"))).num("peak_bytes", mem));
        eprintln!("custval {n}: fit continuous {s:.4} s");

        // 2. BG/NBD on day-resolution summaries.
        let (days, _) = read_customers(&dir.join(format!("customers_day_{n}.csv")));
        let (s, (g, f), mem) = measured(|| {
            let g = GroupedRfm::build(&days, None).unwrap();
            let f = fit_bgnbd(&g, &opts).unwrap();
            (g, f)
        });
        out.push(bg_entry("fit_bgnbd_day", n, s, &g, &f, Some(bg("day"))).num("peak_bytes", mem));
        eprintln!("custval {n}: fit day-resolution {s:.4} s");

        // Gamma-Gamma on the continuous customers (x >= 1 only, as lifetimes is given).
        let freq: Vec<u32> = rfm.iter().map(|c| c.frequency).collect();
        let (s, (data, f), mem) = measured(|| {
            let data = SpendData::build(&freq, &money).unwrap();
            let f = gamma_gamma::fit(&data, &opts).unwrap();
            (data, f)
        });
        out.push(
            Entry::new("fit_gamma_gamma", n, s)
                .num("peak_bytes", mem)
                .num("p", f.params.p())
                .num("q", f.params.q())
                .num("v", f.params.v())
                .num("log_likelihood", f.diagnostics.log_likelihood)
                .num(
                    "log_likelihood_at_lifetimes",
                    gamma_gamma::log_likelihood(&data, &gg),
                )
                .num("converged", f64::from(u8::from(f.diagnostics.converged))),
        );

        // 3. Scoring with lifetimes' parameters (continuous BG/NBD fit + Gamma-Gamma fit).
        let model = CustomerModel {
            unit: TimeUnit::Week,
            transaction: TransactionModel::bg_nbd(bg("bg")),
            spend: Some(gg),
        };
        let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
        let (s, scores, mem) =
            measured(|| model.score(&rfm, &money, TimeUnit::Week, &spec).unwrap());
        let clv: Vec<f64> = scores.clv.iter().map(|c| c.unwrap_or(f64::NAN)).collect();
        write_f64(
            &dir.join(format!("custval_expected_{n}.f64")),
            &scores.expected_purchases,
        );
        write_f64(
            &dir.join(format!("custval_palive_{n}.f64")),
            &scores.p_alive,
        );
        write_f64(&dir.join(format!("custval_clv_{n}.f64")), &clv);
        out.push(
            Entry::new("score", n, s)
                .num("horizon", scores.horizon)
                .num("peak_bytes", mem),
        );
        eprintln!("custval {n}: score {s:.4} s");

        // 5. k-means, k = 6, one k-means++ run, 100 iterations at most, on the matrix
        //    scikit-learn gets (the one segment() builds), then segment() as a whole.
        let (model, spec) = feature_model();
        let fscores = model.score(&rfm, &money, TimeUnit::Week, &spec).unwrap();
        let (features, scale) = kmeans_features(&rfm, &money);
        let sopts = SegmentOptions {
            k: 6,
            runs: 1,
            max_iterations: 100,
            tolerance: 1e-4,
            seed: 0,
            ..Default::default()
        };
        let d = scale.len();
        let x = ndarray::Array2::from_shape_vec((n, d), features).unwrap();
        let (s, km, mem) = measured(|| segments::kmeans_fit(&x, 6, &sopts).unwrap());
        out.push(
            Entry::new("kmeans", n, s)
                .num("peak_bytes", mem)
                .num("inertia", km.inertia)
                .num("iterations", km.iterations as f64)
                .num("k", km.centroids.nrows() as f64),
        );
        eprintln!(
            "custval {n}: k-means {s:.4} s ({} iterations)",
            km.iterations
        );

        // segment() also builds and standardizes the features, orders and names the
        // segments, and computes tiers and RFM quintiles; all of that is inside this one.
        let (s, seg, mem) = measured(|| {
            segments::segment(
                &rfm,
                &money,
                &fscores,
                UnitConversion::identity(TimeUnit::Week),
                spec,
                &sopts,
            )
            .unwrap()
        });
        // The matrix given to scikit-learn must be the one segment() clustered.
        let scaler = &seg.model.scaler;
        let scale_diff = scale
            .iter()
            .zip(scaler.mean.iter().zip(&scaler.std))
            .map(|((m1, s1), (m2, s2))| rel(*m1, *m2).max(rel(*s1, *s2)))
            .fold(0.0, f64::max);
        out.push(
            Entry::new("segment", n, s)
                .num("peak_bytes", mem)
                .num("inertia", seg.model.inertia)
                .num("k", seg.model.centroids.len() as f64)
                .num("scaler_max_rel_diff", scale_diff),
        );
        eprintln!("custval {n}: segment {s:.4} s");
    }

    // 4. Summaries of transaction logs, reading the file included.
    for &rows in tx {
        let path = dir.join(format!("transactions_{rows}.csv"));
        let config = SummaryConfig {
            unit: TimeUnit::Week,
            observation_end: Day::from_ymd(2026, 1, 1).unwrap(),
            calibration_end: None,
            policy: RowPolicy::Strict,
        };
        let (s, summary, mem) = measured(|| {
            let file = std::fs::File::open(&path).unwrap();
            summarize_csv(file, &CsvOptions::default(), config).unwrap()
        });
        let t = &summary.table;
        let mut w = BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(dir.join(format!("custval_summary_{rows}.csv"))).unwrap(),
        );
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
        out.push(
            Entry::new("summarize_csv", rows, s)
                .num("peak_bytes", mem)
                .num("customers", t.len() as f64)
                .num("rows_used", summary.stats.rows_used as f64),
        );
        eprintln!("custval {rows} rows: summarize {s:.4} s");
    }

    let body: Vec<String> = out.iter().map(|e| format!("    {}", e.json())).collect();
    let json = format!(
        "{{\n  \"threads\": {threads},\n  \"results\": [\n{}\n  ]\n}}\n",
        body.join(",\n")
    );
    std::fs::write(dir.join("custval_results.json"), json).unwrap();
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}
