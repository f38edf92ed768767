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
                    __p::not_implemented(#id)
                }
            }
        });
        let handlers = self.ops.iter().map(|op| self.emit_handler(op));
        let routes = self.emit_routes();
        quote! {
            /// The server side of this API: implement the operations you serve;
            /// the others answer 501 Not Implemented.
            pub trait Api: Send + Sync + 'static {
                #(#methods)*
            }

            /// Serves an [`Api`] implementation as a swaggersocket handler
            /// (a `tower::Service`): routes requests, decodes parameters and
            /// bodies, and encodes the responses.
            pub struct ApiService<A> {
                api: Arc<A>,
            }

            impl<A: Api> ApiService<A> {
                /// Wraps an implementation.
                pub fn new(api: A) -> Self {
                    ApiService { api: Arc::new(api) }
                }

                /// Wraps a shared implementation.
                pub fn from_arc(api: Arc<A>) -> Self {
                    ApiService { api }
                }

                /// Handles one request.
                pub async fn handle(&self, request: HttpRequest) -> HttpResponse {
                    __dispatch(&*self.api, request).await
                }
            }

            impl<A> Clone for ApiService<A> {
                fn clone(&self) -> Self {
                    ApiService { api: Arc::clone(&self.api) }
                }
            }

            impl<A> ::core::fmt::Debug for ApiService<A> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct("ApiService").finish_non_exhaustive()
                }
            }

            impl<A: Api> __p::tower_service::Service<HttpRequest> for ApiService<A> {
                type Response = HttpResponse;
                type Error = ::core::convert::Infallible;
                type Future = BoxFuture<'static, Result<HttpResponse, Self::Error>>;

                fn poll_ready(&mut self, _cx: &mut ::core::task::Context<'_>) -> ::core::task::Poll<Result<(), Self::Error>> {
                    ::core::task::Poll::Ready(Ok(()))
                }

                fn call(&mut self, request: HttpRequest) -> Self::Future {
                    let api = Arc::clone(&self.api);
                    Box::pin(async move { Ok(__dispatch(&*api, request).await) })
                }
            }

            #routes

            #(#handlers)*
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

    pub(super) fn emit_handler(&self, op: &Op) -> TokenStream {
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
                    let i = Literal::usize_unsuffixed(path_index);
                    path_index += 1;
                    quote!(__p::path_param(#w, &__captures, #i))
                }
                (Location::Path, true) => {
                    let i = Literal::usize_unsuffixed(path_index);
                    path_index += 1;
                    let sep = p.separator;
                    if sep == ',' {
                        quote!(__p::path_param_list(#w, &__captures, #i))
                    } else {
                        quote!(__p::path_param_split(#w, &__captures, #i, #sep))
                    }
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
                    __try!(__p::body_required(&__request));
                    let #n = #decode;
                });
            } else {
                decls.push(quote! {
                    let #n = if __p::has_body(&__request) { Some(#decode) } else { None };
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
        quote! {
            fn #h<'a, A: Api>(__api: &'a A, __request: HttpRequest, __captures: Vec<String>) -> Result<BoxFuture<'a, HttpResponse>, HttpResponse> {
                #(#decls)*
                let ctx = Context::from_request_owned(__request);
                Ok(__p::answer_later(__api.#name(ctx, #(#args),*), #resp::__into_http))
            }
        }
    }
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
