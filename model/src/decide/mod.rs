//! The decision side: customer segments and value tiers, and the recommended action per
//! customer under a marketing budget.

pub mod recommend;
pub mod segments;
