//! Calls the echo server.
//!
//! ```text
//! cargo run -p swaggersocket --example echo_client -- --url ws://127.0.0.1:9000/
//! ```
//!
//! Sends a few requests, 100 of them concurrently, checks every echo and
//! prints what it saw.

use bytes::Bytes;
use http::Request;
use swaggersocket::Client;

fn url_arg() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut url = "ws://127.0.0.1:9000/".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next().ok_or("--url needs a ws:// URL")?,
            "-h" | "--help" => {
                return Err(
                    "usage: echo_client [--url ws://HOST:PORT/] (default ws://127.0.0.1:9000/)"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(url)
}

async fn run(url: String) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder(url)
        .metadata(serde_json::json!({ "example": "echo_client" }))
        .connect()
        .await?;
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
    let url = match url_arg() {
        Ok(url) => url,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(url).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo_client: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
