//! custval-model: the numerical heart of custval.
//!
//! * [`data`]: time units, per-customer RFM summaries, and [`data::summary`], which turns
//!   transaction logs into them (streaming).
//! * [`models`]: the model families (BG/NBD, MBG/NBD, Pareto/NBD; Gamma-Gamma spend), the
//!   [`models::TransactionFamily`] seam a new family implements, and the registry that
//!   lists them.
//! * [`fit`]: grouping of identical rows, the optimizer and the diagnostics every fit
//!   returns.
//! * [`predict`]: batch scoring, CLV over an explicit horizon, calendar-time tracking,
//!   holdout evaluation.
//! * [`decide`]: customer segments and value tiers ([`decide::segments`]), and actions under a
//!   budget ([`decide::recommend`]).
//! * [`simulate`]: seeded synthetic customers for tests, benchmarks and parameter recovery.
//! * [`cancel`]: the token long computations (fits, k-means) check to stop early.
//! * [`numerics`]: special functions ([`numerics::special`]) and the crate's other numerical
//!   building blocks.
//!
//! No tonic, no tokio: everything here is plain functions over slices.
#![forbid(unsafe_code)]
// Small dense matrices and per-parameter arrays read best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub mod cancel;
pub mod data;
pub mod decide;
pub mod error;
pub mod fit;
pub mod models;
pub mod numerics;
pub mod predict;
pub mod simulate;

pub use cancel::Cancel;
pub use data::rfm::{
    CustomerTable, HoldoutColumns, HoldoutPeriods, MAX_AGE, MAX_AMOUNT, MAX_FREQUENCY, Rfm,
};
pub use data::units::{Duration, TimeUnit, UnitConversion};
pub use error::{ModelError, Result};
pub use fit::{FitDiagnostics, FitOptions, Fitted, GroupedRfm};
pub use models::params::{BetaGeoParams, GammaGammaParams, ParetoNbdParams};
pub use models::{TransactionFamily, TransactionModel};
pub use predict::clv::{ClvSpec, CustomerModel, Discount};
pub use predict::evaluate::{HoldoutReport, HoldoutSpend, holdout_report};
pub use predict::score::{CustomerScore, Scores};
