//! Responses built from stored records (Model, ModelVersionSummary, ModelMetadata), and
//! the request and response conversions of `custval-wire` under the names the handlers
//! use. Every mapping between custval.v1 and model types is written once, in custval-wire.

use custval_model::data::summary::Day;
use custval_proto::v1 as pb;

pub use custval_wire::dates::{optional_day, required_day, timestamp_of_day, timestamp_of_ms};
pub use custval_wire::models::{
    diagnostics_to_proto, family, family_kind, family_to_proto, holdout_to_proto, model_name,
    params_to_proto, spend_model, spend_model_to_proto, spend_params_to_proto,
};
pub use custval_wire::units::{
    clv_spec, discount_to_proto, duration, duration_to_proto, time_unit, time_unit_to_proto,
};

use crate::record::ModelRecord;

pub fn model_to_proto(r: &ModelRecord) -> pb::Model {
    let m = &r.model;
    let spend_params = match (&m.spend, &r.spend_fit) {
        (Some(g), Some(d)) => spend_params_to_proto(g, d),
        _ => Vec::new(),
    };
    pb::Model {
        name: r.name.clone(),
        version: r.version,
        created_at: Some(timestamp_of_ms(r.created_at_ms)),
        time_unit: time_unit_to_proto(m.unit) as i32,
        transaction_model: family_kind(m.transaction.family()) as i32,
        family: m.transaction.family().name().to_owned(),
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
        transaction_model: family_kind(r.model.transaction.family()) as i32,
        family: r.model.transaction.family().name().to_owned(),
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
            summarized_by_client: t.summarized_by_client,
        }),
        inputs,
        outputs,
        server_version: t.server_version.clone(),
        penalizer: t.penalizer,
    }
}
