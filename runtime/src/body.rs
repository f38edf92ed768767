//! Bodies that may arrive or leave in pieces: streamed responses.

use crate::drain::Work;
use crate::error::{BoxError, Error, ErrorKind};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{Stream, StreamExt};
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::sync::{mpsc, Notify};

pub(crate) type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send + 'static>>;

/// The body of a response a handler returns: whole, or a stream of chunks
/// that the caller receives as they are produced (a `log --follow`, a
/// progress feed).
///
/// A handler may return `http::Response<Bytes>` or `http::Response<Body>`;
/// `Bytes`, `String`, `Vec<u8>` and `&'static str` convert into a whole body.
pub struct Body {
    kind: BodyKind,
}

pub(crate) enum BodyKind {
    Full(Bytes),
    Stream(ChunkStream),
}

impl Body {
    /// A whole body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Body {
            kind: BodyKind::Full(bytes.into()),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Body::full(Bytes::new())
    }

    /// A streamed body: each item is sent to the caller as soon as it is
    /// produced. The stream is dropped when the caller goes away (it
    /// dropped its call, or the connection ended), so work behind it stops.
    /// An error item ends the stream with an error at the caller.
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Body {
            kind: BodyKind::Stream(Box::pin(stream.map(|item| item.map_err(Into::into)))),
        }
    }

    /// A streamed body fed through a channel: send chunks with the
    /// [`BodySender`]; dropping it ends the body. The sender learns when the
    /// caller went away ([`BodySender::closed`], or a failed send) — Go's
    /// `CloseNotify`.
    pub fn channel() -> (BodySender, Body) {
        let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (BodySender { tx }, Body::from_stream(stream))
    }

    /// True for a streamed body.
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, BodyKind::Stream(_))
    }

    /// The bytes of a whole body; `None` for a stream.
    pub fn as_full(&self) -> Option<&Bytes> {
        match &self.kind {
            BodyKind::Full(bytes) => Some(bytes),
            BodyKind::Stream(_) => None,
        }
    }

    /// The whole content: a whole body's bytes, or a stream's chunks
    /// joined once it ended (a response of an `ApiService` read in a test,
    /// say).
    ///
    /// # Errors
    ///
    /// The stream ended with an error.
    pub async fn into_bytes(self) -> Result<Bytes, BoxError> {
        match self.kind {
            BodyKind::Full(bytes) => Ok(bytes),
            BodyKind::Stream(mut stream) => {
                let mut all = BytesMut::new();
                while let Some(chunk) = stream.next().await {
                    all.extend_from_slice(&chunk?);
                }
                Ok(all.freeze())
            }
        }
    }

    /// The bytes of a whole body (empty for a stream).
    pub(crate) fn into_full(self) -> Bytes {
        match self.kind {
            BodyKind::Full(bytes) => bytes,
            BodyKind::Stream(_) => Bytes::new(),
        }
    }

    pub(crate) fn into_kind(self) -> BodyKind {
        self.kind
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Full(b) => f.debug_tuple("Body::Full").field(&b.len()).finish(),
            BodyKind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::full(v)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}

/// Feeds a [`Body::channel`].
#[derive(Debug, Clone)]
pub struct BodySender {
    tx: mpsc::Sender<Result<Bytes, BoxError>>,
}

impl BodySender {
    /// Sends one chunk; waits while the caller is behind (backpressure).
    /// Fails once the caller went away.
    pub async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), Error> {
        self.tx
            .send(Ok(chunk.into()))
            .await
            .map_err(|_| Error::new(ErrorKind::Closed, "the caller is gone"))
    }

    /// Ends the body with an error the caller receives.
    pub async fn abort(self, error: impl Into<BoxError>) {
        let _ = self.tx.send(Err(error.into())).await;
    }

    /// Resolves when the caller went away (it dropped the call or the
    /// stream, or the connection ended): stop producing.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// True once the caller went away.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// What the receiving side of a stream shares with the connection's reader.
pub(crate) struct StreamShared {
    /// Bytes received and not yet taken by the consumer.
    buffered: Mutex<usize>,
    /// Wakes a reader waiting for the consumer to catch up (Go form).
    drained: Notify,
    /// The consumer dropped the stream.
    dropped: AtomicBool,
}

impl StreamShared {
    pub(crate) fn buffered(&self) -> usize {
        *self.buffered.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    /// Waits until at most `limit` bytes are buffered (or the consumer is gone).
    pub(crate) async fn wait_below(&self, limit: usize) {
        loop {
            let notified = self.drained.notified();
            if self.buffered() <= limit || self.is_dropped() {
                return;
            }
            notified.await;
        }
    }
}

/// The reader's end of a stream. Dropped without [`finish`](Self::finish)
/// or [`fail`](Self::fail) (the connection's reader stopped), it cuts the
/// stream with an error: a body never ends silently short.
pub(crate) struct StreamFeed {
    tx: mpsc::UnboundedSender<Result<Bytes, Error>>,
    pub(crate) shared: Arc<StreamShared>,
    ended: bool,
    /// The call this body answers, for a graceful shutdown to wait on.
    _work: Option<Work>,
}

impl StreamFeed {
    /// Hands a chunk to the consumer; false if the consumer is gone.
    pub(crate) fn push(&self, chunk: Bytes) -> bool {
        let len = chunk.len();
        *self
            .shared
            .buffered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += len;
        self.tx.send(Ok(chunk)).is_ok()
    }

