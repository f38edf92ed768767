//! Handshake, events and multiplexed calls over real sockets on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use swaggersocket::{service_fn, Client, Config, ErrorKind, Event, Server};

#[tokio::test]
async fn handshake_carries_metadata_and_assigns_a_uuid() {
    init_tracing();
    let server = echo_server().await;
    let mut events = server.events();
    let meta = serde_json::json!({"device": "sensor-7", "tags": [1, 2]});
    let client = Client::builder(url(server.local_addr()))
        .metadata(meta.clone())
        .connect()
        .await
        .unwrap();
    let on_server = next_received(&mut events).await;
    let on_client = client.connection();
    assert_eq!(on_server.id(), on_client.id());
    assert_eq!(on_server.metadata(), &meta);
    let uuid = uuid::Uuid::parse_str(on_client.id().as_str()).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(
        server.connection(on_client.id().as_str()).unwrap().id(),
        on_client.id()
    );
    assert_eq!(server.find(|m| m["device"] == "sensor-7").len(), 1);
    assert!(server.find(|m| m["device"] == "other").is_empty());
    assert_eq!(
        on_server.remote_addr().map(|a| a.ip().is_loopback()),
        Some(true)
    );
}

#[tokio::test]
async fn events_are_raised_exactly_once_per_connection() {
    init_tracing();
    let server = echo_server().await;
    let mut events = server.events();

    // A graceful close: Received, then Closed.
    let first = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let first_id = first.connection().id().clone();
    assert!(matches!(next_event(&mut events).await, Event::Received(c) if *c.id() == first_id));
    first.close();
    match next_event(&mut events).await {
        Event::Closed(id) => assert_eq!(id, first_id),
        other => panic!("expected Closed, got {other:?}"),
    }

    // An abrupt loss: Received, then Failure.
    let proxy = Proxy::start(server.local_addr()).await;
    let second = Client::builder(url(proxy.addr))
        .keep_alive(false)
        .connect()
        .await
        .unwrap();
    let second_id = second.connection().id().clone();
    assert!(matches!(next_event(&mut events).await, Event::Received(c) if *c.id() == second_id));
    proxy.cut();
    match next_event(&mut events).await {
        Event::Failure(id, _) => assert_eq!(id, second_id),
        other => panic!("expected Failure, got {other:?}"),
    }
    assert!(
        server.connection(second_id.as_str()).is_none(),
        "a dead connection stays registered"
    );

    // A third connection's events come next: nothing was raised twice.
    let third = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    match next_event(&mut events).await {
        Event::Received(c) => assert_eq!(c.id(), third.connection().id()),
        other => panic!("a stale event arrived: {other:?}"),
    }
}

