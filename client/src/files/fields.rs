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

/// A bad row's reason as the CLI says it: a row after the end names the way out.
pub(super) fn explain(reason: &str) -> String {
    if reason == custval_model::data::summary::R_AFTER_END {
        format!(
            "{reason} (the last day read: --holdout-end, else --observation-end); \
             --ignore-later-rows leaves such rows out, as lifetimes does"
        )
    } else {
        reason.to_owned()
    }
}

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

/// Where a summary file's holdout columns are, for `custval fit`: by 0-based column (text)
/// or by the Parquet reader's column handle.
#[derive(Debug, Clone)]
pub(super) struct HoldoutColumns<C> {
    /// `frequency_holdout`: repeat-purchase periods in the holdout.
    pub(super) frequency: C,
    /// `spend_holdout` (total holdout spend), or lifetimes' `monetary_value_holdout` (the
    /// mean per holdout purchase, multiplied out here); neither: no holdout revenue.
    pub(super) spend: Option<(C, HoldoutSpend)>,
    /// `duration_holdout`: the holdout's length, in the file's time unit.
    pub(super) duration: C,
    /// `calibration_spend`: total calibration spend, first purchase included.
    pub(super) calibration_spend: Option<C>,
}

/// How a holdout spend column is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HoldoutSpend {
    Total,
    MeanPerPurchase,
}

impl<C> HoldoutColumns<C> {
    /// The holdout columns found by `find` (a name to its column): none when the file has
    /// no `frequency_holdout`; an error saying what is missing when it has one but no
    /// `duration_holdout` (a holdout cannot be judged without its length, and leaving the
    /// columns unread would hide them).
    pub(super) fn find(
        mut find: impl FnMut(&'static str) -> Option<C>,
    ) -> Result<Option<HoldoutColumns<C>>, String> {
        let Some(frequency) = find(FREQUENCY_HOLDOUT) else {
            return Ok(None);
        };
        let Some(duration) = find(DURATION_HOLDOUT) else {
            return Err(format!(
                "the file has a {FREQUENCY_HOLDOUT} column but no {DURATION_HOLDOUT} (the \
                 holdout's length in --time-unit), so the model cannot be judged on it: add \
                 that column (custval summarize --holdout-end writes it), or remove the \
                 holdout columns to fit without a holdout"
            ));
        };
        let spend = match find("spend_holdout") {
            Some(c) => Some((c, HoldoutSpend::Total)),
            None => find("monetary_value_holdout").map(|c| (c, HoldoutSpend::MeanPerPurchase)),
        };
        Ok(Some(HoldoutColumns {
            frequency,
            spend,
            duration,
            calibration_spend: find("calibration_spend"),
        }))
    }

    /// The same columns, borrowed.
    pub(super) fn as_ref(&self) -> HoldoutColumns<&C> {
        HoldoutColumns {
            frequency: &self.frequency,
            spend: self.spend.as_ref().map(|(c, kind)| (c, *kind)),
            duration: &self.duration,
            calibration_spend: self.calibration_spend.as_ref(),
        }
    }

    /// Each column turned into another handle by `f` (given its name).
    pub(super) fn try_map<D, E>(
        self,
        mut f: impl FnMut(&'static str, C) -> Result<D, E>,
    ) -> Result<HoldoutColumns<D>, E> {
        Ok(HoldoutColumns {
            frequency: f(FREQUENCY_HOLDOUT, self.frequency)?,
            spend: match self.spend {
                Some((c, kind)) => Some((f("holdout spend", c)?, kind)),
                None => None,
            },
            duration: f(DURATION_HOLDOUT, self.duration)?,
            calibration_spend: match self.calibration_spend {
                Some(c) => Some(f("calibration_spend", c)?),
                None => None,
            },
        })
    }

    /// The column names read, for messages.
    pub(super) fn names(&self) -> Vec<&'static str> {
        let mut names = vec![FREQUENCY_HOLDOUT];
        names.extend(self.spend.as_ref().map(|(_, kind)| match kind {
            HoldoutSpend::Total => "spend_holdout",
            HoldoutSpend::MeanPerPurchase => "monetary_value_holdout",
        }));
        names.push(DURATION_HOLDOUT);
        names.extend(self.calibration_spend.as_ref().map(|_| "calibration_spend"));
        names
    }
}

pub(super) const FREQUENCY_HOLDOUT: &str = "frequency_holdout";
pub(super) const DURATION_HOLDOUT: &str = "duration_holdout";

/// One customer's holdout fields, checked, appended to `c`; `duration` is the file's
/// holdout length so far (every row must give the same). The error names the column at
/// fault ([`FREQUENCY_HOLDOUT`] or [`DURATION_HOLDOUT`]) and says why.
pub(super) fn push_holdout(
    c: &mut pb::SummaryColumns,
    duration: &mut Option<f64>,
    frequency: f64,
    spend: Option<(f64, HoldoutSpend)>,
    length: f64,
    calibration_spend: Option<f64>,
) -> Result<(), (&'static str, String)> {
    let frequency = whole_frequency(frequency)
        .map_err(|m| (FREQUENCY_HOLDOUT, format!("{FREQUENCY_HOLDOUT}: {m}")))?;
    let bad_length = |m: String| (DURATION_HOLDOUT, m);
    if !(length.is_finite() && length > 0.0) {
        return Err(bad_length(format!(
            "{DURATION_HOLDOUT} must be a number > 0: {length}"
        )));
    }
    match *duration {
        Some(d) if d != length => {
            return Err(bad_length(format!(
                "{DURATION_HOLDOUT} is {length} here but {d} above: every customer of one \
                 file shares one holdout"
            )));
        }
        _ => *duration = Some(length),
    }
    c.holdout_frequency.push(frequency);
    if let Some((value, kind)) = spend {
        c.holdout_spend.push(match kind {
            HoldoutSpend::Total => value,
            HoldoutSpend::MeanPerPurchase => value * f64::from(frequency),
        });
    }
    if let Some(s) = calibration_spend {
        c.calibration_spend.push(s);
    }
    Ok(())
}
