//! The client's one error type: what went wrong, said so a person can act on it.

use std::path::PathBuf;

use tonic::Code;

/// Everything a client command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A command-line or library option that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// The server URL does not parse, or has a scheme other than http/https.
    #[error("invalid server URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// No connection could be made (server down, wrong port, TLS handshake failed).
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// A file the command needs could not be read or written.
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A call the command depends on failed.
    #[error("{what} failed: {} ({message})", code_name(*code))]
    Rpc {
        what: String,
        code: Code,
        message: String,
    },
    /// A malformed input file, with where.
    #[error("{}{}{}: {message}", path.display(), if *line > 0 { format!(", line {line}") } else { String::new() }, column.map_or(String::new(), |c| format!(", column {c}")))]
    Input {
        path: PathBuf,
        line: u64,
        column: Option<usize>,
        message: String,
    },
    /// The server refused the request's content; its field violations in plain words.
    #[error("{what} failed: {} ({message}){}", code_name(*code), violations.iter().map(|(f, d)| format!("\n  - {f}: {d}")).collect::<String>())]
    Refused {
        what: String,
        code: Code,
        message: String,
        violations: Vec<(String, String)>,
    },
    /// The model core refused an input (e.g. a simulation spec).
    #[error(transparent)]
    Model(#[from] custval_model::ModelError),
    /// A background task of the client died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ClientError {
    /// A failed call, named by what the command was doing.
    pub fn rpc(what: impl Into<String>, status: &tonic::Status) -> ClientError {
        ClientError::Rpc {
            what: what.into(),
            code: status.code(),
            message: status.message().to_owned(),
        }
    }

    /// A failed call with its BadRequest field violations, if the server sent any.
    pub fn call(what: impl Into<String>, status: &tonic::Status) -> ClientError {
        use tonic_types::StatusExt;
        let details = status.get_error_details();
        let violations: Vec<(String, String)> = details
            .bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| (v.field.clone(), v.description.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if violations.is_empty() {
            ClientError::rpc(what, status)
        } else {
            ClientError::Refused {
                what: what.into(),
                code: status.code(),
                message: status.message().to_owned(),
                violations,
            }
        }
    }

    /// The process exit code: 2 usage, 3 input, 4 server or connection, 1 otherwise.
    /// Whether this is standard output closed by its reader (`custval score --output - |
    /// head`): not a failure to report.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ClientError::File { source, .. }
            if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Invalid(_) => 2,
            ClientError::Input { .. } | ClientError::File { .. } | ClientError::Model(_) => 3,
            ClientError::Url { .. }
            | ClientError::Connect { .. }
            | ClientError::Rpc { .. }
            | ClientError::Refused { .. } => 4,
            ClientError::Internal(_) => 1,
        }
    }

    pub fn file(path: impl Into<PathBuf>, source: std::io::Error) -> ClientError {
        ClientError::File {
            path: path.into(),
            source,
        }
    }
}

/// The canonical gRPC name of a status code, e.g. `RESOURCE_EXHAUSTED`.
pub use custval_proto::code_name;

/// An error with its chain of causes, `outer: inner: innermost`, without repeats
/// (transport errors often say "transport error" and hide the reason in the chain).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Parses `10s`, `500ms`, `250us`, `2m`, `1h`, `1.5s`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (examples: 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use ns, us, ms, s, m or h)"
            ));
        }
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn status_codes_have_their_grpc_names() {
        assert_eq!(code_name(Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
        assert_eq!(code_name(Code::Unavailable), "UNAVAILABLE");
    }
}
