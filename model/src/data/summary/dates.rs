//! Calendar days and reading them: [`Day`] (days since 1970-01-01, proleptic Gregorian),
//! the accepted date formats ([`DateFormat`], [`DatePattern`]) and [`parse_day`].

use std::borrow::Cow;
use std::fmt;

use crate::error::ModelError;

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

pub(super) const R_DATE_AUTO: &str = "invalid date (expected YYYY-MM-DD or YYYYMMDD)";
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
pub(super) fn digit(b: u8) -> Option<u32> {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

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
}
