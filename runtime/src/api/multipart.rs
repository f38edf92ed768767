//! `multipart/form-data` bodies (RFC 7578): the encoder the generated
//! client uses and the parser the generated server uses. Each form field is
//! a part; a file field carries its bytes, file name and media type.

use crate::api::media::DecodeError;
use crate::api::param::from_str as param_from_str;
use crate::api::File;
use bytes::Bytes;
use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Builds a `multipart/form-data` body, part by part.
#[derive(Debug)]
pub struct MultipartWriter {
    boundary: String,
    body: Vec<u8>,
    error: Option<String>,
}

impl Default for MultipartWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl MultipartWriter {
    /// An empty body with a fresh random boundary.
    pub fn new() -> Self {
        MultipartWriter {
            boundary: format!("swaggersocket-{}", uuid::Uuid::new_v4().simple()),
            body: Vec::new(),
            error: None,
        }
    }

    fn part(&mut self, name: &str, filename: Option<&str>, media: Option<&str>, bytes: &[u8]) {
        self.body.extend_from_slice(b"--");
        self.body.extend_from_slice(self.boundary.as_bytes());
        self.body
            .extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        self.body.extend_from_slice(quoted(name).as_bytes());
        self.body.push(b'"');
        if let Some(filename) = filename {
            self.body.extend_from_slice(b"; filename=\"");
            self.body.extend_from_slice(quoted(filename).as_bytes());
            self.body.push(b'"');
        }
        self.body.extend_from_slice(b"\r\n");
        if let Some(media) = media {
            self.body.extend_from_slice(b"Content-Type: ");
            self.body
                .extend_from_slice(media.replace(['\r', '\n'], " ").as_bytes());
            self.body.extend_from_slice(b"\r\n");
        }
        self.body.extend_from_slice(b"\r\n");
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
    }

    /// A file part (nothing for `None`).
    pub fn file<'a>(&mut self, name: &str, file: impl Into<Option<&'a File>>) {
        if let Some(file) = file.into() {
            let media = file
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream");
            let filename = file.name.as_deref().unwrap_or(name);
            self.part(name, Some(filename), Some(media), &file.bytes.clone());
        }
    }

    /// A field: scalars as their text, arrays as one part per item,
    /// objects as JSON; nothing for `None`.
    pub fn value<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        let value = match serde_json::to_value(value) {
            Ok(value) => value,
            Err(e) => {
                self.error = Some(format!("cannot encode the form field `{name}`: {e}"));
                return;
            }
        };
        let items = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        for item in items {
            match item {
                Value::Null => {}
                Value::String(text) => self.part(name, None, None, text.as_bytes()),
                Value::Object(_) | Value::Array(_) => {
                    let json = item.to_string();
                    self.part(name, None, Some("application/json"), json.as_bytes());
                }
                other => self.part(name, None, None, other.to_string().as_bytes()),
            }
        }
    }

    /// The body and its `Content-Type` (with the boundary), or why a field
    /// could not be encoded.
    pub fn finish(mut self) -> Result<(Bytes, String), String> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.body.extend_from_slice(b"--");
        self.body.extend_from_slice(self.boundary.as_bytes());
        self.body.extend_from_slice(b"--\r\n");
        Ok((
            Bytes::from(self.body),
            format!("multipart/form-data; boundary={}", self.boundary),
        ))
    }
}

/// A quoted-string's content: `"` and line breaks escaped as browsers do.
fn quoted(text: &str) -> String {
    text.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// One part of a received multipart body.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

impl Part {
    fn to_file(&self) -> File {
        File {
            name: self.filename.clone(),
            content_type: self.content_type.clone(),
            bytes: self.body.clone(),
        }
    }
}

/// The parts of a received `multipart/form-data` body.
#[derive(Debug, Default)]
pub struct MultipartParts {
    parts: Vec<Part>,
}

fn invalid(message: impl Into<String>) -> DecodeError {
    DecodeError::new(format!("invalid multipart body: {}", message.into()))
}

/// The value of `key` in a header's parameters (`boundary=…`,
/// `name="…"`), unquoted.
fn parameter<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(key) {
            return None;
        }
        let v = v.trim();
        Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v),
        )
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| &haystack[i..i + needle.len()] == needle)
}

