//! Transaction logs → per-customer RFM summaries, streamed.
//!
//! The semantics are those of Python `lifetimes`'
//! `summary_data_from_transaction_data(..., freq='D', freq_multiplier=k)` and
//! `calibration_and_holdout_data(..., freq='D', freq_multiplier=k)`:
//!
//! * timestamps are floored to a calendar [`Day`] (proleptic Gregorian, no time zones: a
//!   time of day and a zone suffix are ignored, the date is used as written);
//! * a customer's purchases on one day are merged into one purchase (amounts summed);
//! * frequency x = distinct purchase days after the first, recency t_x = (last purchase day
//!   − first day) / unit, age T = (end − first day) / unit, where end is the calibration end
//!   if given, else the observation end, and unit = [`TimeUnit::days`];
//! * monetary value = mean over the repeat purchase days of that day's summed spend (first
//!   purchase day excluded; 0 when x = 0);
//! * with a calibration end, purchases in (calibration end, observation end] form the
//!   holdout: distinct purchase days there and their total spend; customers whose first
//!   purchase is in the holdout are left out (and counted in [`SummaryStats`]).
//!
//! Unlike `lifetimes`, a row dated after the observation end is a *bad row* (an error in
//! [`RowPolicy::Strict`], skipped and counted in [`RowPolicy::Lenient`]), not silently
//! dropped.
//!
//! # Memory and row order
//!
//! Rows are consumed one at a time; nothing per row is kept. Each customer has one 88-byte
//! slot in an open-addressing table (load factor <= 5/8): its id (inline up to 22 bytes,
//! else on the heap) and a fixed state (first / last / last-calibration day, distinct-day
//! counts, spends, a recent-days bitmap). About 140–280 bytes per customer, so memory
//! grows with the number of customers, not of rows (1M customers: ~185 MB, plus the
//! output table). [`summarize_csv`] parses on one thread and builds on another (when there
//! are two cores), handing rows over in batches, in order; the builder looks up the
//! customers of a few dozen rows together, so that the table's cache misses overlap.
//!
//! Rows normally arrive in time order per customer (files sorted by date, or by customer
//! then date); then the state above is all that is needed. A row *earlier* than the
//! customer's latest day is harder: whether its day is a new distinct day depends on the
//! customer's earlier days, which the compact state does not keep. It is handled exactly
//! as follows:
//!
//! * the state also keeps a bitmap of the customer's purchase days among the last
//!   [`WINDOW_DAYS`] days up to their latest purchase, so a late row within that window
//!   (e.g. a file sorted by timestamp with a little jitter), on the first purchase day, or
//!   before the first purchase day is placed exactly in O(1) with no extra memory;
//! * a late row further back, when every earlier purchase day of that customer is still
//!   known (all of them inside the window, apart from the first), moves that customer to a
//!   side structure (a sorted list of its distinct days); from then on that customer's
//!   rows go through the list, exactly, whatever their order. Only customers that need it
//!   get one;
//! * otherwise (the row falls more than [`WINDOW_DAYS`] days before the customer's latest
//!   purchase, after their first purchase, and some other purchase day of theirs has
//!   already left the window) exactness would need that customer's full history, which a
//!   memory bound in customers cannot keep. Such a row is reported as a bad row with the
//!   reason [`OUT_OF_ORDER_REASON`] (an error in `Strict`, skipped and counted in
//!   `Lenient`) rather than summarized approximately. Sorting the input by customer and
//!   date, or by date, avoids it entirely; for input in arbitrary order,
//!   [`SummaryBuilder::with_exact_history`] (with [`summarize_csv_with`]) keeps every
//!   customer's distinct days instead (memory then grows with distinct customer-days).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader, Read};

use rustc_hash::FxBuildHasher;
use thiserror::Error;

use crate::error::ModelError;
use crate::data::rfm::{CustomerTable, HoldoutColumns, Rfm};
use crate::data::units::TimeUnit;

mod pipe;

/// How far back (in days before a customer's latest purchase) late rows are placed exactly
/// without any side structure.
pub const WINDOW_DAYS: i64 = 64;

/// The `reason` of a row that is too far out of order to be summarized exactly (see the
/// module documentation).
pub const OUT_OF_ORDER_REASON: &str = "row is out of order: more than 64 days before this \
     customer's latest purchase, with an earlier purchase day no longer tracked; sort the \
     input by customer and date (or by date)";

/// How many bad rows [`SummaryStats::examples`] keeps.
pub const MAX_EXAMPLES: usize = 10;

// ---------------------------------------------------------------------------------------
// Calendar days
// ---------------------------------------------------------------------------------------

/// A calendar day: days since 1970-01-01 in the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Day {
    /// The day `year-month-day`, or `None` if it is not a calendar date (or out of range).
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Day> {
        let year = i64::from(year);
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Howard Hinnant's days_from_civil, in i64 so that no i32 year can overflow.
        let y = year - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(month);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        i32::try_from(era * 146_097 + doe - 719_468).ok().map(Day)
    }

    /// `(year, month, day)` of this day.
    pub fn to_ymd(self) -> (i32, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        // |y| < 6e6 for any i32 day count, and 1 <= m <= 12, 1 <= d <= 31.
        (y as i32, m as u32, d as u32)
    }

    /// `self − earlier` in days.
    pub fn days_since(self, earlier: Day) -> i64 {
        i64::from(self.0) - i64::from(earlier.0)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.to_ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// How dates are written in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateFormat {
    /// Decides per value: ISO if the fifth character is `-`, else compact.
    #[default]
    Auto,
    /// `YYYY-MM-DD`, optionally followed by `T` or a space and a time `hh[:mm[:ss[.f]]]`
    /// with an optional zone (`Z`, `±hh`, `±hhmm`, `±hh:mm`); time and zone are ignored.
    Iso,
    /// `YYYYMMDD`.
    Compact,
    /// A strftime-like pattern such as `%m/%d/%Y` (see [`DatePattern`]).
    Pattern(DatePattern),
}

impl DateFormat {
    /// Why a value does not parse, for error messages and the skip statistics.
    pub fn reason(self) -> Cow<'static, str> {
        match self {
            DateFormat::Auto => R_DATE_AUTO.into(),
            DateFormat::Iso => R_DATE_ISO.into(),
            DateFormat::Compact => R_DATE_COMPACT.into(),
            DateFormat::Pattern(p) => format!("invalid date (expected {p})").into(),
        }
    }
}

const R_DATE_AUTO: &str = "invalid date (expected YYYY-MM-DD or YYYYMMDD)";
const R_DATE_ISO: &str = "invalid date (expected YYYY-MM-DD, optionally with a time)";
const R_DATE_COMPACT: &str = "invalid date (expected YYYYMMDD)";

/// `auto`, `iso`, `compact`, or a pattern with `%` directives ([`DatePattern::new`]).
impl std::str::FromStr for DateFormat {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s {
            "auto" => Ok(DateFormat::Auto),
            "iso" => Ok(DateFormat::Iso),
            "compact" => Ok(DateFormat::Compact),
            p if p.contains('%') => DatePattern::new(p).map(DateFormat::Pattern),
            other => Err(ModelError::invalid(
                "date_format",
                format!(
                    "{other:?}: use auto, iso, compact or a pattern such as %m/%d/%Y or %d.%m.%Y"
                ),
            )),
        }
    }
}

