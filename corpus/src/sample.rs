//! Minimal valid requests: a concrete path, the required parameters and the
//! required body of an operation, with values made up from their schemas.
//!
//! Every generation is read from the document as written: Swagger 2.0
//! (parameters typed inline, `in: body`, `in: formData`, `consumes`),
//! OpenAPI 3.0, 3.1 (type arrays, `const`, `prefixItems`, `$ref` with
//! siblings) and 3.2 (`additionalOperations`, `itemSchema`,
//! `in: querystring`, `components/mediaTypes`). The operation is found by
//! its location in the document, so that the sampler never has to know how
//! a generation lays out its paths; `$ref`s to other files are followed.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use swaggersocket_codegen::OperationInfo;

/// One request of the routing test.
#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) id: String,
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// The root document and every file its `$ref`s reach, read once.
pub(crate) struct Docs {
    root: PathBuf,
    files: HashMap<PathBuf, Value>,
}

/// A value and the file it is in (which `$ref`s in it are relative to).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'a> {
    file: &'a Path,
    value: &'a Value,
}

static NULL: Value = Value::Null;

impl<'a> Node<'a> {
    fn get(self, key: &str) -> Option<Node<'a>> {
        self.value.get(key).map(|value| Node {
            file: self.file,
            value,
        })
    }

    /// The member `key`, or `null` in the same file.
    fn at(self, key: &str) -> Node<'a> {
        self.get(key).unwrap_or(Node {
            file: self.file,
            value: &NULL,
        })
    }

    fn with(self, value: &'a Value) -> Node<'a> {
        Node {
            file: self.file,
            value,
        }
    }

    /// The members of an array value.
    fn items(self) -> impl Iterator<Item = Node<'a>> {
        self.value
            .as_array()
            .into_iter()
            .flatten()
            .map(move |v| self.with(v))
    }

    /// The entries of an object value.
    fn entries(self) -> impl Iterator<Item = (&'a String, Node<'a>)> {
        self.value
            .as_object()
            .into_iter()
            .flatten()
            .map(move |(k, v)| (k, self.with(v)))
    }

    fn str(self, key: &str) -> Option<&'a str> {
        self.value.get(key).and_then(Value::as_str)
    }

    fn is_true(self, key: &str) -> bool {
        self.value.get(key) == Some(&Value::Bool(true))
    }
}

/// A path without `.` and `..`, canonical when the file exists.
fn normal(path: &Path) -> PathBuf {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return canonical;
    }
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses a JSON or YAML file.
fn read(path: &Path) -> Option<Value> {
    parse(&std::fs::read_to_string(path).ok()?)
}

/// Parses JSON or YAML text, also what JSON cannot hold directly: numbers
/// beyond 64 bits (openai's `minimum: -9223372036854776000`) become floats,
/// keys that are numbers or booleans their text.
pub(crate) fn parse(text: &str) -> Option<Value> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        if let Ok(value) = serde_json::from_str(trimmed) {
            return Some(value);
        }
    }
    serde_yaml_ng::from_str::<Lenient>(trimmed)
        .ok()
        .map(|l| l.0)
}

/// A JSON value read from any self-describing format, leniently.
struct Lenient(Value);

impl<'de> serde::Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor).map(Lenient)
    }
}

struct LenientVisitor;

