//! The small pieces the generated `Deserialize` impls are made of.
//!
//! The generator writes one `visit_map` per schema object: a slot per
//! property, a `match` on the key, and the struct built from the slots. That
//! is a fraction of what `#[derive(Deserialize)]` expands to (no identifier
//! enum with its own visitor, no `visit_seq`), and the large APIs (thousands of
//! schemas) type-check in far less time and memory. The behaviour is the
//! derive's: unknown keys are skipped (or refused when the schema closes the
//! object), a repeated key is an error, a missing required key is a
//! `missing field` error, and a missing nullable one is `None`.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// An object key or an enum value: borrowed from the input when it can be.
#[derive(Debug)]
pub struct Key<'de>(Cow<'de, str>);

impl<'de> Key<'de> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Key<'de>, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Key(Cow::Borrowed(s))),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
        }
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Key<'de>, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Key(Cow::Owned(s.to_owned()))),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
        }
    }
}

/// As a map key: what the derive asks for (`deserialize_identifier`).
impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// A string value, such as the value of a string enum.
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
    deserializer.deserialize_str(KeyVisitor)
}

/// Reads the value of the property `name` into its slot; a second value for
/// the same property is an error, as with the derive.
pub fn slot<'de, M: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut M,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), M::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Skips the value of a property the schema does not name.
pub fn skip<'de, M: MapAccess<'de>>(map: &mut M) -> Result<(), M::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// The value of a required property, or `missing field`.
pub fn required<T, E: de::Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::de::value::{Error as ValueError, StrDeserializer};
    use serde::de::IntoDeserializer;

    #[derive(Debug, PartialEq)]
    struct Point {
        x: i64,
        label: Option<String>,
    }

    impl<'de> Deserialize<'de> for Point {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Point;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("struct Point")
                }
                fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Point, M::Error> {
                    let (mut x, mut label) = (None, None);
                    while let Some(key) = map.next_key::<Key<'de>>()? {
                        match key.as_str() {
                            "x" => slot(&mut map, &mut x, "x")?,
                            "label" => slot(&mut map, &mut label, "label")?,
                            _ => skip(&mut map)?,
                        }
                    }
                    Ok(Point {
                        x: required(x, "x")?,
                        label: label.unwrap_or_default(),
                    })
                }
            }
            deserializer.deserialize_map(V)
        }
    }

    fn point(json: &str) -> Result<Point, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_known_keys_skips_others_and_checks_required_and_repeated() {
        assert_eq!(
            point(r#"{"x": 3, "other": [1, {"a": 2}], "label": "p"}"#),
            Ok(Point {
                x: 3,
                label: Some("p".to_owned())
            })
        );
        assert_eq!(
            point(r#"{"x": 3, "label": null}"#).map(|p| p.label),
            Ok(None)
        );
        let missing = point(r#"{"label": "p"}"#).unwrap_err();
        assert!(missing.starts_with("missing field `x`"), "{missing}");
        let twice = point(r#"{"x": 1, "x": 2}"#).unwrap_err();
        assert!(twice.starts_with("duplicate field `x`"), "{twice}");
        let wrong = point(r#"{"x": "three"}"#).unwrap_err();
        assert!(
            wrong.starts_with("invalid type: string \"three\""),
            "{wrong}"
        );
        let not_object = point("[3]").unwrap_err();
        assert!(not_object.contains("expected struct Point"), "{not_object}");
    }

    #[test]
    fn keys_with_escapes_are_read_owned() {
        assert_eq!(point(r#"{"\u0078": 5}"#).map(|p| p.x), Ok(5));
    }

    #[test]
    fn text_reads_strings_only() {
        let de: StrDeserializer<'_, ValueError> = "on".into_deserializer();
        assert_eq!(text(de).map(Key::into_string), Ok("on".to_owned()));
        assert!(serde_json::from_str::<serde_json::Value>("true")
            .map_err(|e| e.to_string())
            .and_then(|v| text(v).map(Key::into_string).map_err(|e| e.to_string()))
            .is_err());
    }
}
