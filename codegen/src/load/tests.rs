//! Unit tests of the loaders: versions, `$ref` resolution across pointers
//! and files, and what each generation brings into the model.

use super::{load, Source};
use crate::diag::{Diags, Errors};
use crate::model::{Document, In, Operation, Schema, SchemaId, StatusKey, Type, Version};
use std::path::{Path, PathBuf};

fn load_text(text: &str) -> (Result<Document, Errors>, Diags) {
    let mut diags = Diags::default();
    let result = load(Source { text, path: None }, &mut diags);
    (result, diags)
}

/// Loads a text that must load without errors.
fn ok(text: &str) -> (Document, Diags) {
    let (result, diags) = load_text(text);
    let doc = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(diags.errors.is_empty(), "{:?}", diags.errors);
    (doc, diags)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

fn load_path(path: &Path) -> (Result<Document, Errors>, Diags) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
    let mut diags = Diags::default();
    let result = load(
        Source {
            text: &text,
            path: Some(path),
        },
        &mut diags,
    );
    (result, diags)
}

fn ok_path(path: &Path) -> (Document, Diags) {
    let (result, diags) = load_path(path);
    let doc = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(diags.errors.is_empty(), "{:?}", diags.errors);
    (doc, diags)
}

/// A fresh folder with these files.
fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("swaggersocket-load-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

fn component(doc: &Document, name: &str) -> SchemaId {
    doc.components
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, id)| *id)
        .unwrap_or_else(|| panic!("no component {name}"))
}

fn target(doc: &Document, id: SchemaId) -> SchemaId {
    doc.schema(id)
        .reference
        .as_ref()
        .and_then(|r| r.target)
        .unwrap_or_else(|| panic!("{:?} is not a resolved $ref", doc.schema(id)))
}

fn prop<'d>(doc: &'d Document, id: SchemaId, name: &str) -> (SchemaId, &'d Schema) {
    let id = doc.schema(id).properties[name];
    (id, doc.schema(id))
}

fn op<'d>(doc: &'d Document, id: &str) -> &'d Operation {
    doc.operations
        .iter()
        .chain(&doc.webhooks)
        .find(|o| o.operation_id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no operation {id}"))
}

fn messages(diags: &[crate::diag::Diagnostic]) -> Vec<String> {
    diags.iter().map(ToString::to_string).collect()
}

const V30: &str = "openapi: 3.0.3\ninfo: { title: T, version: '1' }\n";
const V31: &str = "openapi: 3.1.0\ninfo: { title: T, version: '1' }\n";
const V32: &str = "openapi: 3.2.0\ninfo: { title: T, version: '1' }\n";

#[test]
fn versions_dispatch_and_refusals_name_the_version() {
    let cases = [
        (
            "swagger: '2.0'\ninfo: { title: T, version: '1' }\npaths: {}\n",
            Version::Swagger2,
        ),
        (
            "openapi: 3.0.0\ninfo: { title: T, version: '1' }\npaths: {}\n",
            Version::V30,
        ),
        (
            "openapi: 3.1.1\ninfo: { title: T, version: '1' }\npaths: {}\n",
            Version::V31,
        ),
        (
            "openapi: 3.2.0\ninfo: { title: T, version: '1' }\n",
            Version::V32,
        ),
        (
            r#"{"openapi": "3.1.0", "info": {"title": "T", "version": "1"}}"#,
            Version::V31,
        ),
    ];
    for (text, version) in cases {
        let (doc, _) = ok(text);
        assert_eq!(doc.version, Some(version), "{text}");
        assert_eq!(doc.title, "T");
    }
    let refused = [
        (
            "openapi: 4.0.0\ninfo: { title: T, version: '1' }\n",
            "#/openapi: OpenAPI 4.0.0 is not supported",
        ),
        (
            "swagger: '1.2'\n",
            "#/swagger: Swagger 1.2 is not supported",
        ),
        (
            "openapi: 1.0.0\n",
            "#/openapi: OpenAPI 1.0.0 is not supported",
        ),
        ("info: { title: T }\n", "#: missing field `openapi`"),
        // A broken document of another version: the version is named.
        (
            "openapi: 4.0.0\npaths: [\n",
            "#/openapi: OpenAPI 4.0.0 is not supported",
        ),
    ];
    for (text, start) in refused {
        let (result, _) = load_text(text);
        let errors = result.err().unwrap_or_else(|| panic!("{text} loaded"));
        let message = errors.to_string();
        assert!(message.starts_with(start), "{text}: {message}");
        if start.contains("not supported") {
            assert!(
                message.ends_with("this generator reads Swagger 2.0 and OpenAPI 3.0, 3.1 and 3.2")
            );
        }
    }
}

