//! Batch scoring: every per-customer prediction the service returns, over columns, in
//! parallel.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clv::{ClvSpec, CustomerModel};
use crate::error::{ModelError, Result};
use crate::rfm::Rfm;
use crate::units::TimeUnit;

/// Per-customer predictions. Times are in `unit`; `expected_spend` and `clv` are `None`
/// where they are undefined (no spend model, or a Gamma-Gamma fit with q ≤ 1 for a
/// customer without enough repeat purchases) — never NaN, never negative.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub unit: Option<TimeUnit>,
    /// Horizon of expected_purchases, propensity, p_alive_at_horizon and clv, in `unit`.
    pub horizon: f64,
    pub expected_purchases: Vec<f64>,
    pub p_alive: Vec<f64>,
    pub p_alive_at_horizon: Vec<f64>,
    pub propensity: Vec<f64>,
    pub expected_spend: Vec<Option<f64>>,
    pub clv: Vec<Option<f64>>,
}

/// One customer's row of [`Scores`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    pub expected_purchases: f64,
    pub p_alive: f64,
    pub p_alive_at_horizon: f64,
    pub propensity: f64,
    pub expected_spend: Option<f64>,
    pub clv: Option<f64>,
}

impl CustomerModel {
    /// Scores one customer whose summary is already in the model's unit.
    pub fn score_one(&self, c: &Rfm, monetary_value: f64, spec: &ClvSpec, schedule: &[(f64, f64)]) -> Result<CustomerScore> {
        let t = spec.horizon.in_unit(self.unit);
        let tm = &self.transaction;
        let expected_spend = self.spend.and_then(|g| g.expected_spend(c.frequency, monetary_value));
        let clv = match expected_spend {
            Some(s) => Some(s * self.discounted_purchases(c, schedule)?),
            None => None,
        };
        Ok(CustomerScore {
            expected_purchases: tm.expected_purchases(c, t)?,
            p_alive: tm.p_alive(c)?,
            p_alive_at_horizon: tm.p_alive_at(c, t)?,
            propensity: tm.propensity(c, t)?,
            expected_spend,
            clv,
        })
    }

    /// Scores a batch. `input_unit` is the unit of the summaries' recency and age; they are
    /// converted to the model's unit if it differs. Errors name the customer index.
    pub fn score(&self, rfm: &[Rfm], monetary_value: &[f64], input_unit: TimeUnit, spec: &ClvSpec) -> Result<Scores> {
        spec.validate()?;
        if monetary_value.len() != rfm.len() {
            return Err(ModelError::invalid(
                "monetary_value",
                format!("expected {} values, got {}", rfm.len(), monetary_value.len()),
            ));
        }
        let schedule = spec.schedule(self.unit);
        let factor = input_unit.convert(1.0, self.unit);
        let rows: Vec<CustomerScore> = rfm
            .par_iter()
            .zip(monetary_value.par_iter())
            .enumerate()
            .with_min_len(1024)
            .map(|(i, (c, &m))| {
                let within = |e: ModelError| e.within(&format!("customers[{i}]"));
                c.validate().map_err(within)?;
                let c = if factor == 1.0 {
                    *c
                } else {
                    Rfm { frequency: c.frequency, recency: c.recency * factor, age: c.age * factor }
                };
                self.score_one(&c, m, spec, &schedule).map_err(within)
            })
            .collect::<Result<_>>()?;
        let mut out = Scores {
            unit: Some(self.unit),
            horizon: spec.horizon.in_unit(self.unit),
            expected_purchases: Vec::with_capacity(rows.len()),
            p_alive: Vec::with_capacity(rows.len()),
            p_alive_at_horizon: Vec::with_capacity(rows.len()),
            propensity: Vec::with_capacity(rows.len()),
            expected_spend: Vec::with_capacity(rows.len()),
            clv: Vec::with_capacity(rows.len()),
        };
        for r in rows {
            out.expected_purchases.push(r.expected_purchases);
            out.p_alive.push(r.p_alive);
            out.p_alive_at_horizon.push(r.p_alive_at_horizon);
            out.propensity.push(r.propensity);
            out.expected_spend.push(r.expected_spend);
            out.clv.push(r.clv);
        }
        Ok(out)
    }
}
