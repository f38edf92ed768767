//! What decoding a parameter from its text, encoding one into text, and
//! building a handler's `Context` cost in generated code, against the way
//! they were done before (through a `serde_json::Value`; a `HeaderMap`
//! clone).
//!
//! ```text
//! cargo run --release -p swaggersocket-corpus --bin param_bench
//! ```
//!
//! Prints a markdown table; each figure is the median of 7 batches.

#[path = "common/timing.rs"]
mod timing;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::hint::black_box;
use swaggersocket::api::param::{from_str as param_from_str, to_strings as param_to_strings};
use swaggersocket::api::{chrono, uuid, Bytes, Context};
use timing::time_ns;

/// The decoding generated servers used before: the text as a JSON string
/// value, then as JSON.
fn old_from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    match serde_json::from_value::<T>(Value::String(text.to_owned())) {
        Ok(v) => Ok(v),
        Err(first) => serde_json::from_str::<T>(text).map_err(|_| first.to_string()),
    }
}

/// The encoding generated clients used before: the value as a JSON value,
/// then its items' text.
fn old_to_strings<T: Serialize + ?Sized>(value: &T) -> Vec<String> {
    let scalar = |v: Value| match v {
        Value::String(s) => s,
        other => other.to_string(),
    };
    match serde_json::to_value(value) {
        Ok(Value::Null) | Err(_) => Vec::new(),
        Ok(Value::Array(items)) => items
            .into_iter()
            .filter(|v| !v.is_null())
            .map(scalar)
            .collect(),
        Ok(other) => vec![scalar(other)],
    }
}

fn decode_row<T: DeserializeOwned>(what: &str, text: &str) {
    assert!(param_from_str::<T>(text).is_ok(), "{what}");
    let new = time_ns(|| param_from_str::<T>(black_box(text)).is_ok());
    let old = time_ns(|| old_from_str::<T>(black_box(text)).is_ok());
    println!(
        "| decode {what} `{text}` | {old:.0} ns | {new:.0} ns | {:.2}× |",
        new / old
    );
}

fn encode_row<T: Serialize>(what: &str, value: &T) {
    let new = time_ns(|| {
        !param_to_strings(black_box(value))
            .unwrap_or_default()
            .is_empty()
    });
    let old = time_ns(|| !old_to_strings(black_box(value)).is_empty());
    println!(
        "| encode {what} | {old:.0} ns | {new:.0} ns | {:.2}× |",
        new / old
    );
}

fn main() {
    println!("| step | before | now | now ÷ before |");
    println!("|---|---:|---:|---:|");
    decode_row::<i64>("i64", "1234567");
    decode_row::<bool>("bool", "true");
    decode_row::<String>("string", "hello-world");
    decode_row::<uuid::Uuid>("uuid", "67e55044-10b1-426f-9247-bb680e5fe0c8");
    decode_row::<chrono::DateTime<chrono::Utc>>("date-time", "2024-02-29T10:00:00Z");
    decode_row::<Vec<i64>>("array (JSON fallback)", "[1,2,3]");
    encode_row("i64", &1234567i64);
    encode_row("string", &"hello-world");
    encode_row("array of 3 i64", &vec![1i64, 2, 3]);
    let mut request = http::Request::new(Bytes::new());
    for (name, value) in [
        ("host", "example.com"),
        ("user-agent", "bench/1.0"),
        ("accept", "application/json"),
        ("authorization", "Bearer abcdefghijklmnopqrstuvwxyz"),
        ("x-request-id", "67e55044-10b1-426f-9247-bb680e5fe0c8"),
        ("x-correlation-id", "42"),
    ] {
        request.headers_mut().insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static(value),
        );
    }
    let clone = time_ns(|| {
        let r = request.clone();
        let ctx = Context::from_request(&r);
        drop(r);
        ctx.headers().len() == 6
    });
    let moved = time_ns(|| {
        let r = request.clone();
        let ctx = Context::from_request_owned(r);
        ctx.headers().len() == 6
    });
    // Both include cloning the request, which the bench needs to have one
    // to consume; the difference is the HeaderMap clone.
    println!(
        "| Context of a request with 6 headers (+ a request clone in both) | {clone:.0} ns | {moved:.0} ns | {:.2}× |",
        moved / clone
    );
}
