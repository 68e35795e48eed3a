//! One customer's distinct purchase days, exactly, in constant memory: the compact
//! [`CustomerState`] (first / last days, counts, spends and a bitmap of recent days), the
//! optional side list of all its days, and [`place`], which adds a purchase to them in
//! whatever order rows arrive (see the module documentation of `summary`).

use super::WINDOW_DAYS;

pub(super) const NO_SIDE: u32 = u32::MAX;
const NO_DAY: i32 = i32::MIN;

/// Compact per-customer state (64 bytes; `repr(C)` fixes the layout [`IdMap::touch`]
/// relies on). The distinct-day set S of the customer spans
/// calibration and holdout; `window` bit i is set iff day `last − i` ∈ S (i < 64).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(super) struct CustomerState {
    pub(super) window: u64,
    /// Spend on day `first`.
    pub(super) first_spend: f64,
    /// Spend on days in (first, calibration end].
    pub(super) cal_spend: f64,
    /// Spend on days after the calibration end, other than `first`.
    pub(super) hold_spend: f64,
    /// min S.
    pub(super) first: i32,
    /// max S.
    pub(super) last: i32,
    /// max of S ∩ (−∞, calibration end], or `NO_DAY`.
    pub(super) last_cal: i32,
    /// |S ∩ (−∞, calibration end]|.
    pub(super) cal_days: u32,
    /// |S ∩ (calibration end, ∞)|.
    pub(super) hold_days: u32,
    /// Index into `SummaryBuilder::side`, or `NO_SIDE`.
    pub(super) side: u32,
    /// Order of first appearance.
    pub(super) order: u32,
    /// [`IdMap`] slot tag; 0 = empty slot.
    pub(super) tag: u32,
}

impl CustomerState {
    pub(super) const EMPTY: CustomerState = CustomerState {
        window: 0,
        first_spend: 0.0,
        cal_spend: 0.0,
        hold_spend: 0.0,
        first: 0,
        last: 0,
        last_cal: NO_DAY,
        cal_days: 0,
        hold_days: 0,
        side: NO_SIDE,
        order: 0,
        tag: 0,
    };

    pub(super) fn new(d: i32, amount: f64, cal_end: i32, order: u32) -> Self {
        let cal = d <= cal_end;
        CustomerState {
            window: 1,
            first_spend: amount,
            cal_spend: 0.0,
            hold_spend: 0.0,
            first: d,
            last: d,
            last_cal: if cal { d } else { NO_DAY },
            cal_days: u32::from(cal),
            hold_days: u32::from(!cal),
            side: NO_SIDE,
            order,
            tag: 0,
        }
    }

    /// Registers `d` ∉ S as a new distinct day (counts only).
    #[inline]
    fn count_new_day(&mut self, d: i32, cal_end: i32) {
        if d <= cal_end {
            self.cal_days += 1;
            if d > self.last_cal {
                self.last_cal = d;
            }
        } else {
            self.hold_days += 1;
        }
    }

    /// Adds spend on day `d` ∈ S.
    #[inline]
    fn add_spend(&mut self, d: i32, amount: f64, cal_end: i32) {
        if d == self.first {
            self.first_spend += amount;
        } else if d <= cal_end {
            self.cal_spend += amount;
        } else {
            self.hold_spend += amount;
        }
    }

    /// `d` < `first` becomes the new first day.
    fn new_first(&mut self, d: i32, amount: f64, cal_end: i32) {
        if self.first <= cal_end {
            self.cal_spend += self.first_spend;
        } else {
            self.hold_spend += self.first_spend;
        }
        self.first = d;
        self.first_spend = amount;
        self.count_new_day(d, cal_end);
    }

    fn total_days(&self) -> u64 {
        u64::from(self.cal_days) + u64::from(self.hold_days)
    }

    fn first_in_window(&self) -> bool {
        i64::from(self.last) - i64::from(self.first) < WINDOW_DAYS
    }

    /// True if S is exactly `{first} ∪ window`, i.e. the full history is known.
    fn history_known(&self) -> bool {
        let tracked = u64::from(self.window.count_ones()) + u64::from(!self.first_in_window());
        tracked == self.total_days()
    }

    /// S as a sorted list; only meaningful when `history_known()`.
    fn history(&self) -> Vec<i32> {
        let mut days = Vec::with_capacity(self.window.count_ones() as usize + 1);
        if !self.first_in_window() {
            days.push(self.first);
        }
        let mut w = self.window;
        while w != 0 {
            let i = 63 - w.leading_zeros();
            days.push(self.last.saturating_sub(i as i32));
            w &= !(1u64 << i);
        }
        days
    }
}

pub(super) enum Placement {
    Ok,
    OutOfOrder,
}

