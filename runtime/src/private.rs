//! What generated code needs at run time. Not a public API: generated code
//! reaches it as `::swaggersocket::__private`, and it changes with the
//! generator.

pub use bytes;
pub use http;
pub use serde;
pub use serde_json;
pub use tower_service;

pub use crate::multipart::{
    decode_fields, decode_multipart, MultipartBody, MultipartParts, MultipartWriter,
};
pub use crate::route::{Route, Routed, Router};

// The names generated code uses, through one `use` of this module.
pub use crate::api::{ClientError, Context, ServerError, StatusCode};
pub use crate::Connection;
pub use std::future::{Future, IntoFuture};
pub use std::pin::Pin;
pub use std::sync::Arc;

/// The request a generated server handles.
pub type HttpRequest = http::Request<Bytes>;
/// The response a generated server answers, and a generated client reads.
pub type HttpResponse = http::Response<Bytes>;
/// The future of a generated request builder or handler.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Characters escaped in a path segment (RFC 3986 `pchar` keeps the rest).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Characters escaped in a cookie value.
const COOKIE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

// ---------------------------------------------------------------------------
// Values as text (path, query, header and cookie parameters)

/// A parameter value as strings: one per array element, none for `None`.
fn to_strings<T: Serialize + ?Sized>(value: &T) -> Result<Vec<String>, String> {
    crate::param::to_texts(value)
}

/// A parameter value as the strings it is sent as (one per array item).
pub fn param_to_strings<T: Serialize + ?Sized>(value: &T) -> Result<Vec<String>, String> {
    to_strings(value)
}

/// Parses a parameter from its text: as a string first (strings, enums,
/// dates, uuids), then as JSON (numbers, booleans, objects); no
/// `serde_json::Value` in between.
pub fn param_from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    crate::param::from_text(text)
}

// ---------------------------------------------------------------------------
// Server side

/// A failure of a server-side helper, answered as an error response.
pub trait Reject {
    /// The response that answers the failure.
    fn into_response(self) -> HttpResponse;
}

impl Reject for HttpResponse {
    fn into_response(self) -> HttpResponse {
        self
    }
}

