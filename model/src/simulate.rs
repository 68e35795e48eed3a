//! Seeded synthetic customers drawn from the BG/NBD, MBG/NBD and Pareto/NBD
//! transaction models, optionally with Gamma-Gamma spend.
//!
//! Times are in an abstract unit (rates are per unit). Every customer gets a
//! private random stream derived from `(seed, customer index)` only, so the
//! output depends on neither the thread count nor the scheduling, and
//! [`simulate_transactions`] and [`simulate_summaries`] draw the same
//! customers for the same spec.
//!
//! Per customer, draws happen in this order: birth, λ, dropout parameter (p or
//! μ), ν (if a spend model is given), [Pareto: lifetime τ], then for each
//! purchase (first one included) its amount, followed by the event draws
//! (inter-purchase gap, dropout coin).

use rand::{Rng, RngCore};
use rand_distr::{Beta, Distribution, Exp1, Gamma};
use rayon::prelude::*;

use crate::data::rfm::{CustomerTable, HoldoutColumns, Rfm};
use crate::error::{ModelError, Result};
use crate::params::{BetaGeoParams, GammaGammaParams, ParetoNbdParams};

/// Upper bound on the purchases simulated for one customer; a customer
/// exceeding it makes the simulation fail with [`ModelError::Numerical`]
/// instead of running (nearly) forever for absurd rate parameters.
pub const MAX_PURCHASES_PER_CUSTOMER: u32 = 100_000_000;

/// Customers per rayon task in [`simulate_summaries`].
const CHUNK: usize = 4096;

/// The latent purchase/dropout process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TransactionProcess {
    /// BG/NBD: dropout (prob. p) possible only right after a *repeat* purchase.
    BgNbd(BetaGeoParams),
    /// MBG/NBD: dropout (prob. p) possible right after *every* purchase, the first included.
    MbgNbd(BetaGeoParams),
    /// Pareto/NBD: exponential lifetime with rate μ ~ Gamma(s, β).
    ParetoNbd(ParetoNbdParams),
}

/// What to simulate. See the module docs for the models.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationSpec {
    /// Number of customers (≥ 1).
    pub customers: usize,
    pub seed: u64,
    pub process: TransactionProcess,
    /// Gamma-Gamma spend model; `None` means no amounts (NaN in the stream, 0 in tables).
    pub spend: Option<GammaGammaParams>,
    /// End of the calibration window (finite, > 0).
    pub calibration_length: f64,
    /// Births (first purchases) are Uniform[0, birth_window); 0 ⇒ everybody born at 0.
    /// Must satisfy 0 ≤ birth_window ≤ calibration_length.
    pub birth_window: f64,
    /// Length of the holdout window after the calibration end (finite, ≥ 0; 0 ⇒ no holdout).
    pub holdout_length: f64,
}

impl SimulationSpec {
    /// BG/NBD customers with Gamma-Gamma spend at the published CDNOW estimates (weeks:
    /// r 0.243, α 4.414, a 0.793, b 2.426; p 6.25, q 3.74, v 15.44), observed for `weeks`
    /// with births over the first half, no holdout: the benches', the bench tool's and
    /// `custval simulate`'s customers.
    pub fn cdnow_like(customers: usize, seed: u64, weeks: f64) -> SimulationSpec {
        SimulationSpec {
            customers,
            seed,
            process: TransactionProcess::BgNbd(BetaGeoParams {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            }),
            spend: Some(GammaGammaParams {
                p: 6.25,
                q: 3.74,
                v: 15.44,
            }),
            calibration_length: weeks,
            birth_window: weeks / 2.0,
            holdout_length: 0.0,
        }
    }
}

/// The latent draws of one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentCustomer {
    /// Time of the first purchase.
    pub birth: f64,
    /// Purchase rate λ (per unit time).
    pub lambda: f64,
    /// p for BG/NBD and MBG/NBD, μ (dropout rate) for Pareto/NBD.
    pub dropout: f64,
    /// Gamma-Gamma ν; NaN when the spec has no spend model.
    pub nu: f64,
    /// Whether the customer had not dropped out by `calibration_length`.
    pub alive_at_calibration_end: bool,
}

