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
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::numerics::linalg;

/// A weighted log-likelihood over grouped data, differentiable in its natural parameters.
pub(crate) trait LogLikelihood: Sync {
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
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            penalizer: 0.0,
            max_iterations: 500,
            gradient_tolerance: 1e-6,
            initial_params: None,
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

/// The last evaluation: log parameters, objective, gradient and the log-likelihood itself.
struct Evaluation {
    at: Vec<f64>,
    value: f64,
    grad: Vec<f64>,
    log_likelihood: f64,
}

/// Objective, gradient and Hessian of the objective at one point (log parameters).
type SecondOrder = (f64, Vec<f64>, Vec<Vec<f64>>);

/// The per-customer objective in log parameters, caching the last evaluation because
/// argmin asks for cost and gradient separately at the same point.
struct Objective<'a, L: LogLikelihood> {
    ll: &'a L,
    penalizer: f64,
    weight: f64,
    cache: Mutex<Option<Evaluation>>,
    evaluations: Mutex<u64>,
}

impl<'a, L: LogLikelihood> Objective<'a, L> {
    fn new(ll: &'a L, penalizer: f64) -> Self {
        Self {
            ll,
            penalizer,
            weight: ll.total_weight(),
            cache: Mutex::new(None),
            evaluations: Mutex::new(0),
        }
    }

