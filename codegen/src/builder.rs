//! The build-script API: generate into `OUT_DIR` from `build.rs`.

use crate::{Errors, Options};
use std::fmt;
use std::path::{Path, PathBuf};

/// Generates a module from a spec in a build script.
///
/// In `build.rs`:
///
/// ```no_run
/// if let Err(e) = swaggersocket_codegen::Builder::new("openapi/petstore.yaml")
///     .name("petstore")
///     .generate()
/// {
///     eprintln!("{e}");
///     std::process::exit(1);
/// }
/// ```
///
/// and in the crate: `include!(concat!(env!("OUT_DIR"), "/petstore.rs"));`
///
/// The spec path is relative to the crate's `CARGO_MANIFEST_DIR`. Cargo is
/// told to rerun the script when the spec changes; warnings are passed on as
/// `cargo:warning` lines. The file holds the same code as
/// `swaggersocket-gen generate` writes.
#[derive(Debug, Clone)]
pub struct Builder {
    spec: PathBuf,
    options: Options,
    out_dir: Option<PathBuf>,
    file_name: Option<String>,
}

/// Why a build-script generation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Reading the spec or writing the output failed.
    #[error("{}: reading or writing the file failed ({})", path.display(), error.kind())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The spec has errors, each with its JSON pointer.
    #[error("{}", SpecErrors { path, errors })]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// The errors.
        errors: Errors,
    },
    /// `OUT_DIR` is not set (not running in a build script) and no output
    /// folder was given.
    #[error("OUT_DIR is not set: call Builder::generate from build.rs, or set out_dir")]
    NoOutDir,
}

/// Every diagnostic of a spec, one a line, each after the file's path.
struct SpecErrors<'a> {
    path: &'a Path,
    errors: &'a Errors,
}

impl fmt::Display for SpecErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.errors.diagnostics().iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {d}", self.path.display())?;
        }
        Ok(())
    }
}

impl Builder {
    /// A builder for the spec at `spec` (relative to `CARGO_MANIFEST_DIR`).
    pub fn new(spec: impl AsRef<Path>) -> Self {
        Builder {
            spec: spec.as_ref().to_path_buf(),
            options: Options::default(),
            out_dir: None,
            file_name: None,
        }
    }

    /// The module name (snake_case); by default derived from `info.title`.
    /// The output file is `<name>.rs` unless [`file_name`](Builder::file_name) says otherwise.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = Some(name.into());
        self
    }

    /// Whether to generate the server trait and adapter (default `true`).
    pub fn server(mut self, on: bool) -> Self {
        self.options.server = on;
        self
    }

    /// Whether to generate the client stub (default `true`).
    pub fn client(mut self, on: bool) -> Self {
        self.options.client = on;
        self
    }

    /// Fail on warnings (constructs typed as `serde_json::Value`).
    pub fn strict(mut self, on: bool) -> Self {
        self.options.strict = on;
        self
    }

    /// Generate only the operations with this tag (and those added with
    /// [`operation`](Builder::operation)), and the types they use.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.options.select.tags.push(tag.into());
        self
    }

    /// Generate only this operation (by `operationId`, or `METHOD /path`),
    /// with those of [`tag`](Builder::tag).
    pub fn operation(mut self, id: impl Into<String>) -> Self {
        self.options.select.operations.push(id.into());
        self
    }

    /// Leave out the operations with this tag.
    pub fn exclude_tag(mut self, tag: impl Into<String>) -> Self {
        self.options.select.exclude_tags.push(tag.into());
        self
    }

    /// Leave out this operation.
    pub fn exclude_operation(mut self, id: impl Into<String>) -> Self {
        self.options.select.exclude_operations.push(id.into());
        self
    }

    /// The path of the runtime crate in generated code (default `::swaggersocket`).
    pub fn crate_path(mut self, path: impl Into<String>) -> Self {
        self.options.crate_path = Some(path.into());
        self
    }

    /// Where to write (default: `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The output file's name (default: `<module name>.rs`, or `api.rs`).
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    /// Generates and writes the file; returns its path.
    pub fn generate(self) -> Result<PathBuf, BuildError> {
        let spec = match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(dir) if self.spec.is_relative() => PathBuf::from(dir).join(&self.spec),
            _ => self.spec.clone(),
        };
        println!("cargo:rerun-if-changed={}", spec.display());
        let source = std::fs::read_to_string(&spec).map_err(|error| BuildError::Io {
            path: spec.clone(),
            error,
        })?;
        let generated = crate::generate_at(&source, &spec, &self.options).map_err(|errors| {
            BuildError::Spec {
                path: spec.clone(),
                errors,
            }
        })?;
        // Every other file the document's `$ref`s reached.
        for file in generated.files.iter().skip(1) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
        for w in &generated.warnings {
            println!("cargo:warning={}: {w}", spec.display());
        }
        let code = crate::format_file(&generated);
        let dir = match self.out_dir {
            Some(dir) => dir,
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::NoOutDir)?),
        };
        let name = self
            .file_name
            .unwrap_or_else(|| format!("{}.rs", self.options.name.as_deref().unwrap_or("api")));
        let out = dir.join(name);
        std::fs::write(&out, code).map_err(|error| BuildError::Io {
            path: out.clone(),
            error,
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_missing_spec_names_the_file_and_keeps_the_io_error_as_its_source() {
        let err = Builder::new("/nonexistent/swaggersocket/spec.yaml")
            .out_dir(std::env::temp_dir())
            .generate()
            .expect_err("the spec does not exist");
        let shown = err.to_string();
        assert!(
            shown.starts_with("/nonexistent/swaggersocket/spec.yaml: "),
            "{shown}"
        );
        assert!(shown.contains("not found"), "{shown}");
        let source = err.source().expect("the io error is the source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        // The cause is not printed twice: Display does not carry its text.
        assert!(!shown.contains(&io.to_string()), "{shown}");
    }
}
