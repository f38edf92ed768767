use super::{case, sample, Case, Docs, Op};
use serde_json::{json, Value};
use std::path::Path;

fn docs(document: Value) -> Docs {
    Docs::new(Path::new("/nonexistent/corpus-sample/api.json"), document)
}

/// The sample of the schema at `pointer` in `document`.
fn sample_at(document: Value, pointer: &str) -> Value {
    let docs = docs(document);
    let node = docs
        .locate(&docs.root, pointer)
        .expect("the pointer names a schema");
    sample(&docs, node, 0)
}

/// The sample of `schema`, with `root` around it for its `$ref`s.
fn sample_of(mut root: Value, schema: Value) -> Value {
    root["x-schema"] = schema;
    sample_at(root, "#/x-schema")
}

fn request(document: Value, method: &str, path: &str, location: &str) -> Case {
    let docs = docs(document);
    case(
        &docs,
        Op {
            id: "op",
            method,
            path,
            location,
        },
    )
}

fn header<'a>(case: &'a Case, name: &str) -> Option<&'a str> {
    case.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn body(case: &Case) -> &str {
    std::str::from_utf8(&case.body).expect("UTF-8 body")
}

#[test]
fn required_and_properties_from_different_all_of_members() {
    // linode's POST /vpcs body.
    let schema = json!({"allOf": [
        {"required": ["label", "region"]},
        {"properties": {"id": {"type": "integer", "readOnly": true},
                        "label": {"type": "string", "minLength": 3},
                        "region": {"type": "string"}}}
    ]});
    assert_eq!(
        sample_of(json!({}), schema),
        json!({"label": "xxx", "region": "x"})
    );
}

#[test]
fn references_enums_and_formats() {
    let root = json!({"components": {"schemas": {
        "Kind": {"type": "string", "enum": ["a", "b"]},
        "Thing": {"type": "object", "required": ["kind", "at", "n"], "properties": {
            "kind": {"$ref": "#/components/schemas/Kind"},
            "at": {"type": "string", "format": "date-time"},
            "n": {"type": "integer", "minimum": 5}}}
    }}});
    assert_eq!(
        sample_of(root, json!({"$ref": "#/components/schemas/Thing"})),
        json!({"kind": "a", "at": "2020-01-01T00:00:00Z", "n": 5})
    );
}

#[test]
fn one_of_in_all_of_and_discriminator_tags() {
    // cloudflare's workers deployments body and rulesets rules.
    let root = json!({"components": {"schemas": {
        "Percentage": {"type": "object", "required": ["versions"], "properties": {
            "versions": {"type": "array", "items": {"type": "integer"}}}},
        "Block": {"type": "object", "properties": {"action": {"type": "string"}}},
        "Rule": {"oneOf": [{"$ref": "#/components/schemas/Block"}],
                 "discriminator": {"propertyName": "action",
                                   "mapping": {"block": "#/components/schemas/Block"}}}
    }}});
    let deployment = json!({"allOf": [
        {"properties": {"id": {"type": "string", "readOnly": true}}},
        {"oneOf": [{"$ref": "#/components/schemas/Percentage"}]}
    ]});
    assert_eq!(
        sample_of(root.clone(), deployment),
        json!({"versions": [1]})
    );
    let rule = json!({"$ref": "#/components/schemas/Rule"});
    assert_eq!(sample_of(root.clone(), rule), json!({"action": "block"}));
    let in_all_of = json!({"allOf": [{"$ref": "#/components/schemas/Rule"}]});
    assert_eq!(sample_of(root, in_all_of), json!({"action": "block"}));
}

