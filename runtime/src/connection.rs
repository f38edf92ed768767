//! One websocket after its handshake: calls out, requests in, heartbeat.

use crate::auth::Identity;
use crate::body::{Body, BodyKind, BodyStream, ChunkStream, StreamControl, StreamFeed};
use crate::config::Config;
use crate::drain::{self, Drain, Work};
use crate::error::{BoxError, Error, ErrorKind};
use crate::handler::{Handler, IntoHandler};
use crate::resume::{self, ResumeState};
use crate::stats::{Counters, Reason};
use crate::wire::{self, Decode, Decoded, Frame, Message, StreamKind};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use rustls_pki_types::CertificateDer;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
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

type CallResult = Result<Response<BodyStream>, Error>;
type EndHook = Box<dyn FnOnce(&Connection, &End) + Send>;

struct Pending {
    ended: Option<Error>,
    calls: HashMap<u64, Waiter>,
    /// Calls waiting for their turn toward a Go peer (they count toward
    /// the in-flight limit).
    queued: usize,
    /// When the deadline sweep of this connection looks at the calls next
    /// (`None` until a call with a timeout starts it). No call in the table
    /// has an earlier deadline, unless the sweep has been told.
    sweep_at: Option<Instant>,
}

/// A call waiting for its response.
struct Waiter {
    tx: oneshot::Sender<CallResult>,
    /// Toward a Go peer: the turn this call holds until its response has
    /// arrived whole.
    turn: Option<OwnedSemaphorePermit>,
    /// Counted by a graceful shutdown until the answer (and its streamed
    /// body) has arrived.
    work: Work,
    /// When the call times out, if the deadline sweep watches it.
    deadline: Option<Instant>,
}

struct Inner {
    id: ConnectionId,
    metadata: serde_json::Value,
    remote_addr: Option<SocketAddr>,
    peer_certificates: Vec<CertificateDer<'static>>,
    identity: Option<Identity>,
    call_timeout: Option<Duration>,
    max_message_size: usize,
    max_in_flight: usize,
    max_admitted: usize,
    /// Messages to the writer; what they weigh is held in `room`.
    outbound: mpsc::UnboundedSender<Queued>,
    /// Bytes that may still be queued to the peer (of `max_queued`).
    room: Arc<Semaphore>,
    max_queued: usize,
    /// Bytes of the peer's requests that may still be admitted (of
    /// `max_inbound`).
    inbound_room: Arc<Semaphore>,
    max_inbound: usize,
    /// Liveness, in milliseconds since `born`: the last frame read, the
    /// last batch of data written.
    born: Instant,
    last_inbound: AtomicU64,
    last_progress: AtomicU64,
    /// The peer has answered a Ping at least once.
    answers_pings: AtomicBool,
    counters: Arc<Counters>,
    pending: Mutex<Pending>,
    /// Wakes the deadline sweep for a call whose deadline comes before the
    /// sweep's next look.
    sweep_wake: tokio::sync::Notify,
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
    /// The work a graceful shutdown waits for, and its refusal of new work.
    drain: Arc<Drain>,
    /// Both sides negotiated the streaming extension in the handshake.
    streams: bool,
    /// The peer sent no `Features` in the handshake: a Go peer.
    go_peer: bool,
    /// Toward a Go peer (unless the config lifts it): one call at a time,
    /// the others queued in order.
    turn: Option<Arc<Semaphore>>,
    /// Flow-control window of each streamed body, in bytes.
    stream_window: usize,
    /// Without the extension (a Go peer), a streamed response owns the
    /// outbound direction until it ends: every data message takes this.
    go_order: tokio::sync::Mutex<()>,
    /// Streamed response bodies arriving for our calls, by call id.
    streams_in: Mutex<HashMap<u64, StreamFeed>>,
    /// The peer's requests being served (extension only), by its id: their
    /// cancellation and the flow-control credit of a streamed answer.
    serving: Mutex<HashMap<String, Serving>>,
    /// The sequence counts and replay buffer of a resumable session
    /// (`resume/1` negotiated), `None` otherwise.
    resume: Option<ResumeState>,
    /// The writer's queue while no writer holds it (between the start of
    /// a socket's writer and, on a resumable session, between two sockets).
    rx_slot: Mutex<Option<mpsc::UnboundedReceiver<Queued>>>,
    /// The socket in use now.
    link: Mutex<Option<Link>>,
    /// Told when a resumable session loses its socket.
    on_detach: Mutex<Option<DetachHook>>,
}

type DetachHook = Box<dyn Fn(&Connection, &Error) + Send + Sync>;

/// One socket under a connection: its reader and writer tasks. A
/// resumable session has a new one after each resume.
/// (One allocation besides the token: every connection has one.)
#[derive(Clone)]
pub(crate) struct Link {
    /// Cancelled when the socket is given up (lost, or replaced).
    cancel: CancellationToken,
    state: Arc<LinkState>,
}

struct LinkState {
    /// Set by the first to report the socket lost.
    lost: AtomicBool,
    /// How many of its two tasks have ended, and the wake-up of whoever
    /// waits for both.
    exited: std::sync::atomic::AtomicU8,
    done: tokio::sync::Notify,
}

