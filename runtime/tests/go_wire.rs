//! Replays the byte sequences PROTOCOL.md records from the Go implementation
//! through a raw websocket peer, in both roles.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use swaggersocket::{service_fn, Client, Server};
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
