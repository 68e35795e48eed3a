//! BG/NBD (Fader, Hardie & Lee 2005) and, sharing its machinery, MBG/NBD (Batislam,
//! Denizel & Filiztekin 2007; Wagner & Hoppe 2008).
//!
//! Both: purchases at rate λ ~ Gamma(r, α) while alive; dropout probability p ~ Beta(a, b).
//! BG/NBD checks for dropout after every *repeat* purchase, so a customer with x = 0 is
//! alive with certainty (a known weakness); MBG/NBD also checks right after the first
//! purchase, which gives one-time buyers a realistic P(alive).
//!
//! The likelihood is evaluated with per-frequency tables: every term that depends only on
//! x (log-gamma ratios and their digamma derivatives) is computed once per distinct x by
//! recurrence, leaving two logarithms and one exponential per customer row.

use statrs::function::beta::beta_reg;
use wide::f64x4;

use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::fit::{
    self, DirectLogTimes, DistinctLogTimes, FitOptions, Fitted, GroupedRfm, LogLikelihood, LogTimes,
};
use crate::numerics::lanes;
use crate::numerics::special::{hyp2f1, ln_gamma};
use crate::params::BetaGeoParams;

/// Which member of the beta-geometric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// BG/NBD: dropout checked after each repeat purchase.
    Classic,
    /// MBG/NBD: dropout also checked after the first purchase.
    Modified,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Classic => "BG/NBD",
            Variant::Modified => "MBG/NBD",
        }
    }

    /// Number of dropout checks survived by a customer alive after x repeat purchases.
    fn checks(self, x: u32) -> f64 {
        match self {
            Variant::Classic => x as f64,
            Variant::Modified => x as f64 + 1.0,
        }
    }
}

/// Per-frequency terms of the log-likelihood and their derivatives.
struct FrequencyTable {
    /// Σ_rows-with-x w · [lnΓ(r+x)−lnΓ(r) + lnB(a, b+k) − lnB(a, b)] summed over x, and gradient.
    constant: f64,
    constant_grad: [f64; 4],
    /// Its Hessian, upper triangle row by row: rr, rα, ra, rb, αα, αa, αb, aa, ab, bb.
    constant_hess: [f64; 10],
    /// Per x: ln(a / (b + k − 1)), the "dropped after the last purchase" term (−∞ where
    /// k = 0: no such term), and its derivative in b.
    drop: Vec<[f64; 2]>,
}

struct BetaGeoLikelihood<'a> {
    data: &'a GroupedRfm,
    variant: Variant,
    /// Total weight of rows per frequency x (constant across evaluations).
    weight_by_x: Vec<f64>,
    total_weight: f64,
}

impl<'a> BetaGeoLikelihood<'a> {
    fn new(data: &'a GroupedRfm, variant: Variant) -> Self {
        let weight_by_x = data.weight_by_frequency();
        Self {
            data,
            variant,
            weight_by_x,
            total_weight: data.total_weight(),
        }
    }

