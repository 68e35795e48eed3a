//! Model parameters. Each set is checked on construction (linfa's `ParamGuard` idea):
//! a value that exists has every component finite and strictly positive.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

fn check_positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ModelError::invalid(
            name,
            format!("must be finite and > 0, got {value}"),
        ))
    }
}

/// BG/NBD and MBG/NBD: purchase rate λ ~ Gamma(shape r, rate α); dropout p ~ Beta(a, b).
/// α is in the time unit of the data it was fitted on (λ is per unit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BetaGeoParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BetaGeoParams {
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self> {
        check_positive("r", r)?;
        check_positive("alpha", alpha)?;
        check_positive("a", a)?;
        check_positive("b", b)?;
        Ok(Self { r, alpha, a, b })
    }

    pub(crate) fn to_vec(self) -> Vec<f64> {
        vec![self.r, self.alpha, self.a, self.b]
    }

    pub(crate) fn from_slice(v: &[f64]) -> Self {
        Self {
            r: v[0],
            alpha: v[1],
            a: v[2],
            b: v[3],
        }
    }
}

/// Pareto/NBD: purchase rate λ ~ Gamma(r, α); dropout rate μ ~ Gamma(s, β).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbdParams {
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<Self> {
        check_positive("r", r)?;
        check_positive("alpha", alpha)?;
        check_positive("s", s)?;
        check_positive("beta", beta)?;
        Ok(Self { r, alpha, s, beta })
    }

    pub(crate) fn to_vec(self) -> Vec<f64> {
        vec![self.r, self.alpha, self.s, self.beta]
    }

    pub(crate) fn from_slice(v: &[f64]) -> Self {
        Self {
            r: v[0],
            alpha: v[1],
            s: v[2],
            beta: v[3],
        }
    }
}

/// Gamma-Gamma spend: each transaction value z ~ Gamma(p, ν); ν ~ Gamma(q, v).
/// (Fader & Hardie call v "γ".) The population mean spend p·v/(q−1) exists only for q > 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl GammaGammaParams {
    pub fn new(p: f64, q: f64, v: f64) -> Result<Self> {
        check_positive("p", p)?;
        check_positive("q", q)?;
        check_positive("v", v)?;
        Ok(Self { p, q, v })
    }

    pub(crate) fn to_vec(self) -> Vec<f64> {
        vec![self.p, self.q, self.v]
    }

    pub(crate) fn from_slice(v: &[f64]) -> Self {
        Self {
            p: v[0],
            q: v[1],
            v: v[2],
        }
    }
}
