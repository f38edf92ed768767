//! Messages: the request a generated client builds for a call
//! ([`RequestBuilder`]), the response a generated server builds from a
//! response enum ([`ResponseBuilder`]), and the steps between them and a
//! [`Connection`]: [`send`] a request, read a response's headers.

use crate::api::multipart::MultipartWriter;
use crate::api::param::{header_text, to_strings};
use crate::api::{CallError, FromResponse, StreamFormat};
use crate::body::{Body, BodyStream};
use crate::rejection::text_response;
use crate::Connection;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::future::Future;

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

/// Encoded body and content type, or why encoding failed.
#[derive(Debug, Default)]
struct Payload {
    body: Bytes,
    content_type: Option<Cow<'static, str>>,
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
        self.content_type = Some(Cow::Borrowed(media));
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
                self.content_type = Some(Cow::Owned(content_type));
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
fn media_header(media: Cow<'static, str>) -> HeaderValue {
    match media {
        Cow::Borrowed(media) => HeaderValue::from_static(media),
        Cow::Owned(media) => HeaderValue::from_str(&media)
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

    /// Makes a streamed body the response's body, sent with `media` as
    /// its `Content-Type`.
    pub fn stream(mut self, body: Body, media: &'static str) -> Response<Body> {
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(media));
        self.respond(body)
    }

    /// The response (500 when something could not be encoded).
    pub fn finish(mut self) -> Response<Body> {
        let body = std::mem::take(&mut self.payload.body);
        self.respond(Body::from(body))
    }

    fn respond(self, body: Body) -> Response<Body> {
        if let Some(error) = self.payload.error {
            return text_response(StatusCode::INTERNAL_SERVER_ERROR, error);
        }
        let mut response = Response::new(body);
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

    pub(crate) fn build(self) -> Result<Request<Bytes>, CallError> {
        if let Some(error) = self.payload.error {
            return Err(CallError::InvalidRequest(error));
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
        let mut request = Request::new(self.payload.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri
            .parse()
            .map_err(|e| CallError::InvalidRequest(format!("request URI `{uri}`: {e}")))?;
        let mut headers = self.headers;
        if let Some(media) = self.payload.content_type {
            headers.insert(CONTENT_TYPE, media_header(media));
        }
        if !self.cookies.is_empty() {
            insert_header(&mut headers, "cookie", &self.cookies.join("; "))
                .map_err(CallError::InvalidRequest)?;
        }
        *request.headers_mut() = headers;
        Ok(request)
    }
}

/// Sends a request over a connection and waits for its response.
pub async fn call(
    connection: &Connection,
    request: RequestBuilder,
) -> Result<Response<Bytes>, CallError> {
    let request = request.build()?;
    connection
        .call(request)
        .await
        .map_err(CallError::from_runtime)
}

/// Sends a request over a connection and decodes its response as `T`: the
/// one future of every generated `send`, so that a generated client has no
/// `async` block of its own per operation to check.
// Written out rather than `async fn` so that the signature promises `Send`
// (a generated `send` returns `impl Future + Send`).
#[allow(clippy::manual_async_fn)]
pub fn send<'a, T: FromResponse + 'a>(
    connection: &'a Connection,
    request: RequestBuilder,
) -> impl Future<Output = Result<T, CallError>> + Send + 'a {
    async move { T::from_response(call(connection, request).await?) }
}

/// Sends a request over a connection and decodes its response as `T` as
/// soon as its head arrives ([`FromResponse::from_streamed_response`]): the
/// `send` of an operation that answers a stream.
// As `send`.
#[allow(clippy::manual_async_fn)]
pub fn send_streaming<'a, T: FromResponse + 'a>(
    connection: &'a Connection,
    request: RequestBuilder,
) -> impl Future<Output = Result<T, CallError>> + Send + 'a {
    async move {
        let request = request.build()?;
        let response = connection
            .call_streaming(request)
            .await
            .map_err(CallError::from_runtime)?;
        T::from_streamed_response(response).await
    }
}

/// The most a non-stream response of a streaming operation may hold.
const COLLECT_LIMIT: usize = 64 << 20;

/// Collects a streamed body whole (at most 64 MiB): a response of a
/// streaming operation that is not its stream.
///
/// # Errors
///
/// The body failed or is too large.
pub async fn collect_body(body: BodyStream) -> Result<Bytes, CallError> {
    body.collect(COLLECT_LIMIT)
        .await
        .map_err(CallError::from_runtime)
}

fn header_value<T: DeserializeOwned>(
    response: &Response<Bytes>,
    name: &str,
) -> Result<Option<T>, CallError> {
    let decode_error = |message: String| CallError::Decode {
        status: response.status(),
        message,
    };
    let Some(text) = header_text(response.headers(), name)
        .map_err(|e| decode_error(format!("header `{name}`: {e}")))?
    else {
        return Ok(None);
    };
    let text = text.trim();
    // Arrays travel comma-joined.
    match crate::api::param::from_str::<T>(text) {
        Ok(v) => Ok(Some(v)),
        Err(first) => crate::param::list_from_texts(text.split(',').map(str::trim))
            .map(Some)
            .map_err(|_| decode_error(format!("header `{name}`: {first}"))),
    }
}

/// An optional response header.
pub fn response_header<T: DeserializeOwned>(
    response: &Response<Bytes>,
    name: &str,
) -> Result<Option<T>, CallError> {
    header_value(response, name)
}

/// A required response header.
pub fn response_header_required<T: DeserializeOwned>(
    response: &Response<Bytes>,
    name: &str,
) -> Result<T, CallError> {
    header_value(response, name)?.ok_or_else(|| CallError::Decode {
        status: response.status(),
        message: format!("missing required header `{name}`"),
    })
}

// ---------------------------------------------------------------------------
// Small steps the generated handlers, response enums and request builders
// call instead of writing them out per operation.

/// The status for a documented code (500 for an impossible one).
pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A response builder for a documented status code.
pub fn reply(code: u16) -> ResponseBuilder {
    ResponseBuilder::new(status(code))
}

/// A response builder for the status a response variant carries.
pub fn reply_with(status: StatusCode) -> ResponseBuilder {
    ResponseBuilder::new(status)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::media::{decode_form, decode_json, media_matches};
    use crate::api::param::{from_str as param_from_str, match_path, Query};

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
        assert!(err.message().contains("[0].name"), "{}", err.message());
        assert_eq!(err.path(), Some("[0].name"));
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
