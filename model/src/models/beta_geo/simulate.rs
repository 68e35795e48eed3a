//! The beta-geometric latent process for the simulator: λ ~ Gamma(r, α), p ~ Beta(a, b);
//! after each repeat purchase (MBG/NBD: after the first one too) the customer drops out
//! with probability p.

use rand::Rng;
use rand_distr::{Beta, Distribution, Exp1, Gamma};

use super::Variant;
use crate::error::{ModelError, Result};
use crate::models::params::BetaGeoParams;
use crate::simulate::{Latent, PurchaseProcess, SimRng, unit_gamma};

struct BetaGeoProcess {
    /// λ = gamma_r / alpha.
    gamma_r: Gamma<f64>,
    alpha: f64,
    beta: Beta<f64>,
    dropout_after_first: bool,
}

pub(super) fn process(p: BetaGeoParams, variant: Variant) -> Result<Box<dyn PurchaseProcess>> {
    let beta = Beta::new(p.a, p.b).map_err(|e| ModelError::invalid("process.a", format!("{e}")))?;
    Ok(Box::new(BetaGeoProcess {
        gamma_r: unit_gamma("process.r", p.r)?,
        alpha: p.alpha,
        beta,
        dropout_after_first: variant == Variant::Modified,
    }))
}

impl PurchaseProcess for BetaGeoProcess {
    fn draw(&self, rng: &mut SimRng) -> (f64, f64) {
        (self.gamma_r.sample(rng) / self.alpha, self.beta.sample(rng))
    }

    fn run(
        &self,
        rng: &mut SimRng,
        latent: Latent,
        calibration_end: f64,
        end: f64,
        purchase: &mut dyn FnMut(&mut SimRng, f64) -> Result<()>,
    ) -> Result<bool> {
        let (p, lambda) = (latent.dropout, latent.lambda);
        // Uniform [0, 1) < p: p = 0 never drops, p = 1 always drops.
        if self.dropout_after_first && rng.r#gen::<f64>() < p {
            return Ok(false); // dropped at birth <= calibration end
        }
        let mut t = latent.birth;
        loop {
            let gap: f64 = Exp1.sample(rng);
            t += gap / lambda;
            // Also stops on λ = 0 (t = ∞).
            if t.is_nan() || t > end {
                return Ok(true);
            }
            purchase(rng, t)?;
            if rng.r#gen::<f64>() < p {
                return Ok(t > calibration_end);
            }
        }
    }
}
