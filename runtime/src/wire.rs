//! The wire codec: one HTTP/1.1 message per websocket message.
//!
//! Pure functions, no I/O. [`decode`] never panics, whatever the input, and
//! keeps bodies as slices of the received buffer where the framing allows
//! (a `Content-Length` body, a body sent as a single chunk).

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use std::fmt;

/// The header that pairs a response with its request.
pub const CORRELATION_ID: &str = "x-correlation-id";

/// The most header fields one message may carry.
pub const MAX_HEADERS: usize = 128;

/// One decoded HTTP message.
#[derive(Debug)]
pub enum Message {
    /// A request, to be answered by the receiver's handler.
    Request(Request<Bytes>),
    /// A response to a request the receiver sent.
    Response(Response<Bytes>),
}

/// A decoded message and the correlation id it carried, if any.
///
/// The `X-Correlation-Id` header is taken out of the message's headers, and
/// `Transfer-Encoding` is removed once a chunked body has been joined.
#[derive(Debug)]
pub struct Decoded {
    /// The value of `X-Correlation-Id`, if the message had one.
    pub correlation_id: Option<String>,
    /// The request or response.
    pub message: Message,
}

/// The outcome of [`decode`].
// Returned once per message and taken apart at once: boxing would only add
// an allocation to the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decode {
    /// A whole message.
    Complete(Decoded),
    /// A chunked message whose terminating chunk has not arrived yet: the
    /// head (with an empty body) and the chunked bytes that did arrive. In the
    /// Go form the rest follows as raw chunks in the peer's next websocket
    /// messages; with the streaming extension, in `@data` frames.
    Partial {
        /// The head; its body is empty.
        head: Decoded,
        /// The chunked-encoded bytes after the head (feed them to a
        /// [`ChunkDecoder`]).
        rest: Bytes,
    },
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    message: String,
}

impl WireError {
    fn new(message: impl Into<String>) -> Self {
        WireError {
            message: message.into(),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WireError {}

/// True when the message is a response (starts with `HTTP/`).
pub fn is_response(buf: &[u8]) -> bool {
    buf.starts_with(b"HTTP/")
}

/// Decodes one HTTP/1.1 message.
pub fn decode(buf: &Bytes) -> Result<Decode, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    if is_response(buf) {
        let mut parsed = httparse::Response::new(&mut headers);
        let head_len = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Err(WireError::new(
                    "response head is incomplete (no empty line after the headers)",
                ))
            }
            Err(e) => return Err(WireError::new(format!("malformed response head: {e}"))),
        };
        let code = parsed.code.unwrap_or(0);
        let status = StatusCode::from_u16(code)
            .map_err(|_| WireError::new(format!("invalid status code {code}")))?;
        let version = version_of(parsed.version);
        let fields = collect_headers(parsed.headers)?;
        let no_body = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let body = if no_body {
            Some(Bytes::new())
        } else {
            body_of(buf, head_len, &fields, Kind::Response)?
        };
        let partial = body.is_none();
        let mut response = Response::new(body.unwrap_or_default());
        *response.status_mut() = status;
        *response.version_mut() = version;
        let correlation_id = fill_headers(response.headers_mut(), fields)?;
        let decoded = Decoded {
            correlation_id,
            message: Message::Response(response),
        };
        Ok(finish(decoded, partial, buf, head_len))
    } else {
        let mut parsed = httparse::Request::new(&mut headers);
        let head_len = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Err(WireError::new(
                    "request head is incomplete (no empty line after the headers)",
                ))
            }
            Err(e) => return Err(WireError::new(format!("malformed request head: {e}"))),
        };
        let method_text = parsed.method.unwrap_or("");
        let method = Method::from_bytes(method_text.as_bytes())
            .map_err(|_| WireError::new(format!("invalid method {method_text:?}")))?;
        let target = parsed.path.unwrap_or("");
        let uri = target
            .parse::<Uri>()
            .map_err(|e| WireError::new(format!("invalid request target {target:?}: {e}")))?;
        let version = version_of(parsed.version);
        let fields = collect_headers(parsed.headers)?;
        let body = body_of(buf, head_len, &fields, Kind::Request)?;
        let partial = body.is_none();
        let mut request = Request::new(body.unwrap_or_default());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.version_mut() = version;
        let correlation_id = fill_headers(request.headers_mut(), fields)?;
        let decoded = Decoded {
            correlation_id,
            message: Message::Request(request),
        };
        Ok(finish(decoded, partial, buf, head_len))
    }
}

fn finish(decoded: Decoded, partial: bool, buf: &Bytes, head_len: usize) -> Decode {
    if partial {
        Decode::Partial {
            head: decoded,
            rest: buf.slice(head_len.min(buf.len())..),
        }
    } else {
        Decode::Complete(decoded)
    }
}

