//! The HTTP gateway over one node (no NATS): a real server, real clients,
//! raw HTTP/1.1 over loopback.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{device, get, header, http, serve_http, Hooks};
use swaggersocket::Server;
use swaggersocket_cluster::{Gateway, Node, Reject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

async fn node() -> (Node, String) {
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", server.local_addr());
    (Node::builder().start(server).await.unwrap(), url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_forwards_and_streams() {
    let (node, url) = node().await;
    let next = Arc::new(Notify::new());
    let hooks = Hooks {
        next_event: Some(next.clone()),
        ..Hooks::default()
    };
    let a = device("sensor-7", std::slice::from_ref(&url), hooks).await;
    let _b = device("sensor-8", &[url], Hooks::default()).await;
    let id = a.connection().id().to_string();
    let addr = serve_http(Gateway::new(node.clone()).router()).await;

    // The list, filtered by metadata.
    let (status, headers, body) = http(addr, &get("/peers?device=sensor-7", "")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["peers"][0]["id"], id.as_str());
    assert_eq!(list["peers"][0]["metadata"]["device"], "sensor-7");
    assert_eq!(list["peers"][0]["node"], node.id());
    assert!(list["peers"][0]["remote_addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(list["peers"][0]["connected_since"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let (_, _, body) = http(addr, &get("/peers?kind=test", "")).await;
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["count"], 2);

    // A GET with its query, the device's headers back.
    let (status, headers, body) = http(addr, &get(&format!("/peers/{id}/hello?x=1"), "")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "x-device"), Some("sensor-7"));
    let hello: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        hello,
        serde_json::json!({"hello": "sensor-7", "query": "x=1"})
    );

    // A POST body, forwarded whole; a chunked request body too.
    let post = format!(
        "POST /peers/{id}/echo HTTP/1.1\r\nHost: g\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    );
    let (status, headers, body) = http(addr, &post).await;
    assert_eq!(status, 200);
    assert_eq!(body, b"hello world");
    assert_eq!(header(&headers, "x-length"), Some("11"));
    assert_eq!(header(&headers, "content-length"), Some("11"));

    // Hop-by-hop headers stay at the gateway; end-to-end ones go through.
    let extra = "Connection: close, x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-End: 2\r\nX-Gateway-Timeout: 5s\r\n";
    let (status, _, body) = http(addr, &get(&format!("/peers/{id}/headers"), extra)).await;
    assert_eq!(status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["x-end"], "2", "{seen}");
    for hop in [
        "x-hop",
        "keep-alive",
        "te",
        "connection",
        "x-gateway-timeout",
    ] {
        assert!(seen.get(hop).is_none(), "{hop} was forwarded: {seen}");
    }
    assert_eq!(seen["x-forwarded-host"], "gateway");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");

    // A streamed body comes back chunked.
    let (status, headers, body) =
        http(addr, &get(&format!("/peers/{id}/stream?n=4&size=100"), "")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "transfer-encoding"), Some("chunked"));
    assert_eq!(body.len(), 400);

    // Server-sent events arrive one by one: the second only after the test
    // let the device send it, so the first came through alone.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        get(
            &format!("/peers/{id}/events?n=2"),
            "Accept: text/event-stream\r\n",
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: tick 1") {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("the first event arrives before the stream ends")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).to_string();
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(!text.contains("tick 2"));
    next.notify_one();
    tcp.read_to_end(&mut seen).await.unwrap();
    let (status, _, body) = support::parse_response(&seen);
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "id: 1\ndata: tick 1\n\nid: 2\ndata: tick 2\n\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_their_status_and_a_clear_body() {
    let (node, url) = node().await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let hooks = Hooks {
        slow_started: Some(started_tx),
        slow_dropped: Some(dropped_tx),
        ..Hooks::default()
    };
    let client = device("sensor-7", &[url], hooks).await;
    let id = client.connection().id().to_string();
    let addr = serve_http(Gateway::new(node.clone()).router()).await;

    let (status, _, body) = http(addr, &get("/peers/no-such-peer/hello", "")).await;
    assert_eq!(status, 404);
    assert_eq!(body, b"no peer with id \"no-such-peer\" is connected\n");
    let (status, _, _) = http(addr, &get("/elsewhere", "")).await;
    assert_eq!(status, 404);
    let (status, _, _) = http(
        addr,
        "POST /peers HTTP/1.1\r\nHost: g\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405);

    // No head within the caller's deadline: 504; the call is dropped on
    // the device.
    let (status, _, body) = http(
        addr,
        &get(&format!("/peers/{id}/slow"), "X-Gateway-Timeout: 200ms\r\n"),
    )
    .await;
    assert_eq!(status, 504);
    assert_eq!(body, b"the peer did not answer within 200 ms\n");
    started.recv().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), dropped.recv())
        .await
        .expect("the timed-out call is cancelled on the device");
    let (status, _, body) = http(
        addr,
        &get(&format!("/peers/{id}/slow"), "X-Gateway-Timeout: soon\r\n"),
    )
    .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));

    // The HTTP caller goes away: the call is cancelled on the device.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(get(&format!("/peers/{id}/slow"), "").as_bytes())
        .await
        .unwrap();
    started.recv().await.unwrap();
    drop(tcp);
    tokio::time::timeout(Duration::from_secs(10), dropped.recv())
        .await
        .expect("the abandoned call is cancelled on the device");

    // The peer goes away mid-call: 502.
    let request = get(&format!("/peers/{id}/slow"), "");
    let call = tokio::spawn(async move { http(addr, &request).await });
    started.recv().await.unwrap();
    client.close();
    let (status, _, body) = call.await.unwrap();
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.starts_with("the call to the peer failed: connection closed"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_by_the_peer_ends_without_its_last_chunk() {
    let (node, url) = node().await;
    let client = device("sensor-7", &[url], Hooks::default()).await;
    let id = client.connection().id().to_string();
    let addr = serve_http(Gateway::new(node.clone()).router()).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    // A long stream; the device closes once the head is in.
    tcp.write_all(get(&format!("/peers/{id}/stream?n=100000&size=1000"), "").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    client.close();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest))
        .await
        .expect("the cut stream ends")
        .ok();
    assert!(
        !rest.ends_with(b"0\r\n\r\n"),
        "a cut stream must not look complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_hook_keeps_it_from_being_an_open_relay() {
    let (node, url) = node().await;
    let client = device("sensor-7", &[url], Hooks::default()).await;
    let id = client.connection().id().to_string();
    let gateway = Gateway::new(node.clone()).bearer_tokens(["operator-token"]);
    let addr = serve_http(gateway.router()).await;
    let (status, headers, body) = http(addr, &get("/peers", "")).await;
    assert_eq!(status, 401);
    let challenges: Vec<_> = headers
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .collect();
    assert_eq!(challenges.len(), 1, "{headers:?}");
    assert_eq!(header(&headers, "www-authenticate"), Some("Bearer"));
    assert!(String::from_utf8_lossy(&body).contains("Bearer"));
    let (status, _, _) = http(
        addr,
        &get(
            &format!("/peers/{id}/hello"),
            "Authorization: Bearer wrong\r\n",
        ),
    )
    .await;
    assert_eq!(status, 401);
    let auth = "Authorization: Bearer operator-token\r\n";
    let (status, _, _) = http(addr, &get("/peers", auth)).await;
    assert_eq!(status, 200);
    let (status, _, body) = http(addr, &get(&format!("/peers/{id}/headers"), auth)).await;
    assert_eq!(status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        seen.get("authorization").is_none(),
        "the gateway's token leaked: {seen}"
    );

    // A custom hook sees the peer asked for.
    let gateway = Gateway::new(node.clone()).authenticate(|req| async move {
        match req.peer() {
            Some(_) => Err(Reject::forbidden("no peer may be called")),
            None => Ok(()),
        }
    });
    let addr = serve_http(gateway.router()).await;
    let (status, _, _) = http(addr, &get("/peers", "")).await;
    assert_eq!(status, 200);
    let (status, _, body) = http(addr, &get(&format!("/peers/{id}/hello"), "")).await;
    assert_eq!(status, 403);
    assert_eq!(body, b"no peer may be called\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_openapi_document_pointing_at_the_gateway() {
    let (node, _url) = node().await;
    let doc = r#"{"openapi":"3.0.3","info":{"title":"t","version":"1"},"servers":[{"url":"http://device"}],"paths":{}}"#;
    let addr = serve_http(Gateway::new(node).openapi(doc).unwrap().router()).await;
    let (status, _, body) = http(addr, &get("/openapi.json", "")).await;
    assert_eq!(status, 200);
    let served: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(served["servers"][0]["url"], "/peers/{peer}");
    assert_eq!(served["info"]["title"], "t");
    assert!(Gateway::new(node_alone().await).openapi("[1]").is_err());
}

async fn node_alone() -> Node {
    node().await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_several_urls_tries_them_in_turn() {
    // The first URL refuses connections: the client takes the second.
    let dead = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}/", probe.local_addr().unwrap())
    };
    let (node, url) = node().await;
    let mut events = node.events();
    let client = device("sensor-7", &[dead, url], Hooks::default()).await;
    let id = client.connection().id().to_string();
    while node.connection(&id).is_none() {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the node sees the client");
    }
    let bad = swaggersocket::Client::builder("ws://127.0.0.1:1/")
        .fallback_urls(["wss://127.0.0.1:2/"])
        .connect()
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), swaggersocket::ErrorKind::Config);
}
