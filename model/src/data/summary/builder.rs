//! The streaming [`SummaryBuilder`]: validates rows, keeps one state per customer and turns
//! them into the summary table and its statistics.

use std::collections::BTreeMap;

use super::customer::{CustomerState, NO_SIDE, Placement, place};
use super::ids::{Found, IdMap, Key, id_hash};
use super::*;
use crate::data::rfm::{HoldoutColumns, HoldoutPeriods, Rfm};

/// Streaming summary builder: feed rows with [`push`](Self::push), then
/// [`finish`](Self::finish). See the module documentation for semantics and memory.
#[derive(Debug)]
pub struct SummaryBuilder {
    pub(super) config: SummaryConfig,
    cal_end: i32,
    pub(super) obs_end: i32,
    /// Customer id -> state. Keeping the state in the table entry, next to an inline
    /// copy of short ids, makes a lookup touch one random memory region, not three.
    customers: IdMap,
    /// Sorted distinct days of customers that went out of order beyond the window.
    side: Vec<Vec<i32>>,
    /// 1-based source columns of customer id, date, amount, for error messages.
    columns: Option<[usize; 3]>,
    /// Every customer gets a side list from its first row (see `with_exact_history`).
    all_days: bool,
    /// Days per holdout period to count purchases in (see `with_holdout_periods`).
    period_days: Option<u32>,
    /// Rows after the observation end are left out and counted, not bad (see
    /// `ignoring_rows_after_end`).
    ignore_after_end: bool,
    stats: SummaryStats,
}

impl SummaryBuilder {
    pub fn new(config: SummaryConfig) -> Result<Self, ModelError> {
        let obs_end = config.observation_end.0;
        let cal_end = match config.calibration_end {
            Some(c) if c > config.observation_end => {
                return Err(ModelError::invalid(
                    "calibration_end",
                    format!(
                        "calibration end {c} is after the observation end {}",
                        config.observation_end
                    ),
                ));
            }
            Some(c) => c.0,
            None => obs_end,
        };
        Ok(SummaryBuilder {
            config,
            cal_end,
            obs_end,
            customers: IdMap::new(),
            side: Vec::new(),
            columns: None,
            all_days: false,
            period_days: None,
            ignore_after_end: false,
            stats: SummaryStats::default(),
        })
    }

    /// Opt-in for inputs in arbitrary row order: every customer keeps the sorted list of
    /// its distinct purchase days from its first row on, so no row is ever reported as
    /// out of order. Memory then grows with the number of distinct (customer, day) pairs
    /// (4 bytes each, plus a small list per customer), not just with customers.
    pub fn with_exact_history(mut self) -> Self {
        self.all_days = true;
        self
    }

    /// Also counts the customers' holdout purchase days per calendar period of
    /// `period_days` days from the day after the calibration end
    /// ([`HoldoutColumns::periods`]); nothing without a calibration end. The periods are
    /// counted from the exact histories once all rows are in, so this implies
    /// [`with_exact_history`](Self::with_exact_history); beyond that it costs one counter
    /// per period. `period_days` 0 is taken as 1.
    pub fn with_holdout_periods(mut self, period_days: u32) -> Self {
        self.period_days = Some(period_days.max(1));
        self.with_exact_history()
    }

    /// Rows dated after the observation end are left out and counted in
    /// [`SummaryStats::rows_after_end`] instead of being bad rows: a log that runs on past
    /// the period of interest, as lifetimes' `summary_data_from_transaction_data` reads it.
    pub fn ignoring_rows_after_end(mut self) -> Self {
        self.ignore_after_end = true;
        self
    }

    pub fn config(&self) -> &SummaryConfig {
        &self.config
    }

    /// Statistics so far (`customers` fields are filled in by [`finish`](Self::finish)).
    pub fn stats(&self) -> &SummaryStats {
        &self.stats
    }

    /// Tells the builder which 1-based source columns hold the customer id, the date and
    /// the amount, so that errors from [`push`](Self::push) name them.
    pub fn set_source_columns(&mut self, customer_id: usize, date: usize, amount: usize) {
        self.columns = Some([customer_id, date, amount]);
    }

