//! The wire codec: one HTTP/1.1 message per websocket message.
//!
//! Pure functions, no I/O. [`decode`] never panics, whatever the input, and
//! keeps bodies as slices of the received buffer where the framing allows
//! (a `Content-Length` body, a body sent as a single chunk).
//!
//! Decoding is strict (RFC 9112) and bounded, since the peer may be hostile:
//!
//! - the head (start line and header fields) holds at most
//!   [`WireLimits::max_headers`] fields and [`WireLimits::max_header_bytes`]
//!   bytes; only that many bytes are ever scanned for its end;
//! - a request's body has the length its `Content-Length` gives, or is
//!   chunked (`Transfer-Encoding: chunked`), or is empty (RFC 9112 §6.3); a
//!   response with neither runs to the end of the message
//!   (`docs/PROTOCOL.md` §3: each websocket message is one HTTP message);
//! - the body fills the rest of the message exactly: a `Content-Length`
//!   shorter or longer than what follows the head is an error, never a
//!   silent truncation, and so are bytes after a chunked body;
//! - two `Content-Length` fields, `Content-Length` together with
//!   `Transfer-Encoding`, and any transfer coding other than `chunked` are
//!   errors;
//! - a chunk size is hex digits only, read without overflow, and at most
//!   the maximum message size ([`DecodeOptions::new`]); a chunked body
//!   unterminated at the end of a request is an error unless the peer may
//!   continue it in its next messages (Go's form,
//!   [`DecodeOptions::continued_requests`]);
//! - every [`WireError`] says what is wrong and at which byte of the
//!   message ([`WireError::offset`]); a peer's bytes quoted in it are cut to
//!   128 bytes and escaped, so the error can go into a log line or a 400
//!   answer as it is.

use crate::log_safe::excerpt;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use std::fmt;
use std::mem::MaybeUninit;

/// The header that pairs a response with its request.
pub const CORRELATION_ID: &str = "x-correlation-id";

/// Limits on the head of every HTTP message received: how many header
/// fields it may carry and how many bytes it may take.
///
/// A request over a limit is answered `400 Bad Request` (when its
/// correlation id can be read) and a response over a limit fails the call it
/// answers; the connection goes on. The defaults are far above what real
/// clients send (Go's requests carry 3 to 6 fields in well under 1 KiB) and
/// well below what would let one message cost real memory or CPU:
///
/// | limit | default |
/// |---|---|
/// | [`max_headers`](WireLimits::max_headers) | 100 fields |
/// | [`max_header_bytes`](WireLimits::max_header_bytes) | 64 KiB, start line and blank line included |
///
/// Carried by [`Config::wire_limits`](crate::Config::wire_limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    max_headers: usize,
    max_header_bytes: usize,
}

impl WireLimits {
    /// The default of [`max_headers`](WireLimits::max_headers).
    pub const DEFAULT_MAX_HEADERS: usize = 100;
    /// The default of [`max_header_bytes`](WireLimits::max_header_bytes).
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 << 10;

    /// The defaults: 100 header fields, 64 KiB of head.
    pub const fn new() -> Self {
        WireLimits {
            max_headers: Self::DEFAULT_MAX_HEADERS,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
        }
    }

    /// The most header fields one message (and one chunked body's trailer
    /// section) may carry; default 100. Kept between 8 and 10,000: this
    /// runtime's own messages need 3, and a parse reserves room for them all.
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n.clamp(8, 10_000);
        self
    }

    /// The most bytes one message's head may take, start line, fields and
    /// the empty line after them included; default 64 KiB, at least 1 KiB.
    /// Only this many bytes are scanned for the end of the head.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes.max(1024);
        self
    }
}

impl Default for WireLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// How [`decode_with`] and [`ChunkDecoder`] read messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    limits: WireLimits,
    max_chunk_size: usize,
    continued_requests: bool,
}

impl DecodeOptions {
    /// The maximum chunk size when none is given: the default maximum
    /// message size.
    pub const DEFAULT_MAX_CHUNK_SIZE: usize = 16 << 20;

