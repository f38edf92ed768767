//! The messages of a call between nodes, on NATS (see docs/CLUSTER.md).
//!
//! Every message starts with a one-byte kind. Integers are big-endian;
//! strings and byte strings carry their length first.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};

/// A request, from the calling node to the peer's node.
pub(crate) const REQUEST: u8 = 1;
/// The rest of a request too large for one message (to the control subject).
pub(crate) const PART: u8 = 2;
/// "Send the parts of your request" (to the caller).
pub(crate) const MORE: u8 = 3;
/// A response head; data follows.
pub(crate) const HEAD: u8 = 4;
/// A whole response in one message.
pub(crate) const WHOLE: u8 = 5;
/// A piece of a response body, numbered from 1.
pub(crate) const DATA: u8 = 6;
/// The end of a response body.
pub(crate) const END: u8 = 7;
/// The call failed: a kind and a message.
pub(crate) const ERROR: u8 = 8;
/// The caller consumed the data up to this number (to the control subject).
pub(crate) const ACK: u8 = 9;
/// The caller gave up (to the control subject).
pub(crate) const CANCEL: u8 = 10;

/// Error kinds on the wire.
pub(crate) const E_NOT_FOUND: u8 = 1;
pub(crate) const E_GONE: u8 = 2;
pub(crate) const E_TIMEOUT: u8 = 3;
pub(crate) const E_UNAVAILABLE: u8 = 4;
pub(crate) const E_BAD_REQUEST: u8 = 5;

/// A message that does not decode.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) &'static str);

fn need(buf: &Bytes, n: usize, what: &'static str) -> Result<(), Malformed> {
    if buf.remaining() < n {
        Err(Malformed(what))
    } else {
        Ok(())
    }
}

fn get_u8(buf: &mut Bytes, what: &'static str) -> Result<u8, Malformed> {
    need(buf, 1, what)?;
    Ok(buf.get_u8())
}

fn get_u16(buf: &mut Bytes, what: &'static str) -> Result<u16, Malformed> {
    need(buf, 2, what)?;
    Ok(buf.get_u16())
}

pub(crate) fn get_u64(buf: &mut Bytes, what: &'static str) -> Result<u64, Malformed> {
    need(buf, 8, what)?;
    Ok(buf.get_u64())
}

fn get_bytes(buf: &mut Bytes, what: &'static str) -> Result<Bytes, Malformed> {
    need(buf, 4, what)?;
    let n = buf.get_u32() as usize;
    need(buf, n, what)?;
    Ok(buf.split_to(n))
}

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    // Lengths come from messages bounded far below 4 GiB.
    out.put_u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    out.put_slice(bytes);
}

fn get_str(buf: &mut Bytes, what: &'static str) -> Result<String, Malformed> {
    let bytes = get_bytes(buf, what)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| Malformed(what))
}

fn put_headers(out: &mut BytesMut, headers: &HeaderMap) {
    out.put_u32(u32::try_from(headers.len()).unwrap_or(u32::MAX));
    for (name, value) in headers {
        put_bytes(out, name.as_str().as_bytes());
        put_bytes(out, value.as_bytes());
    }
}

