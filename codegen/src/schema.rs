//! Resolve and model the schemas: `$ref`s, names and collisions, and the
//! mapping from JSON Schema to Rust types.

use crate::diag::{join, Diags};
use crate::naming::{camel, snake, unescape_token, Scope};
use indexmap::IndexMap;
use openapiv3::{
    AdditionalProperties, IntegerFormat, NumberFormat, OpenAPI, ReferenceOr, Schema, SchemaKind,
    StringFormat, Type, VariantOrUnknownOrEmpty,
};
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
    Vec(Box<Ty>),
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
}

/// An object schema (or a part of an `allOf`) to merge into a struct.
#[derive(Clone)]
struct ObjPart<'a> {
    props: &'a IndexMap<String, ReferenceOr<Box<Schema>>>,
    required: &'a [String],
    additional: Option<&'a AdditionalProperties>,
    pointer: String,
}

/// What an `allOf` member contributes.
enum Part<'a> {
    Empty,
    Object(Vec<ObjPart<'a>>),
    Other(&'a ReferenceOr<Schema>, String),
}

const COMPONENT_PREFIX: &str = "#/components/schemas/";
const MAX_DEPTH: usize = 64;

/// All named types of a spec.
#[derive(Debug)]
pub(crate) struct TypeSpace<'a> {
    spec: &'a OpenAPI,
    pub(crate) defs: Vec<TypeDef>,
    components: HashMap<String, TypeId>,
    names: Scope,
    cache: HashMap<String, Ty>,
    /// Default-value functions: (function name, type, value).
    pub(crate) defaults: Vec<(String, Ty, Value)>,
    default_names: Scope,
    /// Component definitions declared `nullable`.
    nullable: std::collections::HashSet<TypeId>,
}