impl Link {
    fn new() -> Self {
        Link {
            cancel: CancellationToken::new(),
            state: Arc::new(LinkState {
                lost: AtomicBool::new(false),
                exited: std::sync::atomic::AtomicU8::new(0),
                done: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Waits until its reader and writer have both ended.
    async fn wait_exited(&self) {
        loop {
            let notified = self.state.done.notified();
            if self.state.exited.load(Ordering::SeqCst) >= 2 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts a link task as ended when dropped (on every way out).
struct TaskExit(Arc<LinkState>);

impl Drop for TaskExit {
    fn drop(&mut self) {
        self.0.exited.fetch_add(1, Ordering::SeqCst);
        self.0.done.notify_waiters();
    }
}

/// A message on its way to the writer, with the room it takes in the
/// queue (released once it is written). Control frames take none.
pub(crate) struct Queued {
    message: Outgoing,
    room: Option<OwnedSemaphorePermit>,
}

/// A data message on its way out: a text or binary message, and for a
/// large one the body that follows its head, sent as frames of its own
/// rather than copied behind the head.
#[derive(Clone)]
pub(crate) struct Outgoing {
    /// The whole message, or (with a `tail`) its first part.
    message: WsMessage,
    /// The rest of the message, for a large one only (boxed: every slot of
    /// the writer's queue, idle or not, is this size).
    tail: Option<Box<Bytes>>,
}

/// A sent message kept for a resume.
pub(crate) type Replayable = Outgoing;

impl Outgoing {
    /// A text message (for unit tests of the replay buffer).
    #[cfg(test)]
    pub(crate) fn text(text: &'static str) -> Self {
        Outgoing {
            message: WsMessage::Text(Utf8Bytes::from_static(text)),
            tail: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.message.len() + self.tail.as_ref().map_or(0, |tail| tail.len())
    }
}

/// One of the peer's requests that is being served.
struct Serving {
    cancel: CancellationToken,
    credit: Arc<Semaphore>,
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
    /// The certificate chain the peer presented in TLS, leaf first.
    pub(crate) peer_certificates: Vec<CertificateDer<'static>>,
    /// What the server's authentication hook accepted the peer as.
    pub(crate) identity: Option<Identity>,
    pub(crate) handler: Option<Handler>,
    /// Whether the handshake negotiated the streaming extension.
    pub(crate) streams: bool,
    /// Whether the peer is a Go peer (its handshake listed no features).
    pub(crate) go_peer: bool,
    /// Where the limits this connection enforces are counted.
    pub(crate) counters: Arc<Counters>,
    /// The session's resume token, when the handshake negotiated
    /// `resume/1`.
    pub(crate) resume_token: Option<String>,
}

const MAX_BATCH: usize = 128;
/// A batch stops taking further messages at this many bytes.
const BATCH_BYTES: usize = 256 << 10;

impl Connection {
    /// Starts the reader and writer tasks over a websocket whose handshake is done.
    pub(crate) fn start<S>(ws: WebSocketStream<S>, setup: Setup, config: &Config) -> Connection
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let (end, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            id: setup.id,
            metadata: setup.metadata,
            remote_addr: setup.remote_addr,
            peer_certificates: setup.peer_certificates,
            identity: setup.identity,
            call_timeout: config.call_timeout,
            max_message_size: config.max_message_size,
            max_in_flight: config.max_in_flight_calls,
            max_admitted: config.max_concurrent_handlers + config.max_queued_requests,
            outbound: tx,
            room: Arc::new(Semaphore::new(config.max_queued_bytes)),
            max_queued: config.max_queued_bytes,
            inbound_room: Arc::new(Semaphore::new(config.max_inbound_bytes)),
            max_inbound: config.max_inbound_bytes,
            born: Instant::now(),
            last_inbound: AtomicU64::new(0),
            last_progress: AtomicU64::new(0),
            answers_pings: AtomicBool::new(false),
            counters: setup.counters,
            pending: Mutex::new(Pending {
                ended: None,
                calls: HashMap::new(),
                queued: 0,
                sweep_at: None,
            }),
            sweep_wake: tokio::sync::Notify::new(),
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
            drain: Arc::new(Drain::default()),
            streams: setup.streams,
            go_peer: setup.go_peer,
            turn: (setup.go_peer && !config.concurrent_calls_to_go_peers)
                .then(|| Arc::new(Semaphore::new(1))),
            stream_window: config.stream_window,
            go_order: tokio::sync::Mutex::new(()),
            streams_in: Mutex::new(HashMap::new()),
            serving: Mutex::new(HashMap::new()),
            resume: setup
                .resume_token
                .map(|token| ResumeState::new(token, config.resume_window, config.replay_buffer)),
            rx_slot: Mutex::new(Some(rx)),
            link: Mutex::new(None),
            on_detach: Mutex::new(None),
        });
        let conn = Connection { inner };
        conn.attach(ws, config, None);
        conn
    }

    /// Runs the connection over a socket: a reader and a writer task. After
    /// a resume (`peer_received` is what the peer said it has), the writer
    /// first sends again the messages the peer lacks.
    pub(crate) fn attach<S>(
        &self,
        ws: WebSocketStream<S>,
        config: &Config,
        peer_received: Option<u64>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let link = Link::new();
        *self
            .inner
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(link.clone());
        if let Some(r) = &self.inner.resume {
            r.set_detached(false);
            r.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.touch(&self.inner.last_inbound);
        self.inner.touch(&self.inner.last_progress);
        let (sink, stream) = ws.split();
        tokio::spawn(write_loop(
            self.inner.clone(),
            sink,
            link.clone(),
            config.clone(),
            peer_received,
        ));
        tokio::spawn(read_loop(self.clone(), stream, config.clone(), link));
    }

    /// The same connection (not only the same id).
    pub(crate) fn same(&self, other: &Connection) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// True when both sides negotiated resumable sessions (`resume/1`): a
    /// lost socket detaches the connection, and the client may resume it
    /// within the resume window, with the same id and calls in flight.
    pub fn supports_resume(&self) -> bool {
        self.inner.resume.is_some()
    }

    /// True while a resumable connection has lost its socket and waits
    /// for its client to resume it. Calls made meanwhile are queued and
    /// sent after the resume (or fail when the window passes).
    pub fn is_detached(&self) -> bool {
        self.inner
            .resume
            .as_ref()
            .is_some_and(|r| r.is_detached() && !self.is_closed())
    }

    pub(crate) fn resume_token(&self) -> Option<&str> {
        self.inner.resume.as_ref().map(|r| r.token.as_str())
    }

    pub(crate) fn resume_state(&self) -> Option<&ResumeState> {
        self.inner.resume.as_ref()
    }

    /// Waits until the connection is detached (or has ended).
    pub(crate) async fn detached(&self) {
        let Some(r) = &self.inner.resume else {
            return std::future::pending().await;
        };
        loop {
            let changed = r.changed.notified();
            if r.is_detached() {
                return;
            }
            tokio::select! {
                _ = changed => {}
                _ = self.inner.shutdown.cancelled() => return,
            }
        }
    }

    /// Sets the hook told when the session loses its socket.
    pub(crate) fn on_detach(&self, hook: impl Fn(&Connection, &Error) + Send + Sync + 'static) {
        *self
            .inner
            .on_detach
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Box::new(hook));
    }

    /// The socket was lost (read or write error, heartbeat timeout): a
    /// resumable session detaches and waits for a resume, any other
    /// connection fails.
    fn lose(&self, link: &Link, error: Error) {
        let inner = &self.inner;
        let Some(r) = &inner.resume else {
            self.fail(error);
            return;
        };
        if inner.drain.is_draining() || self.is_closed() {
            self.fail(error);
            return;
        }
        if link.state.lost.swap(true, Ordering::SeqCst) {
            return;
        }
        link.cancel.cancel();
        let generation = r.generation.load(Ordering::SeqCst);
        r.set_detached(true);
        inner.counters.detached.fetch_add(1, Ordering::Relaxed);
        tracing::info!(id = %inner.id, %error, "connection lost; detached until its client resumes it");
        if let Some(hook) = &*inner
            .on_detach
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            hook(self, &error);
        }
        tokio::spawn(expire(self.clone(), link.clone(), generation, error));
    }

    /// Gives up the current socket, if any, for a resume on a new one, and
    /// waits until its tasks have ended: the counts are then settled.
    /// Returns how many messages this side has received.
    pub(crate) async fn release_link(&self) -> u64 {
        let link = self
            .inner
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(link) = link {
            self.lose(
                &link,
                Error::new(
                    ErrorKind::Closed,
                    "the session was resumed over a new connection",
                ),
            );
            link.wait_exited().await;
        }
        self.inner.resume.as_ref().map_or(0, |r| {
            let mut counts = r.counts();
            // The peer learns the count from the handshake.
            counts.unacked = 0;
            counts.unacked_bytes = 0;
            counts.received
        })
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

    /// The certificate chain the peer presented in TLS, leaf first: on a
    /// server with mutual TLS, the client's; on a `wss://` client, the
    /// server's. Empty without TLS or without a client certificate.
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.inner.peer_certificates
    }

    /// What the server's [`authenticate`](crate::ServerBuilder::authenticate)
    /// hook accepted this client as, if it is a `T`. `None` on a client,
    /// on a server without the hook, or for another type.
    pub fn identity<T: std::any::Any>(&self) -> Option<&T> {
        self.inner.identity.as_deref()?.downcast_ref()
    }

    /// The bytes queued to the peer and not yet written, at most about
    /// [`Config::max_queued_bytes`] (plus one message): what a peer that
    /// does not read costs this side.
    pub fn queued_bytes(&self) -> usize {
        self.inner
            .max_queued
            .saturating_sub(self.inner.room.available_permits())
    }

    /// True once the connection has closed or failed.
    pub fn is_closed(&self) -> bool {
        self.inner.end.borrow().is_some()
    }

    /// Attaches the handler that answers the peer's requests on this
    /// connection, replacing any earlier one. Until a handler is attached the
    /// peer's requests are answered `503 Service Unavailable`.
    pub fn serve(&self, service: impl IntoHandler) {
        self.serve_handler(Handler::new(service));
    }

    pub(crate) fn serve_handler(&self, handler: Handler) {
        *self
            .inner
            .handler
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(handler);
    }

    /// True when both sides negotiated the streaming extension: streamed
    /// bodies interleave and cancellations reach the peer. Without it (a Go
    /// peer) streams go one at a time, in Go's continuation form.
    pub fn supports_streaming(&self) -> bool {
        self.inner.streams
    }

    /// Sends a request to the peer and waits for its whole response.
    ///
    /// Fails at once if the connection is closed, when it closes or fails
    /// while the call is in flight, when the call timeout passes, and when the
    /// connection already has the maximum number of calls in flight. A
    /// streamed response is collected, up to the maximum message size; use
    /// [`call_streaming`](Connection::call_streaming) to take it in pieces.
    /// Dropping the future gives up the call (and, with a peer of this
    /// project, stops the remote handler).
    pub async fn call(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Error> {
        let limit = self.inner.max_message_size;
        let Some(timeout) = self.inner.call_timeout else {
            let (parts, body) = self.call_inner(request, None).await?.into_parts();
            return Ok(Response::from_parts(parts, body.collect(limit).await?));
        };
        if !self.inner.streams {
            // Toward a Go peer a call may wait for its turn and for a
            // streamed answer to finish: a timer of its own covers it all.
            let whole = async {
                let (parts, body) = self.call_inner(request, None).await?.into_parts();
                Ok(Response::from_parts(parts, body.collect(limit).await?))
            };
            return match tokio::time::timeout(timeout, whole).await {
                Ok(result) => result,
                Err(_) => Err(timeout_error(timeout)),
            };
        }
        // The connection's deadline sweep fails the call if its answer has
        // not come by the deadline: no timer per call.
        let deadline = Instant::now() + timeout;
        let (parts, body) = self.call_inner(request, Some(deadline)).await?.into_parts();
        let body = if body.is_streamed() {
            match tokio::time::timeout_at(deadline, body.collect(limit)).await {
                Ok(body) => body?,
                Err(_) => return Err(timeout_error(timeout)),
            }
        } else {
            body.collect(limit).await?
        };
        Ok(Response::from_parts(parts, body))
    }

    /// Sends a request and returns its response as soon as its head
    /// arrives; the body follows chunk by chunk as the peer produces it.
    /// The call timeout applies to the head. Dropping the body before its
    /// end tells the peer to stop.
    pub async fn call_streaming(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<BodyStream>, Error> {
        match self.inner.call_timeout {
            // The deadline sweep watches the call until its head arrives.
            Some(limit) if self.inner.streams => {
                self.call_inner(request, Some(Instant::now() + limit)).await
            }
            Some(limit) => {
                match tokio::time::timeout(limit, self.call_inner(request, None)).await {
                    Ok(result) => result,
                    Err(_) => Err(timeout_error(limit)),
                }
            }
            None => self.call_inner(request, None).await,
        }
    }

    /// Sends a call and waits for its response head. With a `deadline`
    /// (toward a peer of this project only: nothing here waits then but
    /// for the answer), the connection's deadline sweep fails the call when
    /// it passes.
    async fn call_inner(
        &self,
        request: Request<Bytes>,
        deadline: Option<Instant>,
    ) -> Result<Response<BodyStream>, Error> {
        let inner = &self.inner;
        let call_id = inner.next_call.fetch_add(1, Ordering::Relaxed);
        let body_len = request.body().len();
        let spare = if body_len > MAX_FRAME_OUT {
            0
        } else {
            body_len
        };
        let (head, body) = wire::encode_request_split(&request, itoa(call_id).as_str(), spare);
        let size = head.len() + body.len();
        if size > inner.max_message_size {
            return Err(Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "the request is {size} bytes, over the maximum message size of {} bytes",
                    inner.max_message_size
                ),
            ));
        }
        let Some(work) = inner.drain.enter() else {
            return Err(drain::refused());
        };
        let turn = match &inner.turn {
            Some(turn) => Some(self.wait_for_turn(turn).await?),
            None => None,
        };
        // A peer that does not read gets no more calls: fail now rather
        // than queue without bound.
        let room = match inner
            .room
            .clone()
            .try_acquire_many_owned(inner.room_for(size))
        {
            Ok(room) => room,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(self.ended_error()),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                let queued = self.queued_bytes();
                inner.counters.hit(
                    Reason::CallRefused,
                    format_args!("connection {}: {queued} bytes already queued", inner.id),
                );
                return Err(Error::new(
                    ErrorKind::PeerNotReading,
                    format!(
                        "the call was not sent: {queued} bytes are already queued to the peer \
                         (limit {}), it is not reading",
                        inner.max_queued
                    ),
                ));
            }
        };
        let (tx, rx) = oneshot::channel();
        let mut start_sweep = None;
        {
            let mut pending = inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(err) = &pending.ended {
                return Err(err.clone());
            }
            // A call that had to wait for its turn was counted then.
            if turn.is_none() && pending.calls.len() + pending.queued >= inner.max_in_flight {
                return Err(too_many_in_flight(inner.max_in_flight));
            }
            if let (Some(deadline), Some(limit)) = (deadline, inner.call_timeout) {
                match pending.sweep_at {
                    None => {
                        pending.sweep_at = Some(deadline);
                        start_sweep = Some(limit);
                    }
                    // Deadlines grow with the calls; only a call that took
                    // a while between its start and here comes before the
                    // sweep's next look.
                    Some(at) if deadline < at => inner.sweep_wake.notify_one(),
                    Some(_) => {}
                }
            }
            pending.calls.insert(
                call_id,
                Waiter {
                    tx,
                    turn,
                    work,
                    deadline,
                },
            );
        }
        if let Some(limit) = start_sweep {
            tokio::spawn(sweep_deadlines(self.inner.clone(), limit));
        }
        let mut guard = PendingGuard {
            inner,
            call_id,
            armed: true,
        };
        if inner
            .send_reserved(to_outgoing(head, body), room)
            .await
            .is_err()
        {
            return Err(self.ended_error());
        }
        let result = rx.await;
        guard.armed = false;
        match result {
            Ok(result) => result,
            Err(_) => Err(self.ended_error()),
        }
    }

    /// Waits, in order, for the turn to call a Go peer; the wait counts
    /// toward the in-flight limit.
    async fn wait_for_turn(&self, turn: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, Error> {
        let inner = &self.inner;
        {
            let mut pending = inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(err) = &pending.ended {
                return Err(err.clone());
            }
            if pending.calls.len() + pending.queued >= inner.max_in_flight {
                return Err(too_many_in_flight(inner.max_in_flight));
            }
            pending.queued += 1;
        }
        // Leaves the queue whether the turn comes, the connection ends, or
        // the caller gives up (timeout, drop) meanwhile.
        struct Queued<'a>(&'a Inner);
        impl Drop for Queued<'_> {
            fn drop(&mut self) {
                let mut pending = self
                    .0
                    .pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                pending.queued = pending.queued.saturating_sub(1);
            }
        }
        let _queued = Queued(inner);
        // The semaphore is fair: turns come in the order calls asked. It is
        // closed when the connection ends.
        turn.clone()
            .acquire_owned()
            .await
            .map_err(|_| self.ended_error())
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

    /// Shuts the connection down gracefully: from now on, new calls fail
    /// at once and the peer's new requests are answered `503 Service
    /// Unavailable`; the calls and requests under way get up to `grace` to
    /// finish (a streamed body to its end), in both directions. Then the
    /// connection closes with code 1001 (Going Away): whatever is left fails
    /// with an error that says "shutting down", at both ends, and answers
    /// sent before the close frame reach the peer before it. Resolves once
    /// the close frame is sent.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown_with(grace, "shutting down").await;
    }

    pub(crate) async fn shutdown_with(&self, grace: Duration, reason: &str) {
        let drain = &self.inner.drain;
        drain.start();
        let mut finished = self.inner.finished.subscribe();
        let _ = tokio::time::timeout(grace, async {
            tokio::select! {
                _ = drain.idle() => {}
                _ = finished.wait_for(|done| *done) => {}
            }
        })
        .await;
        self.close_with(CloseCode::Away, reason);
        let _ = self.closed().await;
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

/// A detached session that is not resumed within its window fails; one
/// that ends while detached (closed meanwhile) is finished here, as it has
/// no writer to do it.
async fn expire(conn: Connection, link: Link, generation: u64, error: Error) {
    let Some(r) = &conn.inner.resume else { return };
    let window = r.window;
    let still_detached =
        |r: &ResumeState| r.is_detached() && r.generation.load(Ordering::SeqCst) == generation;
    tokio::select! {
        _ = conn.inner.shutdown.cancelled() => {}
        _ = tokio::time::sleep(window) => {
            if still_detached(r) {
                conn.fail(Error::new(
                    ErrorKind::NotResumed,
                    format!(
                        "the connection was lost ({}) and not resumed within the resume \
                         window of {} ms",
                        error.message(),
                        window.as_millis()
                    ),
                ));
            }
        }
    }
    if still_detached(r) && conn.is_closed() {
        link.wait_exited().await;
        conn.inner.finished.send_replace(true);
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
            let removed = self
                .inner
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .calls
                .remove(&self.call_id);
            // The caller gave up before the answer: stop the remote handler.
            if removed.is_some() && self.inner.streams {
                self.inner
                    .send_frame(&Frame::Cancel(StreamKind::Response, itoa(self.call_id)));
            }
        }
    }
}

/// The deadline sweep of a connection's calls (toward a peer of this
/// project): one task and one timer per connection instead of one timer per
/// call. It sleeps until the earliest deadline of the calls in flight (or,
/// with none, one call timeout), fails the calls whose deadline has passed
/// as a timer of their own would have (a timeout error; the peer is told to
/// stop), and ends with the connection.
async fn sweep_deadlines(inner: Arc<Inner>, limit: Duration) {
    loop {
        let wake_at = {
            let pending = inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.ended.is_some() {
                return;
            }
            pending.sweep_at.unwrap_or_else(|| Instant::now() + limit)
        };
        tokio::select! {
            biased;
            _ = inner.shutdown.cancelled() => return,
            _ = inner.sweep_wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
        }
        let now = Instant::now();
        let expired: Vec<(u64, Waiter)> = {
            let mut pending = inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.ended.is_some() {
                return;
            }
            let mut next = now + limit;
            let mut due = Vec::new();
            for (id, waiter) in &pending.calls {
                match waiter.deadline {
                    Some(deadline) if deadline <= now => due.push(*id),
                    Some(deadline) => next = next.min(deadline),
                    None => {}
                }
            }
            pending.sweep_at = Some(next);
            due.into_iter()
                .filter_map(|id| pending.calls.remove(&id).map(|w| (id, w)))
                .collect()
        };
        for (call_id, waiter) in expired {
            let _ = waiter.tx.send(Err(timeout_error(limit)));
            // The caller gave up before the answer: stop the remote handler.
            if inner.streams {
                inner.send_frame(&Frame::Cancel(StreamKind::Response, itoa(call_id)));
            }
        }
    }
}

fn too_many_in_flight(max: usize) -> Error {
    Error::new(
        ErrorKind::TooManyInFlight,
        format!("{max} calls are already waiting for a response on this connection"),
    )
}

fn timeout_error(limit: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("no response within {} ms", limit.as_millis()),
    )
}

/// Tells the producer of a streamed response we consume how we are doing:
/// credit as bytes are taken, a cancel if the body is dropped early.
struct ResponseStreamControl {
    inner: std::sync::Weak<Inner>,
    call_id: u64,
    window: usize,
    ungranted: Mutex<usize>,
}

impl StreamControl for ResponseStreamControl {
    fn consumed(&self, bytes: usize) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let grant = {
            let mut ungranted = self
                .ungranted
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *ungranted += bytes;
            if *ungranted * 2 >= self.window {
                std::mem::take(&mut *ungranted)
            } else {
                0
            }
        };
        if grant > 0 {
            let n = u32::try_from(grant).unwrap_or(u32::MAX);
            inner.send_frame(&Frame::Window(StreamKind::Response, itoa(self.call_id), n));
        }
    }

    fn cancelled(&self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let feed = inner
            .streams_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.call_id);
        if feed.is_some() {
            inner.send_frame(&Frame::Cancel(StreamKind::Response, itoa(self.call_id)));
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
        if let Some(turn) = &self.turn {
            turn.close();
        }
        // Whoever waits for room in the queue gives up.
        self.room.close();
        for (_, waiter) in calls {
            let _ = waiter.tx.send(Err(error.clone()));
        }
        let streams = std::mem::take(
            &mut *self
                .streams_in
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (_, feed) in streams {
            feed.fail(Error::new(
                error.kind(),
                format!("the streamed body was cut: {}", error.message()),
            ));
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

    /// Takes the waiting call `correlation_id` answers out of the table.
    fn take_call(&self, correlation_id: Option<&str>) -> Option<(u64, Waiter)> {
        let Some(text) = correlation_id else {
            self.counters.hit(
                Reason::Malformed,
                format_args!(
                    "connection {}: dropped a response without X-Correlation-Id",
                    self.id
                ),
            );
            return None;
        };
        let found = text.parse::<u64>().ok().and_then(|call_id| {
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .calls
                .remove(&call_id)
                .map(|tx| (call_id, tx))
        });
        if found.is_none() {
            // Late answers to calls that timed out are normal.
            tracing::debug!(
                id = %self.id,
                correlation_id = %crate::log_safe::excerpt(text),
                "dropped a response that matches no call in flight"
            );
        }
        found
    }

    /// More than one call or request under way on this connection.
    fn busy(&self) -> bool {
        let requests = self
            .max_admitted
            .saturating_sub(self.admitted.available_permits());
        requests > 1
            || self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .calls
                .len()
                > 1
    }

    fn complete_call(&self, correlation_id: Option<&str>, result: Result<Response<Bytes>, Error>) {
        if let Some((_, waiter)) = self.take_call(correlation_id) {
            // The turn passes on once the answer is with the caller.
            let _ = waiter.tx.send(result.map(|r| r.map(BodyStream::full)));
        }
    }

    /// A response head whose body is streamed: hands the caller a
    /// [`BodyStream`] and returns the feed for it (`None` if the caller is
    /// gone; with the extension the feed is registered for `@data` frames),
    /// and the call's turn toward a Go peer, to be held until the body's
    /// last chunk has arrived.
    fn start_stream(
        self: &Arc<Self>,
        correlation_id: Option<&str>,
        head: Response<Bytes>,
    ) -> (Option<StreamFeed>, Option<OwnedSemaphorePermit>) {
        let Some((call_id, Waiter { tx, turn, work, .. })) = self.take_call(correlation_id) else {
            if let (true, Some(id)) = (self.streams, correlation_id) {
                self.send_frame(&Frame::Cancel(StreamKind::Response, id.to_owned()));
            }
            return (None, None);
        };
        let control: Option<Arc<dyn StreamControl>> = self.streams.then(|| {
            Arc::new(ResponseStreamControl {
                inner: Arc::downgrade(self),
                call_id,
                window: self.stream_window,
                ungranted: Mutex::new(0),
            }) as Arc<dyn StreamControl>
        });
        let (mut feed, body) = BodyStream::streamed(control);
        feed.hold(work);
        let (parts, _) = head.into_parts();
        if tx.send(Ok(Response::from_parts(parts, body))).is_err() {
            if self.streams {
                self.send_frame(&Frame::Cancel(StreamKind::Response, itoa(call_id)));
            }
            return (None, turn);
        }
        (Some(feed), turn)
    }

    /// Removes the feed of the streamed response to our call `id`.
    fn take_stream(&self, id: &str) -> Option<StreamFeed> {
        let call_id = id.parse::<u64>().ok()?;
        self.streams_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&call_id)
    }

    /// The permits a message of `len` bytes takes in the queue: one larger
    /// than the whole queue waits for it to be empty.
    fn room_for(&self, len: usize) -> u32 {
        u32::try_from(len.min(self.max_queued)).unwrap_or(u32::MAX)
    }

    /// Queues a message once there is room for it (backpressure: this is
    /// where a sender waits for a peer that reads slowly).
    async fn queue(&self, message: Outgoing) -> Result<(), ()> {
        let room = self
            .room
            .clone()
            .acquire_many_owned(self.room_for(message.len()))
            .await
            .map_err(drop)?;
        self.push(message, Some(room))
    }

    fn push(&self, message: Outgoing, room: Option<OwnedSemaphorePermit>) -> Result<(), ()> {
        self.outbound.send(Queued { message, room }).map_err(drop)
    }

    /// Sends a data message once there is room; without the extension it
    /// also waits while a streamed response owns the outbound direction.
    async fn send_data(&self, message: Outgoing) -> Result<(), ()> {
        if self.streams {
            self.queue(message).await
        } else {
            let _order = self.go_order.lock().await;
            self.queue(message).await
        }
    }

    /// Sends a data message whose room is already taken.
    async fn send_reserved(&self, message: Outgoing, room: OwnedSemaphorePermit) -> Result<(), ()> {
        if self.streams {
            self.push(message, Some(room))
        } else {
            let _order = self.go_order.lock().await;
            self.push(message, Some(room))
        }
    }

    /// Queues an extension control frame without waiting: these are a few
    /// dozen bytes each, one per window of data or per cancelled call, so
    /// they are not held to the byte limit and no credit is ever lost.
    fn send_frame(&self, frame: &Frame) {
        let message = to_ws_message(wire::encode_frame(frame));
        let _ = self.push(message, None);
    }

    fn touch(&self, clock: &AtomicU64) {
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        clock.store(now, Ordering::Relaxed);
    }

    /// How long since the peer last showed it is alive: a frame read, or a
    /// batch of data it took.
    fn silent_for(&self) -> Duration {
        let last = self
            .last_inbound
            .load(Ordering::Relaxed)
            .max(self.last_progress.load(Ordering::Relaxed));
        self.born
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }

    async fn respond(
        self: &Arc<Self>,
        response: Response<Body>,
        correlation_id: &str,
        serving: Option<&Serving>,
    ) {
        let (parts, body) = response.into_parts();
        match body.into_kind() {
            BodyKind::Full(bytes) => {
                self.respond_full(Response::from_parts(parts, bytes), correlation_id)
                    .await
            }
            BodyKind::Stream(stream) => match serving {
                Some(serving) => {
                    self.stream_extension(parts, stream, correlation_id, serving)
                        .await
                }
                None => self.stream_go_form(parts, stream, correlation_id).await,
            },
        }
    }

    /// Queues a whole answer if there is room (extension only: no Go-form
    /// ordering to respect); otherwise returns it for the reader to queue,
    /// waiting: no task per answer, and the reader stops reading meanwhile.
    fn respond_now(&self, response: &Response<Bytes>, correlation_id: &str) -> Option<Outgoing> {
        let message = self.encode_answer(response, correlation_id);
        match self
            .room
            .clone()
            .try_acquire_many_owned(self.room_for(message.len()))
        {
            Ok(room) => {
                let _ = self.push(message, Some(room));
                None
            }
            Err(_) => Some(message),
        }
    }

    /// Go form: queues a whole answer if no streamed answer owns the
    /// outbound direction or waits for it, and there is room; otherwise
    /// returns it encoded, for a task to send with [`Inner::send_data`].
    fn respond_now_go_form(
        &self,
        response: &Response<Bytes>,
        correlation_id: &str,
    ) -> Result<(), Outgoing> {
        let message = self.encode_answer(response, correlation_id);
        // The mutex is fair: `try_lock` fails while others wait for it.
        let Ok(_order) = self.go_order.try_lock() else {
            return Err(message);
        };
        match self
            .room
            .clone()
            .try_acquire_many_owned(self.room_for(message.len()))
        {
            Ok(room) => {
                let _ = self.push(message, Some(room));
                Ok(())
            }
            Err(_) => Err(message),
        }
    }

    /// Encodes an answer, replaced by a 500 if it is over the size limit.
    fn encode_answer(&self, response: &Response<Bytes>, correlation_id: &str) -> Outgoing {
        let body_len = response.body().len();
        let spare = if body_len > MAX_FRAME_OUT {
            0
        } else {
            body_len
        };
        let (head, body) = wire::encode_response_split(response, Some(correlation_id), spare);
        let size = head.len() + body.len();
        if size <= self.max_message_size {
            return to_outgoing(head, body);
        }
        tracing::warn!(
            id = %self.id,
            size,
            "handler response exceeds the maximum message size; answering 500"
        );
        let text = format!(
            "the response is {size} bytes, over the maximum message size of {} bytes",
            self.max_message_size
        );
        to_ws_message(wire::encode_response(
            &plain_response(StatusCode::INTERNAL_SERVER_ERROR, text),
            Some(correlation_id),
        ))
    }

    /// A whole answer as the message to queue.
    fn answer_message(&self, response: &Response<Bytes>, correlation_id: &str) -> Outgoing {
        self.encode_answer(response, correlation_id)
    }

    async fn respond_full(&self, response: Response<Bytes>, correlation_id: &str) {
        let message = self.encode_answer(&response, correlation_id);
        // The connection may have ended meanwhile; then there is no one to answer.
        let _ = self.send_data(message).await;
    }

    /// A streamed answer to a peer of this project: the head, then `@data`
    /// frames within the credit the caller grants, then `@end` (or `@error`).
    async fn stream_extension(
        &self,
        parts: http::response::Parts,
        mut stream: ChunkStream,
        correlation_id: &str,
        serving: &Serving,
    ) {
        let head = wire::encode_response_head(&parts, Some(correlation_id), b"");
        if self.send_data(to_ws_message(head)).await.is_err() {
            return;
        }
        let piece_limit = self
            .stream_window
            .min(self.max_message_size.saturating_sub(256))
            .max(1);
        loop {
            let item = tokio::select! {
                _ = serving.cancel.cancelled() => return,
                item = stream.next() => item,
            };
            let frame = match item {
                None => Frame::End(StreamKind::Response, correlation_id.to_owned()),
                Some(Err(error)) => {
                    tracing::warn!(id = %self.id, %error, "a streamed body failed");
                    Frame::Error(
                        StreamKind::Response,
                        correlation_id.to_owned(),
                        error.to_string(),
                    )
                }
                Some(Ok(mut chunk)) => {
                    while !chunk.is_empty() {
                        let n = chunk.len().min(piece_limit);
                        let credit = tokio::select! {
                            _ = serving.cancel.cancelled() => return,
                            credit = serving.credit.acquire_many(u32::try_from(n).unwrap_or(u32::MAX)) => credit,
                        };
                        match credit {
                            Ok(permit) => permit.forget(),
                            Err(_) => return,
                        }
                        let piece = chunk.split_to(n);
                        let frame =
                            Frame::Data(StreamKind::Response, correlation_id.to_owned(), piece);
                        if self
                            .send_data(to_ws_message(wire::encode_frame(&frame)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    continue;
                }
            };
            let _ = self
                .send_data(to_ws_message(wire::encode_frame(&frame)))
                .await;
            return;
        }
    }

    /// A streamed answer in Go's form: the head with the first chunk, then
    /// raw chunks, then the terminating chunk; nothing else is sent
    /// meanwhile, as a Go peer reads the continuation from the next messages.
    async fn stream_go_form(
        self: &Arc<Self>,
        parts: http::response::Parts,
        mut stream: ChunkStream,
        correlation_id: &str,
    ) {
        let _order = self.go_order.lock().await;
        let mut first = true;
        loop {
            let item = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                item = stream.next() => item,
            };
            let (out, last) = match item {
                Some(Ok(chunk)) if !first && chunk.is_empty() => continue,
                Some(Ok(chunk)) if first => (
                    wire::encode_response_head(&parts, Some(correlation_id), &chunk),
                    false,
                ),
                Some(Ok(chunk)) => {
                    let mut out = BytesMut::with_capacity(chunk.len() + 16);
                    wire::put_chunk(&mut out, &chunk);
                    (out, false)
                }
                None if first => {
                    let mut out = wire::encode_response_head(&parts, Some(correlation_id), b"");
                    out.extend_from_slice(wire::LAST_CHUNK);
                    (out, true)
                }
                None => (BytesMut::from(wire::LAST_CHUNK), true),
                Some(Err(error)) => {
                    // Go's form has no way to say a body failed; a truncated
                    // body must not pass for a whole one, so the connection goes.
                    tracing::warn!(id = %self.id, %error, "a streamed body failed; closing (Go form cannot report it)");
                    let conn = Connection {
                        inner: self.clone(),
                    };
                    conn.close_with(CloseCode::Error, "a streamed response failed");
                    return;
                }
            };
            first = false;
            if self.queue(to_ws_message(out)).await.is_err() || last {
                return;
            }
        }
    }
}

fn itoa(n: u64) -> String {
    n.to_string()
}

/// A whole message: text if it is UTF-8, binary otherwise.
fn to_ws_message(frame: BytesMut) -> Outgoing {
    let bytes = frame.freeze();
    let message = match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => WsMessage::Text(text),
        Err(_) => WsMessage::Binary(bytes),
    };
    Outgoing {
        message,
        tail: None,
    }
}

/// A message made of a head and the body that follows it. One that will
/// go out in several frames anyway (over [`MAX_FRAME_OUT`]) keeps the body
/// apart, as frames of its own, instead of copying it behind the head; a
/// smaller one is joined (the peer takes a one-frame message without a
/// copy). Text if the whole is UTF-8, binary otherwise, as for any message
/// (a head ends in CR LF, so head and body are checked apart).
fn to_outgoing(mut head: BytesMut, body: Bytes) -> Outgoing {
    if head.len() + body.len() <= MAX_FRAME_OUT {
        head.extend_from_slice(&body);
        return to_ws_message(head);
    }
    let head = head.freeze();
    let message = match (
        std::str::from_utf8(&body).is_ok(),
        Utf8Bytes::try_from(head.clone()),
    ) {
        (true, Ok(text)) => WsMessage::Text(text),
        _ => WsMessage::Binary(head),
    };
    Outgoing {
        message,
        tail: Some(Box::new(body)),
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

/// The largest websocket frame this side writes. A bigger message goes out
/// as a first frame and continuation frames of this size (RFC 6455 §5.4;
/// the Go original and every websocket library reassemble them), so that
/// neither side's websocket buffers, which tungstenite never shrinks, grow
/// past a frame: one 15 MiB exchange would otherwise leave an idle
/// connection holding 15 MiB on each side for the rest of its life.
const MAX_FRAME_OUT: usize = 64 << 10;

/// Feeds `message` to the sink in frames of at most [`MAX_FRAME_OUT`]
/// (its head and its tail, if kept apart, in frames of their own).
async fn feed_framed<S>(
    sink: &mut SplitSink<WebSocketStream<S>, WsMessage>,
    message: Outgoing,
) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Outgoing { message, tail } = message;
    if tail.is_none() && message.len() <= MAX_FRAME_OUT {
        return sink.feed(message).await;
    }
    // The rare path, boxed: the writer's future (held by every connection,
    // idle or not) keeps only a pointer for it.
    Box::pin(feed_fragments(sink, message, tail)).await
}

/// Feeds a large message as a first frame and continuation frames.
async fn feed_fragments<S>(
    sink: &mut SplitSink<WebSocketStream<S>, WsMessage>,
    message: WsMessage,
    tail: Option<Box<Bytes>>,
) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
    let (head, kind) = match message {
        WsMessage::Binary(data) => (data, Data::Binary),
        WsMessage::Text(text) => (Bytes::from(text), Data::Text),
        other => return sink.feed(other).await,
    };
    let tail = tail.map_or_else(Bytes::new, |tail| *tail);
    let mut opcode = OpCode::Data(kind);
    for (part, last_part) in [(head, tail.is_empty()), (tail, true)] {
        let mut start = 0;
        while start < part.len() {
            let end = (start + MAX_FRAME_OUT).min(part.len());
            let fin = last_part && end == part.len();
            let frame = WsFrame::message(part.slice(start..end), opcode, fin);
            sink.feed(WsMessage::Frame(frame)).await?;
            opcode = OpCode::Data(Data::Continue);
            start = end;
        }
        if last_part {
            break;
        }
    }
    Ok(())
}

async fn write_loop<S>(
    inner: Arc<Inner>,
    mut sink: SplitSink<WebSocketStream<S>, WsMessage>,
    link: Link,
    config: Config,
    peer_received: Option<u64>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Sends one batch: feed while more is queued, flush when the queue is
    // empty or the batch is big enough. The room the messages took is
    // released (into `written`, cleared by the caller) once they are out.
    async fn batch<S>(
        sink: &mut SplitSink<WebSocketStream<S>, WsMessage>,
        rx: &mut mpsc::UnboundedReceiver<Queued>,
        first: Queued,
        busy: bool,
        written: &mut Vec<OwnedSemaphorePermit>,
        resume: Option<&ResumeState>,
    ) -> Result<(), WsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // With other calls or requests under way, let the tasks that are
        // ready run first, so that what they queue joins this batch:
        // otherwise tokio's LIFO slot runs this task right after the first
        // sender and every message gets a write of its own. Alone, the
        // extra scheduler pass would only add latency.
        if busy {
            tokio::task::yield_now().await;
        }
        let mut bytes = first.message.len();
        written.extend(first.room);
        feed_framed(sink, first.message).await?;
        for _ in 1..MAX_BATCH {
            if bytes >= BATCH_BYTES {
                break;
            }
            let Ok(next) = rx.try_recv() else { break };
            record(resume, &next.message);
            bytes += next.message.len();
            written.extend(next.room);
            feed_framed(sink, next.message).await?;
        }
        sink.flush().await
    }

    let conn = Connection {
        inner: inner.clone(),
    };
    let exit = TaskExit(link.state.clone());
    let taken = inner
        .rx_slot
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some(mut rx) = taken else {
        // Cannot happen: the previous writer hands the queue back before
        // a resume attaches a new socket.
        tracing::error!(id = %inner.id, "no outbound queue for the new socket");
        conn.fail(Error::new(ErrorKind::Closed, "the outbound queue is gone"));
        inner.finished.send_replace(true);
        return;
    };
    let resume = inner.resume.as_ref();
    // After a resume, what the peer lacks goes first, in order.
    let mut replay_failed = None;
    if let (Some(r), Some(peer_received)) = (resume, peer_received) {
        let backlog = r.counts().replay_after(peer_received);
        inner
            .counters
            .replayed
            .fetch_add(backlog.len() as u64, Ordering::Relaxed);
        if !backlog.is_empty() {
            tracing::debug!(id = %inner.id, count = backlog.len(), "sending again what the peer lacks");
            let sent = async {
                for message in backlog {
                    feed_framed(&mut sink, message).await?;
                }
                sink.flush().await
            };
            let sent = tokio::select! {
                biased;
                _ = link.cancel.cancelled() => Ok(()),
                _ = inner.shutdown.cancelled() => Ok(()),
                sent = tokio::time::timeout(config.write_stall_timeout, sent) => sent.unwrap_or_else(|_| {
                    Err(WsError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "sending again after a resume stalled",
                    )))
                }),
            };
            replay_failed = sent.err();
        }
    }
    // The heartbeat runs here, between batches: a Ping is never skipped for
    // a full queue, and waits at most one batch.
    let period = config.heartbeat.unwrap_or(Duration::from_secs(3600));
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stall = config.write_stall_timeout;
    let mut written = Vec::new();
    let mut stalled = false;
    let failure = loop {
        if replay_failed.is_some() {
            break replay_failed.take();
        }
        let next = tokio::select! {
            biased;
            _ = inner.shutdown.cancelled() => break None,
            _ = link.cancel.cancelled() => break None,
            _ = ticker.tick(), if config.heartbeat.is_some() => None,
            msg = rx.recv() => match msg {
                Some(msg) => Some(msg),
                None => break None,
            },
        };
        if let Some(first) = &next {
            // Recorded before any wait: a batch abandoned midway is sent
            // again after a resume.
            record(resume, &first.message);
        }
        let data = next.is_some();
        if !data
            && inner.answers_pings.load(Ordering::Relaxed)
            && !inner.go_peer
            && inner.silent_for() >= config.heartbeat_timeout
        {
            // The deadline holds a peer to answering Pings only once it
            // has shown that it does, and never a Go peer, which answers
            // only while something on its side reads (docs/PROTOCOL.md,
            // "Go peers in practice"). Those are watched by write failures
            // and TCP keepalive instead.
            let error = Error::new(
                ErrorKind::HeartbeatTimeout,
                format!(
                    "nothing received from the peer, and nothing taken by it, for {} ms",
                    inner.silent_for().as_millis()
                ),
            );
            if resume.is_some() {
                conn.lose(&link, error);
            } else {
                fail_with_close(&conn, error, CloseCode::Error, "heartbeat timeout");
            }
            break None;
        }
        let work = async {
            match next {
                Some(first) => {
                    batch(
                        &mut sink,
                        &mut rx,
                        first,
                        inner.busy(),
                        &mut written,
                        resume,
                    )
                    .await
                }
                None => sink.send(WsMessage::Ping(config.app_data.clone())).await,
            }
        };
        // tungstenite buffers whole frames, so abandoning a batch when the
        // connection ends leaves the stream consistent for a close frame.
        let sent = tokio::select! {
            biased;
            _ = batch_deadline(&inner) => break None,
            _ = link.cancel.cancelled() => break None,
            sent = tokio::time::timeout(stall, work) => sent,
        };
        match sent {
            Ok(Ok(())) => {
                written.clear();
                // Pings do not count: the kernel takes them whether the
                // peer is there or not.
                if data {
                    inner.touch(&inner.last_progress);
                }
            }
            Ok(Err(e)) => break Some(e),
            Err(_) => {
                inner.counters.hit(
                    Reason::PeerNotReading,
                    format_args!(
                        "connection {}: nothing written for {} ms with {} bytes queued; closing with 1008",
                        inner.id,
                        stall.as_millis(),
                        conn.queued_bytes()
                    ),
                );
                conn.close_with(CloseCode::Policy, "peer is not reading");
                stalled = true;
                break None;
            }
        }
    };
    let mut failure = failure;
    if link.cancel.is_cancelled() || (failure.is_some() && resume.is_some()) {
        if let Some(e) = failure.take() {
            conn.lose(&link, Error::from(e));
        }
        if link.state.lost.load(Ordering::SeqCst) && !conn.is_closed() {
            // Detached: the queue waits for the next socket.
            *inner.rx_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(rx);
            drop(exit);
            return;
        }
    }
    if let Some(e) = failure {
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
            // Send our close frame (or flush the reply to the peer's), best
            // effort; a stalled peer gets a little longer to take it.
            let linger = Duration::from_secs(if stalled { 3 } else { 1 });
            let _ = tokio::time::timeout(linger, async {
                if let Some(frame) = frame {
                    if inner.drain.is_draining() {
                        // A graceful shutdown: the answers queued before the
                        // close go out before it.
                        while let Ok(queued) = rx.try_recv() {
                            feed_framed(&mut sink, queued.message).await?;
                        }
                    }
                    sink.send(WsMessage::Close(Some(frame))).await?;
                }
                sink.close().await
            })
            .await;
        }
    }
    drop(exit);
    inner.finished.send_replace(true);
}

/// Records a message fed to the socket of a resumable session in its
/// replay buffer (acknowledgements are not application messages).
fn record(resume: Option<&ResumeState>, message: &Outgoing) {
    let Some(r) = resume else { return };
    let is_ack = match &message.message {
        WsMessage::Text(text) => resume::is_ack(text.as_bytes()),
        _ => false,
    };
    if !is_ack {
        r.counts().record(message.clone(), message.len());
    }
}

/// When the writer gives up the batch it is sending: at once when the
/// connection ends, up to a second later in a graceful shutdown, so that
/// answers already queued are not lost.
async fn batch_deadline(inner: &Inner) {
    inner.shutdown.cancelled().await;
    if inner.drain.is_draining() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn read_loop<S>(
    conn: Connection,
    mut stream: SplitStream<WebSocketStream<S>>,
    config: Config,
    link: Link,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _exit = TaskExit(link.state.clone());
    let inner = &conn.inner;
    // When the acknowledgement of what was received is due (resume/1):
    // one timer, made on first use and reset when armed (not a new one per
    // message read); nothing for a connection without resume.
    let mut ack_timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut ack_armed = false;
    let mut continuation: Option<Continuation> = None;
    // An answer of the connection's own (a fast handler's, a 503, a 400)
    // that found the queue full: the reader queues it, waiting, before it
    // reads on, so a peer that does not read stops being read.
    let mut deferred: Option<Outgoing> = None;
    let mut pings = PingBudget::new(config.max_pings_per_second);
    let wire_options = wire::DecodeOptions::new(config.wire, inner.max_message_size)
        .continued_requests(inner.go_peer);
    loop {
        if let Some(answer) = deferred.take() {
            let owner = inner.clone();
            let mut sending = Box::pin(async move { owner.send_data(answer).await });
            tokio::select! {
                biased;
                _ = inner.shutdown.cancelled() => {
                    drain_until_close_reply(&conn, &mut stream).await;
                    return;
                }
                _ = link.cancel.cancelled() => {
                    // Detached: the answer goes out after the resume.
                    tokio::spawn(sending);
                    return;
                }
                _ = &mut sending => {}
            }
        }
        let item = tokio::select! {
            biased;
            _ = inner.shutdown.cancelled() => {
                cut_short(&conn, continuation.take());
                drain_until_close_reply(&conn, &mut stream).await;
                return;
            }
            _ = link.cancel.cancelled() => return,
            _ = async {
                match ack_timer.as_mut() {
                    Some(timer) => timer.as_mut().await,
                    None => std::future::pending().await,
                }
            }, if ack_armed => {
                ack_armed = false;
                send_ack(inner);
                continue;
            }
            item = stream.next() => item,
        };
        inner.touch(&inner.last_inbound);
        let message = match item {
            None => {
                conn.lose(
                    &link,
                    Error::new(
                        ErrorKind::Closed,
                        "the peer closed the socket without a close frame",
                    ),
                );
                return;
            }
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                too_large(&conn, size, max_size);
                return;
            }
            Some(Err(e)) => {
                let close = close_for(&e);
                let error = Error::from(e);
                match close {
                    Some((code, reason)) => {
                        inner.counters.hit(
                            Reason::ProtocolError,
                            format_args!(
                                "connection {}: {error}; closing with {}",
                                inner.id,
                                u16::from(code)
                            ),
                        );
                        fail_with_close(&conn, error, code, reason)
                    }
                    None => conn.lose(&link, error),
                }
                return;
            }
            Some(Ok(message)) => message,
        };
        let data: Bytes = match message {
            WsMessage::Text(text) => text.into(),
            WsMessage::Binary(bytes) => bytes,
            WsMessage::Ping(data) => {
                if !pings.take() {
                    inner.counters.hit(
                        Reason::PingFlood,
                        format_args!(
                            "connection {}: more than {} Pings a second; closing with 1008",
                            inner.id, config.max_pings_per_second
                        ),
                    );
                    let error = Error::new(
                        ErrorKind::Protocol,
                        format!(
                            "the peer sent more than {} Pings a second",
                            config.max_pings_per_second
                        ),
                    );
                    fail_with_close(&conn, error, CloseCode::Policy, "ping flood");
                    return;
                }
                if let Some(hook) = &config.on_ping {
                    hook(&data);
                }
                continue;
            }
            WsMessage::Pong(data) => {
                inner.answers_pings.store(true, Ordering::Relaxed);
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
                cut_short(&conn, continuation.take());
                return;
            }
            WsMessage::Frame(_) => continue,
        };
        if let Some(r) = &inner.resume {
            if resume::is_ack(&data) {
                let acked = resume::parse_ack(&data).and_then(|n| r.counts().acknowledge(n));
                if let Err(why) = acked {
                    let error = Error::new(ErrorKind::Protocol, why);
                    fail_with_close(
                        &conn,
                        error,
                        CloseCode::Protocol,
                        "malformed acknowledgement",
                    );
                    return;
                }
                continue;
            }
            if r.counts().received(data.len()) {
                ack_armed = false;
                send_ack(inner);
            } else if !ack_armed {
                ack_armed = true;
                let due = Instant::now() + resume::ACK_DELAY;
                match ack_timer.as_mut() {
                    Some(timer) => timer.as_mut().reset(due),
                    None => ack_timer = Some(Box::pin(tokio::time::sleep_until(due))),
                }
            }
        }
        if inner.streams && wire::is_frame(&data) {
            if let Err(why) = on_frame(inner, &data) {
                tracing::warn!(id = %conn.id(), %why, "bad stream frame");
            }
            continue;
        }
        if let Some(mut open) = continuation.take() {
            // Go's form: this message carries further chunks of the last one.
            match open.feed(&conn, &data) {
                Ok(Fed::More) => continuation = Some(open),
                Ok(Fed::Done(answer)) => deferred = answer,
                Ok(Fed::Backlog(shared)) => {
                    shared.wait_below(inner.stream_window).await;
                    // Waiting on the consumer is not the peer's silence.
                    inner.touch(&inner.last_inbound);
                    continuation = Some(open);
                }
                Err(FedError::TooLarge(total)) => {
                    too_large(&conn, total, inner.max_message_size);
                    return;
                }
                Err(FedError::Bad(e)) => {
                    let error = Error::new(
                        ErrorKind::Protocol,
                        format!("undecodable continuation of a chunked message: {e}"),
                    );
                    fail_with_close(
                        &conn,
                        error,
                        CloseCode::Protocol,
                        "undecodable chunked message",
                    );
                    return;
                }
            }
            continue;
        }
        match wire::decode_with(&data, &wire_options) {
            Ok(Decode::Complete(decoded)) => deferred = dispatch(&conn, decoded),
            Ok(Decode::Partial { head, rest }) => {
                let mut open = match head.message {
                    Message::Response(response) => {
                        let (feed, turn) =
                            inner.start_stream(head.correlation_id.as_deref(), response);
                        if inner.streams {
                            // The body follows in @data frames.
                            let call_id = head
                                .correlation_id
                                .as_deref()
                                .and_then(|c| c.parse::<u64>().ok());
                            if let (Some(feed), Some(call_id)) = (feed, call_id) {
                                let mut first = wire::ChunkDecoder::with_options(&wire_options);
                                for chunk in first.feed(&rest).unwrap_or_default() {
                                    feed.push(chunk);
                                }
                                inner
                                    .streams_in
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .insert(call_id, feed);
                            }
                            continue;
                        }
                        Continuation::Response {
                            feed,
                            decoder: wire::ChunkDecoder::with_options(&wire_options),
                            _turn: turn,
                        }
                    }
                    Message::Request(request) => Continuation::Request {
                        head: Box::new(request),
                        correlation_id: head.correlation_id,
                        decoder: wire::ChunkDecoder::with_options(&wire_options),
                        body: BytesMut::new(),
                    },
                };
                match open.feed(&conn, &rest) {
                    Ok(Fed::More) | Ok(Fed::Backlog(_)) => continuation = Some(open),
                    Ok(Fed::Done(answer)) => deferred = answer,
                    Err(FedError::TooLarge(total)) => {
                        too_large(&conn, total, inner.max_message_size);
                        return;
                    }
                    Err(FedError::Bad(e)) => deferred = malformed(&conn, &data, e),
                }
            }
            Err(e) => deferred = malformed(&conn, &data, e),
        }
    }
}

/// Acknowledges what was received (resume/1), if anything is new.
fn send_ack(inner: &Inner) {
    let Some(r) = &inner.resume else { return };
    let Some(count) = r.counts().take_ack() else {
        return;
    };
    let text = Utf8Bytes::try_from(resume::encode_ack(count)).unwrap_or_default();
    let _ = inner.push(
        Outgoing {
            message: WsMessage::Text(text),
            tail: None,
        },
        None,
    );
}

/// A streamed body in Go's form still arriving when the connection closes:
/// its consumer learns why (say, the peer is shutting down), not only that
/// the body was cut.
fn cut_short(conn: &Connection, open: Option<Continuation>) {
    if let Some(Continuation::Response {
        feed: Some(feed), ..
    }) = open
    {
        let why = conn.ended_error();
        feed.fail(Error::new(
            why.kind(),
            format!("the streamed body was cut: {}", why.message()),
        ));
    }
}

/// A chunked message that continues in the peer's next messages (Go's form).
enum Continuation {
    /// A response whose body is handed to the caller chunk by chunk.
    Response {
        feed: Option<StreamFeed>,
        decoder: wire::ChunkDecoder,
        /// The call's turn toward a Go peer: the peer's writer is busy
        /// until the last chunk.
        _turn: Option<OwnedSemaphorePermit>,
    },
    /// A request, collected whole before it is dispatched.
    Request {
        head: Box<Request<Bytes>>,
        correlation_id: Option<String>,
        decoder: wire::ChunkDecoder,
        body: BytesMut,
    },
}

/// What feeding a continuation did.
enum Fed {
    More,
    /// The message is whole; with an answer for the reader to queue.
    Done(Option<Outgoing>),
    /// The consumer is behind: wait before reading on.
    Backlog(Arc<crate::body::StreamShared>),
}

/// Why feeding a continuation failed.
enum FedError {
    TooLarge(usize),
    Bad(wire::WireError),
}

impl Continuation {
    fn feed(&mut self, conn: &Connection, data: &[u8]) -> Result<Fed, FedError> {
        match self {
            Continuation::Response { feed, decoder, .. } => {
                let chunks = decoder.feed(data).map_err(|e| {
                    if let Some(feed) = feed.take() {
                        feed.fail(Error::new(
                            ErrorKind::Protocol,
                            format!("the streamed body is undecodable: {e}"),
                        ));
                    }
                    FedError::Bad(e)
                })?;
                if let Some(f) = feed {
                    for chunk in chunks {
                        if !f.push(chunk) {
                            // The caller dropped the body; keep reading the
                            // continuation so the connection stays in step.
                            *feed = None;
                            break;
                        }
                    }
                }
                if decoder.is_done() {
                    if let Some(feed) = feed.take() {
                        feed.finish();
                    }
                    return Ok(Fed::Done(None));
                }
                match feed {
                    Some(f) if f.shared.buffered() > conn.inner.stream_window => {
                        Ok(Fed::Backlog(f.shared.clone()))
                    }
                    _ => Ok(Fed::More),
                }
            }
            Continuation::Request {
                head,
                correlation_id,
                decoder,
                body,
            } => {
                let chunks = decoder.feed(data).map_err(FedError::Bad)?;
                for chunk in chunks {
                    body.extend_from_slice(&chunk);
                }
                let total = body.len() + decoder.buffered();
                if total > conn.inner.max_message_size {
                    return Err(FedError::TooLarge(total));
                }
                if !decoder.is_done() {
                    return Ok(Fed::More);
                }
                let mut request = Request::new(std::mem::take(body).freeze());
                *request.method_mut() = head.method().clone();
                *request.uri_mut() = head.uri().clone();
                *request.version_mut() = head.version();
                *request.headers_mut() = std::mem::take(head.headers_mut());
                Ok(Fed::Done(dispatch(
                    conn,
                    Decoded {
                        correlation_id: correlation_id.take(),
                        message: Message::Request(request),
                    },
                )))
            }
        }
    }
}

/// A streaming-extension frame from the peer.
fn on_frame(inner: &Arc<Inner>, data: &Bytes) -> Result<(), wire::WireError> {
    match wire::decode_frame(data)? {
        Frame::Data(StreamKind::Response, id, chunk) => {
            let Ok(call_id) = id.parse::<u64>() else {
                return Ok(());
            };
            let mut streams = inner
                .streams_in
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(feed) = streams.get(&call_id) else {
                // Frames still in flight after a cancel: nothing to do.
                return Ok(());
            };
            let over = feed.shared.buffered() + chunk.len() > inner.stream_window * 2;
            if over || !feed.push(chunk) {
                if let Some(feed) = streams.remove(&call_id) {
                    if over {
                        feed.fail(Error::new(
                            ErrorKind::Protocol,
                            "the peer sent more than the flow-control window allows",
                        ));
                    }
                }
                drop(streams);
                inner.send_frame(&Frame::Cancel(StreamKind::Response, id));
            }
        }
        Frame::End(StreamKind::Response, id) => {
            if let Some(feed) = inner.take_stream(&id) {
                feed.finish();
            }
        }
        Frame::Error(StreamKind::Response, id, message) => {
            if let Some(feed) = inner.take_stream(&id) {
                feed.fail(Error::new(
                    ErrorKind::Protocol,
                    format!("the peer's streamed body failed: {message}"),
                ));
            }
        }
        Frame::Cancel(StreamKind::Response, id) => {
            if let Some(serving) = inner
                .serving
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&id)
            {
                serving.cancel.cancel();
            }
        }
        Frame::Window(StreamKind::Response, id, n) => {
            if let Some(serving) = inner
                .serving
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&id)
            {
                // Credit never piles up past a few windows, whatever the peer
                // grants (the semaphore would overflow).
                let room =
                    (inner.stream_window * 4).saturating_sub(serving.credit.available_permits());
                serving
                    .credit
                    .add_permits(usize::try_from(n).unwrap_or(0).min(room));
            }
        }
        // Streamed request bodies are not sent by this version.
        Frame::Data(StreamKind::Request, ..)
        | Frame::End(StreamKind::Request, _)
        | Frame::Error(StreamKind::Request, ..)
        | Frame::Cancel(StreamKind::Request, _)
        | Frame::Window(StreamKind::Request, ..) => {}
    }
    Ok(())
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

