//! The Pareto/NBD latent process for the simulator: λ ~ Gamma(r, α), μ ~ Gamma(s, β), an
//! exponential lifetime with rate μ, purchases at rate λ until death.

use rand_distr::{Distribution, Exp1, Gamma};

use crate::error::Result;
use crate::models::params::ParetoNbdParams;
use crate::simulate::{Latent, PurchaseProcess, SimRng, unit_gamma};

struct ParetoProcess {
    /// λ = gamma_r / alpha, μ = gamma_s / beta.
    gamma_r: Gamma<f64>,
    alpha: f64,
    gamma_s: Gamma<f64>,
    beta: f64,
}

pub(super) fn process(p: ParetoNbdParams) -> Result<Box<dyn PurchaseProcess>> {
    Ok(Box::new(ParetoProcess {
        gamma_r: unit_gamma("process.r", p.r)?,
        alpha: p.alpha,
        gamma_s: unit_gamma("process.s", p.s)?,
        beta: p.beta,
    }))
}

impl PurchaseProcess for ParetoProcess {
    fn draw(&self, rng: &mut SimRng) -> (f64, f64) {
        (
            self.gamma_r.sample(rng) / self.alpha,
            self.gamma_s.sample(rng) / self.beta,
        )
    }

    fn run(
        &self,
        rng: &mut SimRng,
        latent: Latent,
        calibration_end: f64,
        end: f64,
        purchase: &mut dyn FnMut(&mut SimRng, f64) -> Result<()>,
    ) -> Result<bool> {
        let tau: f64 = Exp1.sample(rng);
        let death = if latent.dropout > 0.0 {
            latent.birth + tau / latent.dropout
        } else {
            f64::INFINITY
        };
        let mut t = latent.birth;
        loop {
            let gap: f64 = Exp1.sample(rng);
            t += gap / latent.lambda;
            // Also stops on λ = 0 (t = ∞).
            if !(t <= end && t < death) {
                break;
            }
            purchase(rng, t)?;
        }
        Ok(death > calibration_end)
    }
}
