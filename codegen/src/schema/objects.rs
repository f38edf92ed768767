//! Objects: properties, `allOf` merged into one struct, and the file parts of multipart bodies.

use super::*;

impl<'a> TypeSpace<'a> {
    /// A struct from one or more object parts, or a map.
    pub(super) fn object(
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

    /// `allOf`: object members merge into one struct.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn all_of(
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

    /// Classifies an `allOf` member, following `$ref`s and nested `allOf`s.
    pub(super) fn part(
        &self,
        member: SchemaId,
        stack: &mut Vec<SchemaId>,
        diags: &mut Diags,
    ) -> Part<'a> {
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

    pub(super) fn part_of(
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

    pub(super) fn parts(
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
    pub(super) fn is_binary(&self, schema: SchemaId) -> bool {
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
}

/// `String` → `File`, through `Option` and `Vec`.
pub(super) fn to_file(ty: &Ty) -> Ty {
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
pub(super) fn has_object_keywords(schema: &Schema) -> bool {
    !schema.properties.is_empty() || schema.additional.is_some() || !schema.required.is_empty()
}
