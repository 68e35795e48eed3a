//! Customer histories from requests into a model [`CustomerTable`], checking every field.
//!
//! A request carries customers as rows (raw transactions or a summary each) or as summary
//! columns. [`TableBuilder`] accepts one or more chunks of either (one kind per table) and
//! names the offending field of the first bad value, e.g.
//! `customers[3].transactions[7].amount`.

use custval_model::data::summary::{Day, RowPolicy, SummaryBuilder, SummaryConfig};
use custval_model::{Cancel, CustomerTable, HoldoutColumns, ModelError, Rfm, TimeUnit};
use custval_proto::v1 as pb;
use rustc_hash::FxHashSet;

use crate::error::ApiError;
use crate::fingerprint::{Fingerprint, PrintedCustomer};
use crate::ids::IdSet;
use crate::record::InputKind;
use crate::wire;

/// How to read customers.
#[derive(Debug, Clone)]
pub struct InputSettings {
    /// Unit of summary recency and age, and of summaries built from transactions.
    pub unit: TimeUnit,
    /// Calibration end (inclusive); required for raw transactions.
    pub observation_end: Option<Day>,
    /// Raw transactions after `observation_end` up to this day are the holdout.
    pub holdout_end: Option<Day>,
    /// Length of the holdout that summary holdout fields cover, in `unit`.
    pub holdout_duration: Option<f64>,
    /// Whether the request may carry holdout fields at all (fits); a score or segment
    /// refuses them, naming the field that carries them.
    pub takes_holdout: bool,
    /// Field holding `observation_end`, for error messages.
    pub observation_end_field: &'static str,
    /// Customers in the whole table at most.
    pub max_customers: usize,
    /// Reject an id seen in an earlier chunk (fits); scores check within a chunk only.
    pub unique_across_chunks: bool,
    /// Keep every customer's id in the table (scores answer by id). A fit needs none:
    /// summaries' ids are checked and fingerprinted as they arrive, then dropped (see
    /// [`DecodedTable::fingerprint`]); raw histories keep theirs (the log is grouped by id).
    pub keep_ids: bool,
}

/// The decoded customers.
#[derive(Debug)]
pub struct DecodedTable {
    pub table: CustomerTable,
    pub kind: InputKind,
    pub transactions: u64,
    /// Raw-history customers whose first purchase is in the holdout (left out of a fit).
    pub born_in_holdout: u64,
    /// The training fingerprint of summaries whose ids were not kept, summed as they
    /// arrived; `None` when the table has its ids (the print is then taken from it).
    pub fingerprint: Option<Fingerprint>,
}

enum State {
    Empty,
    Summaries {
        table: CustomerTable,
        /// Whether summaries carry holdout fields; fixed by the first customer.
        holdout: Option<bool>,
    },
    Transactions(Box<SummaryBuilder>),
}

pub struct TableBuilder {
    settings: InputSettings,
    state: State,
    customers: usize,
    transactions: u64,
    /// Ids of earlier chunks, when they must be unique across chunks.
    seen: IdSet,
    /// Summaries' print, when their ids are not kept.
    fingerprint: Fingerprint,
    /// The request's token (see [`crate::cancel::current`]), checked every
    /// [`CHECK_EVERY`] customers and transactions.
    cancel: Cancel,
}

/// Customers or transactions decoded between two checks of the request's token: a few
/// milliseconds of work, so a request of millions of raw transactions stops soon after
/// its caller has gone.
const CHECK_EVERY: u64 = 4096;

impl std::fmt::Debug for TableBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableBuilder")
            .field("customers", &self.customers)
            .field("transactions", &self.transactions)
            .finish_non_exhaustive()
    }
}

fn summary_field(e: ModelError) -> ApiError {
    // The model says `T` (lifetimes' name); the API calls it `age`.
    match e {
        ModelError::InvalidInput { field, reason } if field == "T" => {
            ApiError::invalid("age", reason)
        }
        other => other.into(),
    }
}

impl TableBuilder {
    pub fn new(settings: InputSettings) -> TableBuilder {
        TableBuilder {
            settings,
            state: State::Empty,
            customers: 0,
            transactions: 0,
            seen: IdSet::default(),
            fingerprint: Fingerprint::default(),
            cancel: crate::cancel::current().token(),
        }
    }

