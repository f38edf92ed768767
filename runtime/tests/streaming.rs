//! Streamed responses, close notification and cancellation: the Go
//! original's three scenarios, plus interleaving, flow control and faults.
//! Each scenario runs with the streaming extension and in Go's form.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use swaggersocket::{service_fn, Body, Client, Config, ErrorKind, Server};
use tokio::sync::mpsc;

/// A server with `service` and a client connected to it; `streaming`
/// chooses the extension or Go's form.
async fn pair<S>(service: S, streaming: bool, config: Config) -> (Server, Client)
where
    S: tower::Service<Request<Bytes>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let config = config.streaming(streaming);
    let server = Server::builder()
        .config(config.clone())
        .serve(service)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .config(config)
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.connection().supports_streaming(), streaming);
    (server, client)
}

/// `n` chunks `chunk 1\n`…, `every` apart; counts what it produced.
fn ticking(n: usize, every: Duration, produced: Arc<AtomicUsize>) -> Body {
    let (tx, body) = Body::channel();
    tokio::spawn(async move {
        for i in 1..=n {
            if i > 1 {
                tokio::time::sleep(every).await;
            }
            if tx.send(format!("chunk {i}\n")).await.is_err() {
                return;
            }
            produced.fetch_add(1, Ordering::SeqCst);
        }
    });
    body
}

async fn simple(streaming: bool) {
    let (_server, client) = pair(
        service_fn(|_req: Request<Bytes>| async move {
            Ok::<_, Infallible>(Response::new(Body::from_stream(
                futures_util::stream::iter([
                    Ok::<_, Infallible>(Bytes::from_static(b"{\"hello\":")),
                    Ok(Bytes::from_static(b"\"dolores\"}")),
                ]),
            )))
        }),
        streaming,
        Config::new(),
    )
    .await;
    let r = client.connection().call(get("/simple")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), "{\"hello\":\"dolores\"}");
    // The connection stays usable after a stream.
    let r = client.connection().call(get("/again")).await.unwrap();
    assert_eq!(r.body(), "{\"hello\":\"dolores\"}");
}

#[tokio::test]
async fn go_scenario_simple_with_extension() {
    init_tracing();
    simple(true).await;
}

#[tokio::test]
async fn go_scenario_simple_in_go_form() {
    init_tracing();
    simple(false).await;
}

/// Ten chunks flushed 250 ms apart arrive one by one: when the caller has
/// chunk k, the handler has not produced chunk k+2 yet.
async fn ten_chunks(streaming: bool) {
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let (_server, client) = pair(
        service_fn(move |_req: Request<Bytes>| {
            let counter = counter.clone();
            async move {
                let mut r = Response::new(ticking(10, Duration::from_millis(250), counter));
                r.headers_mut()
                    .insert("content-type", "text/plain".parse().unwrap());
                Ok::<_, Infallible>(r)
            }
        }),
        streaming,
        Config::new(),
    )
    .await;
    let started = Instant::now();
    let response = client
        .connection()
        .call_streaming(get("/ticks"))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain");
    let mut body = response.into_body();
    assert!(body.is_streamed());
    let mut got = Vec::new();
    while let Some(chunk) = within("a chunk", body.next()).await {
        let chunk = chunk.unwrap();
        let k = got.len() + 1;
        assert_eq!(chunk, format!("chunk {k}\n").as_bytes());
        assert!(
            produced.load(Ordering::SeqCst) <= k + 1,
            "chunk {k} arrived only after {} were produced",
            produced.load(Ordering::SeqCst)
        );
        got.push(chunk);
    }
    assert_eq!(got.len(), 10);
    assert!(started.elapsed() >= Duration::from_millis(2000));
}

#[tokio::test]
async fn go_scenario_ten_chunks_arrive_one_by_one_with_extension() {
    init_tracing();
    ten_chunks(true).await;
}

#[tokio::test]
async fn go_scenario_ten_chunks_arrive_one_by_one_in_go_form() {
    init_tracing();
    ten_chunks(false).await;
}

