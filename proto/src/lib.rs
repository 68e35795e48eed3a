//! The custval.v1 gRPC API: generated types, and the encoded file-descriptor set for
//! server reflection. Conversions to and from model types live in the server.

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_debug_implementations, rust_2018_idioms)]
pub mod v1 {
    tonic::include_proto!("custval.v1");
}

/// Encoded `FileDescriptorSet` of custval.v1, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("custval_v1_descriptor");

/// The canonical upper-case name of a gRPC status code (`RESOURCE_EXHAUSTED`), as the gRPC
/// documentation and grpc-go write it: the server's metrics and the client's messages.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
