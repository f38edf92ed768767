//! Bodies and responses: body enums, response enums, and their conversion to and from HTTP on each side.

use super::*;

impl Emitter<'_> {
    /// The type of a body: the single content's, or the enum over media types.
    pub(super) fn body_ty(&self, body: &Body) -> TokenStream {
        match (&body.enum_name, body.contents.as_slice()) {
            (Some(name), _) => {
                let n = ident(name);
                quote!(#n)
            }
            (None, [c]) => {
                let t = self.ty(&c.ty, true, None);
                if matches!(c.kind, Media::Stream(_)) {
                    quote!(TypedStream<#t>)
                } else {
                    t
                }
            }
            (None, _) => {
                quote!(api::Bytes)
            }
        }
    }

    pub(super) fn emit_body_enum(&self, body: &Body, doc: &str) -> TokenStream {
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
            #[derive(Debug, Clone, PartialEq)]
            pub enum #name { #(#vs)* }
        }
    }

    /// Response enum, body enums, and their HTTP conversions.
    pub(super) fn emit_op_types(&self, op: &Op) -> TokenStream {
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
                        status: StatusCode,
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
                    let t = if h.required { t } else { quote!(Option<#t>) };
                    let d = format!(" Header `{}`.", h.wire);
                    quote!(#[doc = #d] #n: #t,)
                });
                quote!(#doc #[doc = ""] #[doc = #status_doc] #v { #status #body #(#headers)* },)
            }
        });
        let doc = format!(" The responses of `{}`.", op.id);
        let into_http = self.server.then(|| self.emit_into_http(op, &name));
        let from_http = self.client.then(|| self.emit_from_http(op, &name));
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
                    quote!(#pattern => rt::status(#c),)
                }
                _ => quote!(Self::#v { status, .. } => status,),
            }
        });
        // A stream can be neither cloned nor compared.
        let derives = if op.responses.iter().any(|r| response_stream(r).is_some()) {
            quote!(#[derive(Debug)])
        } else {
            quote!(#[derive(Debug, Clone, PartialEq)])
        };
        out.extend(quote! {
            #[doc = #doc]
            #derives
            pub enum #name { #(#variants)* }
            impl #name {
                /// The status code of this response.
                pub fn status(&self) -> StatusCode {
                    match *self { #(#status_arms)* }
                }
            }
            #into_http
            #from_http
        });
        out
    }

    /// Server side: response enum → HTTP response.
    pub(super) fn emit_into_http(&self, op: &Op, name: &Ident) -> TokenStream {
        let arms = op.responses.iter().map(|r| {
            let v = ident(&r.variant);
            let start = match r.status {
                Status::Code(c) => {
                    let c = status_lit(c);
                    quote!(rt::reply(#c))
                }
                _ => quote!(rt::reply_with(status)),
            };
            let headers = r.headers.iter().map(|h| {
                let n = ident(&h.rust);
                let w = lit_str(&h.wire);
                quote!(.header(#w, &#n))
            });
            let builder = quote!(#start #(#headers)*);
            let header_names = r.headers.iter().map(|h| ident(&h.rust));
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
                let media = lit_str(&concrete_media(c));
                let f = stream_format_tokens(f);
                return quote! {
                    #pattern => #builder.stream(body.into_body(#f), #media),
                };
            }
            let built = match &r.body {
                None => quote!(#builder.finish()),
                Some(b) => self.encode_body(b, &quote!(body), builder, quote!(.finish())),
            };
            quote!(#pattern => #built,)
        });
        quote! {
            impl IntoResponse for #name {
                fn into_response(self) -> Response<Body> {
                    match self { #(#arms)* }
                }
            }
        }
    }

    /// The builder expression `builder` with the body `value` set, then
    /// `then` (`builder.json(&value, ..).finish()`, or a `match` over a body
    /// enum with that in each arm).
    pub(super) fn encode_body(
        &self,
        body: &Body,
        value: &TokenStream,
        builder: TokenStream,
        then: TokenStream,
    ) -> TokenStream {
        match &body.enum_name {
            None => match body.contents.first() {
                Some(c) => {
                    let enc = encode_content(c, value);
                    quote!(#builder #enc #then)
                }
                None => quote!(#builder #then),
            },
            Some(name) => {
                let n = ident(name);
                let arms = body.contents.iter().map(|c| {
                    let v = ident(&c.variant);
                    let enc = encode_content(c, &quote!(inner));
                    quote!(#n::#v(inner) => #builder #enc #then,)
                });
                quote!(match #value { #(#arms)* })
            }
        }
    }

    /// Client side: HTTP response → response enum.
    pub(super) fn emit_from_http(&self, op: &Op, name: &Ident) -> TokenStream {
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
            arms.push(quote!(#pat => Ok(#build),));
        }
        let fallback = match default {
            Some(r) => {
                let build = self.decode_response(r);
                quote!(Ok(#build))
            }
            None => quote!(Err(rt::undocumented(&r))),
        };
        let streaming = self.emit_from_http_streaming(op);
        let decode = if arms.is_empty() {
            fallback
        } else {
            quote! {
                match r.status().as_u16() {
                    #(#arms)*
                    _ => #fallback,
                }
            }
        };
        quote! {
            impl FromResponse for #name {
                fn from_response(r: Response<Bytes>) -> Result<Self, CallError> {
                    #decode
                }
                #streaming
            }
        }
    }

    /// Client side, for an operation that answers a stream: the streamed
    /// variant takes the body as it arrives; any other answer is collected
    /// and decoded as usual.
    pub(super) fn emit_from_http_streaming(&self, op: &Op) -> TokenStream {
        let arms = op
            .responses
            .iter()
            .filter_map(|r| {
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
                let build = self.build_variant(r, Some(quote!(body)));
                // The head, for the variant's status and headers.
                let head = (r.has_status() || !r.headers.is_empty())
                    .then(|| quote!(let r = Response::from_parts(__parts, Bytes::new());));
                Some(quote! {
                    if #status_matches && rt::media_accepts(#media, &__parts.headers) {
                        #head
                        let body = TypedStream::from_body(__body, #f);
                        Ok(#build)
                    } else
                })
            })
            .collect::<Vec<_>>();
        if arms.is_empty() {
            return TokenStream::new();
        }
        quote! {
            async fn from_streamed_response(__streamed: Response<BodyStream>) -> Result<Self, CallError> {
                let (__parts, __body) = __streamed.into_parts();
                let __status = __parts.status.as_u16();
                #(#arms)* {
                    let __bytes = rt::collect_body(__body).await?;
                    Self::from_response(Response::from_parts(__parts, __bytes))
                }
            }
        }
    }

    /// The variant of `r` decoded from the response `r` of the generated code.
    pub(super) fn decode_response(&self, r: &Resp) -> TokenStream {
        let body = r
            .body
            .as_ref()
            .map(|b| self.decode_body(b, &quote!(r), true));
        self.build_variant(r, body)
    }

    /// The variant of `r`, its body `body` (an expression) and its headers
    /// decoded from the response `r`, in that order.
    pub(super) fn build_variant(&self, r: &Resp, body: Option<TokenStream>) -> TokenStream {
        let v = ident(&r.variant);
        let headers = r.headers.iter().map(|h| {
            let n = ident(&h.rust);
            let w = lit_str(&h.wire);
            if h.required {
                quote!(#n: rt::response_header_required(&r, #w)?,)
            } else {
                quote!(#n: rt::response_header(&r, #w)?,)
            }
        });
        if r.is_tuple() {
            quote!(Self::#v(#body))
        } else if !r.has_status() && r.headers.is_empty() {
            quote!(Self::#v)
        } else {
            let s = r.has_status().then(|| quote!(status: r.status(),));
            let b = body.map(|body| {
                if body.to_string() == "body" {
                    quote!(body,)
                } else {
                    quote!(body: #body,)
                }
            });
            quote!(Self::#v { #s #b #(#headers)* })
        }
    }

    /// An expression decoding a body from `source` (a request or a
    /// response). On the client, errors are `CallError`s (`?`); on the
    /// server, rejections (`?`).
    pub(super) fn decode_body(
        &self,
        body: &Body,
        source: &TokenStream,
        client: bool,
    ) -> TokenStream {
        let wrap = |e: TokenStream| {
            if client {
                quote!(rt::client(#e, &#source)?)
            } else {
                quote!(#e?)
            }
        };
        // A media type the operation does not document: the server answers
        // 415, the client reports an undocumented response.
        let reject = if client {
            quote!(return Err(rt::undocumented(&#source)))
        } else {
            quote!(return Err(rt::unsupported_media(#source.headers())))
        };
        match (&body.enum_name, body.contents.as_slice()) {
            (None, [c]) => {
                let m = lit_str(&c.media);
                if c.kind == Media::Json && c.media == "application/json" {
                    return quote!(rt::json(&#source)?);
                }
                if let Some(decoder) = body_decoder(c) {
                    return if client {
                        quote!(rt::response_body(&#source, #m, #decoder)?)
                    } else {
                        quote!(rt::request_body(&#source, #m, #decoder)?)
                    };
                }
                let check = if client {
                    quote!(rt::expect_media(&#source, #m)?;)
                } else {
                    quote!(rt::accept_media(#source.headers(), #m)?;)
                };
                let decode = wrap(decode_content(c, source));
                quote!({ #check #decode })
            }
            (Some(name), contents) => {
                let n = ident(name);
                let mut chain = TokenStream::new();
                for (i, c) in contents.iter().enumerate() {
                    let v = ident(&c.variant);
                    let m = lit_str(&c.media);
                    let decode = wrap(decode_content(c, source));
                    let cond = if i == 0 {
                        quote!(rt::media_matches(#m, content_type.as_deref()) || content_type.is_none())
                    } else {
                        quote!(rt::media_matches(#m, content_type.as_deref()))
                    };
                    chain.extend(quote!(if #cond { #n::#v(#decode) } else));
                }
                quote! {
                    {
                        let content_type = rt::content_type(#source.headers());
                        #chain { #reject }
                    }
                }
            }
            (None, _) => quote!(#source.body().clone()),
        }
    }
}

/// The runtime's decoder of a body read whole from its bytes alone.
fn body_decoder(c: &Content) -> Option<TokenStream> {
    match c.kind {
        Media::Json => Some(quote!(rt::decode_json)),
        Media::Form => Some(quote!(rt::decode_form)),
        Media::Text => Some(quote!(rt::decode_text)),
        Media::Bytes => Some(quote!(rt::decode_bytes)),
        Media::Multipart | Media::Stream(_) | Media::Items(_) => None,
    }
}

/// The media type to send for a content: patterns become concrete types.
pub(super) fn concrete_media(c: &Content) -> String {
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
pub(super) fn stream_media(f: StreamFmt) -> &'static str {
    match f {
        StreamFmt::Ndjson => "application/x-ndjson",
        StreamFmt::Sse => "text/event-stream",
        StreamFmt::JsonSeq => "application/json-seq",
    }
}

/// `StreamFormat::Ndjson` etc.
pub(super) fn stream_format_tokens(f: StreamFmt) -> TokenStream {
    match f {
        StreamFmt::Ndjson => quote!(StreamFormat::Ndjson),
        StreamFmt::Sse => quote!(StreamFormat::Sse),
        StreamFmt::JsonSeq => quote!(StreamFormat::JsonSeq),
    }
}

/// The stream format of a response's body, if it is a stream.
pub(super) fn response_stream(r: &Resp) -> Option<(StreamFmt, &Content)> {
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
pub(super) fn encode_content(c: &Content, value: &TokenStream) -> TokenStream {
    let m = lit_str(&concrete_media(c));
    match c.kind {
        Media::Json => quote!(.json(&#value, #m)),
        Media::Form => quote!(.form(&#value, #m)),
        Media::Text => quote!(.text(#value, #m)),
        Media::Bytes => quote!(.bytes(#value, #m)),
        Media::Multipart => quote!(.multipart(rt::MultipartBody::to_multipart(&#value))),
        Media::Items(f) => {
            let f = stream_format_tokens(f);
            quote!(.items(&#value, #f, #m))
        }
        // Streams are attached by `into_response`, not through the builder.
        Media::Stream(_) => TokenStream::new(),
    }
}

pub(super) fn decode_content(c: &Content, source: &TokenStream) -> TokenStream {
    match c.kind {
        Media::Json => quote!(rt::decode_json(#source.body())),
        Media::Form => quote!(rt::decode_form(#source.body())),
        Media::Text => quote!(rt::decode_text(#source.body())),
        Media::Bytes => quote!(rt::decode_bytes(#source.body())),
        Media::Multipart => quote!(rt::decode_multipart(#source.headers(), #source.body())),
        Media::Stream(f) => {
            let f = stream_format_tokens(f);
            quote!(rt::stream_from_bytes(#source.body(), #f))
        }
        Media::Items(f) => {
            let f = stream_format_tokens(f);
            quote!(rt::decode_items(#source.body(), #f))
        }
    }
}
