//! A toy transaction model family for the plug-in tests: purchases at one constant rate λ
//! for every customer, and no dropout. It lives only here, in test code, and reaches the
//! server and the CLI through the model crate's registry alone — the point of the tests
//! that use it.

use custval_model::fit::{self, FitOptions, Fitted, GroupedRfm, LogLikelihood};
use custval_model::models::{self, TransactionFamily};
use custval_model::{Result, Rfm};

/// Poisson purchases at rate λ per unit, nobody drops out.
#[derive(Debug)]
pub struct Poisson;

pub static POISSON: Poisson = Poisson;

/// Registers the toy family (once per process; registering again is a no-op).
pub fn register() {
    models::register(&POISSON).expect("the toy family's name is free");
}

/// λ̂ = Σ w·x / Σ w·T: the maximum-likelihood rate, for checking fits.
pub fn rate_estimate(rows: &[Rfm]) -> f64 {
    let x: f64 = rows.iter().map(|c| f64::from(c.frequency)).sum();
    let t: f64 = rows.iter().map(|c| c.age).sum();
    x / t
}

struct PoissonLikelihood<'a>(&'a GroupedRfm);

impl LogLikelihood for PoissonLikelihood<'_> {
    const MODEL: &'static str = "Poisson";
    const PARAM_NAMES: &'static [&'static str] = &["lambda"];

    /// Σ w [x ln(λT) − λT − ln x!]; d/dλ = Σ w (x/λ − T).
    fn ll_grad(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let lambda = params[0];
        let d = self.0;
        let (mut ll, mut g) = (0.0, 0.0);
        for i in 0..d.len() {
            let (x, t, w) = (f64::from(d.frequency[i]), d.age[i], d.weight[i]);
            let ln_x_factorial: f64 = (1..=d.frequency[i]).map(|k| f64::from(k).ln()).sum();
            let ln_rate = if x > 0.0 { x * (lambda * t).ln() } else { 0.0 };
            ll += w * (ln_rate - lambda * t - ln_x_factorial);
            g += w * (x / lambda - t);
        }
        grad[0] = g;
        ll
    }

    fn total_weight(&self) -> f64 {
        self.0.total_weight()
    }

    fn groups(&self) -> usize {
        self.0.len()
    }

    fn initial_guess(&self) -> Vec<f64> {
        vec![1.0]
    }
}

impl TransactionFamily for Poisson {
    fn name(&self) -> &'static str {
        "poisson"
    }
    fn title(&self) -> &'static str {
        "Poisson (toy)"
    }
    fn param_names(&self) -> &'static [&'static str] {
        &["lambda"]
    }
    fn fit(&self, data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<Vec<f64>>> {
        fit::maximize(&PoissonLikelihood(data), opts)
    }
    fn log_likelihood(&self, params: &[f64], data: &GroupedRfm) -> f64 {
        PoissonLikelihood(data).ll_grad(params, &mut [0.0])
    }
    fn p_alive(&self, _: &[f64], _: &Rfm) -> Result<f64> {
        Ok(1.0)
    }
    fn p_alive_at(&self, _: &[f64], _: &Rfm, _: f64) -> Result<f64> {
        Ok(1.0)
    }
    fn expected_purchases(&self, params: &[f64], _: &Rfm, t: f64) -> Result<f64> {
        Ok(params[0] * t)
    }
    fn prob_purchases(&self, params: &[f64], _: &Rfm, t: f64, n: u32) -> Result<f64> {
        let m = params[0] * t;
        if n == 0 {
            return Ok((-m).exp());
        }
        let ln_n_factorial: f64 = (1..=n).map(|k| f64::from(k).ln()).sum();
        Ok((f64::from(n) * m.ln() - m - ln_n_factorial).exp())
    }
    fn propensity(&self, params: &[f64], _: &Rfm, t: f64) -> Result<f64> {
        Ok(-(-params[0] * t).exp_m1())
    }
    fn expected_new_customer(&self, params: &[f64], t: f64) -> Result<f64> {
        Ok(params[0] * t)
    }
}
