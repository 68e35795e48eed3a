//! A transaction log kept whole, so that it can be cut at several calibration ends: the
//! input of a backtest. Summaries are a one-way street (a customer's frequency at one cut-off
//! says nothing of another), so a backtest needs every purchase day.
//!
//! Customers are stored as three flat columns (an offset per customer into days and
//! amounts) rather than a `Vec` per customer: a million customers cost a few allocations,
//! not a million. Purchases are kept as they came; every cut goes through the same
//! [`SummaryBuilder`] as a one-off summary, so a backtest fold and a fit on the same split
//! see exactly the same summaries (same-day merging, first purchase excluded from
//! `monetary_value`, customers born in the holdout left out).

use crate::data::summary::{Day, RowPolicy, SummaryBuilder, SummaryConfig, SummaryOutput};
use crate::data::units::TimeUnit;
use crate::error::{ModelError, Result};

/// Every purchase of every customer.
#[derive(Debug, Clone, Default)]
pub struct TransactionLog {
    ids: Vec<String>,
    /// Customer `i`'s purchases are `days[starts[i]..starts[i + 1]]` (the last runs to the
    /// end).
    starts: Vec<usize>,
    days: Vec<Day>,
    amounts: Vec<f64>,
}

impl TransactionLog {
    pub fn new() -> TransactionLog {
        TransactionLog::default()
    }

    /// Adds a customer and its purchases. The caller checks what its input format can get
    /// wrong (ids unique, amounts finite and ≥ 0) and names the field; this checks again
    /// so that a log never holds a purchase no summary could take.
    pub fn push_customer(
        &mut self,
        id: String,
        purchases: impl IntoIterator<Item = (Day, f64)>,
    ) -> Result<()> {
        if id.trim().is_empty() {
            return Err(ModelError::invalid("customer_id", "must not be empty"));
        }
        let start = self.days.len();
        for (day, amount) in purchases {
            if !(amount.is_finite() && amount >= 0.0) {
                self.days.truncate(start);
                self.amounts.truncate(start);
                return Err(ModelError::invalid(
                    "amount",
                    format!("must be finite and >= 0, got {amount}"),
                ));
            }
            self.days.push(day);
            self.amounts.push(amount);
        }
        if self.days.len() == start {
            return Err(ModelError::invalid(
                "transactions",
                format!("customer {id:?} has no purchases"),
            ));
        }
        self.ids.push(id);
        self.starts.push(start);
        Ok(())
    }

    pub fn customers(&self) -> usize {
        self.ids.len()
    }

    pub fn transactions(&self) -> usize {
        self.days.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The first and last purchase day in the log.
    pub fn span(&self) -> Option<(Day, Day)> {
        let first = self.days.iter().min()?;
        let last = self.days.iter().max()?;
        Some((*first, *last))
    }

    fn purchases(&self, i: usize) -> impl Iterator<Item = (Day, f64)> + '_ {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.days.len());
        let range = self.starts[i]..end;
        self.days[range.clone()]
            .iter()
            .copied()
            .zip(self.amounts[range].iter().copied())
    }

    /// The summaries of the split at `calibration_end` (inclusive) with a holdout up to
    /// `holdout_end` (inclusive), in `unit`; purchases after `holdout_end` are not looked
    /// at. The same as summarizing the log cut at `holdout_end` with that calibration end.
    pub fn split(
        &self,
        unit: TimeUnit,
        calibration_end: Day,
        holdout_end: Day,
    ) -> Result<SummaryOutput> {
        self.cut(unit, Some(calibration_end), holdout_end)
    }

    /// The summaries of everything up to `observation_end` (inclusive), no holdout.
    pub fn summarize(&self, unit: TimeUnit, observation_end: Day) -> Result<SummaryOutput> {
        self.cut(unit, None, observation_end)
    }

