//! Replays the byte sequences PROTOCOL.md records from the Go implementation
//! through a raw websocket peer, in both roles.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::time::Duration;
use swaggersocket::{service_fn, Backoff, Client, ClientEvent, Config, ErrorKind, Event, Server};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

type RawWs<S> = tokio_tungstenite::WebSocketStream<S>;

async fn next_data<S>(ws: &mut RawWs<S>) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match within("a data message", ws.next()).await.unwrap().unwrap() {
            Message::Text(t) => return t.as_bytes().to_vec(),
            Message::Binary(b) => return b.to_vec(),
            _ => continue,
        }
    }
}

/// Connects as a Go client does: metadata `null`, no features, each JSON
/// object followed by a newline. Returns the socket and the server's reply.
async fn go_handshake(
    server: &Server,
) -> (
    RawWs<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    String,
) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url(server.local_addr()))
        .await
        .unwrap();
    ws.send(Message::text(
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null}\n",
    ))
    .await
    .unwrap();
    let reply = String::from_utf8(next_data(&mut ws).await).unwrap();
    ws.send(Message::text("{\"Type\":\"ClientHandshakeAckFrame\"}\n"))
        .await
        .unwrap();
    (ws, reply)
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(message: &str) -> &str {
    message.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// A Go client (exact bytes) calls a server of this project.
#[tokio::test]
async fn a_go_client_calls_our_server() {
    init_tracing();
    let server = Server::builder()
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (mut ws, _) = tokio_tungstenite::connect_async(url(server.local_addr()))
        .await
        .unwrap();
    // Go's encoder ends each JSON object with a newline; Meta is null.
    ws.send(Message::text(
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null}\n",
    ))
    .await
    .unwrap();
    let reply = String::from_utf8(next_data(&mut ws).await).unwrap();
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["Type"], "ServerHandshakeConnectionID");
    let id = reply["ConnectionID"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    ws.send(Message::text("{\"Type\":\"ClientHandshakeAckFrame\"}\n"))
        .await
        .unwrap();
    let conn = next_received(&mut events).await;
    assert_eq!(conn.id().as_str(), id);
    assert_eq!(conn.metadata(), &serde_json::Value::Null);

    let requests: [&[u8]; 3] = [
        b"GET /pets?limit=3 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\nX-Correlation-Id: 1\r\n\r\n",
        b"POST /pets HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 12\r\nContent-Type: application/json\r\nX-Correlation-Id: 2\r\n\r\n{\"name\":\"x\"}",
        b"POST /pets HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ];
    for (i, request) in requests.iter().enumerate() {
        // Go sends text frames; the third goes as binary to cover both.
        let frame = if i == 2 {
            Message::binary(request.to_vec())
        } else {
            Message::text(std::str::from_utf8(request).unwrap())
        };
        ws.send(frame).await.unwrap();
    }
    let mut answers = std::collections::HashMap::new();
    for _ in 0..3 {
        let text = String::from_utf8(next_data(&mut ws).await).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        let id = header(&text, "X-Correlation-Id").unwrap().to_owned();
        answers.insert(id, text);
    }
    let first = &answers["1"];
    assert_eq!(header(first, "x-echo-method"), Some("GET"));
    assert_eq!(header(first, "x-echo-path"), Some("/pets?limit=3"));
    assert_eq!(header(first, "Content-Length"), Some("0"));
    assert_eq!(body(&answers["2"]), "{\"name\":\"x\"}");
    assert_eq!(header(&answers["2"], "Content-Length"), Some("12"));
    assert_eq!(body(&answers["3"]), "abc");
}

/// A client of this project calls a Go server, whose answers come in every
/// form PROTOCOL.md shows: plain, chunked past 2048 bytes, and continued
/// over several websocket messages after a flush.
#[tokio::test]
async fn our_client_calls_a_go_server() {
    init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let big = "x".repeat(3000);
    let big_for_peer = big.clone();
    let (verified_tx, verified_rx) = tokio::sync::oneshot::channel();
    let peer = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let hello: serde_json::Value = serde_json::from_slice(&next_data(&mut ws).await).unwrap();
        assert_eq!(hello["Type"], "ClientHandshakeMetaData");
        assert_eq!(hello["Meta"], serde_json::json!({"k": "v"}));
        ws.send(Message::text(
            "{\"Type\":\"ServerHandshakeConnectionID\",\"ConnectionID\":\"5f0b7a4e-2b1c-4d7e-9a3f-0c1d2e3f4a5b\"}\n",
        ))
        .await
        .unwrap();
        let ack: serde_json::Value = serde_json::from_slice(&next_data(&mut ws).await).unwrap();
        assert_eq!(ack["Type"], "ClientHandshakeAckFrame");
        for _ in 0..3 {
            let request = String::from_utf8(next_data(&mut ws).await).unwrap();
            // What a Go server's http.ReadRequest needs: a request line, Host,
            // the correlation id.
            assert!(request.contains(" HTTP/1.1\r\n"), "{request}");
            assert_eq!(header(&request, "Host"), Some("localhost"));
            let id = header(&request, "X-Correlation-Id").unwrap().to_owned();
            let path = request.split(' ').nth(1).unwrap().to_owned();
            match path.as_str() {
                "/simple" => {
                    ws.send(Message::text(format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 26 Nov 2026 07:19:50 GMT\r\nContent-Length: 19\r\nX-Correlation-Id: {id}\r\n\r\n{{\"hello\":\"dolores\"}}"
                    )))
                    .await
                    .unwrap();
                }
                "/big" => {
                    ws.send(Message::text(format!(
                        "HTTP/1.1 200 OK\r\nDate: Thu, 26 Nov 2026 07:19:50 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: {id}\r\n\r\nbb8\r\n{big_for_peer}\r\n0\r\n\r\n"
                    )))
                    .await
                    .unwrap();
                }
                "/flushed" => {
                    // A Go handler that flushes: the head and first chunk, then
                    // raw further chunks, then the terminating chunk.
                    ws.send(Message::text(format!(
                        "HTTP/1.1 200 OK\r\nDate: Thu, 26 Nov 2026 07:19:50 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: {id}\r\n\r\n8\r\nchunk 1\n\r\n"
                    )))
                    .await
                    .unwrap();
                    ws.send(Message::binary(&b"8\r\nchunk 2\n\r\n"[..]))
                        .await
                        .unwrap();
                    ws.send(Message::text("8\r\nchunk 3\n\r\n")).await.unwrap();
                    ws.send(Message::text("0\r\n\r\n")).await.unwrap();
                }
                other => panic!("unexpected path {other}"),
            }
        }
        // The Go server now calls the client's API (the reverse direction).
        ws.send(Message::text(
            "GET /pets?limit=3 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\nX-Correlation-Id: 1\r\n\r\n",
        ))
        .await
        .unwrap();
        let answer = String::from_utf8(next_data(&mut ws).await).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert_eq!(header(&answer, "X-Correlation-Id"), Some("1"));
        assert_eq!(body(&answer), "pets for /pets?limit=3");
        let _ = verified_tx.send(());
        while let Some(Ok(_)) = ws.next().await {}
    });

    let (served_tx, mut served) = tokio::sync::mpsc::unbounded_channel();
    let client = Client::builder(format!("ws://{addr}/"))
        .metadata(serde_json::json!({"k": "v"}))
        .keep_alive(false)
        .serve(service_fn(move |req: Request<Bytes>| {
            let served_tx = served_tx.clone();
            async move {
                let text = format!("pets for {}", req.uri());
                let _ = served_tx.send(());
                Ok::<_, Infallible>(Response::new(Bytes::from(text)))
            }
        }))
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    assert_eq!(conn.id().as_str(), "5f0b7a4e-2b1c-4d7e-9a3f-0c1d2e3f4a5b");

    let simple = conn.call(get("/simple")).await.unwrap();
    assert_eq!(simple.status(), StatusCode::OK);
    assert_eq!(simple.body(), "{\"hello\":\"dolores\"}");
    assert_eq!(simple.headers()["content-type"], "application/json");

    let big_response = conn.call(get("/big")).await.unwrap();
    assert_eq!(big_response.body(), big.as_bytes());
    assert!(big_response.headers().get("transfer-encoding").is_none());

    let flushed = conn.call(get("/flushed")).await.unwrap();
    assert_eq!(flushed.body(), "chunk 1\nchunk 2\nchunk 3\n");

    // The Go server's call to the client's API was served and answered.
    within("the reverse call", served.recv()).await.unwrap();
    within("the answer to reach the Go peer", verified_rx)
        .await
        .unwrap();
    client.close();
    within("the Go peer", peer).await.unwrap();
}

