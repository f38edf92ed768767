#![doc = include_str!("../README.md")]
//!
//! The pipeline is load (any generation, YAML or JSON, one file or several,
//! into the version-neutral input model with every `$ref` resolved) →
//! typing (types and operations in Rust terms: names, collisions, unions)
//! → emit (`proc_macro2::TokenStream`).

mod builder;
mod diag;
mod emit;
mod load;
mod model;
mod naming;
mod ops;
mod schema;

pub use builder::{BuildError, Builder};
pub use diag::{Diagnostic, Errors};

use proc_macro2::TokenStream;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Name of the generated module; by default derived from `info.title`.
    pub name: Option<String>,
    /// Generate the server trait and adapter.
    pub server: bool,
    /// Generate the client stub.
    pub client: bool,
    /// Treat warnings (imprecise types) as errors.
    pub strict: bool,
    /// Path of the runtime crate in generated code; `::swaggersocket` by default.
    pub crate_path: Option<String>,
    /// Which operations to generate; all of them by default.
    pub select: Selection,
}

/// Which operations to generate, for very large APIs (Cloudflare's has
/// 1,500 operations) of which a program uses a few: the others, and the
/// schema types only they use, are left out, and the code compiles in a
/// fraction of the time. Every name given must match something in the
/// document, so a typo is an error rather than a silently empty module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Keep the operations with one of these tags (and those of
    /// `operations`); empty with `operations` empty: keep every operation.
    pub tags: Vec<String>,
    /// Keep these operations, by `operationId` (or `METHOD /path` for an
    /// operation without one).
    pub operations: Vec<String>,
    /// Leave out the operations with one of these tags.
    pub exclude_tags: Vec<String>,
    /// Leave out these operations.
    pub exclude_operations: Vec<String>,
}

impl Selection {
    /// Whether every operation is generated.
    pub fn is_all(&self) -> bool {
        self.tags.is_empty()
            && self.operations.is_empty()
            && self.exclude_tags.is_empty()
            && self.exclude_operations.is_empty()
    }

    /// Whether the operation `id` with `tags` is generated.
    pub(crate) fn keeps(&self, id: &str, tags: &[String]) -> bool {
        let has = |list: &[String]| tags.iter().any(|t| list.contains(t));
        let included = (self.tags.is_empty() && self.operations.is_empty())
            || has(&self.tags)
            || self.operations.iter().any(|o| o == id);
        included && !has(&self.exclude_tags) && !self.exclude_operations.iter().any(|o| o == id)
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: None,
            server: true,
            client: true,
            strict: false,
            crate_path: None,
            select: Selection::default(),
        }
    }
}

/// Counts of what was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations (trait methods / client methods).
    pub operations: usize,
    /// Named schema types.
    pub types: usize,
    /// Constructs typed as `serde_json::Value` for lack of a precise type.
    pub fallbacks: usize,
}

/// The generated code and what the caller should tell the user.
#[derive(Debug, Clone)]
pub struct Generated {
    /// One `pub mod <name> { ... }` item.
    pub tokens: TokenStream,
    /// Imprecise constructs that were typed loosely, with their places.
    pub warnings: Vec<Diagnostic>,
    /// Counts of what was generated.
    pub stats: Stats,
    /// Every operation, in spec order: what a test harness needs to send a
    /// request for each one.
    pub operations: Vec<OperationInfo>,
    /// Every file read, the root document first (empty for [`generate`]
    /// of a text without a path): what a build script or macro watches.
    pub files: Vec<std::path::PathBuf>,
}

/// One generated operation: its names, method and path template.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationInfo {
    /// The Rust method name in `Api` and `Client` (`list_pets`).
    pub name: String,
    /// The `operationId`, or `METHOD /path` when there is none; the 501 of
    /// an unimplemented operation names this.
    pub id: String,
    /// The HTTP method, upper case (`GET`, `QUERY`).
    pub method: String,
    /// The route: the path template as the spec writes it (`/pets/{petId}`),
    /// after the base path of a Swagger 2.0 document.
    pub path: String,
    /// Where the operation is written: a JSON pointer into the document
    /// (`#/paths/~1pets/get`), after a file name for an operation in
    /// another file (`paths/pets.yaml#/get`).
    pub location: String,
}

/// Generates the module for the API description `spec_source` (YAML or
/// JSON text of a Swagger 2.0, OpenAPI 3.0, 3.1 or 3.2 document).
///
/// A `$ref` to another file needs to know where the document is: use
/// [`generate_file`] for documents split over several files.
///
/// # Errors
///
/// Every problem that prevents generation (unparsable text, an unsupported
/// version, dangling `$ref`s, invalid identifiers in options, and in
/// strict mode every warning), each with its JSON pointer.
pub fn generate(spec_source: &str, options: &Options) -> Result<Generated, Errors> {
    generate_source(spec_source, None, options)
}

