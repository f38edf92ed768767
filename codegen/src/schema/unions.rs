//! Unions: `oneOf`/`anyOf` as tagged enums (with a discriminator) or untagged ones, and an `allOf` over a `oneOf` distributed into its alternatives.

use super::*;

impl<'a> TypeSpace<'a> {
    /// `oneOf` / `anyOf`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn union(
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

    pub(super) fn tagged(
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
            variants.push(TaggedVariant {
                rust: name,
                tag,
                ty,
            });
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

    pub(super) fn untagged(
        &mut self,
        members: &[(usize, SchemaId)],
        owner: &str,
        diags: &mut Diags,
    ) -> Kind {
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

    /// `allOf: [objects…, {oneOf: [objects…]}]` (cloudflare): the common
    /// properties distribute over the alternatives, giving an untagged enum
    /// of merged structs (tagged when the `oneOf` has a discriminator; one
    /// struct when there is one alternative). `None`
    /// when the alternatives are not all objects.
    pub(super) fn distribute(
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
                    .map(|(rust, tag, ty)| TaggedVariant {
                        rust,
                        tag: tag.unwrap_or_default(),
                        ty,
                    })
                    .collect(),
            },
            None => Kind::Untagged(variants.into_iter().map(|(v, _, ty)| (v, ty)).collect()),
        };
        Some(Ty::Named(id))
    }

    /// The discriminator value naming the schema `reference` names: its
    /// key in the mapping; else the one value the schema allows for the
    /// tag property (a 3.1 `const`, a one-value `enum`); else the schema's
    /// name, as the specification's implicit mapping has it.
    pub(super) fn tag_value(&self, discriminator: &Discriminator, reference: &Ref) -> String {
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
}

/// The discriminator value naming the schema `reference`: its key in the
/// mapping, or the schema's name.
/// Whether a mapping's target (a `$ref` or a bare schema name) names the
/// schema `reference` names.
pub(super) fn same_schema(target: &str, reference: &str) -> bool {
    target == reference || reference.rsplit('/').next() == Some(target)
}

pub(super) fn mapped_tag(discriminator: &Discriminator, reference: &str) -> Option<String> {
    discriminator
        .mapping
        .iter()
        .find(|(_, target)| same_schema(target, reference))
        .map(|(value, _)| value.clone())
}
