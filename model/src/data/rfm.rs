//! The per-customer summary every model consumes: frequency, recency, age (T), spend.

use serde::{Deserialize, Serialize};

use crate::data::summary::Day;
use crate::data::units::TimeUnit;
use crate::error::{ModelError, Result};

/// Largest repeat-purchase count accepted. The fits tabulate terms for every frequency up
/// to the largest in the data, so an absurd count (a corrupted row with x = 4e9) would
/// otherwise mean gigabytes of tables rather than an error; a million repeat purchases
/// in one observation window is beyond any customer base these models describe.
pub const MAX_FREQUENCY: u32 = 1_000_000;

/// Largest customer age T (and so recency) accepted, in the summary's unit: a million days
/// is 2,700 years. Beyond it the models' ln(α + T) terms still work, but such a value is a
/// unit or parsing mistake, and the products of huge ages with rates overflow downstream.
pub const MAX_AGE: f64 = 1e6;

/// Largest amount accepted for one purchase, a mean spend or a holdout spend: a trillion
/// in any currency. Larger finite values (1e308) make CLV, k-means features and the spend
/// likelihood overflow; refusing them names the field instead of failing later.
pub const MAX_AMOUNT: f64 = 1e12;

/// One customer's calibration-period summary, in some [`TimeUnit`] kept alongside it.
///
/// * `frequency` (x): repeat purchases, i.e. distinct purchase periods after the first.
/// * `recency` (t_x): time from the first to the last purchase (0 when x = 0).
/// * `age` (T): time from the first purchase to the end of observation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rfm {
    pub frequency: u32,
    pub recency: f64,
    pub age: f64,
}

impl Rfm {
    /// Checks the summary's invariants; the error names the offending field.
    pub fn new(frequency: u32, recency: f64, age: f64) -> Result<Self> {
        let rfm = Rfm {
            frequency,
            recency,
            age,
        };
        rfm.validate()?;
        Ok(rfm)
    }

    /// Whether [`Rfm::validate`] passes, without building its error: the fast check of
    /// bulk validation.
    #[inline]
    pub(crate) fn is_valid(&self) -> bool {
        // Comparisons with NaN are false, and recency is at most a finite bound once age is
        // finite: no separate finiteness checks, and `&` rather than `&&` (no branches).
        (self.age >= 0.0)
            & (self.age <= MAX_AGE)
            & (self.recency >= 0.0)
            & (self.recency <= self.age * (1.0 + 1e-9) + 1e-9)
            & ((self.frequency != 0) | (self.recency == 0.0))
            & (self.frequency <= MAX_FREQUENCY)
    }

    pub fn validate(&self) -> Result<()> {
        if !self.age.is_finite() || self.age < 0.0 {
            return Err(ModelError::invalid(
                "T",
                format!("age must be finite and >= 0, got {}", self.age),
            ));
        }
        if self.age > MAX_AGE {
            return Err(ModelError::invalid(
                "T",
                format!("age {} is above the limit of {MAX_AGE:e}", self.age),
            ));
        }
        if !self.recency.is_finite() || self.recency < 0.0 {
            return Err(ModelError::invalid(
                "recency",
                format!("must be finite and >= 0, got {}", self.recency),
            ));
        }
        // Rounded summaries (lifetimes writes 2 decimals) may carry recency a hair above T.
        if self.recency > self.age * (1.0 + 1e-9) + 1e-9 {
            return Err(ModelError::invalid(
                "recency",
                format!("recency {} exceeds age T {}", self.recency, self.age),
            ));
        }
        if self.frequency > MAX_FREQUENCY {
            return Err(ModelError::invalid(
                "frequency",
                format!(
                    "must be at most {MAX_FREQUENCY} repeat purchases, got {}",
                    self.frequency
                ),
            ));
        }
        if self.frequency == 0 && self.recency != 0.0 {
            return Err(ModelError::invalid(
                "recency",
                "must be 0 when frequency is 0",
            ));
        }
        Ok(())
    }
}