/// Generates the module for the API description in the file `path`,
/// following `$ref`s to other files relative to the file that holds them.
/// [`Generated::files`] lists every file read, for build tools to watch.
///
/// # Errors
///
/// As [`generate`]; a file that cannot be read is an error naming it (and,
/// for a `$ref`d file, the place of the `$ref`).
pub fn generate_file(
    path: impl AsRef<std::path::Path>,
    options: &Options,
) -> Result<Generated, Errors> {
    let path = path.as_ref();
    let source = std::fs::read_to_string(path)
        .map_err(|e| Errors::one("#", format!("cannot read {}: {e}", path.display())))?;
    generate_at(&source, path, options)
}

/// [`generate`] for the text `spec_source` of the file at `path`, which
/// locates the files its `$ref`s name (a caller that reads the file itself,
/// to report I/O errors its own way).
///
/// # Errors
///
/// As [`generate_file`].
pub fn generate_at(
    spec_source: &str,
    path: &std::path::Path,
    options: &Options,
) -> Result<Generated, Errors> {
    generate_source(spec_source, Some(path), options)
}

fn generate_source(
    spec_source: &str,
    path: Option<&std::path::Path>,
    options: &Options,
) -> Result<Generated, Errors> {
    let mut diags = diag::Diags::default();
    let spec = load::load(
        load::Source {
            text: spec_source,
            path,
        },
        &mut diags,
    )?;
    let crate_path = options
        .crate_path
        .as_deref()
        .unwrap_or("::swaggersocket")
        .trim()
        .to_owned();
    let krate: TokenStream = crate_path
        .parse()
        .ok()
        .filter(|_| valid_path(&crate_path))
        .ok_or_else(|| {
            Errors::one(
                "#",
                format!("option crate_path `{crate_path}` is not a Rust path"),
            )
        })?;
    let module = match &options.name {
        Some(name) => {
            if naming::snake(name, "") != *name || name.is_empty() {
                return Err(Errors::one(
                    "#",
                    format!(
                        "option name `{name}` is not a snake_case identifier (try `{}`)",
                        naming::snake(name, "api")
                    ),
                ));
            }
            name.clone()
        }
        None => naming::snake(&spec.title, "api"),
    };

    let mut space = schema::TypeSpace::new(&spec, &mut diags);
    let ops = ops::model_ops(
        &spec,
        &spec.operations,
        &mut space,
        &options.select,
        &mut diags,
    );
    // Webhooks and callbacks: every one of them, whatever the selection.
    let webhooks = ops::model_ops(
        &spec,
        &spec.webhooks,
        &mut space,
        &Selection::default(),
        &mut diags,
    );
    space.finish();
    // With a selection, only the types the kept operations reach.
    let keep = if options.select.is_all() {
        vec![true; space.defs.len()]
    } else {
        schema::reachable(
            &space.defs,
            ops.iter().chain(&webhooks).flat_map(ops::Op::types),
        )
    };
    // Warnings about component schemas a selection leaves out do not
    // concern the code generated.
    diags.retain_warnings(|w| space.component_at(&w.pointer).is_none_or(|id| keep[id]));

    if options.strict {
        let warnings = std::mem::take(&mut diags.warnings);
        diags.errors.extend(warnings);
    }
    if !diags.errors.is_empty() {
        return Err(Errors(diags.errors));
    }
    let doc = spec.description.as_deref().or(Some(spec.title.as_str()));
    let emitter = emit::Emitter::new(
        krate.clone(),
        &space.defs,
        &space.defaults,
        &ops,
        &keep,
        options.server,
        options.client,
    );
    let webhooks_module = (!webhooks.is_empty()).then(|| {
        emit::Emitter::new(
            krate,
            &space.defs,
            &space.defaults,
            &webhooks,
            &keep,
            // The side that calls the API serves its webhooks, and the
            // side that serves the API calls them.
            options.client,
            options.server,
        )
        .emit_webhooks()
    });
    let tokens = emitter.emit(&emit::ident(&module), doc, webhooks_module);
    Ok(Generated {
        tokens,
        stats: Stats {
            operations: ops.len() + webhooks.len(),
            types: keep.iter().filter(|k| **k).count(),
            fallbacks: diags.fallbacks(),
        },
        warnings: diags.warnings,
        operations: ops
            .iter()
            .map(|op| OperationInfo {
                name: op.name.clone(),
                id: op.id.clone(),
                method: op.method.clone(),
                path: op.path.clone(),
                location: op.loc.clone(),
            })
            .collect(),
        files: spec.files.clone(),
    })
}

/// `::a::b`, `crate::x`, `a` — segments of identifiers separated by `::`.
fn valid_path(path: &str) -> bool {
    let path = path.strip_prefix("::").unwrap_or(path);
    !path.is_empty()
        && path.split("::").all(|seg| {
            !seg.is_empty()
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !seg.starts_with(|c: char| c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests;

/// The generated module as a formatted Rust file, with a `@generated`
/// header: what the CLI writes and the build-script API saves.
pub fn format_file(generated: &Generated) -> String {
    let body = match syn::parse2::<syn::File>(generated.tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        // Unformatted but still valid for the compiler; should not happen.
        Err(_) => generated.tokens.to_string(),
    };
    format!(
        "// @generated by swaggersocket-gen {}. Do not edit.\n\n{body}",
        env!("CARGO_PKG_VERSION")
    )
}
