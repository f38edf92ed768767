//! Loading: the text of a Swagger 2.0, OpenAPI 3.0, 3.1 or 3.2 document
//! (YAML or JSON, one file or several) → the version-neutral
//! [`model::Document`](crate::model::Document), every `$ref` resolved.
//!
//! The text is parsed into a `serde_json::Value` (in document order), the
//! version field picks the reader (`v3` for every 3.x, `swagger2` for 2.0),
//! and the readers walk the value, following `$ref`s into any file
//! (`refs`) and building the schema arena (`schema`). A 3.0 document is
//! first checked by `openapiv3` (`v30`), its errors unchanged.
//!
//! Problems that leave nothing to read (unparsable text, an unsupported
//! version) are `Err`; the others (dangling refs, wrong types) are errors
//! in the `Diags`, so that every one is reported, and warnings say what was
//! read leniently.

mod refs;
mod schema;
mod swagger2;
mod v3;
mod v30;

#[cfg(test)]
mod tests;

use crate::diag::{Diags, Errors};
use crate::model::{Document, Loc, Version};
use refs::{At, Files, RefError};
use serde_json::Value;
use std::collections::HashMap;
use std::rc::Rc;

/// The text of the root document, and where it is (to read the files its
/// `$ref`s name).
pub(crate) struct Source<'a> {
    pub(crate) text: &'a str,
    pub(crate) path: Option<&'a std::path::Path>,
}

/// What this generator reads, in refusals.
const SUPPORTED: &str = "this generator reads Swagger 2.0 and OpenAPI 3.0, 3.1 and 3.2";

/// Loads the document `source` into the model.
///
/// # Errors
///
/// A text that does not parse, an unsupported or missing version, and a
/// 3.0 document that `openapiv3` does not accept. Other problems are
/// errors and warnings in `diags`.
pub(crate) fn load(source: Source<'_>, diags: &mut Diags) -> Result<Document, Errors> {
    let value = match parse_text(source.text) {
        Ok(value) => value,
        Err(message) => {
            // A document of another version may fail for reasons of its
            // own: name the version rather than the symptom.
            if let Some((key, version)) = sniff_version(source.text) {
                let version = Value::String(version);
                let (swagger, openapi) = if key == "swagger" {
                    (Some(&version), None)
                } else {
                    (None, Some(&version))
                };
                version_of(swagger, openapi)?;
            }
            return Err(Errors::one("#", message));
        }
    };
    let Value::Object(map) = &value else {
        return Err(Errors::one(
            "#",
            format!(
                "not an API description: the document is {}, not a mapping",
                kind_of(&value)
            ),
        ));
    };
    // Swagger 1.x writes its version as `swaggerVersion`.
    if let (None, None, Some(old)) = (
        map.get("swagger"),
        map.get("openapi"),
        map.get("swaggerVersion"),
    ) {
        let old = old.as_str().map_or_else(|| old.to_string(), str::to_owned);
        return Err(Errors::one(
            "#/swaggerVersion",
            format!("Swagger {old} is not supported; {SUPPORTED}"),
        ));
    }
    let version = version_of(map.get("swagger"), map.get("openapi"))?;
    if version == Version::V30 {
        v30::check(&value)?;
    }
    let mut loader = Loader {
        files: Files::new(value, source.path),
        diags,
        errors: 0,
        doc: Document {
            version: Some(version),
            ..Document::default()
        },
        version,
        schema_at: HashMap::new(),
        pending: Vec::new(),
    };
    if version == Version::Swagger2 {
        loader.swagger2();
    } else {
        loader.v3();
    }
    loader.finish_schemas();
    let mut doc = loader.doc;
    doc.files = loader.files.paths();
    Ok(doc)
}

/// Parses JSON (a text starting with `{`) or YAML into a value; the
/// message says why not.
fn parse_text(text: &str) -> Result<Value, String> {
    // Leading blank lines stay: the parsers' line numbers must be the
    // file's.
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "not a valid JSON document (line {}, column {}): {e}",
                e.line(),
                e.column()
            )
        })
    } else {
        let mut value = serde::de::DeserializeSeed::deserialize(
            Json,
            serde_yaml_ng::Deserializer::from_str(text),
        )
        .map_err(|e| {
            let message = format!("not a valid YAML document: {e}");
            // A few of the parser's errors give a byte offset or nothing
            // rather than a line: name the line and column.
            if message.contains(" line ") {
                return message;
            }
            let line = if message.contains("more than one document") {
                second_document(text)
            } else if message.contains("a mapping key is not a scalar") {
                complex_root_key(text)
            } else {
                None
            };
            let place = forbidden_char(text)
                .or(line.map(|line| (line, 1)))
                // The parser's own place, which it leaves out of the
                // message at the very start (an unknown anchor, a bad first
                // character).
                .or_else(|| e.location().map(|l| (l.line(), l.column())));
            match place {
                Some((line, column)) => format!("{message} (line {line}, column {column})"),
                None => message,
            }
        })?;
        merge_keys(&mut value, 0);
        Ok(value)
    }
}

