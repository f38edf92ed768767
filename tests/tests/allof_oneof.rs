//! `allOf` of an object and a `oneOf` of objects is an untagged enum of
//! merged structs, tagged when the `oneOf` has a discriminator
//! (`fixtures/allof-oneof.yaml`, from cloudflare.json).

use swaggersocket_tests::allof_oneof::types::{AppConfig, CreateDeployment, Rule};

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

#[test]
fn a_discriminated_one_of_gives_a_tagged_enum_of_merged_structs() {
    // `position` (common) and `level` (log only) in either order; the tag
    // picks the variant even where an untagged guess could not.
    let log: Rule = serde_json::from_str(r#"{"position": 3, "action": "log", "level": 2}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    match &log {
        Rule::Log(rule) => assert_eq!((rule.position, rule.level), (Some(3), Some(2))),
        other => panic!("not a log rule: {other:?}"),
    }
    let block: Rule = serde_json::from_str(r#"{"action": "block", "expression": "true"}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&block, Rule::Block(r) if r.expression == "true"),
        "{block:?}"
    );
    // Written back with its tag.
    let written = serde_json::to_value(&log).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(written["action"], "log");
    assert_eq!(written["position"], 3);
    let unknown = serde_json::from_str::<Rule>(r#"{"action": "skip"}"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(unknown.contains("unknown variant `skip`"), "{unknown}");
}
