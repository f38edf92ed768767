//! The wire codec: examples and properties.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use proptest::prelude::*;
use swaggersocket::wire::{
    decode, decode_frame, encode_frame, encode_request, encode_response, is_frame,
    sniff_correlation_id, ChunkDecoder, Decode, Frame, Message, StreamKind,
};

fn complete(buf: &[u8]) -> swaggersocket::wire::Decoded {
    match decode(&Bytes::copy_from_slice(buf)).unwrap() {
        Decode::Complete(d) => d,
        Decode::Partial { .. } => panic!("partial: {:?}", String::from_utf8_lossy(buf)),
    }
}

#[test]
fn go_requests_decode() {
    let d = complete(b"GET /pets?limit=3 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\nX-Correlation-Id: 1\r\n\r\n");
    assert_eq!(d.correlation_id.as_deref(), Some("1"));
    let Message::Request(r) = d.message else {
        panic!()
    };
    assert_eq!(r.method(), Method::GET);
    assert_eq!(r.uri(), "/pets?limit=3");
    assert_eq!(r.headers()["user-agent"], "Go-http-client/1.1");
    assert!(r.headers().get("x-correlation-id").is_none());
    assert!(r.body().is_empty());

    let d = complete(b"POST /pets HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: 3\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n");
    let Message::Request(r) = d.message else {
        panic!()
    };
    assert_eq!(r.body(), "abcdefg");
    assert!(r.headers().get("transfer-encoding").is_none());
}

#[test]
fn go_responses_decode() {
    let d = complete(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 26 Nov 2026 07:19:50 GMT\r\nContent-Length: 19\r\nX-Correlation-Id: c-simple\r\n\r\n{\"hello\":\"dolores\"}");
    assert_eq!(d.correlation_id.as_deref(), Some("c-simple"));
    let Message::Response(r) = d.message else {
        panic!()
    };
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), "{\"hello\":\"dolores\"}");

    // No length at all: the rest of the message.
    let d = complete(b"HTTP/1.1 404 Not Found\r\nX-Correlation-Id: 9\r\n\r\nnot here");
    let Message::Response(r) = d.message else {
        panic!()
    };
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.body(), "not here");

    // A HEAD answer announces a length and has no body.
    let d = complete(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\nX-Correlation-Id: 9\r\n\r\n");
    let Message::Response(r) = d.message else {
        panic!()
    };
    assert!(r.body().is_empty());
}

#[test]
fn an_unfinished_chunked_body_is_partial_and_continues() {
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: 4\r\n\r\n";
    for (rest, whole) in [("", 0), ("5\r\nab", 0), ("5\r\nabcde\r\n", 1)] {
        let buf = Bytes::from(format!("{head}{rest}"));
        let Ok(Decode::Partial { head, rest: got }) = decode(&buf) else {
            panic!("not partial: {rest:?}")
        };
        assert_eq!(head.correlation_id.as_deref(), Some("4"));
        assert_eq!(got, rest.as_bytes());
        let mut decoder = ChunkDecoder::new();
        assert_eq!(decoder.feed(&got).unwrap().len(), whole);
    }
    // Chunks split anywhere across messages come out whole, then the end.
    let mut decoder = ChunkDecoder::new();
    let mut out = Vec::new();
    for piece in ["3\r", "\nab", "c\r\n4\r\nde", "fg\r\n0\r", "\n\r\n"] {
        out.extend(decoder.feed(piece.as_bytes()).unwrap());
    }
    assert_eq!(
        out,
        [Bytes::from_static(b"abc"), Bytes::from_static(b"defg")]
    );
    assert!(decoder.is_done());
    assert!(ChunkDecoder::new().feed(b"zz\r\n").is_err());
}

