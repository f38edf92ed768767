//! The wire decoder. Byte 0 picks what the rest is:
//! - 0 (and anything not below): one whole websocket message (request,
//!   response or stream frame, as the connection dispatches it); a message
//!   that decodes is encoded again and must decode to the same thing;
//! - 1: a message and the Go continuations that follow it, separated by
//!   0xFF bytes: the chunks the continuation decoder yields must not depend
//!   on how the bytes were split, and must be the body that decoding the
//!   same bytes as one message gives;
//! - 2: a stream frame, which must survive encode → decode unchanged.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use swaggersocket::wire::{self, ChunkDecoder, Decode, Decoded, Message};

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        1 => continuation(rest),
        2 => frame(rest),
        _ => message(rest),
    }
});

fn message(bytes: &[u8]) {
    let buf = Bytes::copy_from_slice(bytes);
    let _ = wire::sniff_correlation_id(&buf);
    if wire::is_frame(&buf) {
        frame(bytes);
        return;
    }
    match wire::decode(&buf) {
        Ok(Decode::Complete(decoded)) => round_trip(decoded),
        Ok(Decode::Partial { head, rest }) => {
            assert!(body(&head.message).is_empty());
            let mut decoder = ChunkDecoder::new();
            let _ = decoder.feed(&rest);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn body(message: &Message) -> &Bytes {
    match message {
        Message::Request(r) => r.body(),
        Message::Response(r) => r.body(),
    }
}

/// What we encode, we decode again, to the same message.
fn round_trip(decoded: Decoded) {
    // The encoder adds up to three fields (Host, Content-Length,
    // X-Correlation-Id) and does not bound their count: a message near the
    // receiver's limit may not come back (RELIABILITY.md, "Fuzzing").
    let headers = match &decoded.message {
        Message::Request(r) => r.headers(),
        Message::Response(r) => r.headers(),
    };
    let head_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() + 3 > wire::WireLimits::DEFAULT_MAX_HEADERS
        || head_bytes + 1024 > wire::WireLimits::DEFAULT_MAX_HEADER_BYTES
    {
        return;
    }
    let id = decoded.correlation_id.clone();
    let encoded = match &decoded.message {
        Message::Request(request) => wire::encode_request(request, id.as_deref().unwrap_or("1")),
        Message::Response(response) => wire::encode_response(response, id.as_deref()),
    }
    .freeze();
    let again = match wire::decode(&encoded) {
        Ok(Decode::Complete(again)) => again,
        Ok(Decode::Partial { .. }) => panic!("re-encoded message is partial: {encoded:?}"),
        Err(e) => panic!("re-encoded message does not decode: {e}: {encoded:?}"),
    };
    match (&decoded.message, &again.message) {
        (Message::Request(a), Message::Request(b)) => {
            assert_eq!(a.method(), b.method());
            assert_eq!(a.body(), b.body());
            assert_eq!(
                a.uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .filter(|p| !p.is_empty())
                    .unwrap_or("/"),
                b.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
            );
            assert_eq!(
                again.correlation_id.as_deref(),
                Some(id.as_deref().unwrap_or("1"))
            );
        }
        (Message::Response(a), Message::Response(b)) => {
            assert_eq!(a.status(), b.status());
            assert_eq!(a.body(), b.body());
            assert_eq!(again.correlation_id, id);
        }
        _ => panic!("a request came back as a response, or the reverse: {encoded:?}"),
    }
}

fn continuation(bytes: &[u8]) {
    let mut pieces = bytes.split(|b| *b == 0xff);
    let first = Bytes::copy_from_slice(pieces.next().unwrap_or_default());
    let Ok(Decode::Partial { head, rest }) = wire::decode(&first) else {
        return;
    };
    let mut decoder = ChunkDecoder::new();
    let mut chunks = Vec::new();
    let mut whole = BytesMut::from(&rest[..]);
    let mut failed = false;
    for (i, piece) in std::iter::once(&rest[..]).chain(pieces).enumerate() {
        if decoder.is_done() {
            break;
        }
        match decoder.feed(piece) {
            Ok(more) => chunks.extend(more),
            Err(_) => {
                failed = true;
                break;
            }
        }
        if i > 0 {
            whole.extend_from_slice(piece);
        }
    }
    if failed || !decoder.is_done() {
        return;
    }
    let joined: Vec<u8> = chunks.concat();
    // The same bytes in one piece: the same chunks.
    let mut one = ChunkDecoder::new();
    let all: Vec<u8> = one
        .feed(&whole)
        .expect("one piece decodes as the split ones did")
        .concat();
    assert!(one.is_done());
    assert_eq!(all, joined, "chunks depend on the split");
    // The same bytes as one message: the same body.
    let mut message = BytesMut::from(&first[..first.len() - rest.len()]);
    message.extend_from_slice(&whole);
    match wire::decode(&message.freeze()) {
        Ok(Decode::Complete(decoded)) => {
            assert_eq!(body(&decoded.message).as_ref(), joined.as_slice());
            assert_eq!(decoded.correlation_id, head.correlation_id);
        }
        other => panic!("a continued message that completes does not decode whole: {other:?}"),
    }
}

fn frame(bytes: &[u8]) {
    let buf = Bytes::copy_from_slice(bytes);
    if let Ok(frame) = wire::decode_frame(&buf) {
        let encoded = wire::encode_frame(&frame).freeze();
        assert_eq!(wire::decode_frame(&encoded).as_ref(), Ok(&frame));
    }
}