#[test]
fn pointers_unescape_and_reach_deep_into_any_object() {
    let (doc, diags) = ok(&format!(
        "{V30}paths:
  /a:
    get:
      responses:
        '200':
          description: x
          content:
            application/json:
              schema: {{ $ref: '#/components/responses/R/content/application~1json/schema/oneOf/1' }}
components:
  schemas:
    a/b: {{ type: string }}
    t~x: {{ type: integer }}
    sp ace: {{ type: boolean }}
    Refs:
      type: object
      properties:
        slash: {{ $ref: '#/components/schemas/a~1b' }}
        tilde: {{ $ref: '#/components/schemas/t~0x' }}
        space: {{ $ref: '#/components/schemas/sp%20ace' }}
        item: {{ $ref: '#/paths/~1a/get/responses/200/content/application~1json/schema' }}
  responses:
    R:
      description: r
      content:
        application/json:
          schema:
            oneOf: [ {{ type: string }}, {{ type: number }} ]
"
    ));
    assert!(diags.warnings.is_empty(), "{:?}", diags.warnings);
    let refs = component(&doc, "Refs");
    assert_eq!(
        target(&doc, prop(&doc, refs, "slash").0),
        component(&doc, "a/b")
    );
    assert_eq!(
        target(&doc, prop(&doc, refs, "tilde").0),
        component(&doc, "t~x")
    );
    assert_eq!(
        target(&doc, prop(&doc, refs, "space").0),
        component(&doc, "sp ace")
    );
    let deep = doc.schema(target(
        &doc,
        doc.operations[0].responses[0].content[0]
            .schema
            .unwrap_or(0),
    ));
    assert_eq!(
        deep.loc,
        "#/components/responses/R/content/application~1json/schema/oneOf/1"
    );
    assert_eq!(deep.ty, Some(Type::Number));
    // A $ref to a $ref: the node is the one at that place.
    let item = target(&doc, prop(&doc, refs, "item").0);
    assert_eq!(
        doc.schema(item).loc,
        "#/paths/~1a/get/responses/200/content/application~1json/schema"
    );
    assert_eq!(doc.deref(item), target(&doc, item));
}

#[test]
fn one_node_per_place_and_cycles_are_ids() {
    let (doc, _) = ok(&format!(
        "{V30}paths: {{}}
components:
  schemas:
    A:
      type: object
      properties:
        b: {{ $ref: '#/components/schemas/B' }}
        b2: {{ $ref: '#/components/schemas/B' }}
    B:
      type: object
      properties:
        a: {{ $ref: '#/components/schemas/A' }}
"
    ));
    let (a, b) = (component(&doc, "A"), component(&doc, "B"));
    assert_eq!(target(&doc, prop(&doc, a, "b").0), b);
    assert_eq!(target(&doc, prop(&doc, a, "b2").0), b);
    assert_eq!(target(&doc, prop(&doc, b, "a").0), a);
    let names: Vec<&str> = doc.components.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["A", "B"], "document order");
}

#[test]
fn dangling_refs_are_errors_at_their_pointer() {
    let (result, diags) = load_text(&format!(
        "{V30}paths:
  /a:
    get:
      parameters: [ {{ $ref: '#/components/parameters/Nope' }} ]
      responses:
        '200': {{ $ref: '#/components/responses/Nope' }}
components:
  schemas:
    A: {{ $ref: '#/components/schemas/Nope' }}
    B: {{ $ref: '#/components/schemas/A/properties/x' }}
"
    ));
    assert!(result.is_ok());
    assert_eq!(
        messages(&diags.errors),
        [
            "#/components/schemas/A/$ref: dangling $ref `#/components/schemas/Nope`: no schema `Nope` in #/components/schemas",
            "#/components/schemas/B/$ref: dangling $ref `#/components/schemas/A/properties/x`: no `properties` in #/components/schemas/A",
            "#/paths/~1a/get/parameters/0/$ref: dangling $ref `#/components/parameters/Nope`: no parameter `Nope` in #/components/parameters",
            "#/paths/~1a/get/responses/200/$ref: dangling $ref `#/components/responses/Nope`: no response `Nope` in #/components/responses",
        ]
    );
}