/// Summaries of simulated customers plus their latent draws (same order).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedTable {
    /// ids "0".."n-1"; continuous-time RFM; `monetary_value` is the mean repeat
    /// spend in calibration (first purchase excluded, 0 if x = 0 or without a
    /// spend model); `holdout` is `Some` iff `holdout_length > 0` (holdout spend
    /// is 0 without a spend model); `unit` is `None` (abstract unit).
    pub table: CustomerTable,
    pub latent: Vec<LatentCustomer>,
}

/// One simulated purchase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulatedTransaction {
    /// Customer index (the table id parsed as a number).
    pub customer: u64,
    pub time: f64,
    /// Purchase amount; NaN when the spec has no spend model.
    pub amount: f64,
}

/// Simulates the customers' calibration (and holdout) summaries in parallel,
/// in O(customers) memory. Identical to summarising the stream of
/// [`simulate_transactions`] for the same spec, whatever the thread count.
pub fn simulate_summaries(spec: &SimulationSpec) -> Result<SimulatedTable> {
    summaries_impl(spec, true)
}

/// Calls `sink` for every transaction (first purchase included), in customer
/// order then time order, up to `calibration_length + holdout_length`; returns
/// the latent draws. On error, `sink` may already have received some transactions.
pub fn simulate_transactions(
    spec: &SimulationSpec,
    mut sink: impl FnMut(SimulatedTransaction),
) -> Result<Vec<LatentCustomer>> {
    let sampler = Sampler::new(spec)?;
    let mut latent = Vec::with_capacity(spec.customers);
    for i in 0..spec.customers as u64 {
        let l = sampler.customer(i, |time, amount| {
            sink(SimulatedTransaction {
                customer: i,
                time,
                amount,
            })
        })?;
        latent.push(l);
    }
    Ok(latent)
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

struct Row {
    rfm: Rfm,
    monetary: f64,
    holdout_frequency: u32,
    holdout_spend: f64,
    latent: LatentCustomer,
}

fn summaries_impl(spec: &SimulationSpec, parallel: bool) -> Result<SimulatedTable> {
    let sampler = Sampler::new(spec)?;
    let n = spec.customers;
    let rows: Vec<Row> = if parallel {
        (0..n)
            .into_par_iter()
            .with_min_len(CHUNK)
            .map(|i| sampler.summarize(i as u64))
            .collect::<Result<Vec<Row>>>()?
    } else {
        (0..n as u64)
            .map(|i| sampler.summarize(i))
            .collect::<Result<Vec<Row>>>()?
    };
    let ids: Vec<String> = if parallel {
        (0..n)
            .into_par_iter()
            .with_min_len(CHUNK)
            .map(|i| i.to_string())
            .collect()
    } else {
        (0..n).map(|i| i.to_string()).collect()
    };

    let mut rfm = Vec::with_capacity(n);
    let mut monetary_value = Vec::with_capacity(n);
    let mut latent = Vec::with_capacity(n);
    let with_holdout = spec.holdout_length > 0.0;
    let (mut hf, mut hs) = if with_holdout {
        (Vec::with_capacity(n), Vec::with_capacity(n))
    } else {
        (Vec::new(), Vec::new())
    };
    for row in rows {
        rfm.push(row.rfm);
        monetary_value.push(row.monetary);
        latent.push(row.latent);
        if with_holdout {
            hf.push(row.holdout_frequency);
            hs.push(row.holdout_spend);
        }
    }
    let holdout = with_holdout.then_some(HoldoutColumns {
        duration: spec.holdout_length,
        frequency: hf,
        spend: hs,
    });
    Ok(SimulatedTable {
        table: CustomerTable {
            ids,
            rfm,
            monetary_value,
            holdout,
            unit: None,
        },
        latent,
    })
}

enum Process {
    /// λ = gamma_r / alpha, p ~ beta.
    BetaGeo {
        gamma_r: Gamma<f64>,
        alpha: f64,
        beta: Beta<f64>,
        dropout_after_first: bool,
    },
    /// λ = gamma_r / alpha, μ = gamma_s / beta.
    Pareto {
        gamma_r: Gamma<f64>,
        alpha: f64,
        gamma_s: Gamma<f64>,
        beta: f64,
    },
}

struct Spend {
    /// ν = gamma_q / v.
    gamma_q: Gamma<f64>,
    v: f64,
    /// z = gamma_p / ν.
    gamma_p: Gamma<f64>,
}

struct Sampler {
    seed: u64,
    process: Process,
    spend: Option<Spend>,
    birth_window: f64,
    calibration_end: f64,
    end: f64,
}

fn check_param(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ModelError::invalid(
            field,
            format!("must be finite and > 0, got {value}"),
        ))
    }
}