/// The line and column (from 1) of the first character YAML does not allow
/// in a document (C0 and C1 controls but tab and line breaks, surrogates,
/// U+FFFE and U+FFFF).
fn forbidden_char(text: &str) -> Option<(usize, usize)> {
    let (mut line, mut column) = (1, 1);
    for c in text.chars() {
        let allowed = matches!(c,
            '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}'
            | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
        if !allowed {
            return Some((line, column));
        }
        if c == '\n' {
            (line, column) = (line + 1, 1);
        } else {
            column += 1;
        }
    }
    None
}

/// The line (from 1) of the first key of the root mapping that is not a
/// scalar (`? [a, b]`, `{a: 1}: x`): the parser places such an error when
/// the key is nested, not at the root.
fn complex_root_key(text: &str) -> Option<usize> {
    text.lines()
        .position(|line| line.starts_with(['?', '[', '{']))
        .map(|i| i + 1)
}

/// The line (from 1) where a second YAML document starts: a `---` after
/// a document started, or content after a `...` that ended one.
fn second_document(text: &str) -> Option<usize> {
    let marker = |line: &str, m: &str| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
    };
    let (mut started, mut ended) = (false, false);
    for (i, line) in text.lines().enumerate() {
        let bare = line.trim_start();
        if marker(line, "---") {
            if started {
                return Some(i + 1);
            }
            started = true;
        } else if marker(line, "...") {
            ended = started;
        } else if bare.is_empty() || bare.starts_with('#') || (!started && bare.starts_with('%')) {
            continue;
        } else if ended {
            return Some(i + 1);
        } else {
            started = true;
        }
    }
    None
}

/// YAML merge keys (`<<: *defaults`, or a list of aliases): the merged
/// mappings' entries join the mapping, its own keys winning, as YAML 1.1
/// defines them; anchors themselves are already expanded by the parser.
fn merge_keys(value: &mut Value, depth: usize) {
    // Documents nest far less; this keeps a hostile one from overflowing.
    if depth > 256 {
        return;
    }
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                merge_keys(child, depth + 1);
            }
            let Some(merged) = map.shift_remove("<<") else {
                return;
            };
            let sources = match merged {
                Value::Array(items) => items,
                other => vec![other],
            };
            for source in sources {
                if let Value::Object(source) = source {
                    for (key, entry) in source {
                        map.entry(key).or_insert(entry);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                merge_keys(item, depth + 1);
            }
        }
        _ => {}
    }
}

/// Reads any YAML value as JSON, in one pass: keys that YAML reads as
/// numbers or booleans (`200:` in Swagger 2.0 responses) are their text,
/// integers beyond 64 bits are numbers (OpenAI writes -2^63 as a decimal),
/// tags are dropped.
#[derive(Clone, Copy)]
struct Json;

impl<'de> serde::de::DeserializeSeed<'de> for Json {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Json {
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
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        #[allow(clippy::cast_precision_loss)]
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

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(self)? {
            let key = match key {
                Value::String(s) => s,
                Value::Null => "null".to_owned(),
                Value::Array(_) | Value::Object(_) => {
                    return Err(serde::de::Error::custom("a mapping key is not a scalar"))
                }
                other => other.to_string(),
            };
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // A tagged value (`!Tag value`): the value.
        use serde::de::VariantAccess;
        let (_, variant): (serde::de::IgnoredAny, _) = data.variant()?;
        variant.newtype_variant_seed(self)
    }
}

/// A float as JSON (infinities and NaN, which JSON lacks, as text).
fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or_else(|| Value::String(v.to_string()), Value::Number)
}

/// The top-level `openapi:` or `swagger:` line of a YAML text.
fn sniff_version(text: &str) -> Option<(&str, String)> {
    text.lines().find_map(|line| {
        let (key, rest) = line.split_once(':')?;
        let key = key.trim_matches(|c| c == '"' || c == '\'');
        if key != "openapi" && key != "swagger" {
            return None;
        }
        let version = rest
            .trim()
            .trim_matches(|c| c == '"' || c == '\'' || c == ',');
        Some((key, version.to_owned()))
    })
}