/// A `text/plain` response.
pub fn text_response(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    let mut response = http::Response::new(Bytes::from(message.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn bad_request(message: String) -> ParamError {
    ParamError(message)
}

/// A parameter that does not match the spec; answered with 400.
#[derive(Debug)]
pub struct ParamError(String);

impl Reject for ParamError {
    fn into_response(self) -> HttpResponse {
        text_response(StatusCode::BAD_REQUEST, self.0)
    }
}

/// 404 for a path no operation matches.
pub fn not_found(path: &str) -> HttpResponse {
    text_response(
        StatusCode::NOT_FOUND,
        format!("no operation matches path `{path}`"),
    )
}

/// 405 with an `Allow` header.
pub fn method_not_allowed(allowed: &str) -> HttpResponse {
    let mut response = text_response(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; allowed: {allowed}"),
    );
    if let Ok(value) = HeaderValue::from_str(allowed) {
        response.headers_mut().insert(http::header::ALLOW, value);
    }
    response
}

/// 400 for a request without its required body.
pub fn missing_body() -> HttpResponse {
    text_response(StatusCode::BAD_REQUEST, "missing required request body")
}

/// The status for a documented code (500 for an impossible one).
pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Matches `path` against a template such as `/pets/{petId}.json`; returns
/// the raw (still percent-encoded) values of the template's parameters.
pub fn match_path(template: &str, path: &str) -> Option<Vec<String>> {
    // Slices of `path` until the whole template matched: a router tries
    // many templates per request, and most fail after a capture or two.
    let mut captures: Vec<&str> = Vec::new();
    let mut t_segments = template.split('/');
    let mut p_segments = path.split('/');
    loop {
        match (t_segments.next(), p_segments.next()) {
            (None, None) => return Some(captures.into_iter().map(str::to_owned).collect()),
            (Some(t), Some(p)) => {
                if !match_segment(t, p, &mut captures) {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

fn match_segment<'p>(template: &str, segment: &'p str, captures: &mut Vec<&'p str>) -> bool {
    let Some(open) = template.find('{') else {
        return template == segment;
    };
    let Some(close) = template[open..].find('}').map(|c| c + open) else {
        return template == segment;
    };
    let prefix = &template[..open];
    let suffix = &template[close + 1..];
    if suffix.contains('{') {
        // Several parameters in one segment: capture the whole segment for
        // the first one; the generator never emits such templates.
        captures.push(segment);
        return true;
    }
    if segment.len() < prefix.len() + suffix.len()
        || !segment.starts_with(prefix)
        || !segment.ends_with(suffix)
    {
        return false;
    }
    let value = &segment[prefix.len()..segment.len() - suffix.len()];
    if value.is_empty() {
        return false;
    }
    captures.push(value);
    true
}

fn capture(name: &str, captures: &[String], index: usize) -> Result<String, ParamError> {
    let raw = captures.get(index).map_or("", String::as_str);
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| bad_request(format!("invalid path parameter `{name}`: not UTF-8")))
}

/// A path parameter.
pub fn path_param<T: DeserializeOwned>(
    name: &str,
    captures: &[String],
    index: usize,
) -> Result<T, ParamError> {
    let text = capture(name, captures, index)?;
    param_from_str(&text).map_err(|e| bad_request(format!("invalid path parameter `{name}`: {e}")))
}

/// A path parameter holding a comma-separated array.
pub fn path_param_list<T: DeserializeOwned>(
    name: &str,
    captures: &[String],
    index: usize,
) -> Result<Vec<T>, ParamError> {
    path_param_split(name, captures, index, ',')
}

/// An array path parameter whose items are joined by `separator` (Swagger
/// 2.0 `collectionFormat`: `ssv`, `tsv`, `pipes`).
pub fn path_param_split<T: DeserializeOwned>(
    name: &str,
    captures: &[String],
    index: usize,
    separator: char,
) -> Result<Vec<T>, ParamError> {
    let text = capture(name, captures, index)?;
    text.split(separator)
        .map(|item| {
            param_from_str(item)
                .map_err(|e| bad_request(format!("invalid path parameter `{name}`: {e}")))
        })
        .collect()
}

/// Whether the query of `uri` holds every pair of `fixed` (a query written
/// in a path key of the document, `beta=true`).
pub fn query_has(uri: &http::Uri, fixed: &str) -> bool {
    let query = Query::parse(uri);
    form_urlencoded::parse(fixed.as_bytes()).all(|(k, v)| query.values(&k).any(|pv| pv == v))
}

/// The query string of a request, decoded.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes the query of `uri`.
    pub fn parse(uri: &http::Uri) -> Self {
        let pairs = uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A scalar parameter; `None` when absent.
    pub fn one<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        match self.values(name).next() {
            None => Ok(None),
            Some(text) => param_from_str(text)
                .map(Some)
                .map_err(|e| bad_request(format!("invalid query parameter `{name}`: {e}"))),
        }
    }

    /// An array parameter: repeated keys when `explode`, else one value
    /// joined by `separator`.
    pub fn list<T: DeserializeOwned>(
        &self,
        name: &str,
        explode: bool,
        separator: char,
    ) -> Result<Option<Vec<T>>, ParamError> {
        let mut items: Vec<&str> = Vec::new();
        let mut any = false;
        for value in self.values(name) {
            any = true;
            if explode {
                items.push(value);
            } else {
                items.extend(value.split(separator).filter(|s| !s.is_empty()));
            }
        }
        if !any {
            return Ok(None);
        }
        items
            .into_iter()
            .map(|item| {
                param_from_str(item)
                    .map_err(|e| bad_request(format!("invalid query parameter `{name}`: {e}")))
            })
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }
}

impl Query {
    /// The whole query string as one form-encoded value (3.2 `in:
    /// querystring`); `None` when the query is empty.
    pub fn whole<T: DeserializeOwned>(&self) -> Result<Option<T>, ParamError> {
        if self.pairs.is_empty() {
            return Ok(None);
        }
        let text = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.pairs)
            .finish();
        serde_qs::from_str(&text)
            .map(Some)
            .map_err(|e| bad_request(format!("invalid query string: {e}")))
    }

    /// A `deepObject` parameter: `name[key][sub]=value` pairs.
    pub fn deep<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        let mut inner = String::new();
        for (key, value) in &self.pairs {
            let Some(rest) = key.strip_prefix(name) else {
                continue;
            };
            let Some(segments) = bracket_segments(rest) else {
                continue;
            };
            if !inner.is_empty() {
                inner.push('&');
            }
            for (i, segment) in segments.iter().enumerate() {
                if i > 0 {
                    inner.push('[');
                }
                inner.extend(form_urlencoded::byte_serialize(segment.as_bytes()));
                if i > 0 {
                    inner.push(']');
                }
            }
            inner.push('=');
            inner.extend(form_urlencoded::byte_serialize(value.as_bytes()));
        }
        if inner.is_empty() {
            return Ok(None);
        }
        serde_qs::from_str(&inner)
            .map(Some)
            .map_err(|e| bad_request(format!("invalid query parameter `{name}`: {e}")))
    }
}

/// `[a][b][]` → `["a", "b", ""]`; `None` unless the text is only brackets.
fn bracket_segments(text: &str) -> Option<Vec<&str>> {
    let mut segments = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        segments.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    (!segments.is_empty()).then_some(segments)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| format!("header `{name}` is not visible ASCII")),
    }
}

/// A scalar header parameter.
pub fn header_one<T: DeserializeOwned>(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<T>, ParamError> {
    let text = header_text(headers, name).map_err(bad_request)?;
    text.map(|t| param_from_str(t.trim()))
        .transpose()
        .map_err(|e| bad_request(format!("invalid header `{name}`: {e}")))
}

/// A header parameter holding a comma-separated array.
pub fn header_list<T: DeserializeOwned>(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<Vec<T>>, ParamError> {
    let text = header_text(headers, name).map_err(bad_request)?;
    text.map(|t| {
        t.split(',')
            .map(|item| param_from_str(item.trim()))
            .collect::<Result<Vec<T>, _>>()
    })
    .transpose()
    .map_err(|e| bad_request(format!("invalid header `{name}`: {e}")))
}

/// A cookie parameter.
pub fn cookie_one<T: DeserializeOwned>(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<T>, ParamError> {
    for header in headers.get_all(http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key == name {
                let value = percent_decode_str(value).decode_utf8_lossy();
                return param_from_str(&value)
                    .map(Some)
                    .map_err(|e| bad_request(format!("invalid cookie `{name}`: {e}")));
            }
        }
    }
    Ok(None)
}

/// A required parameter.
pub fn require<T>(value: Option<T>, what: &str, name: &str) -> Result<T, ParamError> {
    value.ok_or_else(|| bad_request(format!("missing required {what} `{name}`")))
}

// ---------------------------------------------------------------------------
// Bodies (both sides)

/// A body that does not match the spec.
#[derive(Debug)]
pub struct DecodeError {
    unsupported: bool,
    message: String,
}

impl DecodeError {
    /// A body that does not decode (400).
    pub(crate) fn invalid(message: String) -> Self {
        DecodeError {
            unsupported: false,
            message,
        }
    }
}

impl Reject for DecodeError {
    fn into_response(self) -> HttpResponse {
        let status = if self.unsupported {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        } else {
            StatusCode::BAD_REQUEST
        };
        text_response(status, self.message)
    }
}

/// Turns a decoding failure of a response into a client error.
pub fn client<T>(
    result: Result<T, DecodeError>,
    response: &HttpResponse,
) -> Result<T, ClientError> {
    result.map_err(|e| ClientError::Decode {
        status: response.status(),
        message: e.message,
    })
}

/// The media type (without parameters) of a message.
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Whether `actual` matches a spec media type, which may be a pattern
/// (`*/*`, `text/*`, `application/*+json`).
pub fn media_matches(pattern: &str, actual: Option<&str>) -> bool {
    let Some(actual) = actual else { return false };
    let pattern = pattern
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if pattern == actual || pattern == "*/*" {
        return true;
    }
    let (Some((pt, ps)), Some((at, asub))) = (pattern.split_once('/'), actual.split_once('/'))
    else {
        return false;
    };
    if pt != at && pt != "*" {
        return false;
    }
    if ps == "*" {
        return true;
    }
    if let Some(suffix) = ps.strip_prefix('*') {
        return asub.ends_with(suffix);
    }
    false
}

/// Whether a message may be decoded as `pattern`: it has that media type,
/// or none.
pub fn media_accepts(pattern: &str, headers: &HeaderMap) -> bool {
    match content_type(headers) {
        None => true,
        Some(actual) => media_matches(pattern, Some(&actual)),
    }
}

/// The failure for a media type the operation does not accept.
pub fn unsupported_media(headers: &HeaderMap) -> DecodeError {
    DecodeError {
        unsupported: true,
        message: format!(
            "unsupported media type `{}`",
            content_type(headers).unwrap_or_default()
        ),
    }
}

/// A body that is a sequence of JSON items, read whole; the error names
/// the item that does not decode.
pub fn decode_items<T: DeserializeOwned + Send + 'static>(
    body: &Bytes,
    format: StreamFormat,
) -> Result<Vec<T>, DecodeError> {
    use futures_util::{FutureExt, StreamExt};
    let mut stream = TypedStream::<T>::from_body(crate::BodyStream::full(body.clone()), format);
    let mut items = Vec::new();
    loop {
        // The bytes are all there: every step is ready at once.
        match stream.next().now_or_never() {
            Some(Some(Ok(item))) => items.push(item),
            Some(Some(Err(e))) => {
                return Err(DecodeError::invalid(format!(
                    "invalid body: item {}: {e}",
                    items.len()
                )))
            }
            Some(None) => return Ok(items),
            None => {
                return Err(DecodeError::invalid(
                    "invalid body: incomplete item sequence".to_owned(),
                ))
            }
        }
    }
}

/// A JSON body; the error names the field that does not match.
pub fn decode_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de);
    if let Ok(v) = value {
        return de.end().map(|()| v).map_err(|e| DecodeError {
            unsupported: false,
            message: format!("invalid JSON body: {e}"),
        });
    }
    value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." || path.is_empty() {
            format!("invalid JSON body: {inner}")
        } else {
            format!("invalid JSON body at `{path}`: {inner}")
        };
        DecodeError {
            unsupported: false,
            message,
        }
    })
}

