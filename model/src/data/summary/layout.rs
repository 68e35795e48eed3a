//! From text records to validated rows: which column holds what ([`CsvOptions`],
//! [`ColumnRef`], [`resolve_column`]), the per-row checks with line- and column-exact
//! errors, amount parsing, and the batches of rows handed to a [`RowSink`].

use super::dates::digit;
use super::text::{RecordSource, header_names, trim};
use super::*;

/// A column, by header name or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    Name(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub has_header: bool,
    pub delimiter: Delimiter,
    pub customer_id: ColumnRef,
    pub date: ColumnRef,
    pub amount: ColumnRef,
    pub date_format: DateFormat,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            has_header: true,
            delimiter: Delimiter::Byte(b','),
            customer_id: ColumnRef::Name("customer_id".to_owned()),
            date: ColumnRef::Name("date".to_owned()),
            amount: ColumnRef::Name("amount".to_owned()),
            date_format: DateFormat::Auto,
        }
    }
}

/// Where a [`Layout`] sends what it parsed, in input order: straight to the builder, or to
/// the builder on another thread ([`pipe`]).
pub(super) trait RowSink {
    /// Rows gathered before they are handed over.
    const BATCH_ROWS: usize;
    /// The observation end (rows after it are bad).
    fn obs_end(&self) -> i32;
    /// The 1-based source columns of customer id, date and amount.
    fn columns(&mut self, customer_id: usize, date: usize, amount: usize);
    /// Hands over the rows of `batch`, leaving it empty.
    fn rows(&mut self, batch: &mut Batch) -> Result<(), RowError>;
    /// A row that failed validation; the rows before it have been handed over.
    fn bad(
        &mut self,
        line: u64,
        column: Option<usize>,
        field: &str,
        value: impl FnOnce() -> String,
        reason: &str,
    ) -> Result<(), RowError>;
}

#[derive(Debug, Clone, Copy)]
pub(super) struct BatchRow {
    pub(super) line: u64,
    /// End of this row's id in `Batch::ids` (it starts where the previous one ends).
    pub(super) id_end: usize,
    pub(super) day: i32,
    pub(super) amount: f64,
}

#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) ids: String,
    pub(super) rows: Vec<BatchRow>,
}

/// Field layout shared by both readers.
struct Layout {
    /// 0-based columns of customer id, date, amount.
    cols: [usize; 3],
    obs_end: i32,
    /// Expected number of fields per row (header width, or the first row's width).
    expected: Option<usize>,
    required: usize,
    header: Option<Vec<String>>,
    date_format: DateFormat,
    sep: char,
    batch: Batch,
}

/// The 0-based column of `col` (the `role` it plays, e.g. `date`, is for messages): an
/// index is checked against the header if there is one; a name is looked up in the header,
/// exactly and then ignoring ASCII case.
pub fn resolve_column(
    role: &str,
    col: &ColumnRef,
    header: Option<&[String]>,
) -> Result<usize, SummaryError> {
    match (col, header) {
        (ColumnRef::Index(i), None) => Ok(*i),
        (ColumnRef::Index(i), Some(h)) => {
            if *i < h.len() {
                Ok(*i)
            } else {
                Err(SummaryError::Header(format!(
                    "{role} column index {i} (0-based) is out of range: the header has {} \
                     columns {h:?}",
                    h.len()
                )))
            }
        }
        (ColumnRef::Name(n), Some(h)) => h
            .iter()
            .position(|x| x == n)
            .or_else(|| h.iter().position(|x| x.eq_ignore_ascii_case(n)))
            .ok_or_else(|| {
                SummaryError::Header(format!(
                    "missing {role} column {n:?}; the header has columns {h:?}"
                ))
            }),
        (ColumnRef::Name(n), None) => Err(SummaryError::Header(format!(
            "{role} column is given by name ({n:?}) but the input has no header; use a \
             column index"
        ))),
    }
}

