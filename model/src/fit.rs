//! Maximum-likelihood fitting shared by every model: grouping of identical rows, the
//! optimizer (argmin L-BFGS with a Nelder-Mead fallback and a Newton polish), and the
//! diagnostics every fit returns.
//!
//! Parameters are optimised in log space. The objective is lifetimes' convention,
//! `-LL / n + penalizer * sum(params^2)`, so that penalizer values mean the same thing.

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::linalg;

/// A weighted log-likelihood over grouped data, differentiable in its natural parameters.
pub(crate) trait LogLikelihood: Sync {
    const MODEL: &'static str;
    const PARAM_NAMES: &'static [&'static str];

    /// Total weighted log-likelihood at `params`; writes d LL / d param into `grad`.
    /// Returns a non-finite value when `params` are outside the region it can evaluate.
    fn ll_grad(&self, params: &[f64], grad: &mut [f64]) -> f64;

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
    /// Maximum L-BFGS iterations.
    pub max_iterations: u64,
    /// Convergence: max |gradient| of the per-customer objective w.r.t. log parameters.
    pub gradient_tolerance: f64,
    /// Optional starting point in natural parameters.
    pub initial_params: Option<Vec<f64>>,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self { penalizer: 0.0, max_iterations: 500, gradient_tolerance: 1e-6, initial_params: None }
    }
}

impl FitOptions {
    pub(crate) fn validate(&self, n_params: usize) -> Result<()> {
        if !self.penalizer.is_finite() || self.penalizer < 0.0 {
            return Err(ModelError::invalid("penalizer", format!("must be finite and >= 0, got {}", self.penalizer)));
        }
        if !(self.gradient_tolerance.is_finite() && self.gradient_tolerance > 0.0) {
            return Err(ModelError::invalid("gradient_tolerance", "must be finite and > 0"));
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
                return Err(ModelError::invalid("initial_params", "every value must be finite and > 0"));
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
    pub warnings: Vec<String>,
}

/// A fitted model: its parameters and the diagnostics of the fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fitted<P> {
    pub params: P,
    pub diagnostics: FitDiagnostics,
}

/// A fitted parameter vector with its diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawFit {
    pub params: Vec<f64>,
    pub diagnostics: FitDiagnostics,
}

/// Largest |log parameter| the optimizer may visit; e^40 ≈ 2e17 is beyond any sane model.
const LOG_PARAM_LIMIT: f64 = 40.0;

/// The per-customer objective in log parameters, caching the last evaluation because
/// argmin asks for cost and gradient separately at the same point.
struct Objective<'a, L: LogLikelihood> {
    ll: &'a L,
    penalizer: f64,
    weight: f64,
    cache: Mutex<Option<(Vec<f64>, f64, Vec<f64>)>>,
    evaluations: Mutex<u64>,
}

impl<'a, L: LogLikelihood> Objective<'a, L> {
    fn new(ll: &'a L, penalizer: f64) -> Self {
        Self { ll, penalizer, weight: ll.total_weight(), cache: Mutex::new(None), evaluations: Mutex::new(0) }
    }

    /// Objective value and gradient w.r.t. log-parameters.
    fn eval(&self, log_params: &[f64]) -> (f64, Vec<f64>) {
        if let Ok(cache) = self.cache.lock() {
            if let Some((p, v, g)) = cache.as_ref() {
                if p.as_slice() == log_params {
                    return (*v, g.clone());
                }
            }
        }
        let n = log_params.len();
        let mut grad = vec![0.0; n];
        if log_params.iter().any(|v| !v.is_finite() || v.abs() > LOG_PARAM_LIMIT) {
            return (f64::INFINITY, grad);
        }
        let params: Vec<f64> = log_params.iter().map(|v| v.exp()).collect();
        let mut g_nat = vec![0.0; n];
        let ll = self.ll.ll_grad(&params, &mut g_nat);
        if let Ok(mut count) = self.evaluations.lock() {
            *count += 1;
        }
        let mut value = -ll / self.weight;
        for i in 0..n {
            // chain rule to log space, then the L2 penalty on natural params
            grad[i] = -g_nat[i] * params[i] / self.weight + 2.0 * self.penalizer * params[i] * params[i];
            value += self.penalizer * params[i] * params[i];
        }
        if !value.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return (f64::INFINITY, vec![0.0; n]);
        }
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((log_params.to_vec(), value, grad.clone()));
        }
        (value, grad)
    }

    fn evaluations(&self) -> u64 {
        self.evaluations.lock().map(|c| *c).unwrap_or(0)
    }

    /// Hessian of the objective by central differences of the analytic gradient.
    fn hessian(&self, x: &[f64]) -> Option<Vec<Vec<f64>>> {
        let n = x.len();
        let mut h = vec![vec![0.0; n]; n];
        for j in 0..n {
            let step = 1e-5 * (1.0 + x[j].abs());
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[j] += step;
            xm[j] -= step;
            let (fp, gp) = self.eval(&xp);
            let (fm, gm) = self.eval(&xm);
            if !fp.is_finite() || !fm.is_finite() {
                return None;
            }
            for i in 0..n {
                h[i][j] = (gp[i] - gm[i]) / (2.0 * step);
            }
        }
        for i in 0..n {
            for j in 0..i {
                let avg = 0.5 * (h[i][j] + h[j][i]);
                h[i][j] = avg;
                h[j][i] = avg;
            }
        }
        Some(h)
    }
}