/// Decodes a chunked body that arrives in pieces: feed it bytes as they
/// come, take out the chunks that are whole.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    buf: BytesMut,
    done: bool,
}

impl ChunkDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the terminating zero-length chunk was read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes held back because their chunk is not whole yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds `data` and returns the chunks completed by it (their data,
    /// without the chunk framing).
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Bytes>, WireError> {
        let mut chunks = Vec::new();
        if self.done {
            return Ok(chunks);
        }
        self.buf.extend_from_slice(data);
        loop {
            let Some(line_end) = find_crlf(&self.buf) else {
                if self.buf.len() > 1024 {
                    return Err(WireError::new("chunk size line is longer than 1024 bytes"));
                }
                return Ok(chunks);
            };
            let size = chunk_size(&self.buf[..line_end])?;
            if size == 0 {
                self.done = true;
                self.buf.clear();
                return Ok(chunks);
            }
            let Some(end) = (line_end + 2).checked_add(size) else {
                return Err(WireError::new("chunk size overflows"));
            };
            if self.buf.len() < end + 2 {
                return Ok(chunks);
            }
            if &self.buf[end..end + 2] != b"\r\n" {
                return Err(WireError::new("chunk data is not followed by CRLF"));
            }
            let mut piece = self.buf.split_to(end + 2);
            piece.truncate(end);
            let _ = piece.split_to(line_end + 2);
            chunks.push(piece.freeze());
        }
    }
}

fn chunk_size(line: &[u8]) -> Result<usize, WireError> {
    let size_text = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    let size_str = std::str::from_utf8(size_text).unwrap_or("");
    usize::from_str_radix(size_str, 16)
        .ok()
        .filter(|_| !size_str.is_empty() && size_str.len() <= 15)
        .ok_or_else(|| {
            WireError::new(format!(
                "invalid chunk size line {:?}",
                String::from_utf8_lossy(line)
            ))
        })
}

/// Which body a streaming-extension frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// The body of the response to request `id` (flows from the responder).
    Response,
    /// The body of request `id` (flows from the requester).
    Request,
}

/// A frame of the streaming extension (`docs/PROTOCOL.md` §7). The id is
/// always the correlation id of the request, as its requester chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A piece of the body.
    Data(StreamKind, String, Bytes),
    /// The body is complete.
    End(StreamKind, String),
    /// The producer failed; the body is cut.
    Error(StreamKind, String, String),
    /// The consumer gave up; the producer should stop.
    Cancel(StreamKind, String),
    /// The consumer grants the producer this many more bytes.
    Window(StreamKind, String, u32),
}

/// True for a streaming-extension frame (an HTTP message never starts with `@`).
pub fn is_frame(buf: &[u8]) -> bool {
    buf.first() == Some(&b'@')
}

/// Decodes a streaming-extension frame.
pub fn decode_frame(buf: &Bytes) -> Result<Frame, WireError> {
    let line_end =
        find_crlf(buf).ok_or_else(|| WireError::new("frame has no CRLF after its header"))?;
    let line = std::str::from_utf8(&buf[..line_end])
        .map_err(|_| WireError::new("frame header is not UTF-8"))?;
    let payload = buf.slice(line_end + 2..);
    let mut words = line.split(' ');
    let verb = words.next().unwrap_or("");
    let target = words.next().unwrap_or("");
    let kind = match target.as_bytes().first() {
        Some(b'r') => StreamKind::Response,
        Some(b'q') => StreamKind::Request,
        _ => {
            return Err(WireError::new(format!(
                "frame target {target:?} is not r<id> or q<id>"
            )))
        }
    };
    let id = target[1..].to_owned();
    if id.is_empty() {
        return Err(WireError::new("frame target has no id"));
    }
    Ok(match verb {
        "@data" => Frame::Data(kind, id, payload),
        "@end" => Frame::End(kind, id),
        "@error" => Frame::Error(kind, id, String::from_utf8_lossy(&payload).into_owned()),
        "@cancel" => Frame::Cancel(kind, id),
        "@window" => {
            let n = words
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| WireError::new("@window needs a byte count"))?;
            Frame::Window(kind, id, n)
        }
        other => return Err(WireError::new(format!("unknown frame {other:?}"))),
    })
}

