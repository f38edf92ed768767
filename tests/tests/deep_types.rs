//! A chain of 60 schema types (`fixtures/deep-types.yaml`, stripe-like
//! depth) compiles, and its client and server futures are `Send`: a call
//! runs in a spawned task and the value goes round the loopback intact.

use swaggersocket::api::{Context, ServerError, StatusCode};
use swaggersocket::Server;
use swaggersocket_tests::deep_types::{types, Api, ApiClient, ApiService, GetLinkResponse};

/// `Link0 → Link1 → … → Link59 → Link0 …`, `depth` links long.
fn chain(depth: usize) -> types::Link0 {
    let json = (0..depth).rev().fold(serde_json::Value::Null, |next, i| {
        let mut link = serde_json::json!({ "name": format!("link {i}") });
        if !next.is_null() {
            link["next"] = next;
        }
        link
    });
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
}

struct Links;
impl Api for Links {
    async fn get_link(&self, _ctx: Context, id: String) -> Result<GetLinkResponse, ServerError> {
        let depth = id
            .parse()
            .map_err(|_| ServerError::new(StatusCode::BAD_REQUEST, "not a depth"))?;
        Ok(GetLinkResponse::Ok(chain(depth)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_value_goes_round_from_a_spawned_task() {
    let server = Server::builder()
        .serve(ApiService::new(Links))
        .bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("ws://{}/", server.local_addr());
    let client = swaggersocket::Client::builder(url)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let api = ApiClient::new(client.connection());
    // `tokio::spawn` needs the request future to be `Send`. (Not its
    // result: a task returning a 60-link value would make the compiler
    // prove `Send` through the chain, past its recursion limit.)
    let checked = tokio::spawn(async move {
        let got = api.get_link("61".into()).await;
        let GetLinkResponse::Ok(first) = got.unwrap_or_else(|e| panic!("{e}"));
        let second_next = first
            .next
            .as_ref()
            .and_then(|n| n.next.as_ref())
            .map(|n| n.name.clone());
        (first == chain(61), first.name.clone(), second_next)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        checked,
        (true, "link 0".to_owned(), Some("link 2".to_owned()))
    );
}
