//! The BG/NBD and MBG/NBD log-likelihood over grouped rows: every term that depends only on
//! x is tabulated once per frequency by recurrence, the per-row work runs four rows at a time
//! in vector lanes, and the analytic gradient and Hessian come from the same pass.

use wide::f64x4;

use super::Variant;
use crate::fit::{
    self, DirectLogTimes, DistinctLogTimes, Frequencies, GroupedRfm, LogLikelihood, LogTimes,
};
use crate::numerics::lanes;
use crate::numerics::special::RisingRun;

/// Per-frequency terms of the log-likelihood and their derivatives.
struct FrequencyTable {
    /// Σ_rows-with-x w · [lnΓ(r+x)−lnΓ(r) + lnB(a, b+k) − lnB(a, b)] summed over x, and gradient.
    constant: f64,
    constant_grad: [f64; 4],
    /// Its Hessian, upper triangle row by row: rr, rα, ra, rb, αα, αa, αb, aa, ab, bb.
    constant_hess: [f64; 10],
    /// Per distinct frequency (indexed as `Frequencies::values`): ln(a / (b + k − 1)), the
    /// "dropped after the last purchase" term (−∞ where k = 0: no such term), and its
    /// derivative in b.
    drop: Vec<[f64; 2]>,
    /// Terms summed one by one, for the test of the cost bound.
    #[cfg(test)]
    steps: u64,
}

pub(super) struct BetaGeoLikelihood<'a> {
    data: &'a GroupedRfm,
    variant: Variant,
    /// The distinct frequencies and their total weights (constant across evaluations).
    frequencies: Frequencies,
    total_weight: f64,
}

impl<'a> BetaGeoLikelihood<'a> {
    pub(super) fn new(data: &'a GroupedRfm, variant: Variant) -> Self {
        Self {
            data,
            variant,
            frequencies: data.frequencies(),
            total_weight: data.total_weight(),
        }
    }

    /// The per-frequency terms at (r, α, a, b), at each distinct frequency only: the ln Γ,
    /// ψ and ψ' differences come from runs over consecutive arguments
    /// ([`RisingRun`]: term by term across short gaps, closed forms across long ones), so
    /// the cost is bounded per distinct frequency, whatever the largest one is.
    fn table(&self, r: f64, alpha: f64, a: f64, b: f64) -> FrequencyTable {
        let f = &self.frequencies;
        // lnΓ(y+k) − lnΓ(y) = Σ_{j<k} ln(y+j), ψ(y+k) − ψ(y) = Σ 1/(y+j),
        // ψ'(y+k) − ψ'(y) = −Σ 1/(y+j)², for y = r (k = x) and y = b, a + b (k = x + the
        // MBG/NBD extra check).
        let (mut run_r, mut run_b, mut run_ab) =
            (RisingRun::new(r), RisingRun::new(b), RisingRun::new(a + b));
        let shift = match self.variant {
            Variant::Classic => 0,
            Variant::Modified => 1,
        };
        let mut constant = 0.0;
        let mut g = [0.0; 4];
        let mut h = [0.0; 10];
        let ln_alpha = alpha.ln();
        let ln_a = a.ln();
        let mut drop = Vec::with_capacity(f.values.len());
        for (&x, &w) in f.values.iter().zip(&f.weight) {
            let rx = run_r.at(x);
            let bx = run_b.at(x + shift);
            let abx = run_ab.at(x + shift);
            if w > 0.0 {
                // A1 + A2 of lifetimes' notation, written as differences of log-gammas,
                // with r ln α folded into the rows' −(r+x) ln(α+T): they keep
                // −(r+x) ln(1 + T/α) and −x ln α stays here (no cancellation of two
                // 1e9-sized terms when r and α are huge). The α-derivatives keep the
                // textbook split; only the values and d/dr move.
                constant += w * (rx.ln - x as f64 * ln_alpha + bx.ln - abx.ln);
                g[0] += w * rx.inv;
                g[1] += w * (r / alpha);
                g[2] += w * (-abx.inv);
                g[3] += w * (bx.inv - abx.inv);
                h[0] -= w * rx.inv2;
                h[1] += w / alpha;
                h[4] -= w * (r / (alpha * alpha));
                h[7] += w * abx.inv2;
                h[8] += w * abx.inv2;
                h[9] += w * (abx.inv2 - bx.inv2);
            }
            let k = self.variant.checks(x);
            drop.push(if k > 0.0 {
                [ln_a - (b + k - 1.0).ln(), -1.0 / (b + k - 1.0)]
            } else {
                // Alive with certainty (BG/NBD, x = 0): no "dropped" term.
                [f64::NEG_INFINITY, 0.0]
            });
        }
        FrequencyTable {
            constant,
            constant_grad: g,
            constant_hess: h,
            drop,
            #[cfg(test)]
            steps: run_r.steps() + run_b.steps() + run_ab.steps(),
        }
    }
}

