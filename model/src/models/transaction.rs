//! A fitted purchase/dropout model: a registered family and a parameter vector it has
//! checked. The fields are private, so every `TransactionModel` that exists — built,
//! fitted or read back from a store — has parameters in its family's domain, and scoring
//! never re-checks them.
//!
//! Stored as `{"kind": "<family>", "params": {"<name>": value, …}}` (plus `"covariates"`
//! when a family uses them); records written before families were plug-ins (`"bg-nbd"`)
//! read back through the family's aliases.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::family::TransactionFamily;
use super::registry;
use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::fit::{FitOptions, Fitted, GroupedRfm};

/// A family with parameters in its domain. Rates are per unit of the data it was fitted
/// on; that unit travels with it in [`crate::CustomerModel`].
#[derive(Clone)]
pub struct TransactionModel {
    family: &'static dyn TransactionFamily,
    params: Vec<f64>,
    covariates: Vec<String>,
}

impl fmt::Debug for TransactionModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionModel")
            .field("family", &self.family.name())
            .field("params", &self.named_params())
            .finish()
    }
}

impl PartialEq for TransactionModel {
    fn eq(&self, other: &Self) -> bool {
        self.family.name() == other.family.name()
            && self.params == other.params
            && self.covariates == other.covariates
    }
}

impl TransactionModel {
    /// Checks `params` (in the family's order) against the family's domain.
    pub fn new(family: &'static dyn TransactionFamily, params: Vec<f64>) -> Result<Self> {
        Self::with_covariates(family, params, Vec::new())
    }

    /// As [`TransactionModel::new`] for a family fitted with covariates.
    pub fn with_covariates(
        family: &'static dyn TransactionFamily,
        params: Vec<f64>,
        covariates: Vec<String>,
    ) -> Result<Self> {
        if !covariates.is_empty() && !family.supports_covariates() {
            return Err(ModelError::invalid(
                "covariates",
                format!("the {} model takes no covariates", family.title()),
            ));
        }
        let names = family.param_names_with(&covariates);
        if params.len() != names.len() {
            return Err(ModelError::invalid(
                "params",
                format!(
                    "the {} model has {} parameters ({}), got {}",
                    family.title(),
                    names.len(),
                    names.join(", "),
                    params.len()
                ),
            ));
        }
        family.check(&params)?;
        Ok(Self {
            family,
            params,
            covariates,
        })
    }

    /// For typed parameter sets whose construction already checked the domain.
    pub(crate) fn from_checked(family: &'static dyn TransactionFamily, params: Vec<f64>) -> Self {
        debug_assert!(family.check(&params).is_ok());
        Self {
            family,
            params,
            covariates: Vec::new(),
        }
    }

    /// The family called `name` with these parameters (by the family's names).
    pub fn from_named(name: &str, named: &[(&str, f64)]) -> Result<Self> {
        Self::from_named_in(registry::family(name)?, Vec::new(), named)
    }

    /// `family` with its parameters given by name (with `covariates`, their coefficients
    /// too): every name the family has must be there, and no other.
    pub fn from_named_in(
        family: &'static dyn TransactionFamily,
        covariates: Vec<String>,
        named: &[(&str, f64)],
    ) -> Result<Self> {
        let names = family.param_names_with(&covariates);
        let params = names
            .iter()
            .map(|p| {
                named
                    .iter()
                    .find(|(n, _)| n == p)
                    .map(|&(_, v)| v)
                    .ok_or_else(|| ModelError::invalid(p.as_str(), "missing parameter"))
            })
            .collect::<Result<Vec<f64>>>()?;
        if let Some((extra, _)) = named.iter().find(|(n, _)| !names.iter().any(|p| p == n)) {
            return Err(ModelError::invalid(
                *extra,
                format!("not a parameter of the {} model", family.title()),
            ));
        }
        Self::with_covariates(family, params, covariates)
    }

    /// Fits `family` by maximum likelihood on grouped summaries, and diagnoses the fit
    /// ([`super::diagnose_fit`]): its warnings say where `converged` does not mean
    /// "estimated".
    pub fn fit(
        family: &'static dyn TransactionFamily,
        data: &GroupedRfm,
        opts: &FitOptions,
    ) -> Result<Fitted<TransactionModel>> {
        let mut fitted = family.fit(data, opts)?;
        let found = super::diagnose_fit(family, &fitted.params, &fitted.diagnostics, data);
        fitted.diagnostics.warnings.extend(found);
        Ok(Fitted {
            params: TransactionModel::new(family, fitted.params)?,
            diagnostics: fitted.diagnostics,
        })
    }

