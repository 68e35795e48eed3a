//! Scoring requests: checked options bound to one stored model, then customers in, score
//! rows or columns out. Synchronous; the service decides where it runs.

use std::sync::Arc;

use custval_model::data::summary::Day;
use custval_model::decide::recommend;
use custval_model::{ClvSpec, Scores, TimeUnit, UnitConversion};
use custval_proto::v1 as pb;

use crate::error::ApiError;
use crate::input::{DecodedTable, InputSettings, TableBuilder};
use crate::record::{InputKind, ModelRecord};
use crate::registry::Registry;
use crate::wire;

/// Segment, tier and action names per customer.
#[derive(Debug, Default)]
pub struct Labels {
    pub segment: Vec<String>,
    pub tier: Vec<String>,
    pub action: Vec<String>,
}

/// Everything a batch of customers is scored with.
#[derive(Debug)]
pub struct ScoreSetup {
    pub record: Arc<ModelRecord>,
    pub spec: ClvSpec,
    /// The batch's time unit, resolved once from the request: `options.time_unit`, else the
    /// model's (raw histories are then summarized straight into it).
    pub unit: TimeUnit,
    /// Whether the request named the unit; summaries must (it is that of recency and age).
    pub unit_given: bool,
    /// From `unit` to the model's unit.
    pub units: UnitConversion,
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
        let unit = input_unit.unwrap_or(record.model.unit);
        let units = UnitConversion::new(unit, record.model.unit);
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
            unit,
            unit_given: input_unit.is_some(),
            units,
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
            unit: self.unit,
            observation_end: self.observation_end,
            holdout_end: None,
            holdout_duration: None,
            takes_holdout: false,
            observation_end_field: "options.observation_end",
            max_customers,
            unique_across_chunks: false,
            keep_ids: true,
        });
        builder.add(customers, columns)?;
        let decoded = builder.finish()?;
        if decoded.kind == InputKind::Summaries && !self.unit_given {
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

    fn score_with(&self, decoded: &DecodedTable, spec: &ClvSpec) -> Result<Scores, ApiError> {
        let t = &decoded.table;
        let model = &self.record.model;
        // Stopped between chunks once the caller has gone (a batch can be large).
        let cancel = crate::cancel::current().token();
        let scores = model
            .score_until(&t.rfm, &t.monetary_value, self.unit, spec, &cancel)
            .map_err(|e| match e {
                custval_model::ModelError::Numerical { .. } => self.unscorable(decoded, spec, e),
                other => other.into(),
            })?;
        all_finite(&scores, &t.ids)?;
        Ok(scores)
    }

    /// A numerical failure while scoring: the model cannot evaluate some customer's
    /// history (valid, but far outside the data it was fitted on). That is the request's
    /// customer, not a bug: INVALID_ARGUMENT naming the first such customer, found by
    /// scoring them one at a time (only on this failure path).
    fn unscorable(
        &self,
        decoded: &DecodedTable,
        spec: &ClvSpec,
        e: custval_model::ModelError,
    ) -> ApiError {
        let t = &decoded.table;
        let model = &self.record.model;
        let first = (0..t.len()).find(|&i| {
            model
                .score(&t.rfm[i..=i], &t.monetary_value[i..=i], self.unit, spec)
                .is_err()
        });
        let who = first.map_or_else(String::new, |i| format!("customer {:?}: ", t.ids[i]));
        ApiError::invalid(
            "customers",
            format!(
                "{who}the model cannot score this history ({e}); its values lie outside \
                 what the model can evaluate"
            ),
        )
    }

    fn score(&self, decoded: &DecodedTable) -> Result<Scores, ApiError> {
        self.score_with(decoded, &self.spec)
    }

    /// Decodes and scores a batch.
    pub fn scored(
        &self,
        customers: Vec<pb::Customer>,
        columns: Option<pb::SummaryColumns>,
        max_customers: usize,
    ) -> Result<(DecodedTable, Scores), ApiError> {
        let decoded = self.decode(customers, columns, max_customers)?;
        let scores = self.score(&decoded)?;
        Ok((decoded, scores))
    }

    /// Scores under `spec` (reusing `scores` when they already are).
    pub fn scores_for(
        &self,
        decoded: &DecodedTable,
        scores: &Scores,
        spec: &ClvSpec,
    ) -> Result<Scores, ApiError> {
        if *spec == self.spec {
            Ok(scores.clone())
        } else {
            self.score_with(decoded, spec)
        }
    }

    /// Segment, tier and action per customer from the model's stored segmentation, valued
    /// with the segmentation's own horizon and discount.
    fn labels(&self, decoded: &DecodedTable, scores: &Scores) -> Result<Option<Labels>, ApiError> {
        let Some(stored) = &self.record.segments else {
            return Ok(None);
        };
        let seg = &stored.model;
        let own = self.scores_for(decoded, scores, &seg.spec)?;
        let t = &decoded.table;
        let placed = seg.assign(&t.rfm, &t.monetary_value, &own, self.units)?;
        let recs = recommend::recommend_all(&t.rfm, &own, seg, &placed, &stored.economics);
        Ok(Some(Labels {
            segment: placed
                .labels
                .iter()
                .map(|&l| seg.name(l).to_owned())
                .collect(),
            tier: placed.tiers.iter().map(|t| t.as_str().to_owned()).collect(),
            action: recs.iter().map(|r| r.action.as_str().to_owned()).collect(),
        }))
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
        let labels = self.labels(&decoded, &s)?;
        let label = |v: Option<&Vec<String>>, i: usize| v.map_or(String::new(), |v| v[i].clone());
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
                segment: label(labels.as_ref().map(|l| &l.segment), i),
                tier: label(labels.as_ref().map(|l| &l.tier), i),
                action: label(labels.as_ref().map(|l| &l.action), i),
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
        let labels = self.labels(&decoded, &s)?.unwrap_or_default();
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
            segment: labels.segment,
            tier: labels.tier,
            action: labels.action,
        })
    }
}

/// The last guard before a response: no OK answer carries NaN or infinity. Inputs are
/// bounded so that this does not happen; if a customer's history still takes a model out
/// of its range, the request is refused naming the customer rather than answered with a
/// number nobody can use.
fn all_finite(s: &Scores, ids: &[String]) -> Result<(), ApiError> {
    let columns: [(&str, &dyn Fn(usize) -> f64); 5] = [
        ("expected_purchases", &|i| s.expected_purchases[i]),
        ("p_alive", &|i| s.p_alive[i]),
        ("propensity", &|i| s.propensity[i]),
        ("expected_spend", &|i| s.expected_spend[i].unwrap_or(0.0)),
        ("clv", &|i| s.clv[i].unwrap_or(0.0)),
    ];
    for (i, id) in ids.iter().enumerate() {
        for (name, value) in &columns {
            let v = value(i);
            if !v.is_finite() {
                return Err(ApiError::invalid(
                    "customers",
                    format!(
                        "customer {id:?}: the model's {name} is not a finite number ({v}) for \
                         this history; its values lie outside what the model can score"
                    ),
                ));
            }
        }
    }
    Ok(())
}
