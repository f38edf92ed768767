//! A document split over several files (`fixtures/multi-file/`), generated
//! three ways: the macro's module serves, the CLI's and the build script's
//! modules call it over a real websocket. The `$ref`s to paths, parameters,
//! responses and schemas in other files, and the cycle between `pet.yaml`
//! and `owner.yaml`, all come out as one API.
#![allow(clippy::unwrap_used)]

use petstore_example::{kennel_via_build, kennel_via_cli, kennel_via_macro};
use std::sync::Mutex;
use swaggersocket::api::{Context, ServerError, StatusCode};

#[derive(Default)]
struct Kennel(Mutex<Vec<kennel_via_macro::kennel::types::Pet>>);

impl kennel_via_macro::kennel::Api for Kennel {
    async fn list_pets(
        &self,
        _ctx: Context,
        limit: Option<i32>,
    ) -> Result<kennel_via_macro::kennel::ListPetsResponse, ServerError> {
        let mut pets = self.0.lock().unwrap().clone();
        pets.truncate(limit.map_or(usize::MAX, |l| l as usize));
        Ok(kennel_via_macro::kennel::ListPetsResponse::Ok(pets))
    }

    async fn add_pet(
        &self,
        _ctx: Context,
        body: kennel_via_macro::kennel::types::Pet,
    ) -> Result<kennel_via_macro::kennel::AddPetResponse, ServerError> {
        self.0.lock().unwrap().push(body.clone());
        Ok(kennel_via_macro::kennel::AddPetResponse::Created(body))
    }

    async fn get_pet(
        &self,
        _ctx: Context,
        pet_id: i64,
    ) -> Result<kennel_via_macro::kennel::GetPetResponse, ServerError> {
        let pets = self.0.lock().unwrap();
        match pets.iter().find(|p| p.id == pet_id) {
            Some(pet) => Ok(kennel_via_macro::kennel::GetPetResponse::Ok(pet.clone())),
            None => Ok(kennel_via_macro::kennel::GetPetResponse::Default {
                status: StatusCode::NOT_FOUND,
                body: kennel_via_macro::kennel::types::Error {
                    message: format!("no pet {pet_id}"),
                },
            }),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_file_api_generated_three_ways_works_over_a_socket() {
    let server = swaggersocket::Server::builder()
        .serve(kennel_via_macro::kennel::ApiService::new(Kennel::default()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = swaggersocket::Client::builder(format!("ws://{}/", server.local_addr()))
        .connect()
        .await
        .unwrap();

    // The CLI's module adds a pet whose owner lists pets (the cross-file cycle).
    use kennel_via_cli::kennel::types as cli;
    let rex = cli::Pet {
        id: 1,
        name: "Rex".into(),
        owner: Some(cli::Owner {
            name: "Ann".into(),
            pets: Some(vec![cli::Pet {
                id: 2,
                name: "Tom".into(),
                owner: None,
                kind: Some(cli::Kind::Cat),
            }]),
        }),
        kind: Some(cli::Kind::Dog),
    };
    let by_cli = kennel_via_cli::kennel::ApiClient::new(client.connection());
    match by_cli.add_pet(rex.clone()).await.unwrap() {
        kennel_via_cli::kennel::AddPetResponse::Created(pet) => assert_eq!(pet, rex),
        other => panic!("{other:?}"),
    }

    // The build script's module reads it back, and meets the shared error
    // response of `common.yaml`.
    let by_build = kennel_via_build::kennel::ApiClient::new(client.connection());
    match by_build.get_pet(1).await.unwrap() {
        kennel_via_build::kennel::GetPetResponse::Ok(pet) => {
            assert_eq!(pet.name, "Rex");
            let owner = pet.owner.unwrap();
            assert_eq!(
                owner.pets.unwrap()[0].kind,
                Some(kennel_via_build::kennel::types::Kind::Cat)
            );
        }
        other => panic!("{other:?}"),
    }
    match by_build.get_pet(7).await.unwrap() {
        kennel_via_build::kennel::GetPetResponse::Default { status, body } => {
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(body.message, "no pet 7");
        }
        other => panic!("{other:?}"),
    }
    let kennel_via_build::kennel::ListPetsResponse::Ok(all) =
        by_build.list_pets().limit(5).await.unwrap();
    assert_eq!(all.len(), 1);
}
