//! What a customer's fields look like the same way whichever reader or writer handles
//! them: the check of a summary's frequency, CSV quoting, and table rows as wire columns.
//! A leaf, so text and Parquet readers and the writers share it without depending on
//! each other.

use custval_model::{CustomerTable, MAX_FREQUENCY};
use custval_proto::v1 as pb;

/// Column roles, as named in messages.
pub(super) const ID: &str = "customer_id";
pub(super) const DATE: &str = "date";
pub(super) const AMOUNT: &str = "amount";

/// An amount as a log row gives it: a finite number >= 0; otherwise why not.
pub(super) fn amount(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v + 0.0),
        Ok(v) => Err(format!("{text:?}: must be finite and >= 0 (got {v})")),
        Err(_) => Err(format!("{text:?}: not a number")),
    }
}

/// A summary's frequency read as a number: a whole number from 0 to the models'
/// [`MAX_FREQUENCY`]; otherwise the message.
pub(super) fn whole_frequency(f: f64) -> Result<u32, String> {
    if f >= 0.0 && f.fract() == 0.0 && f <= f64::from(MAX_FREQUENCY) {
        Ok(f as u32)
    } else {
        Err(format!(
            "frequency must be a whole number from 0 to {MAX_FREQUENCY}: {f}"
        ))
    }
}

/// Rows `range` of a local summary table as wire columns.
pub fn table_columns(t: &CustomerTable, range: std::ops::Range<usize>) -> pb::SummaryColumns {
    let rows = &t.rfm[range.clone()];
    let mut c = pb::SummaryColumns {
        customer_id: t.ids[range.clone()].to_vec(),
        frequency: rows.iter().map(|r| r.frequency).collect(),
        recency: rows.iter().map(|r| r.recency).collect(),
        age: rows.iter().map(|r| r.age).collect(),
        monetary_value: t.monetary_value[range.clone()].to_vec(),
        ..Default::default()
    };
    if let Some(h) = &t.holdout {
        c.holdout_frequency = h.frequency[range.clone()].to_vec();
        c.holdout_spend = h.spend[range.clone()].to_vec();
        // Only the holdout's past_spend baseline uses it: scores need not carry it.
        if let Some(total) = &t.calibration_spend {
            c.calibration_spend = total[range].to_vec();
        }
    }
    c
}

/// A CSV field, quoted when it needs to be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