impl<L: LogLikelihood> CostFunction for Objective<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(p).0)
    }
}

impl<L: LogLikelihood> Gradient for Objective<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(p).1)
    }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0_f64, |m, g| m.max(g.abs()))
}

/// Runs L-BFGS from `x0`; returns the best point, its iteration count and whether argmin
/// itself reported success.
fn run_lbfgs<L: LogLikelihood>(obj: &Objective<'_, L>, x0: Vec<f64>, opts: &FitOptions) -> Option<(Vec<f64>, u64)> {
    let linesearch = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(linesearch, 10)
        .with_tolerance_grad(opts.gradient_tolerance * 1e-3)
        .ok()?
        .with_tolerance_cost(0.0)
        .ok()?;
    let res = Executor::new(ObjectiveRef(obj), solver)
        .configure(|state| state.param(x0).max_iters(opts.max_iterations))
        .run()
        .ok()?;
    let state = res.state();
    let best = state.get_best_param()?.clone();
    Some((best, state.get_iter()))
}

fn run_nelder_mead<L: LogLikelihood>(obj: &Objective<'_, L>, x0: &[f64], max_iters: u64) -> Option<(Vec<f64>, u64)> {
    let n = x0.len();
    let mut simplex = vec![x0.to_vec()];
    for i in 0..n {
        let mut v = x0.to_vec();
        v[i] += 0.5;
        simplex.push(v);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-12).ok()?;
    let res = Executor::new(CostOnly(obj), solver).configure(|s| s.max_iters(max_iters)).run().ok()?;
    let state = res.state();
    let best = state.get_best_param()?.clone();
    Some((best, state.get_iter()))
}

/// Newton steps with backtracking on the numerically differentiated analytic gradient.
/// Cheap (a handful of gradient evaluations for 3–4 parameters) and it takes an L-BFGS
/// point that is merely "close" to full precision.
fn newton_polish<L: LogLikelihood>(obj: &Objective<'_, L>, mut x: Vec<f64>, steps: usize) -> Vec<f64> {
    for _ in 0..steps {
        let (f0, g0) = obj.eval(&x);
        if !f0.is_finite() || max_abs(&g0) < 1e-13 {
            break;
        }
        let Some(h) = obj.hessian(&x) else { break };
        let Some(step) = linalg::solve_spd(&h, &g0) else { break };
        let mut t = 1.0;
        let mut improved = false;
        for _ in 0..30 {
            let cand: Vec<f64> = x.iter().zip(&step).map(|(xi, si)| xi - t * si).collect();
            let (f1, g1) = obj.eval(&cand);
            if f1.is_finite() && (f1 < f0 || (f1 <= f0 + 1e-15 * f0.abs() && max_abs(&g1) < max_abs(&g0))) {
                x = cand;
                improved = true;
                break;
            }
            t *= 0.5;
        }
        if !improved {
            break;
        }
    }
    x
}