#[test]
fn openapi_31_type_arrays_const_defs_and_tuples() {
    let root = json!({"components": {"schemas": {
        "Model": {
            "type": "object",
            "required": ["name", "kind", "size", "pair", "ratio", "inner", "tags"],
            "properties": {
                "name": {"type": ["string", "null"], "format": "uuid"},
                "kind": {"const": "model"},
                "size": {"type": ["null", "integer"], "exclusiveMinimum": 7},
                "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
                "inner": {"$ref": "#/components/schemas/Model/$defs/Inner"},
                "tags": {"type": "array", "items": {"type": ["string", "null"]}, "minItems": 2}
            },
            "$defs": {"Inner": {"type": "object", "required": ["on"],
                                 "properties": {"on": {"type": ["boolean", "null"]}}}}
        }
    }}});
    assert_eq!(
        sample_at(root, "#/components/schemas/Model"),
        json!({
            "name": "00000000-0000-4000-8000-000000000001",
            "kind": "model",
            "size": 8,
            "pair": ["x", 1],
            "ratio": 0.5,
            "inner": {"on": true},
            "tags": ["x", "x"]
        })
    );
}

#[test]
fn openapi_31_ref_with_siblings_and_nullable_any_of() {
    let root = json!({"components": {"schemas": {
        "Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
    }}});
    // Constraints beside a `$ref` add to it (allOf); documentation does not.
    let extended = json!({
        "$ref": "#/components/schemas/Base",
        "required": ["note"],
        "properties": {"note": {"type": "string"}}
    });
    assert_eq!(
        sample_of(root.clone(), extended),
        json!({"id": 1, "note": "x"})
    );
    let documented = json!({"$ref": "#/components/schemas/Base", "description": "d"});
    assert_eq!(sample_of(root.clone(), documented), json!({"id": 1}));
    // FastAPI's Optional.
    let optional = json!({"anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/Base"}]});
    assert_eq!(sample_of(root, optional), json!({"id": 1}));
}

#[test]
fn discriminated_one_of_takes_the_tag_from_a_const() {
    // openai's 3.1 style: no mapping, the tag a `const` in each variant.
    let root = json!({"components": {"schemas": {
        "Text": {"type": "object", "required": ["text"], "properties": {
            "type": {"type": "string", "const": "input_text"},
            "text": {"type": "string"}}},
        "Image": {"type": "object", "required": ["type"], "properties": {
            "type": {"type": "string", "enum": ["input_image"]}}},
        "Content": {"oneOf": [{"$ref": "#/components/schemas/Text"},
                              {"$ref": "#/components/schemas/Image"}],
                    "discriminator": {"propertyName": "type"}}
    }}});
    assert_eq!(
        sample_at(root, "#/components/schemas/Content"),
        json!({"type": "input_text", "text": "x"})
    );
}

#[test]
fn swagger_20_inline_parameters_base_path_and_collection_formats() {
    let document = json!({
        "swagger": "2.0",
        "basePath": "/v1",
        "parameters": {
            "Limit": {"name": "limit", "in": "query", "required": true,
                      "type": "integer", "minimum": 10}
        },
        "paths": {"/pets/{petId}/{keys}": {
            "parameters": [{"name": "petId", "in": "path", "required": true,
                            "type": "integer", "format": "int64"},
                           {"name": "keys", "in": "path", "required": true, "type": "array",
                            "items": {"type": "string"}, "minItems": 2}],
            "get": {"parameters": [
                {"$ref": "#/parameters/Limit"},
                {"name": "tags", "in": "query", "required": true, "type": "array",
                 "items": {"type": "string", "enum": ["a b"]}, "minItems": 2,
                 "collectionFormat": "pipes"},
                {"name": "ids", "in": "query", "required": true, "type": "array",
                 "items": {"type": "integer"}, "collectionFormat": "multi"},
                {"name": "X-Trace", "in": "header", "required": true, "type": "array",
                 "items": {"type": "string"}, "minItems": 2},
                {"name": "optional", "in": "query", "type": "string"}
            ]}
        }}
    });
    let c = request(
        document,
        "GET",
        "/v1/pets/{petId}/{keys}",
        "#/paths/~1pets~1{petId}~1{keys}/get",
    );
    assert_eq!(c.uri, "/v1/pets/1/x,x?limit=10&tags=a+b%7Ca+b&ids=1");
    assert_eq!(header(&c, "X-Trace"), Some("x,x"));
    assert!(c.body.is_empty());
}