impl<'de> serde::de::Visitor<'de> for LenientVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(u64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Lenient(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((Lenient(key), Lenient(value))) = map.next_entry()? {
            let key = match key {
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Every `$ref` string in `value`.
fn refs_in<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs_in(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}

impl Docs {
    /// The document `root` read from `path`, with every file its `$ref`s
    /// (and theirs) name.
    pub(crate) fn new(path: &Path, root: Value) -> Docs {
        let root_path = normal(path);
        let mut files = HashMap::new();
        files.insert(root_path.clone(), root);
        let mut pending = vec![root_path.clone()];
        while let Some(file) = pending.pop() {
            let mut refs = Vec::new();
            refs_in(&files[&file], &mut refs);
            let wanted: Vec<PathBuf> = refs
                .into_iter()
                .filter_map(|r| Self::file_of(&file, r))
                .collect();
            for target in wanted {
                if files.contains_key(&target) {
                    continue;
                }
                if let Some(value) = read(&target) {
                    files.insert(target.clone(), value);
                    pending.push(target);
                }
            }
        }
        Docs {
            root: root_path,
            files,
        }
    }

    /// The file a reference names, when it names another file (not a URL).
    fn file_of(from: &Path, reference: &str) -> Option<PathBuf> {
        let file = reference.split('#').next().unwrap_or_default();
        if file.is_empty() || file.contains("://") {
            return None;
        }
        let base = from.parent().unwrap_or(Path::new(""));
        Some(normal(&base.join(decode(file))))
    }

    fn root(&self) -> Node<'_> {
        Node {
            file: &self.root,
            value: &self.files[&self.root],
        }
    }

    /// What `reference` (`#/pointer`, `file`, `file#/pointer`) names,
    /// relative to the file `from`.
    fn locate(&self, from: &Path, reference: &str) -> Option<Node<'_>> {
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let path = if file.is_empty() {
            from.to_path_buf()
        } else {
            Self::file_of(from, file)?
        };
        let (file, document) = self.files.get_key_value(&path)?;
        let pointer = decode(fragment);
        let value = if pointer.is_empty() {
            document
        } else {
            document.pointer(&pointer)?
        };
        Some(Node { file, value })
    }

    /// Follows `$ref`s (at most a few hops).
    fn resolve<'a>(&'a self, mut node: Node<'a>) -> Node<'a> {
        for _ in 0..16 {
            let Some(reference) = node.str("$ref") else {
                return node;
            };
            match self.locate(node.file, reference) {
                Some(target) => node = target,
                None => return node,
            }
        }
        node
    }

    /// Follows the `$ref`s that have nothing but documentation beside them;
    /// a `$ref` with constraints beside it (3.1) is left for the caller to
    /// merge.
    fn resolve_plain<'a>(&'a self, mut node: Node<'a>) -> Node<'a> {
        for _ in 0..16 {
            let Some(reference) = node.str("$ref") else {
                return node;
            };
            if constrains_beside_ref(node.value) {
                return node;
            }
            match self.locate(node.file, reference) {
                Some(target) => node = target,
                None => return node,
            }
        }
        node
    }
}

/// Keywords beside a `$ref` that change what a value may be.
fn constrains_beside_ref(schema: &Value) -> bool {
    const CONSTRAINTS: &[&str] = &[
        "type",
        "properties",
        "required",
        "allOf",
        "oneOf",
        "anyOf",
        "enum",
        "const",
        "items",
        "prefixItems",
        "discriminator",
    ];
    schema
        .as_object()
        .is_some_and(|m| CONSTRAINTS.iter().any(|k| m.contains_key(*k)))
}

/// The `type` of a schema: the first one that is not `null` of a 3.1 type
/// array (`null` when that is the only one).
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(s) => Some(s),
        Value::Array(types) => {
            let mut names = types.iter().filter_map(Value::as_str);
            let all: Vec<&str> = names.by_ref().collect();
            all.iter().find(|t| **t != "null").or(all.first()).copied()
        }
        _ => None,
    }
}

/// What the properties of an object contribute, over `allOf` members,
/// `$ref`s and the picked alternative of a `oneOf`.
#[derive(Default)]
struct Fields<'a> {
    props: Vec<(String, Node<'a>)>,
    required: Vec<String>,
    /// Values set whatever the schemas say: discriminator tags.
    fixed: Vec<(String, Value)>,
}

impl<'a> Fields<'a> {
    fn prop(&self, name: &str) -> Option<Node<'a>> {
        self.props.iter().find(|(n, _)| n == name).map(|(_, p)| *p)
    }
}

