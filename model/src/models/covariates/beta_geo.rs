//! BG/NBD and MBG/NBD with static covariates (Fader & Hardie 2007, "Incorporating
//! time-invariant covariates into the Pareto/NBD and BG/NBD models"; CLVTools' `bgnbd` with
//! static covariates). Customer i with purchase covariates z_i and lifetime covariates w_i
//! has
//!
//! * α_i = α₀ · exp(−γ_purchaseᵀ z_i): a positive γ_purchase means faster purchasing
//!   (E[λ] = r/α_i grows);
//! * a_i = a₀ · exp(γ_lifetimeᵀ w_i), b_i = b₀ · exp(γ_lifetimeᵀ w_i): the same factor on
//!   both keeps E[p] = a/(a+b) and moves the dropout distribution's concentration.
//!
//! Customer i's likelihood is the plain model's at (r, α_i, a_i, b_i): the per-row terms
//! and their derivatives in (r, α, a, b) below are the textbook ones (the same
//! decomposition as `beta_geo::likelihood`, evaluated per row because a_i and b_i differ by
//! row), and the chain rule carries them to (α₀, a₀, b₀, γ). The plain family's tables
//! per frequency stay untouched: a model without covariates never comes here.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::data::CovariateData;
use super::schema::{CovariateMatrix, CovariateSchema};
use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::fit::{self, FitOptions, FitWarning, Fitted, LogLikelihood};
use crate::models::TransactionModel;
use crate::models::beta_geo::{BG_NBD, BetaGeo, MBG_NBD, Variant};
use crate::models::diagnosis;
use crate::models::family::TransactionFamily;
use crate::models::params::{BetaGeoParams, GammaGammaParams};
use crate::numerics::special::{digamma, ln_gamma_shift};
use crate::predict::clv::CustomerModel;

/// Options of a covariate fit: those of every fit, plus the L2 penalty on the coefficients.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CovariateFitOptions {
    /// `penalizer` is lifetimes' penalty on the base parameters (r, α₀, a₀, b₀), as in the
    /// plain fit; `initial_params`, if given, are the base parameters only (the
    /// coefficients start at 0).
    pub fit: FitOptions,
    /// Adds `covariate_penalty · Σ γ²` to the per-customer objective (the same scale as
    /// `penalizer`): it pulls coefficients the data barely identify towards "no effect".
    /// 0 = plain maximum likelihood.
    pub covariate_penalty: f64,
}

/// A fitted BG/NBD or MBG/NBD with static covariates: what a store keeps and scoring uses.
/// The schemas encode a new customer's raw covariates exactly as the fit encoded its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawBetaGeoCovariates")]
pub struct BetaGeoCovariates {
    /// `bgnbd` or `mbgnbd`.
    family: String,
    /// r, α₀, a₀, b₀: the parameters of a customer whose encoded covariates are all 0.
    base: BetaGeoParams,
    purchase_schema: CovariateSchema,
    lifetime_schema: CovariateSchema,
    purchase_coefficients: Vec<f64>,
    lifetime_coefficients: Vec<f64>,
}

#[derive(Deserialize)]
struct RawBetaGeoCovariates {
    family: String,
    base: BetaGeoParams,
    purchase_schema: CovariateSchema,
    lifetime_schema: CovariateSchema,
    purchase_coefficients: Vec<f64>,
    lifetime_coefficients: Vec<f64>,
}

impl TryFrom<RawBetaGeoCovariates> for BetaGeoCovariates {
    type Error = ModelError;
    fn try_from(r: RawBetaGeoCovariates) -> Result<Self> {
        BetaGeoCovariates::new(
            &r.family,
            r.base,
            r.purchase_schema,
            r.lifetime_schema,
            r.purchase_coefficients,
            r.lifetime_coefficients,
        )
    }
}

fn variant_of(family: &str) -> Result<Variant> {
    match family {
        "bgnbd" => Ok(Variant::Classic),
        "mbgnbd" => Ok(Variant::Modified),
        other => Err(ModelError::invalid(
            "family",
            format!("static covariates are available for bgnbd and mbgnbd, not {other}"),
        )),
    }
}

fn family_of(variant: Variant) -> &'static BetaGeo {
    match variant {
        Variant::Classic => &BG_NBD,
        Variant::Modified => &MBG_NBD,
    }
}

/// γᵀz.
#[inline]
fn linear(coefficients: &[f64], z: &[f64]) -> f64 {
    coefficients.iter().zip(z).map(|(g, v)| g * v).sum()
}

/// e^(γᵀz), or 1 without covariates.
#[inline]
fn scale(coefficients: &[f64], z: &[f64]) -> f64 {
    if coefficients.is_empty() {
        return 1.0;
    }
    linear(coefficients, z).exp()
}

