//! Resolve and model the schemas: `$ref`s, names and collisions, and the
//! mapping from JSON Schema to Rust types.

use crate::diag::{join, Diags};
use crate::model::{Additional, Discriminator, Document, Ref, Schema, SchemaId, Type};
use crate::naming::{camel, snake, unescape_token, Scope};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;

mod enums;
mod objects;
mod unions;

use enums::{all_values, scalar_strings};
use objects::has_object_keywords;

/// Index of a [`TypeDef`] in [`TypeSpace::defs`].
pub(crate) type TypeId = usize;

/// A Rust type as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    String,
    Bool,
    I32,
    I64,
    F32,
    F64,
    DateTime,
    Date,
    Uuid,
    Base64,
    Ipv4,
    Ipv6,
    IpAddr,
    /// Any JSON value (`{}` schemas and fallbacks).
    Value,
    /// Raw bytes (binary bodies).
    Bytes,
    /// A file part of a multipart body (`format: binary` there).
    File,
    Vec(Box<Ty>),
    /// A fixed-length array of these types (`prefixItems`).
    Tuple(Vec<Ty>),
    Map(Box<Ty>),
    Option(Box<Ty>),
    Named(TypeId),
}

impl Ty {
    pub(crate) fn option(self) -> Ty {
        match self {
            Ty::Option(_) | Ty::Value => self,
            other => Ty::Option(Box::new(other)),
        }
    }

    /// The type of an optional field: `Option<T>`, also for `Value` (a
    /// missing field is not a JSON `null`).
    pub(crate) fn optional(self) -> Ty {
        match self {
            Ty::Option(_) => self,
            other => Ty::Option(Box::new(other)),
        }
    }

    pub(crate) fn is_option(&self) -> bool {
        matches!(self, Ty::Option(_))
    }
}

/// A named type in the generated `types` module.
#[derive(Debug)]
pub(crate) struct TypeDef {
    pub(crate) name: String,
    pub(crate) doc: Option<String>,
    pub(crate) kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// Reserved, not yet defined (only during modelling).
    Pending,
    Struct(StructDef),
    StrEnum(Vec<(String, String)>),
    IntEnum(Vec<(String, i64)>),
    /// `oneOf` with a discriminator.
    Tagged {
        tag: String,
        variants: Vec<TaggedVariant>,
        /// The variant of a value whose tag is absent or unknown (3.2
        /// `defaultMapping`).
        default: Option<usize>,
    },
    /// `oneOf`/`anyOf` without a discriminator.
    Untagged(Vec<(String, Ty)>),
    Alias(Ty),
}

/// One alternative of a discriminated `oneOf`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaggedVariant {
    /// The Rust variant name.
    pub(crate) rust: String,
    /// The discriminator value naming it on the wire.
    pub(crate) tag: String,
    pub(crate) ty: Ty,
}

impl Kind {
    /// Calls `f` on every type the definition contains.
    fn for_each_ty(&mut self, mut f: impl FnMut(&mut Ty)) {
        match self {
            Kind::Struct(s) => {
                s.fields.iter_mut().for_each(|field| f(&mut field.ty));
                if let Some(ty) = &mut s.additional {
                    f(ty);
                }
            }
            Kind::Tagged { variants, .. } => variants.iter_mut().for_each(|v| f(&mut v.ty)),
            Kind::Untagged(variants) => variants.iter_mut().for_each(|v| f(&mut v.1)),
            Kind::Alias(ty) => f(ty),
            Kind::Pending | Kind::StrEnum(_) | Kind::IntEnum(_) => {}
        }
    }
}

