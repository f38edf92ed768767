//! Network faults injected by a proxy between client and server: every call
//! in flight fails promptly with an error that names the cause, the client
//! reconnects and serves again, and no call is answered twice or to the
//! wrong caller.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::fault_proxy::{Break, FaultProxy, Mode};
use common::*;
use http::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use swaggersocket::{service_fn, Backoff, Client, Config, Connection, Error, IntoHandler, Server};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const HEARTBEAT: Duration = Duration::from_millis(100);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(600);
/// Room for a loaded machine on top of the heartbeat timeout.
const SLACK: Duration = Duration::from_secs(3);
const HELD: usize = 50;

/// How many times each payload reached a handler.
type Served = Arc<Mutex<HashMap<Bytes, usize>>>;

/// `/hold` reports its arrival and never answers; anything else echoes.
fn holding(arrived: mpsc::UnboundedSender<()>, served: Served) -> impl IntoHandler {
    service_fn(move |request: Request<Bytes>| {
        let arrived = arrived.clone();
        let served = served.clone();
        async move {
            *served
                .lock()
                .unwrap()
                .entry(request.body().clone())
                .or_default() += 1;
            if request.uri().path() == "/hold" {
                let _ = arrived.send(());
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::new(request.into_body()))
        }
    })
}

fn config(pongs: &mpsc::UnboundedSender<()>) -> Config {
    let pongs = pongs.clone();
    // Without resumable sessions: every call in flight must fail
    // (tests/resume.rs covers the other way).
    Config::new()
        .heartbeat(Some(HEARTBEAT))
        .heartbeat_timeout(HEARTBEAT_TIMEOUT)
        .resume(false)
        .on_pong(move |_| {
            let _ = pongs.send(());
        })
}

static PAYLOAD: AtomicU64 = AtomicU64::new(0);

/// A payload no other call of this test binary carries.
fn unique(tag: &str) -> Bytes {
    Bytes::from(format!("{tag}-{}", PAYLOAD.fetch_add(1, Ordering::Relaxed)))
}

/// Calls `path` with a unique payload; an answer must echo it.
async fn checked_call(conn: &Connection, path: &str, tag: &str) -> Result<(), Error> {
    let payload = unique(tag);
    let response = conn.call(post(path, payload.clone())).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), &payload, "answered to the wrong caller");
    Ok(())
}

struct Rig {
    _server: Server,
    events: swaggersocket::Events<swaggersocket::Event>,
    proxy: FaultProxy,
    client: Client,
    at_server: Connection,
    arrivals: mpsc::UnboundedReceiver<()>,
    server_pongs: mpsc::UnboundedReceiver<()>,
    client_pongs: mpsc::UnboundedReceiver<()>,
    served: [Served; 2],
}

impl Rig {
    async fn start() -> Rig {
        init_tracing();
        let (arrived, arrivals) = mpsc::unbounded_channel();
        let (server_pong, server_pongs) = mpsc::unbounded_channel();
        let (client_pong, client_pongs) = mpsc::unbounded_channel();
        let served = [Served::default(), Served::default()];
        let server = Server::builder()
            .config(config(&server_pong))
            .serve(holding(arrived.clone(), served[0].clone()))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let mut events = server.events();
        let proxy = FaultProxy::start(server.local_addr()).await;
        let client = Client::builder(url(proxy.addr))
            .config(config(&client_pong))
            .backoff(
                Backoff::default()
                    .initial(Duration::from_millis(20))
                    .max(Duration::from_millis(200)),
            )
            .serve(holding(arrived, served[1].clone()))
            .connect()
            .await
            .unwrap();
        let at_server = next_received(&mut events).await;
        Rig {
            _server: server,
            events,
            proxy,
            client,
            at_server,
            arrivals,
            server_pongs,
            client_pongs,
            served,
        }
    }

    /// Each side has seen the other answer a Ping (the heartbeat deadline
    /// holds from then on) and calls flow both ways.
    async fn settled(&mut self) {
        within("a Pong at the server", self.server_pongs.recv()).await;
        within("a Pong at the client", self.client_pongs.recv()).await;
        checked_call(&self.client.connection(), "/echo", "warm-c")
            .await
            .unwrap();
        checked_call(&self.at_server, "/echo", "warm-s")
            .await
            .unwrap();
    }

    /// `HELD` calls in each direction, all inside a handler.
    async fn hold_calls(&mut self) -> Vec<JoinHandle<Result<(), Error>>> {
        let mut calls = Vec::new();
        for conn in [self.client.connection(), self.at_server.clone()] {
            for _ in 0..HELD {
                let conn = conn.clone();
                calls.push(tokio::spawn(async move {
                    checked_call(&conn, "/hold", "held").await
                }));
            }
        }
        for _ in 0..2 * HELD {
            within("a held call to arrive", self.arrivals.recv()).await;
        }
        calls
    }

