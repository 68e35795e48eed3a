//! Batch scoring: every per-customer prediction the service returns, over columns, in
//! parallel chunks. The family prepares the batch once ([`crate::models::BatchScorer`]);
//! this module checks and converts the summaries and adds spend and CLV.

use std::borrow::Cow;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cancel::Cancel;
use crate::data::rfm::Rfm;
use crate::data::units::TimeUnit;
use crate::error::{ModelError, Result};
use crate::models::{BatchShape, ChunkColumns, ClvColumns};
use crate::predict::clv::{ClvSpec, CustomerModel};

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

impl CustomerModel {
    /// Scores one customer whose summary is already in the model's unit.
    pub fn score_one(&self, c: &Rfm, monetary_value: f64, spec: &ClvSpec) -> Result<CustomerScore> {
        c.validate()?;
        let scores = self.score(std::slice::from_ref(c), &[monetary_value], self.unit, spec)?;
        Ok(CustomerScore {
            expected_purchases: scores.expected_purchases[0],
            p_alive: scores.p_alive[0],
            propensity: scores.propensity[0],
            expected_spend: scores.expected_spend[0],
            clv: scores.clv[0],
        })
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
        self.score_until(rfm, monetary_value, input_unit, spec, &Cancel::never())
    }

    /// As [`CustomerModel::score`], checking `cancel` before each chunk of 2,048 customers:
    /// once it fires the batch stops with [`ModelError::Cancelled`].
    pub fn score_until(
        &self,
        rfm: &[Rfm],
        monetary_value: &[f64],
        input_unit: TimeUnit,
        spec: &ClvSpec,
        cancel: &Cancel,
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
        let transaction = &self.transaction;
        let shape = BatchShape {
            rfm,
            factor,
            horizons: &horizons,
        };
        let scorer = transaction
            .family()
            .batch_scorer(transaction.params(), &shape);
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
                cancel.check()?;
                let start = chunk * CHUNK;
                let end = start + e.len();
                // One pass checks the summaries and values their spend; the family's
                // scorer then writes the predictions and, where there is a spend, the CLV.
                let summaries = &rfm[start..end];
                let money = &monetary_value[start..end];
                for (k, c) in summaries.iter().enumerate() {
                    c.validate()
                        .map_err(|err| err.within(&format!("customers[{}]", start + k)))?;
                    if let Some(spend) = self.spend {
                        sp[k] = spend.expected_spend(c.frequency, money[k]);
                    }
                }
                let rows = in_model_unit(summaries, factor);
                let cols = ChunkColumns {
                    expected_purchases: e,
                    p_alive: pa,
                    propensity: pr,
                    clv: self.spend.map(|_| ClvColumns {
                        expected_spend: sp,
                        clv: cl,
                    }),
                };
                scorer.score_chunk(&rows, horizon, &schedule, start, cols)?;
                Ok::<(), ModelError>(())
            })?;
        Ok(out)
    }
}

/// A chunk's summaries in the model's unit (borrowed as they are when the units agree).
fn in_model_unit(rfm: &[Rfm], factor: f64) -> Cow<'_, [Rfm]> {
    if factor == 1.0 {
        return Cow::Borrowed(rfm);
    }
    Cow::Owned(
        rfm.iter()
            .map(|c| Rfm {
                frequency: c.frequency,
                recency: c.recency * factor,
                age: c.age * factor,
            })
            .collect(),
    )
}