impl Kind {
    /// Calls `f` on every type the definition contains, without changing it.
    fn visit_tys(&self, mut f: impl FnMut(&Ty)) {
        match self {
            Kind::Struct(s) => {
                s.fields.iter().for_each(|field| f(&field.ty));
                if let Some(ty) = &s.additional {
                    f(ty);
                }
            }
            Kind::Tagged { variants, .. } => variants.iter().for_each(|v| f(&v.ty)),
            Kind::Untagged(variants) => variants.iter().for_each(|v| f(&v.1)),
            Kind::Alias(ty) => f(ty),
            Kind::Pending | Kind::StrEnum(_) | Kind::IntEnum(_) => {}
        }
    }
}

impl Ty {
    /// Calls `f` on every definition the type names.
    pub(crate) fn visit_named(&self, f: &mut impl FnMut(TypeId)) {
        match self {
            Ty::Named(id) => f(*id),
            Ty::Vec(inner) | Ty::Map(inner) | Ty::Option(inner) => inner.visit_named(f),
            Ty::Tuple(items) => items.iter().for_each(|item| item.visit_named(f)),
            _ => {}
        }
    }
}

/// Which definitions the types `roots` reach, directly or through other
/// definitions.
pub(crate) fn reachable<'t>(defs: &[TypeDef], roots: impl Iterator<Item = &'t Ty>) -> Vec<bool> {
    let mut keep = vec![false; defs.len()];
    let mut todo: Vec<TypeId> = Vec::new();
    let mark = |id: TypeId, keep: &mut Vec<bool>, todo: &mut Vec<TypeId>| {
        if !keep[id] {
            keep[id] = true;
            todo.push(id);
        }
    };
    for ty in roots {
        ty.visit_named(&mut |id| mark(id, &mut keep, &mut todo));
    }
    while let Some(id) = todo.pop() {
        defs[id].kind.visit_tys(|ty| {
            ty.visit_named(&mut |inner| mark(inner, &mut keep, &mut todo));
        });
    }
    keep
}

/// `Named(id)` → `Option<Named(id)>` for nullable definitions (not twice).
fn wrap_nullable(ty: &mut Ty, nullable: &std::collections::HashSet<TypeId>) {
    match ty {
        Ty::Named(id) if nullable.contains(id) => {
            *ty = Ty::Option(Box::new(Ty::Named(*id)));
        }
        Ty::Option(inner) if !matches!(**inner, Ty::Named(_)) => wrap_nullable(inner, nullable),
        Ty::Vec(inner) | Ty::Map(inner) => wrap_nullable(inner, nullable),
        Ty::Tuple(items) => items
            .iter_mut()
            .for_each(|item| wrap_nullable(item, nullable)),
        _ => {}
    }
}

#[derive(Debug, Default)]
pub(crate) struct StructDef {
    pub(crate) fields: Vec<Field>,
    /// `additionalProperties` next to named properties.
    pub(crate) additional: Option<Ty>,
    /// Field name of the flattened map of `additionalProperties`.
    pub(crate) additional_name: String,
    /// `additionalProperties: false`.
    pub(crate) deny_unknown: bool,
    /// The body of a `multipart/form-data` request: it also reads and
    /// writes itself as form parts.
    pub(crate) multipart: bool,
}

#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) rust: String,
    pub(crate) wire: String,
    pub(crate) ty: Ty,
    /// Optional in the wire format: missing means `None`.
    pub(crate) optional: bool,
    /// The name of the function giving the default value (as a JSON
    /// string), when the field has one.
    pub(crate) default: Option<Value>,
    /// A `default` for an enum-typed field, resolved by [`TypeSpace::finish`]
    /// once every enum is known.
    pub(crate) enum_default: Option<Value>,
    pub(crate) doc: Option<String>,
    /// The property is binary text (`format: binary`, or a 3.1
    /// `contentMediaType` without an encoding), or an array of it: a file
    /// part in a multipart body.
    pub(crate) binary: bool,
}

/// An object schema (or a part of an `allOf`) to merge into a struct.
#[derive(Clone)]
struct ObjPart<'a> {
    props: &'a IndexMap<String, SchemaId>,
    required: &'a [String],
    additional: Option<&'a Additional>,
    pointer: String,
}

