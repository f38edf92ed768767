//! Parameters as text: path, query, header and cookie values decoded from
//! their text straight into their types, and encoded from their types
//! straight into text, without a `serde_json::Value` in between.
//!
//! Decoding reads the text as a string first (strings, string enums, dates,
//! uuids, …), and as JSON where the type asks for a number or a boolean; a
//! type that wants more (an object, an untagged enum that did not take the
//! string) is parsed from the text as JSON. Encoding writes scalars and
//! arrays of scalars directly; anything else goes through JSON.

use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde::ser::{self, Impossible, Serialize, Serializer};
use std::fmt;

// ---------------------------------------------------------------------------
// Decoding

/// Parses a parameter from its text: as a string first (strings, enums,
/// dates, uuids), then as JSON (numbers, booleans, objects). The error is
/// that of reading the text as a string, as before.
pub(crate) fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    if let Ok(v) = T::deserialize(Text { text, json: true }) {
        return Ok(v);
    }
    if let Ok(v) = serde_json::from_str::<T>(text) {
        return Ok(v);
    }
    // The message of the string reading, which names what was expected.
    T::deserialize(Text { text, json: false }).map_err(|e| e.to_string())
}

/// Reads comma-separated items (an array in a response header) as a
/// sequence of strings, as a JSON array of strings would be read.
pub(crate) fn list_from_texts<'a, T: DeserializeOwned>(
    items: impl Iterator<Item = &'a str>,
) -> Result<T, String> {
    let items = items.map(|text| Text { text, json: false });
    T::deserialize(de::value::SeqDeserializer::<_, de::value::Error>::new(
        items,
    ))
    .map_err(|e| e.to_string())
}

impl<'de> IntoDeserializer<'de, de::value::Error> for Text<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// The text of one parameter as a `Deserializer`. With `json`, numbers and
/// booleans are parsed from the text (as JSON, the grammar they were always
/// read with) and compound types from the text as JSON; without, every
/// request is answered with the string, as a JSON string value would be.
#[derive(Clone, Copy)]
struct Text<'a> {
    text: &'a str,
    json: bool,
}

impl<'de> Text<'de> {
    /// The text parsed as JSON for `f` (numbers, booleans, compounds).
    fn json<V, F>(self, visitor: V, f: F) -> Result<V::Value, de::value::Error>
    where
        V: Visitor<'de>,
        F: FnOnce(
            &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
            V,
        ) -> Result<V::Value, serde_json::Error>,
    {
        if !self.json {
            return visitor.visit_borrowed_str(self.text);
        }
        let mut de = serde_json::Deserializer::from_str(self.text);
        let value = f(&mut de, visitor).map_err(de::Error::custom)?;
        de.end().map_err(de::Error::custom)?;
        Ok(value)
    }
}

macro_rules! through_json {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.json(visitor, |de, v| de.$method(v))
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Text<'de> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_borrowed_str(self.text)
    }

    through_json! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_unit deserialize_seq
        deserialize_map
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.json(visitor, |de, v| de.deserialize_unit(v))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.json(visitor, |de, v| de.deserialize_tuple(len, v))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.json(visitor, |de, v| de.deserialize_tuple_struct(name, len, v))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.json(visitor, |de, v| de.deserialize_struct(name, fields, v))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // A unit variant named by the text, as from a JSON string.
        visitor.visit_enum(self.text.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf identifier ignored_any
    }
}

// ---------------------------------------------------------------------------
// Encoding

/// A parameter value as strings: one per array element (`null` items left
/// out), none for `None`; a scalar's text, an object's JSON text.
pub(crate) fn to_texts<T: Serialize + ?Sized>(value: &T) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    match value.serialize(Texts { out: &mut out }) {
        Ok(()) => Ok(out),
        Err(Fallback::Json) => json_texts(value),
        Err(Fallback::Error(e)) => Err(e),
    }
}

