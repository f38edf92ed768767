//! One websocket after its handshake: calls out, requests in, heartbeat.

use crate::config::Config;
use crate::error::{BoxError, Error, ErrorKind};
use crate::handler::Handler;
use crate::wire::{self, Decode, Decoded, Message};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// The id the server assigned to a connection in the handshake (a UUID v4
/// from servers of this project and from Go's).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(Arc<str>);

impl ConnectionId {
    pub(crate) fn new_v4() -> Self {
        ConnectionId(uuid::Uuid::new_v4().to_string().into())
    }

    pub(crate) fn from_string(id: String) -> Self {
        ConnectionId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for ConnectionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// How a connection ended.
#[derive(Clone, Debug)]
pub(crate) enum End {
    /// A close frame was sent or received.
    Closed {
        code: u16,
        reason: String,
        by_peer: bool,
    },
    /// The connection was lost.
    Failed(Error),
}

impl End {
    /// The error handed to calls that were in flight.
    fn call_error(&self) -> Error {
        match self {
            End::Closed {
                code,
                reason,
                by_peer,
            } => {
                let who = if *by_peer { "the peer" } else { "this side" };
                let reason = if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                };
                Error::new(
                    ErrorKind::Closed,
                    format!("connection closed by {who} (code {code}){reason}"),
                )
            }
            End::Failed(e) => e.clone(),
        }
    }
}

type CallResult = Result<Response<Bytes>, Error>;
type EndHook = Box<dyn FnOnce(&Connection, &End) + Send>;

struct Pending {
    ended: Option<Error>,
    calls: HashMap<u64, oneshot::Sender<CallResult>>,
}

struct Inner {
    id: ConnectionId,
    metadata: serde_json::Value,
    remote_addr: Option<SocketAddr>,
    call_timeout: Option<Duration>,
    max_message_size: usize,
    max_in_flight: usize,
    max_admitted: usize,
    outbound: mpsc::Sender<WsMessage>,
    pending: Mutex<Pending>,
    next_call: AtomicU64,
    handler: RwLock<Option<Handler>>,
    /// Requests running or waiting for a running slot.
    admitted: Arc<Semaphore>,
    /// Requests running.
    running: Arc<Semaphore>,
    end: watch::Sender<Option<End>>,
    finished: watch::Sender<bool>,
    close_frame: Mutex<Option<CloseFrame>>,
    shutdown: CancellationToken,
    on_end: Mutex<Option<EndHook>>,
}

/// A live swaggersocket connection: a cheap, cloneable handle.
///
/// Either end of a websocket has one. Use [`call`](Connection::call) to send
/// a request to the peer and await its response, [`serve`](Connection::serve)
/// to answer the peer's requests, [`close`](Connection::close) to end it and
/// [`closed`](Connection::closed) to wait for its end. Many calls may be in
/// flight at once, in both directions.
///
/// `Connection` is also a `tower::Service<http::Request<Bytes>>`, the part Go's
/// `http.RoundTripper` plays, so tower middleware stacks on it.
///
/// Each request a handler receives carries the `Connection` it arrived on in
/// its extensions: `request.extensions().get::<Connection>()`.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("remote_addr", &self.inner.remote_addr)
            .field("metadata", &self.inner.metadata)
            .field("closed", &self.is_closed())
            .finish()
    }
}

pub(crate) struct Setup {
    pub(crate) id: ConnectionId,
    pub(crate) metadata: serde_json::Value,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) handler: Option<Handler>,
}

const OUTBOUND_QUEUE: usize = 1024;
const MAX_BATCH: usize = 128;

