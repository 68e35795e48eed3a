//! Compiles custval.v1 with a vendored protoc, so a fresh machine needs no system package,
//! and writes the descriptor set that server reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY of intent: build scripts are single-threaded; PROTOC is read by prost-build.
    unsafe_env_set(&protoc);
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
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("custval_v1_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}

#[allow(unsafe_code)]
fn unsafe_env_set(protoc: &std::path::Path) {
    // Edition 2024 marks set_var unsafe because of other threads; none exist here.
    unsafe { std::env::set_var("PROTOC", protoc) };
}
