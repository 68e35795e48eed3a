//! Customer segments: k-means (linfa-clustering) on standardized, log-transformed RFM and
//! model outputs; rank-based RFM quintile scores as a transparent baseline; value tiers
//! and the concentration of value.
//!
//! Everything a later customer needs to fall into the same segment, RFM cell and tier is
//! kept in [`SegmentModel`]: the scaler, the centroids, the quintile cuts and the tier
//! thresholds.

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array2, Axis};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use wide::f64x4;

use crate::clv::ClvSpec;
use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::score::Scores;

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
    /// Features of scored customers. Without CLV (no spend model) the monetary and CLV
    /// features are left out, and value is expected purchases.
    pub fn build(
        rfm: &[Rfm],
        monetary_value: &[f64],
        scores: &Scores,
        unit_factor: f64,
    ) -> Result<FeatureTable> {
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

    fn column(&self, j: usize) -> impl Iterator<Item = f64> + '_ {
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
    fn standardize(&self, t: &FeatureTable) -> Array2<f64> {
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

    fn fit_table(t: &FeatureTable) -> Scaler {
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

/// Tier cut-offs as cumulative shares of total value, customers ranked by value: the
/// customers holding the first `key` share are key, up to `growth` growth, up to
/// `standard` standard, the rest low value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierCutoffs {
    pub key: f64,
    pub growth: f64,
    pub standard: f64,
}

impl Default for TierCutoffs {
    fn default() -> Self {
        TierCutoffs {
            key: 0.5,
            growth: 0.8,
            standard: 0.95,
        }
    }
}

impl TierCutoffs {
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        let ordered = self.key <= self.growth && self.growth <= self.standard;
        if !(ok(self.key) && ok(self.growth) && ok(self.standard) && ordered) {
            return Err(ModelError::invalid(
                "tiers",
                format!(
                    "cut-offs must satisfy 0 < key <= growth <= standard <= 1, got {} {} {}",
                    self.key, self.growth, self.standard
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Key,
    Growth,
    Standard,
    LowValue,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Key, Tier::Growth, Tier::Standard, Tier::LowValue];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Key => "key",
            Tier::Growth => "growth",
            Tier::Standard => "standard",
            Tier::LowValue => "low_value",
        }
    }
}

/// Value thresholds realizing the cut-offs on the segmentation's customers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierThresholds {
    pub cutoffs: TierCutoffs,
    /// Lowest value still in the tier.
    pub key_min: f64,
    pub growth_min: f64,
    pub standard_min: f64,
}

impl TierThresholds {
    fn fit(value: &[f64], cutoffs: TierCutoffs) -> TierThresholds {
        let mut sorted: Vec<f64> = value.to_vec();
        sorted.par_sort_unstable_by(|a, b| b.total_cmp(a));
        let total: f64 = sorted.iter().sum();
        let threshold = |share: f64| {
            if total <= 0.0 {
                // Nobody has value: every tier but the lowest stays empty. MAX, not
                // infinity, so the thresholds serialize.
                return f64::MAX;
            }
            let mut cum = 0.0;
            for &v in &sorted {
                cum += v;
                if cum >= share * total * (1.0 - 1e-12) {
                    return v;
                }
            }
            sorted.last().copied().unwrap_or(0.0)
        };
        TierThresholds {
            cutoffs,
            key_min: threshold(cutoffs.key),
            growth_min: threshold(cutoffs.growth),
            standard_min: threshold(cutoffs.standard),
        }
    }

    pub fn tier(&self, value: f64) -> Tier {
        if value >= self.key_min && value > 0.0 {
            Tier::Key
        } else if value >= self.growth_min && value > 0.0 {
            Tier::Growth
        } else if value >= self.standard_min && value > 0.0 {
            Tier::Standard
        } else {
            Tier::LowValue
        }
    }
}

/// Rank-based RFM quintile cuts: a score is 1 + the number of cuts the value is beyond,
/// so equal values always share a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmQuintiles {
    /// Time since last purchase; lower is better.
    pub recency_cuts: [f64; 4],
    pub frequency_cuts: [f64; 4],
    pub monetary_cuts: [f64; 4],
}

fn quintile_cuts(mut v: Vec<f64>) -> [f64; 4] {
    let n = v.len();
    let mut cuts = [0.0; 4];
    // Selecting from the top down leaves each lower quantile in the left part.
    let mut end = n;
    for (q, p) in [0.8, 0.6, 0.4, 0.2].iter().enumerate() {
        let at = ((p * n as f64) as usize)
            .min(n - 1)
            .min(end.saturating_sub(1));
        let (_, x, _) = v[..end].select_nth_unstable_by(at, f64::total_cmp);
        cuts[3 - q] = *x;
        end = at + 1;
    }
    cuts
}

impl RfmQuintiles {
    fn fit(t: &FeatureTable, rfm: &[Rfm], monetary: &[f64], unit_factor: f64) -> RfmQuintiles {
        let _ = t;
        RfmQuintiles {
            recency_cuts: quintile_cuts(
                rfm.iter()
                    .map(|c| ((c.age - c.recency) * unit_factor).max(0.0))
                    .collect(),
            ),
            frequency_cuts: quintile_cuts(rfm.iter().map(|c| f64::from(c.frequency)).collect()),
            monetary_cuts: quintile_cuts(monetary.to_vec()),
        }
    }

    /// (R, F, M), each 1..=5.
    pub fn score(&self, since_last: f64, frequency: u32, monetary: f64) -> [u8; 3] {
        let higher = |v: f64, cuts: &[f64; 4]| 1 + cuts.iter().filter(|&&c| v > c).count() as u8;
        let lower = |v: f64, cuts: &[f64; 4]| 1 + cuts.iter().filter(|&&c| v < c).count() as u8;
        [
            lower(since_last, &self.recency_cuts),
            higher(f64::from(frequency), &self.frequency_cuts),
            higher(monetary, &self.monetary_cuts),
        ]
    }
}

/// The classic R×F segment map.
pub fn rfm_segment_name(r: u8, f: u8) -> &'static str {
    match (r, f) {
        (1..=2, 1..=2) => "Hibernating",
        (1..=2, 3..=4) => "At risk",
        (1..=2, _) => "Can't lose them",
        (3, 1..=2) => "About to sleep",
        (3, 3) => "Need attention",
        (3..=4, 4..=5) => "Loyal",
        (4, 1) => "Promising",
        (5, 1) => "New",
        (4..=5, 2..=3) => "Potential loyalists",
        _ => "Champions",
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
}

/// Shares of total value held by the most valuable customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concentration {
    pub total_value: f64,
    /// (top fraction of customers, their share of value) at 1, 5, 10, 20, 50 and 100%.
    pub top_shares: Vec<(f64, f64)>,
    /// 101 points of the curve: share of value held by the top i% of customers.
    pub curve: Vec<f64>,
}