/// A small value valid for `schema`.
pub(crate) fn sample(docs: &Docs, schema: Node<'_>, depth: usize) -> Value {
    let node = docs.resolve_plain(schema);
    let s = node.value;
    if depth > 12 {
        return Value::Null;
    }
    if let Some(value) = s.get("const") {
        return value.clone();
    }
    let ty = type_of(s);
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.iter().find(|v| !v.is_null()))
    {
        // YAML 1.1 turned some string enum values into booleans or numbers.
        return match (ty, first) {
            (Some("string"), Value::String(_)) | (None, _) => first.clone(),
            (Some("string"), other) => Value::String(other.to_string()),
            _ => first.clone(),
        };
    }
    if s.get("allOf").is_some() || s.get("$ref").is_some() {
        // Properties and `required` may sit in different members, or
        // beside a `$ref`.
        let mut fields = Fields::default();
        collect(docs, node, &mut fields, 0);
        if fields.props.is_empty() && fields.required.is_empty() && fields.fixed.is_empty() {
            let first = node
                .at("allOf")
                .items()
                .next()
                .or_else(|| {
                    let reference = s.get("$ref")?.as_str()?;
                    docs.locate(node.file, reference)
                })
                .map(|m| sample(docs, m, depth + 1));
            return first.unwrap_or(Value::Null);
        }
        return object_sample(docs, &fields, depth);
    }
    if let Some(pick) = alternative(docs, node) {
        let mut value = sample(docs, pick, depth + 1);
        if let (Value::Object(map), Some((tag, name))) = (&mut value, tag(docs, node, pick)) {
            map.insert(tag, name);
        }
        return value;
    }
    match ty {
        Some("object") | None if s.get("properties").is_some() => {
            let mut fields = Fields::default();
            own_fields(node, &mut fields);
            object_sample(docs, &fields, depth)
        }
        Some("object") => Value::Object(Map::new()),
        Some("array") => array_sample(docs, node, depth),
        Some("integer") => Value::from(integer(s)),
        Some("number") => Value::from(number(s)),
        Some("boolean") => Value::Bool(true),
        Some("null") => Value::Null,
        Some("string") => Value::String(string_sample(s)),
        _ => Value::String("x".into()),
    }
}

fn array_sample(docs: &Docs, node: Node<'_>, depth: usize) -> Value {
    let s = node.value;
    let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(0);
    // A tuple: 3.1 `prefixItems`, or 2.0/3.0's array-valued `items`.
    let tuple = match (s.get("prefixItems"), s.get("items")) {
        (Some(Value::Array(_)), _) => Some(node.at("prefixItems")),
        (_, Some(Value::Array(_))) => Some(node.at("items")),
        _ => None,
    };
    let mut out: Vec<Value> = tuple
        .into_iter()
        .flat_map(Node::items)
        .map(|m| sample(docs, m, depth + 1))
        .collect();
    let rest = node.get("items").filter(|i| i.value.is_object());
    let wanted = if tuple.is_some() { min } else { min.max(1) };
    if let Some(items) = rest {
        if (out.len() as u64) < wanted {
            let item = sample(docs, items, depth + 1);
            while (out.len() as u64) < wanted {
                out.push(item.clone());
            }
        }
    } else if tuple.is_none() {
        out.push(Value::String("x".into()));
    }
    Value::Array(out)
}

/// The bounds of a numeric schema, each with whether it is exclusive: a
/// numeric `exclusiveMinimum` (3.1), or a `minimum` made exclusive (3.0).
type Bound = Option<(f64, bool)>;

fn bounds(s: &Value) -> (Bound, Bound) {
    let bound = |plain: &str, exclusive: &str| match s.get(exclusive) {
        Some(Value::Number(n)) => n.as_f64().map(|e| (e, true)),
        flag => s
            .get(plain)
            .and_then(Value::as_f64)
            .map(|m| (m, flag == Some(&Value::Bool(true)))),
    };
    (
        bound("minimum", "exclusiveMinimum"),
        bound("maximum", "exclusiveMaximum"),
    )
}

