//! The Pareto/NBD log-likelihood: tail integrals as positive series in log space, the
//! exact gradient on dual numbers, and per-frequency series tables evaluated in vector lanes.

use super::integral::{self, EXPANSION_LIMIT, SERIES_LIMIT, adaptive_sums, terms_needed};
use crate::error::Result;
use crate::fit::{self, FitOptions, Fitted, Frequencies, GroupedRfm, LogLikelihood};
use crate::numerics::dual::{Dual, Real, logaddexp};
use crate::numerics::special::RisingRun;
use wide::f64x4;

/// Most coefficients tabulated per evaluation over all frequencies (32 bytes each); rows
/// that would need more sum their series term by term.
const MAX_TABULATED_TERMS: usize = 1 << 17;

/// The series of [`integral::ln_tail_integrals`] for m = r + x, k = s + 1 as a polynomial in z whose
/// coefficients c_n = Π_{j<n} (e_A+j)/(m+k+j) depend on the parameters and x only: the
/// likelihood tabulates them once per frequency per evaluation, with their derivatives, and
/// a row's series and its gradient are then one Horner pass of vector multiply-adds
/// instead of three products and a quotient of dual numbers per term. Entry n holds
/// [c_n, ∂c_n/∂r, ∂c_n/∂s, (n+1)·c_{n+1}]: the last lane sums to dS/dz, which carries the
/// derivatives in α and β (only z depends on them).
///
/// The series at t_x = 0 (every customer without repeat purchases, the commonest row) is
/// the same for every row of the frequency, and the longest: it is summed once here.
struct SeriesTable {
    coefficients: Vec<f64x4>,
    /// z at a lower limit of 0, and the series there.
    from_zero: Option<(Dual, Dual)>,
}

impl SeriesTable {
    /// As many terms as a row with t_x = 0 needs at these parameters, at most `cap`; none
    /// if every row, `oldest` the largest age, has its integral expanded instead (see
    /// [`integral::ln_integral`]).
    #[allow(clippy::too_many_arguments)] // the four parameters, the frequency, the limits
    fn new(
        r: Dual,
        alpha: Dual,
        s: Dual,
        beta: Dual,
        x: u32,
        cap: usize,
        oldest: f64,
    ) -> SeriesTable {
        let m = r + Dual::cst(f64::from(x));
        let k = s + Dual::cst(1.0);
        let mk = m + k;
        let (e_big, z_max) = if alpha.v >= beta.v {
            (m, (alpha.v - beta.v) / alpha.v)
        } else {
            (k, (beta.v - alpha.v) / beta.v)
        };
        let expanded = integral::expansion_ratio(alpha, m, beta, k, oldest) < EXPANSION_LIMIT;
        let len = if expanded {
            0
        } else {
            terms_needed(z_max).min(cap)
        };
        let mut c = Dual::cst(1.0);
        let coefficients = (0..len)
            .map(|n| {
                let nf = n as f64;
                let next = c * (e_big + Dual::cst(nf)) / (mk + Dual::cst(nf));
                let entry = f64x4::new([c.v, c.d[R], c.d[S], (nf + 1.0) * next.v]);
                c = next;
                entry
            })
            .collect();
        let mut table = SeriesTable {
            coefficients,
            from_zero: None,
        };
        // As `integral::ln_tail_integrals` computes z, so that a row's z at t_x = 0 is this
        // one bit for bit.
        let (big, small) = if alpha.v >= beta.v {
            (alpha, beta)
        } else {
            (beta, alpha)
        };
        let z0 = (big - small) / (big + Dual::cst(0.0));
        table.from_zero = table.sums([z0]).map(|[sum]| (z0, sum));
        table
    }

    /// A row's two series (at t_x and at T): the one at t_x from the table's own when
    /// t_x = 0, else both in one pass.
    fn row_sums(&self, z: [Dual; 2]) -> Option<[Dual; 2]> {
        match self.from_zero {
            Some((z0, sum)) if z[0] == z0 => {
                let [at_age] = self.sums([z[1]])?;
                Some([sum, at_age])
            }
            _ => self.sums(z),
        }
    }

    /// The series at each z (dual numbers in α and β only); `None` if it needs more terms
    /// than the table has.
    fn sums<const N: usize>(&self, z: [Dual; N]) -> Option<[Dual; N]> {
        let z_max = z.iter().fold(0.0, |m: f64, z| m.max(z.v));
        let len = terms_needed(z_max);
        let coefficients = self.coefficients.get(..len)?;
        let zs = z.map(|z| f64x4::splat(z.v));
        let mut acc = [f64x4::ZERO; N];
        for &c in coefficients.iter().rev() {
            for j in 0..N {
                acc[j] = acc[j].mul_add(zs[j], c);
            }
        }
        Some(std::array::from_fn(|j| {
            let [v, d_r, d_s, d_z] = acc[j].to_array();
            let mut d = z[j].d.map(|dz| d_z * dz);
            d[R] += d_r;
            d[S] += d_s;
            Dual { v, d }
        }))
    }
}

/// Derivative lanes of the parameters.
const R: usize = 0;
const S: usize = 2;

