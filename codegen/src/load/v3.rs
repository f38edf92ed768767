//! OpenAPI 3.0, 3.1 and 3.2 → the model: one reader, with the
//! differences of each version where they are (3.1 webhooks and JSON
//! Schema 2020-12, 3.2 `query`, `additionalOperations`, `querystring`,
//! `itemSchema`, `components/mediaTypes`, `$self`).

use super::refs::At;
use super::{
    Loader, Node, CALLBACK, HEADER, MEDIA_TYPE, PARAMETER, PATH_ITEM, REQUEST_BODY, RESPONSE,
};
use crate::model::{
    Header, In, MediaType, Operation, Parameter, RequestBody, Response, StatusKey, Style, Version,
};
use serde_json::Value;

/// The fixed fields of a path item that are operations, in the order
/// operations are listed.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The JSON Schema dialects that mean what the 3.1/3.2 readers read.
const DIALECTS: &[&str] = &[
    "https://spec.openapis.org/oas/3.1/dialect/base",
    "https://spec.openapis.org/oas/3.1/dialect/2024-10-25",
    "https://spec.openapis.org/oas/3.2/dialect/base",
    "https://spec.openapis.org/oas/3.2/dialect/2025-09-17",
    "https://json-schema.org/draft/2020-12/schema",
];

/// Where an operation goes: `paths`, or the other direction (webhooks,
/// callbacks).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Paths,
    Webhooks,
}

