//! Streams of typed items over a streamed body: newline-delimited JSON
//! (`application/x-ndjson`, `application/jsonl`), server-sent events
//! (`text/event-stream`) and JSON text sequences (`application/json-seq`).
//! Generated code uses these for operations whose response is such a
//! stream; they work on their own too.

use crate::body::{Body, BodyStream};
use crate::error::{BoxError, Error, ErrorKind};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How the items of a stream are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamFormat {
    /// One JSON value per line (`application/x-ndjson`, `application/jsonl`).
    Ndjson,
    /// Server-sent events, each item the `data` of one event (`text/event-stream`).
    Sse,
    /// RFC 7464 JSON text sequences: `RS` JSON `LF` (`application/json-seq`).
    JsonSeq,
}

impl StreamFormat {
    /// The format for a media type, if it is a stream format.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines"
            | "application/ndjson" => Some(StreamFormat::Ndjson),
            "text/event-stream" => Some(StreamFormat::Sse),
            "application/json-seq" => Some(StreamFormat::JsonSeq),
            _ => None,
        }
    }

    /// The `Content-Type` this format is sent with.
    pub fn content_type(self) -> &'static str {
        match self {
            StreamFormat::Ndjson => "application/x-ndjson",
            StreamFormat::Sse => "text/event-stream",
            StreamFormat::JsonSeq => "application/json-seq",
        }
    }

    pub(crate) fn encode<T: Serialize>(self, item: &T) -> Result<Bytes, serde_json::Error> {
        let json = serde_json::to_vec(item)?;
        let mut out = BytesMut::with_capacity(json.len() + 8);
        match self {
            StreamFormat::Ndjson => {
                out.extend_from_slice(&json);
                out.extend_from_slice(b"\n");
            }
            StreamFormat::Sse => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&json);
                out.extend_from_slice(b"\n\n");
            }
            StreamFormat::JsonSeq => {
                out.extend_from_slice(b"\x1e");
                out.extend_from_slice(&json);
                out.extend_from_slice(b"\n");
            }
        }
        Ok(out.freeze())
    }
}

type ItemStream<T> = Pin<Box<dyn Stream<Item = Result<T, Error>> + Send + 'static>>;

/// A stream of typed items: what a streaming operation's server method
/// returns and its client method yields. An `Err` item ends it (the
/// transport failed, or an item could not be decoded); dropping it stops the
/// producer.
pub struct TypedStream<T> {
    inner: ItemStream<T>,
}

impl<T> fmt::Debug for TypedStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TypedStream")
    }
}

impl<T: Send + 'static> TypedStream<T> {
    /// Items from any stream.
    pub fn new<S>(items: S) -> Self
    where
        S: Stream<Item = T> + Send + 'static,
    {
        TypedStream {
            inner: Box::pin(items.map(Ok)),
        }
    }

    /// Items from a fallible stream: an error ends the stream at the
    /// receiver with that error.
    pub fn try_new<S, E>(items: S) -> Self
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        TypedStream {
            inner: Box::pin(items.map(|item| {
                item.map_err(|e| {
                    Error::with_source(ErrorKind::Protocol, "the item stream failed", e)
                })
            })),
        }
    }

    /// Items from an iterator (all ready at once).
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::new(futures_util::stream::iter(items))
    }

    /// The next item; `None` at the end. (The same as `StreamExt::next`,
    /// without importing it.)
    pub async fn next_item(&mut self) -> Option<Result<T, Error>> {
        self.next().await
    }

    /// Collects every item (fails at the first error).
    pub async fn collect_all(mut self) -> Result<Vec<T>, Error> {
        let mut all = Vec::new();
        while let Some(item) = self.next().await {
            all.push(item?);
        }
        Ok(all)
    }
}

impl<T> Stream for TypedStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T: Serialize + Send + 'static> TypedStream<T> {
    /// The streamed body that carries these items in `format`.
    pub fn into_body(self, format: StreamFormat) -> Body {
        Body::from_stream(self.inner.map(move |item| match item {
            Ok(item) => format.encode(&item).map_err(BoxError::from),
            Err(e) => Err(BoxError::from(e)),
        }))
    }
}

