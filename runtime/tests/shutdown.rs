//! Graceful shutdown: nothing in flight is lost, nothing is answered twice.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use swaggersocket::{service_fn, Body, Client, Config, Connection, Error, ErrorKind, Server};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How many times each payload reached a handler.
type Served = Arc<Mutex<HashMap<Bytes, usize>>>;

/// Echoes the body. `/fast/..` waits until `release` turns true, `/slow/..`
/// never answers, `/probe` answers at once; the others report their arrival.
fn gated(
    arrived: mpsc::UnboundedSender<()>,
    release: watch::Receiver<bool>,
    served: Served,
) -> impl tower::Service<
    Request<Bytes>,
    Response = Response<Bytes>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    service_fn(move |request: Request<Bytes>| {
        let arrived = arrived.clone();
        let mut release = release.clone();
        let served = served.clone();
        async move {
            let path = request.uri().path().to_owned();
            if path != "/probe" {
                *served
                    .lock()
                    .unwrap()
                    .entry(request.body().clone())
                    .or_default() += 1;
                let _ = arrived.send(());
                if path.starts_with("/slow/") {
                    std::future::pending::<()>().await;
                }
                let _ = release.wait_for(|go| *go).await;
            }
            Ok::<_, Infallible>(Response::new(request.into_body()))
        }
    })
}

/// Room for every call of the test to run at once.
fn roomy() -> Config {
    Config::new()
        .max_concurrent_handlers(4096)
        .max_in_flight_calls(4096)
}

type Call = JoinHandle<(bool, Bytes, Result<Response<Bytes>, Error>)>;

/// Starts `n` calls on `conn`, each with its own payload: half fast and
/// half slow `with_slow`, else all fast.
fn start_calls(conn: &Connection, n: usize, tag: &str, with_slow: bool) -> Vec<Call> {
    (0..n)
        .map(|i| {
            let conn = conn.clone();
            let slow = with_slow && i % 2 == 1;
            let payload = Bytes::from(format!("{tag}-{i}"));
            let path = if slow { "/slow/x" } else { "/fast/x" };
            let request = post(path, payload.clone());
            tokio::spawn(async move { (slow, payload, conn.call(request).await) })
        })
        .collect()
}

/// Every fast call answered with its own payload, every slow one failed
/// saying "shutting down" (and `must_say` too); returns (answered, failed).
async fn tally(calls: Vec<Call>, must_say: &str) -> (usize, usize) {
    let (mut answered, mut failed) = (0, 0);
    for call in calls {
        let (slow, payload, result) = within("a call to end", call).await.unwrap();
        match result {
            Ok(response) => {
                assert!(!slow, "a call that never finishes was answered");
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(response.body(), &payload, "answered to the wrong caller");
                answered += 1;
            }
            Err(error) => {
                assert!(
                    slow,
                    "a call that finished within the grace failed: {error}"
                );
                assert_eq!(error.kind(), ErrorKind::Closed, "{error}");
                let text = error.to_string();
                assert!(text.contains("shutting down"), "{text}");
                assert!(text.contains(must_say), "{text}");
                failed += 1;
            }
        }
    }
    (answered, failed)
}

