//! Customer lifetime value over an explicit horizon with an explicit discount basis, and
//! the [`CustomerModel`] that ties a transaction model, a spend model and a time unit.

use serde::{Deserialize, Serialize};

use crate::data::rfm::Rfm;
use crate::data::units::{Duration, TimeUnit};
use crate::error::{ModelError, Result};
use crate::models::TransactionModel;
use crate::models::params::GammaGammaParams;

/// A discrete discount rate: value earned in the i-th period of length `period` is divided
/// by (1 + rate)^i. The basis is part of the value: "1% per month" and "12.68% per year"
/// are different objects even when they are equivalent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    pub rate: f64,
    pub period: Duration,
}

impl Discount {
    /// `rate` per year, applied in monthly steps (the compounding of lifetimes' CLV loop):
    /// the monthly rate is (1 + rate)^(1/12) − 1.
    pub fn annual_in_monthly_steps(rate: f64) -> Self {
        Discount {
            rate: (1.0 + rate).powf(1.0 / 12.0) - 1.0,
            period: Duration::new(1.0, TimeUnit::Month),
        }
    }

    /// Continuously compounded rate per `unit` equivalent to this discount.
    pub fn continuous_rate(&self, unit: TimeUnit) -> f64 {
        self.rate.ln_1p() / self.period.in_unit(unit)
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.rate.is_finite() && self.rate > -1.0 && self.rate >= 0.0) {
            return Err(ModelError::invalid(
                "discount.rate",
                format!("must be finite and >= 0, got {}", self.rate),
            ));
        }
        if !(self.period.value.is_finite() && self.period.value > 0.0) {
            return Err(ModelError::invalid(
                "discount.period",
                format!("must be finite and > 0, got {}", self.period.value),
            ));
        }
        Ok(())
    }
}

/// The longest CLV horizon accepted, in years.
pub const MAX_HORIZON_YEARS: f64 = 1000.0;

/// How to value a customer: over what horizon and with what discount.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvSpec {
    pub horizon: Duration,
    pub discount: Discount,
}

/// lifetimes' month length per data unit (`freq` in `customer_lifetime_value`): 4.345
/// weeks, 30 days. Kept separate from [`TimeUnit::Month`] (30.44 days) on purpose.
pub fn lifetimes_month(unit: TimeUnit) -> Duration {
    match unit {
        TimeUnit::Day => Duration::new(30.0, TimeUnit::Day),
        TimeUnit::Week => Duration::new(4.345, TimeUnit::Week),
        TimeUnit::Month => Duration::new(1.0, TimeUnit::Month),
        TimeUnit::Year => Duration::new(1.0 / 12.0, TimeUnit::Year),
    }
}

impl ClvSpec {
    /// The convention of lifetimes' `customer_lifetime_value(time=months,
    /// discount_rate=monthly_rate, freq=unit)`: monthly steps of lifetimes' month length.
    pub fn lifetimes_convention(months: u32, monthly_rate: f64, unit: TimeUnit) -> Self {
        let month = lifetimes_month(unit);
        ClvSpec {
            horizon: Duration::new(month.value * months as f64, month.unit),
            discount: Discount {
                rate: monthly_rate,
                period: month,
            },
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.horizon.value.is_finite() && self.horizon.value > 0.0) {
            return Err(ModelError::invalid(
                "horizon",
                format!("must be finite and > 0, got {}", self.horizon.value),
            ));
        }
        // Far beyond any business horizon, and where the conversion to days would
        // overflow: a finite but absurd horizon is the caller's mistake, named as such.
        let years = self.horizon.in_unit(TimeUnit::Year);
        if years > MAX_HORIZON_YEARS {
            return Err(ModelError::invalid(
                "horizon",
                format!(
                    "{} {} is above the limit of {MAX_HORIZON_YEARS} years",
                    self.horizon.value, self.horizon.unit
                ),
            ));
        }
        self.discount.validate()?;
        let steps =
            self.horizon.in_unit(TimeUnit::Day) / self.discount.period.in_unit(TimeUnit::Day);
        if steps > 100_000.0 {
            // Named as the request carries it (`options.discount.period`).
            return Err(ModelError::invalid(
                "discount.period",
                "more than 100,000 discount periods in the horizon",
            ));
        }
        Ok(())
    }

