//! Compiles the gRPC face's contracts into Rust with protox, a protobuf compiler written
//! in Rust, so building needs no `protoc`: `proto/scalekit/v1/clients/clients.proto`
//! (Scalekit's, from its SDK) and `proto/tokenmint/v1/credentials.proto` (tokenmint's own,
//! for credentials of every kind).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/scalekit/v1/clients/clients.proto",
        "proto/tokenmint/v1/credentials.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
