//! A required property whose `$ref` names a `readOnly` (or `writeOnly`)
//! schema may be left out where the flag says it does not travel
//! (`fixtures/read-only-ref.yaml`, from cloudflare.json).

use bytes::Bytes;
use swaggersocket_tests::read_only_ref::{types, Api, ApiService};

struct Nothing;
impl Api for Nothing {}

#[tokio::test]
async fn a_request_without_the_read_only_property_reaches_the_operation() {
    let request = http::Request::post("/routes")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"network": "10.0.0.0/8"}"#))
        .unwrap_or_else(|e| panic!("{e}"));
    let response = ApiService::new(Nothing).handle(request).await;
    assert_eq!(
        response.status(),
        501,
        "{}",
        String::from_utf8_lossy(response.body().as_full().expect("a whole body"))
    );
}

#[test]
fn a_response_without_the_write_only_property_decodes() {
    let route: types::Route = serde_json::from_str(
        r#"{"network": "n", "tunnel_id": "f70ff985-a4ef-4643-bbbc-4a0ed4fc8415"}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(route.secret, None);
    assert!(route.tunnel_id.is_some());
}
