//! Strict, bounded HTTP/1.1 framing inside websocket messages (issue 13,
//! "Headers and framing"): each rule of `wire`'s decoder, then the same
//! rules seen by a peer of a real server, then properties.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response};
use proptest::prelude::*;
use swaggersocket::wire::{
    decode, decode_with, encode_request, encode_response, encode_response_head, put_chunk,
    ChunkDecoder, Decode, DecodeOptions, Message, WireError, WireLimits, LAST_CHUNK,
};
use swaggersocket::{Config, Server};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn error_of(input: &[u8]) -> WireError {
    error_with(input, &DecodeOptions::default())
}

fn error_with(input: &[u8], options: &DecodeOptions) -> WireError {
    match decode_with(&Bytes::copy_from_slice(input), options) {
        Err(e) => e,
        Ok(d) => panic!(
            "{:?} decoded: {d:?}",
            String::from_utf8_lossy(&input[..input.len().min(200)])
        ),
    }
}

fn body_of(input: &[u8]) -> Bytes {
    match decode(&Bytes::copy_from_slice(input)).unwrap() {
        Decode::Complete(d) => match d.message {
            Message::Request(r) => r.into_body(),
            Message::Response(r) => r.into_body(),
        },
        Decode::Partial { .. } => panic!("partial"),
    }
}

/// Asserts the error says `what` and points at byte `at`.
#[track_caller]
fn says(error: &WireError, what: &str, at: usize) {
    assert!(error.to_string().contains(what), "{error}");
    assert_eq!(error.offset(), Some(at), "{error}");
    assert!(error.to_string().ends_with(&format!("(at byte {at})")));
}

fn head_with_fields(n: usize) -> String {
    let mut head = "GET /x HTTP/1.1\r\nX-Correlation-Id: 1\r\n".to_owned();
    for i in 1..n {
        head.push_str(&format!("X-F{i}: v\r\n"));
    }
    head
}

#[test]
fn header_count_is_limited() {
    // 100 fields, the correlation id among them: accepted.
    let fine = format!("{}\r\n", head_with_fields(100));
    assert!(body_of(fine.as_bytes()).is_empty());
    // 101: refused, pointing at the 101st field.
    let head = head_with_fields(101);
    let at = head.rfind("X-F100").unwrap();
    let e = error_of(format!("{head}\r\n").as_bytes());
    says(
        &e,
        "more than 100 header fields (WireLimits::max_headers)",
        at,
    );
    // The limit is configurable.
    let tight = DecodeOptions::new(WireLimits::new().max_headers(10), 1 << 20);
    let e = error_with(format!("{}\r\n", head_with_fields(11)).as_bytes(), &tight);
    assert!(e.to_string().contains("more than 10 header fields"), "{e}");
}

#[test]
fn header_bytes_are_limited_and_only_the_head_counts() {
    let big = format!(
        "GET /x HTTP/1.1\r\nX-Big: {}\r\nX-Correlation-Id: 1\r\n\r\n",
        "v".repeat(64 << 10)
    );
    let e = error_of(big.as_bytes());
    says(
        &e,
        "the request head is larger than the limit of 65536 bytes (WireLimits::max_header_bytes)",
        65536,
    );
    // A 1 MiB body behind a small head is fine.
    let body = vec![b'x'; 1 << 20];
    let mut message = format!(
        "POST /x HTTP/1.1\r\nContent-Length: {}\r\nX-Correlation-Id: 1\r\n\r\n",
        body.len()
    )
    .into_bytes();
    message.extend_from_slice(&body);
    assert_eq!(body_of(&message).len(), 1 << 20);
    // Configurable, and never below 1 KiB.
    let small = DecodeOptions::new(WireLimits::new().max_header_bytes(10), 1 << 20);
    let e = error_with(
        format!("GET /x HTTP/1.1\r\nX-A: {}\r\n\r\n", "a".repeat(1100)).as_bytes(),
        &small,
    );
    says(&e, "larger than the limit of 1024 bytes", 1024);
}

#[test]
fn a_request_without_length_or_chunking_has_an_empty_body() {
    assert!(body_of(b"GET /x HTTP/1.1\r\nX-Correlation-Id: 1\r\n\r\n").is_empty());
    let message = b"POST /x HTTP/1.1\r\nX-Correlation-Id: 1\r\n\r\nnot a body";
    let e = error_of(message);
    says(
        &e,
        "10 bytes follow the head of a request without Content-Length or Transfer-Encoding: chunked",
        message.len() - 10,
    );
    // A response keeps the rule of docs/PROTOCOL.md §3: the rest of the message.
    assert_eq!(
        body_of(b"HTTP/1.1 200 OK\r\nX-Correlation-Id: 1\r\n\r\nthe rest"),
        "the rest"
    );
}

