//! The optimizer every family's fit goes through: the per-customer objective in log
//! parameters, Newton's method where a family has an analytic Hessian, argmin's L-BFGS
//! with a Nelder-Mead fallback otherwise, a Newton polish, and the diagnostics.

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;

use super::{FitDiagnostics, FitOptions, FitWarning, Fitted, LogLikelihood, WarningCode};
use crate::cancel::Cancel;
use crate::error::{ModelError, Result};
use crate::numerics::linalg;

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
    /// Checked before every evaluation argmin asks for (an error ends its run) and every
    /// Newton step: a fit stops within one evaluation of the token firing.
    cancel: &'a Cancel,
    penalizer: f64,
    weight: f64,
    cache: Mutex<Option<Evaluation>>,
    evaluations: Mutex<u64>,
}

impl<'a, L: LogLikelihood> Objective<'a, L> {
    fn new(ll: &'a L, penalizer: f64, cancel: &'a Cancel) -> Self {
        Self {
            ll,
            cancel,
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

    /// An error for argmin once the fit is cancelled: it ends the solver's run, and
    /// [`maximize`] then returns [`ModelError::Cancelled`].
    fn go_on(&self) -> std::result::Result<(), argmin::core::Error> {
        if self.cancel.is_cancelled() {
            Err(argmin::core::Error::msg("the fit was cancelled"))
        } else {
            Ok(())
        }
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
        self.go_on()?;
        Ok(self.eval(p).0)
    }
}

impl<L: LogLikelihood> Gradient for Objective<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.go_on()?;
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
        if obj.cancel.is_cancelled() {
            break;
        }
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
/// `start`), for at most `max_steps` steps. Stops at the noise floor ([`POLISHED`]), on a
/// ridge once the gradient is within `tolerance` (see below), or where no step along the
/// Newton direction improves the objective.
fn newton<L: LogLikelihood>(
    obj: &Objective<'_, L>,
    mut x: Vec<f64>,
    start: SecondOrder,
    max_steps: u64,
    tolerance: f64,
) -> NewtonRun {
    let (mut f, mut g, mut h) = start;
    let mut iterations = 0;
    while iterations < max_steps && max_abs(&g) >= NEWTON_FLOOR && !obj.cancel.is_cancelled() {
        // Where the Hessian is not positive definite within the tolerance, the fit is on a
        // ridge running to a boundary (BG/NBD's a → 0, b → ∞ on data without dropout):
        // the gradient falls only as the walk goes on, by damped steps that never turn
        // quadratic, and the diagnosis reports the boundary from any point along it.
        if max_abs(&g) <= tolerance && linalg::solve_spd(&h, &g).is_none() {
            break;
        }
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
    warnings: &mut Vec<FitWarning>,
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
    // Cancelled (the caller checks): no fallback.
    if obj.cancel.is_cancelled() || g_norm(&x) <= opts.gradient_tolerance {
        method.push_str("L-BFGS");
        return (x, iterations);
    }
    // L-BFGS stalled (line search failure, flat region): restart from a simplex search.
    method.push_str("Nelder-Mead fallback + L-BFGS");
    warnings.push(FitWarning::new(
        WarningCode::OptimizerFallback,
        format!(
            "L-BFGS stopped with gradient norm {:.3e}; used Nelder-Mead fallback",
            g_norm(&x)
        ),
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
pub fn maximize<L: LogLikelihood>(ll: &L, opts: &FitOptions) -> Result<Fitted<Vec<f64>>> {
    let param_names = ll.param_names();
    let n = param_names.len();
    opts.validate(n)?;
    if ll.total_weight() <= 0.0 || ll.groups() == 0 {
        return Err(ModelError::InsufficientData {
            model: L::MODEL,
            reason: "no customers to fit".into(),
        });
    }
    let cancel = &opts.cancel;
    cancel.check()?;
    let obj = Objective::new(ll, opts.penalizer, cancel);
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
            opts.gradient_tolerance,
        );
        cancel.check()?;
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
            cancel.check()?;
            iterations += it;
            x = lbfgs;
            // The Hessian of the objective: Newton polish, then standard errors.
            match obj.eval_hessian(&x) {
                Some(start) => {
                    let run = newton(&obj, x, start, POLISH_STEPS, opts.gradient_tolerance);
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

    // A cancelled polish stopped early: its point is not the fit's.
    cancel.check()?;
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
                    warnings.push(FitWarning::new(
                        WarningCode::HessianNotPositiveDefinite,
                        "Hessian is not positive definite: standard errors unavailable",
                    ));
                    vec![None; n]
                }
            }
        }
        None => {
            warnings.push(FitWarning::new(
                WarningCode::StandardErrorsUnavailable,
                "Hessian could not be evaluated: standard errors unavailable",
            ));
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
    Ok(Fitted {
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
            param_names,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Rosenbrock's valley in log parameters (dozens of iterations from its classic start),
    /// firing `cancel` at evaluation `fire_at`: a client going away mid-fit.
    struct Valley {
        cancel: Cancel,
        fire_at: u64,
        evaluations: AtomicU64,
    }

    impl LogLikelihood for Valley {
        const MODEL: &'static str = "valley";
        const PARAM_NAMES: &'static [&'static str] = &["a", "b"];

        fn ll_grad(&self, p: &[f64], grad: &mut [f64]) -> f64 {
            if self.evaluations.fetch_add(1, Ordering::Relaxed) + 1 == self.fire_at {
                self.cancel.cancel();
            }
            let (x, y) = (p[0].ln(), p[1].ln());
            let f = (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
            let dx = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
            let dy = 200.0 * (y - x * x);
            // d(-f)/dp = d(-f)/d ln p / p.
            grad[0] = -dx / p[0];
            grad[1] = -dy / p[1];
            -f
        }

        fn total_weight(&self) -> f64 {
            1.0
        }

        fn groups(&self) -> usize {
            1
        }

        fn initial_guess(&self) -> Vec<f64> {
            vec![(-1.2f64).exp(), 1.0f64.exp()]
        }
    }

    fn valley(fire_at: u64) -> (Valley, FitOptions) {
        let cancel = Cancel::new();
        let opts = FitOptions {
            max_iterations: 10_000,
            cancel: cancel.clone(),
            ..FitOptions::default()
        };
        let ll = Valley {
            cancel,
            fire_at,
            evaluations: AtomicU64::new(0),
        };
        (ll, opts)
    }

    #[test]
    fn a_fit_stops_within_one_evaluation_of_its_token_firing() {
        // Uncancelled, the valley takes well over 20 evaluations.
        let (ll, opts) = valley(u64::MAX);
        let fitted = maximize(&ll, &opts).unwrap();
        assert!(fitted.diagnostics.converged);
        let full = ll.evaluations.load(Ordering::Relaxed);
        assert!(full > 40, "{full} evaluations");

        for fire_at in [1, 5, 20] {
            let (ll, opts) = valley(fire_at);
            assert_eq!(maximize(&ll, &opts), Err(ModelError::Cancelled));
            let used = ll.evaluations.load(Ordering::Relaxed);
            assert!(
                used <= fire_at + 1,
                "fired at {fire_at}, {used} evaluations"
            );
        }
        // Already fired: no evaluation at all.
        let (ll, opts) = valley(u64::MAX);
        opts.cancel.cancel();
        assert_eq!(maximize(&ll, &opts), Err(ModelError::Cancelled));
        assert_eq!(ll.evaluations.load(Ordering::Relaxed), 0);
    }
}
