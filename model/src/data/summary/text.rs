//! Text records: delimited (CSV rules, through the `csv` crate) or whitespace-separated
//! files split into fields, each record with the exact 1-based line it starts on, behind
//! the public [`TextRecords`] reader.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use super::SummaryError;
use crate::error::ModelError;

/// Field separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// A single byte (`,`, `;`, `\t`, `|`, ...), CSV quoting rules.
    Byte(u8),
    /// Runs of spaces/tabs; leading and trailing ones ignored; no quoting (the CDNOW
    /// file format).
    Whitespace,
}

pub(super) fn io_error(e: impl fmt::Display) -> SummaryError {
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
pub(super) fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

pub(super) fn header_names<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    fields
        .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
        .collect()
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
pub(super) trait RecordSource {
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
pub(super) struct CsvRecords<R> {
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
pub(super) struct WhitespaceRecords<R> {
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

pub(super) enum Source<R> {
    Csv(CsvRecords<BufReader<R>>),
    Whitespace(WhitespaceRecords<R>),
}

/// The non-blank records of a delimited or whitespace-separated text file, each with the
/// 1-based line it starts on: the reader [`summarize_csv`](super::summarize_csv) uses, for other readers of the
/// same files (e.g. summary tables) so that they split fields and count lines alike. A
/// UTF-8 byte order mark is skipped; with [`Delimiter::Byte`], a `\r` before a record's
/// `\n` is dropped and quoted fields may span lines.
pub struct TextRecords<R>(pub(super) Source<R>);

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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

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
}