impl BetaGeoCovariates {
    /// Checks that the coefficients match the schemas and are finite.
    pub fn new(
        family: &str,
        base: BetaGeoParams,
        purchase_schema: CovariateSchema,
        lifetime_schema: CovariateSchema,
        purchase_coefficients: Vec<f64>,
        lifetime_coefficients: Vec<f64>,
    ) -> Result<Self> {
        variant_of(family)?;
        for (what, schema, coefficients) in [
            ("purchase", &purchase_schema, &purchase_coefficients),
            ("lifetime", &lifetime_schema, &lifetime_coefficients),
        ] {
            if schema.width() != coefficients.len() {
                return Err(ModelError::invalid(
                    format!("{what}_coefficients"),
                    format!(
                        "the schema encodes {} columns, got {} coefficients",
                        schema.width(),
                        coefficients.len()
                    ),
                ));
            }
            if let Some(k) = coefficients.iter().position(|g| !g.is_finite()) {
                return Err(ModelError::invalid(
                    format!("{what}_coefficients[{k}]"),
                    "must be finite",
                ));
            }
        }
        Ok(Self {
            family: family.to_string(),
            base,
            purchase_schema,
            lifetime_schema,
            purchase_coefficients,
            lifetime_coefficients,
        })
    }

    pub fn family(&self) -> &str {
        &self.family
    }

    pub fn base(&self) -> BetaGeoParams {
        self.base
    }

    pub fn purchase_schema(&self) -> &CovariateSchema {
        &self.purchase_schema
    }

    pub fn lifetime_schema(&self) -> &CovariateSchema {
        &self.lifetime_schema
    }

    pub fn purchase_coefficients(&self) -> &[f64] {
        &self.purchase_coefficients
    }

    pub fn lifetime_coefficients(&self) -> &[f64] {
        &self.lifetime_coefficients
    }

    fn variant(&self) -> Variant {
        // Checked on construction.
        variant_of(&self.family).unwrap_or(Variant::Classic)
    }

    /// Total weighted log-likelihood of `data` (encoded with this model's schemas).
    pub fn log_likelihood(&self, data: &CovariateData) -> Result<f64> {
        check_names(data, &self.purchase_schema, &self.lifetime_schema)?;
        let mut params = self.base.to_vec();
        params.extend_from_slice(&self.purchase_coefficients);
        params.extend_from_slice(&self.lifetime_coefficients);
        let mut grad = vec![0.0; params.len()];
        Ok(CovariateLikelihood::new(data, self.variant(), 0.0, 0.0).evaluate(&params, &mut grad))
    }

    /// The parameters of a customer with encoded purchase covariates `z` and lifetime
    /// covariates `w`; an error when they leave the finite range (an absurd covariate).
    pub fn customer_params(&self, z: &[f64], w: &[f64]) -> Result<BetaGeoParams> {
        for (what, got, want) in [
            ("purchase", z.len(), self.purchase_coefficients.len()),
            ("lifetime", w.len(), self.lifetime_coefficients.len()),
        ] {
            if got != want {
                return Err(ModelError::invalid(
                    format!("covariates.{what}"),
                    format!("expected {want} encoded values, got {got}"),
                ));
            }
        }
        let b = self.base;
        let life = scale(&self.lifetime_coefficients, w);
        BetaGeoParams::new(
            b.r,
            b.alpha / scale(&self.purchase_coefficients, z),
            b.a * life,
            b.b * life,
        )
        .map_err(|e| e.within("covariates"))
    }

    /// The plain model at a customer's own parameters: every prediction of the family
    /// (P(alive), expected purchases, propensity, …) for that customer.
    pub fn customer_model(&self, z: &[f64], w: &[f64]) -> Result<TransactionModel> {
        let p = self.customer_params(z, w)?;
        Ok(match self.variant() {
            Variant::Classic => TransactionModel::bg_nbd(p),
            Variant::Modified => TransactionModel::mbg_nbd(p),
        })
    }

    /// P(alive) and expected purchases in (T, T + horizon] for every customer, in
    /// parallel. Row k of the matrices describes `rfm[k]`.
    pub fn score(
        &self,
        rfm: &[Rfm],
        purchase: &CovariateMatrix,
        lifetime: &CovariateMatrix,
        horizon: f64,
    ) -> Result<Vec<CovariateScore>> {
        self.check_batch(rfm, purchase, lifetime)?;
        crate::models::transaction::check_horizon(horizon)?;
        let family = family_of(self.variant());
        rfm.par_iter()
            .enumerate()
            .with_min_len(4096)
            .map(|(i, c)| {
                let within = |e: ModelError| e.within(&format!("customers[{i}]"));
                c.validate().map_err(within)?;
                let p = self
                    .customer_params(purchase.row(i), lifetime.row(i))
                    .map_err(within)?
                    .to_vec();
                Ok(CovariateScore {
                    p_alive: family.p_alive(&p, c).map_err(within)?,
                    expected_purchases: family
                        .expected_purchases(&p, c, horizon)
                        .map_err(within)?,
                })
            })
            .collect()
    }

