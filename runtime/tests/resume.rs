//! Resumable sessions (`resume/1`, docs/PROTOCOL.md §9), through the fault
//! proxy: with resume on, calls in flight in both directions survive a cut,
//! a reset, a truncation or a half-open path, each answered exactly once,
//! over the same connection (id, metadata); with it off they fail at once;
//! past the window or the replay buffer they fail saying so; a resume with
//! a wrong token is refused; a Go-form handshake is untouched.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::fault_proxy::{Break, FaultProxy, Mode};
use common::*;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use swaggersocket::{
    service_fn, Backoff, Client, ClientEvent, Config, Connection, Error, ErrorKind, Event,
    IntoHandler, Server,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const CALLS: usize = 40;

/// How many times each payload reached a handler.
type Served = Arc<Mutex<HashMap<Bytes, usize>>>;

/// Counts each payload, reports its arrival, waits until `release` is
/// true, then echoes it (padded to `pad` bytes when asked).
fn gated(
    arrived: mpsc::UnboundedSender<()>,
    served: Served,
    release: watch::Receiver<bool>,
    pad: usize,
) -> impl IntoHandler {
    service_fn(move |request: Request<Bytes>| {
        let arrived = arrived.clone();
        let served = served.clone();
        let mut release = release.clone();
        async move {
            *served
                .lock()
                .unwrap()
                .entry(request.body().clone())
                .or_default() += 1;
            let _ = arrived.send(());
            let _ = release.wait_for(|go| *go).await;
            let mut body = request.into_body().to_vec();
            if body.len() < pad {
                body.push(b'|');
                body.resize(pad, b'.');
            }
            Ok::<_, Infallible>(Response::new(Bytes::from(body)))
        }
    })
}

fn config(resume: bool) -> Config {
    Config::new()
        .heartbeat(Some(Duration::from_millis(100)))
        .heartbeat_timeout(Duration::from_millis(800))
        .handshake_timeout(Duration::from_millis(1500))
        .resume(resume)
}

static PAYLOAD: AtomicU64 = AtomicU64::new(0);

fn unique(tag: &str) -> Bytes {
    Bytes::from(format!("{tag}-{}", PAYLOAD.fetch_add(1, Ordering::Relaxed)))
}

/// Calls with a unique payload; the answer must be the caller's own.
async fn checked_call(conn: &Connection, tag: &str) -> Result<(), Error> {
    let payload = unique(tag);
    let response = conn.call(post("/gated", payload.clone())).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.body().starts_with(&payload),
        "answered to the wrong caller"
    );
    Ok(())
}

struct Rig {
    server: Server,
    events: swaggersocket::Events<Event>,
    proxy: FaultProxy,
    client: Client,
    client_events: swaggersocket::Events<ClientEvent>,
    at_server: Connection,
    arrivals: mpsc::UnboundedReceiver<()>,
    release: watch::Sender<bool>,
    served: [Served; 2],
    server_pongs: mpsc::UnboundedReceiver<()>,
    client_pongs: mpsc::UnboundedReceiver<()>,
}

/// The config, reporting each Pong on `pongs`.
fn reporting(config: Config, pongs: mpsc::UnboundedSender<()>) -> Config {
    config.on_pong(move |_| {
        let _ = pongs.send(());
    })
}

impl Rig {
    async fn start(server_config: Config, client_config: Config, pad: usize) -> Rig {
        init_tracing();
        let (arrived, arrivals) = mpsc::unbounded_channel();
        let (release, release_rx) = watch::channel(false);
        let served = [Served::default(), Served::default()];
        let (server_pong, server_pongs) = mpsc::unbounded_channel();
        let (client_pong, client_pongs) = mpsc::unbounded_channel();
        let server = Server::builder()
            .config(reporting(server_config, server_pong))
            .serve(gated(
                arrived.clone(),
                served[0].clone(),
                release_rx.clone(),
                pad,
            ))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let mut events = server.events();
        let proxy = FaultProxy::start(server.local_addr()).await;
        let client = Client::builder(url(proxy.addr))
            .config(reporting(client_config, client_pong))
            .metadata(serde_json::json!({"device": "sensor-7"}))
            .backoff(
                Backoff::default()
                    .initial(Duration::from_millis(20))
                    .max(Duration::from_millis(200)),
            )
            .serve(gated(arrived, served[1].clone(), release_rx, pad))
            .connect()
            .await
            .unwrap();
        let client_events = client.events();
        let at_server = next_received(&mut events).await;
        Rig {
            server,
            events,
            proxy,
            client,
            client_events,
            at_server,
            arrivals,
            release,
            served,
            server_pongs,
            client_pongs,
        }
    }