impl<T: DeserializeOwned + Send + 'static> TypedStream<T> {
    /// The items carried by a received body in `format`.
    pub fn from_body(body: BodyStream, format: StreamFormat) -> Self {
        let state = Framer {
            body,
            format,
            buf: BytesMut::new(),
            sse_data: None,
            done: false,
        };
        let items = futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next_item::<T>().await?;
            Some((item, state))
        });
        TypedStream {
            inner: Box::pin(items),
        }
    }
}

/// Splits a received body into items.
struct Framer {
    body: BodyStream,
    format: StreamFormat,
    buf: BytesMut,
    /// SSE: the `data` lines of the event being read.
    sse_data: Option<String>,
    done: bool,
}

impl Framer {
    async fn next_item<T: DeserializeOwned>(&mut self) -> Option<Result<T, Error>> {
        loop {
            if let Some(text) = self.take_frame() {
                return Some(decode_item(&text));
            }
            if self.done {
                // What is left without a terminator is the last item.
                let rest = std::mem::take(&mut self.buf);
                let text = String::from_utf8_lossy(&rest).trim().to_owned();
                let pending = match self.format {
                    StreamFormat::Sse => {
                        let line = text
                            .strip_prefix("data:")
                            .map(|d| d.trim_start().to_owned());
                        match (self.sse_data.take(), line) {
                            (Some(mut data), Some(line)) => {
                                data.push('\n');
                                data.push_str(&line);
                                Some(data)
                            }
                            (data, line) => data.or(line),
                        }
                    }
                    _ => (!text.is_empty()).then_some(text.trim_start_matches('\x1e').to_owned()),
                };
                return pending
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| decode_item(&t));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    self.done = true;
                    self.buf.clear();
                    return Some(Err(e));
                }
                None => self.done = true,
            }
        }
    }

    /// The next whole item's JSON text in the buffer, if there is one.
    fn take_frame(&mut self) -> Option<String> {
        loop {
            let separator = match self.format {
                StreamFormat::Ndjson | StreamFormat::Sse => b'\n',
                StreamFormat::JsonSeq => b'\x1e',
            };
            let start = usize::from(
                self.format == StreamFormat::JsonSeq && self.buf.first() == Some(&0x1e),
            );
            let end = self.buf[start..].iter().position(|b| *b == separator)? + start;
            let piece = self.buf.split_to(end + 1);
            let line = String::from_utf8_lossy(&piece[start..end]).into_owned();
            let line = line.trim_end_matches('\r');
            match self.format {
                StreamFormat::Ndjson | StreamFormat::JsonSeq => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    return Some(line.trim().to_owned());
                }
                StreamFormat::Sse => {
                    if line.is_empty() {
                        // A blank line dispatches the event, if it had data.
                        if let Some(data) = self.sse_data.take() {
                            return Some(data);
                        }
                        continue;
                    }
                    if let Some(value) = line.strip_prefix("data:") {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match &mut self.sse_data {
                            Some(data) => {
                                data.push('\n');
                                data.push_str(value);
                            }
                            None => self.sse_data = Some(value.to_owned()),
                        }
                    }
                    // `event:`, `id:`, `retry:` and `:` comments carry no item.
                }
            }
        }
    }
}

