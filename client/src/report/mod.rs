//! `custval report`: one self-contained HTML page about a model — fit, holdout tracking,
//! calibration, ranking beside naive baselines with deciles and gain curves, P(alive),
//! value concentration, segments and the budget plan — with inline SVG charts drawn here
//! (no scripts, no fonts or styles from the network).
//!
//! [`ReportData`] holds what the page shows: RPC responses as they arrive, the tracking
//! curves computed locally with [`custval_model::predict::tracking`], and which P(alive) matrix to
//! draw (computed here from the model's parameters). Every part is a `Result`: `Err(why)`
//! renders as a short "not available: why" line instead of a chart. [`render`] is a pure
//! function of the data.
//!
//! * `mod.rs` (here): the data, and what is computed from the model rather than asked of
//!   the server (the transaction model from its parameters, the P(alive) grid, tracking);
//!   the calls that fill it are made by the `report` command;
//! * [`page`]: the document and the sections about the model;
//! * `gains`: the holdout's decile calibration and gain curves (model and baselines);
//! * `customers`: the sections about customers (concentration, segments, budget);
//! * `backtest`: the backtest section (families over several holdouts);
//! * `chart`: the SVG charts; `text`: escaping and number formatting.

mod backtest;
mod chart;
mod customers;
mod gains;
pub mod page;
mod text;

use custval_model::data::summary::Day;
use custval_model::predict::tracking::{Calendar, Tracking, track_transactions};
use custval_model::{Rfm, TimeUnit, TransactionModel};
use custval_proto::v1 as pb;

pub use self::page::{SECTIONS, render};
pub use self::text::{esc, fmt_count, fmt_fixed, fmt_num, fmt_pct, fmt_sig};

/// Why a part is missing when nobody asked for it.
pub const NOT_REQUESTED: &str = "not requested";

/// A part of the report: the data, or why it is not there.
pub type Part<T> = Result<T, String>;

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Page heading, e.g. "Model cdnow".
    pub title: String,
    /// A line under the heading, e.g. where and when the report was made.
    pub subtitle: String,
    /// `GetModel` → `GetModelResponse.model`.
    pub model: Part<pb::Model>,
    /// `ModelMetadata`.
    pub metadata: Part<pb::ModelMetadataResponse>,
    /// Computed locally from the transaction log with
    /// [`custval_model::predict::tracking::track_transactions`].
    pub tracking: Part<Tracking>,
    /// Which P(alive) matrix to draw; the values come from `model`'s parameters.
    pub p_alive: Part<PAliveMatrix>,
    /// `Segment` (segments, tiers, concentration).
    pub segments: Part<pb::SegmentResponse>,
    /// `Recommend`, with a budget for the plan.
    pub recommendations: Part<pb::RecommendResponse>,
    /// `Backtest` of the transaction log.
    pub backtest: Part<pb::BacktestResponse>,
}

impl ReportData {
    /// A report with every part "not requested".
    pub fn new(title: impl Into<String>) -> ReportData {
        fn missing<T>() -> Part<T> {
            Err(NOT_REQUESTED.to_owned())
        }
        ReportData {
            title: title.into(),
            subtitle: String::new(),
            model: missing(),
            metadata: missing(),
            tracking: missing(),
            p_alive: missing(),
            segments: missing(),
            recommendations: missing(),
            backtest: missing(),
        }
    }
}

/// The frequency × recency grid of P(alive) for customers of one age.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PAliveMatrix {
    /// Customer age T in the model's unit (e.g. the calibration length).
    pub age: f64,
    /// Rows: repeat purchases 0..=max_frequency.
    pub max_frequency: u32,
    /// Columns: recency 0, T/steps, …, T.
    pub recency_steps: u32,
}

impl PAliveMatrix {
    /// Frequencies 0..=20 by 20 recency steps, at `age`.
    pub fn at_age(age: f64) -> PAliveMatrix {
        PAliveMatrix {
            age,
            max_frequency: 20,
            recency_steps: 20,
        }
    }

