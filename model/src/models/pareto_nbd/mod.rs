//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie's 2005 derivation notes).
//!
//! Purchases at rate λ ~ Gamma(r, α) while alive; exponential lifetime with rate
//! μ ~ Gamma(s, β). The likelihood is
//!
//! L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^−(r+x) (β+T)^−s + s ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ ].
//!
//! Everything is relative to the scales (the bracket times α^(r+x) β^s), so huge r, α or
//! s·ln β never cancel, and combined in log space: customers with x in the hundreds, where
//! the textbook form overflows (α+T)^(r+x), stay finite. The integral is computed by
//! whichever of two methods is cheap (`integral`): for ordinary parameters a difference of
//! two tail integrals, each a Gauss 2F1 that after Euler's transformation is a series of
//! positive terms; where one scale dwarfs the other (β → ∞ on data without dropout, where
//! that series needs ~40·β/α terms) a sum over pieces whose cost is logarithmic in the
//! scale ratio. The gradient is exact: the same code runs on forward-mode dual numbers
//! (`crate::numerics::dual`). The series' coefficients depend on the parameters and x only,
//! so the fit tabulates them (with their derivatives) once per frequency per evaluation,
//! and each row's two series are polynomials evaluated in vector lanes (`SeriesTable`).
//!
//! Files: `integral` (the integral over the time since the last purchase, by series or
//! pieces), `likelihood` (objective, gradient, the fit's series tables), `predict` (per-customer
//! predictions; a customer's scores share one P(alive)), `simulate` (the latent process).
//! This file registers the family.

mod integral;
mod likelihood;
mod predict;
mod simulate;

use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::fit::{FitDiagnostics, FitOptions, FitWarning, Fitted, GroupedRfm};
use crate::models::diagnosis;
use crate::models::family::{BatchScorer, BatchShape, ChunkColumns, ClvColumns, TransactionFamily};
use crate::models::params::ParetoNbdParams;
use crate::simulate::PurchaseProcess;

