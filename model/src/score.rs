//! Batch scoring: every per-customer prediction the service returns, over columns, in
//! parallel.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use wide::f64x4;

use crate::bgnbd::{self, ExpectationTable, Variant};
use crate::clv::{ClvSpec, CustomerModel};
use crate::data::rfm::Rfm;
use crate::data::units::TimeUnit;
use crate::error::{ModelError, Result};
use crate::numerics::lanes;
use crate::params::{BetaGeoParams, ParetoNbdParams};
use crate::pareto_nbd;
use crate::transaction::TransactionModel;

/// Per-customer predictions. Times are in `unit`; `expected_spend` and `clv` are `None`
/// where they are undefined (no spend model, or a Gamma-Gamma fit with q ≤ 1 for a
/// customer without enough repeat purchases) — never NaN, never negative.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub unit: Option<TimeUnit>,
    /// Horizon of expected_purchases, propensity and clv, in `unit`.
    pub horizon: f64,
    pub expected_purchases: Vec<f64>,
    pub p_alive: Vec<f64>,
    pub propensity: Vec<f64>,
    pub expected_spend: Vec<Option<f64>>,
    pub clv: Vec<Option<f64>>,
}

/// One customer's row of [`Scores`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    pub expected_purchases: f64,
    pub p_alive: f64,
    pub propensity: f64,
    pub expected_spend: Option<f64>,
    pub clv: Option<f64>,
}

/// Largest frequency with per-frequency tables in a batch.
const TABLE_MAX_FREQUENCY: u32 = 1 << 14;

/// Per-batch precomputation: for the beta-geometric models, the per-frequency series
/// coefficients of E[X(t)] (see [`crate::bgnbd`]).
enum Prepared {
    BetaGeo(BetaGeoBatch),
    Pareto(ParetoNbdParams),
}

struct BetaGeoBatch {
    p: BetaGeoParams,
    variant: Variant,
    table: ExpectationTable,
    /// ln(a / (b + k − 1)) per frequency that occurs in the batch (up to
    /// [`TABLE_MAX_FREQUENCY`]).
    log_drop: Vec<Option<f64>>,
}

/// One chunk's slices of the output columns.
struct ColumnsMut<'a> {
    expected_purchases: &'a mut [f64],
    p_alive: &'a mut [f64],
    propensity: &'a mut [f64],
    expected_spend: &'a mut [Option<f64>],
    clv: &'a mut [Option<f64>],
}

impl CustomerModel {
    fn prepare(&self, rfm: &[Rfm], factor: f64, horizons: &[f64]) -> Prepared {
        let (p, variant) = match self.transaction {
            TransactionModel::BgNbd(p) => (p, Variant::Classic),
            TransactionModel::MbgNbd(p) => (p, Variant::Modified),
            TransactionModel::ParetoNbd(p) => return Prepared::Pareto(p),
        };
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
        let t_max = horizons.iter().copied().fold(0.0, f64::max);
        let z_max = if min_age.is_finite() {
            t_max / (p.alpha + min_age + t_max)
        } else {
            0.0
        };
        Prepared::BetaGeo(BetaGeoBatch {
            p,
            variant,
            table: bgnbd::expectation_table(&p, variant, max_x, z_max, &rows_by_x),
            log_drop: (0..=max_x)
                .map(|x| (rows_by_x[x as usize] > 0).then(|| bgnbd::log_drop_odds(&p, variant, x)))
                .collect(),
        })
    }

