//! The session over streams other than the built-in TCP ones: in-memory
//! pipes served through `serve_with_incoming`, `accept_stream` and
//! `accept_upgraded`, dialed through a client connector.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use futures_util::StreamExt;
use http::Uri;
use std::io;
use std::net::SocketAddr;
use swaggersocket::{Client, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// A connector that hands the far end of each new pipe to `tx`.
fn pipe_connector(
    tx: mpsc::UnboundedSender<DuplexStream>,
) -> impl Fn(Uri) -> std::future::Ready<io::Result<DuplexStream>> + Send + Sync + 'static {
    move |_uri| {
        let (near, far) = tokio::io::duplex(64 << 10);
        let sent = tx.send(far).map_err(|_| io::Error::other("server gone"));
        std::future::ready(sent.map(|()| near))
    }
}

#[tokio::test]
async fn calls_both_ways_over_incoming_pipes() {
    init_tracing();
    let (tx, rx) = mpsc::unbounded_channel::<DuplexStream>();
    let incoming = tokio_stream_from(rx);
    let server = Server::builder()
        .serve(echo_service())
        .serve_with_incoming(incoming);
    let mut events = server.events();
    let client = Client::builder("ws://device.invalid/socket")
        .metadata(serde_json::json!({"over": "pipe"}))
        .serve(echo_service())
        .connector(pipe_connector(tx))
        .connect()
        .await
        .unwrap();
    let on_server = next_received(&mut events).await;
    assert_eq!(on_server.metadata()["over"], "pipe");
    assert_eq!(on_server.remote_addr(), None);

    let answer = within("client call", client.connection().call(post("/echo", "up")))
        .await
        .unwrap();
    assert_eq!(answer.body(), "up");
    let answer = within("server call", on_server.call(post("/echo", "down")))
        .await
        .unwrap();
    assert_eq!(answer.body(), "down");
}

#[tokio::test]
async fn a_client_reconnects_through_its_connector() {
    init_tracing();
    // Each pipe reaches the server through a relay task; aborting the relay
    // cuts that connection as a lost network would.
    let (tx, mut dialed) = mpsc::unbounded_channel::<DuplexStream>();
    let (to_server, incoming) = mpsc::unbounded_channel::<DuplexStream>();
    let (relays_tx, mut relays) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(mut far) = dialed.recv().await {
            let (mut near, server_end) = tokio::io::duplex(64 << 10);
            let relay = tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut far, &mut near).await;
            });
            let _ = relays_tx.send(relay);
            let _ = to_server.send(server_end);
        }
    });
    let server = Server::builder()
        .serve(echo_service())
        .serve_with_incoming(tokio_stream_from(incoming));
    let mut events = server.events();
    let client = Client::builder("ws://device.invalid/")
        // A new connection after the loss is what this test checks.
        .config(swaggersocket::Config::new().resume(false))
        .backoff(swaggersocket::Backoff::default().jitter(0.0))
        .connector(pipe_connector(tx))
        .connect()
        .await
        .unwrap();
    let first = next_received(&mut events).await;
    relays.recv().await.unwrap().abort();
    let second = next_received(&mut events).await;
    assert_ne!(first.id(), second.id());
    let live = within("reconnect", client.connected()).await.unwrap();
    let answer = live.call(post("/echo", "again")).await.unwrap();
    assert_eq!(answer.body(), "again");
}

#[tokio::test]
async fn accept_stream_runs_one_stream_with_its_address() {
    init_tracing();
    let server = Server::builder().serve(echo_service()).build();
    let addr: SocketAddr = "192.0.2.7:4000".parse().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<DuplexStream>();
    let dial = Client::builder("ws://device.invalid/")
        .connector(pipe_connector(tx))
        .connect();
    let accept = async {
        let io = rx.recv().await.unwrap();
        server.accept_stream(io, Some(addr)).await
    };
    let (client, on_server) = tokio::join!(dial, accept);
    let (client, on_server) = (client.unwrap(), on_server.unwrap());
    assert_eq!(on_server.remote_addr(), Some(addr));
    assert_eq!(on_server.id(), client.connection().id());
    assert_eq!(server.connections().len(), 1);
    let answer = client
        .connection()
        .call(post("/echo", "one"))
        .await
        .unwrap();
    assert_eq!(answer.body(), "one");
}

/// Does the HTTP part of the upgrade by hand, as an HTTP server would.
async fn upgrade_by_hand(io: &mut DuplexStream) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(io.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .unwrap();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    io.write_all(response.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn accept_upgraded_takes_over_after_the_http_upgrade() {
    init_tracing();
    let server = Server::builder().serve(echo_service()).build();
    let (tx, mut rx) = mpsc::unbounded_channel::<DuplexStream>();
    let dial = Client::builder("ws://device.invalid/")
        .serve(echo_service())
        .connector(pipe_connector(tx))
        .connect();
    let accept = async {
        let mut io = rx.recv().await.unwrap();
        upgrade_by_hand(&mut io).await;
        server.accept_upgraded(io, None).await
    };
    let (client, on_server) = tokio::join!(dial, accept);
    let (client, on_server) = (client.unwrap(), on_server.unwrap());
    let answer = client.connection().call(post("/echo", "up")).await.unwrap();
    assert_eq!(answer.body(), "up");
    let answer = on_server.call(post("/echo", "down")).await.unwrap();
    assert_eq!(answer.body(), "down");
}

/// An mpsc receiver as a stream of `io::Result`s.
fn tokio_stream_from<T: Send + 'static>(
    rx: mpsc::UnboundedReceiver<T>,
) -> impl futures_util::Stream<Item = io::Result<T>> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (Ok(item), rx))
    })
    .boxed()
}
