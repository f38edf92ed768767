//! Bodies: media types and the decoders of bodies read whole, on both
//! sides (a generated server decodes requests, a generated client
//! responses).
//!
//! A request body that does not match is a [`Rejection`] (400, or 415 for a
//! media type the operation does not accept); a response body that does not
//! match is a [`CallError`].

use crate::api::{CallError, StreamFormat, TypedStream};
use crate::rejection::Rejection;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Request, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

/// A body that does not decode as its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    path: Option<String>,
    message: String,
}

impl DecodeError {
    /// A body that does not decode, for `message`.
    pub fn new(message: impl Into<String>) -> Self {
        DecodeError {
            path: None,
            message: message.into(),
        }
    }

    /// The path to the JSON value that did not match (`items[0].name`), if
    /// known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// What did not match (naming the path when there is one).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeError> for Rejection {
    fn from(error: DecodeError) -> Self {
        Rejection::InvalidBody {
            path: error.path,
            message: error.message,
        }
    }
}

/// Turns a decoding failure of `response`'s body into a [`CallError`].
///
/// # Errors
///
/// `result`'s error, as [`CallError::Decode`].
pub fn client<T>(
    result: Result<T, DecodeError>,
    response: &Response<Bytes>,
) -> Result<T, CallError> {
    result.map_err(|e| CallError::Decode {
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

/// The rejection of a request whose media type the operation does not
/// accept (415).
pub fn unsupported_media(headers: &HeaderMap) -> Rejection {
    Rejection::UnsupportedMediaType {
        content_type: content_type(headers).unwrap_or_default(),
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
                return Err(DecodeError::new(format!(
                    "invalid body: item {}: {e}",
                    items.len()
                )))
            }
            Some(None) => return Ok(items),
            None => {
                return Err(DecodeError::new(
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
        return de
            .end()
            .map(|()| v)
            .map_err(|e| DecodeError::new(format!("invalid JSON body: {e}")));
    }
    value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            DecodeError::new(format!("invalid JSON body: {inner}"))
        } else {
            DecodeError {
                message: format!("invalid JSON body at `{path}`: {inner}"),
                path: Some(path),
            }
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
        .map_err(|e| DecodeError::new(format!("invalid form body: {e}")))
}

/// A text body.
pub fn decode_text(body: &Bytes) -> Result<String, DecodeError> {
    String::from_utf8(body.to_vec()).map_err(|_| DecodeError::new("the text body is not UTF-8"))
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

/// Whether a request carries a body (one that is empty but typed counts).
pub fn has_body(request: &Request<Bytes>) -> bool {
    !request.body().is_empty() || request.headers().get(CONTENT_TYPE).is_some()
}

/// A required request body: [`Rejection::MissingBody`] when there is none.
///
/// # Errors
///
/// The request has no body.
pub fn body_required(request: &Request<Bytes>) -> Result<(), Rejection> {
    if has_body(request) {
        Ok(())
    } else {
        Err(Rejection::MissingBody)
    }
}

/// A request body of media type `media`, decoded by `decode` (415 for
/// another media type, 400 for a body that does not decode).
pub fn request_body<T>(
    request: &Request<Bytes>,
    media: &str,
    decode: fn(&Bytes) -> Result<T, DecodeError>,
) -> Result<T, Rejection> {
    accept_media(request.headers(), media)?;
    Ok(decode(request.body())?)
}

/// 415 unless a request has media type `media`, or none.
pub fn accept_media(headers: &HeaderMap, media: &str) -> Result<(), Rejection> {
    if media_accepts(media, headers) {
        Ok(())
    } else {
        Err(unsupported_media(headers))
    }
}

/// A response body of media type `media`, decoded by `decode` (an
/// undocumented response for another media type).
pub fn response_body<T>(
    response: &Response<Bytes>,
    media: &str,
    decode: fn(&Bytes) -> Result<T, DecodeError>,
) -> Result<T, CallError> {
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

impl Message for Request<Bytes> {
    type Error = Rejection;

    fn body_as<T>(
        &self,
        media: &str,
        decode: fn(&Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, Rejection> {
        request_body(self, media, decode)
    }
}

impl Message for Response<Bytes> {
    type Error = CallError;

    fn body_as<T>(
        &self,
        media: &str,
        decode: fn(&Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, CallError> {
        response_body(self, media, decode)
    }
}

/// An `application/json` body (the common case, in short).
pub fn json<M: Message, T: DeserializeOwned>(message: &M) -> Result<T, M::Error> {
    message.body_as("application/json", decode_json)
}

/// An undocumented-response error unless a response has media type
/// `media`, or none.
pub fn expect_media(response: &Response<Bytes>, media: &str) -> Result<(), CallError> {
    if media_accepts(media, response.headers()) {
        Ok(())
    } else {
        Err(undocumented(response))
    }
}

/// The error for a response the operation does not document (a copy: the
/// body is shared, the headers are copied, on this error path only).
pub fn undocumented(response: &Response<Bytes>) -> CallError {
    CallError::Undocumented {
        status: response.status(),
        headers: Box::new(response.headers().clone()),
        body: response.body().clone(),
    }
}

/// The items of a stream whose bytes arrived whole (decoding errors come
/// with the items).
///
/// # Errors
///
/// None today: a body that does not decode yields failing items.
pub fn stream_from_bytes<T: DeserializeOwned + Send + 'static>(
    bytes: &Bytes,
    format: StreamFormat,
) -> Result<TypedStream<T>, DecodeError> {
    Ok(TypedStream::from_body(
        crate::BodyStream::full(bytes.clone()),
        format,
    ))
}
