//! Batch scoring: every per-customer prediction the service returns, over columns, in
//! parallel.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bgnbd::{self, ExpectationTable, Variant};
use crate::clv::{ClvSpec, CustomerModel};
use crate::error::{ModelError, Result};
use crate::params::BetaGeoParams;
use crate::rfm::Rfm;
use crate::transaction::TransactionModel;
use crate::units::TimeUnit;

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

/// Per-batch precomputation: for the beta-geometric models, the per-frequency series
/// coefficients of E[X(t)] (see [`crate::bgnbd`]).
enum Prepared {
    BetaGeo {
        p: BetaGeoParams,
        variant: Variant,
        table: ExpectationTable,
        /// ln(a / (b + k − 1)) per frequency.
        log_drop: Vec<f64>,
    },
    Pareto,
}

impl CustomerModel {
    fn prepare(&self, rfm: &[Rfm], factor: f64, horizons: &[f64]) -> Prepared {
        let (p, variant) = match self.transaction {
            TransactionModel::BgNbd(p) => (p, Variant::Classic),
            TransactionModel::MbgNbd(p) => (p, Variant::Modified),
            TransactionModel::ParetoNbd(_) => return Prepared::Pareto,
        };
        let max_x = rfm.iter().map(|c| c.frequency).max().unwrap_or(0);
        let min_age = rfm
            .iter()
            .map(|c| c.age * factor)
            .fold(f64::INFINITY, f64::min)
            .max(0.0);
        let t_max = horizons.iter().copied().fold(0.0, f64::max);
        let z_max = if min_age.is_finite() {
            t_max / (p.alpha + min_age + t_max)
        } else {
            0.0
        };
        Prepared::BetaGeo {
            p,
            variant,
            table: bgnbd::expectation_table(&p, variant, max_x, z_max),
            log_drop: (0..=max_x)
                .map(|x| bgnbd::log_drop_odds(&p, variant, x))
                .collect(),
        }
    }

    /// Scores one customer (summary in the model's unit) with a prepared batch table.
    fn score_prepared(
        &self,
        prepared: &Prepared,
        c: &Rfm,
        monetary_value: f64,
        horizon: f64,
        schedule: &[(f64, f64)],
    ) -> Result<CustomerScore> {
        let expected_spend = self
            .spend
            .and_then(|g| g.expected_spend(c.frequency, monetary_value));
        match prepared {
            Prepared::BetaGeo {
                p,
                variant,
                table,
                log_drop,
            } => {
                let p_alive = bgnbd::p_alive_with(p, *variant, c, log_drop[c.frequency as usize]);
                let alpha_t = p.alpha + c.age;
                let mut at_horizon = None;
                let clv = expected_spend.map(|s| {
                    let (mut prev, mut total) = (0.0, 0.0);
                    let mut e = [0.0; 16];
                    let mut t = [0.0; 16];
                    for part in schedule.chunks(16) {
                        for (tj, sj) in t.iter_mut().zip(part) {
                            *tj = sj.0;
                        }
                        table.expected_many(
                            c.frequency,
                            alpha_t,
                            &t[..part.len()],
                            &mut e[..part.len()],
                        );
                        for (ej, &(tj, factor)) in e.iter().zip(part) {
                            let ej = p_alive * ej;
                            total += (ej - prev) * factor;
                            prev = ej;
                            if tj == horizon {
                                at_horizon = Some(ej);
                            }
                        }
                    }
                    s * total
                });
                let expected_purchases = at_horizon
                    .unwrap_or_else(|| p_alive * table.expected(c.frequency, alpha_t, horizon));
                Ok(CustomerScore {
                    expected_purchases,
                    p_alive,
                    // P(alive) · P(≥1 purchase | alive) = P(alive) · (1 − (α'/(α'+t))^(r+x)).
                    propensity: p_alive
                        * -((p.r + c.frequency as f64) * -(horizon / alpha_t).ln_1p()).exp_m1(),
                    expected_spend,
                    clv,
                })
            }
            Prepared::Pareto => {
                let tm = &self.transaction;
                let clv = match expected_spend {
                    Some(s) => Some(s * self.discounted_purchases(c, schedule)?),
                    None => None,
                };
                Ok(CustomerScore {
                    expected_purchases: tm.expected_purchases(c, horizon)?,
                    p_alive: tm.p_alive(c)?,
                    propensity: tm.propensity(c, horizon)?,
                    expected_spend,
                    clv,
                })
            }
        }
    }

    /// Scores one customer whose summary is already in the model's unit.
    pub fn score_one(&self, c: &Rfm, monetary_value: f64, spec: &ClvSpec) -> Result<CustomerScore> {
        spec.validate()?;
        c.validate()?;
        let schedule = spec.schedule(self.unit);
        let horizon = spec.horizon.in_unit(self.unit);
        let prepared = self.prepare(std::slice::from_ref(c), 1.0, &[horizon]);
        self.score_prepared(&prepared, c, monetary_value, horizon, &schedule)
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
            expected_spend: vec![None; n],
            clv: vec![None; n],
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
                        .score_prepared(&prepared, &c, monetary_value[i], horizon, &schedule)
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
