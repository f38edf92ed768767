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
use serde::ser::{self, Serialize, Serializer};
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

/// The error for a property a closed schema does not name.
pub fn unknown_field<E: de::Error>(key: &str, expected: &'static [&'static str]) -> Result<(), E> {
    Err(E::unknown_field(key, expected))
}

/// The error for a required property that is absent.
pub fn missing_field<E: de::Error>(name: &'static str) -> E {
    E::missing_field(name)
}

/// Reads the value of a property the schema does not name into the map
/// of the other properties (`additionalProperties`).
pub fn keep<'de, M: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut M,
    others: &mut std::collections::HashMap<String, T>,
    key: Key<'de>,
) -> Result<(), M::Error> {
    let value = map.next_value()?;
    others.insert(key.into_string(), value);
    Ok(())
}

/// The value of a required property, or `missing field`.
pub fn required<T, E: de::Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(name))
}

/// `Serialize` and `Deserialize` for a generated struct, from a table of
/// its properties: one line per property instead of the impls written out.
/// The expansion is the code the generator used to write (a map of the
/// properties that are set; one `visit_map` with a slot per property and a
/// `match` on the key), so the compile-time win over the derives is kept.
///
/// `object!(Name, unknown; field "wire" ser de, …)`:
/// - `unknown`: `skip` unknown keys, `deny` them (`unknown field`), or
///   `keep(field)` them in a map field (`additionalProperties`);
/// - `ser`: `all` (always written) or `some` (an `Option`, written when set);
/// - `de`: `req` (`missing field` when absent), `dflt` (the type's default
///   when absent) or `dfn(path)` (a function giving the spec's default).
#[macro_export]
#[doc(hidden)]
macro_rules! __object {
    ($name:ident, $unknown:ident $(($keep:ident))?; $($f:ident $w:literal $ser:ident $de:ident $(($dfn:path))?),* $(,)?) => {
        impl $crate::codegen::serde::Serialize for $name {
            fn serialize<__S: $crate::codegen::serde::Serializer>(&self, serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                // Early returns written out rather than `?`, and each mode a
                // function of `object_ser` rather than an inner macro: less
                // for macro expansion and the type checker, in thousands of
                // impls.
                #[allow(unused_mut)]
                let mut map = match $crate::codegen::serde::Serializer::serialize_map(serializer, ::core::option::Option::None) {
                    ::core::result::Result::Ok(map) => map,
                    ::core::result::Result::Err(e) => return ::core::result::Result::Err(e),
                };
                $(if let ::core::result::Result::Err(e) = $crate::codegen::object_ser::$ser(&mut map, $w, &self.$f) {
                    return ::core::result::Result::Err(e);
                })*
                $(if let ::core::result::Result::Err(e) = $crate::codegen::object_ser::rest(&mut map, &self.$keep) {
                    return ::core::result::Result::Err(e);
                })?
                $crate::codegen::serde::ser::SerializeMap::end(map)
            }
        }
        impl<'de> $crate::codegen::serde::Deserialize<'de> for $name {
            fn deserialize<__D: $crate::codegen::serde::Deserializer<'de>>(deserializer: __D) -> ::core::result::Result<Self, __D::Error> {
                struct __Visitor;
                impl<'de> $crate::codegen::serde::de::Visitor<'de> for __Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str(::core::concat!("struct ", ::core::stringify!($name)))
                    }
                    fn visit_map<__M: $crate::codegen::serde::de::MapAccess<'de>>(self, mut map: __M) -> ::core::result::Result<$name, __M::Error> {
                        $(let mut $f = ::core::option::Option::None;)*
                        $(let mut $keep = ::std::collections::HashMap::new();)?
                        // One fallible step per key, its error returned once.
                        loop {
                            let key = match $crate::codegen::serde::de::MapAccess::next_key::<$crate::codegen::Key<'de>>(&mut map) {
                                ::core::result::Result::Ok(::core::option::Option::Some(key)) => key,
                                ::core::result::Result::Ok(::core::option::Option::None) => break,
                                ::core::result::Result::Err(e) => return ::core::result::Result::Err(e),
                            };
                            let step = match key.as_str() {
                                $($w => $crate::codegen::slot(&mut map, &mut $f, $w),)*
                                _ => $crate::codegen::object_de::$unknown(&mut map, key, &[$($w),*] $(, &mut $keep)?),
                            };
                            if let ::core::result::Result::Err(e) = step {
                                return ::core::result::Result::Err(e);
                            }
                        }
                        ::core::result::Result::Ok($name {
                            $($f: match $crate::codegen::object_de::$de($f, $w $(, $dfn)?) {
                                ::core::result::Result::Ok(value) => value,
                                ::core::result::Result::Err(e) => return ::core::result::Result::Err(e),
                            },)*
                            $($keep,)?
                        })
                    }
                }
                $crate::codegen::serde::Deserializer::deserialize_map(deserializer, __Visitor)
            }
        }
    };
}

