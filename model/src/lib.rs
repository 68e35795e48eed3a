//! custval-model: the numerical heart of custval.
//!
//! * [`summary`]: transaction logs → per-customer RFM summaries (streaming).
//! * [`models`]: the model families (BG/NBD, MBG/NBD, Pareto/NBD; Gamma-Gamma spend), the
//!   [`models::TransactionFamily`] seam a new family implements and the registry that
//!   lists them.
//! * [`fit`]: grouping of identical rows, the optimizer and the diagnostics every fit
//!   returns.
//! * [`predict`]: batch scoring, CLV over an explicit horizon, tracking, holdout
//!   evaluation.
//! * [`simulate`]: seeded synthetic customers for tests, benchmarks and parameter recovery.
//!
//! No tonic, no tokio: everything here is plain functions over slices.
#![forbid(unsafe_code)]
// Small dense matrices and per-parameter arrays read best with explicit indices.
#![allow(clippy::needless_range_loop)]

mod dual;
pub mod error;
pub mod fit;
mod lanes;
mod linalg;
pub mod models;
pub mod predict;
mod quadrature;
pub mod recommend;
pub mod rfm;
pub mod segment;
pub mod simulate;
pub mod special;
pub mod summary;
pub mod units;

pub use error::{ModelError, Result};
pub use fit::{FitDiagnostics, FitOptions, Fitted, GroupedRfm};
pub use models::params::{self, BetaGeoParams, GammaGammaParams, ParetoNbdParams};
pub use models::{TransactionFamily, TransactionModel, gamma_gamma};
pub use predict::clv::{ClvSpec, CustomerModel, Discount};
pub use predict::evaluate::{HoldoutReport, holdout_report};
pub use predict::score::{CustomerScore, Scores};
pub use predict::{clv, evaluate, score, tracking};
pub use rfm::{CustomerTable, HoldoutColumns, MAX_FREQUENCY, Rfm};
pub use units::{Duration, TimeUnit};