impl MultipartParts {
    /// Splits `body` at the boundary its `Content-Type` names.
    pub fn parse(headers: &HeaderMap, body: &Bytes) -> Result<Self, DecodeError> {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let boundary = parameter(content_type, "boundary")
            .filter(|b| !b.is_empty() && b.len() <= 200)
            .ok_or_else(|| invalid("the Content-Type names no boundary"))?;
        let delimiter = format!("--{boundary}");
        let delimiter = delimiter.as_bytes();
        let mut at = find(body, delimiter, 0).ok_or_else(|| invalid("no boundary in the body"))?;
        let mut parts = Vec::new();
        loop {
            let after = at + delimiter.len();
            if body.get(after..after + 2) == Some(b"--") {
                break;
            }
            // The delimiter line ends with CRLF (transport padding aside).
            let head_start = find(body, b"\r\n", after)
                .ok_or_else(|| invalid("a boundary line does not end"))?
                + 2;
            let head_end = find(body, b"\r\n\r\n", head_start)
                .map(|i| (i, i + 4))
                .or_else(|| {
                    // A part without headers.
                    (body.get(head_start..head_start + 2) == Some(b"\r\n"))
                        .then_some((head_start, head_start + 2))
                })
                .ok_or_else(|| invalid("a part's headers do not end"))?;
            let mut next_delimiter = Vec::with_capacity(delimiter.len() + 2);
            next_delimiter.extend_from_slice(b"\r\n");
            next_delimiter.extend_from_slice(delimiter);
            let end = find(body, &next_delimiter, head_end.1)
                .ok_or_else(|| invalid("a part is not closed by the boundary"))?;
            let head = std::str::from_utf8(&body[head_start..head_end.0])
                .map_err(|_| invalid("part headers are not UTF-8"))?;
            let mut name = None;
            let mut filename = None;
            let mut part_type = None;
            for line in head.split("\r\n").filter(|l| !l.is_empty()) {
                let Some((key, value)) = line.split_once(':') else {
                    return Err(invalid(format!(
                        "malformed part header `{}`",
                        line.chars().take(60).collect::<String>()
                    )));
                };
                if key.trim().eq_ignore_ascii_case("content-disposition") {
                    name = parameter(value, "name").map(str::to_owned);
                    filename = parameter(value, "filename").map(str::to_owned);
                } else if key.trim().eq_ignore_ascii_case("content-type") {
                    part_type = Some(value.trim().to_owned());
                }
            }
            let name = name.ok_or_else(|| invalid("a part has no name"))?;
            parts.push(Part {
                name,
                filename,
                content_type: part_type,
                body: body.slice(head_end.1..end),
            });
            at = end + 2;
        }
        Ok(MultipartParts { parts })
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Part> + 'a {
        self.parts.iter().filter(move |p| p.name == name)
    }

    /// A file part; `None` when absent.
    pub fn file(&self, name: &str) -> Option<File> {
        self.named(name).next().map(Part::to_file)
    }

    fn decode<T: DeserializeOwned>(name: &str, part: &Part) -> Result<T, DecodeError> {
        let text = std::str::from_utf8(&part.body)
            .map_err(|_| invalid(format!("form field `{name}` is not UTF-8 text")))?;
        let json = part
            .content_type
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
        let parsed = if json {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            param_from_str(text)
        };
        parsed.map_err(|e| invalid(format!("form field `{name}`: {e}")))
    }

    /// A field with one value; `None` when absent.
    pub fn one<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, DecodeError> {
        self.named(name)
            .next()
            .map(|part| Self::decode(name, part))
            .transpose()
    }

    /// A field with a value per part; `None` when absent.
    pub fn list<T: DeserializeOwned>(&self, name: &str) -> Result<Option<Vec<T>>, DecodeError> {
        let items: Vec<&Part> = self.named(name).collect();
        if items.is_empty() {
            return Ok(None);
        }
        items
            .into_iter()
            .map(|part| Self::decode(name, part))
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }
}

/// Building the body's value: each field is read with its own type, put
/// into a JSON map, and the map decoded as the body type (which checks
/// required fields and applies defaults); files are put in afterwards.
impl MultipartParts {
    /// Puts the field `name`, read as a `T`, into `map`.
    pub fn put_one<T: DeserializeOwned + Serialize>(
        &self,
        map: &mut serde_json::Map<String, Value>,
        name: &str,
    ) -> Result<(), DecodeError> {
        if let Some(value) = self.one::<T>(name)? {
            map.insert(name.to_owned(), to_json(name, &value)?);
        }
        Ok(())
    }