/// Maximises `ll` and returns natural parameters with full diagnostics.
pub(crate) fn maximize<L: LogLikelihood>(ll: &L, opts: &FitOptions) -> Result<RawFit> {
    let n = L::PARAM_NAMES.len();
    opts.validate(n)?;
    if ll.total_weight() <= 0.0 || ll.groups() == 0 {
        return Err(ModelError::InsufficientData { model: L::MODEL, reason: "no customers to fit".into() });
    }
    let obj = Objective::new(ll, opts.penalizer);
    let init = opts.initial_params.clone().unwrap_or_else(|| ll.initial_guess());
    let x0: Vec<f64> = init.iter().map(|v| v.ln()).collect();
    let mut warnings = Vec::new();

    let (f_start, _) = obj.eval(&x0);
    if !f_start.is_finite() {
        return Err(ModelError::Numerical {
            what: L::MODEL,
            reason: "log-likelihood is not finite at the starting point".into(),
        });
    }

    let mut method = String::from("L-BFGS");
    let mut iterations = 0;
    let mut x = match run_lbfgs(&obj, x0.clone(), opts) {
        Some((x, it)) if obj.eval(&x).0.is_finite() => {
            iterations += it;
            x
        }
        _ => x0.clone(),
    };
    let g_norm = |x: &[f64]| max_abs(&obj.eval(x).1);
    if g_norm(&x) > opts.gradient_tolerance {
        // L-BFGS stalled (line search failure, flat region): restart from a simplex search.
        method = String::from("Nelder-Mead fallback + L-BFGS");
        warnings.push(format!("L-BFGS stopped with gradient norm {:.3e}; used Nelder-Mead fallback", g_norm(&x)));
        let start = if obj.eval(&x).0 <= f_start { x.clone() } else { x0.clone() };
        if let Some((nm, it)) = run_nelder_mead(&obj, &start, 2000) {
            iterations += it;
            if let Some((lb, it2)) = run_lbfgs(&obj, nm.clone(), opts) {
                iterations += it2;
                x = if obj.eval(&lb).0 <= obj.eval(&nm).0 { lb } else { nm };
            } else {
                x = nm;
            }
        }
    }
    x = newton_polish(&obj, x, 8);
    method.push_str(" + Newton polish");

    let (value, grad) = obj.eval(&x);
    let gradient_norm = max_abs(&grad);
    let converged = value.is_finite() && gradient_norm <= opts.gradient_tolerance;
    let params: Vec<f64> = x.iter().map(|v| v.exp()).collect();
    if params.iter().any(|p| !p.is_finite()) || !value.is_finite() {
        return Err(ModelError::NotConverged {
            model: L::MODEL,
            reason: "optimizer left the finite parameter range".into(),
        });
    }
    let mut scratch = vec![0.0; n];
    let log_likelihood = ll.ll_grad(&params, &mut scratch);
    let weight = ll.total_weight();

    // Standard errors from the Hessian of the *unpenalized* total negative LL.
    let standard_errors = {
        let plain = Objective::new(ll, 0.0);
        match plain.hessian(&x) {
            Some(h) => {
                let total: Vec<Vec<f64>> = h.iter().map(|row| row.iter().map(|v| v * weight).collect()).collect();
                match linalg::inverse_spd(&total) {
                    Some(cov) => (0..n)
                        .map(|i| {
                            let var = cov[i][i];
                            (var.is_finite() && var > 0.0).then(|| params[i] * var.sqrt())
                        })
                        .collect(),
                    None => {
                        warnings.push("Hessian is not positive definite: standard errors unavailable".into());
                        vec![None; n]
                    }
                }
            }
            None => vec![None; n],
        }
    };
    let k = n as f64;
    let message = if converged {
        format!("converged: gradient norm {gradient_norm:.2e} <= {:.1e}", opts.gradient_tolerance)
    } else {
        format!("not converged: gradient norm {gradient_norm:.2e} > {:.1e}", opts.gradient_tolerance)
    };
    Ok(RawFit {
        params,
        diagnostics: FitDiagnostics {
            model: L::MODEL.to_string(),
            converged,
            method,
            iterations,
            evaluations: obj.evaluations(),
            gradient_norm,
            log_likelihood,
            n_observations: weight,
            n_groups: ll.groups(),
            n_params: n,
            aic: 2.0 * k - 2.0 * log_likelihood,
            bic: k * weight.ln() - 2.0 * log_likelihood,
            param_names: L::PARAM_NAMES.iter().map(|s| s.to_string()).collect(),
            standard_errors,
            message,
            warnings,
        },
    })
}

