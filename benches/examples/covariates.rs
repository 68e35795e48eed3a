//! One-shot figures of the static-covariate BG/NBD fit (issue 16): wall time of grouping
//! and fitting, and the load-robust counts (Newton iterations, likelihood evaluations),
//! for N customers with a binary and a continuous covariate on both processes.
//! `cargo run --release -p custval-benches --example covariates -- 1000000`
#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use custval_model::models::covariates::{CovariateData, CovariateFitOptions, fit_bgnbd_covariates};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let custval_benches::CovariateCustomers {
        schema,
        truth,
        rfm,
        encoded,
    } = custval_benches::covariate_customers(n);
    for _ in 0..3 {
        let t = Instant::now();
        let data = CovariateData::build(&rfm, None, &encoded, &encoded).unwrap();
        let grouped = t.elapsed();
        let fit =
            fit_bgnbd_covariates(&data, &schema, &schema, &CovariateFitOptions::default()).unwrap();
        let d = &fit.diagnostics;
        println!(
            "n={n} groups={} grouping {:?} total {:?}: {} ({} iterations, {} evaluations, \
             converged {}) base {:?} purchase {:?} lifetime {:?}",
            data.len(),
            grouped,
            t.elapsed(),
            d.method,
            d.iterations,
            d.evaluations,
            d.converged,
            fit.params.base(),
            fit.params.purchase_coefficients(),
            fit.params.lifetime_coefficients()
        );
    }
    let t = Instant::now();
    let scores = truth.score(&rfm, &encoded, &encoded, 52.0).unwrap();
    println!("score {} customers: {:?}", scores.len(), t.elapsed());
}
