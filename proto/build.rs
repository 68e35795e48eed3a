//! Compiles custval.v1 with a vendored protoc, so a fresh machine needs no system package,
//! and writes the descriptor set that server reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "proto/custval/v1/common.proto",
        "proto/custval/v1/customers.proto",
        "proto/custval/v1/models.proto",
        "proto/custval/v1/scoring.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    // The vendored protoc goes to prost-build through its configuration, not through the
    // PROTOC environment variable (setting that is `unsafe` in edition 2024).
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("custval_v1_descriptor.bin"))
        .compile_with_config(config, &protos, &["proto"])?;
    Ok(())
}
