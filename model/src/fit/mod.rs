//! Maximum-likelihood fitting shared by every model: grouping of identical rows, the
//! optimizer (argmin L-BFGS with a Nelder-Mead fallback and a Newton polish), and the
//! diagnostics every fit returns.
//!
//! Parameters are optimised in log space. The objective is lifetimes' convention,
//! `-LL / n + penalizer * sum(params^2)`, so that penalizer values mean the same thing.

pub mod diagnosis;
mod grouping;
mod optimizer;
mod reduce;
mod times;
mod warning;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

pub(crate) use grouping::Frequencies;
pub use grouping::GroupedRfm;
pub use optimizer::maximize;
pub(crate) use reduce::chunked_sum;
pub(crate) use times::{DirectLogTimes, DistinctLogTimes, LogTimes};
pub use warning::{FitWarning, WarningCode};

/// A weighted log-likelihood over grouped data, differentiable in its natural parameters.
pub trait LogLikelihood: Sync {
    const MODEL: &'static str;
    const PARAM_NAMES: &'static [&'static str];

    /// Total weighted log-likelihood at `params`; writes d LL / d param into `grad`.
    /// Returns a non-finite value when `params` are outside the region it can evaluate.
    fn ll_grad(&self, params: &[f64], grad: &mut [f64]) -> f64;

    /// Whether [`LogLikelihood::ll_grad_hess`] gives the analytic Hessian; the fit then
    /// runs Newton's method on it.
    const HESSIAN: bool = false;

    /// As [`LogLikelihood::ll_grad`], also writing d² LL / d param_i d param_j into `hess`
    /// (n × n, row-major), with the same value and gradient bit for bit. Only called when
    /// `HESSIAN`.
    fn ll_grad_hess(&self, params: &[f64], grad: &mut [f64], hess: &mut [f64]) -> f64 {
        hess.fill(f64::NAN);
        self.ll_grad(params, grad)
    }

    /// The parameter names, in vector order. [`LogLikelihood::PARAM_NAMES`] unless the
    /// number of parameters depends on the data (a covariate model's coefficients).
    fn param_names(&self) -> Vec<String> {
        Self::PARAM_NAMES.iter().map(|s| s.to_string()).collect()
    }

    /// Sum of the weights (the number of customers).
    fn total_weight(&self) -> f64;

    /// Number of distinct rows actually evaluated.
    fn groups(&self) -> usize;

    /// A starting point in natural parameters.
    fn initial_guess(&self) -> Vec<f64>;
}

/// Options every fit accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// L2 penalty on the natural parameters (lifetimes' `penalizer_coef`); 0 = plain MLE.
    pub penalizer: f64,
    /// Maximum L-BFGS iterations per run; the Nelder-Mead fallback gets four times as
    /// many (at most 2,000), so a small cap really bounds the work.
    pub max_iterations: u64,
    /// Convergence: max |gradient| of the per-customer objective w.r.t. log parameters.
    pub gradient_tolerance: f64,
    /// Optional starting point in natural parameters.
    pub initial_params: Option<Vec<f64>>,
    /// Checked once per optimizer iteration: once it fires the fit stops with
    /// [`ModelError::Cancelled`]. Never part of a stored or compared value.
    #[serde(skip)]
    pub cancel: crate::cancel::Cancel,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            penalizer: 0.0,
            max_iterations: 500,
            gradient_tolerance: 1e-6,
            initial_params: None,
            cancel: crate::cancel::Cancel::never(),
        }
    }
}

impl FitOptions {
    pub(crate) fn validate(&self, n_params: usize) -> Result<()> {
        if !self.penalizer.is_finite() || self.penalizer < 0.0 {
            return Err(ModelError::invalid(
                "penalizer",
                format!("must be finite and >= 0, got {}", self.penalizer),
            ));
        }
        if !(self.gradient_tolerance.is_finite() && self.gradient_tolerance > 0.0) {
            return Err(ModelError::invalid(
                "gradient_tolerance",
                "must be finite and > 0",
            ));
        }
        if self.max_iterations == 0 {
            return Err(ModelError::invalid("max_iterations", "must be at least 1"));
        }
        if let Some(init) = &self.initial_params {
            if init.len() != n_params {
                return Err(ModelError::invalid(
                    "initial_params",
                    format!("expected {n_params} values, got {}", init.len()),
                ));
            }
            if init.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(ModelError::invalid(
                    "initial_params",
                    "every value must be finite and > 0",
                ));
            }
        }
        Ok(())
    }
}