/// Encodes a streaming-extension frame.
pub fn encode_frame(frame: &Frame) -> BytesMut {
    let (verb, kind, id, extra, payload): (&str, StreamKind, &str, Option<u32>, &[u8]) = match frame
    {
        Frame::Data(k, id, data) => ("@data", *k, id, None, data),
        Frame::End(k, id) => ("@end", *k, id, None, b""),
        Frame::Error(k, id, message) => ("@error", *k, id, None, message.as_bytes()),
        Frame::Cancel(k, id) => ("@cancel", *k, id, None, b""),
        Frame::Window(k, id, n) => ("@window", *k, id, Some(*n), b""),
    };
    let mut out = BytesMut::with_capacity(24 + id.len() + payload.len());
    out.put_slice(verb.as_bytes());
    out.put_slice(match kind {
        StreamKind::Response => b" r",
        StreamKind::Request => b" q",
    });
    out.put_slice(id.as_bytes());
    if let Some(n) = extra {
        out.put_slice(format!(" {n}").as_bytes());
    }
    out.put_slice(b"\r\n");
    out.put_slice(payload);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Request,
    Response,
}

struct Field<'a> {
    name: &'a str,
    value: &'a [u8],
}

fn version_of(minor: Option<u8>) -> Version {
    match minor {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    }
}

fn collect_headers<'a>(raw: &[httparse::Header<'a>]) -> Result<Vec<Field<'a>>, WireError> {
    Ok(raw
        .iter()
        .map(|h| Field {
            name: h.name,
            value: h.value,
        })
        .collect())
}

/// Moves the header fields into the map, returning the correlation id.
fn fill_headers(
    map: &mut http::HeaderMap,
    fields: Vec<Field<'_>>,
) -> Result<Option<String>, WireError> {
    let mut correlation_id = None;
    map.reserve(fields.len());
    for field in fields {
        if field.name.eq_ignore_ascii_case(CORRELATION_ID) {
            let id = std::str::from_utf8(field.value)
                .map_err(|_| WireError::new("X-Correlation-Id is not valid UTF-8"))?;
            correlation_id = Some(id.trim().to_owned());
            continue;
        }
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| WireError::new(format!("invalid header name {:?}", field.name)))?;
        if name == TRANSFER_ENCODING {
            // The body is handed over whole; its transfer coding is gone.
            continue;
        }
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| WireError::new(format!("invalid value for header {:?}", field.name)))?;
        map.append(name, value);
    }
    Ok(correlation_id)
}

