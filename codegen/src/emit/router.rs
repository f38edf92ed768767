//! Routing: the match from method and path to an operation's handler.

use super::*;

impl Emitter<'_> {
    pub(super) fn emit_routes(&self) -> TokenStream {
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
        // A path key with a query (`/responses?beta=true`) is its path
        // with those pairs required, tried before the path without them.
        paths.sort_by_key(|p| {
            let (template, fixed) = split_fixed_query(p);
            (route_key(template), fixed.is_none())
        });
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
            let (template, fixed) = split_fixed_query(path);
            let p = lit_str(template);
            let allowed = lit_str(&allowed);
            let fixed = fixed.map(|fixed| {
                let f = lit_str(fixed);
                quote!(.filter(|_| __p::query_has(request.uri(), #f)))
            });
            quote! {
                if let ::core::option::Option::Some(captures) = __p::match_path(#p, &path) #fixed {
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
}

/// A path key split at its query, if it has one: `/a?b=1` → (`/a`, `b=1`).
pub(super) fn split_fixed_query(path: &str) -> (&str, Option<&str>) {
    match path.split_once('?') {
        Some((template, query)) => (template, Some(query)),
        None => (path, None),
    }
}

/// Sort key for a path template, segment by segment: literals first, then
/// parameters with more literal text around them, then bare parameters.
pub(super) fn route_key(path: &str) -> Vec<(u8, usize, String)> {
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

/// A method `http::Method` has a constant for.
pub(super) fn is_standard_method(method: &str) -> bool {
    matches!(
        method,
        "GET" | "PUT" | "POST" | "DELETE" | "OPTIONS" | "HEAD" | "PATCH" | "TRACE" | "CONNECT"
    )
}