#[test]
fn content_length_must_match_the_body_exactly() {
    let short = b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nX-Correlation-Id: 1\r\n\r\nabcdef";
    says(
        &error_of(short),
        "Content-Length of 3 is shorter than the body: 6 bytes follow the head, 3 of them after the body",
        18,
    );
    let long = b"POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc";
    says(
        &error_of(long),
        "body is 3 bytes, shorter than its Content-Length of 9",
        18,
    );
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab";
    says(&error_of(response), "Content-Length of 1 is shorter", 17);
    // A HEAD answer still announces a length without a body.
    assert!(body_of(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n").is_empty());
}

#[test]
fn ambiguous_lengths_are_refused() {
    // (message, what the error says, the line it points at, that line's
    // occurrence in the message)
    let cases: [(&[u8], &str, &str, usize); 9] = [
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
            "duplicate Content-Length headers (2 at byte 18, then 2)",
            "Content-Length",
            1,
        ),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "conflicting Content-Length headers",
            "Content-Length",
            1,
        ),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab",
            "invalid Content-Length \"2, 2\"",
            "Content-Length",
            0,
        ),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: +2\r\n\r\nab",
            "invalid Content-Length \"+2\"",
            "Content-Length",
            0,
        ),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\nab",
            "invalid Content-Length",
            "Content-Length",
            0,
        ),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "both Content-Length and Transfer-Encoding: chunked",
            "Content-Length",
            0,
        ),
        (
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            "unsupported Transfer-Encoding \"gzip, chunked\"",
            "Transfer-Encoding",
            0,
        ),
        (
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "Transfer-Encoding appears twice (first at byte 18)",
            "Transfer-Encoding",
            1,
        ),
        (
            b"GET /x HTTP/1.1\r\nX-Correlation-Id: 1\r\nX-Correlation-Id: 2\r\n\r\n",
            "X-Correlation-Id appears twice (first at byte 17)",
            "X-Correlation-Id",
            1,
        ),
    ];
    for (input, what, name, nth) in cases {
        let text = String::from_utf8_lossy(input);
        let at = text.match_indices(name).nth(nth).unwrap().0;
        says(&error_of(input), what, at);
    }
}

#[test]
fn bodyless_statuses_carry_no_bytes() {
    let e = error_of(b"HTTP/1.1 204 No Content\r\nX-Correlation-Id: 1\r\n\r\nxyz");
    says(
        &e,
        "a 204 response has no body, but 3 bytes follow its head",
        48,
    );
    // What this side sends for them decodes: no body goes out.
    for status in [204, 304] {
        let mut response = Response::new(Bytes::from_static(b"ignored"));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        let encoded = encode_response(&response, Some("1")).freeze();
        assert!(!encoded.ends_with(b"ignored"), "{encoded:?}");
        assert!(body_of(&encoded).is_empty());
    }
}

#[test]
fn chunk_sizes_are_bounded_and_read_without_overflow() {
    // 2^60 bytes: refused at once, whatever follows.
    let huge = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\nabc";
    says(
        &error_of(huge),
        "invalid chunk size line \"1000000000000000\": the chunk size exceeds the limit of 16777216 bytes",
        48,
    );
    // Also as a response, which may otherwise continue in later messages.
    let e = error_of(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n",
    );
    assert!(e.to_string().contains("exceeds the limit"), "{e}");
    // The limit is the maximum message size the connection was given.
    let options = DecodeOptions::new(WireLimits::new(), 1024);
    let e = error_with(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n",
        &options,
    );
    assert!(
        e.to_string().contains("exceeds the limit of 1024 bytes"),
        "{e}"
    );
    // Only hex digits: no sign, no space before, no junk after.
    for line in ["+5", " 5", "5x", "0x5", "-1", ""] {
        let message = format!(
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{line}\r\nabcde\r\n0\r\n\r\n"
        );
        let e = error_of(message.as_bytes());
        assert!(
            e.to_string().contains("invalid chunk size line"),
            "{line:?}: {e}"
        );
        assert_eq!(e.offset(), Some(48), "{e}");
    }
    // Extensions and trailing whitespace are allowed.
    assert_eq!(
        body_of(
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a=b\r\nabcde\r\n0\r\n\r\n"
        ),
        "abcde"
    );
}