/// Objects, maps and variants with data: through JSON, as they always were.
fn json_texts<T: Serialize + ?Sized>(value: &T) -> Result<Vec<String>, String> {
    use serde_json::Value;
    let scalar = |value: Value| match value {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let value = serde_json::to_value(value).map_err(|e| e.to_string())?;
    Ok(match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .into_iter()
            .filter(|v| !v.is_null())
            .map(scalar)
            .collect(),
        other => vec![scalar(other)],
    })
}

/// Why the direct encoding stopped: a value it leaves to JSON, or an error
/// of the value's own `Serialize`.
#[derive(Debug)]
enum Fallback {
    Json,
    Error(String),
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::Json => f.write_str("left to JSON"),
            Fallback::Error(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Fallback {}

impl ser::Error for Fallback {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Fallback::Error(msg.to_string())
    }
}

/// The text of a finite float as JSON writes it; nothing (`null`) for the
/// others.
fn float_text(value: f64) -> Option<String> {
    value
        .is_finite()
        .then(|| serde_json::to_string(&value).unwrap_or_default())
}

/// Writes the top-level value: a scalar, or a sequence of scalars.
struct Texts<'a> {
    out: &'a mut Vec<String>,
}

/// Writes one item of a sequence: a scalar (`None` leaves nothing).
struct Item<'a> {
    out: &'a mut Vec<String>,
}

