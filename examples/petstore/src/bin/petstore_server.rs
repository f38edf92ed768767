//! Serves the petstore API (macro-generated) to every websocket client.
//!
//! ```text
//! cargo run -p petstore-example --bin petstore_server -- --listen 127.0.0.1:9001
//! ```

use petstore_example::{arg, init_logging, via_macro::petstore, Store};
use std::process::ExitCode;
use swaggersocket::{Event, Server};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let listen = match arg("--listen", "127.0.0.1:9001", &["--listen"]) {
        Ok(listen) => listen,
        Err(message) => {
            eprintln!("petstore_server: {message}");
            return ExitCode::from(2);
        }
    };
    let api = petstore::ApiService::new(Store::new("petstore_server"));
    let server = match Server::builder().serve(api).bind(&listen).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("petstore_server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut events = server.events();
    println!("listening on {}", server.local_addr());
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Received(conn)) => {
                    tracing::info!(id = %conn.id(), metadata = %conn.metadata(), "client connected")
                }
                Some(Event::Closed(id)) => tracing::info!(%id, "client left"),
                Some(Event::Failure(id, error)) => tracing::warn!(%id, %error, "client lost"),
                Some(_) => {}
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    server.shutdown(std::time::Duration::from_secs(2)).await;
    ExitCode::SUCCESS
}
