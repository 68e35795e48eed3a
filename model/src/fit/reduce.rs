//! Deterministic parallel sums: chunks that depend only on the row count, added in
//! chunk order, so a fit is the same bit for bit on any thread count.

/// Sums `f(start, end)` over chunks in parallel, adding the partial results in chunk order
/// so that the total depends neither on thread scheduling nor on the thread count (the
/// optimizer must see a deterministic objective).
pub(crate) fn chunked_sum<const K: usize>(
    n: usize,
    f: impl Fn(usize, usize) -> [f64; K] + Sync,
) -> [f64; K] {
    use rayon::prelude::*;
    let chunk = chunk_len(n);
    if chunk >= n {
        return f(0, n);
    }
    let starts: Vec<usize> = (0..n).step_by(chunk).collect();
    let parts: Vec<[f64; K]> = starts
        .par_iter()
        .map(|&s| f(s, (s + chunk).min(n)))
        .collect();
    parts
        .into_iter()
        .fold([0.0; K], |acc, p| std::array::from_fn(|k| acc[k] + p[k]))
}

/// Splits `0..n` into chunks for parallel reductions; small inputs stay on one thread.
/// A function of n only (at most 64 chunks), so that sums, and the fits built on them, are
/// the same bit for bit whatever the number of threads.
pub(crate) fn chunk_len(n: usize) -> usize {
    const MIN: usize = 16 * 1024;
    n.div_ceil(64).max(MIN)
}