    pub fn family(&self) -> &'static dyn TransactionFamily {
        self.family
    }

    /// The parameter vector in the family's order.
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// The covariates the model was fitted with (empty for the families without).
    pub fn covariates(&self) -> &[String] {
        &self.covariates
    }

    /// Parameters as (name, value) pairs, in the order the family defines them.
    pub fn named_params(&self) -> Vec<(String, f64)> {
        self.family
            .param_names_with(&self.covariates)
            .into_iter()
            .zip(self.params.iter().copied())
            .collect()
    }

    /// The value of the parameter called `name`.
    pub fn param(&self, name: &str) -> Option<f64> {
        self.named_params()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn log_likelihood(&self, data: &GroupedRfm) -> f64 {
        self.family.log_likelihood(&self.params, data)
    }

    /// P(alive at T | x, t_x, T).
    pub fn p_alive(&self, c: &Rfm) -> Result<f64> {
        self.family.p_alive(&self.params, c)
    }

    /// P(alive at T + t | x, t_x, T).
    pub fn p_alive_at(&self, c: &Rfm, t: f64) -> Result<f64> {
        check_horizon(t)?;
        self.family.p_alive_at(&self.params, c, t)
    }

    /// E[X(T, T+t] | x, t_x, T]: expected repeat purchases in the next t.
    pub fn expected_purchases(&self, c: &Rfm, t: f64) -> Result<f64> {
        check_horizon(t)?;
        self.family.expected_purchases(&self.params, c, t)
    }

    /// P(exactly n purchases in (T, T+t] | x, t_x, T).
    pub fn prob_purchases(&self, c: &Rfm, t: f64, n: u32) -> Result<f64> {
        check_horizon(t)?;
        self.family.prob_purchases(&self.params, c, t, n)
    }

    /// Repeat-purchase propensity: P(at least one purchase in (T, T+t] | x, t_x, T).
    pub fn propensity(&self, c: &Rfm, t: f64) -> Result<f64> {
        check_horizon(t)?;
        self.family.propensity(&self.params, c, t)
    }

    /// E[X(t)] for a customer acquired now (first purchase at 0).
    pub fn expected_purchases_new_customer(&self, t: f64) -> Result<f64> {
        check_horizon(t)?;
        self.family.expected_new_customer(&self.params, t)
    }

    /// Discounted expected residual transactions for a continuous discount rate `delta`
    /// per time unit, where the family has a closed form (Pareto/NBD).
    pub fn dert(&self, c: &Rfm, delta: f64) -> Result<f64> {
        self.family.dert(&self.params, c, delta)
    }
}

/// Validates a horizon in model units.
pub(crate) fn check_horizon(t: f64) -> Result<()> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(ModelError::invalid(
            "horizon",
            format!("must be finite and >= 0, got {t}"),
        ))
    }
}

impl Serialize for TransactionModel {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct Params<'a>(&'a TransactionModel);
        impl Serialize for Params<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let named = self.0.named_params();
                let mut map = s.serialize_map(Some(named.len()))?;
                for (name, value) in &named {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
        let with_covariates = !self.covariates.is_empty();
        let mut map = s.serialize_map(Some(2 + usize::from(with_covariates)))?;
        map.serialize_entry("kind", self.family.name())?;
        map.serialize_entry("params", &Params(self))?;
        if with_covariates {
            map.serialize_entry("covariates", &self.covariates)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TransactionModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct ModelVisitor;
        impl<'de> Visitor<'de> for ModelVisitor {
            type Value = TransactionModel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a transaction model {kind, params}")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<TransactionModel, A::Error> {
                let mut kind: Option<String> = None;
                let mut params: Option<Vec<(String, f64)>> = None;
                let mut covariates: Vec<String> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "kind" => kind = Some(map.next_value()?),
                        "params" => params = Some(map.next_value::<OrderedParams>()?.0),
                        "covariates" => covariates = map.next_value()?,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
                let params = params.ok_or_else(|| de::Error::missing_field("params"))?;
                let family = registry::family(&kind).map_err(de::Error::custom)?;
                let named: Vec<(&str, f64)> =
                    params.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                TransactionModel::from_named_in(family, covariates, &named)
                    .map_err(de::Error::custom)
            }
        }
        d.deserialize_map(ModelVisitor)
    }
}

/// A JSON object of parameters, in the order written.
struct OrderedParams(Vec<(String, f64)>);

impl<'de> Deserialize<'de> for OrderedParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedParams;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of parameter values")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<OrderedParams, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, f64>()? {
                    out.push((k, v));
                }
                Ok(OrderedParams(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_old_spellings_load() {
        let m = TransactionModel::from_named(
            "bgnbd",
            &[("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)],
        )
        .unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"bgnbd","params":{"r":0.243,"alpha":4.414,"a":0.793,"b":2.426}}"#
        );
        assert_eq!(serde_json::from_str::<TransactionModel>(&json).unwrap(), m);
        // As records were written before families were plug-ins.
        let old = r#"{"kind":"bg-nbd","params":{"r":0.243,"alpha":4.414,"a":0.793,"b":2.426}}"#;
        assert_eq!(serde_json::from_str::<TransactionModel>(old).unwrap(), m);
        let old =
            r#"{"kind":"pareto-nbd","params":{"r":0.55,"alpha":10.58,"s":0.61,"beta":11.67}}"#;
        let p = serde_json::from_str::<TransactionModel>(old).unwrap();
        assert_eq!(p.family().name(), "pareto-nbd");
        assert_eq!(p.param("beta"), Some(11.67));
    }

    #[test]
    fn out_of_domain_parameters_never_exist() {
        let bad = r#"{"kind":"bgnbd","params":{"r":-1,"alpha":4.414,"a":0.793,"b":2.426}}"#;
        let err = serde_json::from_str::<TransactionModel>(bad).unwrap_err();
        assert!(err.to_string().contains("invalid r"), "{err}");
        let missing = r#"{"kind":"bgnbd","params":{"r":1,"alpha":4.414,"a":0.793}}"#;
        assert!(serde_json::from_str::<TransactionModel>(missing).is_err());
        let extra = r#"{"kind":"bgnbd","params":{"r":1,"alpha":4,"a":0.7,"b":2,"s":1}}"#;
        assert!(serde_json::from_str::<TransactionModel>(extra).is_err());
        let unknown = r#"{"kind":"nope","params":{}}"#;
        assert!(serde_json::from_str::<TransactionModel>(unknown).is_err());
        let family = registry::family("mbgnbd").unwrap();
        assert!(TransactionModel::new(family, vec![1.0, 1.0, 1.0]).is_err());
        assert!(TransactionModel::new(family, vec![1.0, f64::NAN, 1.0, 1.0]).is_err());
        assert!(
            TransactionModel::with_covariates(family, vec![1.0; 4], vec!["income".into()]).is_err()
        );
    }
}
