//! JSON Schema (as each generation writes it) → the model's schema arena.
//!
//! One node per place: a schema named by many `$ref`s is one
//! [`SchemaId`], and a cycle is just ids. The nodes `$ref`s name are
//! reserved when met and read afterwards ([`Loader::finish_schemas`]), so
//! that long chains of references do not deepen the recursion.

use super::refs::{At, RefError};
use super::{kind_of, Loader};
use crate::model::{Additional, Discriminator, Ref, Schema, SchemaId, Type, Version};
use serde_json::Value;

/// Keywords that constrain a value without changing its Rust type.
const ASSERTIONS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "patternProperties",
    "propertyNames",
    "contains",
    "minContains",
    "maxContains",
    "dependentRequired",
    "dependentSchemas",
    "if",
    "then",
    "else",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// Keywords beside a 3.1 `$ref` that only document it: they stay on the
/// reference node. Any other keyword constrains it (an `allOf`).
const DOCUMENTATION: &[&str] = &[
    "$ref",
    "title",
    "description",
    "default",
    "readOnly",
    "writeOnly",
    "deprecated",
    "example",
    "examples",
    "externalDocs",
    "xml",
    "$comment",
    "nullable",
    "x-nullable",
    "x-go-name",
    "discriminator",
];

impl Loader<'_> {
    /// The schema node of the schema `v` at `at`.
    pub(super) fn schema(&mut self, at: &At, v: &Value) -> SchemaId {
        self.schema_node(at, v, false)
    }

    /// The schema a 2.0 parameter (or header, or `items`) object describes
    /// with its own `type`, `items`, `enum`…, located at the object.
    pub(super) fn param_schema(&mut self, at: &At, v: &Value) -> SchemaId {
        self.schema_node(at, v, true)
    }

    fn schema_node(&mut self, at: &At, v: &Value, parameter: bool) -> SchemaId {
        if let Some(&id) = self.schema_at.get(at) {
            return id;
        }
        let id = self.reserve(at);
        let schema = self.read_schema(at, v, parameter);
        self.doc.schemas[id] = schema;
        id
    }

    fn reserve(&mut self, at: &At) -> SchemaId {
        let id = self.new_node(Schema {
            loc: self.loc(at),
            ..Schema::default()
        });
        self.schema_at.insert(at.clone(), id);
        id
    }

    fn new_node(&mut self, schema: Schema) -> SchemaId {
        self.doc.schemas.push(schema);
        self.doc.schemas.len() - 1
    }

    /// Reads every schema that a `$ref` named.
    pub(super) fn finish_schemas(&mut self) {
        while let Some((id, at)) = self.pending.pop() {
            let root = self.files.value(at.file);
            let value = root.pointer(&at.ptr).unwrap_or(&Value::Null);
            let schema = self.read_schema(&at, value, false);
            self.doc.schemas[id] = schema;
        }
    }

    /// The node the `$ref` `text` (written at `at`, the schema holding it)
    /// names; `None` when it names nothing (reported).
    fn schema_ref(&mut self, at: &At, text: &str) -> Option<SchemaId> {
        match self.files.resolve(at.file, text, "schema") {
            Ok(target) => {
                if let Some(&id) = self.schema_at.get(&target) {
                    return Some(id);
                }
                let id = self.reserve(&target);
                self.pending.push((id, target));
                Some(id)
            }
            Err(RefError::Broken(message)) => {
                self.error(&at.key("$ref"), message);
                None
            }
            Err(RefError::Anchor(message)) => {
                self.warn(&at.key("$ref"), format!("{message}; read as any value"));
                let loc = self.loc(at);
                Some(self.new_node(Schema {
                    loc,
                    ..Schema::default()
                }))
            }
        }
    }

    fn read_schema(&mut self, at: &At, v: &Value, parameter: bool) -> Schema {
        let loc = self.loc(at);
        let map = match v {
            Value::Object(map) => map,
            Value::Bool(b) if self.version >= Version::V31 => {
                // `true`: anything; `false`: nothing.
                let mut schema = Schema {
                    loc: loc.clone(),
                    ..Schema::default()
                };
                if !b {
                    schema.not = Some(self.new_node(Schema {
                        loc,
                        ..Schema::default()
                    }));
                }
                return schema;
            }
            other => {
                let message = format!("a schema must be an object, found {}", kind_of(other));
                self.bad(at, message);
                return Schema {
                    loc,
                    ..Schema::default()
                };
            }
        };
        let v31 = self.version >= Version::V31;
        if let Some(reference) = map.get("$ref") {
            let Value::String(text) = reference else {
                let message = format!("`$ref` must be a string, found {}", kind_of(reference));
                self.error(&at.key("$ref"), message);
                return Schema {
                    loc,
                    ..Schema::default()
                };
            };
            let target = self.schema_ref(at, text);
            let mut node = Schema {
                loc: loc.clone(),
                reference: Some(Ref {
                    text: text.clone(),
                    target,
                }),
                ..Schema::default()
            };
            // Before 3.1 the keywords beside a `$ref` are ignored.
            if !v31 {
                return node;
            }
            self.documentation(at, v, &mut node);
            let constrained = map.keys().any(|k| {
                !DOCUMENTATION.contains(&k.as_str()) && !k.starts_with("x-") && k != "$defs"
            });
            if !constrained {
                return node;
            }
            // `$ref` and constraints: the value is both (an `allOf`).
            let mut rest_map = map.clone();
            rest_map.remove("$ref");
            let rest = self.read_keywords(at, &Value::Object(rest_map), parameter);
            let (title, description) = (node.title.take(), node.description.take());
            node.default = None;
            let reference = self.new_node(node);
            let rest = self.new_node(rest);
            return Schema {
                loc,
                all_of: vec![reference, rest],
                title,
                description,
                ..Schema::default()
            };
        }
        self.read_keywords(at, v, parameter)
    }

    /// title, description, default, readOnly, writeOnly, nullable and
    /// naming hints: what a `$ref` may carry.
    fn documentation(&mut self, at: &At, v: &Value, schema: &mut Schema) {
        schema.title = self.string(at, v, "title").map(str::to_owned);
        schema.description = self.string(at, v, "description").map(str::to_owned);
        schema.default = v.get("default").cloned();
        schema.read_only = self.boolean(at, v, "readOnly");
        schema.write_only = self.boolean(at, v, "writeOnly");
        // `nullable` is 3.0's, but 3.1 documents converted from 3.0 keep
        // it; `x-nullable` is go-swagger's (2.0).
        schema.nullable |= self.boolean(at, v, "nullable") || self.boolean(at, v, "x-nullable");
        if let Some(Value::String(hint)) = v.get("x-go-name") {
            schema.name_hint = Some(hint.clone());
        }
    }

    /// Every keyword of a schema without `$ref`.
    fn read_keywords(&mut self, at: &At, v: &Value, parameter: bool) -> Schema {
        let mut s = Schema {
            loc: self.loc(at),
            ..Schema::default()
        };
        self.documentation(at, v, &mut s);
        let Value::Object(map) = v else { return s };
        for key in ["$id", "$anchor", "$dynamicAnchor"] {
            if map.contains_key(key) {
                self.warn(
                    &at.key(key),
                    format!("`{key}` is not supported: $refs are resolved without it"),
                );
            }
        }
        for key in ["$dynamicRef", "$recursiveRef"] {
            if map.contains_key(key) {
                self.warn(
                    &at.key(key),
                    format!("`{key}` is not supported; the schema is read as any value"),
                );
                return s;
            }
        }
        // type
        let mut types: Vec<Type> = Vec::new();
        match map.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(name)) => {
                if let Some(ty) = self.type_name(&at.key("type"), name, &mut s) {
                    types.push(ty);
                }
            }
            Some(Value::Array(names)) => {
                if self.version < Version::V31 {
                    self.warn(
                        &at.key("type"),
                        "a `type` array is OpenAPI 3.1; read as 3.1 reads it",
                    );
                }
                for (i, name) in names.iter().enumerate() {
                    match name {
                        Value::String(name) => {
                            if let Some(ty) = self.type_name(&at.key("type").index(i), name, &mut s)
                            {
                                if !types.contains(&ty) {
                                    types.push(ty);
                                }
                            }
                        }
                        other => {
                            let message =
                                format!("a `type` must be a string, found {}", kind_of(other));
                            self.bad(&at.key("type").index(i), message);
                        }
                    }
                }
            }
            Some(other) => {
                let message = format!("`type` must be a string, found {}", kind_of(other));
                self.bad(&at.key("type"), message);
            }
        }
        if types.contains(&Type::Null) {
            s.nullable = true;
            types.retain(|t| *t != Type::Null);
            if types.is_empty() {
                types.push(Type::Null);
            }
        }
        if let Some(format) = self.string(at, v, "format") {
            // `type: file` set `binary`.
            if s.format.is_none() {
                s.format = Some(format.to_owned());
            }
        }
        match map.get("enum") {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => s.enumeration = Some(values.clone()),
            Some(other) => {
                let message = format!("`enum` must be an array, found {}", kind_of(other));
                self.bad(&at.key("enum"), message);
            }
        }
        if let Some(value) = map.get("const") {
            s.enumeration = Some(vec![value.clone()]);
        }
        if let Some(properties) = self.object(at, v, "properties") {
            let props_at = at.key("properties");
            for (name, prop) in properties {
                let id = self.schema(&props_at.key(name), prop);
                s.properties.insert(name.clone(), id);
            }
        }
        if !parameter {
            match map.get("required") {
                None | Some(Value::Null) => {}
                Some(Value::Array(names)) => {
                    for (i, name) in names.iter().enumerate() {
                        match name {
                            Value::String(name) => s.required.push(name.clone()),
                            other => {
                                let message = format!(
                                    "`required` must list property names, found {}",
                                    kind_of(other)
                                );
                                self.bad(&at.key("required").index(i), message);
                            }
                        }
                    }
                }
                // `required: true` on a property schema, a common slip.
                Some(Value::Bool(_)) => self.warn(
                    &at.key("required"),
                    "`required` of a schema lists property names; a boolean is ignored \
                     (list the property in its object's `required`)",
                ),
                Some(other) => {
                    let message = format!("`required` must be an array, found {}", kind_of(other));
                    self.bad(&at.key("required"), message);
                }
            }
        }
        match map.get("additionalProperties") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => s.additional = Some(Additional::Bool(*b)),
            Some(schema @ Value::Object(_)) => {
                let id = self.schema(&at.key("additionalProperties"), schema);
                s.additional = Some(Additional::Schema(id));
            }
            Some(other) => {
                let message = format!(
                    "`additionalProperties` must be a boolean or a schema, found {}",
                    kind_of(other)
                );
                self.bad(&at.key("additionalProperties"), message);
            }
        }
        match map.get("items") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Array(items)) => {
                // 2.0/3.0's tuple form.
                let items_at = at.key("items");
                for (i, item) in items.iter().enumerate() {
                    let id = self.item_schema(&items_at.index(i), item, parameter);
                    s.prefix_items.push(id);
                }
            }
            Some(items @ (Value::Object(_) | Value::Bool(true))) => {
                s.items = Some(self.item_schema(&at.key("items"), items, parameter));
            }
            Some(other) => {
                let message = format!("`items` must be a schema, found {}", kind_of(other));
                self.bad(&at.key("items"), message);
            }
        }
        if let Some(items) = self.array(at, v, "prefixItems") {
            let items_at = at.key("prefixItems");
            for (i, item) in items.iter().enumerate() {
                let id = self.schema(&items_at.index(i), item);
                s.prefix_items.push(id);
            }
        }
        s.all_of = self.schema_list(at, v, "allOf");
        s.one_of = self.schema_list(at, v, "oneOf");
        s.any_of = self.schema_list(at, v, "anyOf");
        if let Some(not) = map.get("not") {
            s.not = Some(self.schema(&at.key("not"), not));
        }
        match map.get("discriminator") {
            None | Some(Value::Null) => {}
            // 2.0: the property name.
            Some(Value::String(property)) => {
                s.discriminator = Some(Discriminator {
                    property: property.clone(),
                    mapping: Vec::new(),
                    default_mapping: None,
                });
            }
            Some(d @ Value::Object(_)) => {
                let d_at = at.key("discriminator");
                let property = self.string(&d_at, d, "propertyName");
                let mut mapping = Vec::new();
                if let Some(map) = self.object(&d_at, d, "mapping") {
                    for (tag, target) in map {
                        match target {
                            Value::String(target) => mapping.push((tag.clone(), target.clone())),
                            other => {
                                let message = format!(
                                    "a discriminator mapping must name a schema, found {}",
                                    kind_of(other)
                                );
                                self.bad(&d_at.key("mapping").key(tag), message);
                            }
                        }
                    }
                }
                // 3.2: the schema of a value with another tag, or none.
                let default_mapping = self.string(&d_at, d, "defaultMapping").map(str::to_owned);
                match property {
                    Some(property) => {
                        s.discriminator = Some(Discriminator {
                            property: property.to_owned(),
                            mapping,
                            default_mapping,
                        });
                    }
                    None => self.bad(&d_at, "a discriminator needs a `propertyName`"),
                }
            }
            Some(other) => {
                let message = format!(
                    "`discriminator` must be an object, found {}",
                    kind_of(other)
                );
                self.bad(&at.key("discriminator"), message);
            }
        }
        s.asserts = ASSERTIONS
            .iter()
            .any(|k| map.get(*k).is_some_and(|v| !v.is_null()))
            || (parameter && map.get("pattern").is_some());
        s.content_encoding = self.string(at, v, "contentEncoding").map(str::to_owned);
        s.content_media_type = self.string(at, v, "contentMediaType").map(str::to_owned);
        match types.len() {
            0 => s,
            1 => {
                s.ty = Some(types[0]);
                s
            }
            _ => self.split_types(s, &types),
        }
    }

    /// `items` of a schema, or of a 2.0 parameter (which is written like a
    /// parameter: `type`, `items`, `collectionFormat`).
    fn item_schema(&mut self, at: &At, v: &Value, parameter: bool) -> SchemaId {
        if parameter {
            self.param_schema(at, v)
        } else {
            self.schema(at, v)
        }
    }

    fn schema_list(&mut self, at: &At, v: &Value, key: &str) -> Vec<SchemaId> {
        let Some(items) = self.array(at, v, key) else {
            return Vec::new();
        };
        let list_at = at.key(key);
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.schema(&list_at.index(i), item))
            .collect()
    }

    /// One name of `type`; 2.0's `file` is binary text.
    fn type_name(&mut self, at: &At, name: &str, s: &mut Schema) -> Option<Type> {
        if let Some(ty) = Type::parse(name) {
            return Some(ty);
        }
        if name == "file" && self.version == Version::Swagger2 {
            s.format = Some("binary".to_owned());
            return Some(Type::String);
        }
        let message = format!("unknown type `{name}`");
        if self.version == Version::Swagger2 {
            self.warn(at, format!("{message}; read as any value"));
        } else {
            self.error(at, message);
        }
        None
    }

    /// `type: [string, integer]`: an `anyOf` of one schema per type, each
    /// with the keywords that apply to it.
    fn split_types(&mut self, mut s: Schema, types: &[Type]) -> Schema {
        let mut alternatives = Vec::with_capacity(types.len());
        for &ty in types {
            let mut one = Schema {
                loc: s.loc.clone(),
                ty: Some(ty),
                asserts: s.asserts,
                ..Schema::default()
            };
            let fits = |v: &Value| match ty {
                Type::String => v.is_string(),
                Type::Integer => v.is_i64() || v.is_u64(),
                Type::Number => v.is_number(),
                Type::Boolean => v.is_boolean(),
                Type::Array => v.is_array(),
                Type::Object => v.is_object(),
                Type::Null => v.is_null(),
            };
            one.enumeration = s
                .enumeration
                .as_ref()
                .map(|values| values.iter().filter(|v| fits(v)).cloned().collect());
            match ty {
                Type::String => {
                    one.format.clone_from(&s.format);
                    one.content_encoding.clone_from(&s.content_encoding);
                    one.content_media_type.clone_from(&s.content_media_type);
                }
                Type::Integer | Type::Number => one.format.clone_from(&s.format),
                Type::Array => {
                    one.items = s.items;
                    one.prefix_items.clone_from(&s.prefix_items);
                }
                Type::Object => {
                    one.properties.clone_from(&s.properties);
                    one.required.clone_from(&s.required);
                    one.additional.clone_from(&s.additional);
                }
                Type::Boolean | Type::Null => {}
            }
            alternatives.push(self.new_node(one));
        }
        let outer = Schema {
            loc: s.loc.clone(),
            nullable: s.nullable,
            title: s.title.take(),
            description: s.description.take(),
            default: s.default.take(),
            read_only: s.read_only,
            write_only: s.write_only,
            name_hint: s.name_hint.take(),
            all_of: std::mem::take(&mut s.all_of),
            not: s.not.take(),
            ..Schema::default()
        };
        let mut outer = outer;
        if s.one_of.is_empty() && s.any_of.is_empty() {
            outer.any_of = alternatives;
            outer.discriminator = s.discriminator.take();
        } else {
            // The value is one of the types and one of the alternatives.
            let types_node = self.new_node(Schema {
                loc: s.loc.clone(),
                any_of: alternatives,
                ..Schema::default()
            });
            let rest = self.new_node(Schema {
                loc: s.loc.clone(),
                one_of: std::mem::take(&mut s.one_of),
                any_of: std::mem::take(&mut s.any_of),
                discriminator: s.discriminator.take(),
                ..Schema::default()
            });
            outer.all_of.extend([types_node, rest]);
        }
        outer
    }
}