/// Concentration of `value` (negative values count as 0).
pub fn concentration(value: &[f64]) -> Concentration {
    let mut v: Vec<f64> = value.iter().map(|x| x.max(0.0)).collect();
    v.par_sort_unstable_by(|a, b| b.total_cmp(a));
    let n = v.len();
    let mut cum = Vec::with_capacity(n + 1);
    cum.push(0.0);
    let mut s = 0.0;
    for x in &v {
        s += x;
        cum.push(s);
    }
    let total = s;
    let share_at = |fraction: f64| {
        if total <= 0.0 || n == 0 {
            return 0.0;
        }
        let k = ((fraction * n as f64).ceil() as usize).min(n);
        cum[k] / total
    };
    Concentration {
        total_value: total,
        top_shares: [0.01, 0.05, 0.10, 0.20, 0.50, 1.0]
            .iter()
            .map(|&p| (p, share_at(p)))
            .collect(),
        curve: (0..=100).map(|i| share_at(i as f64 / 100.0)).collect(),
    }
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

/// linfa's k-means: k-means++ seeding and `o.runs` restarts of at most `iterations` each;
/// the centroids of the run with the least inertia.
fn linfa_kmeans(
    x: &Array2<f64>,
    k: usize,
    o: &SegmentOptions,
    iterations: u64,
) -> Result<Array2<f64>> {
    let ds = DatasetBase::from(x.view());
    let model = KMeans::params_with_rng(k, StdRng::seed_from_u64(o.seed))
        .n_runs(o.runs)
        .max_n_iterations(iterations.max(1))
        .tolerance(o.tolerance)
        .fit(&ds)
        .map_err(|e| ModelError::Numerical {
            what: "k-means",
            reason: e.to_string(),
        })?;
    Ok(model.centroids().clone())
}

/// The seeding (linfa: k-means++ and restarts) runs on a seeded sample of at most this many
/// customers; Lloyd passes converge on the sample, then finish on all customers, which
/// then takes only a few passes.
const SEEDING_SAMPLE: usize = 4096;
/// Iterations each linfa restart gets before their inertias are compared, when there is
/// more than one. With one run linfa does one (its least): its iterations cost several of
/// our Lloyd passes (ndarray views, per-iteration allocation) and reach the same point.
const RESTART_ITERATIONS: u64 = 10;

/// Lloyd iterations from `centroids` on every row until the centroids' total squared
/// shift is at most `tolerance` (scikit-learn's criterion on unit-variance features) or
/// `max_iterations`. Empty clusters keep their centroid.
fn lloyd(x: &Array2<f64>, mut centroids: Array2<f64>, o: &SegmentOptions) -> (Array2<f64>, u64) {
    let (k, d) = centroids.dim();
    let Some(rows) = x.as_slice() else {
        return (centroids, 0);
    };
    let mut iterations = 0;
    while iterations < o.max_iterations {
        iterations += 1;
        let flat: Vec<f64> = centroids.iter().copied().collect();
        let lanes = CentroidLanes::new(&flat, d);
        let (sums, counts) = in_order(
            rows.par_chunks(CHUNK_ROWS * d).map(|chunk| {
                let mut sums = vec![0.0; k * d];
                let mut counts = vec![0u64; k];
                lanes.for_each_nearest(chunk, |row, c, _| {
                    counts[c] += 1;
                    // `row.len()` (= d) is a constant where this is inlined.
                    let sum = &mut sums[c * row.len()..][..row.len()];
                    for (s, v) in sum.iter_mut().zip(row) {
                        *s += v;
                    }
                });
                (sums, counts)
            }),
            |(mut s1, mut c1), (s2, c2)| {
                s1.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
                c1.iter_mut().zip(&c2).for_each(|(a, b)| *a += b);
                (s1, c1)
            },
        )
        .unwrap_or_else(|| (vec![0.0; k * d], vec![0; k]));
        let mut moved = 0.0;
        for c in 0..k {
            if counts[c] == 0 {
                continue;
            }
            for j in 0..d {
                let new = sums[c * d + j] / counts[c] as f64;
                moved += (new - centroids[[c, j]]).powi(2);
                centroids[[c, j]] = new;
            }
        }
        if moved <= o.tolerance {
            break;
        }
    }
    (centroids, iterations)
}

/// Rows per parallel task in the scaler's and Lloyd's sums: fixed, so the partial sums, and
/// with them the centroids, do not depend on the thread count.
const CHUNK_ROWS: usize = 2048;

/// Partial results combined in their input order, sequentially: rayon's own `reduce`
/// groups them by how the work was split among threads, which moves the last bits of
/// floating-point sums from run to run.
fn in_order<T: Send>(
    parts: impl IndexedParallelIterator<Item = T>,
    combine: impl FnMut(T, T) -> T,
) -> Option<T> {
    parts.collect::<Vec<T>>().into_iter().reduce(combine)
}

/// Centroids for a nearest-centroid search over four rows at a time: the rows' features
/// sit in the four lanes, so each centroid's distance is `d` vector multiply-adds with the
/// `k` centroids as independent chains (the distance loop is k-means' whole cost, and one
/// chain per row is latency-bound), and the running minimum is a branch-free blend.
struct CentroidLanes {
    /// Row-major `k × d`.
    centroids: Vec<f64>,
    /// The same, each coordinate in all four lanes.
    splat: Vec<f64x4>,
    d: usize,
}

/// Features up to this many are gathered into lanes on the stack (more are searched one
/// row at a time).
const LANE_FEATURES: usize = 16;

impl CentroidLanes {
    /// From `k` centroids of `d` features, row-major.
    fn new(flat: &[f64], d: usize) -> CentroidLanes {
        CentroidLanes {
            centroids: flat.to_vec(),
            splat: flat.iter().map(|&v| f64x4::splat(v)).collect(),
            d,
        }
    }

    /// The nearest centroid of each row in `rows` (whole rows, row-major) and its squared
    /// distance, handed to `each` with the row, in row order. Ties go to the first centroid.
    fn for_each_nearest(&self, rows: &[f64], each: impl FnMut(&[f64], usize, f64)) {
        // Each arm is the same search with `d` a constant, so its loops unroll (segment()
        // clusters at most 6 features).
        match self.d {
            1 => self.search(rows, 1, each),
            2 => self.search(rows, 2, each),
            3 => self.search(rows, 3, each),
            4 => self.search(rows, 4, each),
            5 => self.search(rows, 5, each),
            6 => self.search(rows, 6, each),
            7 => self.search(rows, 7, each),
            8 => self.search(rows, 8, each),
            d => self.search(rows, d, each),
        }
    }

    #[inline(always)]
    fn search(&self, rows: &[f64], d: usize, mut each: impl FnMut(&[f64], usize, f64)) {
        if d == 0 || d > LANE_FEATURES {
            for row in rows.chunks_exact(d.max(1)) {
                let (c, dist) = self.nearest_scalar(row);
                each(row, c, dist);
            }
            return;
        }
        let mut quads = rows.chunks_exact(4 * d);
        for quad in &mut quads {
            let (c, dist) = self.nearest_quad(quad, d);
            for (lane, row) in quad.chunks_exact(d).enumerate() {
                each(row, c[lane], dist[lane]);
            }
        }
        // The last rows go through the lanes too (padded with copies of the last one), so
        // every row gets the same arithmetic: `wide`'s mul_add is not fused on CPUs
        // without FMA, `f64::mul_add` always is, and near-ties could go either way.
        let rest = quads.remainder();
        if let Some(last) = rest.len().checked_sub(d) {
            let mut padded = [0.0; 4 * LANE_FEATURES];
            for (i, v) in padded[..4 * d].iter_mut().enumerate() {
                *v = rest.get(i).copied().unwrap_or(rest[last + i % d]);
            }
            let (c, dist) = self.nearest_quad(&padded[..4 * d], d);
            for (lane, row) in rest.chunks_exact(d).enumerate() {
                each(row, c[lane], dist[lane]);
            }
        }
    }

    /// The nearest centroids of four rows of `d ≤ LANE_FEATURES` features and their squared
    /// distances.
    #[inline(always)]
    fn nearest_quad(&self, quad: &[f64], d: usize) -> ([usize; 4], [f64; 4]) {
        let mut x = [f64x4::ZERO; LANE_FEATURES];
        for (j, lane) in x[..d].iter_mut().enumerate() {
            *lane = f64x4::from([quad[j], quad[d + j], quad[2 * d + j], quad[3 * d + j]]);
        }
        let mut best = f64x4::splat(f64::INFINITY);
        let mut best_c = f64x4::ZERO;
        let mut label = f64x4::ZERO;
        for centroid in self.splat.chunks_exact(d) {
            let mut acc = f64x4::ZERO;
            for (xj, cj) in x[..d].iter().zip(centroid) {
                let diff = *xj - *cj;
                acc = diff.mul_add(diff, acc);
            }
            let closer = acc.simd_lt(best);
            best = closer.bitselect(acc, best);
            best_c = closer.bitselect(label, best_c);
            label += f64x4::ONE;
        }
        (best_c.to_array().map(|c| c as usize), best.to_array())
    }

    /// One row's nearest centroid (features beyond [`LANE_FEATURES`]).
    fn nearest_scalar(&self, row: &[f64]) -> (usize, f64) {
        let mut best = (0, f64::INFINITY);
        for (c, centroid) in self.centroids.chunks_exact(self.d.max(1)).enumerate() {
            let dist = row
                .iter()
                .zip(centroid)
                .fold(0.0, |acc: f64, (x, m)| (x - m).mul_add(x - m, acc));
            if dist < best.1 {
                best = (c, dist);
            }
        }
        best
    }
}

/// k-means on all rows: seeding on a sample (linfa), Lloyd to convergence on the sample, then
/// on all rows; the centroids and the Lloyd passes over all rows.
fn fit_centroids(x: &Array2<f64>, k: usize, o: &SegmentOptions) -> Result<(Array2<f64>, u64)> {
    let restart_iterations = if o.runs > 1 { RESTART_ITERATIONS } else { 1 };
    let iterations = o.max_iterations.min(restart_iterations);
    if x.nrows() <= SEEDING_SAMPLE {
        return Ok(lloyd(x, linfa_kmeans(x, k, o, iterations)?, o));
    }
    let sample = sample_rows(x, SEEDING_SAMPLE, o.seed);
    let (start, _) = lloyd(&sample, linfa_kmeans(&sample, k, o, iterations)?, o);
    Ok(lloyd(x, start, o))
}

fn assign_all(x: &Array2<f64>, centroids: &Array2<f64>) -> (Vec<usize>, f64) {
    let d = centroids.ncols();
    let flat: Vec<f64> = centroids.iter().copied().collect();
    let lanes = CentroidLanes::new(&flat, d);
    let owned;
    let rows = match x.as_slice() {
        Some(r) => r,
        None => {
            owned = x.iter().copied().collect::<Vec<f64>>();
            &owned
        }
    };
    let n = rows.len() / d.max(1);
    let mut labels = vec![0usize; n];
    let mut dists = vec![0.0; n];
    rows.par_chunks(CHUNK_ROWS * d.max(1))
        .zip(
            labels
                .par_chunks_mut(CHUNK_ROWS)
                .zip(dists.par_chunks_mut(CHUNK_ROWS)),
        )
        .for_each(|(chunk, (labels, dists))| {
            let mut i = 0;
            lanes.for_each_nearest(chunk, |_, c, dist| {
                labels[i] = c;
                dists[i] = dist;
                i += 1;
            });
        });
    let inertia = dists.iter().sum();
    (labels, inertia)
}

/// The clustering of [`segment`] on a matrix the caller prepared (one row per customer).
#[derive(Debug, Clone)]
pub struct KMeansFit {
    /// k × columns.
    pub centroids: Array2<f64>,
    /// Each row's nearest centroid.
    pub labels: Vec<usize>,
    /// Sum of squared distances of the rows to their centroids.
    pub inertia: f64,
    /// Lloyd iterations over all rows (after the seeding and Lloyd on a sample).
    pub iterations: u64,
}

/// The k-means inside [`segment`], for callers that bring their own features: k-means++
/// seeding with `options.runs` restarts (linfa) on a seeded sample of at most 4,096 rows,
/// Lloyd passes on that sample, then Lloyd passes over every row, each until the centroids
/// move by at most `options.tolerance` (squared, summed) or `options.max_iterations`.
/// The result does not depend on the number of threads.
pub fn kmeans_fit(x: &Array2<f64>, k: usize, options: &SegmentOptions) -> Result<KMeansFit> {
    let n = x.nrows();
    if k == 0 || k > n {
        return Err(ModelError::invalid(
            "k",
            format!("must be between 1 and the number of rows ({n})"),
        ));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        let cols = x.ncols().max(1);
        return Err(ModelError::invalid(
            format!("x[{}][{}]", i / cols, i % cols),
            "must be finite",
        ));
    }
    // Lloyd reads rows as one flat slice.
    let owned;
    let x = if x.is_standard_layout() {
        x
    } else {
        owned = x.as_standard_layout().into_owned();
        &owned
    };
    let (centroids, iterations) = fit_centroids(x, k, options)?;
    let (labels, inertia) = assign_all(x, &centroids);
    Ok(KMeansFit {
        centroids,
        labels,
        inertia,
        iterations,
    })
}

/// Mean silhouette of a labelled sample.
fn silhouette(x: &Array2<f64>, labels: &[usize], k: usize) -> f64 {
    let n = x.nrows();
    let s: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut sum = vec![0.0; k];
            let mut count = vec![0usize; k];
            let xi = x.row(i);
            for j in 0..n {
                if i == j {
                    continue;
                }
                let d = xi
                    .iter()
                    .zip(x.row(j).iter())
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                sum[labels[j]] += d;
                count[labels[j]] += 1;
            }
            let own = labels[i];
            if count[own] == 0 {
                return 0.0;
            }
            let a = sum[own] / count[own] as f64;
            let b = (0..k)
                .filter(|&c| c != own && count[c] > 0)
                .map(|c| sum[c] / count[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() {
                return 0.0;
            }
            (b - a) / a.max(b).max(1e-300)
        })
        .sum();
    s / n as f64
}

/// Distinct rows of the sample used to choose k; identical customers (common with
/// day-resolution data) would otherwise outweigh everything.
fn sample_rows(x: &Array2<f64>, size: usize, seed: u64) -> Array2<f64> {
    let n = x.nrows();
    if n <= size {
        return x.clone();
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_5eed);
    let mut idx = sample(&mut rng, n, size).into_vec();
    idx.sort_unstable();
    x.select(Axis(0), &idx)
}

/// Segments customers. `unit_factor` converts their recency and age to the model's unit.
pub fn segment(
    rfm: &[Rfm],
    monetary_value: &[f64],
    scores: &Scores,
    unit_factor: f64,
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
    let table = FeatureTable::build(rfm, monetary_value, scores, unit_factor)?;
    let scaler = Scaler::fit_table(&table);
    let x = scaler.standardize(&table);

    // Choose k on a sample (silhouette is quadratic), ties toward fewer segments.
    let mut silhouette_by_k = Vec::new();
    let k = if options.k > 0 {
        options.k
    } else {
        let s = sample_rows(&x, options.silhouette_sample, options.seed);
        let mut best: Option<(usize, f64)> = None;
        for k in options.k_min..=options.k_max.min(s.nrows().saturating_sub(1)) {
            let (c, _) = fit_centroids(&s, k, options)?;
            let (labels, _) = assign_all(&s, &c);
            let score = silhouette(&s, &labels, k);
            silhouette_by_k.push((k, score));
            if best.is_none_or(|(_, b)| score > b + 1e-3) {
                best = Some((k, score));
            }
        }
        best.map_or(options.k_min, |b| b.0)
    };
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
    let quintiles = RfmQuintiles::fit(&table, rfm, monetary_value, unit_factor);
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
        },
        labels,
        tiers,
        rfm_scores,
    })
}