impl<'a> ObjPart<'a> {
    fn of(schema: &'a Schema) -> Self {
        ObjPart {
            props: &schema.properties,
            required: &schema.required,
            additional: schema.additional.as_ref(),
            pointer: schema.loc.clone(),
        }
    }
}

/// What an `allOf` member contributes.
enum Part<'a> {
    Empty,
    Object(Vec<ObjPart<'a>>),
    Other(SchemaId, String),
}

const MAX_DEPTH: usize = 64;

/// All named types of a spec.
#[derive(Debug)]
pub(crate) struct TypeSpace<'a> {
    doc: &'a Document,
    pub(crate) defs: Vec<TypeDef>,
    /// The definition of each named schema node (components, and the
    /// targets of `$ref`s elsewhere once met).
    named: HashMap<SchemaId, TypeId>,
    /// The location of each component definition.
    component_locs: HashMap<String, TypeId>,
    names: Scope,
    cache: HashMap<SchemaId, Ty>,
    /// Default-value functions: (function name, type, value).
    pub(crate) defaults: Vec<(String, Ty, Value)>,
    default_names: Scope,
    /// Component definitions declared `nullable`.
    nullable: std::collections::HashSet<TypeId>,
}

impl<'a> TypeSpace<'a> {
    pub(crate) fn new(doc: &'a Document, diags: &mut Diags) -> Self {
        let mut space = TypeSpace {
            doc,
            defs: Vec::new(),
            named: HashMap::new(),
            component_locs: HashMap::new(),
            names: Scope::default(),
            cache: HashMap::new(),
            defaults: Vec::new(),
            default_names: Scope::default(),
            nullable: std::collections::HashSet::new(),
        };
        let mut order = Vec::with_capacity(doc.components.len());
        for (name, schema) in &doc.components {
            if space.named.contains_key(schema) {
                continue;
            }
            let id = space.reserve(&camel(name, "Schema"));
            space.named.insert(*schema, id);
            space
                .component_locs
                .insert(doc.schema(*schema).loc.clone(), id);
            order.push((*schema, id));
        }
        // A component that is only a `$ref` to a schema elsewhere (another
        // file, a `$defs`) gives that schema its name, unless another
        // component already does.
        let mut adopted = Vec::new();
        for &(schema, id) in &order {
            let node = doc.schema(schema);
            if let (
                true,
                Some(Ref {
                    target: Some(t), ..
                }),
            ) = (node.is_plain_ref(), &node.reference)
            {
                let target = doc.deref(*t);
                if let std::collections::hash_map::Entry::Vacant(e) = space.named.entry(target) {
                    e.insert(id);
                    adopted.push((schema, target, id));
                }
            }
        }
        for (schema, id) in order {
            let target = adopted
                .iter()
                .find(|(s, _, _)| *s == schema)
                .map_or(schema, |(_, t, _)| *t);
            space.define_named(target, id, diags);
        }
        if !space.nullable.is_empty() {
            let nullable = std::mem::take(&mut space.nullable);
            for def in &mut space.defs {
                def.kind.for_each_ty(|ty| wrap_nullable(ty, &nullable));
            }
            space.nullable = nullable;
        }
        space
    }

    /// Models the named schema `schema` into the reserved definition `id`.
    fn define_named(&mut self, schema: SchemaId, id: TypeId, diags: &mut Diags) {
        let node = self.doc.schema(schema);
        let kind = if node.is_plain_ref() {
            let pointer = node.loc.clone();
            Kind::Alias(self.reference(schema, &pointer, diags))
        } else {
            self.defs[id].doc = doc_of(node);
            let hint = self.defs[id].name.clone();
            self.define_into(id, schema, &hint, diags)
        };
        self.defs[id].kind = kind;
    }

