//! The `swaggersocket-gen` binary, run as a user runs it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_swaggersocket-gen"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// What the library produces, formatted as the CLI formats it.
fn library_output(spec: &Path, options: &swaggersocket_codegen::Options) -> String {
    let source = std::fs::read_to_string(spec).unwrap();
    let generated = swaggersocket_codegen::generate(&source, options).unwrap();
    swaggersocket_codegen::format_file(&generated)
}

#[test]
fn generate_writes_what_the_library_generates() {
    for name in ["petstore.yaml", "petstore-expanded.yaml"] {
        let spec = fixture(name);
        let out = run(&["generate", spec.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let expected = library_output(&spec, &Default::default());
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected, "{name}");
    }
}

#[test]
fn generate_options_reach_the_library() {
    let spec = fixture("petstore.yaml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-petstore.rs");
    let out = run(&[
        "generate",
        spec.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
        "--name",
        "pets",
        "--client-only",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&target).unwrap();
    let options = swaggersocket_codegen::Options {
        name: Some("pets".into()),
        server: false,
        ..Default::default()
    };
    assert_eq!(written, library_output(&spec, &options));
    assert!(written.contains("pub mod pets"));
}

#[test]
fn a_selection_of_operations_reaches_the_library_and_typos_are_errors() {
    let spec = fixture("selection.yaml");
    let out = run(&[
        "generate",
        spec.to_str().unwrap(),
        "--tag",
        "pets",
        "--operation",
        "placeOrder",
        "--exclude-tag",
        "admin",
        "--exclude-operation",
        "listPets",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let options = swaggersocket_codegen::Options {
        select: swaggersocket_codegen::Selection {
            tags: vec!["pets".into()],
            operations: vec!["placeOrder".into()],
            exclude_tags: vec!["admin".into()],
            exclude_operations: vec!["listPets".into()],
        },
        ..Default::default()
    };
    let written = String::from_utf8_lossy(&out.stdout);
    assert_eq!(written, library_output(&spec, &options));
    assert!(written.contains("fn place_order") && !written.contains("fn list_pets"));

    let out = run(&["check", spec.to_str().unwrap(), "--tag", "pest"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("#/paths: option tags: no operation has the tag `pest`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_reports_counts() {
    let out = run(&["check", fixture("petstore.yaml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("ok: 3 operations, 3 types, 0 warnings, 0 fallbacks"),
        "{text}"
    );
}

const LOOSE: &str = r#"
openapi: 3.0.0
info: {title: Loose, version: "1"}
paths:
  /x:
    get:
      operationId: getX
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                not: {type: string}
"#;

#[test]
fn warnings_go_to_stderr_and_strict_makes_them_errors() {
    let spec = scratch("loose.yaml", LOOSE.as_bytes());
    let out = run(&["check", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("warning:"), "{err}");
    assert!(
        err.contains("#/paths/~1x/get/responses/200/content/application~1json/schema"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 fallbacks"));

    let out = run(&["generate", "--strict", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error:"), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "nothing is generated in strict mode with warnings"
    );
}

/// Each failure: exit code and a one-line message that says what is wrong.
#[test]
fn errors_have_exit_codes_and_one_line_messages() {
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-spec.yaml");
    let not_yaml = scratch("not-yaml.yaml", b"info: {title: [unclosed\n");
    let binary = scratch("binary.yaml", &[0xff, 0xfe, 0x00, 0x81]);
    let v40 = scratch(
        "v40.yaml",
        b"openapi: 4.0.0\ninfo: {title: T, version: '1'}\npaths: {}\n",
    );
    let v12 = scratch(
        "v12.json",
        br#"{"swagger": "1.2", "info": {"title": "T", "version": "1"}, "paths": {}}"#,
    );
    let dangling = scratch(
        "dangling.yaml",
        b"openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: x\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Nope'}\n",
    );
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["generate", missing.to_str().unwrap()],
            2,
            "cannot read",
        ),
        (
            vec!["check", not_yaml.to_str().unwrap()],
            1,
            "not a valid YAML document",
        ),
        (
            vec!["check", binary.to_str().unwrap()],
            1,
            "not a YAML or JSON document",
        ),
        (
            vec!["check", v40.to_str().unwrap()],
            1,
            "OpenAPI 4.0.0 is not supported",
        ),
        (
            vec!["generate", v12.to_str().unwrap()],
            1,
            "Swagger 1.2 is not supported",
        ),
        (
            vec!["generate", dangling.to_str().unwrap()],
            1,
            "#/paths/~1a/get/responses/200",
        ),
        (vec![], 2, "Usage"),
        (vec!["generate"], 2, "SPEC"),
        (vec!["generate", "x.yaml", "--bogus"], 2, "--bogus"),
        (
            vec!["generate", "x.yaml", "--server-only", "--client-only"],
            2,
            "cannot be used with",
        ),
    ];
    for (args, code, needle) in cases {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        if code == 1 {
            assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        }
    }
}

#[test]
fn help_is_stable() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    insta::assert_snapshot!("help", String::from_utf8(out.stdout).unwrap());
    let out = run(&["generate", "--help"]);
    assert!(out.status.success());
    insta::assert_snapshot!("generate_help", String::from_utf8(out.stdout).unwrap());
}
