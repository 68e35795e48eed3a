//! Gamma-Gamma model of spend per transaction (Fader & Hardie 2013 note; Colombo & Jiang 1999).
//!
//! Each transaction value z ~ Gamma(p, ν) with ν ~ Gamma(q, v) across customers; only
//! customers with at least one repeat purchase inform the fit (their mean repeat spend m
//! over x transactions). The population mean spend p·v/(q−1) exists only for q > 1: when a
//! fit lands at q ≤ 1 that is reported as a diagnostic, and predictions that would need the
//! infinite mean are refused rather than returned as negative numbers (a trap lifetimes
//! falls into).

use rustc_hash::FxHashMap;

use crate::error::{ModelError, Result};
use crate::fit::{self, FitOptions, FitWarning, Fitted, LogLikelihood, WarningCode};
use crate::models::params::GammaGammaParams;
use crate::numerics::special::{digamma, ln_gamma};

/// Customers with x ≥ 1 grouped by identical (x, mean spend).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendData {
    pub frequency: Vec<u32>,
    pub monetary_value: Vec<f64>,
    pub weight: Vec<f64>,
    /// Customers left out because x = 0 (no repeat spend to learn from).
    pub excluded_zero_frequency: usize,
}

impl SpendData {
    /// Builds the fit input from per-customer (frequency, mean repeat spend). Customers with
    /// x = 0 are skipped and counted; a customer with x ≥ 1 needs a finite spend > 0.
    pub fn build(frequency: &[u32], monetary_value: &[f64]) -> Result<Self> {
        if frequency.len() != monetary_value.len() {
            return Err(ModelError::invalid(
                "monetary_value",
                format!(
                    "expected {} values, got {}",
                    frequency.len(),
                    monetary_value.len()
                ),
            ));
        }
        let mut index: FxHashMap<(u32, u64), usize> = FxHashMap::default();
        let mut out = SpendData::default();
        for (i, (&x, &m)) in frequency.iter().zip(monetary_value).enumerate() {
            if x == 0 {
                out.excluded_zero_frequency += 1;
                continue;
            }
            if !(m.is_finite() && m > 0.0) {
                return Err(ModelError::invalid(
                    format!("customers[{i}].monetary_value"),
                    format!("must be finite and > 0 for a customer with repeat purchases, got {m}"),
                ));
            }
            match index.get(&(x, m.to_bits())) {
                Some(&g) => out.weight[g] += 1.0,
                None => {
                    index.insert((x, m.to_bits()), out.frequency.len());
                    out.frequency.push(x);
                    out.monetary_value.push(m);
                    out.weight.push(1.0);
                }
            }
        }
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }
}

/// The likelihood, with what does not change between evaluations computed once (ln m per
/// row, each row's index into the distinct frequencies), so that the ln Γ and ψ terms,
/// which depend on x and the parameters only, are taken once per distinct frequency per
/// evaluation instead of once per row.
struct GammaGammaLikelihood<'a> {
    data: &'a SpendData,
    ln_m: Vec<f64>,
    /// Each row's x as an index into `xs`.
    x_index: Vec<u32>,
    /// The distinct frequencies.
    xs: Vec<f64>,
    total_weight: f64,
}

/// Terms of one distinct frequency x at the current (p, q).
#[derive(Clone, Copy, Default)]
struct FrequencyTerms {
    x: f64,
    px: f64,
    /// ln Γ(px + q) − ln Γ(px) + px·ln x.
    ll: f64,
    /// ψ(px + q) − ψ(px) + ln x.
    d_p: f64,
    /// ψ(px + q).
    d_q: f64,
}

impl<'a> GammaGammaLikelihood<'a> {
    fn new(data: &'a SpendData) -> Self {
        let mut index: FxHashMap<u32, u32> = FxHashMap::default();
        let mut xs = Vec::new();
        let x_index = data
            .frequency
            .iter()
            .map(|&x| {
                *index.entry(x).or_insert_with(|| {
                    xs.push(f64::from(x));
                    (xs.len() - 1) as u32
                })
            })
            .collect();
        GammaGammaLikelihood {
            data,
            ln_m: data.monetary_value.iter().map(|m| m.ln()).collect(),
            x_index,
            xs,
            total_weight: data.weight.iter().sum(),
        }
    }
}

