//! The crate root's public items, as a snapshot: growing (or shrinking) the
//! public surface of `swaggersocket` must be a deliberate change, made by
//! accepting a new snapshot in review.

use std::fmt::Write as _;

/// One line per public item of the crate root: `pub mod`, `pub use` (each
/// name it brings in) and `#[macro_export]` macros of the crate's modules,
/// with the `#[cfg(...)]` it stands under. Items under `#[doc(hidden)]` are
/// listed apart: they are not part of the documented API.
fn public_items() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).expect("src/lib.rs");
    let file = syn::parse_file(&lib).expect("src/lib.rs parses");
    let mut lines = Vec::new();
    for item in &file.items {
        let (attrs, vis, names) = match item {
            syn::Item::Mod(m) => (&m.attrs, &m.vis, vec![format!("mod {}", m.ident)]),
            syn::Item::Use(u) => (&u.attrs, &u.vis, use_names(&u.tree, "")),
            syn::Item::Fn(f) => (&f.attrs, &f.vis, vec![format!("fn {}", f.sig.ident)]),
            syn::Item::Type(t) => (&t.attrs, &t.vis, vec![format!("type {}", t.ident)]),
            syn::Item::Struct(s) => (&s.attrs, &s.vis, vec![format!("struct {}", s.ident)]),
            syn::Item::Enum(e) => (&e.attrs, &e.vis, vec![format!("enum {}", e.ident)]),
            syn::Item::Trait(t) => (&t.attrs, &t.vis, vec![format!("trait {}", t.ident)]),
            syn::Item::Const(c) => (&c.attrs, &c.vis, vec![format!("const {}", c.ident)]),
            _ => continue,
        };
        if !matches!(vis, syn::Visibility::Public(_)) {
            continue;
        }
        let (cfg, hidden) = cfg_and_hidden(attrs);
        for name in names {
            lines.push(line(&name, &cfg, hidden));
        }
    }
    // `#[macro_export]` macros land at the crate root whatever module they
    // are written in.
    for entry in walk(&root) {
        let text = std::fs::read_to_string(&entry).expect("a source file");
        let Ok(file) = syn::parse_file(&text) else {
            continue;
        };
        for item in file.items {
            if let syn::Item::Macro(m) = item {
                let exported = m.attrs.iter().any(|a| a.path().is_ident("macro_export"));
                if let (true, Some(ident)) = (exported, &m.ident) {
                    let (cfg, hidden) = cfg_and_hidden(&m.attrs);
                    lines.push(line(&format!("macro {ident}!"), &cfg, hidden));
                }
            }
        }
    }
    lines.sort();
    lines.dedup();
    let mut out = String::new();
    for l in lines {
        writeln!(out, "{l}").expect("writing to a String");
    }
    out
}

fn line(name: &str, cfg: &str, hidden: bool) -> String {
    let mut l = name.to_owned();
    if !cfg.is_empty() {
        l.push_str(&format!("  [{cfg}]"));
    }
    if hidden {
        l.push_str("  (doc hidden)");
    }
    l
}

fn use_names(tree: &syn::UseTree, prefix: &str) -> Vec<String> {
    match tree {
        syn::UseTree::Path(p) => use_names(&p.tree, &format!("{prefix}{}::", p.ident)),
        syn::UseTree::Name(n) => vec![format!("use {prefix}{}", n.ident)],
        syn::UseTree::Rename(r) => vec![format!("use {prefix}{} as {}", r.ident, r.rename)],
        syn::UseTree::Glob(_) => vec![format!("use {prefix}*")],
        syn::UseTree::Group(g) => g.items.iter().flat_map(|t| use_names(t, prefix)).collect(),
    }
}

fn cfg_and_hidden(attrs: &[syn::Attribute]) -> (String, bool) {
    let mut cfg = Vec::new();
    let mut hidden = false;
    for attr in attrs {
        if attr.path().is_ident("cfg") {
            if let syn::Meta::List(list) = &attr.meta {
                cfg.push(list.tokens.to_string());
            }
        } else if attr.path().is_ident("doc") {
            if let syn::Meta::List(list) = &attr.meta {
                hidden |= list.tokens.to_string() == "hidden";
            }
        }
    }
    (cfg.join(", "), hidden)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn the_crate_root_lists_these_public_items() {
    insta::assert_snapshot!(public_items());
}

#[test]
fn the_listing_sees_a_public_item_and_its_cfg() {
    // The snapshot could not catch a new export if the listing missed
    // items: these must be in it, with their features.
    let items = public_items();
    for expected in [
        "use server::Server",
        "use handler::IntoHandler",
        "use http_service::HttpService  [feature = \"axum\"]",
        "mod tls  [feature = \"tls\"]",
    ] {
        assert!(
            items.lines().any(|l| l == expected),
            "{expected:?} not in:\n{items}"
        );
    }
    assert!(
        !items.lines().any(|l| l.ends_with("::Handler")),
        "Handler is not public:\n{items}"
    );
}