    /// Customers accepted so far.
    pub fn customers(&self) -> usize {
        self.customers
    }

    /// Adds one chunk: rows or columns, not both. Field paths are relative to the chunk.
    pub fn add(
        &mut self,
        customers: Vec<pb::Customer>,
        columns: Option<pb::SummaryColumns>,
    ) -> Result<(), ApiError> {
        let columns = columns.filter(|c| !c.customer_id.is_empty() || !c.frequency.is_empty());
        let incoming = customers.len() + columns.as_ref().map_or(0, |c| c.customer_id.len());
        if !customers.is_empty() && columns.is_some() {
            return Err(ApiError::invalid(
                "summary_columns",
                "send customers as rows or as summary_columns, not both",
            ));
        }
        if self.customers + incoming > self.settings.max_customers {
            let field = if columns.is_some() {
                "summary_columns"
            } else {
                "customers"
            };
            return Err(ApiError::invalid(
                field,
                format!(
                    "{} customers is above the limit of {}",
                    self.customers + incoming,
                    self.settings.max_customers
                ),
            ));
        }
        if self.settings.unique_across_chunks {
            // The whole count of a unary fit; a stream's grows chunk by chunk.
            self.seen.reserve(incoming);
        }
        match columns {
            Some(c) => self.add_columns(c),
            None => self.add_rows(customers),
        }
    }

    fn summaries_state(&mut self, field: &str) -> Result<(), ApiError> {
        match self.state {
            State::Empty => {
                self.state = State::Summaries {
                    table: CustomerTable {
                        unit: Some(self.settings.unit),
                        ..CustomerTable::default()
                    },
                    holdout: None,
                };
                Ok(())
            }
            State::Summaries { .. } => Ok(()),
            State::Transactions(_) => Err(ApiError::invalid(
                field,
                "summaries mixed with raw transactions; send one kind per request",
            )),
        }
    }

    fn transactions_state(&mut self, field: &str) -> Result<(), ApiError> {
        match self.state {
            State::Empty => {
                let s = &self.settings;
                let observation_end = s.observation_end.ok_or_else(|| {
                    ApiError::invalid(s.observation_end_field, "is required with raw transactions")
                })?;
                let config = SummaryConfig {
                    unit: s.unit,
                    observation_end: s.holdout_end.unwrap_or(observation_end),
                    calibration_end: s.holdout_end.map(|_| observation_end),
                    policy: RowPolicy::Strict,
                };
                // Holdout purchases per week feed the seasonality diagnosis of fits.
                let builder = SummaryBuilder::new(config)?
                    .with_holdout_periods(custval_model::predict::seasonality::PERIOD_DAYS);
                self.state = State::Transactions(Box::new(builder));
                Ok(())
            }
            State::Transactions(_) => Ok(()),
            State::Summaries { .. } => Err(ApiError::invalid(
                field,
                "raw transactions mixed with summaries; send one kind per request",
            )),
        }
    }

    fn check_id(&mut self, id: &str, field: impl Fn() -> String) -> Result<(), ApiError> {
        if id.trim().is_empty() {
            return Err(ApiError::invalid(field(), "must not be empty"));
        }
        if self.settings.unique_across_chunks && !self.seen.insert(id) {
            return Err(ApiError::invalid(
                field(),
                format!("duplicate customer id {id:?}"),
            ));
        }
        Ok(())
    }