/// A Go client (which negotiates nothing) gets a streamed response in Go's
/// form: the head with the first chunk, then one raw chunk per message,
/// then the terminating chunk; and the handshake reply carries no Features.
#[tokio::test]
async fn a_go_client_receives_a_stream_in_go_form() {
    init_tracing();
    let server = Server::builder()
        .serve(service_fn(|_req: Request<Bytes>| async move {
            let (tx, body) = swaggersocket::Body::channel();
            tokio::spawn(async move {
                for i in 1..=3 {
                    tx.send(format!("chunk {i}\n")).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            });
            Ok::<_, Infallible>(Response::new(body))
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut ws, reply) = go_handshake(&server).await;
    assert!(!reply.contains("Features"), "{reply}");
    ws.send(Message::text(
        "GET /stream?n=3&interval_ms=10 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\nX-Correlation-Id: 5\r\n\r\n",
    ))
    .await
    .unwrap();
    let head = String::from_utf8(next_data(&mut ws).await).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(header(&head, "Transfer-Encoding"), Some("chunked"));
    assert_eq!(header(&head, "X-Correlation-Id"), Some("5"));
    assert_eq!(body(&head), "8\r\nchunk 1\n\r\n");
    assert_eq!(next_data(&mut ws).await, b"8\r\nchunk 2\n\r\n");
    assert_eq!(next_data(&mut ws).await, b"8\r\nchunk 3\n\r\n");
    assert_eq!(next_data(&mut ws).await, b"0\r\n\r\n");
}

/// Toward a Go client, an answer that is ready at once waits while a
/// streamed answer owns the outbound direction: it never lands between the
/// stream's chunks (Go's form has no correlation id on a chunk).
#[tokio::test]
async fn a_ready_answer_to_a_go_client_waits_for_a_stream_in_progress() {
    init_tracing();
    let (senders_tx, mut senders) = tokio::sync::mpsc::unbounded_channel();
    let (called_tx, mut called) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder()
        .serve(service_fn(move |req: Request<Bytes>| {
            let senders_tx = senders_tx.clone();
            let called_tx = called_tx.clone();
            async move {
                if req.uri().path() == "/stream" {
                    let (tx, body) = swaggersocket::Body::channel();
                    senders_tx.send(tx).unwrap();
                    return Ok::<_, Infallible>(Response::new(body));
                }
                called_tx.send(req.uri().path().to_owned()).unwrap();
                Ok(Response::new(swaggersocket::Body::full(
                    Bytes::from_static(b"ready"),
                )))
            }
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut ws, _) = go_handshake(&server).await;
    let request = |path: &str, id: u32| {
        Message::text(format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Correlation-Id: {id}\r\n\r\n"
        ))
    };
    ws.send(request("/stream", 1)).await.unwrap();
    let tx = within("the stream's sender", senders.recv()).await.unwrap();
    tx.send("a").await.unwrap();
    // The head went out with the first chunk: the stream owns the direction.
    let head = String::from_utf8(next_data(&mut ws).await).unwrap();
    assert_eq!(header(&head, "X-Correlation-Id"), Some("1"));
    assert_eq!(body(&head), "1\r\na\r\n");
    // The reader serves requests in order: once the second handler has run,
    // the first one's answer is queued or waiting.
    ws.send(request("/now", 2)).await.unwrap();
    ws.send(request("/mark", 3)).await.unwrap();
    assert_eq!(within("/now", called.recv()).await.unwrap(), "/now");
    assert_eq!(within("/mark", called.recv()).await.unwrap(), "/mark");
    tx.send("b").await.unwrap();
    drop(tx);
    assert_eq!(next_data(&mut ws).await, b"1\r\nb\r\n");
    assert_eq!(next_data(&mut ws).await, b"0\r\n\r\n");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let text = String::from_utf8(next_data(&mut ws).await).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert_eq!(body(&text), "ready");
        ids.push(header(&text, "X-Correlation-Id").unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["2", "3"]);
}

/// A client of this project offers the streaming extension; a server of
/// this project accepts it.
#[tokio::test]
async fn the_extension_is_offered_and_accepted() {
    init_tracing();
    let server = Server::builder()
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(url(server.local_addr()))
        .await
        .unwrap();
    ws.send(Message::text("{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null,\"Features\":[\"stream/1\",\"unknown/9\"]}")).await.unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&next_data(&mut ws).await).unwrap();
    assert_eq!(reply["Features"], serde_json::json!(["stream/1"]));
}

/// A Go client uploading with `Transfer-Encoding: chunked` whose chunks come
/// in several messages: the request is collected whole, then served.
#[tokio::test]
async fn a_chunked_request_continued_over_messages_is_served_whole() {
    init_tracing();
    let server = Server::builder()
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut ws, _) = go_handshake(&server).await;
    ws.send(Message::text(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nX-Correlation-Id: 9\r\n\r\n3\r\nabc\r\n",
    ))
    .await
    .unwrap();
    ws.send(Message::binary(&b"4\r\nde"[..])).await.unwrap();
    ws.send(Message::text("fg\r\n0\r\n\r\n")).await.unwrap();
    let answer = String::from_utf8(next_data(&mut ws).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(header(&answer, "X-Correlation-Id"), Some("9"));
    assert_eq!(body(&answer), "abcdefg");
}

/// A body that is not UTF-8, as a Go peer puts it in a text frame.
const NOT_UTF8: &[u8] = &[0xff, 0xfe, 0x00, 0x80, 0xc3];

/// `bytes` as one text frame, whatever they hold (gorilla checks nothing).
fn text_frame(bytes: Vec<u8>) -> Message {
    Message::Frame(Frame::message(bytes, OpCode::Data(OpData::Text), true))
}

/// `bytes` as a text message in two frames (gorilla fragments large
/// messages), cut in the middle of a UTF-8 sequence.
async fn send_fragmented_text<S>(ws: &mut RawWs<S>, bytes: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let cut = bytes.len() - 2;
    ws.feed(Message::Frame(Frame::message(
        bytes[..cut].to_vec(),
        OpCode::Data(OpData::Text),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Frame(Frame::message(
        bytes[cut..].to_vec(),
        OpCode::Data(OpData::Continue),
        true,
    )))
    .await
    .unwrap();
}

fn with_body(head: String, body: &[u8]) -> Vec<u8> {
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    message
}

fn body_bytes(message: &[u8]) -> &[u8] {
    let at = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    &message[at + 4..]
}

fn header_of(message: &[u8], name: &str) -> Option<String> {
    let head = &message[..message.windows(4).position(|w| w == b"\r\n\r\n")?];
    header(std::str::from_utf8(head).ok()?, name).map(str::to_owned)
}

/// A Go client sends request bodies that are not UTF-8 in text frames (one
/// whole, one fragmented), and answers our server's call the same way; the
/// bytes arrive intact and the connection stays up.
#[tokio::test]
async fn a_go_clients_non_utf8_text_frames_reach_our_server_intact() {
    init_tracing();
    let server = Server::builder()
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (mut ws, _) = go_handshake(&server).await;
    let conn = next_received(&mut events).await;
    let request = |id: u32| {
        with_body(
            format!("POST /bin HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 5\r\nContent-Type: application/octet-stream\r\nX-Correlation-Id: {id}\r\n\r\n"),
            NOT_UTF8,
        )
    };
    ws.send(text_frame(request(1))).await.unwrap();
    let answer = next_data(&mut ws).await;
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(header_of(&answer, "X-Correlation-Id").as_deref(), Some("1"));
    assert_eq!(body_bytes(&answer), NOT_UTF8);
    send_fragmented_text(&mut ws, &request(2)).await;
    let answer = next_data(&mut ws).await;
    assert_eq!(header_of(&answer, "X-Correlation-Id").as_deref(), Some("2"));
    assert_eq!(body_bytes(&answer), NOT_UTF8);

    // Our server calls the Go client, which answers in a text frame.
    let call = tokio::spawn({
        let conn = conn.clone();
        async move { conn.call(get("/image")).await }
    });
    let request = next_data(&mut ws).await;
    let id = header_of(&request, "X-Correlation-Id").unwrap();
    ws.send(text_frame(with_body(
        format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: image/png\r\nX-Correlation-Id: {id}\r\n\r\n"),
        NOT_UTF8,
    )))
    .await
    .unwrap();
    let response = within("the call", call).await.unwrap().unwrap();
    assert_eq!(response.body().as_ref(), NOT_UTF8);

    // Still up, both ways.
    assert!(!conn.is_closed());
    ws.send(text_frame(request_after())).await.unwrap();
    let answer = next_data(&mut ws).await;
    assert_eq!(header_of(&answer, "X-Correlation-Id").as_deref(), Some("3"));
    assert_eq!(body_bytes(&answer), b"next");
}

fn request_after() -> Vec<u8> {
    b"POST /next HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nX-Correlation-Id: 3\r\n\r\nnext"
        .to_vec()
}

/// A Go server answers our client's calls with bodies that are not UTF-8 in
/// text frames (one whole, one fragmented), and calls our client with such a
/// body; the bytes arrive intact and the connection stays up.
#[tokio::test]
async fn a_go_servers_non_utf8_text_frames_reach_our_client_intact() {
    init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = go_server_handshake(tcp).await;
        for fragmented in [false, true] {
            let request = next_data(&mut ws).await;
            let id = header_of(&request, "X-Correlation-Id").unwrap();
            let answer = with_body(
                format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/octet-stream\r\nDate: Thu, 26 Nov 2026 07:19:50 GMT\r\nX-Correlation-Id: {id}\r\n\r\n"),
                NOT_UTF8,
            );
            if fragmented {
                send_fragmented_text(&mut ws, &answer).await;
            } else {
                ws.send(text_frame(answer)).await.unwrap();
            }
        }
        // The Go server calls our client's API with such a body.
        ws.send(text_frame(with_body(
            "POST /upload HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 5\r\nX-Correlation-Id: 1\r\n\r\n".to_owned(),
            NOT_UTF8,
        )))
        .await
        .unwrap();
        // Our answer, and our client's next call, in either order.
        let mut first = next_data(&mut ws).await;
        let mut second = next_data(&mut ws).await;
        if !first.starts_with(b"HTTP/") {
            std::mem::swap(&mut first, &mut second);
        }
        let (answer, request) = (first, second);
        assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(body_bytes(&answer), NOT_UTF8);
        // And the connection serves the next call.
        let id = header_of(&request, "X-Correlation-Id").unwrap();
        ws.send(Message::text(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Correlation-Id: {id}\r\n\r\nnext"
        )))
        .await
        .unwrap();
        while let Some(Ok(_)) = ws.next().await {}
    });
    let client = Client::builder(format!("ws://{addr}/"))
        .keep_alive(false)
        .serve(echo_service())
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    for _ in 0..2 {
        let response = conn.call(get("/image")).await.unwrap();
        assert_eq!(response.body().as_ref(), NOT_UTF8);
    }
    let next = conn.call(get("/next")).await.unwrap();
    assert_eq!(next.body(), "next");
    assert!(!conn.is_closed());
    client.close();
    within("the Go peer", peer).await.unwrap();
}

/// The server side of a Go server's handshake on an accepted socket.
async fn go_server_handshake(tcp: tokio::net::TcpStream) -> RawWs<tokio::net::TcpStream> {
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let hello: serde_json::Value = serde_json::from_slice(&next_data(&mut ws).await).unwrap();
    assert_eq!(hello["Type"], "ClientHandshakeMetaData");
    ws.send(Message::text(
        "{\"Type\":\"ServerHandshakeConnectionID\",\"ConnectionID\":\"5f0b7a4e-2b1c-4d7e-9a3f-0c1d2e3f4a5b\"}\n",
    ))
    .await
    .unwrap();
    let ack: serde_json::Value = serde_json::from_slice(&next_data(&mut ws).await).unwrap();
    assert_eq!(ack["Type"], "ClientHandshakeAckFrame");
    ws
}

/// A peer of this project (its handshake lists `Features`) keeps RFC 6455's
/// rule: a text message that is not UTF-8 fails the connection, and the
/// close frame says why (1007) before the socket goes.
#[tokio::test]
async fn invalid_utf8_from_a_peer_of_ours_is_closed_with_1007() {
    init_tracing();
    let server = Server::builder()
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (mut ws, _) = tokio_tungstenite::connect_async(url(server.local_addr()))
        .await
        .unwrap();
    ws.send(Message::text(
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null,\"Features\":[]}",
    ))
    .await
    .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&next_data(&mut ws).await).unwrap();
    assert_eq!(reply["Features"], serde_json::json!([]));
    ws.send(Message::text("{\"Type\":\"ClientHandshakeAckFrame\"}"))
        .await
        .unwrap();
    let conn = next_received(&mut events).await;
    ws.send(text_frame(with_body(
        "POST /bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nX-Correlation-Id: 1\r\n\r\n"
            .to_owned(),
        NOT_UTF8,
    )))
    .await
    .unwrap();
    let close = loop {
        match within("a close frame", ws.next()).await {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close code"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Invalid, "{close:?}");
    assert!(within("the end", conn.closed()).await.is_err());
}

/// A heartbeat fast enough for a test: a Ping every 50 ms, a peer that has
/// answered Pings is dead after 250 ms of silence.
fn fast_heartbeat() -> Config {
    Config::new()
        .heartbeat(Some(Duration::from_millis(50)))
        .heartbeat_timeout(Duration::from_millis(250))
}

/// Reads until `n` Pings have come and sends their Pongs: a peer that has
/// shown it answers Pings. Then it reads nothing more.
async fn answer_pings<S>(ws: &mut RawWs<S>, n: usize)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut seen = 0;
    while seen < n {
        if let Message::Ping(_) = within("a Ping", ws.next()).await.unwrap().unwrap() {
            seen += 1;
        }
    }
    ws.flush().await.unwrap();
}

/// A Go client with KeepAlive off reads nothing between calls, so it
/// answers no Ping. Our server keeps it: a peer of ours that answered Pings
/// and then went silent, connected after it, is dropped by the heartbeat
/// first, and the Go client can still call and be called.
#[tokio::test]
async fn an_idle_go_client_that_answers_no_pings_stays_connected() {
    init_tracing();
    let server = Server::builder()
        .config(fast_heartbeat())
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (mut go, _) = go_handshake(&server).await;
    let go_conn = next_received(&mut events).await;
    // The yardstick: a peer of this project, connected later.
    let (mut ours, _) = tokio_tungstenite::connect_async(url(server.local_addr()))
        .await
        .unwrap();
    ours.send(Message::text(
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null,\"Features\":[]}",
    ))
    .await
    .unwrap();
    next_data(&mut ours).await;
    ours.send(Message::text("{\"Type\":\"ClientHandshakeAckFrame\"}"))
        .await
        .unwrap();
    let ours_conn = next_received(&mut events).await;
    answer_pings(&mut ours, 3).await;
    loop {
        match next_event(&mut events).await {
            Event::Failure(id, e) if &id == go_conn.id() => {
                panic!("the idle Go client was dropped: {e}")
            }
            Event::Failure(id, e) if &id == ours_conn.id() => {
                assert_eq!(e.kind(), ErrorKind::HeartbeatTimeout, "{e}");
                break;
            }
            _ => continue,
        }
    }
    assert!(!go_conn.is_closed());
    go.send(Message::text(
        "GET /still-there HTTP/1.1\r\nHost: localhost\r\nX-Correlation-Id: 1\r\n\r\n",
    ))
    .await
    .unwrap();
    let answer = next_data(&mut go).await;
    assert_eq!(
        header_of(&answer, "x-echo-path").as_deref(),
        Some("/still-there")
    );
    let call = tokio::spawn({
        let conn = go_conn.clone();
        async move { conn.call(get("/from-server")).await }
    });
    let request = next_data(&mut go).await;
    let id = header_of(&request, "X-Correlation-Id").unwrap();
    go.send(Message::text(format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Correlation-Id: {id}\r\n\r\nok"
    )))
    .await
    .unwrap();
    assert_eq!(
        within("the call", call).await.unwrap().unwrap().body(),
        "ok"
    );
}

/// A Go server that is not serving reads nothing, so it answers no Ping.
/// Our client keeps it: a client of ours whose server answered Pings and
/// then went silent, connected after it, is dropped first, and the Go server
/// can still be called and call.
#[tokio::test]
async fn an_idle_go_server_that_answers_no_pings_stays_connected() {
    init_tracing();
    let go_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let go_addr = go_listener.local_addr().unwrap();
    let ours_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ours_addr = ours_listener.local_addr().unwrap();
    let (go_ws_tx, go_ws) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = go_listener.accept().await.unwrap();
        let _ = go_ws_tx.send(go_server_handshake(tcp).await);
    });
    let go_client = Client::builder(format!("ws://{go_addr}/"))
        .config(fast_heartbeat())
        .backoff(Backoff::default().max_attempts(Some(1)))
        .serve(echo_service())
        .connect()
        .await
        .unwrap();
    let mut go = within("the Go server", go_ws).await.unwrap();
    let mut go_events = go_client.events();
    // The yardstick: a server of this project, connected to later.
    let yardstick = tokio::spawn(async move {
        let (tcp, _) = ours_listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        next_data(&mut ws).await;
        ws.send(Message::text(
            "{\"Type\":\"ServerHandshakeConnectionID\",\"ConnectionID\":\"b6a0e0c8-1f7e-4c55-8a57-7d5c1f1b2a90\",\"Features\":[]}",
        ))
        .await
        .unwrap();
        next_data(&mut ws).await;
        answer_pings(&mut ws, 3).await;
        ws
    });
    let ours_client = Client::builder(format!("ws://{ours_addr}/"))
        .config(fast_heartbeat())
        .backoff(Backoff::default().max_attempts(Some(1)))
        .connect()
        .await
        .unwrap();
    let mut ours_events = ours_client.events();
    let _silent = within("the yardstick", yardstick).await.unwrap();
    loop {
        if let ClientEvent::Disconnected { error, .. } = next_client_event(&mut ours_events).await {
            let error = error.expect("a silent peer is a failure");
            assert_eq!(error.kind(), ErrorKind::HeartbeatTimeout, "{error}");
            break;
        }
    }
    if let Some(Some(event)) = go_events.recv().now_or_never() {
        panic!("the idle Go server's connection changed: {event:?}");
    }
    let conn = go_client.connection();
    assert!(!conn.is_closed());
    let call = tokio::spawn({
        let conn = conn.clone();
        async move { conn.call(get("/still-there")).await }
    });
    let request = next_data(&mut go).await;
    let id = header_of(&request, "X-Correlation-Id").unwrap();
    go.send(Message::text(format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Correlation-Id: {id}\r\n\r\nok"
    )))
    .await
    .unwrap();
    assert_eq!(
        within("the call", call).await.unwrap().unwrap().body(),
        "ok"
    );
    go.send(Message::text(
        "GET /from-go HTTP/1.1\r\nHost: localhost\r\nX-Correlation-Id: 1\r\n\r\n",
    ))
    .await
    .unwrap();
    let answer = next_data(&mut go).await;
    assert_eq!(
        header_of(&answer, "x-echo-path").as_deref(),
        Some("/from-go")
    );
}