    /// Each side has seen the other answer a Ping: the heartbeat deadline
    /// holds from then on (what finds a half-open path).
    async fn settled(&mut self) {
        within("a Pong at the server", self.server_pongs.recv()).await;
        within("a Pong at the client", self.client_pongs.recv()).await;
    }

    /// `CALLS` calls in each direction, all arrived at a handler and held.
    async fn hold_calls(&mut self) -> Vec<JoinHandle<Result<(), Error>>> {
        let mut calls = Vec::new();
        for conn in [self.client.connection(), self.at_server.clone()] {
            for _ in 0..CALLS {
                let conn = conn.clone();
                calls.push(tokio::spawn(
                    async move { checked_call(&conn, "held").await },
                ));
            }
        }
        for _ in 0..2 * CALLS {
            within("a held call to arrive", self.arrivals.recv()).await;
        }
        calls
    }

    fn served_once(&self) {
        for served in &self.served {
            let served = served.lock().unwrap();
            assert!(
                served.values().all(|&n| n == 1),
                "a call was served twice: {served:?}"
            );
        }
    }
}

async fn wait_server<T>(
    events: &mut swaggersocket::Events<Event>,
    pick: impl Fn(Event) -> Option<T>,
) -> T {
    loop {
        if let Some(found) = pick(next_event(events).await) {
            return found;
        }
    }
}

async fn wait_client<T>(
    events: &mut swaggersocket::Events<ClientEvent>,
    pick: impl Fn(ClientEvent) -> Option<T>,
) -> T {
    loop {
        if let Some(found) = pick(next_client_event(events).await) {
            return found;
        }
    }
}

/// With resume on at both ends: calls held at handlers in both directions,
/// more calls started just before the fault (their requests may be lost
/// on the way), answers released after it. Every call completes exactly
/// once, over the same connection.
async fn survives(strike: impl FnOnce(&FaultProxy)) {
    let mut rig = Rig::start(config(true), config(true), 0).await;
    let conn = rig.client.connection();
    assert!(conn.supports_resume() && rig.at_server.supports_resume());
    let id = conn.id().clone();
    rig.settled().await;
    let mut calls = rig.hold_calls().await;
    // Requests still on their way when the path breaks.
    for conn in [conn.clone(), rig.at_server.clone()] {
        for _ in 0..CALLS / 2 {
            let conn = conn.clone();
            calls.push(tokio::spawn(
                async move { checked_call(&conn, "late").await },
            ));
        }
    }
    strike(&rig.proxy);
    let lost = wait_server(&mut rig.events, |e| match e {
        Event::Detached(id, error) => Some((id, error)),
        _ => None,
    })
    .await;
    assert_eq!(lost.0, id);
    wait_client(&mut rig.client_events, |e| match e {
        ClientEvent::Detached { id, .. } => Some(id),
        _ => None,
    })
    .await;
    // Answers produced while detached go out after the resume.
    rig.release.send_replace(true);
    let resumed = wait_server(&mut rig.events, |e| match e {
        Event::Resumed(conn) => Some(conn),
        _ => None,
    })
    .await;
    assert_eq!(resumed.id(), &id);
    assert_eq!(
        resumed.metadata(),
        &serde_json::json!({"device": "sensor-7"})
    );
    let at_client = wait_client(&mut rig.client_events, |e| match e {
        ClientEvent::Resumed(conn) => Some(conn),
        _ => None,
    })
    .await;
    assert_eq!(at_client.id(), &id);
    for call in calls {
        within("a call across the resume", call)
            .await
            .unwrap()
            .unwrap();
    }
    // Still the same session, and it serves on.
    assert_eq!(rig.client.connection().id(), &id);
    assert_eq!(rig.server.connection(id.as_str()).unwrap().id(), &id);
    assert!(!rig.at_server.is_detached());
    checked_call(&rig.client.connection(), "after-c")
        .await
        .unwrap();
    checked_call(&rig.at_server, "after-s").await.unwrap();
    rig.served_once();
    let stats = rig.server.stats();
    assert_eq!(stats.resumed_sessions, 1, "{stats:?}");
    assert!(stats.detached_sessions >= 1, "{stats:?}");
    // No new session was made.
    while let Some(event) = rig.events.try_recv() {
        assert!(
            !matches!(event, Event::Received(_)),
            "a new session: {event:?}"
        );
    }
}