    fn add_rows(&mut self, customers: Vec<pb::Customer>) -> Result<(), ApiError> {
        // Within-chunk duplicates when the cross-chunk set is off.
        let mut local: FxHashSet<&str> =
            FxHashSet::with_capacity_and_hasher(customers.len(), Default::default());
        if !self.settings.unique_across_chunks {
            for (i, c) in customers.iter().enumerate() {
                if !local.insert(c.customer_id.as_str()) && !c.customer_id.trim().is_empty() {
                    return Err(ApiError::invalid(
                        format!("customers[{i}].customer_id"),
                        format!("duplicate customer id {:?}", c.customer_id),
                    ));
                }
            }
        }
        drop(local);
        for (i, c) in customers.into_iter().enumerate() {
            if (i as u64 + 1).is_multiple_of(CHECK_EVERY) {
                self.cancel.check()?;
            }
            // Built only for an error: this loop runs per customer.
            let path = || format!("customers[{i}]");
            self.check_id(&c.customer_id, || format!("customers[{i}].customer_id"))?;
            match (c.summary, c.transactions.is_empty()) {
                (Some(_), false) => {
                    return Err(ApiError::invalid(
                        path(),
                        "has both transactions and a summary; send one",
                    ));
                }
                (None, true) => {
                    return Err(ApiError::invalid(
                        path(),
                        "has neither transactions nor a summary",
                    ));
                }
                (Some(s), true) => {
                    if !matches!(self.state, State::Summaries { .. }) {
                        self.summaries_state(&path())?;
                    }
                    self.push_summary(c.customer_id, &s, c.holdout.as_ref())
                        .map_err(|e| e.within(&path()))?;
                }
                (None, false) => {
                    if !matches!(self.state, State::Transactions(_)) {
                        self.transactions_state(&path())?;
                    }
                    if c.holdout.is_some() {
                        return Err(ApiError::invalid(
                            format!("{}.holdout", path()),
                            "holdout fields go with summaries; raw transactions have \
                             their holdout from holdout_end",
                        ));
                    }
                    self.push_transactions(&c.customer_id, &c.transactions, i)?;
                }
            }
            self.customers += 1;
        }
        Ok(())
    }

    fn push_summary(
        &mut self,
        id: String,
        s: &pb::Summary,
        holdout: Option<&pb::HoldoutSummary>,
    ) -> Result<(), ApiError> {
        let rfm = Rfm {
            frequency: s.frequency,
            recency: s.recency,
            age: s.age,
        };
        rfm.validate()
            .map_err(|e| summary_field(e).within("summary"))?;
        check_money(s.monetary_value, "summary.monetary_value")?;
        let State::Summaries {
            table,
            holdout: has,
        } = &mut self.state
        else {
            return Err(ApiError::Internal("summary pushed to a raw table".into()));
        };
        match *has {
            None => *has = Some(holdout.is_some()),
            Some(expected) if expected != holdout.is_some() => {
                return Err(ApiError::invalid(
                    "holdout",
                    "every customer of a table needs holdout fields, or none",
                ));
            }
            Some(_) => {}
        }
        if holdout.is_some() && !self.settings.takes_holdout {
            return Err(ApiError::invalid(
                "holdout",
                "holdout fields are for fits with a holdout; this request takes none",
            ));
        }
        if let Some(h) = holdout {
            check_money(h.spend, "holdout.spend")?;
            let cols = table.holdout.get_or_insert_with(HoldoutColumns::default);
            cols.frequency.push(h.frequency);
            cols.spend.push(h.spend);
        }
        if self.settings.keep_ids {
            table.ids.push(id);
        } else {
            self.fingerprint.add(PrintedCustomer {
                id: &id,
                rfm,
                monetary_value: s.monetary_value,
                holdout: holdout.map(|h| (h.frequency, h.spend)),
            });
        }
        table.rfm.push(rfm);
        table.monetary_value.push(s.monetary_value);
        Ok(())
    }

    fn push_transactions(
        &mut self,
        id: &str,
        transactions: &[pb::Transaction],
        customer: usize,
    ) -> Result<(), ApiError> {
        let path = || format!("customers[{customer}]");
        let obs_field = self.settings.observation_end_field;
        let State::Transactions(builder) = &mut self.state else {
            return Err(ApiError::Internal(
                "transactions pushed to a summary table".into(),
            ));
        };
        let end = builder.config().observation_end;
        for (j, t) in transactions.iter().enumerate() {
            let field = |f: &str| format!("{}.transactions[{j}].{f}", path());
            let day = wire::required_day(t.time.as_ref(), &field("time"))?;
            if day > end {
                return Err(ApiError::invalid(
                    field("time"),
                    format!("{day} is after the observation end {end} ({obs_field})"),
                ));
            }
            check_money(t.amount, &field("amount"))?;
            self.transactions += 1;
            if self.transactions.is_multiple_of(CHECK_EVERY) {
                self.cancel.check()?;
            }
            builder
                .push(self.transactions, id, day, t.amount)
                .map_err(|e| {
                    ApiError::invalid(format!("{}.transactions[{j}]", path()), e.reason)
                })?;
        }
        Ok(())
    }

