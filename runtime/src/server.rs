//! The websocket server: listener, upgrade, handshake, registry, events.

use crate::auth::{self, Authenticator, Identity, Reject, UpgradeRequest};
use crate::auth::{MetadataCheck, MetadataRequest};
use crate::config::Config;
use crate::connection::{Connection, ConnectionId, End, Setup};
use crate::error::{Error, ErrorKind};
use crate::event::{Event, Events, EVENT_CAPACITY};
use crate::handler::{Handler, IntoHandler};
use crate::handshake;
use crate::peer_io::PeerIo;
use crate::stats::{Counters, Reason, Stats};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as UpgradeHttpRequest, Response as UpgradeHttpResponse,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// Configures and starts a [`Server`].
///
/// ```no_run
/// # async fn run() -> Result<(), swaggersocket::Error> {
/// use swaggersocket::{service_fn, Server};
/// let server = Server::builder()
///     .serve(service_fn(|req: http::Request<bytes::Bytes>| async move {
///         Ok::<_, std::convert::Infallible>(http::Response::new(req.into_body()))
///     }))
///     .bind("127.0.0.1:0")
///     .await?;
/// println!("listening on {}", server.local_addr());
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct ServerBuilder {
    config: Config,
    handler: Option<Handler>,
    check: Option<MetadataCheck>,
    upgrade: UpgradePolicy,
    max_connections: Option<usize>,
    max_handshakes: Option<usize>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The default of [`ServerBuilder::max_connections`].
const MAX_CONNECTIONS: usize = 10_000;
/// The default of [`ServerBuilder::max_handshakes`].
const MAX_HANDSHAKES: usize = 1_024;

/// What the server checks in the HTTP upgrade request.
#[derive(Clone, Default)]
pub(crate) struct UpgradePolicy {
    authenticate: Option<Authenticator>,
    origins: Option<Vec<String>>,
    pub(crate) subprotocols: Vec<String>,
}

impl UpgradePolicy {
    /// Whether the request head must be read before the upgrade.
    fn reads_head(&self) -> bool {
        self.authenticate.is_some() || self.origins.is_some()
    }
}

impl fmt::Debug for UpgradePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradePolicy")
            .field("authenticate", &self.authenticate.is_some())
            .field("origins", &self.origins)
            .field("subprotocols", &self.subprotocols)
            .finish()
    }
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("handler", &self.handler.is_some())
            .field("check_metadata", &self.check.is_some())
            .field("upgrade", &self.upgrade)
            .field("max_connections", &self.max_connections)
            .field("max_handshakes", &self.max_handshakes)
            .field("tls", &self.has_tls())
            .finish()
    }
}

impl ServerBuilder {
    fn has_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Serves `wss://`: every stream the server takes (from its listener,
    /// [`serve_with_incoming`](ServerBuilder::serve_with_incoming) or
    /// [`Server::accept_stream`]) starts with a TLS handshake under
    /// `config`. Ask for client certificates in `config` (a
    /// `WebPkiClientVerifier`) for mutual TLS; the client's chain is then
    /// [`Connection::peer_certificates`]. Build `config` with
    /// `builder_with_provider(`[`tls::crypto_provider`](crate::tls::crypto_provider)`())`.
    ///
    /// A plain `ws://` request on a TLS listener is answered `400 Bad
    /// Request` in plain HTTP, saying to use `wss://`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: impl Into<Arc<rustls::ServerConfig>>) -> Self {
        self.tls = Some(tokio_rustls::TlsAcceptor::from(config.into()));
        self
    }

    /// Serves `wss://` with a PEM certificate chain and its PEM private key
    /// (no client certificates); see [`tls`](ServerBuilder::tls).
    #[cfg(feature = "tls")]
    pub fn tls_pem_files(
        self,
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self, Error> {
        let config = crate::tls::server_config_from_pem_files(cert, key)?;
        Ok(self.tls(config))
    }

    /// Limits, timeouts and heartbeat of every connection.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// How many connections the server holds at once, counting those still
    /// in their upgrade and handshake (default 10,000). Past it, an upgrade
    /// request is answered with a plain `HTTP/1.1 503 Service Unavailable`
    /// and the socket closed; see [`Server::stats`]. The default is far
    /// beyond what one client needs and keeps memory bounded (each idle
    /// connection costs tens of kilobytes).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n.max(1));
        self
    }

    /// How many sockets may be in their TLS handshake, HTTP upgrade and
    /// swaggersocket handshake at once (default 1,024). Past it a new socket
    /// is closed at once, unread: stalled handshakes (slowloris) cost at
    /// most this many sockets for at most the
    /// [`handshake_timeout`](Config::handshake_timeout), which covers the
    /// TLS handshake, the HTTP upgrade and the three messages together.
    pub fn max_handshakes(mut self, n: usize) -> Self {
        self.max_handshakes = Some(n.max(1));
        self
    }

