//! Optional bearer-token authentication for the custval.v1 services.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::error::ApiError;

/// Accepts every call when no token is configured; otherwise only calls carrying
/// `authorization: Bearer <token>`.
#[derive(Clone)]
pub struct BearerAuth {
    token: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth")
            .field("enabled", &self.token.is_some())
            .finish()
    }
}

impl BearerAuth {
    pub fn new(token: Option<&str>) -> BearerAuth {
        BearerAuth {
            token: token.filter(|t| !t.is_empty()).map(|t| t.as_bytes().into()),
        }
    }
}

/// Compares without an early exit, so the time taken does not reveal the matching prefix.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.token else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given {
            Some(g) if same_bytes(g.as_bytes(), expected) => Ok(request),
            _ => Err(ApiError::Unauthenticated.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: &str) -> Request<()> {
        let mut r = Request::new(());
        r.metadata_mut()
            .insert("authorization", value.parse().unwrap());
        r
    }

    #[test]
    fn tokens_are_checked_when_configured() {
        let mut open = BearerAuth::new(None);
        assert!(open.call(Request::new(())).is_ok());
        let mut auth = BearerAuth::new(Some("s3cret"));
        assert!(auth.call(with_header("Bearer s3cret")).is_ok());
        let denied = auth.call(with_header("Bearer s3cre")).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::Unauthenticated);
        assert!(auth.call(with_header("s3cret")).is_err());
        assert!(auth.call(Request::new(())).is_err());
    }
}
