//! Parquet customer files: transaction logs and summaries in, scores and summaries out.
//!
//! Columns are found by name (the same `--*-column` options as for text files). Inputs
//! are read in record batches of at most one chunk of customers, so memory holds a batch
//! and the row group being decoded, whatever the file size. Accepted column types:
//!
//! * customer id: strings, or integers (written in decimal);
//! * date: `Date32`, `Date64`, `Timestamp` (its UTC date; a time zone in the column type is
//!   not applied), or strings parsed with `--date-format`;
//! * amount, frequency, recency, T, monetary value: integers, floats or decimals
//!   (frequency must hold whole numbers from 0 to 1,000,000).
//!
//! Positions in errors: `column` is the 1-based position of the column in the file's
//! schema; `line` is the 1-based row number plus one, as if the column names were a header
//! line (the first row is line 2, as in a CSV with a header; the message also says
//! `row N`); problems with a whole column (missing, wrong type) are on line 1.
//!
//! Outputs are written with snappy compression in row groups of at most
//! [`ROW_GROUP_ROWS`] rows. Inputs may be uncompressed, snappy or gzip compressed.
//!
//! Reading and writing stay in one module (above 800 lines) because it is the one place
//! the client speaks arrow: column types, record batches and their errors.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float16Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, Date32Array, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit as ArrowTimeUnit};
use custval_model::data::summary::{
    DateFormat, Day, RowError, SummaryBuilder, SummaryOutput, parse_day,
};
use custval_model::{CustomerTable, Rfm};
use custval_proto::v1 as pb;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::fields::{
    FREQUENCY_HOLDOUT, HoldoutColumns, SummaryField, check_summary, push_holdout, whole_frequency,
};
use super::unique::{UniqueIds, repeated};
use crate::error::ClientError;
use crate::gzip::Sink;

/// Rows per row group of the files written here.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Whether `path` holds Parquet: by its name (`.parquet`, `.pq`), else by the magic bytes
/// `PAR1` at its start.
pub fn is_parquet(path: &Path) -> Result<bool, ClientError> {
    let ext = crate::gzip::inner_extension(path);
    if matches!(ext.as_str(), "parquet" | "pq") {
        return Ok(true);
    }
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(|e| ClientError::file(path, e))?;
    let n = std::io::Read::read(&mut file, &mut head).map_err(|e| ClientError::file(path, e))?;
    Ok(n == 4 && &head == b"PAR1")
}

fn input_error(path: &Path, line: u64, column: Option<usize>, message: String) -> ClientError {
    ClientError::Input {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// A Parquet file opened for reading: its schema, before any rows are read.
pub struct ParquetInput {
    path: PathBuf,
    builder: ParquetRecordBatchReaderBuilder<File>,
}

impl std::fmt::Debug for ParquetInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetInput")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What a column has to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Id,
    Date,
    Number,
}

impl Want {
    fn accepts(self, t: &DataType) -> bool {
        let number = t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(..));
        let text = matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        match self {
            Want::Id => text || t.is_integer(),
            Want::Date => {
                text || matches!(
                    t,
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
                )
            }
            Want::Number => number,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Want::Id => "strings or integers",
            Want::Date => "dates, timestamps or strings",
            Want::Number => "integers, floats or decimals",
        }
    }
}

/// A column to read: its role in messages, its name and its 0-based position.
#[derive(Debug, Clone)]
struct Col {
    role: &'static str,
    name: String,
    index: usize,
}

impl ParquetInput {
    pub fn open(path: &Path) -> Result<ParquetInput, ClientError> {
        let file = File::open(path).map_err(|e| ClientError::file(path, e))?;
        // The Parquet types decide, not an Arrow schema stored by the writer (pandas
        // categoricals, for one, would come back as dictionaries).
        let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
        let builder = shielded(path, "not a readable Parquet file", || {
            ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        })?
        .map_err(|e| input_error(path, 0, None, format!("not a readable Parquet file: {e}")))?;
        Ok(ParquetInput {
            path: path.to_owned(),
            builder,
        })
    }

    fn schema(&self) -> &SchemaRef {
        self.builder.schema()
    }

    /// A column by name: exactly, else ignoring ASCII case (as for text headers).
    pub fn find(&self, name: &str) -> Option<usize> {
        let fields = self.schema().fields();
        fields.iter().position(|f| f.name() == name).or_else(|| {
            fields
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
        })
    }

    /// The column `name` for `role`, checked to hold what the role needs.
    fn column(&self, role: &'static str, name: &str, want: Want) -> Result<Col, ClientError> {
        let names: Vec<&String> = self.schema().fields().iter().map(|f| f.name()).collect();
        let index = self.find(name).ok_or_else(|| {
            input_error(
                &self.path,
                1,
                None,
                format!("missing {role} column {name:?}; the file has columns {names:?}"),
            )
        })?;
        self.col_at(role, index, want)
    }