fn within(v: f64, (low, high): (Bound, Bound)) -> bool {
    low.is_none_or(|(l, ex)| if ex { v > l } else { v >= l })
        && high.is_none_or(|(h, ex)| if ex { v < h } else { v <= h })
}

/// 1, or the first of a few values near the bounds that is within them.
fn integer(s: &Value) -> i64 {
    let b = bounds(s);
    let (low, high) = b;
    let mut candidates = vec![1.0];
    if let Some((l, _)) = low {
        candidates.extend([l.ceil(), l.floor() + 1.0]);
    }
    if let Some((h, _)) = high {
        candidates.extend([h.floor(), h.ceil() - 1.0]);
    }
    let pick = candidates
        .into_iter()
        .find(|v| within(*v, b))
        .unwrap_or(1.0);
    pick as i64
}

fn number(s: &Value) -> f64 {
    let b = bounds(s);
    let (low, high) = b;
    let mut candidates = vec![1.0];
    if let Some((l, _)) = low {
        candidates.extend([l, l + 1.0]);
    }
    if let Some((h, _)) = high {
        candidates.extend([h, h - 1.0]);
    }
    if let (Some((l, _)), Some((h, _))) = (low, high) {
        candidates.push((l + h) / 2.0);
    }
    candidates
        .into_iter()
        .find(|v| within(*v, b))
        .unwrap_or(1.0)
}

/// The properties and required names written on `node` itself.
fn own_fields<'a>(node: Node<'a>, fields: &mut Fields<'a>) {
    for (k, v) in node.at("properties").entries() {
        if fields.prop(k).is_none() {
            fields.props.push((k.clone(), v));
        }
    }
    for r in node.at("required").items() {
        if let Some(name) = r.value.as_str() {
            fields.required.push(name.to_owned());
        }
    }
}

/// The fields of a schema, its `allOf` members, the target of its `$ref`
/// and its picked alternative.
fn collect<'a>(docs: &'a Docs, node: Node<'a>, fields: &mut Fields<'a>, depth: usize) {
    if depth > 12 {
        return;
    }
    own_fields(node, fields);
    if let Some(reference) = node.str("$ref") {
        if let Some(target) = docs.locate(node.file, reference) {
            collect(docs, target, fields, depth + 1);
        }
    }
    for member in node.at("allOf").items() {
        collect(docs, member, fields, depth + 1);
    }
    // A `oneOf` among the members: the first alternative's, and its tag.
    if let Some(pick) = alternative(docs, node) {
        collect(docs, pick, fields, depth + 1);
        if let Some((tag, name)) = tag(docs, node, pick) {
            fields.fixed.retain(|(n, _)| *n != tag);
            fields.fixed.push((tag, name));
        }
    }
}

/// The first alternative of a `oneOf` (or `anyOf`) that is not `null`.
fn alternative<'a>(docs: &'a Docs, schema: Node<'a>) -> Option<Node<'a>> {
    ["oneOf", "anyOf"].iter().find_map(|key| {
        schema.at(key).items().find(|m| {
            let m = docs.resolve(*m);
            type_of(m.value) != Some("null") && m.value.get("const") != Some(&Value::Null)
        })
    })
}

/// The discriminator property and the value naming `pick`: the `const` (or
/// one-value `enum`) of that property in `pick`, its key in the mapping, or
/// the name of the schema it refers to.
fn tag(docs: &Docs, schema: Node<'_>, pick: Node<'_>) -> Option<(String, Value)> {
    let discriminator = docs.resolve_plain(schema).value.get("discriminator")?;
    let property = discriminator.get("propertyName")?.as_str()?.to_owned();
    let mut fields = Fields::default();
    collect(docs, docs.resolve(pick), &mut fields, 0);
    let fixed = fields.prop(&property).and_then(|p| {
        let p = docs.resolve(p).value;
        p.get("const")
            .cloned()
            .or_else(|| match p.get("enum")?.as_array()?.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            })
    });
    if let Some(value) = fixed {
        return Some((property, value));
    }
    let reference = pick.str("$ref")?;
    let mapped = discriminator
        .get("mapping")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(_, v)| v.as_str() == Some(reference)))
        .map(|(k, _)| k.clone());
    let name = mapped.or_else(|| reference.rsplit('/').next().map(str::to_owned))?;
    Some((property, Value::String(name)))
}