/// Medians and means of the original features: the yardstick segment names are read
/// against.
#[derive(Debug, Clone)]
struct PopulationStats {
    median: Vec<(Feature, f64)>,
    mean: Vec<(Feature, f64)>,
}

fn population_stats(t: &FeatureTable) -> PopulationStats {
    let mut median = Vec::new();
    let mut mean = Vec::new();
    for (j, f) in t.features.iter().enumerate() {
        let mut col: Vec<f64> = t.column(j).collect();
        mean.push((*f, col.iter().sum::<f64>() / col.len() as f64));
        let mid = col.len() / 2;
        let (_, m, _) = col.select_nth_unstable_by(mid, f64::total_cmp);
        median.push((*f, *m));
    }
    PopulationStats { median, mean }
}

fn get(v: &[(Feature, f64)], f: Feature) -> Option<f64> {
    v.iter().find(|(g, _)| *g == f).map(|(_, x)| *x)
}

/// A readable name from a segment's centroid against the population: a pure function of
/// the profile, so the same fit always gives the same names. Duplicates get a suffix.
fn name_segments(profiles: &mut [SegmentProfile], pop: &PopulationStats) {
    let mut used: Vec<String> = Vec::new();
    for p in profiles.iter_mut() {
        let base = segment_name(&p.centroid, pop);
        let mut name = base.to_owned();
        let mut k = 2;
        while used.contains(&name) {
            name = format!("{base} {k}");
            k += 1;
        }
        used.push(name.clone());
        p.name = name;
    }
}

