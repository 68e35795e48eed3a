//! Batch scoring for the beta-geometric family: the per-frequency series coefficients of
//! E[X(t)] and the dropout odds are tabulated once per batch (see [`super::expectation`]),
//! then each customer pays a few logarithms and short polynomials, the propensity four
//! customers at a time in vector lanes.

use rayon::prelude::*;
use wide::f64x4;

use super::Variant;
use super::expectation::{ExpectationTable, expectation_table};
use super::predict::{log_drop_odds, p_alive_with};
use crate::data::rfm::Rfm;
use crate::error::Result;
use crate::models::family::{BatchScorer, BatchShape, ChunkColumns, ClvColumns};
use crate::models::params::BetaGeoParams;
use crate::numerics::lanes;

/// Largest frequency with per-frequency tables in a batch.
const TABLE_MAX_FREQUENCY: u32 = 1 << 14;

/// A prepared batch: the expectation table and ln(a / (b + k − 1)) per frequency that
/// occurs in the batch (up to [`TABLE_MAX_FREQUENCY`]).
pub(crate) struct BetaGeoBatch {
    p: BetaGeoParams,
    variant: Variant,
    table: ExpectationTable,
    log_drop: Vec<Option<f64>>,
}

impl BetaGeoBatch {
    pub(crate) fn prepare(p: BetaGeoParams, variant: Variant, batch: &BatchShape<'_>) -> Self {
        let (rfm, factor) = (batch.rfm, batch.factor);
        // One parallel scan of the batch: customers per frequency (each frequency's tables
        // are worth building only for enough of them) and the youngest age. Frequencies up
        // to `table_cap` are counted and get tables (dense, indexed by x); larger ones are
        // computed row by row, so one customer with x = 4e9 costs one row, not 4e9 tables.
        // The dense arrays cost ~100 ns per frequency: bounded by the batch size too.
        let table_cap =
            TABLE_MAX_FREQUENCY.min(u32::try_from(rfm.len().max(1024)).unwrap_or(u32::MAX));
        let empty = || (vec![0usize; table_cap as usize + 1], f64::INFINITY);
        let (mut rows_by_x, min_age) = rfm
            .par_chunks(64 * 1024)
            .map(|chunk| {
                let (mut n, mut min_age) = empty();
                for c in chunk {
                    if let Some(n) = n.get_mut(c.frequency as usize) {
                        *n += 1;
                    }
                    min_age = min_age.min(c.age * factor);
                }
                (n, min_age)
            })
            .reduce(empty, |(mut a, age_a), (b, age_b)| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                (a, age_a.min(age_b))
            });
        let max_x = rows_by_x.iter().rposition(|&n| n > 0).unwrap_or(0);
        rows_by_x.truncate(max_x + 1);
        let (max_x, min_age) = (max_x as u32, min_age.max(0.0));
        let t_max = batch.horizons.iter().copied().fold(0.0, f64::max);
        let z_max = if min_age.is_finite() {
            t_max / (p.alpha + min_age + t_max)
        } else {
            0.0
        };
        BetaGeoBatch {
            p,
            variant,
            table: expectation_table(&p, variant, max_x, z_max, &rows_by_x),
            log_drop: (0..=max_x)
                .map(|x| (rows_by_x[x as usize] > 0).then(|| log_drop_odds(&p, variant, x)))
                .collect(),
        }
    }
}

impl BatchScorer for BetaGeoBatch {
    fn score_chunk(
        &self,
        rfm: &[Rfm],
        horizon: f64,
        schedule: &[(f64, f64)],
        _first: usize,
        mut out: ChunkColumns<'_>,
    ) -> Result<()> {
        let ts: Vec<f64> = schedule.iter().map(|s| s.0).collect();
        // The horizon is normally the schedule's last period end: then E[X] comes out of
        // the schedule's lanes.
        let horizon_in_schedule = ts.last() == Some(&horizon);
        let mut e = vec![0.0; ts.len()];
        let p = &self.p;
        for (k, c) in rfm.iter().enumerate() {
            let x = c.frequency;
            let log_drop = match self.log_drop.get(x as usize) {
                Some(&Some(d)) => d,
                _ => log_drop_odds(p, self.variant, x),
            };
            let p_alive = p_alive_with(p, self.variant, c, log_drop);
            let alpha_t = p.alpha + c.age;
            self.table.expected_many(x, alpha_t, &ts, &mut e)?;
            let e_h = match (horizon_in_schedule, e.last()) {
                (true, Some(&e_h)) => e_h,
                _ => self.table.expected(x, alpha_t, horizon)?,
            };
            if let Some(ClvColumns {
                expected_spend,
                clv,
            }) = out.clv.as_mut()
                && let Some(spend) = expected_spend[k]
            {
                let (mut prev, mut total) = (0.0, 0.0);
                for (&ej, &(_, factor)) in e.iter().zip(schedule) {
                    let ej = p_alive * ej;
                    total += (ej - prev) * factor;
                    prev = ej;
                }
                clv[k] = Some(spend * total);
            }
            out.expected_purchases[k] = p_alive * e_h;
            out.p_alive[k] = p_alive;
            // t/α' for the propensity, finished below four customers at a time.
            out.propensity[k] = horizon / alpha_t;
        }
        // P(alive) · P(≥1 purchase | alive) = P(alive) · (1 − (1 + t/α')^−(r+x)).
        let quads = out
            .propensity
            .chunks_mut(4)
            .zip(out.p_alive.chunks(4))
            .zip(rfm.chunks(4));
        for ((pr, pa), c) in quads {
            // Element by element: a slice copy of variable length is a memcpy call.
            let (mut u, mut rx) = ([0.0; 4], [0.0; 4]);
            for (((uj, rxj), &prj), c) in u.iter_mut().zip(&mut rx).zip(&*pr).zip(c) {
                *uj = prj;
                *rxj = p.r + c.frequency as f64;
            }
            let u = f64x4::new(u);
            let [ln_1pu] = lanes::ln_1p_with_inverse([u], [f64x4::ONE / (f64x4::ONE + u)]);
            let [em1] = lanes::exp_m1([-f64x4::new(rx) * ln_1pu]);
            for ((prj, &paj), em1j) in pr.iter_mut().zip(pa).zip(em1.to_array()) {
                *prj = paj * (-em1j).clamp(0.0, 1.0);
            }
        }
        Ok(())
    }
}