fn get_headers(buf: &mut Bytes) -> Result<HeaderMap, Malformed> {
    need(buf, 4, "header count")?;
    let count = buf.get_u32() as usize;
    let mut headers = HeaderMap::with_capacity(count.min(256));
    for _ in 0..count {
        let name = get_bytes(buf, "header name")?;
        let value = get_bytes(buf, "header value")?;
        let name = HeaderName::from_bytes(&name).map_err(|_| Malformed("header name"))?;
        let value = HeaderValue::from_maybe_shared(value).map_err(|_| Malformed("header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// What a caller asks for.
#[derive(Debug)]
pub(crate) struct CallHead {
    /// The id of the call: the last token of its reply and control subjects.
    pub(crate) call: String,
    pub(crate) peer: String,
    /// Milliseconds for the response head; 0: the node's own limit.
    pub(crate) timeout_ms: u64,
    /// The size of the whole encoded request; more than this message's
    /// part: the rest follows in parts once asked.
    pub(crate) total: u64,
}

/// A request message: the call head and the first part of the encoded
/// request.
pub(crate) fn encode_call(head: &CallHead, first_part: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(64 + first_part.len());
    out.put_u8(REQUEST);
    put_bytes(&mut out, head.call.as_bytes());
    put_bytes(&mut out, head.peer.as_bytes());
    out.put_u64(head.timeout_ms);
    out.put_u64(head.total);
    out.put_slice(first_part);
    out.freeze()
}

pub(crate) fn decode_call(mut buf: Bytes) -> Result<(CallHead, Bytes), Malformed> {
    if get_u8(&mut buf, "kind")? != REQUEST {
        return Err(Malformed("not a request"));
    }
    let call = get_str(&mut buf, "call id")?;
    let peer = get_str(&mut buf, "peer id")?;
    let timeout_ms = get_u64(&mut buf, "timeout")?;
    let total = get_u64(&mut buf, "total")?;
    Ok((
        CallHead {
            call,
            peer,
            timeout_ms,
            total,
        },
        buf,
    ))
}

/// An HTTP request as bytes: method, target, headers, body.
pub(crate) fn encode_request(request: &Request<Bytes>) -> Bytes {
    let body = request.body();
    let mut out = BytesMut::with_capacity(256 + body.len());
    put_bytes(&mut out, request.method().as_str().as_bytes());
    put_bytes(&mut out, request.uri().to_string().as_bytes());
    put_headers(&mut out, request.headers());
    out.put_slice(body);
    out.freeze()
}

pub(crate) fn decode_request(mut buf: Bytes) -> Result<Request<Bytes>, Malformed> {
    let method = get_bytes(&mut buf, "method")?;
    let method = Method::from_bytes(&method).map_err(|_| Malformed("method"))?;
    let uri = get_bytes(&mut buf, "target")?;
    let uri = Uri::from_maybe_shared(uri).map_err(|_| Malformed("target"))?;
    let headers = get_headers(&mut buf)?;
    let mut request = Request::new(buf);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// A response head message (`HEAD`), or a whole response (`WHOLE`) with
/// its body.
pub(crate) fn encode_response(kind: u8, head: &http::response::Parts, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(256 + body.len());
    out.put_u8(kind);
    out.put_u16(head.status.as_u16());
    put_headers(&mut out, &head.headers);
    out.put_slice(body);
    out.freeze()
}

/// A response head and what follows it (the body of a `WHOLE`); `buf`
/// starts after the kind byte.
pub(crate) fn decode_response(mut buf: Bytes) -> Result<Response<Bytes>, Malformed> {
    let status = get_u16(&mut buf, "status")?;
    let status = StatusCode::from_u16(status).map_err(|_| Malformed("status"))?;
    let headers = get_headers(&mut buf)?;
    let mut response = Response::new(buf);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

pub(crate) fn encode_data(seq: u64, chunk: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(9 + chunk.len());
    out.put_u8(DATA);
    out.put_u64(seq);
    out.put_slice(chunk);
    out.freeze()
}

pub(crate) fn encode_ack(seq: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(9);
    out.put_u8(ACK);
    out.put_u64(seq);
    out.freeze()
}

pub(crate) fn encode_error(kind: u8, message: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + message.len());
    out.put_u8(ERROR);
    out.put_u8(kind);
    out.put_slice(message.as_bytes());
    out.freeze()
}

pub(crate) fn decode_error(mut buf: Bytes) -> Result<crate::CallError, Malformed> {
    use crate::CallErrorKind as K;
    let kind = match get_u8(&mut buf, "error kind")? {
        E_NOT_FOUND => K::NotFound,
        E_TIMEOUT => K::Timeout,
        E_UNAVAILABLE => K::Unavailable,
        E_BAD_REQUEST => K::BadRequest,
        _ => K::PeerGone,
    };
    Ok(crate::CallError::new(
        kind,
        String::from_utf8_lossy(&buf).into_owned(),
    ))
}

pub(crate) fn error_kind(kind: crate::CallErrorKind) -> u8 {
    use crate::CallErrorKind as K;
    match kind {
        K::NotFound => E_NOT_FOUND,
        K::PeerGone => E_GONE,
        K::Timeout => E_TIMEOUT,
        K::Unavailable => E_UNAVAILABLE,
        K::BadRequest => E_BAD_REQUEST,
    }
}

pub(crate) fn one_byte(kind: u8) -> Bytes {
    Bytes::copy_from_slice(&[kind])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips() {
        let request = Request::post("/a/b?c=d")
            .header("x-one", "1")
            .header("x-one", "2")
            .body(Bytes::from_static(b"body"))
            .expect("request");
        let decoded = decode_request(encode_request(&request)).expect("decodes");
        assert_eq!(decoded.method(), Method::POST);
        assert_eq!(decoded.uri(), "/a/b?c=d");
        assert_eq!(decoded.headers().get_all("x-one").iter().count(), 2);
        assert_eq!(decoded.body(), "body");
    }

    #[test]
    fn a_call_and_a_response_round_trip() {
        let head = CallHead {
            call: "c1".into(),
            peer: "p1".into(),
            timeout_ms: 5,
            total: 10,
        };
        let (back, rest) = decode_call(encode_call(&head, b"xyz")).expect("decodes");
        assert_eq!((back.call.as_str(), back.peer.as_str()), ("c1", "p1"));
        assert_eq!((back.timeout_ms, back.total), (5, 10));
        assert_eq!(rest, "xyz");
        let response = Response::builder()
            .status(201)
            .header("content-type", "text/plain")
            .body(())
            .expect("response");
        let (parts, ()) = response.into_parts();
        let mut bytes = encode_response(WHOLE, &parts, b"ok");
        assert_eq!(bytes.get_u8(), WHOLE);
        let decoded = decode_response(bytes).expect("decodes");
        assert_eq!(decoded.status(), 201);
        assert_eq!(decoded.body(), "ok");
    }

    #[test]
    fn truncated_messages_are_refused_not_panicked_on() {
        let request = Request::get("/x").body(Bytes::new()).expect("request");
        let whole = encode_request(&request);
        for cut in 0..whole.len() {
            let _ = decode_request(whole.slice(..cut));
        }
        let head = CallHead {
            call: "c".into(),
            peer: "p".into(),
            timeout_ms: 0,
            total: 0,
        };
        let call = encode_call(&head, b"");
        for cut in 0..call.len() {
            assert!(decode_call(call.slice(..cut)).is_err());
        }
        assert!(decode_response(Bytes::from_static(b"\x00")).is_err());
    }
}