    /// Scores consecutive customers (`first` is the index of `rfm[0]`, for error messages)
    /// with a prepared beta-geometric batch. Summaries are in the input unit; `factor`
    /// converts them to the model's.
    #[allow(clippy::too_many_arguments)]
    fn score_beta_geo(
        &self,
        bg: &BetaGeoBatch,
        rfm: &[Rfm],
        monetary_value: &[f64],
        factor: f64,
        horizon: f64,
        schedule: &[(f64, f64)],
        cols: ColumnsMut<'_>,
        first: usize,
    ) -> Result<()> {
        let ts: Vec<f64> = schedule.iter().map(|s| s.0).collect();
        // The horizon is normally the schedule's last period end: then E[X] comes out of
        // the schedule's lanes.
        let horizon_in_schedule = ts.last() == Some(&horizon);
        let mut e = vec![0.0; ts.len()];
        let p = &bg.p;
        for (k, c) in rfm.iter().enumerate() {
            c.validate()
                .map_err(|err| err.within(&format!("customers[{}]", first + k)))?;
            let c = if factor == 1.0 {
                *c
            } else {
                Rfm {
                    frequency: c.frequency,
                    recency: c.recency * factor,
                    age: c.age * factor,
                }
            };
            let x = c.frequency;
            let expected_spend = self
                .spend
                .and_then(|g| g.expected_spend(x, monetary_value[k]));
            let log_drop = match bg.log_drop.get(x as usize) {
                Some(&Some(d)) => d,
                _ => bgnbd::log_drop_odds(p, bg.variant, x),
            };
            let p_alive = bgnbd::p_alive_with(p, bg.variant, &c, log_drop);
            let alpha_t = p.alpha + c.age;
            bg.table.expected_many(x, alpha_t, &ts, &mut e);
            let e_h = match (horizon_in_schedule, e.last()) {
                (true, Some(&e_h)) => e_h,
                _ => bg.table.expected(x, alpha_t, horizon),
            };
            cols.clv[k] = expected_spend.map(|s| {
                let (mut prev, mut total) = (0.0, 0.0);
                for (&ej, &(_, factor)) in e.iter().zip(schedule) {
                    let ej = p_alive * ej;
                    total += (ej - prev) * factor;
                    prev = ej;
                }
                s * total
            });
            cols.expected_purchases[k] = p_alive * e_h;
            cols.p_alive[k] = p_alive;
            // t/α' for the propensity, finished below four customers at a time.
            cols.propensity[k] = horizon / alpha_t;
            cols.expected_spend[k] = expected_spend;
        }
        // P(alive) · P(≥1 purchase | alive) = P(alive) · (1 − (1 + t/α')^−(r+x)).
        let quads = cols
            .propensity
            .chunks_mut(4)
            .zip(cols.p_alive.chunks(4))
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

    /// Scores one Pareto/NBD customer (summary in the model's unit).
    fn score_pareto(
        &self,
        p: &ParetoNbdParams,
        c: &Rfm,
        monetary_value: f64,
        horizon: f64,
        schedule: &[(f64, f64)],
    ) -> Result<CustomerScore> {
        let expected_spend = self
            .spend
            .and_then(|g| g.expected_spend(c.frequency, monetary_value));
        let s = pareto_nbd::score(p, c, horizon, schedule)?;
        Ok(CustomerScore {
            expected_purchases: s.expected_purchases,
            p_alive: s.p_alive,
            propensity: s.propensity,
            expected_spend,
            clv: expected_spend.map(|spend| spend * s.discounted_purchases),
        })
    }

    /// Scores one customer whose summary is already in the model's unit.
    pub fn score_one(&self, c: &Rfm, monetary_value: f64, spec: &ClvSpec) -> Result<CustomerScore> {
        spec.validate()?;
        c.validate()?;
        let schedule = spec.schedule(self.unit);
        let horizon = spec.horizon.in_unit(self.unit);
        match self.prepare(std::slice::from_ref(c), 1.0, &[horizon]) {
            Prepared::BetaGeo(bg) => {
                let (mut e, mut pa, mut pr) = ([0.0], [0.0], [0.0]);
                let (mut sp, mut cl) = ([None], [None]);
                let cols = ColumnsMut {
                    expected_purchases: &mut e,
                    p_alive: &mut pa,
                    propensity: &mut pr,
                    expected_spend: &mut sp,
                    clv: &mut cl,
                };
                let c = std::slice::from_ref(c);
                self.score_beta_geo(&bg, c, &[monetary_value], 1.0, horizon, &schedule, cols, 0)?;
                Ok(CustomerScore {
                    expected_purchases: e[0],
                    p_alive: pa[0],
                    propensity: pr[0],
                    expected_spend: sp[0],
                    clv: cl[0],
                })
            }
            Prepared::Pareto(p) => self.score_pareto(&p, c, monetary_value, horizon, &schedule),
        }
    }

    /// Scores a batch. `input_unit` is the unit of the summaries' recency and age; they are
    /// converted to the model's unit if it differs. Errors name the customer index.
    pub fn score(
        &self,
        rfm: &[Rfm],
        monetary_value: &[f64],
        input_unit: TimeUnit,
        spec: &ClvSpec,
    ) -> Result<Scores> {
        spec.validate()?;
        if monetary_value.len() != rfm.len() {
            return Err(ModelError::invalid(
                "monetary_value",
                format!(
                    "expected {} values, got {}",
                    rfm.len(),
                    monetary_value.len()
                ),
            ));
        }
        let schedule = spec.schedule(self.unit);
        let horizon = spec.horizon.in_unit(self.unit);
        let factor = input_unit.convert(1.0, self.unit);
        let horizons: Vec<f64> = schedule.iter().map(|s| s.0).chain([horizon]).collect();
        let prepared = self.prepare(rfm, factor, &horizons);
        let n = rfm.len();
        let mut out = Scores {
            unit: Some(self.unit),
            horizon,
            expected_purchases: vec![0.0; n],
            p_alive: vec![0.0; n],
            propensity: vec![0.0; n],
            // Filled in parallel: `vec![None; n]` writes 16 bytes per row on this thread
            // (the f64 columns are calloc'd, their pages touched by the workers).
            expected_spend: (0..n).into_par_iter().map(|_| None).collect(),
            clv: (0..n).into_par_iter().map(|_| None).collect(),
        };
        // Each chunk writes its slice of every column directly: no per-row structs.
        const CHUNK: usize = 2048;
        out.expected_purchases
            .par_chunks_mut(CHUNK)
            .zip(out.p_alive.par_chunks_mut(CHUNK))
            .zip(out.propensity.par_chunks_mut(CHUNK))
            .zip(out.expected_spend.par_chunks_mut(CHUNK))
            .zip(out.clv.par_chunks_mut(CHUNK))
            .enumerate()
            .try_for_each(|(chunk, ((((e, pa), pr), sp), cl))| {
                let start = chunk * CHUNK;
                let end = start + e.len();
                let pareto = match &prepared {
                    Prepared::Pareto(p) => p,
                    Prepared::BetaGeo(bg) => {
                        let cols = ColumnsMut {
                            expected_purchases: e,
                            p_alive: pa,
                            propensity: pr,
                            expected_spend: sp,
                            clv: cl,
                        };
                        let (rfm, money) = (&rfm[start..end], &monetary_value[start..end]);
                        return self.score_beta_geo(
                            bg, rfm, money, factor, horizon, &schedule, cols, start,
                        );
                    }
                };
                for k in 0..e.len() {
                    let i = start + k;
                    let within = |err: ModelError| err.within(&format!("customers[{i}]"));
                    let c = &rfm[i];
                    c.validate().map_err(within)?;
                    let c = if factor == 1.0 {
                        *c
                    } else {
                        Rfm {
                            frequency: c.frequency,
                            recency: c.recency * factor,
                            age: c.age * factor,
                        }
                    };
                    let s = self
                        .score_pareto(pareto, &c, monetary_value[i], horizon, &schedule)
                        .map_err(within)?;
                    e[k] = s.expected_purchases;
                    pa[k] = s.p_alive;
                    pr[k] = s.propensity;
                    sp[k] = s.expected_spend;
                    cl[k] = s.clv;
                }
                Ok::<(), ModelError>(())
            })?;
        Ok(out)
    }
}
