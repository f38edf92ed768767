//! Emit: model → `TokenStream` (types, server trait, server adapter, client).

use crate::ops::{Body, Content, Location, Media, Op, Resp, Status, StreamFmt};
use crate::schema::{Kind, StructDef, Ty, TypeDef, TypeId};
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{quote, ToTokens};
use serde_json::Value;

/// What [`emit`] needs besides the model.
#[derive(Debug)]
pub(crate) struct Emitter<'m> {
    pub(crate) krate: TokenStream,
    pub(crate) defs: &'m [TypeDef],
    pub(crate) defaults: &'m [(String, Ty, Value)],
    pub(crate) ops: &'m [Op],
    /// The definitions to emit (all, unless operations were selected).
    keep: &'m [bool],
    pub(crate) server: bool,
    pub(crate) client: bool,
    /// Strongly connected component of each definition (direct containment).
    scc: Vec<usize>,
    /// Aliases that must be newtypes (an alias may not refer to itself).
    newtype: Vec<bool>,
}

/// A valid identifier for `name` (the naming module already produces valid
/// ones; this keeps an unexpected input from panicking in `Ident::new`).
pub(crate) fn ident(name: &str) -> Ident {
    let valid = !name.is_empty()
        && name != "_"
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if valid {
        Ident::new(name, Span::call_site())
    } else {
        let cleaned: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Ident::new(&format!("__{cleaned}"), Span::call_site())
    }
}

