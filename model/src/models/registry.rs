//! The one place model families are registered: the built-in list below, plus families a
//! program adds at start-up with [`register`] (a test's toy family, an extension crate's).
//! The service, the CLI, the store and the simulator find families only through here.

use std::sync::{OnceLock, RwLock};

use super::beta_geo::{BG_NBD, MBG_NBD};
use super::family::TransactionFamily;
use super::pareto_nbd::PARETO_NBD;
use crate::error::{ModelError, Result};

/// The families every custval build has, in the order they are listed to users.
/// A new in-tree family is added here, and nowhere else.
static BUILT_IN: [&dyn TransactionFamily; 3] = [&BG_NBD, &MBG_NBD, &PARETO_NBD];

fn added() -> &'static RwLock<Vec<&'static dyn TransactionFamily>> {
    static ADDED: OnceLock<RwLock<Vec<&'static dyn TransactionFamily>>> = OnceLock::new();
    ADDED.get_or_init(|| RwLock::new(Vec::new()))
}

/// Every registered family: the built-in ones, then those added by [`register`].
pub fn families() -> Vec<&'static dyn TransactionFamily> {
    let added = added().read().unwrap_or_else(|e| e.into_inner());
    BUILT_IN
        .iter()
        .copied()
        .chain(added.iter().copied())
        .collect()
}

/// The canonical spelling of a family name: trimmed, lower case, `/` and `_` as `-`.
fn canonical(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['/', '_'], "-")
}

/// The family called `name` (or one of its aliases); the error lists the known names.
pub fn family(name: &str) -> Result<&'static dyn TransactionFamily> {
    let wanted = canonical(name);
    families()
        .into_iter()
        .find(|f| f.name() == wanted || f.aliases().iter().any(|a| *a == wanted))
        .ok_or_else(|| {
            let known: Vec<&str> = families().iter().map(|f| f.name()).collect();
            ModelError::invalid(
                "model",
                format!(
                    "unknown transaction model {name:?}; expected one of {}",
                    known.join(", ")
                ),
            )
        })
}

/// Adds a family for the rest of the process. Refused when its name or an alias is taken,
/// or its name is not lower-case letters, digits and `-`.
pub fn register(family: &'static dyn TransactionFamily) -> Result<()> {
    let name = family.name();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ModelError::invalid(
            "model",
            format!("family name {name:?} must be lower-case letters, digits and '-'"),
        ));
    }
    // "auto" asks the service for a competition among all families: no family may take it.
    if name == "auto" || family.aliases().contains(&"auto") {
        return Err(ModelError::invalid(
            "model",
            "\"auto\" is reserved for the competition among all families",
        ));
    }
    let mut added = added().write().unwrap_or_else(|e| e.into_inner());
    let spellings = |f: &dyn TransactionFamily| {
        std::iter::once(f.name().to_string())
            .chain(f.aliases().iter().map(|a| canonical(a)))
            .collect::<Vec<_>>()
    };
    let new = spellings(family);
    for existing in BUILT_IN.iter().copied().chain(added.iter().copied()) {
        if let Some(taken) = spellings(existing).into_iter().find(|s| new.contains(s)) {
            if std::ptr::addr_eq(existing, family) {
                return Ok(()); // the same family again: nothing to do
            }
            return Err(ModelError::invalid(
                "model",
                format!("family name {taken:?} is already registered"),
            ));
        }
    }
    added.push(family);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_resolve() {
        for (spelling, name) in [
            ("bgnbd", "bgnbd"),
            ("BG/NBD", "bgnbd"),
            ("mbg_nbd", "mbgnbd"),
            ("pareto-nbd", "pareto-nbd"),
            ("pnbd", "pareto-nbd"),
        ] {
            assert_eq!(family(spelling).unwrap().name(), name);
        }
        let err = family("gamma").unwrap_err().to_string();
        assert!(err.contains("bgnbd, mbgnbd, pareto-nbd"), "{err}");
    }

    #[test]
    fn a_taken_name_is_refused() {
        assert!(
            register(&BG_NBD).is_ok(),
            "the same family again is a no-op"
        );
        #[derive(Debug)]
        struct Impostor;
        impl TransactionFamily for Impostor {
            fn name(&self) -> &'static str {
                "pnbd"
            }
            fn title(&self) -> &'static str {
                "impostor"
            }
            fn param_names(&self) -> &'static [&'static str] {
                &[]
            }
            fn fit(
                &self,
                _: &crate::fit::GroupedRfm,
                _: &crate::fit::FitOptions,
            ) -> Result<crate::fit::Fitted<Vec<f64>>> {
                unreachable!()
            }
            fn log_likelihood(&self, _: &[f64], _: &crate::fit::GroupedRfm) -> f64 {
                unreachable!()
            }
            fn p_alive(&self, _: &[f64], _: &crate::Rfm) -> Result<f64> {
                unreachable!()
            }
            fn p_alive_at(&self, _: &[f64], _: &crate::Rfm, _: f64) -> Result<f64> {
                unreachable!()
            }
            fn expected_purchases(&self, _: &[f64], _: &crate::Rfm, _: f64) -> Result<f64> {
                unreachable!()
            }
            fn prob_purchases(&self, _: &[f64], _: &crate::Rfm, _: f64, _: u32) -> Result<f64> {
                unreachable!()
            }
            fn propensity(&self, _: &[f64], _: &crate::Rfm, _: f64) -> Result<f64> {
                unreachable!()
            }
            fn expected_new_customer(&self, _: &[f64], _: f64) -> Result<f64> {
                unreachable!()
            }
        }
        let err = register(&Impostor).unwrap_err().to_string();
        assert!(err.contains("already registered"), "{err}");
    }
}
