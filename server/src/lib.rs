//! `custval-server`: the custval.v1 gRPC service over the model core.
//!
//! * [`app`]: assembling and running the server (health, reflection, TLS, drain).
//! * [`services`]: the RPC handlers, one file per gRPC service (`Models`, `Scoring`).
//! * [`admission`]: the concurrency limit, its queue and shedding, deadlines, accounting,
//!   and the blocking pool every request's CPU work runs on; [`cost`]: what a request
//!   will cost, estimated from its size; [`places`]: the places to run and the queue
//!   discipline in front of them (the cheapest and the oldest share places by cost).
//! * [`cancel`]: each request's cancellation token, the permit its work holds until it
//!   stops, and the store step that never keeps a fit whose caller has gone.
//! * [`fitting`], [`backtesting`], [`scoring`], [`segmenting`]: the fit, backtest, score,
//!   segment and recommend pipelines behind the handlers.
//! * [`input`]: customer histories from requests into model tables, field by field;
//!   [`ids`]: the duplicate-id check of fits; [`fingerprint`]: the training-data print.
//! * [`wire`]: other conversions between custval.v1 messages and model types.
//! * [`registry`], [`store`], [`record`]: the persistent, versioned model registry over a
//!   [`store::ModelStore`] (SQLite today).
//! * [`error`]: domain errors, and the one place they become gRPC statuses.
//! * [`oversize`]: messages above the size limit answered RESOURCE_EXHAUSTED.
//! * [`metrics`], [`auth`], [`config`].
#![forbid(unsafe_code)]

pub mod admission;
pub mod app;
pub mod auth;
pub mod backtesting;
pub mod cancel;
pub mod config;
pub mod cost;
pub mod error;
pub mod fingerprint;
pub mod fitting;
pub mod ids;
pub mod input;
pub mod metrics;
pub mod oversize;
pub mod places;
pub mod record;
pub mod registry;
pub mod scoring;
pub mod segmenting;
pub mod services;
pub mod store;
pub mod wire;

pub use app::run;
pub use config::Config;
