//! The generated `Serialize`/`Deserialize` of schema objects and string enums
//! (`fixtures/kitchen-sink.yaml`): defaults, required and nullable
//! properties, closed and open objects, renamed and odd property names, and
//! the same values through a form body.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use swaggersocket_tests::kitchen_sink::types;

fn everything(extra: Value) -> Value {
    let mut base = json!({
        "id": 7,
        "name": "seven",
        "nullableRequired": null,
        "serverId": "s-1",
        "createdAt": "2026-11-27T01:02:03Z",
    });
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[test]
fn absent_properties_take_their_defaults_and_round_trip() {
    let e: types::Everything = decode(everything(json!({}))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((e.id, e.name.as_str()), (7, "seven"));
    assert_eq!(e.retries, 3);
    assert_eq!(e.label, "none");
    assert!(e.enabled);
    assert!((e.threshold + 1.5).abs() < f64::EPSILON);
    assert_eq!(e.default_color, types::Color::DarkBlue);
    assert_eq!(e.nickname, None);
    assert_eq!(e.nullable_required, None);
    // Written back: every required property, the defaults, no absent option.
    let written = serde_json::to_value(&e).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(written["createdAt"], "2026-11-27T01:02:03Z");
    assert_eq!(written["retries"], 3);
    assert_eq!(written["defaultColor"], "dark-blue");
    assert_eq!(written["nullableRequired"], Value::Null);
    assert!(written.get("nickname").is_none(), "{written}");
    assert_eq!(decode::<types::Everything>(written), Ok(e));
}

#[test]
fn set_properties_override_defaults_and_unknown_ones_are_skipped() {
    let value = everything(json!({
        "retries": 0,
        "nickname": "sev",
        "nullableRequired": "here",
        "color": "",
        "priority": -1,
        "tags": ["a", "b"],
        "labels": {"k": "v"},
        "tree": {"value": "root", "left": {"value": "l"}, "children": [{"value": "c"}]},
        "not in the schema": {"deep": [1, 2, {"x": null}]},
    }));
    let e: types::Everything = decode(value).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.retries, 0);
    assert_eq!(e.nickname.as_deref(), Some("sev"));
    assert_eq!(e.nullable_required.as_deref(), Some("here"));
    assert_eq!(e.color, Some(types::Color::Empty));
    assert_eq!(e.priority, Some(types::Priority::Minus1));
    let tree = e.tree.as_ref().unwrap_or_else(|| panic!("no tree"));
    assert_eq!(tree.left.as_ref().map(|t| t.value.as_str()), Some("l"));
    assert_eq!(tree.children.as_ref().map(Vec::len), Some(1));
    let written = serde_json::to_value(&e).unwrap_or_else(|e| panic!("{e}"));
    assert!(written.get("not in the schema").is_none());
    assert_eq!(written["tree"]["left"], json!({"value": "l"}));
}

#[test]
fn missing_repeated_and_mistyped_properties_are_errors() {
    let mut value = everything(json!({}));
    if let Some(map) = value.as_object_mut() {
        map.remove("name");
    }
    let missing = decode::<types::Everything>(value).unwrap_err();
    assert!(missing.contains("missing field `name`"), "{missing}");
    let repeated =
        serde_json::from_str::<types::Strict>(r#"{"only": "a", "only": "b"}"#).unwrap_err();
    assert!(
        repeated.to_string().contains("duplicate field `only`"),
        "{repeated}"
    );
    let mistyped =
        decode::<types::Everything>(everything(json!({"retries": "three"}))).unwrap_err();
    assert!(
        mistyped.contains("invalid type: string \"three\""),
        "{mistyped}"
    );
    let bad_enum = decode::<types::Everything>(everything(json!({"color": "blue"}))).unwrap_err();
    assert!(bad_enum.contains("unknown variant `blue`"), "{bad_enum}");
    let not_object = decode::<types::Strict>(json!(["only"])).unwrap_err();
    assert!(
        not_object.contains("expected struct Strict"),
        "{not_object}"
    );
}

#[test]
fn closed_objects_refuse_unknown_properties_and_open_ones_keep_them() {
    let strict = decode::<types::Strict>(json!({"only": "x", "extra": 1})).unwrap_err();
    assert!(strict.contains("unknown field `extra`"), "{strict}");
    let open: types::Open =
        decode(json!({"known": "k", "a": 1, "b": 2})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(open.known.as_deref(), Some("k"));
    assert_eq!(open.additional_properties.len(), 2);
    assert_eq!(open.additional_properties.get("b"), Some(&2));
    let written = serde_json::to_value(&open).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(written, json!({"known": "k", "a": 1, "b": 2}));
    let wrong = decode::<types::Open>(json!({"a": "not a number"})).unwrap_err();
    assert!(wrong.contains("invalid type"), "{wrong}");
}

#[test]
fn odd_property_names_keep_their_wire_names() {
    let value = json!({
        "type": "t", "self": "s", "$ref": "r", "+1": 1, "-1": -1,
        "@timestamp": "now", "": "empty", "401k": true, "cash isa": false,
        "fooBar": "camel", "foo_bar": "snake", "updated_at ": "space",
    });
    let names: types::Names = decode(value.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(serde_json::to_value(&names).ok(), Some(value));
}

#[test]
fn objects_travel_in_form_bodies_too() {
    let e: types::Everything = decode(everything(json!({
        "tags": ["a", "b"],
        "inline": {"depth": 2, "mode": "slow"},
    })))
    .unwrap_or_else(|e| panic!("{e}"));
    let form = serde_qs::to_string(&e).unwrap_or_else(|e| panic!("{e}"));
    assert!(form.contains("inline[depth]=2"), "{form}");
    let back: types::Everything = serde_qs::from_str(&form).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, e);
}