/// An `application/x-www-form-urlencoded` body; nested objects and arrays
/// use brackets (`a[b]=1&c[0]=x`), raw or percent-encoded.
pub fn decode_form<T: DeserializeOwned>(body: &Bytes) -> Result<T, DecodeError> {
    serde_qs::from_bytes(body)
        .or_else(|first| {
            serde_qs::Config::new()
                .use_form_encoding(true)
                .deserialize_bytes(body)
                .map_err(|_| first)
        })
        .map_err(|e| DecodeError {
            unsupported: false,
            message: format!("invalid form body: {e}"),
        })
}

/// A text body.
pub fn decode_text(body: &Bytes) -> Result<String, DecodeError> {
    String::from_utf8(body.to_vec()).map_err(|_| DecodeError {
        unsupported: false,
        message: "the text body is not UTF-8".to_owned(),
    })
}

/// A binary body.
pub fn decode_bytes(body: &Bytes) -> Result<Bytes, DecodeError> {
    Ok(body.clone())
}

/// Adds the discriminator of a tagged union when its variant lacks it.
pub fn with_tag(mut value: Value, property: &str, tag: &str) -> Value {
    if let Value::Object(map) = &mut value {
        map.entry(property.to_owned())
            .or_insert_with(|| Value::String(tag.to_owned()));
    }
    value
}