    fn col_at(&self, role: &'static str, index: usize, want: Want) -> Result<Col, ClientError> {
        let field = self.schema().field(index);
        if !want.accepts(field.data_type()) {
            return Err(input_error(
                &self.path,
                1,
                Some(index + 1),
                format!(
                    "{role} column {:?} holds {}, expected {}",
                    field.name(),
                    field.data_type(),
                    want.expected()
                ),
            ));
        }
        Ok(Col {
            role,
            name: field.name().clone(),
            index,
        })
    }

    /// The id column of a summary file: `name`, or for the default name lifetimes' `ID`
    /// or the first column.
    fn id_column(&self, name: &str) -> Result<Col, ClientError> {
        if name == "customer_id" && self.find(name).is_none() {
            let index = self.find("ID").unwrap_or(0);
            return self.col_at("customer_id", index, Want::Id);
        }
        self.column("customer_id", name, Want::Id)
    }

    /// Reads `columns` in batches of at most `batch` rows.
    fn read(self, columns: &[&Col], batch: usize) -> Result<Batches, ClientError> {
        let mask = ProjectionMask::roots(
            self.builder.parquet_schema(),
            columns.iter().map(|c| c.index),
        );
        let total = u64::try_from(self.builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let builder = self
            .builder
            .with_projection(mask)
            .with_batch_size(batch.max(1));
        let reader = shielded(&self.path, "cannot read Parquet", || builder.build())?
            .map_err(|e| input_error(&self.path, 0, None, format!("cannot read Parquet: {e}")))?;
        Ok(Batches {
            path: self.path,
            reader,
            rows: 0,
            total,
        })
    }
}

/// Runs a call into the Parquet reader, turning a panic into an error naming the file. The
/// parquet crate asserts on some damaged files (a footer whose column offsets are negative,
/// a dictionary page that is missing) instead of returning an error; a damaged input must
/// be a clean message, never a crash.
fn shielded<T>(path: &Path, what: &str, call: impl FnOnce() -> T) -> Result<T, ClientError> {
    // Quietly: the panic hook would print the crate's assertion as if custval crashed.
    super::shield::quietly(call).map_err(|panic| {
        let why = super::shield::message(panic.as_ref())
            .unwrap_or_else(|| "the reader failed".to_owned());
        input_error(
            path,
            0,
            None,
            format!("{what}: damaged Parquet data ({why})"),
        )
    })
}

/// Record batches of a file, with the number of rows before the current one.
struct Batches {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    rows: u64,
    /// Rows in the file, from its footer.
    total: u64,
}

impl Batches {
    fn next(&mut self) -> Result<Option<Batch>, ClientError> {
        let what = format!("cannot read Parquet after row {}", self.rows);
        let reader = &mut self.reader;
        match shielded(&self.path, &what, || reader.next())? {
            None => Ok(None),
            Some(Err(e)) => Err(input_error(
                &self.path,
                0,
                None,
                format!("cannot read Parquet after row {}: {e}", self.rows),
            )),
            Some(Ok(batch)) => {
                let first_row = self.rows + 1;
                self.rows += batch.num_rows() as u64;
                Ok(Some(Batch { batch, first_row }))
            }
        }
    }
}

struct Batch {
    batch: RecordBatch,
    /// 1-based row number of the batch's first row in the file.
    first_row: u64,
}

impl Batch {
    fn len(&self) -> usize {
        self.batch.num_rows()
    }

    fn array(&self, path: &Path, c: &Col) -> Result<&ArrayRef, ClientError> {
        self.batch.column_by_name(&c.name).ok_or_else(|| {
            input_error(
                path,
                1,
                Some(c.index + 1),
                format!("{} column went missing", c.name),
            )
        })
    }

    /// The file's 1-based row number of row `i` of this batch.
    fn row(&self, i: usize) -> u64 {
        self.first_row + i as u64
    }
}

/// A problem with one value: `line` is the row number + 1 (see the module documentation).
fn value_error(path: &Path, c: &Col, row: u64, what: &str) -> ClientError {
    input_error(
        path,
        row + 1,
        Some(c.index + 1),
        format!("{}: row {row}: {what}", c.role),
    )
}

/// Value `i` of a column, or `None` for a null.
type Get<'a, T> = Box<dyn Fn(usize) -> Option<T> + 'a>;

fn primitive<'a, T: ArrowPrimitiveType, U>(
    a: &'a dyn Array,
    f: impl Fn(T::Native) -> U + 'a,
) -> Get<'a, U> {
    let p = a.as_primitive::<T>();
    Box::new(move |i| p.is_valid(i).then(|| f(p.value(i))))
}

