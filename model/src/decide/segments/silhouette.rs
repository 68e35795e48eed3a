//! The choice of k: the mean silhouette of each candidate k on a sample of customers.

use ndarray::Array2;
use rayon::prelude::*;

use super::SegmentOptions;
use super::kmeans::{assign_all, fit_centroids, sample_rows};
use crate::error::Result;

/// The number of segments: `options.k` when given, else the k in `k_min..=k_max` with the
/// best mean silhouette, chosen on a sample (silhouette is quadratic), ties toward fewer
/// segments. Also (k, mean silhouette on the sample) for every k tried.
pub(super) fn choose_k(
    x: &Array2<f64>,
    options: &SegmentOptions,
) -> Result<(usize, Vec<(usize, f64)>)> {
    let mut silhouette_by_k = Vec::new();
    let k = if options.k > 0 {
        options.k
    } else {
        let s = sample_rows(x, options.silhouette_sample, options.seed);
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
    Ok((k, silhouette_by_k))
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