/// A handler that streams until the caller goes away, and reports when it
/// noticed.
fn until_gone(noticed: mpsc::UnboundedSender<Instant>) -> Body {
    let (tx, body) = Body::channel();
    tokio::spawn(async move {
        let mut i = 0u64;
        loop {
            i += 1;
            tokio::select! {
                _ = tx.closed() => break,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            if tx.send(format!("tick {i}\n")).await.is_err() {
                break;
            }
        }
        let _ = noticed.send(Instant::now());
    });
    body
}

async fn client_goes_away(streaming: bool, close_connection: bool) {
    let (noticed_tx, mut noticed) = mpsc::unbounded_channel();
    let (_server, client) = pair(
        service_fn(move |_req: Request<Bytes>| {
            let noticed_tx = noticed_tx.clone();
            async move { Ok::<_, Infallible>(Response::new(until_gone(noticed_tx))) }
        }),
        streaming,
        Config::new(),
    )
    .await;
    let mut body = client
        .connection()
        .call_streaming(get("/follow"))
        .await
        .unwrap()
        .into_body();
    for _ in 0..3 {
        within("a tick", body.next()).await.unwrap().unwrap();
    }
    let gone = Instant::now();
    if close_connection {
        client.close();
    } else {
        drop(body);
    }
    let at = within("the handler to notice", noticed.recv())
        .await
        .unwrap();
    assert!(
        at.duration_since(gone) < Duration::from_secs(2),
        "noticed after {:?}",
        at.duration_since(gone)
    );
}

#[tokio::test]
async fn go_scenario_handler_is_told_when_the_client_closes_mid_stream() {
    init_tracing();
    client_goes_away(true, true).await;
    client_goes_away(false, true).await;
}

#[tokio::test]
async fn dropping_the_body_stops_the_remote_producer() {
    init_tracing();
    client_goes_away(true, false).await;
}

/// Body `i` of `n` chunks: every byte says where it belongs.
fn numbered(tag: &str, i: usize, chunks: usize) -> Body {
    let pieces: Vec<Result<Bytes, Infallible>> = (0..chunks)
        .map(|c| Ok(Bytes::from(format!("{tag}:{i}:{c};").repeat(50))))
        .collect();
    Body::from_stream(futures_util::stream::iter(pieces).then(|p| async move {
        tokio::task::yield_now().await;
        p
    }))
}

fn expected(tag: &str, i: usize, chunks: usize) -> Vec<u8> {
    (0..chunks)
        .flat_map(|c| format!("{tag}:{i}:{c};").repeat(50).into_bytes())
        .collect()
}

#[tokio::test]
async fn fifty_streams_interleave_in_both_directions() {
    init_tracing();
    fn streamer(
        tag: &'static str,
    ) -> impl tower::Service<
        Request<Bytes>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send
           + Sync
           + 'static {
        service_fn(move |req: Request<Bytes>| async move {
            let i: usize = req.uri().path().trim_start_matches('/').parse().unwrap();
            Ok::<_, Infallible>(Response::new(numbered(tag, i, 20)))
        })
    }
    let server = Server::builder()
        .serve(streamer("server"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let client = Client::builder(url(server.local_addr()))
        .serve(streamer("client"))
        .connect()
        .await
        .unwrap();
    let down = next_received(&mut events).await;
    let up = client.connection();
    assert!(up.supports_streaming() && down.supports_streaming());
    let calls = (0..50).flat_map(|i| {
        [(up.clone(), "server", i), (down.clone(), "client", i)].map(|(conn, tag, i)| async move {
            let mut body = conn
                .call_streaming(get(&format!("/{i}")))
                .await
                .unwrap()
                .into_body();
            let mut all = Vec::new();
            let mut pieces = 0;
            while let Some(chunk) = body.next().await {
                all.extend_from_slice(&chunk.unwrap());
                pieces += 1;
            }
            assert!(pieces > 1, "stream {tag} {i} came in one piece");
            assert_eq!(all, expected(tag, i, 20), "stream {tag} {i}");
            all.len()
        })
    });
    let sizes = within("100 streams", futures_util::future::join_all(calls)).await;
    assert_eq!(sizes.len(), 100);
}

#[tokio::test]
async fn a_slow_reader_keeps_the_sender_within_the_window() {
    init_tracing();
    const WINDOW: usize = 64 * 1024;
    const CHUNK: usize = 16 * 1024;
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let (_server, client) = pair(
        service_fn(move |_req: Request<Bytes>| {
            let counter = counter.clone();
            async move {
                let (tx, body) = Body::channel();
                tokio::spawn(async move {
                    for _ in 0..200 {
                        if tx.send(vec![7u8; CHUNK]).await.is_err() {
                            return;
                        }
                        counter.fetch_add(CHUNK, Ordering::SeqCst);
                    }
                });
                Ok::<_, Infallible>(Response::new(body))
            }
        }),
        true,
        Config::new().stream_window(WINDOW),
    )
    .await;
    let mut body = client
        .connection()
        .call_streaming(get("/flood"))
        .await
        .unwrap()
        .into_body();
    let mut consumed = 0usize;
    let mut worst = 0usize;
    for _ in 0..40 {
        let chunk = within("a chunk", body.next()).await.unwrap().unwrap();
        consumed += chunk.len();
        // A slow reader: let the producer run ahead as far as it can.
        tokio::time::sleep(Duration::from_millis(5)).await;
        worst = worst.max(produced.load(Ordering::SeqCst) - consumed);
    }
    // In flight: the window, plus what sits in the handler's channel (4
    // chunks) and the chunk being split.
    let bound = WINDOW + 6 * CHUNK;
    assert!(
        worst <= bound,
        "producer ran {worst} bytes ahead (bound {bound})"
    );
    assert!(worst >= WINDOW / 2, "the window was not used: {worst}");
}

#[tokio::test]
async fn a_dropped_call_cancels_the_remote_handler() {
    init_tracing();
    struct Dropped(mpsc::UnboundedSender<()>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (_server, client) = pair(
        service_fn(move |_req: Request<Bytes>| {
            let guard = Dropped(dropped_tx.clone());
            let started_tx = started_tx.clone();
            async move {
                let _guard = guard;
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
                Ok::<_, Infallible>(Response::new(Body::empty()))
            }
        }),
        true,
        Config::new(),
    )
    .await;
    let conn = client.connection();
    let call = tokio::spawn(async move { conn.call(get("/slow")).await });
    within("the handler to start", started.recv())
        .await
        .unwrap();
    call.abort();
    within("the handler to be dropped", dropped.recv())
        .await
        .unwrap();
    // The connection is fine afterwards.
    assert!(!client.connection().is_closed());
}

#[tokio::test]
async fn a_stream_cut_by_a_connection_failure_ends_with_an_error() {
    init_tracing();
    for streaming in [true, false] {
        let server = Server::builder()
            .config(Config::new().streaming(streaming))
            .serve(service_fn(|_req: Request<Bytes>| async move {
                let (tx, _noticed) = mpsc::unbounded_channel();
                std::mem::forget(_noticed);
                Ok::<_, Infallible>(Response::new(until_gone(tx)))
            }))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let proxy = Proxy::start(server.local_addr()).await;
        let client = Client::builder(url(proxy.addr))
            // A cut stream must end with an error: no resume.
            .config(Config::new().streaming(streaming).resume(false))
            .keep_alive(false)
            .connect()
            .await
            .unwrap();
        let mut body = client
            .connection()
            .call_streaming(get("/follow"))
            .await
            .unwrap()
            .into_body();
        within("a tick", body.next()).await.unwrap().unwrap();
        proxy.cut();
        let end = loop {
            match within("the end of the stream", body.next()).await {
                Some(Ok(_)) => continue,
                other => break other,
            }
        };
        let err = end
            .expect("a cut stream must not end silently")
            .unwrap_err();
        assert!(err.is_connection_lost(), "{err}");
        assert!(err.to_string().contains("cut"), "{err}");
    }
}

#[tokio::test]
async fn call_collects_a_stream_and_limits_its_size() {
    init_tracing();
    let (_server, client) = pair(
        service_fn(|_req: Request<Bytes>| async move {
            let pieces = (0..40).map(|_| Ok::<_, Infallible>(Bytes::from(vec![1u8; 1024])));
            Ok::<_, Infallible>(Response::new(Body::from_stream(
                futures_util::stream::iter(pieces),
            )))
        }),
        true,
        Config::new().max_message_size(16 * 1024),
    )
    .await;
    let err = client.connection().call(get("/big")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MessageTooLarge);
    assert!(err.to_string().contains("call_streaming"), "{err}");
    let mut body = client
        .connection()
        .call_streaming(get("/big"))
        .await
        .unwrap()
        .into_body();
    let mut total = 0;
    while let Some(chunk) = body.next().await {
        total += chunk.unwrap().len();
    }
    assert_eq!(total, 40 * 1024);
}

#[tokio::test]
async fn a_failing_producer_cuts_the_stream_with_its_error() {
    init_tracing();
    let (_server, client) = pair(
        service_fn(|_req: Request<Bytes>| async move {
            let (tx, body) = Body::channel();
            tokio::spawn(async move {
                tx.send("partial").await.unwrap();
                tx.abort("disk on fire").await;
            });
            Ok::<_, Infallible>(Response::new(body))
        }),
        true,
        Config::new(),
    )
    .await;
    let err = client.connection().call(get("/fails")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("disk on fire"), "{err}");
}