#[tokio::test]
async fn calls_survive_a_cut() {
    survives(|proxy| proxy.strike(Break::Cut)).await;
}

#[tokio::test]
async fn calls_survive_a_reset() {
    survives(|proxy| proxy.strike(Break::Reset)).await;
}

#[tokio::test]
async fn calls_survive_a_truncated_frame() {
    survives(|proxy| proxy.strike(Break::Truncate)).await;
}

#[tokio::test]
async fn calls_survive_a_half_open_path() {
    survives(|proxy| proxy.strike(Break::Blackhole)).await;
}

/// With resume off, every call in flight fails promptly, and the client
/// comes back as a new session.
#[tokio::test]
async fn without_resume_calls_fail_promptly() {
    let mut rig = Rig::start(config(true), config(false), 0).await;
    assert!(!rig.client.connection().supports_resume());
    let id = rig.client.connection().id().clone();
    let calls = rig.hold_calls().await;
    let struck = Instant::now();
    rig.proxy.strike(Break::Cut);
    for call in calls {
        let error = within("a call to fail", call).await.unwrap().unwrap_err();
        assert!(error.is_connection_lost(), "{error}");
    }
    assert!(
        struck.elapsed() < Duration::from_secs(3),
        "{:?}",
        struck.elapsed()
    );
    let fresh = next_received(&mut rig.events).await;
    assert_ne!(fresh.id(), &id);
}

/// Past the resume window the calls in flight fail with `NotResumed`, at
/// both ends, and the client starts a new session.
#[tokio::test]
async fn past_the_window_calls_fail_not_resumed() {
    let window = Duration::from_millis(400);
    let mut rig = Rig::start(
        config(true).resume_window(window),
        config(true).resume_window(window),
        0,
    )
    .await;
    let id = rig.client.connection().id().clone();
    let calls = rig.hold_calls().await;
    // New connections go nowhere until the window has passed.
    rig.proxy.set(Mode::Stall);
    rig.proxy.strike(Break::Cut);
    let failed = wait_server(&mut rig.events, |e| match e {
        Event::Failure(id, error) => Some((id, error)),
        _ => None,
    })
    .await;
    assert_eq!(failed.0, id);
    assert_eq!(failed.1.kind(), ErrorKind::NotResumed, "{}", failed.1);
    for call in calls {
        let error = within("a call to fail", call).await.unwrap().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotResumed, "{error}");
        assert!(error.message().contains("resume window"), "{error}");
        assert!(error.is_connection_lost());
    }
    rig.proxy.set(Mode::Pass);
    let fresh = next_received(&mut rig.events).await;
    assert_ne!(fresh.id(), &id);
    rig.release.send_replace(true);
    checked_call(&fresh, "fresh").await.unwrap();
}

/// Answers bigger than the replay buffer, written into a path that
/// delivers nothing, cannot be sent again: the resume is refused and the
/// calls fail saying so; the client starts a new session.
#[tokio::test]
async fn replay_buffer_overflow_refuses_the_resume() {
    let server_config = config(true)
        .heartbeat_timeout(Duration::from_secs(5))
        .replay_buffer(4_000);
    let client_config = config(true).heartbeat_timeout(Duration::from_secs(5));
    let mut rig = Rig::start(server_config, client_config, 2_000).await;
    let id = rig.client.connection().id().clone();
    // Only the client's calls: the server's answers are what overflows.
    let mut calls = Vec::new();
    for _ in 0..10 {
        let conn = rig.client.connection();
        calls.push(tokio::spawn(
            async move { checked_call(&conn, "big").await },
        ));
    }
    for _ in 0..10 {
        within("a call to arrive", rig.arrivals.recv()).await;
    }
    rig.proxy.set(Mode::Stall);
    rig.release.send_replace(true);
    // The answers (20 kB) are written, into the stalled path.
    within("the answers to be written", async {
        while rig.at_server.queued_bytes() > 0 || rig.served[0].lock().unwrap().len() < 10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await;
    rig.proxy.strike(Break::Cut);
    rig.proxy.set(Mode::Pass);
    for call in calls {
        let error = within("a call to fail", call).await.unwrap().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotResumed, "{error}");
        assert!(error.message().contains("replay buffer"), "{error}");
    }
    let failed = wait_server(&mut rig.events, |e| match e {
        Event::Failure(id, error) => Some((id, error)),
        _ => None,
    })
    .await;
    assert_eq!(failed.0, id);
    assert!(failed.1.message().contains("replay buffer"), "{}", failed.1);
    let fresh = next_received(&mut rig.events).await;
    assert_ne!(fresh.id(), &id);
}

/// Step 1 of a raw handshake that asks to resume `id` with `token`.
fn resume_hello(id: &str, token: &str, received: u64) -> Message {
    Message::text(
        serde_json::json!({
            "Type": "ClientHandshakeMetaData",
            "Meta": null,
            "Features": ["resume/1"],
            "Resume": {"ConnectionID": id, "Token": token, "Received": received},
        })
        .to_string(),
    )
}

async fn raw(
    server: &Server,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(url(server.local_addr()))
        .await
        .unwrap()
        .0
}

/// The close frame that ends a raw connection, within the bound.
async fn close_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> (u16, String) {
    within("a close frame", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string())
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
}

/// A resume with a wrong token, or of an unknown session, is refused with
/// 1008 and a reason; the session itself is untouched.
#[tokio::test]
async fn a_wrong_token_is_refused() {
    let rig = Rig::start(config(true), config(true), 0).await;
    let id = rig.client.connection().id().clone();
    let mut ws = raw(&rig.server).await;
    ws.send(resume_hello(id.as_str(), &"0".repeat(64), 0))
        .await
        .unwrap();
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("wrong resume token"), "{reason}");
    let mut ws = raw(&rig.server).await;
    ws.send(resume_hello("no-such-session", &"0".repeat(64), 0))
        .await
        .unwrap();
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("unknown session"), "{reason}");
    assert!(!rig.at_server.is_detached() && !rig.at_server.is_closed());
    assert_eq!(rig.server.stats().refused_resumes, 2);
}

