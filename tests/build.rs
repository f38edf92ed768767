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
];

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    // Every fixture with both sides, and one fixture with each side alone.
    let variants = FIXTURES
        .iter()
        .map(|(file, module)| (*file, (*module).to_owned(), true, true))
        .chain([
            (
                "operations.json",
                "operations_server_only".to_owned(),
                true,
                false,
            ),
            (
                "operations.json",
                "operations_client_only".to_owned(),
                false,
                true,
            ),
        ]);
    for (file, module, server, client) in variants {
        let path = fixtures.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let options = swaggersocket_codegen::Options {
            name: Some(module.clone()),
            server,
            client,
            ..Default::default()
        };
        let generated = swaggersocket_codegen::generate(&source, &options)
            .unwrap_or_else(|e| panic!("cannot generate {file}:\n{e}"));
        let target = Path::new(&out_dir).join(format!("{module}.rs"));
        std::fs::write(&target, generated.tokens.to_string())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
    }
}