/// The part of the log-likelihood that depends on (t_x, T), relative to the scales:
/// ln[(1+T/α)^−(r+x) (1+T/β)^−s + s·α^(r+x) β^s·I], I = ∫_{t_x}^T (α+τ)^−(r+x) (β+τ)^−(s+1) dτ.
/// (The textbook bracket times α^(r+x) β^s: the log-likelihood is this plus
/// lnΓ(r+x) − lnΓ(r) − x ln α, and no r ln α or s ln β of 1e9 cancels against the bracket.)
/// Also returns ln(s·I) − (first term), the log-odds of death for P(alive). `sums` sums the
/// tail series when they are short (see [`integral::ln_integral`]).
#[allow(clippy::too_many_arguments)] // the four parameters, the row, how to sum its series
pub(super) fn ln_core<T: Real>(
    r: T,
    alpha: T,
    s: T,
    beta: T,
    x: u32,
    recency: f64,
    age: f64,
    sums: impl FnOnce(T, T, [T; 2]) -> Option<[T; 2]>,
) -> Option<(T, T)> {
    let m = r + T::cst(x as f64);
    let t = T::cst(age);
    let a_term = -(m * (t / alpha).ln_1p()) - s * (t / beta).ln_1p();
    if recency >= age {
        return Some((a_term, T::cst(f64::NEG_INFINITY)));
    }
    let k = s + T::cst(1.0);
    // ln(I·α^m β^(s+1)); s·I·α^m β^s is that over β.
    let ln_j = integral::ln_integral(alpha, m, beta, k, recency, age, sums)?;
    let b_term = s.ln() + ln_j - beta.ln();
    Some((logaddexp(a_term, b_term), b_term - a_term))
}

struct ParetoLikelihood<'a> {
    data: &'a GroupedRfm,
    /// The frequencies that occur, ascending, with their weights and each row's index
    /// (one series table each per evaluation).
    frequencies: Frequencies,
    total_weight: f64,
    /// The largest age: where the expansion covers it, no series is tabulated.
    oldest: f64,
}

impl<'a> ParetoLikelihood<'a> {
    fn new(data: &'a GroupedRfm) -> Self {
        Self {
            data,
            frequencies: data.frequencies(),
            total_weight: data.total_weight(),
            oldest: data.age.iter().fold(0.0, |m: f64, &t| m.max(t)),
        }
    }
}

impl LogLikelihood for ParetoLikelihood<'_> {
    const MODEL: &'static str = "Pareto/NBD";
    const PARAM_NAMES: &'static [&'static str] = &["r", "alpha", "s", "beta"];

    fn ll_grad(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let (r, alpha, s, beta) = (params[0], params[1], params[2], params[3]);
        // x-only terms: lnΓ(r+x) − lnΓ(r) and its derivative at each distinct x (a run over
        // consecutive arguments: bounded cost per frequency), minus x ln α (see [`ln_core`]).
        let (mut constant, mut g) = (0.0, [0.0; 4]);
        let mut run = RisingRun::new(r);
        let f = &self.frequencies;
        for (&x, &w) in f.values.iter().zip(&f.weight) {
            let sums = run.at(x);
            if w > 0.0 {
                constant += w * (sums.ln - x as f64 * alpha.ln());
                g[0] += w * sums.inv;
                g[1] -= w * x as f64 / alpha;
            }
        }
        let (dr, da, ds, db) = (
            Dual::var(r, 0),
            Dual::var(alpha, 1),
            Dual::var(s, 2),
            Dual::var(beta, 3),
        );
        let d = self.data;
        let n = d.len();
        // Rows whose series would be longer than SERIES_LIMIT are summed in pieces.
        let cap = (MAX_TABULATED_TERMS / f.values.len().max(1)).min(SERIES_LIMIT);
        let tables: Vec<SeriesTable> = f
            .values
            .iter()
            .map(|&x| SeriesTable::new(dr, da, ds, db, x, cap, self.oldest))
            .collect();
        let core = fit::chunked_sum(n, |start, end| {
            let mut acc = Dual::cst(0.0);
            for i in start..end {
                let x = d.frequency[i];
                let t = tables.get(f.row[i] as usize);
                let sums = |e_big, mk, z| {
                    t.and_then(|t| t.row_sums(z))
                        .or_else(|| adaptive_sums(e_big, mk, z))
                };
                match ln_core(dr, da, ds, db, x, d.recency[i], d.age[i], sums) {
                    Some((core, _)) => acc = acc + core.scale(d.weight[i]),
                    None => return [f64::NAN; 5],
                }
            }
            [acc.v, acc.d[0], acc.d[1], acc.d[2], acc.d[3]]
        });
        for i in 0..4 {
            grad[i] = g[i] + core[i + 1];
        }
        constant + core[0]
    }

    fn total_weight(&self) -> f64 {
        self.total_weight
    }

    fn groups(&self) -> usize {
        self.data.len()
    }

    fn initial_guess(&self) -> Vec<f64> {
        let (r, alpha) = self.data.rate_start();
        // Lifetimes on the order of the observation span.
        let mean_age = self
            .data
            .age
            .iter()
            .zip(&self.data.weight)
            .map(|(t, w)| t * w)
            .sum::<f64>()
            / self.total_weight;
        vec![r, alpha, 1.0, mean_age.max(1e-3)]
    }
}