/// Ends the connection with `error` and sends a close frame saying why
/// (best effort: the socket may already be gone).
fn fail_with_close(conn: &Connection, error: Error, code: CloseCode, reason: &str) {
    tracing::warn!(id = %conn.id(), %error, code = u16::from(code), "closing on a fatal error");
    conn.inner.terminate(
        conn,
        End::Failed(error),
        Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        }),
    );
}

/// The close frame a read error calls for, if the socket can still carry one.
fn close_for(error: &WsError) -> Option<(CloseCode, &'static str)> {
    match error {
        WsError::Utf8(_) => Some((CloseCode::Invalid, "invalid UTF-8 in a text message")),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some((CloseCode::Protocol, "websocket protocol error")),
        WsError::Capacity(_) => Some((CloseCode::Size, "message too large")),
        WsError::AttackAttempt => Some((CloseCode::Policy, "attack attempt")),
        WsError::Io(e)
            if e.get_ref()
                .is_some_and(|e| e.is::<crate::peer_io::TooManyFragments>()) =>
        {
            Some((CloseCode::Size, "too many frames in one message"))
        }
        _ => None,
    }
}

fn too_large(conn: &Connection, size: usize, max: usize) {
    let error = Error::new(
        ErrorKind::MessageTooLarge,
        format!("a message of {size} bytes exceeds the maximum of {max} bytes"),
    );
    conn.inner.counters.hit(
        Reason::ProtocolError,
        format_args!("connection {}: {error}; closing with 1009", conn.inner.id),
    );
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
/// Returns the 400 answer for the reader to queue.
fn malformed(conn: &Connection, buf: &[u8], error: wire::WireError) -> Option<Outgoing> {
    let correlation_id = wire::sniff_correlation_id(buf);
    conn.inner.counters.hit(
        Reason::Malformed,
        format_args!("connection {}: undecodable message: {error}", conn.inner.id),
    );
    let correlation_id = correlation_id?;
    if wire::is_response(buf) {
        conn.inner.complete_call(
            Some(&correlation_id),
            Err(Error::new(
                ErrorKind::Protocol,
                format!("the peer's response could not be decoded: {error}"),
            )),
        );
        None
    } else {
        let response = plain_response(
            StatusCode::BAD_REQUEST,
            format!("malformed request: {error}"),
        );
        Some(conn.inner.answer_message(&response, &correlation_id))
    }
}

/// A budget of Pings: a burst of `rate`, refilled at `rate` a second.
struct PingBudget {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl PingBudget {
    fn new(rate: u32) -> Self {
        PingBudget {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            at: Instant::now(),
        }
    }

    /// Takes one Ping from the budget; false when it is spent.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Hands a request to the handler (or a response to its call). Returns an
/// answer the reader must queue itself, waiting for room: a fast handler's
/// that found the queue full, a 503 or a 409.
fn dispatch(conn: &Connection, decoded: Decoded) -> Option<Outgoing> {
    let Decoded {
        correlation_id,
        message,
    } = decoded;
    let mut request = match message {
        Message::Response(response) => {
            conn.inner
                .complete_call(correlation_id.as_deref(), Ok(response));
            return None;
        }
        Message::Request(request) => request,
    };
    let inner = conn.inner.clone();
    let Some(correlation_id) = correlation_id else {
        inner.counters.hit(
            Reason::Malformed,
            format_args!(
                "connection {}: dropped a request without X-Correlation-Id \
                 (its sender could not match an answer)",
                inner.id
            ),
        );
        return None;
    };
    let refuse = |status: StatusCode, reason: Reason, text: String| {
        inner.counters.hit(
            reason,
            format_args!(
                "connection {}: answered {}: {text}",
                inner.id,
                status.as_u16()
            ),
        );
        Some(inner.answer_message(&plain_response(status, text), &correlation_id))
    };
    // Two requests in progress under one id would answer, cancel and
    // credit each other.
    if inner.streams
        && inner
            .serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&correlation_id)
    {
        return refuse(
            StatusCode::CONFLICT,
            Reason::DuplicateId,
            "this X-Correlation-Id belongs to a request still in progress".to_owned(),
        );
    }
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
        return Some(inner.answer_message(&response, &correlation_id));
    };
    let Ok(admitted) = inner.admitted.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            Reason::RequestRefused,
            format!(
                "too many requests in progress on this connection (limit {})",
                inner.max_admitted
            ),
        );
    };
    let size = request_size(&request).min(inner.max_inbound);
    let Ok(bytes) = inner
        .inbound_room
        .clone()
        .try_acquire_many_owned(u32::try_from(size).unwrap_or(u32::MAX))
    else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            Reason::RequestRefused,
            format!(
                "too many request bytes in progress on this connection (limit {} bytes)",
                inner.max_inbound
            ),
        );
    };
    let admission = (admitted, bytes);
    let Some(work) = inner.drain.enter() else {
        // A graceful shutdown began: answered 503 (the answer still goes
        // out before the close frame).
        let response = plain_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down: this side takes no new requests".to_owned(),
        );
        return Some(inner.answer_message(&response, &correlation_id));
    };
    request.extensions_mut().insert(conn.clone());
    // Fast path: most handlers answer without waiting. Poll the handler once
    // here; if it is done, answer without a task of its own. A handler that
    // is pending moves into a task, which polls it again with a real waker.
    let started = match inner.running.clone().try_acquire_owned() {
        Err(_) => Err(request),
        Ok(running) => {
            let mut work = AssertUnwindSafe(handler.call(request)).catch_unwind();
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match Pin::new(&mut work).poll(&mut cx) {
                Poll::Ready(outcome) => {
                    drop(running);
                    let response = handler_response(&inner, outcome);
                    if !response.body().is_stream() {
                        let response = response.map(|b| b.into_full());
                        if inner.streams {
                            return inner.respond_now(&response, &correlation_id);
                        }
                        // Go form: queued at once only if no streamed answer
                        // owns the outbound direction (nor waits for it) and
                        // there is room; otherwise a task waits for both.
                        let message = match inner.respond_now_go_form(&response, &correlation_id) {
                            Ok(()) => return None,
                            Err(message) => message,
                        };
                        tokio::spawn(async move {
                            let _admission = admission;
                            let _work = work;
                            let _ = inner.send_data(message).await;
                        });
                        return None;
                    }
                    // Streamed answers need a task.
                    let serving = register_serving(&inner, &correlation_id);
                    tokio::spawn(async move {
                        let _admission = admission;
                        let _work = work;
                        let _registered = ServingGuard {
                            inner: &inner,
                            correlation_id: serving.is_some().then_some(correlation_id.as_str()),
                        };
                        inner
                            .respond(response, &correlation_id, serving.as_ref())
                            .await;
                    });
                    return None;
                }
                Poll::Pending => Ok((work, running)),
            }
        }
    };
    // With the extension the caller can cancel: the handler's future is
    // then dropped, as it is when the connection ends.
    let serving = register_serving(&inner, &correlation_id);
    let cancel = serving
        .as_ref()
        .map_or_else(|| inner.shutdown.clone(), |s| s.cancel.clone());
    tokio::spawn(async move {
        let _admission = admission;
        let _work = work;
        let _registered = ServingGuard {
            inner: &inner,
            correlation_id: serving.is_some().then_some(correlation_id.as_str()),
        };
        let work = async {
            match started {
                Ok((work, _running)) => work.await,
                Err(request) => {
                    let _running = inner.running.acquire().await;
                    AssertUnwindSafe(handler.call(request)).catch_unwind().await
                }
            }
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            // The caller went away: nobody can receive the answer.
            _ = cancel.cancelled() => return,
        };
        let response = handler_response(&inner, outcome);
        inner
            .respond(response, &correlation_id, serving.as_ref())
            .await;
    });
    None
}

