//! Shared inputs of the benchmarks: seeded simulated customers at the sizes we report.
#![forbid(unsafe_code)]

use custval_model::simulate::{SimulationSpec, TransactionProcess, simulate_summaries};
use custval_model::{BetaGeoParams, CustomerTable, GammaGammaParams, Rfm};

/// CDNOW-like BG/NBD customers with Gamma-Gamma spend, in weeks: a 52-week window with
/// births spread over the first 26 weeks. Times are continuous (every row distinct).
pub fn simulated_customers(n: usize, seed: u64) -> CustomerTable {
    let spec = SimulationSpec {
        customers: n,
        seed,
        process: TransactionProcess::BgNbd(BetaGeoParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        }),
        spend: Some(GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        }),
        calibration_length: 52.0,
        birth_window: 26.0,
        holdout_length: 0.0,
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
