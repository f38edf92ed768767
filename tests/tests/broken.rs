//! Broken and unsupported specs give errors that name their place in the
//! spec, and never panic.

use swaggersocket_codegen::{generate, Diagnostic, Options};

fn errors(spec: &str) -> Vec<Diagnostic> {
    match generate(spec, &Options::default()) {
        Ok(_) => panic!("expected errors for:\n{spec}"),
        Err(errors) => errors.0,
    }
}

fn one_error(spec: &str) -> Diagnostic {
    let errors = errors(spec);
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap_or_else(|| unreachable!())
}

const HEAD: &str = "openapi: 3.0.3\ninfo: { title: Broken, version: '1' }\n";

#[test]
fn dangling_schema_ref() {
    let spec = format!(
        "{HEAD}paths:
  /pets:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {{ $ref: '#/components/schemas/Pet' }}
"
    );
    let e = one_error(&spec);
    assert_eq!(
        e.pointer,
        "#/paths/~1pets/get/responses/200/content/application~1json/schema/$ref"
    );
    assert_eq!(
        e.message,
        "dangling $ref `#/components/schemas/Pet`: no schema `Pet` in #/components/schemas"
    );
    assert_eq!(
        e.to_string(),
        format!("{}: {}", e.pointer, e.message),
        "Display is `pointer: message`"
    );
}

#[test]
fn dangling_refs_everywhere_are_all_reported() {
    let spec = format!(
        "{HEAD}paths:
  /pets/{{id}}:
    parameters:
      - $ref: '#/components/parameters/Missing'
    post:
      requestBody: {{ $ref: '#/components/requestBodies/Missing' }}
      responses:
        '200': {{ $ref: '#/components/responses/Missing' }}
components:
  schemas:
    Pet:
      type: object
      properties:
        owner: {{ $ref: '#/components/schemas/Owner' }}
"
    );
    let errors = errors(&spec);
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(
        pointers.contains(&"#/components/schemas/Pet/properties/owner/$ref"),
        "{pointers:?}"
    );
    assert!(
        pointers.contains(&"#/paths/~1pets~1{id}/parameters/0/$ref"),
        "{pointers:?}"
    );
    assert!(
        pointers.contains(&"#/paths/~1pets~1{id}/post/requestBody/$ref"),
        "{pointers:?}"
    );
    assert!(
        pointers.contains(&"#/paths/~1pets~1{id}/post/responses/200/$ref"),
        "{pointers:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.pointer == "#/paths/~1pets~1{id}/post"
                && e.message.contains("path parameter `id`")),
        "{errors:?}"
    );
}

#[test]
fn wrong_type() {
    let spec = format!(
        "{HEAD}paths:
  /pets:
    get:
      parameters:
        - name: limit
          in: query
          required: maybe
          schema: {{ type: integer }}
      responses: {{}}
"
    );
    let e = one_error(&spec);
    assert_eq!(e.pointer, "#/paths/~1pets/get/parameters/0/required");
    assert!(
        e.message
            .contains("invalid type: string \"maybe\", expected a boolean"),
        "{e}"
    );
}

#[test]
fn missing_field() {
    let spec = format!(
        "{HEAD}paths:
  /pets:
    get:
      responses:
        '200':
          content: {{}}
"
    );
    let e = one_error(&spec);
    assert_eq!(e.pointer, "#/paths/~1pets/get/responses/200");
    assert!(e.message.contains("missing field `description`"), "{e}");
}

#[test]
fn missing_info() {
    let e = one_error("openapi: 3.0.0\npaths: {}\n");
    assert_eq!(e.pointer, "#");
    assert!(e.message.contains("missing field `info`"), "{e}");
}

