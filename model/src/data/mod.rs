//! The data side: time units, per-customer RFM summaries, the streaming reader that turns
//! transaction logs into them, and a whole log kept for cutting at several dates ([`log`]).

pub mod log;
pub mod rfm;
pub mod summary;
pub mod units;
