//! Structured fit warnings: a stable code a program can match on, and a message a person
//! reads. The API exposes `{code, message}`; the codes' snake_case spellings are part of it
//! and must never change (add a new code instead).
//!
//! Records written before warnings had codes stored them as plain strings; those still
//! load, each as one warning whose code is recovered from the known messages of that time
//! or is `unclassified`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// What a warning is about. Serialised as the snake_case name, which is also
/// [`WarningCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// L-BFGS stalled and the optimizer fell back to Nelder-Mead.
    OptimizerFallback,
    /// The Hessian at the optimum is not positive definite: no standard errors.
    HessianNotPositiveDefinite,
    /// The Hessian could not be evaluated at the optimum: no standard errors.
    StandardErrorsUnavailable,
    /// Gamma-Gamma with q ≤ 1: the population mean spend is infinite.
    SpendMeanUndefined,
    /// The fitted dropout process loses (almost) nobody: P(alive) = 1 for everyone.
    NoDropout,
    /// The purchase-rate Gamma(r, α) has collapsed to a single Poisson rate.
    PoissonLimit,
    /// Standard errors far above the estimates: the optimum is a point on a flat ridge.
    ImpreciseEstimates,
    /// Too few customers with a repeat purchase to identify the model's parameters.
    FewRepeatCustomers,
    /// Holdout predictions off in one direction in every frequency bin
    /// (`crate::predict::holdout_diagnosis`).
    HoldoutBias,
    /// Holdout error concentrated in a few calendar periods: a season or an event the model
    /// cannot express (`crate::predict::seasonality`).
    SeasonalitySuspected,
    /// Customers whose first purchase is in the holdout were left out of the fit (server).
    HoldoutBirthsLeftOut,
    /// Customers with repeat purchases but zero spend were left out of the spend fit
    /// (server).
    ZeroSpendLeftOut,
    /// A warning from a record written before warnings had codes, or written by a newer
    /// version with a code this one does not know.
    #[serde(other)]
    Unclassified,
}

impl WarningCode {
    /// Every code, for tests and documentation.
    pub const ALL: &'static [WarningCode] = &[
        WarningCode::OptimizerFallback,
        WarningCode::HessianNotPositiveDefinite,
        WarningCode::StandardErrorsUnavailable,
        WarningCode::SpendMeanUndefined,
        WarningCode::NoDropout,
        WarningCode::PoissonLimit,
        WarningCode::ImpreciseEstimates,
        WarningCode::FewRepeatCustomers,
        WarningCode::HoldoutBias,
        WarningCode::SeasonalitySuspected,
        WarningCode::HoldoutBirthsLeftOut,
        WarningCode::ZeroSpendLeftOut,
        WarningCode::Unclassified,
    ];

    /// The stable spelling, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::OptimizerFallback => "optimizer_fallback",
            WarningCode::HessianNotPositiveDefinite => "hessian_not_positive_definite",
            WarningCode::StandardErrorsUnavailable => "standard_errors_unavailable",
            WarningCode::SpendMeanUndefined => "spend_mean_undefined",
            WarningCode::NoDropout => "no_dropout",
            WarningCode::PoissonLimit => "poisson_limit",
            WarningCode::ImpreciseEstimates => "imprecise_estimates",
            WarningCode::FewRepeatCustomers => "few_repeat_customers",
            WarningCode::HoldoutBias => "holdout_bias",
            WarningCode::SeasonalitySuspected => "seasonality_suspected",
            WarningCode::HoldoutBirthsLeftOut => "holdout_births_left_out",
            WarningCode::ZeroSpendLeftOut => "zero_spend_left_out",
            WarningCode::Unclassified => "unclassified",
        }
    }

    /// The code of a warning stored as a plain string by an older version, recognised by
    /// how those messages began.
    fn of_legacy_message(message: &str) -> WarningCode {
        const KNOWN: &[(&str, WarningCode)] = &[
            ("L-BFGS stopped", WarningCode::OptimizerFallback),
            (
                "Hessian is not positive definite",
                WarningCode::HessianNotPositiveDefinite,
            ),
            (
                "Hessian could not be evaluated",
                WarningCode::StandardErrorsUnavailable,
            ),
            ("q = ", WarningCode::SpendMeanUndefined),
        ];
        let server_suffixes: &[(&str, WarningCode)] = &[
            (
                "whose first purchase is in the holdout were left out",
                WarningCode::HoldoutBirthsLeftOut,
            ),
            (
                "zero spend were left out of the spend fit",
                WarningCode::ZeroSpendLeftOut,
            ),
        ];
        KNOWN
            .iter()
            .find(|(start, _)| message.starts_with(start))
            .or_else(|| {
                server_suffixes
                    .iter()
                    .find(|(end, _)| message.ends_with(end))
            })
            .map_or(WarningCode::Unclassified, |&(_, code)| code)
    }
}

