//! An insta snapshot of the formatted generated code of every fixture.
//!
//! After a deliberate change to the generator, review and accept the new
//! output with `cargo insta review` (or `INSTA_UPDATE=always cargo test`).

#![allow(clippy::unwrap_used)]

use std::path::Path;

fn generate(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(file);
    let generated = swaggersocket_codegen::generate_file(&path, &Default::default())
        .unwrap_or_else(|e| panic!("{file}:\n{e}"));
    assert!(
        generated.warnings.is_empty(),
        "{file}: unexpected warnings: {:?}",
        generated.warnings
    );
    let file: syn::File = syn::parse2(generated.tokens).unwrap();
    prettyplease::unparse(&file)
}

#[test]
fn petstore() {
    insta::assert_snapshot!(generate("petstore.yaml"));
}

#[test]
fn petstore_expanded() {
    insta::assert_snapshot!(generate("petstore-expanded.yaml"));
}

#[test]
fn kitchen_sink() {
    insta::assert_snapshot!(generate("kitchen-sink.yaml"));
}

#[test]
fn operations() {
    insta::assert_snapshot!(generate("operations.json"));
}

#[test]
fn names() {
    insta::assert_snapshot!(generate("names.yaml"));
}

#[test]
fn routing() {
    insta::assert_snapshot!(generate("routing.yaml"));
}

#[test]
fn allof_oneof() {
    insta::assert_snapshot!(generate("allof-oneof.yaml"));
}

#[test]
fn form_empty_object() {
    insta::assert_snapshot!(generate("form-empty-object.yaml"));
}

#[test]
fn streaming() {
    insta::assert_snapshot!(generate("streaming.yaml"));
}

#[test]
fn server_only_and_client_only() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/petstore.yaml"),
    )
    .unwrap();
    let server = swaggersocket_codegen::Options {
        client: false,
        ..Default::default()
    };
    let code = swaggersocket_codegen::generate(&source, &server)
        .unwrap()
        .tokens
        .to_string();
    assert!(code.contains("trait Api"));
    assert!(!code.contains("struct ApiClient"));
    assert!(!code.contains("FromResponse"));
    let client = swaggersocket_codegen::Options {
        server: false,
        crate_path: Some("::my_runtime".into()),
        name: Some("pets".into()),
        ..Default::default()
    };
    let code = swaggersocket_codegen::generate(&source, &client)
        .unwrap()
        .tokens
        .to_string();
    assert!(!code.contains("trait Api"));
    assert!(code.contains("struct ApiClient"));
    assert!(code.contains("pub mod pets"));
    assert!(code.contains(":: my_runtime :: codegen"));
    assert!(!code.contains("swaggersocket ::"));
}

#[test]
fn scalar_enums() {
    insta::assert_snapshot!(generate("scalar-enums.yaml"));
}

#[test]
fn read_only_ref() {
    insta::assert_snapshot!(generate("read-only-ref.yaml"));
}

#[test]
fn selection() {
    insta::assert_snapshot!(generate("selection.yaml"));
}

#[test]
fn swagger2() {
    insta::assert_snapshot!(generate("swagger2.yaml"));
}

#[test]
fn oas31() {
    insta::assert_snapshot!(generate("oas31.yaml"));
}

#[test]
fn oas32() {
    insta::assert_snapshot!(generate("oas32.yaml"));
}

#[test]
fn multi_file() {
    insta::assert_snapshot!(generate("multi-file/api.yaml"));
}
