//! The seam a purchase/dropout model family plugs into.
//!
//! A family (BG/NBD, Pareto/NBD, a covariate model, a contractual model…) implements
//! [`TransactionFamily`] in its own files and is listed once in [`super::registry`]; the
//! service, the CLI, scoring, segmentation, evaluation and the simulator then reach it
//! through [`super::TransactionModel`] by name, without knowing it. Parameter vectors are
//! plain `&[f64]` in the order of [`TransactionFamily::param_names`]: a
//! [`super::TransactionModel`] only ever hands a family a vector its
//! [`TransactionFamily::check`] accepted, so the family's numerics never re-check them.
//!
//! Customers may differ by covariates: a family that supports them names them when it is
//! fitted (`covariates`), and its parameter vector carries one coefficient block per
//! covariate after the base parameters ([`TransactionFamily::param_names_with`]). The
//! families here take none and refuse covariates at fit time.

use std::fmt;

use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::fit::{FitDiagnostics, FitOptions, FitWarning, Fitted, GroupedRfm};
use crate::simulate::PurchaseProcess;

/// A purchase/dropout model family. Every time (recency, age, horizon) a method takes is in
/// the unit the parameters were fitted in; [`super::TransactionModel`] converts.
pub trait TransactionFamily: fmt::Debug + Send + Sync + 'static {
    /// The family's name in the API, the CLI's `--model` and stored records: lower case
    /// letters, digits and `-` (`bgnbd`, `pareto-nbd`). Unique in the registry.
    fn name(&self) -> &'static str;

    /// Other spellings accepted on input (`bg-nbd`, `pnbd`), compared after lower-casing
    /// and mapping `/` and `_` to `-`.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// The name people read (`BG/NBD`): diagnostics, reports.
    fn title(&self) -> &'static str;

    /// The base parameters, in the order of every parameter vector of this family.
    fn param_names(&self) -> &'static [&'static str];

    /// All parameter names for a model fitted with `covariates`: the base parameters, then
    /// the family's coefficient names (none without covariates).
    fn param_names_with(&self, covariates: &[String]) -> Vec<String> {
        debug_assert!(covariates.is_empty(), "{} takes no covariates", self.name());
        self.param_names().iter().map(|s| s.to_string()).collect()
    }

    /// Whether the family accepts customer covariates.
    fn supports_covariates(&self) -> bool {
        false
    }

    /// Checks the domain of a parameter vector whose length is already right. The default
    /// asks every value to be finite and > 0 (shapes, scales and rates).
    fn check(&self, values: &[f64]) -> Result<()> {
        for (name, &v) in self.param_names().iter().zip(values) {
            if !(v.is_finite() && v > 0.0) {
                return Err(ModelError::invalid(
                    *name,
                    format!("must be finite and > 0, got {v}"),
                ));
            }
        }
        Ok(())
    }

    /// Fits the family by maximum likelihood on grouped summaries; the parameters come back
    /// in [`TransactionFamily::param_names`] order. A fit that did not converge is returned
    /// with `converged: false`, never silently.
    fn fit(&self, data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<Vec<f64>>>;

    /// The family's own diagnosis of a fit of `data` that gave `params`: where its
    /// parameters sit at a boundary of what they can express (no dropout, no heterogeneity),
    /// with the building blocks in [`super::diagnosis`]. Run after every fit, after the
    /// checks any fit gets (imprecise estimates, few repeat customers), which a family does
    /// not repeat here. The default finds nothing.
    fn diagnose(
        &self,
        params: &[f64],
        diagnostics: &FitDiagnostics,
        data: &GroupedRfm,
    ) -> Vec<FitWarning> {
        let _ = (params, diagnostics, data);
        Vec::new()
    }

    /// Total weighted log-likelihood of `data` at `params`.
    fn log_likelihood(&self, params: &[f64], data: &GroupedRfm) -> f64;

    /// P(alive at T | x, t_x, T).
    fn p_alive(&self, params: &[f64], c: &Rfm) -> Result<f64>;

    /// P(alive at T + t | x, t_x, T).
    fn p_alive_at(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64>;

    /// E[X(T, T+t] | x, t_x, T]: expected repeat purchases in the next t.
    fn expected_purchases(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64>;

    /// P(exactly n purchases in (T, T+t] | x, t_x, T).
    fn prob_purchases(&self, params: &[f64], c: &Rfm, t: f64, n: u32) -> Result<f64>;

    /// P(at least one purchase in (T, T+t] | x, t_x, T).
    fn propensity(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64>;

    /// E[X(t)] for a customer acquired now (first purchase at 0).
    fn expected_new_customer(&self, params: &[f64], t: f64) -> Result<f64>;

    /// Discounted expected residual transactions at a continuous discount rate `delta` per
    /// unit. Only families with a closed form answer; the others say so.
    fn dert(&self, params: &[f64], c: &Rfm, delta: f64) -> Result<f64> {
        let _ = (params, c, delta);
        Err(ModelError::invalid(
            "model",
            format!("DERT is not defined for the {} model", self.title()),
        ))
    }

    /// Prepares the scoring of one batch: whatever depends on the parameters and on the
    /// batch as a whole (per-frequency tables) is computed here once. The default scores
    /// every customer through the per-customer methods above; families with a faster batch
    /// path override it, and must give the same numbers as those methods.
    fn batch_scorer<'a>(
        &'a self,
        params: &'a [f64],
        batch: &BatchShape<'_>,
    ) -> Box<dyn BatchScorer + 'a> {
        let _ = batch;
        Box::new(PerCustomer {
            family: self,
            params,
        })
    }

    /// The family's latent process for the simulator: how a customer's rates are drawn and
    /// how its purchases unfold. `None` when the family cannot be simulated.
    fn purchase_process(&self, params: &[f64]) -> Option<Result<Box<dyn PurchaseProcess>>> {
        let _ = params;
        None
    }
}

/// A family prints as its name (`bgnbd`), as users type it.
impl fmt::Display for dyn TransactionFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a batch scorer may look at while preparing: the whole batch's summaries (in the
/// model's unit after multiplying recency and age by `factor`) and every horizon it will be
/// asked for (the CLV schedule's period ends and the scoring horizon).
#[derive(Debug, Clone, Copy)]
pub struct BatchShape<'b> {
    pub rfm: &'b [Rfm],
    pub factor: f64,
    pub horizons: &'b [f64],
}