    /// Serves the API on every connection, from the moment its handshake is
    /// done (so no request of the client's can arrive before it). A
    /// connection can still get its own handler with [`Connection::serve`].
    pub fn serve(mut self, service: impl IntoHandler) -> Self {
        self.handler = Some(Handler::new(service));
        self
    }

    /// Accepts or rejects a client by the metadata of its handshake; a
    /// rejected client is closed with code 1008 and the returned reason.
    /// (One metadata hook per server: this replaces an
    /// [`authenticate_metadata`](ServerBuilder::authenticate_metadata).)
    pub fn check_metadata(
        mut self,
        check: impl Fn(&serde_json::Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(move |request: MetadataRequest| {
            let verdict = check(request.metadata()).map(|()| None);
            Box::pin(std::future::ready(verdict))
        }));
        self
    }

    /// Authenticates every client by the metadata of its handshake, the
    /// second stage after [`authenticate`](ServerBuilder::authenticate):
    /// for a browser, which cannot set headers on the upgrade, the token
    /// can come in the metadata (`{"token": …}`). The hook (async) sees
    /// the metadata, the remote address, the TLS client certificates and
    /// the upgrade's identity ([`MetadataRequest::identity`]).
    /// `Ok(identity)` accepts and makes `identity` the connection's
    /// [`Connection::identity`], replacing the upgrade's; `Err(reason)`
    /// closes the websocket with 1008 and the reason (the upgrade is
    /// already done, so there is no HTTP status). It runs within the
    /// handshake timeout. One metadata hook per server: this replaces a
    /// [`check_metadata`](ServerBuilder::check_metadata).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), swaggersocket::Error> {
    /// #[derive(Debug)]
    /// struct User(String);
    /// let server = swaggersocket::Server::builder()
    ///     .authenticate_metadata(|req| async move {
    ///         match req.metadata()["token"].as_str() {
    ///             Some("token-of-alice") => Ok(User("alice".into())),
    ///             _ => Err("a valid token is required in the metadata".to_owned()),
    ///         }
    ///     })
    ///     .bind("0.0.0.0:8443")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn authenticate_metadata<F, Fut, T>(mut self, hook: F) -> Self
    where
        F: Fn(MetadataRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.check = Some(Arc::new(move |request| {
            let verdict = hook(request);
            Box::pin(async move {
                verdict
                    .await
                    .map(|id| Some(Arc::new(id) as crate::auth::Identity))
            })
        }));
        self
    }

    /// Authenticates every client at its HTTP upgrade, before any websocket
    /// exists. The hook (async: it may ask a remote service) sees the
    /// request's method, URI with its query, headers (`Authorization`,
    /// `Origin`, cookies), the remote address and the TLS client
    /// certificates. `Ok(identity)` accepts: the identity, of any type, is
    /// then [`Connection::identity`] (and `Context::identity` in generated
    /// handlers). `Err(Reject)` answers with its HTTP status and body (401,
    /// 403, 429, …) and closes the socket.
    ///
    /// The hook runs within the handshake timeout (past it the client gets
    /// a 503). A metadata hook
    /// ([`authenticate_metadata`](ServerBuilder::authenticate_metadata) or
    /// [`check_metadata`](ServerBuilder::check_metadata)) still runs after
    /// it, on the handshake's metadata.
    ///
    /// ```no_run
    /// use swaggersocket::{Reject, Server};
    /// # async fn run() -> Result<(), swaggersocket::Error> {
    /// #[derive(Debug)]
    /// struct Device(String);
    /// let server = Server::builder()
    ///     .authenticate(|req| async move {
    ///         match req.bearer_token() {
    ///             Some("secret-of-sensor-7") => Ok(Device("sensor-7".into())),
    ///             _ => Err(Reject::unauthorized("a valid bearer token is required")),
    ///         }
    ///     })
    ///     .bind("0.0.0.0:8443")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn authenticate<F, Fut, T>(mut self, hook: F) -> Self
    where
        F: Fn(UpgradeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Reject>> + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.upgrade.authenticate = Some(Arc::new(move |request| {
            let verdict = hook(request);
            Box::pin(async move { verdict.await.map(|id| Arc::new(id) as Identity) })
        }));
        self
    }

