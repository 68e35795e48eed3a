//! One-shot figures of the static-covariate BG/NBD fit (issue 16): wall time of grouping
//! and fitting, and the load-robust counts (Newton iterations, likelihood evaluations),
//! for N customers with a binary and a continuous covariate on both processes.
//! `cargo run --release -p custval-benches --example covariates -- 1000000`
#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use custval_model::BetaGeoParams;
use custval_model::models::covariates::{
    BetaGeoCovariates, CovariateData, CovariateDistribution, CovariateFitOptions, CovariateSchema,
    CovariateSimulationSpec, CovariateValues, RawCovariates, SchemaSpec, fit_bgnbd_covariates,
    simulate_covariate_customers,
};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let columns = ["web", "size"];
    let mut raw = RawCovariates::new(1);
    for name in columns {
        raw = raw
            .with(name, CovariateValues::Numeric(vec![Some(0.0)]))
            .unwrap();
    }
    let spec = SchemaSpec {
        columns: columns.iter().map(|s| s.to_string()).collect(),
        ..SchemaSpec::default()
    };
    let schema = CovariateSchema::learn(&raw, &spec).unwrap();
    let truth = BetaGeoCovariates::new(
        "bgnbd",
        BetaGeoParams::new(0.8, 6.0, 0.7, 2.5).unwrap(),
        schema.clone(),
        schema.clone(),
        vec![0.5, 0.3],
        vec![-0.4, 0.25],
    )
    .unwrap();
    let sim = simulate_covariate_customers(&CovariateSimulationSpec {
        customers: n,
        seed: 5,
        model: truth.clone(),
        columns: vec![
            ("web".into(), CovariateDistribution::Bernoulli { p: 0.4 }),
            (
                "size".into(),
                CovariateDistribution::Normal { mean: 0.0, sd: 1.0 },
            ),
        ],
        calibration_length: 78.0,
        birth_window: 26.0,
        holdout_length: 0.0,
    })
    .unwrap();
    let encoded = schema.encode(&sim.covariates).unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        let data = CovariateData::build(&sim.rfm, None, &encoded, &encoded).unwrap();
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
    let scores = truth.score(&sim.rfm, &encoded, &encoded, 52.0).unwrap();
    println!("score {} customers: {:?}", scores.len(), t.elapsed());
}