    /// CLV of every customer with Gamma-Gamma spend (without covariates) over a schedule of
    /// period ends and discount factors in the model's unit
    /// ([`crate::ClvSpec::schedule`]): `None` where the expected spend is undefined, as for
    /// the plain model.
    pub fn clv(
        &self,
        rfm: &[Rfm],
        monetary_value: &[f64],
        purchase: &CovariateMatrix,
        lifetime: &CovariateMatrix,
        spend: GammaGammaParams,
        schedule: &[(f64, f64)],
    ) -> Result<Vec<Option<f64>>> {
        self.check_batch(rfm, purchase, lifetime)?;
        if monetary_value.len() != rfm.len() {
            return Err(ModelError::invalid(
                "monetary_value",
                format!(
                    "expected {} values, got {}",
                    rfm.len(),
                    monetary_value.len()
                ),
            ));
        }
        rfm.par_iter()
            .enumerate()
            .with_min_len(1024)
            .map(|(i, c)| {
                let within = |e: ModelError| e.within(&format!("customers[{i}]"));
                c.validate().map_err(within)?;
                let Some(value) = spend.expected_spend(c.frequency, monetary_value[i]) else {
                    return Ok(None);
                };
                let customer = CustomerModel {
                    unit: crate::TimeUnit::Week, // schedule already in the model's unit
                    transaction: self
                        .customer_model(purchase.row(i), lifetime.row(i))
                        .map_err(within)?,
                    spend: Some(spend),
                };
                let purchases = customer.discounted_purchases(c, schedule).map_err(within)?;
                Ok(Some(value * purchases))
            })
            .collect()
    }