#[test]
fn an_unterminated_chunked_request_is_an_error_when_its_message_ends() {
    let cut_in_chunk =
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: 1\r\n\r\n5\r\nab";
    says(
        &error_of(cut_in_chunk),
        "the chunked body is unterminated: the chunk of 5 bytes at byte 72 runs past the end of the message (2 bytes left)",
        cut_in_chunk.len(),
    );
    let no_last_chunk = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
    says(
        &error_of(no_last_chunk),
        "the chunked body is unterminated: the message ends inside a chunk size line",
        no_last_chunk.len(),
    );
    // A Go peer may continue it in its next messages: then it is partial.
    let go = DecodeOptions::default().continued_requests(true);
    let Ok(Decode::Partial { rest, .. }) = decode_with(&Bytes::from_static(no_last_chunk), &go)
    else {
        panic!("not partial")
    };
    assert_eq!(rest, "3\r\nabc\r\n");
    // A response may always continue (Go's flushes, the streaming extension).
    assert!(matches!(
        decode(&Bytes::from_static(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
        )),
        Ok(Decode::Partial { .. })
    ));
}

#[test]
fn nothing_may_follow_a_chunked_body() {
    let message = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /y HTTP/1.1\r\n\r\n";
    says(
        &error_of(message),
        "19 bytes follow the end of the chunked body",
        message.len() - 19,
    );
    // Trailer fields are read (and dropped); a missing final CRLF is tolerated.
    assert_eq!(
        body_of(
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n"
        ),
        "abc"
    );
    assert_eq!(
        body_of(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"),
        "abc"
    );
    let e =
        error_of(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n");
    says(&e, "malformed trailer field \"no colon\"", 51);
}

#[test]
fn a_chunk_decoder_never_holds_more_than_one_chunk() {
    let options = DecodeOptions::new(WireLimits::new(), 4096);
    let mut decoder = ChunkDecoder::with_options(&options);
    // A chunk within the limit is held until whole...
    assert!(decoder.feed(b"1000\r\n").unwrap().is_empty());
    assert!(decoder.feed(&[b'x'; 4000]).unwrap().is_empty());
    let chunks = decoder.feed(&[b'x'; 96]).unwrap();
    assert!(chunks.is_empty());
    assert_eq!(decoder.feed(b"\r\n").unwrap()[0].len(), 4096);
    // ...one over it is refused on its size line, at its offset in the body.
    let e = decoder.feed(b"1001\r\n").unwrap_err();
    says(&e, "exceeds the limit of 4096 bytes", 6 + 4096 + 2);
    // A size line that never ends is refused after 1 KiB.
    let mut decoder = ChunkDecoder::new();
    let e = decoder.feed(&[b'0'; 2000]).unwrap_err();
    assert!(e.to_string().contains("longer than 1024 bytes"), "{e}");
}

#[test]
fn a_new_message_is_not_taken_for_the_next_chunk() {
    for next in [
        &b"GET /other HTTP/1.1\r\nX-Correlation-Id: 2\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\n\r\n",
        // Refused before its line is even whole.
        b"DELETE /x",
        b"HTTP/1.",
    ] {
        let mut decoder = ChunkDecoder::new();
        assert!(decoder.feed(b"3\r\nabc\r\n").unwrap().len() == 1);
        let e = decoder.feed(next).unwrap_err();
        assert!(
            e.to_string().contains("start of a new HTTP message"),
            "{:?}: {e}",
            String::from_utf8_lossy(next)
        );
        assert_eq!(e.offset(), Some(8));
    }
}

#[test]
fn errors_quote_peer_bytes_bounded_and_escaped() {
    // A 1 MiB invalid header name, a target full of escapes: the error
    // stays short and on one line.
    let mut message = b"GET /x HTTP/1.1\r\n".to_vec();
    message.extend(std::iter::repeat_n(b'N', 1 << 20));
    message.extend_from_slice(b" \x1b[31m: v\r\n\r\n");
    let big = DecodeOptions::new(WireLimits::new().max_header_bytes(2 << 20), 1 << 20);
    let e = error_with(&message, &big);
    let text = e.to_string();
    assert!(text.len() < 400, "{} bytes: {text}", text.len());
    assert!(text.contains("…(1048585 bytes)"), "{text}");
    assert_eq!(e.offset(), Some(17));
    let e = error_of(b"GET /a\x7fb HTTP/1.1\r\n\r\n");
    let text = e.to_string();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    // Transfer codings are quoted the same way.
    let e = error_of(
        format!(
            "POST /x HTTP/1.1\r\nTransfer-Encoding: {}\r\n\r\n",
            "z".repeat(5000)
        )
        .as_bytes(),
    );
    assert!(e.to_string().len() < 400, "{e}");
}

// --- the same rules, seen by a peer of a real server ---

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw peer after the handshake: `features` lists ours (a peer of this
/// project), `None` is a Go peer.
async fn raw_peer(server: &Server, features: bool) -> RawWs {
    let (mut ws, _) = tokio_tungstenite::connect_async(url(server.local_addr()))
        .await
        .unwrap();
    let hello = if features {
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null,\"Features\":[]}"
    } else {
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null}\n"
    };
    ws.send(WsMessage::text(hello)).await.unwrap();
    next_data(&mut ws).await;
    ws.send(WsMessage::text("{\"Type\":\"ClientHandshakeAckFrame\"}"))
        .await
        .unwrap();
    ws
}

async fn next_data(ws: &mut RawWs) -> String {
    loop {
        match within("a data message", ws.next()).await {
            Some(Ok(WsMessage::Text(t))) => return t.as_str().to_owned(),
            Some(Ok(WsMessage::Binary(b))) => return String::from_utf8_lossy(&b).into_owned(),
            Some(Ok(_)) => continue,
            other => panic!("expected a data message, got {other:?}"),
        }
    }
}

/// The status, correlation id and body of an answer.
fn answer(text: &str) -> (u16, String, String) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("X-Correlation-Id: "))
        .unwrap_or("")
        .to_owned();
    (status, id, body.to_owned())
}