    fn column_of(&self, field: &str) -> Option<usize> {
        let c = self.columns?;
        match field {
            F_CUSTOMER => Some(c[0]),
            F_DATE => Some(c[1]),
            F_AMOUNT => Some(c[2]),
            _ => None,
        }
    }

    /// Adds one transaction. `line` = 1-based line number used in error messages.
    ///
    /// A bad row (empty id, non-finite or negative amount, day after the observation end,
    /// or out of order beyond what can be placed exactly) is an `Err` in strict mode and
    /// is counted and skipped in lenient mode (`Ok`).
    pub fn push(
        &mut self,
        line: u64,
        customer_id: &str,
        day: Day,
        amount: f64,
    ) -> Result<(), RowError> {
        if customer_id.trim().is_empty() {
            return self.reject(
                line,
                None,
                F_CUSTOMER,
                || customer_id.to_owned(),
                R_EMPTY_ID,
            );
        }
        if amount.is_nan() {
            return self.reject(line, None, F_AMOUNT, || amount.to_string(), R_AMOUNT_NAN);
        }
        if amount.is_infinite() {
            return self.reject(line, None, F_AMOUNT, || amount.to_string(), R_AMOUNT_INF);
        }
        if amount < 0.0 {
            return self.reject(line, None, F_AMOUNT, || amount.to_string(), R_AMOUNT_NEG);
        }
        if amount > crate::MAX_AMOUNT {
            return self.reject(line, None, F_AMOUNT, || amount.to_string(), R_AMOUNT_BIG);
        }
        if day.0 > self.obs_end {
            return self.reject(line, None, F_DATE, || day.to_string(), R_AFTER_END);
        }
        self.accept(line, customer_id, day.0, amount)
    }

    /// Records a row that could not be parsed: `Err(err)` in strict mode; in lenient
    /// mode it is counted (by `err.reason`) and `Ok` is returned.
    pub fn record_skip(&mut self, err: RowError) -> Result<(), RowError> {
        self.stats.rows_read += 1;
        self.stats.rows_skipped += 1;
        bump(&mut self.stats.skipped_by_reason, &err.reason);
        match self.config.policy {
            RowPolicy::Strict => Err(err),
            RowPolicy::Lenient => {
                if self.stats.examples.len() < MAX_EXAMPLES {
                    self.stats.examples.push(err);
                }
                Ok(())
            }
        }
    }

    /// Bad row; builds the error (and its value text) only when it is kept.
    pub(super) fn reject(
        &mut self,
        line: u64,
        column: Option<usize>,
        field: &str,
        value: impl FnOnce() -> String,
        reason: &str,
    ) -> Result<(), RowError> {
        self.stats.rows_read += 1;
        // Every reader (the fast text path, its pipe, Parquet, `push`) reports a late row
        // here, so this one check covers them all.
        if self.ignore_after_end && reason == R_AFTER_END {
            self.stats.rows_after_end += 1;
            return Ok(());
        }
        self.stats.rows_skipped += 1;
        bump(&mut self.stats.skipped_by_reason, reason);
        let keep =
            self.config.policy == RowPolicy::Strict || self.stats.examples.len() < MAX_EXAMPLES;
        if !keep {
            return Ok(());
        }
        let err = RowError {
            line,
            column: column.or_else(|| self.column_of(field)),
            field: field.to_owned(),
            value: value(),
            reason: reason.to_owned(),
        };
        match self.config.policy {
            RowPolicy::Strict => Err(err),
            RowPolicy::Lenient => {
                self.stats.examples.push(err);
                Ok(())
            }
        }
    }

    /// A validated row (non-empty id, finite amount >= 0, day <= observation end).
    fn accept(&mut self, line: u64, id: &str, d: i32, amount: f64) -> Result<(), RowError> {
        // -0.0 -> 0.0
        let amount = amount + 0.0;
        self.accept_hashed(line, id, id_hash(id.as_bytes()), d, amount)
    }

