//! The parameter and body decoders that generated code calls
//! (`swaggersocket::codegen`). Byte 0 picks the decoder; the rest is its
//! input, in two parts split at the first newline where it takes two:
//! - 0: a query string: every `Query` reader, as scalars, lists, the whole
//!   query and `deepObject`s;
//! - 1: a path template and a path: routing and path parameters;
//! - 2: header lines (`name: value`): header and cookie parameters, media
//!   types;
//! - 3: a body, as JSON, form, text and item sequences;
//! - 4: a `Content-Type` value and a multipart body.
//!
//! Nothing panics; every failure is a `Rejection` answered with 400 or 415.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use swaggersocket::api::param::{match_path, query_has};
use swaggersocket::codegen::{self as p, MultipartParts, Query, Rejection};
use swaggersocket::StreamFormat;

type Uuid = uuid::Uuid;
type DateTime = chrono::DateTime<chrono::Utc>;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Filter {
    name: Option<String>,
    limit: Option<i32>,
    tags: Option<Vec<String>>,
    inner: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[allow(dead_code)]
struct Pet {
    id: i64,
    name: String,
    tag: Option<String>,
    born: Option<DateTime>,
    #[serde(default)]
    friends: Vec<Uuid>,
    #[serde(rename = "kind")]
    kind: Option<Kind>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Cat,
    Dog,
}

/// Every failure is a client error, with a message.
fn rejected<R: Into<Rejection>>(error: R) {
    let rejection: Rejection = error.into();
    assert!(!rejection.to_string().is_empty(), "an error with no message");
    let response = rejection.into_response();
    assert!(
        response.status() == StatusCode::BAD_REQUEST
            || response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{:?}",
        response.status()
    );
}

fn check<T, R: Into<Rejection>>(result: Result<T, R>) {
    if let Err(e) = result {
        rejected(e);
    }
}

fn split(text: &[u8]) -> (&[u8], &[u8]) {
    match text.iter().position(|b| *b == b'\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, b""),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => query(rest),
        1 => path(rest),
        2 => headers(rest),
        3 => body(rest),
        _ => multipart(rest),
    }
});

fn query(text: &[u8]) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(uri) = format!("/x?{text}").parse::<http::Uri>() else {
        return;
    };
    let _ = query_has(&uri, "beta=true&a=1");
    let query = Query::parse(&uri);
    check(query.one::<i64>("a"));
    check(query.one::<f64>("a"));
    check(query.one::<bool>("b"));
    check(query.one::<String>("s"));
    check(query.one::<Uuid>("id"));
    check(query.one::<DateTime>("at"));
    check(query.one::<chrono::NaiveDate>("day"));
    check(query.one::<Kind>("kind"));
    check(query.one::<Value>("v"));
    for (explode, separator) in [(true, ','), (false, ','), (false, ' '), (false, '|')] {
        check(query.list::<i32>("n", explode, separator));
        check(query.list::<String>("s", explode, separator));
    }
    check(query.whole::<HashMap<String, String>>());
    check(query.whole::<Filter>());
    check(query.deep::<Filter>("filter"));
    check(query.deep::<HashMap<String, Value>>("filter"));
}

fn path(text: &[u8]) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let (template, path) = text.split_once('\n').unwrap_or((text, "/pets/1"));
    let Some(captures) = match_path(template, path) else {
        return;
    };
    for index in 0..captures.len().min(4) {
        check(p::path_param::<i64>("id", &captures, index));
        check(p::path_param::<String>("name", &captures, index));
        check(p::path_param::<Uuid>("uuid", &captures, index));
        check(p::path_param_list::<i32>("ids", &captures, index));
        check(p::path_param_split::<String>(
            "names", &captures, index, '|',
        ));
    }
}

fn header_map(lines: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(line[..colon].trim_ascii()),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    map
}

fn headers(lines: &[u8]) {
    let map = header_map(lines);
    check(p::header_one::<i64>(&map, "x-a"));
    check(p::header_one::<String>(&map, "x-s"));
    check(p::header_one::<DateTime>(&map, "x-at"));
    check(p::header_list::<i32>(&map, "x-n"));
    check(p::header_list::<Kind>(&map, "x-kind"));
    check(p::cookie_one::<String>(&map, "session"));
    check(p::cookie_one::<i64>(&map, "n"));
    let actual = p::content_type(&map);
    for pattern in ["application/json", "*/*", "text/*", "application/*+json"] {
        let _ = p::media_matches(pattern, actual.as_deref());
        let _ = p::media_accepts(pattern, &map);
    }
    rejected(p::unsupported_media(&map));
}

fn body(bytes: &[u8]) {
    let body = Bytes::copy_from_slice(bytes);
    check(p::decode_json::<Pet>(&body));
    check(p::decode_json::<Vec<Pet>>(&body));
    check(p::decode_json::<Value>(&body));
    check(p::decode_form::<Filter>(&body));
    check(p::decode_form::<Pet>(&body));
    check(p::decode_form::<HashMap<String, Value>>(&body));
    check(p::decode_text(&body));
    for format in [
        StreamFormat::Ndjson,
        StreamFormat::Sse,
        StreamFormat::JsonSeq,
    ] {
        check(p::decode_items::<Value>(&body, format));
        check(p::decode_items::<Pet>(&body, format));
    }
}

fn multipart(bytes: &[u8]) {
    let (content_type, body) = split(bytes);
    let mut map = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        map.insert(http::header::CONTENT_TYPE, value);
    }
    let body = Bytes::copy_from_slice(body);
    let parts = match MultipartParts::parse(&map, &body) {
        Ok(parts) => parts,
        Err(e) => return rejected(e),
    };
    let _ = parts.file("photo");
    let _ = parts.files("photo");
    check(parts.one::<i64>("id"));
    check(parts.one::<String>("name"));
    check(parts.list::<String>("tags"));
    check(parts.one::<Pet>("pet"));
    let mut fields = serde_json::Map::new();
    check(parts.put_one::<i64>(&mut fields, "id"));
    check(parts.put_one::<String>(&mut fields, "name"));
    check(parts.put_list::<Kind>(&mut fields, "kind"));
    parts.put_file(&mut fields, "photo", false);
    check(p::decode_fields::<HashMap<String, Value>>(fields.clone()));
    check(p::decode_fields::<Pet>(fields));
}