    /// Reads heads within `limits` and chunked bodies whose chunks are at
    /// most `max_chunk_size` bytes (the connection's maximum message size: a
    /// larger chunk could never arrive whole). A request's chunked body may
    /// not continue in later messages unless
    /// [`continued_requests`](DecodeOptions::continued_requests) says so.
    pub fn new(limits: WireLimits, max_chunk_size: usize) -> Self {
        DecodeOptions {
            limits,
            max_chunk_size,
            continued_requests: false,
        }
    }

    /// Whether a request whose chunked body is unterminated at the end of
    /// its message comes out as [`Decode::Partial`], to be continued by the
    /// peer's next messages (Go's form), rather than as an error. Off by
    /// default: a sender of this project never splits a request. A
    /// response may always continue (Go's flushed responses, the streaming
    /// extension's `@data` frames).
    pub fn continued_requests(mut self, on: bool) -> Self {
        self.continued_requests = on;
        self
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self::new(WireLimits::new(), Self::DEFAULT_MAX_CHUNK_SIZE)
    }
}

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

/// Why a message could not be decoded: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    message: String,
    offset: Option<usize>,
}

impl WireError {
    fn new(message: impl Into<String>) -> Self {
        WireError {
            message: message.into(),
            offset: None,
        }
    }

    fn at(offset: usize, message: impl Into<String>) -> Self {
        WireError {
            message: message.into(),
            offset: Some(offset),
        }
    }

    /// The byte of the message (for a [`ChunkDecoder`], of the chunked body)
    /// where the problem was found, when it has one.
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(offset) = self.offset {
            write!(f, " (at byte {offset})")?;
        }
        Ok(())
    }
}

impl std::error::Error for WireError {}

/// True when the message is a response (starts with `HTTP/`).
pub fn is_response(buf: &[u8]) -> bool {
    buf.starts_with(b"HTTP/")
}

/// Header slots kept on the stack; more are allocated only when
/// [`WireLimits::max_headers`] asks for more.
const STACK_HEADERS: usize = 128;

/// Decodes one HTTP/1.1 message with the default [`DecodeOptions`].
pub fn decode(buf: &Bytes) -> Result<Decode, WireError> {
    decode_with(buf, &DecodeOptions::default())
}