/// One piece of a [`DatePattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum DateToken {
    /// Unused slot.
    #[default]
    End,
    /// `%Y`: four digits.
    Year,
    /// `%m`: one or two digits.
    Month,
    /// `%d`: one or two digits.
    Day,
    /// A byte that must be there as written (`%%` is a literal `%`).
    Literal(u8),
}

/// A date pattern: `%Y` (four-digit year), `%m` (month, one or two digits), `%d` (day of
/// the month, one or two digits), `%%` (a `%`) and any other character as a literal
/// separator that must match exactly, e.g. `%m/%d/%Y` or `%d.%m.%Y`. Each of `%Y`, `%m`,
/// `%d` appears exactly once; the whole value must match (no trailing time). Parsed once
/// into a small fixed array of tokens, so that [`DateFormat`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DatePattern {
    tokens: [DateToken; DatePattern::MAX_TOKENS],
}

impl DatePattern {
    /// At most this many directives and literal bytes.
    pub const MAX_TOKENS: usize = 24;

    /// Parses `pattern`; the error names it and says what is wrong.
    pub fn new(pattern: &str) -> Result<DatePattern, ModelError> {
        let bad =
            |why: String| ModelError::invalid("date_format", format!("pattern {pattern:?}: {why}"));
        let mut tokens = [DateToken::End; Self::MAX_TOKENS];
        let mut n = 0;
        let mut bytes = pattern.bytes();
        while let Some(b) = bytes.next() {
            let token = if b == b'%' {
                match bytes.next() {
                    Some(b'Y') => DateToken::Year,
                    Some(b'm') => DateToken::Month,
                    Some(b'd') => DateToken::Day,
                    Some(b'%') => DateToken::Literal(b'%'),
                    Some(other) => {
                        let directive: String = pattern
                            .get(pattern.len() - bytes.len() - 1..)
                            .and_then(|s| s.chars().next())
                            .map_or_else(|| char::from(other).to_string(), String::from);
                        return Err(bad(format!(
                            "unsupported directive %{directive} (use %Y, %m, %d or %%)"
                        )));
                    }
                    None => return Err(bad("ends with a lone %".into())),
                }
            } else {
                DateToken::Literal(b)
            };
            let Some(slot) = tokens.get_mut(n) else {
                return Err(bad(format!(
                    "too long (at most {} directives and characters)",
                    Self::MAX_TOKENS
                )));
            };
            *slot = token;
            n += 1;
        }
        for (token, name) in [
            (DateToken::Year, "%Y"),
            (DateToken::Month, "%m"),
            (DateToken::Day, "%d"),
        ] {
            match tokens.iter().filter(|&&t| t == token).count() {
                1 => {}
                0 => return Err(bad(format!("has no {name}"))),
                _ => return Err(bad(format!("has {name} more than once"))),
            }
        }
        Ok(DatePattern { tokens })
    }

    fn tokens(&self) -> impl Iterator<Item = DateToken> + '_ {
        self.tokens
            .iter()
            .copied()
            .take_while(|&t| t != DateToken::End)
    }

    /// The day `text` denotes, if it matches the pattern and is a calendar date.
    pub fn parse(&self, text: &[u8]) -> Option<Day> {
        let (mut year, mut month, mut day) = (0, 0, 0);
        let mut i = 0;
        for token in self.tokens() {
            match token {
                DateToken::End => break,
                DateToken::Literal(b) => {
                    if text.get(i) != Some(&b) {
                        return None;
                    }
                    i += 1;
                }
                DateToken::Year => {
                    year = two_at(text, i)? * 100 + two_at(text, i + 2)?;
                    i += 4;
                }
                DateToken::Month | DateToken::Day => {
                    let mut v = digit(*text.get(i)?)?;
                    i += 1;
                    if let Some(d) = text.get(i).and_then(|&b| digit(b)) {
                        v = v * 10 + d;
                        i += 1;
                    }
                    if token == DateToken::Month {
                        month = v;
                    } else {
                        day = v;
                    }
                }
            }
        }
        if i != text.len() {
            return None;
        }
        // year <= 9999 always fits in i32.
        Day::from_ymd(year as i32, month, day)
    }
}

/// The pattern as written (`%%` for a literal `%`).
impl fmt::Display for DatePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(Self::MAX_TOKENS * 2);
        for token in self.tokens() {
            match token {
                DateToken::End => break,
                DateToken::Year => bytes.extend_from_slice(b"%Y"),
                DateToken::Month => bytes.extend_from_slice(b"%m"),
                DateToken::Day => bytes.extend_from_slice(b"%d"),
                DateToken::Literal(b'%') => bytes.extend_from_slice(b"%%"),
                DateToken::Literal(b) => bytes.push(b),
            }
        }
        f.write_str(&String::from_utf8_lossy(&bytes))
    }
}

impl fmt::Debug for DatePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatePattern({:?})", self.to_string())
    }
}

#[inline]
fn digit(b: u8) -> Option<u32> {
    let d = b.wrapping_sub(b'0');
    if d < 10 { Some(u32::from(d)) } else { None }
}

#[inline]
fn two(a: u8, b: u8) -> Option<u32> {
    Some(digit(a)? * 10 + digit(b)?)
}

#[inline]
fn ymd(y: [u8; 4], m: [u8; 2], d: [u8; 2]) -> Option<Day> {
    let year = two(y[0], y[1])? * 100 + two(y[2], y[3])?;
    // year <= 9999 always fits in i32.
    Day::from_ymd(year as i32, two(m[0], m[1])?, two(d[0], d[1])?)
}

fn two_at(t: &[u8], i: usize) -> Option<u32> {
    two(*t.get(i)?, *t.get(i + 1)?)
}

/// `hh[:mm[:ss[(.|,)digits]]][zone]`
fn time_ok(t: &[u8]) -> bool {
    match two_at(t, 0) {
        Some(h) if h <= 24 => {}
        _ => return false,
    }
    let mut i = 2;
    if t.get(i) == Some(&b':') {
        match two_at(t, i + 1) {
            Some(m) if m <= 59 => i += 3,
            _ => return false,
        }
        if t.get(i) == Some(&b':') {
            match two_at(t, i + 1) {
                Some(s) if s <= 60 => i += 3,
                _ => return false,
            }
            if matches!(t.get(i), Some(b'.' | b',')) {
                i += 1;
                let start = i;
                while t.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                if i == start {
                    return false;
                }
            }
        }
    }
    zone_ok(t.get(i..).unwrap_or_default())
}

fn zone_ok(z: &[u8]) -> bool {
    let hm =
        |h: Option<u32>, m: Option<u32>| matches!((h, m), (Some(h), Some(m)) if h <= 23 && m <= 59);
    match *z {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', h0, h1] => matches!(two(h0, h1), Some(h) if h <= 23),
        [b'+' | b'-', h0, h1, m0, m1] | [b'+' | b'-', h0, h1, b':', m0, m1] => {
            hm(two(h0, h1), two(m0, m1))
        }
        _ => false,
    }
}

fn parse_iso(text: &[u8]) -> Option<Day> {
    let (head, rest) = text.split_at_checked(10)?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *head else {
        return None;
    };
    if let [sep, time @ ..] = rest
        && (!matches!(sep, b'T' | b't' | b' ') || !time_ok(time))
    {
        return None;
    }
    ymd([y0, y1, y2, y3], [m0, m1], [d0, d1])
}

fn parse_compact(text: &[u8]) -> Option<Day> {
    let [y0, y1, y2, y3, m0, m1, d0, d1] = *text else {
        return None;
    };
    ymd([y0, y1, y2, y3], [m0, m1], [d0, d1])
}

