//! Customer segments: k-means (linfa-clustering) on standardized, log-transformed RFM and
//! model outputs; rank-based RFM quintile scores as a transparent baseline; value tiers
//! and the concentration of value.
//!
//! Everything a later customer needs to fall into the same segment, RFM cell and tier is
//! kept in [`SegmentModel`]: the scaler, the centroids, the quintile cuts and the tier
//! thresholds.
//!
//! This file holds the options, [`segment`] and [`SegmentModel`]; the parts are in
//! `features` (the inputs and their scaling), `kmeans`, `silhouette` (the choice of k),
//! `naming` and `tiers` (tiers, RFM quintiles, concentration).

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::rfm::Rfm;
use crate::data::units::{TimeUnit, UnitConversion};
use crate::error::{ModelError, Result};
use crate::predict::clv::ClvSpec;
use crate::predict::score::Scores;

mod features;
mod kmeans;
mod naming;
mod silhouette;
mod tiers;

pub use features::{Feature, FeatureTable, Scaler};
pub use kmeans::{KMeansFit, kmeans_fit};
pub use naming::rfm_segment_name;
pub use tiers::{Concentration, RfmQuintiles, Tier, TierCutoffs, TierThresholds, concentration};

use kmeans::{assign_all, fit_centroids};
use naming::{name_segments, population_stats};
use silhouette::choose_k;

/// How to segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentOptions {
    /// Number of segments; 0 = choose by silhouette over `k_min..=k_max`.
    pub k: usize,
    pub k_min: usize,
    pub k_max: usize,
    pub seed: u64,
    /// k-means++ restarts; the lowest inertia wins.
    pub runs: usize,
    pub max_iterations: u64,
    pub tolerance: f64,
    /// Customers the silhouette is computed on (it is O(n²)).
    pub silhouette_sample: usize,
    pub tiers: TierCutoffs,
    /// Checked before each candidate k, each k-means seeding and each Lloyd pass: once it
    /// fires the segmentation stops with [`ModelError::Cancelled`]. Not stored.
    #[serde(skip)]
    pub cancel: crate::cancel::Cancel,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            k: 0,
            k_min: 2,
            k_max: 8,
            seed: 42,
            runs: 3,
            max_iterations: 100,
            tolerance: 1e-4,
            silhouette_sample: 3000,
            tiers: TierCutoffs::default(),
            cancel: crate::cancel::Cancel::never(),
        }
    }
}

impl SegmentOptions {
    pub fn validate(&self, customers: usize) -> Result<()> {
        if self.k != 0 && (self.k > customers) {
            return Err(ModelError::invalid(
                "k",
                format!("{} segments for {customers} customers", self.k),
            ));
        }
        if self.k == 0 && (self.k_min < 2 || self.k_max < self.k_min) {
            return Err(ModelError::invalid(
                "k_range",
                format!(
                    "needs 2 <= k_min <= k_max, got {}..={}",
                    self.k_min, self.k_max
                ),
            ));
        }
        if self.runs == 0 {
            return Err(ModelError::invalid("runs", "must be at least 1"));
        }
        if self.max_iterations == 0 {
            return Err(ModelError::invalid("max_iterations", "must be at least 1"));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(ModelError::invalid("tolerance", "must be finite and >= 0"));
        }
        if self.silhouette_sample < 10 {
            return Err(ModelError::invalid(
                "silhouette_sample",
                "must be at least 10",
            ));
        }
        self.tiers.validate()
    }
}

/// One segment's profile. Centroid values are means of the original (untransformed)
/// features of its customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentProfile {
    pub index: usize,
    pub name: String,
    pub customers: u64,
    pub customer_share: f64,
    pub total_value: f64,
    pub value_share: f64,
    /// (feature, mean in original units), in the model's feature order.
    pub centroid: Vec<(Feature, f64)>,
}