macro_rules! scalar_methods {
    () => {
        fn serialize_bool(self, v: bool) -> Result<(), Fallback> {
            self.out.push(if v { "true" } else { "false" }.to_owned());
            Ok(())
        }
        fn serialize_i8(self, v: i8) -> Result<(), Fallback> {
            self.serialize_i64(i64::from(v))
        }
        fn serialize_i16(self, v: i16) -> Result<(), Fallback> {
            self.serialize_i64(i64::from(v))
        }
        fn serialize_i32(self, v: i32) -> Result<(), Fallback> {
            self.serialize_i64(i64::from(v))
        }
        fn serialize_i64(self, v: i64) -> Result<(), Fallback> {
            self.out.push(v.to_string());
            Ok(())
        }
        fn serialize_i128(self, v: i128) -> Result<(), Fallback> {
            self.out.push(v.to_string());
            Ok(())
        }
        fn serialize_u8(self, v: u8) -> Result<(), Fallback> {
            self.serialize_u64(u64::from(v))
        }
        fn serialize_u16(self, v: u16) -> Result<(), Fallback> {
            self.serialize_u64(u64::from(v))
        }
        fn serialize_u32(self, v: u32) -> Result<(), Fallback> {
            self.serialize_u64(u64::from(v))
        }
        fn serialize_u64(self, v: u64) -> Result<(), Fallback> {
            self.out.push(v.to_string());
            Ok(())
        }
        fn serialize_u128(self, v: u128) -> Result<(), Fallback> {
            self.out.push(v.to_string());
            Ok(())
        }
        fn serialize_f32(self, v: f32) -> Result<(), Fallback> {
            // As JSON numbers hold it: widened to f64.
            self.out.extend(float_text(f64::from(v)));
            Ok(())
        }
        fn serialize_f64(self, v: f64) -> Result<(), Fallback> {
            self.out.extend(float_text(v));
            Ok(())
        }
        fn serialize_char(self, v: char) -> Result<(), Fallback> {
            self.out.push(v.to_string());
            Ok(())
        }
        fn serialize_str(self, v: &str) -> Result<(), Fallback> {
            self.out.push(v.to_owned());
            Ok(())
        }
        fn serialize_bytes(self, _v: &[u8]) -> Result<(), Fallback> {
            Err(Fallback::Json)
        }
        fn serialize_none(self) -> Result<(), Fallback> {
            Ok(())
        }
        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Fallback> {
            value.serialize(self)
        }
        fn serialize_unit(self) -> Result<(), Fallback> {
            Ok(())
        }
        fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Fallback> {
            Ok(())
        }
        fn serialize_unit_variant(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
        ) -> Result<(), Fallback> {
            self.serialize_str(variant)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _name: &'static str,
            value: &T,
        ) -> Result<(), Fallback> {
            value.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _name: &'static str,
            _index: u32,
            _variant: &'static str,
            _value: &T,
        ) -> Result<(), Fallback> {
            Err(Fallback::Json)
        }
        fn serialize_tuple_struct(
            self,
            _name: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeTupleStruct, Fallback> {
            Err(Fallback::Json)
        }
        fn serialize_tuple_variant(
            self,
            _name: &'static str,
            _index: u32,
            _variant: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeTupleVariant, Fallback> {
            Err(Fallback::Json)
        }
        fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Fallback> {
            Err(Fallback::Json)
        }
        fn serialize_struct(
            self,
            _name: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeStruct, Fallback> {
            Err(Fallback::Json)
        }
        fn serialize_struct_variant(
            self,
            _name: &'static str,
            _index: u32,
            _variant: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeStructVariant, Fallback> {
            Err(Fallback::Json)
        }
    };
}

impl<'a> Serializer for Texts<'a> {
    type Ok = ();
    type Error = Fallback;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Impossible<(), Fallback>;
    type SerializeTupleVariant = Impossible<(), Fallback>;
    type SerializeMap = Impossible<(), Fallback>;
    type SerializeStruct = Impossible<(), Fallback>;
    type SerializeStructVariant = Impossible<(), Fallback>;

    scalar_methods!();

    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'a>, Fallback> {
        Ok(Seq { out: self.out })
    }

    fn serialize_tuple(self, _len: usize) -> Result<Seq<'a>, Fallback> {
        Ok(Seq { out: self.out })
    }
}

impl Serializer for Item<'_> {
    type Ok = ();
    type Error = Fallback;
    type SerializeSeq = Impossible<(), Fallback>;
    type SerializeTuple = Impossible<(), Fallback>;
    type SerializeTupleStruct = Impossible<(), Fallback>;
    type SerializeTupleVariant = Impossible<(), Fallback>;
    type SerializeMap = Impossible<(), Fallback>;
    type SerializeStruct = Impossible<(), Fallback>;
    type SerializeStructVariant = Impossible<(), Fallback>;

    scalar_methods!();

    // A nested array is an item's JSON text.
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Fallback> {
        Err(Fallback::Json)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Fallback> {
        Err(Fallback::Json)
    }
}

/// The items of a top-level sequence.
struct Seq<'a> {
    out: &'a mut Vec<String>,
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        value.serialize(Item { out: self.out })
    }

    fn end(self) -> Result<(), Fallback> {
        Ok(())
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        value.serialize(Item { out: self.out })
    }

    fn end(self) -> Result<(), Fallback> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// What the encoding through `serde_json::Value` gave, for comparison.
    fn old<T: Serialize + ?Sized>(value: &T) -> Vec<String> {
        json_texts(value).unwrap()
    }

    #[test]
    fn encodes_as_through_json() {
        #[derive(serde::Serialize)]
        enum Color {
            Red,
        }
        #[derive(serde::Serialize)]
        struct Wrapper(i32);
        type Case = Box<dyn Fn() -> (Vec<String>, Vec<String>)>;
        let cases: Vec<Case> = vec![
            Box::new(|| (to_texts(&3i32).unwrap(), old(&3i32))),
            Box::new(|| (to_texts(&-3i64).unwrap(), old(&-3i64))),
            Box::new(|| (to_texts(&u64::MAX).unwrap(), old(&u64::MAX))),
            Box::new(|| (to_texts(&1.0f64).unwrap(), old(&1.0f64))),
            Box::new(|| (to_texts(&0.1f32).unwrap(), old(&0.1f32))),
            Box::new(|| (to_texts(&f64::NAN).unwrap(), old(&f64::NAN))),
            Box::new(|| (to_texts(&true).unwrap(), old(&true))),
            Box::new(|| (to_texts("a b").unwrap(), old("a b"))),
            Box::new(|| (to_texts(&'c').unwrap(), old(&'c'))),
            Box::new(|| {
                (
                    to_texts(&Option::<i32>::None).unwrap(),
                    old(&Option::<i32>::None),
                )
            }),
            Box::new(|| (to_texts(&Some(4u8)).unwrap(), old(&Some(4u8)))),
            Box::new(|| (to_texts(&Color::Red).unwrap(), old(&Color::Red))),
            Box::new(|| (to_texts(&Wrapper(7)).unwrap(), old(&Wrapper(7)))),
            Box::new(|| {
                let v = vec![Some(1), None, Some(3)];
                (to_texts(&v).unwrap(), old(&v))
            }),
            Box::new(|| {
                let v = vec![vec![1, 2], vec![3]];
                (to_texts(&v).unwrap(), old(&v))
            }),
            Box::new(|| {
                let v = json!({"a": 1, "b": [true]});
                (to_texts(&v).unwrap(), old(&v))
            }),
            Box::new(|| {
                let v = json!(["x", {"k": null}, null, 2.5]);
                (to_texts(&v).unwrap(), old(&v))
            }),
            Box::new(|| {
                let v = (1, "two");
                (to_texts(&v).unwrap(), old(&v))
            }),
        ];
        for (i, case) in cases.iter().enumerate() {
            let (new, old) = case();
            assert_eq!(new, old, "case {i}");
        }
    }

    /// What decoding through a JSON string value, then JSON, gave.
    fn old_from<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        match serde_json::from_value::<T>(Value::String(text.to_owned())) {
            Ok(v) => Ok(v),
            Err(first) => serde_json::from_str::<T>(text).map_err(|_| first.to_string()),
        }
    }

    fn same<T: DeserializeOwned + PartialEq + fmt::Debug>(text: &str) {
        assert_eq!(from_text::<T>(text), old_from::<T>(text), "{text:?}");
    }

    #[test]
    fn decodes_as_through_json() {
        #[derive(serde::Deserialize, PartialEq, Debug)]
        enum Color {
            Red,
        }
        #[derive(serde::Deserialize, PartialEq, Debug)]
        #[serde(untagged)]
        enum Either {
            Int(i64),
            Flag(bool),
        }
        #[derive(serde::Deserialize, PartialEq, Debug)]
        #[serde(untagged)]
        enum IntOrText {
            Int(i64),
            Text(String),
        }
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Point {
            x: i32,
        }
        for text in [
            "12", "-3", "x", "", "1.5", "1e3", "+1", "012", " 7 ", "null", "true",
        ] {
            same::<i32>(text);
            same::<i64>(text);
            same::<u8>(text);
            same::<f64>(text);
            same::<f32>(text);
            same::<bool>(text);
            same::<String>(text);
            same::<Option<i32>>(text);
            same::<Option<String>>(text);
            same::<Value>(text);
            same::<Either>(text);
            same::<IntOrText>(text);
            same::<Color>(text);
        }
        for text in ["Red", "Blue", r#"{"x": 1}"#, "[1, 2]", r#"{"x": "a"}"#] {
            same::<Color>(text);
            same::<Point>(text);
            same::<Vec<i32>>(text);
            same::<Value>(text);
        }
        same::<uuid::Uuid>("67e55044-10b1-426f-9247-bb680e5fe0c8");
        same::<uuid::Uuid>("nope");
        same::<chrono::NaiveDate>("2024-02-29");
        same::<chrono::DateTime<chrono::Utc>>("2024-02-29T10:00:00Z");
        assert_eq!(
            from_text::<i32>("x").unwrap_err(),
            "invalid type: string \"x\", expected i32"
        );
    }
}
