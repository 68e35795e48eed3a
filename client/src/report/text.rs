//! Words and numbers on the page: HTML escaping, numbers formatted for people (grouped
//! digits, percentages, significant figures), dates, and the small HTML pieces every
//! section uses.

use std::fmt::Write as _;

pub(super) fn w(out: &mut String, args: std::fmt::Arguments<'_>) {
    let _ = out.write_fmt(args);
}

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Digits with thousands separators.
pub(super) fn group_digits(digits: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `v` with `decimals` decimals and thousands separators; "—" when not finite.
pub fn fmt_fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let negative = v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0');
    let mut out = String::new();
    if negative {
        out.push('−');
    }
    out.push_str(&group_digits(int));
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A count with thousands separators.
pub fn fmt_count(v: u64) -> String {
    group_digits(&v.to_string())
}

/// A quantity for people: no decimals from 1,000 on, fewer decimals as it grows.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 1000.0 || a == 0.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    if a != 0.0 && v.fract() == 0.0 && a < 1e15 {
        return fmt_fixed(v, 0);
    }
    fmt_fixed(v, decimals)
}

/// `sig` significant digits (no exponent; thousands separators).
pub fn fmt_sig(v: f64, sig: usize) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let magnitude = v.abs().log10().floor() as i64;
    let decimals = (sig as i64 - 1 - magnitude).clamp(0, 12) as usize;
    fmt_fixed(v, decimals)
}

/// Scientific notation for small diagnostics, e.g. "3.2 × 10⁻⁸".
pub(super) fn fmt_sci(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e6) {
        return fmt_sig(v, 3);
    }
    let exp = v.abs().log10().floor() as i32;
    let mantissa = v / 10f64.powi(exp);
    let sup: String = exp
        .to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect();
    format!("{} × 10{sup}", fmt_fixed(mantissa, 1))
}

/// A share as a percentage: "64.2%", "0.35%", "100%".
pub fn fmt_pct(share: f64) -> String {
    if !share.is_finite() {
        return "—".to_owned();
    }
    // Ticks such as 0.6 are 60.00000000000001 in percent.
    let p = (share * 100.0 * 1e9).round() / 1e9;
    let decimals = if p == p.round() {
        0
    } else if p.abs() < 1.0 {
        2
    } else {
        1
    };
    format!("{}%", fmt_fixed(p, decimals))
}

pub(super) fn fmt_signed_pct(share: f64) -> String {
    if share > 0.0 {
        format!("+{}", fmt_pct(share))
    } else {
        fmt_pct(share)
    }
}

pub(super) fn fmt_date(seconds: i64) -> String {
    custval_model::data::summary::Day(seconds.div_euclid(86_400) as i32).to_string()
}

pub(super) fn fmt_time(seconds: i64) -> String {
    let s = seconds.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        fmt_date(seconds),
        s / 3600,
        (s % 3600) / 60
    )
}

/// Why a part of the page is missing, in place of it.
pub(super) fn not_available(out: &mut String, why: &str) {
    w(
        out,
        format_args!("<p class=\"na\">not available: {}</p>\n", esc(why)),
    );
}

/// A two-column table of labels and values.
pub(super) fn kv_table(out: &mut String, rows: &[(&str, String)]) {
    out.push_str("<table><tbody>\n");
    for (k, v) in rows {
        w(
            out,
            format_args!("<tr><th>{}</th><td>{}</td></tr>\n", esc(k), esc(v)),
        );
    }
    out.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(fmt_fixed(1234567.891, 2), "1,234,567.89");
        assert_eq!(fmt_fixed(-9582.4321, 1), "−9,582.4");
        assert_eq!(fmt_fixed(-0.0001, 2), "0.00");
        assert_eq!(fmt_fixed(f64::NAN, 2), "—");
        assert_eq!(fmt_count(2357), "2,357");
        assert_eq!(fmt_count(100), "100");
        assert_eq!(fmt_num(1882.0), "1,882");
        assert_eq!(fmt_num(1654.37), "1,654");
        assert_eq!(fmt_num(12.3456), "12.35");
        assert_eq!(fmt_num(0.01234), "0.012");
        assert_eq!(fmt_sig(0.2426, 4), "0.2426");
        assert_eq!(fmt_sig(4.414, 4), "4.414");
        assert_eq!(fmt_sig(12345.6, 3), "12,346");
        assert_eq!(fmt_pct(0.642), "64.2%");
        assert_eq!(fmt_pct(1.0), "100%");
        assert_eq!(fmt_pct(0.0035), "0.35%");
        assert_eq!(fmt_pct(0.6000000000000001), "60%");
        assert_eq!(fmt_signed_pct(-0.121), "−12.1%");
        assert_eq!(fmt_sci(3.2e-8), "3.2 × 10⁻⁸");
        assert_eq!(fmt_date(0), "1970-01-01");
        assert_eq!(fmt_time(86_400 + 3_660), "1970-01-02 01:01 UTC");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<b>\"Tom\" & 'Jerry'</b>"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }
}
