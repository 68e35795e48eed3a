//! What a request will cost, estimated from its size before its work starts. Admission
//! weighs requests by it and refuses one that alone costs more than `--max-request-cost`,
//! naming the field the cost grows with.
//!
//! The unit is a customer-pass: one customer scored once. A fit passes over its customers
//! once per family tried (the optimizer's iterations are bounded separately), a backtest
//! once per family per fold plus the final fit, a segmentation once per k-means restart
//! per segment count tried. Registry calls cost one unit.

use custval_proto::v1 as pb;

use crate::segmenting;

/// One request's estimated cost, and the field it grows with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    /// Customer-passes.
    pub units: u64,
    /// The request field the cost grows with (e.g. `summary_columns`), named when the
    /// request is refused.
    pub field: String,
    /// How the estimate was made, for the refusal's message ("2357 customers x 4 families").
    pub how: String,
}

/// The customers of a batch, and the field that carries them (rows or columns).
pub fn batch(
    customers: &[pb::Customer],
    columns: Option<&pb::SummaryColumns>,
) -> (usize, &'static str) {
    match columns {
        Some(c) if customers.is_empty() => (c.customer_id.len(), "summary_columns"),
        _ => (customers.len(), "customers"),
    }
}

impl Cost {
    /// A call that touches no customers: registry reads and writes, and a stream's start
    /// (its chunks are bounded by --max-batch-customers and the stream by its total).
    pub fn fixed() -> Cost {
        Cost {
            units: 1,
            field: String::new(),
            how: "a fixed cost".into(),
        }
    }

    /// Scoring (Score, Recommend) `customers` customers carried in `field`.
    pub fn score(customers: usize, field: &str) -> Cost {
        Cost {
            units: customers as u64,
            field: field.to_owned(),
            how: format!("{customers} customers"),
        }
    }

    /// Fitting `families` families to `customers` customers.
    pub fn fit(customers: usize, families: usize, field: &str) -> Cost {
        Cost {
            units: (customers as u64).saturating_mul(families as u64),
            field: field.to_owned(),
            how: format!("{customers} customers x {families} families"),
        }
    }

    /// A backtest of `families` families over `folds` folds, plus the winner's fit.
    pub fn backtest(customers: usize, families: usize, folds: usize, field: &str) -> Cost {
        let passes = (families as u64).saturating_mul(folds as u64 + 1);
        Cost {
            units: (customers as u64).saturating_mul(passes),
            field: field.to_owned(),
            how: format!("{customers} customers x {families} families x ({folds} folds + 1)"),
        }
    }

    /// A segmentation: the scores, then k-means restarts for each segment count tried.
    /// Options that do not parse are estimated at the defaults (the handler refuses them).
    pub fn segment(customers: usize, field: &str, options: Option<&pb::SegmentOptions>) -> Cost {
        let o = segmenting::segment_options(options).unwrap_or_default();
        let counts = if o.k > 0 {
            1
        } else {
            o.k_max.saturating_sub(o.k_min) + 1
        };
        let passes = 1 + (o.runs as u64).saturating_mul(counts as u64);
        Cost {
            units: (customers as u64).saturating_mul(passes),
            field: field.to_owned(),
            how: format!(
                "{customers} customers x (1 + {} restarts x {counts} segment counts)",
                o.runs
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_grow_with_what_the_work_grows_with() {
        assert_eq!(Cost::score(1000, "customers").units, 1000);
        assert_eq!(Cost::fit(1000, 4, "customers").units, 4000);
        assert_eq!(Cost::backtest(1000, 4, 3, "customers").units, 16_000);
        let fixed_k = pb::SegmentOptions {
            k: 5,
            runs: 2,
            ..Default::default()
        };
        assert_eq!(Cost::segment(100, "customers", Some(&fixed_k)).units, 300);
        let range = pb::SegmentOptions {
            k_min: 2,
            k_max: 4,
            runs: 10,
            ..Default::default()
        };
        assert_eq!(Cost::segment(100, "customers", Some(&range)).units, 3100);
        let columns = pb::SummaryColumns {
            customer_id: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert_eq!(batch(&[], Some(&columns)), (2, "summary_columns"));
        assert_eq!(batch(&[], None), (0, "customers"));
    }
}
