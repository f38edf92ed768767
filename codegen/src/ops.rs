//! Model the operations: parameters, bodies and responses in Rust terms.

use crate::diag::Diags;
use crate::model::{self, Document, In, MediaType, Operation, StatusKey, Style, Type};
use crate::naming::{camel, range_variant, snake, status_variant, Scope};
use crate::schema::{Ty, TypeSpace};
use crate::Selection;
use std::collections::HashSet;

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Path,
    Query,
    Header,
    Cookie,
    /// 3.2 `in: querystring`: the whole query string, form-encoded.
    QueryString,
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
    /// `multipart/form-data` of an object: a part per property.
    Multipart,
    Text,
    Bytes,
    /// A response that is a stream of JSON items; the content's type is
    /// the item type.
    Stream(StreamFmt),
    /// A request body that is a sequence of JSON items (3.2 `itemSchema`);
    /// the content's type is the list of the items, sent whole.
    Items(StreamFmt),
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
    /// Where the operation is written (`#/paths/~1pets/get`).
    pub(crate) loc: String,
    /// Method name (`list_pets`).
    pub(crate) name: String,
    /// The operationId, or `METHOD /path` when there is none.
    pub(crate) id: String,
    /// The route: the path template with the document's base path.
    /// Upper case (`GET`, `QUERY`).
    pub(crate) method: String,
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
pub(crate) const RESERVED_TOP: &[&str] = &[
    "Api",
    "ApiService",
    "ApiClient",
    "Routes",
    "types",
    "defaults",
    "webhooks",
    "rt",
    "api",
    // Imported by the generated module from the runtime's `codegen` (see
    // `emit`), or from the prelude.
    "Body",
    "BodyStream",
    "BoxFuture",
    "Bytes",
    "CallError",
    "Connection",
    "Context",
    "Dispatch",
    "FromResponse",
    "Future",
    "IntoResponse",
    "Method",
    "ParamLocation",
    "Rejection",
    "Request",
    "Response",
    "ServerError",
    "StatusCode",
    "StreamFormat",
    "TypedStream",
    "Box",
    "Option",
    "Result",
    "Send",
    "String",
    "Sync",
    "Vec",
];

