//! What the gateway and cluster tests share: a device, a NATS server, an
//! HTTP client.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use swaggersocket::{service_fn, Body, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

/// What a test device lets the test see and steer.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Told when a call to `/slow` starts.
    pub slow_started: Option<mpsc::UnboundedSender<()>>,
    /// Told when a call to `/slow` is dropped (cancelled) by the runtime.
    pub slow_dropped: Option<mpsc::UnboundedSender<()>>,
    /// `/events` waits for this before its second event.
    pub next_event: Option<Arc<Notify>>,
}

/// A device named `name` on `urls` (the first, then the others in turn).
///
/// Routes: `GET /hello`, `POST /echo`, `GET /headers` (the request's
/// headers as JSON), `GET /stream?n=N&size=S` (N streamed chunks of S
/// bytes), `GET /big?size=S` (one body of S bytes, not streamed),
/// `GET /events?n=N` (SSE), `GET /slow` (never answers).
pub async fn device(name: &str, urls: &[String], hooks: Hooks) -> Client {
    let me = name.to_owned();
    Client::builder(urls[0].clone())
        .fallback_urls(urls[1..].iter().cloned())
        .metadata(serde_json::json!({ "device": name, "kind": "test" }))
        .backoff(
            swaggersocket::Backoff::default()
                .initial(Duration::from_millis(50))
                .max(Duration::from_millis(500)),
        )
        .serve(service_fn(move |req: http::Request<Bytes>| {
            let me = me.clone();
            let hooks = hooks.clone();
            async move { Ok::<_, Infallible>(handle(&me, req, hooks).await) }
        }))
        .connect()
        .await
        .expect("the device connects")
}

fn query(req: &http::Request<Bytes>, key: &str) -> Option<usize> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

struct DropSignal(Option<mpsc::UnboundedSender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(());
        }
    }
}

async fn handle(me: &str, req: http::Request<Bytes>, hooks: Hooks) -> http::Response<Body> {
    let path = req.uri().path().to_owned();
    match (req.method().as_str(), path.as_str()) {
        ("GET", "/hello") => http::Response::builder()
            .header("content-type", "application/json")
            .header("x-device", me)
            .body(Body::from(
                serde_json::json!({ "hello": me, "query": req.uri().query() }).to_string(),
            ))
            .expect("response"),
        ("POST", "/echo") => http::Response::builder()
            .header("x-length", req.body().len())
            .body(Body::from(req.into_body()))
            .expect("response"),
        ("GET", "/headers") => {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
                    )
                })
                .collect();
            http::Response::new(Body::from(serde_json::Value::Object(headers).to_string()))
        }
        ("GET", "/stream") => {
            let n = query(&req, "n").unwrap_or(3);
            let size = query(&req, "size").unwrap_or(10);
            let (tx, body) = Body::channel();
            let me = me.to_owned();
            tokio::spawn(async move {
                for i in 0..n {
                    let byte = b'a' + (i % 26) as u8;
                    let mut chunk = vec![byte; size];
                    if size >= me.len() {
                        chunk[..me.len()].copy_from_slice(me.as_bytes());
                    }
                    if tx.send(chunk).await.is_err() {
                        return;
                    }
                }
            });
            http::Response::new(body)
        }
        ("GET", "/big") => {
            let size = query(&req, "size").unwrap_or(1 << 20);
            http::Response::new(Body::from(vec![b'z'; size]))
        }
        ("GET", "/events") => {
            let n = query(&req, "n").unwrap_or(3);
            let (tx, body) = Body::channel();
            let next = hooks.next_event.clone();
            tokio::spawn(async move {
                for i in 1..=n {
                    if i == 2 {
                        if let Some(next) = &next {
                            next.notified().await;
                        }
                    }
                    if tx
                        .send(format!("id: {i}\ndata: tick {i}\n\n"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
            http::Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(body)
                .expect("response")
        }
        ("GET", "/slow") => {
            let _signal = DropSignal(hooks.slow_dropped.clone());
            if let Some(tx) = &hooks.slow_started {
                let _ = tx.send(());
            }
            std::future::pending::<()>().await;
            http::Response::new(Body::empty())
        }
        _ => http::Response::builder()
            .status(404)
            .body(Body::from("no such route\n"))
            .expect("response"),
    }
}

/// A `nats-server` on a free loopback port, stopped when dropped.
pub struct NatsServer {
    child: Child,
    pub url: String,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `nats-server` binary: `$NATS_SERVER`, then `PATH`, then the venv
/// that `scripts/nats-server` makes.
pub fn nats_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Some(path);
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let venv = target.join("nats-venv/bin/nats-server");
    venv.is_file().then_some(venv)
}

/// Starts a NATS server, or says why the test is skipped and returns `None`.
pub async fn start_nats(test: &str) -> Option<NatsServer> {
    let Some(binary) = nats_binary() else {
        if std::env::var_os("SWAGGERSOCKET_REQUIRE_NATS").is_some() {
            panic!("{test}: no nats-server, and SWAGGERSOCKET_REQUIRE_NATS is set (run scripts/nats-server)");
        }
        eprintln!(
            "SKIPPED {test}: no nats-server (set NATS_SERVER, put it on PATH, or run scripts/nats-server)"
        );
        return None;
    };
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("its address").port()
    };
    let child = Command::new(&binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    let server = NatsServer {
        child,
        url: format!("nats://127.0.0.1:{port}"),
    };
    // Ready once it takes connections.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(server);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nats-server at {} did not start within 5 s", server.url);
}

/// Serves a router on 127.0.0.1:0 with the callers' addresses.
pub async fn serve_http(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

/// A raw HTTP/1.1 exchange over a fresh TCP connection with
/// `Connection: close`: the status line, headers and the body as bytes
/// (chunked bodies decoded).
pub async fn http(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    tcp.write_all(request.as_bytes()).await.expect("writes");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("reads");
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    (status, headers, body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        let end = (start + size).min(body.len());
        out.extend_from_slice(&body[start..end]);
        body = &body[(end + 2).min(body.len())..];
    }
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A GET with `Connection: close`.
pub fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n{extra}\r\n")
}