    fn add_columns(&mut self, c: pb::SummaryColumns) -> Result<(), ApiError> {
        self.summaries_state("summary_columns")?;
        let n = c.customer_id.len();
        let len_check = |name: &str, len: usize, optional: bool| {
            if len == n || (optional && len == 0) {
                Ok(())
            } else {
                Err(ApiError::invalid(
                    format!("summary_columns.{name}"),
                    format!("has {len} values for {n} customer ids"),
                ))
            }
        };
        len_check("frequency", c.frequency.len(), false)?;
        len_check("recency", c.recency.len(), false)?;
        len_check("age", c.age.len(), false)?;
        len_check("monetary_value", c.monetary_value.len(), true)?;
        len_check("holdout_frequency", c.holdout_frequency.len(), true)?;
        len_check("holdout_spend", c.holdout_spend.len(), true)?;
        len_check("calibration_spend", c.calibration_spend.len(), true)?;
        if c.holdout_frequency.is_empty() && !c.holdout_spend.is_empty() {
            return Err(ApiError::invalid(
                "summary_columns.holdout_spend",
                "needs holdout_frequency",
            ));
        }
        let col = |name: &str, k: usize| format!("summary_columns.{name}[{k}]");
        if self.settings.unique_across_chunks {
            for (k, id) in c.customer_id.iter().enumerate() {
                self.check_id(id, || col("customer_id", k))?;
            }
        } else {
            let mut local: FxHashSet<&str> =
                FxHashSet::with_capacity_and_hasher(n, Default::default());
            for (k, id) in c.customer_id.iter().enumerate() {
                if id.trim().is_empty() {
                    return Err(ApiError::invalid(
                        col("customer_id", k),
                        "must not be empty",
                    ));
                }
                if !local.insert(id) {
                    return Err(ApiError::invalid(
                        col("customer_id", k),
                        format!("duplicate customer id {id:?}"),
                    ));
                }
            }
        }
        let State::Summaries { table, holdout } = &mut self.state else {
            return Err(ApiError::Internal("columns pushed to a raw table".into()));
        };
        let has_holdout = !c.holdout_frequency.is_empty();
        if !self.settings.takes_holdout && (has_holdout || !c.holdout_spend.is_empty()) {
            let field = if has_holdout {
                "summary_columns.holdout_frequency"
            } else {
                "summary_columns.holdout_spend"
            };
            return Err(ApiError::invalid(
                field,
                "holdout columns are for fits with a holdout; this request takes none",
            ));
        }
        match *holdout {
            None => *holdout = Some(has_holdout),
            Some(expected) if expected != has_holdout => {
                return Err(ApiError::invalid(
                    "summary_columns.holdout_frequency",
                    "every chunk needs holdout columns, or none",
                ));
            }
            Some(_) => {}
        }
        // Known for every customer or for none: a column missing from one chunk would
        // leave some customers ranked by a different spend.
        let has_total = !c.calibration_spend.is_empty();
        if self.customers > 0 && table.calibration_spend.is_some() != has_total {
            return Err(ApiError::invalid(
                "summary_columns.calibration_spend",
                "every chunk needs calibration_spend, or none",
            ));
        }
        if has_total {
            for (k, &s) in c.calibration_spend.iter().enumerate() {
                if !(s.is_finite() && s >= 0.0) {
                    check_money(s, &col("calibration_spend", k))?;
                }
            }
            table
                .calibration_spend
                .get_or_insert_with(Vec::new)
                .extend_from_slice(&c.calibration_spend);
        }
        table.rfm.reserve(n);
        for k in 0..n {
            let rfm = Rfm {
                frequency: c.frequency[k],
                recency: c.recency[k],
                age: c.age[k],
            };
            if let Err(e) = rfm.validate() {
                let e = summary_field(e);
                return Err(match e {
                    ApiError::InvalidArgument(mut v) => {
                        v[0].field = col(&v[0].field, k);
                        ApiError::InvalidArgument(v)
                    }
                    other => other,
                });
            }
            table.rfm.push(rfm);
        }
        if c.monetary_value.is_empty() {
            table
                .monetary_value
                .resize(table.monetary_value.len() + n, 0.0);
        } else {
            for (k, &m) in c.monetary_value.iter().enumerate() {
                // The path is built only for a bad value: this loop runs per customer.
                if !(m.is_finite() && (0.0..=custval_model::MAX_AMOUNT).contains(&m)) {
                    check_money(m, &col("monetary_value", k))?;
                }
            }
            table.monetary_value.extend_from_slice(&c.monetary_value);
        }
        if has_holdout {
            for (k, &s) in c.holdout_spend.iter().enumerate() {
                if !(s.is_finite() && (0.0..=custval_model::MAX_AMOUNT).contains(&s)) {
                    check_money(s, &col("holdout_spend", k))?;
                }
            }
            let cols = table.holdout.get_or_insert_with(HoldoutColumns::default);
            cols.frequency.extend_from_slice(&c.holdout_frequency);
            if c.holdout_spend.is_empty() {
                cols.spend.resize(cols.spend.len() + n, 0.0);
            } else {
                cols.spend.extend_from_slice(&c.holdout_spend);
            }
        }
        if self.settings.keep_ids {
            if table.ids.is_empty() {
                table.ids = c.customer_id;
            } else {
                table.ids.extend(c.customer_id);
            }
        } else {
            let first = table.rfm.len() - n;
            for (k, id) in c.customer_id.iter().enumerate() {
                self.fingerprint.add(PrintedCustomer {
                    id,
                    rfm: table.rfm[first + k],
                    monetary_value: c.monetary_value.get(k).copied().unwrap_or(0.0),
                    holdout: has_holdout.then(|| {
                        (
                            c.holdout_frequency[k],
                            c.holdout_spend.get(k).copied().unwrap_or(0.0),
                        )
                    }),
                });
            }
        }
        self.customers += n;
        Ok(())
    }