#[test]
fn urls_and_files_without_a_path_are_errors() {
    let (_, diags) = load_text(&format!(
        "{V31}components:
  schemas:
    Web: {{ $ref: 'https://example.com/pet.yaml#/Pet' }}
    File: {{ $ref: 'pet.yaml' }}
"
    ));
    let errors = messages(&diags.errors);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "#/components/schemas/Web/$ref: $ref `https://example.com/pet.yaml#/Pet` is a URL"
        ),
        "{errors:?}"
    );
    assert!(errors[0].contains("not fetched"));
    assert!(
        errors[1].starts_with("#/components/schemas/File/$ref: $ref `pet.yaml` names another file")
    );
    assert!(errors[1].contains("given as text without a path"));
}

#[test]
fn multi_file_fixture() {
    let root = fixture("multi-file/api.yaml");
    let (doc, diags) = ok_path(&root);
    assert!(diags.warnings.is_empty(), "{:?}", diags.warnings);
    // Every file read, the root first, once each.
    assert_eq!(doc.files[0], root);
    let mut rest: Vec<String> = doc.files[1..]
        .iter()
        .map(|f| {
            let f = std::fs::canonicalize(f).unwrap_or_else(|e| panic!("{e}"));
            let dir =
                std::fs::canonicalize(fixture("multi-file")).unwrap_or_else(|e| panic!("{e}"));
            f.strip_prefix(dir).unwrap_or(&f).display().to_string()
        })
        .collect();
    rest.sort();
    assert_eq!(
        rest,
        [
            "common.yaml",
            "paths/pets.yaml",
            "schemas/owner.yaml",
            "schemas/pet.yaml"
        ]
    );
    // A path item in another file: the operations are located there.
    let list = op(&doc, "listPets");
    assert_eq!(list.loc, "paths/pets.yaml#/get");
    assert_eq!((list.method.as_str(), list.path.as_str()), ("GET", "/pets"));
    assert_eq!(list.parameters[0].loc, "paths/pets.yaml#/get/parameters/0");
    // The same file named from two folders is one node.
    let pet = target(&doc, component(&doc, "Pet"));
    assert_eq!(doc.schema(pet).loc, "schemas/pet.yaml#");
    let items = doc
        .schema(list.responses[0].content[0].schema.unwrap_or(0))
        .items
        .unwrap_or(0);
    assert_eq!(target(&doc, items), pet);
    // Cycles across files.
    let owner = target(&doc, prop(&doc, pet, "owner").0);
    assert_eq!(owner, target(&doc, component(&doc, "Owner")));
    let pets = prop(&doc, owner, "pets").1.items.unwrap_or(0);
    assert_eq!(target(&doc, pets), pet);
    // `#` in another file is that file.
    let kind = target(&doc, prop(&doc, pet, "kind").0);
    assert_eq!(doc.schema(kind).loc, "schemas/pet.yaml#/$defs/Kind");
    let get = op(&doc, "getPet");
    assert_eq!(get.parameters[0].loc, "common.yaml#/parameters/PetId");
    let error = &get.responses[1];
    assert_eq!(error.status, StatusKey::Default);
    assert_eq!(
        (error.key_loc.as_str(), error.loc.as_str()),
        (
            "#/paths/~1pets~1{petId}/get/responses/default",
            "common.yaml#/responses/Error"
        )
    );
    let error_schema = target(&doc, error.content[0].schema.unwrap_or(0));
    assert_eq!(doc.schema(error_schema).loc, "common.yaml#/schemas/Error");
}