/// Models `operations` (the document's, or its webhooks') in one scope of
/// method names.
pub(crate) fn model_ops<'a>(
    doc: &'a Document,
    operations: &'a [Operation],
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
    for op in operations {
        let id = op_id(op);
        seen_tags.extend(op.tags.iter().map(String::as_str));
        let keep = select.keeps(&id, &op.tags);
        seen_ids.insert(id);
        if !keep {
            // Its names stay taken, so that those of the operations
            // kept do not depend on the selection.
            op_names(op, &mut methods, &mut top);
            continue;
        }
        let ctx = OpCtx {
            doc,
            pointer: &op.loc,
        };
        if let Some(op) = ctx.model(op, space, &mut methods, &mut top, diags) {
            ops.push(op);
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
fn op_id(op: &Operation) -> String {
    op.operation_id
        .clone()
        .unwrap_or_else(|| format!("{} {}", op.method, op.path))
}

/// Claims the method, response enum and request builder names of an
/// operation.
fn op_names(op: &Operation, methods: &mut Scope, top: &mut Scope) -> (String, String, String) {
    let name = methods.claim(snake(&op_id(op), "operation"));
    let camel_name = camel(&name, "Operation");
    let response_enum = top.claim(format!("{camel_name}Response"));
    let request_builder = top.claim(format!("{camel_name}Request"));
    (name, response_enum, request_builder)
}

struct OpCtx<'a, 'b> {
    doc: &'a Document,
    pointer: &'b str,
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
        let id = op_id(op);
        let (name, response_enum, request_builder) = op_names(op, methods, top);
        let camel_name = camel(&name, "Operation");
        let mut args = Scope::with_reserved(&["ctx", "send", "self", "__client", "into_future"]);

        let body_arg = if op.request_body.is_some() {
            args.claim("body".to_owned())
        } else {
            String::new()
        };
        let mut params = Vec::new();
        for p in &op.parameters {
            if let Some(param) = self.param(p, &camel_name, space, &mut args, diags) {
                params.push(param);
            }
        }
        let route = format!("{}{}", self.doc.base_path, op.path);
        for segment in template_params(&op.path) {
            if !params
                .iter()
                .any(|p| p.location == Location::Path && p.wire == segment)
            {
                diags.error(
                    self.pointer,
                    format!(
                        "path parameter `{segment}` of `{}` is not declared",
                        op.path
                    ),
                );
            }
        }
        // Path parameters follow the template order.
        let order = template_params(&op.path);
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
                let body = self.body(&rb.content, &format!("{camel_name}Body"), space, top, diags);
                let mut body = body;
                let item_hint = format!("{camel_name}Item");
                if let Some(b) = &mut body {
                    if let Some((format, ty)) =
                        self.stream_item(&rb.content, &item_hint, space, diags)
                    {
                        if let Some(content) = b.contents.first_mut() {
                            content.kind = Media::Items(format);
                            content.ty = Ty::Vec(Box::new(ty));
                            content.variant = "Items".to_owned();
                        }
                    }
                }
                (body, rb.required)
            }
        };

        let mut responses = Vec::new();
        let mut variants = Scope::default();
        for resp in &op.responses {
            let (status, variant) = match resp.status {
                StatusKey::Code(c) => (Status::Code(c), status_variant(c)),
                StatusKey::Range(c) => (Status::Range(c), range_variant(c)),
                StatusKey::Default => (Status::Default, "Default".to_owned()),
            };
            if let Status::Code(c) = status {
                if !(100..=999).contains(&c) {
                    diags.error(&resp.key_loc, format!("invalid status code {c}"));
                    continue;
                }
            }
            let variant = variants.claim(variant);
            responses.push(self.response(resp, status, variant, &camel_name, space, top, diags));
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
            loc: op.loc.clone(),
            name,
            id,
            method: op.method.clone(),
            path: route,
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

    fn param(
        &self,
        p: &'a model::Parameter,
        op_camel: &str,
        space: &mut TypeSpace<'a>,
        args: &mut Scope,
        diags: &mut Diags,
    ) -> Option<Param> {
        let ptr = p.loc.as_str();
        let style = p.style;
        let deep = style == Some(Style::DeepObject);
        let (location, explode_default, separator) = match p.location {
            In::Path => {
                // 2.0's `collectionFormat` may join path arrays with ` `,
                // `\t` or `|` too (below).
                let joined = matches!(
                    style,
                    None | Some(
                        Style::Simple
                            | Style::SpaceDelimited
                            | Style::PipeDelimited
                            | Style::TabDelimited
                    )
                );
                if !joined {
                    diags.warn(
                        ptr,
                        "only the `simple` style is supported for path parameters; using it",
                    );
                }
                (Location::Path, false, ',')
            }
            In::Query => match style {
                None | Some(Style::Form) => (Location::Query, true, ','),
                Some(Style::SpaceDelimited) => (Location::Query, false, ' '),
                Some(Style::PipeDelimited) => (Location::Query, false, '|'),
                Some(Style::TabDelimited) => (Location::Query, false, '\t'),
                Some(Style::DeepObject) => (Location::Query, true, ','),
                Some(_) => (Location::Query, true, ','),
            },
            In::Header | In::Cookie => {
                let separator = match style {
                    Some(Style::SpaceDelimited) => ' ',
                    Some(Style::PipeDelimited) => '|',
                    Some(Style::TabDelimited) => '\t',
                    _ => ',',
                };
                let location = if p.location == In::Header {
                    Location::Header
                } else {
                    Location::Cookie
                };
                (location, false, separator)
            }
            In::QueryString => (Location::QueryString, false, ','),
        };
        // Path arrays in 2.0 may use other separators too.
        let separator = match (location, style) {
            (Location::Path, Some(Style::SpaceDelimited)) => ' ',
            (Location::Path, Some(Style::PipeDelimited)) => '|',
            (Location::Path, Some(Style::TabDelimited)) => '\t',
            _ => separator,
        };
        let hint = format!("{op_camel}{}", camel(&p.name, "Param"));
        let mut ty = match (&p.schema, &p.content) {
            (Some(schema), _) => space.ty_for(*schema, &hint, diags),
            (None, Some(content)) => match content.schema {
                Some(schema) => {
                    let ty = space.ty_for(schema, &hint, diags);
                    // Content parameters are JSON text on the wire (a query
                    // string is form-encoded).
                    let json = classify(&content.media) == Media::Json;
                    if !json && location != Location::QueryString {
                        diags.warn(
                            &content.loc,
                            format!(
                                "a parameter with `content` {} is sent as JSON text",
                                content.media
                            ),
                        );
                    }
                    ty
                }
                None => Ty::String,
            },
            (None, None) => Ty::String,
        };
        if let Ty::Option(inner) = ty {
            ty = *inner;
        }
        let required = p.required || location == Location::Path;
        if location == Location::Path && !p.required {
            diags.warn(
                ptr,
                "path parameters must be required; treating it as required",
            );
        }
        let explode = p.explode.unwrap_or(explode_default);
        Some(Param {
            rust: args.claim(snake(&p.name, "param")),
            wire: p.name.clone(),
            location,
            ty,
            required,
            explode,
            separator,
            deep,
            doc: p.description.clone().filter(|d| !d.trim().is_empty()),
        })
    }

    fn body(
        &self,
        content: &'a [MediaType],
        hint: &str,
        space: &mut TypeSpace<'a>,
        top: &mut Scope,
        diags: &mut Diags,
    ) -> Option<Body> {
        let mut contents: Vec<Content> = Vec::new();
        let mut scope = Scope::default();
        for mt in content {
            let media = &mt.media;
            let kind = classify(media);
            let ty = match kind {
                Media::Json | Media::Form => match mt.schema {
                    Some(schema) => space.ty_for(schema, hint, diags),
                    None => Ty::Value,
                },
                Media::Multipart => {
                    let ty = match mt.schema {
                        Some(schema) => space.ty_for(schema, hint, diags),
                        None => Ty::Value,
                    };
                    if space.use_files(&ty) {
                        ty
                    } else {
                        diags.warn(
                            &mt.loc,
                            "a multipart body that is not an object is passed as raw bytes",
                        );
                        contents.push(Content {
                            media: media.clone(),
                            kind: Media::Bytes,
                            ty: Ty::Bytes,
                            variant: scope.claim("Bytes".to_owned()),
                        });
                        continue;
                    }
                }
                Media::Text => Ty::String,
                // Streams are recognised below.
                Media::Stream(_) | Media::Items(_) => Ty::Value,
                Media::Bytes => {
                    if media.starts_with("multipart/") {
                        diags.warn(&mt.loc, format!("{media} bodies are passed as raw bytes"));
                    }
                    Ty::Bytes
                }
            };
            let base = match kind {
                Media::Json => "Json",
                Media::Form => "Form",
                Media::Multipart => "Multipart",
                Media::Text => "Text",
                Media::Bytes => "Bytes",
                Media::Stream(_) => "Stream",
                Media::Items(_) => "Items",
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

    /// The item type of a body whose only media type is a sequence of JSON
    /// items (`text/event-stream`, `application/x-ndjson`…): 3.2's
    /// `itemSchema`, or an array schema's items, or the schema itself.
    fn stream_item(
        &self,
        content: &'a [MediaType],
        hint: &str,
        space: &mut TypeSpace<'a>,
        diags: &mut Diags,
    ) -> Option<(StreamFmt, Ty)> {
        let [mt] = content else { return None };
        let format = stream_format(&mt.media)?;
        let ty = match (mt.item_schema, mt.schema) {
            (Some(item), _) => space.ty_for(item, hint, diags),
            (None, Some(schema)) => {
                let node = self.doc.schema(schema);
                // An array schema describes the sequence; its items are the items.
                match (
                    node.reference.is_none() && node.ty == Some(Type::Array),
                    node.items,
                ) {
                    (true, Some(items)) => space.ty_for(items, hint, diags),
                    (true, None) => Ty::Value,
                    (false, _) => space.ty_for(schema, hint, diags),
                }
            }
            (None, None) => Ty::Value,
        };
        Some((format, ty))
    }

    #[allow(clippy::too_many_arguments)]
    fn response(
        &self,
        r: &'a model::Response,
        status: Status,
        variant: String,
        op_camel: &str,
        space: &mut TypeSpace<'a>,
        top: &mut Scope,
        diags: &mut Diags,
    ) -> Resp {
        let hint = format!("{op_camel}{variant}Body");
        let mut body = self.body(&r.content, &hint, space, top, diags);
        let item_hint = format!("{op_camel}{variant}Item");
        if let Some(b) = &mut body {
            if let Some((format, ty)) = self.stream_item(&r.content, &item_hint, space, diags) {
                if let Some(content) = b.contents.first_mut() {
                    content.kind = Media::Stream(format);
                    content.ty = ty;
                    content.variant = "Stream".to_owned();
                }
            }
        }
        let mut headers = Vec::new();
        let mut names = Scope::with_reserved(&["status", "body"]);
        for header in &r.headers {
            let name = &header.name;
            if name.eq_ignore_ascii_case("content-type") {
                continue;
            }
            let hint = format!("{op_camel}{variant}{}", camel(name, "Header"));
            let ty = match header.schema {
                Some(s) => space.ty_for(s, &hint, diags),
                None => Ty::String,
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
        let doc = r
            .description
            .as_deref()
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        Resp {
            status,
            variant,
            doc,
            body,
            headers,
        }
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
    } else if essence == "multipart/form-data" {
        Media::Multipart
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
