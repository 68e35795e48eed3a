//! Conversions between custval.v1 messages and model types. Request fields are checked
//! here, with the field path in every error; responses are built here.

use custval_model::data::summary::Day;
use custval_model::{
    ClvSpec, Discount, Duration, FitDiagnostics, HoldoutReport, TimeUnit, TransactionModelKind,
};
use custval_proto::v1 as pb;

use crate::error::ApiError;
use crate::record::ModelRecord;

const SECONDS_PER_DAY: i64 = 86_400;

pub fn time_unit(value: i32, field: &str) -> Result<TimeUnit, ApiError> {
    match pb::TimeUnit::try_from(value) {
        Ok(pb::TimeUnit::Day) => Ok(TimeUnit::Day),
        Ok(pb::TimeUnit::Week) => Ok(TimeUnit::Week),
        Ok(pb::TimeUnit::Month) => Ok(TimeUnit::Month),
        Ok(pb::TimeUnit::Year) => Ok(TimeUnit::Year),
        Ok(pb::TimeUnit::Unspecified) => Err(ApiError::invalid(
            field,
            "time unit is required (DAY, WEEK, MONTH or YEAR)",
        )),
        Err(_) => Err(ApiError::invalid(
            field,
            format!("unknown time unit {value}"),
        )),
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

pub fn transaction_model(value: i32, field: &str) -> Result<TransactionModelKind, ApiError> {
    match pb::TransactionModelKind::try_from(value) {
        Ok(pb::TransactionModelKind::BgNbd) => Ok(TransactionModelKind::BgNbd),
        Ok(pb::TransactionModelKind::MbgNbd) => Ok(TransactionModelKind::MbgNbd),
        Ok(pb::TransactionModelKind::ParetoNbd) => Ok(TransactionModelKind::ParetoNbd),
        Ok(pb::TransactionModelKind::Unspecified) => Err(ApiError::invalid(
            field,
            "transaction model is required (BG_NBD, MBG_NBD or PARETO_NBD)",
        )),
        Err(_) => Err(ApiError::invalid(
            field,
            format!("unknown transaction model {value}"),
        )),
    }
}

pub fn transaction_model_to_proto(kind: TransactionModelKind) -> pb::TransactionModelKind {
    match kind {
        TransactionModelKind::BgNbd => pb::TransactionModelKind::BgNbd,
        TransactionModelKind::MbgNbd => pb::TransactionModelKind::MbgNbd,
        TransactionModelKind::ParetoNbd => pb::TransactionModelKind::ParetoNbd,
    }
}

/// Whether a Gamma-Gamma spend model is asked for.
pub fn spend_model(value: i32, field: &str) -> Result<bool, ApiError> {
    match pb::SpendModelKind::try_from(value) {
        Ok(pb::SpendModelKind::None) => Ok(false),
        Ok(pb::SpendModelKind::GammaGamma) => Ok(true),
        Err(_) => Err(ApiError::invalid(
            field,
            format!("unknown spend model {value}"),
        )),
    }
}

fn spend_model_to_proto(present: bool) -> pb::SpendModelKind {
    if present {
        pb::SpendModelKind::GammaGamma
    } else {
        pb::SpendModelKind::None
    }
}

/// A required, finite, positive duration.
pub fn duration(d: Option<&pb::Duration>, field: &str) -> Result<Duration, ApiError> {
    let d = d.ok_or_else(|| ApiError::invalid(field, "is required"))?;
    let unit = time_unit(d.unit, &format!("{field}.unit"))?;
    if !(d.value.is_finite() && d.value > 0.0) {
        return Err(ApiError::invalid(
            format!("{field}.value"),
            format!("must be finite and > 0, got {}", d.value),
        ));
    }
    Ok(Duration::new(d.value, unit))
}

pub fn duration_to_proto(d: Duration) -> pb::Duration {
    pb::Duration {
        value: d.value,
        unit: time_unit_to_proto(d.unit) as i32,
    }
}

/// The CLV horizon and discount of a score request. No discount = rate 0 over one horizon.
pub fn clv_spec(
    horizon: Option<&pb::Duration>,
    discount: Option<&pb::DiscountRate>,
    field: &str,
) -> Result<ClvSpec, ApiError> {
    let horizon = duration(horizon, &format!("{field}.horizon"))?;
    let discount = match discount {
        None => Discount {
            rate: 0.0,
            period: horizon,
        },
        Some(d) => {
            let period = duration(d.period.as_ref(), &format!("{field}.discount.period"))?;
            if !(d.rate.is_finite() && d.rate >= 0.0) {
                return Err(ApiError::invalid(
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
    spec.validate()
        .map_err(|e| ApiError::from(e).within(field))?;
    Ok(spec)
}

pub fn discount_to_proto(d: Discount) -> pb::DiscountRate {
    pb::DiscountRate {
        rate: d.rate,
        period: Some(duration_to_proto(d.period)),
    }
}

/// The UTC calendar day of a timestamp.
pub fn day(ts: &prost_types::Timestamp, field: &str) -> Result<Day, ApiError> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(ApiError::invalid(
            field,
            format!("nanos must be in [0, 1e9), got {}", ts.nanos),
        ));
    }
    let days = ts.seconds.div_euclid(SECONDS_PER_DAY);
    // Years 0000..=9999, like google.protobuf.Timestamp itself.
    const MIN: i64 = -719_528;
    const MAX: i64 = 2_932_896;
    if !(MIN..=MAX).contains(&days) {
        return Err(ApiError::invalid(
            field,
            format!("{} seconds is outside years 0000-9999", ts.seconds),
        ));
    }
    Ok(Day(days as i32))
}

pub fn required_day(ts: Option<&prost_types::Timestamp>, field: &str) -> Result<Day, ApiError> {
    day(
        ts.ok_or_else(|| ApiError::invalid(field, "is required"))?,
        field,
    )
}

pub fn optional_day(
    ts: Option<&prost_types::Timestamp>,
    field: &str,
) -> Result<Option<Day>, ApiError> {
    ts.map(|t| day(t, field)).transpose()
}

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

/// A model name: 1-128 characters of `[A-Za-z0-9._-]`.
pub fn model_name(name: &str, field: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if name.len() > 128 {
        return Err(ApiError::invalid(field, "is longer than 128 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(ApiError::invalid(
            field,
            format!("contains {c:?}; use letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

fn params_to_proto(names_values: &[(&str, f64)], d: &FitDiagnostics) -> Vec<pb::Parameter> {
    names_values
        .iter()
        .enumerate()
        .map(|(i, (name, value))| pb::Parameter {
            name: (*name).to_owned(),
            value: *value,
            standard_error: d.standard_errors.get(i).copied().flatten(),
        })
        .collect()
}

pub fn diagnostics_to_proto(d: &FitDiagnostics) -> pb::FitDiagnostics {
    pb::FitDiagnostics {
        converged: d.converged,
        method: d.method.clone(),
        iterations: d.iterations,
        evaluations: d.evaluations,
        gradient_norm: d.gradient_norm,
        log_likelihood: d.log_likelihood,
        aic: d.aic,
        bic: d.bic,
        observations: d.n_observations,
        groups: d.n_groups as u64,
        message: d.message.clone(),
        warnings: d.warnings.clone(),
    }
}

pub fn holdout_to_proto(h: &HoldoutReport, unit: TimeUnit) -> pb::HoldoutMetrics {
    pb::HoldoutMetrics {
        duration: Some(duration_to_proto(Duration::new(h.holdout_duration, unit))),
        customers: h.customers,
        actual_total: h.actual_total,
        predicted_total: h.predicted_total,
        mae: h.mae,
        rmse: h.rmse,
        pearson_r: h.pearson_r,
        auc: h.auc,
        brier: h.brier,
        by_frequency: h
            .by_frequency
            .iter()
            .map(|b| pb::FrequencyBin {
                label: b.label.clone(),
                customers: b.customers,
                mean_actual: b.mean_actual,
                mean_predicted: b.mean_predicted,
            })
            .collect(),
    }
}

pub fn model_to_proto(r: &ModelRecord) -> pb::Model {
    let m = &r.model;
    let spend_params = match (&m.spend, &r.spend_fit) {
        (Some(g), Some(d)) => params_to_proto(&[("p", g.p), ("q", g.q), ("v", g.v)], d),
        _ => Vec::new(),
    };
    pb::Model {
        name: r.name.clone(),
        version: r.version,
        created_at: Some(timestamp_of_ms(r.created_at_ms)),
        time_unit: time_unit_to_proto(m.unit) as i32,
        transaction_model: transaction_model_to_proto(m.transaction.kind()) as i32,
        params: params_to_proto(&m.transaction.named_params(), &r.transaction_fit),
        diagnostics: Some(diagnostics_to_proto(&r.transaction_fit)),
        spend_model: spend_model_to_proto(m.spend.is_some()) as i32,
        spend_params,
        spend_diagnostics: r.spend_fit.as_ref().map(diagnostics_to_proto),
        holdout: r.holdout.as_ref().map(|h| holdout_to_proto(h, m.unit)),
    }
}

pub fn version_summary_to_proto(r: &ModelRecord) -> pb::ModelVersionSummary {
    pb::ModelVersionSummary {
        name: r.name.clone(),
        version: r.version,
        created_at: Some(timestamp_of_ms(r.created_at_ms)),
        transaction_model: transaction_model_to_proto(r.model.transaction.kind()) as i32,
        spend_model: spend_model_to_proto(r.model.spend.is_some()) as i32,
        time_unit: time_unit_to_proto(r.model.unit) as i32,
        customers: r.training.customers,
        log_likelihood: r.transaction_fit.log_likelihood,
    }
}

fn column(name: &str, description: &str, unit: &str) -> pb::Column {
    pb::Column {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
    }
}

pub fn metadata_to_proto(r: &ModelRecord) -> pb::ModelMetadataResponse {
    let unit = r.model.unit.as_str();
    let t = &r.training;
    let mut inputs = vec![
        column("customer_id", "unique customer identifier", ""),
        column(
            "frequency",
            "repeat purchases: distinct purchase days after the first",
            "purchases",
        ),
        column("recency", "time from first to last purchase", unit),
        column(
            "age",
            "time from first purchase to the observation end (T)",
            unit,
        ),
    ];
    let mut outputs = vec![
        column(
            "expected_purchases",
            "expected repeat purchases within the horizon",
            "purchases",
        ),
        column(
            "p_alive",
            "probability the customer is alive at the observation end",
            "",
        ),
        column(
            "propensity",
            "probability of at least one purchase within the horizon",
            "",
        ),
    ];
    if r.model.spend.is_some() {
        inputs.push(column(
            "monetary_value",
            "mean spend per repeat purchase (first purchase excluded)",
            "currency",
        ));
        outputs.push(column(
            "expected_spend",
            "Gamma-Gamma conditional mean spend per transaction",
            "currency",
        ));
        outputs.push(column(
            "clv",
            "discounted expected value over the horizon",
            "currency",
        ));
    }
    pb::ModelMetadataResponse {
        name: r.name.clone(),
        version: r.version,
        created_at: Some(timestamp_of_ms(r.created_at_ms)),
        time_unit: time_unit_to_proto(r.model.unit) as i32,
        training: Some(pb::TrainingData {
            customers: t.customers,
            transactions: t.transactions,
            input_kind: t.input_kind.as_str().into(),
            observation_end: t.observation_end_day.map(|d| timestamp_of_day(Day(d))),
            holdout_end: t.holdout_end_day.map(|d| timestamp_of_day(Day(d))),
            fingerprint: t.fingerprint.clone(),
            fit_seconds: t.fit_seconds,
        }),
        inputs,
        outputs,
        server_version: t.server_version.clone(),
        penalizer: t.penalizer,
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
    }

    #[test]
    fn enums_and_names_are_checked() {
        assert!(time_unit(0, "time_unit").is_err());
        assert!(time_unit(99, "time_unit").is_err());
        assert_eq!(time_unit(2, "time_unit").unwrap(), TimeUnit::Week);
        assert!(transaction_model(0, "m").is_err());
        assert!(model_name("cdnow-bgnbd_v1.2", "name").is_ok());
        assert!(model_name("", "name").is_err());
        assert!(model_name("a/b", "name").is_err());
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
        match clv_spec(Some(&zero), None, "options") {
            Err(ApiError::InvalidArgument(v)) => assert_eq!(v[0].field, "options.horizon.value"),
            other => panic!("{other:?}"),
        }
        let d = pb::DiscountRate {
            rate: -0.1,
            period: Some(h),
        };
        match clv_spec(Some(&h), Some(&d), "options") {
            Err(ApiError::InvalidArgument(v)) => {
                assert_eq!(v[0].field, "options.discount.rate")
            }
            other => panic!("{other:?}"),
        }
    }
}