#[test]
fn missing_files_name_the_referring_file_and_pointer() {
    let dir = folder(
        "missing",
        &[
            ("api.yaml", "openapi: 3.1.0\ninfo: { title: T, version: '1' }\ncomponents:\n  schemas:\n    A: { $ref: 'sub/a.yaml' }\n    B: { $ref: 'nope.yaml#/B' }\n"),
            ("sub/a.yaml", "type: object\nproperties:\n  c: { $ref: '../gone.yaml' }\n  d: { $ref: 'a.yaml#/properties/c' }\n"),
        ],
    );
    let (result, diags) = load_path(&dir.join("api.yaml"));
    assert!(result.is_ok());
    let errors: Vec<(&str, &str)> = diags
        .errors
        .iter()
        .map(|d| (d.pointer.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|(p, m)| *p == "#/components/schemas/B/$ref"
                && m.starts_with("cannot read `nope.yaml`")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|(p, m)| *p == "sub/a.yaml#/properties/c/$ref"
                && m.starts_with("cannot read `gone.yaml`")),
        "{errors:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_ref_into_the_wrong_section_with_the_right_shape_is_accepted_with_a_warning() {
    let (doc, diags) = ok(&format!(
        "{V30}paths:
  /a:
    post:
      responses:
        '200': {{ $ref: '#/components/requestBodies/Pet' }}
components:
  requestBodies:
    Pet:
      description: a pet
      content:
        application/json:
          schema: {{ type: string }}
"
    ));
    let response = &doc.operations[0].responses[0];
    assert_eq!(response.description.as_deref(), Some("a pet"));
    assert_eq!(response.content.len(), 1);
    assert_eq!(response.loc, "#/components/requestBodies/Pet");
    assert_eq!(
        messages(&diags.warnings),
        ["#/paths/~1a/post/responses/200/$ref: $ref `#/components/requestBodies/Pet` names a request body, where a response is expected; read as a response since it has the shape of one"]
    );
}

#[test]
fn path_item_parameters_are_merged_and_overridden() {
    let (doc, _) = ok(&format!(
        "{V30}paths:
  /a/{{id}}:
    parameters:
      - {{ name: id, in: path, required: true, schema: {{ type: string }} }}
      - {{ name: q, in: query, schema: {{ type: string }} }}
    get:
      parameters:
        - {{ name: q, in: query, schema: {{ type: integer }} }}
        - {{ name: q, in: header, schema: {{ type: integer }} }}
      responses: {{}}
"
    ));
    let params: Vec<(&str, In, &str)> = doc.operations[0]
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.location, p.loc.as_str()))
        .collect();
    assert_eq!(
        params,
        [
            ("q", In::Query, "#/paths/~1a~1{id}/get/parameters/0"),
            ("q", In::Header, "#/paths/~1a~1{id}/get/parameters/1"),
            ("id", In::Path, "#/paths/~1a~1{id}/parameters/0"),
        ]
    );
}

#[test]
fn callbacks_are_webhooks() {
    let (doc, _) = ok(&format!(
        "{V30}paths:
  /subscribe:
    post:
      operationId: subscribe
      responses: {{ '201': {{ description: ok }} }}
      callbacks:
        onEvent:
          '{{$request.body#/url}}':
            post:
              operationId: eventHappened
              requestBody:
                content:
                  application/json:
                    schema: {{ type: object }}
              responses: {{ '204': {{ description: seen }} }}
"
    ));
    assert_eq!(doc.operations.len(), 1);
    let hook = op(&doc, "eventHappened");
    assert_eq!(
        (hook.method.as_str(), hook.path.as_str()),
        ("POST", "/onEvent")
    );
    assert_eq!(
        hook.loc,
        "#/paths/~1subscribe/post/callbacks/onEvent/{$request.body#~1url}/post"
    );
    assert_eq!(doc.webhooks.len(), 1);
}

