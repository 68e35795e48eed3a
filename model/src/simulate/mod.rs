//! Seeded synthetic customers drawn from any registered transaction model whose family
//! provides a [`PurchaseProcess`] (BG/NBD, MBG/NBD, Pareto/NBD), optionally with
//! Gamma-Gamma spend.
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
//!
//! [`simulate_transactions_on_clock`] runs the same customers on a calendar-dependent
//! clock (seasons, steps), for what the models cannot express.

mod clock;
mod rng;

use rand::Rng;
use rand_distr::{Distribution, Gamma};
use rayon::prelude::*;

pub use clock::{CalendarClock, simulate_transactions_on_clock};
pub use rng::SimRng;

use crate::data::rfm::{CustomerTable, HoldoutColumns, Rfm};
use crate::error::{ModelError, Result};
use crate::models::TransactionModel;
use crate::models::params::{BetaGeoParams, GammaGammaParams};

/// Upper bound on the purchases simulated for one customer; a customer
/// exceeding it makes the simulation fail with [`ModelError::Numerical`]
/// instead of running (nearly) forever for absurd rate parameters.
pub const MAX_PURCHASES_PER_CUSTOMER: u32 = 100_000_000;

/// Customers per rayon task in [`simulate_summaries`].
const CHUNK: usize = 4096;

/// A family's latent purchase/dropout process, as the simulator drives it. Draws must
/// come from the customer's stream in a fixed order (see the module docs), so that a
/// customer is the same whatever the thread count.
pub trait PurchaseProcess: Send + Sync {
    /// Draws the customer's purchase rate λ and dropout parameter (p, μ, …), in that order.
    fn draw(&self, rng: &mut SimRng) -> (f64, f64);

    /// Runs the purchases after the first one (at `birth`) up to `end`, calling
    /// `purchase(rng, t)` for each in time order (it draws the amount and may refuse with
    /// an error, which is passed on). Returns whether the customer is alive at
    /// `calibration_end`.
    fn run(
        &self,
        rng: &mut SimRng,
        latent: Latent,
        calibration_end: f64,
        end: f64,
        purchase: &mut dyn FnMut(&mut SimRng, f64) -> Result<()>,
    ) -> Result<bool>;
}

/// A customer's first purchase time and latent draws, as [`PurchaseProcess::run`] gets them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latent {
    pub birth: f64,
    pub lambda: f64,
    pub dropout: f64,
}

/// What to simulate. See the module docs for the models.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationSpec {
    /// Number of customers (≥ 1).
    pub customers: usize,
    pub seed: u64,
    /// The transaction model customers are drawn from.
    pub process: TransactionModel,
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
            process: TransactionModel::bg_nbd(BetaGeoParams::published_cdnow()),
            spend: Some(GammaGammaParams::published_cdnow()),
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
        periods: None,
    });
    Ok(SimulatedTable {
        table: CustomerTable {
            ids,
            rfm,
            monetary_value,
            // Simulated summaries, like lifetimes' ones, carry the mean repeat spend only.
            calibration_spend: None,
            holdout,
            unit: None,
        },
        latent,
    })
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
    process: Box<dyn PurchaseProcess>,
    spend: Option<Spend>,
    birth_window: f64,
    calibration_end: f64,
    end: f64,
}

pub(crate) fn check_param(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ModelError::invalid(
            field,
            format!("must be finite and > 0, got {value}"),
        ))
    }
}

pub(crate) fn unit_gamma(field: &str, shape: f64) -> Result<Gamma<f64>> {
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

        let family = spec.process.family();
        let process = family
            .purchase_process(spec.process.params())
            .ok_or_else(|| {
                ModelError::invalid(
                    "process",
                    format!("the {} model cannot be simulated", family.title()),
                )
            })??;
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
        let mut rng = SimRng::new(self.seed, index);
        let birth = if self.birth_window > 0.0 {
            self.birth_window * rng.r#gen::<f64>()
        } else {
            0.0
        };
        let (lambda, dropout) = self.process.draw(&mut rng);
        let nu = match &self.spend {
            Some(s) => s.gamma_q.sample(&mut rng) / s.v,
            None => f64::NAN,
        };
        let amount = |rng: &mut SimRng| match &self.spend {
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
        emit(birth, amount(&mut rng));
        let mut purchases: u32 = 0;
        let latent = Latent {
            birth,
            lambda,
            dropout,
        };
        let alive = self
            .process
            .run(&mut rng, latent, cal, end, &mut |rng, t| {
                purchases += 1;
                if purchases > MAX_PURCHASES_PER_CUSTOMER {
                    return Err(too_many(t));
                }
                emit(t, amount(rng));
                Ok(())
            })?;
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

#[cfg(test)]
mod tests;