    fn table(&self, r: f64, alpha: f64, a: f64, b: f64) -> FrequencyTable {
        let n = self.weight_by_x.len();
        let mut drop = vec![[0.0; 2]; n];
        // Running sums by recurrence: lnΓ(y+k) − lnΓ(y) = Σ_{j<k} ln(y+j), ψ(y+k) − ψ(y) =
        // Σ 1/(y+j), ψ'(y+k) − ψ'(y) = −Σ 1/(y+j)².
        let (mut lg_r, mut dg_r, mut tg_r) = (0.0, 0.0, 0.0);
        let (mut lg_b, mut dg_b, mut tg_b) = (0.0, 0.0, 0.0);
        let (mut lg_ab, mut dg_ab, mut tg_ab) = (0.0, 0.0, 0.0);
        let shift = match self.variant {
            Variant::Classic => 0,
            Variant::Modified => 1,
        };
        // Advance the b and a+b sums by the MBG/NBD extra check.
        for j in 0..shift {
            let j = j as f64;
            lg_b += (b + j).ln();
            dg_b += 1.0 / (b + j);
            tg_b += (b + j).powi(-2);
            lg_ab += (a + b + j).ln();
            dg_ab += 1.0 / (a + b + j);
            tg_ab += (a + b + j).powi(-2);
        }
        let mut constant = 0.0;
        let mut g = [0.0; 4];
        let mut h = [0.0; 10];
        let ln_alpha = alpha.ln();
        let ln_a = a.ln();
        for x in 0..n {
            let w = self.weight_by_x[x];
            if w > 0.0 {
                // A1 + A2 of lifetimes' notation, written as differences of log-gammas.
                constant += w * (lg_r + r * ln_alpha + lg_b - lg_ab);
                g[0] += w * (dg_r + ln_alpha);
                g[1] += w * (r / alpha);
                g[2] += w * (-dg_ab);
                g[3] += w * (dg_b - dg_ab);
                h[0] -= w * tg_r;
                h[1] += w / alpha;
                h[4] -= w * (r / (alpha * alpha));
                h[7] += w * tg_ab;
                h[8] += w * tg_ab;
                h[9] += w * (tg_ab - tg_b);
            }
            let k = self.variant.checks(x as u32);
            drop[x] = if k > 0.0 {
                [ln_a - (b + k - 1.0).ln(), -1.0 / (b + k - 1.0)]
            } else {
                // Alive with certainty (BG/NBD, x = 0): no "dropped" term.
                [f64::NEG_INFINITY, 0.0]
            };
            let xf = x as f64;
            lg_r += (r + xf).ln();
            dg_r += 1.0 / (r + xf);
            tg_r += (r + xf).powi(-2);
            let kb = xf + shift as f64;
            lg_b += (b + kb).ln();
            dg_b += 1.0 / (b + kb);
            tg_b += (b + kb).powi(-2);
            lg_ab += (a + b + kb).ln();
            dg_ab += 1.0 / (a + b + kb);
            tg_ab += (a + b + kb).powi(-2);
        }
        FrequencyTable {
            constant,
            constant_grad: g,
            constant_hess: h,
            drop,
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
    /// ln(α + T), 1/(α + T), ln(α + t_x), 1/(α + t_x).
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
    /// the term is −(r + x)·ln(α+T) + ln(1 + e^d); σ = 1/(1 + e^−d) and σ(1 − σ) are its
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
        let weight = &self.data.weight[start..end];
        let drop = &table.drop[..];
        // Rows i..i + lanes of the chunk into the first lanes of `block`.
        let fill = |block: &mut Block, i: usize, lanes: usize| {
            let (frequency, weight) = (&frequency[i..i + lanes], &weight[i..i + lanes]);
            for j in 0..lanes {
                let x = frequency[j] as usize;
                block.rx[j] = r + x as f64;
                block.w[j] = weight[j];
                (block.ln_age[j], block.inv_age[j]) = ages.get(start + i + j);
                (block.ln_rec[j], block.inv_rec[j]) = recencies.get(start + i + j);
                [block.log_drop[j], block.log_drop_db[j]] = drop[x];
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

pub(crate) fn fit_variant(
    data: &GroupedRfm,
    variant: Variant,
    opts: &FitOptions,
) -> Result<Fitted<BetaGeoParams>> {
    let opts = fit::with_warm_start(data, opts, |sub, o| {
        fit_variant(sub, variant, o).map(|f| f.params.to_vec())
    });
    let ll = BetaGeoLikelihood::new(data, variant);
    let mut raw = fit::maximize(&ll, &opts)?;
    raw.diagnostics.model = variant.name().to_string();
    Ok(Fitted {
        params: BetaGeoParams::from_slice(&raw.params),
        diagnostics: raw.diagnostics,
    })
}

pub(crate) fn log_likelihood_variant(
    data: &GroupedRfm,
    variant: Variant,
    params: &BetaGeoParams,
) -> f64 {
    let ll = BetaGeoLikelihood::new(data, variant);
    let mut g = [0.0; 4];
    ll.ll_grad(&params.to_vec(), &mut g)
}

/// Fits BG/NBD by maximum likelihood.
pub fn fit(data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<BetaGeoParams>> {
    fit_variant(data, Variant::Classic, opts)
}

/// Total log-likelihood of `data` under BG/NBD with `params`.
pub fn log_likelihood(data: &GroupedRfm, params: &BetaGeoParams) -> f64 {
    log_likelihood_variant(data, Variant::Classic, params)
}

// ---------------------------------------------------------------------------------------
// Predictions. All times (t, recency, age) are in the unit the parameters were fitted in.
// ---------------------------------------------------------------------------------------

/// P(alive at T | x, t_x, T).
pub(crate) fn p_alive(p: &BetaGeoParams, variant: Variant, c: &Rfm) -> f64 {
    p_alive_with(p, variant, c, log_drop_odds(p, variant, c.frequency))
}

/// ln(a / (b + k − 1)) with k the dropout checks survived: the x-only part of the log-odds
/// of "dropped" against "alive" (a batch tabulates it per frequency).
pub(crate) fn log_drop_odds(p: &BetaGeoParams, variant: Variant, x: u32) -> f64 {
    let k = variant.checks(x);
    if k == 0.0 {
        f64::NEG_INFINITY
    } else {
        (p.a / (p.b + k - 1.0)).ln()
    }
}

/// P(alive) given the customer's [`log_drop_odds`].
#[inline]
pub(crate) fn p_alive_with(p: &BetaGeoParams, variant: Variant, c: &Rfm, log_drop: f64) -> f64 {
    if variant.checks(c.frequency) == 0.0 {
        return 1.0;
    }
    let rx = p.r + c.frequency as f64;
    let d = log_drop + rx * ((p.alpha + c.age) / (p.alpha + c.recency)).ln();
    sigmoid(-d)
}

fn sigmoid(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// Coefficients of E[N(t)] for customers alive at time 0 with λ ~ Gamma(r + x, α') and
/// p ~ Beta(a, b_post), per frequency x (FHL 2005 eq. 9 with posterior parameters).
///
/// FHL's form (a+b'−1)/(a−1)·[1 − (α'/(α'+t))^(r') ₂F₁(r', b'; a+b'−1; z)], z = t/(α'+t),
/// loses digits for large x and is 0/0 at a = 1. Euler's transformation turns the 2F1 into
/// 1 + (a−1)·S₁(z) with S₁(z) = Σ_{k≥1} q_k z^k, q_k = (A)_k (a)_{k−1} / ((c)_k k!),
/// c = a + b' − 1, A = c − r', so that
///
///   E[N(t)] = c · [ −expm1((a−1)L)/(a−1) − e^{(a−1)L} · S₁(z) ],  L = ln(1 − z),
///
/// with the (a−1) cancelled analytically. The q_k depend only on x: a batch computes them
/// once per frequency and each customer pays one log and one exp per horizon plus a short
/// polynomial.
#[derive(Debug, Clone)]
pub(crate) struct ExpectationTable {
    r: f64,
    a: f64,
    /// b' − x: b for BG/NBD, b + 1 for MBG/NBD (after the survived first-purchase check).
    b_offset: f64,
    /// Largest z the table is accurate for.
    z_max: f64,
    /// TERM_GRID / z_max (a multiplication in the per-customer lookup).
    grid_scale: f64,
    /// q_1.. per frequency, zero-padded to a multiple of SPLIT terms; empty where the series
    /// is too long at z_max (slow path).
    coefs: Vec<Vec<f64>>,
    /// Per frequency, the number of terms enough for z ≤ z_max·(g+1)/TERM_GRID.
    terms: Vec<[u16; TERM_GRID]>,
    /// d_1.. per frequency with E[N(t)] = c·Σ_{k≥1} d_k z^k (see [`direct_series`]),
    /// zero-padded to a multiple of SPLIT; empty where that form would lose digits or is
    /// too long at z_max (the batch path then uses `coefs`).
    direct: Vec<Vec<f64>>,
    /// As `terms`, for `direct`.
    direct_terms: Vec<[u16; TERM_GRID]>,
}

/// Resolution of the "terms needed for this z" lookup.
const TERM_GRID: usize = 32;

/// Longest tabulated series; customers beyond it use the on-the-fly series.
const MAX_TABLE_TERMS: usize = 4096;

/// Longest [`direct_series`] (its coefficients cost O(K²) to build): enough for z up to
/// about 0.85 (a 52-week horizon at T + α > 9 weeks for the CDNOW fit).
const MAX_DIRECT_TERMS: usize = 256;

/// Rows of one frequency from which a batch builds its direct series: ~10 µs to build at
/// z_max ≈ 0.6 (≤ 100 µs at the longest), for some 50 ns saved per row. Rarer
/// frequencies, small batches and single customers keep the Euler-form lanes.
const DIRECT_MIN_ROWS: usize = 256;

/// Largest loss of digits accepted in a [`direct_series`] coefficient: the ratio of the
/// magnitudes summed to the result (≤ 30 for the CDNOW fits; ≤ 64 keeps errors near
/// 1e-14).
const MAX_DIRECT_CANCELLATION: f64 = 64.0;

/// Per point of the z grid up to z_max, the number of leading terms of `q` (q[k] the
/// coefficient of z^(k+1)) after which every term is below `tol`.
fn term_grid(q: &[f64], z_max: f64, tol: f64) -> [u16; TERM_GRID] {
    std::array::from_fn(|g| {
        let z = z_max * (g + 1) as f64 / TERM_GRID as f64;
        let mut zk = z;
        for (k, qk) in q.iter().enumerate() {
            if k > 1 && (qk * zk).abs() < tol {
                return (k + 1) as u16;
            }
            zk *= z;
        }
        q.len() as u16
    })
}

/// Coefficients d_k (k ≥ 1) of E[N(t)]/c = −expm1(εL)/ε − e^{εL}·S₁(z) as one power
/// series in z (ε = a − 1, e^{εL} = (1−z)^ε): with e_j = (−ε)_j/j! the coefficients of
/// (1−z)^ε,
///
///   d_k = (1−ε)_{k−1}/k! − Σ_{m=1..k} q_m e_{k−m}
///
/// (the first part is −[(1−z)^ε − 1]/ε with ε cancelled analytically). A batch then pays
/// only a polynomial per horizon, no logarithm or exponential. For a ≤ 1 all the terms
/// have one sign and nothing cancels; for a well above 1 the e_j alternate and cancel,
/// so the series is refused (empty) when a coefficient loses more than
/// MAX_DIRECT_CANCELLATION, changes sign, or more than MAX_DIRECT_TERMS are needed at z_max.
fn direct_series(big_a: f64, a: f64, c: f64, z_max: f64) -> Vec<f64> {
    let eps = a - 1.0;
    let mut q = vec![0.0; MAX_DIRECT_TERMS + 1]; // q[m] = q_m
    let mut e = vec![0.0; MAX_DIRECT_TERMS + 1]; // e[j] = (−ε)_j / j!
    e[0] = 1.0;
    let mut d = Vec::new();
    let mut p = 1.0; // (1−ε)_{k−1} / k!
    let mut q_k = big_a / c;
    let mut zk = z_max;
    for k in 1..=MAX_DIRECT_TERMS {
        let kf = k as f64;
        q[k] = q_k;
        e[k] = e[k - 1] * (kf - 1.0 - eps) / kf;
        if k > 1 {
            p *= (kf - 1.0 - eps) / kf;
        }
        // p − Σ q_m e_{k−m}, compensated (TwoSum and FMA product errors), so that only
        // the inputs' own rounding is amplified by the cancellation.
        let (mut sum, mut comp, mut magnitude) = (p, 0.0, p.abs());
        for m in 1..=k {
            let prod = q[m] * e[k - m];
            let prod_err = q[m].mul_add(e[k - m], -prod);
            let next = sum - prod;
            let back = next - sum;
            comp += (sum - (next - back)) + (-prod - back) - prod_err;
            sum = next;
            magnitude += prod.abs();
        }
        let d_k = sum + comp;
        let same_sign = d
            .first()
            .is_none_or(|&d1: &f64| d1.signum() == d_k.signum());
        if !same_sign || magnitude > MAX_DIRECT_CANCELLATION * d_k.abs() {
            return Vec::new();
        }
        d.push(d_k);
        if k > 2 && (d_k * zk).abs() < 1e-17 * d[0].abs() {
            d.resize(d.len().next_multiple_of(SPLIT), 0.0);
            return d;
        }
        q_k *= (big_a + kf) * (a + kf - 1.0) / ((c + kf) * (kf + 1.0));
        zk *= z_max;
    }
    Vec::new()
}

impl ExpectationTable {
    /// Coefficients accurate for every z ≤ z_max, for the frequencies x ≤ max_x with
    /// `wanted(x).0`, and the [`direct_series`] too where `wanted(x).1`. Frequencies
    /// without them are evaluated from scratch.
    pub(crate) fn new(
        r: f64,
        a: f64,
        b_offset: f64,
        max_x: u32,
        z_max: f64,
        wanted: impl Fn(u32) -> (bool, bool),
    ) -> Self {
        let z_max = z_max.clamp(0.0, 1.0 - 1e-12);
        let coefs: Vec<Vec<f64>> = (0..=max_x)
            .map(|x| {
                if !wanted(x).0 {
                    return Vec::new();
                }
                let (big_a, c) = Self::shape(r, a, b_offset, x);
                let mut q = Vec::new();
                let mut term = big_a / c; // q_1
                let mut zk = z_max;
                for k in 1..=MAX_TABLE_TERMS {
                    q.push(term);
                    if (term * zk).abs() < 1e-17 && k > 2 {
                        // Zeros up to a multiple of SPLIT for `poly_split` (leading
                        // zeros leave every sum unchanged).
                        q.resize(q.len().next_multiple_of(SPLIT), 0.0);
                        return q;
                    }
                    let kf = k as f64;
                    term *= (big_a + kf) * (a + kf - 1.0) / ((c + kf) * (kf + 1.0));
                    zk *= z_max;
                }
                Vec::new()
            })
            .collect();
        let terms = coefs.iter().map(|q| term_grid(q, z_max, 1e-17)).collect();
        let direct: Vec<Vec<f64>> = (0..=max_x)
            .map(|x| {
                if !wanted(x).1 {
                    return Vec::new();
                }
                let (big_a, c) = Self::shape(r, a, b_offset, x);
                direct_series(big_a, a, c, z_max)
            })
            .collect();
        let direct_terms = direct
            .iter()
            .map(|d| term_grid(d, z_max, 1e-17 * d.first().map_or(0.0, |d1| d1.abs())))
            .collect();
        Self {
            r,
            a,
            b_offset,
            z_max,
            grid_scale: TERM_GRID as f64 / z_max,
            coefs,
            terms,
            direct,
            direct_terms,
        }
    }

    /// Terms of a series (`coefs` or `direct` with their grids) enough for every z ≤ `z`.
    fn terms_for(&self, table: &[f64], grid: Option<&[u16; TERM_GRID]>, z: f64) -> usize {
        let g = (z * self.grid_scale).ceil() as usize;
        match grid {
            Some(t) if (1..=TERM_GRID).contains(&g) => t[g - 1] as usize,
            _ => table.len(),
        }
    }

    /// (A, c) of the series for frequency x.
    fn shape(r: f64, a: f64, b_offset: f64, x: u32) -> (f64, f64) {
        let c = a + b_offset + x as f64 - 1.0;
        (c - r - x as f64, c)
    }

    /// E[N(t)] for a customer with frequency x alive at age T (α' = α + T).
    pub(crate) fn expected(&self, x: u32, alpha_t: f64, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let z = t / (alpha_t + t);
        let (big_a, c) = Self::shape(self.r, self.a, self.b_offset, x);
        let s1 = match self.coefs.get(x as usize) {
            Some(q) if !q.is_empty() && z <= self.z_max => {
                q.iter().rev().fold(0.0, |acc, qk| acc * z + qk) * z
            }
            _ => series_s1(big_a, self.a, c, z),
        };
        let l = -(t / alpha_t).ln_1p();
        let eps = self.a - 1.0;
        let em1 = (eps * l).exp_m1();
        // −expm1(εL)/ε → −L as ε → 0.
        let first = if (eps * l).abs() < 1e-9 {
            -l * (1.0 + 0.5 * eps * l)
        } else {
            -em1 / eps
        };
        c * (first - (1.0 + em1) * s1)
    }
}

/// Horizons evaluated together by [`ExpectationTable::expected_many`]: up to four AVX2
/// vectors of four (a 12-month schedule is three).
const BLOCK: usize = 16;

/// Interleaved Horner chains per vector in [`poly_split`]; coefficient tables are padded to
/// a multiple of it.
const SPLIT: usize = 3;

impl ExpectationTable {
    /// E[N(t)] at several horizons at once (CLV schedules). Same value as
    /// [`Self::expected`], summed differently (by [`direct_series`] where it is safe, else
    /// the same formula with [`poly_split`]), so results agree to rounding.
    pub(crate) fn expected_many(&self, x: u32, alpha_t: f64, ts: &[f64], out: &mut [f64]) {
        for (ts, out) in ts.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
            match ts.len().div_ceil(4) {
                1 => self.expected_block::<1>(x, alpha_t, ts, out),
                2 => self.expected_block::<2>(x, alpha_t, ts, out),
                3 => self.expected_block::<3>(x, alpha_t, ts, out),
                _ => self.expected_block::<4>(x, alpha_t, ts, out),
            }
        }
    }

    /// Up to 4·K horizons as K vectors evaluated in lock-step: every step is K independent
    /// vector operations, which hides the FMA and division latencies a single chain would
    /// wait on.
    #[inline(always)]
    fn expected_block<const K: usize>(&self, x: u32, alpha_t: f64, ts: &[f64], out: &mut [f64]) {
        // Missing lanes of a short block are t = 0 (result 0, dropped).
        let mut tb = [0.0; BLOCK];
        for (b, &t) in tb.iter_mut().zip(ts) {
            *b = t;
        }
        let t: [f64x4; K] = std::array::from_fn(|g| {
            f64x4::new([tb[4 * g], tb[4 * g + 1], tb[4 * g + 2], tb[4 * g + 3]])
        });
        let t_pos = t.map(|t| t.fast_max(f64x4::ZERO));
        // z grows with t: the block's largest z, from scalars off the vectors' path.
        let t_hi = ts.iter().fold(0.0, |m, &t| if t > m { t } else { m });
        let z_block = t_hi / (alpha_t + t_hi);
        let (_, c) = Self::shape(self.r, self.a, self.b_offset, x);
        let c = f64x4::splat(c);
        if let Some(d) = self.direct.get(x as usize).filter(|d| !d.is_empty())
            && z_block <= self.z_max
        {
            let alpha_t = f64x4::splat(alpha_t);
            let z = t_pos.map(|t| t / (alpha_t + t));
            // E = c·z·Σ d_k z^(k−1): one polynomial per horizon.
            let used = self
                .terms_for(d, self.direct_terms.get(x as usize), z_block)
                .next_multiple_of(SPLIT)
                .min(d.len());
            let p = poly_split(&d[..used], z);
            let mut buf = [0.0; BLOCK];
            for g in 0..K {
                let e = c * (p[g] * z[g]);
                let e = t[g].simd_le(f64x4::ZERO).select(f64x4::ZERO, e);
                buf[4 * g..4 * g + 4].copy_from_slice(&e.to_array());
            }
            // Element by element: a slice copy of variable length is a memcpy call.
            for (o, b) in out.iter_mut().zip(buf) {
                *o = b;
            }
            return;
        }
        let q = match self.coefs.get(x as usize) {
            Some(q) if !q.is_empty() && z_block <= self.z_max => q.as_slice(),
            _ => {
                for (o, &t) in out.iter_mut().zip(ts) {
                    *o = self.expected(x, alpha_t, t);
                }
                return;
            }
        };
        let inv_alpha = f64x4::splat(1.0 / alpha_t);
        let u = t_pos.map(|t| t * inv_alpha);
        let inv_1pu = u.map(|u| f64x4::ONE / (f64x4::ONE + u));
        let z: [f64x4; K] = std::array::from_fn(|g| u[g] * inv_1pu[g]);
        // The logarithms and exponentials first: straight-line code that keeps the core
        // busy while the (data-dependent) series loop below is still being predicted.
        let eps = self.a - 1.0;
        let l = lanes::ln_1p_with_inverse(u, inv_1pu).map(|v| -v);
        let el = l.map(|l| f64x4::splat(eps) * l);
        let em1 = lanes::exp_m1(el);
        let used = self
            .terms_for(q, self.terms.get(x as usize), z_block)
            .next_multiple_of(SPLIT)
            .min(q.len());
        let p = poly_split(&q[..used], z);
        let inv_eps = f64x4::splat(1.0 / eps);
        let mut buf = [0.0; BLOCK];
        for g in 0..K {
            // −expm1(εL)/ε → −L as ε → 0.
            let small = el[g].abs().simd_lt(f64x4::splat(1e-9));
            let first = small.select(
                -l[g] * el[g].mul_add(f64x4::HALF, f64x4::ONE),
                -em1[g] * inv_eps,
            );
            let e = c * (first - (f64x4::ONE + em1[g]) * (p[g] * z[g]));
            let e = t[g].simd_le(f64x4::ZERO).select(f64x4::ZERO, e);
            buf[4 * g..4 * g + 4].copy_from_slice(&e.to_array());
        }
        for (o, b) in out.iter_mut().zip(buf) {
            *o = b;
        }
    }
}

/// Σ_k q[k]·z^k for K vectors of z (q.len() a multiple of SPLIT) as SPLIT interleaved
/// Horner chains in z^SPLIT per vector: P = A₀(z³) + z·A₁(z³) + z²·A₂(z³). One chain
/// per vector would wait on each FMA's latency; 3·K independent ones keep the FMA units
/// busy and still fit in the 16 AVX2 registers for K = 3.
#[inline(always)]
fn poly_split<const K: usize>(q: &[f64], z: [f64x4; K]) -> [f64x4; K] {
    let zs = z.map(|z| (1..SPLIT).fold(z, |p, _| p * z));
    let mut acc = [[f64x4::ZERO; SPLIT]; K];
    for block in q.chunks_exact(SPLIT).rev() {
        for (i, &qk) in block.iter().enumerate() {
            let qk = f64x4::splat(qk);
            for g in 0..K {
                acc[g][i] = acc[g][i].mul_add(zs[g], qk);
            }
        }
    }
    std::array::from_fn(|g| {
        acc[g][..SPLIT - 1]
            .iter()
            .rev()
            .fold(acc[g][SPLIT - 1], |p, &a| p.mul_add(z[g], a))
    })
}

/// S₁(z) summed term by term, for z beyond a table (few customers: very young ones with
/// long horizons).
fn series_s1(big_a: f64, a: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (big_a / c * z, 0.0);
    for k in 1..5_000_000 {
        sum += term;
        if term.abs() < 1e-17 * sum.abs().max(1e-300) && k > 2 {
            break;
        }
        let kf = k as f64;
        term *= (big_a + kf) * (a + kf - 1.0) / ((c + kf) * (kf + 1.0)) * z;
    }
    sum
}

/// b' − x for a variant: the Beta posterior of p given alive is Beta(a, b + checks).
fn b_offset(p: &BetaGeoParams, variant: Variant) -> f64 {
    p.b + variant.checks(0)
}

/// E[N(t)] for a customer alive at 0 with λ ~ Gamma(r, α), p ~ Beta(a, b) whose next
/// dropout check follows the next purchase (FHL 2005 eq. 9).
pub(crate) fn expected_fresh(r: f64, alpha: f64, a: f64, b: f64, t: f64) -> f64 {
    ExpectationTable {
        r,
        a,
        b_offset: b,
        z_max: 0.0,
        grid_scale: f64::INFINITY,
        coefs: Vec::new(),
        terms: Vec::new(),
        direct: Vec::new(),
        direct_terms: Vec::new(),
    }
    .expected(0, alpha, t)
}

/// E[X(t) | x, t_x, T]: expected repeat purchases in (T, T + t].
pub(crate) fn expected_purchases(p: &BetaGeoParams, variant: Variant, c: &Rfm, t: f64) -> f64 {
    let table = ExpectationTable {
        r: p.r,
        a: p.a,
        b_offset: b_offset(p, variant),
        z_max: 0.0,
        grid_scale: f64::INFINITY,
        coefs: Vec::new(),
        terms: Vec::new(),
        direct: Vec::new(),
        direct_terms: Vec::new(),
    };
    p_alive(p, variant, c) * table.expected(c.frequency, p.alpha + c.age, t)
}

/// A batch table for `variant` with parameters `p`, valid up to z_max, for a batch in which
/// frequency x (≤ `max_x`) occurs `rows_by_x[x]` times.
pub(crate) fn expectation_table(
    p: &BetaGeoParams,
    variant: Variant,
    max_x: u32,
    z_max: f64,
    rows_by_x: &[usize],
) -> ExpectationTable {
    // A direct series costs O(K²) to build and saves some 50 ns per row evaluated with
    // it: worth it for the frequencies with many rows.
    let rows = |x: u32| rows_by_x.get(x as usize).copied().unwrap_or(0);
    ExpectationTable::new(p.r, p.a, b_offset(p, variant), max_x, z_max, |x| {
        (rows(x) > 0, rows(x) >= DIRECT_MIN_ROWS)
    })
}

/// P(no purchase in (T, T+t] | alive at T) = ((α+T)/(α+T+t))^(r+x); the propensity is
/// P(alive) · (1 − that).
pub(crate) fn propensity(p: &BetaGeoParams, variant: Variant, c: &Rfm, t: f64) -> f64 {
    let rx = p.r + c.frequency as f64;
    let at = p.alpha + c.age;
    let none_if_alive = rx * (at / (at + t)).ln();
    p_alive(p, variant, c) * -none_if_alive.exp_m1()
}

/// P(alive at T + t | x, t_x, T): alive now, and no dropout among the purchases made in
/// (T, T+t] — E[exp(−λ p t)] under the posterior, a 2F1 with negative argument.
pub(crate) fn p_alive_at(p: &BetaGeoParams, variant: Variant, c: &Rfm, t: f64) -> f64 {
    let x = c.frequency as f64;
    let b_post = p.b + variant.checks(c.frequency);
    let surv = hyp2f1(p.r + x, p.a, p.a + b_post, -t / (p.alpha + c.age));
    p_alive(p, variant, c) * surv.clamp(0.0, 1.0)
}

/// P(N(t) = n) for a customer alive at 0 with λ ~ Gamma(r, α), p ~ Beta(a, b) whose next
/// dropout check follows the next purchase (FHL 2005 eq. 8), in log space with the
/// finite-sum tail written as a regularized incomplete beta (no cancellation).
pub(crate) fn prob_n_fresh(r: f64, alpha: f64, a: f64, b: f64, t: f64, n: u32) -> f64 {
    if t <= 0.0 {
        return if n == 0 { 1.0 } else { 0.0 };
    }
    let nf = n as f64;
    let ln_b_ab = crate::numerics::special::ln_beta(a, b);
    let log_q = (alpha / (alpha + t)).ln();
    let log_1mq = (t / (alpha + t)).ln();
    let first = (crate::numerics::special::ln_beta(a, b + nf) - ln_b_ab + ln_gamma(r + nf)
        - ln_gamma(r)
        - ln_gamma(nf + 1.0)
        + r * log_q
        + nf * log_1mq)
        .exp();
    if n == 0 {
        return first;
    }
    // 1 − Σ_{j<n} NB(j; r, q) = P(NB ≥ n) = I_{1−q}(n, r).
    let tail = beta_reg(nf, r, t / (alpha + t));
    let second = (crate::numerics::special::ln_beta(a + 1.0, b + nf - 1.0) - ln_b_ab).exp() * tail;
    first + second
}

/// P(N(T, T+t] = n | x, t_x, T).
pub(crate) fn prob_n_purchases(
    p: &BetaGeoParams,
    variant: Variant,
    c: &Rfm,
    t: f64,
    n: u32,
) -> f64 {
    let x = c.frequency as f64;
    let pa = p_alive(p, variant, c);
    let b_post = p.b + variant.checks(c.frequency);
    let alive_part = pa * prob_n_fresh(p.r + x, p.alpha + c.age, p.a, b_post, t, n);
    if n == 0 {
        (1.0 - pa) + alive_part
    } else {
        alive_part
    }
}

/// E[X(t)] for a customer just acquired (first purchase at 0).
pub(crate) fn expected_new_customer(p: &BetaGeoParams, variant: Variant, t: f64) -> f64 {
    match variant {
        Variant::Classic => expected_fresh(p.r, p.alpha, p.a, p.b, t),
        // Survives the check after the first purchase with probability b/(a+b).
        Variant::Modified => p.b / (p.a + p.b) * expected_fresh(p.r, p.alpha, p.a, p.b + 1.0, t),
    }
}

/// Validates a horizon in model units.
pub(crate) fn check_horizon(t: f64) -> Result<()> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(ModelError::invalid(
            "horizon",
            format!("must be finite and >= 0, got {t}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The batch path (direct series where it is safe, Euler form with vector lanes
    /// elsewhere) agrees with the scalar E[N(t)] across parameter regimes, including
    /// a = 1 (ε = 0) and a ≫ 1 (where the direct series is refused).
    #[test]
    fn expected_many_matches_scalar_expectation() {
        let ts: Vec<f64> = (1..=13).map(|i| i as f64 * 4.345).collect();
        for (r, alpha, a, b) in [
            (0.243, 4.414, 0.793, 2.426),
            (1.5, 2.0, 0.5, 5.0),
            (0.5, 10.0, 1.0, 1.0),
            (0.5, 3.0, 1.5, 2.0),
            (0.5, 3.0, 10.0, 2.0),
            (2.0, 1.0, 0.2, 0.3),
            (0.05, 0.5, 0.05, 0.05),
        ] {
            let p = BetaGeoParams::new(r, alpha, a, b).unwrap();
            for variant in [Variant::Classic, Variant::Modified] {
                let min_age = 20.0;
                let z_max = 52.14 / (alpha + min_age + 52.14);
                let table = expectation_table(&p, variant, 40, z_max, &[usize::MAX; 41]);
                if a == 10.0 {
                    assert!(
                        table.direct.iter().all(Vec::is_empty),
                        "a = 10 must be refused"
                    );
                }
                if a == 0.793 {
                    // The CDNOW fit: every frequency takes the direct series.
                    assert!(table.direct.iter().all(|d| !d.is_empty()));
                }
                let mut out = vec![0.0; ts.len()];
                for x in [0, 1, 2, 7, 40] {
                    for age in [min_age, 33.3, 52.0] {
                        let alpha_t = alpha + age;
                        table.expected_many(x, alpha_t, &ts, &mut out);
                        for (&t, &got) in ts.iter().zip(&out) {
                            let want = table.expected(x, alpha_t, t);
                            assert!(
                                (got - want).abs() <= 1e-13 * want.abs(),
                                "{:?} {variant:?} x={x} T={age} t={t}: {got} vs {want}",
                                (r, alpha, a, b)
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn probabilities_sum_to_one_and_match_expectation() {
        let p = BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap();
        let c = Rfm::new(2, 30.43, 38.86).unwrap();
        for variant in [Variant::Classic, Variant::Modified] {
            let probs: Vec<f64> = (0..400)
                .map(|n| prob_n_purchases(&p, variant, &c, 39.0, n))
                .collect();
            let total: f64 = probs.iter().sum();
            let mean: f64 = probs.iter().enumerate().map(|(n, q)| n as f64 * q).sum();
            assert!((total - 1.0).abs() < 1e-9, "{total}");
            let e = expected_purchases(&p, variant, &c, 39.0);
            assert!((mean - e).abs() < 1e-8 * e, "{mean} vs {e}");
            let prop = propensity(&p, variant, &c, 39.0);
            assert!((prop - (1.0 - probs[0])).abs() < 1e-12);
        }
    }
}