    /// The matrix's values under the model `m`, or why there are none.
    pub fn grid(&self, m: &pb::Model) -> Part<PAliveGrid> {
        if !(self.age.is_finite() && self.age > 0.0) {
            return Err("the customer age for the matrix must be positive".to_owned());
        }
        if self.recency_steps == 0 || self.max_frequency > 200 || self.recency_steps > 200 {
            return Err("the matrix must have 1-200 recency steps and frequencies".to_owned());
        }
        let tm = transaction_model_from_proto(m)?;
        let steps = self.recency_steps as usize;
        let recency: Vec<f64> = (0..=steps)
            .map(|j| self.age * j as f64 / steps as f64)
            .collect();
        let cells: Vec<Vec<Option<f64>>> = (0..=self.max_frequency)
            .map(|x| {
                recency
                    .iter()
                    .map(|&r| {
                        if x == 0 && r > 0.0 {
                            return None;
                        }
                        let c = Rfm {
                            frequency: x,
                            recency: r,
                            age: self.age,
                        };
                        tm.p_alive(&c).ok().filter(|p| p.is_finite())
                    })
                    .collect()
            })
            .collect();
        Ok(PAliveGrid { recency, cells })
    }
}

/// The values of a [`PAliveMatrix`].
#[derive(Debug, Clone, PartialEq)]
pub struct PAliveGrid {
    /// The recency of each column.
    pub recency: Vec<f64>,
    /// P(alive) by frequency (rows) and recency (columns); `None` where undefined (no
    /// repeat purchase but a recency) or not finite.
    pub cells: Vec<Vec<Option<f64>>>,
}

/// Weekly expected against actual cumulative repeat purchases of the customers whose
/// purchases are `rows`, under the model `m` in its `unit`: from the first purchase to
/// `holdout_end` (or `calibration_end` without a holdout).
/// The outer error is a model whose parameters make no transaction model (the command
/// fails); the inner one a tracking that cannot be drawn (the page says why).
pub fn tracking(
    m: &pb::Model,
    unit: TimeUnit,
    rows: Vec<(String, Day)>,
    calibration_end: Day,
    holdout_end: Option<Day>,
) -> Result<Part<Tracking>, String> {
    let start = rows.iter().map(|r| r.1).min().unwrap_or(calibration_end);
    let tm = transaction_model_from_proto(m)?;
    Ok(Calendar::weekly(
        start,
        holdout_end.unwrap_or(calibration_end),
        holdout_end.map(|_| calibration_end),
    )
    .and_then(|c| track_transactions(&tm, unit, &c, rows))
    .map_err(|e| e.to_string()))
}

/// The model crate's transaction model for a `pb::Model`'s family and parameters.
pub fn transaction_model_from_proto(m: &pb::Model) -> Result<TransactionModel, String> {
    custval_wire::models::transaction_model_from_proto(m).map_err(|e| e.to_string())
}

pub use custval_wire::units::time_unit_from_proto;

#[cfg(test)]
mod tests {
    use super::*;
    use custval_model::ParetoNbdParams;

    #[test]
    fn proto_params_become_a_model() {
        let param = |name: &str, value: f64| pb::Parameter {
            name: name.into(),
            value,
            standard_error: None,
        };
        let mut m = pb::Model {
            transaction_model: pb::TransactionModelKind::ParetoNbd as i32,
            params: vec![
                param("r", 0.55),
                param("alpha", 10.58),
                param("s", 0.61),
                param("beta", 11.67),
            ],
            ..Default::default()
        };
        assert_eq!(
            transaction_model_from_proto(&m).unwrap(),
            TransactionModel::pareto_nbd(ParetoNbdParams::new(0.55, 10.58, 0.61, 11.67).unwrap())
        );
        m.transaction_model = pb::TransactionModelKind::BgNbd as i32;
        assert!(
            transaction_model_from_proto(&m)
                .unwrap_err()
                .contains("model.params.a")
        );
        m.transaction_model = 0;
        assert!(transaction_model_from_proto(&m).is_err());
        // A family by name wins over the enum.
        m.family = "pareto-nbd".into();
        assert!(transaction_model_from_proto(&m).is_ok());
    }
}