/// Numbers as f64 (the type was checked by [`Want::Number`]).
fn numbers(a: &dyn Array) -> Option<Get<'_, f64>> {
    Some(match a.data_type() {
        DataType::Float64 => primitive::<Float64Type, _>(a, |v| v),
        DataType::Float32 => primitive::<Float32Type, _>(a, f64::from),
        DataType::Float16 => primitive::<Float16Type, _>(a, f64::from),
        DataType::Int8 => primitive::<Int8Type, _>(a, f64::from),
        DataType::Int16 => primitive::<Int16Type, _>(a, f64::from),
        DataType::Int32 => primitive::<Int32Type, _>(a, f64::from),
        DataType::Int64 => primitive::<Int64Type, _>(a, |v| v as f64),
        DataType::UInt8 => primitive::<UInt8Type, _>(a, f64::from),
        DataType::UInt16 => primitive::<UInt16Type, _>(a, f64::from),
        DataType::UInt32 => primitive::<UInt32Type, _>(a, f64::from),
        DataType::UInt64 => primitive::<UInt64Type, _>(a, |v| v as f64),
        DataType::Decimal128(_, scale) => {
            let scale = 10f64.powi(i32::from(*scale));
            primitive::<Decimal128Type, _>(a, move |v| v as f64 / scale)
        }
        _ => return None,
    })
}

fn text<'a>(a: &'a dyn Array) -> Option<Get<'a, &'a str>> {
    Some(match a.data_type() {
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            Box::new(move |i| s.is_valid(i).then(|| s.value(i)))
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            Box::new(move |i| s.is_valid(i).then(|| s.value(i)))
        }
        DataType::Utf8View => {
            let s = a.as_string_view();
            Box::new(move |i| s.is_valid(i).then(|| s.value(i)))
        }
        _ => return None,
    })
}

/// Ids as strings: text as it is, integers in decimal.
fn ids(a: &dyn Array) -> Option<Get<'_, String>> {
    if let Some(t) = text(a) {
        return Some(Box::new(move |i| t(i).map(str::to_owned)));
    }
    fn int<'a, T: ArrowPrimitiveType>(a: &'a dyn Array) -> Get<'a, String>
    where
        T::Native: std::fmt::Display,
    {
        primitive::<T, _>(a, |v| v.to_string())
    }
    Some(match a.data_type() {
        DataType::Int8 => int::<Int8Type>(a),
        DataType::Int16 => int::<Int16Type>(a),
        DataType::Int32 => int::<Int32Type>(a),
        DataType::Int64 => int::<Int64Type>(a),
        DataType::UInt8 => int::<UInt8Type>(a),
        DataType::UInt16 => int::<UInt16Type>(a),
        DataType::UInt32 => int::<UInt32Type>(a),
        DataType::UInt64 => int::<UInt64Type>(a),
        _ => return None,
    })
}

/// Days: `Ok(day)`, or `Err(text)` for a string that is not a date in `format`.
fn days(a: &dyn Array, format: DateFormat) -> Option<Get<'_, Result<Day, String>>> {
    if let Some(t) = text(a) {
        return Some(Box::new(move |i| {
            t(i).map(|s| parse_day(s.trim().as_bytes(), format).ok_or_else(|| s.to_owned()))
        }));
    }
    fn per_day<'a, T: ArrowPrimitiveType<Native = i64>>(
        a: &'a dyn Array,
        units_per_day: i64,
    ) -> Get<'a, Result<Day, String>> {
        primitive::<T, _>(a, move |v| {
            i32::try_from(v.div_euclid(units_per_day))
                .map(Day)
                .map_err(|_| v.to_string())
        })
    }
    Some(match a.data_type() {
        DataType::Date32 => primitive::<Date32Type, _>(a, |v| Ok(Day(v))),
        DataType::Date64 => per_day::<Date64Type>(a, 86_400_000),
        DataType::Timestamp(ArrowTimeUnit::Second, _) => per_day::<TimestampSecondType>(a, 86_400),
        DataType::Timestamp(ArrowTimeUnit::Millisecond, _) => {
            per_day::<TimestampMillisecondType>(a, 86_400_000)
        }
        DataType::Timestamp(ArrowTimeUnit::Microsecond, _) => {
            per_day::<TimestampMicrosecondType>(a, 86_400_000_000)
        }
        DataType::Timestamp(ArrowTimeUnit::Nanosecond, _) => {
            per_day::<TimestampNanosecondType>(a, 86_400_000_000_000)
        }
        _ => return None,
    })
}