/// Decodes one HTTP/1.1 message (the whole of one websocket message).
pub fn decode_with(buf: &Bytes, options: &DecodeOptions) -> Result<Decode, WireError> {
    let limits = &options.limits;
    // The end of the head is looked for in the first max_header_bytes only.
    let window = &buf[..buf.len().min(limits.max_header_bytes)];
    // Uninitialised slots: a parse writes only the fields it finds, instead
    // of every slot being cleared first (4 KiB per message).
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap;
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap = Vec::with_capacity(limits.max_headers);
        heap.resize_with(limits.max_headers, MaybeUninit::uninit);
        &mut heap
    };
    if is_response(buf) {
        let mut parsed = httparse::Response::new(&mut []);
        let head_len = head_length(
            httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut parsed,
                window,
                slots,
            ),
            buf,
            window,
            limits,
            "response",
        )?;
        let code = parsed.code.unwrap_or(0);
        let status = StatusCode::from_u16(code)
            .map_err(|_| WireError::at(9, format!("invalid status code {code}")))?;
        let version = version_of(parsed.version);
        let fields = Fields {
            raw: parsed.headers,
            buf,
        };
        let no_body = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let body = if no_body {
            if buf.len() > head_len {
                return Err(WireError::at(
                    head_len,
                    format!(
                        "a {} response has no body, but {} bytes follow its head",
                        status.as_u16(),
                        buf.len() - head_len
                    ),
                ));
            }
            Some(Bytes::new())
        } else {
            body_of(buf, head_len, fields, Kind::Response, options)?
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
        let mut parsed = httparse::Request::new(&mut []);
        let head_len = head_length(
            parsed.parse_with_uninit_headers(window, slots),
            buf,
            window,
            limits,
            "request",
        )?;
        let method_text = parsed.method.unwrap_or("");
        let method = Method::from_bytes(method_text.as_bytes()).map_err(|_| {
            WireError::at(0, format!("invalid method \"{}\"", excerpt(method_text)))
        })?;
        let target = parsed.path.unwrap_or("");
        // A slice of the message: the URI keeps it, nothing is copied.
        let uri = Uri::from_maybe_shared(buf.slice_ref(target.as_bytes())).map_err(|e| {
            WireError::at(
                offset_in(buf, target.as_bytes()),
                format!("invalid request target \"{}\": {e}", excerpt(target)),
            )
        })?;
        let version = version_of(parsed.version);
        let fields = Fields {
            raw: parsed.headers,
            buf,
        };
        let body = body_of(buf, head_len, fields, Kind::Request, options)?;
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

/// The length of the head, or why there is none within the limits.
fn head_length(
    parsed: httparse::Result<usize>,
    buf: &[u8],
    window: &[u8],
    limits: &WireLimits,
    kind: &str,
) -> Result<usize, WireError> {
    match parsed {
        Ok(httparse::Status::Complete(n)) => Ok(n),
        Ok(httparse::Status::Partial) if buf.len() > window.len() => Err(WireError::at(
            window.len(),
            format!(
                "the {kind} head is larger than the limit of {} bytes (WireLimits::max_header_bytes)",
                limits.max_header_bytes
            ),
        )),
        Ok(httparse::Status::Partial) => Err(WireError::at(
            buf.len(),
            format!("{kind} head is incomplete (no empty line after the headers)"),
        )),
        Err(httparse::Error::TooManyHeaders) => {
            let offset = field_lines(window)
                .nth(limits.max_headers)
                .map(|(offset, _)| offset);
            let message = format!(
                "the {kind} head has more than {} header fields (WireLimits::max_headers)",
                limits.max_headers
            );
            Err(match offset {
                Some(offset) => WireError::at(offset, message),
                None => WireError::new(message),
            })
        }
        Err(
            e @ (httparse::Error::HeaderName
            | httparse::Error::HeaderValue
            | httparse::Error::NewLine),
        ) => {
            let bad = field_lines(window).find(|(_, line)| !valid_field_line(line));
            Err(match bad {
                Some((offset, line)) => WireError::at(
                    offset,
                    format!("malformed {kind} head: {e} in line \"{}\"", excerpt(line)),
                ),
                None => WireError::new(format!("malformed {kind} head: {e}")),
            })
        }
        Err(e) => {
            let line = window.split(|b| *b == b'\n').next().unwrap_or(b"");
            Err(WireError::at(
                0,
                format!(
                    "malformed {kind} head: {e} in start line \"{}\"",
                    excerpt(line)
                ),
            ))
        }
    }
}

/// The header field lines of a head, with their offsets: every line after
/// the start line, up to the empty line (line ends are LF, CR LF accepted).
fn field_lines(head: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let first = head
        .iter()
        .position(|b| *b == b'\n')
        .map_or(head.len(), |n| n + 1);
    let mut pos = first;
    std::iter::from_fn(move || {
        if pos >= head.len() {
            return None;
        }
        let rest = &head[pos..];
        let len = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let line = &rest[..len];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        let at = pos;
        pos += len + 1;
        Some((at, line))
    })
}

/// `name: value` with a token name and a value without control characters
/// (horizontal tab aside).
fn valid_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return false;
    };
    colon > 0
        && line[..colon].iter().all(|b| is_tchar(*b))
        && line[colon + 1..]
            .iter()
            .all(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f))
}