/// Whether a property is written by the server only.
fn read_only(docs: &Docs, prop: Node<'_>) -> bool {
    prop.is_true("readOnly") || docs.resolve(prop).is_true("readOnly")
}

fn object_sample(docs: &Docs, fields: &Fields<'_>, depth: usize) -> Value {
    let mut out = Map::new();
    for name in &fields.required {
        let Some(prop) = fields.prop(name) else {
            continue;
        };
        if read_only(docs, prop) {
            continue;
        }
        out.insert(name.clone(), sample(docs, prop, depth + 1));
    }
    // An optional property with a `const` is the tag of a variant, often.
    for (name, prop) in &fields.props {
        if out.contains_key(name) || read_only(docs, *prop) {
            continue;
        }
        if let Some(value) = docs.resolve(*prop).value.get("const") {
            out.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &fields.fixed {
        out.insert(name.clone(), value.clone());
    }
    Value::Object(out)
}

fn string_sample(schema: &Value) -> String {
    let base64 = schema.get("contentEncoding").and_then(Value::as_str) == Some("base64");
    let text = match schema.get("format").and_then(Value::as_str) {
        _ if base64 => "eA==",
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

/// A scalar as it travels in a path, query, header, cookie or form field.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.first().map(text).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// What a path segment keeps as is: unreserved characters, `:`, and `,`
/// between the items of an array.
const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b',')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// The sequential media types: one JSON item after another.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sequence {
    Lines,
    Events,
    JsonSeq,
}

fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn sequence(media: &str) -> Option<Sequence> {
    match essence(media).as_str() {
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Some(Sequence::Lines),
        "text/event-stream" => Some(Sequence::Events),
        "application/json-seq" => Some(Sequence::JsonSeq),
        _ => None,
    }
}

/// Which media type of several to send: JSON first.
fn media_rank(media: &str) -> u8 {
    let m = essence(media);
    if sequence(&m).is_some() {
        5
    } else if m == "application/json" {
        0
    } else if m.contains("json") {
        1
    } else if m == "application/x-www-form-urlencoded" {
        2
    } else if m == "multipart/form-data" {
        3
    } else if m.starts_with("text/") {
        4
    } else {
        6
    }
}

const BOUNDARY: &str = "corpus-7d1f0e";

/// A concrete media type for a pattern such as `*/*` or `application/*+json`.
fn concrete(media: &str) -> String {
    match media {
        "*/*" => "application/octet-stream".into(),
        m if m.starts_with("multipart/") => format!("{m}; boundary={BOUNDARY}"),
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

/// One part of a `multipart/form-data` body.
enum Part {
    Text(String, String),
    Json(String, Value),
    File(String),
}

fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut body = String::new();
    for part in parts {
        body.push_str(&format!("--{BOUNDARY}\r\n"));
        match part {
            Part::Text(name, value) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )),
            Part::Json(name, value) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\
                 Content-Type: application/json\r\n\r\n{value}\r\n"
            )),
            Part::File(name) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"corpus.bin\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\ncorpus\r\n"
            )),
        }
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body.into_bytes()
}

/// The parts of a field's value: a part per item of an array.
fn value_parts(name: &str, value: &Value, out: &mut Vec<Part>) {
    match value {
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        out.push(Part::Json(name.to_owned(), item.clone()))
                    }
                    other => out.push(Part::Text(name.to_owned(), text(other))),
                }
            }
        }
        Value::Object(_) => out.push(Part::Json(name.to_owned(), value.clone())),
        Value::Null => {}
        other => out.push(Part::Text(name.to_owned(), text(other))),
    }
}