/// Serves `n` requests as the Go original does: one reader, one writer,
/// strictly in turn. A request that arrives while another is being answered
/// costs an answer (Go's `cannot flush`): the peer then stops answering and
/// reports the overlap. Returns the paths in the order they arrived.
async fn serve_in_turn<S>(ws: &mut RawWs<S>, n: usize) -> Result<Vec<String>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut paths = Vec::new();
    for _ in 0..n {
        let request = String::from_utf8(next_data(ws).await).unwrap();
        let path = request.split(' ').nth(1).unwrap().to_owned();
        let id = header(&request, "X-Correlation-Id").unwrap().to_owned();
        // Anything already there is a request that overlaps this one.
        while let Some(Some(Ok(message))) = ws.next().now_or_never() {
            if message.is_text() || message.is_binary() {
                return Err(format!("a request arrived while {path} was being served"));
            }
        }
        ws.send(Message::text(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Correlation-Id: {id}\r\n\r\n{path}",
            path.len()
        )))
        .await
        .unwrap();
        paths.push(path);
    }
    Ok(paths)
}

/// Ten concurrent calls to a Go peer, issued in order.
async fn ten_calls(conn: &swaggersocket::Connection) {
    let calls = (0..10).map(|i| {
        let conn = conn.clone();
        async move { conn.call(get(&format!("/{i}"))).await }
    });
    let results = futures_util::future::join_all(calls).await;
    for (i, result) in results.into_iter().enumerate() {
        let response = result.unwrap_or_else(|e| panic!("call {i} failed: {e}"));
        assert_eq!(response.body(), format!("/{i}").as_str());
    }
}

