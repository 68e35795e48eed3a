//! k-means: k-means++ seeding with restarts (linfa) on a sample, then Lloyd passes whose
//! nearest-centroid search runs four rows at a time in vector lanes ([`CentroidLanes`]);
//! the result does not depend on the thread count.

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array2, Axis};
use std::cell::RefCell;
use std::rc::Rc;

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{RngCore, SeedableRng};
use rayon::prelude::*;
use wide::f64x4;

use super::{CHUNK_ROWS, SegmentOptions, in_order};
use crate::error::{ModelError, Result};

/// linfa's k-means: k-means++ seeding and `o.runs` restarts of at most `iterations` each;
/// the centroids of the run with the least inertia.
///
/// The restarts are linfa calls of one run each, with `o.cancel` checked before each: one
/// call with `runs` restarts cannot be stopped (linfa has no hook), and with 100 restarts
/// and k = 50 it ran for seconds after its caller had gone. The runs share one generator
/// ([`SharedRng`]), so they draw what linfa's own loop would, and the least inertia wins
/// as there (the first of equals); the bound between two checks is one run: a k-means++
/// seeding and `iterations` passes over the rows (at most [`SEEDING_SAMPLE`] of them).
fn linfa_kmeans(
    x: &Array2<f64>,
    k: usize,
    o: &SegmentOptions,
    iterations: u64,
) -> Result<Array2<f64>> {
    let ds = DatasetBase::from(x.view());
    let params = KMeans::params_with_rng(k, SharedRng::seed_from_u64(o.seed))
        .n_runs(1)
        .max_n_iterations(iterations.max(1))
        .tolerance(o.tolerance);
    let mut best: Option<(f64, Array2<f64>)> = None;
    for _ in 0..o.runs.max(1) {
        o.cancel.check()?;
        let model = params.fit(&ds).map_err(|e| ModelError::Numerical {
            what: "k-means",
            reason: e.to_string(),
        })?;
        // linfa reports the run's inertia over the row count: the same order as its sums.
        let inertia = model.inertia();
        if best.as_ref().is_none_or(|(least, _)| inertia < *least) {
            best = Some((inertia, model.centroids().clone()));
        }
    }
    best.map(|(_, centroids)| centroids)
        .ok_or_else(|| ModelError::Numerical {
            what: "k-means",
            reason: "no restart gave a finite inertia".into(),
        })
}

/// A generator whose clones share one stream: linfa clones the generator it is given at
/// the start of every fit, so consecutive one-run fits continue the stream one fit with
/// several runs would draw.
#[derive(Clone)]
struct SharedRng(Rc<RefCell<StdRng>>);

impl SharedRng {
    fn seed_from_u64(seed: u64) -> SharedRng {
        SharedRng(Rc::new(RefCell::new(StdRng::seed_from_u64(seed))))
    }
}

impl RngCore for SharedRng {
    fn next_u32(&mut self) -> u32 {
        self.0.borrow_mut().next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.borrow_mut().next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.borrow_mut().fill_bytes(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand::Error> {
        self.0.borrow_mut().try_fill_bytes(dest)
    }
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
/// `max_iterations`. Empty clusters keep their centroid. Checks `o.cancel` before each
/// pass.
fn lloyd(
    x: &Array2<f64>,
    mut centroids: Array2<f64>,
    o: &SegmentOptions,
) -> Result<(Array2<f64>, u64)> {
    let (k, d) = centroids.dim();
    let Some(rows) = x.as_slice() else {
        return Ok((centroids, 0));
    };
    let mut iterations = 0;
    while iterations < o.max_iterations {
        o.cancel.check()?;
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
    Ok((centroids, iterations))
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
///
/// `o.cancel` is checked before every seeding restart and every Lloyd pass: between two
/// checks runs one restart of [`RESTART_ITERATIONS`] iterations on at most
/// [`SEEDING_SAMPLE`] rows, or one pass.
pub(super) fn fit_centroids(
    x: &Array2<f64>,
    k: usize,
    o: &SegmentOptions,
) -> Result<(Array2<f64>, u64)> {
    o.cancel.check()?;
    let restart_iterations = if o.runs > 1 { RESTART_ITERATIONS } else { 1 };
    let iterations = o.max_iterations.min(restart_iterations);
    if x.nrows() <= SEEDING_SAMPLE {
        return lloyd(x, linfa_kmeans(x, k, o, iterations)?, o);
    }
    let sample = sample_rows(x, SEEDING_SAMPLE, o.seed);
    let (start, _) = lloyd(&sample, linfa_kmeans(&sample, k, o, iterations)?, o)?;
    lloyd(x, start, o)
}

pub(super) fn assign_all(x: &Array2<f64>, centroids: &Array2<f64>) -> (Vec<usize>, f64) {
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

/// The clustering of [`segment`](super::segment) on a matrix the caller prepared (one row per customer).
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

/// The k-means inside [`segment`](super::segment), for callers that bring their own features: k-means++
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

/// Distinct rows of the sample used to choose k; identical customers (common with
/// day-resolution data) would otherwise outweigh everything.
pub(super) fn sample_rows(x: &Array2<f64>, size: usize, seed: u64) -> Array2<f64> {
    let n = x.nrows();
    if n <= size {
        return x.clone();
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_5eed);
    let mut idx = sample(&mut rng, n, size).into_vec();
    idx.sort_unstable();
    x.select(Axis(0), &idx)
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

    /// Restarts fitted one linfa call at a time (so that a token is checked between them)
    /// give the centroids of linfa's own loop over all of them.
    #[test]
    fn restarts_one_call_at_a_time_equal_linfas_own_loop() {
        let mut rng = StdRng::seed_from_u64(5);
        let x = Array2::from_shape_vec((600, 3), rows(600, 3, &mut rng)).unwrap();
        for (k, runs, seed) in [(2, 1, 0), (4, 3, 7), (7, 10, 42)] {
            let o = SegmentOptions {
                runs,
                seed,
                ..SegmentOptions::default()
            };
            let ours = linfa_kmeans(&x, k, &o, RESTART_ITERATIONS).unwrap();
            let theirs = KMeans::params_with_rng(k, StdRng::seed_from_u64(seed))
                .n_runs(runs)
                .max_n_iterations(RESTART_ITERATIONS)
                .tolerance(o.tolerance)
                .fit(&DatasetBase::from(x.view()))
                .unwrap();
            assert_eq!(&ours, theirs.centroids(), "k = {k}, runs = {runs}");
        }
        // A fired token stops before the next restart.
        let o = SegmentOptions {
            cancel: crate::Cancel::new(),
            ..SegmentOptions::default()
        };
        o.cancel.cancel();
        assert_eq!(
            linfa_kmeans(&x, 3, &o, 1).unwrap_err(),
            ModelError::Cancelled
        );
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