/// A malformed acknowledgement closes the connection with 1002.
#[tokio::test]
async fn a_malformed_ack_is_a_protocol_error() {
    let server = Server::builder()
        .config(config(true))
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let mut ws = raw(&server).await;
    ws.send(Message::text(
        r#"{"Type":"ClientHandshakeMetaData","Meta":null,"Features":["resume/1"]}"#,
    ))
    .await
    .unwrap();
    let reply = within("the reply", ws.next()).await.unwrap().unwrap();
    let reply: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["Features"], serde_json::json!(["resume/1"]));
    let token = reply["ResumeToken"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    ws.send(Message::text(r#"{"Type":"ClientHandshakeAckFrame"}"#))
        .await
        .unwrap();
    let conn = next_received(&mut events).await;
    assert!(conn.supports_resume());
    ws.send(Message::text("@ack x\r\n")).await.unwrap();
    let (code, _) = close_frame(&mut ws).await;
    assert_eq!(code, 1002);
}

/// A Go-form handshake (no `Features`) with a resume-enabled server gets
/// the Go reply, byte for byte in form, and a session that does not resume.
#[tokio::test]
async fn a_go_form_handshake_is_untouched() {
    let server = Server::builder()
        .config(config(true))
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let mut ws = raw(&server).await;
    ws.send(Message::text(
        "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null}\n",
    ))
    .await
    .unwrap();
    let reply = within("the reply", ws.next()).await.unwrap().unwrap();
    let text = reply.to_text().unwrap().to_owned();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id = value["ConnectionID"].as_str().unwrap();
    assert_eq!(
        text,
        format!("{{\"Type\":\"ServerHandshakeConnectionID\",\"ConnectionID\":\"{id}\"}}")
    );
    ws.send(Message::text("{\"Type\":\"ClientHandshakeAckFrame\"}\n"))
        .await
        .unwrap();
    let conn = next_received(&mut events).await;
    assert!(!conn.supports_resume());
    // Losing it is a plain failure.
    drop(ws);
    let failed = wait_server(&mut events, |e| match e {
        Event::Failure(id, error) => Some((id, error)),
        Event::Detached(..) => panic!("a Go peer's session detached"),
        _ => None,
    })
    .await;
    assert_eq!(&failed.0, conn.id());
}

/// A raw client of this project: a fresh resumable handshake; returns the
/// socket, the id and the token.
async fn raw_session(
    server: &Server,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    String,
    String,
) {
    let mut ws = raw(server).await;
    ws.send(Message::text(
        r#"{"Type":"ClientHandshakeMetaData","Meta":{"raw":true},"Features":["resume/1"]}"#,
    ))
    .await
    .unwrap();
    let reply = within("the reply", ws.next()).await.unwrap().unwrap();
    let reply: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    ws.send(Message::text(r#"{"Type":"ClientHandshakeAckFrame"}"#))
        .await
        .unwrap();
    let id = reply["ConnectionID"].as_str().unwrap().to_owned();
    let token = reply["ResumeToken"].as_str().unwrap().to_owned();
    (ws, id, token)
}

/// The resume handshake on the wire: the same id and token, and the
/// server's count of what it received; then the server sends again what
/// the client lacks (here: the answer to a request it got before the loss).
#[tokio::test]
async fn a_raw_resume_gets_what_it_lacks() {
    init_tracing();
    let server = Server::builder()
        .config(config(true))
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (mut ws, id, token) = raw_session(&server).await;
    let conn = next_received(&mut events).await;
    assert_eq!(conn.id().as_str(), id);
    // A request whose answer the client never reads: the socket goes.
    ws.send(Message::text(
        "POST /x HTTP/1.1\r\nContent-Length: 5\r\nX-Correlation-Id: 1\r\n\r\nhello",
    ))
    .await
    .unwrap();
    drop(ws);
    wait_server(&mut events, |e| match e {
        Event::Detached(..) => Some(()),
        _ => None,
    })
    .await;
    let mut ws = raw(&server).await;
    ws.send(resume_hello(&id, &token, 0)).await.unwrap();
    let reply = within("the reply", ws.next()).await.unwrap().unwrap();
    let reply: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["ConnectionID"], serde_json::json!(id));
    assert_eq!(reply["ResumeToken"], serde_json::json!(token));
    assert_eq!(reply["Received"], serde_json::json!(1));
    assert_eq!(reply["Features"], serde_json::json!(["resume/1"]));
    ws.send(Message::text(r#"{"Type":"ClientHandshakeAckFrame"}"#))
        .await
        .unwrap();
    let resumed = wait_server(&mut events, |e| match e {
        Event::Resumed(conn) => Some(conn),
        _ => None,
    })
    .await;
    assert_eq!(resumed.metadata(), &serde_json::json!({"raw": true}));
    // The answer comes (again, or for the first time), then an ack of ours
    // is all the server waits for.
    let answer = within("the answer", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.starts_with("HTTP/1.1") => return text,
                Some(Ok(_)) => continue,
                other => panic!("expected the answer, got {other:?}"),
            }
        }
    })
    .await;
    assert!(answer.contains("X-Correlation-Id: 1"), "{answer}");
    assert!(answer.ends_with("hello"), "{answer}");
    ws.send(Message::text("@ack 1\r\n")).await.unwrap();
    // The session works on: a call from the server is answered by us.
    let call = tokio::spawn(async move { resumed.call(get("/from-server")).await });
    let request = within("the server's request", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.starts_with("GET ") => return text,
                Some(Ok(_)) => continue,
                other => panic!("expected a request, got {other:?}"),
            }
        }
    })
    .await;
    let cid = request
        .lines()
        .find_map(|l| l.strip_prefix("X-Correlation-Id: "))
        .unwrap()
        .to_owned();
    ws.send(Message::text(format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Correlation-Id: {cid}\r\n\r\nok"
    )))
    .await
    .unwrap();
    let answer = within("the call", call).await.unwrap().unwrap();
    assert_eq!(answer.body(), "ok");
}