fn unit_gamma(field: &str, shape: f64) -> Result<Gamma<f64>> {
    check_param(field, shape)?;
    Gamma::new(shape, 1.0).map_err(|e| ModelError::invalid(field, format!("{e}")))
}

impl Sampler {
    fn new(spec: &SimulationSpec) -> Result<Self> {
        if spec.customers == 0 {
            return Err(ModelError::invalid("customers", "must be >= 1"));
        }
        let cal = spec.calibration_length;
        if !(cal.is_finite() && cal > 0.0) {
            return Err(ModelError::invalid(
                "calibration_length",
                format!("must be finite and > 0, got {cal}"),
            ));
        }
        let bw = spec.birth_window;
        if !(bw >= 0.0 && bw <= cal) {
            return Err(ModelError::invalid(
                "birth_window",
                format!("must satisfy 0 <= birth_window <= calibration_length ({cal}), got {bw}"),
            ));
        }
        let h = spec.holdout_length;
        if !(h.is_finite() && h >= 0.0) {
            return Err(ModelError::invalid(
                "holdout_length",
                format!("must be finite and >= 0, got {h}"),
            ));
        }
        let end = cal + h;
        if !end.is_finite() {
            return Err(ModelError::invalid(
                "holdout_length",
                "calibration_length + holdout_length overflows",
            ));
        }

        let process = match spec.process {
            TransactionProcess::BgNbd(p) | TransactionProcess::MbgNbd(p) => {
                check_param("process.alpha", p.alpha)?;
                check_param("process.a", p.a)?;
                check_param("process.b", p.b)?;
                let beta = Beta::new(p.a, p.b)
                    .map_err(|e| ModelError::invalid("process.a", format!("{e}")))?;
                Process::BetaGeo {
                    gamma_r: unit_gamma("process.r", p.r)?,
                    alpha: p.alpha,
                    beta,
                    dropout_after_first: matches!(spec.process, TransactionProcess::MbgNbd(_)),
                }
            }
            TransactionProcess::ParetoNbd(p) => {
                check_param("process.alpha", p.alpha)?;
                check_param("process.beta", p.beta)?;
                Process::Pareto {
                    gamma_r: unit_gamma("process.r", p.r)?,
                    alpha: p.alpha,
                    gamma_s: unit_gamma("process.s", p.s)?,
                    beta: p.beta,
                }
            }
        };
        let spend = match spec.spend {
            None => None,
            Some(g) => {
                check_param("spend.v", g.v)?;
                Some(Spend {
                    gamma_q: unit_gamma("spend.q", g.q)?,
                    v: g.v,
                    gamma_p: unit_gamma("spend.p", g.p)?,
                })
            }
        };
        Ok(Sampler {
            seed: spec.seed,
            process,
            spend,
            birth_window: bw,
            calibration_end: cal,
            end,
        })
    }

