//! custval-model: the numerical heart of custval.
//!
//! * [`data`]: time units, per-customer RFM summaries, and [`data::summary`], which turns
//!   transaction logs into them (streaming).
//! * [`bgnbd`], [`mbgnbd`], [`pareto_nbd`]: purchase/dropout models fitted by maximum likelihood.
//! * [`gamma_gamma`]: spend per transaction.
//! * [`clv`]: discounted customer lifetime value over an explicit horizon.
//! * [`evaluate`]: calibration/holdout diagnostics.
//! * [`decide`]: customer segments and value tiers ([`decide::segments`]), and actions under a
//!   budget ([`decide::recommend`]).
//! * [`simulate`]: seeded synthetic customers for tests, benchmarks and parameter recovery.
//! * [`numerics`]: special functions ([`numerics::special`]) and the crate's other numerical
//!   building blocks.
//!
//! No tonic, no tokio: everything here is plain functions over slices.
#![forbid(unsafe_code)]
// Small dense matrices and per-parameter arrays read best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub mod bgnbd;
pub mod clv;
pub mod data;
pub mod decide;
pub mod error;
pub mod evaluate;
pub mod fit;
pub mod gamma_gamma;
pub mod mbgnbd;
pub mod numerics;
pub mod params;
pub mod pareto_nbd;
pub mod score;
pub mod simulate;
pub mod tracking;
pub mod transaction;

pub use clv::{ClvSpec, CustomerModel, Discount};
pub use data::rfm::{CustomerTable, HoldoutColumns, MAX_FREQUENCY, Rfm};
pub use data::units::{Duration, TimeUnit, UnitConversion};
pub use error::{ModelError, Result};
pub use evaluate::{HoldoutReport, holdout_report};
pub use fit::{FitDiagnostics, FitOptions, Fitted, GroupedRfm};
pub use params::{BetaGeoParams, GammaGammaParams, ParetoNbdParams};
pub use score::{CustomerScore, Scores};
pub use transaction::{TransactionModel, TransactionModelKind};
