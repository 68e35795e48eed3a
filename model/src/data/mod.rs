//! The data side: time units, per-customer RFM summaries and the streaming reader that
//! turns transaction logs into them.

pub mod rfm;
pub mod summary;
pub mod units;
