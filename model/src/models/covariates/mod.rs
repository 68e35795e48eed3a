//! Static (time-invariant) customer covariates on the purchase and dropout processes.
//!
//! * [`schema`]: raw named columns (numeric, categorical), the encoder learned at fit time
//!   (one-hot against a reference level, optional centring) and the dense matrix it makes.
//! * [`data`]: grouping of identical (x, t_x, T, covariates) rows for the likelihood.
//! * [`beta_geo`]: BG/NBD and MBG/NBD with covariates — likelihood, fit, the fitted model
//!   (serialisable with its schemas) and its per-customer predictions.
//! * [`simulate`]: customers with known covariate effects, for recovery tests.
//!
//! A covariate model is its own type rather than a registered [`super::TransactionFamily`]:
//! the family seam's predictions take an [`crate::Rfm`] alone, while these need each
//! customer's covariates. Each customer's predictions are the plain family's at that
//! customer's parameters, so nothing numerical is duplicated; the families' code paths are
//! untouched when there are no covariates.

pub mod beta_geo;
pub mod data;
pub mod schema;
pub mod simulate;

pub use beta_geo::{
    BetaGeoCovariates, CovariateFitOptions, CovariateScore, fit_bgnbd_covariates,
    fit_mbgnbd_covariates,
};
pub use data::CovariateData;
pub use schema::{
    ColumnEncoding, CovariateMatrix, CovariateSchema, CovariateValues, RawCovariates, SchemaColumn,
    SchemaSpec,
};
pub use simulate::{
    CovariateDistribution, CovariateSimulationSpec, SimulatedCovariateCustomers,
    simulate_covariate_customers,
};