/// The prediction columns of one chunk of a batch, written by a [`BatchScorer`].
#[derive(Debug)]
pub struct ChunkColumns<'c> {
    pub expected_purchases: &'c mut [f64],
    pub p_alive: &'c mut [f64],
    pub propensity: &'c mut [f64],
    /// `None` when no customer of the batch gets a CLV (no spend model): the discounted
    /// purchases are then not computed at all.
    pub clv: Option<ClvColumns<'c>>,
}

/// CLV = expected spend × Σ_i (E[X(t_i)] − E[X(t_{i−1})]) · factor_i over the CLV
/// schedule, for the customers with an expected spend (the others keep `None`).
#[derive(Debug)]
pub struct ClvColumns<'c> {
    pub expected_spend: &'c [Option<f64>],
    pub clv: &'c mut [Option<f64>],
}

/// Scores chunks of a prepared batch.
pub trait BatchScorer: Send + Sync {
    /// Scores consecutive customers, already validated and in the model's unit, over the
    /// `horizon` and the CLV `schedule` (period ends, discount factors). `first` is the
    /// index of `rfm[0]` in the batch: errors name `customers[first + k]`.
    fn score_chunk(
        &self,
        rfm: &[Rfm],
        horizon: f64,
        schedule: &[(f64, f64)],
        first: usize,
        out: ChunkColumns<'_>,
    ) -> Result<()>;
}

/// The default batch scorer: every customer through the family's per-customer methods.
struct PerCustomer<'a, F: ?Sized> {
    family: &'a F,
    params: &'a [f64],
}

impl<F: TransactionFamily + ?Sized> BatchScorer for PerCustomer<'_, F> {
    fn score_chunk(
        &self,
        rfm: &[Rfm],
        horizon: f64,
        schedule: &[(f64, f64)],
        first: usize,
        mut out: ChunkColumns<'_>,
    ) -> Result<()> {
        let (f, p) = (self.family, self.params);
        for (k, c) in rfm.iter().enumerate() {
            let within = |err: ModelError| err.within(&format!("customers[{}]", first + k));
            out.p_alive[k] = f.p_alive(p, c).map_err(within)?;
            out.expected_purchases[k] = f.expected_purchases(p, c, horizon).map_err(within)?;
            out.propensity[k] = f.propensity(p, c, horizon).map_err(within)?;
            if let Some(ClvColumns {
                expected_spend,
                clv,
            }) = out.clv.as_mut()
                && let Some(spend) = expected_spend[k]
            {
                let (mut prev, mut total) = (0.0, 0.0);
                for &(t, factor) in schedule {
                    let e = f.expected_purchases(p, c, t).map_err(within)?;
                    total += (e - prev) * factor;
                    prev = e;
                }
                clv[k] = Some(spend * total);
            }
        }
        Ok(())
    }
}
