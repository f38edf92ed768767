//! The websocket server: listener, upgrade, handshake, registry, events.

use crate::config::Config;
use crate::connection::{Connection, ConnectionId, End, Setup};
use crate::error::{BoxError, Error, ErrorKind};
use crate::event::{Event, Events, EVENT_CAPACITY};
use crate::handler::Handler;
use crate::handshake::{self, MetadataCheck};
use crate::peer_io::PeerIo;
use bytes::Bytes;
use http::{Request, Response};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
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
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("handler", &self.handler.is_some())
            .field("check_metadata", &self.check.is_some())
            .finish()
    }
}

impl ServerBuilder {
    /// Limits, timeouts and heartbeat of every connection.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Serves the API on every connection, from the moment its handshake is
    /// done (so no request of the client's can arrive before it). A
    /// connection can still get its own handler with [`Connection::serve`].
    pub fn serve<S, B>(mut self, service: S) -> Self
    where
        S: tower_service::Service<Request<Bytes>, Response = Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: Into<crate::Body>,
    {
        self.handler = Some(Handler::new(service));
        self
    }

    /// Accepts or rejects a client by the metadata of its handshake; a
    /// rejected client is closed with code 1008 and the returned reason.
    pub fn check_metadata(
        mut self,
        check: impl Fn(&serde_json::Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(check));
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
    pub fn listen(self, listener: TcpListener) -> Result<Server, Error> {
        let local_addr = listener.local_addr().map_err(|e| {
            Error::with_source(ErrorKind::Io, "the listener has no local address", e)
        })?;
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let shared = Arc::new(Shared {
            config: self.config,
            handler: self.handler,
            check: self.check,
            registry: Mutex::new(HashMap::new()),
            events,
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(accept_loop(shared.clone(), listener));
        Ok(Server { shared, local_addr })
    }
}

struct Shared {
    config: Config,
    handler: Option<Handler>,
    check: Option<MetadataCheck>,
    registry: Mutex<HashMap<ConnectionId, Connection>>,
    events: broadcast::Sender<Event>,
    shutdown: CancellationToken,
}

impl Shared {
    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, Connection>> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running swaggersocket server (Go's `WebsocketServer`).
///
/// Dropping it stops accepting and closes every connection with code 1001;
/// [`shutdown`](Server::shutdown) does the same and waits for them to end.
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
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

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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

    /// Stops accepting, closes every connection with code 1001 and waits (at
    /// most `grace`) for them to end.
    pub async fn shutdown(self, grace: Duration) {
        let connections = self.begin_shutdown();
        let all = futures_util::future::join_all(connections.iter().map(|c| c.closed()));
        let _ = tokio::time::timeout(grace, all).await;
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
                // A handshake under way finishes (bounded by its timeout) even
                // if the server shuts down meanwhile; the connection is then
                // closed with 1001 rather than reset.
                tokio::spawn(open(Arc::downgrade(&shared), tcp, addr));
            }
            Err(e) => {
                // Out of file descriptors and the like: pause instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Upgrades, runs the handshake, registers the connection.
async fn open(shared: Weak<Shared>, tcp: TcpStream, addr: SocketAddr) {
    let Some(strong) = shared.upgrade() else {
        return;
    };
    let config = strong.config.clone();
    let check = strong.check.clone();
    let handler = strong.handler.clone();
    drop(strong);
    let _ = tcp.set_nodelay(true);
    config.tune_socket(&tcp);
    let upgrade =
        tokio_tungstenite::accept_async_with_config(PeerIo::new(tcp), Some(config.websocket()));
    let mut ws = match tokio::time::timeout(config.handshake_timeout, upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "websocket upgrade failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%addr, "websocket upgrade timed out");
            return;
        }
    };
    let id = ConnectionId::new_v4();
    let (metadata, negotiated) = match handshake::accept(
        &mut ws,
        id.as_str(),
        config.handshake_timeout,
        check.as_ref(),
        config.streaming,
    )
    .await
    {
        Ok(accepted) => accepted,
        Err(rejection) => {
            tracing::warn!(%addr, error = %rejection.error, "handshake rejected");
            handshake::reject(&mut ws, &rejection).await;
            return;
        }
    };
    let conn = Connection::start(
        ws,
        Setup {
            id: id.clone(),
            metadata,
            remote_addr: Some(addr),
            handler,
            streams: negotiated.streams,
            go_peer: negotiated.go_peer,
        },
        &config,
    );
    let Some(shared) = shared.upgrade() else {
        conn.close_with(CloseCode::Away, "server shutting down");
        return;
    };
    shared.registry().insert(id.clone(), conn.clone());
    let _ = shared.events.send(Event::Received(conn.clone()));
    tracing::debug!(%id, %addr, "connection received");
    let weak = Arc::downgrade(&shared);
    conn.on_end(move |conn, end| {
        let Some(shared) = weak.upgrade() else { return };
        shared.registry().remove(conn.id());
        let event = match end {
            End::Closed { .. } => Event::Closed(conn.id().clone()),
            End::Failed(e) => Event::Failure(conn.id().clone(), e.clone()),
        };
        let _ = shared.events.send(event);
    });
    if shared.shutdown.is_cancelled() {
        conn.close_with(CloseCode::Away, "server shutting down");
    }
}