fn segment_name(centroid: &[(Feature, f64)], pop: &PopulationStats) -> &'static str {
    let c = |f| get(centroid, f).unwrap_or(0.0);
    // Value: CLV when present, else expected purchases; read against the population mean.
    let value_feature = if get(centroid, Feature::Clv).is_some() {
        Feature::Clv
    } else {
        Feature::ExpectedPurchases
    };
    let mean_value = get(&pop.mean, value_feature).unwrap_or(0.0);
    let value = c(value_feature);
    let high = value >= 2.0 * mean_value;
    let mid = value >= 0.75 * mean_value;
    let alive = c(Feature::PAlive);
    if c(Feature::Frequency) < 0.5 {
        // One-time buyers: BG/NBD calls them all alive, so judge them by time and value.
        let recent = c(Feature::Recency) < get(&pop.median, Feature::Recency).unwrap_or(0.0);
        return if recent && mid {
            "New"
        } else if mid {
            "Hibernating"
        } else {
            "Lost"
        };
    }
    match (alive, high, mid) {
        (a, true, _) if a >= 0.7 => "Champions",
        (a, false, true) if a >= 0.7 => "Loyal",
        (a, false, false) if a >= 0.7 => "Potential loyalists",
        (_, true, _) => "Can't lose them",
        (_, false, true) => "At risk",
        (a, false, false) if a >= 0.2 => "Hibernating",
        _ => "Lost",
    }
}

