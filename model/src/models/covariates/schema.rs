//! Customer covariates as they arrive (named numeric and categorical columns, one value per
//! customer) and the schema that turns them into the dense numbers a likelihood reads.
//!
//! A [`CovariateSchema`] is learned once from the calibration customers and stored with the
//! fitted model, so that scoring encodes new customers exactly as the fit did:
//!
//! * a numeric column is one encoded column, optionally centred on its calibration mean
//!   (the mean is part of the schema; centring changes the base parameters' meaning, from
//!   "a customer with covariate 0" to "an average customer", never the fit's quality);
//! * a categorical column with levels L₀ < L₁ < … (sorted, so the encoding does not depend
//!   on row order) is one-hot encoded against a reference level (the first one unless the
//!   caller names another): one encoded column `name=level` per non-reference level, so
//!   the reference level's customers have all zeros there and the base parameters describe
//!   them.
//!
//! Errors name what is wrong: a missing value is `covariates.NAME[ROW]: missing value`, a
//! level not seen at fit time is `covariates.NAME[ROW]: unknown level "VALUE" (known: …)`,
//! a column the schema needs and the input lacks is `covariates.NAME: missing column`.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The values of one input column, one per customer; `None` is a missing value.
#[derive(Debug, Clone, PartialEq)]
pub enum CovariateValues {
    Numeric(Vec<Option<f64>>),
    Categorical(Vec<Option<String>>),
}

impl CovariateValues {
    fn len(&self) -> usize {
        match self {
            CovariateValues::Numeric(v) => v.len(),
            CovariateValues::Categorical(v) => v.len(),
        }
    }
}

/// Covariates as supplied: named columns of equal length (one row per customer, in the
/// order of the customers they describe).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawCovariates {
    columns: Vec<(String, CovariateValues)>,
    rows: usize,
}

impl RawCovariates {
    /// No columns yet, for `rows` customers.
    pub fn new(rows: usize) -> Self {
        Self {
            columns: Vec::new(),
            rows,
        }
    }

    /// Adds a column; its length must be the table's row count and its name new.
    pub fn with(mut self, name: impl Into<String>, values: CovariateValues) -> Result<Self> {
        let name = name.into();
        if name.is_empty() {
            return Err(ModelError::invalid("covariates", "a column has no name"));
        }
        if self.columns.iter().any(|(n, _)| *n == name) {
            return Err(ModelError::invalid(
                format!("covariates.{name}"),
                "column given twice",
            ));
        }
        if values.len() != self.rows {
            return Err(ModelError::invalid(
                format!("covariates.{name}"),
                format!("expected {} values, got {}", self.rows, values.len()),
            ));
        }
        self.columns.push((name, values));
        Ok(self)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The column called `name`; an error naming it when there is none.
    pub fn column(&self, name: &str) -> Result<&CovariateValues> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| ModelError::invalid(format!("covariates.{name}"), "missing column"))
    }
}

/// How one input column is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnEncoding {
    /// One encoded column: the value, less `center` (0 when not centred).
    Numeric { center: f64 },
    /// One encoded column per level other than `reference`, 1 for that level, else 0.
    Categorical {
        reference: String,
        /// The other levels, sorted: the encoded columns in order.
        levels: Vec<String>,
    },
}

/// One input column of a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaColumn {
    pub name: String,
    pub encoding: ColumnEncoding,
}

/// Which columns to learn a schema for, and how.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaSpec {
    /// Input column names, in the order their encoded columns (and coefficients) come.
    pub columns: Vec<String>,
    /// Centre every numeric column on its calibration mean.
    pub center_numeric: bool,
    /// Reference levels chosen by the caller (column name, level); others get their first
    /// level in sorted order.
    pub reference_levels: Vec<(String, String)>,
}

/// The encoding of a set of input columns into a dense matrix, learned at fit time and
/// stored with the model. An empty schema encodes nothing (no covariates on that process).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CovariateSchema {
    pub columns: Vec<SchemaColumn>,
}

/// A dense row-major matrix of encoded covariates with named columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CovariateMatrix {
    names: Vec<String>,
    rows: usize,
    values: Vec<f64>,
}

