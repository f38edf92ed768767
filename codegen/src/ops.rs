//! Model the operations: parameters, bodies and responses in Rust terms.

use crate::diag::{join, Diags};
use crate::naming::{camel, range_variant, snake, status_variant, Scope};
use crate::schema::{Ty, TypeSpace};
use crate::Selection;
use indexmap::IndexMap;
use openapiv3::{
    MediaType, OpenAPI, Operation, Parameter, ParameterSchemaOrContent, PathStyle, QueryStyle,
    ReferenceOr, Response, StatusCode,
};
use std::collections::HashSet;

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

#[derive(Debug)]
pub(crate) struct Param {
    pub(crate) rust: String,
    pub(crate) wire: String,
    pub(crate) location: Location,
    /// The value type (without the `Option` of an optional parameter).
    pub(crate) ty: Ty,
    pub(crate) required: bool,
    /// Arrays: repeated keys (`a=1&a=2`) rather than one joined value.
    pub(crate) explode: bool,
    /// Separator of joined array values.
    pub(crate) separator: char,
    /// `deepObject` style: `name[key]=value`.
    pub(crate) deep: bool,
    pub(crate) doc: Option<String>,
}

impl Param {
    pub(crate) fn is_array(&self) -> bool {
        matches!(self.ty, Ty::Vec(_))
    }
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    Json,
    Form,
    Text,
    Bytes,
    /// A response that is a stream of JSON items; the content's type is
    /// the item type.
    Stream(StreamFmt),
}

/// How the items of a streamed response are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamFmt {
    Ndjson,
    Sse,
    JsonSeq,
}

/// The stream framing of a media type, if it is one.
pub(crate) fn stream_format(media: &str) -> Option<StreamFmt> {
    match essence(media).as_str() {
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Some(StreamFmt::Ndjson),
        "text/event-stream" => Some(StreamFmt::Sse),
        "application/json-seq" => Some(StreamFmt::JsonSeq),
        _ => None,
    }
}

#[derive(Debug)]
pub(crate) struct Content {
    /// The media type as the spec writes it (may be a pattern such as `text/*`).
    pub(crate) media: String,
    pub(crate) kind: Media,
    pub(crate) ty: Ty,
    /// Variant name when a body has several media types.
    pub(crate) variant: String,
}

/// A request or response body.
#[derive(Debug)]
pub(crate) struct Body {
    pub(crate) contents: Vec<Content>,
    /// Name of the enum over media types, when there are several.
    pub(crate) enum_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Code(u16),
    Range(u16),
    Default,
}

#[derive(Debug)]
pub(crate) struct RespHeader {
    pub(crate) rust: String,
    pub(crate) wire: String,
    pub(crate) ty: Ty,
    pub(crate) required: bool,
}

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: Status,
    pub(crate) variant: String,
    pub(crate) doc: Option<String>,
    pub(crate) body: Option<Body>,
    pub(crate) headers: Vec<RespHeader>,
}

impl Resp {
    /// Whether the variant carries its status code (ranges and `default`).
    pub(crate) fn has_status(&self) -> bool {
        !matches!(self.status, Status::Code(_))
    }

    /// A tuple variant `V(body)` suffices.
    pub(crate) fn is_tuple(&self) -> bool {
        !self.has_status() && self.headers.is_empty() && self.body.is_some()
    }
}

#[derive(Debug)]
pub(crate) struct Op {
    /// Method name (`list_pets`).
    pub(crate) name: String,
    /// The operationId, or `METHOD /path` when there is none.
    pub(crate) id: String,
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) doc: Option<String>,
    pub(crate) params: Vec<Param>,
    pub(crate) body: Option<Body>,
    pub(crate) body_required: bool,
    pub(crate) body_arg: String,
    pub(crate) responses: Vec<Resp>,
    pub(crate) response_enum: String,
    pub(crate) request_builder: String,
}

