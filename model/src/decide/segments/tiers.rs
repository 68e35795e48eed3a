//! Value tiers and their thresholds, rank-based RFM quintile scores, and the concentration
//! of value among the most valuable customers.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::FeatureTable;
use crate::data::rfm::Rfm;
use crate::data::units::UnitConversion;
use crate::error::{ModelError, Result};

/// Tier cut-offs as cumulative shares of total value, customers ranked by value: the
/// customers holding the first `key` share are key, up to `growth` growth, up to
/// `standard` standard, the rest low value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierCutoffs {
    pub key: f64,
    pub growth: f64,
    pub standard: f64,
}

impl Default for TierCutoffs {
    fn default() -> Self {
        TierCutoffs {
            key: 0.5,
            growth: 0.8,
            standard: 0.95,
        }
    }
}

impl TierCutoffs {
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        let ordered = self.key <= self.growth && self.growth <= self.standard;
        if !(ok(self.key) && ok(self.growth) && ok(self.standard) && ordered) {
            return Err(ModelError::invalid(
                "tiers",
                format!(
                    "cut-offs must satisfy 0 < key <= growth <= standard <= 1, got {} {} {}",
                    self.key, self.growth, self.standard
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Key,
    Growth,
    Standard,
    LowValue,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Key, Tier::Growth, Tier::Standard, Tier::LowValue];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Key => "key",
            Tier::Growth => "growth",
            Tier::Standard => "standard",
            Tier::LowValue => "low_value",
        }
    }
}

/// Value thresholds realizing the cut-offs on the segmentation's customers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierThresholds {
    pub cutoffs: TierCutoffs,
    /// Lowest value still in the tier.
    pub key_min: f64,
    pub growth_min: f64,
    pub standard_min: f64,
}

impl TierThresholds {
    pub(super) fn fit(value: &[f64], cutoffs: TierCutoffs) -> TierThresholds {
        let mut sorted: Vec<f64> = value.to_vec();
        sorted.par_sort_unstable_by(|a, b| b.total_cmp(a));
        let total: f64 = sorted.iter().sum();
        let threshold = |share: f64| {
            if total <= 0.0 {
                // Nobody has value: every tier but the lowest stays empty. MAX, not
                // infinity, so the thresholds serialize.
                return f64::MAX;
            }
            let mut cum = 0.0;
            for &v in &sorted {
                cum += v;
                if cum >= share * total * (1.0 - 1e-12) {
                    return v;
                }
            }
            sorted.last().copied().unwrap_or(0.0)
        };
        TierThresholds {
            cutoffs,
            key_min: threshold(cutoffs.key),
            growth_min: threshold(cutoffs.growth),
            standard_min: threshold(cutoffs.standard),
        }
    }

    pub fn tier(&self, value: f64) -> Tier {
        if value >= self.key_min && value > 0.0 {
            Tier::Key
        } else if value >= self.growth_min && value > 0.0 {
            Tier::Growth
        } else if value >= self.standard_min && value > 0.0 {
            Tier::Standard
        } else {
            Tier::LowValue
        }
    }
}

/// Rank-based RFM quintile cuts: a score is 1 + the number of cuts the value is beyond,
/// so equal values always share a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmQuintiles {
    /// Time since last purchase; lower is better.
    pub recency_cuts: [f64; 4],
    pub frequency_cuts: [f64; 4],
    pub monetary_cuts: [f64; 4],
}

fn quintile_cuts(mut v: Vec<f64>) -> [f64; 4] {
    let n = v.len();
    let mut cuts = [0.0; 4];
    // Selecting from the top down leaves each lower quantile in the left part.
    let mut end = n;
    for (q, p) in [0.8, 0.6, 0.4, 0.2].iter().enumerate() {
        let at = ((p * n as f64) as usize)
            .min(n - 1)
            .min(end.saturating_sub(1));
        let (_, x, _) = v[..end].select_nth_unstable_by(at, f64::total_cmp);
        cuts[3 - q] = *x;
        end = at + 1;
    }
    cuts
}

impl RfmQuintiles {
    pub(super) fn fit(
        t: &FeatureTable,
        rfm: &[Rfm],
        monetary: &[f64],
        units: UnitConversion,
    ) -> RfmQuintiles {
        let unit_factor = units.factor();
        let _ = t;
        RfmQuintiles {
            recency_cuts: quintile_cuts(
                rfm.iter()
                    .map(|c| ((c.age - c.recency) * unit_factor).max(0.0))
                    .collect(),
            ),
            frequency_cuts: quintile_cuts(rfm.iter().map(|c| f64::from(c.frequency)).collect()),
            monetary_cuts: quintile_cuts(monetary.to_vec()),
        }
    }

    /// (R, F, M), each 1..=5.
    pub fn score(&self, since_last: f64, frequency: u32, monetary: f64) -> [u8; 3] {
        let higher = |v: f64, cuts: &[f64; 4]| 1 + cuts.iter().filter(|&&c| v > c).count() as u8;
        let lower = |v: f64, cuts: &[f64; 4]| 1 + cuts.iter().filter(|&&c| v < c).count() as u8;
        [
            lower(since_last, &self.recency_cuts),
            higher(f64::from(frequency), &self.frequency_cuts),
            higher(monetary, &self.monetary_cuts),
        ]
    }
}

/// Shares of total value held by the most valuable customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concentration {
    pub total_value: f64,
    /// (top fraction of customers, their share of value) at 1, 5, 10, 20, 50 and 100%.
    pub top_shares: Vec<(f64, f64)>,
    /// 101 points of the curve: share of value held by the top i% of customers.
    pub curve: Vec<f64>,
}

/// Concentration of `value` (negative values count as 0).
pub fn concentration(value: &[f64]) -> Concentration {
    let mut v: Vec<f64> = value.iter().map(|x| x.max(0.0)).collect();
    v.par_sort_unstable_by(|a, b| b.total_cmp(a));
    let n = v.len();
    let mut cum = Vec::with_capacity(n + 1);
    cum.push(0.0);
    let mut s = 0.0;
    for x in &v {
        s += x;
        cum.push(s);
    }
    let total = s;
    let share_at = |fraction: f64| {
        if total <= 0.0 || n == 0 {
            return 0.0;
        }
        let k = ((fraction * n as f64).ceil() as usize).min(n);
        cum[k] / total
    };
    Concentration {
        total_value: total,
        top_shares: [0.01, 0.05, 0.10, 0.20, 0.50, 1.0]
            .iter()
            .map(|&p| (p, share_at(p)))
            .collect(),
        curve: (0..=100).map(|i| share_at(i as f64 / 100.0)).collect(),
    }
}