impl SegmentModel {
    /// Places customers that were scored with this model's `spec`: segment index, tier
    /// and RFM scores per customer.
    pub fn assign(
        &self,
        rfm: &[Rfm],
        monetary_value: &[f64],
        scores: &Scores,
        unit_factor: f64,
    ) -> Result<Placement> {
        let table = FeatureTable::build(rfm, monetary_value, scores, unit_factor)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// `n` rows of `d` features, values drawn so that some rows sit exactly on a centroid
    /// or exactly between two (ties).
    fn rows(n: usize, d: usize, rng: &mut StdRng) -> Vec<f64> {
        (0..n * d)
            .map(|_| f64::from(rng.gen_range(-8i32..8)) / 4.0)
            .collect()
    }

    #[test]
    fn lane_search_matches_one_row_at_a_time_for_every_feature_count() {
        let mut rng = StdRng::seed_from_u64(11);
        // 1..=8 take the unrolled arms, 9 and 16 the general one, 17 the scalar fallback;
        // 4·m + 3 rows leave a remainder after the groups of four.
        for d in (1..=9).chain([16, 17]) {
            for k in [1, 2, 5, 6] {
                let centroids = rows(k, d, &mut rng);
                let x = rows(4 * 25 + 3, d, &mut rng);
                let lanes = CentroidLanes::new(&centroids, d);
                let mut seen = Vec::new();
                lanes.for_each_nearest(&x, |row, c, dist| seen.push((row.to_vec(), c, dist)));
                assert_eq!(seen.len(), 103, "d = {d}, k = {k}");
                for (i, (row, c, dist)) in seen.into_iter().enumerate() {
                    assert_eq!(row, &x[i * d..(i + 1) * d], "d = {d}, k = {k}, row {i}");
                    // The reference: every distance, the first of the smallest.
                    let all: Vec<f64> = centroids
                        .chunks_exact(d)
                        .map(|m| row.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum())
                        .collect();
                    let min = all.iter().copied().fold(f64::INFINITY, f64::min);
                    let first = all.iter().position(|&v| v == min).unwrap();
                    assert_eq!((c, dist), (first, min), "d = {d}, k = {k}, row {i}");
                }
            }
        }
    }

    #[test]
    fn clustering_does_not_depend_on_the_thread_count() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 40_000;
        let x = Array2::from_shape_fn((n, 5), |(i, j)| {
            (i % 4) as f64 * if j == i % 5 { 2.0 } else { 0.3 } + rng.r#gen::<f64>()
        });
        let options = SegmentOptions {
            runs: 3,
            ..Default::default()
        };
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| kmeans_fit(&x, 4, &options).unwrap())
        };
        let (one, three) = (run(1), run(3));
        assert!(one.iterations >= 1);
        assert_eq!(one.labels, three.labels);
        // Bit for bit: the partial sums are combined in a fixed order.
        assert_eq!(one.centroids, three.centroids);
        assert_eq!(one.inertia.to_bits(), three.inertia.to_bits());
    }
}