    /// The table. Empty input is an error: there is nothing to fit or score.
    pub fn finish(self) -> Result<DecodedTable, ApiError> {
        match self.state {
            State::Empty => Err(ApiError::invalid(
                "customers",
                "no customers: send customers or summary_columns",
            )),
            State::Summaries { mut table, holdout } => {
                match (holdout, self.settings.holdout_duration) {
                    (Some(true), Some(d)) => {
                        if let Some(h) = table.holdout.as_mut() {
                            h.duration = d;
                        }
                    }
                    (Some(true), None) => {
                        return Err(ApiError::invalid(
                            "spec.holdout_duration",
                            "is required when summaries carry holdout fields",
                        ));
                    }
                    (_, Some(_)) => {
                        return Err(ApiError::invalid(
                            "spec.holdout_duration",
                            "given, but the summaries carry no holdout fields",
                        ));
                    }
                    _ => {}
                }
                Ok(DecodedTable {
                    table,
                    kind: InputKind::Summaries,
                    transactions: 0,
                    born_in_holdout: 0,
                    fingerprint: (!self.settings.keep_ids).then_some(self.fingerprint),
                })
            }
            State::Transactions(builder) => {
                let out = builder.finish();
                Ok(DecodedTable {
                    table: out.table,
                    kind: InputKind::Transactions,
                    transactions: self.transactions,
                    born_in_holdout: out.stats.customers_born_in_holdout,
                    fingerprint: None,
                })
            }
        }
    }
}

