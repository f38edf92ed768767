//! Calls the petstore server with the CLI-generated client.
//!
//! ```text
//! cargo run -p petstore-example --bin petstore_client -- --url ws://127.0.0.1:9001/
//! ```

use petstore_example::{arg, via_cli::petstore};
use std::process::ExitCode;
use swaggersocket::Client;

async fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder(url)
        .metadata(serde_json::json!({ "app": "petstore_client" }))
        .connect()
        .await?;
    println!("connected to {url} as {}", client.connection().id());
    let api = petstore::ApiClient::new(client.connection());

    for (id, name, tag) in [
        (1, "Dolores", Some("cat")),
        (2, "Bernard", None),
        (3, "Maeve", Some("dog")),
    ] {
        let pet = petstore::types::Pet {
            id,
            name: name.into(),
            tag: tag.map(Into::into),
        };
        match api.create_pets(pet).await? {
            petstore::CreatePetsResponse::Created => println!("created pet {id} {name}"),
            other => return Err(format!("creating pet {id}: {other:?}").into()),
        }
    }
    match api.list_pets().limit(2).await? {
        petstore::ListPetsResponse::Ok { body, .. } => {
            let names: Vec<_> = body.iter().map(|p| p.name.as_str()).collect();
            println!("listPets limit=2 -> {names:?}");
            if names != ["Dolores", "Bernard"] {
                return Err("listPets returned the wrong pets".into());
            }
        }
        other => return Err(format!("listPets: {other:?}").into()),
    }
    match api.show_pet_by_id("3".into()).await? {
        petstore::ShowPetByIdResponse::Ok(pet) => {
            println!("showPetById 3 -> {} ({:?})", pet.name, pet.tag)
        }
        other => return Err(format!("showPetById 3: {other:?}").into()),
    }
    // Documented errors come back typed.
    match api.show_pet_by_id("42".into()).await? {
        petstore::ShowPetByIdResponse::Default { status, body } => {
            println!("showPetById 42 -> {status}: {}", body.message)
        }
        other => return Err(format!("showPetById 42 should be missing: {other:?}").into()),
    }
    match api
        .create_pets(petstore::types::Pet {
            id: 1,
            name: "Again".into(),
            tag: None,
        })
        .await?
    {
        petstore::CreatePetsResponse::Default { status, body } => {
            println!("createPets duplicate -> {status}: {}", body.message)
        }
        other => return Err(format!("duplicate create should fail: {other:?}").into()),
    }
    client.close();
    client.connection().closed().await.ok();
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let url = match arg("--url", "ws://127.0.0.1:9001/", &["--url"]) {
        Ok(url) => url,
        Err(message) => {
            eprintln!("petstore_client: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("petstore_client: {error}");
            ExitCode::FAILURE
        }
    }
}
