//! Messages above `--max-message-bytes` answered RESOURCE_EXHAUSTED, as gRPC's status code
//! guide asks ("a message larger than the configured maximum size"). tonic's codec says
//! OUT_OF_RANGE: for a unary request it answers before any handler runs (the status in
//! the response headers), for a response too large to send it ends the body with the
//! status in the trailers. A layer over the whole server rewrites both; client streams'
//! oversized chunks reach the handlers, which map them with [`is_size_limit`].

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tonic::codegen::http::{HeaderMap, Response};
use tonic::{Code, Status};

/// Whether `status` is tonic's refusal of a message above the size limit.
pub fn is_size_limit(status: &Status) -> bool {
    status.code() == Code::OutOfRange && status.message().contains("message length too large")
}

/// Rewrites a size-limit status in `headers` (response headers or trailers) to
/// RESOURCE_EXHAUSTED, keeping tonic's message (it says the size and the limit).
fn remap(headers: &mut HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    if is_size_limit(&status) {
        // Only fails for a message that cannot be a header, and this one was one.
        let _ = Status::resource_exhausted(status.message()).add_header(headers);
    }
}

/// The response mapping for `tower::util::MapResponseLayer` over the server.
pub fn remap_response(response: Response<tonic::body::Body>) -> Response<tonic::body::Body> {
    let (mut parts, body) = response.into_parts();
    remap(&mut parts.headers);
    Response::from_parts(parts, tonic::body::Body::new(Remapped(body)))
}

/// A response body whose trailers go through [`remap`].
#[derive(Debug)]
struct Remapped(tonic::body::Body);

impl Body for Remapped {
    type Data = <tonic::body::Body as Body>::Data;
    type Error = <tonic::body::Body as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.0).poll_frame(cx).map(|frame| {
            frame.map(|r| {
                r.map(|mut f| {
                    if let Some(trailers) = f.trailers_mut() {
                        remap(trailers);
                    }
                    f
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limit_statuses_become_resource_exhausted_and_others_stay() {
        let tonic_says = Status::out_of_range(
            "Error, decoded message length too large: found 70000 bytes, the limit is: 65536 bytes",
        );
        let mut headers = HeaderMap::new();
        tonic_says.add_header(&mut headers).unwrap();
        remap(&mut headers);
        let s = Status::from_header_map(&headers).unwrap();
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(s.message().contains("found 70000 bytes"), "{s:?}");

        let ours = Status::out_of_range("horizon: out of range");
        let mut headers = HeaderMap::new();
        ours.add_header(&mut headers).unwrap();
        remap(&mut headers);
        assert_eq!(
            Status::from_header_map(&headers).unwrap().code(),
            Code::OutOfRange
        );
        let mut empty = HeaderMap::new();
        remap(&mut empty);
        assert!(empty.is_empty());
    }
}