fn decode_item<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| {
        let shown: String = text.chars().take(80).collect();
        Error::with_source(
            ErrorKind::Protocol,
            format!("a streamed item is not the expected JSON: {shown:?}"),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Item {
        n: u32,
        text: String,
    }

    fn items() -> Vec<Item> {
        (0..5)
            .map(|n| Item {
                n,
                text: format!("line {n}\nwith a newline"),
            })
            .collect()
    }

    /// Encodes, cuts the bytes at awkward places, decodes.
    async fn round_trip(format: StreamFormat, cut: usize) -> Vec<Item> {
        let mut body = TypedStream::iter(items()).into_body(format);
        let mut bytes = Vec::new();
        let BodyKindProbe(stream) = BodyKindProbe::of(&mut body);
        let mut stream = stream;
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.unwrap_or_default());
        }
        let pieces: Vec<Bytes> = bytes.chunks(cut).map(Bytes::copy_from_slice).collect();
        let (feed, received) = BodyStream::streamed(None);
        for p in pieces {
            feed.push(p);
        }
        feed.finish();
        TypedStream::<Item>::from_body(received, format)
            .collect_all()
            .await
            .unwrap_or_default()
    }

    /// Takes the chunk stream out of a streamed body (tests only).
    struct BodyKindProbe(Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>);

    impl BodyKindProbe {
        fn of(body: &mut Body) -> Self {
            match std::mem::take(body).into_kind() {
                crate::body::BodyKind::Stream(s) => BodyKindProbe(s),
                crate::body::BodyKind::Full(b) => {
                    BodyKindProbe(Box::pin(futures_util::stream::iter([Ok(b)])))
                }
            }
        }
    }

    #[tokio::test]
    async fn every_format_round_trips_however_the_bytes_are_cut() {
        for format in [
            StreamFormat::Ndjson,
            StreamFormat::Sse,
            StreamFormat::JsonSeq,
        ] {
            for cut in [1, 3, 7, 64, 4096] {
                assert_eq!(
                    round_trip(format, cut).await,
                    items(),
                    "{format:?} cut {cut}"
                );
            }
        }
    }

    async fn decode_text(
        format: StreamFormat,
        text: &str,
    ) -> Result<Vec<serde_json::Value>, Error> {
        let (feed, received) = BodyStream::streamed(None);
        feed.push(Bytes::copy_from_slice(text.as_bytes()));
        feed.finish();
        TypedStream::from_body(received, format).collect_all().await
    }

    #[tokio::test]
    async fn foreign_framing_is_read() {
        // SSE with comments, event names, ids, multi-line data, CRLF, no final blank line.
        let sse = ": hello\r\nevent: tick\r\nid: 1\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: 2\r\n\r\ndata: 3";
        let got = decode_text(StreamFormat::Sse, sse)
            .await
            .unwrap_or_default();
        assert_eq!(
            got,
            [
                serde_json::json!({"a": 1}),
                serde_json::json!(2),
                serde_json::json!(3)
            ]
        );
        // NDJSON with blank lines and a last line without a newline.
        let got = decode_text(StreamFormat::Ndjson, "1\n\n[2]\r\n{\"x\":3}")
            .await
            .unwrap_or_default();
        assert_eq!(
            got,
            [
                serde_json::json!(1),
                serde_json::json!([2]),
                serde_json::json!({"x": 3})
            ]
        );
        let got = decode_text(StreamFormat::JsonSeq, "\x1e1\n\x1e \"two\"\n\x1e{}")
            .await
            .unwrap_or_default();
        assert_eq!(
            got,
            [
                serde_json::json!(1),
                serde_json::json!("two"),
                serde_json::json!({})
            ]
        );
    }

    #[tokio::test]
    async fn a_bad_item_is_a_protocol_error() {
        let err = decode_text(StreamFormat::Ndjson, "1\nnot json\n")
            .await
            .err();
        let err = err.map(|e| (e.kind(), e.to_string()));
        assert!(
            matches!(&err, Some((ErrorKind::Protocol, m)) if m.contains("not json")),
            "{err:?}"
        );
    }

    #[test]
    fn media_types_map_to_formats() {
        assert_eq!(
            StreamFormat::from_media_type("application/x-ndjson"),
            Some(StreamFormat::Ndjson)
        );
        assert_eq!(
            StreamFormat::from_media_type("application/jsonl; charset=utf-8"),
            Some(StreamFormat::Ndjson)
        );
        assert_eq!(
            StreamFormat::from_media_type("Text/Event-Stream"),
            Some(StreamFormat::Sse)
        );
        assert_eq!(
            StreamFormat::from_media_type("application/json-seq"),
            Some(StreamFormat::JsonSeq)
        );
        assert_eq!(StreamFormat::from_media_type("application/json"), None);
    }
}
