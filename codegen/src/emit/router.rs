//! Routing: the match from method and path to an operation's handler.

use super::*;

impl Emitter<'_> {
    pub(super) fn emit_routes(&self) -> TokenStream {
        // The path keys in the document's order, each with its operations;
        // the runtime's router orders them by specificity (literal segments
        // first, then parameters with literal text around them, then bare
        // parameters; a fixed query before none) and matches a path in
        // time that does not grow with the number of operations.
        let mut paths: Vec<&str> = Vec::new();
        for op in self.ops {
            if !paths.contains(&op.path.as_str()) {
                paths.push(&op.path);
            }
        }
        let routes = paths.iter().map(|path| {
            let methods = self
                .ops
                .iter()
                .enumerate()
                .filter(|(_, o)| o.path == *path)
                .map(|(i, o)| {
                    let m = lit_str(&o.method);
                    let i = Literal::usize_unsuffixed(i);
                    quote!((#m, #i))
                });
            let (template, fixed) = split_fixed_query(path);
            let t = lit_str(template);
            let fixed = match fixed {
                Some(fixed) => {
                    let f = lit_str(fixed);
                    quote!(Some(#f))
                }
                None => quote!(None),
            };
            quote!(rt::route(#t, #fixed, &[#(#methods),*]),)
        });
        let arms = self.ops.iter().enumerate().map(|(i, o)| {
            let handle = self.emit_handler(o);
            let i = Literal::usize_unsuffixed(i);
            quote!(#i => #handle)
        });
        // Not an `async fn`: one future holding every operation's would be a
        // state machine of thousands of states in a large API, slow to
        // compile; each operation's future is boxed on its own instead.
        quote! {
            impl<A: Api> Dispatch<A> for Routes {
                fn dispatch(__api: &A, __request: Request<Bytes>) -> Result<BoxFuture<'_, Response<Body>>, Rejection> {
                    static ROUTER: std::sync::LazyLock<rt::Router> = std::sync::LazyLock::new(|| rt::Router::new(&[#(#routes)*]));
                    let (__op, __captures) = ROUTER.find(__request.method(), __request.uri())?;
                    match __op {
                        #(#arms)*
                        _ => Err(rt::not_found(__request.uri())),
                    }
                }
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

/// A method `http::Method` has a constant for.
pub(super) fn is_standard_method(method: &str) -> bool {
    matches!(
        method,
        "GET" | "PUT" | "POST" | "DELETE" | "OPTIONS" | "HEAD" | "PATCH" | "TRACE" | "CONNECT"
    )
}
