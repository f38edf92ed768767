//! One operation written in Swagger 2.0, OpenAPI 3.0 and OpenAPI 3.1
//! (`fixtures/same-operation/`) generates the same Rust, character for
//! character: the generations differ in how they say it, not in what.

#![allow(clippy::unwrap_used)]

use std::path::Path;

fn generate(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/same-operation")
        .join(file);
    let generated = swaggersocket_codegen::generate_file(&path, &Default::default())
        .unwrap_or_else(|e| panic!("{file}:\n{e}"));
    assert!(
        generated.warnings.is_empty(),
        "{file}: {:?}",
        generated.warnings
    );
    swaggersocket_codegen::format_file(&generated)
}

#[test]
fn swagger_2_openapi_3_0_and_3_1_generate_the_same_code() {
    let v30 = generate("v30.yaml");
    // The operation, its parameters, body, responses and both schemas are
    // all there (a comparison of two empty modules would prove nothing).
    for needle in [
        "fn put_note",
        "pub struct Note",
        "pub rank: Option<i32>",
        "pub pinned: Option<bool>",
        "pub struct Error",
        "PutNoteResponse",
    ] {
        assert!(v30.contains(needle), "v30 lacks {needle}:\n{v30}");
    }
    for other in ["v2.yaml", "v31.yaml"] {
        let code = generate(other);
        if code != v30 {
            let first = code
                .lines()
                .zip(v30.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{other} differs from v30.yaml from line {}:\n{}\n---- v30.yaml:\n{}",
                first + 1,
                code.lines()
                    .skip(first)
                    .take(8)
                    .collect::<Vec<_>>()
                    .join("\n"),
                v30.lines()
                    .skip(first)
                    .take(8)
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
    }
}