    /// [`accept`](Self::accept) with the id's [`id_hash`].
    fn accept_hashed(
        &mut self,
        line: u64,
        id: &str,
        hash: u64,
        d: i32,
        amount: f64,
    ) -> Result<(), RowError> {
        let amount = amount + 0.0;
        let cal_end = self.cal_end;
        let placed = match self.customers.find(id.as_bytes(), hash) {
            Found::Yes(c) => place(c, &mut self.side, d, amount, cal_end),
            Found::No => {
                let order = match u32::try_from(self.customers.len()) {
                    Ok(o) if o != u32::MAX => o,
                    _ => {
                        return self.reject(line, None, F_CUSTOMER, || id.to_owned(), R_TOO_MANY);
                    }
                };
                let mut state = CustomerState::new(d, amount, cal_end, order);
                if self.all_days
                    && let Ok(side_idx) = u32::try_from(self.side.len())
                    && side_idx != NO_SIDE
                {
                    self.side.push(vec![d]);
                    state.side = side_idx;
                }
                self.customers.insert(Key::new(id), hash, state);
                Placement::Ok
            }
        };
        match placed {
            Placement::Ok => {
                self.stats.rows_read += 1;
                self.stats.rows_used += 1;
                Ok(())
            }
            Placement::OutOfOrder => self.reject(
                line,
                None,
                F_DATE,
                || Day(d).to_string(),
                OUT_OF_ORDER_REASON,
            ),
        }
    }

    /// Applies validated rows in order. The customer table is much larger than the CPU
    /// caches, so the home slots of each window of [`BATCH_ROWS`] rows are touched first
    /// (their cache and TLB misses overlap); the rows then find their entries in cache.
    /// Stops at the first error (strict mode), leaving the batch empty.
    pub(super) fn accept_batch(&mut self, batch: &mut Batch) -> Result<(), RowError> {
        let mut result = Ok(());
        let mut start = 0;
        'windows: for window in batch.rows.chunks(BATCH_ROWS) {
            let mut hashes = [0u64; BATCH_ROWS];
            let mut touched = 0u32;
            let mut id_start = start;
            for (r, h) in window.iter().zip(hashes.iter_mut()) {
                let id = batch.ids.get(id_start..r.id_end).unwrap_or_default();
                *h = id_hash(id.as_bytes());
                touched ^= self.customers.touch(*h);
                id_start = r.id_end;
            }
            std::hint::black_box(touched);
            for (r, &hash) in window.iter().zip(&hashes) {
                let id = batch.ids.get(start..r.id_end).unwrap_or_default();
                start = r.id_end;
                if let Err(e) = self.accept_hashed(r.line, id, hash, r.day, r.amount) {
                    result = Err(e);
                    break 'windows;
                }
            }
        }
        batch.ids.clear();
        batch.rows.clear();
        result
    }

    /// The summary table (customers in order of first appearance) and statistics.
    pub fn finish(self) -> SummaryOutput {
        let unit = self.config.unit;
        let u = unit.days();
        let cal_end = i64::from(self.cal_end);
        let n = self.customers.len();
        // Columns are filled by order of first appearance, then born-in-holdout customers
        // are dropped.
        let mut ids = vec![String::new(); n];
        let mut rfm = vec![
            Rfm {
                frequency: 0,
                recency: 0.0,
                age: 0.0
            };
            n
        ];
        let mut monetary = vec![0.0; n];
        let mut cal_total = vec![0.0; n];
        let mut hold_x = vec![0u32; n];
        let mut hold_spend = vec![0.0; n];
        let mut keep = vec![false; n];
        let holdout_days = self
            .config
            .calibration_end
            .map_or(0, |c| self.config.observation_end.days_since(c));
        let mut periods = self
            .period_days
            .filter(|_| self.config.calibration_end.is_some())
            .map(|p| vec![0u64; ((holdout_days + i64::from(p) - 1) / i64::from(p)) as usize]);
        for (key, c) in self.customers.into_entries() {
            let i = c.order as usize;
            let first = i64::from(c.first);
            if let Some(k) = keep.get_mut(i) {
                *k = first <= cal_end;
            }
            if first > cal_end {
                continue;
            }
            let x = c.cal_days.saturating_sub(1);
            let recency = if x == 0 {
                0.0
            } else {
                (i64::from(c.last_cal) - first) as f64 / u
            };
            let age = (cal_end - first) as f64 / u;
            if let Some(slot) = ids.get_mut(i) {
                *slot = key.into_string();
            }
            if let Some(slot) = rfm.get_mut(i) {
                *slot = Rfm {
                    frequency: x,
                    recency,
                    age,
                };
            }
            if let Some(slot) = monetary.get_mut(i) {
                *slot = if x == 0 {
                    0.0
                } else {
                    c.cal_spend / f64::from(x)
                };
            }
            if let Some(slot) = cal_total.get_mut(i) {
                *slot = c.first_spend + c.cal_spend;
            }
            if let Some(slot) = hold_x.get_mut(i) {
                *slot = c.hold_days;
            }
            if let Some(slot) = hold_spend.get_mut(i) {
                *slot = c.hold_spend;
            }
            if let (Some(counts), Some(p)) = (periods.as_mut(), self.period_days)
                && c.hold_days > 0
            {
                // Every customer has its day list here (`with_holdout_periods` implies
                // exact history); the days after the calibration end are its holdout days.
                let days = self.side.get(c.side as usize).map_or(&[][..], |d| &d[..]);
                let from = days.partition_point(|&d| i64::from(d) <= cal_end);
                for &d in &days[from..] {
                    let k = ((i64::from(d) - cal_end - 1) / i64::from(p)) as usize;
                    if let Some(n) = counts.get_mut(k) {
                        *n += 1;
                    }
                }
            }
        }
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut k = keep.iter();
            v.retain(|_| k.next().copied().unwrap_or(false));
        }
        retain(&mut ids, &keep);
        retain(&mut rfm, &keep);
        retain(&mut monetary, &keep);
        retain(&mut cal_total, &keep);
        let holdout = self.config.calibration_end.map(|c| {
            retain(&mut hold_x, &keep);
            retain(&mut hold_spend, &keep);
            HoldoutColumns {
                duration: self.config.observation_end.days_since(c) as f64 / u,
                frequency: hold_x,
                spend: hold_spend,
                periods: periods
                    .zip(self.period_days)
                    .map(|(purchases, p)| HoldoutPeriods {
                        start: Day(c.0 + 1),
                        period_days: p,
                        days: holdout_days as u32,
                        purchases,
                    }),
            }
        });
        let mut stats = self.stats;
        stats.customers = ids.len() as u64;
        stats.customers_born_in_holdout = n as u64 - stats.customers;
        SummaryOutput {
            table: CustomerTable {
                ids,
                rfm,
                monetary_value: monetary,
                calibration_spend: Some(cal_total),
                holdout,
                unit: Some(unit),
            },
            stats,
        }
    }
}