/// A token character (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Where `part`, a slice of `buf`, starts in it.
fn offset_in(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize)
        .wrapping_sub(buf.as_ptr() as usize)
        .min(buf.len())
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
///
/// Bounded like [`decode_with`]: a chunk larger than the maximum chunk size
/// is refused as soon as its size line is read, so the decoder never holds
/// more than one chunk and its size line.
#[derive(Debug)]
pub struct ChunkDecoder {
    buf: BytesMut,
    done: bool,
    /// Bytes of the body consumed before `buf[0]`, for error offsets.
    consumed: usize,
    options: DecodeOptions,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkDecoder {
    /// A decoder at the start of a chunked body, with the default
    /// [`DecodeOptions`] (chunks of at most 16 MiB).
    pub fn new() -> Self {
        Self::with_options(&DecodeOptions::default())
    }

    /// A decoder at the start of a chunked body, with the maximum chunk size
    /// and trailer limits of `options`.
    pub fn with_options(options: &DecodeOptions) -> Self {
        ChunkDecoder {
            buf: BytesMut::new(),
            done: false,
            consumed: 0,
            options: *options,
        }
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
    /// without the chunk framing). Errors carry the offset in the chunked
    /// body; after an error the decoder is of no further use.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Bytes>, WireError> {
        let mut chunks = Vec::new();
        if self.done {
            return Ok(chunks);
        }
        self.buf.extend_from_slice(data);
        loop {
            let Some((size, line_len)) =
                chunk_line(&self.buf, self.options.max_chunk_size, self.consumed, true)?
            else {
                return Ok(chunks);
            };
            if size == 0 {
                trailers(&self.buf, line_len, &self.options.limits, self.consumed)?;
                self.done = true;
                self.consumed += self.buf.len();
                self.buf = BytesMut::new();
                return Ok(chunks);
            }
            // size <= max_chunk_size, so this only overflows with a limit
            // of nearly usize::MAX; then the chunk is simply never whole.
            let end = line_len.saturating_add(size);
            if self.buf.len() < end.saturating_add(2) {
                return Ok(chunks);
            }
            if &self.buf[end..end + 2] != b"\r\n" {
                return Err(WireError::at(
                    self.consumed + end,
                    format!("the chunk of {size} bytes is not followed by CRLF"),
                ));
            }
            let mut piece = self.buf.split_to(end + 2);
            self.consumed += end + 2;
            piece.truncate(end);
            let _ = piece.split_to(line_len);
            chunks.push(piece.freeze());
        }
    }
}

/// The longest chunk size line accepted, extensions included.
const MAX_CHUNK_LINE: usize = 1024;

/// Reads the chunk size line at the start of `buf`: `Some((size, length of
/// the line with its CRLF))`, or `None` when the line is not whole yet (only
/// with `partial_ok`). What is there of an unfinished line is checked at
/// once, so that bytes that cannot start a chunk are refused before more is
/// awaited. `base` is the offset of `buf` for errors.
fn chunk_line(
    buf: &[u8],
    max_chunk_size: usize,
    base: usize,
    partial_ok: bool,
) -> Result<Option<(usize, usize)>, WireError> {
    let window = &buf[..buf.len().min(MAX_CHUNK_LINE + 2)];
    let (line, complete) = match find_crlf(window) {
        Some(end) => (&buf[..end], true),
        None if buf.len() > MAX_CHUNK_LINE => {
            return Err(WireError::at(
                base,
                format!("a chunk size line is longer than {MAX_CHUNK_LINE} bytes"),
            ))
        }
        None => (buf, false),
    };
    let size = chunk_size(line, max_chunk_size, complete).map_err(|why| {
        WireError::at(
            base,
            format!("invalid chunk size line \"{}\": {why}", excerpt(line)),
        )
    })?;
    match (complete, partial_ok) {
        (true, _) => Ok(Some((size, line.len() + 2))),
        (false, true) => Ok(None),
        (false, false) => Err(WireError::at(
            base,
            "the message ends inside a chunk size line",
        )),
    }
}

/// The size in a chunk size line (`1*HEXDIG [ BWS ";" extensions ]`), read
/// without overflow and refused beyond `max`. An unfinished line
/// (`complete` false) is checked as far as it goes.
fn chunk_size(line: &[u8], max: usize, complete: bool) -> Result<usize, String> {
    chunk_size_of(line, max, complete).map_err(|why| {
        if is_http_start(line) {
            "this is the start of a new HTTP message, not the next chunk: \
             the chunked body before it never ended"
                .to_owned()
        } else {
            why
        }
    })
}

fn chunk_size_of(line: &[u8], max: usize, complete: bool) -> Result<usize, String> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 && (complete || !line.is_empty()) {
        return Err("it does not start with a hex chunk size".to_owned());
    }
    let mut size = 0usize;
    for b in &line[..digits] {
        let digit = char::from(*b).to_digit(16).unwrap_or(0) as usize;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(digit))
            .filter(|s| *s <= max)
            .ok_or_else(|| format!("the chunk size exceeds the limit of {max} bytes"))?;
    }
    let mut tail = &line[digits..];
    if !complete {
        tail = tail.strip_suffix(b"\r").unwrap_or(tail);
    }
    let after = tail
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .map_or(&b""[..], |n| &tail[n..]);
    if !after.is_empty() && after[0] != b';' {
        return Err("unexpected bytes after the chunk size".to_owned());
    }
    if after
        .iter()
        .any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f)
    {
        return Err("a control character in a chunk extension".to_owned());
    }
    Ok(size)
}