impl fmt::Display for WarningCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a fit wants its reader to know.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitWarning {
    pub code: WarningCode,
    pub message: String,
}

impl FitWarning {
    pub fn new(code: WarningCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// `code: message`, the form plain-string consumers (the proto's `warnings`, logs) get.
impl fmt::Display for FitWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Reads either shape: `{"code", "message"}` or a plain string from an older record.
impl<'de> Deserialize<'de> for FitWarning {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Structured {
            code: WarningCode,
            message: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Structured(Structured),
            Legacy(String),
        }
        Ok(match Stored::deserialize(d)? {
            Stored::Structured(s) => FitWarning::new(s.code, s.message),
            Stored::Legacy(message) => {
                FitWarning::new(WarningCode::of_legacy_message(&message), message)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_stable_names() {
        for &code in WarningCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<WarningCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn both_shapes_load_and_unknown_codes_degrade() {
        let w = FitWarning::new(WarningCode::NoDropout, "P(alive) = 1");
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#"{"code":"no_dropout","message":"P(alive) = 1"}"#);
        assert_eq!(serde_json::from_str::<FitWarning>(&json).unwrap(), w);
        let old: FitWarning = serde_json::from_str(
            r#""Hessian is not positive definite: standard errors unavailable""#,
        )
        .unwrap();
        assert_eq!(old.code, WarningCode::HessianNotPositiveDefinite);
        let old: FitWarning = serde_json::from_str(
            r#""12 customers whose first purchase is in the holdout were left out""#,
        )
        .unwrap();
        assert_eq!(old.code, WarningCode::HoldoutBirthsLeftOut);
        let old: FitWarning = serde_json::from_str(r#""something else""#).unwrap();
        assert_eq!(old.code, WarningCode::Unclassified);
        // A newer version's code still loads here.
        let newer: FitWarning =
            serde_json::from_str(r#"{"code":"from_the_future","message":"m"}"#).unwrap();
        assert_eq!(newer.code, WarningCode::Unclassified);
        assert_eq!(newer.to_string(), "unclassified: m");
    }

    #[test]
    fn an_old_records_diagnostics_still_load() {
        // FitDiagnostics as stored before warnings had codes.
        let old = r#"{"model":"BG/NBD","converged":true,"method":"Newton","iterations":9,
            "evaluations":10,"gradient_norm":1e-14,"log_likelihood":-9582.4,
            "n_observations":2357.0,"n_groups":1411,"n_params":4,"aic":19172.8,"bic":19195.9,
            "param_names":["r","alpha","a","b"],"standard_errors":[0.01,0.2,null,0.3],
            "message":"converged",
            "warnings":["Hessian is not positive definite: standard errors unavailable"]}"#;
        let d: crate::fit::FitDiagnostics = serde_json::from_str(old).unwrap();
        assert_eq!(
            d.warnings,
            [FitWarning::new(
                WarningCode::HessianNotPositiveDefinite,
                "Hessian is not positive definite: standard errors unavailable"
            )]
        );
        assert!(d.has_warning(WarningCode::HessianNotPositiveDefinite));
        // And what is written now reads back the same.
        let again = serde_json::to_string(&d).unwrap();
        assert!(
            again.contains(r#""code":"hessian_not_positive_definite""#),
            "{again}"
        );
        assert_eq!(
            serde_json::from_str::<crate::fit::FitDiagnostics>(&again).unwrap(),
            d
        );
    }
}