    /// Accepts browsers only from these origins (`https://app.example`,
    /// compared exactly): an upgrade whose `Origin` header is not listed is
    /// answered `403 Forbidden`. A request without `Origin` (devices, the
    /// Go client, any non-browser) is not affected; authenticate those.
    /// Checked before [`authenticate`](ServerBuilder::authenticate).
    pub fn allow_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.upgrade
            .origins
            .get_or_insert_with(Vec::new)
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Websocket subprotocols the server speaks: when a client offers some
    /// in `Sec-WebSocket-Protocol`, the first it offers that is in this
    /// list is selected in the upgrade response. A browser can only pass a
    /// token in that header, next to a protocol name the server selects
    /// (see the README); the authentication hook reads the offer with
    /// [`UpgradeRequest::protocols`].
    pub fn subprotocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.upgrade
            .subprotocols
            .extend(protocols.into_iter().map(Into::into));
        self
    }

    /// Binds `addr` and starts accepting connections.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::with_source(ErrorKind::Io, "binding the listener failed", e))?;
        self.listen(listener)
    }

    /// Starts accepting connections on a listener the caller bound.
    ///
    /// Accepted sockets get `TCP_NODELAY` and TCP keepalive (see
    /// [`Config`]) before the websocket upgrade.
    pub fn listen(self, listener: TcpListener) -> Result<Server, Error> {
        let local_addr = listener.local_addr().map_err(|e| {
            Error::with_source(ErrorKind::Io, "the listener has no local address", e)
        })?;
        let server = self.start(Some(local_addr));
        server.accepting(tokio::spawn(accept_loop(server.shared.clone(), listener)));
        Ok(server)
    }

    /// Starts a server that runs a connection over every stream `incoming`
    /// yields (in the spirit of tonic's `serve_with_incoming`): a Unix
    /// socket, a TLS stream accepted elsewhere, an in-memory pipe. Each
    /// stream carries a client's HTTP upgrade request from its first byte.
    ///
    /// An `Err` item is logged and skipped; the server stops taking streams
    /// when `incoming` ends or the server shuts down. The streams' remote
    /// addresses are unknown ([`Connection::remote_addr`] is `None`); to
    /// give one, hand each stream to [`Server::accept_stream`] instead.
    pub fn serve_with_incoming<I, S>(self, incoming: I) -> Server
    where
        I: Stream<Item = io::Result<S>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let server = self.start(None);
        server.accepting(tokio::spawn(incoming_loop(server.shared.clone(), incoming)));
        server
    }

    /// Starts a server without a listener: streams reach it through
    /// [`Server::accept_stream`] and [`Server::accept_upgraded`].
    pub fn build(self) -> Server {
        self.start(None)
    }

    fn start(self, local_addr: Option<SocketAddr>) -> Server {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let shared = Arc::new(Shared {
            config: self.config,
            handler: self.handler,
            check: self.check,
            upgrade: self.upgrade,
            max_connections: self.max_connections.unwrap_or(MAX_CONNECTIONS),
            max_handshakes: self.max_handshakes.unwrap_or(MAX_HANDSHAKES),
            counters: Arc::new(Counters::default()),
            #[cfg(feature = "tls")]
            tls: self.tls,
            registry: Mutex::new(HashMap::new()),
            expired: Mutex::new(Expired::default()),
            events,
            shutdown: CancellationToken::new(),
        });
        Server {
            shared,
            local_addr,
            accept: Mutex::new(None),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    handler: Option<Handler>,
    check: Option<MetadataCheck>,
    pub(crate) upgrade: UpgradePolicy,
    max_connections: usize,
    max_handshakes: usize,
    pub(crate) counters: Arc<Counters>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
    registry: Mutex<HashMap<ConnectionId, Connection>>,
    /// The ids of the last resumable sessions that ended, so that a late
    /// resume is told why it is refused.
    expired: Mutex<Expired>,
    events: broadcast::Sender<Event>,
    pub(crate) shutdown: CancellationToken,
}

/// The last [`EXPIRED_KEPT`] resumable sessions that ended.
#[derive(Default)]
struct Expired {
    order: std::collections::VecDeque<ConnectionId>,
    ids: std::collections::HashSet<ConnectionId>,
}

const EXPIRED_KEPT: usize = 4096;

impl Expired {
    fn remember(&mut self, id: ConnectionId) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
        }
        while self.order.len() > EXPIRED_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

impl Shared {
    /// Finds the session a client asks to resume, checks its token, stops
    /// its old socket and checks the counts (docs/PROTOCOL.md §9).
    async fn resolve_resume(
        self: Arc<Self>,
        ask: handshake::ResumeAsk,
    ) -> Result<handshake::Resumed, String> {
        let shown = crate::log_safe::excerpt(&ask.id).to_string();
        let found = self.registry().get(ask.id.as_str()).cloned();
        let Some(conn) = found else {
            let expired = self
                .expired
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .ids
                .contains(ask.id.as_str());
            return Err(if expired {
                format!("session {shown} has ended (its resume window passed, or it was closed)")
            } else {
                format!("unknown session {shown}")
            });
        };
        let Some(state) = conn.resume_state() else {
            return Err(format!("session {shown} is not resumable"));
        };
        if !crate::resume::same_token(&state.token, &ask.token) {
            return Err(format!("wrong resume token for session {shown}"));
        }
        let gate = state
            .gate
            .clone()
            .try_lock_owned()
            .map_err(|_| format!("session {shown} is being resumed by another connection"))?;
        let received = conn.release_link().await;
        if let Err(why) = state.counts().can_resume_from(ask.received) {
            // The client starts afresh: its calls here fail now, saying why.
            conn.fail(Error::new(
                ErrorKind::NotResumed,
                format!("the client's resume was refused: {why}"),
            ));
            return Err(why);
        }
        if conn.is_closed() {
            return Err(format!("session {shown} has ended"));
        }
        Ok(handshake::Resumed {
            conn,
            received,
            peer_received: ask.received,
            _gate: gate,
        })
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, Connection>> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a handshake slot and a connection slot for a new socket, or
    /// says which limit refused it (counted and logged).
    pub(crate) fn admit(&self, addr: Option<SocketAddr>) -> Result<Admission, Refused> {
        let addr = DisplayAddr(addr);
        let handshake = Slot::take(&self.counters, Gauge::Handshakes, self.max_handshakes)
            .ok_or_else(|| {
                self.counters.hit(
                    Reason::TooManyHandshakes,
                    format_args!(
                        "{addr}: {} handshakes already in progress; socket dropped",
                        self.max_handshakes
                    ),
                );
                Refused::Handshakes
            })?;
        let connection = Slot::take(&self.counters, Gauge::Connections, self.max_connections)
            .ok_or_else(|| {
                self.counters.hit(
                    Reason::TooManyConnections,
                    format_args!(
                        "{addr}: {} connections already open; answered 503",
                        self.max_connections
                    ),
                );
                Refused::Connections {
                    _handshake: Slot::take(&self.counters, Gauge::Handshakes, usize::MAX),
                    deadline: handshake_deadline(&self.config),
                }
            })?;
        Ok(Admission {
            _connection: connection,
            handshake: Some(handshake),
            deadline: handshake_deadline(&self.config),
        })
    }
}

fn handshake_deadline(config: &Config) -> Instant {
    Instant::now() + config.handshake_timeout
}

/// Which of the server's limits refused a new socket.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Too many handshakes in progress: drop the socket.
    Handshakes,
    /// Too many connections: answer the upgrade 503 by the deadline,
    /// counted as a handshake meanwhile.
    Connections {
        _handshake: Option<Slot>,
        deadline: Instant,
    },
}

impl Refused {
    fn error(&self) -> Error {
        match self {
            Refused::Handshakes => Error::new(
                ErrorKind::Rejected,
                "too many handshakes in progress; the socket was dropped",
            ),
            Refused::Connections { .. } => Error::new(
                ErrorKind::Rejected,
                "the server has its maximum number of connections; answered 503",
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Gauge {
    Connections,
    Handshakes,
}

/// One unit of a server gauge, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    counters: Arc<Counters>,
    gauge: Gauge,
}

impl Slot {
    fn take(counters: &Arc<Counters>, gauge: Gauge, max: usize) -> Option<Slot> {
        let atomic = Slot::atomic(counters, gauge);
        atomic
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Slot {
            counters: counters.clone(),
            gauge,
        })
    }

    fn atomic(counters: &Counters, gauge: Gauge) -> &std::sync::atomic::AtomicUsize {
        match gauge {
            Gauge::Connections => &counters.connections,
            Gauge::Handshakes => &counters.handshakes,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        Slot::atomic(&self.counters, self.gauge).fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a socket holds from its first byte: its connection slot (for its
/// whole life), its handshake slot (until the handshake is done), and the
/// deadline of its TLS handshake, upgrade and handshake together.
#[derive(Debug)]
pub(crate) struct Admission {
    _connection: Slot,
    handshake: Option<Slot>,
    pub(crate) deadline: Instant,
}

/// A running swaggersocket server (Go's `WebsocketServer`).
///
/// Dropping it stops accepting and closes every connection with code 1001
/// at once; [`shutdown`](Server::shutdown) lets the calls under way finish
/// first.
pub struct Server {
    shared: Arc<Shared>,
    local_addr: Option<SocketAddr>,
    /// The task that takes new connections, until shutdown.
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("connections", &self.shared.registry().len())
            .finish()
    }
}

impl Server {
    /// A builder with the default [`Config`].
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address the server listens on; `0.0.0.0:0` for a server without
    /// a listener of its own ([`serve_with_incoming`](ServerBuilder::serve_with_incoming),
    /// [`build`](ServerBuilder::build)).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Runs a connection over `io`, a stream that carries a client's HTTP
    /// upgrade request from its first byte (a Unix socket, an in-memory
    /// pipe, a stream accepted by other code): the upgrade, the handshake,
    /// then the connection, registered and announced as those the server
    /// accepts itself. Resolves once the handshake is done.
    pub async fn accept_stream<S>(
        &self,
        io: S,
        remote_addr: Option<SocketAddr>,
    ) -> Result<Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let admission = self.shared.admit(remote_addr);
        open_stream(
            Arc::downgrade(&self.shared),
            io,
            Peer::at(remote_addr),
            admission,
        )
        .await
    }

    /// Runs a connection over `io`, a stream whose websocket upgrade is
    /// already done (hyper's `Upgraded` after a `101 Switching Protocols`
    /// sent by other code): the handshake, then the connection. Whoever did
    /// the upgrade did any authentication too.
    pub async fn accept_upgraded<S>(
        &self,
        io: S,
        remote_addr: Option<SocketAddr>,
    ) -> Result<Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let admission = self
            .shared
            .admit(remote_addr)
            .map_err(|refused| refused.error())?;
        upgraded(
            Arc::downgrade(&self.shared),
            io,
            Peer::at(remote_addr),
            admission,
        )
        .await
    }

    /// A route of an axum (or hyper) server that upgrades into a
    /// connection of this server: `Router::new().route_service("/ws",
    /// server.upgrade_service())`. See [`UpgradeService`](crate::UpgradeService).
    #[cfg(feature = "axum")]
    pub fn upgrade_service(&self) -> crate::UpgradeService {
        crate::UpgradeService {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// What the server's limits have done so far: connections and
    /// handshakes now, and every rejection by reason (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Subscribes to connection events from now on.
    pub fn events(&self) -> Events<Event> {
        Events::new(self.shared.events.subscribe())
    }

    /// The live connection with this id.
    pub fn connection(&self, id: &str) -> Option<Connection> {
        self.shared.registry().get(id).cloned()
    }

    /// Every live connection.
    pub fn connections(&self) -> Vec<Connection> {
        self.shared.registry().values().cloned().collect()
    }

    /// The live connections whose handshake metadata satisfies `predicate`.
    pub fn find(&self, predicate: impl Fn(&serde_json::Value) -> bool) -> Vec<Connection> {
        self.shared
            .registry()
            .values()
            .filter(|c| predicate(c.metadata()))
            .cloned()
            .collect()
    }

    /// Shuts the server down gracefully:
    ///
    /// 1. stops accepting (the listener is closed before the first
    ///    connection is told, so new clients are refused from then on, and
    ///    a handshake still under way ends with 1001);
    /// 2. on every connection at once, as [`Connection::shutdown`]: new
    ///    calls fail and the clients' new requests are answered 503, while
    ///    the calls and requests under way in both directions get up to
    ///    `grace` to finish;
    /// 3. closes every connection with code 1001 (Going Away): whatever is
    ///    left fails, here and at the client, with an error that says
    ///    "shutting down".
    ///
    /// Resolves once every close frame is sent. Dropping a server does
    /// steps 1 and 3 without a grace period.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.shutdown.cancel();
        let accept = self
            .accept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(accept) = accept {
            let _ = accept.await;
        }
        let connections = self.connections();
        futures_util::future::join_all(
            connections
                .iter()
                .map(|c| c.shutdown_with(grace, "server shutting down")),
        )
        .await;
    }

    fn accepting(&self, task: tokio::task::JoinHandle<()>) {
        *self.accept.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    fn begin_shutdown(&self) -> Vec<Connection> {
        self.shared.shutdown.cancel();
        let connections = self.connections();
        for conn in &connections {
            conn.close_with(CloseCode::Away, "server shutting down");
        }
        connections
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, addr)) => {
                let admission = match shared.admit(Some(addr)) {
                    // Dropped unread: no task, no buffer.
                    Err(Refused::Handshakes) => continue,
                    admission => admission,
                };
                // A handshake under way finishes (bounded by its timeout) even
                // if the server shuts down meanwhile; the connection is then
                // closed with 1001 rather than reset.
                tokio::spawn(open_tcp(Arc::downgrade(&shared), tcp, addr, admission));
            }
            Err(e) => {
                // Out of file descriptors and the like: pause instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn incoming_loop<I, S>(shared: Arc<Shared>, incoming: I)
where
    I: Stream<Item = io::Result<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut incoming = std::pin::pin!(incoming);
    loop {
        let next = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            next = incoming.next() => next,
        };
        match next {
            Some(Ok(io)) => {
                let admission = shared.admit(None);
                let shared = Arc::downgrade(&shared);
                tokio::spawn(async move {
                    let _ = open_stream(shared, io, Peer::at(None), admission).await;
                });
            }
            Some(Err(e)) => tracing::warn!(error = %e, "an incoming stream failed"),
            None => return,
        }
    }
}

/// What the server knows of a peer before its upgrade.
#[derive(Debug, Clone, Default)]
pub(crate) struct Peer {
    addr: Option<SocketAddr>,
    certificates: Vec<crate::CertificateDer<'static>>,
    pub(crate) identity: Option<Identity>,
}

impl Peer {
    pub(crate) fn at(addr: Option<SocketAddr>) -> Self {
        Peer {
            addr,
            certificates: Vec::new(),
            identity: None,
        }
    }
}

/// A TCP socket from the listener: tuned, then served.
async fn open_tcp(
    shared: Weak<Shared>,
    tcp: TcpStream,
    addr: SocketAddr,
    admission: Result<Admission, Refused>,
) {
    let Some(strong) = shared.upgrade() else {
        return;
    };
    let config = strong.config.clone();
    drop(strong);
    let _ = tcp.set_nodelay(true);
    config.tune_socket(&tcp);
    #[cfg(feature = "tls")]
    let mut tcp = tcp;
    #[cfg(feature = "tls")]
    if has_tls(&shared) && !starts_with_tls(&mut tcp, &config, addr).await {
        return;
    }
    let _ = open_stream(shared, tcp, Peer::at(Some(addr)), admission).await;
}

/// Answers an upgrade request with a plain 503 (the server is full): reads
/// its head first, so that the client reads the answer rather than a reset.
async fn answer_full<S>(mut io: S, deadline: Instant)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout_at(deadline, async {
        if let Ok(Some(_)) = auth::read_head(&mut io).await {
            let reject = Reject::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "the server has its maximum number of connections; try again later\n",
            );
            reject.send(&mut io).await;
        }
    })
    .await;
}

#[cfg(feature = "tls")]
fn has_tls(shared: &Weak<Shared>) -> bool {
    shared.upgrade().is_some_and(|s| s.tls.is_some())
}

/// On a TLS listener: waits for the first byte. A plain HTTP request (a
/// `ws://` client at a `wss://` port) gets a plain `400` that says so,
/// rather than a TLS alert its client cannot read.
#[cfg(feature = "tls")]
async fn starts_with_tls(tcp: &mut TcpStream, config: &Config, addr: SocketAddr) -> bool {
    use tokio::io::AsyncWriteExt;
    const TLS_HANDSHAKE_RECORD: u8 = 0x16;
    let mut first = [0u8; 1];
    match tokio::time::timeout(config.handshake_timeout, tcp.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => true,
        Ok(Ok(1)) if first[0].is_ascii_uppercase() => {
            tracing::debug!(%addr, "plain HTTP on a TLS listener");
            let body = "this endpoint speaks TLS: connect with wss://, not ws://\n";
            let response = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tokio::time::timeout(config.handshake_timeout, async {
                let _ = tcp.write_all(response.as_bytes()).await;
                let _ = tcp.shutdown().await;
            })
            .await;
            false
        }
        _ => false,
    }
}

/// A stream that starts with the HTTP upgrade, or with TLS on a TLS server.
async fn open_stream<S>(
    shared: Weak<Shared>,
    io: S,
    peer: Peer,
    admission: Result<Admission, Refused>,
) -> Result<Connection, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let deadline = match &admission {
        Ok(admission) => admission.deadline,
        Err(Refused::Connections { deadline, .. }) => *deadline,
        Err(refused @ Refused::Handshakes) => return Err(refused.error()),
    };
    // Only TLS needs it here; the upgrade reads it from the admission.
    #[cfg(not(feature = "tls"))]
    let _ = deadline;
    #[cfg(feature = "tls")]
    {
        let acceptor = shared.upgrade().and_then(|s| {
            s.tls
                .clone()
                .map(|tls| (tls, s.config.handshake_timeout, s.counters.clone()))
        });
        if let Some((acceptor, limit, counters)) = acceptor {
            let addr = DisplayAddr(peer.addr);
            let tls = match tokio::time::timeout_at(deadline, acceptor.accept(io)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    let hint = crate::tls::failure_hint(&e);
                    tracing::debug!(%addr, error = %e, hint, "TLS handshake failed");
                    return Err(Error::with_source(
                        ErrorKind::Tls,
                        format!("the TLS handshake failed{hint}"),
                        e,
                    ));
                }
                Err(_) => {
                    counters.hit(
                        Reason::HandshakeTimeout,
                        format_args!(
                            "{addr}: the TLS handshake took over {} ms",
                            limit.as_millis()
                        ),
                    );
                    return Err(Error::new(
                        ErrorKind::Tls,
                        format!("the TLS handshake took over {} ms", limit.as_millis()),
                    ));
                }
            };
            let certificates = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            let peer = Peer {
                certificates,
                ..peer
            };
            return open_admitted(shared, tls, peer, admission).await;
        }
    }
    open_admitted(shared, io, peer, admission).await
}

/// Opens the connection, or answers 503 if the server is full.
async fn open_admitted<S>(
    shared: Weak<Shared>,
    io: S,
    peer: Peer,
    admission: Result<Admission, Refused>,
) -> Result<Connection, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match admission {
        Ok(admission) => open(shared, io, peer, admission).await,
        Err(refused) => {
            if let Refused::Connections { deadline, .. } = &refused {
                answer_full(io, *deadline).await;
            }
            Err(refused.error())
        }
    }
}

