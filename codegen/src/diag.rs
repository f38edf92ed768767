//! Diagnostics: every error and warning names its place in the spec.

use std::fmt;

/// One problem found in a spec, located by a JSON pointer
/// (`#/paths/~1pets/get/responses/200`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// JSON pointer to the construct, as a URI fragment (`#/...`).
    pub pointer: String,
    /// What is wrong, or what the generator did instead.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// The errors that stopped generation (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors(pub Vec<Diagnostic>);

impl Errors {
    /// The diagnostics, in the order they were found.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.0
    }

    pub(crate) fn one(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Errors(vec![Diagnostic::new(pointer, message)])
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

/// Collects errors and warnings while generating.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
    /// For each warning, whether it is a fallback to `serde_json::Value`.
    fallback_flags: Vec<bool>,
}

impl Diags {
    pub(crate) fn error(&mut self, pointer: &str, message: impl Into<String>) {
        self.errors.push(Diagnostic::new(pointer, message));
    }

    pub(crate) fn warn(&mut self, pointer: &str, message: impl Into<String>) {
        self.push_warning(pointer, message.into(), false);
    }

    fn push_warning(&mut self, pointer: &str, message: String, fallback: bool) {
        self.warnings.push(Diagnostic::new(pointer, message));
        self.fallback_flags.push(fallback);
    }

    /// How many warnings are fallbacks to `serde_json::Value`.
    pub(crate) fn fallbacks(&self) -> usize {
        self.fallback_flags.iter().filter(|f| **f).count()
    }

    /// A construct typed as `serde_json::Value` because it cannot be typed
    /// precisely.
    pub(crate) fn fallback(&mut self, pointer: &str, message: impl Into<String>) {
        let message = format!("{}; typed as serde_json::Value", message.into());
        self.push_warning(pointer, message, true);
    }

    /// Keeps the warnings for which `keep` holds.
    pub(crate) fn retain_warnings(&mut self, mut keep: impl FnMut(&Diagnostic) -> bool) {
        let warnings = std::mem::take(&mut self.warnings);
        let flags = std::mem::take(&mut self.fallback_flags);
        for (warning, flag) in warnings.into_iter().zip(flags) {
            if keep(&warning) {
                self.warnings.push(warning);
                self.fallback_flags.push(flag);
            }
        }
    }
}

/// Appends an escaped token to a JSON pointer.
pub(crate) fn join(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    out.push('/');
    out.push_str(&crate::naming::pointer_token(token));
    out
}
