//! Faults: dead peers, dropped servers, reconnects and bad input.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response};
use std::convert::Infallible;
use std::time::{Duration, Instant};
use swaggersocket::{service_fn, Backoff, Client, ClientEvent, Config, ErrorKind, Event, Server};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// Without resumable sessions: these tests check that a lost connection
/// fails its calls (tests/resume.rs covers the other way).
fn fast_heartbeat() -> Config {
    Config::new()
        .heartbeat(Some(Duration::from_millis(100)))
        .heartbeat_timeout(Duration::from_millis(600))
        .resume(false)
}

fn never_answers() -> impl tower::Service<
    Request<Bytes>,
    Response = Response<Bytes>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    service_fn(|_req: Request<Bytes>| async move {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(Bytes::new()))
    })
}

/// A heartbeat config whose Pong hook reports on `pongs`.
fn fast_heartbeat_reporting(pongs: &tokio::sync::mpsc::UnboundedSender<()>) -> Config {
    let pongs = pongs.clone();
    fast_heartbeat().on_pong(move |_| {
        let _ = pongs.send(());
    })
}

/// A peer of this project that has answered Pings and then goes silent
/// (the path freezes, no error anywhere) is declared dead on both sides.
#[tokio::test]
async fn heartbeat_detects_a_peer_that_stops_answering() {
    init_tracing();
    let (server_pong_tx, mut server_pongs) = tokio::sync::mpsc::unbounded_channel();
    let (client_pong_tx, mut client_pongs) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder()
        .config(fast_heartbeat_reporting(&server_pong_tx))
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut server_events = server.events();
    let proxy = Proxy::start(server.local_addr()).await;
    let client = Client::builder(url(proxy.addr))
        .config(fast_heartbeat_reporting(&client_pong_tx))
        .backoff(Backoff::default().max_attempts(Some(1)))
        .connect()
        .await
        .unwrap();
    let mut client_events = client.events();
    let id = next_received(&mut server_events).await.id().clone();
    // Traffic flows and each side has seen the other answer a Ping; then
    // the network path goes silent without any error.
    client.connection().call(get("/before")).await.unwrap();
    within("a Pong at the server", server_pongs.recv()).await;
    within("a Pong at the client", client_pongs.recv()).await;
    let frozen_at = Instant::now();
    proxy.freeze();
    let error = loop {
        if let ClientEvent::Disconnected { error, .. } = next_client_event(&mut client_events).await
        {
            break error.expect("a silent peer must count as a failure");
        }
    };
    assert_eq!(error.kind(), ErrorKind::HeartbeatTimeout, "{error}");
    assert!(
        frozen_at.elapsed() < Duration::from_secs(5),
        "took {:?}",
        frozen_at.elapsed()
    );
    loop {
        match next_event(&mut server_events).await {
            Event::Failure(failed, e) if failed == id => {
                assert_eq!(e.kind(), ErrorKind::HeartbeatTimeout);
                break;
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn calls_in_flight_fail_at_once_when_the_server_goes_away() {
    init_tracing();
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder()
        .serve(service_fn(move |_req: Request<Bytes>| {
            let _ = arrived_tx.send(());
            async move {
                std::future::pending::<()>().await;
                Ok::<_, Infallible>(Response::new(Bytes::new()))
            }
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call(get(&format!("/{i}"))).await })
        })
        .collect();
    // Every call reached the server's handler before the server goes.
    for _ in 0..20 {
        within("a call to arrive", arrived.recv()).await.unwrap();
    }
    let dropped_at = Instant::now();
    drop(server);
    for call in calls {
        let err = within("a failed call", call).await.unwrap().unwrap_err();
        assert!(err.is_connection_lost(), "{err}");
        assert!(err.to_string().contains("closed"), "{err}");
    }
    // Far below the 30 s call timeout: they failed because the connection did.
    assert!(dropped_at.elapsed() < Duration::from_secs(5));
    let err = conn.call(get("/after")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn calls_in_flight_fail_at_once_when_the_socket_dies() {
    init_tracing();
    let server = Server::builder()
        .serve(never_answers())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let proxy = Proxy::start(server.local_addr()).await;
    let client = Client::builder(url(proxy.addr))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call(get(&format!("/{i}"))).await })
        })
        .collect();
    tokio::task::yield_now().await;
    proxy.cut();
    for call in calls {
        let err = within("a failed call", call).await.unwrap().unwrap_err();
        assert!(err.is_connection_lost(), "{err}");
    }
    assert!(within("closed()", conn.closed()).await.is_err());
}

#[tokio::test]
async fn the_client_reconnects_with_a_new_id_and_serves_again() {
    init_tracing();
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let mut events = server.events();
    let proxy = Proxy::start(server.local_addr()).await;
    let meta = serde_json::json!({"device": "d-1"});
    let client = Client::builder(url(proxy.addr))
        // A new id after the loss is what this test checks.
        .config(Config::new().resume(false))
        .metadata(meta.clone())
        .backoff(
            Backoff::default()
                .initial(Duration::from_millis(20))
                .jitter(0.0),
        )
        .serve(echo_service())
        .connect()
        .await
        .unwrap();
    let mut client_events = client.events();
    let first = next_received(&mut events).await;
    let r = first.call(post("/ping", "one")).await.unwrap();
    assert_eq!(r.body(), "one");

    proxy.cut();
    let second = next_received(&mut events).await;
    assert_ne!(
        second.id(),
        first.id(),
        "a reconnect gets a new connection id"
    );
    assert_eq!(second.metadata(), &meta, "the same metadata is sent again");
    let r = second.call(post("/ping", "two")).await.unwrap();
    assert_eq!(r.body(), "two", "the re-attached handler serves");
    assert_eq!(
        within("connected()", client.connected())
            .await
            .unwrap()
            .id(),
        second.id()
    );

    let mut saw = Vec::new();
    while saw.len() < 3 {
        match next_client_event(&mut client_events).await {
            ClientEvent::Disconnected { error, .. } => {
                saw.push(format!("disconnected {}", error.is_some()))
            }
            ClientEvent::Reconnecting { attempt, .. } => {
                saw.push(format!("reconnecting {attempt}"))
            }
            ClientEvent::Connected(c) => saw.push(format!("connected {}", c.id() == second.id())),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        saw,
        ["disconnected true", "reconnecting 1", "connected true"]
    );
}

#[tokio::test]
async fn a_client_without_keep_alive_stays_down() {
    init_tracing();
    let server = echo_server().await;
    let proxy = Proxy::start(server.local_addr()).await;
    let client = Client::builder(url(proxy.addr))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    proxy.cut();
    assert!(matches!(
        next_client_event(&mut events).await,
        ClientEvent::Disconnected { error: Some(_), .. }
    ));
    let err = within("connected()", client.connected()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

/// A raw websocket peer that speaks whatever the test tells it to.
async fn raw_client(
    server: &Server,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (ws, _) = tokio_tungstenite::connect_async(url(server.local_addr()))
        .await
        .unwrap();
    ws
}

async fn expect_close(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> (CloseCode, String) {
    loop {
        match within("a close frame", ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code, frame.reason.to_string()),
            Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn handshake(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> String {
    ws.send(Message::text(
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null}\n",
    ))
    .await
    .unwrap();
    let reply = within("the id", ws.next()).await.unwrap().unwrap();
    let value: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(value["Type"], "ServerHandshakeConnectionID");
    ws.send(Message::text("{\"Type\":\"ClientHandshakeAckFrame\"}\n"))
        .await
        .unwrap();
    value["ConnectionID"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_handshakes_are_closed_with_a_reason_and_others_are_served() {
    init_tracing();
    let server = Server::builder()
        .config(Config::new().handshake_timeout(Duration::from_millis(300)))
        .serve(echo_service())
        .check_metadata(|meta| {
            if meta["token"] == "bad" {
                Err("token revoked".to_owned())
            } else {
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();

    let cases: Vec<(&str, Option<Message>, CloseCode, &str)> = vec![
        (
            "wrong Type",
            Some(Message::text("{\"Type\":\"Hello\"}")),
            CloseCode::Protocol,
            "Hello",
        ),
        (
            "not JSON",
            Some(Message::text("hello there")),
            CloseCode::Protocol,
            "not valid handshake JSON",
        ),
        (
            "binary",
            Some(Message::binary(
                &b"{\"Type\":\"ClientHandshakeMetaData\"}"[..],
            )),
            CloseCode::Protocol,
            "binary",
        ),
        ("silence", None, CloseCode::Policy, "within 300 ms"),
        (
            "rejected metadata",
            Some(Message::text(
                "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":{\"token\":\"bad\"}}",
            )),
            CloseCode::Policy,
            "token revoked",
        ),
    ];
    for (what, first, code, reason) in cases {
        let mut ws = raw_client(&server).await;
        if let Some(first) = first {
            ws.send(first).await.unwrap();
        }
        let (got_code, got_reason) = expect_close(&mut ws).await;
        assert_eq!(got_code, code, "{what}: {got_reason}");
        assert!(
            got_reason.contains(reason),
            "{what}: reason {got_reason:?} lacks {reason:?}"
        );
        assert!(
            server.connections().is_empty(),
            "{what}: something was registered"
        );
    }
    // A wrong ack after a good first message.
    let mut ws = raw_client(&server).await;
    ws.send(Message::text(
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":1}",
    ))
    .await
    .unwrap();
    let _id = within("the id", ws.next()).await;
    ws.send(Message::text("{\"Type\":\"ClientHandshakeMetaData\"}"))
        .await
        .unwrap();
    assert_eq!(expect_close(&mut ws).await.0, CloseCode::Protocol);

    assert!(
        events.try_recv().is_none(),
        "a failed handshake raised an event"
    );
    let good = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    assert_eq!(
        good.connection()
            .call(post("/ok", "fine"))
            .await
            .unwrap()
            .body(),
        "fine"
    );
}

#[tokio::test]
async fn an_unparsable_message_is_answered_or_dropped_and_the_connection_survives() {
    init_tracing();
    let server = echo_server().await;
    let mut ws = raw_client(&server).await;
    handshake(&mut ws).await;
    // No correlation id: nothing to answer, logged and dropped.
    ws.send(Message::text("this is not http")).await.unwrap();
    // A broken request with an id: answered 400.
    ws.send(Message::text(
        "GET /x HTTP/1.1\r\nX-Correlation-Id: 7\r\nContent-Length: zz\r\n\r\n",
    ))
    .await
    .unwrap();
    // Then a good one.
    ws.send(Message::text(
        "GET /fine HTTP/1.1\r\nX-Correlation-Id: 8\r\n\r\n",
    ))
    .await
    .unwrap();
    let mut answers = Vec::new();
    while answers.len() < 2 {
        match within("answers", ws.next()).await.unwrap().unwrap() {
            Message::Text(t) => answers.push(t.to_string()),
            Message::Binary(b) => answers.push(String::from_utf8_lossy(&b).into_owned()),
            _ => continue,
        }
    }
    answers.sort_by_key(|a| a.contains("X-Correlation-Id: 8"));
    assert!(answers[0].starts_with("HTTP/1.1 400"), "{}", answers[0]);
    assert!(
        answers[0].contains("X-Correlation-Id: 7") && answers[0].contains("Content-Length"),
        "{}",
        answers[0]
    );
    assert!(
        answers[0].contains("invalid Content-Length"),
        "{}",
        answers[0]
    );
    assert!(answers[1].starts_with("HTTP/1.1 200"), "{}", answers[1]);
    assert!(answers[1].contains("x-echo-path: /fine"), "{}", answers[1]);
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009_and_others_are_served() {
    init_tracing();
    let server = Server::builder()
        .config(Config::new().max_message_size(64 * 1024))
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let mut ws = raw_client(&server).await;
    let id = handshake(&mut ws).await;
    let mut big =
        b"POST /big HTTP/1.1\r\nX-Correlation-Id: 1\r\nContent-Length: 100000\r\n\r\n".to_vec();
    big.resize(big.len() + 100_000, b'x');
    ws.send(Message::binary(big)).await.unwrap();
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("65536"), "{reason}");
    loop {
        match next_event(&mut events).await {
            Event::Failure(failed, e) if failed.as_str() == id => {
                assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
                break;
            }
            _ => continue,
        }
    }
    // The client side refuses to send what is too big, before sending it.
    let client = Client::builder(url(server.local_addr()))
        .config(Config::new().max_message_size(64 * 1024))
        .connect()
        .await
        .unwrap();
    let err = client
        .connection()
        .call(post("/big", vec![0u8; 100_000]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MessageTooLarge);
    assert_eq!(
        client
            .connection()
            .call(post("/small", "ok"))
            .await
            .unwrap()
            .body(),
        "ok"
    );
}

#[tokio::test]
async fn a_response_with_an_unknown_id_is_dropped() {
    init_tracing();
    // A raw server: handshake, then answers a call twice, first with a wrong id.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let _meta = ws.next().await.unwrap().unwrap();
        ws.send(Message::text(
            "{\"Type\":\"ServerHandshakeConnectionID\",\"ConnectionID\":\"c-1\"}\n",
        ))
        .await
        .unwrap();
        let _ack = ws.next().await.unwrap().unwrap();
        let request = loop {
            if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
                break t.to_string();
            }
        };
        let id = swaggersocket::wire::sniff_correlation_id(request.as_bytes()).unwrap();
        ws.send(Message::text(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Correlation-Id: nobody\r\n\r\nwrong",
        ))
        .await
        .unwrap();
        ws.send(Message::text(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Correlation-Id: {id}\r\n\r\nright"
        )))
        .await
        .unwrap();
        // Keep the socket open until the client is done.
        while let Some(Ok(_)) = ws.next().await {}
    });
    let client = Client::builder(format!("ws://{addr}/"))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.connection().id().as_str(), "c-1");
    let r = within("the answer", client.connection().call(get("/q")))
        .await
        .unwrap();
    assert_eq!(r.body(), "right");
    client.close();
    within("the peer", peer).await.unwrap();
}

#[tokio::test]
async fn a_server_that_answers_garbage_fails_that_call_with_a_protocol_error() {
    init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let _meta = ws.next().await.unwrap().unwrap();
        ws.send(Message::text(
            "{\"Type\":\"ServerHandshakeConnectionID\",\"ConnectionID\":\"c-2\"}",
        ))
        .await
        .unwrap();
        let _ack = ws.next().await.unwrap().unwrap();
        while let Some(Ok(Message::Text(t))) = ws.next().await {
            let id = swaggersocket::wire::sniff_correlation_id(t.as_bytes()).unwrap();
            ws.send(Message::text(format!(
                "HTTP/1.1 200 OK\r\nX-Correlation-Id: {id}\r\nContent-Length: nope\r\n\r\n"
            )))
            .await
            .unwrap();
        }
    });
    let client = Client::builder(format!("ws://{addr}/"))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    let err = within("the call", client.connection().call(get("/q")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("Content-Length"), "{err}");
}

#[tokio::test]
async fn a_dead_server_url_is_a_clear_connect_error() {
    init_tracing();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Client::builder(format!("ws://{addr}/"))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let err = Client::builder("http://example.invalid/")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn shutdown_closes_connections_with_1001() {
    init_tracing();
    let server = echo_server().await;
    let mut ws = raw_client(&server).await;
    handshake(&mut ws).await;
    let client = Client::builder(url(server.local_addr()))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    within("shutdown", server.shutdown(Duration::from_secs(2))).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, CloseCode::Away);
    assert!(reason.contains("shutting down"));
    let err = client.connection().call(get("/x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
}