/// Number of per-row sums [`BetaGeoLikelihood::row_sums`] returns: value, four gradient
/// terms, ten Hessian terms.
const ROW_SUMS: usize = 15;

/// One block of four rows, gathered from the columns (lanes past the end of the data
/// have weight 0 and finite dummy values).
#[derive(Default)]
struct Block {
    /// r + x.
    rx: [f64; 4],
    w: [f64; 4],
    /// ln(1 + T/α), 1/(α + T), ln(1 + t_x/α), 1/(α + t_x).
    ln_age: [f64; 4],
    inv_age: [f64; 4],
    ln_rec: [f64; 4],
    inv_rec: [f64; 4],
    /// log_drop and log_drop_db of the row's frequency.
    log_drop: [f64; 4],
    log_drop_db: [f64; 4],
}

impl BetaGeoLikelihood<'_> {
    /// Log-likelihood at (r, α, a, b); writes its gradient into `grad` and, when `HESS`,
    /// its Hessian (4×4, row-major) into `hess`.
    fn evaluate<const HESS: bool>(
        &self,
        params: &[f64],
        grad: &mut [f64],
        hess: &mut [f64],
    ) -> f64 {
        let (r, alpha, a, b) = (params[0], params[1], params[2], params[3]);
        let table = self.table(r, alpha, a, b);
        let data = self.data;
        let sums = match (data.distinct_age(), data.distinct_recency()) {
            (Some(ages), Some(recencies)) => self.sums::<HESS>(
                &table,
                &DistinctLogTimes::new(ages, alpha),
                &DistinctLogTimes::new(recencies, alpha),
                r,
            ),
            (Some(ages), None) => self.sums::<HESS>(
                &table,
                &DistinctLogTimes::new(ages, alpha),
                &DirectLogTimes {
                    column: &data.recency,
                    alpha,
                },
                r,
            ),
            (None, Some(recencies)) => self.sums::<HESS>(
                &table,
                &DirectLogTimes {
                    column: &data.age,
                    alpha,
                },
                &DistinctLogTimes::new(recencies, alpha),
                r,
            ),
            (None, None) => self.sums::<HESS>(
                &table,
                &DirectLogTimes {
                    column: &data.age,
                    alpha,
                },
                &DirectLogTimes {
                    column: &data.recency,
                    alpha,
                },
                r,
            ),
        };
        grad[0] = table.constant_grad[0] + sums[1];
        grad[1] = table.constant_grad[1] + sums[2];
        grad[2] = table.constant_grad[2] + sums[3] / a;
        grad[3] = table.constant_grad[3] + sums[4];
        if HESS {
            let c = &table.constant_hess;
            let upper = [
                c[0] + sums[5],
                c[1] + sums[6],
                c[2] + sums[7] / a,
                c[3] + sums[8],
                c[4] + sums[9],
                c[5] + sums[10] / a,
                c[6] + sums[11],
                c[7] + sums[12] / (a * a),
                c[8] + sums[13] / a,
                c[9] + sums[14],
            ];
            let mut k = 0;
            for i in 0..4 {
                for j in i..4 {
                    hess[4 * i + j] = upper[k];
                    hess[4 * j + i] = upper[k];
                    k += 1;
                }
            }
        }
        table.constant + sums[0]
    }

    /// [`BetaGeoLikelihood::row_sums`] over every row, in parallel chunks.
    fn sums<const HESS: bool>(
        &self,
        table: &FrequencyTable,
        ages: &impl LogTimes,
        recencies: &impl LogTimes,
        r: f64,
    ) -> [f64; ROW_SUMS] {
        fit::chunked_sum(self.data.len(), |start, end| {
            self.row_sums::<HESS>(table, ages, recencies, r, start, end)
        })
    }

    /// Sums over rows start..end of the per-row log-likelihood terms: [value, d/dr, d/dα,
    /// a·d/da, d/db], then with `HESS` the second derivatives [rr, rα, a·ra, rb, αα, a·αa,
    /// αb, a²·aa, a·ab, bb]. Four rows at a time in vector lanes: a row's cost is one
    /// exponential and one ln(1 + u), both in `lanes`, and some twenty multiply-adds.
    ///
    /// Per row, with d = log_drop(x) + (r + x)·(ln(α+T) − ln(α+t_x)) the log-odds of
    /// "dropped after the last purchase" against "alive" (A4 − A3 in lifetimes' notation),
    /// the term is −(r + x)·ln(1 + T/α) + ln(1 + e^d) (the −x ln α of it is in the
    /// table's constant); σ = 1/(1 + e^−d) and σ(1 − σ) are its
    /// first and second derivatives in d. A BG/NBD row with x = 0 has log_drop = −∞, so
    /// e^d = σ = 0.
    #[inline(always)]
    fn row_sums<const HESS: bool>(
        &self,
        table: &FrequencyTable,
        ages: &impl LogTimes,
        recencies: &impl LogTimes,
        r: f64,
        start: usize,
        end: usize,
    ) -> [f64; ROW_SUMS] {
        let frequency = &self.data.frequency[start..end];
        let frequency_index = &self.frequencies.row[start..end];
        let weight = &self.data.weight[start..end];
        let drop = &table.drop[..];
        // Rows i..i + lanes of the chunk into the first lanes of `block`.
        let fill = |block: &mut Block, i: usize, lanes: usize| {
            let (frequency, weight) = (&frequency[i..i + lanes], &weight[i..i + lanes]);
            let frequency_index = &frequency_index[i..i + lanes];
            for j in 0..lanes {
                block.rx[j] = r + f64::from(frequency[j]);
                block.w[j] = weight[j];
                (block.ln_age[j], block.inv_age[j]) = ages.get(start + i + j);
                (block.ln_rec[j], block.inv_rec[j]) = recencies.get(start + i + j);
                [block.log_drop[j], block.log_drop_db[j]] = drop[frequency_index[j] as usize];
            }
        };
        let mut acc = [f64x4::ZERO; ROW_SUMS];
        let mut block = Block::default();
        let n = end - start;
        let mut i = 0;
        while i < n {
            if n - i >= 4 {
                fill(&mut block, i, 4);
                i += 4;
            } else {
                block = Block::default();
                fill(&mut block, i, n - i);
                i = n;
            }
            let rx = f64x4::from(block.rx);
            let w = f64x4::from(block.w);
            let ln_age = f64x4::from(block.ln_age);
            let inv_age = f64x4::from(block.inv_age);
            let inv_rec = f64x4::from(block.inv_rec);
            let log_drop_db = f64x4::from(block.log_drop_db);
            let dl = ln_age - f64x4::from(block.ln_rec);
            let dinv = inv_age - inv_rec;
            let d = rx.mul_add(dl, f64x4::from(block.log_drop));
            let [e] = lanes::exp([-d.abs()]);
            let t = f64x4::ONE / (f64x4::ONE + e);
            let [ln1p] = lanes::ln_1p_with_inverse([e], [t]);
            // ln(1 + e^d) = max(d, 0) + ln(1 + e^−|d|); σ = 1/(1 + e^−d).
            let softplus = d.max(f64x4::ZERO) + ln1p;
            let positive = d.simd_gt(f64x4::ZERO);
            let sigma = positive.select(t, e * t);
            let ws = w * sigma;
            acc[0] += w * (-rx).mul_add(ln_age, softplus);
            acc[1] += ws.mul_add(dl, -(w * ln_age));
            acc[2] += (ws * rx).mul_add(dinv, -(w * rx * inv_age));
            acc[3] += ws;
            acc[4] += ws * log_drop_db;
            if HESS {
                // ∇d = (Δln, (r+x)·Δinv, 1/a, log_drop_db); the row's Hessian is
                // σ(1−σ)·∇d∇dᵀ + σ·∇²d plus that of −(r+x)·ln(α+T).
                let one_minus = positive.select(e * t, t);
                let ss = ws * one_minus;
                let rdinv = rx * dinv;
                let ss_dl = ss * dl;
                let ss_rdinv = ss * rdinv;
                acc[5] += ss_dl * dl;
                // −w/(α+T) + wσ·Δinv = −w·((1−σ)/(α+T) + σ/(α+t_x))
                acc[6] += ss_dl.mul_add(rdinv, -(w * one_minus.mul_add(inv_age, sigma * inv_rec)));
                acc[7] += ss_dl;
                acc[8] += ss_dl * log_drop_db;
                // w(r+x)/(α+T)² − wσ(r+x)·(1/(α+T)² − 1/(α+t_x)²), regrouped without the
                // cancellation.
                let inv_age2 = inv_age * inv_age;
                let inv_rec2 = inv_rec * inv_rec;
                acc[9] += ss_rdinv.mul_add(
                    rdinv,
                    (w * rx) * one_minus.mul_add(inv_age2, sigma * inv_rec2),
                );
                acc[10] += ss_rdinv;
                acc[11] += ss_rdinv * log_drop_db;
                acc[12] -= ws * sigma;
                acc[13] += ss * log_drop_db;
                acc[14] += (ss + ws) * (log_drop_db * log_drop_db);
            }
        }
        acc.map(|v| {
            let [l0, l1, l2, l3] = v.to_array();
            l0 + l1 + l2 + l3
        })
    }
}

