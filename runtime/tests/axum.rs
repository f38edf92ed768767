//! A `Server` mounted in an axum app: REST routes and the websocket
//! endpoint on one port.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::net::SocketAddr;
use swaggersocket::{Client, ErrorKind, Reject, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, PartialEq)]
struct Device(String);

/// An axum app with `/api/hello` and the devices' websocket on `/ws`.
async fn app(devices: &Server) -> SocketAddr {
    let app = axum::Router::new()
        .route(
            "/api/hello",
            axum::routing::get(|| async { "hello from REST" }),
        )
        .route_service("/ws", devices.upgrade_service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within("the REST answer", tcp.read_to_string(&mut response))
        .await
        .unwrap();
    response
}

#[tokio::test]
async fn rest_and_devices_share_one_port() {
    init_tracing();
    let devices = Server::builder()
        .authenticate(|req| async move {
            match req.bearer_token() {
                Some(token) if token.starts_with("device-") => Ok(Device(token.to_owned())),
                _ => Err(Reject::unauthorized("devices need a token")),
            }
        })
        .serve(echo_service())
        .build();
    let mut events = devices.events();
    let addr = app(&devices).await;

    let rest = http_get(addr, "/api/hello").await;
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.ends_with("hello from REST"), "{rest}");

    let device = Client::builder(format!("ws://{addr}/ws"))
        .bearer_token("device-7")
        .serve(echo_service())
        .connect()
        .await
        .unwrap();
    let on_server = next_received(&mut events).await;
    assert_eq!(
        on_server.identity::<Device>(),
        Some(&Device("device-7".into()))
    );
    assert_eq!(
        on_server.remote_addr().map(|a| a.ip().is_loopback()),
        Some(true)
    );
    let up = device.connection().call(post("/echo", "up")).await.unwrap();
    assert_eq!(up.body(), "up");
    let down = within("cloud calls device", on_server.call(post("/echo", "down")))
        .await
        .unwrap();
    assert_eq!(down.body(), "down");

    let error = Client::builder(format!("ws://{addr}/ws"))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    assert!(error.to_string().contains("401"), "{error}");
    assert!(
        error.to_string().contains("devices need a token"),
        "{error}"
    );

    // A plain GET on the websocket route is told to upgrade.
    let plain = http_get(addr, "/ws").await;
    assert!(plain.starts_with("HTTP/1.1 426"), "{plain}");
    // REST still answers with a device connected.
    assert!(http_get(addr, "/api/hello")
        .await
        .ends_with("hello from REST"));
}

/// An axum API as a device might already have one.
fn device_api() -> axum::Router {
    use axum::extract::Path;
    axum::Router::new()
        .route(
            "/pets/{id}",
            axum::routing::get(|Path(id): Path<u32>| async move {
                axum::Json(serde_json::json!({ "id": id, "name": "rex" }))
            }),
        )
        .route(
            "/echo",
            axum::routing::post(|body: bytes::Bytes| async move { body }),
        )
        .route(
            "/feed",
            axum::routing::get(|| async {
                let chunks = futures_util::stream::iter(
                    ["one\n", "two\n", "three\n"].map(Ok::<_, std::io::Error>),
                );
                axum::body::Body::from_stream(chunks)
            }),
        )
}

#[tokio::test]
async fn an_axum_router_served_by_a_websocket_client_is_called_by_the_server() {
    init_tracing();
    let server = echo_server().await;
    let mut events = server.events();
    let _device = Client::builder(url(server.local_addr()))
        .serve(swaggersocket::HttpService::new(device_api()))
        .connect()
        .await
        .unwrap();
    let device = next_received(&mut events).await;

    let pet = within("GET /pets/7", device.call(get("/pets/7")))
        .await
        .unwrap();
    assert_eq!(pet.status(), http::StatusCode::OK);
    assert_eq!(pet.headers()["content-type"], "application/json");
    let pet: serde_json::Value = serde_json::from_slice(pet.body()).unwrap();
    assert_eq!(pet, serde_json::json!({ "id": 7, "name": "rex" }));

    let echo = device.call(post("/echo", "as is")).await.unwrap();
    assert_eq!(echo.body(), "as is");
    let missing = device.call(get("/nothing")).await.unwrap();
    assert_eq!(missing.status(), http::StatusCode::NOT_FOUND);
    let bad = device.call(get("/pets/not-a-number")).await.unwrap();
    assert_eq!(bad.status(), http::StatusCode::BAD_REQUEST);

    // A streamed axum body arrives chunk by chunk.
    let mut feed = within("GET /feed", device.call_streaming(get("/feed")))
        .await
        .unwrap()
        .into_body();
    let mut chunks = Vec::new();
    while let Some(chunk) = within("a chunk", feed.chunk()).await {
        chunks.push(chunk.unwrap());
    }
    assert_eq!(chunks.concat(), b"one\ntwo\nthree\n");
}

#[tokio::test]
async fn a_server_serves_an_axum_router_to_its_clients() {
    init_tracing();
    let server = Server::builder()
        .serve(swaggersocket::HttpService::new(device_api()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let echo = client
        .connection()
        .call(post("/echo", "hello"))
        .await
        .unwrap();
    assert_eq!(echo.body(), "hello");
}
