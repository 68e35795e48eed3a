//! One interface over the three purchase/dropout models, with the time unit attached.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::bgnbd::{self, Variant};
use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::fit::{FitOptions, Fitted, GroupedRfm};
use crate::params::{BetaGeoParams, ParetoNbdParams};
use crate::{mbgnbd, pareto_nbd};

/// Which transaction model to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransactionModelKind {
    BgNbd,
    MbgNbd,
    ParetoNbd,
}

impl TransactionModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionModelKind::BgNbd => "bgnbd",
            TransactionModelKind::MbgNbd => "mbgnbd",
            TransactionModelKind::ParetoNbd => "pareto-nbd",
        }
    }
}

impl fmt::Display for TransactionModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TransactionModelKind {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['/', '_'], "-")
            .as_str()
        {
            "bgnbd" | "bg-nbd" => Ok(TransactionModelKind::BgNbd),
            "mbgnbd" | "mbg-nbd" => Ok(TransactionModelKind::MbgNbd),
            "pareto-nbd" | "paretonbd" | "pnbd" => Ok(TransactionModelKind::ParetoNbd),
            other => Err(ModelError::invalid(
                "model",
                format!(
                    "unknown transaction model {other:?}; expected bgnbd, mbgnbd or pareto-nbd"
                ),
            )),
        }
    }
}

/// A fitted purchase/dropout model. Its rates are per unit of the data it was fitted on;
/// that unit travels with it in [`crate::CustomerModel`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "kebab-case")]
pub enum TransactionModel {
    BgNbd(BetaGeoParams),
    MbgNbd(BetaGeoParams),
    ParetoNbd(ParetoNbdParams),
}

impl TransactionModel {
    /// Fits `kind` by maximum likelihood on grouped summaries.
    pub fn fit(
        kind: TransactionModelKind,
        data: &GroupedRfm,
        opts: &FitOptions,
    ) -> Result<Fitted<TransactionModel>> {
        Ok(match kind {
            TransactionModelKind::BgNbd => {
                let f = bgnbd::fit(data, opts)?;
                Fitted {
                    params: TransactionModel::BgNbd(f.params),
                    diagnostics: f.diagnostics,
                }
            }
            TransactionModelKind::MbgNbd => {
                let f = mbgnbd::fit(data, opts)?;
                Fitted {
                    params: TransactionModel::MbgNbd(f.params),
                    diagnostics: f.diagnostics,
                }
            }
            TransactionModelKind::ParetoNbd => {
                let f = pareto_nbd::fit(data, opts)?;
                Fitted {
                    params: TransactionModel::ParetoNbd(f.params),
                    diagnostics: f.diagnostics,
                }
            }
        })
    }

    pub fn kind(&self) -> TransactionModelKind {
        match self {
            TransactionModel::BgNbd(_) => TransactionModelKind::BgNbd,
            TransactionModel::MbgNbd(_) => TransactionModelKind::MbgNbd,
            TransactionModel::ParetoNbd(_) => TransactionModelKind::ParetoNbd,
        }
    }

    /// Parameters as (name, value) pairs, in the order the model defines them.
    pub fn named_params(&self) -> Vec<(&'static str, f64)> {
        match self {
            TransactionModel::BgNbd(p) | TransactionModel::MbgNbd(p) => {
                vec![("r", p.r), ("alpha", p.alpha), ("a", p.a), ("b", p.b)]
            }
            TransactionModel::ParetoNbd(p) => {
                vec![("r", p.r), ("alpha", p.alpha), ("s", p.s), ("beta", p.beta)]
            }
        }
    }

    pub fn log_likelihood(&self, data: &GroupedRfm) -> f64 {
        match self {
            TransactionModel::BgNbd(p) => bgnbd::log_likelihood(data, p),
            TransactionModel::MbgNbd(p) => mbgnbd::log_likelihood(data, p),
            TransactionModel::ParetoNbd(p) => pareto_nbd::log_likelihood(data, p),
        }
    }