    /// Echo calls from the client, one after the other, across the fault
    /// and the reconnect; every answer must be the caller's own.
    fn load(&self, stop: CancellationToken) -> JoinHandle<usize> {
        let conn = self.client.connection();
        tokio::spawn(async move {
            let mut answered = 0;
            while !stop.is_cancelled() {
                match checked_call(&conn, "/echo", "load").await {
                    Ok(()) => answered += 1,
                    // The connection went; the next call would fail at once.
                    Err(_) => break,
                }
            }
            answered
        })
    }

    /// After the fault heals, the client comes back: the server calls the
    /// client's handler on the new connection, and the client calls the
    /// server.
    async fn serves_again(&mut self) {
        let fresh = next_received(&mut self.events).await;
        assert_ne!(fresh.id(), self.at_server.id());
        checked_call(&fresh, "/echo", "after-s").await.unwrap();
        let conn = within("the reconnect", self.client.connected())
            .await
            .unwrap();
        checked_call(&conn, "/echo", "after-c").await.unwrap();
        for served in &self.served {
            let served = served.lock().unwrap();
            assert!(served.values().all(|&n| n == 1), "served twice: {served:?}");
        }
    }
}

/// The error and its causes, as an error reporter prints them.
fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Runs one fault: every held call fails within the heartbeat timeout with
/// an error whose text contains one of `causes`.
async fn fault(strike: impl FnOnce(&FaultProxy), causes: &[&str]) {
    let mut rig = Rig::start().await;
    rig.settled().await;
    let calls = rig.hold_calls().await;
    let stop = CancellationToken::new();
    let load = rig.load(stop.clone());
    let struck = Instant::now();
    strike(&rig.proxy);
    for call in calls {
        let error = within("a held call to fail", call)
            .await
            .unwrap()
            .expect_err("a held call cannot be answered");
        let text = report(&error);
        assert!(
            causes.iter().any(|cause| text.contains(cause)),
            "{text} names none of {causes:?}"
        );
        assert!(error.is_connection_lost(), "{text}");
    }
    let took = struck.elapsed();
    assert!(
        took < HEARTBEAT_TIMEOUT + SLACK,
        "the calls took {took:?} to fail"
    );
    rig.proxy.set(Mode::Pass);
    stop.cancel();
    within("the load", load).await.unwrap();
    rig.serves_again().await;
}

#[tokio::test]
async fn stall_fails_calls_by_heartbeat_timeout_and_the_client_comes_back() {
    fault(|proxy| proxy.set(Mode::Stall), &["heartbeat timeout"]).await;
}

#[tokio::test]
async fn a_delay_past_the_heartbeat_timeout_counts_as_a_dead_peer() {
    fault(
        |proxy| proxy.set(Mode::Delay(HEARTBEAT_TIMEOUT * 3)),
        &["heartbeat timeout"],
    )
    .await;
}

#[tokio::test]
async fn cut_fails_calls_as_closed_and_the_client_comes_back() {
    fault(
        |proxy| proxy.strike(Break::Cut),
        &["closed the socket without a close frame"],
    )
    .await;
}

#[tokio::test]
async fn truncation_mid_frame_fails_calls_and_the_client_comes_back() {
    fault(
        |proxy| proxy.strike(Break::Truncate),
        &["closed the socket without a close frame"],
    )
    .await;
}

#[tokio::test]
async fn reset_fails_calls_as_reset_and_the_client_comes_back() {
    fault(|proxy| proxy.strike(Break::Reset), &["reset by peer"]).await;
}

/// A delay shorter than the heartbeat timeout only slows calls down: each
/// is answered, to its own caller, once.
#[tokio::test]
async fn a_short_delay_slows_calls_and_loses_none() {
    let mut rig = Rig::start().await;
    rig.settled().await;
    rig.proxy.set(Mode::Delay(Duration::from_millis(20)));
    let mut calls = Vec::new();
    for conn in [rig.client.connection(), rig.at_server.clone()] {
        for _ in 0..100 {
            let conn = conn.clone();
            calls.push(tokio::spawn(async move {
                checked_call(&conn, "/echo", "slow").await
            }));
        }
    }
    for call in calls {
        within("a delayed call", call).await.unwrap().unwrap();
    }
    assert!(!rig.client.connection().is_closed());
    for served in &rig.served {
        let served = served.lock().unwrap();
        assert!(served.values().all(|&n| n == 1), "served twice: {served:?}");
    }
}
