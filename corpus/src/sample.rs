//! Minimal valid requests: a concrete path, the required parameters and the
//! required body of an operation, with values made up from their schemas.

use serde_json::{Map, Value};
use swaggersocket_codegen::OperationInfo;

/// One request of the routing test.
#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) id: String,
    pub(crate) method: &'static str,
    pub(crate) uri: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// Follows `$ref`s inside the document (at most a few hops).
fn resolve<'a>(root: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return value;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return value;
        };
        match root.pointer(pointer) {
            Some(target) => value = target,
            None => return value,
        }
    }
    value
}

/// A small value valid for `schema`.
pub(crate) fn sample(root: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(root, schema);
    if depth > 12 {
        return Value::Null;
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.iter().find(|v| !v.is_null()))
    {
        // YAML 1.1 turned some string enum values into booleans or numbers.
        return match (schema.get("type").and_then(Value::as_str), first) {
            (Some("string"), Value::String(_)) | (None, _) => first.clone(),
            (Some("string"), other) => Value::String(other.to_string()),
            _ => first.clone(),
        };
    }
    if schema.get("allOf").is_some() {
        // Properties and `required` may sit in different members.
        let mut props = Map::new();
        let mut required = Vec::new();
        collect(root, schema, &mut props, &mut required, 0);
        if props.is_empty() && required.is_empty() {
            let first = schema["allOf"].as_array().and_then(|a| a.first());
            return first.map_or(Value::Null, |m| sample(root, m, depth + 1));
        }
        let merged = serde_json::json!({
            "properties": Value::Object(props.clone()),
            "required": required,
        });
        return object_sample(root, &merged, &Value::Object(props), depth);
    }
    if let Some(pick) = alternative(root, schema) {
        let mut value = sample(root, pick, depth + 1);
        if let (Value::Object(map), Some((tag, name))) = (&mut value, tag(schema, pick)) {
            map.insert(tag, Value::String(name));
        }
        return value;
    }
    let ty = schema.get("type").and_then(Value::as_str);
    match ty {
        Some("object") | None if schema.get("properties").is_some() => {
            object_sample(root, schema, &schema["properties"], depth)
        }
        Some("object") => Value::Object(Map::new()),
        Some("array") => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let item = sample(root, schema.get("items").unwrap_or(&Value::Null), depth + 1);
            Value::Array((0..min.max(1)).map(|_| item.clone()).collect())
        }
        Some("integer") => {
            let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(1);
            Value::from(min.max(1))
        }
        Some("number") => {
            let min = schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0);
            Value::from(min.max(1.0))
        }
        Some("boolean") => Value::Bool(true),
        Some("string") => Value::String(string_sample(schema)),
        _ => Value::String("x".into()),
    }
}

/// The properties and required names of a schema and its `allOf` members.
fn collect(
    root: &Value,
    schema: &Value,
    props: &mut Map<String, Value>,
    required: &mut Vec<Value>,
    depth: usize,
) {
    let schema = resolve(root, schema);
    if depth > 12 {
        return;
    }
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in p {
            props.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let Some(r) = schema.get("required").and_then(Value::as_array) {
        required.extend(r.iter().cloned());
    }
    for member in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect(root, member, props, required, depth + 1);
    }
    // A `oneOf` among the members: the first alternative's, and its tag.
    if let Some(pick) = alternative(root, schema) {
        collect(root, pick, props, required, depth + 1);
        if let Some((tag, name)) = tag(schema, pick) {
            props.insert(
                tag.clone(),
                serde_json::json!({"type": "string", "enum": [name]}),
            );
            required.push(Value::String(tag));
        }
    }
}

/// The first alternative of a `oneOf` (or `anyOf`) that is not `null`.
fn alternative<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    ["oneOf", "anyOf"].iter().find_map(|key| {
        schema
            .get(*key)
            .and_then(Value::as_array)?
            .iter()
            .find(|m| {
                let m = resolve(root, m);
                m.get("type").and_then(Value::as_str) != Some("null")
            })
    })
}

/// The discriminator property and the value naming `pick`: its key in the
/// mapping, or the name of the schema it refers to.
fn tag(schema: &Value, pick: &Value) -> Option<(String, String)> {
    let discriminator = schema.get("discriminator")?;
    let property = discriminator.get("propertyName")?.as_str()?.to_owned();
    let reference = pick.get("$ref")?.as_str()?;
    let mapped = discriminator
        .get("mapping")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(_, v)| v.as_str() == Some(reference)))
        .map(|(k, _)| k.clone());
    let name = mapped.or_else(|| reference.rsplit('/').next().map(str::to_owned))?;
    Some((property, name))
}

fn object_sample(root: &Value, schema: &Value, props: &Value, depth: usize) -> Value {
    let mut out = Map::new();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in required {
        let Some(prop) = props.get(name) else {
            continue;
        };
        let resolved = resolve(root, prop);
        if resolved.get("readOnly") == Some(&Value::Bool(true)) {
            continue;
        }
        out.insert(name.to_owned(), sample(root, prop, depth + 1));
    }
    Value::Object(out)
}

fn string_sample(schema: &Value) -> String {
    let text = match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => "2020-01-01T00:00:00Z",
        Some("date") => "2020-01-01",
        Some("uuid") => "00000000-0000-4000-8000-000000000001",
        Some("byte") => "eA==",
        Some("ipv4") | Some("ip") => "127.0.0.1",
        Some("ipv6") => "::1",
        Some("email") => "a@example.com",
        Some("uri") | Some("url") => "http://example.com/",
        _ => "x",
    };
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    if text.len() < min {
        text.repeat(min.div_ceil(text.len()))
    } else {
        text.to_owned()
    }
}