/// argmin wants to own its problem; these wrappers lend it the shared objective.
struct ObjectiveRef<'o, 'a, L: LogLikelihood>(&'o Objective<'a, L>);
struct CostOnly<'o, 'a, L: LogLikelihood>(&'o Objective<'a, L>);

impl<L: LogLikelihood> CostFunction for ObjectiveRef<'_, '_, L> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        self.0.cost(p)
    }
}

impl<L: LogLikelihood> Gradient for ObjectiveRef<'_, '_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.0.gradient(p)
    }
}

impl<L: LogLikelihood> CostFunction for CostOnly<'_, '_, L> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        self.0.cost(p)
    }
}

/// Identical (frequency, recency, T) rows merged into one row with a weight.
/// Sorted by frequency so that per-frequency tables are walked in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupedRfm {
    pub frequency: Vec<u32>,
    pub recency: Vec<f64>,
    pub age: Vec<f64>,
    pub weight: Vec<f64>,
    pub max_frequency: u32,
}

impl GroupedRfm {
    /// Groups validated rows; `weights` (default 1 each) must be finite and >= 0.
    pub fn build(rfm: &[crate::Rfm], weights: Option<&[f64]>) -> Result<Self> {
        if let Some(w) = weights {
            if w.len() != rfm.len() {
                return Err(ModelError::invalid("weights", format!("expected {} weights, got {}", rfm.len(), w.len())));
            }
        }
        let mut index: FxHashMap<(u32, u64, u64), usize> = FxHashMap::default();
        index.reserve(rfm.len().min(1 << 20));
        let mut out = GroupedRfm::default();
        for (i, row) in rfm.iter().enumerate() {
            row.validate().map_err(|e| e.within(&format!("customers[{i}]")))?;
            let w = match weights {
                Some(w) => {
                    let v = w[i];
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(ModelError::invalid(format!("weights[{i}]"), "must be finite and >= 0"));
                    }
                    v
                }
                None => 1.0,
            };
            // Rounded summaries can carry recency a hair above T: clamp after validation.
            let recency = row.recency.min(row.age);
            let key = (row.frequency, recency.to_bits(), row.age.to_bits());
            match index.get(&key) {
                Some(&g) => out.weight[g] += w,
                None => {
                    index.insert(key, out.frequency.len());
                    out.frequency.push(row.frequency);
                    out.recency.push(recency);
                    out.age.push(row.age);
                    out.weight.push(w);
                }
            }
        }
        out.sort_by_frequency();
        Ok(out)
    }

    fn sort_by_frequency(&mut self) {
        let mut order: Vec<usize> = (0..self.frequency.len()).collect();
        order.sort_by_key(|&i| self.frequency[i]);
        self.frequency = order.iter().map(|&i| self.frequency[i]).collect();
        self.recency = order.iter().map(|&i| self.recency[i]).collect();
        self.age = order.iter().map(|&i| self.age[i]).collect();
        self.weight = order.iter().map(|&i| self.weight[i]).collect();
        self.max_frequency = self.frequency.last().copied().unwrap_or(0);
    }

    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }

    pub fn total_weight(&self) -> f64 {
        self.weight.iter().sum()
    }

    /// Moment-based starting point for the purchase-rate Gamma(r, α): r = 1 and α matching
    /// the mean repeat rate, so the optimizer starts on the right time scale.
    pub(crate) fn rate_start(&self) -> (f64, f64) {
        let (mut sx, mut st, mut sw) = (0.0, 0.0, 0.0);
        for i in 0..self.len() {
            sx += self.weight[i] * self.frequency[i] as f64;
            st += self.weight[i] * self.age[i];
            sw += self.weight[i];
        }
        let rate = (sx / st.max(1e-12 * sw)).max(1e-6);
        (1.0, (1.0 / rate).clamp(1e-3, 1e6))
    }
}

/// Splits `0..n` into chunks for parallel reductions; small inputs stay on one thread.
pub(crate) fn chunk_len(n: usize) -> usize {
    const MIN: usize = 16 * 1024;
    if n <= MIN { n.max(1) } else { (n / (4 * rayon::current_num_threads())).max(MIN) }
}
