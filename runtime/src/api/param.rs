//! Parameters: decoding path, query, header and cookie parameters from a
//! request into their types (server side), and their values into text
//! (client side, through [`RequestBuilder`](super::message::RequestBuilder)).
//!
//! Values are read from their text straight into their types, without a
//! `serde_json::Value` in between: as a string first (strings, string enums,
//! dates, uuids), then as JSON where the type asks for a number, a boolean
//! or more. A parameter that does not decode is a
//! [`Rejection::InvalidParameter`] naming it and its location.

use crate::rejection::{ParamLocation, Rejection};
use http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A parameter value as the strings it is sent as: one per array item,
/// none for `None`.
///
/// # Errors
///
/// A value that is not a scalar, an array of scalars or JSON-encodable.
pub fn to_strings<T: Serialize + ?Sized>(value: &T) -> Result<Vec<String>, String> {
    crate::param::to_texts(value)
}

/// Parses a parameter from its text: as a string first (strings, enums,
/// dates, uuids), then as JSON (numbers, booleans, objects); no
/// `serde_json::Value` in between.
///
/// # Errors
///
/// The text does not read as a `T`; the message says what was expected.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    crate::param::from_text(text)
}

/// Matches `path` against a template such as `/pets/{petId}.json`; returns
/// the raw (still percent-encoded) values of the template's parameters.
pub fn match_path(template: &str, path: &str) -> Option<Vec<String>> {
    // Slices of `path` until the whole template matched: a router tries
    // many templates per request, and most fail after a capture or two.
    let mut captures: Vec<&str> = Vec::new();
    let mut t_segments = template.split('/');
    let mut p_segments = path.split('/');
    loop {
        match (t_segments.next(), p_segments.next()) {
            (None, None) => return Some(captures.into_iter().map(str::to_owned).collect()),
            (Some(t), Some(p)) => {
                if !match_segment(t, p, &mut captures) {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

fn match_segment<'p>(template: &str, segment: &'p str, captures: &mut Vec<&'p str>) -> bool {
    let Some(open) = template.find('{') else {
        return template == segment;
    };
    let Some(close) = template[open..].find('}').map(|c| c + open) else {
        return template == segment;
    };
    let prefix = &template[..open];
    let suffix = &template[close + 1..];
    if suffix.contains('{') {
        // Several parameters in one segment: capture the whole segment for
        // the first one; the generator never emits such templates.
        captures.push(segment);
        return true;
    }
    if segment.len() < prefix.len() + suffix.len()
        || !segment.starts_with(prefix)
        || !segment.ends_with(suffix)
    {
        return false;
    }
    let value = &segment[prefix.len()..segment.len() - suffix.len()];
    if value.is_empty() {
        return false;
    }
    captures.push(value);
    true
}

fn capture(name: &str, captures: &[String], index: usize) -> Result<String, Rejection> {
    let raw = captures.get(index).map_or("", String::as_str);
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Rejection::invalid(name, ParamLocation::Path, "not UTF-8"))
}

/// A path parameter.
pub fn path_param<T: DeserializeOwned>(
    name: &str,
    captures: &[String],
    index: usize,
) -> Result<T, Rejection> {
    let text = capture(name, captures, index)?;
    from_str(&text).map_err(|e| Rejection::invalid(name, ParamLocation::Path, e))
}

/// A path parameter holding a comma-separated array.
pub fn path_param_list<T: DeserializeOwned>(
    name: &str,
    captures: &[String],
    index: usize,
) -> Result<Vec<T>, Rejection> {
    path_param_split(name, captures, index, ',')
}

/// An array path parameter whose items are joined by `separator` (Swagger
/// 2.0 `collectionFormat`: `ssv`, `tsv`, `pipes`).
pub fn path_param_split<T: DeserializeOwned>(
    name: &str,
    captures: &[String],
    index: usize,
    separator: char,
) -> Result<Vec<T>, Rejection> {
    let text = capture(name, captures, index)?;
    text.split(separator)
        .map(|item| from_str(item).map_err(|e| Rejection::invalid(name, ParamLocation::Path, e)))
        .collect()
}

/// Whether the query of `uri` holds every pair of `fixed` (a query written
/// in a path key of the document, `beta=true`).
pub fn query_has(uri: &http::Uri, fixed: &str) -> bool {
    let query = Query::parse(uri);
    form_urlencoded::parse(fixed.as_bytes()).all(|(k, v)| query.values(&k).any(|pv| pv == v))
}

/// The query string of a request, decoded.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes the query of `uri`.
    pub fn parse(uri: &http::Uri) -> Self {
        let pairs = uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A scalar parameter; `None` when absent.
    pub fn one<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Rejection> {
        match self.values(name).next() {
            None => Ok(None),
            Some(text) => from_str(text)
                .map(Some)
                .map_err(|e| Rejection::invalid(name, ParamLocation::Query, e)),
        }
    }

    /// An array parameter: repeated keys when `explode`, else one value
    /// joined by `separator`.
    pub fn list<T: DeserializeOwned>(
        &self,
        name: &str,
        explode: bool,
        separator: char,
    ) -> Result<Option<Vec<T>>, Rejection> {
        let mut items: Vec<&str> = Vec::new();
        let mut any = false;
        for value in self.values(name) {
            any = true;
            if explode {
                items.push(value);
            } else {
                items.extend(value.split(separator).filter(|s| !s.is_empty()));
            }
        }
        if !any {
            return Ok(None);
        }
        items
            .into_iter()
            .map(|item| {
                from_str(item).map_err(|e| Rejection::invalid(name, ParamLocation::Query, e))
            })
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }
}

impl Query {
    /// The whole query string as one form-encoded value (3.2 `in:
    /// querystring`); `None` when the query is empty.
    pub fn whole<T: DeserializeOwned>(&self) -> Result<Option<T>, Rejection> {
        if self.pairs.is_empty() {
            return Ok(None);
        }
        let text = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.pairs)
            .finish();
        serde_qs::from_str(&text)
            .map(Some)
            .map_err(|e| Rejection::invalid("", ParamLocation::QueryString, e))
    }

    /// A `deepObject` parameter: `name[key][sub]=value` pairs.
    pub fn deep<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Rejection> {
        let mut inner = String::new();
        for (key, value) in &self.pairs {
            let Some(rest) = key.strip_prefix(name) else {
                continue;
            };
            let Some(segments) = bracket_segments(rest) else {
                continue;
            };
            if !inner.is_empty() {
                inner.push('&');
            }
            for (i, segment) in segments.iter().enumerate() {
                if i > 0 {
                    inner.push('[');
                }
                inner.extend(form_urlencoded::byte_serialize(segment.as_bytes()));
                if i > 0 {
                    inner.push(']');
                }
            }
            inner.push('=');
            inner.extend(form_urlencoded::byte_serialize(value.as_bytes()));
        }
        if inner.is_empty() {
            return Ok(None);
        }
        serde_qs::from_str(&inner)
            .map(Some)
            .map_err(|e| Rejection::invalid(name, ParamLocation::Query, e))
    }
}

/// `[a][b][]` → `["a", "b", ""]`; `None` unless the text is only brackets.
fn bracket_segments(text: &str) -> Option<Vec<&str>> {
    let mut segments = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        segments.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    (!segments.is_empty()).then_some(segments)
}

pub(crate) fn header_text<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, String> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| "not visible ASCII".to_owned()),
    }
}

