//! The cloud: a websocket server that waits for devices, finds them by
//! metadata and calls the petstore API each one serves.
//!
//! ```text
//! cargo run -p petstore-example --bin petstore_cloud -- --listen 127.0.0.1:9002 --devices 2
//! ```

use petstore_example::{arg, init_logging, via_build::petstore};
use std::process::ExitCode;
use std::time::Duration;
use swaggersocket::{Event, Server};

async fn run(listen: &str, devices: usize) -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder().bind(listen).await?;
    let mut events = server.events();
    println!("listening on {}", server.local_addr());
    while server.connections().len() < devices {
        match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Some(Event::Received(conn))) => println!("device connected: {}", conn.metadata()),
            Ok(Some(_)) => {}
            Ok(None) => return Err("server stopped".into()),
            Err(_) => {
                return Err(format!("fewer than {devices} devices connected within 60 s").into())
            }
        }
    }
    let mut found = server.find(|meta| meta.get("device").is_some());
    found.sort_by_key(|c| c.metadata()["device"].to_string());
    for conn in &found {
        let device = conn.metadata()["device"].as_str().unwrap_or("?").to_owned();
        let api = petstore::ApiClient::new(conn.clone());
        let pet = petstore::types::Pet {
            id: 7,
            name: format!("{device}-parrot"),
            tag: Some("bird".into()),
        };
        match api.create_pets(pet).await? {
            petstore::CreatePetsResponse::Created => {}
            other => return Err(format!("{device}: createPets: {other:?}").into()),
        }
        match api.list_pets().await? {
            petstore::ListPetsResponse::Ok { body, .. } => {
                let names: Vec<_> = body.iter().map(|p| p.name.as_str()).collect();
                println!("cloud -> {device}: listPets -> {names:?}");
                if names.len() != 2 {
                    return Err(format!("{device}: expected 2 pets, got {names:?}").into());
                }
            }
            other => return Err(format!("{device}: listPets: {other:?}").into()),
        }
    }
    server.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let known = ["--listen", "--devices"];
    let listen = arg("--listen", "127.0.0.1:9002", &known);
    let devices = arg("--devices", "1", &known)
        .and_then(|d| d.parse::<usize>().map_err(|e| format!("--devices: {e}")));
    let (listen, devices) = match (listen, devices) {
        (Ok(l), Ok(d)) => (l, d),
        (Err(message), _) | (_, Err(message)) => {
            eprintln!("petstore_cloud: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&listen, devices).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("petstore_cloud: {error}");
            ExitCode::FAILURE
        }
    }
}
