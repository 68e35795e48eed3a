//! Diagnoses any maximum-likelihood fit can get from its diagnostics and its data alone,
//! whatever the model: estimates that are only a point on a flat ridge, and too few
//! informative customers. The family-specific ones (no dropout, Poisson limit) are in
//! `crate::models::diagnosis`.

use super::{FitDiagnostics, FitWarning, GroupedRfm, WarningCode};

/// Above this ratio of standard error to estimate, a parameter is not estimated at all.
/// Standard errors are delta-method ones, SE(θ) = θ·SE(ln θ), so SE/θ is the standard
/// error of ln θ: at 10, a 95% interval spans e^±20, over seventeen orders of magnitude.
/// Ordinary fits sit far below (CDNOW: at most 0.5); the degenerate ones seen in practice
/// far above (MBG/NBD on a retail log: 850,000).
pub const MAX_RELATIVE_STANDARD_ERROR: f64 = 10.0;

/// Below this many customers with a repeat purchase (x > 0), a purchase/dropout fit is
/// not to be trusted. Those customers carry all the information on how purchase rates
/// differ and when customers leave (under BG/NBD a customer with x = 0 says nothing about
/// dropout at all); with fewer than 100, each of four parameters rests on some twenty-five
/// of them, and refits of simulated populations of that size scatter by more than the
/// estimates themselves.
pub const MIN_REPEAT_CUSTOMERS: f64 = 100.0;

/// Parameters whose standard error exceeds [`MAX_RELATIVE_STANDARD_ERROR`] times their
/// value, named in one warning.
pub fn imprecise_estimates(params: &[f64], diagnostics: &FitDiagnostics) -> Option<FitWarning> {
    let loose: Vec<String> = diagnostics
        .param_names
        .iter()
        .zip(params)
        .zip(&diagnostics.standard_errors)
        .filter_map(|((name, &value), se)| {
            let ratio = se.map(|se| se / value.abs())?;
            // A non-finite ratio (an infinite standard error) is as imprecise as it gets.
            (ratio > MAX_RELATIVE_STANDARD_ERROR || !ratio.is_finite()).then(|| {
                format!(
                    "{name} = {value:.4e} ± {:.4e} ({ratio:.3e}×)",
                    se.unwrap_or(f64::NAN)
                )
            })
        })
        .collect();
    (!loose.is_empty()).then(|| {
        FitWarning::new(
            WarningCode::ImpreciseEstimates,
            format!(
                "standard error above {MAX_RELATIVE_STANDARD_ERROR}× the estimate for {}: the \
                 parameters lie on a flat ridge of the likelihood and are not precise estimates; \
                 the fit is one point of many that explain the data equally well",
                loose.join(", ")
            ),
        )
    })
}

/// A warning when fewer than [`MIN_REPEAT_CUSTOMERS`] customers (by weight) have x > 0.
pub fn few_repeat_customers(data: &GroupedRfm) -> Option<FitWarning> {
    let repeat: f64 = data
        .frequency
        .iter()
        .zip(&data.weight)
        .filter(|(x, _)| **x > 0)
        .map(|(_, w)| w)
        .sum();
    (repeat < MIN_REPEAT_CUSTOMERS).then(|| {
        FitWarning::new(
            WarningCode::FewRepeatCustomers,
            format!(
                "only {repeat} customers have a repeat purchase (fewer than \
                 {MIN_REPEAT_CUSTOMERS}): they carry what the data say about purchase-rate \
                 differences and dropout, too little to estimate the model's parameters"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rfm;

    fn diagnostics(ses: Vec<Option<f64>>) -> FitDiagnostics {
        FitDiagnostics {
            model: "test".into(),
            converged: true,
            method: String::new(),
            iterations: 0,
            evaluations: 0,
            gradient_norm: 0.0,
            log_likelihood: 0.0,
            n_observations: 1.0,
            n_groups: 1,
            n_params: ses.len(),
            aic: 0.0,
            bic: 0.0,
            param_names: ["r", "alpha", "a", "b"][..ses.len()]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            standard_errors: ses,
            message: String::new(),
            warnings: vec![],
        }
    }

    #[test]
    fn imprecise_estimates_name_the_loose_parameters_only() {
        let params = [0.5, 10.0, 1e-3, 2.0];
        let ok = diagnostics(vec![Some(0.05), Some(1.0), Some(9e-3), None]);
        assert_eq!(imprecise_estimates(&params, &ok), None);
        let ridge = diagnostics(vec![
            Some(0.05),
            Some(1.0),
            Some(850.0),
            Some(f64::INFINITY),
        ]);
        let w = imprecise_estimates(&params, &ridge).unwrap();
        assert_eq!(w.code, WarningCode::ImpreciseEstimates);
        assert!(
            w.message.contains("a = ") && w.message.contains("b = "),
            "{}",
            w.message
        );
        assert!(!w.message.contains("alpha = "), "{}", w.message);
        assert!(w.message.contains("ridge"), "{}", w.message);
    }

    #[test]
    fn few_repeat_customers_counts_weights_of_x_above_zero() {
        let rows = [
            Rfm::new(0, 0.0, 10.0).unwrap(),
            Rfm::new(2, 5.0, 10.0).unwrap(),
        ];
        let few = GroupedRfm::build(&rows, Some(&[1000.0, 99.0])).unwrap();
        let w = few_repeat_customers(&few).unwrap();
        assert!(w.message.contains("only 99 customers"), "{}", w.message);
        let enough = GroupedRfm::build(&rows, Some(&[1.0, 100.0])).unwrap();
        assert_eq!(few_repeat_customers(&enough), None);
    }
}
