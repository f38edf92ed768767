//! Serves an echo API over swaggersocket.
//!
//! ```text
//! cargo run -p swaggersocket --example echo_server -- --listen 127.0.0.1:9000
//! cargo run -p swaggersocket --example echo_server -- --listen 127.0.0.1:9443 \
//!     --tls-cert server.pem --tls-key server.key --auth-token s3cret \
//!     --allow-origin https://app.example
//! ```
//!
//! - `--tls-cert PEM --tls-key PEM`: serve `wss://` (a PEM certificate
//!   chain and its PEM private key);
//! - `--auth-token TOKEN`: require `Authorization: Bearer TOKEN` on the
//!   websocket upgrade, anything else gets a plain HTTP 401;
//! - `--allow-origin ORIGIN` (repeatable): a browser upgrade from any other
//!   `Origin` gets 403.
//!
//! Every request is answered 200 with the request body as the body, and the
//! request's method and path-and-query in `X-Echo-Method` and `X-Echo-Path`.
//! `GET /stream?n=N&interval_ms=M` streams N chunks `chunk 1\n` … `chunk N\n`,
//! each flushed M ms after the previous one (to a Go peer, in Go's form).

use bytes::Bytes;
use http::{Request, Response};
use std::convert::Infallible;
use std::time::Duration;
use swaggersocket::{service_fn, Body, Event, Reject, Server};

/// `n` and `interval_ms` from the query string (defaults 10 and 250).
fn stream_params(request: &Request<Bytes>) -> (u64, u64) {
    let (mut n, mut interval) = (10, 250);
    for pair in request.uri().query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("n", v)) => n = v.parse().unwrap_or(n).min(100_000),
            Some(("interval_ms", v)) => interval = v.parse().unwrap_or(interval).min(60_000),
            _ => {}
        }
    }
    (n, interval)
}

async fn handle(request: Request<Bytes>) -> Result<Response<Body>, Infallible> {
    if request.method() != http::Method::GET || request.uri().path() != "/stream" {
        return Ok(echo(request).await?.map(Body::from));
    }
    let (n, interval) = stream_params(&request);
    let (tx, body) = Body::channel();
    tokio::spawn(async move {
        for i in 1..=n {
            if i > 1 {
                tokio::time::sleep(Duration::from_millis(interval)).await;
            }
            if tx.send(format!("chunk {i}\n")).await.is_err() {
                tracing::info!(sent = i - 1, "stream caller went away");
                return;
            }
        }
    });
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

async fn echo(request: Request<Bytes>) -> Result<Response<Bytes>, Infallible> {
    let path = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let method = request.method().to_string();
    let mut response = Response::new(request.into_body());
    let headers = response.headers_mut();
    if let Ok(v) = method.parse() {
        headers.insert("x-echo-method", v);
    }
    if let Ok(v) = path.parse() {
        headers.insert("x-echo-path", v);
    }
    Ok(response)
}

const USAGE: &str = "usage: echo_server [--listen ADDR] [--tls-cert PEM --tls-key PEM] \
[--auth-token TOKEN] [--allow-origin ORIGIN]... (default --listen 127.0.0.1:9000)";

#[derive(Debug)]
struct Options {
    listen: String,
    tls: Option<(String, String)>,
    token: Option<String>,
    origins: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:9000".to_owned();
    let (mut cert, mut key, mut token, mut origins) = (None, None, None, Vec::new());
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--listen" => listen = value("an address")?,
            "--tls-cert" => cert = Some(value("a PEM certificate file")?),
            "--tls-key" => key = Some(value("a PEM private key file")?),
            "--auth-token" => token = Some(value("a token")?),
            "--allow-origin" => origins.push(value("an origin")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(Options {
        listen,
        tls,
        token,
        origins,
    })
}

async fn start(options: Options) -> Result<Server, swaggersocket::Error> {
    let mut builder = Server::builder().serve(service_fn(handle));
    if let Some((cert, key)) = &options.tls {
        builder = builder.tls_pem_files(cert, key)?;
    }
    if !options.origins.is_empty() {
        builder = builder.allow_origins(options.origins);
    }
    if let Some(token) = options.token {
        let token = std::sync::Arc::new(token);
        builder = builder.authenticate(move |req| {
            let ok = req.bearer_token() == Some(token.as_str());
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(Reject::unauthorized(
                        "this server requires Authorization: Bearer <token>\n",
                    ))
                }
            }
        });
    }
    builder.bind(&options.listen).await
}

/// After connections end (a burst of clients gone, an attack over), hands
/// the memory they freed back to the system: glibc's allocator keeps freed
/// memory in its per-thread arenas, and the server would go on holding its
/// peak (RELIABILITY.md, "Hostile peers"). Looked at once a second; a trim
/// of a small heap costs well under a millisecond.
struct MemoryGiveBack {
    ticker: tokio::time::Interval,
    connections: usize,
    /// Trims still to do: what ended connections hold (their queued
    /// requests, their handlers) is freed over the next moments too.
    pending: u8,
}

impl MemoryGiveBack {
    fn new() -> Self {
        MemoryGiveBack {
            ticker: tokio::time::interval(Duration::from_secs(1)),
            connections: 0,
            pending: 0,
        }
    }

    async fn tick(&mut self, server: &Server) {
        self.ticker.tick().await;
        let now = server.stats().connections;
        if now < self.connections {
            self.pending = 3;
        }
        self.connections = now;
        if self.pending > 0 {
            self.pending -= 1;
            trim();
        }
    }
}

// The one unsafe call of the workspace (the workspace denies unsafe code).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: malloc_trim only returns free memory of the allocator to the
    // system; it is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let server = match start(options).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("echo_server: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut events = server.events();
    let mut memory = MemoryGiveBack::new();
    println!("listening on {}", server.local_addr());
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Received(conn)) => {
                    // The metadata is the peer's: log its start only (JSON
                    // text escapes control characters already).
                    let metadata = conn.metadata().to_string();
                    let shown: String = metadata.chars().take(128).collect();
                    tracing::info!(id = %conn.id(), metadata = %shown, metadata_bytes = metadata.len(), "connection received")
                }
                Some(Event::Closed(id)) => tracing::info!(%id, "connection closed"),
                Some(Event::Failure(id, error)) => tracing::info!(%id, %error, "connection failed"),
                Some(_) => {}
                None => break,
            },
            () = memory.tick(&server) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    server.shutdown(std::time::Duration::from_secs(2)).await;
    std::process::ExitCode::SUCCESS
}