    /// Period ends (in `unit`) and their discount factors: t_i = min(i·period, horizon),
    /// factor 1/(1+rate)^i. The last period may be partial.
    pub fn schedule(&self, unit: TimeUnit) -> Vec<(f64, f64)> {
        let h = self.horizon.in_unit(unit);
        let p = self.discount.period.in_unit(unit);
        let n = ((h / p) - 1e-9).ceil().max(1.0) as usize;
        (1..=n)
            .map(|i| {
                (
                    (i as f64 * p).min(h),
                    (1.0 + self.discount.rate).powi(-(i as i32)),
                )
            })
            .collect()
    }
}

/// Everything needed to value customers: a transaction model, an optional spend model,
/// and the time unit their rates are expressed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerModel {
    pub unit: TimeUnit,
    pub transaction: TransactionModel,
    pub spend: Option<GammaGammaParams>,
}

impl CustomerModel {
    /// Discounted expected value of the purchases in the horizon:
    /// Σ_i E(Z) · (E[X(t_i)] − E[X(t_{i−1})]) / (1+d)^i.
    /// `Ok(None)` when there is no spend model or the expected spend is undefined (q ≤ 1).
    pub fn clv(&self, c: &Rfm, monetary_value: f64, spec: &ClvSpec) -> Result<Option<f64>> {
        let Some(spend) = self
            .spend
            .and_then(|g| g.expected_spend(c.frequency, monetary_value))
        else {
            return Ok(None);
        };
        Ok(Some(
            spend * self.discounted_purchases(c, &spec.schedule(self.unit))?,
        ))
    }

    /// Σ_i (E[X(t_i)] − E[X(t_{i−1})]) · factor_i for a precomputed schedule.
    pub(crate) fn discounted_purchases(&self, c: &Rfm, schedule: &[(f64, f64)]) -> Result<f64> {
        let (mut prev, mut total) = (0.0, 0.0);
        for &(t, factor) in schedule {
            let e = self.transaction.expected_purchases(c, t)?;
            total += (e - prev) * factor;
            prev = e;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_follows_lifetimes_months() {
        let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
        let s = spec.schedule(TimeUnit::Week);
        assert_eq!(s.len(), 12);
        assert!((s[0].0 - 4.345).abs() < 1e-12 && (s[11].0 - 52.14).abs() < 1e-9);
        assert!((s[11].1 - 1.01f64.powi(-12)).abs() < 1e-15);
        // A partial last period is kept.
        let spec = ClvSpec {
            horizon: Duration::new(10.0, TimeUnit::Week),
            discount: Discount {
                rate: 0.0,
                period: Duration::new(4.0, TimeUnit::Week),
            },
        };
        let t: Vec<f64> = spec.schedule(TimeUnit::Week).iter().map(|p| p.0).collect();
        assert_eq!(t, vec![4.0, 8.0, 10.0]);
    }

    #[test]
    fn bad_specs_are_rejected_with_field_names() {
        let mut spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
        spec.horizon.value = 0.0;
        assert!(
            matches!(spec.validate(), Err(ModelError::InvalidInput { field, .. }) if field == "horizon")
        );
        // Finite but absurd: 1e306 years overflows in days; 1,001 years is above the limit.
        for (value, unit) in [(1e306, TimeUnit::Year), (1001.0 * 52.18, TimeUnit::Week)] {
            let mut spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
            spec.horizon = Duration::new(value, unit);
            assert!(
                matches!(spec.validate(), Err(ModelError::InvalidInput { field, .. }) if field == "horizon"),
                "{value} {unit}"
            );
        }
        let mut spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
        spec.horizon = Duration::new(1000.0, TimeUnit::Year);
        spec.validate().unwrap();
        let mut spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
        spec.discount.rate = f64::NAN;
        assert!(
            matches!(spec.validate(), Err(ModelError::InvalidInput { field, .. }) if field == "discount.rate")
        );
    }
}