#[test]
fn oas31_fixture() {
    let (doc, diags) = ok_path(&fixture("oas31.yaml"));
    assert!(diags.warnings.is_empty(), "{:?}", messages(&diags.warnings));
    // A type array with "null": nullable.
    let list = op(&doc, "listShapes");
    let min_area = doc.schema(list.parameters[0].schema.unwrap_or(0));
    assert_eq!(
        (min_area.ty, min_area.nullable, min_area.asserts),
        (Some(Type::Number), true, true)
    );
    // const: a one-value enumeration.
    let circle = component(&doc, "Circle");
    let kind = prop(&doc, circle, "kind").1;
    assert_eq!(kind.enumeration, Some(vec![serde_json::json!("circle")]));
    // $ref with documentation beside it: a plain reference that keeps it.
    let square = component(&doc, "Square");
    let corner = prop(&doc, square, "corner").1;
    assert!(corner.is_plain_ref());
    assert_eq!(corner.description.as_deref(), Some("the top-left corner"));
    // $ref with a constraint beside it: allOf [the ref, the rest].
    let label = component(&doc, "Label");
    let owner = prop(&doc, label, "owner").1;
    assert!(owner.reference.is_none());
    let [reference, rest] = owner.all_of[..] else {
        panic!("{owner:?}")
    };
    assert_eq!(target(&doc, reference), component(&doc, "Owner"));
    assert_eq!(doc.schema(rest).required, ["name"]);
    // Several types: an anyOf of one schema per type.
    let value = prop(&doc, label, "value").1;
    let types: Vec<Option<Type>> = value.any_of.iter().map(|id| doc.schema(*id).ty).collect();
    assert_eq!(types, [Some(Type::String), Some(Type::Integer)]);
    assert_eq!(
        prop(&doc, label, "data").1.content_encoding.as_deref(),
        Some("base64")
    );
    // prefixItems with `items: false`: a tuple.
    let point = doc.schema(component(&doc, "Point"));
    assert_eq!((point.prefix_items.len(), point.items), (2, None));
    // $defs anywhere.
    let tint = target(&doc, prop(&doc, square, "tint").0);
    assert_eq!(doc.schema(tint).loc, "#/$defs/Tint");
    // Webhooks.
    let hook = op(&doc, "shapeAdded");
    assert_eq!(
        (hook.method.as_str(), hook.path.as_str()),
        ("POST", "/shapeAdded")
    );
    assert_eq!(hook.loc, "#/webhooks/shapeAdded/post");
    assert_eq!(doc.webhooks.len(), 1);
}

#[test]
fn type_arrays_split_the_keywords_by_type() {
    let (doc, _) = ok(&format!(
        "{V31}components:
  schemas:
    Mixed:
      type: [string, array, 'null']
      format: date
      items: {{ type: integer }}
      enum: [a, [1], null]
      description: one or many
    Only: {{ type: ['null'] }}
"
    ));
    let mixed = doc.schema(component(&doc, "Mixed"));
    assert!(mixed.nullable);
    assert_eq!(mixed.description.as_deref(), Some("one or many"));
    assert_eq!(mixed.ty, None);
    let [string, array] = mixed.any_of[..] else {
        panic!("{mixed:?}")
    };
    let (string, array) = (doc.schema(string), doc.schema(array));
    assert_eq!(
        (string.ty, string.format.as_deref(), string.items),
        (Some(Type::String), Some("date"), None)
    );
    assert_eq!(string.enumeration, Some(vec![serde_json::json!("a")]));
    assert_eq!(
        (array.ty, array.format.as_deref()),
        (Some(Type::Array), None)
    );
    assert!(array.items.is_some());
    let only = doc.schema(component(&doc, "Only"));
    assert_eq!((only.ty, only.nullable), (Some(Type::Null), true));
}

#[test]
fn json_schema_oddities_are_warned_not_fatal() {
    let (doc, diags) = ok(&format!(
        "{V31}jsonSchemaDialect: https://example.com/my-dialect
components:
  schemas:
    Dyn: {{ $dynamicRef: '#meta' }}
    Anchored: {{ $ref: '#pet' }}
    Wrong: {{ type: string, required: true }}
"
    ));
    let pointers: Vec<&str> = diags.warnings.iter().map(|w| w.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "#/jsonSchemaDialect",
            "#/components/schemas/Dyn/$dynamicRef",
            "#/components/schemas/Anchored/$ref",
            "#/components/schemas/Wrong/required",
        ]
    );
    assert!(doc.schema(component(&doc, "Dyn")).is_decoration());
    // An unknown type is an error in 3.x.
    let (_, diags) = load_text(&format!(
        "{V31}components:\n  schemas:\n    U: {{ type: str }}\n"
    ));
    assert_eq!(
        messages(&diags.errors),
        ["#/components/schemas/U/type: unknown type `str`"]
    );
}

