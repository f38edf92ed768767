//! Authentication at the websocket upgrade: tokens, `Origin`, identities.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use http::{HeaderMap, Request, Response};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use swaggersocket::{service_fn, Client, Connection, ErrorKind, Reject, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, PartialEq)]
struct User(String);

/// Answers with the name of the user the connection was accepted as.
fn whoami() -> impl tower::Service<
    Request<Bytes>,
    Response = Response<Bytes>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    service_fn(|req: Request<Bytes>| async move {
        let conn = req.extensions().get::<Connection>().unwrap();
        let name = conn.identity::<User>().map(|u| u.0.clone());
        Ok::<_, Infallible>(Response::new(Bytes::from(name.unwrap_or_default())))
    })
}

async fn token_server() -> Server {
    Server::builder()
        .authenticate(|req| async move {
            match req.bearer_token() {
                Some("alice-token") => Ok(User("alice".into())),
                Some(_) => Err(Reject::unauthorized("that token is not valid")),
                None => Err(Reject::unauthorized("a bearer token is required")),
            }
        })
        .serve(whoami())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Sends a websocket upgrade request by hand; returns the raw response (to
/// its end, or the head of a `101`, after which the socket stays open).
async fn raw_upgrade(addr: std::net::SocketAddr, extra: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    within("the response", async {
        loop {
            let head_done = response.windows(4).any(|w| w == b"\r\n\r\n");
            if head_done && response.starts_with(b"HTTP/1.1 101") {
                return;
            }
            if tcp.read_buf(&mut response).await.unwrap() == 0 {
                return;
            }
        }
    })
    .await;
    String::from_utf8(response).unwrap()
}

#[tokio::test]
async fn a_token_is_accepted_and_its_identity_reaches_handlers() {
    init_tracing();
    let server = token_server().await;
    let mut events = server.events();
    let client = Client::builder(url(server.local_addr()))
        .bearer_token("alice-token")
        .connect()
        .await
        .unwrap();
    let on_server = next_received(&mut events).await;
    assert_eq!(on_server.identity::<User>(), Some(&User("alice".into())));
    assert_eq!(on_server.identity::<String>(), None);
    assert_eq!(client.connection().identity::<User>(), None);
    let answer = client.connection().call(get("/whoami")).await.unwrap();
    assert_eq!(answer.body(), "alice");
}

#[tokio::test]
async fn a_missing_or_bad_token_gets_a_real_http_401_with_a_body() {
    init_tracing();
    let server = token_server().await;
    let error = Client::builder(url(server.local_addr()))
        .bearer_token("mallory-token")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    let text = error.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(text.contains("that token is not valid"), "{text}");

    let error = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("a bearer token is required"));

    // On the wire: a plain HTTP response, no websocket.
    let response = raw_upgrade(server.local_addr(), "").await;
    assert!(
        response.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{response}"
    );
    assert!(response
        .to_ascii_lowercase()
        .contains("www-authenticate: bearer"));
    assert!(
        response.ends_with("\r\n\r\na bearer token is required"),
        "{response}"
    );
    let response = raw_upgrade(server.local_addr(), "Authorization: Bearer alice-token\r\n").await;
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
}

#[tokio::test]
async fn an_origin_not_allowed_gets_403_and_others_pass() {
    init_tracing();
    let server = Server::builder()
        .allow_origins(["https://app.example"])
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let with_origin = |origin: &'static str| {
        Client::builder(url(server.local_addr()))
            .keep_alive(false)
            .headers(move || async move {
                let mut headers = HeaderMap::new();
                headers.insert(http::header::ORIGIN, origin.parse()?);
                Ok(headers)
            })
            .connect()
    };
    let error = with_origin("https://evil.example").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    assert!(error.to_string().contains("403"), "{error}");
    assert!(
        error.to_string().contains("https://evil.example"),
        "{error}"
    );

    let allowed = with_origin("https://app.example").await.unwrap();
    let answer = allowed
        .connection()
        .call(post("/echo", "hi"))
        .await
        .unwrap();
    assert_eq!(answer.body(), "hi");
    // No Origin at all: not a browser, not the allow-list's business.
    let device = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap();
    let answer = device.connection().call(post("/echo", "hi")).await.unwrap();
    assert_eq!(answer.body(), "hi");
}