impl Op {
    /// Every type the operation's parameters, bodies and responses use.
    pub(crate) fn types(&self) -> impl Iterator<Item = &Ty> {
        fn contents(body: &Option<Body>) -> impl Iterator<Item = &Ty> {
            body.iter().flat_map(|b| b.contents.iter().map(|c| &c.ty))
        }
        let params = self.params.iter().map(|p| &p.ty);
        let responses = self
            .responses
            .iter()
            .flat_map(|r| contents(&r.body).chain(r.headers.iter().map(|h| &h.ty)));
        params.chain(contents(&self.body)).chain(responses)
    }
}

/// Names the generated module uses at its top level.
pub(crate) const RESERVED_TOP: &[&str] = &["Api", "ApiService", "Client", "types", "defaults"];

const METHODS: &[&str] = &[
    "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
];

pub(crate) fn model_ops<'a>(
    spec: &'a OpenAPI,
    space: &mut TypeSpace<'a>,
    select: &Selection,
    diags: &mut Diags,
) -> Vec<Op> {
    let mut methods = Scope::with_reserved(&["new", "connection", "into_connection"]);
    let mut top = Scope::with_reserved(RESERVED_TOP);
    let mut ops = Vec::new();
    // What the selection named and the document has.
    let mut seen_tags: HashSet<&str> = HashSet::new();
    let mut seen_ids: HashSet<String> = HashSet::new();
    for (path, item) in &spec.paths.paths {
        let path_ptr = join("#/paths", path);
        let item = match item {
            ReferenceOr::Item(item) => item,
            ReferenceOr::Reference { reference } => {
                diags.error(
                    &join(&path_ptr, "$ref"),
                    format!("path item $ref `{reference}` is not supported"),
                );
                continue;
            }
        };
        let list = [
            &item.get,
            &item.put,
            &item.post,
            &item.delete,
            &item.options,
            &item.head,
            &item.patch,
            &item.trace,
        ];
        for (method, op) in METHODS.iter().zip(list) {
            let Some(op) = op else { continue };
            let id = op_id(op, method, path);
            seen_tags.extend(op.tags.iter().map(String::as_str));
            let keep = select.keeps(&id, &op.tags);
            seen_ids.insert(id);
            if !keep {
                // Its names stay taken, so that those of the operations
                // kept do not depend on the selection.
                op_names(op, method, path, &mut methods, &mut top);
                continue;
            }
            let ptr = join(&path_ptr, &method.to_ascii_lowercase());
            let ctx = OpCtx {
                spec,
                path,
                method,
                pointer: &ptr,
                shared: &item.parameters,
            };
            if let Some(op) = ctx.model(op, space, &mut methods, &mut top, diags) {
                ops.push(op);
            }
        }
    }
    // A tag or operation that matches nothing is most likely a typo.
    let options = [
        ("tags", &select.tags, true),
        ("exclude_tags", &select.exclude_tags, true),
        ("operations", &select.operations, false),
        ("exclude_operations", &select.exclude_operations, false),
    ];
    for (option, list, is_tag) in options {
        for name in list {
            let message = if is_tag && !seen_tags.contains(name.as_str()) {
                format!("option {option}: no operation has the tag `{name}`")
            } else if !is_tag && !seen_ids.contains(name.as_str()) {
                format!(
                    "option {option}: no operation has the operationId `{name}` \
                     (one without an operationId is named `METHOD /path`)"
                )
            } else {
                continue;
            };
            diags.error("#/paths", message);
        }
    }
    ops
}

/// The operationId, or `METHOD /path` when there is none.
fn op_id(op: &Operation, method: &str, path: &str) -> String {
    op.operation_id
        .clone()
        .unwrap_or_else(|| format!("{method} {path}"))
}