/// How `object!` writes a property: `all` always, `some` when set; `rest`
/// writes the `additionalProperties`.
pub mod object_ser {
    use serde::ser::{Serialize, SerializeMap};
    use std::collections::HashMap;

    /// A property always written.
    pub fn all<M: SerializeMap, T: Serialize + ?Sized>(
        map: &mut M,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        map.serialize_entry(key, value)
    }

    /// An optional property, written when it is set.
    pub fn some<M: SerializeMap, T: Serialize>(
        map: &mut M,
        key: &'static str,
        value: &Option<T>,
    ) -> Result<(), M::Error> {
        match value {
            Some(value) => map.serialize_entry(key, value),
            None => Ok(()),
        }
    }

    /// The properties not named in the schema.
    pub fn rest<M: SerializeMap, T: Serialize>(
        map: &mut M,
        others: &HashMap<String, T>,
    ) -> Result<(), M::Error> {
        for (key, value) in others {
            map.serialize_entry(key, value)?;
        }
        Ok(())
    }
}

/// How `object!` reads: a property that is absent (`req`: `missing field`;
/// `dflt`: the type's default; `dfn`: the spec's default), and a key the
/// schema does not name (`skip` it, `deny` it, `keep` it in the map of the
/// other properties).
pub mod object_de {
    use super::Key;
    use serde::de::{Deserialize, Error, IgnoredAny, MapAccess};
    use std::collections::HashMap;

    /// A required property.
    pub fn req<T, E: Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
        match slot {
            Some(value) => Ok(value),
            None => Err(E::missing_field(name)),
        }
    }

    /// A property that is the type's default when absent.
    pub fn dflt<T: Default, E>(slot: Option<T>, _name: &'static str) -> Result<T, E> {
        Ok(slot.unwrap_or_default())
    }

    /// A property that is the spec's default when absent.
    pub fn dfn<T, E>(slot: Option<T>, _name: &'static str, default: fn() -> T) -> Result<T, E> {
        Ok(slot.unwrap_or_else(default))
    }

    /// Skips the value of a key the schema does not name.
    pub fn skip<'de, M: MapAccess<'de>>(
        map: &mut M,
        _key: Key<'de>,
        _expected: &'static [&'static str],
    ) -> Result<(), M::Error> {
        map.next_value::<IgnoredAny>().map(|_| ())
    }

    /// Refuses a key a closed schema does not name.
    pub fn deny<'de, M: MapAccess<'de>>(
        _map: &mut M,
        key: Key<'de>,
        expected: &'static [&'static str],
    ) -> Result<(), M::Error> {
        Err(M::Error::unknown_field(key.as_str(), expected))
    }

    /// Keeps the value of a key the schema does not name.
    pub fn keep<'de, M: MapAccess<'de>, T: Deserialize<'de>>(
        map: &mut M,
        key: Key<'de>,
        _expected: &'static [&'static str],
        others: &mut HashMap<String, T>,
    ) -> Result<(), M::Error> {
        let value = map.next_value()?;
        others.insert(key.into_string(), value);
        Ok(())
    }
}