impl Connection {
    /// Starts the reader and writer tasks over a websocket whose handshake is done.
    pub(crate) fn start<S>(ws: WebSocketStream<S>, setup: Setup, config: &Config) -> Connection
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let (end, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            id: setup.id,
            metadata: setup.metadata,
            remote_addr: setup.remote_addr,
            call_timeout: config.call_timeout,
            max_message_size: config.max_message_size,
            max_in_flight: config.max_in_flight_calls,
            max_admitted: config.max_concurrent_handlers + config.max_queued_requests,
            outbound: tx,
            pending: Mutex::new(Pending {
                ended: None,
                calls: HashMap::new(),
            }),
            next_call: AtomicU64::new(1),
            handler: RwLock::new(setup.handler),
            admitted: Arc::new(Semaphore::new(
                config.max_concurrent_handlers + config.max_queued_requests,
            )),
            running: Arc::new(Semaphore::new(config.max_concurrent_handlers)),
            end,
            finished: watch::channel(false).0,
            close_frame: Mutex::new(None),
            shutdown: CancellationToken::new(),
            on_end: Mutex::new(None),
        });
        let conn = Connection { inner };
        let (sink, stream) = ws.split();
        tokio::spawn(write_loop(conn.inner.clone(), sink, rx));
        tokio::spawn(read_loop(conn.clone(), stream, config.clone()));
        conn
    }

    /// The id the server assigned in the handshake.
    pub fn id(&self) -> &ConnectionId {
        &self.inner.id
    }

    /// The metadata the client sent in the handshake (`null` if none).
    pub fn metadata(&self) -> &serde_json::Value {
        &self.inner.metadata
    }

    /// The peer's socket address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr
    }

    /// True once the connection has closed or failed.
    pub fn is_closed(&self) -> bool {
        self.inner.end.borrow().is_some()
    }

    /// Attaches the handler that answers the peer's requests on this
    /// connection, replacing any earlier one. Until a handler is attached the
    /// peer's requests are answered `503 Service Unavailable`.
    pub fn serve<S>(&self, service: S)
    where
        S: tower_service::Service<Request<Bytes>, Response = Response<Bytes>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        self.serve_handler(Handler::new(service));
    }

    pub(crate) fn serve_handler(&self, handler: Handler) {
        *self
            .inner
            .handler
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(handler);
    }

    /// Sends a request to the peer and waits for its response.
    ///
    /// Fails at once if the connection is closed, when it closes or fails
    /// while the call is in flight, when the call timeout passes, and when the
    /// connection already has the maximum number of calls in flight.
    pub async fn call(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Error> {
        match self.inner.call_timeout {
            Some(limit) => match tokio::time::timeout(limit, self.call_inner(request)).await {
                Ok(result) => result,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no response within {} ms", limit.as_millis()),
                )),
            },
            None => self.call_inner(request).await,
        }
    }

    async fn call_inner(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Error> {
        let inner = &self.inner;
        let call_id = inner.next_call.fetch_add(1, Ordering::Relaxed);
        let frame = wire::encode_request(&request, itoa(call_id).as_str());
        if frame.len() > inner.max_message_size {
            return Err(Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "the request is {} bytes, over the maximum message size of {} bytes",
                    frame.len(),
                    inner.max_message_size
                ),
            ));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(err) = &pending.ended {
                return Err(err.clone());
            }
            if pending.calls.len() >= inner.max_in_flight {
                return Err(Error::new(
                    ErrorKind::TooManyInFlight,
                    format!(
                        "{} calls are already waiting for a response on this connection",
                        inner.max_in_flight
                    ),
                ));
            }
            pending.calls.insert(call_id, tx);
        }
        let mut guard = PendingGuard {
            inner,
            call_id,
            armed: true,
        };
        if inner.outbound.send(to_ws_message(frame)).await.is_err() {
            return Err(self.ended_error());
        }
        let result = rx.await;
        guard.armed = false;
        match result {
            Ok(result) => result,
            Err(_) => Err(self.ended_error()),
        }
    }

    fn ended_error(&self) -> Error {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ended
            .clone()
            .unwrap_or_else(|| Error::new(ErrorKind::Closed, "the connection is closed"))
    }

    /// Closes the connection gracefully (close code 1000). Calls in flight
    /// fail at once with [`ErrorKind::Closed`].
    pub fn close(&self) {
        self.close_with(CloseCode::Normal, "");
    }

    pub(crate) fn close_with(&self, code: CloseCode, reason: &str) {
        self.inner.terminate(
            self,
            End::Closed {
                code: code.into(),
                reason: reason.to_owned(),
                by_peer: false,
            },
            Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            }),
        );
    }

    /// Waits until the connection has ended and its close frame, if any, has
    /// been sent: `Ok` after a close frame (sent or received), the error that
    /// ended it after a failure.
    pub async fn closed(&self) -> Result<(), Error> {
        let mut finished = self.inner.finished.subscribe();
        let _ = finished.wait_for(|done| *done).await;
        match self.end_state() {
            Some(End::Failed(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Runs `hook` exactly once when the connection ends (at once if it
    /// already has). Replaces an earlier hook that has not run.
    pub(crate) fn on_end(&self, hook: impl FnOnce(&Connection, &End) + Send + 'static) {
        let mut slot = self
            .inner
            .on_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // `terminate` publishes the end before it takes the hook, so either it
        // finds the hook stored here or this sees the end and runs the hook.
        let ended = self.end_state();
        match ended {
            None => *slot = Some(Box::new(hook)),
            Some(end) => {
                drop(slot);
                hook(self, &end);
            }
        }
    }

    pub(crate) fn end_state(&self) -> Option<End> {
        self.inner.end.borrow().clone()
    }

    pub(crate) fn fail(&self, error: Error) {
        self.inner.terminate(self, End::Failed(error), None);
    }
}

/// Removes a call from the table when its future is dropped early.
struct PendingGuard<'a> {
    inner: &'a Inner,
    call_id: u64,
    armed: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.inner
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .calls
                .remove(&self.call_id);
        }
    }
}

impl Inner {
    /// Ends the connection once; later calls do nothing.
    fn terminate(&self, conn: &Connection, end: End, frame: Option<CloseFrame>) {
        let mut first = false;
        self.end.send_if_modified(|state| {
            if state.is_none() {
                *state = Some(end.clone());
                first = true;
                true
            } else {
                false
            }
        });
        if !first {
            return;
        }
        match &end {
            End::Failed(e) => tracing::debug!(id = %self.id, error = %e, "connection failed"),
            End::Closed { code, by_peer, .. } => {
                tracing::debug!(id = %self.id, code, by_peer, "connection closed")
            }
        }
        *self
            .close_frame
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = frame;
        let error = end.call_error();
        let calls = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.ended = Some(error.clone());
            std::mem::take(&mut pending.calls)
        };
        for (_, tx) in calls {
            let _ = tx.send(Err(error.clone()));
        }
        self.shutdown.cancel();
        let hook = self
            .on_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(hook) = hook {
            hook(conn, &end);
        }
    }

    fn complete_call(&self, correlation_id: Option<String>, result: CallResult) {
        let Some(text) = correlation_id else {
            tracing::warn!(id = %self.id, "dropped a response without X-Correlation-Id");
            return;
        };
        let tx = text.parse::<u64>().ok().and_then(|call_id| {
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .calls
                .remove(&call_id)
        });
        match tx {
            Some(tx) => {
                let _ = tx.send(result);
            }
            None => tracing::warn!(
                id = %self.id,
                correlation_id = %text,
                "dropped a response that matches no call in flight"
            ),
        }
    }

    async fn respond(&self, response: Response<Bytes>, correlation_id: &str) {
        let mut frame = wire::encode_response(&response, Some(correlation_id));
        if frame.len() > self.max_message_size {
            tracing::warn!(
                id = %self.id,
                size = frame.len(),
                "handler response exceeds the maximum message size; answering 500"
            );
            let text = format!(
                "the response is {} bytes, over the maximum message size of {} bytes",
                frame.len(),
                self.max_message_size
            );
            frame = wire::encode_response(
                &plain_response(StatusCode::INTERNAL_SERVER_ERROR, text),
                Some(correlation_id),
            );
        }
        // The connection may have ended meanwhile; then there is no one to answer.
        let _ = self.outbound.send(to_ws_message(frame)).await;
    }
}

