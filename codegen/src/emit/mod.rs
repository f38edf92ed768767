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
                use #k::__private::{self as __p, Arc, BoxFuture, ClientError, Connection, Context, Future, HttpRequest, HttpResponse, ServerError, StatusCode};
                macro_rules! __try {
                    ($e:expr) => {
                        match $e {
                            Ok(v) => v,
                            Err(r) => return Err(__p::Reject::into_response(r)),
                        }
                    };
                }
                /// The schema types of this API.
                pub mod types {
                    use #k::__private as __p;
                    #types
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
            /// The calls the API's provider makes to its consumer: the
            /// document's webhooks and callbacks. Over a swaggersocket
            /// connection they travel the other way: the side that calls
            /// the API serves [`Api`] here, and the side that serves the API
            /// calls it with [`Client`].
            pub mod webhooks {
                use super::types;
                use #k::__private::{self as __p, Arc, BoxFuture, ClientError, Connection, Context, Future, HttpRequest, HttpResponse, ServerError, StatusCode};
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