fn unreadable(path: &Path, c: &Col) -> ClientError {
    input_error(
        path,
        1,
        Some(c.index + 1),
        format!("{} column {:?} cannot be read as expected", c.role, c.name),
    )
}

/// Summary rows of a Parquet file in chunks, as the wire's columns.
#[derive(Debug)]
pub struct ParquetSummaries {
    batches: BatchesDebug,
    /// id, frequency, recency, T.
    columns: [Col; 4],
    monetary: Option<Col>,
    /// Read for a fit only (see [`HoldoutColumns`]).
    holdout: Option<HoldoutColumns<Col>>,
    /// The holdout length the rows so far give.
    duration: Option<f64>,
    /// The ids read so far; `None` once the end was reached and checked.
    unique: Option<UniqueIds>,
    chunk: usize,
}

/// [`Batches`] with a Debug that names the file only.
struct BatchesDebug(Batches);

impl std::fmt::Debug for BatchesDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches")
            .field("path", &self.0.path)
            .field("rows", &self.0.rows)
            .finish_non_exhaustive()
    }
}

/// Column names of a summary file.
#[derive(Debug, Clone)]
pub struct SummaryNames<'a> {
    pub id: &'a str,
    pub frequency: &'a str,
    pub recency: &'a str,
    pub t: &'a str,
    /// `None`: `monetary_value` if the file has it.
    pub monetary: Option<&'a str>,
}

impl ParquetSummaries {
    /// The summaries of `input`, and with `with_holdout` its holdout columns.
    pub fn open(
        input: ParquetInput,
        names: &SummaryNames<'_>,
        chunk: usize,
        with_holdout: bool,
    ) -> Result<ParquetSummaries, ClientError> {
        let columns = [
            input.id_column(names.id)?,
            input.column("frequency", names.frequency, Want::Number)?,
            input.column("recency", names.recency, Want::Number)?,
            input.column("T", names.t, Want::Number)?,
        ];
        let monetary = match names.monetary {
            Some(m) => Some(input.column("monetary_value", m, Want::Number)?),
            None => match input.find("monetary_value") {
                Some(i) => Some(input.col_at("monetary_value", i, Want::Number)?),
                None => None,
            },
        };
        let holdout = if with_holdout {
            HoldoutColumns::find(|name| input.find(name))
                .map_err(|m| input_error(&input.path, 1, None, m))?
                .map(|h| h.try_map(|role, i| input.col_at(role, i, Want::Number)))
                .transpose()?
        } else {
            None
        };
        let mut wanted: Vec<&Col> = columns.iter().collect();
        wanted.extend(monetary.as_ref());
        if let Some(h) = &holdout {
            wanted.push(&h.frequency);
            wanted.extend(h.spend.as_ref().map(|(c, _)| c));
            wanted.push(&h.duration);
            wanted.extend(h.calibration_spend.as_ref());
        }
        let batches = input.read(&wanted, chunk)?;
        Ok(ParquetSummaries {
            batches: BatchesDebug(batches),
            columns,
            monetary,
            holdout,
            duration: None,
            unique: Some(UniqueIds::default()),
            chunk,
        })
    }

    /// At the end of the file: an error naming the first id that appears twice (its row
    /// and column, and the line it first appeared on), if one does.
    fn check_unique(&self, unique: &mut UniqueIds) -> Result<(), ClientError> {
        let mut suspects = unique.suspects();
        if suspects.is_empty() {
            return Ok(());
        }
        let path = self.batches.0.path.as_path();
        let id_c = &self.columns[0];
        let mut again = ParquetInput::open(path)?.read(&[id_c], self.chunk)?;
        while let Some(b) = again.next()? {
            let id = ids(b.array(path, id_c)?).ok_or_else(|| unreadable(path, id_c))?;
            for i in 0..b.len() {
                let Some(customer_id) = id(i) else { continue };
                // Lines as the other errors count them: row + 1.
                if let Some(first) = suspects.repeat(&customer_id, b.row(i) + 1) {
                    let why = repeated(&customer_id, first);
                    return Err(value_error(path, id_c, b.row(i), &why));
                }
            }
        }
        Ok(())
    }

    /// The next chunk (one record batch), or `None` at the end of the file.
    /// How much of the file has been read, once something has (rows, from the footer).
    pub fn fraction_read(&self) -> Option<f64> {
        let b = &self.batches.0;
        (b.rows > 0 && b.total > 0).then(|| (b.rows as f64 / b.total as f64).min(1.0))
    }

    /// The holdout length the file gives, once rows with holdout columns were read.
    pub fn holdout_duration(&self) -> Option<f64> {
        self.duration
    }