fn itoa(n: u64) -> String {
    n.to_string()
}

fn to_ws_message(frame: BytesMut) -> WsMessage {
    let bytes = frame.freeze();
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => WsMessage::Text(text),
        Err(_) => WsMessage::Binary(bytes),
    }
}

pub(crate) fn plain_response(status: StatusCode, text: String) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn write_loop<S>(
    inner: Arc<Inner>,
    mut sink: SplitSink<WebSocketStream<S>, WsMessage>,
    mut rx: mpsc::Receiver<WsMessage>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Sends one batch: feed while more is queued, flush when the queue is empty.
    async fn batch<S>(
        sink: &mut SplitSink<WebSocketStream<S>, WsMessage>,
        rx: &mut mpsc::Receiver<WsMessage>,
        first: WsMessage,
    ) -> Result<(), WsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        sink.feed(first).await?;
        for _ in 1..MAX_BATCH {
            let Ok(next) = rx.try_recv() else { break };
            sink.feed(next).await?;
        }
        sink.flush().await
    }

    let failure = loop {
        let first = tokio::select! {
            biased;
            _ = inner.shutdown.cancelled() => break None,
            msg = rx.recv() => msg,
        };
        let Some(first) = first else { break None };
        // tungstenite buffers whole frames, so abandoning a batch when the
        // connection ends leaves the stream consistent for a close frame.
        let sent = tokio::select! {
            biased;
            _ = inner.shutdown.cancelled() => break None,
            sent = batch(&mut sink, &mut rx, first) => sent,
        };
        if let Err(e) = sent {
            break Some(e);
        }
    };
    if let Some(e) = failure {
        let conn = Connection {
            inner: inner.clone(),
        };
        conn.fail(Error::from(e));
    } else {
        let frame = inner
            .close_frame
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let by_peer = matches!(
            &*inner.end.borrow(),
            Some(End::Closed { by_peer: true, .. })
        );
        if frame.is_some() || by_peer {
            // Send our close frame (or flush the reply to the peer's), best effort.
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                if let Some(frame) = frame {
                    sink.send(WsMessage::Close(Some(frame))).await?;
                }
                sink.close().await
            })
            .await;
        }
    }
    inner.finished.send_replace(true);
}