/// A parameter value as it travels in a path, query, header or cookie.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.first().map(text).unwrap_or_default(),
        other => other.to_string(),
    }
}

const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

fn media_rank(media: &str) -> u8 {
    let m = media.to_ascii_lowercase();
    if m == "application/json" {
        0
    } else if m.contains("json") {
        1
    } else if m == "application/x-www-form-urlencoded" {
        2
    } else if m.starts_with("text/") {
        3
    } else {
        4
    }
}

/// A concrete media type for a pattern such as `*/*` or `application/*+json`.
fn concrete(media: &str) -> String {
    match media {
        "*/*" => "application/octet-stream".into(),
        m if m.starts_with("multipart/") => format!("{m}; boundary=corpus"),
        m => m.replace('*', "x"),
    }
}

fn form_pairs(prefix: &str, value: &Value, out: &mut form_urlencoded::Serializer<'_, String>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}[{k}]")
                };
                form_pairs(&key, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                form_pairs(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => {}
        other => {
            out.append_pair(prefix, &text(other));
        }
    }
}

/// The request that should reach `op`, or why none could be made.
pub(crate) fn case(root: &Value, op: &OperationInfo) -> Case {
    let method = op.method.to_ascii_lowercase();
    let item = root
        .get("paths")
        .and_then(|p| p.get(&op.path))
        .map(|i| resolve(root, i))
        .unwrap_or(&Value::Null);
    let operation = item.get(&method).unwrap_or(&Value::Null);
    // Path-level parameters, overridden by the operation's (by name and place).
    let mut params: Vec<&Value> = Vec::new();
    for list in [item.get("parameters"), operation.get("parameters")] {
        for p in list.and_then(Value::as_array).into_iter().flatten() {
            let p = resolve(root, p);
            let key = (p.get("name"), p.get("in"));
            params.retain(|q| (q.get("name"), q.get("in")) != key);
            params.push(p);
        }
    }
    let mut path = op.path.clone();
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut headers = Vec::new();
    let mut cookies = Vec::new();
    for p in params {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let place = p.get("in").and_then(Value::as_str).unwrap_or_default();
        let required = p.get("required") == Some(&Value::Bool(true)) || place == "path";
        if !required {
            continue;
        }
        let schema = p.get("schema").cloned().or_else(|| {
            p.get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.values().next())
                .and_then(|m| m.get("schema").cloned())
        });
        let value = sample(root, schema.as_ref().unwrap_or(&Value::Null), 0);
        let is_content = p.get("content").is_some();
        let as_text = if is_content && !value.is_string() {
            value.to_string()
        } else {
            text(&value)
        };
        match place {
            "path" => {
                let encoded = percent_encoding::utf8_percent_encode(&as_text, PATH_SET).to_string();
                path = path.replace(&format!("{{{name}}}"), &encoded);
            }
            "query" => {
                let deep = p.get("style").and_then(Value::as_str) == Some("deepObject");
                if deep && value.is_object() {
                    form_pairs(name, &value, &mut query);
                } else {
                    query.append_pair(name, &as_text);
                }
            }
            "header" => headers.push((name.to_owned(), as_text)),
            "cookie" => cookies.push(format!("{name}={as_text}")),
            _ => {}
        }
    }
    if !cookies.is_empty() {
        headers.push(("cookie".to_owned(), cookies.join("; ")));
    }
    let mut body = Vec::new();
    if let Some(request_body) = operation.get("requestBody").map(|b| resolve(root, b)) {
        if request_body.get("required") == Some(&Value::Bool(true)) {
            let mut contents: Vec<(&String, &Value)> = request_body
                .get("content")
                .and_then(Value::as_object)
                .map(|c| c.iter().collect())
                .unwrap_or_default();
            contents.sort_by_key(|(m, _)| media_rank(m));
            if let Some((media, content)) = contents.first() {
                let value = sample(root, content.get("schema").unwrap_or(&Value::Null), 0);
                body = match media_rank(media) {
                    0 | 1 => serde_json::to_vec(&value).unwrap_or_default(),
                    2 => {
                        let mut form = form_urlencoded::Serializer::new(String::new());
                        form_pairs("", &value, &mut form);
                        form.finish().into_bytes()
                    }
                    3 => text(&value).into_bytes(),
                    _ => b"x".to_vec(),
                };
                headers.push(("content-type".to_owned(), concrete(media)));
            }
        }
    }
    let query = query.finish();
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    Case {
        id: op.id.clone(),
        method: op.method,
        uri,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::sample;
    use serde_json::json;

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
            sample(&json!({}), &schema, 0),
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
        let schema = json!({"$ref": "#/components/schemas/Thing"});
        assert_eq!(
            sample(&root, &schema, 0),
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
        assert_eq!(sample(&root, &deployment, 0), json!({"versions": [1]}));
        let rule = json!({"$ref": "#/components/schemas/Rule"});
        assert_eq!(sample(&root, &rule, 0), json!({"action": "block"}));
        let in_all_of = json!({"allOf": [{"$ref": "#/components/schemas/Rule"}]});
        assert_eq!(sample(&root, &in_all_of, 0), json!({"action": "block"}));
    }
}