/// Upgrades, runs the handshake, registers the connection.
async fn open<S>(
    shared: Weak<Shared>,
    mut io: S,
    mut peer: Peer,
    admission: Admission,
) -> Result<Connection, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(strong) = shared.upgrade() else {
        return Err(shutting_down());
    };
    let config = strong.config.clone();
    let policy = strong.upgrade.clone();
    let counters = strong.counters.clone();
    drop(strong);
    let addr = DisplayAddr(peer.addr);
    let limit = config.handshake_timeout;
    let deadline = admission.deadline;
    let replay = if policy.reads_head() {
        let verdict = match tokio::time::timeout_at(deadline, admit(&policy, &mut io, &peer)).await
        {
            Ok(verdict) => verdict,
            Err(_) => Err(Refusal::Reject(Reject::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "the upgrade request was not authenticated in time",
            ))),
        };
        match verdict {
            Ok((replay, identity)) => {
                peer.identity = identity;
                replay
            }
            Err(Refusal::Gone) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    "the peer left before its upgrade request was complete",
                ))
            }
            Err(Refusal::Reject(reject)) => {
                tracing::debug!(%addr, %reject, "upgrade refused");
                let _ = tokio::time::timeout(limit, reject.send(&mut io)).await;
                return Err(Error::new(
                    ErrorKind::Rejected,
                    format!("the upgrade was refused: {reject}"),
                ));
            }
        }
    } else {
        Bytes::new()
    };
    let subprotocols = policy.subprotocols;
    // The callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let select = move |request: &UpgradeHttpRequest,
                       mut response: UpgradeHttpResponse|
          -> Result<UpgradeHttpResponse, ErrorResponse> {
        if let Some(chosen) = select_subprotocol(request.headers(), &subprotocols) {
            response
                .headers_mut()
                .insert(http::header::SEC_WEBSOCKET_PROTOCOL, chosen);
        }
        Ok(response)
    };
    let mut io = PeerIo::with_replay(io, replay);
    io.limit_fragments(config.max_fragments);
    io.limit_handshake(config.max_handshake_size);
    let upgrade =
        tokio_tungstenite::accept_hdr_async_with_config(io, select, Some(config.websocket()));
    let ws = match tokio::time::timeout_at(deadline, upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "websocket upgrade failed");
            return Err(Error::with_source(
                ErrorKind::WebSocket,
                "the websocket upgrade failed",
                e,
            ));
        }
        Err(_) => {
            counters.hit(
                Reason::HandshakeTimeout,
                format_args!(
                    "{addr}: the websocket upgrade was not done within {} ms",
                    limit.as_millis()
                ),
            );
            return Err(Error::new(
                ErrorKind::Handshake,
                format!("the websocket upgrade took over {} ms", limit.as_millis()),
            ));
        }
    };
    finish(shared, ws, peer, admission).await
}

