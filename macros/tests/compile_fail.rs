//! The macro's errors, as a user sees them (trybuild `.stderr` files).

use std::path::PathBuf;

/// trybuild compiles the cases in a project of its own under
/// `<target>/tests/trybuild/swaggersocket-macros`, which is the
/// `CARGO_MANIFEST_DIR` the macro resolves spec paths against. The broken
/// specs are copied there first.
#[test]
fn macro_errors() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().expect("CARGO_TARGET_TMPDIR has a parent");
    let project = target
        .join("tests")
        .join("trybuild")
        .join("swaggersocket-macros");
    let specs = project.join("ui-specs");
    std::fs::create_dir_all(&specs).expect("create the trybuild spec folder");
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("ui-specs");
    for name in ["bad.yaml", "dangling.yaml"] {
        std::fs::copy(here.join(name), specs.join(name)).expect("copy a broken spec");
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
