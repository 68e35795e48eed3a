//! Scoring requests: checked options bound to one stored model, then customers in, score
//! rows or columns out. Synchronous; the service decides where it runs.

use std::sync::Arc;

use custval_model::summary::Day;
use custval_model::{ClvSpec, Scores, TimeUnit};
use custval_proto::v1 as pb;

use crate::error::ApiError;
use crate::input::{DecodedTable, InputSettings, TableBuilder};
use crate::record::{InputKind, ModelRecord};
use crate::registry::Registry;
use crate::wire;

/// Everything a batch of customers is scored with.
#[derive(Debug)]
pub struct ScoreSetup {
    pub record: Arc<ModelRecord>,
    pub spec: ClvSpec,
    /// Unit of summary recency and age, when the request gave one.
    pub input_unit: Option<TimeUnit>,
    pub observation_end: Option<Day>,
    pub context: pb::ScoreContext,
}

impl ScoreSetup {
    /// Checks `options` (paths start with `field`) and looks up the model.
    pub fn parse(
        options: Option<&pb::ScoreOptions>,
        registry: &Registry,
        field: &str,
    ) -> Result<ScoreSetup, ApiError> {
        let o = options.ok_or_else(|| ApiError::invalid(field, "is required"))?;
        wire::model_name(&o.model_name, &format!("{field}.model_name"))?;
        let spec = wire::clv_spec(o.horizon.as_ref(), o.discount.as_ref(), field)?;
        let input_unit = if o.time_unit == 0 {
            None
        } else {
            Some(wire::time_unit(o.time_unit, &format!("{field}.time_unit"))?)
        };
        let observation_end = wire::optional_day(
            o.observation_end.as_ref(),
            &format!("{field}.observation_end"),
        )?;
        let record = registry.get(&o.model_name, o.model_version)?;
        let context = pb::ScoreContext {
            request_id: o.request_id.clone(),
            model_name: record.name.clone(),
            model_version: record.version,
            time_unit: wire::time_unit_to_proto(record.model.unit) as i32,
            horizon: Some(wire::duration_to_proto(spec.horizon)),
            discount: Some(wire::discount_to_proto(spec.discount)),
        };
        Ok(ScoreSetup {
            record,
            spec,
            input_unit,
            observation_end,
            context,
        })
    }

    fn decode(
        &self,
        customers: Vec<pb::Customer>,
        columns: Option<pb::SummaryColumns>,
        max_customers: usize,
    ) -> Result<DecodedTable, ApiError> {
        let monetary_missing = self.record.model.spend.is_some()
            && columns
                .as_ref()
                .is_some_and(|c| !c.customer_id.is_empty() && c.monetary_value.is_empty());
        let mut builder = TableBuilder::new(InputSettings {
            // Raw histories are summarized straight into the model's unit.
            unit: self.input_unit.unwrap_or(self.record.model.unit),
            observation_end: self.observation_end,
            holdout_end: None,
            holdout_duration: None,
            observation_end_field: "options.observation_end",
            max_customers,
            unique_across_chunks: false,
        });
        builder.add(customers, columns)?;
        let decoded = builder.finish()?;
        if decoded.kind == InputKind::Summaries && self.input_unit.is_none() {
            return Err(ApiError::invalid(
                "options.time_unit",
                "is required with summaries: the unit of their recency and age",
            ));
        }
        if monetary_missing {
            return Err(ApiError::invalid(
                "summary_columns.monetary_value",
                format!(
                    "is required: model {:?} has a spend model",
                    self.record.name
                ),
            ));
        }
        if decoded.table.holdout.is_some() {
            return Err(ApiError::invalid(
                "summary_columns.holdout_frequency",
                "holdout fields are for fits, not scores",
            ));
        }
        Ok(decoded)
    }

    fn score(&self, decoded: &DecodedTable) -> Result<Scores, ApiError> {
        let t = &decoded.table;
        let unit = t.unit.unwrap_or(self.record.model.unit);
        Ok(self
            .record
            .model
            .score(&t.rfm, &t.monetary_value, unit, &self.spec)?)
    }

    /// One row per customer (unary `Score`).
    pub fn rows(
        &self,
        customers: Vec<pb::Customer>,
        columns: Option<pb::SummaryColumns>,
        max_customers: usize,
    ) -> Result<Vec<pb::CustomerScore>, ApiError> {
        let decoded = self.decode(customers, columns, max_customers)?;
        let s = self.score(&decoded)?;
        Ok(decoded
            .table
            .ids
            .into_iter()
            .enumerate()
            .map(|(i, customer_id)| pb::CustomerScore {
                customer_id,
                expected_purchases: s.expected_purchases[i],
                p_alive: s.p_alive[i],
                propensity: s.propensity[i],
                expected_spend: s.expected_spend[i],
                clv: s.clv[i],
            })
            .collect())
    }

    /// Score columns (`ScoreStream`): the wire form of [`Scores`] without per-row messages.
    pub fn columns(
        &self,
        customers: Vec<pb::Customer>,
        columns: Option<pb::SummaryColumns>,
        max_customers: usize,
    ) -> Result<pb::ScoreColumns, ApiError> {
        let decoded = self.decode(customers, columns, max_customers)?;
        let s = self.score(&decoded)?;
        let has_spend = self.record.model.spend.is_some();
        let mut undefined = Vec::new();
        let (spend, clv) = if has_spend {
            let mut spend = Vec::with_capacity(s.expected_spend.len());
            let mut clv = Vec::with_capacity(s.clv.len());
            for (i, (e, c)) in s.expected_spend.iter().zip(&s.clv).enumerate() {
                match (e, c) {
                    (Some(e), Some(c)) => {
                        spend.push(*e);
                        clv.push(*c);
                    }
                    _ => {
                        undefined.push(i as u32);
                        spend.push(0.0);
                        clv.push(0.0);
                    }
                }
            }
            (spend, clv)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(pb::ScoreColumns {
            customer_id: decoded.table.ids,
            expected_purchases: s.expected_purchases,
            p_alive: s.p_alive,
            propensity: s.propensity,
            expected_spend: spend,
            clv,
            undefined_spend: undefined,
        })
    }
}