/// Claims the method, response enum and request builder names of an
/// operation.
fn op_names(
    op: &Operation,
    method: &str,
    path: &str,
    methods: &mut Scope,
    top: &mut Scope,
) -> (String, String, String) {
    let name = methods.claim(snake(&op_id(op, method, path), "operation"));
    let camel_name = camel(&name, "Operation");
    let response_enum = top.claim(format!("{camel_name}Response"));
    let request_builder = top.claim(format!("{camel_name}Request"));
    (name, response_enum, request_builder)
}

struct OpCtx<'a, 'b> {
    spec: &'a OpenAPI,
    path: &'a str,
    method: &'static str,
    pointer: &'b str,
    shared: &'a [ReferenceOr<Parameter>],
}

impl<'a> OpCtx<'a, '_> {
    fn model(
        &self,
        op: &'a Operation,
        space: &mut TypeSpace<'a>,
        methods: &mut Scope,
        top: &mut Scope,
        diags: &mut Diags,
    ) -> Option<Op> {
        let id = op_id(op, self.method, self.path);
        let (name, response_enum, request_builder) =
            op_names(op, self.method, self.path, methods, top);
        let camel_name = camel(&name, "Operation");
        let mut args = Scope::with_reserved(&["ctx", "send", "self", "__client", "into_future"]);

        // Parameters: the operation's override the path item's by (name, in).
        let mut raw: Vec<(&'a Parameter, String)> = Vec::new();
        for (i, p) in op.parameters.iter().enumerate() {
            let ptr = join(&join(self.pointer, "parameters"), &i.to_string());
            if let Some((p, _)) =
                self.resolve(p, &ptr, "parameters", "parameter", |c| &c.parameters, diags)
            {
                raw.push((p, ptr));
            }
        }
        let path_ptr = self
            .pointer
            .rsplit_once('/')
            .map_or(self.pointer, |(p, _)| p);
        for (i, p) in self.shared.iter().enumerate() {
            let ptr = join(&join(path_ptr, "parameters"), &i.to_string());
            if let Some((p, _)) =
                self.resolve(p, &ptr, "parameters", "parameter", |c| &c.parameters, diags)
            {
                let data = p.parameter_data_ref();
                let overridden = raw.iter().any(|(q, _)| {
                    let d = q.parameter_data_ref();
                    d.name == data.name && std::mem::discriminant(*q) == std::mem::discriminant(p)
                });
                if !overridden {
                    raw.push((p, ptr));
                }
            }
        }
        let body_arg = if op.request_body.is_some() {
            args.claim("body".to_owned())
        } else {
            String::new()
        };
        let mut params = Vec::new();
        for (p, ptr) in raw {
            if let Some(param) = self.param(p, &ptr, &camel_name, space, &mut args, diags) {
                params.push(param);
            }
        }
        for segment in template_params(self.path) {
            if !params
                .iter()
                .any(|p| p.location == Location::Path && p.wire == segment)
            {
                diags.error(
                    self.pointer,
                    format!(
                        "path parameter `{segment}` of `{}` is not declared",
                        self.path
                    ),
                );
            }
        }
        // Path parameters follow the template order.
        let order = template_params(self.path);
        params.sort_by_key(|p| match p.location {
            Location::Path => order
                .iter()
                .position(|s| *s == p.wire)
                .unwrap_or(usize::MAX),
            _ => usize::MAX,
        });

        let (body, body_required) = match &op.request_body {
            None => (None, false),
            Some(rb) => {
                let ptr = join(self.pointer, "requestBody");
                match self.resolve(
                    rb,
                    &ptr,
                    "requestBodies",
                    "request body",
                    |c| &c.request_bodies,
                    diags,
                ) {
                    Some((rb, ptr)) => {
                        let body = self.body(
                            &rb.content,
                            &join(&ptr, "content"),
                            &format!("{camel_name}Body"),
                            space,
                            top,
                            diags,
                        );
                        (body, rb.required)
                    }
                    None => (None, false),
                }
            }
        };

        let mut responses = Vec::new();
        let mut variants = Scope::default();
        let resp_ptr = join(self.pointer, "responses");
        for (code, resp) in &op.responses.responses {
            let (status, variant) = match code {
                StatusCode::Code(c) => (Status::Code(*c), status_variant(*c)),
                StatusCode::Range(c) => (Status::Range(*c), range_variant(*c)),
            };
            if let Status::Code(c) = status {
                if !(100..=999).contains(&c) {
                    diags.error(
                        &join(&resp_ptr, &code.to_string()),
                        format!("invalid status code {c}"),
                    );
                    continue;
                }
            }
            let ptr = join(&resp_ptr, &code.to_string());
            let variant = variants.claim(variant);
            if let Some(r) =
                self.response(resp, status, variant, &ptr, &camel_name, space, top, diags)
            {
                responses.push(r);
            }
        }
        if let Some(resp) = &op.responses.default {
            let ptr = join(&resp_ptr, "default");
            let variant = variants.claim("Default".to_owned());
            if let Some(r) = self.response(
                resp,
                Status::Default,
                variant,
                &ptr,
                &camel_name,
                space,
                top,
                diags,
            ) {
                responses.push(r);
            }
        }

        let doc = match (&op.summary, &op.description) {
            (Some(s), Some(d)) if !d.trim().is_empty() => {
                Some(format!("{}\n\n{}", s.trim(), d.trim()))
            }
            (Some(s), _) => Some(s.trim().to_owned()),
            (None, Some(d)) => Some(d.trim().to_owned()),
            (None, None) => None,
        };
        Some(Op {
            name,
            id,
            method: self.method,
            path: self.path.to_owned(),
            doc: doc.filter(|d| !d.is_empty()),
            params,
            body,
            body_required,
            body_arg,
            responses,
            response_enum,
            request_builder,
        })
    }

    /// Follows `$ref`s into `#/components/<section>` (`what` names one entry
    /// in messages); returns the item and the pointer where it is defined.
    fn resolve<T>(
        &self,
        item: &'a ReferenceOr<T>,
        ptr: &str,
        section: &str,
        what: &str,
        entries: impl Fn(&'a openapiv3::Components) -> &'a IndexMap<String, ReferenceOr<T>>,
        diags: &mut Diags,
    ) -> Option<(&'a T, String)> {
        let prefix = format!("#/components/{section}/");
        let mut current = item;
        let mut at = ptr.to_owned();
        for _ in 0..16 {
            match current {
                ReferenceOr::Item(item) => return Some((item, at)),
                ReferenceOr::Reference { reference } => {
                    let name = reference
                        .strip_prefix(prefix.as_str())
                        .map(crate::naming::unescape_token);
                    let next = name
                        .as_ref()
                        .and_then(|n| entries(self.spec.components.as_ref()?).get(n));
                    match (next, name) {
                        (Some(next), Some(name)) => {
                            current = next;
                            at = join(&format!("#/components/{section}"), &name);
                        }
                        _ => {
                            diags.error(
                                &join(&at, "$ref"),
                                format!("dangling $ref `{reference}`: no such {what} in #/components/{section}"),
                            );
                            return None;
                        }
                    }
                }
            }
        }
        diags.error(ptr, format!("cycle of {what} $refs"));
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn param(
        &self,
        p: &'a Parameter,
        ptr: &str,
        op_camel: &str,
        space: &mut TypeSpace<'a>,
        args: &mut Scope,
        diags: &mut Diags,
    ) -> Option<Param> {
        let data = p.parameter_data_ref();
        let deep = matches!(
            p,
            Parameter::Query {
                style: QueryStyle::DeepObject,
                ..
            }
        );
        let (location, explode_default, separator) = match p {
            Parameter::Path { style, .. } => {
                if *style != PathStyle::Simple {
                    diags.warn(
                        ptr,
                        "only the `simple` style is supported for path parameters; using it",
                    );
                }
                (Location::Path, false, ',')
            }
            Parameter::Query { style, .. } => match style {
                QueryStyle::Form => (Location::Query, true, ','),
                QueryStyle::SpaceDelimited => (Location::Query, false, ' '),
                QueryStyle::PipeDelimited => (Location::Query, false, '|'),
                QueryStyle::DeepObject => (Location::Query, true, ','),
            },
            Parameter::Header { .. } => (Location::Header, false, ','),
            Parameter::Cookie { .. } => (Location::Cookie, false, ','),
        };
        let hint = format!("{op_camel}{}", camel(&data.name, "Param"));
        let mut ty = match &data.format {
            ParameterSchemaOrContent::Schema(schema) => {
                space.ty_for(schema, &join(ptr, "schema"), &hint, diags)
            }
            ParameterSchemaOrContent::Content(content) => match content.iter().next() {
                Some((
                    media,
                    MediaType {
                        schema: Some(schema),
                        ..
                    },
                )) => {
                    let ptr = join(&join(&join(ptr, "content"), media), "schema");
                    let ty = space.ty_for(schema, &ptr, &hint, diags);
                    // Content parameters are JSON text on the wire.
                    diags.warn(&ptr, "a parameter with `content` is sent as JSON text");
                    ty
                }
                _ => Ty::String,
            },
        };
        if let Ty::Option(inner) = ty {
            ty = *inner;
        }
        let required = data.required || location == Location::Path;
        if location == Location::Path && !data.required {
            diags.warn(
                ptr,
                "path parameters must be required; treating it as required",
            );
        }
        let explode = data.explode.unwrap_or(explode_default);
        Some(Param {
            rust: args.claim(snake(&data.name, "param")),
            wire: data.name.clone(),
            location,
            ty,
            required,
            explode,
            separator,
            deep,
            doc: data.description.clone().filter(|d| !d.trim().is_empty()),
        })
    }

    fn body(
        &self,
        content: &'a IndexMap<String, MediaType>,
        ptr: &str,
        hint: &str,
        space: &mut TypeSpace<'a>,
        top: &mut Scope,
        diags: &mut Diags,
    ) -> Option<Body> {
        let mut contents: Vec<Content> = Vec::new();
        let mut scope = Scope::default();
        for (media, mt) in content {
            let kind = classify(media);
            let mptr = join(ptr, media);
            let ty = match kind {
                Media::Json | Media::Form => match &mt.schema {
                    Some(schema) => space.ty_for(schema, &join(&mptr, "schema"), hint, diags),
                    None => Ty::Value,
                },
                Media::Text => Ty::String,
                // Streams are recognised on responses only, below.
                Media::Stream(_) => Ty::Value,
                Media::Bytes => {
                    if media.starts_with("multipart/") {
                        diags.warn(&mptr, "multipart bodies are passed as raw bytes");
                    }
                    Ty::Bytes
                }
            };
            let base = match kind {
                Media::Json => "Json",
                Media::Form => "Form",
                Media::Text => "Text",
                Media::Bytes => "Bytes",
                Media::Stream(_) => "Stream",
            };
            let variant = if contents.iter().any(|c| c.kind == kind) {
                scope.claim(camel(media, "Media"))
            } else {
                scope.claim(base.to_owned())
            };
            contents.push(Content {
                media: media.clone(),
                kind,
                ty,
                variant,
            });
        }
        if contents.is_empty() {
            return None;
        }
        let enum_name = (contents.len() > 1).then(|| top.claim(hint.to_owned()));
        Some(Body {
            contents,
            enum_name,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn response(
        &self,
        resp: &'a ReferenceOr<Response>,
        status: Status,
        variant: String,
        ptr: &str,
        op_camel: &str,
        space: &mut TypeSpace<'a>,
        top: &mut Scope,
        diags: &mut Diags,
    ) -> Option<Resp> {
        let (r, at) = self.resolve(resp, ptr, "responses", "response", |c| &c.responses, diags)?;
        let hint = format!("{op_camel}{variant}Body");
        let mut body = self.body(&r.content, &join(&at, "content"), &hint, space, top, diags);
        // A response whose only media type is a stream of JSON items.
        if let (Some(b), Some((media, mt))) = (&mut body, r.content.first()) {
            if let (1, Some(format)) = (r.content.len(), stream_format(media)) {
                let sptr = join(&join(&join(&at, "content"), media), "schema");
                let item_hint = format!("{op_camel}{variant}Item");
                let ty = match mt.schema.as_ref() {
                    // An array schema describes the sequence; its items are the items.
                    Some(ReferenceOr::Item(openapiv3::Schema {
                        schema_kind: openapiv3::SchemaKind::Type(openapiv3::Type::Array(array)),
                        ..
                    })) => match &array.items {
                        Some(items) => {
                            space.ty_for(items, &join(&sptr, "items"), &item_hint, diags)
                        }
                        None => Ty::Value,
                    },
                    Some(schema) => space.ty_for(schema, &sptr, &item_hint, diags),
                    None => Ty::Value,
                };
                if let Some(content) = b.contents.first_mut() {
                    content.kind = Media::Stream(format);
                    content.ty = ty;
                    content.variant = "Stream".to_owned();
                }
            }
        }
        let mut headers = Vec::new();
        let mut names = Scope::with_reserved(&["status", "body"]);
        for (name, header) in &r.headers {
            if name.eq_ignore_ascii_case("content-type") {
                continue;
            }
            let hptr = join(&join(&at, "headers"), name);
            let Some((header, hptr)) =
                self.resolve(header, &hptr, "headers", "header", |c| &c.headers, diags)
            else {
                continue;
            };
            let hint = format!("{op_camel}{variant}{}", camel(name, "Header"));
            let ty = match &header.format {
                ParameterSchemaOrContent::Schema(s) => {
                    space.ty_for(s, &join(&hptr, "schema"), &hint, diags)
                }
                ParameterSchemaOrContent::Content(_) => Ty::String,
            };
            let ty = match ty {
                Ty::Option(inner) => *inner,
                other => other,
            };
            headers.push(RespHeader {
                rust: names.claim(snake(name, "header")),
                wire: name.clone(),
                ty,
                required: header.required,
            });
        }
        let doc = Some(r.description.trim().to_owned()).filter(|d| !d.is_empty());
        Some(Resp {
            status,
            variant,
            doc,
            body,
            headers,
        })
    }
}

/// The names of the `{param}`s in a path template, in order.
pub(crate) fn template_params(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}

/// A media type without its parameters, lower-cased.
fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// How a media type's body is encoded.
pub(crate) fn classify(media: &str) -> Media {
    let essence = essence(media);
    if essence == "application/json" || essence == "text/json" || essence.ends_with("+json") {
        Media::Json
    } else if essence == "application/x-www-form-urlencoded" {
        Media::Form
    } else if essence.starts_with("text/") {
        Media::Text
    } else {
        Media::Bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert_eq!(classify("application/json"), Media::Json);
        assert_eq!(classify("application/json; charset=utf-8"), Media::Json);
        assert_eq!(classify("application/vnd.github+json"), Media::Json);
        assert_eq!(classify("application/*+json"), Media::Json);
        assert_eq!(classify("text/json"), Media::Json);
        assert_eq!(classify("application/x-www-form-urlencoded"), Media::Form);
        assert_eq!(classify("text/plain"), Media::Text);
        assert_eq!(classify("text/x-markdown"), Media::Text);
        assert_eq!(classify("application/octet-stream"), Media::Bytes);
        assert_eq!(classify("*/*"), Media::Bytes);
        assert_eq!(classify("application/x-ndjson"), Media::Bytes);
    }

    #[test]
    fn templates() {
        assert_eq!(
            template_params("/pets/{petId}/toys/{toy}.json"),
            vec!["petId", "toy"]
        );
        assert!(template_params("/pets").is_empty());
        assert_eq!(template_params("/a/{unclosed"), Vec::<&str>::new());
    }
}