impl Layout {
    /// Resolves the columns and tells the builder about them.
    fn new(
        options: &CsvOptions,
        header: Option<Vec<String>>,
        sep: char,
        b: &mut impl RowSink,
    ) -> Result<Self, SummaryError> {
        let h = header.as_deref();
        let cols = [
            resolve_column(F_CUSTOMER, &options.customer_id, h)?,
            resolve_column(F_DATE, &options.date, h)?,
            resolve_column(F_AMOUNT, &options.amount, h)?,
        ];
        let required = cols.iter().max().map_or(1, |m| m.saturating_add(1));
        b.columns(
            cols[0].saturating_add(1),
            cols[1].saturating_add(1),
            cols[2].saturating_add(1),
        );
        Ok(Layout {
            cols,
            obs_end: b.obs_end(),
            expected: header.as_ref().map(Vec::len),
            required,
            header,
            date_format: options.date_format,
            sep,
            batch: Batch::default(),
        })
    }

    fn column_name(&self, i: usize) -> String {
        if let Some(pos) = self.cols.iter().position(|&c| c == i) {
            return [F_CUSTOMER, F_DATE, F_AMOUNT][pos].to_owned();
        }
        match self.header.as_ref().and_then(|h| h.get(i)) {
            Some(name) => name.clone(),
            None => format!("field {}", i + 1),
        }
    }

    /// Handles one non-blank record of `len` fields; `get(i)` returns field i.
    #[inline]
    fn row<'a, K: RowSink>(
        &mut self,
        b: &mut K,
        line: u64,
        len: usize,
        get: impl Fn(usize) -> Option<&'a [u8]>,
    ) -> Result<(), RowError> {
        let sep = self.sep;
        let record_text = || {
            let mut s = String::new();
            for i in 0..len {
                if i > 0 {
                    s.push(sep);
                }
                s.push_str(&String::from_utf8_lossy(get(i).unwrap_or_default()));
                if s.len() > 200 {
                    s.push('…');
                    break;
                }
            }
            s
        };
        if self.expected.is_none() && len >= self.required {
            self.expected = Some(len);
        }
        let expected = self.expected.unwrap_or(self.required).max(self.required);
        if len < expected {
            let name = self.column_name(len);
            return self.bad(b, line, Some(len + 1), &name, record_text, R_MISSING);
        }
        if len > expected {
            let name = self.column_name(expected);
            return self.bad(b, line, Some(expected + 1), &name, record_text, R_EXTRA);
        }
        let [ci, di, ai] = self.cols;
        let text = |i: usize| String::from_utf8_lossy(get(i).unwrap_or_default()).into_owned();

        let id_raw = get(ci).unwrap_or_default();
        let Ok(id) = std::str::from_utf8(id_raw) else {
            return self.bad(b, line, Some(ci + 1), F_CUSTOMER, || text(ci), R_ID_UTF8);
        };
        if id.trim().is_empty() {
            return self.bad(b, line, Some(ci + 1), F_CUSTOMER, || text(ci), R_EMPTY_ID);
        }
        let Some(day) = parse_day(trim(get(di).unwrap_or_default()), self.date_format) else {
            let reason = self.date_format.reason();
            return self.bad(b, line, Some(di + 1), F_DATE, || text(di), &reason);
        };
        if day.0 > self.obs_end {
            return self.bad(b, line, Some(di + 1), F_DATE, || text(di), R_AFTER_END);
        }
        let amount_raw = trim(get(ai).unwrap_or_default());
        let amount = match parse_amount(amount_raw) {
            Ok(a) => a,
            Err(reason) => return self.bad(b, line, Some(ai + 1), F_AMOUNT, || text(ai), reason),
        };
        self.batch.rows.push(BatchRow {
            line,
            id_end: 0,
            day: day.0,
            amount,
        });
        self.batch.ids.push_str(id);
        let end = self.batch.ids.len();
        if let Some(r) = self.batch.rows.last_mut() {
            r.id_end = end;
        }
        if self.batch.rows.len() >= K::BATCH_ROWS {
            b.rows(&mut self.batch)?;
        }
        Ok(())
    }

    /// A bad row: the rows before it are applied first, so results and statistics do not
    /// depend on batching.
    fn bad(
        &mut self,
        b: &mut impl RowSink,
        line: u64,
        column: Option<usize>,
        field: &str,
        value: impl FnOnce() -> String,
        reason: &str,
    ) -> Result<(), RowError> {
        b.rows(&mut self.batch)?;
        b.bad(line, column, field, value, reason)
    }

    fn flush(&mut self, b: &mut impl RowSink) -> Result<(), RowError> {
        b.rows(&mut self.batch)
    }
}