    /// Resolves what needs every type known: a `default` naming a variant
    /// of an enum makes the field plain, filled in by a default function.
    pub(crate) fn finish(&mut self) {
        for owner in 0..self.defs.len() {
            let Kind::Struct(def) = &self.defs[owner].kind else {
                continue;
            };
            let mut resolved = Vec::new();
            for (i, field) in def.fields.iter().enumerate() {
                let (Some(value), Ty::Option(inner)) = (&field.enum_default, &field.ty) else {
                    continue;
                };
                let Ty::Named(id) = **inner else { continue };
                let variant = match (&self.defs[id].kind, value) {
                    (Kind::StrEnum(variants), Value::String(wire)) => variants
                        .iter()
                        .find(|(_, w)| w == wire)
                        .map(|(rust, _)| rust.clone()),
                    (Kind::IntEnum(variants), Value::Number(n)) => variants
                        .iter()
                        .find(|(_, v)| Some(*v) == n.as_i64())
                        .map(|(rust, _)| rust.clone()),
                    _ => None,
                };
                if let Some(variant) = variant {
                    resolved.push((i, id, variant));
                }
            }
            let owner_name = snake(&self.defs[owner].name, "type");
            for (i, id, variant) in resolved {
                let Kind::Struct(def) = &mut self.defs[owner].kind else {
                    break;
                };
                let field = &mut def.fields[i];
                let fn_name = self
                    .default_names
                    .claim(format!("{owner_name}_{}", field.rust.trim_end_matches('_')));
                field.ty = Ty::Named(id);
                field.optional = false;
                field.default = Some(Value::String(fn_name.clone()));
                self.defaults
                    .push((fn_name, Ty::Named(id), Value::String(variant)));
            }
        }
    }

    fn reserve(&mut self, base: &str) -> TypeId {
        let name = self.names.claim(base.to_owned());
        self.defs.push(TypeDef {
            name,
            doc: None,
            kind: Kind::Pending,
        });
        self.defs.len() - 1
    }

    /// Claims a name for a type that is not a schema (a body or response enum
    /// in the `types` module is not needed; names for those live elsewhere).
    fn new_def(&mut self, base: &str, doc: Option<String>, kind: Kind) -> Ty {
        let id = self.reserve(base);
        self.defs[id].doc = doc;
        self.defs[id].kind = kind;
        Ty::Named(id)
    }

    /// The kind for a named schema: a definition of its own when the
    /// schema is one (struct, enum, union), an alias otherwise.
    fn define_into(&mut self, id: TypeId, schema: SchemaId, hint: &str, diags: &mut Diags) -> Kind {
        match self.schema_ty(schema, hint, Some(id), diags) {
            Ty::Named(other) if other == id => {
                std::mem::replace(&mut self.defs[id].kind, Kind::Pending)
            }
            ty => Kind::Alias(ty),
        }
    }

    /// The type for the `$ref` node `node` (located at `pointer`).
    fn reference(&mut self, node: SchemaId, pointer: &str, diags: &mut Diags) -> Ty {
        let Some(reference) = &self.doc.schema(node).reference else {
            return Ty::Value;
        };
        let Some(target) = reference.target else {
            // The loader reported the dangling reference.
            return Ty::Value;
        };
        let target = self.doc.deref(target);
        if let Some(&id) = self.named.get(&target) {
            // While components are modelled the set is incomplete; their
            // references are wrapped afterwards.
            if self.nullable.contains(&id) {
                return Ty::Option(Box::new(Ty::Named(id)));
            }
            return Ty::Named(id);
        }
        let node = self.doc.schema(target);
        if node.is_decoration() {
            return self.item_ty(target, "Value", diags);
        }
        // A schema named by a `$ref` that is not a component (in another
        // file, a `$defs`, deep inside another schema): a named type of its
        // own, so that cycles through it are types too.
        let id = self.reserve(&ref_name(&reference.text, &node.loc));
        self.named.insert(target, id);
        self.define_named(target, id, diags);
        let _ = pointer;
        if self.nullable.contains(&id) {
            return Ty::Option(Box::new(Ty::Named(id)));
        }
        Ty::Named(id)
    }