/// A fitted segmentation: everything needed to place later customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentModel {
    pub features: Vec<Feature>,
    pub scaler: Scaler,
    /// Standardized centroids, ordered by segment value (0 = most valuable).
    pub centroids: Vec<Vec<f64>>,
    pub profiles: Vec<SegmentProfile>,
    pub tiers: TierThresholds,
    pub quintiles: RfmQuintiles,
    /// Horizon and discount of the CLV feature; later customers are valued the same way.
    pub spec: ClvSpec,
    pub options: SegmentOptions,
    pub inertia: f64,
    /// (k, mean silhouette on the sample) for every k tried; empty when k was given.
    pub silhouette_by_k: Vec<(usize, f64)>,
    pub customers: u64,
    /// The unit of the recency feature and of the RFM recency cuts (customers are converted
    /// to it); `None` in segmentations stored before it was recorded.
    #[serde(default)]
    pub unit: Option<TimeUnit>,
}

/// Where customers fall in a fitted segmentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Segment index per customer (0 = most valuable segment).
    pub labels: Vec<usize>,
    pub tiers: Vec<Tier>,
    /// (R, F, M) quintile scores per customer.
    pub rfm_scores: Vec<[u8; 3]>,
}

/// A fitted segmentation and every customer's place in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    pub model: SegmentModel,
    pub labels: Vec<usize>,
    pub tiers: Vec<Tier>,
    pub rfm_scores: Vec<[u8; 3]>,
    pub concentration: Concentration,
}