/// True when `line`, which is no valid chunk size line, looks like the
/// start of an HTTP message (as much of it as there is).
fn is_http_start(line: &[u8]) -> bool {
    if line.is_empty() {
        return false;
    }
    if line.starts_with(b"HTTP/") || b"HTTP/".starts_with(line) {
        return true;
    }
    let method = line.iter().take_while(|b| b.is_ascii_uppercase()).count();
    method > 0 && line.get(method) == Some(&b' ')
}

/// Checks the trailer section of a chunked body, from `start` (after the
/// last chunk's size line) to the empty line that ends it; trailer fields
/// are dropped. A section whose final CRLF the message cuts short (nothing,
/// or a lone CR, after the last field) is accepted: Go's peers and this
/// runtime send no trailers, and a final CRLF is sometimes left out. Part
/// of a field cut short, or bytes after the empty line, are an error, the
/// same in a whole message and in a continued one.
fn trailers(buf: &[u8], start: usize, limits: &WireLimits, base: usize) -> Result<(), WireError> {
    let mut pos = start;
    let mut count = 0usize;
    loop {
        if pos >= buf.len() {
            return Ok(());
        }
        let window = &buf[pos..buf.len().min(start + limits.max_header_bytes + 2).max(pos)];
        let Some(len) = find_crlf(window) else {
            if buf.len() - start > limits.max_header_bytes {
                return Err(WireError::at(
                    base + start,
                    format!(
                        "the trailer section is larger than the limit of {} bytes (WireLimits::max_header_bytes)",
                        limits.max_header_bytes
                    ),
                ));
            }
            return if b"\r\n".starts_with(&buf[pos..]) {
                Ok(())
            } else {
                Err(WireError::at(
                    base + pos,
                    "the message ends inside a trailer field",
                ))
            };
        };
        if len == 0 {
            let end = pos + 2;
            if end < buf.len() {
                return Err(WireError::at(
                    base + end,
                    format!(
                        "{} bytes follow the end of the chunked body",
                        buf.len() - end
                    ),
                ));
            }
            return Ok(());
        }
        let line = &buf[pos..pos + len];
        if !valid_field_line(line) {
            return Err(WireError::at(
                base + pos,
                format!("malformed trailer field \"{}\"", excerpt(line)),
            ));
        }
        count += 1;
        if count > limits.max_headers {
            return Err(WireError::at(
                base + pos,
                format!(
                    "the trailer section has more than {} fields (WireLimits::max_headers)",
                    limits.max_headers
                ),
            ));
        }
        pos += len + 2;
    }
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

/// The longest frame header line accepted (verb, target and count).
const MAX_FRAME_LINE: usize = 1024;

/// Decodes a streaming-extension frame.
pub fn decode_frame(buf: &Bytes) -> Result<Frame, WireError> {
    let window = &buf[..buf.len().min(MAX_FRAME_LINE + 2)];
    let line_end = find_crlf(window).ok_or_else(|| {
        WireError::new(if buf.len() > MAX_FRAME_LINE {
            format!("frame header is longer than {MAX_FRAME_LINE} bytes")
        } else {
            "frame has no CRLF after its header".to_owned()
        })
    })?;
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
                "frame target \"{}\" is not r<id> or q<id>",
                excerpt(target)
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
        other => {
            return Err(WireError::new(format!(
                "unknown frame \"{}\"",
                excerpt(other)
            )))
        }
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
    /// Where the field's line starts in the message.
    offset: usize,
}

fn version_of(minor: Option<u8>) -> Version {
    match minor {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    }
}

/// The header fields httparse found, read in place (no list is built).
#[derive(Clone, Copy)]
struct Fields<'h, 'b> {
    raw: &'h [httparse::Header<'b>],
    buf: &'b Bytes,
}

