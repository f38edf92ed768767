//! `allOf` of an object and a `oneOf` of objects is an untagged enum of
//! merged structs (`fixtures/allof-oneof.yaml`, from cloudflare.json).

use swaggersocket_tests::allof_oneof::types::{AppConfig, CreateDeployment};

#[test]
fn the_common_properties_distribute_over_the_alternatives() {
    let managed: AppConfig =
        serde_json::from_str(r#"{"id": "a", "priority": 2, "managed_app_id": "m"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
    match managed {
        AppConfig::ManagedApp(app) => {
            assert_eq!((app.id.as_str(), app.priority), ("a", Some(2)));
            assert_eq!(app.managed_app_id, "m");
        }
        other => panic!("not a managed app: {other:?}"),
    }
    let account: AppConfig = serde_json::from_str(r#"{"id": "b", "account_app_id": "c"}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(account, AppConfig::AccountApp(_)), "{account:?}");
    // One alternative: a single merged struct.
    let deployment: CreateDeployment =
        serde_json::from_str(r#"{"message": "hi", "percentage": 50}"#)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deployment.percentage, 50.0);
}