const GOOD: &str = "GET /after HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: good\r\n\r\n";

/// Sends `bad`, then a good request: `bad` is answered 400 with a body that
/// says `what`, and the good one is served, not swallowed.
async fn answered_400_then_served(ws: &mut RawWs, bad: &[u8], what: &str) {
    ws.send(WsMessage::binary(bad.to_vec())).await.unwrap();
    ws.send(WsMessage::text(GOOD)).await.unwrap();
    let (status, id, body) = answer(&next_data(ws).await);
    assert_eq!((status, id.as_str()), (400, "bad"), "{body}");
    assert!(body.contains(what), "{body}");
    assert!(body.contains("(at byte "), "{body}");
    let (status, id, _) = answer(&next_data(ws).await);
    assert_eq!((status, id.as_str()), (200, "good"));
}

#[tokio::test]
async fn bad_framing_is_answered_400_and_the_connection_goes_on() {
    init_tracing();
    let server = echo_server().await;
    let mut ws = raw_peer(&server, true).await;
    // An unterminated chunked request does not take the next one over.
    answered_400_then_served(
        &mut ws,
        b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: bad\r\n\r\n5\r\nab",
        "the chunked body is unterminated",
    )
    .await;
    // A body without a length is not a body.
    answered_400_then_served(
        &mut ws,
        b"POST /up HTTP/1.1\r\nX-Correlation-Id: bad\r\n\r\nstray",
        "RFC 9112",
    )
    .await;
    answered_400_then_served(
        &mut ws,
        b"POST /up HTTP/1.1\r\nContent-Length: 2\r\nX-Correlation-Id: bad\r\n\r\nabc",
        "Content-Length of 2 is shorter than the body",
    )
    .await;
    answered_400_then_served(
        &mut ws,
        b"POST /up HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\nX-Correlation-Id: bad\r\n\r\nabc",
        "duplicate Content-Length",
    )
    .await;
}

#[tokio::test]
async fn a_go_peer_may_continue_a_chunked_request_but_not_with_a_huge_chunk() {
    init_tracing();
    let server = echo_server().await;
    let mut ws = raw_peer(&server, false).await;
    answered_400_then_served(
        &mut ws,
        b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: bad\r\n\r\n1000000000000000\r\nab",
        "the chunk size exceeds the limit of 16777216 bytes",
    )
    .await;
}

#[tokio::test]
async fn header_limits_from_the_config_hold_on_a_connection() {
    init_tracing();
    let server = Server::builder()
        .config(Config::new().wire_limits(WireLimits::new().max_headers(10)))
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = raw_peer(&server, true).await;
    let mut bad = "GET /x HTTP/1.1\r\nX-Correlation-Id: bad\r\n".to_owned();
    for i in 0..10 {
        bad.push_str(&format!("X-F{i}: v\r\n"));
    }
    bad.push_str("\r\n");
    answered_400_then_served(&mut ws, bad.as_bytes(), "more than 10 header fields").await;
}

