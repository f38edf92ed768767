//! Emit: model → `TokenStream` (types, server trait, server adapter, client).

use crate::ops::{Body, Content, Location, Media, Op, Resp, Status, StreamFmt};
use crate::schema::{Kind, StructDef, Ty, TypeDef, TypeId};
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{quote, ToTokens};
use serde_json::Value;

mod client;
mod responses;
mod router;
mod server;
mod types;

use responses::response_stream;
use router::{is_standard_method, split_fixed_query};
use server::location_word;
use types::{alias_cycles, direct_sccs};

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
    /// The serde implementations of the types emitted so far.
    impls: std::cell::RefCell<TokenStream>,
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
            impls: std::cell::RefCell::default(),
        }
    }

    /// Tokens for a type; `top` when used outside the `types` module.
    /// `owner` boxes references back into the owner's cycle.
    fn ty(&self, ty: &Ty, top: bool, owner: Option<TypeId>) -> TokenStream {
        match ty {
            Ty::String => self.std_name("String", quote!(::std::string::String), top),
            Ty::Bool => quote!(bool),
            Ty::I32 => quote!(i32),
            Ty::I64 => quote!(i64),
            Ty::F32 => quote!(f32),
            Ty::F64 => quote!(f64),
            Ty::DateTime => quote!(api::chrono::DateTime<api::chrono::Utc>),
            Ty::Date => quote!(api::chrono::NaiveDate),
            Ty::Uuid => quote!(api::uuid::Uuid),
            Ty::Base64 => quote!(api::Base64),
            Ty::Ipv4 => quote!(std::net::Ipv4Addr),
            Ty::Ipv6 => quote!(std::net::Ipv6Addr),
            Ty::IpAddr => quote!(std::net::IpAddr),
            Ty::Value => quote!(api::Value),
            Ty::Bytes => quote!(api::Bytes),
            Ty::File => quote!(api::File),
            Ty::Vec(inner) => {
                let inner = self.ty(inner, top, None);
                let vec = self.std_name("Vec", quote!(::std::vec::Vec), top);
                quote!(#vec<#inner>)
            }
            Ty::Tuple(items) => {
                let items = items.iter().map(|item| self.ty(item, top, owner));
                quote!((#(#items,)*))
            }
            Ty::Map(inner) => {
                let inner = self.ty(inner, top, None);
                let string = self.std_name("String", quote!(::std::string::String), top);
                quote!(std::collections::HashMap<#string, #inner>)
            }
            Ty::Option(inner) => {
                let inner = self.ty(inner, top, owner);
                let option = self.std_name("Option", quote!(::core::option::Option), top);
                quote!(#option<#inner>)
            }
            Ty::Named(id) => {
                let name = ident(&self.defs[*id].name);
                let path = if top {
                    quote!(types::#name)
                } else {
                    quote!(#name)
                };
                match owner {
                    Some(o) if self.scc[o] == self.scc[*id] => {
                        let boxed = self.std_name("Box", quote!(::std::boxed::Box), top);
                        quote!(#boxed<#path>)
                    }
                    _ => path,
                }
            }
        }
    }

    /// A prelude name (`String`, `Vec`, `Option`, `Box`) as is, unless a
    /// schema type of the same name shadows it in the `types` module: then
    /// its full path. The top level reserves these names.
    pub(crate) fn std_name(&self, short: &str, full: TokenStream, top: bool) -> TokenStream {
        if !top && self.defs.iter().any(|d| d.name == short) {
            full
        } else {
            ident(short).into_token_stream()
        }
    }

    fn serde_crate(&self) -> TokenStream {
        quote!(#[serde(crate = "rt::serde")])
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
            parts.push("call the API over a connection with [`ApiClient`]");
        }
        if webhooks.is_some() {
            parts.push(
                "the calls the API's provider makes to its consumer (webhooks and \
                 callbacks) are in [`webhooks`]: the other end of the same connection \
                 serves [`webhooks::Api`] and this one calls it with [`webhooks::ApiClient`]",
            );
        }
        let doc = format!(
            "{}\n\nGenerated by swaggersocket-codegen: {}.",
            doc.unwrap_or_default().trim(),
            parts.join(";\n")
        );
        // Inner docs: their links resolve inside the module.
        let doc: TokenStream = doc
            .trim_start()
            .lines()
            .map(|line| {
                let text = format!(" {}", line.trim_start().replace("```", "` ` `"));
                quote!(#![doc = #text])
            })
            .collect();
        let (types, impls) = types;
        // The types module imports what it uses, so that a small API's
        // module has no unused import.
        let uses =
            |tokens: &TokenStream, name: &str| tokens.to_string().contains(&format!("{name} ::"));
        let uses_rt = !impls.is_empty() || uses(&types, "rt");
        let uses_api = uses(&types, "api") || uses(&impls, "api");
        let types_use = match (uses_rt, uses_api) {
            (true, true) => quote!(use #k::codegen::{self as rt, api};),
            (true, false) => quote!(use #k::codegen as rt;),
            (false, true) => quote!(use #k::codegen::api;),
            (false, false) => TokenStream::new(),
        };
        let impls = (!impls.is_empty()).then(|| {
            quote! {
                /// `Serialize` and `Deserialize` of the types above,
                /// written out by the runtime's tables.
                mod serde_impls {
                    use super::*;
                    #impls
                }
            }
        });
        quote! {
            // Generated code is formatted by prettyplease at the edges; keep
            // rustfmt from reformatting a committed copy.
            #[rustfmt::skip]
            // Names and docs come from the document: `non_camel_case_types`
            // for a variant named `V1_2`, `non_snake_case` for a field that
            // keeps its case to stay unique, `missing_docs` for a schema
            // without a description, `deprecated` for its deprecated
            // operations; and every operation is generated whether or not
            // the crate uses it (`dead_code`); an operation takes one
            // argument per parameter (`clippy::too_many_arguments`).
            #[allow(
                dead_code,
                deprecated,
                missing_docs,
                non_camel_case_types,
                non_snake_case,
                clippy::too_many_arguments
            )]
            pub mod #module {
                #doc
                use #k::codegen::{self as rt, *};
                /// The schema types of this API.
                pub mod types {
                    #types_use
                    #types
                    #impls
                }
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
            pub mod webhooks {
                //! The calls the API's provider makes to its consumer: the
                //! document's webhooks and callbacks. Over a swaggersocket
                //! connection they travel the other way: the side that calls
                //! the API serves [`Api`] here, and the side that serves the API
                //! calls it with [`ApiClient`].
                use super::types;
                use #k::codegen::{self as rt, *};
                #api
            }
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
