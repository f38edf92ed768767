//! Enums: string and integer `enum`s (and `const`) as Rust enums.

use super::*;

impl<'a> TypeSpace<'a> {
    pub(super) fn str_enum(
        &mut self,
        values: &[&str],
        target: Option<TypeId>,
        hint: &str,
        doc: Option<String>,
    ) -> Ty {
        let mut scope = Scope::default();
        let mut variants = Vec::with_capacity(values.len());
        for value in values {
            if variants.iter().any(|(_, w): &(String, String)| w == value) {
                continue;
            }
            variants.push((scope.claim(camel(value, "Empty")), (*value).to_owned()));
        }
        if variants.is_empty() {
            return Ty::String;
        }
        self.define(target, hint, doc, Kind::StrEnum(variants))
    }

    pub(super) fn int_enum(
        &mut self,
        values: &[i64],
        target: Option<TypeId>,
        hint: &str,
        doc: Option<String>,
    ) -> Ty {
        let mut variants: Vec<(String, i64)> = Vec::with_capacity(values.len());
        for &value in values {
            if variants.iter().any(|(_, v)| *v == value) {
                continue;
            }
            let name = if value < 0 {
                format!("Minus{}", value.unsigned_abs())
            } else {
                format!("V{value}")
            };
            variants.push((name, value));
        }
        if variants.is_empty() {
            return Ty::I64;
        }
        self.define(target, hint, doc, Kind::IntEnum(variants))
    }
}

/// The text of each non-null scalar of a `type: string` enum (`true` →
/// `"true"`, `3` → `"3"`); `None` when a value is an array or an object.
pub(super) fn scalar_strings(values: &[Value]) -> Option<Vec<String>> {
    values
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// Whether every non-null value of an enum passes `test`.
pub(super) fn all_values(values: &[Value], test: fn(&Value) -> bool) -> bool {
    values.iter().filter(|v| !v.is_null()).all(test)
}