/// Adds a purchase on day `d` to customer `c`.
#[inline]
pub(super) fn place(
    c: &mut CustomerState,
    side: &mut Vec<Vec<i32>>,
    d: i32,
    amount: f64,
    cal_end: i32,
) -> Placement {
    if c.side != NO_SIDE {
        return place_in_side(c, side, d, amount, cal_end);
    }
    let back = i64::from(c.last) - i64::from(d);
    if back < 0 {
        // In order: a new latest day.
        let shift = -back;
        c.window = if shift >= WINDOW_DAYS {
            1
        } else {
            (c.window << shift) | 1
        };
        c.last = d;
        c.count_new_day(d, cal_end);
        c.add_spend(d, amount, cal_end);
        return Placement::Ok;
    }
    if back == 0 || d == c.first {
        c.add_spend(d, amount, cal_end);
        return Placement::Ok;
    }
    // Late row: d < last, d != first.
    if back < WINDOW_DAYS {
        let bit = 1u64 << back;
        if c.window & bit != 0 {
            c.add_spend(d, amount, cal_end);
        } else {
            c.window |= bit;
            if d < c.first {
                // The old first day is later than d, hence inside the window already.
                c.new_first(d, amount, cal_end);
            } else {
                c.count_new_day(d, cal_end);
                c.add_spend(d, amount, cal_end);
            }
        }
        return Placement::Ok;
    }
    // Beyond the window: exact only with the full history.
    if c.history_known() {
        let Ok(side_idx) = u32::try_from(side.len()) else {
            return Placement::OutOfOrder;
        };
        if side_idx == NO_SIDE {
            return Placement::OutOfOrder;
        }
        side.push(c.history());
        c.side = side_idx;
        return place_in_side(c, side, d, amount, cal_end);
    }
    if d < c.first {
        c.new_first(d, amount, cal_end);
        return Placement::Ok;
    }
    Placement::OutOfOrder
}

