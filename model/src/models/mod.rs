//! The customer-base models, one folder or file per family, and the seam they share.
//!
//! * [`family`]: the [`TransactionFamily`] trait a purchase/dropout family implements.
//! * [`registry`]: the one place families are registered and found by name.
//! * [`TransactionModel`]: a family with checked parameters — what fits return, scoring
//!   uses and stores keep.
//! * [`beta_geo`] (BG/NBD, MBG/NBD), [`pareto_nbd`]: the families.
//! * [`covariates`]: static customer covariates on BG/NBD and MBG/NBD (schema, fit,
//!   predictions, simulator).
//! * [`gamma_gamma`]: the spend-per-transaction model.
//! * [`params`]: typed, checked parameter sets of the built-in models.
//! * [`diagnosis`]: what a fit's parameters say about the data (no dropout, Poisson limit…),
//!   run after every transaction-model fit.

pub mod beta_geo;
pub mod covariates;
pub mod diagnosis;
pub mod family;
pub mod gamma_gamma;
pub mod params;
pub mod pareto_nbd;
pub mod registry;
mod transaction;

pub use beta_geo::{BG_NBD, MBG_NBD};
pub use diagnosis::diagnose_fit;
pub use family::{BatchScorer, BatchShape, ChunkColumns, ClvColumns, TransactionFamily};
pub use pareto_nbd::PARETO_NBD;
pub use registry::{families, family, register};
pub use transaction::TransactionModel;

use params::{BetaGeoParams, ParetoNbdParams};

impl TransactionModel {
    /// BG/NBD with typed parameters (already in their domain).
    pub fn bg_nbd(p: BetaGeoParams) -> Self {
        Self::from_checked(&BG_NBD, p.to_vec())
    }

    /// MBG/NBD with typed parameters.
    pub fn mbg_nbd(p: BetaGeoParams) -> Self {
        Self::from_checked(&MBG_NBD, p.to_vec())
    }

    /// Pareto/NBD with typed parameters.
    pub fn pareto_nbd(p: ParetoNbdParams) -> Self {
        Self::from_checked(&PARETO_NBD, p.to_vec())
    }
}
