//! Compiles `proto/cuttle/v1/*.proto` with protox (pure Rust: no system protoc needed)
//! and generates prost types plus tonic clients and servers.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not with env!(): the compiled build script is reused from a
    // shared target directory by clones at other paths.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "cuttle/v1/common.proto",
        "cuttle/v1/mon.proto",
        "cuttle/v1/osd.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    tonic_prost_build::configure()
        .bytes(".cuttle.v1")
        // Sizes the encode buffer to the message first (see src/codec.rs).
        .codec_path("crate::codec::ReservingCodec")
        .compile_fds(fds)?;
    Ok(())
}