    /// The holdout columns read, by name (none unless opened `with_holdout`).
    pub fn holdout_columns(&self) -> Vec<&'static str> {
        self.holdout.as_ref().map_or(vec![], HoldoutColumns::names)
    }

    pub fn next_chunk(&mut self) -> Result<Option<pb::SummaryColumns>, ClientError> {
        let Some(b) = self.batches.0.next()? else {
            if let Some(mut unique) = self.unique.take() {
                self.check_unique(&mut unique)?;
            }
            return Ok(None);
        };
        let path = self.batches.0.path.as_path();
        let [id_c, x_c, rec_c, age_c] = &self.columns;
        let id = ids(b.array(path, id_c)?).ok_or_else(|| unreadable(path, id_c))?;
        let number = |c: &Col| -> Result<Get<'_, f64>, ClientError> {
            numbers(b.array(path, c)?).ok_or_else(|| unreadable(path, c))
        };
        let (x, rec, age) = (number(x_c)?, number(rec_c)?, number(age_c)?);
        let monetary = self
            .monetary
            .as_ref()
            .map(|c| number(c).map(|g| (c, g)))
            .transpose()?;
        let holdout = match &self.holdout {
            Some(h) => Some((h, h.as_ref().try_map(|_, c| number(c))?)),
            None => None,
        };
        let mut duration = self.duration;
        let n = b.len();
        let mut c = pb::SummaryColumns {
            customer_id: Vec::with_capacity(n),
            frequency: Vec::with_capacity(n),
            recency: Vec::with_capacity(n),
            age: Vec::with_capacity(n),
            ..Default::default()
        };
        let null = |col: &Col, i: usize| value_error(path, col, b.row(i), "missing value (null)");
        for i in 0..n {
            let customer_id = id(i).ok_or_else(|| null(id_c, i))?;
            let f = x(i).ok_or_else(|| null(x_c, i))?;
            let f =
                whole_frequency(f).map_err(|message| value_error(path, x_c, b.row(i), &message))?;
            let rfm = Rfm {
                frequency: f,
                recency: rec(i).ok_or_else(|| null(rec_c, i))?,
                age: age(i).ok_or_else(|| null(age_c, i))?,
            };
            let spend = match &monetary {
                Some((col, m)) => Some(m(i).ok_or_else(|| null(col, i))?),
                None => None,
            };
            check_summary(&customer_id, rfm, spend).map_err(|(field, why)| {
                let col = match (field, &monetary) {
                    (SummaryField::Id, _) => id_c,
                    (SummaryField::Frequency, _) => x_c,
                    (SummaryField::Recency, _) => rec_c,
                    (SummaryField::T, _) => age_c,
                    (SummaryField::Monetary, Some((col, _))) => col,
                    // Only a monetary column's value is checked.
                    (SummaryField::Monetary, None) => id_c,
                };
                value_error(path, col, b.row(i), &why)
            })?;
            if let Some(u) = &mut self.unique {
                u.add(&customer_id);
            }
            c.customer_id.push(customer_id);
            c.frequency.push(rfm.frequency);
            c.recency.push(rfm.recency);
            c.age.push(rfm.age);
            c.monetary_value.extend(spend);
            if let Some((h, get)) = &holdout {
                let value = |col: &Col, g: &Get<'_, f64>| g(i).ok_or_else(|| null(col, i));
                let frequency = value(&h.frequency, &get.frequency)?;
                let spend = match (&h.spend, &get.spend) {
                    (Some((col, kind)), Some((g, _))) => Some((value(col, g)?, *kind)),
                    _ => None,
                };
                let length = value(&h.duration, &get.duration)?;
                let spent = match (&h.calibration_spend, &get.calibration_spend) {
                    (Some(col), Some(g)) => Some(value(col, g)?),
                    _ => None,
                };
                push_holdout(&mut c, &mut duration, frequency, spend, length, spent).map_err(
                    |(column, message)| {
                        let col = if column == FREQUENCY_HOLDOUT {
                            &h.frequency
                        } else {
                            &h.duration
                        };
                        value_error(path, col, b.row(i), &message)
                    },
                )?;
            }
        }
        self.duration = duration;
        Ok(Some(c))
    }
}

/// Column names of a transaction log.
#[derive(Debug, Clone)]
pub struct LogNames<'a> {
    pub id: &'a str,
    pub date: &'a str,
    pub amount: &'a str,
}

/// Rows per batch when reading a log.
const LOG_BATCH: usize = 64 * 1024;