/// Customers with a side list: every row goes through the sorted list of distinct days.
fn place_in_side(
    c: &mut CustomerState,
    side: &mut [Vec<i32>],
    d: i32,
    amount: f64,
    cal_end: i32,
) -> Placement {
    let Some(days) = side.get_mut(c.side as usize) else {
        return Placement::OutOfOrder;
    };
    match days.binary_search(&d) {
        Ok(_) => c.add_spend(d, amount, cal_end),
        Err(pos) => {
            days.insert(pos, d);
            if d < c.first {
                c.new_first(d, amount, cal_end);
            } else {
                c.count_new_day(d, cal_end);
                c.add_spend(d, amount, cal_end);
            }
            if d > c.last {
                c.last = d;
            }
        }
    }
    Placement::Ok
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn out_of_order_rows_match_sorted_rows() {
        let rows: Vec<(String, Day, f64)> = [
            ("a", d(2020, 1, 10), 10.0),
            ("a", d(2020, 1, 10), 1.0),
            ("a", d(2020, 2, 1), 3.0),
            ("a", d(2020, 2, 20), 4.0),
            ("b", d(2020, 1, 1), 2.0),
            ("b", d(2020, 1, 5), 2.0),
            ("c", d(2020, 3, 1), 7.0),
            ("a", d(2020, 3, 1), 7.5),
        ]
        .iter()
        .map(|&(i, dd, a)| (i.to_owned(), dd, a))
        .collect();
        let cfg = SummaryConfig {
            calibration_end: Some(d(2020, 2, 10)),
            ..config(RowPolicy::Strict)
        };
        let sorted = {
            let v: Vec<(&str, Day, f64)> = rows
                .iter()
                .map(|(i, dd, a)| (i.as_str(), *dd, *a))
                .collect();
            run(&v, cfg)
        };
        assert_same(&as_ref(&sorted), &reference(&rows, &cfg));
        // A row earlier than everything seen for "a", then the rest shuffled.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200 {
            let mut v = rows.clone();
            v.push(("a".to_owned(), d(2020, 1, 2), 0.5));
            rng.shuffle(&mut v[1..]);
            let v2: Vec<(&str, Day, f64)> =
                v.iter().map(|(i, dd, a)| (i.as_str(), *dd, *a)).collect();
            let got = as_ref(&run(&v2, cfg));
            let mut want = reference(&v, &cfg);
            // Output order is first appearance: the reference follows the same order.
            want.sort_by_key(|r| got.iter().position(|g| g.0 == r.0));
            assert_same(&got, &want);
        }
    }

    /// Random logs, spans far beyond the window, in several orders: every run is either
    /// identical to the reference or reports out-of-order rows; sorted, customer-sorted
    /// and jittered orders and short spans never report them.
    #[test]
    fn random_logs_match_the_reference() {
        let mut rng = Rng(42);
        let mut shuffled_ok = 0;
        let mut shuffled_err = 0;
        for round in 0..300 {
            let n_cust = 1 + rng.below(8);
            let span = if round % 2 == 0 { 100 } else { 700 };
            let start = d(2019, 1, 1).0;
            let mut rows: Vec<(String, Day, f64)> = Vec::new();
            for c in 0..n_cust {
                let k = 1 + rng.below(12);
                for _ in 0..k {
                    let day = Day(start + rng.below(span) as i32);
                    let amount = (rng.below(10_000) as f64) / 100.0;
                    rows.push((format!("c{c}"), day, amount));
                }
            }
            let cfg = SummaryConfig {
                unit: TimeUnit::Week,
                observation_end: Day(start + span as i32 + 3),
                calibration_end: Some(Day(start + (span as i32) / 2)),
                policy: RowPolicy::Strict,
            };
            let check_with = |v: &[(String, Day, f64)], must_succeed: bool, exact: bool| -> bool {
                let mut b = SummaryBuilder::new(cfg).unwrap();
                if exact {
                    b = b.with_exact_history();
                }
                for (i, (id, dd, a)) in v.iter().enumerate() {
                    if let Err(e) = b.push(i as u64 + 1, id, *dd, *a) {
                        assert!(!must_succeed, "unexpected {e}");
                        assert_eq!(e.reason, OUT_OF_ORDER_REASON);
                        assert_eq!(e.field, "date");
                        return false;
                    }
                }
                let out = b.finish();
                let got = as_ref(&out);
                let mut want = reference(v, &cfg);
                want.sort_by_key(|r| got.iter().position(|g| g.0 == r.0));
                // Customer-level rounding of weeks: compare days via the reference in weeks.
                let got_days: Ref = (0..out.table.len())
                    .map(|i| {
                        let mut g = got[i].clone();
                        g.2 = (out.table.rfm[i].recency * 7.0).round() as i64;
                        g.3 = (out.table.rfm[i].age * 7.0).round() as i64;
                        g
                    })
                    .collect();
                assert_same(&got_days, &want);
                let born = want.len() as u64;
                assert_eq!(out.stats.customers, born);
                true
            };
            let check =
                |v: &[(String, Day, f64)], must_succeed: bool| check_with(v, must_succeed, false);
            let mut by_date = rows.clone();
            by_date.sort_by_key(|r| r.1);
            check(&by_date, true);
            let mut by_cust = rows.clone();
            by_cust.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            check(&by_cust, true);
            // Jitter: sorted by date, then each row moved back by up to ~100 days.
            let mut jitter: Vec<(i64, (String, Day, f64))> = by_date
                .iter()
                .map(|r| (i64::from(r.1.0) + rng.below(60) as i64, r.clone()))
                .collect();
            jitter.sort_by_key(|r| r.0);
            let jitter: Vec<_> = jitter.into_iter().map(|r| r.1).collect();
            check(&jitter, true);
            let mut shuffled = rows.clone();
            rng.shuffle(&mut shuffled);
            let ok = check(&shuffled, span < WINDOW_DAYS as u64);
            check_with(&shuffled, true, true);
            if ok {
                shuffled_ok += 1
            } else {
                shuffled_err += 1
            }
        }
        eprintln!("shuffled: {shuffled_ok} ok, {shuffled_err} out of order");
        assert!(
            shuffled_ok > 200,
            "{shuffled_ok} ok, {shuffled_err} out of order"
        );
    }

    #[test]
    fn side_list_is_used_beyond_the_window() {
        // a: 2020-01-01, 2020-09-01 (window keeps only the latest), then rows far back.
        let rows = [
            ("a", d(2020, 1, 1), 1.0),
            ("a", d(2020, 9, 1), 2.0),
            ("a", d(2020, 3, 1), 4.0),   // promotes (history known)
            ("a", d(2020, 3, 1), 8.0),   // same day, via the side list
            ("a", d(2019, 12, 1), 16.0), // new first day
            ("a", d(2020, 1, 1), 32.0),  // old first day, now a repeat day
        ];
        let out = run(&rows, config(RowPolicy::Strict));
        assert_eq!(out.table.rfm[0].frequency, 3);
        assert_eq!(
            out.table.rfm[0].recency,
            f64::from(d(2020, 9, 1).0 - d(2019, 12, 1).0)
        );
        assert!((out.table.monetary_value[0] - (33.0 + 12.0 + 2.0) / 3.0).abs() < 1e-12);

        // History lost: a middle day left the window before a far-back late row.
        let mut b = SummaryBuilder::new(config(RowPolicy::Strict)).unwrap();
        b.push(1, "a", d(2020, 1, 1), 1.0).unwrap();
        b.push(2, "a", d(2020, 3, 1), 1.0).unwrap();
        b.push(3, "a", d(2020, 12, 1), 1.0).unwrap();
        b.push(4, "a", d(2019, 6, 1), 1.0).unwrap(); // before first: still exact
        let e = b.push(5, "a", d(2020, 2, 1), 1.0).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str(), e.value.as_str()),
            (5, "date", "2020-02-01")
        );
        assert_eq!(e.reason, OUT_OF_ORDER_REASON);
        let out = b.finish();
        assert_eq!(out.table.rfm[0].frequency, 3);
        assert_eq!(out.stats.rows_skipped, 1);
    }
}