/// Encoded body and content type, or why encoding failed.
#[derive(Debug, Default)]
struct Payload {
    body: Bytes,
    content_type: Option<std::borrow::Cow<'static, str>>,
    error: Option<String>,
}

impl Payload {
    fn json<T: Serialize + ?Sized>(&mut self, value: &T, media: &'static str) {
        match serde_json::to_vec(value) {
            Ok(v) => self.set(Bytes::from(v), media),
            Err(e) => self.error = Some(format!("cannot encode the JSON body: {e}")),
        }
    }

    fn form<T: Serialize + ?Sized>(&mut self, value: &T, media: &'static str) {
        match serde_qs::to_string(&value) {
            Ok(v) => self.set(Bytes::from(v), media),
            Err(e) => self.error = Some(format!("cannot encode the form body: {e}")),
        }
    }

    fn set(&mut self, body: Bytes, media: &'static str) {
        self.body = body;
        self.content_type = Some(std::borrow::Cow::Borrowed(media));
    }

    fn items<T: Serialize>(&mut self, items: &[T], format: StreamFormat, media: &'static str) {
        let mut body = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match format.encode(item) {
                Ok(bytes) => body.extend_from_slice(&bytes),
                Err(e) => {
                    self.error = Some(format!("cannot encode item {i} of the body: {e}"));
                    return;
                }
            }
        }
        self.set(Bytes::from(body), media);
    }

    fn multipart(&mut self, writer: MultipartWriter) {
        match writer.finish() {
            Ok((body, content_type)) => {
                self.body = body;
                self.content_type = Some(std::borrow::Cow::Owned(content_type));
            }
            Err(e) => self.error = Some(e),
        }
    }
}

/// The body setters of both builders (each has a `payload: Payload`).
macro_rules! body_methods {
    () => {
        /// A JSON body.
        pub fn json<T: Serialize + ?Sized>(mut self, value: &T, media: &'static str) -> Self {
            self.payload.json(value, media);
            self
        }

        /// A form body.
        pub fn form<T: Serialize + ?Sized>(mut self, value: &T, media: &'static str) -> Self {
            self.payload.form(value, media);
            self
        }

        /// A text body.
        pub fn text(mut self, value: String, media: &'static str) -> Self {
            self.payload.set(Bytes::from(value), media);
            self
        }

        /// A binary body.
        pub fn bytes(mut self, value: Bytes, media: &'static str) -> Self {
            self.payload.set(value, media);
            self
        }

        /// A body that is a sequence of JSON items (NDJSON, SSE, JSON
        /// text sequences), sent whole.
        pub fn items<T: Serialize>(
            mut self,
            items: &[T],
            format: StreamFormat,
            media: &'static str,
        ) -> Self {
            self.payload.items(items, format, media);
            self
        }

        /// A `multipart/form-data` body.
        pub fn multipart(mut self, writer: MultipartWriter) -> Self {
            self.payload.multipart(writer);
            self
        }
    };
}

/// A header parameter, arrays joined by `,` (nothing for `None`).
fn add_header<T: Serialize + ?Sized>(
    headers: &mut HeaderMap,
    name: &str,
    value: &T,
) -> Result<(), String> {
    let values = to_strings(value).map_err(|e| format!("header `{name}`: {e}"))?;
    if values.is_empty() {
        return Ok(());
    }
    insert_header(headers, name, &values.join(","))
}

fn insert_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), String> {
    let name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header `{name}`: {e}"))?;
    let value = HeaderValue::from_str(value).map_err(|e| format!("header `{name}`: {e}"))?;
    headers.append(name, value);
    Ok(())
}

