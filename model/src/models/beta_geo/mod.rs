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

//!
//! Files: `likelihood` (the fit's objective, gradient and Hessian), `expectation` (the
//! E[N(t)] series tables), `predict` (per-customer predictions), `batch` (batch scoring
//! with per-frequency tables), `simulate` (the latent process). This file registers the
//! two families.

mod batch;
mod expectation;
mod forms;
mod likelihood;
mod predict;
mod simulate;

use crate::data::rfm::Rfm;
use crate::error::Result;
use crate::fit::{self, FitDiagnostics, FitOptions, FitWarning, Fitted, GroupedRfm, LogLikelihood};
use crate::models::diagnosis;
use crate::models::family::{BatchScorer, BatchShape, TransactionFamily};
use crate::models::params::BetaGeoParams;
use crate::numerics::special::ln_beta;
use crate::simulate::PurchaseProcess;
use likelihood::BetaGeoLikelihood;

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
    pub(crate) fn checks(self, x: u32) -> f64 {
        match self {
            Variant::Classic => x as f64,
            Variant::Modified => x as f64 + 1.0,
        }
    }
}

/// Fits one variant; the parameters come back as (r, α, a, b).
fn fit_variant(data: &GroupedRfm, variant: Variant, opts: &FitOptions) -> Result<Fitted<Vec<f64>>> {
    let opts = fit::with_warm_start(data, opts, |sub, o| {
        fit_variant(sub, variant, o).map(|f| f.params)
    });
    let ll = BetaGeoLikelihood::new(data, variant);
    let mut raw = fit::maximize(&ll, &opts)?;
    raw.diagnostics.model = variant.name().to_string();
    Ok(Fitted {
        params: raw.params,
        diagnostics: raw.diagnostics,
    })
}

fn log_likelihood_variant(data: &GroupedRfm, variant: Variant, params: &[f64]) -> f64 {
    let ll = BetaGeoLikelihood::new(data, variant);
    let mut g = [0.0; 4];
    ll.ll_grad(params, &mut g)
}