/// The handshake over a stream whose HTTP upgrade is done.
pub(crate) async fn upgraded<S>(
    shared: Weak<Shared>,
    io: S,
    peer: Peer,
    admission: Admission,
) -> Result<Connection, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(strong) = shared.upgrade() else {
        return Err(shutting_down());
    };
    let config = strong.config.clone();
    drop(strong);
    let mut io = PeerIo::upgraded(io);
    io.limit_fragments(config.max_fragments);
    io.limit_handshake(config.max_handshake_size);
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config.websocket())).await;
    finish(shared, ws, peer, admission).await
}

/// Why an upgrade request was not admitted.
enum Refusal {
    /// The peer closed (or failed) before its request head was complete.
    Gone,
    /// Answered with this HTTP response.
    Reject(Reject),
}

/// Reads the upgrade request's head and runs the `Origin` check and the
/// authentication hook on it. Returns the bytes read (for the upgrade to
/// read again) and the identity.
async fn admit<S>(
    policy: &UpgradePolicy,
    io: &mut S,
    peer: &Peer,
) -> Result<(Bytes, Option<Identity>), Refusal>
where
    S: AsyncRead + Unpin,
{
    let (parts, replay) = auth::read_head(io)
        .await
        .map_err(Refusal::Reject)?
        .ok_or(Refusal::Gone)?;
    let identity = judge(policy, parts.method, parts.uri, parts.headers, peer)
        .await
        .map_err(Refusal::Reject)?;
    Ok((replay, identity))
}