/// A `Content-Type` value: a media type of the document, or one made here
/// (a multipart boundary), both valid header text.
fn media_header(media: std::borrow::Cow<'static, str>) -> HeaderValue {
    match media {
        std::borrow::Cow::Borrowed(media) => HeaderValue::from_static(media),
        std::borrow::Cow::Owned(media) => HeaderValue::from_str(&media)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    }
}

/// Builds a response from a response enum (server side).
#[derive(Debug)]
pub struct ResponseBuilder {
    status: StatusCode,
    headers: HeaderMap,
    payload: Payload,
}

impl ResponseBuilder {
    /// A response with `status`.
    pub fn new(status: StatusCode) -> Self {
        ResponseBuilder {
            status,
            headers: HeaderMap::new(),
            payload: Payload::default(),
        }
    }

    /// Adds a response header (nothing for `None`).
    pub fn header<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> Self {
        if let Err(e) = add_header(&mut self.headers, name, value) {
            self.payload.error = Some(e);
        }
        self
    }

    body_methods!();

    /// The response (500 when something could not be encoded).
    pub fn finish(self) -> HttpResponse {
        if let Some(error) = self.payload.error {
            return text_response(StatusCode::INTERNAL_SERVER_ERROR, error);
        }
        let mut response = http::Response::new(self.payload.body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        if let Some(media) = self.payload.content_type {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, media_header(media));
        }
        response
    }
}

// ---------------------------------------------------------------------------
// Client side

/// Builds a request from a client call.
#[derive(Debug)]
pub struct RequestBuilder {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    cookies: Vec<String>,
    payload: Payload,
}

impl RequestBuilder {
    /// A request with `method`.
    pub fn new(method: Method) -> Self {
        RequestBuilder {
            method,
            path: String::new(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            cookies: Vec::new(),
            payload: Payload::default(),
        }
    }

    /// Appends a literal part of the path template.
    pub fn path_literal(&mut self, literal: &str) {
        self.path.push_str(literal);
    }

    /// Appends a path parameter, percent-encoded.
    pub fn path_param<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.path_param_joined(value, ',');
    }

    /// Appends an array path parameter whose items are joined by
    /// `separator`, percent-encoded.
    pub fn path_param_joined<T: Serialize + ?Sized>(&mut self, value: &T, separator: char) {
        match to_strings(value) {
            Ok(values) => {
                let text = values.join(separator.encode_utf8(&mut [0; 4]));
                self.path.extend(utf8_percent_encode(&text, SEGMENT));
            }
            Err(e) => self.payload.error = Some(format!("path parameter: {e}")),
        }
    }

    /// Adds a query parameter (nothing for `None`).
    pub fn query<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        value: &T,
        explode: bool,
        separator: char,
    ) {
        let values = match to_strings(value) {
            Ok(values) => values,
            Err(e) => {
                self.payload.error = Some(format!("query parameter `{name}`: {e}"));
                return;
            }
        };
        if values.is_empty() {
            return;
        }
        if explode {
            for v in values {
                self.query.push((name.to_owned(), v));
            }
        } else {
            self.query
                .push((name.to_owned(), values.join(&separator.to_string())));
        }
    }

    /// Adds the pairs of a query written in the path key of the document
    /// (`/responses?beta=true`).
    pub fn fixed_query(&mut self, query: &str) {
        self.query.extend(
            form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }

    /// Makes `value` the query string, form-encoded (3.2 `in:
    /// querystring`; nothing for `None`).
    pub fn query_string<T: Serialize + ?Sized>(&mut self, value: &T) {
        let value = match serde_json::to_value(value) {
            Ok(Value::Null) => return,
            Ok(value) => value,
            Err(e) => {
                self.payload.error = Some(format!("query string: {e}"));
                return;
            }
        };
        match serde_qs::to_string(&value) {
            Ok(text) => self.query.extend(
                form_urlencoded::parse(text.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned())),
            ),
            Err(e) => self.payload.error = Some(format!("query string: {e}")),
        }
    }

    /// Adds a `deepObject` query parameter: `name[key][sub]=value`
    /// (nothing for `None`).
    pub fn query_deep<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        let value = match serde_json::to_value(value) {
            Ok(Value::Null) => return,
            Ok(Value::Object(map)) => Value::Object(map),
            Ok(other) => {
                // Not an object: a plain parameter.
                self.query(name, &other, true, ',');
                return;
            }
            Err(e) => {
                self.payload.error = Some(format!("query parameter `{name}`: {e}"));
                return;
            }
        };
        match serde_qs::to_string(&value) {
            Ok(text) => {
                for (key, v) in form_urlencoded::parse(text.as_bytes()) {
                    let key = match key.find('[') {
                        Some(i) => format!("{name}[{}]{}", &key[..i], &key[i..]),
                        None => format!("{name}[{key}]"),
                    };
                    self.query.push((key, v.into_owned()));
                }
            }
            Err(e) => self.payload.error = Some(format!("query parameter `{name}`: {e}")),
        }
    }

    /// Adds a header parameter (nothing for `None`).
    pub fn header<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        if let Err(e) = add_header(&mut self.headers, name, value) {
            self.payload.error = Some(e);
        }
    }

    /// Adds a cookie parameter (nothing for `None`).
    pub fn cookie<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        match to_strings(value) {
            Ok(values) if values.is_empty() => {}
            Ok(values) => {
                let text: String = utf8_percent_encode(&values.join(","), COOKIE).collect();
                self.cookies.push(format!("{name}={text}"));
            }
            Err(e) => self.payload.error = Some(format!("cookie `{name}`: {e}")),
        }
    }

    body_methods!();

    pub(crate) fn build(self) -> Result<http::Request<Bytes>, ClientError> {
        if let Some(error) = self.payload.error {
            return Err(ClientError::InvalidRequest(error));
        }
        let mut uri = if self.path.is_empty() {
            "/".to_owned()
        } else {
            self.path
        };
        if !self.query.is_empty() {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.extend_pairs(&self.query);
            uri.push('?');
            uri.push_str(&query.finish());
        }
        let mut request = http::Request::new(self.payload.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri
            .parse()
            .map_err(|e| ClientError::InvalidRequest(format!("request URI `{uri}`: {e}")))?;
        let mut headers = self.headers;
        if let Some(media) = self.payload.content_type {
            headers.insert(CONTENT_TYPE, media_header(media));
        }
        if !self.cookies.is_empty() {
            insert_header(&mut headers, "cookie", &self.cookies.join("; "))
                .map_err(ClientError::InvalidRequest)?;
        }
        *request.headers_mut() = headers;
        Ok(request)
    }
}