/// `as_str`, `Display`, `Serialize` and `Deserialize` for a generated
/// string enum: `str_enum!(Name; Variant "wire", …)`.
#[macro_export]
#[doc(hidden)]
macro_rules! __str_enum {
    ($name:ident; $($v:ident $w:literal),* $(,)?) => {
        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$v => $w,)* }
            }
        }
        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl $crate::codegen::serde::Serialize for $name {
            fn serialize<__S: $crate::codegen::serde::Serializer>(&self, serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> $crate::codegen::serde::Deserialize<'de> for $name {
            fn deserialize<__D: $crate::codegen::serde::Deserializer<'de>>(deserializer: __D) -> ::core::result::Result<Self, __D::Error> {
                let value = $crate::codegen::text(deserializer)?;
                match value.as_str() {
                    $($w => ::core::result::Result::Ok(Self::$v),)*
                    other => ::core::result::Result::Err($crate::codegen::serde::de::Error::unknown_variant(other, &[$($w),*])),
                }
            }
        }
    };
}

/// `value`, `Serialize` and `Deserialize` for a generated integer enum:
/// `int_enum!(Name, "one of 1, 2"; Variant 1, …)`.
#[macro_export]
#[doc(hidden)]
macro_rules! __int_enum {
    ($name:ident, $expected:literal; $($v:ident $n:literal),* $(,)?) => {
        impl $name {
            /// The value as it appears on the wire.
            pub fn value(&self) -> i64 {
                match self { $(Self::$v => $n,)* }
            }
        }
        impl $crate::codegen::serde::Serialize for $name {
            fn serialize<__S: $crate::codegen::serde::Serializer>(&self, serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                serializer.serialize_i64(self.value())
            }
        }
        impl<'de> $crate::codegen::serde::Deserialize<'de> for $name {
            fn deserialize<__D: $crate::codegen::serde::Deserializer<'de>>(deserializer: __D) -> ::core::result::Result<Self, __D::Error> {
                let value = <i64 as $crate::codegen::serde::Deserialize>::deserialize(deserializer)?;
                match value {
                    $($n => ::core::result::Result::Ok(Self::$v),)*
                    other => ::core::result::Result::Err($crate::codegen::serde::de::Error::invalid_value(
                        $crate::codegen::serde::de::Unexpected::Signed(other),
                        &$expected,
                    )),
                }
            }
        }
    };
}

/// Serializes a member of a tagged union in one pass: the member's own
/// serialization, with the discriminator `property: tag` written after its
/// properties when the member did not write that property itself. (It used
/// to go to a `serde_json::Value` first, to add the tag there.) Members
/// that are not objects are written as they are.
pub fn tagged<T: Serialize + ?Sized, S: Serializer>(
    value: &T,
    serializer: S,
    property: &'static str,
    tag: &'static str,
) -> Result<S::Ok, S::Error> {
    value.serialize(Tagged {
        inner: serializer,
        property,
        tag,
    })
}

struct Tagged<S> {
    inner: S,
    property: &'static str,
    tag: &'static str,
}

/// The map of a tagged member, watching for the discriminator's key.
struct TaggedMap<M> {
    inner: M,
    property: &'static str,
    tag: &'static str,
    seen: bool,
}

impl<M: ser::SerializeMap> TaggedMap<M> {
    fn note<K: Serialize + ?Sized>(&mut self, key: &K) {
        if !self.seen {
            self.seen = key.serialize(IsStr(self.property)).unwrap_or(false);
        }
    }

    fn finish(mut self) -> Result<M::Ok, M::Error> {
        if !self.seen {
            self.inner.serialize_entry(self.property, self.tag)?;
        }
        self.inner.end()
    }
}

impl<M: ser::SerializeMap> ser::SerializeMap for TaggedMap<M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), M::Error> {
        self.note(key);
        self.inner.serialize_key(key)
    }

    fn serialize_value<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), M::Error> {
        self.inner.serialize_value(value)
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), M::Error> {
        self.note(key);
        self.inner.serialize_entry(key, value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.finish()
    }
}

