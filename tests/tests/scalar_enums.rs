//! `type: string` enums whose values YAML read as booleans or numbers travel
//! as the text of those values (`fixtures/scalar-enums.yaml`, from plaid.yaml
//! and linode.yaml).

use bytes::Bytes;
use swaggersocket::api::{Context, ServerError};
use swaggersocket_tests::scalar_enums::{
    types, Api, ApiService, ListHostnamesResponse, PutAssetResponse,
};

struct Store;
impl Api for Store {
    async fn put_asset(
        &self,
        _ctx: Context,
        body: types::Asset,
    ) -> Result<PutAssetResponse, ServerError> {
        Ok(PutAssetResponse::Ok(body))
    }

    async fn list_hostnames(
        &self,
        _ctx: Context,
        ssl: Option<types::ListHostnamesSsl>,
        retry: Option<bool>,
    ) -> Result<ListHostnamesResponse, ServerError> {
        Ok(ListHostnamesResponse::Ok(format!("{ssl:?} {retry:?}")))
    }
}

#[tokio::test]
async fn string_values_of_scalars_decode_and_encode_as_text() {
    let sent = r#"{"retirement":"true","commit":"false","detect":"3","model":"4.1"}"#;
    let request = http::Request::post("/assets")
        .header("content-type", "application/json")
        .body(Bytes::from_static(sent.as_bytes()))
        .unwrap_or_else(|e| panic!("{e}"));
    let response = ApiService::new(Store).handle(request).await;
    let body =
        String::from_utf8_lossy(response.body().as_full().expect("a whole body")).into_owned();
    assert_eq!(response.status(), 200, "{body}");
    let asset: types::Asset = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(asset.retirement, Some(types::AssetRetirement::True));
    assert_eq!(asset.commit, Some(types::AssetCommit::False));
    assert_eq!(asset.detect, Some(types::DetectVersion::V3));
    assert_eq!(asset.model, Some(types::ModelVersion::V41));
    assert_eq!(body, sent);
}

#[test]
fn a_value_outside_the_enum_is_refused() {
    let error = serde_json::from_str::<types::Asset>(r#"{"commit":"on"}"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("unknown variant `on`"), "{error}");
    // A JSON boolean is not the string the schema asks for.
    assert!(serde_json::from_str::<types::Asset>(r#"{"retirement":true}"#).is_err());
}

#[tokio::test]
async fn untyped_enums_of_integers_or_booleans_are_typed() {
    let service = ApiService::new(Store);
    let get = |uri: &'static str| {
        http::Request::get(uri)
            .body(Bytes::new())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let response = service.handle(get("/hostnames?ssl=1&retry=true")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.body().as_full().expect("a whole body").as_ref(),
        b"Some(V1) Some(true)"
    );
    let response = service.handle(get("/hostnames?ssl=2")).await;
    assert_eq!(response.status(), 400);
    let message =
        String::from_utf8_lossy(response.body().as_full().expect("a whole body")).into_owned();
    assert!(message.contains("`ssl`"), "{message}");
}