/// Sends a request over a connection and waits for its response.
pub async fn call(
    connection: &crate::Connection,
    request: RequestBuilder,
) -> Result<HttpResponse, ClientError> {
    let request = request.build()?;
    connection
        .call(request)
        .await
        .map_err(ClientError::from_runtime)
}

/// Sends a request over a connection and decodes its response with
/// `decode`: the one future of every generated `send`, so that a generated
/// client has no `async` block of its own per operation to check.
// Written out rather than `async fn` so that the signature promises `Send`
// (a generated `send` returns `impl Future + Send`).
#[allow(clippy::manual_async_fn)]
pub fn send<'a, T: 'a>(
    connection: &'a crate::Connection,
    request: RequestBuilder,
    decode: fn(HttpResponse) -> Result<T, ClientError>,
) -> impl Future<Output = Result<T, ClientError>> + Send + 'a {
    async move { decode(call(connection, request).await?) }
}

fn header_value<T: DeserializeOwned>(
    response: &HttpResponse,
    name: &str,
) -> Result<Option<T>, ClientError> {
    let decode_error = |message: String| ClientError::Decode {
        status: response.status(),
        message,
    };
    let Some(text) = header_text(response.headers(), name).map_err(decode_error)? else {
        return Ok(None);
    };
    let text = text.trim();
    // Arrays travel comma-joined.
    match param_from_str::<T>(text) {
        Ok(v) => Ok(Some(v)),
        Err(first) => crate::param::list_from_texts(text.split(',').map(str::trim))
            .map(Some)
            .map_err(|_| decode_error(format!("header `{name}`: {first}"))),
    }
}

/// An optional response header.
pub fn response_header<T: DeserializeOwned>(
    response: &HttpResponse,
    name: &str,
) -> Result<Option<T>, ClientError> {
    header_value(response, name)
}

/// A required response header.
pub fn response_header_required<T: DeserializeOwned>(
    response: &HttpResponse,
    name: &str,
) -> Result<T, ClientError> {
    header_value(response, name)?.ok_or_else(|| ClientError::Decode {
        status: response.status(),
        message: format!("missing required header `{name}`"),
    })
}

// ---------------------------------------------------------------------------
// Small steps the generated handlers, response enums and request builders
// call instead of writing them out per operation.

/// A response builder for a documented status code.
pub fn reply(code: u16) -> ResponseBuilder {
    ResponseBuilder::new(status(code))
}

/// A response builder for the status a response variant carries.
pub fn reply_with(status: StatusCode) -> ResponseBuilder {
    ResponseBuilder::new(status)
}

/// A route of the router table (a shorter form of [`Route`]).
pub const fn route(
    template: &'static str,
    fixed_query: Option<&'static str>,
    methods: &'static [(&'static str, usize)],
) -> Route {
    Route {
        template,
        fixed_query,
        methods,
    }
}

/// The answer of a server operation: its response enum encoded by `into`,
/// or its error.
pub fn answer<R>(
    result: Result<R, crate::api::ServerError>,
    into: fn(R) -> HttpResponse,
) -> HttpResponse {
    match result {
        Ok(response) => into(response),
        Err(error) => error.into_response(),
    }
}