    /// Simulates customer `index`, calling `emit(time, amount)` for each purchase
    /// in time order (first purchase included, up to the holdout end).
    fn customer(&self, index: u64, mut emit: impl FnMut(f64, f64)) -> Result<LatentCustomer> {
        let mut rng = CustomerRng::new(self.seed, index);
        let birth = if self.birth_window > 0.0 {
            self.birth_window * rng.r#gen::<f64>()
        } else {
            0.0
        };
        let (lambda, dropout) = match &self.process {
            Process::BetaGeo {
                gamma_r,
                alpha,
                beta,
                ..
            } => (gamma_r.sample(&mut rng) / alpha, beta.sample(&mut rng)),
            Process::Pareto {
                gamma_r,
                alpha,
                gamma_s,
                beta,
            } => (
                gamma_r.sample(&mut rng) / alpha,
                gamma_s.sample(&mut rng) / beta,
            ),
        };
        let nu = match &self.spend {
            Some(s) => s.gamma_q.sample(&mut rng) / s.v,
            None => f64::NAN,
        };
        let amount = |rng: &mut CustomerRng| match &self.spend {
            Some(s) => s.gamma_p.sample(rng) / nu,
            None => f64::NAN,
        };
        let too_many = |t: f64| ModelError::Numerical {
            what: "simulation",
            reason: format!(
                "customer {index} exceeded {MAX_PURCHASES_PER_CUSTOMER} purchases by time {t} \
                 (lambda = {lambda}); the rate parameters are implausible"
            ),
        };

        let cal = self.calibration_end;
        let end = self.end;
        // Refuse customers whose expected purchase count is absurd before emitting anything.
        if !lambda.is_finite() || lambda * (end - birth) > f64::from(MAX_PURCHASES_PER_CUSTOMER) {
            return Err(too_many(end));
        }
        let mut alive = true;
        emit(birth, amount(&mut rng));
        let mut purchases: u32 = 0;
        let mut t = birth;
        match &self.process {
            Process::BetaGeo {
                dropout_after_first,
                ..
            } => {
                let p = dropout;
                // Uniform [0, 1) < p: p = 0 never drops, p = 1 always drops.
                if *dropout_after_first && rng.r#gen::<f64>() < p {
                    alive = false; // dropped at birth <= calibration end
                } else {
                    loop {
                        let gap: f64 = Exp1.sample(&mut rng);
                        t += gap / lambda;
                        // Also stops on λ = 0 (t = ∞).
                        if t.is_nan() || t > end {
                            break;
                        }
                        purchases += 1;
                        if purchases > MAX_PURCHASES_PER_CUSTOMER {
                            return Err(too_many(t));
                        }
                        emit(t, amount(&mut rng));
                        if rng.r#gen::<f64>() < p {
                            if t <= cal {
                                alive = false;
                            }
                            break;
                        }
                    }
                }
            }
            Process::Pareto { .. } => {
                let tau: f64 = Exp1.sample(&mut rng);
                let death = if dropout > 0.0 {
                    birth + tau / dropout
                } else {
                    f64::INFINITY
                };
                alive = death > cal;
                loop {
                    let gap: f64 = Exp1.sample(&mut rng);
                    t += gap / lambda;
                    // Also stops on λ = 0 (t = ∞).
                    if !(t <= end && t < death) {
                        break;
                    }
                    purchases += 1;
                    if purchases > MAX_PURCHASES_PER_CUSTOMER {
                        return Err(too_many(t));
                    }
                    emit(t, amount(&mut rng));
                }
            }
        }
        Ok(LatentCustomer {
            birth,
            lambda,
            dropout,
            nu,
            alive_at_calibration_end: alive,
        })
    }

    /// Simulates customer `index` and aggregates its purchases on the fly.
    fn summarize(&self, index: u64) -> Result<Row> {
        let cal = self.calibration_end;
        let mut first = true;
        let mut x: u32 = 0;
        let mut last = 0.0;
        let mut spend = 0.0;
        let mut hx: u32 = 0;
        let mut hspend = 0.0;
        let latent = self.customer(index, |t, z| {
            if first {
                first = false;
                last = t;
            } else if t <= cal {
                x += 1;
                last = t;
                spend += z;
            } else {
                hx += 1;
                hspend += z;
            }
        })?;
        let has_spend = self.spend.is_some();
        let monetary = if x > 0 && has_spend {
            spend / f64::from(x)
        } else {
            0.0
        };
        let rfm = Rfm {
            frequency: x,
            recency: last - latent.birth,
            age: cal - latent.birth,
        };
        Ok(Row {
            rfm,
            monetary,
            holdout_frequency: hx,
            holdout_spend: if has_spend { hspend } else { 0.0 },
            latent,
        })
    }
}

// ---------------------------------------------------------------------------
// Per-customer RNG: xoshiro256++ seeded by SplitMix64 from (seed, index).
// Self-contained so the streams do not change with rand's StdRng algorithm.
// ---------------------------------------------------------------------------

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix64_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct CustomerRng {
    s: [u64; 4],
}