#[test]
fn swagger_20_body_parameter_and_consumes() {
    let document = json!({
        "swagger": "2.0",
        "consumes": ["application/xml", "application/json"],
        "definitions": {"Pet": {"type": "object", "required": ["name"],
                                "properties": {"name": {"type": "string"},
                                               "id": {"type": "integer"}}}},
        "paths": {"/pets": {
            "post": {"parameters": [{"name": "pet", "in": "body", "required": true,
                                     "schema": {"$ref": "#/definitions/Pet"}}]},
            "put": {"consumes": ["text/plain"],
                    "parameters": [{"name": "pet", "in": "body", "required": true,
                                    "schema": {"type": "string"}}]},
            "patch": {"parameters": [{"name": "pet", "in": "body",
                                      "schema": {"$ref": "#/definitions/Pet"}}]}
        }}
    });
    let post = request(document.clone(), "POST", "/pets", "#/paths/~1pets/post");
    assert_eq!(header(&post, "content-type"), Some("application/json"));
    assert_eq!(body(&post), r#"{"name":"x"}"#);
    let put = request(document.clone(), "PUT", "/pets", "#/paths/~1pets/put");
    assert_eq!(header(&put, "content-type"), Some("text/plain"));
    assert_eq!(body(&put), "x");
    // An optional body is left out.
    let patch = request(document, "PATCH", "/pets", "#/paths/~1pets/patch");
    assert!(patch.body.is_empty() && header(&patch, "content-type").is_none());
}

#[test]
fn swagger_20_form_data_urlencoded_and_multipart_with_a_file() {
    let document = json!({
        "swagger": "2.0",
        "paths": {"/pets/{id}": {
            "post": {
                "consumes": ["application/x-www-form-urlencoded", "multipart/form-data"],
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "type": "string"},
                    {"name": "name", "in": "formData", "required": true, "type": "string"},
                    {"name": "tags", "in": "formData", "required": true, "type": "array",
                     "items": {"type": "string"}},
                    {"name": "status", "in": "formData", "type": "string"}
                ]
            },
            "put": {
                "consumes": ["multipart/form-data"],
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "type": "string"},
                    {"name": "note", "in": "formData", "required": true, "type": "integer"},
                    {"name": "file", "in": "formData", "required": true, "type": "file"}
                ]
            }
        }}
    });
    let form = request(
        document.clone(),
        "POST",
        "/pets/{id}",
        "#/paths/~1pets~1%7Bid%7D/post",
    );
    assert_eq!(form.uri, "/pets/x");
    assert_eq!(
        header(&form, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(body(&form), "name=x&tags%5B0%5D=x");
    let upload = request(document, "PUT", "/pets/{id}", "#/paths/~1pets~1{id}/put");
    let content_type = header(&upload, "content-type").unwrap_or_default();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("a multipart content type");
    assert_eq!(
        body(&upload),
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n1\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"corpus.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\ncorpus\r\n--{boundary}--\r\n"
        )
    );
}

