//! The segmentation's inputs: per-customer features in original units ([`FeatureTable`])
//! and their log transform and standardization ([`Scaler`]).

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{CHUNK_ROWS, in_order};
use crate::data::rfm::Rfm;
use crate::data::units::UnitConversion;
use crate::error::{ModelError, Result};
use crate::predict::score::Scores;

/// A per-customer input of the segmentation, in original units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Time since the last purchase (T − t_x), in the model's unit.
    Recency,
    /// Repeat purchases x.
    Frequency,
    /// Mean repeat spend.
    Monetary,
    PAlive,
    ExpectedPurchases,
    /// CLV over the segmentation's horizon.
    Clv,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Recency => "recency",
            Feature::Frequency => "frequency",
            Feature::Monetary => "monetary",
            Feature::PAlive => "p_alive",
            Feature::ExpectedPurchases => "expected_purchases",
            Feature::Clv => "clv",
        }
    }

    /// The transform before standardizing: logs tame the long right tails of counts and
    /// money; P(alive) is already on [0, 1].
    fn transform(self, v: f64) -> f64 {
        match self {
            Feature::PAlive => v,
            _ => v.max(0.0).ln_1p(),
        }
    }
}

/// Customers' features in original units, one column per feature.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    pub features: Vec<Feature>,
    /// Row-major n × features.len().
    pub values: Vec<f64>,
    /// Value per customer used for tiers and ordering: CLV when there is a spend model,
    /// else expected purchases.
    pub value: Vec<f64>,
}

impl FeatureTable {
    /// Features of scored customers, their recency converted by `units` (to the model's
    /// unit). Without CLV (no spend model) the monetary and CLV features are left out, and
    /// value is expected purchases.
    pub fn build(
        rfm: &[Rfm],
        monetary_value: &[f64],
        scores: &Scores,
        units: UnitConversion,
    ) -> Result<FeatureTable> {
        let unit_factor = units.factor();
        let n = rfm.len();
        if scores.p_alive.len() != n || monetary_value.len() != n {
            return Err(ModelError::invalid(
                "customers",
                "scores and summaries differ in length",
            ));
        }
        let with_value = n > 0 && scores.clv.iter().all(Option::is_some);
        let features: Vec<Feature> = if with_value {
            vec![
                Feature::Recency,
                Feature::Frequency,
                Feature::Monetary,
                Feature::PAlive,
                Feature::ExpectedPurchases,
                Feature::Clv,
            ]
        } else {
            vec![
                Feature::Recency,
                Feature::Frequency,
                Feature::PAlive,
                Feature::ExpectedPurchases,
            ]
        };
        let d = features.len();
        let mut values = vec![0.0; n * d];
        values.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
            let c = &rfm[i];
            for (slot, f) in row.iter_mut().zip(&features) {
                *slot = match f {
                    Feature::Recency => ((c.age - c.recency) * unit_factor).max(0.0),
                    Feature::Frequency => f64::from(c.frequency),
                    Feature::Monetary => monetary_value[i],
                    Feature::PAlive => scores.p_alive[i],
                    Feature::ExpectedPurchases => scores.expected_purchases[i],
                    Feature::Clv => scores.clv[i].unwrap_or(0.0),
                };
            }
        });
        let value = if with_value {
            scores.clv.iter().map(|c| c.unwrap_or(0.0)).collect()
        } else {
            scores.expected_purchases.clone()
        };
        Ok(FeatureTable {
            features,
            values,
            value,
        })
    }

    pub fn len(&self) -> usize {
        self.value.len()
    }

    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    pub(super) fn column(&self, j: usize) -> impl Iterator<Item = f64> + '_ {
        self.values
            .iter()
            .skip(j)
            .step_by(self.features.len())
            .copied()
    }
}

/// Standardization of the transformed features: (t(v) − mean) / std.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Scaler {
    /// Mean and standard deviation of each column of transformed rows (`x`, row-major).
    fn fit(x: &[f64], d: usize) -> Scaler {
        let n = (x.len() / d.max(1)) as f64;
        let sum = |f: &(dyn Fn(usize, f64) -> f64 + Sync)| -> Vec<f64> {
            in_order(
                x.par_chunks(CHUNK_ROWS * d).map(|chunk| {
                    let mut acc = vec![0.0; d];
                    for row in chunk.chunks_exact(d) {
                        for j in 0..d {
                            acc[j] += f(j, row[j]);
                        }
                    }
                    acc
                }),
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            )
            .unwrap_or_else(|| vec![0.0; d])
        };
        let mean: Vec<f64> = sum(&|_, v| v).into_iter().map(|s| s / n).collect();
        let var: Vec<f64> = sum(&|j, v| (v - mean[j]).powi(2))
            .into_iter()
            .map(|s| s / n)
            .collect();
        // A constant feature carries no information; std 1 keeps it at 0.
        let std = var
            .into_iter()
            .map(|v| if v > 1e-24 { v.sqrt() } else { 1.0 })
            .collect();
        Scaler { mean, std }
    }

    fn apply(&self, features: &[Feature], row: &[f64], out: &mut [f64]) {
        for j in 0..features.len() {
            out[j] = (features[j].transform(row[j]) - self.mean[j]) / self.std[j];
        }
    }

    /// Transformed, standardized rows of `t`.
    pub(super) fn standardize(&self, t: &FeatureTable) -> Array2<f64> {
        let d = t.features.len();
        let mut x = vec![0.0; t.values.len()];
        x.par_chunks_mut(8192 * d)
            .zip(t.values.par_chunks(8192 * d))
            .for_each(|(out, rows)| {
                for (o, r) in out.chunks_exact_mut(d).zip(rows.chunks_exact(d)) {
                    self.apply(&t.features, r, o);
                }
            });
        Array2::from_shape_vec((t.len(), d), x).unwrap_or_else(|_| Array2::zeros((0, d)))
    }

    pub(super) fn fit_table(t: &FeatureTable) -> Scaler {
        let d = t.features.len();
        let mut x = t.values.clone();
        x.par_chunks_mut(8192 * d).for_each(|rows| {
            for r in rows.chunks_exact_mut(d) {
                for j in 0..d {
                    r[j] = t.features[j].transform(r[j]);
                }
            }
        });
        Scaler::fit(&x, d)
    }
}
