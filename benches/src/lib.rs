//! Shared inputs of the benchmarks: seeded simulated customers at the sizes we report.
#![forbid(unsafe_code)]

use custval_model::simulate::{SimulationSpec, simulate_summaries};
use custval_model::{
    BetaGeoParams, CustomerTable, GammaGammaParams, ParetoNbdParams, Rfm, TransactionModel,
};

/// BG/NBD parameters near the CDNOW estimates (weeks): the benches' customers and models.
pub fn cdnow_bgnbd() -> BetaGeoParams {
    BetaGeoParams::published_cdnow()
}

/// Pareto/NBD parameters of the CDNOW estimates (weeks).
pub fn cdnow_pareto() -> ParetoNbdParams {
    ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).expect("published estimates")
}

/// Gamma-Gamma spend parameters published for CDNOW.
pub fn cdnow_spend() -> GammaGammaParams {
    GammaGammaParams::published_cdnow()
}

/// CDNOW-like BG/NBD customers with Gamma-Gamma spend, in weeks: a 52-week window with
/// births spread over the first 26 weeks. Times are continuous (every row distinct).
pub fn simulated_customers(n: usize, seed: u64) -> CustomerTable {
    match simulate_summaries(&SimulationSpec::cdnow_like(n, seed, 52.0)) {
        Ok(sim) => sim.table,
        Err(e) => panic!("simulation failed: {e}"),
    }
}

/// Customers who never drop out, in weeks: Pareto/NBD purchases at CDNOW's rates with
/// lifetimes of s/β = 0.5/1e6 per week (2 million weeks on average), the shape of retail
/// data whose fits run to s → 0, β → ∞. Same window and births as [`simulated_customers`].
pub fn no_dropout_customers(n: usize, seed: u64) -> CustomerTable {
    let process = ParetoNbdParams::new(0.553, 10.578, 0.5, 1e6).expect("valid parameters");
    let spec = SimulationSpec {
        process: TransactionModel::pareto_nbd(process),
        ..SimulationSpec::cdnow_like(n, seed, 52.0)
    };
    match simulate_summaries(&spec) {
        Ok(sim) => sim.table,
        Err(e) => panic!("simulation failed: {e}"),
    }
}

/// The same customers as day-resolution logs would give them: times floored to whole days
/// (in weeks), so identical (x, t_x, T) rows repeat and group.
pub fn day_resolution(rfm: &[Rfm]) -> Vec<Rfm> {
    let floor_day = |w: f64| (w * 7.0).floor() / 7.0;
    rfm.iter()
        .map(|c| {
            let age = floor_day(c.age);
            Rfm {
                frequency: c.frequency,
                recency: floor_day(c.recency).min(age),
                age,
            }
        })
        .collect()
}

/// A `customer_id,date,amount` transaction log of about `rows` rows, sorted by date (as
/// exported logs usually are, so consecutive rows hit random customers), written once to
/// `target/bench-data/` and reused. Returns its path.
pub fn transaction_csv(rows: usize) -> std::path::PathBuf {
    use std::io::Write;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let path = dir.join(format!("transactions_{rows}.csv"));
    if path.exists() {
        return path;
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    // About 10 purchases per customer over two years.
    let customers = (rows / 10).max(1);
    let spec = SimulationSpec {
        customers,
        seed: 42,
        process: TransactionModel::bg_nbd(
            BetaGeoParams::new(4.0, 40.0, 1.0, 30.0).expect("in the domain"),
        ),
        spend: Some(cdnow_spend()),
        calibration_length: 104.0,
        birth_window: 52.0,
        holdout_length: 0.0,
    };
    let mut log: Vec<(u32, u32, f32)> = Vec::with_capacity(rows + rows / 4);
    let sink = |t: custval_model::simulate::SimulatedTransaction| {
        log.push(((t.time * 7.0) as u32, t.customer as u32, t.amount as f32));
    };
    if let Err(e) = custval_model::simulate::simulate_transactions(&spec, sink) {
        panic!("simulation failed: {e}");
    }
    log.sort_unstable_by_key(|r| (r.0, r.1));
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let start = custval_model::data::summary::Day::from_ymd(2024, 1, 1).map_or(0, |d| d.0);
    let write = |w: &mut std::io::BufWriter<std::fs::File>| -> std::io::Result<()> {
        writeln!(w, "customer_id,date,amount")?;
        for (day, customer, amount) in &log {
            let (y, m, d) = custval_model::data::summary::Day(start + *day as i32).to_ymd();
            writeln!(w, "C{customer:07},{y:04}-{m:02}-{d:02},{amount:.2}")?;
        }
        w.flush()
    };
    if let Err(e) = write(&mut w).and_then(|_| std::fs::rename(&tmp, &path)) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

/// The static-covariate benches' customers (issue 16): BG/NBD (r 0.8, α₀ 6, a₀ 0.7, b₀ 2.5)
/// with a binary `web` (40 %) and a standard normal `size` covariate on both processes
/// (γ purchase (0.5, 0.3), γ lifetime (−0.4, 0.25)), a 78-week window with births over the
/// first 26 weeks; every customer distinct.
#[derive(Debug)]
pub struct CovariateCustomers {
    /// The schema of both processes' covariates.
    pub schema: custval_model::models::covariates::CovariateSchema,
    /// The model the customers were drawn from.
    pub truth: custval_model::models::covariates::BetaGeoCovariates,
    pub rfm: Vec<Rfm>,
    /// The covariates, encoded by `schema`.
    pub encoded: custval_model::models::covariates::CovariateMatrix,
}

/// `n` seeded [`CovariateCustomers`].
pub fn covariate_customers(n: usize) -> CovariateCustomers {
    use custval_model::models::covariates::{
        BetaGeoCovariates, CovariateDistribution, CovariateSchema, CovariateSimulationSpec,
        CovariateValues, RawCovariates, SchemaSpec, simulate_covariate_customers,
    };
    let columns = ["web", "size"];
    let mut raw = RawCovariates::new(1);
    for name in columns {
        raw = raw
            .with(name, CovariateValues::Numeric(vec![Some(0.0)]))
            .expect("a column of one value");
    }
    let spec = SchemaSpec {
        columns: columns.iter().map(|s| s.to_string()).collect(),
        ..SchemaSpec::default()
    };
    let schema = CovariateSchema::learn(&raw, &spec).expect("a numeric schema");
    let truth = BetaGeoCovariates::new(
        "bgnbd",
        BetaGeoParams::new(0.8, 6.0, 0.7, 2.5).expect("valid parameters"),
        schema.clone(),
        schema.clone(),
        vec![0.5, 0.3],
        vec![-0.4, 0.25],
    )
    .expect("coefficients that match the schema");
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
    .expect("a valid simulation");
    let encoded = schema
        .encode(&sim.covariates)
        .expect("the schema's columns");
    CovariateCustomers {
        schema,
        truth,
        rfm: sim.rfm,
        encoded,
    }
}
