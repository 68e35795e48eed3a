//! Typed parameter sets of the built-in models, checked on construction and on
//! deserialisation (linfa's `ParamGuard` idea): the fields are private, so a value that
//! exists has every component finite and strictly positive, and the numerics never
//! re-check. Inside the crate the families read the fields directly.

use serde::{Deserialize, Deserializer, Serialize};

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

/// Declares a checked parameter struct: private fields, `new` that checks every one,
/// accessors, conversion to and from the family's vector order, and deserialisation
/// through `new`.
macro_rules! checked_params {
    ($(#[$doc:meta])* $name:ident, $raw:ident { $($field:ident),+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Serialize)]
        pub struct $name {
            $(pub(crate) $field: f64,)+
        }

        /// The unchecked form, as read from a record.
        #[derive(Deserialize)]
        struct $raw {
            $($field: f64,)+
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let raw = $raw::deserialize(d)?;
                Self::new($(raw.$field),+).map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            /// Checks every value: finite and > 0.
            pub fn new($($field: f64),+) -> Result<Self> {
                $(check_positive(stringify!($field), $field)?;)+
                Ok(Self { $($field),+ })
            }

            $(
                pub fn $field(&self) -> f64 {
                    self.$field
                }
            )+

            /// The values in the model's parameter order.
            pub fn to_vec(self) -> Vec<f64> {
                vec![$(self.$field),+]
            }

            /// From a vector in parameter order that a family's check accepted.
            pub(crate) fn from_slice(v: &[f64]) -> Self {
                let mut it = v.iter().copied();
                Self { $($field: it.next().unwrap_or(f64::NAN)),+ }
            }
        }
    };
}

checked_params!(
    /// BG/NBD and MBG/NBD: purchase rate λ ~ Gamma(shape r, rate α); dropout p ~ Beta(a, b).
    /// α is in the time unit of the data it was fitted on (λ is per unit).
    BetaGeoParams,
    RawBetaGeo { r, alpha, a, b }
);

checked_params!(
    /// Pareto/NBD: purchase rate λ ~ Gamma(r, α); dropout rate μ ~ Gamma(s, β).
    ParetoNbdParams,
    RawParetoNbd { r, alpha, s, beta }
);

checked_params!(
    /// Gamma-Gamma spend: each transaction value z ~ Gamma(p, ν); ν ~ Gamma(q, v).
    /// (Fader & Hardie call v "γ".) The population mean spend p·v/(q−1) exists only for q > 1.
    GammaGammaParams,
    RawGammaGamma { p, q, v }
);

impl BetaGeoParams {
    /// The published BG/NBD estimates for the CDNOW sample, in weeks (Fader, Hardie & Lee
    /// 2005): r 0.243, α 4.414, a 0.793, b 2.426.
    pub fn published_cdnow() -> Self {
        Self {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        }
    }
}

impl GammaGammaParams {
    /// The published Gamma-Gamma estimates for the CDNOW sample (Fader, Hardie & Lee 2005):
    /// p 6.25, q 3.74, v 15.44.
    pub fn published_cdnow() -> Self {
        Self {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_domain_values_are_refused_when_read() {
        let ok: BetaGeoParams =
            serde_json::from_str(r#"{"r":0.243,"alpha":4.414,"a":0.793,"b":2.426}"#).unwrap();
        assert_eq!(ok, BetaGeoParams::published_cdnow());
        let err = serde_json::from_str::<GammaGammaParams>(r#"{"p":1,"q":0,"v":2}"#).unwrap_err();
        assert!(err.to_string().contains("invalid q"), "{err}");
        assert!(ParetoNbdParams::new(1.0, 1.0, f64::INFINITY, 1.0).is_err());
    }
}