/// Parses a date (surrounding whitespace is not allowed; trim first). Validates month and
/// day ranges, leap years included.
pub fn parse_day(text: &[u8], format: DateFormat) -> Option<Day> {
    match format {
        DateFormat::Iso => parse_iso(text),
        DateFormat::Compact => parse_compact(text),
        DateFormat::Pattern(p) => p.parse(text),
        DateFormat::Auto => {
            if text.get(4) == Some(&b'-') {
                parse_iso(text)
            } else {
                parse_compact(text)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Errors and statistics
// ---------------------------------------------------------------------------------------

/// One bad input row. `column` is 1-based; `field` is the role of the column
/// (`customer_id`, `date`, `amount`) or, for a wrong field count, the column's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: Option<usize>,
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, " ({}): {:?}: {}", self.field, self.value, self.reason)
    }
}

impl std::error::Error for RowError {}

/// What happened to the input rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryStats {
    /// Data rows seen (header and blank lines excluded).
    pub rows_read: u64,
    /// Rows that entered the summary.
    pub rows_used: u64,
    /// Bad rows (skipped in lenient mode).
    pub rows_skipped: u64,
    /// Skipped rows per `RowError::reason`.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// The first [`MAX_EXAMPLES`] bad rows.
    pub examples: Vec<RowError>,
    /// Customers in the output table.
    pub customers: u64,
    /// Customers left out because their first purchase is after the calibration end.
    pub customers_born_in_holdout: u64,
}

/// The summary table and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryOutput {
    pub table: CustomerTable,
    pub stats: SummaryStats,
}

// ---------------------------------------------------------------------------------------
// The streaming builder
// ---------------------------------------------------------------------------------------

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowPolicy {
    /// The first bad row is an error.
    #[default]
    Strict,
    /// Bad rows are skipped and counted.
    Lenient,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryConfig {
    pub unit: TimeUnit,
    /// Last day of observation, inclusive.
    pub observation_end: Day,
    /// Last day of the calibration period, inclusive; `None`: no holdout.
    pub calibration_end: Option<Day>,
    pub policy: RowPolicy,
}

const NO_SIDE: u32 = u32::MAX;
const NO_DAY: i32 = i32::MIN;

const F_CUSTOMER: &str = "customer_id";
const F_DATE: &str = "date";
const F_AMOUNT: &str = "amount";

const R_EMPTY_ID: &str = "customer id is empty";
const R_ID_UTF8: &str = "customer id is not valid UTF-8";
const R_AFTER_END: &str = "date is after observation_end";
const R_AMOUNT_NAN: &str = "amount is not a number";
const R_AMOUNT_INF: &str = "amount must be finite";
const R_AMOUNT_NEG: &str = "amount must be >= 0";
const R_MISSING: &str = "missing field(s): the row has fewer fields than expected";
const R_EXTRA: &str = "too many fields: the row has more fields than expected";
const R_TOO_MANY: &str = "too many customers (more than 4294967294)";

/// A customer id in [`IdMap`]: short ids (most of them) are stored inline, so that a
/// lookup compares bytes inside the table instead of chasing a pointer.
#[derive(Debug, Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; 22] },
    Heap(Box<str>),
}

impl Key {
    fn new(id: &str) -> Key {
        let src = id.as_bytes();
        let mut bytes = [0u8; 22];
        match (bytes.get_mut(..src.len()), u8::try_from(src.len())) {
            (Some(dst), Ok(len)) => {
                dst.copy_from_slice(src);
                Key::Inline { len, bytes }
            }
            _ => Key::Heap(Box::from(id)),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Key::Heap(s) => s.as_bytes(),
        }
    }

    #[inline]
    fn touch_byte(&self) -> u8 {
        match self {
            Key::Inline { len, .. } => *len,
            Key::Heap(s) => s.len() as u8,
        }
    }

    fn into_string(self) -> String {
        match self {
            Key::Inline { .. } => String::from_utf8_lossy(self.as_bytes()).into_owned(),
            Key::Heap(s) => s.into_string(),
        }
    }
}