/// Fits Pareto/NBD by maximum likelihood, with typed parameters and the fit's diagnosis.
pub fn fit_pareto_nbd(data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<ParetoNbdParams>> {
    let mut f = likelihood::fit_vector(data, opts)?;
    let found = diagnosis::diagnose_fit(&PARETO_NBD, &f.params, &f.diagnostics, data);
    f.diagnostics.warnings.extend(found);
    Ok(Fitted {
        params: ParetoNbdParams::new(f.params[0], f.params[1], f.params[2], f.params[3])?,
        diagnostics: f.diagnostics,
    })
}

/// Total log-likelihood of `data` under `params` (NaN only if a series failed to converge).
pub fn log_likelihood_pareto_nbd(data: &GroupedRfm, params: &ParetoNbdParams) -> f64 {
    likelihood::log_likelihood_vector(data, &params.to_vec())
}

/// The Pareto/NBD family.
#[derive(Debug, Clone, Copy)]
pub struct ParetoNbd;

/// Pareto/NBD (Schmittlein, Morrison & Colombo 1987).
pub static PARETO_NBD: ParetoNbd = ParetoNbd;

impl TransactionFamily for ParetoNbd {
    fn name(&self) -> &'static str {
        "pareto-nbd"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["paretonbd", "pnbd"]
    }
    fn title(&self) -> &'static str {
        "Pareto/NBD"
    }
    fn param_names(&self) -> &'static [&'static str] {
        &["r", "alpha", "s", "beta"]
    }
    fn fit(&self, data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<Vec<f64>>> {
        likelihood::fit_vector(data, opts)
    }
    /// No dropout when s → 0 or E[μ] = s/β is negligible over the data's time span (the
    /// fit then believes nobody has left); the
    /// Poisson limit when r, α → ∞ together.
    fn diagnose(
        &self,
        params: &[f64],
        _diagnostics: &FitDiagnostics,
        data: &GroupedRfm,
    ) -> Vec<FitWarning> {
        let p = ParetoNbdParams::from_slice(params);
        let (mut age, mut weight) = (0.0, 0.0);
        for (t, w) in data.age.iter().zip(&data.weight) {
            age += t * w;
            weight += w;
        }
        let mean_age = age / weight.max(f64::MIN_POSITIVE);
        // The prior probability of a lifetime shorter than the mean age:
        // 1 − E[e^(−μT)] = 1 − (β / (β + T))^s.
        let lost = -(-p.s * (mean_age / p.beta).ln_1p()).exp_m1();
        let reading = format!(
            "s = {:.3e}, beta = {:.3e}: E[mu] = s/beta = {:.3e} per unit, {:.3e} over the mean \
             age {mean_age:.4}",
            p.s,
            p.beta,
            p.s / p.beta,
            p.s / p.beta * mean_age
        );
        [
            diagnosis::no_dropout(p.s, lost, &reading),
            diagnosis::poisson_limit(p.r, p.alpha),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
    fn log_likelihood(&self, params: &[f64], data: &GroupedRfm) -> f64 {
        likelihood::log_likelihood_vector(data, params)
    }
    fn p_alive(&self, params: &[f64], c: &Rfm) -> Result<f64> {
        predict::p_alive(&ParetoNbdParams::from_slice(params), c)
    }
    fn p_alive_at(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64> {
        predict::p_alive_at(&ParetoNbdParams::from_slice(params), c, t)
    }
    fn expected_purchases(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64> {
        predict::expected_purchases(&ParetoNbdParams::from_slice(params), c, t)
    }
    fn prob_purchases(&self, params: &[f64], c: &Rfm, t: f64, n: u32) -> Result<f64> {
        predict::prob_n_purchases(&ParetoNbdParams::from_slice(params), c, t, n)
    }
    fn propensity(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64> {
        predict::propensity(&ParetoNbdParams::from_slice(params), c, t)
    }
    fn expected_new_customer(&self, params: &[f64], t: f64) -> Result<f64> {
        Ok(predict::expected_new_customer(
            &ParetoNbdParams::from_slice(params),
            t,
        ))
    }
    fn dert(&self, params: &[f64], c: &Rfm, delta: f64) -> Result<f64> {
        predict::dert(&ParetoNbdParams::from_slice(params), c, delta)
    }
    fn batch_scorer<'a>(
        &'a self,
        params: &'a [f64],
        _batch: &BatchShape<'_>,
    ) -> Box<dyn BatchScorer + 'a> {
        Box::new(ParetoBatch(ParetoNbdParams::from_slice(params)))
    }
    fn purchase_process(&self, params: &[f64]) -> Option<Result<Box<dyn PurchaseProcess>>> {
        Some(simulate::process(ParetoNbdParams::from_slice(params)))
    }
}

/// Batch scoring: nothing to tabulate across customers, but each customer's scores share
/// one P(alive) (two 2F1 series) instead of recomputing it per horizon.
struct ParetoBatch(ParetoNbdParams);

impl BatchScorer for ParetoBatch {
    fn score_chunk(
        &self,
        rfm: &[Rfm],
        horizon: f64,
        schedule: &[(f64, f64)],
        first: usize,
        mut out: ChunkColumns<'_>,
    ) -> Result<()> {
        for (k, c) in rfm.iter().enumerate() {
            let within = |err: ModelError| err.within(&format!("customers[{}]", first + k));
            let s = predict::score(&self.0, c, horizon, schedule).map_err(within)?;
            out.expected_purchases[k] = s.expected_purchases;
            out.p_alive[k] = s.p_alive;
            out.propensity[k] = s.propensity;
            if let Some(ClvColumns {
                expected_spend,
                clv,
            }) = out.clv.as_mut()
            {
                clv[k] = expected_spend[k].map(|spend| spend * s.discounted_purchases);
            }
        }
        Ok(())
    }
}