/// Binary text: a file part in a multipart body (`format: binary`, 2.0's
/// `type: file`, a 3.1 `contentMediaType` without an encoding).
fn is_file(docs: &Docs, schema: Node<'_>) -> bool {
    let s = docs.resolve(schema).value;
    let binary = |s: &Value| {
        type_of(s) == Some("file")
            || (type_of(s) == Some("string")
                && (s.get("format").and_then(Value::as_str) == Some("binary")
                    || (s.get("contentMediaType").is_some() && s.get("contentEncoding").is_none())))
    };
    binary(s)
        || (type_of(s) == Some("array")
            && s.get("items").is_some_and(|i| {
                binary(
                    docs.resolve(Node {
                        file: schema.file,
                        value: i,
                    })
                    .value,
                )
            }))
}

/// The multipart body of an object schema: a part per required property.
fn multipart_of(docs: &Docs, schema: Node<'_>) -> Vec<u8> {
    let mut fields = Fields::default();
    collect(docs, docs.resolve(schema), &mut fields, 0);
    let mut parts = Vec::new();
    for name in &fields.required {
        let Some(prop) = fields.prop(name) else {
            continue;
        };
        if read_only(docs, prop) {
            continue;
        }
        if is_file(docs, prop) {
            parts.push(Part::File(name.clone()));
        } else {
            value_parts(name, &sample(docs, prop, 1), &mut parts);
        }
    }
    for (name, value) in &fields.fixed {
        if !fields.required.contains(name) {
            value_parts(name, value, &mut parts);
        }
    }
    multipart(&parts)
}

/// The body of media type `media` for the schema `schema` (`item`: the
/// 3.2 `itemSchema` of a sequential media type).
fn encode(docs: &Docs, media: &str, schema: Node<'_>, item: Option<Node<'_>>) -> Vec<u8> {
    if let Some(format) = sequence(media) {
        // One item: `itemSchema`, or an array schema's items, or the schema.
        let item = item.unwrap_or_else(|| {
            let s = schema.value;
            if s.get("$ref").is_none() && type_of(s) == Some("array") {
                schema.at("items")
            } else {
                schema
            }
        });
        let json = sample(docs, item, 0).to_string();
        return match format {
            Sequence::Lines => format!("{json}\n"),
            Sequence::Events => format!("data: {json}\n\n"),
            Sequence::JsonSeq => format!("\u{1e}{json}\n"),
        }
        .into_bytes();
    }
    match media_rank(media) {
        0 | 1 => serde_json::to_vec(&sample(docs, schema, 0)).unwrap_or_default(),
        2 => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form_pairs("", &sample(docs, schema, 0), &mut form);
            form.finish().into_bytes()
        }
        3 => multipart_of(docs, schema),
        4 => text(&sample(docs, schema, 0)).into_bytes(),
        _ => b"x".to_vec(),
    }
}

/// The media types of a 2.0 operation's body: its `consumes`, else the
/// document's.
fn consumes<'a>(root: Node<'a>, operation: Node<'a>) -> Vec<&'a str> {
    let list = |n: Node<'a>| -> Option<Vec<&'a str>> {
        let media: Vec<&str> = n
            .get("consumes")?
            .items()
            .filter_map(|m| m.value.as_str())
            .collect();
        (!media.is_empty()).then_some(media)
    };
    list(operation)
        .or_else(|| list(root))
        .unwrap_or_else(|| vec!["application/json"])
}