/// The generation named by the version fields.
fn version_of(swagger: Option<&Value>, openapi: Option<&Value>) -> Result<Version, Errors> {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    if let Some(openapi) = openapi {
        return match openapi.as_str() {
            Some(v) if v.starts_with("3.0") => Ok(Version::V30),
            Some(v) if v.starts_with("3.1") => Ok(Version::V31),
            Some(v) if v.starts_with("3.2") => Ok(Version::V32),
            Some(v) => Err(Errors::one(
                "#/openapi",
                format!("OpenAPI {v} is not supported; {SUPPORTED}"),
            )),
            None => Err(Errors::one(
                "#/openapi",
                format!(
                    "`openapi` must be a version string such as \"3.1.0\", found {}",
                    text(openapi)
                ),
            )),
        };
    }
    if let Some(swagger) = swagger {
        return match swagger {
            Value::String(v) if v == "2.0" => Ok(Version::Swagger2),
            other => Err(Errors::one(
                "#/swagger",
                format!("Swagger {} is not supported; {SUPPORTED}", text(other)),
            )),
        };
    }
    Err(Errors::one(
        "#",
        format!(
            "missing field `openapi` (or `swagger: \"2.0\"`): not an API description that \
             this generator reads ({SUPPORTED})"
        ),
    ))
}

/// `an array`, `a string`… for messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An object reached by following `$ref`s: its place and its file.
#[derive(Clone)]
struct Node {
    at: At,
    root: Rc<Value>,
}

impl Node {
    fn value(&self) -> &Value {
        self.root.pointer(&self.at.ptr).unwrap_or(&Value::Null)
    }
}

/// What kind of object a `$ref` is expected to name, for messages and the
/// section it normally lives in.
#[derive(Debug, Clone, Copy)]
struct Kind {
    /// `parameter`, `response`…
    what: &'static str,
    /// The section of `components` (3.x) or of the 2.0 root
    /// (`parameters`, `responses`) that holds them.
    section: &'static str,
}

const PARAMETER: Kind = Kind {
    what: "parameter",
    section: "parameters",
};
const RESPONSE: Kind = Kind {
    what: "response",
    section: "responses",
};
const REQUEST_BODY: Kind = Kind {
    what: "request body",
    section: "requestBodies",
};
const HEADER: Kind = Kind {
    what: "header",
    section: "headers",
};
const PATH_ITEM: Kind = Kind {
    what: "path item",
    section: "pathItems",
};
const MEDIA_TYPE: Kind = Kind {
    what: "media type",
    section: "mediaTypes",
};
const CALLBACK: Kind = Kind {
    what: "callback",
    section: "callbacks",
};

/// The sections of 3.x `components`, and what each holds.
const COMPONENT_SECTIONS: &[(&str, &str)] = &[
    ("schemas", "schema"),
    ("responses", "response"),
    ("parameters", "parameter"),
    ("examples", "example"),
    ("requestBodies", "request body"),
    ("headers", "header"),
    ("securitySchemes", "security scheme"),
    ("links", "link"),
    ("callbacks", "callback"),
    ("pathItems", "path item"),
    ("mediaTypes", "media type"),
];

/// The reader's state: the files, the model being built, the diagnostics.
struct Loader<'d> {
    files: Files,
    diags: &'d mut Diags,
    /// How many errors this loader reported.
    errors: usize,
    doc: Document,
    version: Version,
    /// The schema node of each place already met (one per place).
    schema_at: HashMap<At, crate::model::SchemaId>,
    /// Schemas named by a `$ref`, reserved, to be read.
    pending: Vec<(crate::model::SchemaId, At)>,
}

