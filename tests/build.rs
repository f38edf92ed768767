//! Generates the code of every fixture into `OUT_DIR`; `src/lib.rs`
//! includes it, so the suite compiles every fixture's generated code.

use std::path::Path;

/// The fixtures whose generated code is compiled (file name, module name).
const FIXTURES: &[(&str, &str)] = &[
    ("petstore.yaml", "petstore"),
    ("petstore-expanded.yaml", "petstore_expanded"),
    ("kitchen-sink.yaml", "kitchen_sink"),
    ("operations.json", "operations"),
    ("names.yaml", "names"),
    ("routing.yaml", "routing"),
    ("allof-oneof.yaml", "allof_oneof"),
    ("form-empty-object.yaml", "form_empty_object"),
    ("streaming.yaml", "streaming"),
    ("scalar-enums.yaml", "scalar_enums"),
    ("read-only-ref.yaml", "read_only_ref"),
    ("selection.yaml", "selection"),
    ("deep-types.yaml", "deep_types"),
    ("swagger2.yaml", "swagger2"),
    ("oas31.yaml", "oas31"),
    ("oas32.yaml", "oas32"),
    ("multi-file/api.yaml", "multi_file"),
    ("same-operation/v2.yaml", "same_v2"),
    ("same-operation/v30.yaml", "same_v30"),
    ("same-operation/v31.yaml", "same_v31"),
];

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    // Every fixture with both sides, one fixture with each side alone, and
    // one with a selection of its operations.
    let both = |module: &str| swaggersocket_codegen::Options {
        name: Some(module.to_owned()),
        ..Default::default()
    };
    let variants = FIXTURES
        .iter()
        .map(|(file, module)| (*file, both(module)))
        .chain([
            (
                "operations.json",
                swaggersocket_codegen::Options {
                    client: false,
                    ..both("operations_server_only")
                },
            ),
            (
                "operations.json",
                swaggersocket_codegen::Options {
                    server: false,
                    ..both("operations_client_only")
                },
            ),
            (
                "selection.yaml",
                swaggersocket_codegen::Options {
                    select: swaggersocket_codegen::Selection {
                        tags: vec!["pets".to_owned()],
                        exclude_tags: vec!["admin".to_owned()],
                        ..Default::default()
                    },
                    ..both("selection_pets")
                },
            ),
        ]);
    for (file, options) in variants {
        let path = fixtures.join(file);
        let generated = swaggersocket_codegen::generate_file(&path, &options)
            .unwrap_or_else(|e| panic!("cannot generate {file}:\n{e}"));
        // Every file read, `$ref`d ones included.
        for read in &generated.files {
            println!("cargo:rerun-if-changed={}", read.display());
        }
        let module = options.name.unwrap_or_default();
        let target = Path::new(&out_dir).join(format!("{module}.rs"));
        std::fs::write(&target, generated.tokens.to_string())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
    }
}
