//! Seeded customers with known covariate effects, for parameter-recovery tests and
//! benchmarks: each customer draws its covariates, then its purchases from the family's
//! latent process at its own parameters ([`BetaGeoCovariates::customer_params`]).
//!
//! As in [`crate::simulate`], customer i's draws come from its own stream of
//! `(seed, i)`, in a fixed order (covariates in column order, birth, λ, dropout, then the
//! purchase events), so the output depends on neither the thread count nor the schedule.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::beta_geo::BetaGeoCovariates;
use super::schema::{CovariateValues, RawCovariates};
use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::simulate::{Latent, SimRng};

/// How one covariate column is drawn, independently per customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CovariateDistribution {
    /// 1 with probability `p`, else 0 (a binary attribute: channel, promotion).
    Bernoulli { p: f64 },
    /// Normal(mean, sd) (a continuous attribute: first-order value on a log scale).
    Normal { mean: f64, sd: f64 },
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct CovariateSimulationSpec {
    pub customers: usize,
    pub seed: u64,
    /// The true model. Its schemas must be numeric columns named in `columns` (a numeric
    /// column is encoded as itself, less its centre).
    pub model: BetaGeoCovariates,
    /// The covariate columns every customer draws, in draw order.
    pub columns: Vec<(String, CovariateDistribution)>,
    /// End of the calibration window (finite, > 0); births are Uniform[0, birth_window).
    pub calibration_length: f64,
    pub birth_window: f64,
    /// Length of the holdout window after the calibration end (≥ 0).
    pub holdout_length: f64,
}

/// The simulated customers: calibration summaries, holdout purchase counts, and their raw
/// covariates (encode them with the model's schemas).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedCovariateCustomers {
    pub rfm: Vec<Rfm>,
    pub holdout_frequency: Vec<u32>,
    pub covariates: RawCovariates,
}

/// Simulates `spec.customers` customers in parallel.
pub fn simulate_covariate_customers(
    spec: &CovariateSimulationSpec,
) -> Result<SimulatedCovariateCustomers> {
    let cal = spec.calibration_length;
    if !(cal.is_finite() && cal > 0.0) {
        return Err(ModelError::invalid(
            "calibration_length",
            "must be finite and > 0",
        ));
    }
    if !(spec.birth_window >= 0.0 && spec.birth_window <= cal) {
        return Err(ModelError::invalid(
            "birth_window",
            "must satisfy 0 <= birth_window <= calibration_length",
        ));
    }
    if !(spec.holdout_length.is_finite() && spec.holdout_length >= 0.0) {
        return Err(ModelError::invalid(
            "holdout_length",
            "must be finite and >= 0",
        ));
    }
    for (name, d) in &spec.columns {
        let ok = match *d {
            CovariateDistribution::Bernoulli { p } => (0.0..=1.0).contains(&p),
            CovariateDistribution::Normal { mean, sd } => {
                mean.is_finite() && sd.is_finite() && sd >= 0.0
            }
        };
        if !ok {
            return Err(ModelError::invalid(
                format!("columns.{name}"),
                "needs 0 <= p <= 1, or a finite mean and sd >= 0",
            ));
        }
    }
    // Where each encoded column of the model is among the drawn ones, and its centre.
    let locate = |schema: &super::schema::CovariateSchema| -> Result<Vec<(usize, f64)>> {
        schema
            .columns
            .iter()
            .map(|c| {
                let center = match c.encoding {
                    super::schema::ColumnEncoding::Numeric { center } => center,
                    super::schema::ColumnEncoding::Categorical { .. } => {
                        return Err(ModelError::invalid(
                            format!("covariates.{}", c.name),
                            "the simulator draws numeric columns only",
                        ));
                    }
                };
                let at = spec
                    .columns
                    .iter()
                    .position(|(n, _)| *n == c.name)
                    .ok_or_else(|| {
                        ModelError::invalid(format!("covariates.{}", c.name), "not simulated")
                    })?;
                Ok((at, center))
            })
            .collect()
    };
    let purchase_at = locate(spec.model.purchase_schema())?;
    let lifetime_at = locate(spec.model.lifetime_schema())?;
    let end = cal + spec.holdout_length;
    let k = spec.columns.len();

    let customers: Vec<(Rfm, u32, Vec<f64>)> = (0..spec.customers)
        .into_par_iter()
        .with_min_len(1024)
        .map(|i| {
            let mut rng = SimRng::new(spec.seed, i as u64);
            let values: Vec<f64> = spec
                .columns
                .iter()
                .map(|(_, d)| match *d {
                    CovariateDistribution::Bernoulli { p } => {
                        f64::from(u8::from(rng.r#gen::<f64>() < p))
                    }
                    CovariateDistribution::Normal { mean, sd } => {
                        let e: f64 = StandardNormal.sample(&mut rng);
                        mean + sd * e
                    }
                })
                .collect();
            let pick = |at: &[(usize, f64)]| -> Vec<f64> {
                at.iter().map(|&(j, c)| values[j] - c).collect()
            };
            let model = spec
                .model
                .customer_model(&pick(&purchase_at), &pick(&lifetime_at))?;
            let process = model
                .family()
                .purchase_process(model.params())
                .ok_or_else(|| ModelError::invalid("model", "cannot be simulated"))??;
            let birth = spec.birth_window * rng.r#gen::<f64>();
            let (lambda, dropout) = process.draw(&mut rng);
            let (mut x, mut last, mut holdout) = (0u32, birth, 0u32);
            let latent = Latent {
                birth,
                lambda,
                dropout,
            };
            process.run(&mut rng, latent, cal, end, &mut |_, t| {
                if t <= cal {
                    x += 1;
                    last = t;
                } else {
                    holdout += 1;
                }
                if x.saturating_add(holdout) >= crate::simulate::MAX_PURCHASES_PER_CUSTOMER {
                    return Err(ModelError::Numerical {
                        what: "simulation",
                        reason: format!("customer {i} made implausibly many purchases"),
                    });
                }
                Ok(())
            })?;
            let rfm = Rfm::new(x, last - birth, cal - birth)?;
            Ok((rfm, holdout, values))
        })
        .collect::<Result<_>>()?;

    let mut rfm = Vec::with_capacity(customers.len());
    let mut holdout_frequency = Vec::with_capacity(customers.len());
    let mut columns: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(customers.len()); k];
    for (r, h, values) in customers {
        rfm.push(r);
        holdout_frequency.push(h);
        for (c, v) in columns.iter_mut().zip(values) {
            c.push(Some(v));
        }
    }
    let mut covariates = RawCovariates::new(rfm.len());
    for ((name, _), values) in spec.columns.iter().zip(columns) {
        covariates = covariates.with(name.clone(), CovariateValues::Numeric(values))?;
    }
    Ok(SimulatedCovariateCustomers {
        rfm,
        holdout_frequency,
        covariates,
    })
}
