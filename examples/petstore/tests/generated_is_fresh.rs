//! The committed CLI output must match what the generator produces now.
#![allow(clippy::unwrap_used)]

#[test]
fn committed_cli_output_is_up_to_date() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let spec = std::fs::read_to_string(format!("{dir}/../../fixtures/petstore.yaml")).unwrap();
    let options = swaggersocket_codegen::Options {
        name: Some("petstore".into()),
        ..Default::default()
    };
    let generated = swaggersocket_codegen::generate(&spec, &options).unwrap();
    let expected = swaggersocket_codegen::format_file(&generated);
    let committed = std::fs::read_to_string(format!("{dir}/src/generated/petstore.rs")).unwrap();
    assert!(
        committed == expected,
        "src/generated/petstore.rs is stale; regenerate it with\n  \
         cargo run -p swaggersocket-gen -- generate fixtures/petstore.yaml --name petstore -o examples/petstore/src/generated/petstore.rs"
    );
}