impl<M: ser::SerializeMap> ser::SerializeStruct for TaggedMap<M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> Result<(), M::Error> {
        self.note(key);
        self.inner.serialize_entry(key, value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.finish()
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<$out, S::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<S: Serializer> Serializer for Tagged<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = S::SerializeSeq;
    type SerializeTuple = S::SerializeTuple;
    type SerializeTupleStruct = S::SerializeTupleStruct;
    type SerializeTupleVariant = S::SerializeTupleVariant;
    type SerializeMap = TaggedMap<S::SerializeMap>;
    type SerializeStruct = TaggedMap<S::SerializeMap>;
    type SerializeStructVariant = S::SerializeStructVariant;

    forward! {
        serialize_bool(v: bool) -> S::Ok;
        serialize_i8(v: i8) -> S::Ok;
        serialize_i16(v: i16) -> S::Ok;
        serialize_i32(v: i32) -> S::Ok;
        serialize_i64(v: i64) -> S::Ok;
        serialize_i128(v: i128) -> S::Ok;
        serialize_u8(v: u8) -> S::Ok;
        serialize_u16(v: u16) -> S::Ok;
        serialize_u32(v: u32) -> S::Ok;
        serialize_u64(v: u64) -> S::Ok;
        serialize_u128(v: u128) -> S::Ok;
        serialize_f32(v: f32) -> S::Ok;
        serialize_f64(v: f64) -> S::Ok;
        serialize_char(v: char) -> S::Ok;
        serialize_str(v: &str) -> S::Ok;
        serialize_bytes(v: &[u8]) -> S::Ok;
        serialize_none() -> S::Ok;
        serialize_unit() -> S::Ok;
        serialize_unit_struct(name: &'static str) -> S::Ok;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> S::Ok;
        serialize_seq(len: Option<usize>) -> S::SerializeSeq;
        serialize_tuple(len: usize) -> S::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> S::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> S::SerializeTupleVariant;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> S::SerializeStructVariant;
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        // The length is unknown: the tag may be one entry more.
        Ok(TaggedMap {
            inner: self.inner.serialize_map(None)?,
            property: self.property,
            tag: self.tag,
            seen: false,
        })
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.serialize_map(None)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Whether a key serializes to the string `.0`.
struct IsStr(&'static str);

#[derive(Debug)]
struct NotStr;

impl fmt::Display for NotStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a string")
    }
}

impl std::error::Error for NotStr {}

impl ser::Error for NotStr {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        NotStr
    }
}

macro_rules! not_str {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method(self, $(_: $ty),*) -> Result<bool, NotStr> {
            Ok(false)
        })*
    };
}

impl Serializer for IsStr {
    type Ok = bool;
    type Error = NotStr;
    type SerializeSeq = ser::Impossible<bool, NotStr>;
    type SerializeTuple = ser::Impossible<bool, NotStr>;
    type SerializeTupleStruct = ser::Impossible<bool, NotStr>;
    type SerializeTupleVariant = ser::Impossible<bool, NotStr>;
    type SerializeMap = ser::Impossible<bool, NotStr>;
    type SerializeStruct = ser::Impossible<bool, NotStr>;
    type SerializeStructVariant = ser::Impossible<bool, NotStr>;

    fn serialize_str(self, v: &str) -> Result<bool, NotStr> {
        Ok(v == self.0)
    }

