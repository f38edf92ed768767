//! The client side: the `ApiClient` and one request builder per operation.

use super::*;

impl Emitter<'_> {
    pub(super) fn emit_client(&self) -> TokenStream {
        let methods = self.ops.iter().map(|op| self.emit_client_method(op));
        let builders = self.ops.iter().map(|op| self.emit_request_builder(op));
        quote! {
            /// Calls this API over a swaggersocket [`Connection`]: one method
            /// per operation, each returning a request to `.await` (encoded
            /// at once: its future holds only the request's bytes).
            #[derive(Clone, Debug)]
            pub struct ApiClient {
                connection: Connection,
            }

            impl From<Connection> for ApiClient {
                fn from(connection: Connection) -> Self {
                    ApiClient { connection }
                }
            }

            impl ApiClient {
                /// A client that calls the API over `connection`.
                pub fn new(connection: Connection) -> Self {
                    ApiClient { connection }
                }

                /// The connection the calls go over.
                pub fn connection(&self) -> &Connection {
                    &self.connection
                }

                #(#methods)*
            }

            #(#builders)*
        }
    }

    /// Required arguments of the client method (path parameters, required
    /// query/header/cookie parameters, a required body).
    pub(super) fn required_client_args(&self, op: &Op) -> Vec<(Ident, TokenStream)> {
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

    pub(super) fn emit_client_method(&self, op: &Op) -> TokenStream {
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
            quote!(#n: None,)
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
                    #(#optional: None,)*
                    #opt_body
                }
            }
        }
    }

    pub(super) fn emit_request_builder(&self, op: &Op) -> TokenStream {
        let builder = ident(&op.request_builder);
        let resp = ident(&op.response_enum);
        // An operation that answers a stream takes its response as it comes.
        let call = if op.responses.iter().any(|r| response_stream(r).is_some()) {
            quote!(rt::send_streaming(&self.__client.connection, request))
        } else {
            quote!(rt::send(&self.__client.connection, request))
        };
        let mut fields = Vec::new();
        let mut setters = Vec::new();
        for p in &op.params {
            let n = ident(&p.rust);
            let t = self.ty(&p.ty, true, None);
            if p.required {
                fields.push(quote!(#n: #t,));
            } else {
                fields.push(quote!(#n: Option<#t>,));
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
                        self.#n = Some(value);
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
                fields.push(quote!(#n: Option<#t>,));
                setters.push(quote! {
                    /// Sets the optional request body.
                    pub fn #n(mut self, value: #t) -> Self {
                        self.#n = Some(value);
                        self
                    }
                });
            }
        }
        // Building the request.
        let method = if is_standard_method(&op.method) {
            let m = ident(&op.method);
            quote!(Method::#m)
        } else {
            // The loader checked that the name is an HTTP token.
            let m = proc_macro2::Literal::byte_string(op.method.as_bytes());
            quote!(Method::from_bytes(#m).unwrap_or_default())
        };
        let mut steps = Vec::new();
        // A path key with a query (`/responses?beta=true`, which real
        // documents use to tell operations apart) sends those pairs too.
        let (template, fixed_query) = split_fixed_query(&op.path);
        let mut rest = template;
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
                let sep = p.separator;
                steps.push(if sep == ',' {
                    quote!(request.path_param(&self.#n);)
                } else {
                    quote!(request.path_param_joined(&self.#n, #sep);)
                });
            }
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            let l = lit_str(rest);
            steps.push(quote!(request.path_literal(#l);));
        }
        if let Some(fixed) = fixed_query {
            let l = lit_str(fixed);
            steps.push(quote!(request.fixed_query(#l);));
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
            let enc = self.encode_body(body, &value, quote!(request), TokenStream::new());
            if op.body_required {
                steps.push(quote!(let body = self.#n; request = #enc;));
            } else {
                steps.push(quote!(if let Some(body) = self.#n { request = #enc; }));
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
                __client: &'a ApiClient,
                #(#fields)*
            }

            rt::request!(#builder => #resp);

            impl<'a> #builder<'a> {
                #(#setters)*

                /// Sends the request and decodes the response.
                pub fn send(self) -> impl Future<Output = Result<#resp, CallError>> + Send + 'a {
                    let mut request = rt::RequestBuilder::new(#method);
                    #(#steps)*
                    #call
                }
            }
        }
    }
}