fn check_money(value: f64, field: &str) -> Result<(), ApiError> {
    if value.is_nan() {
        Err(ApiError::invalid(field, "is NaN"))
    } else if value.is_infinite() {
        Err(ApiError::invalid(field, "is infinite"))
    } else if value < 0.0 {
        Err(ApiError::invalid(field, format!("is negative ({value})")))
    } else if value > custval_model::MAX_AMOUNT {
        Err(ApiError::invalid(
            field,
            format!(
                "{value:e} is above the limit of {:e}",
                custval_model::MAX_AMOUNT
            ),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> InputSettings {
        InputSettings {
            unit: TimeUnit::Week,
            observation_end: Some(Day::from_ymd(2024, 6, 30).unwrap()),
            holdout_end: None,
            holdout_duration: None,
            takes_holdout: true,
            observation_end_field: "observation_end",
            max_customers: 100,
            unique_across_chunks: false,
            keep_ids: true,
        }
    }

    fn tx(y: i32, m: u32, d: u32, amount: f64) -> pb::Transaction {
        pb::Transaction {
            time: Some(wire::timestamp_of_day(Day::from_ymd(y, m, d).unwrap())),
            amount,
        }
    }

    fn raw(id: &str, t: Vec<pb::Transaction>) -> pb::Customer {
        pb::Customer {
            customer_id: id.into(),
            transactions: t,
            ..Default::default()
        }
    }

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::InvalidArgument(v) => v[0].field.clone(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn raw_histories_become_summaries_in_request_order() {
        let mut b = TableBuilder::new(settings());
        b.add(
            vec![
                raw(
                    "b",
                    vec![
                        tx(2024, 6, 2, 5.0),
                        tx(2024, 6, 2, 1.0),
                        tx(2024, 6, 16, 3.0),
                    ],
                ),
                raw("a", vec![tx(2024, 6, 30, 7.0)]),
            ],
            None,
        )
        .unwrap();
        let d = b.finish().unwrap();
        assert_eq!(d.table.ids, vec!["b", "a"]);
        assert_eq!(d.transactions, 4);
        assert_eq!(d.table.rfm[0].frequency, 1);
        assert!((d.table.rfm[0].recency - 2.0).abs() < 1e-12);
        assert!((d.table.rfm[0].age - 4.0).abs() < 1e-12);
        assert_eq!(d.table.monetary_value[0], 3.0);
        assert_eq!(d.table.rfm[1].age, 0.0);
    }

    #[test]
    fn bad_transactions_name_their_field() {
        let cases: Vec<(pb::Transaction, &str)> = vec![
            (
                tx(2024, 6, 1, f64::NAN),
                "customers[1].transactions[1].amount",
            ),
            (tx(2024, 6, 1, -2.0), "customers[1].transactions[1].amount"),
            (
                tx(2024, 6, 1, f64::INFINITY),
                "customers[1].transactions[1].amount",
            ),
            (tx(2024, 7, 1, 2.0), "customers[1].transactions[1].time"),
            (
                pb::Transaction {
                    time: None,
                    amount: 1.0,
                },
                "customers[1].transactions[1].time",
            ),
        ];
        for (bad, want) in cases {
            let mut b = TableBuilder::new(settings());
            let e = b
                .add(
                    vec![
                        raw("ok", vec![tx(2024, 6, 1, 1.0)]),
                        raw("x", vec![tx(2024, 6, 1, 1.0), bad]),
                    ],
                    None,
                )
                .unwrap_err();
            assert_eq!(field_of(e), want);
        }
    }

    #[test]
    fn ids_must_be_present_and_unique() {
        let mut b = TableBuilder::new(settings());
        let e = b
            .add(
                vec![
                    raw("a", vec![tx(2024, 6, 1, 1.0)]),
                    raw("a", vec![tx(2024, 6, 1, 1.0)]),
                ],
                None,
            )
            .unwrap_err();
        assert_eq!(field_of(e), "customers[1].customer_id");
        let mut b = TableBuilder::new(settings());
        let e = b
            .add(vec![raw(" ", vec![tx(2024, 6, 1, 1.0)])], None)
            .unwrap_err();
        assert_eq!(field_of(e), "customers[0].customer_id");
        let mut b = TableBuilder::new(InputSettings {
            unique_across_chunks: true,
            ..settings()
        });
        b.add(vec![raw("a", vec![tx(2024, 6, 1, 1.0)])], None)
            .unwrap();
        let e = b
            .add(vec![raw("a", vec![tx(2024, 6, 1, 1.0)])], None)
            .unwrap_err();
        assert_eq!(field_of(e), "customers[0].customer_id");
    }

    #[test]
    fn columns_are_checked_per_value() {
        let good = pb::SummaryColumns {
            customer_id: vec!["a".into(), "b".into()],
            frequency: vec![2, 0],
            recency: vec![10.0, 0.0],
            age: vec![20.0, 5.0],
            monetary_value: vec![12.5, 0.0],
            ..Default::default()
        };
        let mut b = TableBuilder::new(settings());
        b.add(vec![], Some(good.clone())).unwrap();
        let d = b.finish().unwrap();
        assert_eq!(d.table.len(), 2);
        assert_eq!(d.kind, InputKind::Summaries);

        let mut bad = good.clone();
        bad.recency[1] = 3.0;
        let e = TableBuilder::new(settings())
            .add(vec![], Some(bad))
            .unwrap_err();
        assert_eq!(field_of(e), "summary_columns.recency[1]");
        let mut bad = good.clone();
        bad.age[0] = 5.0;
        let e = TableBuilder::new(settings())
            .add(vec![], Some(bad))
            .unwrap_err();
        assert_eq!(field_of(e), "summary_columns.recency[0]");
        let mut bad = good.clone();
        bad.age[1] = f64::NAN;
        let e = TableBuilder::new(settings())
            .add(vec![], Some(bad))
            .unwrap_err();
        assert_eq!(field_of(e), "summary_columns.age[1]");
        let mut bad = good.clone();
        bad.monetary_value.pop();
        let e = TableBuilder::new(settings())
            .add(vec![], Some(bad))
            .unwrap_err();
        assert_eq!(field_of(e), "summary_columns.monetary_value");
        let mut bad = good.clone();
        bad.customer_id[1] = "a".into();
        let e = TableBuilder::new(settings())
            .add(vec![], Some(bad))
            .unwrap_err();
        assert_eq!(field_of(e), "summary_columns.customer_id[1]");

        // Total calibration spend: kept when every chunk has it, checked per value.
        let with_total = pb::SummaryColumns {
            calibration_spend: vec![40.0, 7.5],
            ..good.clone()
        };
        let mut b = TableBuilder::new(settings());
        b.add(vec![], Some(with_total.clone())).unwrap();
        assert_eq!(
            b.finish().unwrap().table.calibration_spend,
            Some(vec![40.0, 7.5])
        );
        let mut bad = with_total.clone();
        bad.calibration_spend[1] = -1.0;
        let e = TableBuilder::new(settings())
            .add(vec![], Some(bad))
            .unwrap_err();
        assert_eq!(field_of(e), "summary_columns.calibration_spend[1]");
        let mut b = TableBuilder::new(settings());
        b.add(vec![], Some(with_total)).unwrap();
        let later = pb::SummaryColumns {
            customer_id: vec!["c".into(), "d".into()],
            ..good
        };
        let e = b.add(vec![], Some(later)).unwrap_err();
        assert_eq!(field_of(e), "summary_columns.calibration_spend");
    }

    #[test]
    fn limits_kinds_and_emptiness() {
        let mut b = TableBuilder::new(InputSettings {
            max_customers: 1,
            ..settings()
        });
        let two = vec![
            raw("a", vec![tx(2024, 6, 1, 1.0)]),
            raw("b", vec![tx(2024, 6, 1, 1.0)]),
        ];
        assert_eq!(field_of(b.add(two, None).unwrap_err()), "customers");
        assert_eq!(
            field_of(TableBuilder::new(settings()).finish().unwrap_err()),
            "customers"
        );
        let mut b = TableBuilder::new(settings());
        let summary = pb::Customer {
            customer_id: "s".into(),
            summary: Some(pb::Summary {
                frequency: 0,
                recency: 0.0,
                age: 3.0,
                monetary_value: 0.0,
            }),
            ..Default::default()
        };
        let e = b
            .add(vec![summary, raw("a", vec![tx(2024, 6, 1, 1.0)])], None)
            .unwrap_err();
        assert_eq!(field_of(e), "customers[1]");
        let mut b = TableBuilder::new(InputSettings {
            observation_end: None,
            ..settings()
        });
        let e = b
            .add(vec![raw("a", vec![tx(2024, 6, 1, 1.0)])], None)
            .unwrap_err();
        assert_eq!(field_of(e), "observation_end");
    }
}