/// Fits BG/NBD by maximum likelihood, with typed parameters and the fit's diagnosis.
pub fn fit_bgnbd(data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<BetaGeoParams>> {
    typed(&BG_NBD, data, fit_variant(data, Variant::Classic, opts)?)
}

/// Fits MBG/NBD by maximum likelihood, with typed parameters and the fit's diagnosis.
pub fn fit_mbgnbd(data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<BetaGeoParams>> {
    typed(&MBG_NBD, data, fit_variant(data, Variant::Modified, opts)?)
}

fn typed(
    family: &BetaGeo,
    data: &GroupedRfm,
    mut f: Fitted<Vec<f64>>,
) -> Result<Fitted<BetaGeoParams>> {
    let found = diagnosis::diagnose_fit(family, &f.params, &f.diagnostics, data);
    f.diagnostics.warnings.extend(found);
    Ok(Fitted {
        params: BetaGeoParams::new(f.params[0], f.params[1], f.params[2], f.params[3])?,
        diagnostics: f.diagnostics,
    })
}

/// Total log-likelihood of `data` under BG/NBD with `params`.
pub fn log_likelihood_bgnbd(data: &GroupedRfm, params: &BetaGeoParams) -> f64 {
    log_likelihood_variant(data, Variant::Classic, &params.to_vec())
}

/// Total log-likelihood of `data` under MBG/NBD with `params`.
pub fn log_likelihood_mbgnbd(data: &GroupedRfm, params: &BetaGeoParams) -> f64 {
    log_likelihood_variant(data, Variant::Modified, &params.to_vec())
}

/// The beta-geometric purchase/dropout family, one value per variant.
#[derive(Debug, Clone, Copy)]
pub struct BetaGeo(Variant);

/// BG/NBD (Fader, Hardie & Lee 2005).
pub static BG_NBD: BetaGeo = BetaGeo(Variant::Classic);

/// MBG/NBD (Batislam, Denizel & Filiztekin 2007).
pub static MBG_NBD: BetaGeo = BetaGeo(Variant::Modified);

impl TransactionFamily for BetaGeo {
    fn name(&self) -> &'static str {
        match self.0 {
            Variant::Classic => "bgnbd",
            Variant::Modified => "mbgnbd",
        }
    }
    fn aliases(&self) -> &'static [&'static str] {
        match self.0 {
            Variant::Classic => &["bg-nbd"],
            Variant::Modified => &["mbg-nbd"],
        }
    }
    fn title(&self) -> &'static str {
        self.0.name()
    }
    fn param_names(&self) -> &'static [&'static str] {
        &["r", "alpha", "a", "b"]
    }
    fn fit(&self, data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<Vec<f64>>> {
        fit_variant(data, self.0, opts)
    }
    /// No dropout when a → 0 (most of Beta(a, b) at p = 0) or a ≪ b (E[p] = a/(a+b)
    /// negligible: the fit believes nobody has left); the Poisson limit
    /// when r, α → ∞ together.
    fn diagnose(
        &self,
        params: &[f64],
        _diagnostics: &FitDiagnostics,
        data: &GroupedRfm,
    ) -> Vec<FitWarning> {
        let p = BetaGeoParams::from_slice(params);
        // A typical customer's dropout checks, and the prior probability of leaving at one
        // of k checks: 1 − E[(1 − p)^k] = 1 − B(a, b + k) / B(a, b).
        let (mut checks, mut weight) = (0.0, 0.0);
        for (&x, &w) in data.frequency.iter().zip(&data.weight) {
            checks += w * self.0.checks(x);
            weight += w;
        }
        let k = checks / weight.max(f64::MIN_POSITIVE);
        let lost = -(ln_beta(p.a, p.b + k) - ln_beta(p.a, p.b)).exp_m1();
        let reading = format!(
            "a = {:.3e}, b = {:.3e}: E[p] = a/(a+b) = {:.3e} per check, {k:.3} checks per \
             customer",
            p.a,
            p.b,
            p.a / (p.a + p.b)
        );
        [
            diagnosis::no_dropout(p.a, lost, &reading),
            diagnosis::poisson_limit(p.r, p.alpha),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
    fn log_likelihood(&self, params: &[f64], data: &GroupedRfm) -> f64 {
        log_likelihood_variant(data, self.0, params)
    }
    fn p_alive(&self, params: &[f64], c: &Rfm) -> Result<f64> {
        Ok(predict::p_alive(
            &BetaGeoParams::from_slice(params),
            self.0,
            c,
        ))
    }
    fn p_alive_at(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64> {
        let p = BetaGeoParams::from_slice(params);
        predict::p_alive_at(&p, self.0, c, t)
    }
    fn expected_purchases(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64> {
        let p = BetaGeoParams::from_slice(params);
        predict::expected_purchases(&p, self.0, c, t)
    }
    fn prob_purchases(&self, params: &[f64], c: &Rfm, t: f64, n: u32) -> Result<f64> {
        let p = BetaGeoParams::from_slice(params);
        Ok(predict::prob_n_purchases(&p, self.0, c, t, n))
    }
    fn propensity(&self, params: &[f64], c: &Rfm, t: f64) -> Result<f64> {
        let p = BetaGeoParams::from_slice(params);
        Ok(predict::propensity(&p, self.0, c, t))
    }
    fn expected_new_customer(&self, params: &[f64], t: f64) -> Result<f64> {
        let p = BetaGeoParams::from_slice(params);
        predict::expected_new_customer(&p, self.0, t)
    }
    fn batch_scorer<'a>(
        &'a self,
        params: &'a [f64],
        batch: &BatchShape<'_>,
    ) -> Box<dyn BatchScorer + 'a> {
        let p = BetaGeoParams::from_slice(params);
        Box::new(batch::BetaGeoBatch::prepare(p, self.0, batch))
    }
    fn purchase_process(&self, params: &[f64]) -> Option<Result<Box<dyn PurchaseProcess>>> {
        Some(simulate::process(BetaGeoParams::from_slice(params), self.0))
    }
}
