//! OpenAPI 3.0: `openapiv3` checks the root document, so that a broken 3.0
//! document gets the errors and pointers it always got.

use crate::diag::{Diagnostic, Errors};
use openapiv3::OpenAPI;
use serde_json::Value;

/// Types the root document of an OpenAPI 3.0 document, already parsed,
/// with `openapiv3`, the 3.0 validator: its errors (with their JSON
/// pointers) are the 3.0 document's errors. The model is then read from the
/// same value (the text is parsed once).
pub(super) fn check(document: &Value) -> Result<(), Errors> {
    typed(document).map_err(|e| refine(e, document))
}

/// serde cannot follow errors into `#[serde(flatten)]`ed maps (the paths of
/// `#/paths`, the status codes of a `responses`): find the failing entry
/// there and type it alone.
fn refine(errors: Errors, doc: &Value) -> Errors {
    let Some(first) = errors.0.first() else {
        return errors;
    };
    let flattened = first.pointer == "#/paths" || first.pointer.ends_with("/responses");
    if !flattened && !is_parameter(&first.pointer) {
        return errors;
    }
    let mut pointer = first.pointer.clone();
    let mut message = first.message.clone();
    for _ in 0..usize::from(flattened) * 4 {
        let Some(value) = doc.pointer(pointer.trim_start_matches('#')) else {
            break;
        };
        let Some(entries) = value.as_object() else {
            break;
        };
        let found = entries.iter().find_map(|(key, entry)| {
            if key.starts_with("x-") || key == "default" {
                return None;
            }
            let result = if pointer == "#/paths" {
                serde_path_to_error::deserialize::<_, openapiv3::PathItem>(entry).map(|_| ())
            } else {
                serde_path_to_error::deserialize::<_, openapiv3::ReferenceOr<openapiv3::Response>>(
                    entry,
                )
                .map(|_| ())
            };
            result.err().map(|e| {
                let inner = pointer_of(e.path());
                let at = crate::diag::join(&pointer, key);
                (
                    format!("{at}{}", inner.trim_start_matches('#')),
                    e.into_inner().to_string(),
                )
            })
        });
        let Some((deeper, why)) = found else { break };
        let again = deeper.ends_with("/responses") && deeper != pointer;
        pointer = deeper;
        message = why;
        if !again {
            break;
        }
    }
    // A parameter is read as a whole (`in` tags it): read its fields alone.
    if is_parameter(&pointer) {
        let inner = doc
            .pointer(pointer.trim_start_matches('#'))
            .and_then(|value| {
                serde_path_to_error::deserialize::<_, openapiv3::ParameterData>(value).err()
            });
        if let Some(e) = inner {
            let path = pointer_of(e.path());
            pointer.push_str(path.trim_start_matches('#'));
            message = e.into_inner().to_string();
        }
    }
    Errors(vec![Diagnostic::new(pointer, message)])
}

/// `…/parameters/N` (an operation's or path's) or `#/components/parameters/Name`.
fn is_parameter(pointer: &str) -> bool {
    let mut segments = pointer.rsplit('/');
    segments.next();
    segments.next() == Some("parameters")
}

fn typed<'de, D: serde::Deserializer<'de>>(value: D) -> Result<(), Errors>
where
    D::Error: std::fmt::Display,
{
    // openapiv3 panics on some malformed `$ref`-or-object values (it parses a
    // failing value a second time and `expect`s another failure): keep that
    // from reaching the caller as a crash.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serde_path_to_error::deserialize::<_, OpenAPI>(value)
    }));
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            let pointer = pointer_of(e.path());
            let message = e.into_inner().to_string();
            Err(Errors(vec![Diagnostic::new(pointer, message)]))
        }
        Err(_) => Err(Errors::one(
            "#",
            "the document is not a valid OpenAPI 3.0 document (a value that should be \
             a $ref or an object is neither); check it with an OpenAPI validator",
        )),
    }
}

/// Converts serde_path_to_error's path into a JSON pointer.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("#");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                out.push('/');
                out.push_str(&index.to_string());
            }
            Segment::Map { key } => out = crate::diag::join(&out, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}