impl LogLikelihood for BetaGeoLikelihood<'_> {
    const MODEL: &'static str = "beta-geometric/NBD";
    const PARAM_NAMES: &'static [&'static str] = &["r", "alpha", "a", "b"];

    const HESSIAN: bool = true;

    fn ll_grad(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        self.evaluate::<false>(params, grad, &mut [])
    }

    fn ll_grad_hess(&self, params: &[f64], grad: &mut [f64], hess: &mut [f64]) -> f64 {
        self.evaluate::<true>(params, grad, hess)
    }

    fn total_weight(&self) -> f64 {
        self.total_weight
    }

    fn groups(&self) -> usize {
        self.data.len()
    }

    fn initial_guess(&self) -> Vec<f64> {
        let (r, alpha) = self.data.rate_start();
        vec![r, alpha, 1.0, 1.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rfm::Rfm;
    use crate::numerics::special::ln_gamma;

    fn data() -> GroupedRfm {
        let rows = [
            Rfm::new(0, 0.0, 38.86).unwrap(),
            Rfm::new(2, 30.43, 38.86).unwrap(),
            Rfm::new(1, 1.71, 38.86).unwrap(),
            Rfm::new(7, 29.43, 38.86).unwrap(),
            Rfm::new(0, 0.0, 20.0).unwrap(),
            Rfm::new(3, 10.0, 39.0).unwrap(),
        ];
        GroupedRfm::build(&rows, None).unwrap()
    }

    /// The table-based likelihood equals the textbook per-row formula, and its gradient
    /// equals central differences, for both variants.
    #[test]
    fn likelihood_and_gradient_match_direct_formula() {
        let d = data();
        let p = [0.243, 4.414, 0.793, 2.426];
        for variant in [Variant::Classic, Variant::Modified] {
            let ll = BetaGeoLikelihood::new(&d, variant);
            let mut g = [0.0; 4];
            let v = ll.ll_grad(&p, &mut g);
            let direct: f64 = (0..d.len())
                .map(|i| {
                    let (r, al, a, b) = (p[0], p[1], p[2], p[3]);
                    let x = d.frequency[i] as f64;
                    let (tx, t) = (d.recency[i], d.age[i]);
                    let s = if variant == Variant::Modified {
                        1.0
                    } else {
                        0.0
                    };
                    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * al.ln();
                    let a2 = ln_gamma(a + b) + ln_gamma(b + x + s)
                        - ln_gamma(b)
                        - ln_gamma(a + b + x + s);
                    let a3 = -(r + x) * (al + t).ln();
                    let l = if variant == Variant::Classic && x == 0.0 {
                        a3
                    } else {
                        let a4 = a.ln() - (b + x + s - 1.0).ln() - (r + x) * (al + tx).ln();
                        a3.max(a4) + (-(a3 - a4).abs()).exp().ln_1p()
                    };
                    d.weight[i] * (a1 + a2 + l)
                })
                .sum();
            assert!(
                (v - direct).abs() < 1e-10 * direct.abs(),
                "{variant:?}: {v} vs {direct}"
            );
            crate::fit::assert_gradient_matches(&ll, &p, &format!("{variant:?}"));
        }
    }

    /// Customers with up to a million purchases (`MAX_FREQUENCY`): the table sums at most
    /// `STEP_LIMIT` terms per distinct frequency and run (it summed a million per
    /// evaluation, and fits of such customers took 5–25 s), and its closed forms give the
    /// textbook value, gradient and Hessian.
    #[test]
    fn table_cost_is_bounded_per_distinct_frequency() {
        let rows = [
            Rfm::new(0, 0.0, 52.0).unwrap(),
            Rfm::new(1, 3.0, 52.0).unwrap(),
            Rfm::new(40, 30.0, 52.0).unwrap(),
            Rfm::new(900_000, 50.0, 52.0).unwrap(),
            Rfm::new(999_999, 26.0, 52.0).unwrap(),
            Rfm::new(crate::MAX_FREQUENCY, 51.9, 52.0).unwrap(),
        ];
        // The heavy rows weigh little, so that the log-likelihood stays of order 1 and
        // central differences of it keep their digits.
        let weights = [1.0, 2.0, 1.0, 1e-6, 1e-6, 1e-6];
        let d = GroupedRfm::build(&rows, Some(&weights)).unwrap();
        let p = [0.243, 4.414, 0.793, 2.426];
        let bound = 3 * u64::from(crate::numerics::special::STEP_LIMIT) * rows.len() as u64;
        for variant in [Variant::Classic, Variant::Modified] {
            let ll = BetaGeoLikelihood::new(&d, variant);
            let table = ll.table(p[0], p[1], p[2], p[3]);
            assert!(table.steps <= bound, "{variant:?}: {} steps", table.steps);
            assert_eq!(table.drop.len(), rows.len());
            let direct: f64 = rows
                .iter()
                .zip(weights)
                .map(|(c, w)| {
                    let (r, al, a, b) = (p[0], p[1], p[2], p[3]);
                    let (x, tx, t) = (f64::from(c.frequency), c.recency, c.age);
                    let s = f64::from(u8::from(variant == Variant::Modified));
                    let a3 = -(r + x) * (al + t).ln();
                    let l = if variant == Variant::Classic && x == 0.0 {
                        a3
                    } else {
                        let a4 = a.ln() - (b + x + s - 1.0).ln() - (r + x) * (al + tx).ln();
                        a3.max(a4) + (-(a3 - a4).abs()).exp().ln_1p()
                    };
                    w * (crate::numerics::special::ln_gamma_shift(r, x)
                        + r * al.ln()
                        + crate::numerics::special::ln_gamma_shift(b, x + s)
                        - crate::numerics::special::ln_gamma_shift(a + b, x + s)
                        + l)
                })
                .sum();
            let v = ll.ll_grad(&p, &mut [0.0; 4]);
            assert!(
                (v - direct).abs() < 1e-12 * direct.abs(),
                "{variant:?}: {v} vs {direct}"
            );
            crate::fit::assert_gradient_matches(&ll, &p, &format!("{variant:?}"));
            crate::fit::assert_hessian_matches(&ll, &p, &format!("{variant:?}"));
        }
    }

    /// The analytic Hessian equals differences of the gradient, on rows whose times are
    /// looked up per distinct value and on rows computed directly, for both variants, near
    /// and far from the optimum.
    #[test]
    fn hessian_matches_differences_of_the_gradient() {
        let repeated: Vec<Rfm> = (0..4000u32)
            .map(|i| {
                let x = i % 5;
                let age = (20 + i % 13) as f64;
                let recency = if x == 0 { 0.0 } else { (i % 17) as f64 % age };
                Rfm::new(x, recency, age).unwrap()
            })
            .collect();
        let repeated = GroupedRfm::build(&repeated, None).unwrap();
        assert!(repeated.distinct_age().is_some() && repeated.distinct_recency().is_some());
        let direct = data();
        assert!(direct.distinct_age().is_none());
        for d in [&direct, &repeated] {
            for p in [
                [0.243, 4.414, 0.793, 2.426],
                [1.5, 2.0, 0.5, 5.0],
                [0.05, 30.0, 3.0, 0.2],
            ] {
                for variant in [Variant::Classic, Variant::Modified] {
                    let ll = BetaGeoLikelihood::new(d, variant);
                    crate::fit::assert_hessian_matches(&ll, &p, &format!("{variant:?} {p:?}"));
                }
            }
        }
    }
}