impl<'b> Fields<'_, 'b> {
    fn len(&self) -> usize {
        self.raw.len()
    }

    fn iter(&self) -> impl Iterator<Item = Field<'b>> + '_ {
        self.raw.iter().map(|h| Field {
            name: h.name,
            value: h.value,
            offset: offset_in(self.buf, h.name.as_bytes()),
        })
    }
}

/// Moves the header fields into the map, returning the correlation id.
fn fill_headers(
    map: &mut http::HeaderMap,
    fields: Fields<'_, '_>,
) -> Result<Option<String>, WireError> {
    let mut correlation_id: Option<(String, usize)> = None;
    map.reserve(fields.len());
    for field in fields.iter() {
        if field.name.eq_ignore_ascii_case(CORRELATION_ID) {
            if let Some((_, first)) = &correlation_id {
                return Err(WireError::at(
                    field.offset,
                    format!("X-Correlation-Id appears twice (first at byte {first})"),
                ));
            }
            let id = std::str::from_utf8(field.value)
                .map_err(|_| WireError::at(field.offset, "X-Correlation-Id is not valid UTF-8"))?;
            correlation_id = Some((id.trim().to_owned(), field.offset));
            continue;
        }
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| {
            WireError::at(
                field.offset,
                format!("invalid header name \"{}\"", excerpt(field.name)),
            )
        })?;
        if name == TRANSFER_ENCODING {
            // The body is handed over whole; its transfer coding is gone.
            continue;
        }
        // A slice of the message: the value is checked, not copied.
        let value =
            HeaderValue::from_maybe_shared(fields.buf.slice_ref(field.value)).map_err(|_| {
                WireError::at(
                    field.offset,
                    format!("invalid value for header \"{}\"", excerpt(field.name)),
                )
            })?;
        map.append(name, value);
    }
    Ok(correlation_id.map(|(id, _)| id))
}

/// A `Content-Length` value: decimal digits only (no sign, no list), read
/// without overflow.
fn content_length(value: &[u8]) -> Option<usize> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0usize, |n, d| {
        n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

/// The body after the head, or `None` when a chunked body continues in the
/// peer's next messages.
fn body_of(
    buf: &Bytes,
    head_len: usize,
    fields: Fields<'_, '_>,
    kind: Kind,
    options: &DecodeOptions,
) -> Result<Option<Bytes>, WireError> {
    let head_len = head_len.min(buf.len());
    let mut length: Option<(usize, usize)> = None;
    let mut chunked_at: Option<usize> = None;
    for f in fields.iter() {
        if f.name.eq_ignore_ascii_case("transfer-encoding") {
            if let Some(first) = chunked_at {
                return Err(WireError::at(
                    f.offset,
                    format!("Transfer-Encoding appears twice (first at byte {first})"),
                ));
            }
            if !f.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(WireError::at(
                    f.offset,
                    format!(
                        "unsupported Transfer-Encoding \"{}\": only \"chunked\" is accepted",
                        excerpt(f.value)
                    ),
                ));
            }
            chunked_at = Some(f.offset);
        } else if f.name.eq_ignore_ascii_case("content-length") {
            let n = content_length(f.value).ok_or_else(|| {
                WireError::at(
                    f.offset,
                    format!("invalid Content-Length \"{}\"", excerpt(f.value)),
                )
            })?;
            if let Some((m, first)) = length {
                let what = if m == n { "duplicate" } else { "conflicting" };
                return Err(WireError::at(
                    f.offset,
                    format!("{what} Content-Length headers ({m} at byte {first}, then {n})"),
                ));
            }
            length = Some((n, f.offset));
        }
    }
    if let (Some((_, at)), Some(_)) = (length, chunked_at) {
        return Err(WireError::at(
            at,
            "both Content-Length and Transfer-Encoding: chunked: the body length is ambiguous",
        ));
    }
    if chunked_at.is_some() {
        let may_continue = kind == Kind::Response || options.continued_requests;
        return dechunk(buf, head_len, options, may_continue);
    }
    let rest = buf.slice(head_len..);
    match length {
        Some((n, _)) if n == rest.len() => Ok(Some(rest)),
        // A response to HEAD announces a length and carries no body.
        Some(_) if kind == Kind::Response && rest.is_empty() => Ok(Some(rest)),
        Some((n, at)) if n > rest.len() => Err(WireError::at(
            at,
            format!(
                "body is {} bytes, shorter than its Content-Length of {n}",
                rest.len()
            ),
        )),
        Some((n, at)) => Err(WireError::at(
            at,
            format!(
                "Content-Length of {n} is shorter than the body: {} bytes follow the head, \
                 {} of them after the body",
                rest.len(),
                rest.len() - n
            ),
        )),
        None if kind == Kind::Request && !rest.is_empty() => Err(WireError::at(
            head_len,
            format!(
                "{} bytes follow the head of a request without Content-Length or \
                 Transfer-Encoding: chunked, whose body is empty (RFC 9112 §6.3)",
                rest.len()
            ),
        )),
        // A response without either runs to the end of its message.
        None => Ok(Some(rest)),
    }
}