/// Fits Pareto/NBD by maximum likelihood; the parameters come back as (r, α, s, β).
pub(super) fn fit_vector(data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<Vec<f64>>> {
    let opts = fit::with_warm_start(data, opts, |sub, o| fit_vector(sub, o).map(|f| f.params));
    let ll = ParetoLikelihood::new(data);
    let raw = fit::maximize(&ll, &opts)?;
    Ok(Fitted {
        params: raw.params,
        diagnostics: raw.diagnostics,
    })
}

/// Total log-likelihood of `data` at (r, α, s, β) (NaN only if a series failed to converge).
pub(super) fn log_likelihood_vector(data: &GroupedRfm, params: &[f64]) -> f64 {
    ParetoLikelihood::new(data).ll_grad(params, &mut [0.0; 4])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rfm::Rfm;

    #[test]
    fn gradient_matches_central_differences() {
        let rows = [
            Rfm::new(0, 0.0, 38.86).unwrap(),
            Rfm::new(2, 30.43, 38.86).unwrap(),
            Rfm::new(26, 30.86, 31.0).unwrap(),
            Rfm::new(7, 29.43, 38.86).unwrap(),
        ];
        let d = GroupedRfm::build(&rows, None).unwrap();
        let ll = ParetoLikelihood::new(&d);
        // CDNOW's estimates; α > β; and β, then α, far above the other (summed in pieces).
        for p in [
            [0.553, 10.578, 0.606, 11.669],
            [0.553, 20.0, 0.606, 3.0],
            [0.553, 10.578, 0.01, 1e7],
            [50.0, 1e5, 0.8, 30.0],
        ] {
            crate::fit::assert_gradient_matches(&ll, &p, "Pareto/NBD");
        }
    }

    /// Customers with up to a million purchases: the x-only terms come from closed forms
    /// (not a million-term sum per evaluation), with the gradient of the textbook value.
    #[test]
    fn gradient_matches_at_a_million_purchases() {
        let rows = [
            Rfm::new(0, 0.0, 52.0).unwrap(),
            Rfm::new(3, 30.0, 52.0).unwrap(),
            Rfm::new(999_999, 26.0, 52.0).unwrap(),
            Rfm::new(crate::MAX_FREQUENCY, 51.9, 52.0).unwrap(),
        ];
        // The heavy rows weigh little: a log-likelihood of order 1 keeps central
        // differences accurate.
        let d = GroupedRfm::build(&rows, Some(&[1.0, 1.0, 1e-6, 1e-6])).unwrap();
        let ll = ParetoLikelihood::new(&d);
        for p in [[0.55, 10.6, 0.6, 11.7], [1e4, 50.0, 0.01, 1e3]] {
            crate::fit::assert_gradient_matches(&ll, &p, "Pareto/NBD");
        }
    }

    /// The tabulated polynomial gives the term-by-term series and its gradient, also for a
    /// row's pair of series when its t_x is 0.
    #[test]
    fn series_table_matches_term_by_term_sums() {
        for (r, alpha, s, beta) in [
            (0.553, 10.578, 0.606, 11.669),
            (0.5, 9.8, 0.94, 27.8),
            (2.0, 40.0, 0.3, 4.0),
            (0.8, 5.0, 1.5, 5.0),
        ] {
            let (dr, da, ds, db) = (
                Dual::var(r, 0),
                Dual::var(alpha, 1),
                Dual::var(s, 2),
                Dual::var(beta, 3),
            );
            for x in [0, 1, 5, 200] {
                let table = SeriesTable::new(dr, da, ds, db, x, usize::MAX, f64::INFINITY);
                let m = dr + Dual::cst(f64::from(x));
                let k = ds + Dual::cst(1.0);
                let (big, e_big, small) = if alpha >= beta {
                    (da, m, db)
                } else {
                    (db, k, da)
                };
                let z = [0.0, 3.5, 40.0].map(|y| (big - small) / (big + Dual::cst(y)));
                let want = adaptive_sums(e_big, m + k, z).unwrap();
                let got = table.sums(z).unwrap();
                // A row with t_x = 0 takes its first series from the table's own.
                assert_eq!(table.from_zero.map(|(z0, _)| z0), Some(z[0]));
                let [from_zero, at_age] = table.row_sums([z[0], z[2]]).unwrap();
                let got = [from_zero, got[1], at_age];
                for (g, w) in got.iter().zip(&want) {
                    assert!((g.v - w.v).abs() <= 1e-14 * w.v, "{g:?} vs {w:?}");
                    for i in 0..4 {
                        let scale = w.d[i].abs().max(1e-12 * w.v);
                        assert!(
                            (g.d[i] - w.d[i]).abs() <= 1e-11 * scale,
                            "{i}: {g:?} vs {w:?}"
                        );
                    }
                }
            }
        }
    }
}
