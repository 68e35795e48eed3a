//! One-shot timings of the headline operations (criterion gives the real figures).
#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use custval_benches::{cdnow_bgnbd, cdnow_spend, day_resolution, simulated_customers};
use custval_model::models::beta_geo::{fit_bgnbd, log_likelihood_bgnbd};
use custval_model::models::pareto_nbd::fit_pareto_nbd;
use custval_model::*;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    if std::env::args().nth(2).as_deref() == Some("summarize") {
        // Summarizing the transaction CSV of `n` rows, as the comparison harness does.
        use custval_model::data::summary::{
            CsvOptions, Day, RowPolicy, SummaryConfig, summarize_csv,
        };
        let path = custval_benches::transaction_csv(n);
        let config = SummaryConfig {
            unit: TimeUnit::Week,
            observation_end: Day::from_ymd(2026, 1, 1).unwrap(),
            calibration_end: None,
            policy: RowPolicy::Strict,
        };
        for _ in 0..5 {
            let t = Instant::now();
            let file = std::fs::File::open(&path).unwrap();
            let out = summarize_csv(file, &CsvOptions::default(), config).unwrap();
            println!(
                "summarize: {:?} ({} customers)",
                t.elapsed(),
                out.table.len()
            );
        }
        return;
    }
    let t = Instant::now();
    let table = simulated_customers(n, 1);
    println!("simulate {n}: {:?}", t.elapsed());
    if std::env::args().nth(2).as_deref() == Some("dayfit") {
        let days = day_resolution(&table.rfm);
        for _ in 0..5 {
            let t = Instant::now();
            let g = GroupedRfm::build(&days, None).unwrap();
            let grouped = t.elapsed();
            let f = fit_bgnbd(&g, &FitOptions::default()).unwrap();
            println!(
                "day fit: {:?} (grouping {grouped:?}, evals {})",
                t.elapsed(),
                f.diagnostics.evaluations
            );
        }
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("kmeans") {
        // k-means alone on a standardized N × 6 matrix (k = 6, one run, <= 100 iterations).
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = table.len();
        let x = ndarray::Array2::from_shape_fn((n, 6), |(i, j)| {
            let centre = ((i % 6) as f64 - 2.5) * if j == i % 6 { 1.5 } else { 0.2 };
            centre + rng.r#gen::<f64>() - 0.5
        });
        let opts = decide::segments::SegmentOptions {
            k: 6,
            runs: 1,
            max_iterations: 100,
            tolerance: 1e-4,
            seed: 0,
            ..Default::default()
        };
        let t = Instant::now();
        let fit = decide::segments::kmeans_fit(&x, 6, &opts).unwrap();
        println!(
            "kmeans: {:?}, {} iterations, inertia {:.6}",
            t.elapsed(),
            fit.iterations,
            fit.inertia
        );
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("segment") {
        let model = CustomerModel {
            unit: TimeUnit::Week,
            transaction: TransactionModel::bg_nbd(cdnow_bgnbd()),
            spend: Some(cdnow_spend()),
        };
        let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
        let s = model
            .score(&table.rfm, &table.monetary_value, TimeUnit::Week, &spec)
            .unwrap();
        for k in [0, 6] {
            let opts = decide::segments::SegmentOptions {
                k,
                runs: 1,
                max_iterations: 50,
                ..Default::default()
            };
            let t = Instant::now();
            let seg = decide::segments::segment(
                &table.rfm,
                &table.monetary_value,
                &s,
                UnitConversion::identity(TimeUnit::Week),
                spec,
                &opts,
            )
            .unwrap();
            println!(
                "segment k={k}: {:?} -> k={} {:?}",
                t.elapsed(),
                seg.model.centroids.len(),
                seg.model
                    .profiles
                    .iter()
                    .map(|p| (p.name.clone(), p.customers))
                    .collect::<Vec<_>>()
            );
            for p in &seg.model.profiles {
                let c: Vec<String> = p
                    .centroid
                    .iter()
                    .map(|(f, v)| format!("{}={v:.3}", f.as_str()))
                    .collect();
                println!(
                    "  {} {:.3} value share {:.3}: {}",
                    p.name,
                    p.customer_share,
                    p.value_share,
                    c.join(" ")
                );
            }
        }
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("gg") {
        // Gamma-Gamma: grouping the spend data, then the fit.
        use custval_model::models::gamma_gamma::{self, SpendData};
        let freq: Vec<u32> = table.rfm.iter().map(|c| c.frequency).collect();
        for _ in 0..5 {
            let t = Instant::now();
            let data = SpendData::build(&freq, &table.monetary_value).unwrap();
            let built = t.elapsed();
            let f = gamma_gamma::fit(&data, &FitOptions::default()).unwrap();
            println!(
                "gamma-gamma: {:?} (build {built:?}, {} groups, {} evaluations, {} iterations) {:?}",
                t.elapsed(),
                data.len(),
                f.diagnostics.evaluations,
                f.diagnostics.iterations,
                f.params
            );
        }
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("pareto") {
        // Pareto/NBD fit on continuous-time summaries.
        let g = GroupedRfm::build(&table.rfm, None).unwrap();
        let t = Instant::now();
        let f = fit_pareto_nbd(&g, &FitOptions::default()).unwrap();
        println!(
            "pareto fit: {:?} ({} groups, {} evaluations, {} iterations) {:?}",
            t.elapsed(),
            g.len(),
            f.diagnostics.evaluations,
            f.diagnostics.iterations,
            f.params
        );
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("score") {
        let model = CustomerModel {
            unit: TimeUnit::Week,
            transaction: TransactionModel::bg_nbd(cdnow_bgnbd()),
            spend: Some(cdnow_spend()),
        };
        let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
        let reps = std::env::var("REPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        for _ in 0..reps {
            let t = Instant::now();
            let s = model
                .score(&table.rfm, &table.monetary_value, TimeUnit::Week, &spec)
                .unwrap();
            println!("score: {:?} ({})", t.elapsed(), s.clv.len());
        }
        return;
    }
    let t = Instant::now();
    let g = GroupedRfm::build(&table.rfm, None).unwrap();
    println!("group: {:?} ({} groups)", t.elapsed(), g.len());
    eval_cost(&g);
    let t = Instant::now();
    let f = fit_bgnbd(&g, &FitOptions::default()).unwrap();
    println!(
        "fit continuous: {:?} {:?} iters {} evals {}",
        t.elapsed(),
        f.params,
        f.diagnostics.iterations,
        f.diagnostics.evaluations
    );
    let days = day_resolution(&table.rfm);
    eval_cost(&GroupedRfm::build(&days, None).unwrap());
    let t = Instant::now();
    let g = GroupedRfm::build(&days, None).unwrap();
    let f = fit_bgnbd(&g, &FitOptions::default()).unwrap();
    println!(
        "fit day-resolution: {:?} ({} groups) evals {} iters {} {} {:?}",
        t.elapsed(),
        g.len(),
        f.diagnostics.evaluations,
        f.diagnostics.iterations,
        f.diagnostics.method,
        f.diagnostics.warnings
    );
    let model = CustomerModel {
        unit: TimeUnit::Week,
        transaction: TransactionModel::bg_nbd(f.params),
        spend: Some(cdnow_spend()),
    };
    let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
    let t = Instant::now();
    let s = model
        .score(&table.rfm, &table.monetary_value, TimeUnit::Week, &spec)
        .unwrap();
    println!(
        "score: {:?} (sum clv {:.0})",
        t.elapsed(),
        s.clv.iter().flatten().sum::<f64>()
    );
}

#[allow(dead_code)]
fn eval_cost(g: &GroupedRfm) {
    let p = cdnow_bgnbd();
    let t = Instant::now();
    let mut s = 0.0;
    for _ in 0..20 {
        s += log_likelihood_bgnbd(g, &p);
    }
    println!(
        "ll eval on {} groups: {:?} per eval ({s:.1})",
        g.len(),
        t.elapsed() / 20
    );
}
