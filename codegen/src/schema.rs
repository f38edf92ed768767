//! Resolve and model the schemas: `$ref`s, names and collisions, and the
//! mapping from JSON Schema to Rust types.

use crate::diag::{join, Diags};
use crate::model::{Additional, Discriminator, Document, Ref, Schema, SchemaId, Type};
use crate::naming::{camel, snake, unescape_token, Scope};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;

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
    /// `oneOf` with a discriminator: (variant, tag value, type).
    Tagged {
        tag: String,
        variants: Vec<(String, String, Ty)>,
        /// The variant of a value whose tag is absent or unknown (3.2
        /// `defaultMapping`).
        default: Option<usize>,
    },
    /// `oneOf`/`anyOf` without a discriminator.
    Untagged(Vec<(String, Ty)>),
    Alias(Ty),
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
            Kind::Tagged { variants, .. } => variants.iter_mut().for_each(|v| f(&mut v.2)),
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
            Kind::Tagged { variants, .. } => variants.iter().for_each(|v| f(&v.2)),
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
    /// Reserves a name for every component schema, then models each one.
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

    fn str_enum(
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

    fn int_enum(
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

    /// A struct from one or more object parts, or a map.
    fn object(
        &mut self,
        parts: Vec<ObjPart<'a>>,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Ty {
        let no_props = parts.iter().all(|p| p.props.is_empty());
        if no_props {
            // A map, or a free-form object.
            let additional = parts
                .iter()
                .rev()
                .find_map(|p| p.additional.map(|a| (a, &p.pointer)));
            return match additional {
                Some((Additional::Schema(schema), _)) => Ty::Map(Box::new(self.ty_for(
                    *schema,
                    &format!("{hint}Value"),
                    diags,
                ))),
                Some((Additional::Bool(false), _)) => self.define(
                    target,
                    hint,
                    doc,
                    Kind::Struct(StructDef {
                        deny_unknown: true,
                        ..StructDef::default()
                    }),
                ),
                _ => Ty::Map(Box::new(Ty::Value)),
            };
        }
        let id = self.reserve_for(target, hint, doc);
        let owner = self.defs[id].name.clone();
        let mut def = StructDef::default();
        let mut scope = Scope::default();
        let mut seen: Vec<&str> = Vec::new();
        for part in &parts {
            for (name, &prop) in part.props {
                if seen.contains(&name.as_str()) {
                    continue;
                }
                seen.push(name);
                let prop_hint = format!("{owner}{}", camel(name, "Field"));
                let ty = self.ty_for(prop, &prop_hint, diags);
                let node = self.doc.schema(prop);
                // `readOnly` may sit on the schema a `$ref` names
                // (cloudflare's `tunnel_tunnel_id`): required then holds in
                // responses only, and `writeOnly` in requests only.
                let target_node = self.doc.schema(self.doc.deref(prop));
                let read_only = node.read_only || target_node.read_only;
                let write_only = node.write_only || target_node.write_only;
                let required = parts.iter().any(|p| p.required.iter().any(|r| r == name));
                let default = if node.is_plain_ref() {
                    None
                } else {
                    node.default.clone()
                };
                let optional = !required || read_only || write_only;
                let mut enum_default = None;
                let (ty, default) = match (optional, default) {
                    (true, Some(value)) if default_fits(&ty, &value) => (ty, Some(value)),
                    (true, Some(value)) if matches!(ty, Ty::Named(_)) => {
                        enum_default = Some(value);
                        (ty.optional(), None)
                    }
                    (true, _) => (ty.optional(), None),
                    (false, _) => (ty, None),
                };
                // go-swagger's `x-go-name` names the field where the
                // document gives one.
                let rust_name = node.name_hint.as_deref().unwrap_or(name);
                let rust = scope.claim(snake(rust_name, "field"));
                let default = default.map(|value| {
                    let fn_name = self.default_names.claim(format!(
                        "{}_{}",
                        snake(&owner, "type"),
                        rust.trim_end_matches('_')
                    ));
                    self.defaults.push((fn_name.clone(), ty.clone(), value));
                    Value::String(fn_name)
                });
                let field_doc = if node.is_plain_ref() {
                    None
                } else {
                    doc_of(node)
                };
                def.fields.push(Field {
                    rust,
                    wire: name.clone(),
                    ty: ty.clone(),
                    optional: optional && ty.is_option(),
                    default,
                    enum_default,
                    doc: field_doc,
                    binary: self.is_binary(prop),
                });
            }
        }
        for part in &parts {
            match part.additional {
                Some(Additional::Bool(false)) => def.deny_unknown = true,
                Some(Additional::Bool(true)) => def.additional = Some(Ty::Value),
                Some(Additional::Schema(schema)) => {
                    def.additional = Some(self.ty_for(*schema, &format!("{owner}Value"), diags));
                }
                None => {}
            }
        }
        def.additional_name = scope.claim("additional_properties".to_owned());
        if def.additional.is_some() {
            // serde cannot deny unknown fields next to a flattened map.
            def.deny_unknown = false;
        }
        self.defs[id].kind = Kind::Struct(def);
        Ty::Named(id)
    }

    /// `oneOf` / `anyOf`.
    #[allow(clippy::too_many_arguments)]
    fn union(
        &mut self,
        members: &'a [SchemaId],
        discriminator: Option<&'a Discriminator>,
        pointer: &str,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Ty {
        let mut nullable = false;
        let mut kept: Vec<(usize, SchemaId)> = Vec::new();
        for (i, &member) in members.iter().enumerate() {
            if is_null_schema(self.doc.schema(member)) {
                nullable = true;
            } else {
                kept.push((i, member));
            }
        }
        let ty = match kept.as_slice() {
            [] => Ty::Value,
            [(_, only)] => self.ty_for(*only, hint, diags),
            _ => {
                let id = self.reserve_for(target, hint, doc);
                let owner = self.defs[id].name.clone();
                let kind = match discriminator {
                    Some(d) => self.tagged(d, &kept, pointer, &owner, diags),
                    None => None,
                };
                let kind = match kind {
                    Some(kind) => kind,
                    None => self.untagged(&kept, &owner, diags),
                };
                self.defs[id].kind = kind;
                Ty::Named(id)
            }
        };
        if nullable {
            ty.option()
        } else {
            ty
        }
    }

    fn tagged(
        &mut self,
        discriminator: &Discriminator,
        members: &[(usize, SchemaId)],
        pointer: &str,
        owner: &str,
        diags: &mut Diags,
    ) -> Option<Kind> {
        let mut scope = Scope::default();
        let mut variants = Vec::new();
        let default_ref = discriminator.default_mapping.as_deref();
        let mut default = None;
        for &(i, member) in members {
            let node = self.doc.schema(member);
            let Some(reference) = node.reference.as_ref().filter(|_| node.is_plain_ref()) else {
                diags.warn(
                    &join(pointer, &i.to_string()),
                    format!(
                        "discriminated member of {owner} is not a $ref; using an untagged enum"
                    ),
                );
                return None;
            };
            let ty = self.reference(member, &node.loc, diags);
            let tag = self.tag_value(discriminator, reference);
            let name = scope.claim(camel(&tag, "Variant"));
            if default_ref.is_some_and(|d| same_schema(d, &reference.text)) {
                default = Some(variants.len());
            }
            variants.push((name, tag, ty));
        }
        if let (Some(d), None) = (default_ref, default) {
            diags.warn(
                &join(pointer, "discriminator"),
                format!("`defaultMapping` {d} is not one of the members; values with other tags are refused"),
            );
        }
        Some(Kind::Tagged {
            tag: discriminator.property.clone(),
            variants,
            default,
        })
    }

    fn untagged(&mut self, members: &[(usize, SchemaId)], owner: &str, diags: &mut Diags) -> Kind {
        let mut scope = Scope::default();
        let mut variants: Vec<(String, Ty)> = Vec::new();
        for &(i, member) in members {
            let ty = self.ty_for(member, &format!("{owner}Variant{i}"), diags);
            if variants.iter().any(|(_, t)| *t == ty) {
                continue;
            }
            let base = match &ty {
                Ty::Named(id) => {
                    let name = &self.defs[*id].name;
                    name.strip_prefix(owner)
                        .filter(|s| !s.is_empty())
                        .unwrap_or(name)
                        .to_owned()
                }
                other => ty_word(other),
            };
            variants.push((scope.claim(base), ty));
        }
        Kind::Untagged(variants)
    }

    /// `allOf`: object members merge into one struct.
    #[allow(clippy::too_many_arguments)]
    fn all_of(
        &mut self,
        members: &'a [SchemaId],
        own: Option<ObjPart<'a>>,
        pointer: &str,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Ty {
        // `allOf: [$ref]` (often with a description beside it) is the type
        // it refers to.
        let real: Vec<SchemaId> = members
            .iter()
            .copied()
            .filter(|m| !self.doc.schema(*m).is_decoration())
            .collect();
        if let ([only], None) = (real.as_slice(), &own) {
            if self.doc.schema(*only).is_plain_ref() {
                return self.ty_for(*only, hint, diags);
            }
        }
        let mut objects: Vec<ObjPart<'a>> = Vec::new();
        let mut others: Vec<(SchemaId, String)> = Vec::new();
        for &member in members {
            match self.part(member, &mut Vec::new(), diags) {
                Part::Empty => {}
                Part::Object(parts) => objects.extend(parts),
                Part::Other(schema, ptr) => others.push((schema, ptr)),
            }
        }
        if let Some(own) = own {
            objects.push(own);
        }
        match (objects.is_empty(), others.as_slice()) {
            (true, []) => Ty::Value,
            (true, [(schema, _), ..]) => self.ty_for(*schema, hint, diags),
            (false, []) => self.object(objects, hint, target, doc, diags),
            (false, [(schema, _)]) => {
                match self.distribute(objects, *schema, hint, target, doc, diags) {
                    Some(ty) => ty,
                    None => {
                        diags.fallback(pointer, "allOf mixes object and non-object schemas");
                        Ty::Value
                    }
                }
            }
            (false, _) => {
                diags.fallback(pointer, "allOf mixes object and non-object schemas");
                Ty::Value
            }
        }
    }

    /// `allOf: [objects…, {oneOf: [objects…]}]` (cloudflare): the common
    /// properties distribute over the alternatives, giving an untagged enum
    /// of merged structs (tagged when the `oneOf` has a discriminator; one
    /// struct when there is one alternative). `None`
    /// when the alternatives are not all objects.
    fn distribute(
        &mut self,
        common: Vec<ObjPart<'a>>,
        member: SchemaId,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Option<Ty> {
        let doc_model = self.doc;
        let schema = doc_model.schema(doc_model.deref(member));
        let alternatives = if !schema.one_of.is_empty() {
            &schema.one_of
        } else if !schema.any_of.is_empty() {
            &schema.any_of
        } else {
            return None;
        };
        if !schema.properties.is_empty() || !schema.all_of.is_empty() {
            return None;
        }
        // With a discriminator (cloudflare's `rulesets_Rule`: 20 rule kinds
        // and a `position`), each alternative must be a `$ref`, and the
        // enum is tagged by it.
        let discriminator = schema
            .discriminator
            .as_ref()
            .filter(|_| !schema.one_of.is_empty());
        let mut merged = Vec::new();
        for &alternative in alternatives {
            let alt = doc_model.schema(alternative);
            if is_null_schema(alt) {
                return None;
            }
            let mut parts = common.clone();
            match self.part(alternative, &mut Vec::new(), diags) {
                Part::Empty => {}
                Part::Object(more) => parts.extend(more),
                Part::Other(..) => return None,
            }
            let reference = alt.reference.as_ref().filter(|_| alt.is_plain_ref());
            let tag = match (discriminator, reference) {
                (None, _) => None,
                (Some(d), Some(r)) => Some(self.tag_value(d, r)),
                (Some(_), None) => return None,
            };
            let name = match (&tag, reference) {
                (Some(tag), _) => camel(tag, "Variant"),
                (None, Some(r)) => camel(
                    &unescape_token(r.text.rsplit('/').next().unwrap_or_default()),
                    "",
                ),
                (None, None) => alt
                    .title
                    .as_deref()
                    .map(|t| camel(t, ""))
                    .unwrap_or_default(),
            };
            merged.push((name, tag, parts));
        }
        if merged.len() == 1 {
            let (_, _, parts) = merged.pop()?;
            return Some(self.object(parts, hint, target, doc, diags));
        }
        let id = self.reserve_for(target, hint, doc);
        let owner = self.defs[id].name.clone();
        let mut scope = Scope::default();
        let mut variants = Vec::new();
        for (i, (name, tag, parts)) in merged.into_iter().enumerate() {
            let variant = scope.claim(if name.is_empty() {
                format!("Variant{i}")
            } else {
                name
            });
            let ty = self.object(parts, &format!("{owner}{variant}"), None, None, diags);
            variants.push((variant, tag, ty));
        }
        // With a discriminator every alternative has its tag (see above).
        self.defs[id].kind = match discriminator {
            Some(d) => Kind::Tagged {
                tag: d.property.clone(),
                default: None,
                variants: variants
                    .into_iter()
                    .map(|(variant, tag, ty)| (variant, tag.unwrap_or_default(), ty))
                    .collect(),
            },
            None => Kind::Untagged(variants.into_iter().map(|(v, _, ty)| (v, ty)).collect()),
        };
        Some(Ty::Named(id))
    }

    /// Classifies an `allOf` member, following `$ref`s and nested `allOf`s.
    fn part(&self, member: SchemaId, stack: &mut Vec<SchemaId>, diags: &mut Diags) -> Part<'a> {
        let doc_model = self.doc;
        let node = doc_model.schema(member);
        if stack.len() > MAX_DEPTH {
            diags.error(&node.loc, "allOf nests too deeply");
            return Part::Empty;
        }
        let resolved = if node.is_plain_ref() {
            let Some(Ref {
                target: Some(target),
                text,
            }) = &node.reference
            else {
                return Part::Other(member, node.loc.clone());
            };
            let target = doc_model.deref(*target);
            if stack.contains(&target) {
                diags.error(&node.loc, format!("allOf cycle: `{text}` includes itself"));
                return Part::Empty;
            }
            target
        } else {
            member
        };
        stack.push(resolved);
        let part = self.part_of(member, doc_model.schema(resolved), stack, diags);
        stack.pop();
        part
    }

    fn part_of(
        &self,
        member: SchemaId,
        schema: &'a Schema,
        stack: &mut Vec<SchemaId>,
        diags: &mut Diags,
    ) -> Part<'a> {
        if !schema.one_of.is_empty() || !schema.any_of.is_empty() || schema.reference.is_some() {
            return Part::Other(member, schema.loc.clone());
        }
        let own = has_object_keywords(schema).then(|| ObjPart::of(schema));
        if !schema.all_of.is_empty() {
            return self.parts(&schema.all_of, own, stack, diags);
        }
        if let Some(own) = own {
            return Part::Object(vec![own]);
        }
        if schema.ty == Some(Type::Object) {
            return Part::Object(vec![ObjPart::of(schema)]);
        }
        let empty = schema.ty.is_none()
            && schema.items.is_none()
            && schema.enumeration.is_none()
            && schema.not.is_none();
        if empty {
            Part::Empty
        } else {
            Part::Other(member, schema.loc.clone())
        }
    }

    fn parts(
        &self,
        all_of: &'a [SchemaId],
        own: Option<ObjPart<'a>>,
        stack: &mut Vec<SchemaId>,
        diags: &mut Diags,
    ) -> Part<'a> {
        let mut objects = Vec::new();
        for &inner in all_of {
            match self.part(inner, stack, diags) {
                Part::Empty => {}
                Part::Object(parts) => objects.extend(parts),
                Part::Other(schema, ptr) => return Part::Other(schema, ptr),
            }
        }
        objects.extend(own);
        if objects.is_empty() {
            Part::Empty
        } else {
            Part::Object(objects)
        }
    }

    /// Whether a property holds binary text, or an array of it.
    fn is_binary(&self, schema: SchemaId) -> bool {
        let node = self.doc.schema(self.doc.deref(schema));
        let binary = |n: &Schema| {
            n.ty == Some(Type::String)
                && (n.format.as_deref() == Some("binary")
                    || (n.content_media_type.is_some() && n.content_encoding.is_none()))
        };
        binary(node)
            || (node.ty == Some(Type::Array)
                && node
                    .items
                    .is_some_and(|items| binary(self.doc.schema(self.doc.deref(items)))))
    }

    /// The discriminator value naming the schema `reference` names: its
    /// key in the mapping; else the one value the schema allows for the
    /// tag property (a 3.1 `const`, a one-value `enum`); else the schema's
    /// name, as the specification's implicit mapping has it.
    fn tag_value(&self, discriminator: &Discriminator, reference: &Ref) -> String {
        if let Some(tag) = mapped_tag(discriminator, &reference.text) {
            return tag;
        }
        let single = reference.target.and_then(|target| {
            let node = self.doc.schema(self.doc.deref(target));
            let prop = *node.properties.get(&discriminator.property)?;
            match self.doc.schema(self.doc.deref(prop)).enumeration.as_deref() {
                Some([Value::String(only)]) => Some(only.clone()),
                _ => None,
            }
        });
        single.unwrap_or_else(|| {
            unescape_token(reference.text.rsplit('/').next().unwrap_or_default())
        })
    }

    /// Makes the binary fields of the struct `ty` files: it is the body of
    /// a multipart request. `false` when `ty` is not a struct.
    pub(crate) fn use_files(&mut self, ty: &Ty) -> bool {
        let id = match ty {
            Ty::Named(id) => *id,
            Ty::Option(inner) => match **inner {
                Ty::Named(id) => id,
                _ => return false,
            },
            _ => return false,
        };
        let Kind::Struct(def) = &mut self.defs[id].kind else {
            return false;
        };
        for field in def.fields.iter_mut().filter(|f| f.binary) {
            field.ty = to_file(&field.ty);
        }
        def.multipart = true;
        true
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

/// `String` → `File`, through `Option` and `Vec`.
fn to_file(ty: &Ty) -> Ty {
    match ty {
        Ty::String => Ty::File,
        Ty::Option(inner) => Ty::Option(Box::new(to_file(inner))),
        Ty::Vec(inner) => Ty::Vec(Box::new(to_file(inner))),
        other => other.clone(),
    }
}

/// Properties, `additionalProperties` or `required`: what an object part of
/// an `allOf` contributes (a member with only `required` makes the
/// properties of the others required).
fn has_object_keywords(schema: &Schema) -> bool {
    !schema.properties.is_empty() || schema.additional.is_some() || !schema.required.is_empty()
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

/// The text of each non-null scalar of a `type: string` enum (`true` →
/// `"true"`, `3` → `"3"`); `None` when a value is an array or an object.
fn scalar_strings(values: &[Value]) -> Option<Vec<String>> {
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
fn all_values(values: &[Value], test: fn(&Value) -> bool) -> bool {
    values.iter().filter(|v| !v.is_null()).all(test)
}

/// The discriminator value naming the schema `reference`: its key in the
/// mapping, or the schema's name.
/// Whether a mapping's target (a `$ref` or a bare schema name) names the
/// schema `reference` names.
fn same_schema(target: &str, reference: &str) -> bool {
    target == reference || reference.rsplit('/').next() == Some(target)
}

fn mapped_tag(discriminator: &Discriminator, reference: &str) -> Option<String> {
    discriminator
        .mapping
        .iter()
        .find(|(_, target)| same_schema(target, reference))
        .map(|(value, _)| value.clone())
}