impl Loader<'_> {
    pub(super) fn v3(&mut self) {
        let root_value = self.files.value(0);
        let root: &Value = &root_value;
        let at = At::root(0);
        self.info(&at, root);
        if self.version >= Version::V31 {
            if let Some(dialect) = self.string(&at, root, "jsonSchemaDialect") {
                let known = DIALECTS.iter().any(|d| dialect.trim_end_matches('#') == *d);
                if !known {
                    self.warn(
                        &at.key("jsonSchemaDialect"),
                        format!(
                            "JSON Schema dialect `{dialect}` is not the OpenAPI base dialect; \
                             schemas are read as JSON Schema 2020-12"
                        ),
                    );
                }
            }
        }
        if let Some(self_uri) = root.get("$self") {
            match self_uri {
                Value::String(uri) if self.version >= Version::V32 => self.files.set_self(uri),
                Value::String(_) => {}
                _ => self.warn(&at.key("$self"), "`$self` must be a URI string; ignored"),
            }
        }
        // Component schemas first, in document order: they are the named
        // types.
        let components_at = at.key("components");
        if let Some(components) = self.object(&at, root, "components") {
            if let Some(schemas) = components.get("schemas") {
                let schemas_at = components_at.key("schemas");
                match schemas {
                    Value::Object(map) => {
                        for (name, schema) in map {
                            let id = self.schema(&schemas_at.key(name), schema);
                            self.doc.components.push((name.clone(), id));
                        }
                    }
                    Value::Null => {}
                    other => {
                        let found = super::kind_of(other);
                        self.bad(
                            &schemas_at,
                            format!("`schemas` must be an object, found {found}"),
                        );
                    }
                }
            }
        }
        match root.get("paths") {
            Some(Value::Object(paths)) => {
                let paths_at = at.key("paths");
                for (path, item) in paths {
                    if path.starts_with("x-") {
                        continue;
                    }
                    let item_at = paths_at.key(path);
                    self.path_item(&item_at, item, path, Direction::Paths);
                }
            }
            // 3.1 made `paths` optional (a document of webhooks alone).
            None | Some(Value::Null) if self.version >= Version::V31 => {}
            None | Some(Value::Null) => self.error(&at, "missing field `paths`"),
            Some(other) => {
                let found = super::kind_of(other);
                self.error(
                    &at.key("paths"),
                    format!("`paths` must be an object, found {found}"),
                );
            }
        }
        if self.version >= Version::V31 {
            if let Some(webhooks) = self.object(&at, root, "webhooks") {
                let webhooks_at = at.key("webhooks");
                for (name, item) in webhooks {
                    if name.starts_with("x-") {
                        continue;
                    }
                    let path = format!("/{name}");
                    self.path_item(&webhooks_at.key(name), item, &path, Direction::Webhooks);
                }
            }
        }
    }

    /// `info.title` and `info.description`.
    pub(super) fn info(&mut self, at: &At, root: &Value) {
        match self.object(at, root, "info") {
            Some(info) => {
                let info = Value::Object(info.clone());
                let info_at = at.key("info");
                match self.string(&info_at, &info, "title") {
                    Some(title) => self.doc.title = title.to_owned(),
                    None => self.bad(&info_at, "missing field `title`"),
                }
                self.doc.description = self
                    .string(&info_at, &info, "description")
                    .map(str::to_owned);
            }
            None => self.bad(at, "missing field `info`"),
        }
    }

    /// The operations of the path item `v` at `at` (a `$ref` to one is
    /// followed: the operations are located where they are written).
    fn path_item(&mut self, at: &At, v: &Value, path: &str, direction: Direction) {
        let Some(node) = self.follow(at, v, PATH_ITEM) else {
            return;
        };
        let item = node.value();
        let item_at = node.at.clone();
        let shared = self.parameters(&item_at, item);
        let mut methods: Vec<(String, At, &Value)> = Vec::new();
        for method in METHODS
            .iter()
            .copied()
            .chain((self.version >= Version::V32).then_some("query"))
        {
            if let Some(op) = item.get(method) {
                methods.push((method.to_ascii_uppercase(), item_at.key(method), op));
            }
        }
        if self.version >= Version::V32 {
            if let Some(more) = self.object(&item_at, item, "additionalOperations") {
                let more_at = item_at.key("additionalOperations");
                for (method, op) in more {
                    methods.push((method.to_ascii_uppercase(), more_at.key(method), op));
                }
            }
        }
        for (method, op_at, op) in methods {
            if !op.is_object() {
                let found = super::kind_of(op);
                self.bad(
                    &op_at,
                    format!("an operation must be an object, found {found}"),
                );
                continue;
            }
            let operation = self.operation(&op_at, op, &method, path, &shared);
            match direction {
                Direction::Paths => self.doc.operations.push(operation),
                Direction::Webhooks => self.doc.webhooks.push(operation),
            }
        }
    }

    fn operation(
        &mut self,
        at: &At,
        op: &Value,
        method: &str,
        path: &str,
        shared: &[Parameter],
    ) -> Operation {
        let mut parameters = self.parameters(at, op);
        for p in shared {
            if !parameters
                .iter()
                .any(|q| q.name == p.name && q.location == p.location)
            {
                parameters.push(p.clone());
            }
        }
        let request_body = op
            .get("requestBody")
            .and_then(|body| self.request_body(&at.key("requestBody"), body));
        let responses = self.responses(at, op);
        // Callbacks: calls the API makes, to `/{callback name}` (and
        // `/{callback name}/{n}` for the n-th further expression of one
        // callback, counted from 2).
        if let Some(callbacks) = self.object(at, op, "callbacks") {
            let callbacks_at = at.key("callbacks");
            for (name, callback) in callbacks {
                let callback_at = callbacks_at.key(name);
                let Some(node) = self.follow(&callback_at, callback, CALLBACK) else {
                    continue;
                };
                let Value::Object(expressions) = node.value() else {
                    continue;
                };
                let mut n = 0;
                for (expression, item) in expressions {
                    if expression.starts_with("x-") {
                        continue;
                    }
                    n += 1;
                    let path = if n == 1 {
                        format!("/{name}")
                    } else {
                        format!("/{name}/{n}")
                    };
                    self.path_item(&node.at.key(expression), item, &path, Direction::Webhooks);
                }
            }
        }
        Operation {
            loc: self.loc(at),
            method: method.to_owned(),
            path: path.to_owned(),
            operation_id: self.string(at, op, "operationId").map(str::to_owned),
            summary: self.string(at, op, "summary").map(str::to_owned),
            description: self.string(at, op, "description").map(str::to_owned),
            tags: self.strings(at, op, "tags").unwrap_or_default(),
            parameters,
            request_body,
            responses,
        }
    }

    /// The `parameters` list of an operation or path item.
    fn parameters(&mut self, at: &At, v: &Value) -> Vec<Parameter> {
        let Some(list) = self.array(at, v, "parameters") else {
            return Vec::new();
        };
        let list_at = at.key("parameters");
        let mut out = Vec::with_capacity(list.len());
        for (i, p) in list.iter().enumerate() {
            let Some(node) = self.follow(&list_at.index(i), p, PARAMETER) else {
                continue;
            };
            if let Some(parameter) = self.parameter(&node) {
                out.push(parameter);
            }
        }
        out
    }

    fn parameter(&mut self, node: &Node) -> Option<Parameter> {
        let p = node.value();
        let at = &node.at;
        let Some(name) = self.string(at, p, "name") else {
            self.error(at, "missing field `name`");
            return None;
        };
        let location = match self.string(at, p, "in") {
            Some("path") => In::Path,
            Some("query") => In::Query,
            Some("header") => In::Header,
            Some("cookie") => In::Cookie,
            Some("querystring") if self.version >= Version::V32 => In::QueryString,
            Some(other) => {
                let message = format!("unknown parameter location `in: {other}`");
                self.error(&at.key("in"), message);
                return None;
            }
            None => {
                self.error(at, "missing field `in`");
                return None;
            }
        };
        let style = match self.string(at, p, "style") {
            None => None,
            Some("form") => Some(Style::Form),
            Some("simple") => Some(Style::Simple),
            Some("spaceDelimited") => Some(Style::SpaceDelimited),
            Some("pipeDelimited") => Some(Style::PipeDelimited),
            Some("deepObject") => Some(Style::DeepObject),
            Some("matrix") => Some(Style::Matrix),
            Some("label") => Some(Style::Label),
            Some(other) => {
                let message = format!("unknown parameter style `{other}`; the default is used");
                self.warn(&at.key("style"), message);
                None
            }
        };
        let schema = p.get("schema").map(|s| self.schema(&at.key("schema"), s));
        let content = self.content(at, p).into_iter().next();
        Some(Parameter {
            loc: self.loc(at),
            name: name.to_owned(),
            location,
            required: self.boolean(at, p, "required"),
            description: self.string(at, p, "description").map(str::to_owned),
            style,
            explode: self.opt_boolean(at, p, "explode"),
            schema,
            content,
            allow_empty: self.boolean(at, p, "allowEmptyValue"),
        })
    }

    fn request_body(&mut self, at: &At, v: &Value) -> Option<RequestBody> {
        let node = self.follow(at, v, REQUEST_BODY)?;
        let body = node.value();
        let at = &node.at;
        Some(RequestBody {
            loc: self.loc(at),
            required: self.boolean(at, body, "required"),
            content: self.content(at, body),
        })
    }

    /// The `content` map of `v`: one media type per entry.
    fn content(&mut self, at: &At, v: &Value) -> Vec<MediaType> {
        let Some(content) = self.object(at, v, "content") else {
            return Vec::new();
        };
        let content_at = at.key("content");
        let mut out = Vec::with_capacity(content.len());
        for (media, mt) in content {
            let Some(node) = self.follow(&content_at.key(media), mt, MEDIA_TYPE) else {
                continue;
            };
            let mt = node.value();
            let mt_at = &node.at;
            let schema = mt
                .get("schema")
                .map(|s| self.schema(&mt_at.key("schema"), s));
            let item_schema = match mt.get("itemSchema") {
                Some(s) if self.version >= Version::V32 => {
                    Some(self.schema(&mt_at.key("itemSchema"), s))
                }
                Some(_) => {
                    self.warn(
                        &mt_at.key("itemSchema"),
                        "`itemSchema` is OpenAPI 3.2; ignored",
                    );
                    None
                }
                None => None,
            };
            out.push(MediaType {
                loc: self.loc(mt_at),
                media: media.clone(),
                schema,
                item_schema,
            });
        }
        out
    }

    fn responses(&mut self, at: &At, op: &Value) -> Vec<Response> {
        let Some(responses) = self.object(at, op, "responses") else {
            return Vec::new();
        };
        let responses_at = at.key("responses");
        let mut out = Vec::with_capacity(responses.len());
        let mut default = None;
        for (key, r) in responses {
            if key.starts_with("x-") {
                continue;
            }
            let key_at = responses_at.key(key);
            let Some(status) = status_key(key) else {
                self.warn(&key_at, format!("`{key}` is not a status code; ignored"));
                continue;
            };
            let Some(node) = self.follow(&key_at, r, RESPONSE) else {
                continue;
            };
            let response = self.response(&key_at, &node, status);
            if status == StatusKey::Default {
                default = Some(response);
            } else {
                out.push(response);
            }
        }
        // `default` last, whatever its place.
        out.extend(default);
        out
    }

    fn response(&mut self, key_at: &At, node: &Node, status: StatusKey) -> Response {
        let r = node.value();
        let at = &node.at;
        let description = self.string(at, r, "description").map(str::to_owned);
        if description.is_none() && self.version < Version::V32 {
            self.warn(
                at,
                "a response needs a `description` before OpenAPI 3.2; read without one",
            );
        }
        let mut headers = Vec::new();
        if let Some(map) = self.object(at, r, "headers") {
            let headers_at = at.key("headers");
            for (name, h) in map {
                let Some(h_node) = self.follow(&headers_at.key(name), h, HEADER) else {
                    continue;
                };
                let header = h_node.value();
                let h_at = &h_node.at;
                let schema = match header.get("schema") {
                    Some(s) => Some(self.schema(&h_at.key("schema"), s)),
                    None => self
                        .content(h_at, header)
                        .into_iter()
                        .next()
                        .and_then(|m| m.schema),
                };
                headers.push(Header {
                    loc: self.loc(h_at),
                    name: name.clone(),
                    required: self.boolean(h_at, header, "required"),
                    schema,
                });
            }
        }
        Response {
            key_loc: self.loc(key_at),
            loc: self.loc(at),
            status,
            description,
            content: self.content(at, r),
            headers,
        }
    }
}

/// `200`, `2XX`/`2xx`, `default`.
pub(super) fn status_key(key: &str) -> Option<StatusKey> {
    if key == "default" {
        return Some(StatusKey::Default);
    }
    let bytes = key.as_bytes();
    if bytes.len() != 3 {
        return None;
    }
    if let Ok(code) = key.parse::<u16>() {
        return Some(StatusKey::Code(code));
    }
    match bytes {
        [d @ b'1'..=b'5', b'X' | b'x', b'X' | b'x'] => Some(StatusKey::Range(u16::from(d - b'0'))),
        _ => None,
    }
}
