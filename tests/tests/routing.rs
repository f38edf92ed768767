//! Overlapping path templates reach the operation the spec means
//! (`fixtures/routing.yaml`; the overlaps were found in adobe-aem.yaml and
//! twilio-api-v2010.json of the corpus).

use bytes::Bytes;
use swaggersocket_tests::routing::{Api, ApiService};

struct Nothing;
impl Api for Nothing {}

async fn operation_of(method: &str, uri: &str) -> String {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Bytes::new())
        .unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
    let response = ApiService::new(Nothing).handle(request).await;
    let body =
        String::from_utf8_lossy(response.body().as_full().expect("a whole body")).into_owned();
    assert_eq!(response.status(), 501, "{method} {uri}: {body}");
    body.split('`').nth(1).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_most_specific_template_wins() {
    for (method, uri, operation) in [
        ("GET", "/users/me", "getMe"),
        ("GET", "/users/42", "getUser"),
        ("DELETE", "/users/42", "deleteUser"),
        // `/users/me` has no DELETE: the next matching template serves it.
        ("DELETE", "/users/me", "deleteUser"),
        ("POST", "/nodes/a/b", "postNode"),
        ("POST", "/nodes/a/b.html", "postNodeHtml"),
        ("POST", "/nodes/a/b.rw.html", "postNodeRw"),
        ("POST", "/nodes/a/index.html", "postIndex"),
        ("POST", "/responses", "createResponse"),
        ("POST", "/responses?beta=false", "createResponse"),
        ("POST", "/responses?beta=true", "createBetaResponse"),
        ("POST", "/responses?x=1&beta=true", "createBetaResponse"),
    ] {
        assert_eq!(operation_of(method, uri).await, operation, "{method} {uri}");
    }
}
