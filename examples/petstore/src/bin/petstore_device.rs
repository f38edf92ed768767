//! A device that dials out to the cloud with its name as metadata and
//! serves the petstore API (build.rs-generated) over that connection.
//!
//! ```text
//! cargo run -p petstore-example --bin petstore_device -- --url ws://127.0.0.1:9002/ --name kitchen
//! ```

use petstore_example::{arg, init_logging, via_build::petstore, Record, Store};
use std::process::ExitCode;
use swaggersocket::Client;

async fn run(url: &str, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::new(format!("device {name}"));
    store.create(Record {
        id: 1,
        name: format!("{name}-cat"),
        tag: Some("cat".into()),
    })?;
    let client = Client::builder(url)
        .metadata(serde_json::json!({ "device": name }))
        .serve(petstore::ApiService::new(store))
        .connect()
        .await?;
    println!("device {name} connected as {}", client.connection().id());
    // Serve until the cloud closes the connection.
    let ended = client.connection().closed().await;
    println!(
        "device {name}: connection ended ({})",
        match &ended {
            Ok(()) => "closed by the cloud".to_owned(),
            Err(e) => e.to_string(),
        }
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let known = ["--url", "--name"];
    let (url, name) = match (
        arg("--url", "ws://127.0.0.1:9002/", &known),
        arg("--name", "device", &known),
    ) {
        (Ok(url), Ok(name)) => (url, name),
        (Err(message), _) | (_, Err(message)) => {
            eprintln!("petstore_device: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&url, &name).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("petstore_device: {error}");
            ExitCode::FAILURE
        }
    }
}