fn bump(map: &mut BTreeMap<String, u64>, reason: &str) {
    match map.get_mut(reason) {
        Some(n) => *n += 1,
        None => {
            map.insert(reason.to_owned(), 1);
        }
    }
}

/// Rows whose customers are looked up together (see [`SummaryBuilder::accept_batch`]).
const BATCH_ROWS: usize = 32;

impl RowSink for SummaryBuilder {
    const BATCH_ROWS: usize = BATCH_ROWS;

    fn obs_end(&self) -> i32 {
        self.obs_end
    }

    fn columns(&mut self, customer_id: usize, date: usize, amount: usize) {
        self.set_source_columns(customer_id, date, amount);
    }

    fn rows(&mut self, batch: &mut Batch) -> Result<(), RowError> {
        self.accept_batch(batch)
    }

    fn bad(
        &mut self,
        line: u64,
        column: Option<usize>,
        field: &str,
        value: impl FnOnce() -> String,
        reason: &str,
    ) -> Result<(), RowError> {
        self.reject(line, column, field, value, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn same_day_purchases_are_merged() {
        let rows = [
            ("a", d(2020, 1, 1), 10.0),
            ("a", d(2020, 1, 1), 5.0),
            ("a", d(2020, 1, 8), 3.0),
            ("a", d(2020, 1, 8), 4.0),
            ("a", d(2020, 1, 15), 1.0),
            ("b", d(2020, 3, 1), 2.0),
            ("b", d(2020, 3, 1), 2.0),
        ];
        let mut cfg = config(RowPolicy::Strict);
        cfg.unit = TimeUnit::Week;
        cfg.observation_end = d(2020, 3, 1);
        let out = run(&rows, cfg);
        let t = &out.table;
        assert_eq!(t.ids, ["a", "b"]);
        assert_eq!(t.rfm[0].frequency, 2);
        assert!((t.rfm[0].recency - 2.0).abs() < 1e-12);
        assert!((t.rfm[0].age - 60.0 / 7.0).abs() < 1e-12);
        assert!((t.monetary_value[0] - 4.0).abs() < 1e-12); // (7 + 1) / 2
        // Total calibration spend keeps the first day's 15 beside the repeat 8.
        assert_eq!(t.calibration_spend, Some(vec![23.0, 4.0]));
        assert_eq!(
            t.rfm[1],
            Rfm {
                frequency: 0,
                recency: 0.0,
                age: 0.0
            }
        );
        assert_eq!(t.monetary_value[1], 0.0);
        assert_eq!(t.unit, Some(TimeUnit::Week));
        assert!(t.holdout.is_none());
        assert_eq!(out.stats.rows_used, 7);
        assert_eq!(out.stats.customers, 2);
    }

    #[test]
    fn rows_after_the_end_can_be_left_out_and_counted() {
        let rows = [
            ("a", d(2020, 1, 1), 10.0),
            ("a", d(2021, 1, 1), 5.0),
            ("b", d(2020, 3, 1), 2.0),
            ("b", d(2022, 3, 1), 2.0),
        ];
        let cfg = config(RowPolicy::Strict);
        let mut b = SummaryBuilder::new(cfg).unwrap();
        let e = b.push(3, "a", d(2021, 1, 1), 5.0).unwrap_err();
        assert_eq!(e.reason, R_AFTER_END);
        let mut b = SummaryBuilder::new(cfg).unwrap().ignoring_rows_after_end();
        for (i, (id, day, amount)) in rows.iter().enumerate() {
            b.push(i as u64 + 2, id, *day, *amount).unwrap();
        }
        let out = b.finish();
        assert_eq!(out.stats.rows_read, 4);
        assert_eq!(out.stats.rows_after_end, 2);
        assert_eq!(out.stats.rows_skipped, 0);
        assert_eq!(out.stats.rows_used, 2);
        assert_eq!(out.table.ids, ["a", "b"]);
        assert_eq!(out.table.rfm[0].frequency, 0);
    }

    #[test]
    fn push_errors_use_source_columns() {
        let mut b = SummaryBuilder::new(config(RowPolicy::Strict)).unwrap();
        let e = b.push(7, "a", d(2020, 1, 1), -1.0).unwrap_err();
        assert_eq!(
            (e.line, e.column, e.field.as_str(), e.value.as_str()),
            (7, None, "amount", "-1")
        );
        b.set_source_columns(2, 3, 5);
        let e = b.push(8, "", d(2020, 1, 1), 1.0).unwrap_err();
        assert_eq!((e.column, e.field.as_str()), (Some(2), "customer_id"));
        let e = b.push(9, "a", d(2021, 1, 1), 1.0).unwrap_err();
        assert_eq!(
            (e.column, e.value.as_str(), e.reason.as_str()),
            (Some(3), "2021-01-01", R_AFTER_END)
        );
        let e = b.push(9, "a", d(2020, 1, 1), f64::INFINITY).unwrap_err();
        assert_eq!((e.column, e.reason.as_str()), (Some(5), R_AMOUNT_INF));
        // Above the service's limit: named here, not as a summary the server refuses.
        let e = b.push(9, "a", d(2020, 1, 1), 1e13).unwrap_err();
        assert_eq!((e.column, e.reason.as_str()), (Some(5), R_AMOUNT_BIG));
        let skip = RowError {
            line: 3,
            column: Some(1),
            field: "x".into(),
            value: "y".into(),
            reason: "r".into(),
        };
        assert_eq!(b.record_skip(skip.clone()), Err(skip.clone()));
        let mut l = SummaryBuilder::new(config(RowPolicy::Lenient)).unwrap();
        assert_eq!(l.record_skip(skip.clone()), Ok(()));
        assert_eq!(l.stats().skipped_by_reason["r"], 1);
        assert_eq!(l.stats().examples, [skip]);
    }

    #[test]
    fn born_in_holdout_customers_are_excluded_and_counted() {
        let cfg = SummaryConfig {
            unit: TimeUnit::Week,
            observation_end: d(2020, 3, 31),
            calibration_end: Some(d(2020, 2, 29)),
            policy: RowPolicy::Strict,
        };
        let rows = [
            ("a", d(2020, 1, 1), 1.0),
            ("late", d(2020, 3, 5), 9.0),
            ("a", d(2020, 2, 29), 2.0),
            ("a", d(2020, 3, 1), 3.0),
            ("a", d(2020, 3, 1), 4.0),
            ("a", d(2020, 3, 31), 5.0),
            ("late", d(2020, 3, 6), 9.0),
            // Born in the holdout so far, then a calibration row arrives late.
            ("moved", d(2020, 3, 20), 6.0),
            ("moved", d(2020, 1, 20), 1.0),
        ];
        let out = run(&rows, cfg);
        assert_eq!(out.table.ids, ["a", "moved"]);
        assert_eq!(out.stats.customers, 2);
        assert_eq!(out.stats.customers_born_in_holdout, 1);
        let h = out.table.holdout.as_ref().unwrap();
        assert!((h.duration - 31.0 / 7.0).abs() < 1e-12);
        assert_eq!(h.frequency, [2, 1]);
        assert_eq!(h.spend, [12.0, 6.0]);
        assert_eq!(out.table.rfm[0].frequency, 1);
        assert!((out.table.rfm[0].recency - 59.0 / 7.0).abs() < 1e-12);
        assert_eq!(out.table.monetary_value[0], 2.0);
        // Calibration only: 1 on the first day and 2 on 2020-02-29; "moved" 1 on its first.
        assert_eq!(out.table.calibration_spend, Some(vec![3.0, 1.0]));
        assert_eq!(out.table.rfm[1].frequency, 0);
        assert!((out.table.rfm[1].age - 40.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn holdout_purchases_are_counted_per_period_for_calibration_customers_only() {
        let cfg = SummaryConfig {
            unit: TimeUnit::Week,
            observation_end: d(2020, 3, 31),
            calibration_end: Some(d(2020, 2, 29)),
            policy: RowPolicy::Strict,
        };
        // Out of order on purpose: the counts come from the exact histories.
        let rows = [
            ("a", d(2020, 3, 31), 5.0),
            ("a", d(2020, 1, 1), 1.0),
            ("a", d(2020, 3, 1), 3.0),
            ("a", d(2020, 3, 1), 4.0),
            ("a", d(2020, 3, 7), 4.0),
            ("late", d(2020, 3, 5), 9.0),
            ("late", d(2020, 3, 6), 9.0),
            ("moved", d(2020, 3, 20), 6.0),
            ("moved", d(2020, 1, 20), 1.0),
        ];
        let mut b = SummaryBuilder::new(cfg).unwrap().with_holdout_periods(7);
        for (i, (id, day, amount)) in rows.iter().enumerate() {
            b.push(i as u64 + 1, id, *day, *amount).unwrap();
        }
        let out = b.finish();
        let h = out.table.holdout.as_ref().unwrap();
        let p = h.periods.as_ref().unwrap();
        // 31 holdout days: four weeks from March 1st and a last period of 3 days.
        assert_eq!((p.start, p.period_days, p.days), (d(2020, 3, 1), 7, 31));
        // a: March 1st (twice) and 7th in week 0, the 31st in the last; moved: the 20th in
        // week 2; late was born in the holdout and is not in the table.
        assert_eq!(p.purchases, [2, 0, 1, 0, 1]);
        assert_eq!(
            p.purchases.iter().sum::<u64>(),
            h.frequency.iter().map(|&x| u64::from(x)).sum::<u64>()
        );
        assert_eq!(p.period_start(4), d(2020, 3, 29));
        assert_eq!((p.period_end_offset(0), p.period_end_offset(4)), (7, 31));
        // Without the option, or without a holdout, there are no periods.
        assert_eq!(run(&rows, cfg).table.holdout.unwrap().periods, None);
        let no_holdout = SummaryConfig {
            calibration_end: None,
            ..cfg
        };
        let b = SummaryBuilder::new(no_holdout)
            .unwrap()
            .with_holdout_periods(7);
        assert!(b.finish().table.holdout.is_none());
    }
}