#[test]
fn other_versions_are_named() {
    let e = one_error("openapi: 4.0.0\ninfo: { title: x, version: '1' }\npaths: {}\n");
    assert_eq!(
        e.to_string(),
        "#/openapi: OpenAPI 4.0.0 is not supported; this generator reads Swagger 2.0 and \
         OpenAPI 3.0, 3.1 and 3.2"
    );
    let e = one_error(r#"{"swagger": "1.2", "info": {"title": "x", "version": "1"}, "paths": {}}"#);
    assert_eq!(
        e.to_string(),
        "#/swagger: Swagger 1.2 is not supported; this generator reads Swagger 2.0 and \
         OpenAPI 3.0, 3.1 and 3.2"
    );
    let e = one_error("info: { title: x, version: '1' }\npaths: {}\n");
    assert_eq!(e.pointer, "#");
    assert!(e.message.contains("`openapi`"), "{e}");
    // Swagger 2.0 and OpenAPI 3.1 and 3.2 documents load.
    for text in [
        r#"{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}}"#,
        "openapi: 3.1.0\ninfo: { title: x, version: '1' }\npaths: {}\n",
        "openapi: 3.2.0\ninfo: { title: x, version: '1' }\npaths: {}\n",
    ] {
        generate(text, &Options::default()).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn not_a_document() {
    for text in ["", "[1, 2]", "{", "a: [", "just text", "42"] {
        let e = one_error(text);
        assert_eq!(e.pointer, "#", "{text:?}: {e}");
    }
    let e = one_error("{\"openapi\": \"3.0.0\",");
    assert!(e.message.contains("line 1"), "{e}");
}

#[test]
fn bad_options() {
    let spec = format!("{HEAD}paths: {{}}\n");
    let options = Options {
        name: Some("Not An Ident".into()),
        ..Options::default()
    };
    let e = generate(&spec, &options)
        .err()
        .unwrap_or_else(|| unreachable!());
    assert!(e.to_string().contains("not_an_ident"), "{e}");
    let options = Options {
        crate_path: Some("not a path".into()),
        ..Options::default()
    };
    assert!(generate(&spec, &options).is_err());
}

#[test]
fn strict_mode_turns_fallbacks_into_errors() {
    let spec = format!(
        "{HEAD}paths: {{}}
components:
  schemas:
    Odd:
      not: {{ type: string }}
    Mixed:
      enum: [1, a]
"
    );
    let generated = generate(&spec, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generated.stats.fallbacks, 2);
    let pointers: Vec<&str> = generated
        .warnings
        .iter()
        .map(|w| w.pointer.as_str())
        .collect();
    assert_eq!(
        pointers,
        ["#/components/schemas/Odd", "#/components/schemas/Mixed"]
    );
    assert!(generated.warnings[0].message.contains("serde_json::Value"));
    let strict = Options {
        strict: true,
        ..Options::default()
    };
    let errors = generate(&spec, &strict)
        .err()
        .unwrap_or_else(|| unreachable!())
        .0;
    assert_eq!(errors, generated.warnings);
}

#[test]
fn cycles_do_not_hang_or_overflow() {
    let spec = format!(
        "{HEAD}paths: {{}}
components:
  schemas:
    A: {{ $ref: '#/components/schemas/B' }}
    B: {{ $ref: '#/components/schemas/A' }}
    C:
      allOf: [ {{ $ref: '#/components/schemas/D' }} ]
    D:
      allOf: [ {{ $ref: '#/components/schemas/C' }}, {{ type: object, properties: {{ x: {{ type: string }} }} }} ]
"
    );
    // Whatever the outcome, it is a value, not a hang or a crash.
    let _ = generate(&spec, &Options::default());
}

/// Truncated and corrupted versions of every fixture: an error or code,
/// never a panic.
#[test]
fn mangled_fixtures_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let replacements = [
        "", "{", "}", "[", "]", ":", "- ", "'", "\"", "\n", "$ref", "#/", "~1", "null", "-1",
        "1e999", "\u{0}",
    ];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
        let bytes = text.as_bytes();
        for cut in (0..bytes.len()).step_by(bytes.len() / 40 + 1) {
            let _ = generate(&String::from_utf8_lossy(&bytes[..cut]), &Options::default());
        }
        for _ in 0..150 {
            let at = (next() as usize) % bytes.len().max(1);
            let len = (next() as usize) % 8;
            let end = (at + len).min(bytes.len());
            let with = replacements[(next() as usize) % replacements.len()];
            let mut mangled = bytes[..at].to_vec();
            mangled.extend_from_slice(with.as_bytes());
            mangled.extend_from_slice(&bytes[end..]);
            let _ = generate(&String::from_utf8_lossy(&mangled), &Options::default());
        }
    }
}

#[test]
fn wrong_types_in_components() {
    let spec = format!(
        "{HEAD}paths: {{}}
components:
  parameters:
    Limit: {{ name: limit, in: query, required: maybe, schema: {{ type: integer }} }}
"
    );
    let e = one_error(&spec);
    assert_eq!(e.pointer, "#/components/parameters/Limit/required");
    let spec = format!(
        "{HEAD}paths: {{}}
components:
  schemas:
    Pet:
      type: object
      properties:
        name: {{ type: string, maxLength: long }}
"
    );
    let e = one_error(&spec);
    // `$ref`-or-schema values are read as a whole: the pointer names the
    // schema that does not parse.
    assert!(e.pointer.starts_with("#/components/schemas/Pet"), "{e}");
    assert!(
        e.message.contains("long") || e.message.contains("maxLength"),
        "{e}"
    );
}

#[test]
fn a_ref_to_another_file_needs_a_path() {
    let spec = format!(
        "{HEAD}paths: {{}}
components:
  schemas:
    Remote:
      $ref: 'other.yaml#/Pet'
"
    );
    let e = one_error(&spec);
    assert_eq!(e.pointer, "#/components/schemas/Remote/$ref");
    assert!(e.message.contains("given as text without a path"), "{e}");
}

/// Found by `cargo fuzz` (target `generate`): a control character made the
/// YAML reader's error give a byte offset and no line.
#[test]
fn control_character_names_its_line() {
    let e = one_error("openapi: 3.0.3\ninfo:\n  title: Br\u{1}oken\n  version: '1'\npaths: {}\n");
    assert_eq!(e.pointer, "#");
    assert!(
        e.message
            .starts_with("not a valid YAML document: control characters are not allowed"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("(line 3, column 12)"), "{}", e.message);
}

/// Found by `cargo fuzz` (target `generate`): a second YAML document gave
/// an error with no line.
#[test]
fn second_document_names_its_line() {
    let e = one_error(
        "# comment\nopenapi: 3.0.3\ninfo: { title: B, version: '1' }\npaths: {}\n---\nx: 1\n",
    );
    assert!(
        e.message.contains("more than one document"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("(line 5, column 1)"), "{}", e.message);
    let e = one_error("openapi: 3.0.3\n...\n\nagain: 1\n");
    assert!(e.message.ends_with("(line 4, column 1)"), "{}", e.message);
}

/// Found by `cargo fuzz` (target `generate`): a mapping key that is not a
/// scalar gave an error with no place.
#[test]
fn complex_key_names_its_place() {
    let e =
        one_error("openapi: 3.0.3\ninfo: { title: B, version: '1' }\npaths: {}\n? [a, b]\n: {}\n");
    assert_eq!(
        e.message,
        "not a valid YAML document: a mapping key is not a scalar (line 4, column 1)"
    );
    // Nested, the parser places it itself.
    let e =
        one_error("openapi: 3.0.3\ninfo: { title: B, version: '1' }\npaths:\n  ? [a, b]\n  : {}\n");
    assert!(e.message.ends_with("at line 4 column 3"), "{}", e.message);
}

/// Found by `cargo fuzz` (target `generate`): errors the YAML parser
/// places at the very start, or not at all (an unknown anchor), named no
/// line.
#[test]
fn yaml_errors_at_the_start_name_their_line() {
    let e = one_error(",openapi: 3.0.3\n");
    assert!(e.message.ends_with("(line 1, column 1)"), "{}", e.message);
    let e = one_error("*e1: *e\n");
    assert!(e.message.contains("unknown anchor"), "{}", e.message);
    assert!(e.message.contains("(line 1, column "), "{}", e.message);
}

#[test]
fn line_numbers_count_leading_blank_lines() {
    // The errors are on the lines of the file, blank lines before included.
    let e = one_error("\n\n\nopenapi: 3.0.3\ninfo: [unclosed\n");
    assert!(e.message.contains("line 5"), "{}", e.message);
    let e = one_error("\n\n{\"openapi\": \"3.0.3\",\n  \"info\": }\n");
    assert!(e.message.contains("line 4"), "{}", e.message);
}