impl Loader<'_> {
    fn loc(&self, at: &At) -> Loc {
        self.files.loc(at)
    }

    fn error(&mut self, at: &At, message: impl Into<String>) {
        let loc = self.loc(at);
        self.errors += 1;
        self.diags.error(&loc, message);
    }

    fn warn(&mut self, at: &At, message: impl Into<String>) {
        let loc = self.loc(at);
        self.diags.warn(&loc, message);
    }

    /// A value of the wrong JSON type: an error in 3.x, where the
    /// specification is exact; a warning (and the value ignored) in 2.0
    /// documents, which are often written loosely.
    fn bad(&mut self, at: &At, message: impl Into<String>) {
        if self.version == Version::Swagger2 {
            let message = format!("{}; ignored", message.into());
            self.warn(at, message);
        } else {
            self.error(at, message);
        }
    }

    /// The string `key` of the object `v` at `at`, if present (a value of
    /// another type is reported).
    fn string<'v>(&mut self, at: &At, v: &'v Value, key: &str) -> Option<&'v str> {
        match v.get(key)? {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => {
                let message = format!("`{key}` must be a string, found {}", kind_of(other));
                self.bad(&at.key(key), message);
                None
            }
        }
    }

    /// The boolean `key` of `v`, `false` when absent.
    fn boolean(&mut self, at: &At, v: &Value, key: &str) -> bool {
        self.opt_boolean(at, v, key).unwrap_or(false)
    }

    fn opt_boolean(&mut self, at: &At, v: &Value, key: &str) -> Option<bool> {
        match v.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::Null => None,
            other => {
                let message = format!("`{key}` must be a boolean, found {}", kind_of(other));
                self.bad(&at.key(key), message);
                None
            }
        }
    }

    /// The object `key` of `v`, if present.
    fn object<'v>(
        &mut self,
        at: &At,
        v: &'v Value,
        key: &str,
    ) -> Option<&'v serde_json::Map<String, Value>> {
        match v.get(key)? {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                let message = format!("`{key}` must be an object, found {}", kind_of(other));
                self.bad(&at.key(key), message);
                None
            }
        }
    }

    /// The array `key` of `v`, if present.
    fn array<'v>(&mut self, at: &At, v: &'v Value, key: &str) -> Option<&'v [Value]> {
        match v.get(key)? {
            Value::Array(items) => Some(items),
            Value::Null => None,
            other => {
                let message = format!("`{key}` must be an array, found {}", kind_of(other));
                self.bad(&at.key(key), message);
                None
            }
        }
    }

    /// An array of strings (`tags`, `consumes`).
    fn strings(&mut self, at: &At, v: &Value, key: &str) -> Option<Vec<String>> {
        let items = self.array(at, v, key)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => {
                    let message = format!("`{key}` must hold strings, found {}", kind_of(other));
                    self.bad(&at.key(key).index(i), message);
                }
            }
        }
        Some(out)
    }

    /// Follows the `$ref`s of the `kind` object `v` at `at` to the object
    /// itself. `None` when a reference is broken (reported at it).
    fn follow(&mut self, at: &At, v: &Value, kind: Kind) -> Option<Node> {
        let mut node = Node {
            at: at.clone(),
            root: self.files.value(at.file),
        };
        let mut followed = false;
        let mut seen: Vec<At> = Vec::new();
        loop {
            let current = if followed { node.value() } else { v };
            let text = match current.get("$ref") {
                None => break,
                Some(Value::String(text)) => text.clone(),
                Some(other) => {
                    let message = format!("`$ref` must be a string, found {}", kind_of(other));
                    self.error(&node.at.key("$ref"), message);
                    return None;
                }
            };
            let ref_at = node.at.key("$ref");
            let target = match self.files.resolve(node.at.file, &text, kind.what) {
                Ok(target) => target,
                Err(RefError::Broken(message) | RefError::Anchor(message)) => {
                    self.error(&ref_at, message);
                    return None;
                }
            };
            if seen.contains(&target) || seen.len() > 64 {
                self.error(at, format!("cycle of {} $refs", kind.what));
                return None;
            }
            self.check_section(&ref_at, &text, &target, kind);
            seen.push(target.clone());
            node = Node {
                root: self.files.value(target.file),
                at: target,
            };
            followed = true;
            if !node.value().is_object() {
                let found = kind_of(node.value());
                self.error(
                    &ref_at,
                    format!("$ref `{text}` names {found}, not a {}", kind.what),
                );
                return None;
            }
        }
        if !followed && !v.is_object() {
            let found = kind_of(v);
            self.bad(
                at,
                format!("a {} must be an object, found {found}", kind.what),
            );
            return None;
        }
        Some(node)
    }

    /// A `$ref` that names an entry of another section of `components`
    /// (a response `$ref` into `requestBodies`) is read as what it is used
    /// for, with a warning: real documents do that.
    fn check_section(&mut self, ref_at: &At, text: &str, target: &At, kind: Kind) {
        let mut tokens = target.ptr.split('/').skip(1);
        let section = if self.version == Version::Swagger2 {
            match tokens.next() {
                Some(s @ ("parameters" | "responses" | "definitions")) => s,
                _ => return,
            }
        } else {
            match (tokens.next(), tokens.next()) {
                (Some("components"), Some(section)) => section,
                _ => return,
            }
        };
        if tokens.next().is_none() || section == kind.section {
            return;
        }
        let found = COMPONENT_SECTIONS
            .iter()
            .find(|(s, _)| *s == section)
            .map_or("definition", |(_, what)| *what);
        let found = if section == "definitions" {
            "schema"
        } else {
            found
        };
        self.warn(
            ref_at,
            format!(
                "$ref `{text}` names a {found}, where a {} is expected; read as a {} since it has the shape of one",
                kind.what, kind.what
            ),
        );
    }
}
