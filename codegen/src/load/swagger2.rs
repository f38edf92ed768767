//! Swagger 2.0 → the model, read from the user's own document (not
//! converted to 3.0 first, so that every diagnostic points into it).
//!
//! What differs from 3.x: `definitions` and the top-level `parameters` and
//! `responses`; parameters carry their schema inline (`type`, `items`,
//! `collectionFormat`…); the body is an `in: body` parameter, or the
//! `in: formData` ones; `consumes`/`produces` give the media types;
//! `basePath` prefixes every route.

use super::refs::At;
use super::{Loader, Node, PARAMETER, PATH_ITEM, RESPONSE};
use crate::model::{
    Header, In, MediaType, Operation, Parameter, RequestBody, Response, Schema, StatusKey, Style,
    Type,
};
use serde_json::Value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

const JSON: &str = "application/json";

impl Loader<'_> {
    pub(super) fn swagger2(&mut self) {
        let root_value = self.files.value(0);
        let root: &Value = &root_value;
        let at = At::root(0);
        self.info(&at, root);
        if let Some(base) = self.string(&at, root, "basePath") {
            let base = base.trim_end_matches('/');
            self.doc.base_path = if base.is_empty() || base.starts_with('/') {
                base.to_owned()
            } else {
                self.warn(
                    &at.key("basePath"),
                    "`basePath` must start with `/`; one is added",
                );
                format!("/{base}")
            };
        }
        let consumes = self.strings(&at, root, "consumes");
        let produces = self.strings(&at, root, "produces");
        if let Some(definitions) = self.object(&at, root, "definitions") {
            let definitions_at = at.key("definitions");
            for (name, schema) in definitions {
                let id = self.schema(&definitions_at.key(name), schema);
                self.doc.components.push((name.clone(), id));
            }
        }
        let global = Media {
            consumes: consumes.unwrap_or_default(),
            produces: produces.unwrap_or_default(),
        };
        match root.get("paths") {
            Some(Value::Object(paths)) => {
                let paths_at = at.key("paths");
                for (path, item) in paths {
                    if path.starts_with("x-") {
                        continue;
                    }
                    self.path_item2(&paths_at.key(path), item, path, &global);
                }
            }
            Some(other) => {
                let found = super::kind_of(other);
                self.bad(
                    &at.key("paths"),
                    format!("`paths` must be an object, found {found}"),
                );
            }
            None => self.warn(&at, "missing field `paths`"),
        }
    }

    fn path_item2(&mut self, at: &At, v: &Value, path: &str, global: &Media) {
        let Some(node) = self.follow(at, v, PATH_ITEM) else {
            return;
        };
        let item = node.value();
        let item_at = &node.at;
        let shared = self.param_nodes(item_at, item);
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let op_at = item_at.key(method);
            if !op.is_object() {
                let found = super::kind_of(op);
                self.bad(
                    &op_at,
                    format!("an operation must be an object, found {found}"),
                );
                continue;
            }
            let operation = self.operation2(&op_at, op, method, path, &shared, global);
            self.doc.operations.push(operation);
        }
    }

    /// The parameter objects of an operation or path item, `$ref`s followed.
    fn param_nodes(&mut self, at: &At, v: &Value) -> Vec<Node> {
        let Some(list) = self.array(at, v, "parameters") else {
            return Vec::new();
        };
        let list_at = at.key("parameters");
        list.iter()
            .enumerate()
            .filter_map(|(i, p)| self.follow(&list_at.index(i), p, PARAMETER))
            .collect()
    }

    fn operation2(
        &mut self,
        at: &At,
        op: &Value,
        method: &str,
        path: &str,
        shared: &[Node],
        global: &Media,
    ) -> Operation {
        let mut nodes = self.param_nodes(at, op);
        let key = |n: &Node| {
            let v = n.value();
            (
                v.get("name").and_then(Value::as_str).map(str::to_owned),
                v.get("in").and_then(Value::as_str).map(str::to_owned),
            )
        };
        let own: Vec<_> = nodes.iter().map(key).collect();
        for node in shared {
            if !own.contains(&key(node)) {
                nodes.push(node.clone());
            }
        }
        let consumes = self
            .strings(at, op, "consumes")
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| global.consumes.clone());
        let produces = self
            .strings(at, op, "produces")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| global.produces.clone());
        let mut parameters = Vec::new();
        let mut body: Option<RequestBody> = None;
        let mut form: Vec<&Node> = Vec::new();
        for node in &nodes {
            let p = node.value();
            let p_at = &node.at;
            match self.string(p_at, p, "in") {
                Some("body") => {
                    if body.is_some() {
                        self.warn(
                            p_at,
                            "an operation has one body parameter; this one is ignored",
                        );
                        continue;
                    }
                    let schema = match p.get("schema") {
                        Some(s) => Some(self.schema(&p_at.key("schema"), s)),
                        None => {
                            self.bad(p_at, "a body parameter needs a `schema`");
                            None
                        }
                    };
                    let media = if consumes.is_empty() {
                        vec![JSON.to_owned()]
                    } else {
                        consumes.clone()
                    };
                    let loc = self.loc(p_at);
                    body = Some(RequestBody {
                        loc: loc.clone(),
                        required: self.boolean(p_at, p, "required"),
                        content: media
                            .into_iter()
                            .map(|media| MediaType {
                                loc: loc.clone(),
                                media,
                                schema,
                                item_schema: None,
                            })
                            .collect(),
                    });
                }
                Some("formData") => form.push(node),
                Some(_) => {
                    if let Some(parameter) = self.parameter2(node) {
                        parameters.push(parameter);
                    }
                }
                None => self.error(p_at, "missing field `in`"),
            }
        }
        if !form.is_empty() {
            if body.is_some() {
                self.warn(
                    at,
                    "an operation has a body parameter or formData parameters, not both; \
                     the formData parameters are ignored",
                );
            } else {
                body = Some(self.form_body(at, &form, &consumes));
            }
        }
        let responses = self.responses2(at, op, &produces);
        Operation {
            loc: self.loc(at),
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            operation_id: self.string(at, op, "operationId").map(str::to_owned),
            summary: self.string(at, op, "summary").map(str::to_owned),
            description: self.string(at, op, "description").map(str::to_owned),
            tags: self.strings(at, op, "tags").unwrap_or_default(),
            parameters,
            request_body: body,
            responses,
        }
    }

    /// A query, path or header parameter.
    fn parameter2(&mut self, node: &Node) -> Option<Parameter> {
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
            Some(other) => {
                let message = format!("unknown parameter location `in: {other}`");
                self.error(&at.key("in"), message);
                return None;
            }
            None => return None,
        };
        let schema = self.param_schema(at, p);
        // The description is the parameter's.
        self.doc.schemas[schema].description = None;
        let is_array = self.doc.schemas[schema].ty == Some(Type::Array);
        let format = self.string(at, p, "collectionFormat").unwrap_or("csv");
        let (style, explode) = if is_array {
            match (location, format) {
                (In::Query, "csv") => (Some(Style::Form), Some(false)),
                (In::Query, "multi") => (Some(Style::Form), Some(true)),
                (_, "ssv") => (Some(Style::SpaceDelimited), Some(false)),
                (_, "tsv") => (Some(Style::TabDelimited), Some(false)),
                (_, "pipes") => (Some(Style::PipeDelimited), Some(false)),
                (_, "csv") => (Some(Style::Simple), Some(false)),
                (_, other) => {
                    let message = format!(
                        "collectionFormat `{other}` is not supported {}; `csv` is used",
                        if other == "multi" {
                            "outside query and formData parameters"
                        } else {
                            "here"
                        }
                    );
                    self.warn(&at.key("collectionFormat"), message);
                    if location == In::Query {
                        (Some(Style::Form), Some(false))
                    } else {
                        (Some(Style::Simple), Some(false))
                    }
                }
            }
        } else {
            (None, None)
        };
        Some(Parameter {
            loc: self.loc(at),
            name: name.to_owned(),
            location,
            required: self.boolean(at, p, "required"),
            description: self.string(at, p, "description").map(str::to_owned),
            style,
            explode,
            schema: Some(schema),
            content: None,
            allow_empty: self.boolean(at, p, "allowEmptyValue"),
        })
    }

    /// The `in: formData` parameters as one object body: multipart when
    /// `consumes` says so or a parameter is a file, a URL-encoded form
    /// otherwise.
    fn form_body(&mut self, op_at: &At, form: &[&Node], consumes: &[String]) -> RequestBody {
        let loc = self.loc(&op_at.key("parameters"));
        let mut object = Schema {
            loc: loc.clone(),
            ty: Some(Type::Object),
            ..Schema::default()
        };
        let mut file = false;
        let mut required = false;
        for node in form {
            let p = node.value();
            let at = &node.at;
            let Some(name) = self.string(at, p, "name") else {
                self.error(at, "missing field `name`");
                continue;
            };
            file |= p.get("type").and_then(Value::as_str) == Some("file");
            let schema = self.param_schema(at, p);
            if self.boolean(at, p, "required") {
                object.required.push(name.to_owned());
                required = true;
            }
            object.properties.insert(name.to_owned(), schema);
        }
        let multipart = file
            || consumes
                .iter()
                .any(|c| c.trim().eq_ignore_ascii_case("multipart/form-data"));
        let media = if multipart {
            "multipart/form-data"
        } else {
            "application/x-www-form-urlencoded"
        };
        self.doc.schemas.push(object);
        let schema = self.doc.schemas.len() - 1;
        RequestBody {
            loc: loc.clone(),
            required,
            content: vec![MediaType {
                loc,
                media: media.to_owned(),
                schema: Some(schema),
                item_schema: None,
            }],
        }
    }

    fn responses2(&mut self, at: &At, op: &Value, produces: &[String]) -> Vec<Response> {
        let Some(responses) = self.object(at, op, "responses") else {
            self.warn(at, "missing field `responses`");
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
            let Some(status) = super::v3::status_key(key) else {
                self.warn(&key_at, format!("`{key}` is not a status code; ignored"));
                continue;
            };
            let Some(node) = self.follow(&key_at, r, RESPONSE) else {
                continue;
            };
            let response = self.response2(&key_at, &node, status, produces);
            if status == StatusKey::Default {
                default = Some(response);
            } else {
                out.push(response);
            }
        }
        out.extend(default);
        out
    }

    fn response2(
        &mut self,
        key_at: &At,
        node: &Node,
        status: StatusKey,
        produces: &[String],
    ) -> Response {
        let r = node.value();
        let at = &node.at;
        let description = self.string(at, r, "description").map(str::to_owned);
        if description.is_none() {
            self.warn(at, "a response needs a `description`; read without one");
        }
        let mut content = Vec::new();
        if let Some(schema) = r.get("schema") {
            let schema_at = at.key("schema");
            let file = schema.get("type").and_then(Value::as_str) == Some("file");
            let id = self.schema(&schema_at, schema);
            let mut media: Vec<String> = if file {
                // A file is bytes: not under a JSON media type.
                produces
                    .iter()
                    .filter(|m| crate::ops::classify(m) != crate::ops::Media::Json)
                    .cloned()
                    .collect()
            } else {
                produces.to_vec()
            };
            if media.is_empty() {
                media.push(
                    if file {
                        "application/octet-stream"
                    } else {
                        JSON
                    }
                    .to_owned(),
                );
            }
            let loc = self.loc(&schema_at);
            content = media
                .into_iter()
                .map(|media| MediaType {
                    loc: loc.clone(),
                    media,
                    schema: Some(id),
                    item_schema: None,
                })
                .collect();
        }
        let mut headers = Vec::new();
        if let Some(map) = self.object(at, r, "headers") {
            let headers_at = at.key("headers");
            for (name, h) in map {
                let h_at = headers_at.key(name);
                if !h.is_object() {
                    let found = super::kind_of(h);
                    self.bad(&h_at, format!("a header must be an object, found {found}"));
                    continue;
                }
                let schema = self.param_schema(&h_at, h);
                headers.push(Header {
                    loc: self.loc(&h_at),
                    name: name.clone(),
                    required: false,
                    schema: Some(schema),
                });
            }
        }
        Response {
            key_loc: self.loc(key_at),
            loc: self.loc(at),
            status,
            description,
            content,
            headers,
        }
    }
}

/// The document's `consumes` and `produces`.
struct Media {
    consumes: Vec<String>,
    produces: Vec<String>,
}