/// How the items of an array parameter are joined: `None` for a pair (or
/// path segment) per item.
fn separator(p: &Value, place: &str) -> Option<char> {
    if let Some(format) = p.get("collectionFormat").and_then(Value::as_str) {
        return match format {
            "multi" => None,
            "ssv" => Some(' '),
            "tsv" => Some('\t'),
            "pipes" => Some('|'),
            _ => Some(','),
        };
    }
    if p.get("schema").is_none() && p.get("content").is_none() {
        // 2.0 without `collectionFormat`: csv.
        return Some(',');
    }
    let style = p.get("style").and_then(Value::as_str);
    let explode = p.get("explode").and_then(Value::as_bool);
    match (place, style) {
        ("query", None | Some("form")) if explode != Some(false) => None,
        ("query", Some("spaceDelimited")) if explode != Some(true) => Some(' '),
        ("query", Some("pipeDelimited")) if explode != Some(true) => Some('|'),
        ("query", Some("spaceDelimited" | "pipeDelimited")) => None,
        _ => Some(','),
    }
}

/// What the sampler needs of an operation (of an [`OperationInfo`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op<'a> {
    pub(crate) id: &'a str,
    /// Upper case; any method (`QUERY`, `LINK`).
    pub(crate) method: &'a str,
    /// The route, with a 2.0 `basePath`.
    pub(crate) path: &'a str,
    /// The operation's JSON pointer (`#/paths/~1pets/get`), after a file
    /// name for an operation in another file.
    pub(crate) location: &'a str,
}

impl<'a> From<&'a OperationInfo> for Op<'a> {
    fn from(op: &'a OperationInfo) -> Self {
        Op {
            id: &op.id,
            method: &op.method,
            path: &op.path,
            location: &op.location,
        }
    }
}

