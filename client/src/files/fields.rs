//! What a customer's fields look like the same way whichever reader or writer handles
//! them: the check of a summary's frequency, CSV quoting, and table rows as wire columns.
//! A leaf, so text and Parquet readers and the writers share it without depending on
//! each other.

use custval_model::{CustomerTable, MAX_AMOUNT, MAX_FREQUENCY, ModelError, Rfm};
use custval_proto::v1 as pb;

/// Column roles, as named in messages.
pub(super) const ID: &str = "customer_id";
pub(super) const DATE: &str = "date";
pub(super) const AMOUNT: &str = "amount";

/// An amount as a log row gives it: a finite number from 0 to the models' [`MAX_AMOUNT`];
/// otherwise why not.
pub(super) fn amount(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=MAX_AMOUNT).contains(&v) => Ok(v + 0.0),
        Ok(v) => Err(format!(
            "{text:?}: must be finite, >= 0 and at most {MAX_AMOUNT:e} (got {v})"
        )),
        Err(_) => Err(format!("{text:?}: not a number")),
    }
}

/// The value of a summary row that [`check_summary`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SummaryField {
    Id,
    Frequency,
    Recency,
    T,
    Monetary,
}

/// A summary row checked as the service will check it: a non-empty id, the models'
/// summary invariants ([`Rfm::validate`]: recency and T finite, 0 <= recency <= T <=
/// `MAX_AGE`, recency 0 without repeat purchases) and a mean spend from 0 to
/// [`MAX_AMOUNT`]. Refused here, a bad row is named by its line and column; refused by
/// the service, only by its index in a chunk. The error is the value to blame and why;
/// each reader knows where that value is.
pub(super) fn check_summary(
    id: &str,
    rfm: Rfm,
    monetary_value: Option<f64>,
) -> Result<(), (SummaryField, String)> {
    if id.trim().is_empty() {
        return Err((SummaryField::Id, "customer id is empty".into()));
    }
    if let Err(e) = rfm.validate() {
        return Err(match e {
            ModelError::InvalidInput { field, reason } => {
                let which = match field.as_str() {
                    "T" => SummaryField::T,
                    "frequency" => SummaryField::Frequency,
                    _ => SummaryField::Recency,
                };
                (which, reason)
            }
            other => (SummaryField::Recency, other.to_string()),
        });
    }
    if let Some(m) = monetary_value
        && !(m.is_finite() && (0.0..=MAX_AMOUNT).contains(&m))
    {
        return Err((
            SummaryField::Monetary,
            format!("must be finite, >= 0 and at most {MAX_AMOUNT:e}, got {m}"),
        ));
    }
    Ok(())
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
