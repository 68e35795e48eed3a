//! Time units. Every duration that enters or leaves the model crate is a plain `f64`
//! *in a stated unit*; this enum is that statement.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::ModelError;

/// The unit in which recency, age (T), horizons and rates are expressed.
///
/// Months and years are average calendar lengths (365.25 / 12 and 365.25 days) so that
/// conversions are exact multiples of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Day,
    Week,
    Month,
    Year,
}

impl TimeUnit {
    pub const ALL: [TimeUnit; 4] = [
        TimeUnit::Day,
        TimeUnit::Week,
        TimeUnit::Month,
        TimeUnit::Year,
    ];

    /// Length of one unit in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
            TimeUnit::Month => 365.25 / 12.0,
            TimeUnit::Year => 365.25,
        }
    }

    /// Converts `value` expressed in `self` into `target` units.
    pub fn convert(self, value: f64, target: TimeUnit) -> f64 {
        if self == target {
            value
        } else {
            value * self.days() / target.days()
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
            TimeUnit::Month => "month",
            TimeUnit::Year => "year",
        }
    }
}

impl fmt::Display for TimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimeUnit {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "d" | "day" | "days" => Ok(TimeUnit::Day),
            "w" | "week" | "weeks" => Ok(TimeUnit::Week),
            "m" | "month" | "months" => Ok(TimeUnit::Month),
            "y" | "year" | "years" => Ok(TimeUnit::Year),
            other => Err(ModelError::invalid(
                "time_unit",
                format!("unknown time unit {other:?}; expected day, week, month or year"),
            )),
        }
    }
}

/// A length of time with its unit attached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Duration {
    pub value: f64,
    pub unit: TimeUnit,
}

impl Duration {
    pub fn new(value: f64, unit: TimeUnit) -> Self {
        Self { value, unit }
    }

    /// The same duration expressed in `unit`.
    pub fn in_unit(self, unit: TimeUnit) -> f64 {
        self.unit.convert(self.value, unit)
    }
}

/// Durations re-expressed from one unit in another: customers' recency and age, summarized
/// in `from` (their table's unit), read in `to` (the unit a model works in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitConversion {
    pub from: TimeUnit,
    pub to: TimeUnit,
}

impl UnitConversion {
    pub fn new(from: TimeUnit, to: TimeUnit) -> Self {
        Self { from, to }
    }

    /// No conversion: durations already in `unit`.
    pub fn identity(unit: TimeUnit) -> Self {
        Self::new(unit, unit)
    }

    /// The length of one `from` unit in `to` units (exactly 1 when they are the same).
    pub fn factor(self) -> f64 {
        self.from.convert(1.0, self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(TimeUnit::Week.convert(2.0, TimeUnit::Day), 14.0);
        assert!((TimeUnit::Year.convert(1.0, TimeUnit::Month) - 12.0).abs() < 1e-12);
        for u in TimeUnit::ALL {
            assert_eq!(u.as_str().parse::<TimeUnit>().unwrap(), u);
        }
        assert!("fortnight".parse::<TimeUnit>().is_err());
    }

    #[test]
    fn unit_conversions_are_exact_multiples() {
        assert_eq!(
            UnitConversion::new(TimeUnit::Week, TimeUnit::Day).factor(),
            7.0
        );
        for u in TimeUnit::ALL {
            assert_eq!(UnitConversion::identity(u).factor(), 1.0);
        }
    }
}
