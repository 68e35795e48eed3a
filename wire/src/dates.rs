//! Calendar days (UTC) and `google.protobuf.Timestamp`.

use custval_model::data::summary::Day;
use custval_model::{ModelError, Result};

const SECONDS_PER_DAY: i64 = 86_400;

/// The UTC calendar day of a timestamp.
pub fn day(ts: &prost_types::Timestamp, field: &str) -> Result<Day> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(ModelError::invalid(
            field,
            format!("nanos must be in [0, 1e9), got {}", ts.nanos),
        ));
    }
    let days = ts.seconds.div_euclid(SECONDS_PER_DAY);
    // Years 0000..=9999, like google.protobuf.Timestamp itself.
    const MIN: i64 = -719_528;
    const MAX: i64 = 2_932_896;
    if !(MIN..=MAX).contains(&days) {
        return Err(ModelError::invalid(
            field,
            format!("{} seconds is outside years 0000-9999", ts.seconds),
        ));
    }
    Ok(Day(days as i32))
}

pub fn required_day(ts: Option<&prost_types::Timestamp>, field: &str) -> Result<Day> {
    day(
        ts.ok_or_else(|| ModelError::invalid(field, "is required"))?,
        field,
    )
}

pub fn optional_day(ts: Option<&prost_types::Timestamp>, field: &str) -> Result<Option<Day>> {
    ts.map(|t| day(t, field)).transpose()
}

/// Midnight UTC of a day.
pub fn timestamp_of_day(day: Day) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::from(day.0) * SECONDS_PER_DAY,
        nanos: 0,
    }
}

pub fn timestamp_of_ms(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        let ts = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
        assert_eq!(day(&ts(0), "t").unwrap(), Day(0));
        assert_eq!(day(&ts(86_399), "t").unwrap(), Day(0));
        assert_eq!(day(&ts(-1), "t").unwrap(), Day(-1));
        assert_eq!(timestamp_of_day(Day(10_134)).seconds, 10_134 * 86_400);
        assert!(day(&ts(i64::MAX), "t").is_err());
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(day(&bad, "t").is_err());
        assert_eq!(timestamp_of_ms(-1).seconds, -1);
        assert_eq!(timestamp_of_ms(-1).nanos, 999_000_000);
    }
}