/// Each payload reached its handler exactly once.
fn each_served_once(served: &Served, n: usize) {
    let served = served.lock().unwrap();
    assert_eq!(served.len(), n);
    assert!(served.values().all(|&count| count == 1), "{served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_with_a_thousand_calls_in_flight_each_way() {
    init_tracing();
    const N: usize = 1000;
    let grace = Duration::from_secs(3);
    let (release_tx, release) = watch::channel(false);
    let (server_arrived, mut arrivals) = mpsc::unbounded_channel();
    let client_arrived = server_arrived.clone();
    let served_by_server = Served::default();
    let served_by_client = Served::default();
    let server = Server::builder()
        .config(roomy())
        .serve(gated(
            server_arrived,
            release.clone(),
            served_by_server.clone(),
        ))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let client = Client::builder(url(server.local_addr()))
        .config(roomy())
        .keep_alive(false)
        .serve(gated(client_arrived, release, served_by_client.clone()))
        .connect()
        .await
        .unwrap();
    let at_server = next_received(&mut events).await;
    let client_conn = client.connection();

    let test = async {
        let client_calls = start_calls(&client_conn, N, "c", true);
        let server_calls = start_calls(&at_server, N, "s", true);
        for _ in 0..2 * N {
            arrivals.recv().await.unwrap();
        }
        // Every call of both directions is in a handler: shut down now.
        let shutdown = tokio::spawn(async move {
            server.shutdown(grace).await;
            server
        });
        // Draining has begun once the server answers new requests 503.
        loop {
            let probe = client_conn.call(get("/probe")).await.unwrap();
            if probe.status() == StatusCode::SERVICE_UNAVAILABLE {
                let text = String::from_utf8_lossy(probe.body()).into_owned();
                assert!(text.contains("shutting down"), "{text}");
                break;
            }
            tokio::task::yield_now().await;
        }
        let refused = at_server.call(get("/probe")).await.unwrap_err();
        assert!(refused.to_string().contains("shutting down"), "{refused}");
        // New connections are refused: the listener is closed before
        // draining starts.
        let addr = client_conn.remote_addr().unwrap();
        let err = Client::builder(url(addr))
            .keep_alive(false)
            .connect()
            .await
            .unwrap_err();
        assert!(err.is_connection_lost(), "{err}");
        // The fast handlers finish within the grace, the slow never do.
        release_tx.send_replace(true);
        let (answered, failed) = tally(client_calls, "code 1001").await;
        assert_eq!((answered, failed), (N / 2, N / 2));
        let (answered, failed) = tally(server_calls, "server shutting down").await;
        assert_eq!((answered, failed), (N / 2, N / 2));
        let server = shutdown.await.unwrap();
        assert!(server.connections().is_empty());
        // The client saw the close: its connection ended, not failed.
        assert!(client_conn.closed().await.is_ok());
    };
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the shutdown test hung");
    each_served_once(&served_by_server, N);
    each_served_once(&served_by_client, N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_shutdown_lets_calls_finish_both_ways() {
    init_tracing();
    const N: usize = 100;
    let (release_tx, release) = watch::channel(false);
    let (server_arrived, mut arrivals) = mpsc::unbounded_channel();
    let client_arrived = server_arrived.clone();
    let served_by_server = Served::default();
    let served_by_client = Served::default();
    let server = Server::builder()
        .serve(gated(
            server_arrived,
            release.clone(),
            served_by_server.clone(),
        ))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let client = Arc::new(
        Client::builder(url(server.local_addr()))
            .serve(gated(client_arrived, release, served_by_client.clone()))
            .connect()
            .await
            .unwrap(),
    );
    let at_server = next_received(&mut events).await;
    let client_conn = client.connection();
    let test = async {
        let client_calls = start_calls(&client_conn, N, "c", true);
        let server_calls = start_calls(&at_server, N, "s", true);
        for _ in 0..2 * N {
            arrivals.recv().await.unwrap();
        }
        let shutdown = tokio::spawn({
            let client = client.clone();
            async move { client.shutdown(Duration::from_secs(1)).await }
        });
        loop {
            let probe = at_server.call(get("/probe")).await.unwrap();
            if probe.status() == StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::task::yield_now().await;
        }
        release_tx.send_replace(true);
        let (answered, failed) = tally(client_calls, "client shutting down").await;
        assert_eq!((answered, failed), (N / 2, N / 2));
        // The server sees the client go away with 1001.
        let (answered, failed) = tally(server_calls, "code 1001").await;
        assert_eq!((answered, failed), (N / 2, N / 2));
        shutdown.await.unwrap();
        // It does not come back.
        let err = client.connected().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed);
    };
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("the shutdown test hung");
    each_served_once(&served_by_server, N);
    each_served_once(&served_by_client, N);
}

/// A handler whose streamed body sends one chunk and then never ends.
fn endless_stream() -> impl tower::Service<
    Request<Bytes>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    service_fn(|_request: Request<Bytes>| async move {
        let (tx, body) = Body::channel();
        tokio::spawn(async move {
            let _ = tx.send("first").await;
            tx.closed().await;
        });
        Ok::<_, Infallible>(Response::new(body))
    })
}

async fn streamed_response_ends_with_an_error(streaming: bool) {
    init_tracing();
    let server = Server::builder()
        .serve(endless_stream())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .config(Config::new().streaming(streaming))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    let response = client
        .connection()
        .call_streaming(get("/stream"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = within("the first chunk", body.chunk())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, "first");
    within("the shutdown", server.shutdown(Duration::from_millis(200))).await;
    let error = within("the end of the body", body.chunk())
        .await
        .expect("the body must not end silently")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Closed, "{error}");
    assert!(error.to_string().contains("shutting down"), "{error}");
    assert!(within("no more", body.chunk()).await.is_none());
}

#[tokio::test]
async fn a_streamed_response_in_progress_ends_with_an_error() {
    streamed_response_ends_with_an_error(true).await;
}

#[tokio::test]
async fn a_go_form_streamed_response_in_progress_ends_with_an_error() {
    streamed_response_ends_with_an_error(false).await;
}

#[tokio::test]
async fn shutdown_of_an_idle_server_is_prompt_and_refuses_new_clients() {
    init_tracing();
    let server = echo_server().await;
    let mut events = server.events();
    let addr = server.local_addr();
    let client = Client::builder(url(addr))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    next_received(&mut events).await;
    // Nothing in flight: no need to wait for the grace.
    within("the shutdown", server.shutdown(Duration::from_secs(60))).await;
    assert!(within("the close", client.connection().closed())
        .await
        .is_ok());
    let err = client.connection().call(get("/x")).await.unwrap_err();
    assert!(err.to_string().contains("code 1001"), "{err}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// When everything under way finishes, the shutdown does not wait for the
/// grace, and the last answers still reach their callers before the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_as_soon_as_the_last_call_is_answered() {
    init_tracing();
    const N: usize = 1000;
    let (release_tx, release) = watch::channel(false);
    let (server_arrived, mut arrivals) = mpsc::unbounded_channel();
    let client_arrived = server_arrived.clone();
    let served_by_server = Served::default();
    let served_by_client = Served::default();
    let server = Server::builder()
        .config(roomy())
        .serve(gated(
            server_arrived,
            release.clone(),
            served_by_server.clone(),
        ))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let client = Client::builder(url(server.local_addr()))
        .config(roomy())
        .keep_alive(false)
        .serve(gated(client_arrived, release, served_by_client.clone()))
        .connect()
        .await
        .unwrap();
    let at_server = next_received(&mut events).await;
    let client_conn = client.connection();
    let client_calls = start_calls(&client_conn, N, "c", false);
    let server_calls = start_calls(&at_server, N, "s", false);
    for _ in 0..2 * N {
        within("a call to arrive", arrivals.recv()).await.unwrap();
    }
    let shutdown = tokio::spawn(async move {
        // Far longer than the test may take: it must end when idle.
        server.shutdown(Duration::from_secs(3600)).await;
    });
    loop {
        let probe = client_conn.call(get("/probe")).await.unwrap();
        if probe.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::task::yield_now().await;
    }
    release_tx.send_replace(true);
    within("the shutdown", shutdown).await.unwrap();
    assert_eq!(tally(client_calls, "-").await, (N, 0));
    assert_eq!(tally(server_calls, "-").await, (N, 0));
    assert!(within("the close", client_conn.closed()).await.is_ok());
    each_served_once(&served_by_server, N);
    each_served_once(&served_by_client, N);
}