/// Segments customers. `units` converts their recency and age to the model's unit
/// (`units.to`), which the segmentation records.
pub fn segment(
    rfm: &[Rfm],
    monetary_value: &[f64],
    scores: &Scores,
    units: UnitConversion,
    spec: ClvSpec,
    options: &SegmentOptions,
) -> Result<Segmentation> {
    let n = rfm.len();
    if n < 2 {
        return Err(ModelError::invalid(
            "customers",
            "at least 2 customers are needed to segment",
        ));
    }
    options.validate(n)?;
    let unit_factor = units.factor();
    let table = FeatureTable::build(rfm, monetary_value, scores, units)?;
    let scaler = Scaler::fit_table(&table);
    let x = scaler.standardize(&table);

    let (k, silhouette_by_k) = choose_k(&x, options)?;
    let (centroids, _) = fit_centroids(&x, k, options)?;
    let (labels, inertia) = assign_all(&x, &centroids);

    // Order segments by mean value, most valuable first, so labels are stable and
    // meaningful for a given fit.
    let d = table.features.len();
    let mut size = vec![0u64; k];
    let mut total_value = vec![0.0; k];
    let mut sums = vec![0.0; k * d];
    for i in 0..n {
        let l = labels[i];
        size[l] += 1;
        total_value[l] += table.value[i].max(0.0);
        for j in 0..d {
            sums[l * d + j] += table.values[i * d + j];
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    let mean_value = |c: usize| total_value[c] / size[c].max(1) as f64;
    order.sort_by(|&a, &b| mean_value(b).total_cmp(&mean_value(a)).then(a.cmp(&b)));
    let mut relabel = vec![0usize; k];
    for (new, &old) in order.iter().enumerate() {
        relabel[old] = new;
    }
    let labels: Vec<usize> = labels.into_iter().map(|l| relabel[l]).collect();
    let value_total: f64 = total_value.iter().sum();
    let population = population_stats(&table);
    let mut profiles: Vec<SegmentProfile> = order
        .iter()
        .enumerate()
        .map(|(new, &old)| SegmentProfile {
            index: new,
            name: String::new(),
            customers: size[old],
            customer_share: size[old] as f64 / n as f64,
            total_value: total_value[old],
            value_share: if value_total > 0.0 {
                total_value[old] / value_total
            } else {
                0.0
            },
            centroid: (0..d)
                .map(|j| {
                    (
                        table.features[j],
                        sums[old * d + j] / size[old].max(1) as f64,
                    )
                })
                .collect(),
        })
        .collect();
    name_segments(&mut profiles, &population);
    let centroids: Vec<Vec<f64>> = order
        .iter()
        .map(|&old| centroids.row(old).to_vec())
        .collect();

    let tiers_fit = TierThresholds::fit(&table.value, options.tiers);
    let quintiles = RfmQuintiles::fit(&table, rfm, monetary_value, units);
    let tiers = table.value.iter().map(|&v| tiers_fit.tier(v)).collect();
    let rfm_scores = (0..n)
        .map(|i| {
            let c = &rfm[i];
            quintiles.score(
                ((c.age - c.recency) * unit_factor).max(0.0),
                c.frequency,
                monetary_value[i],
            )
        })
        .collect();
    Ok(Segmentation {
        concentration: concentration(&table.value),
        model: SegmentModel {
            features: table.features.clone(),
            scaler,
            centroids,
            profiles,
            tiers: tiers_fit,
            quintiles,
            spec,
            options: options.clone(),
            inertia,
            silhouette_by_k,
            customers: n as u64,
            unit: Some(units.to),
        },
        labels,
        tiers,
        rfm_scores,
    })
}

impl SegmentModel {
    /// Places customers that were scored with this model's `spec`: segment index, tier
    /// and RFM scores per customer. `units` converts their recency and age to the
    /// segmentation's unit: it must end in the unit the segmentation recorded, if any.
    pub fn assign(
        &self,
        rfm: &[Rfm],
        monetary_value: &[f64],
        scores: &Scores,
        units: UnitConversion,
    ) -> Result<Placement> {
        if let Some(unit) = self.unit
            && unit != units.to
        {
            return Err(ModelError::invalid(
                "time_unit",
                format!(
                    "customers are converted to {}s but the segmentation is in {unit}s",
                    units.to
                ),
            ));
        }
        let unit_factor = units.factor();
        let table = FeatureTable::build(rfm, monetary_value, scores, units)?;
        if table.features != self.features && !table.is_empty() {
            return Err(ModelError::invalid(
                "customers",
                "these customers have different features than the segmentation (spend model?)",
            ));
        }
        let k = self.centroids.len();
        let d = self.features.len();
        let mut flat = Array2::zeros((k, d));
        for (c, row) in self.centroids.iter().enumerate() {
            for j in 0..d {
                flat[[c, j]] = row[j];
            }
        }
        let x = self.scaler.standardize(&table);
        let (labels, _) = assign_all(&x, &flat);
        let tiers = table.value.iter().map(|&v| self.tiers.tier(v)).collect();
        let rfm_scores = (0..rfm.len())
            .map(|i| {
                let c = &rfm[i];
                self.quintiles.score(
                    ((c.age - c.recency) * unit_factor).max(0.0),
                    c.frequency,
                    monetary_value[i],
                )
            })
            .collect();
        Ok(Placement {
            labels,
            tiers,
            rfm_scores,
        })
    }

    pub fn name(&self, index: usize) -> &str {
        self.profiles.get(index).map_or("", |p| p.name.as_str())
    }

    /// Mean repeat spend of a segment's customers: the spend "potential" growth aims at.
    pub fn segment_spend(&self, index: usize) -> Option<f64> {
        self.profiles
            .get(index)?
            .centroid
            .iter()
            .find(|(f, _)| *f == Feature::Monetary)
            .map(|(_, v)| *v)
    }
}

/// Rows per parallel task in the scaler's and Lloyd's sums: fixed, so the partial sums, and
/// with them the centroids, do not depend on the thread count.
pub(super) const CHUNK_ROWS: usize = 2048;

/// Partial results combined in their input order, sequentially: rayon's own `reduce`
/// groups them by how the work was split among threads, which moves the last bits of
/// floating-point sums from run to run.
pub(super) fn in_order<T: Send>(
    parts: impl IndexedParallelIterator<Item = T>,
    combine: impl FnMut(T, T) -> T,
) -> Option<T> {
    parts.collect::<Vec<T>>().into_iter().reduce(combine)
}
