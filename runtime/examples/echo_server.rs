//! Serves an echo API over swaggersocket.
//!
//! ```text
//! cargo run -p swaggersocket --example echo_server -- --listen 127.0.0.1:9000
//! ```
//!
//! Every request is answered 200 with the request body as the body, and the
//! request's method and path-and-query in `X-Echo-Method` and `X-Echo-Path`.
//! `GET /stream?n=N&interval_ms=M` streams N chunks `chunk 1\n` … `chunk N\n`,
//! each flushed M ms after the previous one (to a Go peer, in Go's form).

use bytes::Bytes;
use http::{Request, Response};
use std::convert::Infallible;
use std::time::Duration;
use swaggersocket::{service_fn, Body, Event, Server};

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

fn listen_arg() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:9000".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            "-h" | "--help" => {
                return Err("usage: echo_server [--listen ADDR] (default 127.0.0.1:9000)".into())
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(listen)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let listen = match listen_arg() {
        Ok(listen) => listen,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let server = match Server::builder()
        .serve(service_fn(handle))
        .bind(&listen)
        .await
    {
        Ok(server) => server,
        Err(error) => {
            eprintln!("echo_server: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut events = server.events();
    println!("listening on {}", server.local_addr());
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Received(conn)) => {
                    tracing::info!(id = %conn.id(), metadata = %conn.metadata(), "connection received")
                }
                Some(Event::Closed(id)) => tracing::info!(%id, "connection closed"),
                Some(Event::Failure(id, error)) => tracing::info!(%id, %error, "connection failed"),
                Some(_) => {}
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    server.shutdown(std::time::Duration::from_secs(2)).await;
    std::process::ExitCode::SUCCESS
}