#[tokio::test]
async fn a_thousand_concurrent_calls_complete_out_of_order_and_all_match() {
    init_tracing();
    // Later requests finish first: the handler waits longer for lower numbers.
    let server = Server::builder()
        .serve(service_fn(|req: Request<Bytes>| async move {
            let n: u64 = req
                .uri()
                .path()
                .trim_start_matches('/')
                .parse()
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis((1000 - n) % 50)).await;
            echo(req).await
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = (0..1000u64).map(|n| {
        let conn = conn.clone();
        let order = order.clone();
        async move {
            let body = format!("body of call {n}");
            let response = conn
                .call(post(&format!("/{n}"), body.clone()))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.body(),
                body.as_bytes(),
                "call {n} got another call's body"
            );
            assert_eq!(response.headers()["x-echo-path"], format!("/{n}").as_str());
            order.lock().unwrap().push(n);
        }
    });
    within("1000 calls", futures_util::future::join_all(calls)).await;
    let order = order.lock().unwrap();
    assert_eq!(order.len(), 1000);
    assert!(
        order.windows(2).any(|w| w[0] > w[1]),
        "responses all came back in order"
    );
}

#[tokio::test]
async fn calls_flow_in_both_directions_at_once() {
    init_tracing();
    let server = echo_server().await;
    let mut events = server.events();
    let client = Client::builder(url(server.local_addr()))
        .serve(service_fn(|req: Request<Bytes>| async move {
            let mut response = echo(req).await?;
            response
                .headers_mut()
                .insert("x-served-by", "client".parse().unwrap());
            Ok::<_, Infallible>(response)
        }))
        .connect()
        .await
        .unwrap();
    let server_side = next_received(&mut events).await;
    let client_side = client.connection();
    let up = (0..200).map(|i| {
        let c = client_side.clone();
        async move {
            let r = c.call(post("/up", format!("up {i}"))).await.unwrap();
            assert_eq!(r.body(), format!("up {i}").as_bytes());
            assert!(r.headers().get("x-served-by").is_none());
        }
    });
    let down = (0..200).map(|i| {
        let c = server_side.clone();
        async move {
            let r = c.call(post("/down", format!("down {i}"))).await.unwrap();
            assert_eq!(r.body(), format!("down {i}").as_bytes());
            assert_eq!(r.headers()["x-served-by"], "client");
        }
    });
    within(
        "calls both ways",
        futures_util::future::join(
            futures_util::future::join_all(up),
            futures_util::future::join_all(down),
        ),
    )
    .await;
}

#[tokio::test]
async fn a_slow_handler_does_not_hold_up_other_calls() {
    init_tracing();
    let (release, released) = tokio::sync::watch::channel(false);
    let server = Server::builder()
        .serve(service_fn(move |req: Request<Bytes>| {
            let mut released = released.clone();
            async move {
                if req.uri().path() == "/slow" {
                    let _ = released.wait_for(|r| *r).await;
                }
                echo(req).await
            }
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    let slow = tokio::spawn({
        let conn = conn.clone();
        async move { conn.call(get("/slow")).await }
    });
    for i in 0..20 {
        let r = within("a fast call", conn.call(get(&format!("/fast/{i}"))))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert!(!slow.is_finished());
    release.send_replace(true);
    let r = within("the slow call", slow).await.unwrap().unwrap();
    assert_eq!(r.headers()["x-echo-path"], "/slow");
}

#[tokio::test]
async fn binary_bodies_round_trip() {
    init_tracing();
    let server = echo_server().await;
    let client = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let body: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let r = client
        .connection()
        .call(post("/bin", body.clone()))
        .await
        .unwrap();
    assert_eq!(r.body().as_ref(), body.as_slice());
}

#[tokio::test]
async fn the_connection_is_a_tower_service() {
    use tower::ServiceExt;
    init_tracing();
    let server = echo_server().await;
    let client = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let svc = tower::ServiceBuilder::new()
        .map_request(|mut req: Request<Bytes>| {
            req.headers_mut().insert("x-layer", "1".parse().unwrap());
            req
        })
        .service(client.connection());
    let r: Response<Bytes> = svc.oneshot(post("/tower", "via tower")).await.unwrap();
    assert_eq!(r.body(), "via tower");
}

#[tokio::test]
async fn handlers_see_the_connection_they_serve() {
    init_tracing();
    let server = Server::builder()
        .serve(service_fn(|req: Request<Bytes>| async move {
            let conn = req.extensions().get::<swaggersocket::Connection>().cloned();
            let text = conn
                .map(|c| format!("{} {}", c.id(), c.metadata()))
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Bytes::from(text)))
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .metadata(serde_json::json!("meta!"))
        .connect()
        .await
        .unwrap();
    let r = client.connection().call(get("/who")).await.unwrap();
    let expected = format!("{} \"meta!\"", client.connection().id());
    assert_eq!(r.body(), expected.as_bytes());
}

#[tokio::test]
async fn a_call_times_out_when_no_answer_comes() {
    init_tracing();
    let server = Server::builder()
        .serve(service_fn(|_req: Request<Bytes>| async move {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(Bytes::new()))
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .config(Config::new().call_timeout(Some(Duration::from_millis(200))))
        .connect()
        .await
        .unwrap();
    let err = within("the timeout", client.connection().call(get("/never")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.to_string().contains("200 ms"), "{err}");
}

/// The connection's deadline sweep (one timer for all calls): calls started
/// at different moments each time out at their own deadline, the peer's
/// handlers for them are stopped, and calls answered meanwhile, before and
/// after, are unaffected.
#[tokio::test]
async fn calls_time_out_each_at_its_own_deadline_and_their_handlers_stop() {
    init_tracing();
    let stopped = Arc::new(tokio::sync::Semaphore::new(0));
    let server = {
        let stopped = stopped.clone();
        Server::builder()
            .serve(service_fn(move |req: Request<Bytes>| {
                let stopped = stopped.clone();
                async move {
                    if req.uri().path() == "/never" {
                        // Dropped when the caller's cancel arrives.
                        struct Stopped(Arc<tokio::sync::Semaphore>);
                        impl Drop for Stopped {
                            fn drop(&mut self) {
                                self.0.add_permits(1);
                            }
                        }
                        let _stopped = Stopped(stopped);
                        std::future::pending::<()>().await;
                    }
                    echo(req).await
                }
            }))
            .bind("127.0.0.1:0")
            .await
            .unwrap()
    };
    let limit = Duration::from_millis(300);
    let client = Client::builder(url(server.local_addr()))
        .config(Config::new().call_timeout(Some(limit)))
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    assert_eq!(conn.call(post("/before", "a")).await.unwrap().body(), "a");
    let timed = |conn: swaggersocket::Connection| async move {
        let started = std::time::Instant::now();
        let err = conn.call(get("/never")).await.unwrap_err();
        (err, started.elapsed())
    };
    let first = tokio::spawn(timed(conn.clone()));
    // A second call starts once the first is surely under way, and answered
    // calls come and go while both wait.
    for i in 0..20 {
        let body = format!("meanwhile {i}");
        assert_eq!(
            conn.call(post("/x", body.clone())).await.unwrap().body(),
            &body
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = tokio::spawn(timed(conn.clone()));
    for task in [first, second] {
        let (err, elapsed) = within("a timeout", task).await.unwrap();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(err.to_string().contains("300 ms"), "{err}");
        assert!(elapsed >= limit, "timed out after {elapsed:?}");
        assert!(elapsed < limit * 4, "timed out only after {elapsed:?}");
    }
    // Both remote handlers were stopped.
    within("the handlers to stop", stopped.acquire_many(2))
        .await
        .unwrap()
        .forget();
    assert_eq!(conn.call(post("/after", "b")).await.unwrap().body(), "b");
}

#[tokio::test]
async fn a_handler_that_panics_gets_500_and_the_connection_lives_on() {
    init_tracing();
    let server = Server::builder()
        .serve(service_fn(|req: Request<Bytes>| async move {
            if req.uri().path() == "/panic" {
                panic!("handler bug");
            }
            echo(req).await
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    let r = conn.call(get("/panic")).await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(std::str::from_utf8(r.body()).unwrap().contains("panicked"));
    let r = conn.call(post("/after", "still here")).await.unwrap();
    assert_eq!(r.body(), "still here");
}

#[tokio::test]
async fn handler_limit_answers_503_to_the_extra_request() {
    init_tracing();
    let (release, released) = tokio::sync::watch::channel(false);
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder()
        .config(
            Config::new()
                .max_concurrent_handlers(2)
                .max_queued_requests(0),
        )
        .serve(service_fn(move |req: Request<Bytes>| {
            let mut released = released.clone();
            let arrived_tx = arrived_tx.clone();
            async move {
                if req.uri().path() == "/hold" {
                    let _ = arrived_tx.send(());
                    let _ = released.wait_for(|r| *r).await;
                }
                echo(req).await
            }
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call(get("/hold")).await })
        })
        .collect();
    for _ in 0..2 {
        within("a held request", arrived.recv()).await.unwrap();
    }
    let over = within("the extra call", conn.call(get("/extra")))
        .await
        .unwrap();
    assert_eq!(over.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(std::str::from_utf8(over.body())
        .unwrap()
        .contains("limit 2"));
    release.send_replace(true);
    for h in held {
        assert_eq!(
            within("held call", h).await.unwrap().unwrap().status(),
            StatusCode::OK
        );
    }
    // With the slots free again, the same call goes through.
    assert_eq!(
        conn.call(get("/extra")).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn in_flight_limit_fails_the_extra_call_locally() {
    init_tracing();
    let server = Server::builder()
        .serve(service_fn(|_req: Request<Bytes>| async move {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(Bytes::new()))
        }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .config(Config::new().max_in_flight_calls(3))
        .connect()
        .await
        .unwrap();
    let conn = client.connection();
    // A call takes its place in the table on its first poll.
    let mut waiting: Vec<_> = (0..3).map(|_| Box::pin(conn.call(get("/wait")))).collect();
    for call in &mut waiting {
        assert!(call.now_or_never().is_none());
    }
    let err = within("the limit", conn.call(get("/extra")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyInFlight);
    assert!(err.to_string().contains("3 calls"), "{err}");
    // Dropping a waiting call frees its place.
    waiting.pop();
    let mut again = Box::pin(conn.call(get("/wait")));
    assert!((&mut again).now_or_never().is_none());
}

#[tokio::test]
async fn an_unserved_connection_answers_503() {
    init_tracing();
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let client = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let r = client.connection().call(get("/x")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(std::str::from_utf8(r.body())
        .unwrap()
        .contains("no handler"));
}