impl CustomerRng {
    fn new(seed: u64, index: u64) -> Self {
        // Hash seed and index separately so (seed, index) pairs do not alias
        // (plain seed ^ index would make (1, 0) and (0, 1) identical).
        let mut state = splitmix64_mix(seed.wrapping_add(GOLDEN))
            ^ splitmix64_mix(
                index
                    .wrapping_mul(GOLDEN)
                    .wrapping_add(0x632B_E59B_D9B4_E019),
            );
        let mut s = [0u64; 4];
        for word in &mut s {
            state = state.wrapping_add(GOLDEN);
            *word = splitmix64_mix(state);
        }
        if s == [0; 4] {
            s[0] = GOLDEN; // the all-zero state is a fixed point
        }
        CustomerRng { s }
    }
}

impl RngCore for CustomerRng {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bg() -> BetaGeoParams {
        BetaGeoParams {
            r: 0.24,
            alpha: 4.4,
            a: 0.79,
            b: 2.43,
        }
    }
    fn pareto() -> ParetoNbdParams {
        ParetoNbdParams {
            r: 0.55,
            alpha: 10.58,
            s: 0.61,
            beta: 11.67,
        }
    }
    fn gg() -> GammaGammaParams {
        GammaGammaParams {
            p: 6.0,
            q: 4.0,
            v: 15.0,
        }
    }

    fn spec(process: TransactionProcess, customers: usize, seed: u64) -> SimulationSpec {
        SimulationSpec {
            customers,
            seed,
            process,
            spend: Some(gg()),
            calibration_length: 39.0,
            birth_window: 12.0,
            holdout_length: 39.0,
        }
    }

    fn all_processes() -> [TransactionProcess; 3] {
        [
            TransactionProcess::BgNbd(bg()),
            TransactionProcess::MbgNbd(bg()),
            TransactionProcess::ParetoNbd(pareto()),
        ]
    }

    /// Bitwise equality (NaN-safe) of latent draws.
    fn latent_bits(l: &[LatentCustomer]) -> Vec<(u64, u64, u64, u64, bool)> {
        l.iter()
            .map(|c| {
                (
                    c.birth.to_bits(),
                    c.lambda.to_bits(),
                    c.dropout.to_bits(),
                    c.nu.to_bits(),
                    c.alive_at_calibration_end,
                )
            })
            .collect()
    }