fn in_order() -> Vec<String> {
    (0..10).map(|i| format!("/{i}")).collect()
}

/// Our client makes ten concurrent calls to a Go server: they go one at a
/// time, in order, and all succeed.
#[tokio::test]
async fn concurrent_calls_to_a_go_server_go_one_at_a_time() {
    init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = go_server_handshake(tcp).await;
        let served = serve_in_turn(&mut ws, 10).await;
        // Keep the socket open until the client has finished.
        while let Some(Ok(_)) = ws.next().await {}
        served
    });
    let client = Client::builder(format!("ws://{addr}/"))
        .keep_alive(false)
        .config(Config::new().call_timeout(Some(Duration::from_secs(3))))
        .connect()
        .await
        .unwrap();
    ten_calls(&client.connection()).await;
    client.close();
    assert_eq!(within("the Go peer", peer).await.unwrap(), Ok(in_order()));
}

/// Our server makes ten concurrent calls to a Go client that serves: they go
/// one at a time, in order, and all succeed.
#[tokio::test]
async fn concurrent_calls_to_a_serving_go_client_go_one_at_a_time() {
    init_tracing();
    let server = Server::builder()
        .config(Config::new().call_timeout(Some(Duration::from_secs(3))))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (mut ws, _) = go_handshake(&server).await;
    let conn = next_received(&mut events).await;
    let peer = tokio::spawn(async move { serve_in_turn(&mut ws, 10).await });
    ten_calls(&conn).await;
    assert_eq!(within("the Go peer", peer).await.unwrap(), Ok(in_order()));
}

/// With the limit lifted, calls to a Go peer overlap again (for Go peers
/// known to cope).
#[tokio::test]
async fn the_one_call_limit_can_be_lifted() {
    init_tracing();
    let server = Server::builder()
        .config(Config::new().concurrent_calls_to_go_peers(true))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (mut ws, _) = go_handshake(&server).await;
    let conn = next_received(&mut events).await;
    let calls: Vec<_> = (0..2)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call(get(&format!("/{i}"))).await })
        })
        .collect();
    // Both requests are out before either is answered.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let request = String::from_utf8(next_data(&mut ws).await).unwrap();
        ids.push(header(&request, "X-Correlation-Id").unwrap().to_owned());
    }
    for id in ids {
        ws.send(Message::text(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Correlation-Id: {id}\r\n\r\n"
        )))
        .await
        .unwrap();
    }
    for call in calls {
        within("a call", call).await.unwrap().unwrap();
    }
}