/// The future of a server operation's answer: the operation's future,
/// then its response enum encoded by `into`. The one `async` block of every
/// generated handler, so that a generated server has none of its own per
/// operation to check.
pub fn answer_later<'a, F, R>(
    operation: F,
    into: fn(R) -> HttpResponse,
) -> BoxFuture<'a, HttpResponse>
where
    F: Future<Output = Result<R, crate::api::ServerError>> + Send + 'a,
    R: 'a,
{
    Box::pin(async move { answer(operation.await, into) })
}

/// A response that is ready, as the future a router returns.
pub fn ready<'a>(response: HttpResponse) -> BoxFuture<'a, HttpResponse> {
    Box::pin(std::future::ready(response))
}

/// Whether a request carries a body (one that is empty but typed counts).
pub fn has_body(request: &HttpRequest) -> bool {
    !request.body().is_empty() || request.headers().get(CONTENT_TYPE).is_some()
}

/// A required request body: 400 when there is none.
// The error is the response itself, answered at once by the handler (whose
// `Err` is an `HttpResponse` too).
#[allow(clippy::result_large_err)]
pub fn body_required(request: &HttpRequest) -> Result<(), HttpResponse> {
    if has_body(request) {
        Ok(())
    } else {
        Err(missing_body())
    }
}

/// A request body of media type `media`, decoded by `decode` (415 for
/// another media type, 400 for a body that does not decode).
pub fn request_body<T>(
    request: &HttpRequest,
    media: &str,
    decode: fn(&Bytes) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    accept_media(request.headers(), media)?;
    decode(request.body())
}

/// 415 unless a request has media type `media`, or none.
pub fn accept_media(headers: &HeaderMap, media: &str) -> Result<(), DecodeError> {
    if media_accepts(media, headers) {
        Ok(())
    } else {
        Err(unsupported_media(headers))
    }
}

/// A response body of media type `media`, decoded by `decode` (an
/// undocumented response for another media type).
pub fn response_body<T>(
    response: &HttpResponse,
    media: &str,
    decode: fn(&Bytes) -> Result<T, DecodeError>,
) -> Result<T, ClientError> {
    expect_media(response, media)?;
    client(decode(response.body()), response)
}

/// A request (server side) or response (client side) whose body is read.
pub trait Message {
    /// What a body of another media type, or that does not decode, is.
    type Error;

