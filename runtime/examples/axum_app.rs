//! One port for both: an axum app serves its REST API on `/api` and takes
//! devices on `/ws`, and a device dials in and is called back.
//!
//! ```text
//! cargo run -p swaggersocket --features axum --example axum_app
//! curl http://127.0.0.1:PORT/api/devices
//! ```
//!
//! Devices authenticate with `Authorization: Bearer device-<name>`. The
//! example starts one device itself (a `Client` that serves
//! `GET /status`), then calls it from the cloud side, and keeps serving
//! until Ctrl-C.

use bytes::Bytes;
use http::{Request, Response};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use swaggersocket::{service_fn, Client, Event, Reject, Server};

/// Who a device said it is, checked at the upgrade.
#[derive(Debug)]
struct Device(String);

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let devices = Arc::new(
        Server::builder()
            .authenticate(|req| async move {
                match req.bearer_token().and_then(|t| t.strip_prefix("device-")) {
                    Some(name) if !name.is_empty() => Ok(Device(name.to_owned())),
                    _ => Err(Reject::unauthorized(
                        "devices send Authorization: Bearer device-<name>\n",
                    )),
                }
            })
            .build(),
    );
    let listing = devices.clone();
    let app = axum::Router::new()
        .route(
            "/api/devices",
            axum::routing::get(move || {
                let names: Vec<String> = listing
                    .connections()
                    .iter()
                    .filter_map(|c| c.identity::<Device>().map(|d| d.0.clone()))
                    .collect();
                async move { format!("{names:?}\n") }
            }),
        )
        .route_service("/ws", devices.upgrade_service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("axum_app: {error}");
        }
    });
    println!("listening on {addr}");

    let mut events = devices.events();
    // A device behind NAT: it dials out and serves its own API.
    let _device = Client::builder(format!("ws://{addr}/ws"))
        .bearer_token("device-sensor-7")
        .serve(service_fn(|_req: Request<Bytes>| async {
            Ok::<_, Infallible>(Response::new(Bytes::from_static(b"temperature 21.5 C")))
        }))
        .connect()
        .await?;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Received(conn)) => {
                    let name = conn.identity::<Device>().map(|d| d.0.clone()).unwrap_or_default();
                    let status = conn
                        .call(Request::get("/status").body(Bytes::new())?)
                        .await?;
                    println!(
                        "device {name} ({}) says: {}",
                        conn.remote_addr().map(|a| a.to_string()).unwrap_or_default(),
                        String::from_utf8_lossy(status.body())
                    );
                }
                Some(_) => {}
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axum_app: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