/// Summarizes a Parquet transaction log (streamed, as for text logs). A null, or a string
/// date that does not parse, is a bad row: an error, or skipped and counted when the
/// builder is lenient.
pub fn summarize(
    input: ParquetInput,
    names: &LogNames<'_>,
    format: DateFormat,
    mut builder: SummaryBuilder,
) -> Result<SummaryOutput, ClientError> {
    let cols = [
        input.column("customer_id", names.id, Want::Id)?,
        input.column("date", names.date, Want::Date)?,
        input.column("amount", names.amount, Want::Number)?,
    ];
    builder.set_source_columns(cols[0].index + 1, cols[1].index + 1, cols[2].index + 1);
    let mut batches = input.read(&[&cols[0], &cols[1], &cols[2]], LOG_BATCH)?;
    let path = batches.path.clone();
    let row_error = |e: RowError| {
        input_error(
            &path,
            e.line,
            e.column,
            format!(
                "{}: row {}: {:?}: {}",
                e.field,
                e.line - 1,
                e.value,
                super::fields::explain(&e.reason)
            ),
        )
    };
    while let Some(b) = batches.next()? {
        let id = ids(b.array(&path, &cols[0])?).ok_or_else(|| unreadable(&path, &cols[0]))?;
        let day =
            days(b.array(&path, &cols[1])?, format).ok_or_else(|| unreadable(&path, &cols[1]))?;
        let amount =
            numbers(b.array(&path, &cols[2])?).ok_or_else(|| unreadable(&path, &cols[2]))?;
        for i in 0..b.len() {
            let line = b.row(i) + 1;
            let skip = |c: &Col, value: String, reason: String| RowError {
                line,
                column: Some(c.index + 1),
                field: c.role.to_owned(),
                value,
                reason,
            };
            let null = |c: &Col| skip(c, "null".into(), "missing value (null)".into());
            let row = match (id(i), day(i), amount(i)) {
                (None, _, _) => Err(null(&cols[0])),
                (_, None, _) => Err(null(&cols[1])),
                (_, Some(Err(text)), _) => Err(skip(&cols[1], text, format.reason().into())),
                (_, _, None) => Err(null(&cols[2])),
                (Some(id), Some(Ok(day)), Some(amount)) => Ok((id, day, amount)),
            };
            match row {
                Ok((id, day, amount)) => builder.push(line, &id, day, amount),
                Err(e) => builder.record_skip(e),
            }
            .map_err(row_error)?;
        }
    }
    Ok(builder.finish())
}

/// Every row of a Parquet transaction log, with its amount when `with_amount` (else 0); a
/// null, a bad date or (with amounts) a negative or non-finite amount is an error, or
/// skipped if `lenient`.
pub fn purchases(
    input: ParquetInput,
    names: &LogNames<'_>,
    format: DateFormat,
    lenient: bool,
    with_amount: bool,
) -> Result<Vec<super::Purchase>, ClientError> {
    let id_c = input.column("customer_id", names.id, Want::Id)?;
    let day_c = input.column("date", names.date, Want::Date)?;
    let amount_c = with_amount
        .then(|| input.column("amount", names.amount, Want::Number))
        .transpose()?;
    let mut cols = vec![&id_c, &day_c];
    cols.extend(amount_c.as_ref());
    let mut batches = input.read(&cols, LOG_BATCH)?;
    let path = batches.path.clone();
    let mut out = Vec::new();
    while let Some(b) = batches.next()? {
        let id = ids(b.array(&path, &id_c)?).ok_or_else(|| unreadable(&path, &id_c))?;
        let day = days(b.array(&path, &day_c)?, format).ok_or_else(|| unreadable(&path, &day_c))?;
        let amount = match &amount_c {
            Some(c) => Some(numbers(b.array(&path, c)?).ok_or_else(|| unreadable(&path, c))?),
            None => None,
        };
        for i in 0..b.len() {
            let value = match (&amount, &amount_c) {
                (Some(get), Some(c)) => match get(i) {
                    Some(v) if v.is_finite() && v >= 0.0 => Ok(v + 0.0),
                    Some(v) => Err((c, format!("{v}: must be finite and >= 0"))),
                    None => Err((c, "missing value (null)".to_owned())),
                },
                _ => Ok(0.0),
            };
            let row = match (id(i), day(i), value) {
                (Some(id), _, _) if id.trim().is_empty() => {
                    Err((&id_c, "customer id is empty".to_owned()))
                }
                (Some(id), Some(Ok(day)), Ok(amount)) => Ok(super::Purchase {
                    customer_id: id,
                    day,
                    amount,
                }),
                (None, _, _) => Err((&id_c, "missing value (null)".to_owned())),
                (_, None, _) => Err((&day_c, "missing value (null)".to_owned())),
                (_, Some(Err(text)), _) => Err((&day_c, format!("{text:?}: {}", format.reason()))),
                (_, _, Err(e)) => Err(e),
            };
            match row {
                Ok(r) => out.push(r),
                Err(_) if lenient => {}
                Err((c, what)) => return Err(value_error(&path, c, b.row(i), &what)),
            }
        }
    }
    Ok(out)
}