/// The body after the head, or `None` when a chunked body is unfinished.
fn body_of(
    buf: &Bytes,
    head_len: usize,
    fields: &[Field<'_>],
    kind: Kind,
) -> Result<Option<Bytes>, WireError> {
    let rest = buf.slice(head_len.min(buf.len())..);
    let chunked = fields.iter().any(|f| {
        f.name.eq_ignore_ascii_case("transfer-encoding")
            && f.value
                .rsplit(|b| *b == b',')
                .next()
                .map(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
                .unwrap_or(false)
    });
    if chunked {
        return dechunk(&rest);
    }
    let mut length: Option<usize> = None;
    for f in fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("content-length"))
    {
        let text = std::str::from_utf8(f.value).unwrap_or("").trim();
        let n: usize = text
            .parse()
            .map_err(|_| WireError::new(format!("invalid Content-Length {text:?}")))?;
        if length.is_some_and(|m| m != n) {
            return Err(WireError::new("conflicting Content-Length headers"));
        }
        length = Some(n);
    }
    match length {
        None => Ok(Some(rest)),
        Some(n) if n <= rest.len() => Ok(Some(rest.slice(..n))),
        // A response to HEAD announces a length and carries no body.
        Some(_) if kind == Kind::Response && rest.is_empty() => Ok(Some(rest)),
        Some(n) => Err(WireError::new(format!(
            "body is {} bytes, shorter than its Content-Length of {n}",
            rest.len()
        ))),
    }
}

/// Joins a chunked body. `Ok(None)` means the terminating chunk is missing.
fn dechunk(input: &Bytes) -> Result<Option<Bytes>, WireError> {
    let mut pos = 0usize;
    let mut pieces: Vec<Bytes> = Vec::new();
    loop {
        let Some(line_end) = find_crlf(&input[pos..]) else {
            return Ok(None);
        };
        let line = &input[pos..pos + line_end];
        let size_text = line
            .split(|b| *b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii();
        let size_str = std::str::from_utf8(size_text).unwrap_or("");
        let size = usize::from_str_radix(size_str, 16)
            .ok()
            .filter(|_| !size_str.is_empty() && size_str.len() <= 15)
            .ok_or_else(|| {
                WireError::new(format!(
                    "invalid chunk size line {:?}",
                    String::from_utf8_lossy(line)
                ))
            })?;
        pos += line_end + 2;
        if size == 0 {
            // Trailers, if any, end with an empty line; a missing final CRLF is
            // tolerated. Trailer fields are dropped.
            break;
        }
        let Some(end) = pos.checked_add(size) else {
            return Err(WireError::new("chunk size overflows"));
        };
        if end + 2 > input.len() {
            return Ok(None);
        }
        if &input[end..end + 2] != b"\r\n" {
            return Err(WireError::new("chunk data is not followed by CRLF"));
        }
        pieces.push(input.slice(pos..end));
        pos = end + 2;
    }
    Ok(Some(match pieces.len() {
        0 => Bytes::new(),
        1 => pieces.pop().unwrap_or_default(),
        _ => {
            let total = pieces.iter().map(Bytes::len).sum();
            let mut joined = BytesMut::with_capacity(total);
            for p in pieces {
                joined.extend_from_slice(&p);
            }
            joined.freeze()
        }
    }))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Finds an `X-Correlation-Id` value in a message that could not be decoded,
/// so that its sender can still be told what went wrong.
pub fn sniff_correlation_id(buf: &[u8]) -> Option<String> {
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    buf[..head_end]
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            let (name, value) = line.split_at(colon);
            if name
                .trim_ascii()
                .eq_ignore_ascii_case(CORRELATION_ID.as_bytes())
            {
                let value = std::str::from_utf8(&value[1..]).ok()?.trim();
                (!value.is_empty()).then(|| value.to_owned())
            } else {
                None
            }
        })
        .next()
}

fn put_header(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

fn put_headers(out: &mut BytesMut, headers: &http::HeaderMap) {
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name.as_str() == CORRELATION_ID {
            continue;
        }
        put_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

fn put_length(out: &mut BytesMut, len: usize) {
    // Decimal digits, most significant first, without allocating.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut n = len;
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    put_header(out, b"Content-Length", &digits[start..]);
}

/// Encodes a request with the given correlation id.
///
/// `Content-Length` is computed from the body; any `Content-Length`,
/// `Transfer-Encoding` or `X-Correlation-Id` header in the request is
/// replaced. A `Host` header is added from the URI (or `localhost`) when the
/// request has none, as Go's HTTP parser expects one.
pub fn encode_request(request: &Request<Bytes>, correlation_id: &str) -> BytesMut {
    let body = request.body();
    let mut out = BytesMut::with_capacity(96 + 40 * request.headers().len() + body.len());
    out.put_slice(request.method().as_str().as_bytes());
    out.put_u8(b' ');
    let target = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("/");
    if target.starts_with('?') {
        // An absolute URI with a query and no path (`http://h?q`).
        out.put_u8(b'/');
    }
    out.put_slice(target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    if !request.headers().contains_key(HOST) {
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str())
            .unwrap_or("localhost");
        put_header(&mut out, b"Host", host.as_bytes());
    }
    put_headers(&mut out, request.headers());
    let method = request.method();
    if !body.is_empty()
        || method == Method::POST
        || method == Method::PUT
        || method == Method::PATCH
    {
        put_length(&mut out, body.len());
    }
    put_header(&mut out, b"X-Correlation-Id", correlation_id.as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(body);
    out
}

/// Encodes the head of a response whose body follows in chunks
/// (`Transfer-Encoding: chunked`), with `first` as its first chunk if not
/// empty: the first message of a streamed response.
pub fn encode_response_head(
    head: &http::response::Parts,
    correlation_id: Option<&str>,
    first: &[u8],
) -> BytesMut {
    let mut out = BytesMut::with_capacity(96 + 40 * head.headers.len() + first.len());
    put_status_line(&mut out, head.status);
    put_headers(&mut out, &head.headers);
    put_header(&mut out, b"Transfer-Encoding", b"chunked");
    if let Some(id) = correlation_id {
        put_header(&mut out, b"X-Correlation-Id", id.as_bytes());
    }
    out.put_slice(b"\r\n");
    put_chunk(&mut out, first);
    out
}

fn put_status_line(out: &mut BytesMut, status: StatusCode) {
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.put_slice(b"\r\n");
}

/// Appends `data` as one chunk of a chunked body (nothing if empty; an empty
/// chunk would end the body).
pub fn put_chunk(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// The terminating chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Encodes a response; `correlation_id` is the id of the request it answers.
pub fn encode_response(response: &Response<Bytes>, correlation_id: Option<&str>) -> BytesMut {
    let body = response.body();
    let status = response.status();
    let mut out = BytesMut::with_capacity(64 + 40 * response.headers().len() + body.len());
    put_status_line(&mut out, status);
    put_headers(&mut out, response.headers());
    let bodyless = status.is_informational() || status == StatusCode::NO_CONTENT;
    if !bodyless {
        put_length(&mut out, body.len());
    }
    if let Some(id) = correlation_id {
        put_header(&mut out, b"X-Correlation-Id", id.as_bytes());
    }
    out.put_slice(b"\r\n");
    if !bodyless {
        out.put_slice(body);
    }
    out
}