impl LogLikelihood for GammaGammaLikelihood<'_> {
    const MODEL: &'static str = "Gamma-Gamma";
    const PARAM_NAMES: &'static [&'static str] = &["p", "q", "v"];

    fn ll_grad(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let (p, q, v) = (params[0], params[1], params[2]);
        let d = self.data;
        let terms: Vec<FrequencyTerms> = self
            .xs
            .iter()
            .map(|&x| {
                let px = p * x;
                let (ln_x, dg_pxq) = (x.ln(), digamma(px + q));
                FrequencyTerms {
                    x,
                    px,
                    ll: ln_gamma(px + q) - ln_gamma(px) + px * ln_x,
                    d_p: dg_pxq - digamma(px) + ln_x,
                    d_q: dg_pxq,
                }
            })
            .collect();
        // Per row: LL = w·[ll(x) + (px − 1)·ln m − (px + q)·ln(xm + v)] plus the constant
        // −ln Γ(q) + q·ln v; d/dp = w·x·[d_p(x) + ln m − ln(xm + v)];
        // d/dq = w·[ψ(px + q) − ln(xm + v)] plus ln v − ψ(q); d/dv = w·[q/v − (px + q)/(xm + v)].
        let s = fit::chunked_sum(d.len(), |start, end| {
            let mut acc = [0.0f64; 4];
            for i in start..end {
                let t = terms[self.x_index[i] as usize];
                let (ln_m, w) = (self.ln_m[i], d.weight[i]);
                let xm_v = t.x * d.monetary_value[i] + v;
                let ln_xm_v = xm_v.ln();
                let pxq = t.px + q;
                acc[0] += w * (t.ll + (t.px - 1.0) * ln_m - pxq * ln_xm_v);
                acc[1] += w * t.x * (t.d_p + ln_m - ln_xm_v);
                acc[2] += w * (t.d_q - ln_xm_v);
                acc[3] += w * pxq / xm_v;
            }
            acc
        });
        let (ln_v, total) = (v.ln(), self.total_weight);
        grad[0] = s[1];
        grad[1] = s[2] + total * (ln_v - digamma(q));
        grad[2] = total * q / v - s[3];
        s[0] + total * (q * ln_v - ln_gamma(q))
    }

    fn total_weight(&self) -> f64 {
        self.total_weight
    }

    fn groups(&self) -> usize {
        self.data.len()
    }

    fn initial_guess(&self) -> Vec<f64> {
        // Moment start: mean spend ≈ p·v/(q−1) with q = 2, p = 1.
        let (mut s, mut w) = (0.0, 0.0);
        for i in 0..self.data.len() {
            s += self.data.weight[i] * self.data.monetary_value[i];
            w += self.data.weight[i];
        }
        vec![1.0, 2.0, (s / w).max(1e-6)]
    }
}

/// Fits Gamma-Gamma by maximum likelihood. A fit with q ≤ 1 carries a warning: the
/// population mean spend is infinite, so only customers with p·x + q > 1 get a prediction.
pub fn fit(data: &SpendData, opts: &FitOptions) -> Result<Fitted<GammaGammaParams>> {
    if data.is_empty() {
        return Err(ModelError::InsufficientData {
            model: "Gamma-Gamma",
            reason: "no customer has a repeat purchase with positive spend".into(),
        });
    }
    let ll = GammaGammaLikelihood::new(data);
    let raw = fit::maximize(&ll, opts)?;
    let params = GammaGammaParams::from_slice(&raw.params);
    let mut diagnostics = raw.diagnostics;
    if params.q <= 1.0 {
        diagnostics.warnings.push(FitWarning::new(
            WarningCode::SpendMeanUndefined,
            format!(
                "q = {:.4} <= 1: the population mean spend p*v/(q-1) is infinite; expected spend is undefined \
                 for customers with p*x + q <= 1 (including every customer without repeat purchases)",
                params.q
            ),
        ));
    }
    Ok(Fitted {
        params,
        diagnostics,
    })
}

/// Total log-likelihood of `data` under `params`.
pub fn log_likelihood(data: &SpendData, params: &GammaGammaParams) -> f64 {
    GammaGammaLikelihood::new(data).ll_grad(&params.to_vec(), &mut [0.0; 3])
}