async fn read_loop<S>(conn: Connection, mut stream: SplitStream<WebSocketStream<S>>, config: Config)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let inner = &conn.inner;
    let mut last_seen = Instant::now();
    let period = config.heartbeat.unwrap_or(Duration::from_secs(3600));
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut partial: Option<BytesMut> = None;
    loop {
        let item = tokio::select! {
            biased;
            _ = inner.shutdown.cancelled() => {
                drain_until_close_reply(&conn, &mut stream).await;
                return;
            }
            item = stream.next() => item,
            _ = ticker.tick(), if config.heartbeat.is_some() => {
                if last_seen.elapsed() >= config.heartbeat_timeout {
                    conn.fail(Error::new(
                        ErrorKind::HeartbeatTimeout,
                        format!(
                            "nothing received from the peer for {} ms",
                            last_seen.elapsed().as_millis()
                        ),
                    ));
                    return;
                }
                // A full queue means data is flowing; the ping can wait.
                let _ = inner.outbound.try_send(WsMessage::Ping(config.app_data.clone()));
                continue;
            }
        };
        last_seen = Instant::now();
        let message = match item {
            None => {
                conn.fail(Error::new(
                    ErrorKind::Closed,
                    "the peer closed the socket without a close frame",
                ));
                return;
            }
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                too_large(&conn, size, max_size);
                return;
            }
            Some(Err(e)) => {
                conn.fail(Error::from(e));
                return;
            }
            Some(Ok(message)) => message,
        };
        let data: Bytes = match message {
            WsMessage::Text(text) => text.into(),
            WsMessage::Binary(bytes) => bytes,
            WsMessage::Ping(data) => {
                if let Some(hook) = &config.on_ping {
                    hook(&data);
                }
                continue;
            }
            WsMessage::Pong(data) => {
                if let Some(hook) = &config.on_pong {
                    hook(&data);
                }
                continue;
            }
            WsMessage::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                    .unwrap_or((1005, String::new()));
                inner.terminate(
                    &conn,
                    End::Closed {
                        code,
                        reason,
                        by_peer: true,
                    },
                    None,
                );
                return;
            }
            WsMessage::Frame(_) => continue,
        };
        let buf = match partial.take() {
            None => data,
            Some(mut started) => {
                let total = started.len() + data.len();
                if total > inner.max_message_size {
                    too_large(&conn, total, inner.max_message_size);
                    return;
                }
                started.extend_from_slice(&data);
                started.freeze()
            }
        };
        match wire::decode(&buf) {
            Ok(Decode::Complete(decoded)) => dispatch(&conn, decoded),
            Ok(Decode::Incomplete) => partial = Some(BytesMut::from(buf)),
            Err(e) => malformed(&conn, &buf, e),
        }
    }
}

