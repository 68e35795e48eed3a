//! Errors of the model crate. The server maps each variant to exactly one gRPC code.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A caller-supplied value is out of its domain. `field` names it (e.g. `customers[3].recency`).
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    /// There is not enough information in the data to fit the requested model.
    #[error("cannot fit {model}: {reason}")]
    InsufficientData { model: &'static str, reason: String },

    /// The optimizer stopped without reaching an optimum; the diagnostics say how far it got.
    #[error("{model} fit did not converge: {reason}")]
    NotConverged { model: &'static str, reason: String },

    /// A numerical evaluation left the range where it is accurate.
    #[error("numerical failure in {what}: {reason}")]
    Numerical { what: &'static str, reason: String },

    /// The computation was stopped through its [`crate::cancel::Cancel`] token before it
    /// finished; there is no partial result.
    #[error("the computation was cancelled")]
    Cancelled,
}

impl ModelError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ModelError::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Prefixes the offending field path, e.g. `recency` -> `customers[7].recency`.
    pub fn within(self, prefix: &str) -> Self {
        match self {
            ModelError::InvalidInput { field, reason } => ModelError::InvalidInput {
                field: format!("{prefix}.{field}"),
                reason,
            },
            other => other,
        }
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