#[tokio::test]
async fn a_refreshed_token_is_sent_on_reconnect() {
    init_tracing();
    // The server accepts only the newest token it issued.
    let valid = Arc::new(Mutex::new("token-1".to_owned()));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let server = {
        let (valid, seen) = (valid.clone(), seen.clone());
        Server::builder()
            .authenticate(move |req| {
                let token = req.bearer_token().unwrap_or_default().to_owned();
                seen.lock().unwrap().push(token.clone());
                let ok = *valid.lock().unwrap() == token;
                async move {
                    if ok {
                        Ok(User(token))
                    } else {
                        Err(Reject::unauthorized("stale token"))
                    }
                }
            })
            .serve(whoami())
            .bind("127.0.0.1:0")
            .await
            .unwrap()
    };
    let proxy = Proxy::start(server.local_addr()).await;
    let mut events = server.events();
    // The client asks its token source before every connection.
    let issued = Arc::new(AtomicU32::new(0));
    let client = {
        let issued = issued.clone();
        Client::builder(url(proxy.addr))
            // A new connection (not a resumed one) is what this test checks.
            .config(swaggersocket::Config::new().resume(false))
            .backoff(swaggersocket::Backoff::default().jitter(0.0))
            .headers(move || {
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    let mut headers = HeaderMap::new();
                    headers.insert(
                        http::header::AUTHORIZATION,
                        format!("Bearer token-{n}").parse()?,
                    );
                    Ok(headers)
                }
            })
            .connect()
            .await
            .unwrap()
    };
    let first = next_received(&mut events).await;
    assert_eq!(first.identity::<User>(), Some(&User("token-1".into())));

    // The token rotates and the network drops: the reconnect must carry
    // the new token (the old one would be refused forever).
    *valid.lock().unwrap() = "token-2".to_owned();
    proxy.cut();
    let second = next_received(&mut events).await;
    assert_eq!(second.identity::<User>(), Some(&User("token-2".into())));
    let live = within("reconnect", client.connected()).await.unwrap();
    let answer = live.call(get("/whoami")).await.unwrap();
    assert_eq!(answer.body(), "token-2");
    assert_eq!(*seen.lock().unwrap(), ["token-1", "token-2"]);
}

#[tokio::test]
async fn a_browser_token_in_the_subprotocol_offer() {
    init_tracing();
    // A browser: `new WebSocket(url, ["swaggersocket", "bearer.TOKEN"])`.
    let server = Server::builder()
        .subprotocols(["swaggersocket"])
        .authenticate(|req| {
            let token = req
                .protocols()
                .find_map(|p| p.strip_prefix("bearer."))
                .map(str::to_owned);
            async move {
                match token.as_deref() {
                    Some("browser-token") => Ok(User("browser".into())),
                    _ => Err(Reject::unauthorized("no token offered")),
                }
            }
        })
        .serve(whoami())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let response = raw_upgrade(
        server.local_addr(),
        "Sec-WebSocket-Protocol: swaggersocket, bearer.browser-token\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("sec-websocket-protocol: swaggersocket\r\n"),
        "{response}"
    );
}

#[tokio::test]
async fn a_hook_can_answer_429_with_retry_after() {
    init_tracing();
    // One connection per token at a time: a second one is told to retry.
    let holders: Arc<Mutex<Vec<String>>> = Arc::default();
    let taken = holders.clone();
    let server = Server::builder()
        .authenticate(move |req| {
            let token = req.bearer_token().unwrap_or_default().to_owned();
            let mut taken = taken.lock().unwrap();
            let verdict = if taken.contains(&token) {
                Err(
                    Reject::too_many_requests("one connection per device").header(
                        http::header::RETRY_AFTER,
                        http::HeaderValue::from_static("30"),
                    ),
                )
            } else {
                taken.push(token.clone());
                Ok(User(token))
            };
            async move { verdict }
        })
        .serve(whoami())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let first = Client::builder(url(server.local_addr()))
        .bearer_token("dev-1")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        first.connection().call(get("/")).await.unwrap().body(),
        "dev-1"
    );

    let error = Client::builder(url(server.local_addr()))
        .bearer_token("dev-1")
        .keep_alive(false)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    assert!(error.to_string().contains("429"), "{error}");

    let response = raw_upgrade(server.local_addr(), "Authorization: Bearer dev-1\r\n").await;
    assert!(
        response.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{response}"
    );
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 30\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with("one connection per device"),
        "{response}"
    );

    // Another device is unaffected.
    let other = Client::builder(url(server.local_addr()))
        .bearer_token("dev-2")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        other.connection().call(get("/")).await.unwrap().body(),
        "dev-2"
    );
    assert_eq!(holders.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_token_in_the_metadata_gives_the_connection_its_identity() {
    init_tracing();
    // Stage one admits by Origin only (a browser); stage two reads the
    // token from the metadata and sees what stage one found.
    let server = Server::builder()
        .authenticate(|req| {
            let origin = req.origin().map(str::to_owned);
            async move { Ok(origin.unwrap_or_default()) }
        })
        .authenticate_metadata(|req| {
            let token = req.metadata()["token"].as_str().map(str::to_owned);
            let origin = req.identity::<String>().cloned().unwrap_or_default();
            async move {
                match token.as_deref() {
                    Some("alice-token") => Ok(User(format!("alice via {origin}"))),
                    Some(_) => Err("that token is not valid".to_owned()),
                    None => Err("a token is required in the metadata".to_owned()),
                }
            }
        })
        .serve(whoami())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(url(server.local_addr()))
        .headers(|| async {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::ORIGIN, "https://app.example".parse()?);
            Ok(headers)
        })
        .metadata(serde_json::json!({ "token": "alice-token" }))
        .connect()
        .await
        .unwrap();
    let answer = client.connection().call(get("/whoami")).await.unwrap();
    assert_eq!(answer.body(), "alice via https://app.example");

    for (metadata, why) in [
        (
            serde_json::json!({ "token": "mallory" }),
            "that token is not valid",
        ),
        (serde_json::json!({}), "a token is required in the metadata"),
    ] {
        let error = Client::builder(url(server.local_addr()))
            .metadata(metadata)
            .keep_alive(false)
            .connect()
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains(why), "{text}");
        assert!(text.contains("1008") || text.contains("policy"), "{text}");
    }
}