/// What a fit reports besides its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitDiagnostics {
    pub model: String,
    pub converged: bool,
    /// Which optimizer path produced the result, e.g. `L-BFGS + Newton polish`.
    pub method: String,
    pub iterations: u64,
    pub evaluations: u64,
    /// Max |d objective / d log-param| at the solution (objective per customer).
    pub gradient_norm: f64,
    /// Unpenalized log-likelihood at the solution.
    pub log_likelihood: f64,
    pub n_observations: f64,
    pub n_groups: usize,
    pub n_params: usize,
    pub aic: f64,
    pub bic: f64,
    pub param_names: Vec<String>,
    /// Standard errors of the natural parameters (delta method on the log-parameter
    /// Hessian); `None` where the Hessian is not positive definite.
    pub standard_errors: Vec<Option<f64>>,
    pub message: String,
    /// What the reader of the fit must know: optimizer trouble and, for transaction models,
    /// the diagnosis of degenerate fits (`crate::models::diagnose_fit`).
    ///
    /// One list of structured warnings under the old key, rather than a new `findings`
    /// field beside the old strings: two lists would have to be kept in step by every
    /// producer (the optimizer, the families, the server) and a reader would not know which
    /// to trust. Old records, whose warnings are plain strings, still load (see
    /// [`FitWarning`]'s `Deserialize`); the price is that a binary older than this field's
    /// change cannot read records written after it.
    pub warnings: Vec<FitWarning>,
}

impl FitDiagnostics {
    /// Whether a warning with `code` was raised.
    pub fn has_warning(&self, code: WarningCode) -> bool {
        self.warnings.iter().any(|w| w.code == code)
    }
}

/// A fitted model: its parameters and the diagnostics of the fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fitted<P> {
    pub params: P,
    pub diagnostics: FitDiagnostics,
}

/// Above this many distinct rows, a fit first runs on a subsample to find its start.
const WARM_START_MIN_GROUPS: usize = 100_000;
const WARM_START_GROUPS: usize = 50_000;

/// Options for the full fit, with a starting point from a fit on a subsample when the data
/// is large and the caller gave none: the full-data L-BFGS then needs a handful of steps.
pub fn with_warm_start(
    data: &GroupedRfm,
    opts: &FitOptions,
    fit_subsample: impl Fn(&GroupedRfm, &FitOptions) -> Result<Vec<f64>>,
) -> FitOptions {
    let mut opts = opts.clone();
    if opts.initial_params.is_none() && data.len() > WARM_START_MIN_GROUPS {
        let sub = data.subsample(data.len() / WARM_START_GROUPS);
        if let Ok(p) = fit_subsample(&sub, &opts)
            && p.iter().all(|v| v.is_finite() && *v > 0.0)
        {
            opts.initial_params = Some(p);
        }
    }
    opts
}

/// Test support: the analytic gradient of `ll` at `p` equals central differences.
#[cfg(test)]
pub(crate) fn assert_gradient_matches<L: LogLikelihood>(ll: &L, p: &[f64], what: &str) {
    let mut g = vec![0.0; p.len()];
    ll.ll_grad(p, &mut g);
    let mut scratch = vec![0.0; p.len()];
    for k in 0..p.len() {
        let h = 1e-6 * p[k];
        let (mut pp, mut pm) = (p.to_vec(), p.to_vec());
        pp[k] += h;
        pm[k] -= h;
        let num = (ll.ll_grad(&pp, &mut scratch) - ll.ll_grad(&pm, &mut scratch)) / (2.0 * h);
        assert!(
            (num - g[k]).abs() < 1e-6 * (1.0 + num.abs()),
            "{what} d{k}: {num} vs {}",
            g[k]
        );
    }
}

/// Test support: the analytic Hessian of `ll` at `p` equals central differences of its
/// gradient, and `ll_grad_hess` gives the value and gradient of `ll_grad` bit for bit.
#[cfg(test)]
pub(crate) fn assert_hessian_matches<L: LogLikelihood>(ll: &L, p: &[f64], what: &str) {
    let n = p.len();
    let (mut g, mut g2, mut h) = (vec![0.0; n], vec![0.0; n], vec![0.0; n * n]);
    let v = ll.ll_grad(p, &mut g);
    let v2 = ll.ll_grad_hess(p, &mut g2, &mut h);
    assert_eq!(v.to_bits(), v2.to_bits(), "{what}: value");
    assert_eq!(g, g2, "{what}: gradient");
    let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
    for k in 0..n {
        let step = 1e-6 * p[k];
        let (mut pp, mut pm) = (p.to_vec(), p.to_vec());
        pp[k] += step;
        pm[k] -= step;
        ll.ll_grad(&pp, &mut gp);
        ll.ll_grad(&pm, &mut gm);
        for i in 0..n {
            let num = (gp[i] - gm[i]) / (2.0 * step);
            let scale = 1.0 + num.abs() + h[n * i + k].abs();
            assert!(
                (num - h[n * i + k]).abs() < 1e-6 * scale,
                "{what} d{i}d{k}: {num} vs {}",
                h[n * i + k]
            );
        }
    }
}
