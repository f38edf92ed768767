//! The `openapi_socket!` macro: a thin layer over
//! [`swaggersocket_codegen::generate`]. Use it through the `swaggersocket`
//! crate, which re-exports it.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::path::PathBuf;
use swaggersocket_codegen::{generate_at, Options};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitBool, LitStr, Token};

/// Generates the types, server trait, server adapter and client stub of an
/// OpenAPI document (Swagger 2.0, OpenAPI 3.0, 3.1 or 3.2) at compile time.
///
/// ```ignore
/// swaggersocket::openapi_socket!("fixtures/petstore.yaml");
/// swaggersocket::openapi_socket!(spec = "fixtures/petstore.yaml", name = petstore, client = false);
/// ```
///
/// The path is relative to the crate's `CARGO_MANIFEST_DIR`; the crate is
/// rebuilt when the file changes. Options: `spec = "path"` (or the path
/// first, alone), `name = ident` (the module name; default from
/// `info.title`), `server = bool`, `client = bool` (both default `true`),
/// `strict = bool` (warnings become errors), `crate = path` (the runtime
/// crate; default `::swaggersocket`), and to generate only some operations
/// of a large API (and the types they use): `tags = ["zones"]`,
/// `operations = ["listPets"]`, `exclude_tags = [..]`,
/// `exclude_operations = [..]` (see `swaggersocket_codegen::Selection`). The expansion is the same code
/// `swaggersocket-gen generate` writes. Errors name their JSON pointer in the
/// spec and point at the path literal.
#[proc_macro]
pub fn openapi_socket(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand_tokens(input.into()).into()
}

/// `["a", "b"]`.
fn strings(input: ParseStream<'_>) -> syn::Result<Vec<String>> {
    let content;
    syn::bracketed!(content in input);
    let list = content.parse_terminated(|p: ParseStream<'_>| p.parse::<LitStr>(), Token![,])?;
    Ok(list.iter().map(LitStr::value).collect())
}

/// The whole expansion, on `proc_macro2` tokens so that it can be tested.
fn expand_tokens(input: TokenStream) -> TokenStream {
    match syn::parse2::<Input>(input).and_then(expand) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

struct Input {
    spec: LitStr,
    options: Options,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut spec: Option<LitStr> = None;
        let mut options = Options::default();
        if input.peek(LitStr) {
            spec = Some(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        while !input.is_empty() {
            let key: Ident = if input.peek(Token![crate]) {
                let kw: Token![crate] = input.parse()?;
                Ident::new("crate", kw.span)
            } else {
                input.parse()?
            };
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "spec" => {
                    if spec.is_some() {
                        return Err(syn::Error::new(key.span(), "the spec path is given twice"));
                    }
                    spec = Some(input.parse()?);
                }
                "name" => {
                    let name = if input.peek(LitStr) {
                        input.parse::<LitStr>()?.value()
                    } else {
                        input.parse::<Ident>()?.to_string()
                    };
                    options.name = Some(name);
                }
                "server" => options.server = input.parse::<LitBool>()?.value,
                "client" => options.client = input.parse::<LitBool>()?.value,
                "strict" => options.strict = input.parse::<LitBool>()?.value,
                "crate" => {
                    let path: syn::Path = input.parse()?;
                    options.crate_path = Some(quote!(#path).to_string().replace(' ', ""));
                }
                "tags" => options.select.tags = strings(input)?,
                "operations" => options.select.operations = strings(input)?,
                "exclude_tags" => options.select.exclude_tags = strings(input)?,
                "exclude_operations" => options.select.exclude_operations = strings(input)?,
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown option `{other}`; expected one of: spec, name, server, client, strict, crate, tags, operations, exclude_tags, exclude_operations"
                        ),
                    ))
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let spec = spec.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing the spec path: openapi_socket!(\"path/to/spec.yaml\")",
            )
        })?;
        Ok(Input { spec, options })
    }
}

fn expand(input: Input) -> syn::Result<TokenStream> {
    let relative = input.spec.value();
    let base = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = base.join(&relative);
    let source = std::fs::read_to_string(&path).map_err(|e| {
        syn::Error::new(
            input.spec.span(),
            format!("cannot read spec file `{relative}` (relative to CARGO_MANIFEST_DIR): {e}"),
        )
    })?;
    let generated = generate_at(&source, &path, &input.options).map_err(|errors| {
        let mut all: Option<syn::Error> = None;
        for d in errors.diagnostics() {
            let e = syn::Error::new(input.spec.span(), format!("{relative}: {d}"));
            match &mut all {
                Some(all) => all.combine(e),
                None => all = Some(e),
            }
        }
        all.unwrap_or_else(|| syn::Error::new(input.spec.span(), "code generation failed"))
    })?;
    let tokens = generated.tokens;
    // Makes cargo rebuild the crate when the spec, or any file its `$ref`s
    // reach, changes.
    let mut files = vec![path.clone()];
    files.extend(generated.files.iter().skip(1).cloned());
    let tracked = files.iter().map(|file| {
        let file = file.to_string_lossy().into_owned();
        quote!(
            const _: &[u8] = ::core::include_bytes!(#file);
        )
    });
    Ok(quote! {
        #tokens
        #(#tracked)*
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        format!("{dir}/../fixtures/{name}")
    }

    #[test]
    fn the_expansion_is_the_generator_output_plus_file_tracking() {
        let path = fixture("petstore.yaml");
        let expanded = expand_tokens(quote!(spec = #path, name = pets, strict = false));
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        let options = Options {
            name: Some("pets".to_owned()),
            ..Options::default()
        };
        let generated = generate_at(&source, std::path::Path::new(&path), &options)
            .map(|g| g.tokens.to_string());
        let expected = format!(
            "{} const _ : & [u8] = :: core :: include_bytes ! ({:?}) ;",
            generated.unwrap_or_default(),
            std::path::Path::new("").join(&path).to_string_lossy()
        );
        assert_eq!(expanded.to_string(), expected);
    }

    #[test]
    fn options_are_parsed() {
        let parsed = syn::parse2::<Input>(quote!(
            "a.yaml",
            name = "x_y",
            server = false,
            client = true,
            strict = true,
            crate = ::my::rt,
            tags = ["pets", "store"],
            operations = [],
            exclude_operations = ["deletePet",],
        ));
        let Ok(input) = parsed else {
            panic!("options did not parse")
        };
        assert_eq!(input.spec.value(), "a.yaml");
        assert_eq!(input.options.name.as_deref(), Some("x_y"));
        assert!(!input.options.server && input.options.client && input.options.strict);
        assert_eq!(input.options.crate_path.as_deref(), Some("::my::rt"));
        assert_eq!(input.options.select.tags, ["pets", "store"]);
        assert!(input.options.select.operations.is_empty());
        assert_eq!(input.options.select.exclude_operations, ["deletePet"]);
    }

    #[test]
    fn errors_are_compile_errors_not_panics() {
        for input in [
            quote!(),
            quote!(name = x),
            quote!("a.yaml", bogus = 1),
            quote!(42),
        ] {
            let out = expand_tokens(input).to_string();
            assert!(out.contains("compile_error"), "{out}");
        }
    }
}