impl<'a> TypeSpace<'a> {
    /// Reserves a name for every component schema, then models each one.
    pub(crate) fn new(spec: &'a OpenAPI, diags: &mut Diags) -> Self {
        let mut space = TypeSpace {
            spec,
            defs: Vec::new(),
            components: HashMap::new(),
            names: Scope::default(),
            cache: HashMap::new(),
            defaults: Vec::new(),
            default_names: Scope::default(),
            nullable: std::collections::HashSet::new(),
        };
        let Some(components) = &spec.components else {
            return space;
        };
        for name in components.schemas.keys() {
            let id = space.reserve(&camel(name, "Schema"));
            space.components.insert(name.clone(), id);
        }
        for (name, schema) in &components.schemas {
            let pointer = join("#/components/schemas", name);
            let Some(&id) = space.components.get(name) else {
                continue;
            };
            let hint = space.defs[id].name.clone();
            let kind = match schema {
                ReferenceOr::Reference { reference } => {
                    Kind::Alias(space.reference(reference, &pointer, diags))
                }
                ReferenceOr::Item(schema) => {
                    space.defs[id].doc = doc_of(schema);
                    space.define_into(id, schema, &pointer, &hint, diags)
                }
            };
            space.defs[id].kind = kind;
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

    /// The kind for a component schema: a definition of its own when the
    /// schema is one (struct, enum, union), an alias otherwise.
    fn define_into(
        &mut self,
        id: TypeId,
        schema: &'a Schema,
        pointer: &str,
        hint: &str,
        diags: &mut Diags,
    ) -> Kind {
        match self.schema_ty(schema, pointer, hint, Some(id), diags) {
            Ty::Named(other) if other == id => {
                std::mem::replace(&mut self.defs[id].kind, Kind::Pending)
            }
            ty => Kind::Alias(ty),
        }
    }

    /// The type for a `$ref`.
    pub(crate) fn reference(&mut self, reference: &str, pointer: &str, diags: &mut Diags) -> Ty {
        if let Some(name) = reference.strip_prefix(COMPONENT_PREFIX) {
            let name = unescape_token(name);
            if let Some(&id) = self.components.get(&name) {
                // While components are modelled the set is incomplete; their
                // references are wrapped afterwards.
                if self.nullable.contains(&id) {
                    return Ty::Option(Box::new(Ty::Named(id)));
                }
                return Ty::Named(id);
            }
            if !name.contains('/') {
                diags.error(
                    &join(pointer, "$ref"),
                    format!(
                        "dangling $ref `{reference}`: no schema `{name}` in #/components/schemas"
                    ),
                );
                return Ty::Value;
            }
        }
        if !reference.starts_with('#') {
            diags.fallback(
                &join(pointer, "$ref"),
                format!("external $ref `{reference}` is not supported"),
            );
        } else {
            diags.fallback(
                &join(pointer, "$ref"),
                format!("$ref `{reference}` does not name a component schema"),
            );
        }
        Ty::Value
    }

    /// The type for a schema or reference (`Schema` or `Box<Schema>`);
    /// `hint` names inline types.
    pub(crate) fn ty_for<S: std::borrow::Borrow<Schema>>(
        &mut self,
        schema: &'a ReferenceOr<S>,
        pointer: &str,
        hint: &str,
        diags: &mut Diags,
    ) -> Ty {
        match schema {
            ReferenceOr::Reference { reference } => self.reference(reference, pointer, diags),
            ReferenceOr::Item(schema) => self.item_ty(schema.borrow(), pointer, hint, diags),
        }
    }

    fn item_ty(&mut self, schema: &'a Schema, pointer: &str, hint: &str, diags: &mut Diags) -> Ty {
        if let Some(ty) = self.cache.get(pointer) {
            return ty.clone();
        }
        let ty = self.schema_ty(schema, pointer, hint, None, diags);
        self.cache.insert(pointer.to_owned(), ty.clone());
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
        schema: &'a Schema,
        pointer: &str,
        hint: &str,
        target: Option<TypeId>,
        diags: &mut Diags,
    ) -> Ty {
        let data = &schema.schema_data;
        let doc = if target.is_some() {
            None
        } else {
            doc_of(schema)
        };
        let mut nullable = data.nullable;
        let ty = match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) => {
                if s.enumeration.is_empty() {
                    string_format(&s.format)
                } else {
                    nullable |= s.enumeration.iter().any(Option::is_none);
                    let values: Vec<&str> =
                        s.enumeration.iter().flatten().map(String::as_str).collect();
                    self.str_enum(&values, target, hint, doc)
                }
            }
            SchemaKind::Type(Type::Integer(i)) => {
                if i.enumeration.is_empty() {
                    match &i.format {
                        VariantOrUnknownOrEmpty::Item(IntegerFormat::Int32) => Ty::I32,
                        _ => Ty::I64,
                    }
                } else {
                    nullable |= i.enumeration.iter().any(Option::is_none);
                    let values: Vec<i64> = i.enumeration.iter().flatten().copied().collect();
                    self.int_enum(&values, target, hint, doc)
                }
            }
            SchemaKind::Type(Type::Number(n)) => match &n.format {
                VariantOrUnknownOrEmpty::Item(NumberFormat::Float) => Ty::F32,
                _ => Ty::F64,
            },
            SchemaKind::Type(Type::Boolean(_)) => Ty::Bool,
            SchemaKind::Type(Type::Array(a)) => match &a.items {
                Some(items) => Ty::Vec(Box::new(self.ty_for(
                    items,
                    &join(pointer, "items"),
                    &format!("{hint}Item"),
                    diags,
                ))),
                None => Ty::Vec(Box::new(Ty::Value)),
            },
            SchemaKind::Type(Type::Object(o)) => self.object(
                vec![ObjPart {
                    props: &o.properties,
                    required: &o.required,
                    additional: o.additional_properties.as_ref(),
                    pointer: pointer.to_owned(),
                }],
                hint,
                target,
                doc,
                diags,
            ),
            SchemaKind::OneOf { one_of } => self.union(
                one_of,
                data.discriminator.as_ref(),
                &join(pointer, "oneOf"),
                hint,
                target,
                doc,
                diags,
            ),
            SchemaKind::AnyOf { any_of } => self.union(
                any_of,
                None,
                &join(pointer, "anyOf"),
                hint,
                target,
                doc,
                diags,
            ),
            SchemaKind::AllOf { all_of } => {
                self.all_of(all_of, None, pointer, hint, target, doc, diags)
            }
            SchemaKind::Not { .. } => {
                diags.fallback(pointer, "`not` cannot be expressed as a Rust type");
                Ty::Value
            }
            SchemaKind::Any(any) => self.any(schema, any, pointer, hint, target, doc, diags),
        };
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

    /// Schemas whose keywords do not fit one `type` (openapiv3's `Any`).
    #[allow(clippy::too_many_arguments)]
    fn any(
        &mut self,
        schema: &'a Schema,
        any: &'a openapiv3::AnySchema,
        pointer: &str,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Ty {
        let typ = any.typ.as_deref();
        if !any.all_of.is_empty() {
            let own =
                (!any.properties.is_empty() || any.additional_properties.is_some()).then(|| {
                    ObjPart {
                        props: &any.properties,
                        required: &any.required,
                        additional: any.additional_properties.as_ref(),
                        pointer: pointer.to_owned(),
                    }
                });
            return self.all_of(&any.all_of, own, pointer, hint, target, doc, diags);
        }
        if !any.one_of.is_empty() {
            let discriminator = schema.schema_data.discriminator.as_ref();
            return self.union(
                &any.one_of,
                discriminator,
                &join(pointer, "oneOf"),
                hint,
                target,
                doc,
                diags,
            );
        }
        if !any.any_of.is_empty() {
            return self.union(
                &any.any_of,
                None,
                &join(pointer, "anyOf"),
                hint,
                target,
                doc,
                diags,
            );
        }
        if !any.properties.is_empty()
            || any.additional_properties.is_some()
            || typ == Some("object")
        {
            return self.object(
                vec![ObjPart {
                    props: &any.properties,
                    required: &any.required,
                    additional: any.additional_properties.as_ref(),
                    pointer: pointer.to_owned(),
                }],
                hint,
                target,
                doc,
                diags,
            );
        }
        if let Some(items) = &any.items {
            return Ty::Vec(Box::new(self.ty_for(
                items,
                &join(pointer, "items"),
                &format!("{hint}Item"),
                diags,
            )));
        }
        if !any.enumeration.is_empty() {
            let strings: Option<Vec<&str>> = any
                .enumeration
                .iter()
                .filter(|v| !v.is_null())
                .map(Value::as_str)
                .collect();
            return match (typ, strings) {
                (None | Some("string"), Some(values)) => self.str_enum(&values, target, hint, doc),
                (Some("string"), None) => match scalar_strings(&any.enumeration) {
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
                (Some("boolean"), _) => Ty::Bool,
                (Some("integer"), _) => Ty::I64,
                (Some("number"), _) => Ty::F64,
                // No `type`, and every value of one JSON type.
                (None, None) if all_values(&any.enumeration, Value::is_i64) => {
                    let values: Vec<i64> =
                        any.enumeration.iter().filter_map(Value::as_i64).collect();
                    self.int_enum(&values, target, hint, doc)
                }
                (None, None) if all_values(&any.enumeration, Value::is_boolean) => Ty::Bool,
                (None, None) if all_values(&any.enumeration, Value::is_number) => Ty::F64,
                _ => {
                    diags.fallback(pointer, "enum of mixed values");
                    Ty::Value
                }
            };
        }
        let format = any.format.as_deref();
        match typ {
            Some("string") => match format {
                Some(f) => string_format(&VariantOrUnknownOrEmpty::Unknown(f.to_owned())),
                None => Ty::String,
            },
            Some("integer") => match format {
                Some("int32") => Ty::I32,
                _ => Ty::I64,
            },
            Some("number") => match format {
                Some("float") => Ty::F32,
                _ => Ty::F64,
            },
            Some("boolean") => Ty::Bool,
            Some("array") => Ty::Vec(Box::new(Ty::Value)),
            Some("null") => Ty::Option(Box::new(Ty::Value)),
            None => Ty::Value,
            Some(other) => {
                diags.fallback(&join(pointer, "type"), format!("unknown type `{other}`"));
                Ty::Value
            }
        }
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
                Some((AdditionalProperties::Schema(schema), ptr)) => {
                    let ptr = join(ptr, "additionalProperties");
                    Ty::Map(Box::new(self.ty_for(
                        schema,
                        &ptr,
                        &format!("{hint}Value"),
                        diags,
                    )))
                }
                Some((AdditionalProperties::Any(false), _)) => self.define(
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
            for (name, prop) in part.props {
                if seen.contains(&name.as_str()) {
                    continue;
                }
                seen.push(name);
                let prop_ptr = join(&join(&part.pointer, "properties"), name);
                let prop_hint = format!("{owner}{}", camel(name, "Field"));
                let ty = self.ty_for(prop, &prop_ptr, &prop_hint, diags);
                let schema = match prop {
                    ReferenceOr::Item(s) => Some(&**s),
                    ReferenceOr::Reference { .. } => None,
                };
                // `readOnly` may sit on the schema a `$ref` names
                // (cloudflare's `tunnel_tunnel_id`): required then holds in
                // responses only, and `writeOnly` in requests only.
                let flags_of = |s: &Schema| (s.schema_data.read_only, s.schema_data.write_only);
                let (read_only, write_only) = match prop {
                    ReferenceOr::Item(s) => flags_of(s),
                    ReferenceOr::Reference { reference } => self
                        .component(reference)
                        .map_or((false, false), |(s, _)| flags_of(s)),
                };
                let required = parts.iter().any(|p| p.required.iter().any(|r| r == name));
                let default = schema.and_then(|s| s.schema_data.default.clone());
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
                let rust = scope.claim(snake(name, "field"));
                let default = default.map(|value| {
                    let fn_name = self.default_names.claim(format!(
                        "{}_{}",
                        snake(&owner, "type"),
                        rust.trim_end_matches('_')
                    ));
                    self.defaults.push((fn_name.clone(), ty.clone(), value));
                    Value::String(fn_name)
                });
                def.fields.push(Field {
                    rust,
                    wire: name.clone(),
                    ty: ty.clone(),
                    optional: optional && ty.is_option(),
                    default,
                    enum_default,
                    doc: schema.and_then(doc_of),
                });
            }
        }
        for part in &parts {
            match part.additional {
                Some(AdditionalProperties::Any(false)) => def.deny_unknown = true,
                Some(AdditionalProperties::Any(true)) => def.additional = Some(Ty::Value),
                Some(AdditionalProperties::Schema(schema)) => {
                    let ptr = join(&part.pointer, "additionalProperties");
                    def.additional =
                        Some(self.ty_for(schema, &ptr, &format!("{owner}Value"), diags));
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
        members: &'a [ReferenceOr<Schema>],
        discriminator: Option<&'a openapiv3::Discriminator>,
        pointer: &str,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Ty {
        let mut nullable = false;
        let mut kept: Vec<(usize, &'a ReferenceOr<Schema>)> = Vec::new();
        for (i, member) in members.iter().enumerate() {
            if is_null_schema(member) {
                nullable = true;
            } else {
                kept.push((i, member));
            }
        }
        let ty = match kept.as_slice() {
            [] => Ty::Value,
            [(i, only)] => self.ty_for(only, &join(pointer, &i.to_string()), hint, diags),
            _ => {
                let id = self.reserve_for(target, hint, doc);
                let owner = self.defs[id].name.clone();
                let kind = match discriminator {
                    Some(d) => self.tagged(d, &kept, pointer, &owner, diags),
                    None => None,
                };
                let kind = match kind {
                    Some(kind) => kind,
                    None => self.untagged(&kept, pointer, &owner, diags),
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
        discriminator: &openapiv3::Discriminator,
        members: &[(usize, &'a ReferenceOr<Schema>)],
        pointer: &str,
        owner: &str,
        diags: &mut Diags,
    ) -> Option<Kind> {
        let mut scope = Scope::default();
        let mut variants = Vec::new();
        for (i, member) in members {
            let ReferenceOr::Reference { reference } = member else {
                diags.warn(
                    &join(pointer, &i.to_string()),
                    format!(
                        "discriminated member of {owner} is not a $ref; using an untagged enum"
                    ),
                );
                return None;
            };
            let ty = self.reference(reference, &join(pointer, &i.to_string()), diags);
            let tag = tag_value(discriminator, reference);
            let name = scope.claim(camel(&tag, "Variant"));
            variants.push((name, tag, ty));
        }
        Some(Kind::Tagged {
            tag: discriminator.property_name.clone(),
            variants,
        })
    }

    fn untagged(
        &mut self,
        members: &[(usize, &'a ReferenceOr<Schema>)],
        pointer: &str,
        owner: &str,
        diags: &mut Diags,
    ) -> Kind {
        let mut scope = Scope::default();
        let mut variants: Vec<(String, Ty)> = Vec::new();
        for (i, member) in members {
            let ptr = join(pointer, &i.to_string());
            let ty = self.ty_for(member, &ptr, &format!("{owner}Variant{i}"), diags);
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
        members: &'a [ReferenceOr<Schema>],
        own: Option<ObjPart<'a>>,
        pointer: &str,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Ty {
        let base = join(pointer, "allOf");
        // `allOf: [$ref]` (often with a description beside it) is the type
        // it refers to.
        let real: Vec<(usize, &'a ReferenceOr<Schema>)> = members
            .iter()
            .enumerate()
            .filter(|(_, m)| !is_decoration(m))
            .collect();
        if let ([(i, only)], None) = (real.as_slice(), &own) {
            if matches!(only, ReferenceOr::Reference { .. }) {
                return self.ty_for(only, &join(&base, &i.to_string()), hint, diags);
            }
        }
        let mut objects: Vec<ObjPart<'a>> = Vec::new();
        let mut others: Vec<(&'a ReferenceOr<Schema>, String)> = Vec::new();
        for (i, member) in members.iter().enumerate() {
            match self.part(member, join(&base, &i.to_string()), &mut Vec::new(), diags) {
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
            (true, [(schema, ptr), ..]) => self.ty_for(schema, ptr, hint, diags),
            (false, []) => self.object(objects, hint, target, doc, diags),
            (false, [(schema, ptr)]) => {
                match self.distribute(objects, schema, ptr, hint, target, doc, diags) {
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
    #[allow(clippy::too_many_arguments)]
    fn distribute(
        &mut self,
        common: Vec<ObjPart<'a>>,
        member: &'a ReferenceOr<Schema>,
        pointer: &str,
        hint: &str,
        target: Option<TypeId>,
        doc: Option<String>,
        diags: &mut Diags,
    ) -> Option<Ty> {
        let (schema, pointer) = match member {
            ReferenceOr::Item(schema) => (schema, pointer.to_owned()),
            ReferenceOr::Reference { reference } => self.component(reference)?,
        };
        let (alternatives, key) = match &schema.schema_kind {
            SchemaKind::OneOf { one_of } => (one_of, "oneOf"),
            SchemaKind::AnyOf { any_of } => (any_of, "anyOf"),
            _ => return None,
        };
        if alternatives.is_empty() {
            return None;
        }
        // With a discriminator (cloudflare's `rulesets_Rule`: 20 rule kinds
        // and a `position`), each alternative must be a `$ref`, and the
        // enum is tagged by it.
        let discriminator = schema.schema_data.discriminator.as_ref();
        let base = join(&pointer, key);
        let mut merged = Vec::new();
        for (i, alternative) in alternatives.iter().enumerate() {
            if is_null_schema(alternative) {
                return None;
            }
            let ptr = join(&base, &i.to_string());
            let mut parts = common.clone();
            match self.part(alternative, ptr, &mut Vec::new(), diags) {
                Part::Empty => {}
                Part::Object(more) => parts.extend(more),
                Part::Other(..) => return None,
            }
            let tag = match (discriminator, alternative) {
                (None, _) => None,
                (Some(d), ReferenceOr::Reference { reference }) => Some(tag_value(d, reference)),
                (Some(_), ReferenceOr::Item(_)) => return None,
            };
            let name = match (&tag, alternative) {
                (Some(tag), _) => camel(tag, "Variant"),
                (None, ReferenceOr::Reference { reference }) => camel(
                    &unescape_token(reference.rsplit('/').next().unwrap_or_default()),
                    "",
                ),
                (None, ReferenceOr::Item(s)) => s
                    .schema_data
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
                tag: d.property_name.clone(),
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
    fn part(
        &self,
        member: &'a ReferenceOr<Schema>,
        pointer: String,
        stack: &mut Vec<String>,
        diags: &mut Diags,
    ) -> Part<'a> {
        if stack.len() > MAX_DEPTH {
            diags.error(&pointer, "allOf nests too deeply");
            return Part::Empty;
        }
        let (schema, pointer) = match member {
            ReferenceOr::Item(schema) => (schema, pointer),
            ReferenceOr::Reference { reference } => match self.component(reference) {
                Some((schema, ptr)) => {
                    if stack.contains(&ptr) {
                        diags.error(
                            &pointer,
                            format!("allOf cycle: `{reference}` includes itself"),
                        );
                        return Part::Empty;
                    }
                    (schema, ptr)
                }
                None => return Part::Other(member, pointer),
            },
        };
        stack.push(pointer.clone());
        let part = self.part_of(member, schema, pointer, stack, diags);
        stack.pop();
        part
    }

    fn part_of(
        &self,
        member: &'a ReferenceOr<Schema>,
        schema: &'a Schema,
        pointer: String,
        stack: &mut Vec<String>,
        diags: &mut Diags,
    ) -> Part<'a> {
        match &schema.schema_kind {
            SchemaKind::Type(Type::Object(o)) => Part::Object(vec![ObjPart {
                props: &o.properties,
                required: &o.required,
                additional: o.additional_properties.as_ref(),
                pointer,
            }]),
            SchemaKind::AllOf { all_of } => self.parts(all_of, None, &pointer, stack, diags),
            SchemaKind::Any(any) if any.one_of.is_empty() && any.any_of.is_empty() => {
                let own = (!any.properties.is_empty() || any.additional_properties.is_some()).then(
                    || ObjPart {
                        props: &any.properties,
                        required: &any.required,
                        additional: any.additional_properties.as_ref(),
                        pointer: pointer.clone(),
                    },
                );
                if !any.all_of.is_empty() {
                    return self.parts(&any.all_of, own, &pointer, stack, diags);
                }
                if let Some(own) = own {
                    return Part::Object(vec![own]);
                }
                let empty = any.typ.is_none()
                    && any.items.is_none()
                    && any.enumeration.is_empty()
                    && any.not.is_none();
                if empty || any.typ.as_deref() == Some("object") {
                    Part::Empty
                } else {
                    Part::Other(member, pointer)
                }
            }
            _ => Part::Other(member, pointer),
        }
    }

    fn parts(
        &self,
        all_of: &'a [ReferenceOr<Schema>],
        own: Option<ObjPart<'a>>,
        pointer: &str,
        stack: &mut Vec<String>,
        diags: &mut Diags,
    ) -> Part<'a> {
        let mut objects = Vec::new();
        let base = join(pointer, "allOf");
        for (i, inner) in all_of.iter().enumerate() {
            match self.part(inner, join(&base, &i.to_string()), stack, diags) {
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

    /// The definition of the component schema at the start of `pointer`
    /// (`#/components/schemas/Name/...`), if it is one.
    pub(crate) fn component_at(&self, pointer: &str) -> Option<TypeId> {
        let rest = pointer.strip_prefix(COMPONENT_PREFIX)?;
        let token = rest.split('/').next()?;
        self.components.get(&unescape_token(token)).copied()
    }

    /// The component schema a `$ref` names, following chains of `$ref`s.
    pub(crate) fn component(&self, reference: &str) -> Option<(&'a Schema, String)> {
        let mut reference = reference;
        for _ in 0..MAX_DEPTH {
            let name = unescape_token(reference.strip_prefix(COMPONENT_PREFIX)?);
            let schema = self.spec.components.as_ref()?.schemas.get(&name)?;
            match schema {
                ReferenceOr::Item(schema) => {
                    return Some((schema, join("#/components/schemas", &name)))
                }
                ReferenceOr::Reference { reference: next } => reference = next,
            }
        }
        None
    }
}

/// A schema that only documents (description, title, example…).
fn is_decoration(member: &ReferenceOr<Schema>) -> bool {
    match member {
        ReferenceOr::Item(Schema {
            schema_kind: SchemaKind::Any(any),
            ..
        }) => *any == openapiv3::AnySchema::default(),
        _ => false,
    }
}

fn is_null_schema(member: &ReferenceOr<Schema>) -> bool {
    let ReferenceOr::Item(schema) = member else {
        return false;
    };
    match &schema.schema_kind {
        SchemaKind::Any(any) => {
            any.typ.as_deref() == Some("null")
                || (!any.enumeration.is_empty() && any.enumeration.iter().all(Value::is_null))
                || (schema.schema_data.nullable
                    && any.typ.is_none()
                    && any.properties.is_empty()
                    && any.all_of.is_empty()
                    && any.one_of.is_empty()
                    && any.any_of.is_empty()
                    && any.items.is_none())
        }
        _ => false,
    }
}

fn string_format(format: &VariantOrUnknownOrEmpty<StringFormat>) -> Ty {
    match format {
        VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => Ty::DateTime,
        VariantOrUnknownOrEmpty::Item(StringFormat::Date) => Ty::Date,
        VariantOrUnknownOrEmpty::Item(StringFormat::Byte) => Ty::Base64,
        VariantOrUnknownOrEmpty::Item(StringFormat::Binary | StringFormat::Password) => Ty::String,
        VariantOrUnknownOrEmpty::Unknown(f) => match f.as_str() {
            "date-time" => Ty::DateTime,
            "date" => Ty::Date,
            "byte" => Ty::Base64,
            "uuid" => Ty::Uuid,
            "ipv4" => Ty::Ipv4,
            "ipv6" => Ty::Ipv6,
            "ip" => Ty::IpAddr,
            _ => Ty::String,
        },
        VariantOrUnknownOrEmpty::Empty => Ty::String,
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
        Ty::Vec(inner) => format!("{}List", ty_word(inner)),
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
    let data = &schema.schema_data;
    match (&data.title, &data.description) {
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
fn tag_value(discriminator: &openapiv3::Discriminator, reference: &str) -> String {
    discriminator
        .mapping
        .iter()
        .find(|(_, target)| {
            *target == reference || reference.rsplit('/').next() == Some(target.as_str())
        })
        .map(|(value, _)| value.clone())
        .unwrap_or_else(|| unescape_token(reference.rsplit('/').next().unwrap_or_default()))
}
