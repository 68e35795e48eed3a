//! The `fit_degenerate` bench's fits, each timed by the CPU time the process spent on it
//! as well as by the wall clock, with the fit's evaluation count: on the shared 2-core
//! machine the wall clock of a run swings by 2–3x with the other sessions' load, while the
//! CPU time the fit itself needed moves much less (Linux only: reads /proc/self/stat).
//! Run: `cargo run --release -p custval-benches --example fit_degenerate_cpu [REPEATS]`.
#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use custval_benches::{no_dropout_customers, simulated_customers};
use custval_model::models::{BG_NBD, MBG_NBD, PARETO_NBD};
use custval_model::{FitOptions, GroupedRfm, TransactionFamily, TransactionModel};
use std::time::{Duration, Instant};

/// User plus system CPU time of this process so far (all threads), in clock ticks of 10 ms.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime and stime are the
    // 12th and 13th of them.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn main() {
    let repeats: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("family        n      data        wall/fit  CPU/fit   evaluations  method");
    for n in [10_000, 100_000] {
        for (data, table) in [
            ("ordinary", simulated_customers(n, 3)),
            ("no_dropout", no_dropout_customers(n, 3)),
        ] {
            let grouped = GroupedRfm::build(&table.rfm, None).unwrap();
            for family in [
                &BG_NBD as &'static dyn TransactionFamily,
                &MBG_NBD,
                &PARETO_NBD,
            ] {
                let (wall, cpu) = (Instant::now(), cpu_time());
                let mut fitted = None;
                for _ in 0..repeats {
                    fitted = Some(
                        TransactionModel::fit(family, &grouped, &FitOptions::default()).unwrap(),
                    );
                }
                let (wall, cpu) = (wall.elapsed() / repeats, (cpu_time() - cpu) / repeats);
                let d = fitted.unwrap().diagnostics;
                println!(
                    "{:<12} {n:>7} {data:<11} {wall:>9.1?} {cpu:>9.1?} {:>6}       {}",
                    family.name(),
                    d.evaluations,
                    d.method
                );
            }
        }
    }
}
