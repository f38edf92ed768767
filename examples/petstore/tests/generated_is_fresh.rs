//! The committed CLI output must match what the generator produces now.
#![allow(clippy::unwrap_used)]

fn check(spec: &str, name: &str) {
    let dir = env!("CARGO_MANIFEST_DIR");
    let options = swaggersocket_codegen::Options {
        name: Some(name.into()),
        ..Default::default()
    };
    let generated =
        swaggersocket_codegen::generate_file(format!("{dir}/../../fixtures/{spec}"), &options)
            .unwrap();
    let expected = swaggersocket_codegen::format_file(&generated);
    let committed = std::fs::read_to_string(format!("{dir}/src/generated/{name}.rs")).unwrap();
    assert!(
        committed == expected,
        "src/generated/{name}.rs is stale; regenerate it with\n  \
         cargo run -p swaggersocket-gen -- generate fixtures/{spec} --name {name} -o examples/petstore/src/generated/{name}.rs"
    );
}

#[test]
fn committed_cli_output_is_up_to_date() {
    check("petstore.yaml", "petstore");
}

#[test]
fn committed_multi_file_output_is_up_to_date() {
    check("multi-file/api.yaml", "kennel");
}