/// Go's form: while a request's chunked body continues, a new request at a
/// chunk boundary is not read as chunk data; the connection is closed with
/// 1002 and a reason instead.
#[tokio::test]
async fn a_new_request_inside_a_go_continuation_closes_with_1002() {
    init_tracing();
    let server = echo_server().await;
    let mut ws = raw_peer(&server, false).await;
    ws.send(WsMessage::text(
        "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: 1\r\n\r\n3\r\nabc\r\n",
    ))
    .await
    .unwrap();
    ws.send(WsMessage::text(GOOD)).await.unwrap();
    let close = loop {
        match within("a close frame", ws.next()).await {
            Some(Ok(WsMessage::Close(frame))) => break frame.expect("a close code"),
            Some(Ok(WsMessage::Text(t))) => panic!("answered instead: {t}"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Protocol, "{close:?}");
}

// --- properties ---

fn token() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,15}".prop_filter("reserved", |s| {
        !matches!(
            s.as_str(),
            "content-length" | "transfer-encoding" | "x-correlation-id" | "host"
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What the encoders write, the strict decoder reads back: plain
    /// requests and responses, and chunked responses in any number of
    /// chunks.
    #[test]
    fn encoded_messages_decode_to_the_same(
        headers in prop::collection::vec((token(), "[!-~][ -~]{0,20}[!-~]"), 0..20),
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..6),
        id in "[A-Za-z0-9-]{1,20}",
    ) {
        let body: Vec<u8> = chunks.concat();
        let mut request = Request::put("/r").body(Bytes::from(body.clone())).unwrap();
        let mut response = Response::new(Bytes::from(body.clone()));
        for (name, value) in &headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            let value = http::HeaderValue::from_str(value).unwrap();
            request.headers_mut().append(name.clone(), value.clone());
            response.headers_mut().append(name, value);
        }
        for encoded in [encode_request(&request, &id), encode_response(&response, Some(&id))] {
            let Decode::Complete(d) = decode(&encoded.freeze()).unwrap() else { panic!("partial") };
            prop_assert_eq!(d.correlation_id.as_deref(), Some(id.as_str()));
            let got = match d.message {
                Message::Request(r) => r.into_body(),
                Message::Response(r) => r.into_body(),
            };
            prop_assert_eq!(got.as_ref(), body.as_slice());
        }
        let (parts, _) = response.into_parts();
        let mut streamed = encode_response_head(&parts, Some(&id), chunks.first().map_or(&[][..], |c| c));
        for c in chunks.iter().skip(1) {
            put_chunk(&mut streamed, c);
        }
        streamed.extend_from_slice(LAST_CHUNK);
        let Decode::Complete(d) = decode(&streamed.freeze()).unwrap() else { panic!("partial") };
        let Message::Response(r) = d.message else { panic!("not a response") };
        prop_assert_eq!(r.body().as_ref(), body.as_slice());
        prop_assert!(r.headers().get("transfer-encoding").is_none());
    }

    /// Arbitrary bytes, and valid messages with bytes flipped, inserted or
    /// cut, never panic, under tight limits as under the defaults; a body
    /// that decodes is never longer than the message.
    #[test]
    fn mangled_messages_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..200),
        chunked in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..6),
        junk in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut message = BytesMut::new();
        if chunked {
            message.extend_from_slice(b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: 5\r\n\r\n");
            put_chunk(&mut message, &body);
            message.extend_from_slice(LAST_CHUNK);
        } else {
            message = encode_request(&Request::post("/p").body(Bytes::from(body)).unwrap(), "5");
        }
        let mut bytes = message.to_vec();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        let tight = DecodeOptions::new(WireLimits::new().max_headers(8).max_header_bytes(1024), 1024)
            .continued_requests(true);
        for input in [bytes.clone(), junk.clone()] {
            let input = Bytes::from(input);
            for options in [DecodeOptions::default(), tight] {
                if let Ok(Decode::Complete(d)) = decode_with(&input, &options) {
                    if let Message::Request(r) = d.message {
                        prop_assert!(r.body().len() <= input.len());
                    }
                }
            }
            let mut decoder = ChunkDecoder::with_options(&tight);
            for piece in input.chunks(7) {
                if decoder.feed(piece).is_err() {
                    break;
                }
                prop_assert!(decoder.buffered() <= 1024 + 1026 + 2);
            }
        }
    }
}