#[test]
fn oas32_fixture() {
    let (doc, diags) = ok_path(&fixture("oas32.yaml"));
    assert!(diags.warnings.is_empty(), "{:?}", messages(&diags.warnings));
    let search = op(&doc, "searchReadings");
    assert_eq!(
        (search.method.as_str(), search.loc.as_str()),
        ("QUERY", "#/paths/~1readings/query")
    );
    // A response without a description.
    assert_eq!(search.responses[0].description, None);
    let link = op(&doc, "linkSensor");
    assert_eq!(link.method, "LINK");
    assert_eq!(
        link.loc,
        "#/paths/~1sensors~1{id}/additionalOperations/LINK"
    );
    // The path item's parameters apply to additional operations too.
    assert!(link
        .parameters
        .iter()
        .any(|p| p.name == "id" && p.location == In::Path));
    let reading = component(&doc, "Reading");
    let upload = op(&doc, "uploadReadings");
    let body = upload.request_body.as_ref().map(|b| &b.content[0]);
    assert_eq!(
        body.and_then(|m| m.item_schema).map(|id| target(&doc, id)),
        Some(reading)
    );
    let live = &op(&doc, "liveReadings").responses[0].content[0];
    assert_eq!(live.media, "text/event-stream");
    assert_eq!(live.item_schema.map(|id| target(&doc, id)), Some(reading));
    // A media type that is a $ref to components/mediaTypes.
    let export = op(&doc, "exportReadings");
    let lines = &export.responses[0].content[0];
    assert_eq!(lines.media, "application/x-ndjson");
    assert_eq!(lines.loc, "#/components/mediaTypes/ReadingLines");
    assert_eq!(lines.item_schema.map(|id| target(&doc, id)), Some(reading));
    let query = &export.parameters[0];
    assert_eq!(query.location, In::QueryString);
    assert!(query
        .content
        .as_ref()
        .is_some_and(|c| c.media == "application/x-www-form-urlencoded"));
    // defaultMapping is accepted; the mapping is read.
    let sensor = doc.schema(component(&doc, "Sensor"));
    let mapping = sensor.discriminator.as_ref().map(|d| d.mapping.len());
    assert_eq!(mapping, Some(2));
}

#[test]
fn self_uri_maps_urls_to_files_beside_the_root() {
    let dir = folder(
        "self",
        &[
            ("api.yaml", "openapi: 3.2.0\n$self: https://example.com/apis/api.yaml\ninfo: { title: T, version: '1' }\ncomponents:\n  schemas:\n    Pet: { $ref: 'https://example.com/apis/pet.yaml' }\n    Me: { $ref: 'https://example.com/apis/api.yaml#/components/schemas/Pet' }\n    Far: { $ref: 'https://elsewhere.com/x.yaml' }\n"),
            ("pet.yaml", "type: string\n"),
        ],
    );
    let (result, diags) = load_path(&dir.join("api.yaml"));
    let doc = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        doc.schema(target(&doc, component(&doc, "Pet"))).loc,
        "pet.yaml#"
    );
    assert_eq!(target(&doc, component(&doc, "Me")), component(&doc, "Pet"));
    assert_eq!(messages(&diags.errors).len(), 1);
    assert_eq!(diags.errors[0].pointer, "#/components/schemas/Far/$ref");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn responses_without_description_are_warned_before_3_2() {
    let paths = "paths:\n  /a:\n    get:\n      responses:\n        '2XX': { content: {} }\n        '404': {}\n";
    let (doc, diags) = ok(&format!("{V32}{paths}"));
    assert!(diags.warnings.is_empty());
    let statuses: Vec<StatusKey> = doc.operations[0]
        .responses
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [StatusKey::Range(2), StatusKey::Code(404)]);
    let (_, diags) = ok(&format!("{V31}{paths}"));
    assert_eq!(diags.warnings.len(), 2);
    assert_eq!(diags.warnings[0].pointer, "#/paths/~1a/get/responses/2XX");
}