    /// P(alive at T | x, t_x, T).
    pub fn p_alive(&self, c: &Rfm) -> Result<f64> {
        match self {
            TransactionModel::BgNbd(p) => Ok(bgnbd::p_alive(p, Variant::Classic, c)),
            TransactionModel::MbgNbd(p) => Ok(bgnbd::p_alive(p, Variant::Modified, c)),
            TransactionModel::ParetoNbd(p) => pareto_nbd::p_alive(p, c),
        }
    }

    /// P(alive at T + t | x, t_x, T).
    pub fn p_alive_at(&self, c: &Rfm, t: f64) -> Result<f64> {
        bgnbd::check_horizon(t)?;
        match self {
            TransactionModel::BgNbd(p) => Ok(bgnbd::p_alive_at(p, Variant::Classic, c, t)),
            TransactionModel::MbgNbd(p) => Ok(bgnbd::p_alive_at(p, Variant::Modified, c, t)),
            TransactionModel::ParetoNbd(p) => pareto_nbd::p_alive_at(p, c, t),
        }
    }

    /// E[X(T, T+t] | x, t_x, T]: expected repeat purchases in the next t.
    pub fn expected_purchases(&self, c: &Rfm, t: f64) -> Result<f64> {
        bgnbd::check_horizon(t)?;
        match self {
            TransactionModel::BgNbd(p) => Ok(bgnbd::expected_purchases(p, Variant::Classic, c, t)),
            TransactionModel::MbgNbd(p) => {
                Ok(bgnbd::expected_purchases(p, Variant::Modified, c, t))
            }
            TransactionModel::ParetoNbd(p) => pareto_nbd::expected_purchases(p, c, t),
        }
    }

    /// P(exactly n purchases in (T, T+t] | x, t_x, T).
    pub fn prob_purchases(&self, c: &Rfm, t: f64, n: u32) -> Result<f64> {
        bgnbd::check_horizon(t)?;
        match self {
            TransactionModel::BgNbd(p) => Ok(bgnbd::prob_n_purchases(p, Variant::Classic, c, t, n)),
            TransactionModel::MbgNbd(p) => {
                Ok(bgnbd::prob_n_purchases(p, Variant::Modified, c, t, n))
            }
            TransactionModel::ParetoNbd(p) => pareto_nbd::prob_n_purchases(p, c, t, n),
        }
    }

    /// Repeat-purchase propensity: P(at least one purchase in (T, T+t] | x, t_x, T).
    pub fn propensity(&self, c: &Rfm, t: f64) -> Result<f64> {
        bgnbd::check_horizon(t)?;
        match self {
            TransactionModel::BgNbd(p) => Ok(bgnbd::propensity(p, Variant::Classic, c, t)),
            TransactionModel::MbgNbd(p) => Ok(bgnbd::propensity(p, Variant::Modified, c, t)),
            TransactionModel::ParetoNbd(p) => pareto_nbd::propensity(p, c, t),
        }
    }

    /// E[X(t)] for a customer acquired now (first purchase at 0).
    pub fn expected_purchases_new_customer(&self, t: f64) -> Result<f64> {
        bgnbd::check_horizon(t)?;
        Ok(match self {
            TransactionModel::BgNbd(p) => bgnbd::expected_new_customer(p, Variant::Classic, t),
            TransactionModel::MbgNbd(p) => bgnbd::expected_new_customer(p, Variant::Modified, t),
            TransactionModel::ParetoNbd(p) => pareto_nbd::expected_new_customer(p, t),
        })
    }

    /// Pareto/NBD discounted expected residual transactions for a continuous discount rate
    /// `delta` per time unit; other models answer with an error.
    pub fn dert(&self, c: &Rfm, delta: f64) -> Result<f64> {
        match self {
            TransactionModel::ParetoNbd(p) => pareto_nbd::dert(p, c, delta),
            _ => Err(ModelError::invalid(
                "model",
                "DERT is defined for the Pareto/NBD model only",
            )),
        }
    }
}
