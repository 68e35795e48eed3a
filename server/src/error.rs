//! The service's errors, and the one place where they become gRPC statuses.

use custval_model::{FitDiagnostics, ModelError};
use thiserror::Error;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// When a request refused while the store loads may come back.
const LOADING_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// One bad request field: its path (e.g. `customers[3].transactions[7].amount`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, Error)]
pub enum ApiError {
    /// The request is malformed; every violation names its field.
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),

    /// A stored model (or version) that is not there; `resource` is its name as
    /// `ResourceInfo` gives it ("cdnow", or "cdnow/versions/7").
    #[error("{message}")]
    NotFound { resource: String, message: String },

    /// The data cannot support the requested fit (too few customers, no repeat buyers).
    #[error("{0}")]
    InsufficientData(String),

    /// The optimizer stopped short of an optimum; nothing was stored.
    #[error("fit did not converge: {reason}")]
    NotConverged {
        reason: String,
        diagnostics: Option<Box<FitDiagnostics>>,
    },

    /// Every place under the concurrency limit is taken and the queue is full (or the
    /// wait in it too long): the request was shed. `retry_after` is when a place is
    /// likely free again (admission's recent queue wait and service time).
    #[error("server overloaded: {message}; retry after {} ms", retry_after.as_millis())]
    Overloaded {
        message: String,
        retry_after: std::time::Duration,
    },

    /// A message above --max-message-bytes (tonic reports it as OUT_OF_RANGE; gRPC's
    /// status code guide asks for RESOURCE_EXHAUSTED).
    #[error("{0}")]
    TooLarge(String),

    /// A client stream sent (or read) nothing for this long and was ended, freeing its
    /// place under the concurrency limit.
    #[error(
        "the client stream was idle for {} s (--stream-idle-seconds) and was ended",
        .0.as_secs()
    )]
    StreamIdle(std::time::Duration),

    #[error("the model registry is still loading")]
    Unavailable,

    /// The client went away (cancelled, or its stream broke), or the work was stopped
    /// because it did.
    #[error("cancelled by the client")]
    Cancelled,

    /// Work stopped by the server's shutdown (the drain deadline passed); nothing was
    /// stored: retry on another server or later.
    #[error("the server is shutting down; nothing was stored")]
    ShuttingDown,

    #[error("deadline exceeded before {0}")]
    DeadlineExceeded(&'static str),

    #[error("missing or wrong bearer token")]
    Unauthenticated,

    /// Our fault: a numerical failure, a store error. Logged with details.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(violations: &[FieldViolation]) -> String {
    let mut s = String::new();
    for (i, v) in violations.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&v.field);
        s.push_str(": ");
        s.push_str(&v.description);
    }
    s
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// A model error while working on the caller's customers. A numerical failure there
    /// was caused by their data (summaries a model cannot be fitted to, or a fitted model
    /// cannot evaluate), not by a bug: FAILED_PRECONDITION saying what could not be done
    /// (`what`, e.g. "fit BG/NBD to these customers"), never INTERNAL. Other errors map
    /// as usual.
    pub fn from_data(e: ModelError, what: &str) -> Self {
        match e {
            ModelError::Numerical { .. } => ApiError::InsufficientData(format!(
                "cannot {what}: {e}; the customers' values lie outside what the model can \
                 evaluate"
            )),
            other => other.into(),
        }
    }

    /// Prefixes every violation's field path (e.g. with `chunks[4].`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            ApiError::InvalidArgument(vs) => ApiError::InvalidArgument(
                vs.into_iter()
                    .map(|v| FieldViolation {
                        field: join_path(prefix, &v.field),
                        description: v.description,
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

/// `a` + `.` + `b`, without a dot before an index (`customers` + `[3]`) or after nothing.
pub fn join_path(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else if b.is_empty() || b.starts_with('[') {
        format!("{a}{b}")
    } else {
        format!("{a}.{b}")
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::InvalidInput { field, reason } => ApiError::invalid(field, reason),
            ModelError::InsufficientData { .. } => ApiError::InsufficientData(e.to_string()),
            ModelError::NotConverged { .. } => ApiError::NotConverged {
                reason: e.to_string(),
                diagnostics: None,
            },
            // Without a source to blame, a genuine bug; failures the caller's data caused
            // go through `from_data` (fits, segmentations) or name the customer (scores).
            ModelError::Numerical { .. } => ApiError::Internal(e.to_string()),
            // Only a caller's token stops model work: the caller says why (see `cancel`).
            ModelError::Cancelled => ApiError::Cancelled,
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        let message = e.to_string();
        match e {
            ApiError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_bad_request_violation(v.field, v.description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ApiError::NotFound { resource, .. } => Status::with_error_details(
                Code::NotFound,
                message.clone(),
                ErrorDetails::with_resource_info("custval.v1.Model", resource, "", message),
            ),
            ApiError::InsufficientData(_) => {
                let details = ErrorDetails::with_precondition_failure_violation(
                    "INSUFFICIENT_DATA",
                    "customers",
                    message.clone(),
                );
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            ApiError::NotConverged { diagnostics, .. } => {
                let mut details = ErrorDetails::with_precondition_failure_violation(
                    "NOT_CONVERGED",
                    "fit",
                    message.clone(),
                );
                if let Some(d) = diagnostics {
                    let metadata: std::collections::HashMap<String, String> = [
                        ("iterations", d.iterations.to_string()),
                        ("evaluations", d.evaluations.to_string()),
                        ("gradient_norm", d.gradient_norm.to_string()),
                        ("log_likelihood", d.log_likelihood.to_string()),
                        ("method", d.method.clone()),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                    details.set_error_info("FIT_NOT_CONVERGED", "custval", metadata);
                }
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            // Both pass within moments: say when to come back (clients honour RetryInfo).
            ApiError::Overloaded { retry_after, .. } => Status::with_error_details(
                Code::ResourceExhausted,
                message,
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            // No RetryInfo: the same message would be refused again.
            ApiError::TooLarge(_) => Status::resource_exhausted(message),
            ApiError::StreamIdle(_) => Status::deadline_exceeded(message),
            ApiError::Unavailable => Status::with_error_details(
                Code::Unavailable,
                message,
                ErrorDetails::with_retry_info(Some(LOADING_RETRY_DELAY)),
            ),
            ApiError::Cancelled => Status::cancelled(message),
            ApiError::ShuttingDown => Status::unavailable(message),
            ApiError::DeadlineExceeded(_) => Status::deadline_exceeded(message),
            ApiError::Unauthenticated => Status::unauthenticated(message),
            ApiError::Internal(_) => {
                tracing::error!(error = %message, "internal error");
                Status::internal(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_violations_travel_as_bad_request_details() {
        let status: Status = ApiError::invalid("customers[3].transactions[7].amount", "is NaN")
            .within("chunks[2]")
            .into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("BadRequest detail");
        assert_eq!(
            bad.field_violations[0].field,
            "chunks[2].customers[3].transactions[7].amount"
        );
        assert!(status.message().contains("is NaN"));
    }

    #[test]
    fn paths_join_without_stray_dots() {
        assert_eq!(join_path("", "x"), "x");
        assert_eq!(join_path("customers", "[3]"), "customers[3]");
        assert_eq!(join_path("customers[3]", "summary"), "customers[3].summary");
    }

    #[test]
    fn model_errors_map_to_one_code_each() {
        let code = |e: ModelError| Status::from(ApiError::from(e)).code();
        assert_eq!(
            code(ModelError::invalid("horizon", "must be > 0")),
            Code::InvalidArgument
        );
        assert_eq!(
            code(ModelError::NotConverged {
                model: "BG/NBD",
                reason: "x".into()
            }),
            Code::FailedPrecondition
        );
        assert_eq!(
            code(ModelError::InsufficientData {
                model: "BG/NBD",
                reason: "x".into()
            }),
            Code::FailedPrecondition
        );
        assert_eq!(
            code(ModelError::Numerical {
                what: "2F1",
                reason: "x".into()
            }),
            Code::Internal
        );
        assert_eq!(code(ModelError::Cancelled), Code::Cancelled);
        assert_eq!(
            Status::from(ApiError::ShuttingDown).code(),
            Code::Unavailable
        );
        let data = |e: ModelError| Status::from(ApiError::from_data(e, "fit BG/NBD"));
        let status = data(ModelError::Numerical {
            what: "BG/NBD",
            reason: "log-likelihood is not finite at the starting point".into(),
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().starts_with("cannot fit BG/NBD: "));
        assert_eq!(
            data(ModelError::invalid("horizon", "must be > 0")).code(),
            Code::InvalidArgument
        );
    }
}