#[test]
fn swagger2_fixture() {
    use crate::model::Style;
    let (doc, diags) = ok_path(&fixture("swagger2.yaml"));
    assert!(diags.warnings.is_empty(), "{:?}", messages(&diags.warnings));
    assert_eq!(doc.base_path, "/api/v2");
    let names: Vec<&str> = doc.components.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Item", "Photo", "Error"]);
    // collectionFormat → style and explode.
    let list = op(&doc, "listItems");
    let styles: Vec<(&str, Option<Style>, Option<bool>)> = list
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.style, p.explode))
        .collect();
    assert_eq!(
        styles,
        [
            ("tags", Some(Style::Form), Some(false)),
            ("ids", Some(Style::Form), Some(true)),
            ("words", Some(Style::SpaceDelimited), Some(false)),
            ("codes", Some(Style::PipeDelimited), Some(false)),
            ("fields", Some(Style::TabDelimited), Some(false)),
            ("X-Trace", Some(Style::Simple), Some(false)),
            ("limit", None, None),
        ]
    );
    // The schema of a parameter is the parameter itself.
    let ids = doc.schema(list.parameters[1].schema.unwrap_or(0));
    assert_eq!(
        (ids.ty, ids.loc.as_str()),
        (Some(Type::Array), "#/paths/~1items/get/parameters/1")
    );
    let limit = &list.parameters[6];
    assert_eq!(limit.loc, "#/parameters/Limit");
    assert_eq!(limit.description.as_deref(), Some("at most this many"));
    let limit = doc.schema(limit.schema.unwrap_or(0));
    assert_eq!(
        (limit.ty, limit.format.as_deref()),
        (Some(Type::Integer), Some("int32"))
    );
    assert_eq!(limit.default, Some(serde_json::json!(20)));
    // Responses: produces gives the media types; headers are inline.
    let ok = &list.responses[0];
    assert_eq!(ok.content[0].media, "application/json");
    assert_eq!(ok.headers[0].name, "X-Total");
    let total = doc.schema(ok.headers[0].schema.unwrap_or(0));
    assert_eq!(
        (total.ty, total.format.as_deref()),
        (Some(Type::Integer), Some("int32"))
    );
    let error = &list.responses[1];
    assert_eq!(
        (error.status, error.loc.as_str()),
        (StatusKey::Default, "#/responses/Error")
    );
    // The body parameter.
    let create = op(&doc, "createItem");
    let body = create
        .request_body
        .as_ref()
        .unwrap_or_else(|| panic!("no body"));
    assert!(body.required);
    assert_eq!(body.loc, "#/paths/~1items/post/parameters/0");
    assert_eq!(body.content[0].media, "application/json");
    assert_eq!(
        target(&doc, body.content[0].schema.unwrap_or(0)),
        component(&doc, "Item")
    );
    assert!(create.parameters.is_empty());
    // A response without a schema has no content.
    assert!(create.responses[1].content.is_empty());
    // formData: a URL-encoded form, or multipart with a file.
    let rename = op(&doc, "renameItem");
    let form = &rename
        .request_body
        .as_ref()
        .unwrap_or_else(|| panic!("no form"))
        .content[0];
    assert_eq!(form.media, "application/x-www-form-urlencoded");
    let object = doc.schema(form.schema.unwrap_or(0));
    assert_eq!(object.ty, Some(Type::Object));
    assert_eq!(
        object.properties.keys().collect::<Vec<_>>(),
        ["name", "notify"]
    );
    assert_eq!(object.required, ["name"]);
    assert_eq!(rename.parameters.len(), 1);
    let upload = op(&doc, "uploadPhoto");
    let multipart = &upload
        .request_body
        .as_ref()
        .unwrap_or_else(|| panic!("no form"))
        .content[0];
    assert_eq!(multipart.media, "multipart/form-data");
    let photo = prop(&doc, multipart.schema.unwrap_or(0), "photo").1;
    assert_eq!(
        (photo.ty, photo.format.as_deref()),
        (Some(Type::String), Some("binary"))
    );
    // Path item parameters apply; the operation's own come first.
    let get = op(&doc, "getItem");
    assert_eq!(get.parameters[0].loc, "#/paths/~1items~1{id}/parameters/0");
    // x-nullable and x-go-name.
    let item = component(&doc, "Item");
    assert!(prop(&doc, item, "price").1.nullable);
    assert_eq!(
        prop(&doc, item, "name").1.name_hint.as_deref(),
        Some("Title")
    );
    // produces per operation.
    let batch = op(&doc, "getBatch");
    let media: Vec<&str> = batch.responses[0]
        .content
        .iter()
        .map(|m| m.media.as_str())
        .collect();
    assert_eq!(media, ["application/json", "text/plain"]);
    assert_eq!(batch.parameters[0].style, Some(Style::PipeDelimited));
}