/// After this side sent a close frame, waits (briefly) for the peer's reply
/// before the socket is dropped, so the peer reads our close frame instead of
/// a reset. Whatever else arrives meanwhile is discarded.
async fn drain_until_close_reply<S>(conn: &Connection, stream: &mut SplitStream<WebSocketStream<S>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !matches!(conn.end_state(), Some(End::Closed { by_peer: false, .. })) {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(message)) = stream.next().await {
            if message.is_close() {
                break;
            }
        }
    })
    .await;
}

fn too_large(conn: &Connection, size: usize, max: usize) {
    let error = Error::new(
        ErrorKind::MessageTooLarge,
        format!("a message of {size} bytes exceeds the maximum of {max} bytes"),
    );
    tracing::warn!(id = %conn.id(), %error, "closing with 1009");
    conn.inner.terminate(
        conn,
        End::Failed(error),
        Some(CloseFrame {
            code: CloseCode::Size,
            reason: Utf8Bytes::from(format!("message too large (maximum {max} bytes)")),
        }),
    );
}

/// An undecodable message: fail the call it answers, or answer 400 to the
/// request it was, when its correlation id can be found; log it either way.
fn malformed(conn: &Connection, buf: &[u8], error: wire::WireError) {
    let correlation_id = wire::sniff_correlation_id(buf);
    tracing::warn!(id = %conn.id(), %error, ?correlation_id, "undecodable message");
    let Some(correlation_id) = correlation_id else {
        return;
    };
    if wire::is_response(buf) {
        conn.inner.complete_call(
            Some(correlation_id),
            Err(Error::new(
                ErrorKind::Protocol,
                format!("the peer's response could not be decoded: {error}"),
            )),
        );
    } else {
        let inner = conn.inner.clone();
        let response = plain_response(
            StatusCode::BAD_REQUEST,
            format!("malformed request: {error}"),
        );
        tokio::spawn(async move { inner.respond(response, &correlation_id).await });
    }
}

fn dispatch(conn: &Connection, decoded: Decoded) {
    let Decoded {
        correlation_id,
        message,
    } = decoded;
    let mut request = match message {
        Message::Response(response) => {
            conn.inner.complete_call(correlation_id, Ok(response));
            return;
        }
        Message::Request(request) => request,
    };
    let Some(correlation_id) = correlation_id else {
        tracing::warn!(
            id = %conn.id(),
            method = %request.method(),
            uri = %request.uri(),
            "dropped a request without X-Correlation-Id: its sender could not match an answer"
        );
        return;
    };
    let inner = conn.inner.clone();
    let handler = inner
        .handler
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let Some(handler) = handler else {
        let response = plain_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "no handler is attached to this connection".to_owned(),
        );
        tokio::spawn(async move { inner.respond(response, &correlation_id).await });
        return;
    };
    let Ok(admission) = inner.admitted.clone().try_acquire_owned() else {
        let response = plain_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many requests in progress on this connection (limit {})",
                inner.max_admitted
            ),
        );
        tokio::spawn(async move { inner.respond(response, &correlation_id).await });
        return;
    };
    request.extensions_mut().insert(conn.clone());
    let shutdown = inner.shutdown.clone();
    tokio::spawn(async move {
        let _admission = admission;
        let work = async {
            let _running = inner.running.acquire().await;
            AssertUnwindSafe(handler.call(request)).catch_unwind().await
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            // The connection ended: nobody can receive the answer.
            _ = shutdown.cancelled() => return,
        };
        let response = match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                tracing::warn!(id = %inner.id, %error, "handler returned an error; answering 500");
                plain_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("handler error: {error}"),
                )
            }
            Err(_) => {
                tracing::error!(id = %inner.id, "handler panicked; answering 500");
                plain_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the handler panicked while serving this request".to_owned(),
                )
            }
        };
        inner.respond(response, &correlation_id).await;
    });
}

impl tower_service::Service<Request<Bytes>> for Connection {
    type Response = Response<Bytes>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Bytes>, Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.is_closed() {
            Poll::Ready(Err(self.ended_error()))
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let conn = self.clone();
        Box::pin(async move { conn.call(request).await })
    }
}

impl std::borrow::Borrow<str> for ConnectionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}
