//! custval-wire: conversions between `custval.v1` messages and model types, used by both
//! the server (decoding requests, building responses) and the client (building requests,
//! reading responses), so each mapping is written once.
//!
//! Decoding checks every field and names it in the error (`options.horizon.value`); the
//! error is the model crate's [`ModelError::InvalidInput`](custval_model::ModelError),
//! which the server maps to INVALID_ARGUMENT with a `BadRequest` field violation.
//!
//! * [`units`]: time units, durations, the CLV horizon and discount.
//! * [`dates`]: calendar days and `google.protobuf.Timestamp`.
//! * [`models`]: model families (by name or enum), parameters, fitted models, diagnostics
//!   and holdout metrics.
#![forbid(unsafe_code)]

pub mod dates;
pub mod models;
pub mod units;