/// Hash of a customer id; [`IdMap`] takes its slot from the high bits and a tag from the
/// low ones.
#[inline]
fn id_hash(id: &[u8]) -> u64 {
    FxBuildHasher
        .hash_one(id)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Customer id -> state: open addressing with linear probing, the state stored in the slot
/// next to the id (inline when short). A lookup normally reads one 88-byte slot, and the
/// home slot of an id can be touched ahead of time (see
/// [`SummaryBuilder::accept_batch`]). Load factor <= 5/8.
#[derive(Debug)]
struct IdMap {
    slots: Vec<(Key, CustomerState)>,
    len: usize,
    /// 64 − log2(slots.len()).
    shift: u32,
}

enum Found<'a> {
    Yes(&'a mut CustomerState),
    No,
}

const EMPTY_KEY: Key = Key::Inline {
    len: 0,
    bytes: [0; 22],
};

impl IdMap {
    const MIN_BITS: u32 = 6;

    fn new() -> Self {
        Self::with_bits(Self::MIN_BITS)
    }

    fn with_bits(bits: u32) -> Self {
        IdMap {
            slots: vec![(EMPTY_KEY, CustomerState::EMPTY); 1usize << bits],
            len: 0,
            shift: 64 - bits,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn tag(hash: u64) -> u32 {
        (hash as u32) | 1
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    /// Reads the id's home slot so that the memory is on its way when it is needed.
    #[inline]
    fn touch(&self, hash: u64) -> u32 {
        // An 88-byte slot spans up to three cache lines; bytes 0, 48 and 84 are in all
        // of them.
        self.slots.get(self.home(hash)).map_or(0, |s| {
            s.1.tag ^ u32::from(s.0.touch_byte()) ^ (s.1.hold_spend.to_bits() as u32)
        })
    }

    /// Ok(slot of `id`) or Err(the empty slot where it would go).
    #[inline]
    fn probe(&self, id: &[u8], hash: u64) -> Result<usize, usize> {
        let tag = Self::tag(hash);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.home(hash);
        // The table always has an empty slot, so this ends; the bound is a safeguard.
        for _ in 0..self.slots.len() {
            let Some((key, state)) = self.slots.get(i) else {
                break;
            };
            if state.tag == 0 {
                return Err(i);
            }
            if state.tag == tag && key.as_bytes() == id {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
        Err(usize::MAX)
    }

    #[inline]
    fn find(&mut self, id: &[u8], hash: u64) -> Found<'_> {
        match self.probe(id, hash) {
            Ok(i) => match self.slots.get_mut(i) {
                Some(slot) => Found::Yes(&mut slot.1),
                None => Found::No,
            },
            Err(_) => Found::No,
        }
    }

    /// Inserts an id known to be absent.
    fn insert(&mut self, key: Key, hash: u64, mut state: CustomerState) {
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.grow();
        }
        state.tag = Self::tag(hash);
        if let Err(i) = self.probe(key.as_bytes(), hash)
            && let Some(slot) = self.slots.get_mut(i)
        {
            *slot = (key, state);
            self.len += 1;
        }
    }

    fn grow(&mut self) {
        let bits = 64 - self.shift + 1;
        let old = std::mem::replace(self, Self::with_bits(bits));
        for (key, state) in old.slots {
            if state.tag != 0 {
                let hash = id_hash(key.as_bytes());
                self.insert(key, hash, state);
            }
        }
    }

    fn into_entries(self) -> impl Iterator<Item = (Key, CustomerState)> {
        self.slots.into_iter().filter(|s| s.1.tag != 0)
    }
}

/// Compact per-customer state (64 bytes; `repr(C)` fixes the layout [`IdMap::touch`]
/// relies on). The distinct-day set S of the customer spans
/// calibration and holdout; `window` bit i is set iff day `last − i` ∈ S (i < 64).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct CustomerState {
    window: u64,
    /// Spend on day `first`.
    first_spend: f64,
    /// Spend on days in (first, calibration end].
    cal_spend: f64,
    /// Spend on days after the calibration end, other than `first`.
    hold_spend: f64,
    /// min S.
    first: i32,
    /// max S.
    last: i32,
    /// max of S ∩ (−∞, calibration end], or `NO_DAY`.
    last_cal: i32,
    /// |S ∩ (−∞, calibration end]|.
    cal_days: u32,
    /// |S ∩ (calibration end, ∞)|.
    hold_days: u32,
    /// Index into `SummaryBuilder::side`, or `NO_SIDE`.
    side: u32,
    /// Order of first appearance.
    order: u32,
    /// [`IdMap`] slot tag; 0 = empty slot.
    tag: u32,
}

impl CustomerState {
    const EMPTY: CustomerState = CustomerState {
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

    fn new(d: i32, amount: f64, cal_end: i32, order: u32) -> Self {
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

/// Streaming summary builder: feed rows with [`push`](Self::push), then
/// [`finish`](Self::finish). See the module documentation for semantics and memory.
#[derive(Debug)]
pub struct SummaryBuilder {
    config: SummaryConfig,
    cal_end: i32,
    obs_end: i32,
    /// Customer id -> state. Keeping the state in the table entry, next to an inline
    /// copy of short ids, makes a lookup touch one random memory region, not three.
    customers: IdMap,
    /// Sorted distinct days of customers that went out of order beyond the window.
    side: Vec<Vec<i32>>,
    /// 1-based source columns of customer id, date, amount, for error messages.
    columns: Option<[usize; 3]>,
    /// Every customer gets a side list from its first row (see `with_exact_history`).
    all_days: bool,
    stats: SummaryStats,
}

enum Placement {
    Ok,
    OutOfOrder,
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
    fn reject(
        &mut self,
        line: u64,
        column: Option<usize>,
        field: &str,
        value: impl FnOnce() -> String,
        reason: &str,
    ) -> Result<(), RowError> {
        self.stats.rows_read += 1;
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
    fn accept_batch(&mut self, batch: &mut Batch) -> Result<(), RowError> {
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
        let mut hold_x = vec![0u32; n];
        let mut hold_spend = vec![0.0; n];
        let mut keep = vec![false; n];
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
            if let Some(slot) = hold_x.get_mut(i) {
                *slot = c.hold_days;
            }
            if let Some(slot) = hold_spend.get_mut(i) {
                *slot = c.hold_spend;
            }
        }
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut k = keep.iter();
            v.retain(|_| k.next().copied().unwrap_or(false));
        }
        retain(&mut ids, &keep);
        retain(&mut rfm, &keep);
        retain(&mut monetary, &keep);
        let holdout = self.config.calibration_end.map(|c| {
            retain(&mut hold_x, &keep);
            retain(&mut hold_spend, &keep);
            HoldoutColumns {
                duration: self.config.observation_end.days_since(c) as f64 / u,
                frequency: hold_x,
                spend: hold_spend,
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

/// Adds a purchase on day `d` to customer `c`.
#[inline]
fn place(
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

// ---------------------------------------------------------------------------------------
// CSV / whitespace input
// ---------------------------------------------------------------------------------------

/// Field separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// A single byte (`,`, `;`, `\t`, `|`, ...), CSV quoting rules.
    Byte(u8),
    /// Runs of spaces/tabs; leading and trailing ones ignored; no quoting (the CDNOW
    /// file format).
    Whitespace,
}

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

#[derive(Debug, Clone, PartialEq, Error)]
pub enum SummaryError {
    #[error("bad transaction row: {0}")]
    Row(RowError),
    #[error("cannot read transactions: {0}")]
    Io(String),
    #[error("bad header: {0}")]
    Header(String),
    #[error("invalid summary configuration: {0}")]
    Config(ModelError),
}

impl From<RowError> for SummaryError {
    fn from(e: RowError) -> Self {
        SummaryError::Row(e)
    }
}

impl From<ModelError> for SummaryError {
    fn from(e: ModelError) -> Self {
        SummaryError::Config(e)
    }
}

/// Summarizes a transaction file. Blank lines are ignored; a UTF-8 byte order mark is
/// skipped. Line numbers in errors are 1-based physical lines of the input.
pub fn summarize_csv<R: Read>(
    reader: R,
    options: &CsvOptions,
    config: SummaryConfig,
) -> Result<SummaryOutput, SummaryError> {
    summarize_csv_with(reader, options, SummaryBuilder::new(config)?)
}

/// [`summarize_csv`] with a prepared builder (e.g.
/// [`SummaryBuilder::with_exact_history`] for unsorted input).
pub fn summarize_csv_with<R: Read>(
    reader: R,
    options: &CsvOptions,
    builder: SummaryBuilder,
) -> Result<SummaryOutput, SummaryError> {
    summarize_text(reader, options, builder, pipe::worthwhile())
}

/// [`summarize_csv_with`], parsing on this thread and building on a second one when
/// `two_threads` (see [`pipe`]); the result is the same either way.
fn summarize_text<R: Read>(
    reader: R,
    options: &CsvOptions,
    mut builder: SummaryBuilder,
    two_threads: bool,
) -> Result<SummaryOutput, SummaryError> {
    let source = TextRecords::new(reader, options.delimiter)?.0;
    if two_threads {
        return pipe::run(builder, |sink| match source {
            Source::Csv(mut records) => read_records(&mut records, options, sink),
            Source::Whitespace(mut records) => read_records(&mut records, options, sink),
        });
    }
    match source {
        Source::Csv(mut records) => read_records(&mut records, options, &mut builder)?,
        Source::Whitespace(mut records) => read_records(&mut records, options, &mut builder)?,
    }
    Ok(builder.finish())
}

fn io_error(e: impl fmt::Display) -> SummaryError {
    SummaryError::Io(e.to_string())
}

fn skip_bom<R: Read>(input: &mut BufReader<R>) -> Result<(), SummaryError> {
    let buf = input.fill_buf().map_err(io_error)?;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    Ok(())
}

#[inline]
fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Rows whose customers are looked up together (see [`SummaryBuilder::accept_batch`]).
const BATCH_ROWS: usize = 32;

/// Where a [`Layout`] sends what it parsed, in input order: straight to the builder, or to
/// the builder on another thread ([`pipe`]).
trait RowSink {
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

#[derive(Debug, Clone, Copy)]
struct BatchRow {
    line: u64,
    /// End of this row's id in `Batch::ids` (it starts where the previous one ends).
    id_end: usize,
    day: i32,
    amount: f64,
}

#[derive(Debug, Default)]
struct Batch {
    ids: String,
    rows: Vec<BatchRow>,
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

fn header_names<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    fields
        .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
        .collect()
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
        return Ok(v);
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

/// Counts what the CSV reader pulled from the input, to recover exact line numbers.
struct Tracked<R> {
    inner: R,
    total: u64,
    last: Option<u8>,
    eof: bool,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.eof = true;
        } else {
            self.total += n as u64;
            self.last = buf.get(n - 1).copied();
        }
        Ok(n)
    }
}

/// Where records come from; implemented by both text readers so that the summarizer's
/// loop is compiled once for each.
trait RecordSource {
    /// Separator shown between fields when a whole record is quoted in an error.
    fn sep(&self) -> char;
    /// Reads the next non-blank record; its 1-based start line, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<u64>, SummaryError>;
    /// Fields of the current record.
    fn len(&self) -> usize;
    /// Field `i` of the current record.
    fn get(&self, i: usize) -> Option<&[u8]>;
}

/// Byte-delimited input through the `csv` crate. Records end at `\n`; a `\r` before it is
/// dropped from the last field (CRLF files). The `csv` crate reports a record's position
/// before the blank lines it skips, so the 1-based start line is recomputed from the
/// position after the record: end line − newlines inside the record − 1 for its
/// terminator (none for a final line without one).
struct CsvRecords<R> {
    rdr: csv::Reader<Tracked<R>>,
    rec: csv::ByteRecord,
    delimiter: u8,
}

impl<R: Read> CsvRecords<R> {
    fn new(input: R, delimiter: u8) -> Self {
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(1 << 16)
            .from_reader(Tracked {
                inner: input,
                total: 0,
                last: None,
                eof: false,
            });
        CsvRecords {
            rdr,
            rec: csv::ByteRecord::new(),
            delimiter,
        }
    }
}

impl<R: Read> RecordSource for CsvRecords<R> {
    fn sep(&self) -> char {
        char::from(self.delimiter)
    }

    #[inline]
    fn next_record(&mut self) -> Result<Option<u64>, SummaryError> {
        loop {
            match self.rdr.read_byte_record(&mut self.rec) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(io_error(e)),
            }
            if self.rec.len() == 1 && self.get(0).is_none_or(|f| trim(f).is_empty()) {
                continue;
            }
            let end = self.rdr.position();
            let t = self.rdr.get_ref();
            let unterminated = t.eof && end.byte() == t.total && t.last != Some(b'\n');
            let inner_newlines = self.rec.as_slice().iter().filter(|&&c| c == b'\n').count() as u64;
            let line = end
                .line()
                .saturating_sub(inner_newlines)
                .saturating_sub(u64::from(!unterminated))
                .max(1);
            return Ok(Some(line));
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.rec.len()
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&[u8]> {
        let f = self.rec.get(i)?;
        if i + 1 == self.rec.len() {
            Some(f.strip_suffix(b"\r").unwrap_or(f))
        } else {
            Some(f)
        }
    }
}

/// Splits on runs of ASCII whitespace; pushes (start, end) ranges.
#[inline]
fn split_whitespace(line: &[u8], out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut i = 0;
    let n = line.len();
    while i < n {
        while i < n && line.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        while i < n && line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
            i += 1;
        }
        out.push((start, i));
    }
}

/// Whitespace-separated input, one record per physical line.
struct WhitespaceRecords<R> {
    input: BufReader<R>,
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    line: u64,
}

impl<R: Read> RecordSource for WhitespaceRecords<R> {
    fn sep(&self) -> char {
        ' '
    }

    #[inline]
    fn next_record(&mut self) -> Result<Option<u64>, SummaryError> {
        loop {
            self.buf.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.buf)
                .map_err(io_error)?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            split_whitespace(&self.buf, &mut self.ranges);
            if !self.ranges.is_empty() {
                return Ok(Some(self.line));
            }
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.ranges.len()
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.ranges.get(i).and_then(|&(s, e)| self.buf.get(s..e))
    }
}

enum Source<R> {
    Csv(CsvRecords<BufReader<R>>),
    Whitespace(WhitespaceRecords<R>),
}

/// The non-blank records of a delimited or whitespace-separated text file, each with the
/// 1-based line it starts on: the reader [`summarize_csv`] uses, for other readers of the
/// same files (e.g. summary tables) so that they split fields and count lines alike. A
/// UTF-8 byte order mark is skipped; with [`Delimiter::Byte`], a `\r` before a record's
/// `\n` is dropped and quoted fields may span lines.
pub struct TextRecords<R>(Source<R>);

impl<R> fmt::Debug for TextRecords<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Source::Csv(_) => "delimited",
            Source::Whitespace(_) => "whitespace",
        };
        f.debug_tuple("TextRecords").field(&kind).finish()
    }
}

impl<R: Read> TextRecords<R> {
    /// Fails only on an unusable delimiter (a quote, CR, LF or non-ASCII byte) or an I/O
    /// error reading the first bytes.
    pub fn new(reader: R, delimiter: Delimiter) -> Result<Self, SummaryError> {
        if let Delimiter::Byte(b) = delimiter
            && (matches!(b, b'\n' | b'\r' | b'"') || !b.is_ascii())
        {
            return Err(SummaryError::Config(ModelError::invalid(
                "delimiter",
                format!("{:?} cannot be used as a field delimiter", char::from(b)),
            )));
        }
        let mut input = BufReader::with_capacity(1 << 16, reader);
        skip_bom(&mut input)?;
        Ok(TextRecords(match delimiter {
            Delimiter::Byte(b) => Source::Csv(CsvRecords::new(input, b)),
            Delimiter::Whitespace => Source::Whitespace(WhitespaceRecords {
                input,
                buf: Vec::with_capacity(256),
                ranges: Vec::with_capacity(8),
                line: 0,
            }),
        }))
    }

    /// Moves to the next non-blank record: its 1-based start line, or `None` at the end.
    /// An I/O error is [`SummaryError::Io`].
    pub fn next_record(&mut self) -> Result<Option<u64>, SummaryError> {
        match &mut self.0 {
            Source::Csv(r) => r.next_record(),
            Source::Whitespace(r) => r.next_record(),
        }
    }

    /// Number of fields of the current record.
    pub fn len(&self) -> usize {
        match &self.0 {
            Source::Csv(r) => r.len(),
            Source::Whitespace(r) => r.len(),
        }
    }

    /// Whether the current record has no fields (before the first record).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Field `i` (0-based) of the current record, as in the file (not trimmed).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match &self.0 {
            Source::Csv(r) => r.get(i),
            Source::Whitespace(r) => r.get(i),
        }
    }

    /// The current record's fields trimmed, as text: column names when it is a header.
    pub fn names(&self) -> Vec<String> {
        header_names((0..self.len()).filter_map(|i| self.get(i)))
    }
}

/// The summarizer's loop over records: the first one is the header when there is one.
fn read_records<S: RecordSource>(
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
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> Day {
        Day::from_ymd(y, m, dd).unwrap()
    }

    fn config(policy: RowPolicy) -> SummaryConfig {
        SummaryConfig {
            unit: TimeUnit::Day,
            observation_end: d(2020, 12, 31),
            calibration_end: None,
            policy,
        }
    }

    fn run(rows: &[(&str, Day, f64)], cfg: SummaryConfig) -> SummaryOutput {
        let mut b = SummaryBuilder::new(cfg).unwrap();
        for (i, &(id, day, amount)) in rows.iter().enumerate() {
            b.push(i as u64 + 1, id, day, amount).unwrap();
        }
        b.finish()
    }

    fn csv(
        text: &str,
        options: &CsvOptions,
        cfg: SummaryConfig,
    ) -> Result<SummaryOutput, SummaryError> {
        summarize_csv(text.as_bytes(), options, cfg)
    }

    /// Per-customer (x, recency days, T days, monetary, holdout x, holdout spend) by sorting
    /// id -> day -> spend maps: the naive reference.
    type Ref = Vec<(String, u32, i64, i64, f64, u32, f64)>;

    fn reference(rows: &[(String, Day, f64)], cfg: &SummaryConfig) -> Ref {
        let cal_end = cfg.calibration_end.unwrap_or(cfg.observation_end);
        let mut order: Vec<String> = Vec::new();
        let mut by: BTreeMap<String, BTreeMap<i32, f64>> = BTreeMap::new();
        for (id, day, a) in rows {
            let e = by.entry(id.clone()).or_insert_with(|| {
                order.push(id.clone());
                BTreeMap::new()
            });
            *e.entry(day.0).or_insert(0.0) += a;
        }
        let mut out = Vec::new();
        for id in order {
            let days = &by[&id];
            let first = *days.keys().next().unwrap();
            if first > cal_end.0 {
                continue;
            }
            let cal: Vec<(&i32, &f64)> = days.iter().filter(|(k, _)| **k <= cal_end.0).collect();
            let x = cal.len() as u32 - 1;
            let last = *cal.last().unwrap().0;
            let spend: f64 = cal.iter().skip(1).map(|(_, v)| **v).sum();
            let hold: Vec<f64> = days
                .iter()
                .filter(|(k, _)| **k > cal_end.0)
                .map(|(_, v)| *v)
                .collect();
            out.push((
                id,
                x,
                i64::from(last - first),
                i64::from(cal_end.0 - first),
                if x == 0 { 0.0 } else { spend / f64::from(x) },
                hold.len() as u32,
                hold.iter().sum(),
            ));
        }
        out
    }

    fn as_ref(out: &SummaryOutput) -> Ref {
        let t = &out.table;
        (0..t.len())
            .map(|i| {
                let (hx, hs) = t
                    .holdout
                    .as_ref()
                    .map_or((0, 0.0), |h| (h.frequency[i], h.spend[i]));
                (
                    t.ids[i].clone(),
                    t.rfm[i].frequency,
                    t.rfm[i].recency.round() as i64,
                    t.rfm[i].age.round() as i64,
                    t.monetary_value[i],
                    hx,
                    hs,
                )
            })
            .collect()
    }

    fn assert_same(a: &Ref, b: &Ref) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(
                (&x.0, x.1, x.2, x.3, x.5),
                (&y.0, y.1, y.2, y.3, y.5),
                "{x:?} vs {y:?}"
            );
            assert!(
                (x.4 - y.4).abs() < 1e-9 * (1.0 + y.4.abs()),
                "{x:?} vs {y:?}"
            );
            assert!(
                (x.6 - y.6).abs() < 1e-9 * (1.0 + y.6.abs()),
                "{x:?} vs {y:?}"
            );
        }
    }

    /// xorshift64*, deterministic.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn shuffle<T>(&mut self, v: &mut [T]) {
            for i in (1..v.len()).rev() {
                let j = self.below(i as u64 + 1) as usize;
                v.swap(i, j);
            }
        }
    }

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

    /// Many customers (the id table grows many times), ids short, long (heap keys) and
    /// non-ASCII, rows spread over many read-ahead batches with bad rows in between: the
    /// CSV path, the row-by-row `push` path and the naive reference agree.
    #[test]
    fn many_customers_through_csv_and_push_agree() {
        let mut rng = Rng(2024);
        let start = d(2019, 1, 1).0;
        let cfg = SummaryConfig {
            unit: TimeUnit::Day,
            observation_end: Day(start + 400),
            calibration_end: Some(Day(start + 300)),
            policy: RowPolicy::Lenient,
        };
        let id = |c: u64| match c % 3 {
            0 => format!("c{c}"),
            1 => format!("a-rather-long-customer-identifier-{c:012}"),
            _ => format!("kund\u{e9}-{c}-\u{1F600}"),
        };
        let mut text = String::from("customer_id,date,amount\n");
        let mut good: Vec<(String, Day, f64)> = Vec::new();
        let mut bad_rows = 0;
        let mut day = start;
        for i in 0..40_000u64 {
            if i % 100 == 0 {
                day += 1;
            }
            let c = rng.below(5000);
            let amount = rng.below(100_000) as f64 / 100.0;
            if rng.below(500) == 0 {
                text.push_str(&format!("{},{},-1\n", id(c), Day(day)));
                bad_rows += 1;
                continue;
            }
            text.push_str(&format!("{},{},{amount}\n", id(c), Day(day)));
            good.push((id(c), Day(day), amount));
        }
        let via_csv = csv(&text, &opts(), cfg).unwrap();
        let mut b = SummaryBuilder::new(cfg).unwrap();
        for (i, (c, dd, a)) in good.iter().enumerate() {
            b.push(i as u64, c, *dd, *a).unwrap();
        }
        let via_push = b.finish();
        assert_eq!(via_csv.table, via_push.table);
        assert_eq!(via_csv.stats.rows_skipped, bad_rows);
        assert_eq!(via_csv.stats.rows_used, good.len() as u64);
        assert!(via_csv.stats.customers > 4900);
        assert!(via_csv.stats.customers_born_in_holdout > 0);
        let mut want = reference(&good, &cfg);
        let got = as_ref(&via_csv);
        want.sort_by_key(|r| got.iter().position(|g| g.0 == r.0));
        assert_same(&got, &want);
        // Strict: the first bad row is reported with its line, after the rows before it.
        let strict = SummaryConfig {
            policy: RowPolicy::Strict,
            ..cfg
        };
        let SummaryError::Row(e) = csv(&text, &opts(), strict).unwrap_err() else {
            panic!()
        };
        let first_bad = text.lines().position(|l| l.ends_with(",-1")).unwrap() as u64 + 1;
        assert_eq!(
            (e.line, e.column, e.value.as_str()),
            (first_bad, Some(3), "-1")
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

    fn opts() -> CsvOptions {
        CsvOptions::default()
    }

    #[test]
    fn strict_errors_name_line_column_field_and_value() {
        let cases: &[(&str, usize, &str, &str, &str)] = &[
            ("a,2020-01-05,NaN", 3, "amount", "NaN", R_AMOUNT_NAN),
            ("a,2020-01-05,inf", 3, "amount", "inf", R_AMOUNT_INF),
            ("a,2020-01-05,-5", 3, "amount", "-5", R_AMOUNT_NEG),
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
    fn line_numbers_survive_blank_lines_crlf_and_quoted_newlines() {
        let cfg = config(RowPolicy::Strict);
        let bad_line = |text: &str| match csv(text, &opts(), cfg) {
            Err(SummaryError::Row(e)) => e.line,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad_line("customer_id,date,amount\n\n\na,2020-01-01,x\n"), 4);
        assert_eq!(
            bad_line("customer_id,date,amount\r\n\r\na,2020-01-01,1\r\na,2020-01-01,x\r\n"),
            4
        );
        assert_eq!(
            bad_line("customer_id,date,amount\n\"a\nb\",2020-01-01,1\n\n\"c\",2020-01-01,x"),
            5
        );
        assert_eq!(
            bad_line("customer_id,date,amount\na,2020-01-01,1\n\n\nb,2020-01-01,-1"),
            5
        );
        assert_eq!(
            bad_line("customer_id,date,amount\r\na,2020-01-01,1\r\n\r\nb,2020-01-01,-1\r\n\r\n"),
            4
        );
        let out = csv(
            "customer_id,date,amount\r\n\"a\r\nb\",2020-01-01,1\r\n",
            &opts(),
            cfg,
        )
        .unwrap();
        assert_eq!(out.table.ids, ["a\r\nb"]);
        let ws = CsvOptions {
            delimiter: Delimiter::Whitespace,
            ..opts()
        };
        let e = csv(
            "customer_id date amount\r\n\r\n  \r\na 2020-01-01 1 2\r\n",
            &ws,
            cfg,
        )
        .unwrap_err();
        let SummaryError::Row(e) = e else { panic!() };
        assert_eq!(
            (e.line, e.column, e.value.as_str(), e.reason.as_str()),
            (4, Some(4), "a 2020-01-01 1 2", R_EXTRA)
        );
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
    fn two_threads_give_the_one_thread_result_rows_errors_and_examples() {
        // Enough rows for several pipe batches, bad rows early, between batches and late,
        // and rows too far out of order (rejected by the builder, not the parser).
        let mut text = String::from("customer_id,date,amount\n");
        let mut line = 1;
        let mut bad_lines = Vec::new();
        for i in 0..20_000 {
            line += 1;
            let day = 1 + (i / 100) % 300;
            let date = Day(d(2020, 1, 1).0 + day).to_string();
            match i {
                // The last twelve come after the builder's own rejections have filled the
                // examples: the parser then no longer needs to quote them.
                7 | 4_095 | 4_096 | 12_000 | 15_000..15_012 => {
                    text.push_str(&format!("c{},{date},oops\n", i % 500));
                    bad_lines.push(line);
                }
                9_000 => text.push_str(&format!("c{},{date}\n", i % 500)),
                _ if i % 997 == 0 && i > 10_000 => {
                    // After the customer's first day, 90+ days before their latest.
                    text.push_str(&format!("c{},2020-01-07,5\n", i % 500));
                }
                _ => text.push_str(&format!("c{},{date},{}.25\n", i % 500, i % 40)),
            }
        }
        // Both ways on `text`: the same result, or the same error.
        let both = |text: &str, policy: RowPolicy| {
            let run = |two: bool| {
                let b = SummaryBuilder::new(config(policy)).unwrap();
                summarize_text(text.as_bytes(), &CsvOptions::default(), b, two)
                    .map_err(|e| e.to_string())
            };
            let one = run(false);
            assert_eq!(run(true), one);
            one
        };
        let one = both(&text, RowPolicy::Lenient).unwrap();
        assert!(
            one.stats.rows_skipped > MAX_EXAMPLES as u64,
            "{:?}",
            one.stats
        );
        assert!(
            one.stats
                .skipped_by_reason
                .contains_key(OUT_OF_ORDER_REASON)
        );
        assert_eq!(one.stats.examples.len(), MAX_EXAMPLES);
        assert_eq!(one.stats.examples[0].line, bad_lines[0]);
        // Strict: the same first error, whether the parser or the builder finds it.
        let e = both(&text, RowPolicy::Strict).unwrap_err();
        assert!(e.contains(&format!("line {}", bad_lines[0])), "{e}");
        let no_bad_amounts = text.replace(",oops", ",1");
        let e = both(&no_bad_amounts, RowPolicy::Strict).unwrap_err();
        assert!(e.contains("line 9002"), "{e}");
        // The builder's error (out of order) comes before the parser's (line 12002).
        let late: String = text
            .lines()
            .enumerate()
            .filter(|(i, _)| ![9, 4097, 4098, 9002].contains(&(i + 1)))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let e = both(&late, RowPolicy::Strict).unwrap_err();
        assert!(e.contains("out of order"), "{e}");
        // Only good rows: the same table.
        let clean: String = no_bad_amounts
            .lines()
            .filter(|l| l.split(',').count() == 3 && !l.contains("2020-01-07,5"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(both(&clean, RowPolicy::Strict).unwrap().table.len(), 500);
        // A read error 100 lines after a row out of order: the row error comes first, however
        // many rows were waiting to be applied when the read failed.
        let first_late = late.find("2020-01-07,5\n").unwrap();
        let cut = first_late + late[first_late..].match_indices('\n').nth(100).unwrap().0;
        let run = |two: bool| {
            let b = SummaryBuilder::new(config(RowPolicy::Strict)).unwrap();
            let reader = FailingAt {
                data: late.as_bytes(),
                at: cut,
            };
            summarize_text(reader, &CsvOptions::default(), b, two)
                .map_err(|e| e.to_string())
                .unwrap_err()
        };
        let e = run(false);
        assert_eq!(run(true), e);
        assert!(e.contains("out of order"), "{e}");
    }

    /// Reads `data` up to byte `at`, then fails.
    struct FailingAt<'a> {
        data: &'a [u8],
        at: usize,
    }

    impl std::io::Read for FailingAt<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.at);
            let (head, tail) = self.data.split_at(n);
            buf[..n].copy_from_slice(head);
            self.data = tail;
            self.at -= n;
            Ok(n)
        }
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
    fn whitespace_files() {
        let o = CsvOptions {
            has_header: false,
            delimiter: Delimiter::Whitespace,
            customer_id: ColumnRef::Index(1),
            date: ColumnRef::Index(2),
            amount: ColumnRef::Index(4),
            date_format: DateFormat::Compact,
        };
        let text = "  00004    1 19970101   2  29.33\r\n\r\n00004\t1 19970118 2 29.73\r\n 00004 1 19970201 1\r\n";
        let err = csv(text, &o, config(RowPolicy::Strict)).unwrap_err();
        let SummaryError::Row(e) = err else { panic!() };
        assert_eq!((e.line, e.column, e.field.as_str()), (4, Some(5), "amount"));
        let out = csv(text, &o, config(RowPolicy::Lenient)).unwrap();
        assert_eq!(out.table.ids, ["1"]);
        assert_eq!(out.table.rfm[0].frequency, 1);
        assert_eq!(out.table.monetary_value[0], 29.73);
        let o = CsvOptions {
            has_header: true,
            customer_id: ColumnRef::Name("id".into()),
            ..o
        };
        let out = csv(
            "x id date n amt\n0 7 19970101 1 2\n",
            &o,
            config(RowPolicy::Strict),
        )
        .unwrap();
        assert_eq!(out.table.ids, ["7"]);
    }

    #[test]
    fn parse_day_formats() {
        use DateFormat::*;
        assert_eq!(parse_day(b"2000-02-29", Iso), Some(d(2000, 2, 29)));
        assert_eq!(parse_day(b"1900-02-29", Iso), None);
        assert_eq!(parse_day(b"2004-02-29", Auto), Some(d(2004, 2, 29)));
        assert_eq!(parse_day(b"2003-02-29", Auto), None);
        assert_eq!(parse_day(b"19000229", Compact), None);
        assert_eq!(parse_day(b"20000229", Compact), Some(d(2000, 2, 29)));
        assert_eq!(parse_day(b"20000229", Auto), Some(d(2000, 2, 29)));
        assert_eq!(parse_day(b"20000229", Iso), None);
        assert_eq!(parse_day(b"2000-02-29", Compact), None);
        assert_eq!(parse_day(b"1970-01-01", Iso), Some(Day(0)));
        assert_eq!(parse_day(b"1969-12-31", Iso), Some(Day(-1)));
        for ok in [
            "2020-05-17T10:11:12Z",
            "2020-05-17T23:59:59.999999+02:00",
            "2020-05-17 00:00:00",
            "2020-05-17 00:00",
            "2020-05-17T07",
            "2020-05-17T10:11:12-0530",
            "2020-05-17T10:11:12+01",
            "2020-05-17t10:11:12,5z",
        ] {
            assert_eq!(parse_day(ok.as_bytes(), Auto), Some(d(2020, 5, 17)), "{ok}");
            assert_eq!(parse_day(ok.as_bytes(), Iso), Some(d(2020, 5, 17)), "{ok}");
        }
        for bad in [
            "",
            "2020",
            "2020-5-17",
            "2020-05-17T",
            "2020-05-17X10:00",
            "2020-05-17T25:00",
            "2020-05-17T10:60",
            "2020-05-17T10:00:00.",
            "2020-05-17T10:00:00+2",
            "2020-05-17T10:00Q",
            "2020-00-10",
            "2020-04-31",
            "2020-04-00",
            "202O-01-01",
            "2020010",
            "202001011",
            "+2020-01-01",
            " 2020-01-01",
            "2020/01/01",
        ] {
            assert_eq!(parse_day(bad.as_bytes(), Auto), None, "{bad}");
        }
    }

    #[test]
    fn date_patterns() {
        let f = |p: &str| p.parse::<DateFormat>().unwrap();
        let us = f("%m/%d/%Y");
        assert!(matches!(us, DateFormat::Pattern(_)));
        assert_eq!(parse_day(b"03/25/1997", us), Some(d(1997, 3, 25)));
        assert_eq!(parse_day(b"3/5/1997", us), Some(d(1997, 3, 5)));
        assert_eq!(parse_day(b"12/31/1999", us), Some(d(1999, 12, 31)));
        assert_eq!(parse_day(b"02/29/2000", us), Some(d(2000, 2, 29)));
        for bad in [
            "02/30/2020",  // no Feb 30
            "02/29/2019",  // not a leap year
            "13/01/2020",  // month 13
            "00/10/2020",  // month 0
            "04/31/2020",  // April has 30 days
            "03-25-1997",  // wrong separators
            "03/25-1997",  // one wrong separator
            "03/25/97",    // two-digit year
            "03/25/1997 ", // trailing text
            "03/25/19977", // year with five digits
            "003/25/1997", // month with three digits
            "/25/1997",
            "",
        ] {
            assert_eq!(parse_day(bad.as_bytes(), us), None, "{bad}");
        }
        let de = f("%d.%m.%Y");
        assert_eq!(parse_day(b"25.03.1997", de), Some(d(1997, 3, 25)));
        assert_eq!(parse_day(b"1.2.2003", de), Some(d(2003, 2, 1)));
        assert_eq!(parse_day(b"30.02.2020", de), None);
        assert_eq!(parse_day(b"25/03/1997", de), None);
        let compact = f("%Y%m%d");
        assert_eq!(parse_day(b"19970325", compact), Some(d(1997, 3, 25)));
        let pct = f("%Y%%%m%%%d");
        assert_eq!(parse_day(b"1997%3%25", pct), Some(d(1997, 3, 25)));
        let DateFormat::Pattern(pp) = pct else {
            panic!()
        };
        assert_eq!(pp.to_string(), "%Y%%%m%%%d");
        for (name, format) in [("auto", DateFormat::Auto), ("iso", DateFormat::Iso)] {
            assert_eq!(f(name), format);
        }
        assert_eq!(f("compact"), DateFormat::Compact);
        let DateFormat::Pattern(p) = us else { panic!() };
        assert_eq!(p.to_string(), "%m/%d/%Y");
        assert_eq!(format!("{p:?}"), "DatePattern(\"%m/%d/%Y\")");
        assert!(us.reason().contains("%m/%d/%Y"), "{}", us.reason());
    }

    #[test]
    fn bad_date_patterns_are_named() {
        for (pattern, why) in [
            ("%m/%d", "has no %Y"),
            ("%Y-%m", "has no %d"),
            ("%Y-%d", "has no %m"),
            ("%Y-%m-%d-%d", "has %d more than once"),
            ("%Y-%m-%q", "unsupported directive %q"),
            ("%Y-%m-%d %H:%M", "unsupported directive %H"),
            ("%Y-%m-%d%", "lone %"),
            ("%Y-%m-%é", "unsupported directive %é"),
            ("%Y-%m-%d and a very long tail", "too long"),
            ("yyyy-mm-dd", "use auto, iso, compact or a pattern"),
        ] {
            let e = pattern.parse::<DateFormat>().unwrap_err().to_string();
            assert!(e.contains(why), "{pattern}: {e}");
            assert!(e.contains(&format!("{pattern:?}")), "{pattern}: {e}");
        }
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
    fn text_records_split_and_count_lines_like_the_summarizer() {
        let text = "\u{feff}id;n\r\n\r\n\"a\nb\";1\r\nc;2";
        let mut r = TextRecords::new(text.as_bytes(), Delimiter::Byte(b';')).unwrap();
        assert_eq!(r.next_record().unwrap(), Some(1));
        assert_eq!(r.names(), ["id", "n"]);
        assert_eq!(r.next_record().unwrap(), Some(3));
        assert_eq!(r.get(0), Some(&b"a\nb"[..]));
        assert_eq!(r.get(1), Some(&b"1"[..]));
        assert_eq!(r.next_record().unwrap(), Some(5));
        assert_eq!((r.len(), r.get(1)), (2, Some(&b"2"[..])));
        assert_eq!(r.next_record().unwrap(), None);
        let mut r = TextRecords::new(&b" 1  2\n\n\t3 4 5 \n"[..], Delimiter::Whitespace).unwrap();
        assert_eq!(r.next_record().unwrap(), Some(1));
        assert_eq!(r.len(), 2);
        assert_eq!(r.next_record().unwrap(), Some(3));
        assert_eq!(r.names(), ["3", "4", "5"]);
        assert!(TextRecords::new(&b""[..], Delimiter::Byte(b'"')).is_err());
    }

    #[test]
    fn day_round_trips_against_naive_counting() {
        // Walk day by day from 1600-01-01 to 2400-12-31 with a naive calendar.
        let leap = |y: i32| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        // Days from 1600-01-01 to 1970-01-01.
        let mut n: i32 = -(1600..1970)
            .map(|y| if leap(y) { 366 } else { 365 })
            .sum::<i32>();
        for y in 1600..=2400 {
            for m in 1..=12u32 {
                let len = match m {
                    2 if leap(y) => 29,
                    2 => 28,
                    4 | 6 | 9 | 11 => 30,
                    _ => 31,
                };
                for dd in 1..=len {
                    let day = Day::from_ymd(y, m, dd).unwrap();
                    assert_eq!(day, Day(n), "{y}-{m}-{dd}");
                    assert_eq!(day.to_ymd(), (y, m, dd));
                    n += 1;
                }
                assert_eq!(Day::from_ymd(y, m, len + 1), None);
            }
        }
        assert_eq!(Day::from_ymd(2020, 0, 1), None);
        assert_eq!(Day::from_ymd(2020, 13, 1), None);
        assert_eq!(d(2021, 3, 4).to_string(), "2021-03-04");
        // Extremes neither panic nor overflow.
        for v in [i32::MIN, i32::MIN + 1, -1, 0, i32::MAX] {
            let (y, m, dd) = Day(v).to_ymd();
            assert_eq!(Day::from_ymd(y, m, dd), Some(Day(v)));
        }
        assert_eq!(Day::from_ymd(i32::MAX, 12, 31), None);
        assert_eq!(Day::from_ymd(i32::MIN, 1, 1), None);
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
        assert_eq!(out.table.rfm[1].frequency, 0);
        assert!((out.table.rfm[1].age - 40.0 / 7.0).abs() < 1e-12);
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
                .filter(|v| v.is_finite() && *v >= 0.0)
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
