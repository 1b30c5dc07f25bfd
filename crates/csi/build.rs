//! Compiles the CSI specification's services (proto/csi.proto) into Rust: servers for the
//! driver, clients for its tests and tools.

fn main() {
    println!("cargo:rerun-if-changed=proto/csi.proto");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&["proto/csi.proto"], &["proto"])
        .expect("compiling proto/csi.proto (needs protoc and its well-known types)");
}