    /// The body of media type `media`, decoded by `decode`.
    fn body_as<T>(
        &self,
        media: &str,
        decode: fn(&Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, Self::Error>;
}

impl Message for HttpRequest {
    type Error = DecodeError;

    fn body_as<T>(
        &self,
        media: &str,
        decode: fn(&Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        request_body(self, media, decode)
    }
}

impl Message for HttpResponse {
    type Error = ClientError;

    fn body_as<T>(
        &self,
        media: &str,
        decode: fn(&Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, ClientError> {
        response_body(self, media, decode)
    }
}

/// An `application/json` body (the common case, in short).
pub fn json<M: Message, T: DeserializeOwned>(message: &M) -> Result<T, M::Error> {
    message.body_as("application/json", decode_json)
}

/// An undocumented-response error unless a response has media type
/// `media`, or none.
pub fn expect_media(response: &HttpResponse, media: &str) -> Result<(), ClientError> {
    if media_accepts(media, response.headers()) {
        Ok(())
    } else {
        Err(undocumented(response))
    }
}

/// The error for a response the operation does not document (a copy: the
/// body is shared, the headers are copied, on this error path only).
pub fn undocumented(response: &HttpResponse) -> ClientError {
    let mut copy = http::Response::new(response.body().clone());
    *copy.status_mut() = response.status();
    *copy.headers_mut() = response.headers().clone();
    ClientError::undocumented(copy)
}

/// `Debug` (without the fields) and `IntoFuture` (through `send`) for a
/// generated request builder: `request!(Builder => Response)`.
#[macro_export]
#[doc(hidden)]
macro_rules! __request {
    ($builder:ident => $response:ty) => {
        impl<'a> ::core::fmt::Debug for $builder<'a> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!($builder))
                    .finish_non_exhaustive()
            }
        }
        impl<'a> ::core::future::IntoFuture for $builder<'a> {
            type Output = ::core::result::Result<$response, $crate::api::ClientError>;
            type IntoFuture = $crate::__private::BoxFuture<'a, Self::Output>;
            fn into_future(self) -> Self::IntoFuture {
                ::std::boxed::Box::pin(self.send())
            }
        }
    };
}

pub use crate::fields::{
    keep, missing_field, object_de, object_ser, required, skip, slot, tagged, text, unknown_field,
    Key,
};
pub use crate::{
    __int_enum as int_enum, __object as object, __request as request, __str_enum as str_enum,
};

/// The answer of an operation the server does not implement: 501 naming it.
///
/// Not `std::future::Ready<Result<T, ServerError>>`: that is `Send` only if
/// `T` is, and proving it for a response type of a large API walks the whole
/// graph of schema types (stripe's overflows the recursion limit). This
/// holds no `T`, so it is `Send` whatever `T` is.
#[derive(Debug)]
pub struct NotImplemented<T> {
    operation: &'static str,
    output: std::marker::PhantomData<fn() -> T>,
}

/// See [`NotImplemented`].
pub fn not_implemented<T>(operation: &'static str) -> NotImplemented<T> {
    NotImplemented {
        operation,
        output: std::marker::PhantomData,
    }
}

impl<T> std::future::Future for NotImplemented<T> {
    type Output = Result<T, crate::api::ServerError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Err(crate::api::ServerError::not_implemented(
            self.operation,
        )))
    }
}
pub use crate::typed_stream::support::{
    attach_stream, call_streaming, collect_body, stream_from_bytes,
};
pub use crate::typed_stream::{StreamFormat, TypedStream};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_templates() {
        assert_eq!(match_path("/pets", "/pets"), Some(vec![]));
        assert_eq!(
            match_path("/pets/{id}", "/pets/42"),
            Some(vec!["42".to_owned()])
        );
        assert_eq!(match_path("/pets/{id}", "/pets/"), None);
        assert_eq!(match_path("/pets/{id}", "/pets/4/2"), None);
        assert_eq!(
            match_path("/a/{id}.json", "/a/x%20y.json"),
            Some(vec!["x%20y".to_owned()])
        );
        assert_eq!(match_path("/a/{id}.json", "/a/x.xml"), None);
    }

    #[test]
    fn params_parse_as_strings_then_json() {
        assert_eq!(param_from_str::<i32>("12"), Ok(12));
        assert_eq!(param_from_str::<String>("12"), Ok("12".to_owned()));
        assert_eq!(param_from_str::<bool>("true"), Ok(true));
        assert!(param_from_str::<i32>("x").is_err());
    }

    #[test]
    fn form_bodies_nest() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct Form {
            name: String,
            tags: Vec<String>,
            meta: std::collections::BTreeMap<String, String>,
            n: Option<i32>,
        }
        let form = Form {
            name: "a&b=c[d] e".into(),
            tags: vec!["x".into(), "y z".into()],
            meta: [("k".to_owned(), "v".to_owned())].into(),
            n: Some(3),
        };
        let mut payload = Payload::default();
        payload.form(&form, "application/x-www-form-urlencoded");
        assert_eq!(payload.error, None);
        assert_eq!(decode_form::<Form>(&payload.body).unwrap(), form);
        // Percent-encoded brackets, as form encoders send them.
        let body = Bytes::from_static(b"name=x&tags%5B0%5D=a&meta%5Bk%5D=v");
        let decoded: Form = decode_form(&body).unwrap();
        assert_eq!(decoded.tags, ["a"]);
        assert_eq!(decoded.meta["k"], "v");
    }

    #[test]
    fn media_patterns() {
        assert!(media_matches("application/json", Some("application/json")));
        assert!(media_matches("*/*", Some("image/png")));
        assert!(media_matches("text/*", Some("text/plain")));
        assert!(media_matches(
            "application/*+json",
            Some("application/merge-patch+json")
        ));
        assert!(!media_matches("application/json", Some("text/plain")));
        assert!(!media_matches("application/json", None));
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        struct Pet {
            #[allow(dead_code)]
            name: String,
        }
        let err = decode_json::<Vec<Pet>>(&Bytes::from_static(br#"[{"name": 1}]"#)).unwrap_err();
        assert!(err.message.contains("[0].name"), "{}", err.message);
    }

    #[test]
    fn requests_encode_parameters() {
        let mut b = RequestBuilder::new(Method::GET);
        b.path_literal("/pets/");
        b.path_param("a b/c");
        b.query("tags", &vec!["x", "y"], true, ',');
        b.query("ids", &vec![1, 2], false, ',');
        b.query("none", &Option::<i32>::None, true, ',');
        b.header("x-n", &Some(3));
        b.cookie("session", "s;1");
        b.query_deep(
            "created",
            &serde_json::json!({"gt": 5, "in": ["a&b", "c"], "sub": {"x": true}}),
        );
        let request = b.build().unwrap();
        let uri = request.uri().to_string();
        assert!(
            uri.starts_with("/pets/a%20b%2Fc?tags=x&tags=y&ids=1%2C2&created%5Bgt%5D=5"),
            "{uri}"
        );
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Created {
            gt: i64,
            #[serde(rename = "in")]
            in_: Vec<String>,
            sub: Sub,
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Sub {
            x: bool,
        }
        let query = Query::parse(request.uri());
        let created: Option<Created> = query.deep("created").unwrap();
        assert_eq!(
            created,
            Some(Created {
                gt: 5,
                in_: vec!["a&b".into(), "c".into()],
                sub: Sub { x: true }
            })
        );
        assert_eq!(query.deep::<Created>("missing").unwrap(), None);
        assert_eq!(request.headers()["x-n"], "3");
        assert_eq!(request.headers()["cookie"], "session=s%3B1");
    }
}