/// What a request weighs while it is in progress: its body and headers.
fn request_size(request: &Request<Bytes>) -> usize {
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    request.body().len() + headers + 64
}

/// Registers a request being served so that the caller can cancel it and
/// grant credit (extension only).
fn register_serving(inner: &Inner, correlation_id: &str) -> Option<Serving> {
    inner.streams.then(|| {
        let serving = Serving {
            cancel: inner.shutdown.child_token(),
            credit: Arc::new(Semaphore::new(inner.stream_window)),
        };
        let registered = Serving {
            cancel: serving.cancel.clone(),
            credit: serving.credit.clone(),
        };
        inner
            .serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(correlation_id.to_owned(), registered);
        serving
    })
}

/// The handler's answer, or the 500 that replaces its error or panic.
fn handler_response(
    inner: &Inner,
    outcome: Result<Result<Response<Body>, BoxError>, Box<dyn std::any::Any + Send>>,
) -> Response<Body> {
    match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            tracing::warn!(id = %inner.id, %error, "handler returned an error; answering 500");
            plain_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("handler error: {error}"),
            )
            .map(Body::from)
        }
        Err(_) => {
            tracing::error!(id = %inner.id, "handler panicked; answering 500");
            plain_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the handler panicked while serving this request".to_owned(),
            )
            .map(Body::from)
        }
    }
}

/// Removes a served request from the table when its task ends.
struct ServingGuard<'a> {
    inner: &'a Inner,
    correlation_id: Option<&'a str>,
}

impl Drop for ServingGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.correlation_id {
            self.inner
                .serving
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id);
        }
    }
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
