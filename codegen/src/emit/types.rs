//! Schema types: structs, enums and their serde impls, defaults, and the cycles that need boxes or newtypes.

use super::*;

/// See [`Emitter::prelude`].
struct Prelude {
    result: TokenStream,
    ok: TokenStream,
    err: TokenStream,
    some: TokenStream,
    none: TokenStream,
}

impl Emitter<'_> {
    /// The schema types, and apart from them their serde (and multipart)
    /// implementations.
    pub(super) fn emit_types(&self) -> (TokenStream, TokenStream) {
        let mut out = TokenStream::new();
        for (id, def) in self.defs.iter().enumerate() {
            if self.keep[id] {
                out.extend(self.emit_def(id, def));
            }
        }
        // The default functions of the fields of the types emitted (a
        // selection leaves out types, and their defaults with them).
        let used: std::collections::HashSet<&str> = self
            .defs
            .iter()
            .zip(self.keep)
            .filter(|(_, keep)| **keep)
            .filter_map(|(def, _)| match &def.kind {
                Kind::Struct(s) => Some(s.fields.iter()),
                _ => None,
            })
            .flatten()
            .filter_map(|f| f.default.as_ref().and_then(Value::as_str))
            .collect();
        let mut defaults = self
            .defaults
            .iter()
            .filter(|(name, _, _)| used.contains(name.as_str()))
            .peekable();
        if defaults.peek().is_some() {
            let fns: TokenStream = defaults
                .map(|(name, ty, value)| {
                    let name = ident(name);
                    let t = self.ty(ty, false, None);
                    let v = default_expr(ty, value, self.defs);
                    quote!(pub(super) fn #name() -> #t { #v })
                })
                .collect();
            // The schema types, when a default names one.
            let text = fns.to_string();
            let names_type = self.defs.iter().any(|d| {
                text.contains(&format!(" {} ", d.name)) || text.contains(&format!("{} ::", d.name))
            });
            let types = names_type.then(|| {
                quote!(
                    use super::*;
                )
            });
            out.extend(quote! {
                mod defaults {
                    #types
                    #fns
                }
            });
        }
        (out, self.impls.take())
    }

    /// The prelude names serde implementations use, as is unless a schema
    /// type shadows them: `Result`, `Ok`, `Err`, `Some`, `None`.
    fn prelude(&self) -> Prelude {
        let name = |short: &str, full: TokenStream| self.std_name(short, full, false);
        Prelude {
            result: name("Result", quote!(::core::result::Result)),
            ok: name("Ok", quote!(::core::result::Result::Ok)),
            err: name("Err", quote!(::core::result::Result::Err)),
            some: name("Some", quote!(::core::option::Option::Some)),
            none: name("None", quote!(::core::option::Option::None)),
        }
    }

    /// Adds implementations to the `serde_impls` module.
    fn impl_later(&self, tokens: TokenStream) {
        self.impls.borrow_mut().extend(tokens);
    }

    pub(super) fn emit_def(&self, id: TypeId, def: &TypeDef) -> TokenStream {
        let Prelude {
            result,
            ok,
            err,
            some,
            none,
        } = self.prelude();
        let name = ident(&def.name);
        let doc = doc_attrs(def.doc.as_deref());
        let sc = self.serde_crate();
        let derive = quote!(#[derive(Debug, Clone, PartialEq, rt::serde::Serialize, rt::serde::Deserialize)]);
        match &def.kind {
            Kind::Pending => {
                // Only reachable after an error elsewhere; keep the name valid.
                quote!(#doc pub type #name = api::Value;)
            }
            Kind::Struct(s) => self.emit_struct(id, &name, doc, s),
            Kind::StrEnum(variants) => {
                let vs = variants.iter().map(|(rust, _)| ident(rust));
                let table = variants.iter().map(|(rust, wire)| {
                    let v = ident(rust);
                    let w = lit_str(wire);
                    quote!(#v #w)
                });
                self.impl_later(quote!(rt::str_enum!(#name; #(#table),*);));
                quote! {
                    #doc
                    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
                    pub enum #name { #(#vs,)* }
                }
            }
            Kind::IntEnum(variants) => {
                let vs = variants.iter().map(|(rust, _)| ident(rust));
                let table = variants.iter().map(|(rust, v)| {
                    let r = ident(rust);
                    let lit = int_tokens(*v);
                    quote!(#r #lit)
                });
                let expected = format!(
                    "one of {}",
                    variants
                        .iter()
                        .map(|(_, v)| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                self.impl_later(quote!(rt::int_enum!(#name, #expected; #(#table),*);));
                quote! {
                    #doc
                    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
                    pub enum #name { #(#vs,)* }
                }
            }
            Kind::Tagged {
                tag,
                variants,
                default,
            } => {
                let vs = variants.iter().map(|variant| {
                    let v = ident(&variant.rust);
                    let t = self.ty(&variant.ty, false, Some(id));
                    quote!(#v(#t),)
                });
                let tag_lit = lit_str(tag);
                let ser = variants.iter().map(|variant| {
                    let v = ident(&variant.rust);
                    let w = lit_str(&variant.tag);
                    quote!(Self::#v(inner) => rt::tagged(inner, serializer, #tag_lit, #w),)
                });
                // Members that share a tag (openai's input and output
                // `message`, each fixing `type` to the same value) are tried
                // in order: the first that decodes is the value.
                let mut tags: Vec<&str> = Vec::new();
                for variant in variants {
                    if !tags.contains(&variant.tag.as_str()) {
                        tags.push(&variant.tag);
                    }
                }
                let de = tags.iter().map(|tag| {
                    let w = lit_str(tag);
                    let same: Vec<Ident> = variants
                        .iter()
                        .filter(|v| v.tag == *tag)
                        .map(|v| ident(&v.rust))
                        .collect();
                    let Some((last, first)) = same.split_last() else {
                        return TokenStream::new();
                    };
                    if first.is_empty() {
                        return quote!(#w => rt::serde_json::from_value(value).map(Self::#last).map_err(<D::Error as rt::serde::de::Error>::custom),);
                    }
                    let tries = first.iter().map(|v| {
                        quote! {
                            if let #ok(inner) = rt::serde_json::from_value(value.clone()) {
                                return #ok(Self::#v(inner));
                            }
                        }
                    });
                    quote!(#w => { #(#tries)* rt::serde_json::from_value(value).map(Self::#last).map_err(<D::Error as rt::serde::de::Error>::custom) },)
                });
                let names = tags.iter().map(|tag| lit_str(tag));
                // 3.2 `defaultMapping`: an absent or unknown tag is the
                // default variant (which keeps the tag it came with).
                let (missing, unknown) = match default.and_then(|d| variants.get(d)) {
                    Some(variant) => {
                        let v = ident(&variant.rust);
                        let decode = quote!(rt::serde_json::from_value(value).map(Self::#v).map_err(<D::Error as rt::serde::de::Error>::custom));
                        (quote!(return #decode), quote!(_ => #decode,))
                    }
                    None => (
                        quote!(return #err(<D::Error as rt::serde::de::Error>::missing_field(#tag_lit))),
                        quote!(other => #err(<D::Error as rt::serde::de::Error>::unknown_variant(other, &[#(#names),*])),),
                    ),
                };
                self.impl_later(quote! {
                    impl rt::serde::Serialize for #name {
                        fn serialize<S: rt::serde::Serializer>(&self, serializer: S) -> #result<S::Ok, S::Error> {
                            match self { #(#ser)* }
                        }
                    }
                    impl<'de> rt::serde::Deserialize<'de> for #name {
                        fn deserialize<D: rt::serde::Deserializer<'de>>(deserializer: D) -> #result<Self, D::Error> {
                            let value = <rt::serde_json::Value as rt::serde::Deserialize>::deserialize(deserializer)?;
                            let tag = match value.get(#tag_lit).and_then(rt::serde_json::Value::as_str) {
                                #some(tag) => tag.to_owned(),
                                #none => #missing,
                            };
                            match tag.as_str() {
                                #(#de)*
                                #unknown
                            }
                        }
                    }
                });
                quote! {
                    #doc
                    #[derive(Debug, Clone, PartialEq)]
                    pub enum #name { #(#vs)* }
                }
            }
            Kind::Untagged(variants) => {
                let vs = variants.iter().map(|(rust, ty)| {
                    let v = ident(rust);
                    let t = self.ty(ty, false, Some(id));
                    quote!(#v(#t),)
                });
                quote! {
                    #doc
                    #derive
                    #sc
                    #[serde(untagged)]
                    pub enum #name { #(#vs)* }
                }
            }
            Kind::Alias(ty) => {
                if self.newtype[id] {
                    let t = self.ty(ty, false, Some(id));
                    quote! {
                        #doc
                        #derive
                        #sc
                        #[serde(transparent)]
                        pub struct #name(pub #t);
                    }
                } else {
                    let t = self.ty(ty, false, None);
                    quote!(#doc pub type #name = #t;)
                }
            }
        }
    }

    /// A struct whose fields are all optional (it derives `Default`).
    pub(super) fn may_be_empty(&self, ty: &Ty) -> bool {
        match ty {
            Ty::Named(id) => matches!(
                &self.defs[*id].kind,
                Kind::Struct(s) if s.fields.iter().all(|f| f.optional)
            ),
            _ => false,
        }
    }

    pub(super) fn emit_struct(
        &self,
        id: TypeId,
        name: &Ident,
        doc: TokenStream,
        s: &StructDef,
    ) -> TokenStream {
        let fields = s.fields.iter().map(|f| {
            let fname = ident(&f.rust);
            let t = self.ty(&f.ty, false, Some(id));
            let fdoc = doc_attrs(f.doc.as_deref());
            quote!(#fdoc pub #fname: #t,)
        });
        let additional = s.additional.as_ref().map(|ty| {
            let t = self.ty(ty, false, None);
            let fname = ident(&s.additional_name);
            let string = self.std_name("String", quote!(::std::string::String), false);
            quote! {
                /// Properties not named in the schema (`additionalProperties`).
                pub #fname: std::collections::HashMap<#string, #t>,
            }
        });
        // `Pet { name: Some(..), ..Default::default() }` when every field may
        // be left out (a spec default would differ from the type's: not then).
        let default = s
            .fields
            .iter()
            .all(|f| f.optional)
            .then(|| quote!(Default,));
        let serde = self.emit_struct_serde(name, s);
        let multipart = s.multipart.then(|| self.emit_multipart(name, s));
        self.impl_later(quote!(#serde #multipart));
        quote! {
            #doc
            #[derive(Debug, Clone, PartialEq, #default)]
            pub struct #name {
                #(#fields)*
                #additional
            }
        }
    }

    /// `MultipartBody` for the body of a `multipart/form-data` request: a
    /// part per field (per item of an array), files as file parts. Reading
    /// types each field with its own type, then decodes the fields as the
    /// struct (required fields and defaults), then puts the files in.
    pub(super) fn emit_multipart(&self, name: &Ident, s: &StructDef) -> TokenStream {
        let Prelude {
            result, ok, some, ..
        } = self.prelude();
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        let mut files = Vec::new();
        for f in &s.fields {
            let fname = ident(&f.rust);
            let w = lit_str(&f.wire);
            let optional = f.ty.is_option();
            let inner = match &f.ty {
                Ty::Option(inner) => &**inner,
                other => other,
            };
            match inner {
                Ty::File => {
                    writes.push(if optional {
                        quote!(__w.file(#w, self.#fname.as_ref());)
                    } else {
                        quote!(__w.file(#w, &self.#fname);)
                    });
                    reads.push(quote!(__parts.put_file(&mut __map, #w, false);));
                    files.push(if optional {
                        quote!(__value.#fname = __parts.file(#w);)
                    } else {
                        quote!(if let #some(__file) = __parts.file(#w) { __value.#fname = __file; })
                    });
                }
                Ty::Vec(item) if **item == Ty::File => {
                    writes.push(if optional {
                        quote!(for __file in self.#fname.iter().flatten() { __w.file(#w, __file); })
                    } else {
                        quote!(for __file in &self.#fname { __w.file(#w, __file); })
                    });
                    reads.push(quote!(__parts.put_file(&mut __map, #w, true);));
                    files.push(if optional {
                        quote!(if __value.#fname.is_some() { __value.#fname = #some(__parts.files(#w)); })
                    } else {
                        quote!(__value.#fname = __parts.files(#w);)
                    });
                }
                Ty::Vec(item) => {
                    let t = self.ty(item, false, None);
                    writes.push(quote!(__w.value(#w, &self.#fname);));
                    reads.push(quote!(__parts.put_list::<#t>(&mut __map, #w)?;));
                }
                other => {
                    let t = self.ty(other, false, None);
                    writes.push(quote!(__w.value(#w, &self.#fname);));
                    reads.push(quote!(__parts.put_one::<#t>(&mut __map, #w)?;));
                }
            }
        }
        let mutable = (!files.is_empty()).then(|| quote!(mut));
        quote! {
            impl rt::MultipartBody for #name {
                fn to_multipart(&self) -> rt::MultipartWriter {
                    let mut __w = rt::MultipartWriter::new();
                    #(#writes)*
                    __w
                }
                fn from_multipart(__parts: &rt::MultipartParts) -> #result<Self, rt::DecodeError> {
                    let mut __map = rt::serde_json::Map::new();
                    #(#reads)*
                    let #mutable __value: Self = rt::decode_fields(__map)?;
                    #(#files)*
                    #ok(__value)
                }
            }
        }
    }

    /// `Serialize` and `Deserialize` for a struct: one line of the runtime's
    /// `object!` table per property. It expands to a map of the properties
    /// that are set, and one `visit_map` with a slot per property and a
    /// `match` on the key: much less code for the compiler than the derives'
    /// expansion, with the same behaviour.
    pub(super) fn emit_struct_serde(&self, name: &Ident, s: &StructDef) -> TokenStream {
        let fields = s.fields.iter().map(|f| {
            let fname = ident(&f.rust);
            let w = lit_str(&f.wire);
            let ser = if f.optional {
                quote!(some)
            } else {
                quote!(all)
            };
            let de = if f.ty.is_option() || self.may_be_empty(&f.ty) {
                // Absent: `None`, as the derive does for an `Option`; or `{}`,
                // the only way a form body can send an object of optional
                // properties.
                quote!(dflt)
            } else if let Some(Value::String(path)) = &f.default {
                let path = ident(path);
                quote!(dfn(defaults::#path))
            } else {
                quote!(req)
            };
            quote!(#fname #w #ser #de)
        });
        let unknown = match &s.additional {
            Some(_) => {
                let fname = ident(&s.additional_name);
                quote!(keep(#fname))
            }
            None if s.deny_unknown => quote!(deny),
            None => quote!(skip),
        };
        quote!(rt::object!(#name, #unknown; #(#fields),*);)
    }
}

pub(super) fn default_expr(ty: &Ty, value: &Value, defs: &[TypeDef]) -> TokenStream {
    match (ty, value) {
        // An enum's default: the value names the variant.
        (Ty::Named(id), Value::String(variant)) => {
            let name = ident(defs.get(*id).map_or("Value", |d| d.name.as_str()));
            let variant = ident(variant);
            quote!(#name::#variant)
        }
        (Ty::Bool, Value::Bool(b)) => quote!(#b),
        (Ty::String, Value::String(s)) => {
            let l = lit_str(s);
            quote!(#l.to_owned())
        }
        (Ty::I32 | Ty::I64, Value::Number(n)) => int_tokens(n.as_i64().unwrap_or_default()),
        (Ty::F32 | Ty::F64, Value::Number(n)) => {
            let f = n.as_f64().unwrap_or_default();
            let lit = Literal::f64_unsuffixed(if f.is_finite() { f.abs() } else { 0.0 });
            if f < 0.0 {
                quote!(-#lit)
            } else {
                lit.into_token_stream()
            }
        }
        _ => quote!(::core::default::Default::default()),
    }
}

/// Direct edges of a definition: named types it contains by value.
pub(super) fn direct_edges(ty: &Ty, out: &mut Vec<TypeId>) {
    match ty {
        Ty::Named(id) => out.push(*id),
        Ty::Option(inner) => direct_edges(inner, out),
        Ty::Tuple(items) => items.iter().for_each(|item| direct_edges(item, out)),
        _ => {}
    }
}

pub(super) fn all_edges(ty: &Ty, out: &mut Vec<TypeId>) {
    match ty {
        Ty::Named(id) => out.push(*id),
        Ty::Option(inner) | Ty::Vec(inner) | Ty::Map(inner) => all_edges(inner, out),
        Ty::Tuple(items) => items.iter().for_each(|item| all_edges(item, out)),
        _ => {}
    }
}

pub(super) fn def_edges(def: &TypeDef, direct: bool) -> Vec<TypeId> {
    let mut out = Vec::new();
    let mut add = |ty: &Ty| {
        if direct {
            direct_edges(ty, &mut out)
        } else {
            all_edges(ty, &mut out)
        }
    };
    match &def.kind {
        Kind::Struct(s) => {
            for f in &s.fields {
                add(&f.ty);
            }
        }
        Kind::Tagged { variants, .. } => {
            for variant in variants {
                add(&variant.ty);
            }
        }
        Kind::Untagged(variants) => {
            for (_, ty) in variants {
                add(ty);
            }
        }
        Kind::Alias(ty) => add(ty),
        Kind::Pending | Kind::StrEnum(_) | Kind::IntEnum(_) => {}
    }
    out
}

/// Tarjan's strongly connected components over direct containment
/// (iterative, so deep specs cannot overflow the stack).
pub(super) fn direct_sccs(defs: &[TypeDef]) -> Vec<usize> {
    let n = defs.len();
    let edges: Vec<Vec<TypeId>> = defs.iter().map(|d| def_edges(d, true)).collect();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut comp = vec![usize::MAX; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut comps = 0usize;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if let Some(&w) = edges[v].get(*i) {
                *i += 1;
                if w >= n {
                    continue;
                }
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp[w] = comps;
                        if w == v {
                            break;
                        }
                    }
                    comps += 1;
                }
            }
        }
    }
    comp
}

/// Aliases that reach themselves through other aliases: `type A = Vec<A>`
/// is not valid Rust, so those become newtypes.
pub(super) fn alias_cycles(defs: &[TypeDef]) -> Vec<bool> {
    let is_alias = |id: TypeId| matches!(defs.get(id).map(|d| &d.kind), Some(Kind::Alias(_)));
    let mut out = vec![false; defs.len()];
    for (id, def) in defs.iter().enumerate() {
        if !is_alias(id) {
            continue;
        }
        let mut seen = vec![false; defs.len()];
        let mut todo: Vec<TypeId> = def_edges(def, false)
            .into_iter()
            .filter(|&t| is_alias(t))
            .collect();
        while let Some(t) = todo.pop() {
            if t == id {
                out[id] = true;
                break;
            }
            if seen[t] {
                continue;
            }
            seen[t] = true;
            todo.extend(
                def_edges(&defs[t], false)
                    .into_iter()
                    .filter(|&u| is_alias(u)),
            );
        }
    }
    // Breaking one alias per cycle suffices, but newtypes for all members
    // keep the rule simple and the output stable.
    out
}