/// Parses a finite amount >= 0; the error is the reason.
#[inline]
fn parse_amount(raw: &[u8]) -> Result<f64, &'static str> {
    if let Some(v) = parse_simple_decimal(raw) {
        return if v > crate::MAX_AMOUNT {
            Err(R_AMOUNT_BIG)
        } else {
            Ok(v)
        };
    }
    let v: f64 = std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(R_AMOUNT_NAN)?;
    if v.is_nan() {
        Err(R_AMOUNT_NAN)
    } else if v.is_infinite() {
        Err(R_AMOUNT_INF)
    } else if v < 0.0 {
        Err(R_AMOUNT_NEG)
    } else if v > crate::MAX_AMOUNT {
        Err(R_AMOUNT_BIG)
    } else {
        // -0 -> 0
        Ok(v + 0.0)
    }
}

/// Fast path for `digits[.digits]` with at most 15 significant digits: the mantissa and
/// the power of ten are exact doubles, so one division is correctly rounded and the
/// result equals `str::parse::<f64>`. Anything else returns `None` (slow path).
#[inline]
fn parse_simple_decimal(raw: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    if raw.is_empty() || raw.len() > 16 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut frac: Option<usize> = None;
    for (i, &b) in raw.iter().enumerate() {
        if let Some(d) = digit(b) {
            mantissa = mantissa * 10 + u64::from(d);
            digits += 1;
        } else if b == b'.' && frac.is_none() {
            frac = Some(i);
        } else {
            return None;
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    let scale = frac.map_or(0, |p| raw.len() - p - 1);
    let m = mantissa as f64;
    POW10.get(scale).map(|p| m / p)
}

/// The summarizer's loop over records: the first one is the header when there is one.
pub(super) fn read_records<S: RecordSource>(
    src: &mut S,
    options: &CsvOptions,
    b: &mut impl RowSink,
) -> Result<(), SummaryError> {
    let mut layout: Option<Layout> = None;
    if !options.has_header {
        layout = Some(Layout::new(options, None, src.sep(), b)?);
    }
    loop {
        let line = match src.next_record() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                // The rows read before the failure are applied first: a bad one among them
                // is the earlier error (and the batch size must not decide which is shown).
                if let Some(l) = layout.as_mut() {
                    l.flush(b)?;
                }
                return Err(e);
            }
        };
        let len = src.len();
        match layout.as_mut() {
            Some(l) => l.row(b, line, len, |i| src.get(i))?,
            None => {
                let names = header_names((0..len).filter_map(|i| src.get(i)));
                layout = Some(Layout::new(options, Some(names), src.sep(), b)?);
            }
        }
    }
    if let Some(l) = layout.as_mut() {
        l.flush(b)?;
    }
    if layout.is_none() && options.has_header {
        return Err(SummaryError::Header(
            "the input is empty: no header line found".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::dates::R_DATE_AUTO;
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn strict_errors_name_line_column_field_and_value() {
        let cases: &[(&str, usize, &str, &str, &str)] = &[
            ("a,2020-01-05,NaN", 3, "amount", "NaN", R_AMOUNT_NAN),
            ("a,2020-01-05,inf", 3, "amount", "inf", R_AMOUNT_INF),
            ("a,2020-01-05,-5", 3, "amount", "-5", R_AMOUNT_NEG),
            ("a,2020-01-05,1e13", 3, "amount", "1e13", R_AMOUNT_BIG),
            (
                "a,2020-01-05,1000000000000.5",
                3,
                "amount",
                "1000000000000.5",
                R_AMOUNT_BIG,
            ),
            ("a,2020-01-05,abc", 3, "amount", "abc", R_AMOUNT_NAN),
            (",2020-01-05,5", 1, "customer_id", "", R_EMPTY_ID),
            ("a,2020-13-05,5", 2, "date", "2020-13-05", R_DATE_AUTO),
            ("a,2021-02-30,5", 2, "date", "2021-02-30", R_DATE_AUTO),
            ("a,2021-01-01,5", 2, "date", "2021-01-01", R_AFTER_END),
            ("a,2020-01-05", 3, "amount", "a,2020-01-05", R_MISSING),
            (
                "a,2020-01-05,5,x",
                4,
                "field 4",
                "a,2020-01-05,5,x",
                R_EXTRA,
            ),
        ];
        for &(row, column, field, value, reason) in cases {
            let text =
                format!("customer_id,date,amount\nz,2020-01-01,1\n\n{row}\nz,2020-01-02,1\n");
            let err = csv(&text, &opts(), config(RowPolicy::Strict)).unwrap_err();
            let SummaryError::Row(e) = err else {
                panic!("{err:?}")
            };
            assert_eq!(e.line, 4, "{row}");
            assert_eq!(e.column, Some(column), "{row}");
            assert_eq!(e.field, field, "{row}");
            assert_eq!(e.value, value, "{row}");
            assert_eq!(e.reason, reason, "{row}");
            let msg = SummaryError::Row(e).to_string();
            assert!(
                msg.contains(&format!("line 4, column {column} ({field})")),
                "{msg}"
            );
        }
        let e = RowError {
            line: 12,
            column: Some(3),
            field: "amount".into(),
            value: "-5".into(),
            reason: R_AMOUNT_NEG.into(),
        };
        assert_eq!(
            e.to_string(),
            "line 12, column 3 (amount): \"-5\": amount must be >= 0"
        );
    }

    #[test]
    fn lenient_mode_counts_bad_rows_and_summarizes_the_rest() {
        let text = "customer_id,date,amount\n\
                    a,2020-01-01,10\n\
                    a,2020-01-05,NaN\n\
                    a,2020-01-06,inf\n\
                    a,2020-01-07,-1\n\
                    ,2020-01-08,1\n\
                    a,2020-02-30,1\n\
                    a,20200101x,1\n\
                    a,2021-01-01,1\n\
                    a,2020-01-09\n\
                    a,2020-01-10,4\n\
                    b,2020-06-01T10:00:00Z,1.5\n\
                    a,2020-01-10 23:59,6\n\
                    a,20200120,1\n";
        let out = csv(text, &opts(), config(RowPolicy::Lenient)).unwrap();
        let s = &out.stats;
        assert_eq!((s.rows_read, s.rows_used, s.rows_skipped), (13, 5, 8));
        assert_eq!(s.skipped_by_reason[R_AMOUNT_NAN], 1);
        assert_eq!(s.skipped_by_reason[R_AMOUNT_INF], 1);
        assert_eq!(s.skipped_by_reason[R_AMOUNT_NEG], 1);
        assert_eq!(s.skipped_by_reason[R_EMPTY_ID], 1);
        assert_eq!(s.skipped_by_reason[R_DATE_AUTO], 2);
        assert_eq!(s.skipped_by_reason[R_AFTER_END], 1);
        assert_eq!(s.skipped_by_reason[R_MISSING], 1);
        assert_eq!(s.examples.len(), 8);
        assert_eq!(s.examples[0].line, 3);
        let t = &out.table;
        assert_eq!(t.ids, ["a", "b"]);
        assert_eq!(t.rfm[0].frequency, 2);
        assert_eq!(t.rfm[0].recency, 19.0);
        assert_eq!(t.monetary_value[0], 5.5);
        assert_eq!(t.rfm[1].age, f64::from(d(2020, 12, 31).0 - d(2020, 6, 1).0));

        // Only the first MAX_EXAMPLES are kept.
        let mut many = String::from("customer_id,date,amount\n");
        for _ in 0..25 {
            many.push_str("a,2020-01-01,-1\n");
        }
        let out = csv(&many, &opts(), config(RowPolicy::Lenient)).unwrap();
        assert_eq!(out.stats.rows_skipped, 25);
        assert_eq!(out.stats.examples.len(), MAX_EXAMPLES);
        assert!(out.table.is_empty());
    }

    #[test]
    fn header_problems() {
        let cfg = config(RowPolicy::Strict);
        let err = csv("customer_id,day,amount\na,2020-01-01,1\n", &opts(), cfg).unwrap_err();
        let SummaryError::Header(msg) = &err else {
            panic!("{err:?}")
        };
        assert!(msg.contains("\"date\"") && msg.contains("\"day\""), "{msg}");
        assert!(
            err.to_string()
                .starts_with("bad header: missing date column"),
            "{err}"
        );
        let err = csv("", &opts(), cfg).unwrap_err();
        assert!(matches!(err, SummaryError::Header(_)));
        let o = CsvOptions {
            has_header: false,
            ..opts()
        };
        assert!(matches!(
            csv("a,2020-01-01,1\n", &o, cfg),
            Err(SummaryError::Header(_))
        ));
        let o = CsvOptions {
            amount: ColumnRef::Index(9),
            ..opts()
        };
        assert!(matches!(
            csv("customer_id,date,amount\n", &o, cfg),
            Err(SummaryError::Header(_))
        ));
        // Case-insensitive fallback, BOM, CRLF, quoting, other delimiter, reordered columns.
        let o = CsvOptions {
            delimiter: Delimiter::Byte(b';'),
            ..opts()
        };
        let text = "\u{feff}Amount;\"Customer_ID\";DATE\r\n1,5;\"x;y\";2020-12-31\r\n";
        let o2 = CsvOptions {
            amount: ColumnRef::Name("Amount".into()),
            ..o.clone()
        };
        let err = csv(text, &o2, cfg).unwrap_err();
        let SummaryError::Row(e) = err else { panic!() };
        assert_eq!((e.line, e.column, e.value.as_str()), (2, Some(1), "1,5"));
        let text = "\u{feff}Amount;\"Customer_ID\";DATE\r\n1.5;\"x;y\";2020-12-31\r\n";
        let out = csv(text, &o, cfg).unwrap();
        assert_eq!(out.table.ids, ["x;y"]);
        assert_eq!(out.table.rfm[0].age, 0.0);
        // Bad delimiter and bad config.
        let o = CsvOptions {
            delimiter: Delimiter::Byte(b'"'),
            ..opts()
        };
        assert!(matches!(csv("", &o, cfg), Err(SummaryError::Config(_))));
        let bad = SummaryConfig {
            calibration_end: Some(d(2021, 1, 1)),
            ..cfg
        };
        assert!(matches!(
            csv("", &opts(), bad),
            Err(SummaryError::Config(_))
        ));
        assert!(SummaryBuilder::new(bad).is_err());
    }

    #[test]
    fn patterns_in_a_log_name_line_and_column() {
        let o = CsvOptions {
            date_format: "%m/%d/%Y".parse().unwrap(),
            ..CsvOptions::default()
        };
        let text = "customer_id,date,amount\na,1/5/2020,10\na,01/20/2020,5\nb,02/30/2020,1\n";
        let err = csv(text, &o, config(RowPolicy::Strict)).unwrap_err();
        let SummaryError::Row(e) = err else { panic!() };
        assert_eq!((e.line, e.column, e.field.as_str()), (4, Some(2), "date"));
        assert_eq!(e.reason, "invalid date (expected %m/%d/%Y)");
        let out = csv(text, &o, config(RowPolicy::Lenient)).unwrap();
        assert_eq!(out.table.ids, ["a"]);
        assert_eq!(out.table.rfm[0].frequency, 1);
    }

    #[test]
    fn fast_decimal_parse_matches_std() {
        for s in [
            "0",
            "0.0",
            "5.",
            ".5",
            "29.33",
            "0.1",
            "0.3",
            "123456789012345",
            "1234567.89012345",
            "99999999999999.9",
            "0.000000000000001",
            "000000000000001.5",
            "1e3",
            "12345678901234567",
            "-0",
            "+1.5",
            "1.2.3",
            "",
            ".",
            "nan",
            "Infinity",
        ] {
            let want = s
                .parse::<f64>()
                .ok()
                // Amounts above the limit are refused whichever path parsed them.
                .filter(|v| v.is_finite() && (0.0..=crate::MAX_AMOUNT).contains(v))
                .map(|v| v + 0.0);
            let got = parse_amount(s.as_bytes()).ok();
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{s}");
        }
        let mut rng = Rng(7);
        for _ in 0..100_000 {
            let digits = 1 + rng.below(15) as usize;
            let mut s: String = (0..digits)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            let p = rng.below(digits as u64 + 1) as usize;
            s.insert(p, '.');
            assert_eq!(
                parse_simple_decimal(s.as_bytes()).map(f64::to_bits),
                s.parse::<f64>().ok().map(f64::to_bits),
                "{s}"
            );
        }
    }
}