/// Writes record batches to a Parquet file, opened at the first batch (whose schema the
/// file gets).
pub struct ParquetWriter {
    path: PathBuf,
    state: State,
}

enum State {
    Pending(Sink),
    Open(Box<ArrowWriter<Sink>>),
    /// After a failure to open.
    Broken,
}

impl std::fmt::Debug for ParquetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ParquetWriter {
    /// `-` writes to standard output. A name ending `.gz` is refused: Parquet compresses
    /// its pages itself.
    pub fn create(path: &Path) -> Result<ParquetWriter, ClientError> {
        if crate::gzip::is_gz(path) {
            return Err(ClientError::Invalid(format!(
                "{}: Parquet output is compressed inside (snappy); drop the .gz",
                path.display()
            )));
        }
        Ok(ParquetWriter {
            path: path.to_owned(),
            state: State::Pending(Sink::create(path)?),
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Internal(format!("writing Parquet to {}: {e}", self.path.display()))
    }

    fn open(&mut self, schema: SchemaRef) -> Result<(), ClientError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        if let State::Pending(sink) = std::mem::replace(&mut self.state, State::Broken) {
            let w = ArrowWriter::try_new(sink, schema, Some(props)).map_err(|e| self.error(e))?;
            self.state = State::Open(Box::new(w));
        }
        Ok(())
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ClientError> {
        if let State::Pending(_) = self.state {
            self.open(batch.schema())?;
        }
        match &mut self.state {
            State::Open(w) => w.write(batch).map_err(|e| {
                ClientError::Internal(format!("writing Parquet to {}: {e}", self.path.display()))
            }),
            State::Pending(_) | State::Broken => Err(self.error("the file is not open")),
        }
    }

    /// Ends the file; one without rows gets `schema`.
    pub fn finish(mut self, schema: SchemaRef) -> Result<(), ClientError> {
        if let State::Pending(_) = self.state {
            self.open(schema)?;
        }
        match self.state {
            State::Open(w) => {
                let sink = w
                    .into_inner()
                    .map_err(|e| ClientError::Internal(format!("{}: {e}", self.path.display())))?;
                sink.finish().map_err(|e| ClientError::file(&self.path, e))
            }
            State::Pending(_) | State::Broken => Err(self.error("the file is not open")),
        }
    }
}

/// The columns of scores: those of the CSV, expected spend and CLV null where undefined
/// (or without a spend model), segment, tier and action when the model has them.
pub fn score_schema(labelled: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("expected_purchases", DataType::Float64, false),
        Field::new("p_alive", DataType::Float64, false),
        Field::new("propensity", DataType::Float64, false),
        Field::new("expected_spend", DataType::Float64, true),
        Field::new("clv", DataType::Float64, true),
    ];
    if labelled {
        for name in ["segment", "tier", "action"] {
            fields.push(Field::new(name, DataType::Utf8, false));
        }
    }
    Arc::new(Schema::new(fields))
}

/// One chunk of scores as a record batch of [`score_schema`].
pub fn score_batch(s: &pb::ScoreColumns) -> Result<RecordBatch, ClientError> {
    let n = s.customer_id.len();
    let labelled = !s.segment.is_empty();
    let defined = |values: &[f64]| -> Float64Array {
        if values.is_empty() {
            return Float64Array::new_null(n);
        }
        let mut undefined = s.undefined_spend.iter().peekable();
        (0..n)
            .map(|i| {
                let skip = undefined.next_if(|&&u| u as usize == i).is_some();
                (!skip).then(|| values.get(i).copied()).flatten()
            })
            .collect()
    };
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(&s.customer_id)),
        Arc::new(Float64Array::from(s.expected_purchases.clone())),
        Arc::new(Float64Array::from(s.p_alive.clone())),
        Arc::new(Float64Array::from(s.propensity.clone())),
        Arc::new(defined(&s.expected_spend)),
        Arc::new(defined(&s.clv)),
    ];
    if labelled {
        for v in [&s.segment, &s.tier, &s.action] {
            columns.push(Arc::new(StringArray::from_iter_values(v)));
        }
    }
    RecordBatch::try_new(score_schema(labelled), columns)
        .map_err(|e| ClientError::Internal(format!("scores as a record batch: {e}")))
}

/// The columns of a transaction log written here: `customer_id`, `date` (`Date32`),
/// `amount`, as the log reader reads them back.
pub fn log_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("amount", DataType::Float64, false),
    ]))
}

/// Rows of a transaction log gathered into record batches of [`log_schema`].
#[derive(Debug, Default)]
pub struct LogRows {
    ids: Vec<String>,
    days: Vec<i32>,
    amounts: Vec<f64>,
}