impl CovariateMatrix {
    /// From row-major values; every value must be finite.
    pub fn new(names: Vec<String>, rows: usize, values: Vec<f64>) -> Result<Self> {
        if values.len() != rows * names.len() {
            return Err(ModelError::invalid(
                "covariates",
                format!(
                    "{rows} rows of {} columns need {} values, got {}",
                    names.len(),
                    rows * names.len(),
                    values.len()
                ),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            let k = names.len().max(1);
            return Err(ModelError::invalid(
                format!("covariates.{}[{}]", names[i % k], i / k),
                format!("must be finite, got {}", values[i]),
            ));
        }
        Ok(Self {
            names,
            rows,
            values,
        })
    }

    /// `rows` customers without covariates.
    pub fn empty(rows: usize) -> Self {
        Self {
            names: Vec::new(),
            rows,
            values: Vec::new(),
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// Customer `i`'s encoded covariates.
    pub fn row(&self, i: usize) -> &[f64] {
        let k = self.names.len();
        &self.values[i * k..(i + 1) * k]
    }
}

impl CovariateSchema {
    /// Learns the encoding of `spec.columns` from the calibration customers in `raw`.
    pub fn learn(raw: &RawCovariates, spec: &SchemaSpec) -> Result<Self> {
        for (name, _) in &spec.reference_levels {
            if !spec.columns.contains(name) {
                return Err(ModelError::invalid(
                    format!("covariates.{name}"),
                    "a reference level is given for a column that is not used",
                ));
            }
        }
        let mut columns = Vec::with_capacity(spec.columns.len());
        for name in &spec.columns {
            if columns.iter().any(|c: &SchemaColumn| c.name == *name) {
                return Err(ModelError::invalid(
                    format!("covariates.{name}"),
                    "column used twice",
                ));
            }
            let field = |row: usize| format!("covariates.{name}[{row}]");
            let encoding = match raw.column(name)? {
                CovariateValues::Numeric(v) => {
                    let mut sum = 0.0;
                    for (row, x) in v.iter().enumerate() {
                        match x {
                            Some(x) if x.is_finite() => sum += x,
                            Some(x) => {
                                return Err(ModelError::invalid(
                                    field(row),
                                    format!("must be finite, got {x}"),
                                ));
                            }
                            None => return Err(ModelError::invalid(field(row), "missing value")),
                        }
                    }
                    let center = if spec.center_numeric && !v.is_empty() {
                        sum / v.len() as f64
                    } else {
                        0.0
                    };
                    ColumnEncoding::Numeric { center }
                }
                CovariateValues::Categorical(v) => {
                    let mut levels: Vec<&str> = Vec::new();
                    for (row, x) in v.iter().enumerate() {
                        let Some(x) = x else {
                            return Err(ModelError::invalid(field(row), "missing value"));
                        };
                        if let Err(at) = levels.binary_search(&x.as_str()) {
                            levels.insert(at, x);
                        }
                    }
                    let chosen = spec
                        .reference_levels
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, l)| l.as_str());
                    let reference = match chosen {
                        Some(l) if levels.contains(&l) => l.to_string(),
                        Some(l) => {
                            return Err(ModelError::invalid(
                                format!("covariates.{name}"),
                                format!("reference level \"{l}\" does not occur in the data"),
                            ));
                        }
                        None => match levels.first() {
                            Some(l) => l.to_string(),
                            None => {
                                return Err(ModelError::invalid(
                                    format!("covariates.{name}"),
                                    "no values to learn levels from",
                                ));
                            }
                        },
                    };
                    let levels = levels
                        .into_iter()
                        .filter(|l| *l != reference)
                        .map(str::to_string)
                        .collect();
                    ColumnEncoding::Categorical { reference, levels }
                }
            };
            columns.push(SchemaColumn {
                name: name.clone(),
                encoding,
            });
        }
        Ok(Self { columns })
    }

    /// The encoded columns' names: `name` for a numeric column, `name=level` for each
    /// non-reference level of a categorical one.
    pub fn encoded_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for c in &self.columns {
            match &c.encoding {
                ColumnEncoding::Numeric { .. } => names.push(c.name.clone()),
                ColumnEncoding::Categorical { levels, .. } => {
                    names.extend(levels.iter().map(|l| format!("{}={l}", c.name)))
                }
            }
        }
        names
    }

    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match &c.encoding {
                ColumnEncoding::Numeric { .. } => 1,
                ColumnEncoding::Categorical { levels, .. } => levels.len(),
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Encodes the customers of `raw` (its other columns are ignored). A missing value, a
    /// non-finite number or a level the schema does not know is an error naming the column
    /// and row.
    pub fn encode(&self, raw: &RawCovariates) -> Result<CovariateMatrix> {
        let (rows, width) = (raw.rows(), self.width());
        let mut values = vec![0.0; rows * width];
        let mut offset = 0;
        for c in &self.columns {
            let name = &c.name;
            let field = |row: usize| format!("covariates.{name}[{row}]");
            match (&c.encoding, raw.column(name)?) {
                (ColumnEncoding::Numeric { center }, CovariateValues::Numeric(v)) => {
                    for (row, x) in v.iter().enumerate() {
                        match x {
                            Some(x) if x.is_finite() => values[row * width + offset] = x - center,
                            Some(x) => {
                                return Err(ModelError::invalid(
                                    field(row),
                                    format!("must be finite, got {x}"),
                                ));
                            }
                            None => return Err(ModelError::invalid(field(row), "missing value")),
                        }
                    }
                    offset += 1;
                }
                (
                    ColumnEncoding::Categorical { reference, levels },
                    CovariateValues::Categorical(v),
                ) => {
                    for (row, x) in v.iter().enumerate() {
                        let Some(x) = x else {
                            return Err(ModelError::invalid(field(row), "missing value"));
                        };
                        if let Ok(k) = levels.binary_search(x) {
                            values[row * width + offset + k] = 1.0;
                        } else if x != reference {
                            return Err(ModelError::invalid(
                                field(row),
                                format!(
                                    "unknown level \"{x}\" (known: \"{reference}\"{})",
                                    levels
                                        .iter()
                                        .map(|l| format!(", \"{l}\""))
                                        .collect::<String>()
                                ),
                            ));
                        }
                    }
                    offset += levels.len();
                }
                (ColumnEncoding::Numeric { .. }, CovariateValues::Categorical(_)) => {
                    return Err(ModelError::invalid(
                        format!("covariates.{name}"),
                        "the model was fitted with a numeric column, got a categorical one",
                    ));
                }
                (ColumnEncoding::Categorical { .. }, CovariateValues::Numeric(_)) => {
                    return Err(ModelError::invalid(
                        format!("covariates.{name}"),
                        "the model was fitted with a categorical column, got a numeric one",
                    ));
                }
            }
        }
        CovariateMatrix::new(self.encoded_names(), rows, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawCovariates {
        RawCovariates::new(4)
            .with(
                "channel",
                CovariateValues::Categorical(
                    ["web", "store", "app", "web"]
                        .iter()
                        .map(|s| Some(s.to_string()))
                        .collect(),
                ),
            )
            .unwrap()
            .with(
                "first_order",
                CovariateValues::Numeric(vec![Some(10.0), Some(20.0), Some(30.0), Some(40.0)]),
            )
            .unwrap()
    }

    #[test]
    fn categorical_columns_are_one_hot_against_the_reference_and_numeric_ones_centred() {
        let spec = SchemaSpec {
            columns: vec!["channel".into(), "first_order".into()],
            center_numeric: true,
            reference_levels: vec![],
        };
        let schema = CovariateSchema::learn(&raw(), &spec).unwrap();
        assert_eq!(
            schema.encoded_names(),
            ["channel=store", "channel=web", "first_order"]
        );
        let m = schema.encode(&raw()).unwrap();
        assert_eq!(m.row(0), [0.0, 1.0, -15.0]);
        assert_eq!(m.row(1), [1.0, 0.0, -5.0]);
        assert_eq!(m.row(2), [0.0, 0.0, 5.0]); // "app" is the reference level
        // The schema survives a store round trip.
        let back: CovariateSchema =
            serde_json::from_str(&serde_json::to_string(&schema).unwrap()).unwrap();
        assert_eq!(back, schema);

        let chosen = SchemaSpec {
            reference_levels: vec![("channel".into(), "web".into())],
            ..spec
        };
        let schema = CovariateSchema::learn(&raw(), &chosen).unwrap();
        assert_eq!(
            schema.encoded_names(),
            ["channel=app", "channel=store", "first_order"]
        );
    }

    #[test]
    fn unknown_levels_missing_values_and_columns_are_errors_naming_them() {
        let spec = SchemaSpec {
            columns: vec!["channel".into(), "first_order".into()],
            ..SchemaSpec::default()
        };
        let schema = CovariateSchema::learn(&raw(), &spec).unwrap();
        let scored = RawCovariates::new(2)
            .with(
                "channel",
                CovariateValues::Categorical(vec![Some("web".into()), Some("fax".into())]),
            )
            .unwrap()
            .with(
                "first_order",
                CovariateValues::Numeric(vec![Some(1.0), None]),
            )
            .unwrap();
        let err = schema.encode(&scored).unwrap_err().to_string();
        assert!(
            err.contains("covariates.channel[1]") && err.contains("unknown level \"fax\""),
            "{err}"
        );
        let scored = RawCovariates::new(1)
            .with(
                "channel",
                CovariateValues::Categorical(vec![Some("web".into())]),
            )
            .unwrap()
            .with("first_order", CovariateValues::Numeric(vec![None]))
            .unwrap();
        let err = schema.encode(&scored).unwrap_err().to_string();
        assert!(
            err.contains("covariates.first_order[0]: missing value"),
            "{err}"
        );
        let scored = RawCovariates::new(1)
            .with(
                "channel",
                CovariateValues::Categorical(vec![Some("web".into())]),
            )
            .unwrap();
        let err = schema.encode(&scored).unwrap_err().to_string();
        assert!(
            err.contains("covariates.first_order: missing column"),
            "{err}"
        );
        let missing_at_fit = RawCovariates::new(1)
            .with("channel", CovariateValues::Categorical(vec![None]))
            .unwrap();
        let spec = SchemaSpec {
            columns: vec!["channel".into()],
            ..SchemaSpec::default()
        };
        let err = CovariateSchema::learn(&missing_at_fit, &spec)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("covariates.channel[0]: missing value"),
            "{err}"
        );
    }
}