#[test]
fn stream_frames_round_trip() {
    let frames = [
        Frame::Data(
            StreamKind::Response,
            "17".into(),
            Bytes::from_static(b"\x00\x01 chunk \r\n"),
        ),
        Frame::End(StreamKind::Response, "17".into()),
        Frame::Error(StreamKind::Request, "abc".into(), "disk full".into()),
        Frame::Cancel(StreamKind::Response, "9".into()),
        Frame::Window(StreamKind::Response, "9".into(), 131072),
    ];
    for frame in frames {
        let bytes = encode_frame(&frame).freeze();
        assert!(is_frame(&bytes));
        assert_eq!(decode_frame(&bytes).unwrap(), frame);
    }
    for bad in [
        &b"@data\r\n"[..],
        b"@data x1\r\n",
        b"@window r1\r\n",
        b"@nope r1\r\n",
        b"@data r1",
    ] {
        assert!(
            decode_frame(&Bytes::copy_from_slice(bad)).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn malformed_messages_say_what_is_wrong() {
    let cases: [(&[u8], &str); 7] = [
        (
            b"GET /x HTTP/1.1\r\nContent-Length: zz\r\n\r\n",
            "invalid Content-Length",
        ),
        (
            b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "conflicting",
        ),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
            "shorter than its Content-Length",
        ),
        (b"GET /x HTTP/1.1\r\nHost: a", "incomplete"),
        (b"\x00\x01garbage", "malformed request"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "malformed response"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "invalid chunk size",
        ),
    ];
    for (input, expected) in cases {
        let err = decode(&Bytes::copy_from_slice(input)).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{:?}: {err}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn encoding_matches_what_go_expects() {
    let request = Request::post("/pets")
        .header("content-type", "application/json")
        .header("x-correlation-id", "ignored")
        .body(Bytes::from_static(b"{\"name\":\"x\"}"))
        .unwrap();
    let bytes = encode_request(&request, "42");
    assert_eq!(
        &bytes[..],
        b"POST /pets HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\nContent-Length: 12\r\nX-Correlation-Id: 42\r\n\r\n{\"name\":\"x\"}"
    );
    let get = Request::get("http://example.com:8080/a/b?c=d")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(
        &encode_request(&get, "1")[..],
        b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\nX-Correlation-Id: 1\r\n\r\n"
    );
    let mut response = Response::new(Bytes::from_static(b"hi"));
    *response.status_mut() = StatusCode::CREATED;
    assert_eq!(
        &encode_response(&response, Some("7"))[..],
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Correlation-Id: 7\r\n\r\nhi"
    );
}

#[test]
fn a_correlation_id_is_found_in_a_broken_message() {
    assert_eq!(
        sniff_correlation_id(
            b"GET / HTTP/1.1\r\nx-correlation-id:  abc \r\nContent-Length: q\r\n\r\n"
        )
        .as_deref(),
        Some("abc")
    );
    assert_eq!(sniff_correlation_id(b"junk"), None);
    // Only the head counts.
    assert_eq!(
        sniff_correlation_id(b"GET / HTTP/1.1\r\n\r\nX-Correlation-Id: 1\r\n"),
        None
    );
}

fn token() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,15}".prop_filter("reserved", |s| {
        !matches!(
            s.as_str(),
            "content-length" | "transfer-encoding" | "x-correlation-id" | "host"
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_round_trip(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "REPORT"]),
        path in "(/[a-zA-Z0-9_.~-]{0,12}){1,4}(\\?[a-z]{1,5}=[a-zA-Z0-9%]{0,8})?",
        headers in prop::collection::vec((token(), "[ -~]{0,30}"), 0..8),
        body in prop::collection::vec(any::<u8>(), 0..3000),
        id in "[A-Za-z0-9-]{1,20}",
    ) {
        let mut builder = Request::builder().method(method).uri(&path);
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.trim());
        }
        let request = builder.body(Bytes::from(body.clone())).unwrap();
        let encoded = encode_request(&request, &id).freeze();
        let Decode::Complete(decoded) = decode(&encoded).unwrap() else { panic!("partial") };
        prop_assert_eq!(decoded.correlation_id.as_deref(), Some(id.as_str()));
        let Message::Request(back) = decoded.message else { panic!("not a request") };
        prop_assert_eq!(back.method(), request.method());
        prop_assert_eq!(back.uri(), request.uri());
        prop_assert_eq!(back.body().as_ref(), body.as_slice());
        for (name, value) in request.headers() {
            let got: Vec<_> = back.headers().get_all(name).iter().collect();
            prop_assert!(got.contains(&value), "header {} lost", name);
        }
    }

    #[test]
    fn responses_round_trip(
        status in 200u16..600,
        headers in prop::collection::vec((token(), "[ -~]{0,30}"), 0..8),
        body in prop::collection::vec(any::<u8>(), 0..3000),
        id in "[A-Za-z0-9-]{1,20}",
    ) {
        prop_assume!(status != 204 && status != 304);
        let mut response = Response::new(Bytes::from(body.clone()));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        for (name, value) in &headers {
            response.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.trim().parse().unwrap(),
            );
        }
        let encoded = encode_response(&response, Some(&id)).freeze();
        let Decode::Complete(decoded) = decode(&encoded).unwrap() else { panic!("partial") };
        prop_assert_eq!(decoded.correlation_id.as_deref(), Some(id.as_str()));
        let Message::Response(back) = decoded.message else { panic!("not a response") };
        prop_assert_eq!(back.status(), response.status());
        prop_assert_eq!(back.body().as_ref(), body.as_slice());
        prop_assert_eq!(back.headers().len(), response.headers().len() + 1); // + Content-Length
    }

    #[test]
    fn decode_never_panics(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&Bytes::from(input));
    }

    #[test]
    fn decode_never_panics_on_near_http(
        head in prop::sample::select(vec!["GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n", "POST /x HTTP/1.0\r\n"]),
        lines in prop::collection::vec("[ -~]{0,20}", 0..6),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        chunked in any::<bool>(),
    ) {
        let mut input = head.as_bytes().to_vec();
        if chunked {
            input.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        for line in lines {
            input.extend_from_slice(line.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(&tail);
        let _ = decode(&Bytes::from(input));
    }
}

proptest! {
    #[test]
    fn chunked_bodies_survive_any_split(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 0..10),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut encoded = bytes::BytesMut::new();
        for c in &chunks {
            swaggersocket::wire::put_chunk(&mut encoded, c);
        }
        encoded.extend_from_slice(swaggersocket::wire::LAST_CHUNK);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(encoded.len() + 1)).collect();
        points.push(0);
        points.push(encoded.len());
        points.sort_unstable();
        let mut decoder = ChunkDecoder::new();
        let mut out = Vec::new();
        for w in points.windows(2) {
            out.extend(decoder.feed(&encoded[w[0]..w[1]]).unwrap());
        }
        prop_assert!(decoder.is_done());
        let out: Vec<Vec<u8>> = out.into_iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(out, chunks);
    }

    #[test]
    fn frame_decoding_never_panics(input in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut buf = vec![b'@'];
        buf.extend(input);
        let _ = decode_frame(&Bytes::from(buf));
    }
}