/// A set of customers as columns, with the unit their times are in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerTable {
    pub ids: Vec<String>,
    pub rfm: Vec<Rfm>,
    /// Mean spend per repeat purchase (first purchase excluded; 0 when x = 0).
    pub monetary_value: Vec<f64>,
    /// Total spend in calibration, first purchase included, per customer: known when the
    /// table was summarized from transactions, `None` for summaries (lifetimes' columns
    /// carry only the mean repeat spend). The `past_spend` baseline ranks by it.
    #[serde(default)]
    pub calibration_spend: Option<Vec<f64>>,
    /// Present when the table was built with a calibration/holdout split.
    pub holdout: Option<HoldoutColumns>,
    pub unit: Option<TimeUnit>,
}

/// What each customer did after the calibration end, up to the holdout end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HoldoutColumns {
    /// Length of the holdout period in the table's unit.
    pub duration: f64,
    /// Distinct purchase periods in the holdout.
    pub frequency: Vec<u32>,
    /// Total spend in the holdout.
    pub spend: Vec<f64>,
    /// The same customers' holdout purchases per calendar period, when the table was
    /// summarized from transactions with
    /// [`SummaryBuilder::with_holdout_periods`](crate::data::summary::SummaryBuilder::with_holdout_periods);
    /// summaries alone cannot give it. Not stored with a table (a by-product of reading
    /// the log).
    #[serde(skip)]
    pub periods: Option<HoldoutPeriods>,
}

/// Purchases of a table's customers in consecutive calendar periods of the holdout, the
/// actual side of the calendar-time comparison in
/// `crate::predict::seasonality::seasonality_suspected`.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldoutPeriods {
    /// First day of the first period: the day after the calibration end.
    pub start: Day,
    /// Days per period (7: weeks starting on the weekday after the calibration end).
    pub period_days: u32,
    /// Days in the holdout; the last period is shorter when it does not divide evenly.
    pub days: u32,
    /// Distinct purchase days of the customers in each period (summed over customers),
    /// counted as `HoldoutColumns::frequency` counts them.
    pub purchases: Vec<u64>,
}

impl HoldoutPeriods {
    /// First day of period `k` (0-based).
    pub fn period_start(&self, k: usize) -> Day {
        let offset = (k as u64).saturating_mul(u64::from(self.period_days));
        Day(self
            .start
            .0
            .saturating_add(i32::try_from(offset).unwrap_or(i32::MAX)))
    }

    /// Days from the calibration end to the last day of period `k` (0-based): a purchase
    /// on that day is this long after the calibration end, in days.
    pub fn period_end_offset(&self, k: usize) -> u32 {
        let end = (k as u64 + 1).saturating_mul(u64::from(self.period_days));
        end.min(u64::from(self.days)) as u32
    }
}

impl CustomerTable {
    pub fn len(&self) -> usize {
        self.rfm.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rfm.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariants_are_checked() {
        assert!(Rfm::new(2, 30.43, 38.86).is_ok());
        assert!(Rfm::new(0, 0.0, 0.0).is_ok());
        assert!(Rfm::new(0, 1.0, 5.0).is_err());
        assert!(Rfm::new(1, 6.0, 5.0).is_err());
        assert!(Rfm::new(1, f64::NAN, 5.0).is_err());
        assert!(Rfm::new(1, 1.0, f64::INFINITY).is_err());
        for (x, rec, age) in [
            (2, 30.43, 38.86),
            (0, 0.0, 0.0),
            (0, 1.0, 5.0),
            (1, 6.0, 5.0),
            (1, 5.0 + 1e-12, 5.0),
            (1, f64::NAN, 5.0),
            (1, 1.0, f64::INFINITY),
            (1, 1.0, f64::NAN),
            (1, -1.0, 5.0),
            (1, 0.0, -0.0),
            (1, 0.0, -1.0),
            (1, f64::INFINITY, f64::INFINITY),
            (1, -f64::INFINITY, 5.0),
            (0, -0.0, 5.0),
            (0, 1e-300, 5.0),
        ] {
            let r = Rfm {
                frequency: x,
                recency: rec,
                age,
            };
            assert_eq!(r.is_valid(), r.validate().is_ok(), "{r:?}");
        }
        let e = Rfm::new(1, -1.0, 5.0).unwrap_err().within("customers[3]");
        assert!(
            matches!(e, ModelError::InvalidInput { ref field, .. } if field == "customers[3].recency")
        );
    }
}