    /// Puts the repeated field `name`, each part read as a `T`, into `map`.
    pub fn put_list<T: DeserializeOwned + Serialize>(
        &self,
        map: &mut serde_json::Map<String, Value>,
        name: &str,
    ) -> Result<(), DecodeError> {
        if let Some(values) = self.list::<T>(name)? {
            map.insert(name.to_owned(), to_json(name, &values)?);
        }
        Ok(())
    }

    /// Marks the file field `name` present in `map` (one placeholder per
    /// part), to be filled by [`MultipartParts::file`]/[`MultipartParts::files`].
    pub fn put_file(&self, map: &mut serde_json::Map<String, Value>, name: &str, list: bool) {
        let count = self.named(name).count();
        if count == 0 {
            return;
        }
        let placeholder = Value::Array(Vec::new());
        let value = if list {
            Value::Array(vec![placeholder; count])
        } else {
            placeholder
        };
        map.insert(name.to_owned(), value);
    }

    /// Every file part named `name`.
    pub fn files(&self, name: &str) -> Vec<File> {
        self.named(name).map(Part::to_file).collect()
    }
}

/// A body type that travels as `multipart/form-data` (implemented by
/// generated code for the bodies of multipart requests).
pub trait MultipartBody: Sized {
    /// The body's parts.
    fn to_multipart(&self) -> MultipartWriter;

    /// Reads the body from received parts.
    ///
    /// # Errors
    ///
    /// A field that does not decode as its type, or a required one absent.
    fn from_multipart(parts: &MultipartParts) -> Result<Self, DecodeError>;
}

/// Decodes a received `multipart/form-data` body as `T` (400 when it does
/// not parse or decode).
///
/// # Errors
///
/// As [`MultipartParts::parse`] and [`MultipartBody::from_multipart`].
pub fn decode_multipart<T: MultipartBody>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, DecodeError> {
    T::from_multipart(&MultipartParts::parse(headers, body)?)
}

/// The body type from the fields read.
pub fn decode_fields<T: DeserializeOwned>(
    map: serde_json::Map<String, Value>,
) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        invalid(format!("at `{path}`: {}", e.into_inner()))
    })
}

fn to_json<T: Serialize>(name: &str, value: &T) -> Result<Value, DecodeError> {
    serde_json::to_value(value).map_err(|e| invalid(format!("form field `{name}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str, boundary: &str) -> Result<MultipartParts, DecodeError> {
        let mut headers = HeaderMap::new();
        let value = format!("multipart/form-data; boundary={boundary}");
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_str(&value).unwrap_or_else(|_| unreachable!()),
        );
        MultipartParts::parse(&headers, &Bytes::from(body.to_owned()))
    }

    #[test]
    fn round_trip() {
        let mut writer = MultipartWriter::new();
        writer.value("caption", "a \"quoted\" cat");
        writer.value("size", &3);
        writer.value("tags", &["a", "b"]);
        writer.value("missing", &Option::<i32>::None);
        let file = File {
            name: Some("cat.png".to_owned()),
            content_type: Some("image/png".to_owned()),
            bytes: Bytes::from_static(b"\xff\xd8\r\n--not-a-boundary\r\n\x00"),
        };
        writer.file("photo", &file);
        let (body, content_type) = writer.finish().unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_str(&content_type).unwrap_or_else(|_| unreachable!()),
        );
        let parts = MultipartParts::parse(&headers, &body).unwrap_or_default();
        assert_eq!(
            parts.one::<String>("caption").ok().flatten().as_deref(),
            Some("a \"quoted\" cat")
        );
        assert_eq!(parts.one::<i64>("size").ok().flatten(), Some(3));
        assert_eq!(
            parts.list::<String>("tags").ok().flatten(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(parts.one::<i32>("missing").ok().flatten().is_none());
        assert_eq!(parts.file("photo"), Some(file));
        assert!(parts.one::<i64>("caption").is_err());
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(parse("no boundary here", "xyz").is_err());
        assert!(parse(
            "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunclosed",
            "xyz"
        )
        .is_err());
        assert!(parse(
            "--xyz\r\nContent-Type: text/plain\r\n\r\nv\r\n--xyz--",
            "xyz"
        )
        .is_err());
        let ok = parse(
            "preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--xyz--\r\n",
            "xyz",
        );
        assert_eq!(
            ok.ok()
                .and_then(|p| p.one::<String>("a").ok().flatten())
                .as_deref(),
            Some("v")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("multipart/form-data"),
        );
        assert!(MultipartParts::parse(&headers, &Bytes::new()).is_err());
    }
}