impl GammaGammaParams {
    /// Population mean spend per transaction, p·v/(q−1); `None` when q ≤ 1 (infinite).
    pub fn population_mean_spend(&self) -> Option<f64> {
        (self.q > 1.0).then(|| self.p * self.v / (self.q - 1.0))
    }

    /// E[Z | x, m]: expected spend per future transaction of a customer with x repeat
    /// purchases of mean value m, p·(v + x·m)/(p·x + q − 1). `None` when p·x + q ≤ 1, where
    /// the posterior mean does not exist (never a negative value).
    pub fn expected_spend(&self, frequency: u32, monetary_value: f64) -> Option<f64> {
        let x = frequency as f64;
        let m = if frequency == 0 { 0.0 } else { monetary_value };
        let denom = self.p * x + self.q - 1.0;
        if denom <= 0.0 || !m.is_finite() || m < 0.0 {
            return None;
        }
        Some(self.p * (self.v + x * m) / denom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_central_differences() {
        let data = SpendData::build(&[1, 2, 5, 1, 0], &[10.0, 25.5, 40.0, 10.0, 0.0]).unwrap();
        assert_eq!(data.len(), 3);
        assert_eq!(data.excluded_zero_frequency, 1);
        let ll = GammaGammaLikelihood::new(&data);
        assert_eq!(ll.total_weight, 4.0);
        crate::fit::assert_gradient_matches(&ll, &[6.25, 3.74, 15.44], "Gamma-Gamma");
    }

    /// The per-frequency tables give the per-row formula's value and gradient.
    #[test]
    fn tabulated_terms_match_the_row_by_row_formula() {
        let freq: Vec<u32> = (0..5_000u32)
            .map(|i| [1, 2, 3, 7, 40, 1_000][i as usize % 6])
            .collect();
        let spend: Vec<f64> = (0..5_000)
            .map(|i| 0.5 + f64::from(i % 997) * 0.731)
            .collect();
        let data = SpendData::build(&freq, &spend).unwrap();
        let ll = GammaGammaLikelihood::new(&data);
        for (p, q, v) in [(6.25, 3.74, 15.44), (0.3, 0.8, 2.0), (40.0, 12.0, 300.0)] {
            let (mut want, mut want_grad) = (0.0, [0.0; 3]);
            for i in 0..data.len() {
                let x = f64::from(data.frequency[i]);
                let (m, w) = (data.monetary_value[i], data.weight[i]);
                let px = p * x;
                let ln_xm_v = (x * m + v).ln();
                want += w
                    * (ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
                        + q * v.ln()
                        + (px - 1.0) * m.ln()
                        + px * x.ln()
                        - (px + q) * ln_xm_v);
                want_grad[0] += w * x * (digamma(px + q) - digamma(px) + m.ln() + x.ln() - ln_xm_v);
                want_grad[1] += w * (digamma(px + q) - digamma(q) + v.ln() - ln_xm_v);
                want_grad[2] += w * (q / v - (px + q) / (x * m + v));
            }
            let mut grad = [0.0; 3];
            let got = ll.ll_grad(&[p, q, v], &mut grad);
            assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
            for (g, w) in grad.iter().zip(want_grad) {
                // Gradients are sums of terms of both signs: compare on their scale.
                assert!(
                    (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
                    "{grad:?} vs {want_grad:?}"
                );
            }
        }
    }

    #[test]
    fn q_at_or_below_one_never_gives_negative_spend() {
        let p = GammaGammaParams::new(0.2, 0.8, 10.0).unwrap();
        assert_eq!(p.population_mean_spend(), None);
        assert_eq!(p.expected_spend(0, 0.0), None);
        // p·x + q − 1 = 0.2 + 0.8 − 1 = 0: undefined, not infinite or negative.
        assert_eq!(p.expected_spend(1, 20.0), None);
        let e = p.expected_spend(3, 20.0).unwrap();
        assert!(e > 0.0 && e.is_finite());
    }

    #[test]
    fn bad_spend_names_the_customer() {
        let err = SpendData::build(&[1, 2], &[10.0, f64::NAN]).unwrap_err();
        assert!(
            matches!(err, ModelError::InvalidInput { ref field, .. } if field == "customers[1].monetary_value")
        );
    }
}