    /// The type for a schema node; `hint` names inline types.
    pub(crate) fn ty_for(&mut self, schema: SchemaId, hint: &str, diags: &mut Diags) -> Ty {
        let node = self.doc.schema(schema);
        if node.is_plain_ref() {
            let pointer = node.loc.clone();
            return self.reference(schema, &pointer, diags);
        }
        self.item_ty(schema, hint, diags)
    }

    fn item_ty(&mut self, schema: SchemaId, hint: &str, diags: &mut Diags) -> Ty {
        if let Some(ty) = self.cache.get(&schema) {
            return ty.clone();
        }
        let ty = self.schema_ty(schema, hint, None, diags);
        self.cache.insert(schema, ty.clone());
        ty
    }

    /// Creates a definition: into `target` when modelling a component,
    /// as a new inline type otherwise.
    fn define(
        &mut self,
        target: Option<TypeId>,
        hint: &str,
        doc: Option<String>,
        kind: Kind,
    ) -> Ty {
        match target {
            Some(id) => {
                self.defs[id].kind = kind;
                Ty::Named(id)
            }
            None => self.new_def(hint, doc, kind),
        }
    }

    /// Reserves the definition before its members are modelled, so that
    /// parents get names before their children.
    fn reserve_for(&mut self, target: Option<TypeId>, hint: &str, doc: Option<String>) -> TypeId {
        match target {
            Some(id) => id,
            None => {
                let id = self.reserve(hint);
                self.defs[id].doc = doc;
                id
            }
        }
    }

    fn schema_ty(
        &mut self,
        id: SchemaId,
        hint: &str,
        target: Option<TypeId>,
        diags: &mut Diags,
    ) -> Ty {
        let doc_model = self.doc;
        let schema = doc_model.schema(id);
        let pointer = schema.loc.as_str();
        let doc = if target.is_some() {
            None
        } else {
            doc_of(schema)
        };
        let mut nullable = schema.nullable;
        if let Some(values) = &schema.enumeration {
            nullable |= values.iter().any(Value::is_null);
        }
        let ty = self.kind_ty(schema, id, hint, target, doc, diags);
        let _ = pointer;
        if nullable {
            if let (Some(id), Ty::Named(got)) = (target, &ty) {
                if *got == id {
                    // A nullable component: the definition stays, its uses
                    // become `Option`s.
                    self.nullable.insert(id);
                    return ty;
                }
            }
            ty.option()
        } else {
            ty
        }
    }