impl LogRows {
    pub fn push(&mut self, id: &str, day: Day, amount: f64) {
        self.ids.push(id.to_owned());
        self.days.push(day.0);
        self.amounts.push(amount);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The rows so far as one batch; empties the buffer.
    pub fn take_batch(&mut self) -> Result<RecordBatch, ClientError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(std::mem::take(&mut self.ids))),
            Arc::new(Date32Array::from(std::mem::take(&mut self.days))),
            Arc::new(Float64Array::from(std::mem::take(&mut self.amounts))),
        ];
        RecordBatch::try_new(log_schema(), columns)
            .map_err(|e| ClientError::Internal(format!("a log as a record batch: {e}")))
    }
}

/// Writes a summary table with the columns of
/// [`summary_column_names`](super::write::summary_column_names).
pub fn write_summaries(path: &Path, t: &CustomerTable) -> Result<(), ClientError> {
    let holdout = t.holdout.as_ref();
    let spent = t.calibration_spend.as_deref();
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("frequency", DataType::Int64, false),
        Field::new("recency", DataType::Float64, false),
        Field::new("T", DataType::Float64, false),
        Field::new("monetary_value", DataType::Float64, false),
    ];
    if holdout.is_some() {
        fields.push(Field::new("frequency_holdout", DataType::Int64, false));
        fields.push(Field::new("spend_holdout", DataType::Float64, false));
        fields.push(Field::new("duration_holdout", DataType::Float64, false));
    }
    if spent.is_some() {
        fields.push(Field::new("calibration_spend", DataType::Float64, false));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut w = ParquetWriter::create(path)?;
    let mut start = 0;
    while start < t.len() {
        let end = (start + ROW_GROUP_ROWS).min(t.len());
        let rows = &t.rfm[start..end];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(&t.ids[start..end])),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| i64::from(r.frequency)),
            )),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.recency),
            )),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.age))),
            Arc::new(Float64Array::from(t.monetary_value[start..end].to_vec())),
        ];
        if let Some(h) = holdout {
            columns.push(Arc::new(Int64Array::from_iter_values(
                h.frequency[start..end].iter().map(|&f| i64::from(f)),
            )));
            columns.push(Arc::new(Float64Array::from(h.spend[start..end].to_vec())));
            columns.push(Arc::new(Float64Array::from(vec![h.duration; end - start])));
        }
        if let Some(s) = spent {
            columns.push(Arc::new(Float64Array::from(s[start..end].to_vec())));
        }
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| ClientError::Internal(format!("summaries as a record batch: {e}")))?;
        w.write(&batch)?;
        start = end;
    }
    w.finish(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_spend_is_null_and_labels_are_columns() {
        let s = pb::ScoreColumns {
            customer_id: vec!["a".into(), "b".into(), "c".into()],
            expected_purchases: vec![1.0, 2.0, 3.0],
            p_alive: vec![0.5; 3],
            propensity: vec![0.25; 3],
            expected_spend: vec![10.0, 0.0, 30.0],
            clv: vec![100.0, 0.0, 300.0],
            undefined_spend: vec![1],
            segment: vec!["s".into(); 3],
            tier: vec!["key".into(); 3],
            action: vec!["retain".into(); 3],
        };
        let b = score_batch(&s).unwrap();
        assert_eq!(b.schema(), score_schema(true));
        let spend = b
            .column_by_name("expected_spend")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(
            spend.iter().collect::<Vec<_>>(),
            [Some(10.0), None, Some(30.0)]
        );
        let clv = b.column_by_name("clv").unwrap();
        assert_eq!(clv.null_count(), 1);
        let unlabelled = pb::ScoreColumns {
            expected_spend: vec![],
            clv: vec![],
            undefined_spend: vec![],
            segment: vec![],
            tier: vec![],
            action: vec![],
            ..s
        };
        let b = score_batch(&unlabelled).unwrap();
        assert_eq!(b.num_columns(), 6);
        assert_eq!(b.column_by_name("clv").unwrap().null_count(), 3);
    }

    #[test]
    fn parquet_is_found_by_name_or_magic() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("x.PARQUET");
        std::fs::write(&named, "anything").unwrap();
        assert!(is_parquet(&named).unwrap());
        let magic = dir.path().join("x.bin");
        std::fs::write(&magic, "PAR1....").unwrap();
        assert!(is_parquet(&magic).unwrap());
        let text = dir.path().join("x.csv");
        std::fs::write(&text, "PA").unwrap();
        assert!(!is_parquet(&text).unwrap());
        let gz = dir.path().join("x.parquet.gz");
        assert!(ParquetWriter::create(&gz).is_err());
    }
}
