//! A required object whose properties are all optional may be left out of a
//! form body, which is how `{}` travels there (`fixtures/form-empty-object.yaml`,
//! from stripe.yaml).

use bytes::Bytes;
use swaggersocket_tests::form_empty_object::{types, Api, ApiService};

struct Nothing;
impl Api for Nothing {}

#[tokio::test]
async fn an_empty_required_object_reaches_the_operation() {
    let request = http::Request::post("/account_sessions")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from_static(b"account=acct_1"))
        .unwrap_or_else(|e| panic!("{e}"));
    let response = ApiService::new(Nothing).handle(request).await;
    assert_eq!(
        response.status(),
        501,
        "{}",
        String::from_utf8_lossy(response.body().as_full().expect("a whole body"))
    );
    // And what a client sends for `{}` decodes back to it.
    let body: types::CreateAccountSessionBody =
        serde_json::from_str(r#"{"account": "acct_1"}"#).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body.components, Default::default());
}