#[test]
fn swagger2_files_base_paths_and_forms() {
    let (doc, _) = ok("swagger: '2.0'
info: { title: T, version: '1' }
basePath: /
paths:
  /download:
    get:
      operationId: download
      responses:
        200: { description: the file, schema: { type: file } }
  /form:
    post:
      operationId: form
      parameters:
        - { name: file, in: formData, type: file }
        - { name: note, in: formData, type: string }
      responses:
        default: { description: done }
  /body:
    put:
      operationId: body
      consumes: [application/json, application/xml]
      parameters:
        - { name: b, in: body, schema: { type: object } }
      responses:
        204: { description: done }
");
    assert_eq!(doc.base_path, "");
    let download = &op(&doc, "download").responses[0];
    assert_eq!(download.status, StatusKey::Code(200));
    assert_eq!(download.content[0].media, "application/octet-stream");
    let file = doc.schema(download.content[0].schema.unwrap_or(0));
    assert_eq!(
        (file.ty, file.format.as_deref()),
        (Some(Type::String), Some("binary"))
    );
    // A file parameter makes the form multipart whatever consumes says.
    let form = op(&doc, "form")
        .request_body
        .as_ref()
        .map(|b| b.content[0].media.as_str());
    assert_eq!(form, Some("multipart/form-data"));
    // One media type per consumes entry.
    let body = op(&doc, "body")
        .request_body
        .as_ref()
        .map(|b| b.content.len());
    assert_eq!(body, Some(2));
}

#[test]
fn swagger2_is_lenient_where_documents_are_sloppy() {
    let (doc, diags) = ok("swagger: '2.0'
info: { title: T, version: '1' }
paths: {}
definitions:
  A:
    type: object
    properties:
      b: { type: [string, 'null'] }
      c: { type: string, required: true }
      d: { type: strng }
");
    let a = component(&doc, "A");
    let b = prop(&doc, a, "b").1;
    assert_eq!((b.ty, b.nullable), (Some(Type::String), true));
    let pointers: Vec<&str> = diags.warnings.iter().map(|w| w.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "#/definitions/A/properties/b/type",
            "#/definitions/A/properties/c/required",
            "#/definitions/A/properties/d/type",
        ]
    );
}

/// Every document of the shared corpus (`../shared/specs` beside the
/// repository, or `$SWAGGERSOCKET_SPECS`) loads without errors. Run with
/// `cargo test --release -p swaggersocket-codegen corpus_loads -- --ignored --nocapture`.
#[test]
#[ignore = "needs the shared corpus"]
fn corpus_loads() {
    let dir = std::env::var_os("SWAGGERSOCKET_SPECS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs"),
        PathBuf::from,
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "yaml" | "yml")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failed = Vec::new();
    for path in &files {
        let start = std::time::Instant::now();
        let (result, diags) = load_path(path);
        let elapsed = start.elapsed();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        match result {
            Ok(doc) => {
                println!(
                    "{name:40} {:?} {:>5} ops {:>3} hooks {:>6} schemas {:>4} warnings {:>4} errors {:>7.1} ms",
                    doc.version.unwrap_or(Version::V30),
                    doc.operations.len(),
                    doc.webhooks.len(),
                    doc.schemas.len(),
                    diags.warnings.len(),
                    diags.errors.len(),
                    elapsed.as_secs_f64() * 1000.0
                );
                for e in diags.errors.iter().take(5) {
                    println!("    error {e}");
                }
                if !diags.errors.is_empty() {
                    failed.push(name.to_string());
                }
            }
            Err(e) => {
                println!("{name:40} FAILED: {e}");
                failed.push(name.to_string());
            }
        }
    }
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn yaml_merge_keys_are_merged() {
    // An anchor merged into a response (`<<: *ok`), and a list of two
    // merged into a schema, whose own keys win.
    let (doc, diags) = ok("openapi: 3.1.0
info: { title: T, version: '1' }
x-ok: &ok
  description: fine
x-id: &id
  properties: { id: { type: integer } }
x-name: &name
  type: string
  properties: { name: { type: string } }
paths:
  /a:
    get:
      responses:
        '200':
          <<: *ok
          content:
            application/json:
              schema:
                <<: [*id, *name]
                type: object
");
    assert!(diags.warnings.is_empty(), "{:?}", diags.warnings);
    let response = &doc.operations[0].responses[0];
    assert_eq!(response.description.as_deref(), Some("fine"));
    let schema = doc.schema(response.content[0].schema.unwrap_or_default());
    assert_eq!(schema.ty, Some(Type::Object));
    let names: Vec<&str> = schema.properties.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["id"],
        "the first merged mapping wins over the second"
    );
}