/// Joins a chunked body that starts at `start`. `Ok(None)` means it is
/// unterminated and `may_continue` (the rest comes in later messages).
fn dechunk(
    buf: &Bytes,
    start: usize,
    options: &DecodeOptions,
    may_continue: bool,
) -> Result<Option<Bytes>, WireError> {
    let mut pos = start;
    let mut pieces: Vec<Bytes> = Vec::new();
    let unterminated = |what: String| {
        if may_continue {
            Ok(None)
        } else {
            Err(WireError::at(
                buf.len(),
                format!("the chunked body is unterminated: {what}"),
            ))
        }
    };
    loop {
        let Some((size, line_len)) = chunk_line(&buf[pos..], options.max_chunk_size, pos, true)?
        else {
            return unterminated("the message ends inside a chunk size line".to_owned());
        };
        if size == 0 {
            trailers(buf, pos + line_len, &options.limits, 0)?;
            break;
        }
        let data = pos + line_len;
        let end = data.saturating_add(size);
        if end.saturating_add(2) > buf.len() {
            return unterminated(format!(
                "the chunk of {size} bytes at byte {data} runs past the end of the message ({} bytes left)",
                buf.len() - data
            ));
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(WireError::at(
                end,
                format!("the chunk of {size} bytes at byte {data} is not followed by CRLF"),
            ));
        }
        pieces.push(buf.slice(data..end));
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
                // Only what could be sent back in a header as it is.
                let printable = value
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
                (!value.is_empty() && printable).then(|| value.to_owned())
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
    let (mut out, body) = encode_request_split(request, correlation_id, request.body().len());
    out.put_slice(&body);
    out
}

/// [`encode_request`] in two parts: the head, and the body that follows it
/// (the request's, shared, not copied). `room` is extra capacity reserved
/// after the head.
pub(crate) fn encode_request_split(
    request: &Request<Bytes>,
    correlation_id: &str,
    room: usize,
) -> (BytesMut, Bytes) {
    let body = request.body();
    let mut out = BytesMut::with_capacity(96 + 40 * request.headers().len() + room);
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
    (out, body.clone())
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
    let (mut out, body) = encode_response_split(response, correlation_id, response.body().len());
    out.put_slice(&body);
    out
}

/// [`encode_response`] in two parts: the head, and the body that follows it
/// (the response's, shared, not copied; empty for a status without a
/// body). `room` is extra capacity reserved after the head.
pub(crate) fn encode_response_split(
    response: &Response<Bytes>,
    correlation_id: Option<&str>,
    room: usize,
) -> (BytesMut, Bytes) {
    let body = response.body();
    let status = response.status();
    let mut out = BytesMut::with_capacity(64 + 40 * response.headers().len() + room);
    put_status_line(&mut out, status);
    put_headers(&mut out, response.headers());
    let bodyless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodyless {
        put_length(&mut out, body.len());
    }
    if let Some(id) = correlation_id {
        put_header(&mut out, b"X-Correlation-Id", id.as_bytes());
    }
    out.put_slice(b"\r\n");
    if bodyless {
        (out, Bytes::new())
    } else {
        (out, body.clone())
    }
}
