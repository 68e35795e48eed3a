//! The custval.v1 gRPC API: generated types, and the encoded file-descriptor set for
//! server reflection. Conversions to and from model types live in the server.

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_debug_implementations, rust_2018_idioms)]
pub mod v1 {
    tonic::include_proto!("custval.v1");
}

/// Encoded `FileDescriptorSet` of custval.v1, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("custval_v1_descriptor");
