//! What the registry stores per model version: the fitted model, how it was fitted, and
//! what it was fitted on. Serialized as JSON in the store, so fields are only ever added
//! (with `#[serde(default)]`), never renamed.

use custval_model::decide::recommend::Economics;
use custval_model::decide::segments::SegmentModel;
use custval_model::{CustomerModel, FitDiagnostics, HoldoutReport};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub name: String,
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    pub model: CustomerModel,
    pub transaction_fit: FitDiagnostics,
    pub spend_fit: Option<FitDiagnostics>,
    pub holdout: Option<HoldoutReport>,
    pub training: TrainingInfo,
    /// Set by a stored `Segment` call: later scores get segment, tier and action.
    #[serde(default)]
    pub segments: Option<StoredSegments>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSegments {
    pub model: SegmentModel,
    pub economics: Economics,
}

/// Where the training summaries came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Transactions,
    Summaries,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Transactions => "transactions",
            InputKind::Summaries => "summaries",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub customers: u64,
    /// Raw transactions read; 0 for summaries.
    pub transactions: u64,
    pub input_kind: InputKind,
    /// Calibration end, as days since 1970-01-01 (UTC).
    pub observation_end_day: Option<i32>,
    pub holdout_end_day: Option<i32>,
    /// SHA-256 (hex) of the training summaries in customer-id order.
    pub fingerprint: String,
    pub fit_seconds: f64,
    pub penalizer: f64,
    pub server_version: String,
    /// The client summarized its transaction log and sent summaries
    /// (`FitSpec.summarized_log`); `input_kind` is then `Transactions`. Absent (false) in
    /// records stored before the field existed.
    #[serde(default)]
    pub summarized_by_client: bool,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use custval_model::{BetaGeoParams, TimeUnit, TransactionModel};

    /// A plausible record (CDNOW's published BG/NBD) for store and registry tests.
    pub(crate) fn sample_record(name: &str) -> ModelRecord {
        ModelRecord {
            name: name.into(),
            version: 0,
            created_at_ms: 1_700_000_000_000,
            model: CustomerModel {
                unit: TimeUnit::Week,
                transaction: TransactionModel::bg_nbd(BetaGeoParams::published_cdnow()),
                spend: None,
            },
            transaction_fit: FitDiagnostics {
                model: "BG/NBD".into(),
                converged: true,
                method: "L-BFGS".into(),
                iterations: 20,
                evaluations: 25,
                gradient_norm: 1e-9,
                log_likelihood: -9582.4,
                n_observations: 2357.0,
                n_groups: 1411,
                n_params: 4,
                aic: 19172.8,
                bic: 19195.9,
                param_names: vec!["r".into(), "alpha".into(), "a".into(), "b".into()],
                standard_errors: vec![Some(0.01), Some(0.2), None, Some(0.3)],
                message: String::new(),
                warnings: vec![],
            },
            spend_fit: None,
            holdout: None,
            training: TrainingInfo {
                customers: 2357,
                transactions: 0,
                input_kind: InputKind::Summaries,
                observation_end_day: Some(10_134),
                holdout_end_day: None,
                fingerprint: "00".repeat(32),
                fit_seconds: 0.01,
                penalizer: 0.0,
                server_version: "test".into(),
                summarized_by_client: false,
            },
            segments: None,
        }
    }

    #[test]
    fn records_stored_before_summarized_by_client_still_load() {
        let r = sample_record("old");
        let mut json: serde_json::Value = serde_json::to_value(&r).unwrap();
        json["training"]
            .as_object_mut()
            .unwrap()
            .remove("summarized_by_client");
        let back: ModelRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn records_round_trip_through_json_bit_for_bit() {
        // A restart must not move a single score: every float comes back exactly.
        let mut r = sample_record("cdnow");
        let awkward = [
            0.1 + 0.2,
            1.0 / 3.0,
            2f64.sqrt(),
            15.44774908914824,
            5e-324,
            1e300,
        ];
        for (i, x) in awkward.into_iter().enumerate() {
            // x / 3 underflows to 0 for the smallest subnormal, which is out of the
            // domain (parameters are checked): that one keeps x itself.
            let a = if x / 3.0 > 0.0 { x / 3.0 } else { x };
            r.model.transaction =
                TransactionModel::bg_nbd(BetaGeoParams::new(x, x * 7.0, a, x + i as f64).unwrap());
            r.transaction_fit.gradient_norm = x / 11.0;
            let json = serde_json::to_string(&r).unwrap();
            let back: ModelRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(back, r);
        }
    }
}