    not_str! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<bool, NotStr> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<bool, NotStr> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<bool, NotStr> {
        Ok(false)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, NotStr> {
        Err(NotStr)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, NotStr> {
        Err(NotStr)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, NotStr> {
        Err(NotStr)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, NotStr> {
        Err(NotStr)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, NotStr> {
        Err(NotStr)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, NotStr> {
        Err(NotStr)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, NotStr> {
        Err(NotStr)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, unreachable_pub)]
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

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Cat {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
    }

    fn tagged_json<T: Serialize>(value: &T) -> String {
        let mut out = Vec::new();
        tagged(
            value,
            &mut serde_json::Serializer::new(&mut out),
            "kind",
            "cat",
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tagged_members_get_their_tag_once() {
        let plain = Cat {
            name: "Tom".into(),
            kind: None,
        };
        assert_eq!(tagged_json(&plain), r#"{"name":"Tom","kind":"cat"}"#);
        // The member's own value of the property wins, as it did.
        let own = Cat {
            name: "Tom".into(),
            kind: Some("lion".into()),
        };
        assert_eq!(tagged_json(&own), r#"{"name":"Tom","kind":"lion"}"#);
        // Maps, boxes and options of objects too; others unchanged.
        let map: std::collections::BTreeMap<&str, i32> = [("a", 1)].into();
        assert_eq!(tagged_json(&Box::new(map)), r#"{"a":1,"kind":"cat"}"#);
        assert_eq!(
            tagged_json(&Some(serde_json::json!({}))),
            r#"{"kind":"cat"}"#
        );
        assert_eq!(tagged_json(&"text"), r#""text""#);
        assert_eq!(tagged_json(&[1, 2]), "[1,2]");
    }

    #[derive(Debug, PartialEq, Default)]
    struct Table {
        id: i64,
        note: Option<String>,
        size: i32,
        r#type: String,
        extra: std::collections::HashMap<String, i32>,
    }

    fn seven() -> i32 {
        7
    }

    crate::__object!(Table, keep(extra); id "id" all req, note "note" some dflt, size "size" all dfn(seven), r#type "type" all req);

    #[derive(Debug, PartialEq)]
    struct Closed {
        a: i32,
    }

    crate::__object!(Closed, deny; a "a" all req);

    #[derive(Debug, PartialEq)]
    struct Empty {}

    crate::__object!(Empty, deny;);

    #[derive(Debug, PartialEq, Clone, Copy)]
    enum Mode {
        On,
        Off,
    }

    crate::__str_enum!(Mode; On "on", Off "off");

    #[derive(Debug, PartialEq, Clone, Copy)]
    enum Level {
        Low,
        Minus,
    }

    crate::__int_enum!(Level, "one of 1, -2"; Low 1, Minus -2);

    #[test]
    fn table_macros_behave_as_the_written_out_impls() {
        let t: Table = serde_json::from_str(r#"{"id": 1, "type": "x", "more": 5}"#).unwrap();
        assert_eq!(
            t,
            Table {
                id: 1,
                note: None,
                size: 7,
                r#type: "x".into(),
                extra: [("more".to_owned(), 5)].into(),
            }
        );
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"id":1,"size":7,"type":"x","more":5}"#
        );
        let missing = serde_json::from_str::<Table>(r#"{"type": "x"}"#).unwrap_err();
        assert!(
            missing.to_string().starts_with("missing field `id`"),
            "{missing}"
        );
        let twice =
            serde_json::from_str::<Table>(r#"{"id": 1, "id": 2, "type": "x"}"#).unwrap_err();
        assert!(
            twice.to_string().starts_with("duplicate field `id`"),
            "{twice}"
        );
        let unknown = serde_json::from_str::<Closed>(r#"{"a": 1, "b": 2}"#).unwrap_err();
        assert!(
            unknown
                .to_string()
                .starts_with("unknown field `b`, expected `a`"),
            "{unknown}"
        );
        assert_eq!(serde_json::from_str::<Empty>("{}").unwrap(), Empty {});
        let unknown = serde_json::from_str::<Empty>(r#"{"b": 2}"#).unwrap_err();
        assert!(
            unknown.to_string().starts_with("unknown field `b`"),
            "{unknown}"
        );
        let not_object = serde_json::from_str::<Closed>("[1]").unwrap_err();
        assert!(
            not_object.to_string().contains("expected struct Closed"),
            "{not_object}"
        );

        assert_eq!(serde_json::to_string(&Mode::Off).unwrap(), r#""off""#);
        assert_eq!(serde_json::from_str::<Mode>(r#""on""#).unwrap(), Mode::On);
        assert_eq!(Mode::On.to_string(), "on");
        let bad = serde_json::from_str::<Mode>(r#""up""#).unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("unknown variant `up`, expected `on` or `off`"),
            "{bad}"
        );

        assert_eq!(serde_json::to_string(&Level::Minus).unwrap(), "-2");
        assert_eq!(serde_json::from_str::<Level>("1").unwrap(), Level::Low);
        let bad = serde_json::from_str::<Level>("3").unwrap_err();
        assert!(bad.to_string().contains("expected one of 1, -2"), "{bad}");
    }
}