    /// The type of a schema, nullability aside.
    fn kind_ty(
        &mut self,
        schema: &'a Schema,
        id: SchemaId,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Ty {
        let pointer = schema.loc.as_str();
        if schema.reference.is_some() {
            // A `$ref` with constraints beside it that the loader did not
            // turn into an `allOf` (they are ignored).
            return self.reference(id, pointer, diags);
        }
        if !schema.all_of.is_empty() {
            let own = has_object_keywords(schema).then(|| ObjPart::of(schema));
            return self.all_of(&schema.all_of, own, pointer, hint, target, doc, diags);
        }
        if !schema.one_of.is_empty() {
            return self.union(
                &schema.one_of,
                schema.discriminator.as_ref(),
                &join(pointer, "oneOf"),
                hint,
                target,
                doc,
                diags,
            );
        }
        if !schema.any_of.is_empty() {
            return self.union(
                &schema.any_of,
                None,
                &join(pointer, "anyOf"),
                hint,
                target,
                doc,
                diags,
            );
        }
        let typ = schema.ty;
        if !schema.properties.is_empty() || schema.additional.is_some() || typ == Some(Type::Object)
        {
            return self.object(vec![ObjPart::of(schema)], hint, target, doc, diags);
        }
        if typ == Some(Type::Array) || (typ.is_none() && schema.items.is_some()) {
            if !schema.prefix_items.is_empty() && schema.items.is_none() {
                let tys = schema
                    .prefix_items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.ty_for(*item, &format!("{hint}Item{i}"), diags))
                    .collect();
                return Ty::Tuple(tys);
            }
            return match schema.items {
                Some(items) => Ty::Vec(Box::new(self.ty_for(items, &format!("{hint}Item"), diags))),
                None => Ty::Vec(Box::new(Ty::Value)),
            };
        }
        let format = schema.format.as_deref();
        if let Some(values) = &schema.enumeration {
            let strings: Option<Vec<&str>> = values
                .iter()
                .filter(|v| !v.is_null())
                .map(Value::as_str)
                .collect();
            return match (typ, strings) {
                (None | Some(Type::String), Some(values)) => {
                    self.str_enum(&values, target, hint, doc)
                }
                (Some(Type::String), None) => match scalar_strings(values) {
                    // `type: string` with `true`, `3` or `4.1` among the
                    // values: YAML read them as booleans or numbers; the wire
                    // values are their text.
                    Some(texts) => {
                        let values: Vec<&str> = texts.iter().map(String::as_str).collect();
                        self.str_enum(&values, target, hint, doc)
                    }
                    None => {
                        diags.warn(
                            pointer,
                            "enum values are not all strings or scalars; typed as String without the enum",
                        );
                        Ty::String
                    }
                },
                (Some(Type::Boolean), _) => Ty::Bool,
                (Some(Type::Integer), _) if all_values(values, Value::is_i64) => {
                    let values: Vec<i64> = values.iter().filter_map(Value::as_i64).collect();
                    match self.int_enum(&values, target, hint, doc) {
                        Ty::I64 => integer_format(format),
                        ty => ty,
                    }
                }
                (Some(Type::Integer), _) => integer_format(format),
                (Some(Type::Number), _) => number_format(format),
                // No `type`, and every value of one JSON type.
                (None, None) if all_values(values, Value::is_i64) => {
                    let values: Vec<i64> = values.iter().filter_map(Value::as_i64).collect();
                    self.int_enum(&values, target, hint, doc)
                }
                (None, None) if all_values(values, Value::is_boolean) => Ty::Bool,
                (None, None) if all_values(values, Value::is_number) => Ty::F64,
                (Some(Type::Null), _) => Ty::Option(Box::new(Ty::Value)),
                _ => {
                    diags.fallback(pointer, "enum of mixed values");
                    Ty::Value
                }
            };
        }
        if typ.is_none() && schema.not.is_some() {
            diags.fallback(pointer, "`not` cannot be expressed as a Rust type");
            return Ty::Value;
        }
        match typ {
            Some(Type::String) => {
                if schema.content_encoding.as_deref() == Some("base64") {
                    Ty::Base64
                } else {
                    string_format(format)
                }
            }
            Some(Type::Integer) => integer_format(format),
            Some(Type::Number) => number_format(format),
            Some(Type::Boolean) => Ty::Bool,
            Some(Type::Null) => Ty::Option(Box::new(Ty::Value)),
            Some(Type::Array | Type::Object) | None => Ty::Value,
        }
    }

    /// The definition of the component schema at or around `pointer`, if
    /// the pointer is inside one.
    pub(crate) fn component_at(&self, pointer: &str) -> Option<TypeId> {
        let mut at = pointer;
        loop {
            if let Some(&id) = self.component_locs.get(at) {
                return Some(id);
            }
            at = at.rsplit_once('/')?.0;
        }
    }
}

