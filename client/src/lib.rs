//! `custval_client`: the typed client of the custval.v1 service and the commands of the
//! `custval` tool.
//!
//! * [`connect`]: reaching a server (URL, TLS, bearer token, message limits); the global
//!   options every command shares.
//! * [`bench`]: the gRPC load generator behind `custval bench` (closed and open loop, HDR
//!   latency percentiles, errors by status code).
//! * [`call`]: deadlines and retries of calls.
//! * [`codec`]: sending messages encoded ahead of time.
//! * [`commands`]: the `custval` commands, one file each (info, health, fit, score, segment,
//!   recommend, models, report, summarize, simulate, bench) and their dispatch.
//! * [`files`]: customer files in (logs and lifetimes-style summaries, as text or
//!   Parquet), scores and summaries out.
//! * [`gzip`]: `.gz` inputs and outputs, streamed.
//! * [`output`]: standard output that ends quietly on a closed pipe (`outln!`).
//! * [`progress`]: the progress bar on a terminal.
//! * [`report`]: the self-contained HTML report of a model (inline SVG charts).
//! * [`rpc`]: the typed client, one method per call under the deadline and retry policy.
//! * [`error`]: the client's error type, and small parsers shared by commands.
#![forbid(unsafe_code)]

pub mod bench;
pub mod call;
pub mod codec;
pub mod commands;
pub mod connect;
pub mod error;
pub mod files;
pub mod gzip;
pub mod output;
pub mod progress;
pub mod report;
pub mod rpc;

pub use connect::{ConnectOptions, Connection};
pub use error::ClientError;
