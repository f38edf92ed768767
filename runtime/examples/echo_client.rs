//! Calls the echo server.
//!
//! ```text
//! cargo run -p swaggersocket --example echo_client -- --url ws://127.0.0.1:9000/
//! cargo run -p swaggersocket --example echo_client -- --url wss://localhost:9443/ \
//!     --ca ca.pem --token s3cret
//! ```
//!
//! `--ca PEM` trusts only that CA for `wss://` (default: the webpki roots);
//! `--token TOKEN` sends `Authorization: Bearer TOKEN` with the upgrade.
//!
//! Sends a few requests, 100 of them concurrently, checks every echo and
//! prints what it saw.

use bytes::Bytes;
use http::Request;
use swaggersocket::Client;

const USAGE: &str = "usage: echo_client [--url ws://HOST:PORT/ | wss://HOST:PORT/] [--ca PEM] \
[--token TOKEN] (default --url ws://127.0.0.1:9000/)";

#[derive(Debug)]
struct Options {
    url: String,
    ca: Option<String>,
    token: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        url: "ws://127.0.0.1:9000/".to_owned(),
        ca: None,
        token: None,
    };
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--url" => options.url = value("a ws:// or wss:// URL")?,
            "--ca" => options.ca = Some(value("a PEM CA certificate file")?),
            "--token" => options.token = Some(value("a token")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(options)
}

async fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder =
        Client::builder(options.url).metadata(serde_json::json!({ "example": "echo_client" }));
    if let Some(ca) = &options.ca {
        builder = builder.tls_config(swaggersocket::tls::client_config_with_ca_pem_file(ca)?);
    }
    if let Some(token) = options.token {
        builder = builder.bearer_token(token);
    }
    let client = builder.connect().await?;
    let conn = client.connection();
    println!("connected, connection id {}", conn.id());

    let response = conn
        .call(Request::post("/greet?lang=en").body(Bytes::from_static(b"hello, swaggersocket"))?)
        .await?;
    println!(
        "{} {} -> {} {:?}",
        response.headers()["x-echo-method"].to_str()?,
        response.headers()["x-echo-path"].to_str()?,
        response.status(),
        std::str::from_utf8(response.body())?
    );

    let calls = (0..100).map(|i| {
        let conn = conn.clone();
        async move {
            let body = format!("message {i}");
            let response = conn
                .call(Request::put(format!("/items/{i}")).body(Bytes::from(body.clone()))?)
                .await?;
            if response.body() != body.as_bytes() {
                return Err(format!("call {i}: echo mismatch").into());
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        return Err(format!("{failed} of 100 concurrent calls failed").into());
    }
    println!("100 concurrent calls on one connection: all echoed correctly");

    // A streamed response: chunks arrive as the server produces them.
    let started = std::time::Instant::now();
    let mut body = conn
        .call_streaming(Request::get("/stream?n=5&interval_ms=100").body(Bytes::new())?)
        .await?
        .into_body();
    while let Some(chunk) = body.chunk().await {
        let chunk = chunk?;
        print!(
            "[{:>4} ms] {}",
            started.elapsed().as_millis(),
            std::str::from_utf8(&chunk)?
        );
    }
    client.close();
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo_client: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