/// The request that should reach `op`.
pub(crate) fn case(docs: &Docs, op: Op<'_>) -> Case {
    let root = docs.root();
    let unknown = root.with(&NULL);
    let operation = docs
        .locate(root.file, op.location)
        .map(|n| docs.resolve(n))
        .unwrap_or(unknown);
    // The path item holds the operation (3.2: under `additionalOperations`).
    let item = op
        .location
        .rsplit_once('/')
        .map(|(parent, _)| {
            parent
                .strip_suffix("/additionalOperations")
                .unwrap_or(parent)
        })
        .and_then(|parent| docs.locate(root.file, parent))
        .map(|n| docs.resolve(n))
        .unwrap_or(unknown);
    // Path-level parameters, overridden by the operation's (by name and place).
    let mut params: Vec<Node<'_>> = Vec::new();
    for list in [item.at("parameters"), operation.at("parameters")] {
        for p in list.items() {
            let p = docs.resolve(p);
            let key = (p.value.get("name"), p.value.get("in"));
            params.retain(|q| (q.value.get("name"), q.value.get("in")) != key);
            params.push(p);
        }
    }
    let mut path = op.path.to_owned();
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut headers = Vec::new();
    let mut cookies = Vec::new();
    let mut form: Vec<(String, Node<'_>)> = Vec::new();
    let mut body_param = None;
    let mut has_file = false;
    for p in params {
        let name = p.str("name").unwrap_or_default();
        let place = p.str("in").unwrap_or_default();
        if place == "formData" && type_of(p.value) == Some("file") {
            has_file = true;
        }
        let required = p.is_true("required") || place == "path";
        if !required {
            continue;
        }
        // The value's schema: `schema`, a `content` entry's, or (2.0) the
        // parameter itself, which carries `type`, `items`, `enum`….
        let content = p
            .get("content")
            .and_then(|c| c.entries().next())
            .map(|(media, m)| (media.as_str(), docs.resolve(m)));
        let schema = p
            .get("schema")
            .or_else(|| content.and_then(|(_, m)| m.get("schema")))
            .unwrap_or(p);
        match place {
            "body" => {
                body_param = Some(schema);
                continue;
            }
            "formData" => {
                form.push((name.to_owned(), p));
                continue;
            }
            _ => {}
        }
        let value = sample(docs, schema, 0);
        if place == "querystring" {
            // 3.2: the whole query string is the value, form-encoded.
            match content.map(|(media, _)| essence(media)) {
                Some(m) if m.contains("json") => {
                    query.append_key_only(&value.to_string());
                }
                _ => form_pairs("", &value, &mut query),
            }
            continue;
        }
        let items: Vec<String> = match (&value, content) {
            (Value::String(s), _) => vec![s.clone()],
            (_, Some(_)) => vec![value.to_string()],
            (Value::Array(items), None) => items.iter().map(text).collect(),
            (other, None) => vec![text(other)],
        };
        let joined = |sep: char| items.join(&sep.to_string());
        match place {
            "path" => {
                let as_text = joined(separator(p.value, place).unwrap_or(','));
                let encoded = percent_encoding::utf8_percent_encode(&as_text, PATH_SET).to_string();
                path = path.replace(&format!("{{{name}}}"), &encoded);
            }
            "query" => {
                let deep = p.str("style") == Some("deepObject");
                if deep && value.is_object() {
                    form_pairs(name, &value, &mut query);
                } else if let Some(sep) = separator(p.value, place) {
                    query.append_pair(name, &joined(sep));
                } else {
                    for item in &items {
                        query.append_pair(name, item);
                    }
                }
            }
            "header" => headers.push((
                name.to_owned(),
                joined(separator(p.value, place).unwrap_or(',')),
            )),
            "cookie" => cookies.push(format!("{name}={}", joined(','))),
            _ => {}
        }
    }
    if !cookies.is_empty() {
        headers.push(("cookie".to_owned(), cookies.join("; ")));
    }
    let mut body = Vec::new();
    if let Some(request_body) = operation.get("requestBody").map(|b| docs.resolve(b)) {
        // OpenAPI 3: `requestBody`, its `content` entries maybe `$ref`s to
        // 3.2's `components/mediaTypes`.
        if request_body.is_true("required") {
            let mut contents: Vec<(&String, Node<'_>)> = request_body
                .at("content")
                .entries()
                .map(|(m, c)| (m, docs.resolve(c)))
                .collect();
            contents.sort_by_key(|(m, _)| media_rank(m));
            if let Some((media, content)) = contents.first() {
                body = encode(docs, media, content.at("schema"), content.get("itemSchema"));
                headers.push(("content-type".to_owned(), concrete(media)));
            }
        }
    } else if let Some(schema) = body_param {
        // Swagger 2.0 `in: body`: the media type from `consumes`.
        let mut media = consumes(root, operation);
        media.sort_by_key(|m| media_rank(m));
        let media = media[0];
        body = encode(docs, media, schema, None);
        headers.push(("content-type".to_owned(), concrete(media)));
    } else if !form.is_empty() {
        // Swagger 2.0 `in: formData`: a form, or multipart with a file.
        let media = consumes(root, operation);
        let has = |m: &str| media.iter().any(|c| essence(c) == m);
        let urlencoded = "application/x-www-form-urlencoded";
        let multi = has_file || (!has(urlencoded) && has("multipart/form-data"));
        if multi {
            let mut parts = Vec::new();
            for (name, p) in &form {
                if is_file(docs, *p) {
                    parts.push(Part::File(name.clone()));
                } else {
                    value_parts(name, &sample(docs, *p, 0), &mut parts);
                }
            }
            body = multipart(&parts);
            headers.push(("content-type".to_owned(), concrete("multipart/form-data")));
        } else {
            let mut pairs = form_urlencoded::Serializer::new(String::new());
            // As an object's fields: arrays indexed (`tags[0]=x`), which
            // the server's form decoder reads whatever the collectionFormat.
            for (name, p) in &form {
                form_pairs(name, &sample(docs, *p, 0), &mut pairs);
            }
            body = pairs.finish().into_bytes();
            headers.push(("content-type".to_owned(), urlencoded.to_owned()));
        }
    }
    let query = query.finish();
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    Case {
        id: op.id.to_owned(),
        method: op.method.to_owned(),
        uri,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests;