    fn mean_sd(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, var.sqrt())
    }

    fn assert_close(what: &str, sample: &[f64], expected: f64) {
        let (m, sd) = mean_sd(sample);
        let se = sd / (sample.len() as f64).sqrt();
        let z = (m - expected) / se;
        eprintln!("{what}: sample {m:.6} expected {expected:.6} se {se:.2e} z {z:.2}");
        assert!(
            z.abs() < 4.0,
            "{what}: sample mean {m} vs expected {expected} (se {se}, z {z})"
        );
    }

    /// Gauss 2F1(a, b; c; z) by its power series, |z| < 1.
    fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
        let mut term = 1.0;
        let mut sum = 1.0;
        for n in 0..100_000 {
            let n = n as f64;
            term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
            sum += term;
            if term.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum
    }

    fn bg_expected_x(p: BetaGeoParams, t: f64) -> f64 {
        let BetaGeoParams { r, alpha, a, b } = p;
        (a + b - 1.0) / (a - 1.0)
            * (1.0 - (alpha / (alpha + t)).powf(r) * hyp2f1(r, b, a + b - 1.0, t / (alpha + t)))
    }

    fn pareto_expected_x(p: ParetoNbdParams, t: f64) -> f64 {
        let ParetoNbdParams { r, alpha, s, beta } = p;
        r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)).powf(s - 1.0))
    }

    #[test]
    fn deterministic_and_thread_independent() {
        for process in all_processes() {
            let s = spec(process, 20_000, 7);
            let a = simulate_summaries(&s).unwrap();
            let b = simulate_summaries(&s).unwrap();
            assert_eq!(a.table, b.table);
            assert_eq!(latent_bits(&a.latent), latent_bits(&b.latent));

            let seq = summaries_impl(&s, false).unwrap();
            assert_eq!(a.table, seq.table);
            assert_eq!(latent_bits(&a.latent), latent_bits(&seq.latent));

            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let one = pool.install(|| simulate_summaries(&s)).unwrap();
            assert_eq!(a.table, one.table);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap();
            let three = pool.install(|| simulate_summaries(&s)).unwrap();
            assert_eq!(a.table, three.table);

            let other = simulate_summaries(&SimulationSpec {
                seed: 8,
                ..s.clone()
            })
            .unwrap();
            assert_ne!(a.table.rfm, other.table.rfm);
            assert_ne!(latent_bits(&a.latent), latent_bits(&other.latent));
        }
    }

    #[test]
    fn seeds_and_indices_do_not_alias() {
        let mut a = CustomerRng::new(1, 0);
        let mut b = CustomerRng::new(0, 1);
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn summaries_match_transaction_stream() {
        for process in all_processes() {
            for spend in [Some(gg()), None] {
                let s = SimulationSpec {
                    spend,
                    ..spec(process, 400, 11)
                };
                let sim = simulate_summaries(&s).unwrap();
                let n = s.customers;
                let cal = s.calibration_length;
                let mut tx = Vec::new();
                let latent = simulate_transactions(&s, |t| tx.push(t)).unwrap();
                assert_eq!(latent_bits(&latent), latent_bits(&sim.latent));

                // Tiny independent aggregation of the stream.
                let mut first = vec![f64::NAN; n];
                let mut last = vec![f64::NAN; n];
                let mut x = vec![0u32; n];
                let mut spend_sum = vec![0.0; n];
                let mut hx = vec![0u32; n];
                let mut hs = vec![0.0; n];
                let mut prev: Option<SimulatedTransaction> = None;
                for t in &tx {
                    let c = t.customer as usize;
                    if let Some(p) = prev {
                        assert!(
                            p.customer < t.customer
                                || (p.customer == t.customer && p.time < t.time)
                        );
                    }
                    prev = Some(*t);
                    assert!(t.time <= cal + s.holdout_length);
                    assert_eq!(t.amount.is_nan(), spend.is_none());
                    if first[c].is_nan() {
                        first[c] = t.time;
                        last[c] = t.time;
                    } else if t.time <= cal {
                        x[c] += 1;
                        last[c] = t.time;
                        spend_sum[c] += t.amount;
                    } else {
                        hx[c] += 1;
                        hs[c] += t.amount;
                    }
                }
                let h = sim.table.holdout.as_ref().unwrap();
                assert_eq!(sim.table.ids.len(), n);
                for c in 0..n {
                    assert_eq!(sim.table.ids[c], c.to_string());
                    assert_eq!(first[c], latent[c].birth);
                    let r = sim.table.rfm[c];
                    assert_eq!(r.frequency, x[c]);
                    assert_eq!(r.recency, last[c] - first[c]);
                    assert_eq!(r.age, cal - first[c]);
                    let m = if x[c] > 0 && spend.is_some() {
                        spend_sum[c] / x[c] as f64
                    } else {
                        0.0
                    };
                    assert_eq!(sim.table.monetary_value[c], m);
                    assert_eq!(h.frequency[c], hx[c]);
                    assert_eq!(h.spend[c], if spend.is_some() { hs[c] } else { 0.0 });
                }
            }
        }
    }

    #[test]
    fn invariants() {
        for process in all_processes() {
            let s = spec(process, 50_000, 3);
            let sim = simulate_summaries(&s).unwrap();
            let h = sim.table.holdout.as_ref().unwrap();
            assert_eq!(h.duration, 39.0);
            for (i, r) in sim.table.rfm.iter().enumerate() {
                r.validate().unwrap();
                assert!(r.recency <= r.age);
                assert!(r.age > 39.0 - 12.0 && r.age <= 39.0);
                if r.frequency == 0 {
                    assert_eq!(r.recency, 0.0);
                }
                assert_eq!(sim.table.monetary_value[i] == 0.0, r.frequency == 0);
                assert_eq!(h.spend[i] == 0.0, h.frequency[i] == 0);
                let l = sim.latent[i];
                assert!(l.nu > 0.0 && l.lambda >= 0.0);
                // Not alive at calibration end => no holdout purchases.
                if !l.alive_at_calibration_end {
                    assert_eq!(h.frequency[i], 0);
                }
            }
        }
        // No holdout => no holdout columns; no spend => zeros and NaN nu.
        let s = SimulationSpec {
            holdout_length: 0.0,
            spend: None,
            ..spec(TransactionProcess::BgNbd(bg()), 100, 1)
        };
        let sim = simulate_summaries(&s).unwrap();
        assert!(sim.table.holdout.is_none());
        assert!(sim.table.monetary_value.iter().all(|&m| m == 0.0));
        assert!(sim.latent.iter().all(|l| l.nu.is_nan()));
        // birth_window 0 => all born at 0.
        let s = SimulationSpec {
            birth_window: 0.0,
            ..s
        };
        let sim = simulate_summaries(&s).unwrap();
        assert!(sim.latent.iter().all(|l| l.birth == 0.0));
        assert!(sim.table.rfm.iter().all(|r| r.age == 39.0));
    }

    #[test]
    fn bad_specs_are_rejected() {
        let base = spec(TransactionProcess::BgNbd(bg()), 10, 1);
        let field = |s: SimulationSpec| match simulate_summaries(&s) {
            Err(ModelError::InvalidInput { field, .. }) => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        };
        assert_eq!(
            field(SimulationSpec {
                customers: 0,
                ..base.clone()
            }),
            "customers"
        );
        assert_eq!(
            field(SimulationSpec {
                calibration_length: 0.0,
                ..base.clone()
            }),
            "calibration_length"
        );
        assert_eq!(
            field(SimulationSpec {
                calibration_length: f64::INFINITY,
                ..base.clone()
            }),
            "calibration_length"
        );
        assert_eq!(
            field(SimulationSpec {
                calibration_length: f64::NAN,
                ..base.clone()
            }),
            "calibration_length"
        );
        assert_eq!(
            field(SimulationSpec {
                birth_window: -1.0,
                ..base.clone()
            }),
            "birth_window"
        );
        assert_eq!(
            field(SimulationSpec {
                birth_window: 40.0,
                ..base.clone()
            }),
            "birth_window"
        );
        assert_eq!(
            field(SimulationSpec {
                birth_window: f64::NAN,
                ..base.clone()
            }),
            "birth_window"
        );
        assert_eq!(
            field(SimulationSpec {
                holdout_length: -1.0,
                ..base.clone()
            }),
            "holdout_length"
        );
        assert_eq!(
            field(SimulationSpec {
                holdout_length: f64::INFINITY,
                ..base.clone()
            }),
            "holdout_length"
        );
        let bad_bg = BetaGeoParams { a: 0.0, ..bg() };
        assert_eq!(
            field(SimulationSpec {
                process: TransactionProcess::MbgNbd(bad_bg),
                ..base.clone()
            }),
            "process.a"
        );
        let bad_p = ParetoNbdParams {
            s: f64::NAN,
            ..pareto()
        };
        assert_eq!(
            field(SimulationSpec {
                process: TransactionProcess::ParetoNbd(bad_p),
                ..base.clone()
            }),
            "process.s"
        );
        let bad_g = GammaGammaParams { v: -1.0, ..gg() };
        assert_eq!(
            field(SimulationSpec {
                spend: Some(bad_g),
                ..base.clone()
            }),
            "spend.v"
        );
        assert!(
            simulate_transactions(
                &SimulationSpec {
                    customers: 0,
                    ..base
                },
                |_| {}
            )
            .is_err()
        );
    }

    #[test]
    fn runaway_rates_fail_instead_of_hanging() {
        let s = SimulationSpec {
            process: TransactionProcess::ParetoNbd(ParetoNbdParams {
                r: 1.0,
                alpha: 1e-300,
                s: 1.0,
                beta: 1.0,
            }),
            ..spec(TransactionProcess::BgNbd(bg()), 1, 1)
        };
        assert!(matches!(
            simulate_summaries(&s),
            Err(ModelError::Numerical { .. })
        ));
    }

    const N: usize = 200_000;

    #[test]
    fn bg_nbd_moments() {
        let p = bg();
        let s = SimulationSpec {
            birth_window: 0.0,
            ..spec(TransactionProcess::BgNbd(p), N, 2024)
        };
        let sim = simulate_summaries(&s).unwrap();
        let x: Vec<f64> = sim.table.rfm.iter().map(|r| r.frequency as f64).collect();
        assert_close("BG/NBD E[X(39)]", &x, bg_expected_x(p, 39.0));
        let h = sim.table.holdout.as_ref().unwrap();
        let hx: Vec<f64> = h.frequency.iter().map(|&f| f as f64).collect();
        assert_close(
            "BG/NBD E[X(39,78)]",
            &hx,
            bg_expected_x(p, 78.0) - bg_expected_x(p, 39.0),
        );
        // Gamma-Gamma: mean of per-customer average repeat spend (ν ⟂ x) is p v / (q − 1).
        let g = gg();
        let m: Vec<f64> = sim
            .table
            .monetary_value
            .iter()
            .zip(&sim.table.rfm)
            .filter(|(_, r)| r.frequency > 0)
            .map(|(m, _)| *m)
            .collect();
        assert!(m.len() > 10_000);
        assert_close("Gamma-Gamma mean spend", &m, g.p * g.v / (g.q - 1.0));
        let nu: Vec<f64> = sim.latent.iter().map(|l| l.nu).collect();
        assert_close("E[nu]", &nu, g.q / g.v);
        let lam: Vec<f64> = sim.latent.iter().map(|l| l.lambda).collect();
        assert_close("E[lambda]", &lam, p.r / p.alpha);
        let pp: Vec<f64> = sim.latent.iter().map(|l| l.dropout).collect();
        assert_close("E[p]", &pp, p.a / (p.a + p.b));
    }

    #[test]
    fn bg_nbd_moments_small_z() {
        // α chosen so z = t/(α+t) = 0.5: the series converges fast.
        let p = BetaGeoParams {
            r: 0.8,
            alpha: 20.0,
            a: 1.5,
            b: 3.0,
        };
        let s = SimulationSpec {
            birth_window: 0.0,
            calibration_length: 20.0,
            holdout_length: 0.0,
            spend: None,
            ..spec(TransactionProcess::BgNbd(p), N, 99)
        };
        let sim = simulate_summaries(&s).unwrap();
        let x: Vec<f64> = sim.table.rfm.iter().map(|r| r.frequency as f64).collect();
        assert_close("BG/NBD E[X(20)] z=0.5", &x, bg_expected_x(p, 20.0));
    }

    #[test]
    fn pareto_nbd_moments() {
        let p = pareto();
        let s = SimulationSpec {
            birth_window: 0.0,
            spend: None,
            ..spec(TransactionProcess::ParetoNbd(p), N, 5)
        };
        let sim = simulate_summaries(&s).unwrap();
        let x: Vec<f64> = sim.table.rfm.iter().map(|r| r.frequency as f64).collect();
        assert_close("Pareto E[X(39)]", &x, pareto_expected_x(p, 39.0));
        let h = sim.table.holdout.as_ref().unwrap();
        let hx: Vec<f64> = h.frequency.iter().map(|&f| f as f64).collect();
        assert_close(
            "Pareto E[X(39,78)]",
            &hx,
            pareto_expected_x(p, 78.0) - pareto_expected_x(p, 39.0),
        );
        let alive: Vec<f64> = sim
            .latent
            .iter()
            .map(|l| if l.alive_at_calibration_end { 1.0 } else { 0.0 })
            .collect();
        assert_close(
            "Pareto P(alive at 39)",
            &alive,
            (p.beta / (p.beta + 39.0)).powf(p.s),
        );
    }

    #[test]
    fn mbg_nbd_dropout_at_first_purchase() {
        let p = bg();
        let s = SimulationSpec {
            birth_window: 0.0,
            spend: None,
            ..spec(TransactionProcess::MbgNbd(p), N, 6)
        };
        let sim = simulate_summaries(&s).unwrap();
        let d: Vec<f64> = sim
            .table
            .rfm
            .iter()
            .zip(&sim.latent)
            .map(|(r, l)| {
                if r.frequency == 0 && !l.alive_at_calibration_end {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        assert_close("MBG P(dropped at first purchase)", &d, p.a / (p.a + p.b));
        // BG/NBD never drops at the first purchase.
        let s = SimulationSpec {
            process: TransactionProcess::BgNbd(p),
            ..s
        };
        let sim = simulate_summaries(&s).unwrap();
        assert!(
            sim.table
                .rfm
                .iter()
                .zip(&sim.latent)
                .all(|(r, l)| r.frequency > 0 || l.alive_at_calibration_end)
        );
    }
}