    fn cut(&self, unit: TimeUnit, calibration_end: Option<Day>, end: Day) -> Result<SummaryOutput> {
        let config = SummaryConfig {
            unit,
            observation_end: end,
            calibration_end,
            policy: RowPolicy::Strict,
        };
        let mut builder = SummaryBuilder::new(config)?.with_exact_history();
        if calibration_end.is_some() {
            // Per-week holdout counts, so a fold gets the seasonality diagnosis a fit with
            // a holdout gets.
            builder = builder.with_holdout_periods(crate::predict::seasonality::PERIOD_DAYS);
        }
        let mut row = 0u64;
        for (i, id) in self.ids.iter().enumerate() {
            for (day, amount) in self.purchases(i).filter(|&(d, _)| d <= end) {
                row += 1;
                builder
                    .push(row, id, day, amount)
                    .map_err(|e| ModelError::invalid("transactions", e.reason))?;
            }
        }
        Ok(builder.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> Day {
        Day::from_ymd(y, m, d).unwrap()
    }

    fn log() -> TransactionLog {
        let mut log = TransactionLog::new();
        log.push_customer(
            "a".into(),
            [
                (day(2020, 1, 1), 10.0),
                (day(2020, 1, 8), 20.0),
                (day(2020, 1, 8), 5.0),
                (day(2020, 2, 5), 30.0),
            ],
        )
        .unwrap();
        log.push_customer("b".into(), [(day(2020, 1, 20), 7.0)])
            .unwrap();
        log.push_customer("c".into(), [(day(2020, 1, 29), 3.0)])
            .unwrap();
        log
    }

    #[test]
    fn a_split_is_the_summary_of_the_cut_log() {
        let out = log()
            .split(TimeUnit::Week, day(2020, 1, 22), day(2020, 2, 19))
            .unwrap();
        let t = &out.table;
        // c is born in the holdout and left out.
        assert_eq!(t.ids, ["a", "b"]);
        assert_eq!(out.stats.customers_born_in_holdout, 1);
        // a: purchases on Jan 1 and Jan 8 (two rows merged) in calibration.
        assert_eq!(t.rfm[0].frequency, 1);
        assert!((t.rfm[0].recency - 1.0).abs() < 1e-12);
        assert!((t.rfm[0].age - 3.0).abs() < 1e-12);
        assert!((t.monetary_value[0] - 25.0).abs() < 1e-12);
        let h = t.holdout.as_ref().unwrap();
        assert!((h.duration - 4.0).abs() < 1e-12);
        assert_eq!(h.frequency, [1, 0]);
        assert_eq!(h.spend, [30.0, 0.0]);
    }

    #[test]
    fn purchases_after_the_holdout_end_are_not_looked_at() {
        let early = log()
            .split(TimeUnit::Day, day(2020, 1, 10), day(2020, 1, 25))
            .unwrap();
        // b is born in this holdout; c after it, so not even counted as born in it.
        assert_eq!(early.table.ids, ["a"]);
        assert_eq!(early.stats.customers_born_in_holdout, 1);
        // a's Feb 5 purchase is after the holdout end.
        assert_eq!(early.table.holdout.as_ref().unwrap().frequency, [0]);
        let whole = log().summarize(TimeUnit::Day, day(2020, 1, 10)).unwrap();
        assert_eq!(whole.table.ids, ["a"]);
        assert_eq!(whole.table.rfm[0].frequency, 1);
        assert!(whole.table.holdout.is_none());
    }

    #[test]
    fn bad_purchases_are_refused_and_leave_the_log_as_it_was() {
        let mut log = log();
        let err = log
            .push_customer(
                "d".into(),
                [(day(2020, 1, 1), 1.0), (day(2020, 1, 2), f64::NAN)],
            )
            .unwrap_err();
        assert!(err.to_string().contains("amount"), "{err}");
        assert!(log.push_customer("e".into(), []).is_err());
        assert!(
            log.push_customer(" ".into(), [(day(2020, 1, 1), 1.0)])
                .is_err()
        );
        assert_eq!((log.customers(), log.transactions()), (3, 6));
        assert_eq!(log.span(), Some((day(2020, 1, 1), day(2020, 2, 5))));
    }
}