    /// Objective value and gradient w.r.t. log-parameters.
    fn eval(&self, log_params: &[f64]) -> (f64, Vec<f64>) {
        if let Ok(cache) = self.cache.lock()
            && let Some(c) = cache.as_ref()
            && c.at.as_slice() == log_params
        {
            return (c.value, c.grad.clone());
        }
        let n = log_params.len();
        let mut grad = vec![0.0; n];
        if log_params
            .iter()
            .any(|v| !v.is_finite() || v.abs() > LOG_PARAM_LIMIT)
        {
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
            grad[i] =
                -g_nat[i] * params[i] / self.weight + 2.0 * self.penalizer * params[i] * params[i];
            value += self.penalizer * params[i] * params[i];
        }
        if !value.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return (f64::INFINITY, vec![0.0; n]);
        }
        self.remember(log_params, value, &grad, ll);
        (value, grad)
    }

    fn remember(&self, log_params: &[f64], value: f64, grad: &[f64], log_likelihood: f64) {
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some(Evaluation {
                at: log_params.to_vec(),
                value,
                grad: grad.to_vec(),
                log_likelihood,
            });
        }
    }

    /// The log-likelihood at `log_params` if it was the last point evaluated.
    fn cached_log_likelihood(&self, log_params: &[f64]) -> Option<f64> {
        let cache = self.cache.lock().ok()?;
        let c = cache.as_ref()?;
        (c.at.as_slice() == log_params).then_some(c.log_likelihood)
    }

    /// Objective, gradient and analytic Hessian w.r.t. log-parameters (models with
    /// `HESSIAN` only); `None` outside the finite region. The value and gradient equal
    /// [`Objective::eval`]'s bit for bit.
    fn eval_hessian(&self, log_params: &[f64]) -> Option<SecondOrder> {
        let n = log_params.len();
        if !L::HESSIAN
            || log_params
                .iter()
                .any(|v| !v.is_finite() || v.abs() > LOG_PARAM_LIMIT)
        {
            return None;
        }
        let params: Vec<f64> = log_params.iter().map(|v| v.exp()).collect();
        let mut g_nat = vec![0.0; n];
        let mut h_nat = vec![0.0; n * n];
        let ll = self.ll.ll_grad_hess(&params, &mut g_nat, &mut h_nat);
        if let Ok(mut count) = self.evaluations.lock() {
            *count += 1;
        }
        let mut value = -ll / self.weight;
        let mut grad = vec![0.0; n];
        for i in 0..n {
            grad[i] =
                -g_nat[i] * params[i] / self.weight + 2.0 * self.penalizer * params[i] * params[i];
            value += self.penalizer * params[i] * params[i];
        }
        // d²F/dx_i dx_j with p = e^x: −(H_ij p_i p_j + δ_ij g_i p_i)/W + δ_ij 4λ p_i².
        let hess: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let mut v = -h_nat[n * i + j] * params[i] * params[j] / self.weight;
                        if i == j {
                            v += -g_nat[i] * params[i] / self.weight
                                + 4.0 * self.penalizer * params[i] * params[i];
                        }
                        v
                    })
                    .collect()
            })
            .collect();
        if !value.is_finite()
            || grad.iter().any(|g| !g.is_finite())
            || hess.iter().flatten().any(|h| !h.is_finite())
        {
            return None;
        }
        self.remember(log_params, value, &grad, ll);
        Some((value, grad, hess))
    }

    fn evaluations(&self) -> u64 {
        self.evaluations.lock().map(|c| *c).unwrap_or(0)
    }

    /// Hessian of the objective by forward differences of the analytic gradient (n extra
    /// gradient evaluations), symmetrized. Accurate to ~1e-6 relative: plenty for Newton
    /// steps and standard errors.
    fn hessian(&self, x: &[f64]) -> Option<Vec<Vec<f64>>> {
        let n = x.len();
        let (f0, g0) = self.eval(x);
        if !f0.is_finite() {
            return None;
        }
        let mut h = vec![vec![0.0; n]; n];
        for j in 0..n {
            let step = 1e-6 * (1.0 + x[j].abs());
            let mut xp = x.to_vec();
            xp[j] += step;
            let (fp, gp) = self.eval(&xp);
            if !fp.is_finite() {
                return None;
            }
            for i in 0..n {
                h[i][j] = (gp[i] - g0[i]) / step;
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
fn run_lbfgs<L: LogLikelihood>(
    obj: &Objective<'_, L>,
    x0: Vec<f64>,
    opts: &FitOptions,
) -> Option<(Vec<f64>, u64)> {
    let linesearch = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(linesearch, 10)
        // Stop well above the rounding floor of the objective (~1e-13 per customer): line
        // searches flail below it. Newton polish takes the last digits.
        .with_tolerance_grad((opts.gradient_tolerance * 0.1).max(1e-8))
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

fn run_nelder_mead<L: LogLikelihood>(
    obj: &Objective<'_, L>,
    x0: &[f64],
    max_iters: u64,
) -> Option<(Vec<f64>, u64)> {
    let n = x0.len();
    let mut simplex = vec![x0.to_vec()];
    for i in 0..n {
        let mut v = x0.to_vec();
        v[i] += 0.5;
        simplex.push(v);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-12).ok()?;
    let res = Executor::new(CostOnly(obj), solver)
        .configure(|s| s.max_iters(max_iters))
        .run()
        .ok()?;
    let state = res.state();
    let best = state.get_best_param()?.clone();
    Some((best, state.get_iter()))
}

/// Newton steps with backtracking, all using the Hessian `h` computed once at the start
/// point: near the optimum that converges fast, and the same Hessian then gives the
/// standard errors. Stops when the gradient is at the noise floor.
fn newton_polish<L: LogLikelihood>(
    obj: &Objective<'_, L>,
    mut x: Vec<f64>,
    h: &[Vec<f64>],
    steps: usize,
) -> Vec<f64> {
    for _ in 0..steps {
        let (f0, g0) = obj.eval(&x);
        if !f0.is_finite() || max_abs(&g0) < POLISHED {
            break;
        }
        let Some(step) = linalg::solve_spd(h, &g0) else {
            break;
        };
        let mut t = 1.0;
        let mut improved = false;
        for _ in 0..20 {
            let cand: Vec<f64> = x.iter().zip(&step).map(|(xi, si)| xi - t * si).collect();
            let (f1, g1) = obj.eval(&cand);
            // Near the optimum the objective is flat to within rounding (~1e-13 relative for
            // a sum over a million customers): there, a step that halves the gradient
            // without raising the objective beyond that noise is progress.
            let within_noise = f1 <= f0 + 1e-12 * f0.abs() && max_abs(&g1) < 0.5 * max_abs(&g0);
            if f1.is_finite() && (f1 < f0 || within_noise) {
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

/// Gradient norm (per-customer objective, log parameters) below which more Newton steps
/// cannot improve anything measurable.
const POLISHED: f64 = 1e-11;

/// Gradient norm at which Newton's method on the analytic Hessian stops: its steps are
/// cheap and converge quadratically, so it goes closer to the rounding floor than
/// [`POLISHED`] (1e-13 leaves the parameters within ~1e-13 of the optimum on CDNOW).
const NEWTON_FLOOR: f64 = 1e-13;

/// Most Newton steps from the starting point before falling back to L-BFGS.
const NEWTON_STEPS: u64 = 50;

/// Newton steps after L-BFGS.
const POLISH_STEPS: u64 = 4;

/// Largest change of a log-parameter in one Newton step (a factor e): far from the optimum
/// the quadratic model is not to be trusted further.
const MAX_NEWTON_STEP: f64 = 1.0;

/// Where [`newton`] stopped: the point, its objective, gradient and Hessian.
struct NewtonRun {
    x: Vec<f64>,
    grad: Vec<f64>,
    hessian: Vec<Vec<f64>>,
    iterations: u64,
}

/// Newton's method on the analytic Hessian with backtracking, from `x` (evaluated as
/// `start`), for at most `max_steps` steps. Stops at the noise floor ([`POLISHED`]), where
/// the Hessian is not positive definite, or where no step along the Newton direction
/// improves the objective.
fn newton<L: LogLikelihood>(
    obj: &Objective<'_, L>,
    mut x: Vec<f64>,
    start: SecondOrder,
    max_steps: u64,
) -> NewtonRun {
    let (mut f, mut g, mut h) = start;
    let mut iterations = 0;
    while iterations < max_steps && max_abs(&g) >= NEWTON_FLOOR {
        let Some(mut step) = damped_newton_step(&h, &g) else {
            break;
        };
        let longest = max_abs(&step);
        if longest > MAX_NEWTON_STEP {
            step.iter_mut()
                .for_each(|s| *s *= MAX_NEWTON_STEP / longest);
        }
        iterations += 1;
        let mut t = 1.0;
        let mut next = None;
        for _ in 0..20 {
            let cand: Vec<f64> = x.iter().zip(&step).map(|(xi, si)| xi - t * si).collect();
            if let Some((f1, g1, h1)) = obj.eval_hessian(&cand) {
                // As in newton_polish: within rounding of the optimum, halving the
                // gradient without raising the objective beyond that noise is progress.
                let within_noise = f1 <= f + 1e-12 * f.abs() && max_abs(&g1) < 0.5 * max_abs(&g);
                if f1 < f || within_noise {
                    next = Some((cand, f1, g1, h1));
                    break;
                }
            }
            t *= 0.5;
        }
        let Some((cand, f1, g1, h1)) = next else {
            break;
        };
        (x, f, g, h) = (cand, f1, g1, h1);
    }
    NewtonRun {
        x,
        grad: g,
        hessian: h,
        iterations,
    }
}

/// Solves H·step = g; where H is not positive definite (far from the optimum), with
/// μ·I added for the smallest μ in a decade ladder that makes it so (Levenberg-Marquardt
/// damping: a shorter step, turned towards the gradient).
fn damped_newton_step(h: &[Vec<f64>], g: &[f64]) -> Option<Vec<f64>> {
    if let Some(step) = linalg::solve_spd(h, g) {
        return Some(step);
    }
    let scale = h
        .iter()
        .enumerate()
        .fold(0.0_f64, |m, (i, row)| m.max(row[i].abs()))
        .max(1e-8);
    (0..12).find_map(|k| {
        let mu = scale * 10f64.powi(k - 6);
        let damped: Vec<Vec<f64>> = h
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let mut row = row.clone();
                row[i] += mu;
                row
            })
            .collect();
        linalg::solve_spd(&damped, g)
    })
}

/// L-BFGS from `x`, with a Nelder-Mead restart when it stalls above the tolerance; returns
/// the best point and the iterations used, and appends the path taken to `method`.
fn first_order<L: LogLikelihood>(
    obj: &Objective<'_, L>,
    x0: Vec<f64>,
    f_start: f64,
    opts: &FitOptions,
    method: &mut String,
    warnings: &mut Vec<String>,
) -> (Vec<f64>, u64) {
    let mut iterations = 0;
    let mut x = match run_lbfgs(obj, x0.clone(), opts) {
        Some((x, it)) if obj.eval(&x).0.is_finite() => {
            iterations += it;
            x
        }
        _ => x0.clone(),
    };
    let g_norm = |x: &[f64]| max_abs(&obj.eval(x).1);
    if g_norm(&x) <= opts.gradient_tolerance {
        method.push_str("L-BFGS");
        return (x, iterations);
    }
    // L-BFGS stalled (line search failure, flat region): restart from a simplex search.
    method.push_str("Nelder-Mead fallback + L-BFGS");
    warnings.push(format!(
        "L-BFGS stopped with gradient norm {:.3e}; used Nelder-Mead fallback",
        g_norm(&x)
    ));
    let start = if obj.eval(&x).0 <= f_start {
        x.clone()
    } else {
        x0.clone()
    };
    let budget = opts.max_iterations.saturating_mul(4).min(2000);
    if let Some((nm, it)) = run_nelder_mead(obj, &start, budget) {
        iterations += it;
        if let Some((lb, it2)) = run_lbfgs(obj, nm.clone(), opts) {
            iterations += it2;
            x = if obj.eval(&lb).0 <= obj.eval(&nm).0 {
                lb
            } else {
                nm
            };
        } else {
            x = nm;
        }
    }
    (x, iterations)
}

/// Maximises `ll` and returns natural parameters with full diagnostics.
pub(crate) fn maximize<L: LogLikelihood>(ll: &L, opts: &FitOptions) -> Result<RawFit> {
    let n = L::PARAM_NAMES.len();
    opts.validate(n)?;
    if ll.total_weight() <= 0.0 || ll.groups() == 0 {
        return Err(ModelError::InsufficientData {
            model: L::MODEL,
            reason: "no customers to fit".into(),
        });
    }
    let obj = Objective::new(ll, opts.penalizer);
    let init = opts
        .initial_params
        .clone()
        .unwrap_or_else(|| ll.initial_guess());
    let x0: Vec<f64> = init.iter().map(|v| v.ln()).collect();
    let mut warnings = Vec::new();

    // Models with an analytic Hessian start with Newton's method: from a warm start it
    // converges in a handful of evaluations.
    let second_order = obj.eval_hessian(&x0);
    let f_start = match &second_order {
        Some((f, _, _)) => *f,
        None => obj.eval(&x0).0,
    };
    if !f_start.is_finite() {
        return Err(ModelError::Numerical {
            what: L::MODEL,
            reason: "log-likelihood is not finite at the starting point".into(),
        });
    }

    let mut iterations = 0;
    let mut x = x0.clone();
    let mut newton_hessian = None;
    let mut method = String::new();
    if let Some(start) = second_order {
        let run = newton(
            &obj,
            x0.clone(),
            start,
            opts.max_iterations.min(NEWTON_STEPS),
        );
        iterations += run.iterations;
        method.push_str("Newton");
        x = run.x;
        if max_abs(&run.grad) <= opts.gradient_tolerance {
            newton_hessian = Some(run.hessian);
        } else {
            // Far from the optimum (Hessian not positive definite) or stalled: L-BFGS from
            // the best point so far, then Newton again.
            method.push_str(" + ");
        }
    }
    let hessian = match newton_hessian {
        Some(h) => Some(h),
        None => {
            let (lbfgs, it) = first_order(&obj, x, f_start, opts, &mut method, &mut warnings);
            iterations += it;
            x = lbfgs;
            // The Hessian of the objective: Newton polish, then standard errors.
            match obj.eval_hessian(&x) {
                Some(start) => {
                    let run = newton(&obj, x, start, POLISH_STEPS);
                    x = run.x;
                    method.push_str(" + Newton polish");
                    Some(run.hessian)
                }
                None => {
                    let hessian = obj.hessian(&x);
                    if let Some(h) = &hessian {
                        x = newton_polish(&obj, x, h, POLISH_STEPS as usize);
                        method.push_str(" + Newton polish");
                    }
                    hessian
                }
            }
        }
    };

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
    let log_likelihood = obj.cached_log_likelihood(&x).unwrap_or_else(|| {
        let mut scratch = vec![0.0; n];
        ll.ll_grad(&params, &mut scratch)
    });
    let weight = ll.total_weight();

    // Standard errors from the Hessian of the *unpenalized* total negative LL: the
    // objective's Hessian less the penalty's (diagonal, 4λp² in log space).
    let standard_errors = match &hessian {
        Some(h) => {
            let total: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| {
                            let pen = if i == j {
                                4.0 * opts.penalizer * params[i] * params[i]
                            } else {
                                0.0
                            };
                            (h[i][j] - pen) * weight
                        })
                        .collect()
                })
                .collect();
            match linalg::inverse_spd(&total) {
                Some(cov) => (0..n)
                    .map(|i| {
                        let var = cov[i][i];
                        (var.is_finite() && var > 0.0).then(|| params[i] * var.sqrt())
                    })
                    .collect(),
                None => {
                    warnings.push(
                        "Hessian is not positive definite: standard errors unavailable".into(),
                    );
                    vec![None; n]
                }
            }
        }
        None => {
            warnings.push("Hessian could not be evaluated: standard errors unavailable".into());
            vec![None; n]
        }
    };
    let k = n as f64;
    let message = if converged {
        format!(
            "converged: gradient norm {gradient_norm:.2e} <= {:.1e}",
            opts.gradient_tolerance
        )
    } else {
        format!(
            "not converged: gradient norm {gradient_norm:.2e} > {:.1e}",
            opts.gradient_tolerance
        )
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
/// Groups come in hash order (a random order), which also makes every stride of them a
/// fair subsample; the weights of a group add up in row order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupedRfm {
    pub frequency: Vec<u32>,
    pub recency: Vec<f64>,
    pub age: Vec<f64>,
    pub weight: Vec<f64>,
    pub max_frequency: u32,
    /// Distinct ages / recencies, computed on first use and shared by every fit of this data.
    distinct_age: std::sync::OnceLock<Option<DistinctTimes>>,
    distinct_recency: std::sync::OnceLock<Option<DistinctTimes>>,
}

impl GroupedRfm {
    /// Groups validated rows; `weights` (default 1 each) must be finite and >= 0.
    ///
    /// One parallel pass over fixed-size chunks of the rows validates them and sorts each
    /// row's key into a partition by the high bits of its hash; each partition (a few
    /// thousand rows) is then merged with a small hash table that stays in cache, and its
    /// groups are put in hash order. Only groups are sorted, never every row: day-resolution
    /// data has five times fewer groups than rows. Chunks and partitions depend on the row
    /// count only, and weights add up in row order, so the result does not depend on the
    /// number of threads.
    pub fn build(rfm: &[crate::Rfm], weights: Option<&[f64]>) -> Result<Self> {
        use rayon::prelude::*;
        if let Some(w) = weights
            && w.len() != rfm.len()
        {
            return Err(ModelError::invalid(
                "weights",
                format!("expected {} weights, got {}", rfm.len(), w.len()),
            ));
        }
        if rfm.len() > u32::MAX as usize {
            return Err(ModelError::invalid(
                "customers",
                "more than 4,294,967,295 rows in one fit",
            ));
        }
        let n = rfm.len();
        let bits = partition_bits(n);
        let parts = 1usize << bits;
        let chunk = build_chunk_len(n);
        // Pass 1, per chunk: validate, then file each row under its partition.
        let per_chunk: Vec<Result<Vec<Vec<KeyedRow>>>> = rfm
            .par_chunks(chunk)
            .enumerate()
            .map(|(c, rows)| {
                let mut out: Vec<Vec<KeyedRow>> = (0..parts)
                    .map(|_| Vec::with_capacity(rows.len() / parts + rows.len() / (4 * parts) + 8))
                    .collect();
                for (j, r) in rows.iter().enumerate() {
                    let i = c * chunk + j;
                    if !r.is_valid() {
                        r.validate()
                            .map_err(|e| e.within(&format!("customers[{i}]")))?;
                    }
                    if let Some(w) = weights
                        && !(w[i].is_finite() && w[i] >= 0.0)
                    {
                        return Err(ModelError::invalid(
                            format!("weights[{i}]"),
                            "must be finite and >= 0",
                        ));
                    }
                    // Rounded summaries can carry recency a hair above T: clamp after
                    // validation.
                    let row = KeyedRow {
                        recency: r.recency.min(r.age).to_bits(),
                        age: r.age.to_bits(),
                        frequency: r.frequency,
                        index: i as u32,
                    };
                    out[partition_of(row.hash(), bits)].push(row);
                }
                Ok(out)
            })
            .collect();
        let mut chunks = Vec::with_capacity(per_chunk.len());
        for c in per_chunk {
            chunks.push(c?); // the first invalid row, in row order
        }
        // Pass 2, per partition: merge equal keys, then order the groups by hash.
        let merged: Vec<PartitionGroups> = (0..parts)
            .into_par_iter()
            .map(|p| PartitionGroups::merge(chunks.iter().map(|c| c[p].as_slice()), weights))
            .collect();
        drop(chunks);
        let total: usize = merged.iter().map(|m| m.frequency.len()).sum();
        let mut out = GroupedRfm {
            frequency: Vec::with_capacity(total),
            recency: Vec::with_capacity(total),
            age: Vec::with_capacity(total),
            weight: Vec::with_capacity(total),
            ..GroupedRfm::default()
        };
        for m in &merged {
            out.frequency.extend_from_slice(&m.frequency);
            out.recency.extend_from_slice(&m.recency);
            out.age.extend_from_slice(&m.age);
            out.weight.extend_from_slice(&m.weight);
        }
        out.max_frequency = out.frequency.iter().copied().max().unwrap_or(0);
        Ok(out)
    }

    /// Total weight of the rows with each frequency 0..=max_frequency.
    pub(crate) fn weight_by_frequency(&self) -> Vec<f64> {
        let mut by_x = vec![0.0; self.max_frequency as usize + 1];
        for (x, w) in self.frequency.iter().zip(&self.weight) {
            by_x[*x as usize] += w;
        }
        by_x
    }

    pub(crate) fn distinct_age(&self) -> Option<&DistinctTimes> {
        self.distinct_age
            .get_or_init(|| DistinctTimes::build(&self.age))
            .as_ref()
    }

    pub(crate) fn distinct_recency(&self) -> Option<&DistinctTimes> {
        self.distinct_recency
            .get_or_init(|| DistinctTimes::build(&self.recency))
            .as_ref()
    }

    /// Every `stride`-th group, with weights scaled so the total is preserved: a cheap
    /// stand-in of the data used to find a starting point for large fits.
    pub(crate) fn subsample(&self, stride: usize) -> GroupedRfm {
        let stride = stride.max(1);
        let scale = self.total_weight()
            / self
                .weight
                .iter()
                .step_by(stride)
                .sum::<f64>()
                .max(f64::MIN_POSITIVE);
        let pick = |v: &[f64]| v.iter().step_by(stride).copied().collect::<Vec<f64>>();
        let frequency: Vec<u32> = self.frequency.iter().step_by(stride).copied().collect();
        // The parent's distinct times serve the subsample too (strided indices).
        let distinct =
            |d: Option<&DistinctTimes>| std::sync::OnceLock::from(d.map(|d| d.subsample(stride)));
        GroupedRfm {
            max_frequency: frequency.iter().copied().max().unwrap_or(0),
            frequency,
            recency: pick(&self.recency),
            age: pick(&self.age),
            weight: pick(&self.weight).into_iter().map(|w| w * scale).collect(),
            distinct_age: distinct(self.distinct_age()),
            distinct_recency: distinct(self.distinct_recency()),
        }
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

/// A validated row's grouping key (times as bits, recency clamped to T) and its index.
#[derive(Debug, Clone, Copy)]
struct KeyedRow {
    recency: u64,
    age: u64,
    frequency: u32,
    index: u32,
}

impl KeyedRow {
    #[inline(always)]
    fn key(&self) -> (u32, u64, u64) {
        (self.frequency, self.recency, self.age)
    }

    /// A hash whose every bit depends on every key bit (see [`folded_multiply`]): the
    /// high bits pick the partition, the low bits the slot.
    #[inline(always)]
    fn hash(&self) -> u64 {
        let h = folded_multiply(self.recency ^ HASH_SEEDS[0], self.age ^ HASH_SEEDS[1]);
        folded_multiply(h ^ u64::from(self.frequency), HASH_SEEDS[2])
    }
}

/// Digits of π, as in rustc-hash's and foldhash's seeds.
const HASH_SEEDS: [u64; 3] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
];

/// The 128-bit product of a and b, its halves xor-ed (foldhash's mixer): every output
/// bit depends on every input bit. Day-resolution times (k/7 weeks) share long runs of
/// mantissa bits, which a plain multiplicative hash such as FxHash only carries upwards,
/// so its low and high bits then take few values.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A strong hash of one 64-bit key.
#[inline(always)]
fn mix64(v: u64) -> u64 {
    folded_multiply(v ^ HASH_SEEDS[0], HASH_SEEDS[1])
}

/// Most rows per partition [`GroupedRfm::build`] aims at: a partition's hash table (two
/// slots per row) and groups (40 bytes each; as many as rows for continuous times) then
/// stay within a 1 MB L2 cache.
const ROWS_PER_PARTITION: usize = 16 * 1024;

/// log2 of the number of partitions for n rows: at most 256, one for small inputs.
fn partition_bits(n: usize) -> u32 {
    n.div_ceil(ROWS_PER_PARTITION)
        .next_power_of_two()
        .ilog2()
        .min(8)
}

#[inline(always)]
fn partition_of(hash: u64, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (hash >> (64 - bits)) as usize
    }
}

/// Rows per chunk of the first grouping pass: a function of the row count only (at most
/// 64 chunks), so that the chunks do not depend on the thread count.
fn build_chunk_len(n: usize) -> usize {
    n.div_ceil(64).max(1 << 15)
}

/// The groups of one partition, in hash order.
struct PartitionGroups {
    frequency: Vec<u32>,
    recency: Vec<f64>,
    age: Vec<f64>,
    weight: Vec<f64>,
}

impl PartitionGroups {
    /// Merges the rows of one partition (each chunk's share, in row order) with an
    /// open-addressing table of group indices keyed by the low bits of the hash, grown to
    /// stay at most half full: day-resolution data has a few groups per partition, and a
    /// table sized for them stays in L1.
    fn merge<'r>(pieces: impl Iterator<Item = &'r [KeyedRow]>, weights: Option<&[f64]>) -> Self {
        let mut table = vec![u32::MAX; 1024];
        let mut hashes: Vec<u64> = Vec::new();
        let mut keys: Vec<(u32, u64, u64)> = Vec::new();
        let mut weight: Vec<f64> = Vec::new();
        for piece in pieces {
            for row in piece {
                let h = row.hash();
                let key = row.key();
                let w = weights.map_or(1.0, |w| w[row.index as usize]);
                let mask = table.len() - 1;
                let mut slot = h as usize & mask;
                loop {
                    let g = table[slot];
                    if g == u32::MAX {
                        table[slot] = hashes.len() as u32;
                        hashes.push(h);
                        keys.push(key);
                        weight.push(w);
                        if 2 * hashes.len() > table.len() {
                            table = Self::slots(&hashes, 2 * table.len());
                        }
                        break;
                    }
                    let g = g as usize;
                    if hashes[g] == h && keys[g] == key {
                        weight[g] += w;
                        break;
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
        let mut order: Vec<(u64, u32)> = hashes
            .iter()
            .enumerate()
            .map(|(g, &h)| (h, g as u32))
            .collect();
        order.sort_unstable();
        let pick = order.iter().map(|&(_, g)| g as usize);
        PartitionGroups {
            frequency: pick.clone().map(|g| keys[g].0).collect(),
            recency: pick.clone().map(|g| f64::from_bits(keys[g].1)).collect(),
            age: pick.clone().map(|g| f64::from_bits(keys[g].2)).collect(),
            weight: pick.map(|g| weight[g]).collect(),
        }
    }

    /// A table of `len` slots (a power of two) holding the indices of groups with `hashes`.
    fn slots(hashes: &[u64], len: usize) -> Vec<u32> {
        let mut table = vec![u32::MAX; len];
        for (g, &h) in hashes.iter().enumerate() {
            let mut slot = h as usize & (len - 1);
            while table[slot] != u32::MAX {
                slot = (slot + 1) & (len - 1);
            }
            table[slot] = g as u32;
        }
        table
    }
}

/// Above this many distinct rows, a fit first runs on a subsample to find its start.
const WARM_START_MIN_GROUPS: usize = 100_000;
const WARM_START_GROUPS: usize = 50_000;

/// Options for the full fit, with a starting point from a fit on a subsample when the data
/// is large and the caller gave none: the full-data L-BFGS then needs a handful of steps.
pub(crate) fn with_warm_start(
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

/// The distinct values of a time column and, per row, the index of its value: lets a
/// likelihood take ln(α + t) once per distinct t. Only built when values repeat a lot
/// (day-resolution data); continuous times get `None`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DistinctTimes {
    pub values: Vec<f64>,
    pub index: Vec<u32>,
}

impl DistinctTimes {
    /// `None` once more than a quarter of the rows hold distinct values. An open-addressing
    /// table of value indices, keyed by a strong hash of the bits: day-resolution times
    /// (k/7 weeks) share long runs of mantissa bits.
    pub(crate) fn build(column: &[f64]) -> Option<Self> {
        let limit = column.len() / 4;
        let mut values: Vec<f64> = Vec::new();
        let mut table = vec![u32::MAX; 64];
        let mut index = Vec::with_capacity(column.len());
        for &v in column {
            let bits = v.to_bits();
            let mask = table.len() - 1;
            let mut slot = mix64(bits) as usize & mask;
            let k = loop {
                let k = table[slot];
                if k == u32::MAX {
                    if values.len() >= limit {
                        return None;
                    }
                    let k = values.len() as u32;
                    values.push(v);
                    table[slot] = k;
                    if 2 * values.len() > table.len() {
                        table = Self::slots(&values, 2 * table.len());
                    }
                    break k;
                }
                if values[k as usize].to_bits() == bits {
                    break k;
                }
                slot = (slot + 1) & mask;
            };
            index.push(k);
        }
        Some(DistinctTimes { values, index })
    }

    /// A table of `len` slots (a power of two) holding the indices of `values`.
    fn slots(values: &[f64], len: usize) -> Vec<u32> {
        let mut table = vec![u32::MAX; len];
        for (k, v) in values.iter().enumerate() {
            let mut slot = mix64(v.to_bits()) as usize & (len - 1);
            while table[slot] != u32::MAX {
                slot = (slot + 1) & (len - 1);
            }
            table[slot] = k as u32;
        }
        table
    }

    /// The distinct times of every `stride`-th row: the same values, the index strided.
    fn subsample(&self, stride: usize) -> Self {
        DistinctTimes {
            values: self.values.clone(),
            index: self.index.iter().step_by(stride).copied().collect(),
        }
    }
}

/// ln(α + t) and 1/(α + t) of the rows of a time column: a likelihood kernel is generic
/// over how they are found, so that each combination compiles to straight-line code.
pub(crate) trait LogTimes: Sync {
    /// (ln(α + t_i), 1/(α + t_i)) of row i.
    fn get(&self, i: usize) -> (f64, f64);
}

/// [`LogTimes`] tabulated per distinct value (one logarithm per distinct t).
pub(crate) struct DistinctLogTimes<'a> {
    /// (ln(α + t), 1/(α + t)) per distinct t.
    terms: Vec<[f64; 2]>,
    index: &'a [u32],
}

impl<'a> DistinctLogTimes<'a> {
    pub(crate) fn new(distinct: &'a DistinctTimes, alpha: f64) -> Self {
        DistinctLogTimes {
            terms: distinct
                .values
                .iter()
                .map(|t| [(alpha + t).ln(), 1.0 / (alpha + t)])
                .collect(),
            index: &distinct.index,
        }
    }
}

impl LogTimes for DistinctLogTimes<'_> {
    #[inline(always)]
    fn get(&self, i: usize) -> (f64, f64) {
        let [ln, inv] = self.terms[self.index[i] as usize];
        (ln, inv)
    }
}

/// [`LogTimes`] computed row by row (continuous times).
pub(crate) struct DirectLogTimes<'a> {
    pub column: &'a [f64],
    pub alpha: f64,
}

impl LogTimes for DirectLogTimes<'_> {
    #[inline(always)]
    fn get(&self, i: usize) -> (f64, f64) {
        let v = self.alpha + self.column[i];
        (v.ln(), 1.0 / v)
    }
}

/// Sums `f(start, end)` over chunks in parallel, adding the partial results in chunk order
/// so that the total depends neither on thread scheduling nor on the thread count (the
/// optimizer must see a deterministic objective).
pub(crate) fn chunked_sum<const K: usize>(
    n: usize,
    f: impl Fn(usize, usize) -> [f64; K] + Sync,
) -> [f64; K] {
    use rayon::prelude::*;
    let chunk = chunk_len(n);
    if chunk >= n {
        return f(0, n);
    }
    let starts: Vec<usize> = (0..n).step_by(chunk).collect();
    let parts: Vec<[f64; K]> = starts
        .par_iter()
        .map(|&s| f(s, (s + chunk).min(n)))
        .collect();
    parts
        .into_iter()
        .fold([0.0; K], |acc, p| std::array::from_fn(|k| acc[k] + p[k]))
}

/// Splits `0..n` into chunks for parallel reductions; small inputs stay on one thread.
/// A function of n only (at most 64 chunks), so that sums, and the fits built on them, are
/// the same bit for bit whatever the number of threads.
pub(crate) fn chunk_len(n: usize) -> usize {
    const MIN: usize = 16 * 1024;
    n.div_ceil(64).max(MIN)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rfm;

    /// 100k rows (several chunks and partitions) with heavy repetition, x = 0 rows and
    /// recency a hair above T.
    fn repeated_rows(n: usize) -> Vec<Rfm> {
        (0..n)
            .map(|i| {
                let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                let x = (h % 7) as u32;
                let age = ((h >> 3) % 60) as f64 / 7.0;
                let recency = if x == 0 {
                    0.0
                } else if h.is_multiple_of(97) {
                    age * (1.0 + 1e-12)
                } else {
                    (((h >> 12) % 60) as f64 / 7.0).min(age)
                };
                Rfm {
                    frequency: x,
                    recency,
                    age,
                }
            })
            .collect()
    }

    #[test]
    fn grouping_merges_equal_rows_in_hash_order_summing_weights_in_row_order() {
        let rows = repeated_rows(100_000);
        let weights: Vec<f64> = (0..rows.len()).map(|i| 0.1 * (i % 13) as f64).collect();
        let g = GroupedRfm::build(&rows, Some(&weights)).unwrap();
        // Reference: an ordered map filled in row order.
        let mut reference = std::collections::BTreeMap::new();
        for (r, w) in rows.iter().zip(&weights) {
            let key = (r.frequency, r.recency.min(r.age).to_bits(), r.age.to_bits());
            *reference.entry(key).or_insert(0.0) += w;
        }
        assert_eq!(g.len(), reference.len());
        assert!(g.len() < rows.len() / 4, "{} groups", g.len());
        let mut previous = 0;
        for i in 0..g.len() {
            let key = (g.frequency[i], g.recency[i].to_bits(), g.age[i].to_bits());
            assert_eq!(g.weight[i].to_bits(), reference[&key].to_bits(), "{key:?}");
            let hash = KeyedRow {
                recency: key.1,
                age: key.2,
                frequency: key.0,
                index: 0,
            }
            .hash();
            assert!(hash >= previous, "group {i} out of hash order");
            previous = hash;
        }
        assert_eq!(g.max_frequency, 6);
        // Unit weights: the same groups whatever the row order.
        let mut reversed = rows.clone();
        reversed.reverse();
        let (a, b) = (
            GroupedRfm::build(&rows, None).unwrap(),
            GroupedRfm::build(&reversed, None).unwrap(),
        );
        assert_eq!(a, b);
    }

    /// Grouping and fitting give the same bits on one thread as on three.
    #[test]
    fn fits_do_not_depend_on_the_thread_count() {
        use crate::simulate::{SimulationSpec, simulate_summaries};
        let sim = simulate_summaries(&SimulationSpec::cdnow_like(150_000, 7, 52.0)).unwrap();
        let days: Vec<Rfm> = sim
            .table
            .rfm
            .iter()
            .map(|c| {
                let age = (c.age * 7.0).floor() / 7.0;
                Rfm {
                    frequency: c.frequency,
                    recency: ((c.recency * 7.0).floor() / 7.0).min(age),
                    age,
                }
            })
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let g = GroupedRfm::build(&days, None).unwrap();
                let fit = crate::bgnbd::fit(&g, &FitOptions::default()).unwrap();
                (g, fit)
            })
        };
        let (g1, f1) = run(1);
        let (g3, f3) = run(3);
        assert!(
            g1.len() > 2 * 16 * 1024,
            "{} groups: one chunk only",
            g1.len()
        );
        assert_eq!(g1, g3);
        assert_eq!(f1, f3);
    }

    #[test]
    fn grouping_reports_the_first_invalid_row() {
        let mut rows = repeated_rows(100_000);
        let mut weights = vec![1.0; rows.len()];
        rows[90_000].age = f64::NAN;
        rows[70_000].recency = -1.0;
        weights[80_000] = f64::INFINITY;
        let field = |r: Result<GroupedRfm>| match r {
            Err(ModelError::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(GroupedRfm::build(&rows, Some(&weights))),
            "customers[70000].recency"
        );
        rows[70_000].recency = 0.0;
        rows[70_000].frequency = 1;
        assert_eq!(
            field(GroupedRfm::build(&rows, Some(&weights))),
            "weights[80000]"
        );
        assert_eq!(field(GroupedRfm::build(&rows, None)), "customers[90000].T");
    }
}