    /// Keeps `work` counted until the stream ends.
    pub(crate) fn hold(&mut self, work: Work) {
        self._work = Some(work);
    }

    /// Ends the stream with an error.
    pub(crate) fn fail(mut self, error: Error) {
        self.ended = true;
        let _ = self.tx.send(Err(error));
    }

    /// Ends the stream normally.
    pub(crate) fn finish(mut self) {
        self.ended = true;
    }
}

impl Drop for StreamFeed {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.tx.send(Err(Error::new(
                ErrorKind::Closed,
                "the streamed body was cut: the connection ended before the body did",
            )));
        }
    }
}

/// Called by the consumer as it takes bytes (to grant flow-control credit)
/// and when it is dropped before the end (to cancel).
pub(crate) trait StreamControl: Send + Sync {
    fn consumed(&self, bytes: usize);
    fn cancelled(&self);
}

/// A response body as the caller receives it: whole, or chunk by chunk as
/// the peer produces them. It is a `Stream` of `Result<Bytes, Error>`; an
/// `Err` item means the stream was cut (the connection failed, the producer
/// failed) and nothing follows. Dropping it before the end tells the peer to
/// stop producing.
pub struct BodyStream {
    full: Option<Bytes>,
    rx: Option<mpsc::UnboundedReceiver<Result<Bytes, Error>>>,
    shared: Option<Arc<StreamShared>>,
    control: Option<Arc<dyn StreamControl>>,
    finished: bool,
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyStream")
            .field("streamed", &self.rx.is_some())
            .field("finished", &self.finished)
            .finish()
    }
}

impl BodyStream {
    pub(crate) fn full(bytes: Bytes) -> Self {
        BodyStream {
            full: Some(bytes),
            rx: None,
            shared: None,
            control: None,
            finished: false,
        }
    }

    pub(crate) fn streamed(control: Option<Arc<dyn StreamControl>>) -> (StreamFeed, Self) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(StreamShared {
            buffered: Mutex::new(0),
            drained: Notify::new(),
            dropped: AtomicBool::new(false),
        });
        (
            StreamFeed {
                tx,
                shared: shared.clone(),
                ended: false,
                _work: None,
            },
            BodyStream {
                full: None,
                rx: Some(rx),
                shared: Some(shared),
                control,
                finished: false,
            },
        )
    }

    /// True if the body arrives in pieces.
    pub fn is_streamed(&self) -> bool {
        self.rx.is_some()
    }

    /// The next chunk; `None` at the end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        self.next().await
    }

    /// Collects the whole body, failing if it grows past `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, Error> {
        if let Some(full) = self.full.take() {
            self.finished = true;
            return Ok(full);
        }
        let mut first: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let mut total = 0usize;
        while let Some(chunk) = self.next().await {
            let chunk = chunk?;
            total += chunk.len();
            if total > limit {
                return Err(Error::new(
                    ErrorKind::MessageTooLarge,
                    format!(
                        "the streamed body passed the limit of {limit} bytes; use call_streaming to read it in pieces"
                    ),
                ));
            }
            match (&mut first, &mut joined) {
                (None, None) => first = Some(chunk),
                (Some(f), None) => {
                    let mut j = BytesMut::with_capacity(f.len() + chunk.len());
                    j.extend_from_slice(f);
                    j.extend_from_slice(&chunk);
                    joined = Some(j);
                }
                (_, Some(j)) => j.extend_from_slice(&chunk),
            }
        }
        Ok(match joined {
            Some(j) => j.freeze(),
            None => first.unwrap_or_default(),
        })
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if let Some(full) = self.full.take() {
            self.finished = true;
            return Poll::Ready((!full.is_empty()).then_some(Ok(full)));
        }
        let Some(rx) = self.rx.as_mut() else {
            self.finished = true;
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.finished = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                let len = chunk.len();
                if let Some(shared) = &self.shared {
                    let mut b = shared
                        .buffered
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    *b = b.saturating_sub(len);
                    drop(b);
                    shared.drained.notify_waiters();
                }
                if let Some(control) = &self.control {
                    control.consumed(len);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
        }
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.dropped.store(true, Ordering::Release);
            shared.drained.notify_waiters();
        }
        if !self.finished {
            if let Some(control) = &self.control {
                control.cancelled();
            }
        }
    }
}
