//! The server side: the `Api` trait, the `ApiService` adapter, and each operation's handler.

use super::*;

impl Emitter<'_> {
    pub(super) fn emit_server(&self) -> TokenStream {
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
                fn #name(&self, ctx: Context, #(#args),*) -> impl Future<Output = Result<#resp, ServerError>> + Send {
                    let _ = (ctx, #(#arg_names),*);
                    rt::not_implemented(#id)
                }
            }
        });
        let routes = self.emit_routes();
        quote! {
            /// The server side of this API: implement the operations you serve;
            /// the others answer 501 Not Implemented.
            pub trait Api: Send + Sync + 'static {
                #(#methods)*
            }

            /// Serves an [`Api`] implementation: a `tower::Service` that routes
            /// requests, decodes parameters and bodies, calls the operation and
            /// encodes its response. `ApiService::new(api)`, then give it to a
            /// `serve` method.
            pub type ApiService<A> = rt::ApiService<A, Routes>;

            /// The routes of this API: how [`ApiService`] finds the operation
            /// of a request.
            #[derive(Debug)]
            pub enum Routes {}

            #routes

        }
    }

    pub(super) fn server_args(&self, op: &Op) -> Vec<TokenStream> {
        let mut args: Vec<TokenStream> = op
            .params
            .iter()
            .map(|p| {
                let n = ident(&p.rust);
                let t = self.ty(&p.ty, true, None);
                if p.required {
                    quote!(#n: #t)
                } else {
                    quote!(#n: Option<#t>)
                }
            })
            .collect();
        if let Some(body) = &op.body {
            let n = ident(&op.body_arg);
            let t = self.body_ty(body);
            args.push(if op.body_required {
                quote!(#n: #t)
            } else {
                quote!(#n: Option<#t>)
            });
        }
        args
    }

    pub(super) fn server_arg_names(&self, op: &Op) -> Vec<Ident> {
        let mut names: Vec<Ident> = op.params.iter().map(|p| ident(&p.rust)).collect();
        if op.body.is_some() {
            names.push(ident(&op.body_arg));
        }
        names
    }

    /// The arm of the router's `match` that decodes an operation's
    /// parameters and body and calls it: a bad parameter is answered at
    /// once (`?`), and the runtime's `answer_later` is the only future (no
    /// `async` body of its own to check per operation).
    pub(super) fn emit_handler(&self, op: &Op) -> TokenStream {
        let name = ident(&op.name);
        let mut decls = Vec::new();
        let mut path_index = 0usize;
        if op
            .params
            .iter()
            .any(|p| matches!(p.location, Location::Query | Location::QueryString))
        {
            decls.push(quote!(let __query = rt::Query::parse(__request.uri());));
        }
        for p in &op.params {
            let n = ident(&p.rust);
            let w = lit_str(&p.wire);
            let sep = p.separator;
            let value = match (p.location, p.is_array()) {
                (Location::Path, false) => {
                    let i = Literal::usize_unsuffixed(path_index);
                    path_index += 1;
                    quote!(rt::path_param(#w, &__captures, #i))
                }
                (Location::Path, true) => {
                    let i = Literal::usize_unsuffixed(path_index);
                    path_index += 1;
                    let sep = p.separator;
                    if sep == ',' {
                        quote!(rt::path_param_list(#w, &__captures, #i))
                    } else {
                        quote!(rt::path_param_split(#w, &__captures, #i, #sep))
                    }
                }
                (Location::Query, _) if p.deep => quote!(__query.deep(#w)),
                (Location::Query, false) => quote!(__query.one(#w)),
                (Location::Query, true) => {
                    let explode = p.explode;
                    quote!(__query.list(#w, #explode, #sep))
                }
                (Location::Header, false) => quote!(rt::header_one(__request.headers(), #w)),
                (Location::Header, true) => quote!(rt::header_list(__request.headers(), #w)),
                (Location::Cookie, _) => quote!(rt::cookie_one(__request.headers(), #w)),
                (Location::QueryString, _) => quote!(__query.whole()),
            };
            let location = location_variant(p.location);
            if p.location == Location::Path || !p.required {
                decls.push(quote!(let #n = #value?;));
            } else {
                decls.push(quote!(let #n = rt::require(#value?, ParamLocation::#location, #w)?;));
            }
        }
        if let Some(body) = &op.body {
            let n = ident(&op.body_arg);
            let decode = self.decode_body(body, &quote!(__request), false);
            if op.body_required {
                decls.push(quote! {
                    rt::body_required(&__request)?;
                    let #n = #decode;
                });
            } else {
                decls.push(quote! {
                    let #n = if rt::has_body(&__request) { Some(#decode) } else { None };
                });
            }
        }
        let args = self.server_arg_names(op);
        let resp = ident(&op.response_enum);
        // The context takes the request's headers and connection when the
        // parameters and body are decoded: moved, not copied.
        // Not an `async fn`: the parameters are decoded at once, and the
        // runtime's `answer_later` is the only future (one async body less to
        // check per operation); a bad parameter is answered at once (`Err`).
        let _ = resp;
        quote! {
            {
                #(#decls)*
                let ctx = Context::from_request_owned(__request);
                Ok(rt::answer_later(__api.#name(ctx, #(#args),*)))
            }
        }
    }
}

/// The `ParamLocation` variant of a location.
pub(super) fn location_variant(location: Location) -> Ident {
    ident(match location {
        Location::Path => "Path",
        Location::Query => "Query",
        Location::Header => "Header",
        Location::Cookie => "Cookie",
        Location::QueryString => "QueryString",
    })
}

pub(super) fn location_word(location: Location) -> &'static str {
    match location {
        Location::Path => "path parameter",
        Location::Query => "query parameter",
        Location::Header => "header",
        Location::Cookie => "cookie",
        Location::QueryString => "query string",
    }
}
