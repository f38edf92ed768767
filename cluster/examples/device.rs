//! A device for trying the gateway and the cluster by hand: it connects to
//! the first node that answers among the URLs given, with metadata
//! `{"device": NAME}`, and serves
//!
//! - `GET /hello`: a JSON greeting;
//! - `POST /echo`: the request body back;
//! - `GET /events?n=5`: `n` server-sent events, 200 ms apart.
//!
//! ```text
//! cargo run -p swaggersocket-cluster --example device -- sensor-7 ws://127.0.0.1:8081/ ws://127.0.0.1:8082/
//! ```

use bytes::Bytes;
use std::convert::Infallible;
use std::time::Duration;
use swaggersocket::{service_fn, Body, Client, ClientEvent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().ok_or("usage: device NAME URL [URL…]")?;
    let urls: Vec<String> = args.collect();
    let first = urls.first().ok_or("usage: device NAME URL [URL…]")?.clone();
    let me = name.clone();
    let client = Client::builder(first)
        .fallback_urls(urls.iter().skip(1).cloned())
        .metadata(serde_json::json!({ "device": name }))
        .serve(service_fn(move |req: http::Request<Bytes>| {
            let me = me.clone();
            async move { Ok::<_, Infallible>(handle(&me, req)) }
        }))
        .connect()
        .await?;
    let mut events = client.events();
    println!("connected as {}", client.connection().id());
    while let Some(event) = events.recv().await {
        match event {
            ClientEvent::Connected(conn) => println!("reconnected as {}", conn.id()),
            ClientEvent::Disconnected { error, .. } => println!("disconnected: {error:?}"),
            _ => {}
        }
    }
    Ok(())
}

fn handle(me: &str, req: http::Request<Bytes>) -> http::Response<Body> {
    let path = req.uri().path();
    match (req.method().as_str(), path) {
        ("GET", "/hello") => http::Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::json!({ "hello": "world", "device": me }).to_string(),
            ))
            .unwrap_or_default(),
        ("POST", "/echo") => http::Response::new(Body::from(req.into_body())),
        ("GET", "/events") => {
            let n: u32 = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("n="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(5);
            let (tx, body) = Body::channel();
            tokio::spawn(async move {
                for i in 1..=n {
                    if tx
                        .send(format!("id: {i}\ndata: tick {i}\n\n"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            http::Response::builder()
                .header("content-type", "text/event-stream")
                .body(body)
                .unwrap_or_default()
        }
        _ => http::Response::builder()
            .status(404)
            .body(Body::from("no such route on this device\n"))
            .unwrap_or_default(),
    }
}
