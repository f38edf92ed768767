//! The reverse direction: the websocket client serves the API and the
//! websocket server calls it, as a device behind NAT that dials out.
//!
//! ```text
//! cargo run -p swaggersocket --example reverse
//! ```
//!
//! Both sides run in this one process on 127.0.0.1 (any free port).

use bytes::Bytes;
use http::{Request, Response};
use std::convert::Infallible;
use swaggersocket::{service_fn, Client, Event, Server};

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The "cloud": a websocket server that serves nothing and calls its clients.
    let server = Server::builder().bind("127.0.0.1:0").await?;
    let mut events = server.events();
    let url = format!("ws://{}/", server.local_addr());

    // The "device": dials out with its metadata and serves a tiny API.
    let _device = Client::builder(url)
        .metadata(serde_json::json!({ "device": "thermostat-1", "room": "kitchen" }))
        .serve(service_fn(|request: Request<Bytes>| async move {
            let body = match request.uri().path() {
                "/temperature" => Bytes::from_static(b"{\"celsius\":21.5}"),
                other => Bytes::from(format!("no such resource: {other}")),
            };
            Ok::<_, Infallible>(Response::new(body))
        }))
        .connect()
        .await?;

    // The cloud learns of the device from its event stream ...
    let conn = loop {
        match events.recv().await {
            Some(Event::Received(conn)) => break conn,
            Some(_) => continue,
            None => return Err("server stopped".into()),
        }
    };
    println!(
        "device connected: id {} metadata {}",
        conn.id(),
        conn.metadata()
    );

    // ... or finds it by metadata, and calls its API.
    let kitchen = server.find(|meta| meta["room"] == "kitchen");
    let response = kitchen[0]
        .call(Request::get("/temperature").body(Bytes::new())?)
        .await?;
    println!(
        "cloud -> device GET /temperature: {} {}",
        response.status(),
        std::str::from_utf8(response.body())?
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("reverse: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