#[test]
fn openapi_3_multipart_body_with_binary_properties() {
    let document = json!({
        "openapi": "3.1.0",
        "paths": {"/upload": {"post": {"requestBody": {"required": true, "content": {
            "multipart/form-data": {"schema": {
                "type": "object",
                "required": ["file", "meta", "images", "n"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "meta": {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
                    "images": {"type": "array", "items": {"type": "string", "contentMediaType": "image/png"}},
                    "n": {"type": ["integer", "null"]},
                    "skipped": {"type": "string"}
                }
            }}
        }}}}}
    });
    let c = request(document, "POST", "/upload", "#/paths/~1upload/post");
    let text = body(&c);
    assert!(
        text.contains("name=\"file\"; filename=\"corpus.bin\""),
        "{text}"
    );
    assert!(
        text.contains("name=\"images\"; filename=\"corpus.bin\""),
        "{text}"
    );
    assert!(
        text.contains("name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"a\":\"x\"}\r\n"),
        "{text}"
    );
    assert!(text.contains("name=\"n\"\r\n\r\n1\r\n"), "{text}");
    assert!(!text.contains("skipped"), "{text}");
}

#[test]
fn openapi_32_query_method_item_schema_querystring_and_media_type_refs() {
    let document = json!({
        "openapi": "3.2.0",
        "components": {
            "mediaTypes": {"Events": {"itemSchema": {"$ref": "#/components/schemas/Event"}}},
            "schemas": {"Event": {"type": "object", "required": ["id"],
                                  "properties": {"id": {"type": "integer"}}}}
        },
        "paths": {"/events": {
            "query": {
                "parameters": [{"name": "filter", "in": "querystring", "required": true,
                    "content": {"application/x-www-form-urlencoded": {"schema": {
                        "type": "object", "required": ["kind", "limit"],
                        "properties": {"kind": {"type": "string"}, "limit": {"type": "integer"}}}}}}],
                "requestBody": {"required": true, "content": {
                    "application/jsonl": {"itemSchema": {"$ref": "#/components/schemas/Event"}}}}
            },
            "additionalOperations": {
                "LINK": {"requestBody": {"required": true, "content": {
                    "text/event-stream": {"$ref": "#/components/mediaTypes/Events"}}}},
                "PUBLISH": {"requestBody": {"required": true, "content": {
                    "application/json-seq": {"schema": {"type": "array", "items": {"type": "string"}}}}}}
            }
        }}
    });
    let query = request(
        document.clone(),
        "QUERY",
        "/events",
        "#/paths/~1events/query",
    );
    assert_eq!(query.uri, "/events?kind=x&limit=1");
    assert_eq!(body(&query), "{\"id\":1}\n");
    assert_eq!(header(&query, "content-type"), Some("application/jsonl"));
    let link = request(
        document.clone(),
        "LINK",
        "/events",
        "#/paths/~1events/additionalOperations/LINK",
    );
    assert_eq!(body(&link), "data: {\"id\":1}\n\n");
    let publish = request(
        document,
        "PUBLISH",
        "/events",
        "#/paths/~1events/additionalOperations/PUBLISH",
    );
    assert_eq!(body(&publish), "\u{1e}\"x\"\n");
}

#[test]
fn operations_in_other_files() {
    let dir = std::env::temp_dir().join(format!("corpus-sample-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("paths")).expect("temp dir");
    std::fs::create_dir_all(dir.join("schemas")).expect("temp dir");
    std::fs::write(
        dir.join("paths/pet.yaml"),
        "parameters:\n  - {name: id, in: path, required: true, schema: {type: integer, minimum: 3}}\n\
         put:\n  requestBody:\n    required: true\n    content:\n      application/json:\n        \
         schema: {$ref: '../schemas/pet.yaml#/Pet'}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("schemas/pet.yaml"),
        "Pet:\n  type: object\n  required: [name, owner]\n  properties:\n    name: {type: string}\n    \
         owner: {$ref: 'common.json'}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("schemas/common.json"),
        r#"{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}"#,
    )
    .expect("write");
    let root = json!({"openapi": "3.0.3", "paths": {"/pets/{id}": {"$ref": "paths/pet.yaml"}}});
    let docs = Docs::new(&dir.join("api.json"), root);
    let c = case(
        &docs,
        Op {
            id: "op",
            method: "PUT",
            path: "/pets/{id}",
            location: "paths/pet.yaml#/put",
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(c.uri, "/pets/3");
    assert_eq!(body(&c), r#"{"name":"x","owner":{"id":1}}"#);
}

#[test]
fn yaml_numbers_json_cannot_hold() {
    // openai's `seed`: bounds beyond 64 bits; keys YAML reads as numbers.
    let value =
        super::parse("minimum: -9223372036854776000\nresponses:\n  200: {description: ok}\n")
            .expect("parses");
    assert_eq!(value["minimum"], json!(-9223372036854776000.0));
    assert_eq!(value["responses"]["200"]["description"], json!("ok"));
}