    fn check_batch(
        &self,
        rfm: &[Rfm],
        purchase: &CovariateMatrix,
        lifetime: &CovariateMatrix,
    ) -> Result<()> {
        for (what, m, schema) in [
            ("purchase", purchase, &self.purchase_schema),
            ("lifetime", lifetime, &self.lifetime_schema),
        ] {
            if m.rows() != rfm.len() {
                return Err(ModelError::invalid(
                    format!("covariates.{what}"),
                    format!("expected {} rows, got {}", rfm.len(), m.rows()),
                ));
            }
            if m.names() != schema.encoded_names() {
                return Err(ModelError::invalid(
                    format!("covariates.{what}"),
                    format!(
                        "columns {:?} are not the model's {:?}: encode with the model's schema",
                        m.names(),
                        schema.encoded_names()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// One customer's predictions with covariates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CovariateScore {
    pub p_alive: f64,
    pub expected_purchases: f64,
}

/// Fits BG/NBD with static covariates.
pub fn fit_bgnbd_covariates(
    data: &CovariateData,
    purchase_schema: &CovariateSchema,
    lifetime_schema: &CovariateSchema,
    opts: &CovariateFitOptions,
) -> Result<Fitted<BetaGeoCovariates>> {
    fit_variant(
        Variant::Classic,
        data,
        purchase_schema,
        lifetime_schema,
        opts,
    )
}

/// Fits MBG/NBD with static covariates.
pub fn fit_mbgnbd_covariates(
    data: &CovariateData,
    purchase_schema: &CovariateSchema,
    lifetime_schema: &CovariateSchema,
    opts: &CovariateFitOptions,
) -> Result<Fitted<BetaGeoCovariates>> {
    fit_variant(
        Variant::Modified,
        data,
        purchase_schema,
        lifetime_schema,
        opts,
    )
}

/// Above this many rows a fit first runs on a strided subsample for its start, as the
/// plain fits do (`fit::with_warm_start`).
const WARM_START_MIN_ROWS: usize = 100_000;
const WARM_START_ROWS: usize = 50_000;

fn fit_variant(
    variant: Variant,
    data: &CovariateData,
    purchase_schema: &CovariateSchema,
    lifetime_schema: &CovariateSchema,
    opts: &CovariateFitOptions,
) -> Result<Fitted<BetaGeoCovariates>> {
    check_names(data, purchase_schema, lifetime_schema)?;
    let penalty = opts.covariate_penalty;
    if !(penalty.is_finite() && penalty >= 0.0) {
        return Err(ModelError::invalid(
            "covariate_penalty",
            format!("must be finite and >= 0, got {penalty}"),
        ));
    }
    opts.fit.validate(4)?;
    let raw = maximize(variant, data, opts)?;
    let (kp, kl) = (data.purchase_width(), data.lifetime_width());
    let mut diagnostics = raw.diagnostics;
    let base = BetaGeoParams::new(raw.params[0], raw.params[1], raw.params[2], raw.params[3])?;
    let gammas: Vec<f64> = raw.params[4..].iter().map(|t| t.ln()).collect();
    // The optimizer reports delta-method errors of θ = e^γ: SE(γ) = SE(θ)/θ.
    for (k, theta) in raw.params[4..].iter().enumerate() {
        let se = &mut diagnostics.standard_errors[4 + k];
        *se = se.map(|s| s / theta);
    }
    // With a penalty the optimizer saw the penalised log-likelihood: report the plain one
    // (one more pass over the rows, spared when there is no penalty).
    let penalised = opts.fit.penalizer > 0.0 || penalty > 0.0;
    let ll = if penalised {
        let unpenalized = CovariateLikelihood::new(data, variant, 0.0, 0.0);
        let mut scratch = vec![0.0; raw.params.len()];
        unpenalized.ll_grad(&raw.params, &mut scratch)
    } else {
        diagnostics.log_likelihood
    };
    let k = raw.params.len() as f64;
    diagnostics.log_likelihood = ll;
    diagnostics.aic = 2.0 * k - 2.0 * ll;
    diagnostics.bic = k * diagnostics.n_observations.ln() - 2.0 * ll;
    diagnostics.model = format!("{} with static covariates", family_of(variant).title());
    if opts.fit.penalizer > 0.0 || penalty > 0.0 {
        diagnostics
            .message
            .push_str("; with a penalty the standard errors are those of the penalised objective");
    }
    // The checks any purchase/dropout fit gets, on the base parameters (a coefficient's
    // size relative to its error is a test of its effect, not a sign of a ridge).
    let family = family_of(variant);
    let plain = data.without_covariates();
    let mut base_diagnostics = diagnostics.clone();
    base_diagnostics.param_names.truncate(4);
    base_diagnostics.standard_errors.truncate(4);
    let found: Vec<FitWarning> =
        diagnosis::diagnose_fit(family, &base.to_vec(), &base_diagnostics, &plain);
    diagnostics.warnings.extend(found);
    let model = BetaGeoCovariates::new(
        family.name(),
        base,
        purchase_schema.clone(),
        lifetime_schema.clone(),
        gammas[..kp].to_vec(),
        gammas[kp..kp + kl].to_vec(),
    )?;
    Ok(Fitted {
        params: model,
        diagnostics,
    })
}

/// The data's encoded columns must be the schemas'.
fn check_names(
    data: &CovariateData,
    purchase_schema: &CovariateSchema,
    lifetime_schema: &CovariateSchema,
) -> Result<()> {
    for (what, schema, names) in [
        ("purchase", purchase_schema, &data.purchase_names),
        ("lifetime", lifetime_schema, &data.lifetime_names),
    ] {
        if schema.encoded_names() != *names {
            return Err(ModelError::invalid(
                format!("covariates.{what}"),
                format!(
                    "data columns {names:?} are not the schema's {:?}",
                    schema.encoded_names()
                ),
            ));
        }
    }
    Ok(())
}

/// Runs the shared optimizer, with a start from a subsample fit on large data. Parameters
/// in and out are [r, α₀, a₀, b₀, e^γ…] (see [`CovariateLikelihood`]).
fn maximize(
    variant: Variant,
    data: &CovariateData,
    opts: &CovariateFitOptions,
) -> Result<Fitted<Vec<f64>>> {
    let n = 4 + data.purchase_width() + data.lifetime_width();
    let mut fit_opts = FitOptions {
        // Both penalties are in the likelihood (the optimizer's would act on e^γ).
        penalizer: 0.0,
        ..opts.fit.clone()
    };
    fit_opts.initial_params = match &opts.fit.initial_params {
        Some(base) => Some(base.iter().copied().chain((4..n).map(|_| 1.0)).collect()),
        None if data.len() > WARM_START_MIN_ROWS => {
            let sub = data.subsample(data.len() / WARM_START_ROWS);
            maximize(variant, &sub, opts)
                .ok()
                .map(|f| f.params)
                .filter(|p| p.iter().all(|v| v.is_finite() && *v > 0.0))
        }
        None => None,
    };
    let ll = CovariateLikelihood::new(data, variant, opts.fit.penalizer, opts.covariate_penalty);
    fit::maximize(&ll, &fit_opts)
}

/// The weighted log-likelihood of a covariate fit, less the penalties.
///
/// The shared optimizer works in log parameters, for parameters that must be positive. A
/// coefficient γ may have either sign, so it is handed over as θ = e^γ: the optimizer's log
/// parameter is then γ itself, its steps and Hessian are those in γ, and only the reported
/// values and standard errors need mapping back (done by the fit).
///
/// In those log coordinates P = [ln r, ln α₀, ln a₀, ln b₀, γ_purchase…, γ_lifetime…] each
/// row's own log parameters are linear: ln α_i = ln α₀ − γ_purchaseᵀz_i, ln a_i = ln a₀ +
/// γ_lifetimeᵀw_i, ln b_i = ln b₀ + γ_lifetimeᵀw_i. So the gradient and Hessian in P are
/// Jᵢᵀ·(the row's own, in its log parameters) and Jᵢᵀ·H·Jᵢ with a constant 4 × n Jacobian
/// Jᵢ of ones and covariate values: the analytic Hessian costs a few hundred multiply-adds
/// per row, and the fit runs Newton's method on it.
pub(crate) struct CovariateLikelihood<'a> {
    data: &'a CovariateData,
    variant: Variant,
    penalizer: f64,
    covariate_penalty: f64,
    total_weight: f64,
}

/// Value, gradient and (when asked for) Hessian of the log-likelihood in the log
/// coordinates P.
struct LogCoordinates {
    value: f64,
    grad: Vec<f64>,
    /// n × n, row-major; empty unless asked for.
    hess: Vec<f64>,
}

impl<'a> CovariateLikelihood<'a> {
    pub(crate) fn new(
        data: &'a CovariateData,
        variant: Variant,
        penalizer: f64,
        covariate_penalty: f64,
    ) -> Self {
        Self {
            data,
            variant,
            penalizer,
            covariate_penalty,
            total_weight: data.total_weight(),
        }
    }

    /// Unpenalised log-likelihood and its gradient in natural parameters
    /// [r, α₀, a₀, b₀, γ_purchase…, γ_lifetime…].
    pub(crate) fn evaluate(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let s = self.sums::<false>(params);
        for j in 0..params.len() {
            grad[j] = if j < 4 {
                s.grad[j] / params[j]
            } else {
                s.grad[j]
            };
        }
        s.value
    }

    /// The unpenalised sums over every row at natural parameters [r, α₀, a₀, b₀, γ…], in
    /// parallel chunks added in chunk order (the same bits on any thread count).
    fn sums<const HESS: bool>(&self, params: &[f64]) -> LogCoordinates {
        let d = self.data;
        let (kp, kl) = (d.purchase_width(), d.lifetime_width());
        let n = 4 + kp + kl;
        let (r, alpha0, a0, b0) = (params[0], params[1], params[2], params[3]);
        let gp = &params[4..4 + kp];
        let gl = &params[4 + kp..n];
        let ln_alpha0 = alpha0.ln();
        // lnΓ(r+x) − lnΓ(r), ψ(r+x) − ψ(r), −(ψ'(r+x) − ψ'(r)) per frequency: r is shared.
        let mut by_x = Vec::with_capacity(d.max_frequency as usize + 1);
        let (mut lg, mut dg, mut tg) = (0.0, 0.0, 0.0);
        for x in 0..=d.max_frequency {
            by_x.push([lg, dg, tg]);
            let y = r + f64::from(x);
            lg += y.ln();
            dg += 1.0 / y;
            tg += 1.0 / (y * y);
        }
        let variant = self.variant;
        let rows = d.len();
        let chunk = rows.div_ceil(64).max(16 * 1024);
        let starts: Vec<usize> = (0..rows).step_by(chunk).collect();
        let width = 1 + n + if HESS { n * n } else { 0 };
        let parts: Vec<Vec<f64>> = starts
            .par_iter()
            .map(|&start| {
                // [value, gradient (n), Hessian (n × n, upper triangle filled)].
                let mut acc = vec![0.0; width];
                // The row's Jacobian ∂(ln r, ln α, ln a, ln b)/∂P: ones at the base
                // parameters, −z and w at the coefficients.
                let mut jac = vec![0.0; 4 * n];
                for m in 0..4 {
                    jac[m * n + m] = 1.0;
                }
                let mut hj = vec![0.0; 4 * n];
                for i in start..(start + chunk).min(rows) {
                    let w = d.weight[i];
                    if w == 0.0 {
                        continue;
                    }
                    let (z, l) = (d.purchase_row(i), d.lifetime_row(i));
                    let lin = linear(gp, z);
                    let (alpha, ln_alpha) = (alpha0 * (-lin).exp(), ln_alpha0 - lin);
                    let life = scale(gl, l);
                    let (a, b) = (a0 * life, b0 * life);
                    let x = d.frequency[i];
                    let q = [r, alpha, a, b];
                    let row = Row::evaluate::<HESS>(
                        variant,
                        x,
                        d.recency[i],
                        d.age[i],
                        q,
                        ln_alpha,
                        by_x[x as usize],
                    );
                    // In the row's log parameters: g_m·q_m.
                    let g: [f64; 4] = std::array::from_fn(|m| row.grad[m] * q[m]);
                    acc[0] += w * row.value;
                    acc[1] += w * g[0];
                    acc[2] += w * g[1];
                    acc[3] += w * g[2];
                    acc[4] += w * g[3];
                    for k in 0..kp {
                        acc[5 + k] -= w * g[1] * z[k];
                    }
                    let life_grad = w * (g[2] + g[3]);
                    for k in 0..kl {
                        acc[5 + kp + k] += life_grad * l[k];
                    }
                    if HESS {
                        for k in 0..kp {
                            jac[n + 4 + k] = -z[k];
                        }
                        for k in 0..kl {
                            jac[2 * n + 4 + kp + k] = l[k];
                            jac[3 * n + 4 + kp + k] = l[k];
                        }
                        // The row's Hessian in its log parameters: q_m q_k h_mk + δ g_m.
                        let mut hl = [[0.0; 4]; 4];
                        for m in 0..4 {
                            for k in 0..4 {
                                hl[m][k] = q[m] * q[k] * row.hess[m][k];
                            }
                            hl[m][m] += g[m];
                        }
                        // hj = hl · J, then acc += w · Jᵀ · hj (upper triangle).
                        for m in 0..4 {
                            for j in 0..n {
                                hj[m * n + j] = (0..4).map(|k| hl[m][k] * jac[k * n + j]).sum();
                            }
                        }
                        let h = &mut acc[1 + n..];
                        for a in 0..n {
                            for m in 0..4 {
                                let jm = jac[m * n + a];
                                if jm == 0.0 {
                                    continue;
                                }
                                let wj = w * jm;
                                for c in a..n {
                                    h[a * n + c] += wj * hj[m * n + c];
                                }
                            }
                        }
                    }
                }
                acc
            })
            .collect();
        let mut total = vec![0.0; width];
        for p in parts {
            for (t, v) in total.iter_mut().zip(p) {
                *t += v;
            }
        }
        let mut hess = Vec::new();
        if HESS {
            hess = total[1 + n..].to_vec();
            for a in 0..n {
                for c in 0..a {
                    hess[a * n + c] = hess[c * n + a];
                }
            }
        }
        LogCoordinates {
            value: total[0],
            grad: total[1..1 + n].to_vec(),
            hess,
        }
    }

    /// The penalised objective at the optimizer's parameters [r, α₀, a₀, b₀, e^γ…]:
    /// value, natural gradient and (with HESS) natural Hessian.
    fn penalised<const HESS: bool>(
        &self,
        params: &[f64],
        grad: &mut [f64],
        hess: &mut [f64],
    ) -> f64 {
        let n = params.len();
        let mut natural = params.to_vec();
        for v in &mut natural[4..] {
            *v = v.ln();
        }
        let mut s = self.sums::<HESS>(&natural);
        // Penalties in log coordinates: λ·W·p² on the base parameters (lifetimes'
        // convention), λ_c·W·γ² on the coefficients.
        let w = self.total_weight;
        for j in 0..n {
            let (value, first, second) = if j < 4 {
                let pen = w * self.penalizer * params[j] * params[j];
                (pen, 2.0 * pen, 4.0 * pen)
            } else {
                let c = w * self.covariate_penalty;
                let gamma = natural[j];
                (c * gamma * gamma, 2.0 * c * gamma, 2.0 * c)
            };
            s.value -= value;
            s.grad[j] -= first;
            if HESS {
                s.hess[j * n + j] -= second;
            }
        }
        // Back to natural parameters p = e^P: ∂/∂p = ∂/∂P / p, and
        // ∂²/∂p_i∂p_j = (∂²/∂P_i∂P_j − δ_ij ∂/∂P_i) / (p_i p_j).
        for i in 0..n {
            grad[i] = s.grad[i] / params[i];
            if HESS {
                for j in 0..n {
                    let mut v = s.hess[i * n + j];
                    if i == j {
                        v -= s.grad[i];
                    }
                    hess[i * n + j] = v / (params[i] * params[j]);
                }
            }
        }
        s.value
    }
}

/// Whole-number k ≥ 0: lnΓ(y+k) − lnΓ(y), ψ(y+k) − ψ(y) and −(ψ'(y+k) − ψ'(y)), by their
/// sums for the small k of most customers, by the special functions beyond.
#[inline]
fn rising(y: f64, k: f64) -> [f64; 3] {
    if k <= 32.0 {
        let (mut ln, mut inv, mut inv2) = (0.0, 0.0, 0.0);
        // ln Π(y+j) as one logarithm per 8 factors (below 1e30 each, so no overflow).
        let per_ln = if y < 1e30 { 8 } else { 1 };
        let (mut product, mut factors) = (1.0, 0);
        let mut j = 0.0;
        while j < k {
            let v = 1.0 / (y + j);
            product *= y + j;
            factors += 1;
            if factors == per_ln {
                ln += product.ln();
                (product, factors) = (1.0, 0);
            }
            inv += v;
            inv2 += v * v;
            j += 1.0;
        }
        [ln + product.ln(), inv, inv2]
    } else {
        [
            ln_gamma_shift(y, k),
            digamma(y + k) - digamma(y),
            trigamma(y) - trigamma(y + k),
        ]
    }
}

/// ψ'(y) for y > 0: the recurrence ψ'(y) = ψ'(y+1) + 1/y² up to y ≥ 10, then the
/// asymptotic series (error below 1e-16 relative there).
fn trigamma(mut y: f64) -> f64 {
    let mut acc = 0.0;
    while y < 10.0 {
        acc += 1.0 / (y * y);
        y += 1.0;
    }
    let inv = 1.0 / y;
    let inv2 = inv * inv;
    // 1/y + 1/(2y²) + 1/(6y³) − 1/(30y⁵) + 1/(42y⁷) − 1/(30y⁹)
    let tail = 1.0 / 6.0 + inv2 * (-1.0 / 30.0 + inv2 * (1.0 / 42.0 - inv2 / 30.0));
    acc + inv + inv2 * (0.5 + inv * tail)
}

/// One customer's log-likelihood at its own q = (r, α, a, b) with its derivatives in q.
struct Row {
    value: f64,
    grad: [f64; 4],
    /// Zero unless asked for.
    hess: [[f64; 4]; 4],
}

impl Row {
    /// `by_x` = [lnΓ(r+x) − lnΓ(r), ψ(r+x) − ψ(r), −(ψ'(r+x) − ψ'(r))].
    ///
    /// ln L = lnΓ(r+x) − lnΓ(r) − x ln α − (r+x) ln(1 + T/α) + lnB(a, b+k) − lnB(a, b)
    ///        + ln(1 + e^d),  d = ln(a/(b+k−1)) + (r+x) ln((α+T)/(α+t_x))
    ///
    /// with k the dropout checks survived (x for BG/NBD, x+1 for MBG/NBD) and no e^d term
    /// when k = 0 (Fader, Hardie & Lee 2005, eq. 6, with r ln α folded into the age term as
    /// the plain likelihood does).
    #[inline]
    fn evaluate<const HESS: bool>(
        variant: Variant,
        x: u32,
        recency: f64,
        age: f64,
        q: [f64; 4],
        ln_alpha: f64,
        by_x: [f64; 3],
    ) -> Row {
        let [r, alpha, a, b] = q;
        let [lg_r, dg_r, tg_r] = by_x;
        let xf = f64::from(x);
        let rx = r + xf;
        let k = variant.checks(x);
        let ln_age = (age / alpha).ln_1p();
        let [lg_b, dg_b, tg_b] = rising(b, k);
        let [lg_ab, dg_ab, tg_ab] = rising(a + b, k);
        let mut value = lg_r - xf * ln_alpha - rx * ln_age + lg_b - lg_ab;
        let inv_age = 1.0 / (alpha + age);
        let mut grad = [
            dg_r - ln_age,
            r / alpha - rx * inv_age,
            -dg_ab,
            dg_b - dg_ab,
        ];
        let mut hess = [[0.0; 4]; 4];
        if HESS {
            hess[0][0] = -tg_r;
            hess[0][1] = 1.0 / alpha - inv_age;
            hess[1][1] = -r / (alpha * alpha) + rx * inv_age * inv_age;
            hess[2][2] = tg_ab;
            hess[2][3] = tg_ab;
            hess[3][3] = tg_ab - tg_b;
        }
        if k > 0.0 {
            let inv_rec = 1.0 / (alpha + recency);
            let dl = ((age - recency) / (alpha + recency)).ln_1p();
            let b_last = b + (k - 1.0);
            let d = (a / b_last).ln() + rx * dl;
            // ln(1 + e^d), σ(d) and σ(1 − σ) without overflow.
            let e = (-d.abs()).exp();
            value += d.max(0.0) + e.ln_1p();
            let sigma = if d > 0.0 {
                1.0 / (1.0 + e)
            } else {
                e / (1.0 + e)
            };
            let dd = [dl, rx * (inv_age - inv_rec), 1.0 / a, -1.0 / b_last];
            for m in 0..4 {
                grad[m] += sigma * dd[m];
            }
            if HESS {
                let s2 = e / ((1.0 + e) * (1.0 + e));
                for m in 0..4 {
                    for j in m..4 {
                        hess[m][j] += s2 * dd[m] * dd[j];
                    }
                }
                hess[0][1] += sigma * (inv_age - inv_rec);
                hess[1][1] += sigma * rx * (inv_rec * inv_rec - inv_age * inv_age);
                hess[2][2] -= sigma / (a * a);
                hess[3][3] += sigma / (b_last * b_last);
            }
        }
        if HESS {
            for m in 0..4 {
                for j in 0..m {
                    hess[m][j] = hess[j][m];
                }
            }
        }
        Row { value, grad, hess }
    }
}

impl LogLikelihood for CovariateLikelihood<'_> {
    const MODEL: &'static str = "beta-geometric/NBD with static covariates";
    const PARAM_NAMES: &'static [&'static str] = &["r", "alpha", "a", "b"];
    const HESSIAN: bool = true;

    /// Parameters [r, α₀, a₀, b₀, θ…] with θ = e^γ; the penalties are included.
    fn ll_grad(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        self.penalised::<false>(params, grad, &mut [])
    }

    fn ll_grad_hess(&self, params: &[f64], grad: &mut [f64], hess: &mut [f64]) -> f64 {
        self.penalised::<true>(params, grad, hess)
    }

    fn param_names(&self) -> Vec<String> {
        let d = self.data;
        let mut names: Vec<String> = Self::PARAM_NAMES.iter().map(|s| s.to_string()).collect();
        names.extend(d.purchase_names.iter().map(|c| format!("purchase:{c}")));
        names.extend(d.lifetime_names.iter().map(|c| format!("lifetime:{c}")));
        names
    }

    fn total_weight(&self) -> f64 {
        self.total_weight
    }

    fn groups(&self) -> usize {
        self.data.len()
    }

    fn initial_guess(&self) -> Vec<f64> {
        let d = self.data;
        let (mut sx, mut st, mut sw) = (0.0, 0.0, 0.0);
        for i in 0..d.len() {
            sx += d.weight[i] * f64::from(d.frequency[i]);
            st += d.weight[i] * d.age[i];
            sw += d.weight[i];
        }
        let rate = (sx / st.max(1e-12 * sw)).max(1e-6);
        let mut p = vec![1.0, (1.0 / rate).clamp(1e-3, 1e6), 1.0, 1.0];
        p.resize(4 + d.purchase_width() + d.lifetime_width(), 1.0);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::GroupedRfm;
    use crate::models::covariates::schema::CovariateMatrix;

    fn rows() -> Vec<Rfm> {
        (0..600u32)
            .map(|i| {
                let x = (i * 7) % 9;
                let age = 20.0 + (i % 13) as f64 * 1.5;
                let recency = if x == 0 {
                    0.0
                } else {
                    age * ((i % 11) as f64 / 11.0)
                };
                Rfm::new(x, recency, age).unwrap()
            })
            .collect()
    }

    fn data(with_covariates: bool) -> CovariateData {
        let rfm = rows();
        let n = rfm.len();
        let (z, w) = if with_covariates {
            let z: Vec<f64> = (0..n)
                .flat_map(|i| [(i % 2) as f64, ((i * 37) % 100) as f64 / 50.0 - 1.0])
                .collect();
            let w: Vec<f64> = (0..n).map(|i| ((i % 3) == 0) as u8 as f64).collect();
            (
                CovariateMatrix::new(vec!["web".into(), "size".into()], n, z).unwrap(),
                CovariateMatrix::new(vec!["promo".into()], n, w).unwrap(),
            )
        } else {
            (CovariateMatrix::empty(n), CovariateMatrix::empty(n))
        };
        CovariateData::build(&rfm, None, &z, &w).unwrap()
    }

    /// Without covariates the per-row likelihood is the plain family's, to rounding.
    #[test]
    fn without_covariates_the_likelihood_is_the_plain_one() {
        let d = data(false);
        let plain = GroupedRfm::build(&rows(), None).unwrap();
        for variant in [Variant::Classic, Variant::Modified] {
            for p in [[0.243, 4.414, 0.793, 2.426], [1.5, 20.0, 0.1, 8.0]] {
                let ll = CovariateLikelihood::new(&d, variant, 0.0, 0.0);
                let mut g = [0.0; 4];
                let v = ll.ll_grad(&p, &mut g);
                let want = family_of(variant).log_likelihood(&p, &plain);
                assert!((v - want).abs() < 1e-10 * want.abs(), "{v} vs {want}");
            }
        }
    }

    /// The analytic gradient, coefficients and penalties included, equals central
    /// differences.
    #[test]
    fn gradient_matches_finite_differences() {
        let d = data(true);
        for variant in [Variant::Classic, Variant::Modified] {
            for penalty in [0.0, 0.3] {
                let ll = CovariateLikelihood::new(&d, variant, 0.01, penalty);
                // θ = e^γ for γ = (0.4, −0.3 | 0.7).
                let p = [
                    0.7,
                    6.0,
                    0.9,
                    3.0,
                    0.4f64.exp(),
                    (-0.3f64).exp(),
                    0.7f64.exp(),
                ];
                crate::fit::assert_gradient_matches(&ll, &p, &format!("{variant:?} {penalty}"));
            }
        }
    }

    /// The analytic Hessian equals differences of the analytic gradient, with the value
    /// and gradient of `ll_grad` bit for bit, penalties included.
    #[test]
    fn hessian_matches_differences_of_the_gradient() {
        let d = data(true);
        for variant in [Variant::Classic, Variant::Modified] {
            for penalty in [0.0, 0.3] {
                let ll = CovariateLikelihood::new(&d, variant, 0.01, penalty);
                for p in [
                    [
                        0.7,
                        6.0,
                        0.9,
                        3.0,
                        0.4f64.exp(),
                        (-0.3f64).exp(),
                        0.7f64.exp(),
                    ],
                    [0.5, 20.0, 2.0, 0.6, 1.2, 1.5, 0.8],
                ] {
                    crate::fit::assert_hessian_matches(&ll, &p, &format!("{variant:?} {p:?}"));
                }
            }
        }
    }

    /// Frequencies beyond the summed range go through the special functions.
    #[test]
    fn rising_sums_agree_with_the_special_functions() {
        for y in [0.3, 2.5, 40.0] {
            let small = rising(y, 32.0);
            let big = [
                ln_gamma_shift(y, 32.0),
                digamma(y + 32.0) - digamma(y),
                trigamma(y) - trigamma(y + 32.0),
            ];
            for (s, b) in small.iter().zip(big) {
                assert!((s - b).abs() < 1e-12 * (1.0 + s.abs()), "{y}: {s} vs {b}");
            }
        }
    }

    #[test]
    fn a_stored_model_reads_back_and_a_damaged_one_is_refused() {
        let m = BetaGeoCovariates::new(
            "bgnbd",
            BetaGeoParams::published_cdnow(),
            CovariateSchema::default(),
            CovariateSchema::default(),
            vec![],
            vec![],
        )
        .unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<BetaGeoCovariates>(&json).unwrap(), m);
        let damaged = json.replace(
            "\"lifetime_coefficients\":[]",
            "\"lifetime_coefficients\":[1.0]",
        );
        let err = serde_json::from_str::<BetaGeoCovariates>(&damaged).unwrap_err();
        assert!(err.to_string().contains("lifetime_coefficients"), "{err}");
        assert!(variant_of("pareto-nbd").is_err());
    }
}