/// A scalar header parameter.
pub fn header_one<T: DeserializeOwned>(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<T>, Rejection> {
    let text = header_text(headers, name)
        .map_err(|e| Rejection::invalid(name, ParamLocation::Header, e))?;
    text.map(|t| from_str(t.trim()))
        .transpose()
        .map_err(|e| Rejection::invalid(name, ParamLocation::Header, e))
}

/// A header parameter holding a comma-separated array.
pub fn header_list<T: DeserializeOwned>(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<Vec<T>>, Rejection> {
    let text = header_text(headers, name)
        .map_err(|e| Rejection::invalid(name, ParamLocation::Header, e))?;
    text.map(|t| {
        t.split(',')
            .map(|item| from_str(item.trim()))
            .collect::<Result<Vec<T>, _>>()
    })
    .transpose()
    .map_err(|e| Rejection::invalid(name, ParamLocation::Header, e))
}

/// A cookie parameter.
pub fn cookie_one<T: DeserializeOwned>(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<T>, Rejection> {
    for header in headers.get_all(http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key == name {
                let value = percent_decode_str(value).decode_utf8_lossy();
                return from_str(&value)
                    .map(Some)
                    .map_err(|e| Rejection::invalid(name, ParamLocation::Cookie, e));
            }
        }
    }
    Ok(None)
}

/// A required parameter: [`Rejection::MissingParameter`] when absent.
///
/// # Errors
///
/// The parameter is absent.
pub fn require<T>(value: Option<T>, location: ParamLocation, name: &str) -> Result<T, Rejection> {
    value.ok_or_else(|| Rejection::MissingParameter {
        name: name.to_owned(),
        location,
    })
}