/// A name for the schema a `$ref` names that is not a component: the
/// last meaningful token of the reference (`#/$defs/Pet` → `Pet`,
/// `pet.yaml` → `pet`).
fn ref_name(reference: &str, loc: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "schema",
        "items",
        "properties",
        "additionalProperties",
        "allOf",
        "oneOf",
        "anyOf",
        "not",
        "content",
        "$defs",
        "definitions",
        "schemas",
        "components",
        "prefixItems",
        "itemSchema",
        "",
    ];
    let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let token = fragment
        .rsplit('/')
        .map(unescape_token)
        .find(|t| !KEYWORDS.contains(&t.as_str()) && !t.contains('/') && t.parse::<u64>().is_err());
    let base = match token {
        Some(token) => token,
        None => {
            let file = if file.is_empty() {
                loc.split('#').next().unwrap_or_default()
            } else {
                file
            };
            let stem = file.rsplit('/').next().unwrap_or_default();
            stem.split('.').next().unwrap_or_default().to_owned()
        }
    };
    camel(&base, "Schema")
}

/// A schema that allows only `null`.
fn is_null_schema(schema: &Schema) -> bool {
    if schema.reference.is_some() {
        return false;
    }
    schema.ty == Some(Type::Null)
        || schema
            .enumeration
            .as_ref()
            .is_some_and(|values| !values.is_empty() && values.iter().all(Value::is_null))
        || (schema.nullable
            && schema.ty.is_none()
            && schema.properties.is_empty()
            && schema.all_of.is_empty()
            && schema.one_of.is_empty()
            && schema.any_of.is_empty()
            && schema.items.is_none())
}

fn string_format(format: Option<&str>) -> Ty {
    match format {
        Some("date-time") => Ty::DateTime,
        Some("date") => Ty::Date,
        Some("byte") => Ty::Base64,
        Some("uuid") => Ty::Uuid,
        Some("ipv4") => Ty::Ipv4,
        Some("ipv6") => Ty::Ipv6,
        Some("ip") => Ty::IpAddr,
        _ => Ty::String,
    }
}

fn integer_format(format: Option<&str>) -> Ty {
    match format {
        Some("int32") => Ty::I32,
        _ => Ty::I64,
    }
}

fn number_format(format: Option<&str>) -> Ty {
    match format {
        Some("float") => Ty::F32,
        _ => Ty::F64,
    }
}

/// A short name for an unnamed type, used for untagged variants.
fn ty_word(ty: &Ty) -> String {
    match ty {
        Ty::String => "String".into(),
        Ty::Bool => "Bool".into(),
        Ty::I32 | Ty::I64 => "Integer".into(),
        Ty::F32 | Ty::F64 => "Number".into(),
        Ty::DateTime => "DateTime".into(),
        Ty::Date => "Date".into(),
        Ty::Uuid => "Uuid".into(),
        Ty::Base64 => "Bytes".into(),
        Ty::Ipv4 => "Ipv4".into(),
        Ty::Ipv6 => "Ipv6".into(),
        Ty::IpAddr => "Ip".into(),
        Ty::Value => "Value".into(),
        Ty::Bytes => "Bytes".into(),
        Ty::File => "File".into(),
        Ty::Vec(inner) => format!("{}List", ty_word(inner)),
        Ty::Tuple(_) => "Tuple".into(),
        Ty::Map(inner) => format!("{}Map", ty_word(inner)),
        Ty::Option(inner) => ty_word(inner),
        Ty::Named(_) => "Object".into(),
    }
}

/// Whether a default literal can be written for this type.
fn default_fits(ty: &Ty, value: &Value) -> bool {
    match (ty, value) {
        (Ty::Bool, Value::Bool(_)) | (Ty::String, Value::String(_)) => true,
        (Ty::I32, Value::Number(n)) => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        (Ty::I64, Value::Number(n)) => n.as_i64().is_some(),
        (Ty::F32 | Ty::F64, Value::Number(n)) => n.as_f64().is_some_and(f64::is_finite),
        _ => false,
    }
}

pub(crate) fn doc_of(schema: &Schema) -> Option<String> {
    match (&schema.title, &schema.description) {
        (_, Some(d)) if !d.trim().is_empty() => Some(d.trim().to_owned()),
        (Some(t), _) if !t.trim().is_empty() => Some(t.trim().to_owned()),
        _ => None,
    }
}