/// A client that claims more than the server sent is refused (1008), and
/// the session fails with `NotResumed` at once.
#[tokio::test]
async fn a_count_mismatch_is_refused_and_ends_the_session() {
    init_tracing();
    let server = Server::builder()
        .config(config(true))
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (ws, id, token) = raw_session(&server).await;
    next_received(&mut events).await;
    drop(ws);
    let mut ws = raw(&server).await;
    ws.send(resume_hello(&id, &token, 999)).await.unwrap();
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("count mismatch"), "{reason}");
    let failed = wait_server(&mut events, |e| match e {
        Event::Failure(id, error) => Some((id, error)),
        _ => None,
    })
    .await;
    assert_eq!(failed.0.as_str(), id);
    assert_eq!(failed.1.kind(), ErrorKind::NotResumed);
    // Its id is remembered as ended.
    let mut ws = raw(&server).await;
    ws.send(resume_hello(&id, &token, 0)).await.unwrap();
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("has ended"), "{reason}");
}

/// A streamed response (stream/1) in progress when the path is cut goes
/// on after the resume: every chunk arrives once, in order, and the body
/// ends whole.
#[tokio::test]
async fn a_streamed_response_survives_a_cut() {
    init_tracing();
    let (next_tx, next_rx) = watch::channel(0usize);
    let server = Server::builder()
        .config(config(true))
        .serve(service_fn(move |_request: Request<Bytes>| {
            let mut next = next_rx.clone();
            async move {
                let (sender, body) = swaggersocket::Body::channel();
                tokio::spawn(async move {
                    // Chunk i goes out once the test allows it.
                    for i in 0..20usize {
                        if next.wait_for(|n| *n > i).await.is_err() {
                            return;
                        }
                        if sender.send(format!("chunk-{i};")).await.is_err() {
                            return;
                        }
                    }
                });
                Ok::<_, Infallible>(Response::new(body))
            }
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let proxy = FaultProxy::start(server.local_addr()).await;
    let client = Client::builder(url(proxy.addr))
        .config(config(true))
        .backoff(Backoff::default().initial(Duration::from_millis(20)))
        .connect()
        .await
        .unwrap();
    let mut client_events = client.events();
    let conn = client.connection();
    assert!(conn.supports_streaming() && conn.supports_resume());
    let mut body = conn
        .call_streaming(get("/stream"))
        .await
        .unwrap()
        .into_body();
    let mut got = String::new();
    next_tx.send_replace(10);
    while got.matches(';').count() < 10 {
        let chunk = within("a chunk", body.chunk()).await.unwrap().unwrap();
        got.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    proxy.strike(Break::Cut);
    wait_server(&mut events, |e| match e {
        Event::Detached(..) => Some(()),
        _ => None,
    })
    .await;
    // The rest is produced while detached.
    next_tx.send_replace(20);
    wait_client(&mut client_events, |e| match e {
        ClientEvent::Resumed(_) => Some(()),
        _ => None,
    })
    .await;
    while let Some(chunk) = within("a chunk", body.chunk()).await {
        got.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let expected: String = (0..20).map(|i| format!("chunk-{i};")).collect();
    assert_eq!(got, expected);
}

/// A server shut down while a session is detached does not wait for it:
/// the shutdown ends within its grace, the session's calls fail, and its
/// `closed()` resolves.
#[tokio::test]
async fn shutdown_does_not_wait_for_a_detached_session() {
    let mut rig = Rig::start(config(true), config(true), 0).await;
    let calls = rig.hold_calls().await;
    // The client cannot come back.
    rig.proxy.set(Mode::Stall);
    rig.proxy.strike(Break::Cut);
    wait_server(&mut rig.events, |e| match e {
        Event::Detached(..) => Some(()),
        _ => None,
    })
    .await;
    assert!(rig.at_server.is_detached());
    let started = Instant::now();
    within(
        "the shutdown",
        rig.server.shutdown(Duration::from_millis(200)),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    within("closed()", rig.at_server.closed()).await.unwrap();
    // The server's calls to the client fail saying why.
    for call in calls.into_iter().skip(CALLS) {
        let error = within("a call to fail", call).await.unwrap().unwrap_err();
        assert!(error.message().contains("shutting down"), "{error}");
    }
    rig.client.close();
}

/// Failover: the session's server is out of reach and the client's next
/// URL is another server, which knows no such session. The resume is
/// refused there ("unknown session"), the calls in flight fail with
/// `NotResumed` saying so, and the client starts a new session on it.
#[tokio::test]
async fn a_resume_at_another_server_is_refused_and_the_client_starts_afresh() {
    let mut rig = Rig::start(config(true), config(true), 0).await;
    let other = Server::builder()
        .config(config(true))
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut other_events = other.events();
    // A second client, like the rig's but with a fallback URL.
    let client = Client::builder(url(rig.proxy.addr))
        .fallback_urls([url(other.local_addr())])
        .config(config(true))
        .backoff(Backoff::default().initial(Duration::from_millis(20)))
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    let id = conn.id().clone();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { checked_call(&conn, "failover").await })
        })
        .collect();
    for _ in 0..10 {
        within("a call to arrive", rig.arrivals.recv()).await;
    }
    // The first server is out of reach from now on.
    rig.proxy.set(Mode::Stall);
    rig.proxy.strike(Break::Cut);
    for call in calls {
        let error = within("a call to fail", call).await.unwrap().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotResumed, "{error}");
        assert!(error.message().contains("unknown session"), "{error}");
    }
    let fresh = next_received(&mut other_events).await;
    assert_ne!(fresh.id(), &id);
    let live = within("the new session", client.connected()).await.unwrap();
    assert_eq!(live.id(), fresh.id());
    live.call(post("/echo", "again")).await.unwrap();
    assert_eq!(other.stats().refused_resumes, 1);
}