/// The `Origin` check and the authentication hook.
pub(crate) async fn judge(
    policy: &UpgradePolicy,
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    peer: &Peer,
) -> Result<Option<Identity>, Reject> {
    if let (Some(allowed), Some(origin)) = (&policy.origins, headers.get(http::header::ORIGIN)) {
        let listed = origin
            .to_str()
            .is_ok_and(|o| allowed.iter().any(|a| a == o));
        if !listed {
            let shown = crate::log_safe::excerpt(origin.as_bytes());
            return Err(Reject::forbidden(format!("origin {shown} is not allowed")));
        }
    }
    match &policy.authenticate {
        Some(hook) => {
            let request = UpgradeRequest {
                method,
                uri,
                headers,
                remote_addr: peer.addr,
                peer_certificates: peer.certificates.clone(),
            };
            Ok(Some(hook(request).await?))
        }
        None => Ok(None),
    }
}

/// The websocket subprotocol to select: the first the client offers that
/// the server speaks.
pub(crate) fn select_subprotocol(
    offered: &http::HeaderMap,
    spoken: &[String],
) -> Option<http::HeaderValue> {
    offered
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| spoken.iter().any(|s| s == p))
        .and_then(|p| http::HeaderValue::from_str(p).ok())
}

/// The swaggersocket handshake over an upgraded websocket, then the
/// connection, registered.
async fn finish<S>(
    shared: Weak<Shared>,
    mut ws: WebSocketStream<PeerIo<S>>,
    peer: Peer,
    mut admission: Admission,
) -> Result<Connection, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(strong) = shared.upgrade() else {
        return Err(shutting_down());
    };
    let config = strong.config.clone();
    let check = strong.check.clone();
    let handler = strong.handler.clone();
    let counters = strong.counters.clone();
    drop(strong);
    let addr = DisplayAddr(peer.addr);
    let id = ConnectionId::new_v4();
    // What the metadata hook sees besides the metadata itself.
    let check = check.as_ref().map(|check| {
        let request = MetadataRequest {
            metadata: serde_json::Value::Null,
            remote_addr: peer.addr,
            peer_certificates: peer.certificates.clone(),
            identity: peer.identity.clone(),
        };
        (check, request)
    });
    let weak = shared.clone();
    let resolve = move |ask| -> futures_util::future::BoxFuture<'static, _> {
        let weak = weak.clone();
        Box::pin(async move {
            match weak.upgrade() {
                Some(shared) => shared.resolve_resume(ask).await,
                None => Err("the server is shutting down".to_owned()),
            }
        })
    };
    let (metadata, negotiated, identity, resumed) = match handshake::accept(
        &mut ws,
        id.as_str(),
        (admission.deadline, config.handshake_timeout),
        check,
        config.streaming,
        config.max_handshake_size,
        config.resume.then_some(&resolve as &handshake::Resolve),
    )
    .await
    {
        Ok(accepted) => accepted,
        Err(rejection) => {
            let reason = if rejection.timed_out {
                Reason::HandshakeTimeout
            } else {
                Reason::HandshakeRejected
            };
            if rejection.error.message().starts_with("resume refused") {
                counters.refused_resumes.fetch_add(1, Ordering::Relaxed);
            }
            counters.hit(reason, format_args!("{addr}: {}", rejection.error));
            handshake::reject(&mut ws, &rejection).await;
            return Err(rejection.error);
        }
    };
    admission.handshake = None;
    if let Some(resumed) = resumed {
        // The session holds its connection slot already.
        drop(admission);
        let conn = resumed.conn.clone();
        counters.resumed.fetch_add(1, Ordering::Relaxed);
        conn.attach(ws, &config, Some(resumed.peer_received));
        drop(resumed);
        tracing::debug!(id = %conn.id(), %addr, "connection resumed");
        if let Some(shared) = shared.upgrade() {
            let _ = shared.events.send(Event::Resumed(conn.clone()));
        }
        return Ok(conn);
    }
    let conn = Connection::start(
        ws,
        Setup {
            id: id.clone(),
            metadata,
            remote_addr: peer.addr,
            peer_certificates: peer.certificates,
            identity: identity.or(peer.identity),
            handler,
            streams: negotiated.streams,
            go_peer: negotiated.go_peer,
            counters: counters.clone(),
            resume_token: negotiated.resume_token,
        },
        &config,
    );
    let Some(shared) = shared.upgrade() else {
        conn.close_with(CloseCode::Away, "server shutting down");
        return Err(shutting_down());
    };
    shared.registry().insert(id.clone(), conn.clone());
    let _ = shared.events.send(Event::Received(conn.clone()));
    tracing::debug!(%id, %addr, "connection received");
    let weak = Arc::downgrade(&shared);
    if conn.supports_resume() {
        let weak = weak.clone();
        conn.on_detach(move |conn, error| {
            if let Some(shared) = weak.upgrade() {
                let _ = shared
                    .events
                    .send(Event::Detached(conn.id().clone(), error.clone()));
            }
        });
    }
    conn.on_end(move |conn, end| {
        // The connection's slot is free once it has ended.
        drop(admission);
        let Some(shared) = weak.upgrade() else { return };
        shared.registry().remove(conn.id());
        if conn.supports_resume() {
            shared
                .expired
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remember(conn.id().clone());
        }
        let event = match end {
            End::Closed { .. } => Event::Closed(conn.id().clone()),
            End::Failed(e) => Event::Failure(conn.id().clone(), e.clone()),
        };
        let _ = shared.events.send(event);
    });
    if shared.shutdown.is_cancelled() {
        conn.close_with(CloseCode::Away, "server shutting down");
    }
    Ok(conn)
}

fn shutting_down() -> Error {
    Error::new(ErrorKind::Closed, "the server is shutting down")
}

/// A remote address for logs, `-` when unknown.
struct DisplayAddr(Option<SocketAddr>);

impl fmt::Display for DisplayAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("-"),
        }
    }
}
