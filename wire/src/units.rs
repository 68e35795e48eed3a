//! Time units, durations, and the CLV horizon and discount of a request.

use custval_model::{ClvSpec, Discount, Duration, ModelError, Result, TimeUnit};
use custval_proto::v1 as pb;

/// A required time unit.
pub fn time_unit(value: i32, field: &str) -> Result<TimeUnit> {
    match (time_unit_from_proto(value), pb::TimeUnit::try_from(value)) {
        (Some(unit), _) => Ok(unit),
        (None, Ok(_)) => Err(ModelError::invalid(
            field,
            "time unit is required (DAY, WEEK, MONTH or YEAR)",
        )),
        (None, Err(_)) => Err(ModelError::invalid(
            field,
            format!("unknown time unit {value}"),
        )),
    }
}

/// The model crate's unit for a `pb::TimeUnit` value; `None` when unspecified or unknown.
pub fn time_unit_from_proto(value: i32) -> Option<TimeUnit> {
    match pb::TimeUnit::try_from(value).ok()? {
        pb::TimeUnit::Day => Some(TimeUnit::Day),
        pb::TimeUnit::Week => Some(TimeUnit::Week),
        pb::TimeUnit::Month => Some(TimeUnit::Month),
        pb::TimeUnit::Year => Some(TimeUnit::Year),
        pb::TimeUnit::Unspecified => None,
    }
}

pub fn time_unit_to_proto(unit: TimeUnit) -> pb::TimeUnit {
    match unit {
        TimeUnit::Day => pb::TimeUnit::Day,
        TimeUnit::Week => pb::TimeUnit::Week,
        TimeUnit::Month => pb::TimeUnit::Month,
        TimeUnit::Year => pb::TimeUnit::Year,
    }
}

/// Shortest duration a request may carry, in days (about 0.09 s).
pub const MIN_DURATION_DAYS: f64 = 1e-6;
/// Longest duration a request may carry, in days (a million years).
pub const MAX_DURATION_DAYS: f64 = 365.25e6;

/// A required, finite, positive duration between [`MIN_DURATION_DAYS`] and
/// [`MAX_DURATION_DAYS`]. The bounds keep every conversion between units finite and non-zero:
/// 5e-324 days is positive, but is 0 in weeks, and 1e308 years is infinite in days.
pub fn duration(d: Option<&pb::Duration>, field: &str) -> Result<Duration> {
    let d = d.ok_or_else(|| ModelError::invalid(field, "is required"))?;
    let unit = time_unit(d.unit, &format!("{field}.unit"))?;
    if !(d.value.is_finite() && d.value > 0.0) {
        return Err(ModelError::invalid(
            format!("{field}.value"),
            format!("must be finite and > 0, got {}", d.value),
        ));
    }
    let duration = Duration::new(d.value, unit);
    let days = duration.in_unit(TimeUnit::Day);
    if !(MIN_DURATION_DAYS..=MAX_DURATION_DAYS).contains(&days) {
        return Err(ModelError::invalid(
            format!("{field}.value"),
            format!(
                "{} {unit} is outside the supported range of {MIN_DURATION_DAYS} days to a \
                 million years",
                d.value
            ),
        ));
    }
    Ok(duration)
}

pub fn duration_to_proto(d: Duration) -> pb::Duration {
    pb::Duration {
        value: d.value,
        unit: time_unit_to_proto(d.unit) as i32,
    }
}

/// The CLV horizon and discount of a request. No discount = rate 0 over one horizon.
pub fn clv_spec(
    horizon: Option<&pb::Duration>,
    discount: Option<&pb::DiscountRate>,
    field: &str,
) -> Result<ClvSpec> {
    let horizon = duration(horizon, &format!("{field}.horizon"))?;
    let discount = match discount {
        None => Discount {
            rate: 0.0,
            period: horizon,
        },
        Some(d) => {
            let period = duration(d.period.as_ref(), &format!("{field}.discount.period"))?;
            if !(d.rate.is_finite() && d.rate >= 0.0) {
                return Err(ModelError::invalid(
                    format!("{field}.discount.rate"),
                    format!("must be finite and >= 0, got {}", d.rate),
                ));
            }
            Discount {
                rate: d.rate,
                period,
            }
        }
    };
    let spec = ClvSpec { horizon, discount };
    spec.validate().map_err(|e| e.within(field))?;
    Ok(spec)
}

pub fn discount_to_proto(d: Discount) -> pb::DiscountRate {
    pb::DiscountRate {
        rate: d.rate,
        period: Some(duration_to_proto(d.period)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(ModelError::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn units_are_checked_and_round_trip() {
        assert_eq!(field(time_unit(0, "time_unit")), "time_unit");
        assert_eq!(field(time_unit(99, "time_unit")), "time_unit");
        for unit in TimeUnit::ALL {
            let value = time_unit_to_proto(unit) as i32;
            assert_eq!(time_unit(value, "u").unwrap(), unit);
            assert_eq!(time_unit_from_proto(value), Some(unit));
        }
    }

    #[test]
    fn horizon_and_discount_are_checked_with_paths() {
        let h = pb::Duration {
            value: 52.0,
            unit: pb::TimeUnit::Week as i32,
        };
        let spec = clv_spec(Some(&h), None, "options").unwrap();
        assert_eq!(spec.discount.rate, 0.0);
        let zero = pb::Duration { value: 0.0, ..h };
        assert_eq!(
            field(clv_spec(Some(&zero), None, "options")),
            "options.horizon.value"
        );
        let d = pb::DiscountRate {
            rate: -0.1,
            period: Some(h),
        };
        assert_eq!(
            field(clv_spec(Some(&h), Some(&d), "options")),
            "options.discount.rate"
        );
    }

    #[test]
    fn durations_whose_conversions_vanish_or_overflow_are_refused() {
        let of = |value: f64, unit: pb::TimeUnit| pb::Duration {
            value,
            unit: unit as i32,
        };
        // Positive and finite, but 0 in weeks and infinite in days respectively.
        for d in [
            of(5e-324, pb::TimeUnit::Day),
            of(1e308, pb::TimeUnit::Year),
            of(1e-7, pb::TimeUnit::Day),
            of(2e6, pb::TimeUnit::Year),
        ] {
            assert_eq!(
                field(duration(Some(&d), "spec.holdout")),
                "spec.holdout.value"
            );
        }
        for d in [
            of(MIN_DURATION_DAYS, pb::TimeUnit::Day),
            of(1e6, pb::TimeUnit::Year),
            of(1.0, pb::TimeUnit::Month),
        ] {
            let ok = duration(Some(&d), "spec.holdout").unwrap();
            for unit in TimeUnit::ALL {
                let v = ok.in_unit(unit);
                assert!(v.is_finite() && v > 0.0, "{d:?} in {unit}: {v}");
            }
        }
    }
}