fn doc_attrs(doc: Option<&str>) -> TokenStream {
    let Some(doc) = doc else {
        return TokenStream::new();
    };
    let mut out = TokenStream::new();
    for line in doc.lines() {
        // Indented lines and fences would become doctests in the user's crate.
        let line = line.trim_start().replace("```", "` ` `");
        let text = format!(" {line}");
        out.extend(quote!(#[doc = #text]));
    }
    out
}

fn lit_str(s: &str) -> Literal {
    Literal::string(s)
}

fn status_lit(code: u16) -> Literal {
    Literal::u16_unsuffixed(code)
}

impl<'m> Emitter<'m> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        krate: TokenStream,
        defs: &'m [TypeDef],
        defaults: &'m [(String, Ty, Value)],
        ops: &'m [Op],
        keep: &'m [bool],
        server: bool,
        client: bool,
    ) -> Self {
        let scc = direct_sccs(defs);
        let newtype = alias_cycles(defs);
        Emitter {
            krate,
            defs,
            defaults,
            ops,
            keep,
            server,
            client,
            scc,
            newtype,
        }
    }

    /// Tokens for a type; `top` when used outside the `types` module.
    /// `owner` boxes references back into the owner's cycle.
    fn ty(&self, ty: &Ty, top: bool, owner: Option<TypeId>) -> TokenStream {
        let k = &self.krate;
        match ty {
            Ty::String => quote!(::std::string::String),
            Ty::Bool => quote!(bool),
            Ty::I32 => quote!(i32),
            Ty::I64 => quote!(i64),
            Ty::F32 => quote!(f32),
            Ty::F64 => quote!(f64),
            Ty::DateTime => quote!(#k::api::chrono::DateTime<#k::api::chrono::Utc>),
            Ty::Date => quote!(#k::api::chrono::NaiveDate),
            Ty::Uuid => quote!(#k::api::uuid::Uuid),
            Ty::Base64 => quote!(#k::api::Base64),
            Ty::Ipv4 => quote!(::std::net::Ipv4Addr),
            Ty::Ipv6 => quote!(::std::net::Ipv6Addr),
            Ty::IpAddr => quote!(::std::net::IpAddr),
            Ty::Value => quote!(#k::api::Value),
            Ty::Bytes => quote!(#k::api::Bytes),
            Ty::File => quote!(#k::api::File),
            Ty::Vec(inner) => {
                let inner = self.ty(inner, top, None);
                quote!(::std::vec::Vec<#inner>)
            }
            Ty::Tuple(items) => {
                let items = items.iter().map(|item| self.ty(item, top, owner));
                quote!((#(#items,)*))
            }
            Ty::Map(inner) => {
                let inner = self.ty(inner, top, None);
                quote!(::std::collections::HashMap<::std::string::String, #inner>)
            }
            Ty::Option(inner) => {
                let inner = self.ty(inner, top, owner);
                quote!(::core::option::Option<#inner>)
            }
            Ty::Named(id) => {
                let name = ident(&self.defs[*id].name);
                let path = if top {
                    quote!(types::#name)
                } else {
                    quote!(#name)
                };
                match owner {
                    Some(o) if self.scc[o] == self.scc[*id] => quote!(::std::boxed::Box<#path>),
                    _ => path,
                }
            }
        }
    }

    fn serde_crate(&self) -> TokenStream {
        quote!(#[serde(crate = "__p::serde")])
    }

    /// The generated module; `webhooks` holds the items of the
    /// [`Emitter::emit_webhooks`] of the document's webhooks, if it has any.
    pub(crate) fn emit(
        &self,
        module: &Ident,
        doc: Option<&str>,
        webhooks: Option<TokenStream>,
    ) -> TokenStream {
        let k = &self.krate;
        let types = self.emit_types();
        let api = self.emit_api();
        let mut parts = vec!["the schema types are in [`types`]"];
        if self.server {
            parts.push("implement [`Api`] and serve it with [`ApiService`]");
        }
        if self.client {
            parts.push("call the API over a connection with [`Client`]");
        }
        if webhooks.is_some() {
            parts.push(
                "the calls the API's provider makes to its consumer (webhooks and \
                 callbacks) are in [`webhooks`]: the other end of the same connection \
                 serves [`webhooks::Api`] and this one calls it with [`webhooks::Client`]",
            );
        }
        let doc = format!(
            "{}\n\nGenerated by swaggersocket-codegen: {}.",
            doc.unwrap_or_default().trim(),
            parts.join(";\n")
        );
        let doc = doc_attrs(Some(doc.trim_start()));
        quote! {
            #doc
            // Generated code is formatted by prettyplease at the edges; keep
            // rustfmt from reformatting a committed copy.
            #[rustfmt::skip]
            #[allow(
                dead_code,
                deprecated,
                missing_docs,
                missing_debug_implementations,
                non_camel_case_types,
                non_snake_case,
                unreachable_pub,
                unused_imports,
                unused_mut,
                unused_qualifications,
                unused_variables,
                clippy::all,
                clippy::pedantic,
                clippy::nursery,
                rustdoc::all
            )]
            pub mod #module {
                macro_rules! __try {
                    ($e:expr) => {
                        match $e {
                            ::core::result::Result::Ok(v) => v,
                            ::core::result::Result::Err(r) => return __p::Reject::into_response(r),
                        }
                    };
                }
                /// The schema types of this API.
                pub mod types {
                    use #k::__private as __p;
                    #types
                }
                use #k::__private as __p;
                #api
                #webhooks
            }
        }
    }

    /// The response enums, server trait and adapter, and client of the
    /// operations.
    fn emit_api(&self) -> TokenStream {
        let responses: Vec<TokenStream> =
            self.ops.iter().map(|op| self.emit_op_types(op)).collect();
        let server = if self.server {
            self.emit_server()
        } else {
            TokenStream::new()
        };
        let client = if self.client {
            self.emit_client()
        } else {
            TokenStream::new()
        };
        quote! {
            #(#responses)*
            #server
            #client
        }
    }

    /// The webhooks module: the same items as the API's, for the calls in
    /// the other direction, next to the API's `types`.
    pub(crate) fn emit_webhooks(&self) -> TokenStream {
        let k = &self.krate;
        let api = self.emit_api();
        quote! {
            /// The calls the API's provider makes to its consumer: the
            /// document's webhooks and callbacks. Over a swaggersocket
            /// connection they travel the other way: the side that calls
            /// the API serves [`Api`] here, and the side that serves the API
            /// calls it with [`Client`].
            pub mod webhooks {
                use super::types;
                use #k::__private as __p;
                #api
            }
        }
    }

    fn emit_types(&self) -> TokenStream {
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
            let fns = defaults.map(|(name, ty, value)| {
                let name = ident(name);
                let t = self.ty(ty, false, None);
                let v = default_expr(ty, value, self.defs);
                quote!(pub(super) fn #name() -> #t { #v })
            });
            out.extend(quote! {
                mod defaults {
                    use super::*;
                    #(#fns)*
                }
            });
        }
        out
    }

    fn emit_def(&self, id: TypeId, def: &TypeDef) -> TokenStream {
        let k = &self.krate;
        let name = ident(&def.name);
        let doc = doc_attrs(def.doc.as_deref());
        let sc = self.serde_crate();
        let derive = quote!(#[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, __p::serde::Serialize, __p::serde::Deserialize)]);
        match &def.kind {
            Kind::Pending => {
                // Only reachable after an error elsewhere; keep the name valid.
                quote!(#doc pub type #name = #k::api::Value;)
            }
            Kind::Struct(s) => self.emit_struct(id, &name, doc, s),
            Kind::StrEnum(variants) => {
                let vs = variants.iter().map(|(rust, _)| {
                    let v = ident(rust);
                    quote!(#v,)
                });
                let arms = variants.iter().map(|(rust, wire)| {
                    let v = ident(rust);
                    let w = lit_str(wire);
                    quote!(Self::#v => #w,)
                });
                let de = variants.iter().map(|(rust, wire)| {
                    let v = ident(rust);
                    let w = lit_str(wire);
                    quote!(#w => ::core::result::Result::Ok(Self::#v),)
                });
                let names = variants.iter().map(|(_, wire)| lit_str(wire));
                quote! {
                    #doc
                    #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy, ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
                    pub enum #name { #(#vs)* }
                    impl #name {
                        /// The value as it appears on the wire.
                        pub fn as_str(&self) -> &'static str {
                            match self { #(#arms)* }
                        }
                    }
                    impl __p::serde::Serialize for #name {
                        fn serialize<__S: __p::serde::Serializer>(&self, __serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                            __serializer.serialize_str(self.as_str())
                        }
                    }
                    impl<'de> __p::serde::Deserialize<'de> for #name {
                        fn deserialize<__D: __p::serde::Deserializer<'de>>(__deserializer: __D) -> ::core::result::Result<Self, __D::Error> {
                            let __value = __p::text(__deserializer)?;
                            match __value.as_str() {
                                #(#de)*
                                __other => ::core::result::Result::Err(<__D::Error as __p::serde::de::Error>::unknown_variant(__other, &[#(#names),*])),
                            }
                        }
                    }
                    impl ::core::fmt::Display for #name {
                        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                            f.write_str(self.as_str())
                        }
                    }
                }
            }
            Kind::IntEnum(variants) => {
                let vs = variants.iter().map(|(rust, _)| ident(rust));
                let ser = variants.iter().map(|(rust, v)| {
                    let r = ident(rust);
                    let lit = int_tokens(*v);
                    quote!(Self::#r => #lit,)
                });
                let de = variants.iter().map(|(rust, v)| {
                    let r = ident(rust);
                    let lit = int_tokens(*v);
                    quote!(#lit => ::core::result::Result::Ok(Self::#r),)
                });
                let expected = format!(
                    "one of {}",
                    variants
                        .iter()
                        .map(|(_, v)| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                quote! {
                    #doc
                    #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy, ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
                    pub enum #name { #(#vs,)* }
                    impl #name {
                        /// The value as it appears on the wire.
                        pub fn value(&self) -> i64 {
                            match self { #(#ser)* }
                        }
                    }
                    impl __p::serde::Serialize for #name {
                        fn serialize<S: __p::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                            serializer.serialize_i64(self.value())
                        }
                    }
                    impl<'de> __p::serde::Deserialize<'de> for #name {
                        fn deserialize<D: __p::serde::Deserializer<'de>>(deserializer: D) -> ::core::result::Result<Self, D::Error> {
                            let value = <i64 as __p::serde::Deserialize>::deserialize(deserializer)?;
                            match value {
                                #(#de)*
                                other => ::core::result::Result::Err(<D::Error as __p::serde::de::Error>::invalid_value(
                                    __p::serde::de::Unexpected::Signed(other),
                                    &#expected,
                                )),
                            }
                        }
                    }
                }
            }
            Kind::Tagged { tag, variants } => {
                let vs = variants.iter().map(|(rust, _, ty)| {
                    let v = ident(rust);
                    let t = self.ty(ty, false, Some(id));
                    quote!(#v(#t),)
                });
                let ser = variants.iter().map(|(rust, wire, _)| {
                    let v = ident(rust);
                    let w = lit_str(wire);
                    quote!(Self::#v(inner) => (#w, __p::serde_json::to_value(inner)),)
                });
                let de = variants.iter().map(|(rust, wire, _)| {
                    let v = ident(rust);
                    let w = lit_str(wire);
                    quote!(#w => __p::serde_json::from_value(value).map(Self::#v).map_err(<D::Error as __p::serde::de::Error>::custom),)
                });
                let names = variants.iter().map(|(_, wire, _)| lit_str(wire));
                let tag_lit = lit_str(tag);
                quote! {
                    #doc
                    #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
                    pub enum #name { #(#vs)* }
                    impl __p::serde::Serialize for #name {
                        fn serialize<S: __p::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                            let (tag, value) = match self { #(#ser)* };
                            let value = value.map_err(<S::Error as __p::serde::ser::Error>::custom)?;
                            __p::serde::Serialize::serialize(&__p::with_tag(value, #tag_lit, tag), serializer)
                        }
                    }
                    impl<'de> __p::serde::Deserialize<'de> for #name {
                        fn deserialize<D: __p::serde::Deserializer<'de>>(deserializer: D) -> ::core::result::Result<Self, D::Error> {
                            let value = <__p::serde_json::Value as __p::serde::Deserialize>::deserialize(deserializer)?;
                            let tag = match value.get(#tag_lit).and_then(__p::serde_json::Value::as_str) {
                                ::core::option::Option::Some(tag) => tag.to_owned(),
                                ::core::option::Option::None => return ::core::result::Result::Err(<D::Error as __p::serde::de::Error>::missing_field(#tag_lit)),
                            };
                            match tag.as_str() {
                                #(#de)*
                                other => ::core::result::Result::Err(<D::Error as __p::serde::de::Error>::unknown_variant(other, &[#(#names),*])),
                            }
                        }
                    }
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
    fn may_be_empty(&self, ty: &Ty) -> bool {
        match ty {
            Ty::Named(id) => matches!(
                &self.defs[*id].kind,
                Kind::Struct(s) if s.fields.iter().all(|f| f.optional)
            ),
            _ => false,
        }
    }

    fn emit_struct(
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
            quote! {
                /// Properties not named in the schema (`additionalProperties`).
                pub #fname: ::std::collections::HashMap<::std::string::String, #t>,
            }
        });
        // `Pet { name: Some(..), ..Default::default() }` when every field may
        // be left out (a spec default would differ from the type's: not then).
        let default = s
            .fields
            .iter()
            .all(|f| f.optional)
            .then(|| quote!(::core::default::Default,));
        let serialize = emit_struct_serialize(name, s);
        let deserialize = self.emit_struct_deserialize(name, s);
        let multipart = s.multipart.then(|| self.emit_multipart(name, s));
        quote! {
            #doc
            #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, #default)]
            pub struct #name {
                #(#fields)*
                #additional
            }
            #serialize
            #deserialize
            #multipart
        }
    }

    /// `MultipartBody` for the body of a `multipart/form-data` request: a
    /// part per field (per item of an array), files as file parts. Reading
    /// types each field with its own type, then decodes the fields as the
    /// struct (required fields and defaults), then puts the files in.
    fn emit_multipart(&self, name: &Ident, s: &StructDef) -> TokenStream {
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
                        quote!(if let ::core::option::Option::Some(__file) = __parts.file(#w) { __value.#fname = __file; })
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
                        quote!(if __value.#fname.is_some() { __value.#fname = ::core::option::Option::Some(__parts.files(#w)); })
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
            impl __p::MultipartBody for #name {
                fn to_multipart(&self) -> __p::MultipartWriter {
                    let mut __w = __p::MultipartWriter::new();
                    #(#writes)*
                    __w
                }
                fn from_multipart(__parts: &__p::MultipartParts) -> ::core::result::Result<Self, __p::DecodeError> {
                    let mut __map = __p::serde_json::Map::new();
                    #(#reads)*
                    let #mutable __value: Self = __p::decode_fields(__map)?;
                    #(#files)*
                    ::core::result::Result::Ok(__value)
                }
            }
        }
    }

    /// `Deserialize` for a struct: one slot per property and a `match` on
    /// the key (see `swaggersocket::__private::slot`), much less code for the
    /// compiler than the derive's expansion, with the same behaviour.
    fn emit_struct_deserialize(&self, name: &Ident, s: &StructDef) -> TokenStream {
        let slots: Vec<Ident> = (0..s.fields.len())
            .map(|i| Ident::new(&format!("__f{i}"), Span::call_site()))
            .collect();
        let arms = s.fields.iter().zip(&slots).map(|(f, slot)| {
            let w = lit_str(&f.wire);
            quote!(#w => __p::slot(&mut __map, &mut #slot, #w)?,)
        });
        let built = s.fields.iter().zip(&slots).map(|(f, slot)| {
            let fname = ident(&f.rust);
            let value = if f.ty.is_option() || self.may_be_empty(&f.ty) {
                // Absent: `None`, as the derive does for an `Option`; or `{}`,
                // the only way a form body can send an object of optional
                // properties.
                quote!(#slot.unwrap_or_default())
            } else if let Some(Value::String(path)) = &f.default {
                let path = ident(path);
                quote!(#slot.unwrap_or_else(defaults::#path))
            } else {
                let w = lit_str(&f.wire);
                quote!(__p::required(#slot, #w)?)
            };
            quote!(#fname: #value,)
        });
        let (additional_init, additional_built, unknown) = match &s.additional {
            Some(_) => {
                let fname = ident(&s.additional_name);
                (
                    quote!(let mut __additional = ::std::collections::HashMap::new();),
                    quote!(#fname: __additional,),
                    quote! {{
                        let __value = __p::serde::de::MapAccess::next_value(&mut __map)?;
                        __additional.insert(__p::Key::into_string(__key), __value);
                    }},
                )
            }
            None if s.deny_unknown => {
                let wires = s.fields.iter().map(|f| lit_str(&f.wire));
                (
                    TokenStream::new(),
                    TokenStream::new(),
                    quote! {
                        return ::core::result::Result::Err(
                            <__M::Error as __p::serde::de::Error>::unknown_field(__key.as_str(), &[#(#wires),*]),
                        )
                    },
                )
            }
            None => (
                TokenStream::new(),
                TokenStream::new(),
                quote!(__p::skip(&mut __map)?),
            ),
        };
        let expecting = format!("struct {name}");
        quote! {
            impl<'de> __p::serde::Deserialize<'de> for #name {
                fn deserialize<__D: __p::serde::Deserializer<'de>>(__deserializer: __D) -> ::core::result::Result<Self, __D::Error> {
                    struct __Visitor;
                    impl<'de> __p::serde::de::Visitor<'de> for __Visitor {
                        type Value = #name;
                        fn expecting(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                            __f.write_str(#expecting)
                        }
                        fn visit_map<__M: __p::serde::de::MapAccess<'de>>(self, mut __map: __M) -> ::core::result::Result<#name, __M::Error> {
                            #(let mut #slots = ::core::option::Option::None;)*
                            #additional_init
                            while let ::core::option::Option::Some(__key) = __p::serde::de::MapAccess::next_key::<__p::Key<'de>>(&mut __map)? {
                                match __key.as_str() {
                                    #(#arms)*
                                    _ => #unknown,
                                }
                            }
                            ::core::result::Result::Ok(#name { #(#built)* #additional_built })
                        }
                    }
                    __p::serde::Deserializer::deserialize_map(__deserializer, __Visitor)
                }
            }
        }
    }

    /// The type of a body: the single content's, or the enum over media types.
    fn body_ty(&self, body: &Body) -> TokenStream {
        match (&body.enum_name, body.contents.as_slice()) {
            (Some(name), _) => {
                let n = ident(name);
                quote!(#n)
            }
            (None, [c]) => {
                let t = self.ty(&c.ty, true, None);
                if matches!(c.kind, Media::Stream(_)) {
                    let k = &self.krate;
                    quote!(#k::TypedStream<#t>)
                } else {
                    t
                }
            }
            (None, _) => {
                let k = &self.krate;
                quote!(#k::api::Bytes)
            }
        }
    }

    fn emit_body_enum(&self, body: &Body, doc: &str) -> TokenStream {
        let Some(name) = &body.enum_name else {
            return TokenStream::new();
        };
        let name = ident(name);
        let vs = body.contents.iter().map(|c| {
            let v = ident(&c.variant);
            let t = self.ty(&c.ty, true, None);
            let d = format!(" `{}`", c.media);
            quote!(#[doc = #d] #v(#t),)
        });
        quote! {
            #[doc = #doc]
            #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
            pub enum #name { #(#vs)* }
        }
    }

    /// Response enum, body enums, and their HTTP conversions.
    fn emit_op_types(&self, op: &Op) -> TokenStream {
        let k = &self.krate;
        let name = ident(&op.response_enum);
        let mut out = TokenStream::new();
        if let Some(body) = &op.body {
            out.extend(self.emit_body_enum(
                body,
                &format!(" Request body of `{}`, by media type.", op.id),
            ));
        }
        for r in &op.responses {
            if let Some(body) = &r.body {
                out.extend(self.emit_body_enum(
                    body,
                    &format!(
                        " `{}` response body of `{}`, by media type.",
                        r.variant, op.id
                    ),
                ));
            }
        }
        let variants = op.responses.iter().map(|r| {
            let v = ident(&r.variant);
            let status_doc = match r.status {
                Status::Code(c) => format!(" Status {c}."),
                Status::Range(c) => format!(" Status {c}XX."),
                Status::Default => " Any other status.".to_owned(),
            };
            let doc = doc_attrs(r.doc.as_deref());
            let body_ty = r.body.as_ref().map(|b| self.body_ty(b));
            if r.is_tuple() {
                quote!(#doc #[doc = ""] #[doc = #status_doc] #v(#body_ty),)
            } else if !r.has_status() && r.headers.is_empty() {
                quote!(#doc #[doc = ""] #[doc = #status_doc] #v,)
            } else {
                let status = r.has_status().then(|| {
                    quote!(
                        /// The status code.
                        status: #k::api::StatusCode,
                    )
                });
                let body = body_ty.map(|t| {
                    quote!(
                        /// The body.
                        body: #t,
                    )
                });
                let headers = r.headers.iter().map(|h| {
                    let n = ident(&h.rust);
                    let t = self.ty(&h.ty, true, None);
                    let t = if h.required {
                        t
                    } else {
                        quote!(::core::option::Option<#t>)
                    };
                    let d = format!(" Header `{}`.", h.wire);
                    quote!(#[doc = #d] #n: #t,)
                });
                quote!(#doc #[doc = ""] #[doc = #status_doc] #v { #status #body #(#headers)* },)
            }
        });
        let doc = format!(" The responses of `{}`.", op.id);
        let into_http = self.server.then(|| self.emit_into_http(op));
        let from_http = self.client.then(|| self.emit_from_http(op));
        let k = &self.krate;
        let status_arms = op.responses.iter().map(|r| {
            let v = ident(&r.variant);
            match r.status {
                Status::Code(c) => {
                    let c = status_lit(c);
                    let pattern = if r.is_tuple() {
                        quote!(Self::#v(..))
                    } else if r.headers.is_empty() && r.body.is_none() {
                        quote!(Self::#v)
                    } else {
                        quote!(Self::#v { .. })
                    };
                    quote!(#pattern => __p::status(#c),)
                }
                _ => quote!(Self::#v { status, .. } => status,),
            }
        });
        // A stream can be neither cloned nor compared.
        let derives = if op.responses.iter().any(|r| response_stream(r).is_some()) {
            quote!(#[derive(::core::fmt::Debug)])
        } else {
            quote!(#[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)])
        };
        out.extend(quote! {
            #[doc = #doc]
            #derives
            pub enum #name { #(#variants)* }
            impl #name {
                /// The status code of this response.
                pub fn status(&self) -> #k::api::StatusCode {
                    match *self { #(#status_arms)* }
                }
                #into_http
                #from_http
            }
        });
        out
    }

    /// Server side: response enum → HTTP response.
    fn emit_into_http(&self, op: &Op) -> TokenStream {
        let arms = op.responses.iter().map(|r| {
            let v = ident(&r.variant);
            let status = match r.status {
                Status::Code(c) => {
                    let c = status_lit(c);
                    quote!(__p::status(#c))
                }
                _ => quote!(status),
            };
            let headers = r.headers.iter().map(|h| {
                let n = ident(&h.rust);
                let w = lit_str(&h.wire);
                quote!(.header(#w, &#n))
            });
            let header_names = r.headers.iter().map(|h| ident(&h.rust));
            let body = match &r.body {
                None => TokenStream::new(),
                Some(b) => self.encode_body(b, &quote!(body), &quote!(__builder)),
            };
            let pattern = if r.is_tuple() {
                quote!(Self::#v(body))
            } else if !r.has_status() && r.headers.is_empty() {
                quote!(Self::#v)
            } else {
                let s = r.has_status().then(|| quote!(status,));
                let b = r.body.as_ref().map(|_| quote!(body,));
                quote!(Self::#v { #s #b #(#header_names,)* })
            };
            if let Some((f, c)) = response_stream(r) {
                let k = &self.krate;
                let media = lit_str(&concrete_media(c));
                let f = stream_format_tokens(f);
                return quote! {
                    #pattern => {
                        let __builder = __p::ResponseBuilder::new(#status) #(#headers)*;
                        __p::attach_stream(__builder.finish(), #k::TypedStream::into_body(body, #f), #media)
                    }
                };
            }
            quote! {
                #pattern => {
                    let mut __builder = __p::ResponseBuilder::new(#status) #(#headers)*;
                    #body
                    __builder.finish()
                }
            }
        });
        quote! {
            #[doc(hidden)]
            pub fn __into_http(self) -> __p::http::Response<__p::bytes::Bytes> {
                match self { #(#arms)* }
            }
        }
    }

    /// `builder = builder.json(&value)` etc. for a body value named `value`.
    fn encode_body(&self, body: &Body, value: &TokenStream, builder: &TokenStream) -> TokenStream {
        match &body.enum_name {
            None => match body.contents.first() {
                Some(c) => {
                    let enc = encode_content(c, value);
                    quote!(#builder = #builder #enc;)
                }
                None => TokenStream::new(),
            },
            Some(name) => {
                let n = ident(name);
                let arms = body.contents.iter().map(|c| {
                    let v = ident(&c.variant);
                    let enc = encode_content(c, &quote!(inner));
                    quote!(#n::#v(inner) => #builder #enc,)
                });
                quote!(#builder = match #value { #(#arms)* };)
            }
        }
    }

    /// Client side: HTTP response → response enum.
    fn emit_from_http(&self, op: &Op) -> TokenStream {
        let k = &self.krate;
        let mut arms = Vec::new();
        let mut order: Vec<&Resp> = op
            .responses
            .iter()
            .filter(|r| matches!(r.status, Status::Code(_)))
            .collect();
        order.extend(
            op.responses
                .iter()
                .filter(|r| matches!(r.status, Status::Range(_))),
        );
        let default = op.responses.iter().find(|r| r.status == Status::Default);
        for r in order {
            let pat = match r.status {
                Status::Code(c) => {
                    let c = status_lit(c);
                    quote!(#c)
                }
                Status::Range(c) => {
                    let lo = status_lit(c.saturating_mul(100));
                    let hi = status_lit(c.saturating_mul(100).saturating_add(99));
                    quote!(#lo..=#hi)
                }
                Status::Default => continue,
            };
            let build = self.decode_response(r);
            arms.push(quote!(#pat => { #build }));
        }
        let fallback = match default {
            Some(r) => self.decode_response(r),
            None => {
                quote!(::core::result::Result::Err(#k::api::ClientError::undocumented(__response)))
            }
        };
        let streaming = self.emit_from_http_streaming(op);
        quote! {
            #[doc(hidden)]
            pub fn __from_http(__response: __p::http::Response<__p::bytes::Bytes>) -> ::core::result::Result<Self, #k::api::ClientError> {
                match __response.status().as_u16() {
                    #(#arms)*
                    _ => { #fallback }
                }
            }
            #streaming
        }
    }

    /// Client side, for an operation that answers a stream: the streamed
    /// variant takes the body as it arrives; any other answer is collected
    /// and decoded as usual.
    fn emit_from_http_streaming(&self, op: &Op) -> TokenStream {
        let k = &self.krate;
        let arms = op.responses.iter().filter_map(|r| {
            let (f, c) = response_stream(r)?;
            let status_matches = match r.status {
                Status::Code(code) => {
                    let code = status_lit(code);
                    quote!(__status == #code)
                }
                Status::Range(c) => {
                    let lo = status_lit(c.saturating_mul(100));
                    let hi = status_lit(c.saturating_mul(100).saturating_add(99));
                    quote!((#lo..=#hi).contains(&__status))
                }
                Status::Default => quote!(true),
            };
            let media = lit_str(&c.media);
            let f = stream_format_tokens(f);
            let build = self.decode_headers_and_build(r);
            Some(quote! {
                if #status_matches && __p::media_accepts(#media, &__parts.headers) {
                    let __response = __p::http::Response::from_parts(__parts, __p::bytes::Bytes::new());
                    let body = #k::TypedStream::from_body(__body, #f);
                    #build
                } else
            })
        }).collect::<Vec<_>>();
        if arms.is_empty() {
            return TokenStream::new();
        }
        quote! {
            #[doc(hidden)]
            pub async fn __from_http_streaming(__streamed: __p::http::Response<#k::BodyStream>) -> ::core::result::Result<Self, #k::api::ClientError> {
                let (__parts, __body) = __streamed.into_parts();
                let __status = __parts.status.as_u16();
                #(#arms)* {
                    let __bytes = __p::collect_body(__body).await?;
                    Self::__from_http(__p::http::Response::from_parts(__parts, __bytes))
                }
            }
        }
    }

    fn decode_response(&self, r: &Resp) -> TokenStream {
        let body = r.body.as_ref().map(|b| {
            let decode = self.decode_body(b, &quote!(__response), true);
            quote!(let body = #decode;)
        });
        let rest = self.decode_headers_and_build(r);
        quote! {
            #body
            #rest
        }
    }

    /// With `body` (if any) decoded and `__response` in scope: decodes the
    /// response headers and returns the variant.
    fn decode_headers_and_build(&self, r: &Resp) -> TokenStream {
        let v = ident(&r.variant);
        let headers = r.headers.iter().map(|h| {
            let n = ident(&h.rust);
            let w = lit_str(&h.wire);
            if h.required {
                quote!(let #n = __p::response_header_required(&__response, #w)?;)
            } else {
                quote!(let #n = __p::response_header(&__response, #w)?;)
            }
        });
        let header_names = r.headers.iter().map(|h| ident(&h.rust));
        let value = if r.is_tuple() {
            quote!(Self::#v(body))
        } else if !r.has_status() && r.headers.is_empty() {
            quote!(Self::#v)
        } else {
            let s = r.has_status().then(|| quote!(status: __response.status(),));
            let b = r.body.as_ref().map(|_| quote!(body,));
            quote!(Self::#v { #s #b #(#header_names,)* })
        };
        quote! {
            #(#headers)*
            ::core::result::Result::Ok(#value)
        }
    }

    /// An expression decoding a body from `source` (a request or a
    /// response). On the client, errors are `ClientError`s (`?`); on the
    /// server, error responses (`__try!`).
    fn decode_body(&self, body: &Body, source: &TokenStream, client: bool) -> TokenStream {
        let k = &self.krate;
        let wrap = |e: TokenStream| {
            if client {
                quote!(__p::client(#e, &#source)?)
            } else {
                quote!(__try!(#e))
            }
        };
        // A media type the operation does not document: the server answers
        // 415, the client reports an undocumented response.
        let reject = if client {
            quote!(return ::core::result::Result::Err(#k::api::ClientError::undocumented(#source)))
        } else {
            quote!(return __p::Reject::into_response(__p::unsupported_media(#source.headers())))
        };
        match (&body.enum_name, body.contents.as_slice()) {
            (None, [c]) => {
                let m = lit_str(&c.media);
                let decode = wrap(decode_content(c, source));
                quote! {
                    {
                        if !__p::media_accepts(#m, #source.headers()) {
                            #reject;
                        }
                        #decode
                    }
                }
            }
            (Some(name), contents) => {
                let n = ident(name);
                let mut chain = TokenStream::new();
                for (i, c) in contents.iter().enumerate() {
                    let v = ident(&c.variant);
                    let m = lit_str(&c.media);
                    let decode = wrap(decode_content(c, source));
                    let cond = if i == 0 {
                        quote!(__p::media_matches(#m, content_type.as_deref()) || content_type.is_none())
                    } else {
                        quote!(__p::media_matches(#m, content_type.as_deref()))
                    };
                    chain.extend(quote!(if #cond { #n::#v(#decode) } else));
                }
                quote! {
                    {
                        let content_type = __p::content_type(#source.headers());
                        #chain { #reject }
                    }
                }
            }
            (None, _) => quote!(#source.body().clone()),
        }
    }

    fn emit_server(&self) -> TokenStream {
        let k = &self.krate;
        let methods = self.ops.iter().map(|op| {
            let name = ident(&op.name);
            let resp = ident(&op.response_enum);
            let args = self.server_args(op);
            let arg_names = self.server_arg_names(op);
            let doc = doc_attrs(op.doc.as_deref());
            let id = lit_str(&op.id);
            let sig = format!(" `{} {}`", op.method, op.path);
            quote! {
                #doc
                #[doc = ""]
                #[doc = #sig]
                fn #name(&self, ctx: #k::api::Context, #(#args),*) -> impl ::core::future::Future<Output = ::core::result::Result<#resp, #k::api::ServerError>> + ::core::marker::Send {
                    let _ = (ctx, #(#arg_names),*);
                    #k::__private::not_implemented(#id)
                }
            }
        });
        let handlers = self.ops.iter().map(|op| self.emit_handler(op));
        let routes = self.emit_routes();
        quote! {
            /// The server side of this API: implement the operations you serve;
            /// the others answer 501 Not Implemented.
            pub trait Api: ::core::marker::Send + ::core::marker::Sync + 'static {
                #(#methods)*
            }

            /// Serves an [`Api`] implementation as a swaggersocket handler
            /// (a `tower::Service`): routes requests, decodes parameters and
            /// bodies, and encodes the responses.
            pub struct ApiService<A> {
                api: ::std::sync::Arc<A>,
            }

            impl<A: Api> ApiService<A> {
                /// Wraps an implementation.
                pub fn new(api: A) -> Self {
                    ApiService { api: ::std::sync::Arc::new(api) }
                }

                /// Wraps a shared implementation.
                pub fn from_arc(api: ::std::sync::Arc<A>) -> Self {
                    ApiService { api }
                }

                /// Handles one request.
                pub async fn handle(&self, request: __p::http::Request<__p::bytes::Bytes>) -> __p::http::Response<__p::bytes::Bytes> {
                    __dispatch(&*self.api, request).await
                }
            }

            impl<A> ::core::clone::Clone for ApiService<A> {
                fn clone(&self) -> Self {
                    ApiService { api: ::std::sync::Arc::clone(&self.api) }
                }
            }

            impl<A> ::core::fmt::Debug for ApiService<A> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct("ApiService").finish_non_exhaustive()
                }
            }

            impl<A: Api> __p::tower_service::Service<__p::http::Request<__p::bytes::Bytes>> for ApiService<A> {
                type Response = __p::http::Response<__p::bytes::Bytes>;
                type Error = ::core::convert::Infallible;
                type Future = ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = ::core::result::Result<Self::Response, Self::Error>> + ::core::marker::Send + 'static>>;

                fn poll_ready(&mut self, _cx: &mut ::core::task::Context<'_>) -> ::core::task::Poll<::core::result::Result<(), Self::Error>> {
                    ::core::task::Poll::Ready(::core::result::Result::Ok(()))
                }

                fn call(&mut self, request: __p::http::Request<__p::bytes::Bytes>) -> Self::Future {
                    let api = ::std::sync::Arc::clone(&self.api);
                    ::std::boxed::Box::pin(async move { ::core::result::Result::Ok(__dispatch(&*api, request).await) })
                }
            }

            #routes

            #(#handlers)*
        }
    }

    fn server_args(&self, op: &Op) -> Vec<TokenStream> {
        let mut args: Vec<TokenStream> = op
            .params
            .iter()
            .map(|p| {
                let n = ident(&p.rust);
                let t = self.ty(&p.ty, true, None);
                if p.required {
                    quote!(#n: #t)
                } else {
                    quote!(#n: ::core::option::Option<#t>)
                }
            })
            .collect();
        if let Some(body) = &op.body {
            let n = ident(&op.body_arg);
            let t = self.body_ty(body);
            args.push(if op.body_required {
                quote!(#n: #t)
            } else {
                quote!(#n: ::core::option::Option<#t>)
            });
        }
        args
    }

    fn server_arg_names(&self, op: &Op) -> Vec<Ident> {
        let mut names: Vec<Ident> = op.params.iter().map(|p| ident(&p.rust)).collect();
        if op.body.is_some() {
            names.push(ident(&op.body_arg));
        }
        names
    }

    fn emit_routes(&self) -> TokenStream {
        let k = &self.krate;
        // Group operations by path template; the most specific template is
        // tried first: a literal segment before a parameter with literal
        // text around it (`{name}.rw.html`, then `{name}.html`), before a
        // bare parameter, so `/pets/mine` wins over `/pets/{id}`. A template
        // that matches the path but not the method lets the next ones try.
        let mut paths: Vec<&str> = Vec::new();
        for op in self.ops {
            if !paths.contains(&op.path.as_str()) {
                paths.push(&op.path);
            }
        }
        paths.sort_by_key(|p| route_key(p));
        let routes = paths.iter().map(|path| {
            let ops: Vec<&Op> = self.ops.iter().filter(|o| o.path == *path).collect();
            let allowed = ops
                .iter()
                .map(|o| o.method.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let arms = ops.iter().map(|o| {
                let h = ident(&format!("__handle_{}", o.name));
                let pattern = if is_standard_method(&o.method) {
                    let m = ident(&o.method);
                    quote!(__p::http::Method::#m)
                } else {
                    // An extension method (3.2's `QUERY`, `LINK`…) is no
                    // constant of `http::Method`.
                    let m = lit_str(&o.method);
                    quote!(ref __m if __m.as_str() == #m)
                };
                quote!(#pattern => return ::std::boxed::Box::pin(#h(api, ctx, request, captures)),)
            });
            let p = lit_str(path);
            let allowed = lit_str(&allowed);
            quote! {
                if let ::core::option::Option::Some(captures) = __p::match_path(#p, &path) {
                    match *request.method() {
                        #(#arms)*
                        _ => {
                            allowed.get_or_insert(#allowed);
                        }
                    }
                }
            }
        });
        quote! {
            /// Routes a request to the handler of its operation. Not an
            /// `async fn`: one future holding every handler's would be a
            /// state machine of thousands of states in a large API, slow to
            /// compile; each handler's future is boxed on its own instead.
            fn __dispatch<'a, A: Api>(api: &'a A, request: __p::http::Request<__p::bytes::Bytes>) -> ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = __p::http::Response<__p::bytes::Bytes>> + ::core::marker::Send + 'a>> {
                let ctx = #k::api::Context::from_request(&request);
                let path = request.uri().path().to_owned();
                let mut allowed: ::core::option::Option<&'static str> = ::core::option::Option::None;
                #(#routes)*
                ::std::boxed::Box::pin(::core::future::ready(match allowed {
                    ::core::option::Option::Some(allowed) => __p::method_not_allowed(allowed),
                    ::core::option::Option::None => __p::not_found(&path),
                }))
            }
        }
    }

    fn emit_handler(&self, op: &Op) -> TokenStream {
        let h = ident(&format!("__handle_{}", op.name));
        let name = ident(&op.name);
        let mut decls = Vec::new();
        let mut path_index = 0usize;
        if op
            .params
            .iter()
            .any(|p| matches!(p.location, Location::Query | Location::QueryString))
        {
            decls.push(quote!(let __query = __p::Query::parse(__request.uri());));
        }
        for p in &op.params {
            let n = ident(&p.rust);
            let w = lit_str(&p.wire);
            let sep = p.separator;
            let value = match (p.location, p.is_array()) {
                (Location::Path, false) => {
                    let i = path_index;
                    path_index += 1;
                    quote!(__p::path_param(#w, &__captures, #i))
                }
                (Location::Path, true) => {
                    let i = path_index;
                    path_index += 1;
                    quote!(__p::path_param_list(#w, &__captures, #i))
                }
                (Location::Query, _) if p.deep => quote!(__query.deep(#w)),
                (Location::Query, false) => quote!(__query.one(#w)),
                (Location::Query, true) => {
                    let explode = p.explode;
                    quote!(__query.list(#w, #explode, #sep))
                }
                (Location::Header, false) => quote!(__p::header_one(__request.headers(), #w)),
                (Location::Header, true) => quote!(__p::header_list(__request.headers(), #w)),
                (Location::Cookie, _) => quote!(__p::cookie_one(__request.headers(), #w)),
                (Location::QueryString, _) => quote!(__query.whole()),
            };
            let what = location_word(p.location);
            if p.location == Location::Path {
                decls.push(quote!(let #n = __try!(#value);));
            } else if p.required {
                decls.push(quote!(let #n = __try!(__p::require(__try!(#value), #what, #w));));
            } else {
                decls.push(quote!(let #n = __try!(#value);));
            }
        }
        if let Some(body) = &op.body {
            let n = ident(&op.body_arg);
            let decode = self.decode_body(body, &quote!(__request), false);
            if op.body_required {
                decls.push(quote! {
                    if __request.body().is_empty() && __request.headers().get(__p::http::header::CONTENT_TYPE).is_none() {
                        return __p::missing_body();
                    }
                    let #n = #decode;
                });
            } else {
                decls.push(quote! {
                    let #n = if __request.body().is_empty() && __request.headers().get(__p::http::header::CONTENT_TYPE).is_none() {
                        ::core::option::Option::None
                    } else {
                        ::core::option::Option::Some(#decode)
                    };
                });
            }
        }
        let args = self.server_arg_names(op);
        let k = &self.krate;
        quote! {
            async fn #h<A: Api>(__api: &A, ctx: #k::api::Context, __request: __p::http::Request<__p::bytes::Bytes>, __captures: ::std::vec::Vec<::std::string::String>) -> __p::http::Response<__p::bytes::Bytes> {
                #(#decls)*
                match __api.#name(ctx, #(#args),*).await {
                    ::core::result::Result::Ok(response) => response.__into_http(),
                    ::core::result::Result::Err(error) => error.into_response(),
                }
            }
        }
    }

    fn emit_client(&self) -> TokenStream {
        let k = &self.krate;
        let methods = self.ops.iter().map(|op| self.emit_client_method(op));
        let builders = self.ops.iter().map(|op| self.emit_request_builder(op));
        quote! {
            /// The client side of this API, over a swaggersocket [`Connection`](#k::Connection).
            #[derive(::core::clone::Clone)]
            pub struct Client {
                connection: #k::Connection,
            }

            impl ::core::fmt::Debug for Client {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct("Client").finish_non_exhaustive()
                }
            }

            impl ::core::convert::From<#k::Connection> for Client {
                fn from(connection: #k::Connection) -> Self {
                    Client { connection }
                }
            }

            impl Client {
                /// A client that calls the API over `connection`.
                pub fn new(connection: #k::Connection) -> Self {
                    Client { connection }
                }

                /// The connection the calls go over.
                pub fn connection(&self) -> &#k::Connection {
                    &self.connection
                }

                #(#methods)*
            }

            #(#builders)*
        }
    }

    /// Required arguments of the client method (path parameters, required
    /// query/header/cookie parameters, a required body).
    fn required_client_args(&self, op: &Op) -> Vec<(Ident, TokenStream)> {
        let mut args: Vec<(Ident, TokenStream)> = op
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| (ident(&p.rust), self.ty(&p.ty, true, None)))
            .collect();
        if let (Some(body), true) = (&op.body, op.body_required) {
            args.push((ident(&op.body_arg), self.body_ty(body)));
        }
        args
    }

    fn emit_client_method(&self, op: &Op) -> TokenStream {
        let name = ident(&op.name);
        let builder = ident(&op.request_builder);
        let required = self.required_client_args(op);
        let args = required.iter().map(|(n, t)| quote!(#n: #t));
        let req_names = required.iter().map(|(n, _)| n);
        let optional = op
            .params
            .iter()
            .filter(|p| !p.required)
            .map(|p| ident(&p.rust));
        let opt_body = (op.body.is_some() && !op.body_required).then(|| {
            let n = ident(&op.body_arg);
            quote!(#n: ::core::option::Option::None,)
        });
        let doc = doc_attrs(op.doc.as_deref());
        let sig = format!(" `{} {}`: set optional arguments on the returned builder, then `.await` it (or call `send`).", op.method, op.path);
        quote! {
            #doc
            #[doc = ""]
            #[doc = #sig]
            pub fn #name(&self, #(#args),*) -> #builder<'_> {
                #builder {
                    __client: self,
                    #(#req_names,)*
                    #(#optional: ::core::option::Option::None,)*
                    #opt_body
                }
            }
        }
    }

    fn emit_request_builder(&self, op: &Op) -> TokenStream {
        let k = &self.krate;
        let builder = ident(&op.request_builder);
        let resp = ident(&op.response_enum);
        // An operation that answers a stream takes its response as it comes.
        let call = if op.responses.iter().any(|r| response_stream(r).is_some()) {
            quote! {
                let response = __p::call_streaming(&__client.connection, request).await?;
                #resp::__from_http_streaming(response).await
            }
        } else {
            quote! {
                let response = __p::call(&__client.connection, request).await?;
                #resp::__from_http(response)
            }
        };
        let mut fields = Vec::new();
        let mut setters = Vec::new();
        for p in &op.params {
            let n = ident(&p.rust);
            let t = self.ty(&p.ty, true, None);
            if p.required {
                fields.push(quote!(#n: #t,));
            } else {
                fields.push(quote!(#n: ::core::option::Option<#t>,));
                let doc = doc_attrs(p.doc.as_deref());
                let d = format!(
                    " Sets the optional {} `{}`.",
                    location_word(p.location),
                    p.wire
                );
                setters.push(quote! {
                    #[doc = #d]
                    #doc
                    pub fn #n(mut self, value: #t) -> Self {
                        self.#n = ::core::option::Option::Some(value);
                        self
                    }
                });
            }
        }
        if let Some(body) = &op.body {
            let n = ident(&op.body_arg);
            let t = self.body_ty(body);
            if op.body_required {
                fields.push(quote!(#n: #t,));
            } else {
                fields.push(quote!(#n: ::core::option::Option<#t>,));
                setters.push(quote! {
                    /// Sets the optional request body.
                    pub fn #n(mut self, value: #t) -> Self {
                        self.#n = ::core::option::Option::Some(value);
                        self
                    }
                });
            }
        }
        // Building the request.
        let method = if is_standard_method(&op.method) {
            let m = ident(&op.method);
            quote!(__p::http::Method::#m)
        } else {
            // The loader checked that the name is an HTTP token.
            let m = proc_macro2::Literal::byte_string(op.method.as_bytes());
            quote!(__p::http::Method::from_bytes(#m).unwrap_or_default())
        };
        let mut steps = Vec::new();
        let mut rest = op.path.as_str();
        while let Some(start) = rest.find('{') {
            let literal = &rest[..start];
            let after = &rest[start + 1..];
            let Some(end) = after.find('}') else { break };
            let pname = &after[..end];
            if !literal.is_empty() {
                let l = lit_str(literal);
                steps.push(quote!(request.path_literal(#l);));
            }
            if let Some(p) = op
                .params
                .iter()
                .find(|p| p.location == Location::Path && p.wire == pname)
            {
                let n = ident(&p.rust);
                steps.push(quote!(request.path_param(&self.#n);));
            }
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            let l = lit_str(rest);
            steps.push(quote!(request.path_literal(#l);));
        }
        for p in &op.params {
            let n = ident(&p.rust);
            let w = lit_str(&p.wire);
            match p.location {
                Location::Path => {}
                Location::Query if p.deep => {
                    steps.push(quote!(request.query_deep(#w, &self.#n);));
                }
                Location::Query => {
                    let explode = p.explode;
                    let sep = p.separator;
                    steps.push(quote!(request.query(#w, &self.#n, #explode, #sep);));
                }
                Location::Header => steps.push(quote!(request.header(#w, &self.#n);)),
                Location::Cookie => steps.push(quote!(request.cookie(#w, &self.#n);)),
                Location::QueryString => steps.push(quote!(request.query_string(&self.#n);)),
            }
        }
        if let Some(body) = &op.body {
            let n = ident(&op.body_arg);
            let value = quote!(body);
            let enc = self.encode_body(body, &value, &quote!(request));
            if op.body_required {
                steps.push(quote!(let body = self.#n; #enc));
            } else {
                steps.push(quote!(if let ::core::option::Option::Some(body) = self.#n { #enc }));
            }
        }
        let doc = format!(
            " A call to `{}`: set optional arguments, then `.await` it or call [`send`]({}::send).",
            op.id, op.request_builder
        );
        quote! {
            #[doc = #doc]
            #[must_use = "a request does nothing until it is awaited or sent"]
            pub struct #builder<'a> {
                __client: &'a Client,
                #(#fields)*
            }

            impl<'a> ::core::fmt::Debug for #builder<'a> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(::core::stringify!(#builder)).finish_non_exhaustive()
                }
            }

            impl<'a> #builder<'a> {
                #(#setters)*

                /// Sends the request and decodes the response. The request is
                /// encoded at once; the future holds only its bytes (so it is
                /// `Send` without the compiler walking the schema types).
                pub fn send(self) -> impl ::core::future::Future<Output = ::core::result::Result<#resp, #k::api::ClientError>> + ::core::marker::Send + 'a {
                    let __client = self.__client;
                    let mut request = __p::RequestBuilder::new(#method);
                    #(#steps)*
                    async move { #call }
                }
            }

            impl<'a> ::core::future::IntoFuture for #builder<'a> {
                type Output = ::core::result::Result<#resp, #k::api::ClientError>;
                type IntoFuture = ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = Self::Output> + ::core::marker::Send + 'a>>;

                fn into_future(self) -> Self::IntoFuture {
                    ::std::boxed::Box::pin(self.send())
                }
            }
        }
    }
}

fn location_word(location: Location) -> &'static str {
    match location {
        Location::Path => "path parameter",
        Location::Query => "query parameter",
        Location::Header => "header",
        Location::Cookie => "cookie",
        Location::QueryString => "query string",
    }
}

/// The media type to send for a content: patterns become concrete types.
fn concrete_media(c: &Content) -> String {
    if !c.media.contains('*') {
        return c.media.clone();
    }
    match c.kind {
        Media::Json => "application/json",
        Media::Form => "application/x-www-form-urlencoded",
        Media::Text => "text/plain; charset=utf-8",
        Media::Bytes => "application/octet-stream",
        Media::Multipart => "multipart/form-data",
        Media::Stream(f) | Media::Items(f) => stream_media(f),
    }
    .to_owned()
}

/// The content type a stream format is sent with.
fn stream_media(f: StreamFmt) -> &'static str {
    match f {
        StreamFmt::Ndjson => "application/x-ndjson",
        StreamFmt::Sse => "text/event-stream",
        StreamFmt::JsonSeq => "application/json-seq",
    }
}

/// `__p::StreamFormat::Ndjson` etc.
fn stream_format_tokens(f: StreamFmt) -> TokenStream {
    match f {
        StreamFmt::Ndjson => quote!(__p::StreamFormat::Ndjson),
        StreamFmt::Sse => quote!(__p::StreamFormat::Sse),
        StreamFmt::JsonSeq => quote!(__p::StreamFormat::JsonSeq),
    }
}

/// The stream format of a response's body, if it is a stream.
fn response_stream(r: &Resp) -> Option<(StreamFmt, &Content)> {
    let body = r.body.as_ref()?;
    match body.contents.as_slice() {
        [c] => match c.kind {
            Media::Stream(f) => Some((f, c)),
            _ => None,
        },
        _ => None,
    }
}

/// `.json(&value, "application/json")` etc.
fn encode_content(c: &Content, value: &TokenStream) -> TokenStream {
    let m = lit_str(&concrete_media(c));
    match c.kind {
        Media::Json => quote!(.json(&#value, #m)),
        Media::Form => quote!(.form(&#value, #m)),
        Media::Text => quote!(.text(#value, #m)),
        Media::Bytes => quote!(.bytes(#value, #m)),
        Media::Multipart => quote!(.multipart(__p::MultipartBody::to_multipart(&#value))),
        Media::Items(f) => {
            let f = stream_format_tokens(f);
            quote!(.items(&#value, #f, #m))
        }
        // Streams are attached by `__into_http`, not through the builder.
        Media::Stream(_) => TokenStream::new(),
    }
}

fn decode_content(c: &Content, source: &TokenStream) -> TokenStream {
    match c.kind {
        Media::Json => quote!(__p::decode_json(#source.body())),
        Media::Form => quote!(__p::decode_form(#source.body())),
        Media::Text => quote!(__p::decode_text(#source.body())),
        Media::Bytes => quote!(__p::decode_bytes(#source.body())),
        Media::Multipart => quote!(__p::decode_multipart(#source.headers(), #source.body())),
        Media::Stream(f) => {
            let f = stream_format_tokens(f);
            quote!(__p::stream_from_bytes(#source.body(), #f))
        }
        Media::Items(f) => {
            let f = stream_format_tokens(f);
            quote!(__p::decode_items(#source.body(), #f))
        }
    }
}

fn int_tokens(v: i64) -> TokenStream {
    let lit = Literal::u64_unsuffixed(v.unsigned_abs());
    if v < 0 {
        quote!(-#lit)
    } else {
        lit.into_token_stream()
    }
}

fn default_expr(ty: &Ty, value: &Value, defs: &[TypeDef]) -> TokenStream {
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
            quote!(::std::string::String::from(#l))
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

/// Sort key for a path template, segment by segment: literals first, then
/// parameters with more literal text around them, then bare parameters.
fn route_key(path: &str) -> Vec<(u8, usize, String)> {
    path.split('/')
        .map(|s| match s.find('{') {
            None => (0, 0, s.to_owned()),
            Some(_) => {
                let mut literal = 0usize;
                let mut inside = false;
                for c in s.chars() {
                    match c {
                        '{' => inside = true,
                        '}' => inside = false,
                        _ if !inside => literal += 1,
                        _ => {}
                    }
                }
                if literal == 0 {
                    (2, 0, String::new())
                } else {
                    (1, usize::MAX - literal, String::new())
                }
            }
        })
        .collect()
}

/// Direct edges of a definition: named types it contains by value.
fn direct_edges(ty: &Ty, out: &mut Vec<TypeId>) {
    match ty {
        Ty::Named(id) => out.push(*id),
        Ty::Option(inner) => direct_edges(inner, out),
        Ty::Tuple(items) => items.iter().for_each(|item| direct_edges(item, out)),
        _ => {}
    }
}

fn all_edges(ty: &Ty, out: &mut Vec<TypeId>) {
    match ty {
        Ty::Named(id) => out.push(*id),
        Ty::Option(inner) | Ty::Vec(inner) | Ty::Map(inner) => all_edges(inner, out),
        Ty::Tuple(items) => items.iter().for_each(|item| all_edges(item, out)),
        _ => {}
    }
}

fn def_edges(def: &TypeDef, direct: bool) -> Vec<TypeId> {
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
            for (_, _, ty) in variants {
                add(ty);
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
fn direct_sccs(defs: &[TypeDef]) -> Vec<usize> {
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
fn alias_cycles(defs: &[TypeDef]) -> Vec<bool> {
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

/// `Serialize` for a struct: a map of the properties that are set, then the
/// `additionalProperties`; what the derive writes, in less code.
fn emit_struct_serialize(name: &Ident, s: &StructDef) -> TokenStream {
    let entries = s.fields.iter().map(|f| {
        let fname = ident(&f.rust);
        let w = lit_str(&f.wire);
        if f.optional {
            quote! {
                if let ::core::option::Option::Some(__value) = &self.#fname {
                    __p::serde::ser::SerializeMap::serialize_entry(&mut __map, #w, __value)?;
                }
            }
        } else {
            quote!(__p::serde::ser::SerializeMap::serialize_entry(&mut __map, #w, &self.#fname)?;)
        }
    });
    let additional = s.additional.as_ref().map(|_| {
        let fname = ident(&s.additional_name);
        quote! {
            for (__key, __value) in &self.#fname {
                __p::serde::ser::SerializeMap::serialize_entry(&mut __map, __key, __value)?;
            }
        }
    });
    quote! {
        impl __p::serde::Serialize for #name {
            fn serialize<__S: __p::serde::Serializer>(&self, __serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                let mut __map = __p::serde::Serializer::serialize_map(__serializer, ::core::option::Option::None)?;
                #(#entries)*
                #additional
                __p::serde::ser::SerializeMap::end(__map)
            }
        }
    }
}

/// A method `http::Method` has a constant for.
fn is_standard_method(method: &str) -> bool {
    matches!(
        method,
        "GET" | "PUT" | "POST" | "DELETE" | "OPTIONS" | "HEAD" | "PATCH" | "TRACE" | "CONNECT"
    )
}
