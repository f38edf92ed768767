//! The websocket client: dial, handshake, reconnect with backoff.

use crate::config::Config;
use crate::connection::{Connection, ConnectionId, End, Setup};
use crate::error::{BoxError, Error, ErrorKind};
use crate::event::{ClientEvent, Events, EVENT_CAPACITY};
use crate::handler::{Handler, IntoHandler};
use crate::handshake;
use crate::peer_io::PeerIo;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Uri};
use rand::Rng;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

/// How a client waits between reconnect attempts: exponential growth from
/// `initial` to `max`, each delay shortened by a random part of up to
/// `jitter` (0 to 1) so that many clients do not return in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
    max_attempts: Option<u32>,
}

impl Default for Backoff {
    /// 100 ms doubling to 30 s, jitter 0.5, no limit on attempts.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The first delay.
    pub fn initial(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// The longest delay.
    pub fn max(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// The growth factor between attempts (at least 1).
    pub fn multiplier(mut self, factor: f64) -> Self {
        self.multiplier = if factor.is_finite() {
            factor.max(1.0)
        } else {
            2.0
        };
        self
    }

    /// The random part, from 0 (none) to 1 (a delay anywhere from 0 to the
    /// exponential value).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        self
    }

    /// Give up after this many failed attempts in a row (`None`: never).
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The delay before attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let cut = if self.jitter > 0.0 {
            rand::rng().random_range(0.0..=self.jitter)
        } else {
            0.0
        };
        Duration::from_secs_f64((base * (1.0 - cut)).max(0.0))
    }
}

/// Configures and connects a [`Client`].
pub struct ClientBuilder {
    url: String,
    fallback_urls: Vec<String>,
    metadata: serde_json::Value,
    config: Config,
    keep_alive: bool,
    backoff: Backoff,
    handler: Option<Handler>,
    connector: Option<Connector>,
    headers: Option<HeadersFn>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
}

type HeadersFn =
    Arc<dyn Fn() -> BoxFuture<'static, Result<HeaderMap, BoxError>> + Send + Sync + 'static>;

/// A boxed byte stream, what a [`ClientBuilder::connector`] yields.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Connector =
    Arc<dyn Fn(Uri) -> BoxFuture<'static, io::Result<Box<dyn Io>>> + Send + Sync + 'static>;

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("fallback_urls", &self.fallback_urls)
            .field("metadata", &self.metadata)
            .field("config", &self.config)
            .field("keep_alive", &self.keep_alive)
            .field("backoff", &self.backoff)
            .field("handler", &self.handler.is_some())
            .field("connector", &self.connector.is_some())
            .field("headers", &self.headers.is_some())
            .finish()
    }
}

impl ClientBuilder {
    /// The TLS configuration of a `wss://` URL: a private CA, a client
    /// certificate for mutual TLS. Without it, `wss://` trusts the webpki
    /// (Mozilla) roots ([`tls::client_config`](crate::tls::client_config)).
    /// Build it with `builder_with_provider(`[`tls::crypto_provider`](crate::tls::crypto_provider)`())`.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: impl Into<Arc<rustls::ClientConfig>>) -> Self {
        self.tls = Some(config.into());
        self
    }

    /// Adds headers to the HTTP upgrade request, produced by `headers`
    /// anew before every connection (the first and each reconnect), so a
    /// token refreshed meanwhile is the one sent. A failure fails that
    /// connection attempt (a reconnect is then retried with backoff).
    ///
    /// ```no_run
    /// # async fn fetch_token() -> Result<String, swaggersocket::BoxError> { Ok(String::new()) }
    /// let builder = swaggersocket::Client::builder("wss://cloud.example/devices")
    ///     .headers(|| async {
    ///         let token = fetch_token().await?;
    ///         let mut headers = http::HeaderMap::new();
    ///         headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    ///         Ok(headers)
    ///     });
    /// ```
    pub fn headers<F, Fut>(mut self, headers: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HeaderMap, BoxError>> + Send + 'static,
    {
        self.headers = Some(Arc::new(move || Box::pin(headers())));
        self
    }

    /// Sends `Authorization: Bearer <token>` with every upgrade request (a
    /// token that never changes; see [`headers`](ClientBuilder::headers)
    /// for one that does).
    pub fn bearer_token(self, token: impl Into<String>) -> Self {
        let token: String = token.into();
        self.headers(move || {
            let value = HeaderValue::try_from(format!("Bearer {token}"));
            async move {
                let mut headers = HeaderMap::new();
                headers.insert(http::header::AUTHORIZATION, value?);
                Ok(headers)
            }
        })
    }

    /// Opens the byte stream of every connection (the first and each
    /// reconnect) with `connector` instead of a TCP connection to the URL's
    /// host and port, in the spirit of tonic's `connect_with_connector`: a
    /// Unix socket, a proxy tunnel, an in-memory pipe. It gets the URL;
    /// the websocket upgrade (with the URL's host and path) and the
    /// handshake then run over the stream it returns.
    ///
    /// No TCP options are set on the stream, and the connection has no
    /// [`remote_addr`](crate::Connection::remote_addr). With a `wss://`
    /// URL, TLS runs over the stream the connector returns.
    pub fn connector<F, Fut, S>(mut self, connector: F) -> Self
    where
        F: Fn(Uri) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<S>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.connector = Some(Arc::new(move |uri| {
            let fut = connector(uri);
            Box::pin(async move { fut.await.map(|io| Box::new(io) as Box<dyn Io>) })
        }));
        self
    }

    /// Metadata sent in the handshake (any JSON value; `null` by default).
    /// The server keeps it with the connection; it is sent again on every
    /// reconnect.
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Limits, timeouts and heartbeat of the connection.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Go's `KeepAlive` (on by default): after the connection is lost, or
    /// closed by the server with any code but 1000, reconnect with
    /// [`Backoff`], redo the handshake with the same metadata and serve the
    /// same handler. Turning it off also turns the heartbeat off, as in Go,
    /// and resumable sessions ([`Config::resume`]) with it.
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }

    /// The delays between reconnect attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Serves this API to the server over the connection (the reverse
    /// direction: the websocket server calls, the client answers), on every
    /// connection including those after a reconnect.
    pub fn serve(mut self, service: impl IntoHandler) -> Self {
        self.handler = Some(Handler::new(service));
        self
    }

    /// More servers to try, after the builder's URL, when a connection
    /// attempt fails: each attempt (the first connect and every reconnect)
    /// tries the URLs in turn, starting with the one that worked last, and
    /// fails only when every one failed. For the nodes of a cluster, where
    /// any node will do. Every URL must have the same scheme (`ws://` or
    /// `wss://`) as the first; the TLS configuration and headers apply to
    /// each.
    pub fn fallback_urls<I>(mut self, urls: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.fallback_urls = urls.into_iter().map(Into::into).collect();
        self
    }

    /// Dials the server and runs the handshake. Fails if the first attempt
    /// fails (every URL, with [`fallback_urls`](ClientBuilder::fallback_urls));
    /// reconnects later on are the client's business.
    pub async fn connect(self) -> Result<Client, Error> {
        let target = Targets::parse(&self.url, &self.fallback_urls)?;
        let mut config = self.config;
        if !self.keep_alive {
            // A client that never reconnects cannot resume either.
            config = config.heartbeat(None).resume(false);
        }
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        #[cfg(feature = "tls")]
        let tls = target.tls.then(|| {
            let config = self
                .tls
                .unwrap_or_else(|| Arc::new(crate::tls::client_config()));
            tokio_rustls::TlsConnector::from(config)
        });
        let shared = Arc::new(Shared {
            target,
            connector: self.connector,
            headers: self.headers,
            #[cfg(feature = "tls")]
            tls,
            metadata: self.metadata,
            config,
            backoff: self.backoff,
            handler: RwLock::new(self.handler),
            events,
            stop: CancellationToken::new(),
        });
        let first = shared.dial_any(None).await?;
        let (current, _) = watch::channel(first.clone());
        let current = Arc::new(current);
        shared.watch_end(&first);
        if self.keep_alive {
            tokio::spawn(supervise(shared.clone(), current.clone()));
        }
        Ok(Client {
            shared,
            current,
            keep_alive: self.keep_alive,
        })
    }
}

/// The URLs a client dials, in turn; it derefs to the one in use.
struct Targets {
    list: Vec<Target>,
    current: AtomicUsize,
}

impl Targets {
    fn parse(first: &str, fallbacks: &[String]) -> Result<Self, Error> {
        let mut list = vec![Target::parse(first)?];
        for url in fallbacks {
            let target = Target::parse(url)?;
            if target.tls != list[0].tls {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{url}: every URL of a client must have the scheme of {first}"),
                ));
            }
            list.push(target);
        }
        Ok(Targets {
            list,
            current: AtomicUsize::new(0),
        })
    }
}

impl std::ops::Deref for Targets {
    type Target = Target;

    fn deref(&self) -> &Target {
        &self.list[self.current.load(Ordering::Relaxed) % self.list.len()]
    }
}

struct Target {
    url: String,
    uri: Uri,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    tls: bool,
    host: String,
    port: u16,
}

impl Target {
    fn parse(url: &str) -> Result<Self, Error> {
        let uri: Uri = url.parse().map_err(|e| {
            Error::with_source(ErrorKind::Config, format!("invalid URL {url:?}"), e)
        })?;
        let tls = match uri.scheme_str() {
            Some("ws") => false,
            #[cfg(feature = "tls")]
            Some("wss") => true,
            #[cfg(not(feature = "tls"))]
            Some("wss") => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{url}: wss:// needs the `tls` feature of swaggersocket"),
                ))
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{url}: the URL must start with ws:// or wss://"),
                ))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| Error::new(ErrorKind::Config, format!("{url}: the URL has no host")))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Target {
            url: url.to_owned(),
            uri: uri.clone(),
            host,
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
        })
    }
}

struct Shared {
    target: Targets,
    connector: Option<Connector>,
    headers: Option<HeadersFn>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsConnector>,
    metadata: serde_json::Value,
    config: Config,
    backoff: Backoff,
    handler: RwLock<Option<Handler>>,
    events: broadcast::Sender<ClientEvent>,
    stop: CancellationToken,
}

impl Shared {
    fn timed_out(&self) -> Error {
        Error::new(
            ErrorKind::Handshake,
            format!(
                "connecting to {} took over {} ms",
                self.target.url,
                self.config.handshake_timeout.as_millis()
            ),
        )
    }

    /// Dials each URL in turn, from the one that worked last, until one
    /// connects; the error of the last one otherwise.
    ///
    /// With `resume` (a detached connection and what to present), asks
    /// the server to resume it: the same connection comes back, running
    /// over the new socket, or an error of kind
    /// [`ErrorKind::NotResumed`] if the server refused.
    async fn dial_any(&self, resume: Resume<'_>) -> Result<Connection, Error> {
        let count = self.target.list.len();
        let start = self.target.current.load(Ordering::Relaxed);
        let mut last = None;
        for step in 0..count {
            if step > 0 {
                self.target
                    .current
                    .store((start + step) % count, Ordering::Relaxed);
            }
            match self.dial(resume).await {
                Ok(conn) => return Ok(conn),
                // The session lives on one server: it said no.
                Err(error) if error.kind() == ErrorKind::NotResumed => return Err(error),
                Err(error) => {
                    if count > 1 {
                        tracing::debug!(url = %self.target.url, %error, "trying the next URL");
                    }
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::Config, "the client has no URL")))
    }

    async fn dial(&self, resume: Resume<'_>) -> Result<Connection, Error> {
        let limit = self.config.handshake_timeout;
        let headers = match &self.headers {
            Some(make) => tokio::time::timeout(limit, make())
                .await
                .map_err(|_| self.timed_out())?
                .map_err(|e| {
                    Error::with_source(
                        ErrorKind::Handshake,
                        format!("the upgrade headers for {} failed", self.target.url),
                        e,
                    )
                })?,
            None => HeaderMap::new(),
        };
        let connect_failed = |e| {
            Error::with_source(
                ErrorKind::Io,
                format!("connecting to {} failed", self.target.url),
                e,
            )
        };
        if let Some(connector) = &self.connector {
            let io = tokio::time::timeout(limit, connector(self.target.uri.clone()))
                .await
                .map_err(|_| self.timed_out())?
                .map_err(connect_failed)?;
            return self.dial_over(io, None, headers, resume).await;
        }
        let tcp = tokio::time::timeout(
            limit,
            TcpStream::connect((self.target.host.as_str(), self.target.port)),
        )
        .await
        .map_err(|_| self.timed_out())?
        .map_err(connect_failed)?;
        let _ = tcp.set_nodelay(true);
        self.config.tune_socket(&tcp);
        let remote_addr = tcp.peer_addr().ok();
        self.dial_over(tcp, remote_addr, headers, resume).await
    }

    /// The websocket upgrade and the handshake over a connected stream.
    async fn dial_over<S>(
        &self,
        io: S,
        remote_addr: Option<SocketAddr>,
        headers: HeaderMap,
        resume: Resume<'_>,
    ) -> Result<Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        #[cfg(feature = "tls")]
        if let Some(connector) = &self.tls {
            let limit = self.config.handshake_timeout;
            let name =
                rustls_pki_types::ServerName::try_from(self.target.host.clone()).map_err(|e| {
                    Error::with_source(
                        ErrorKind::Config,
                        format!(
                            "{}: the host is not a valid TLS server name",
                            self.target.url
                        ),
                        e,
                    )
                })?;
            let tls = tokio::time::timeout(limit, connector.connect(name, io))
                .await
                .map_err(|_| self.timed_out())?
                .map_err(|e| {
                    let hint = crate::tls::failure_hint(&e);
                    Error::with_source(
                        ErrorKind::Tls,
                        format!("the TLS handshake with {} failed{hint}", self.target.url),
                        e,
                    )
                })?;
            let certificates = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            return self
                .upgrade(tls, remote_addr, certificates, headers, resume)
                .await;
        }
        self.upgrade(io, remote_addr, Vec::new(), headers, resume)
            .await
    }

    /// The websocket upgrade and the handshake.
    async fn upgrade<S>(
        &self,
        io: S,
        remote_addr: Option<SocketAddr>,
        peer_certificates: Vec<crate::CertificateDer<'static>>,
        headers: HeaderMap,
        resume: Resume<'_>,
    ) -> Result<Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limit = self.config.handshake_timeout;
        let mut request = self
            .target
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| {
                Error::with_source(
                    ErrorKind::Config,
                    format!("{}: not a websocket URL", self.target.url),
                    e,
                )
            })?;
        request.headers_mut().extend(headers);
        let upgrade = tokio_tungstenite::client_async_with_config(
            request,
            PeerIo::new(io),
            Some(self.config.websocket()),
        );
        let (mut ws, _) = tokio::time::timeout(limit, upgrade)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| upgrade_error(&self.target.url, e))?;
        let (id, negotiated, resumed) = match handshake::initiate(
            &mut ws,
            &self.metadata,
            limit,
            self.config.streaming,
            self.config.max_handshake_size,
            (self.config.resume, resume.map(|(_, ask)| ask)),
        )
        .await
        {
            Ok(accepted) => accepted,
            Err(rejection) => {
                handshake::reject(&mut ws, &rejection).await;
                if rejection.resume_refused {
                    return Err(Error::new(
                        ErrorKind::NotResumed,
                        format!(
                            "the server refused to resume the session: {}",
                            rejection.error.message()
                        ),
                    ));
                }
                return Err(rejection.error);
            }
        };
        if let (Some((old, _)), Some(peer_received)) = (resume, resumed) {
            let settled = old
                .resume_state()
                .map_or(Ok(()), |r| r.counts().can_resume_from(peer_received));
            if let Err(why) = settled {
                let rejection = handshake::Rejection {
                    code:
                        tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Policy,
                    error: Error::new(ErrorKind::NotResumed, format!("resume refused: {why}")),
                    timed_out: false,
                    resume_refused: true,
                };
                handshake::reject(&mut ws, &rejection).await;
                return Err(Error::new(
                    ErrorKind::NotResumed,
                    format!("the session could not be resumed: {why}"),
                ));
            }
            old.attach(ws, &self.config, Some(peer_received));
            let _ = self.events.send(ClientEvent::Resumed(old.clone()));
            return Ok(old.clone());
        }
        let handler = self
            .handler
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let conn = Connection::start(
            ws,
            Setup {
                id: ConnectionId::from_string(id),
                metadata: self.metadata.clone(),
                remote_addr,
                peer_certificates,
                identity: None,
                handler,
                streams: negotiated.streams,
                go_peer: negotiated.go_peer,
                counters: Default::default(),
                resume_token: negotiated.resume_token,
            },
            &self.config,
        );
        let _ = self.events.send(ClientEvent::Connected(conn.clone()));
        Ok(conn)
    }

    fn watch_end(self: &Arc<Self>, conn: &Connection) {
        if conn.supports_resume() {
            let events = self.events.clone();
            conn.on_detach(move |conn, error| {
                let _ = events.send(ClientEvent::Detached {
                    id: conn.id().clone(),
                    error: error.clone(),
                });
            });
        }
        let events = self.events.clone();
        conn.on_end(move |conn, end| {
            let error = match end {
                End::Failed(e) => Some(e.clone()),
                End::Closed { .. } => None,
            };
            let _ = events.send(ClientEvent::Disconnected {
                id: conn.id().clone(),
                error,
            });
        });
    }
}

/// A failed client upgrade; an HTTP answer other than 101 keeps its status
/// and body.
fn upgrade_error(url: &str, error: tokio_tungstenite::tungstenite::Error) -> Error {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match error {
        WsError::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let body = body.trim();
            let mut message = format!(
                "the server at {url} refused the websocket upgrade: {}",
                response.status()
            );
            if !body.is_empty() {
                message.push_str(": ");
                message.push_str(&crate::log_safe::excerpt(body).to_string());
            }
            Error::new(ErrorKind::Rejected, message)
        }
        other => Error::with_source(
            ErrorKind::WebSocket,
            format!("the websocket upgrade with {url} failed"),
            other,
        ),
    }
}

/// A detached connection to resume, and what to present for it.
type Resume<'a> = Option<(&'a Connection, &'a handshake::ResumeAsk)>;

async fn supervise(shared: Arc<Shared>, current: Arc<watch::Sender<Connection>>) {
    loop {
        let conn = current.borrow().clone();
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = conn.closed() => {}
            _ = conn.detached() => {}
        }
        if !conn.is_detached() {
            let reconnect = match conn.end_state() {
                Some(End::Closed { code, by_peer, .. }) => by_peer && code != 1000,
                _ => true,
            };
            if !reconnect || shared.stop.is_cancelled() {
                return;
            }
        }
        let mut attempt = 1u32;
        let mut at_once = false;
        loop {
            if !std::mem::take(&mut at_once) {
                let delay = shared.backoff.delay(attempt);
                let _ = shared
                    .events
                    .send(ClientEvent::Reconnecting { attempt, delay });
                tokio::select! {
                    _ = shared.stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            // Resume while the session is detached (its window has not
            // passed); start afresh otherwise.
            let ask = match (conn.is_detached(), conn.resume_token()) {
                (true, Some(token)) => Some(handshake::ResumeAsk {
                    id: conn.id().to_string(),
                    token: token.to_owned(),
                    received: conn.release_link().await,
                }),
                _ => None,
            };
            let resume = ask.as_ref().map(|ask| (&conn, ask));
            match shared.dial_any(resume).await {
                Ok(resumed) if resumed.same(&conn) => {
                    tracing::info!(id = %conn.id(), attempt, "resumed");
                    if shared.stop.is_cancelled() {
                        conn.close();
                        return;
                    }
                    break;
                }
                Err(error) if error.kind() == ErrorKind::NotResumed && ask.is_some() => {
                    // Refused: the calls in flight fail saying why, and a
                    // new session starts at once.
                    tracing::warn!(id = %conn.id(), %error, "resume refused; starting a new session");
                    conn.fail(error);
                    at_once = true;
                }
                Ok(new) => {
                    if !conn.is_closed() {
                        conn.fail(Error::new(
                            ErrorKind::NotResumed,
                            "the client started a new session",
                        ));
                    }
                    let conn = new;
                    tracing::info!(id = %conn.id(), attempt, "reconnected");
                    shared.watch_end(&conn);
                    current.send_replace(conn);
                    if shared.stop.is_cancelled() {
                        current.borrow().close();
                        return;
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, "reconnect failed");
                    if shared
                        .backoff
                        .max_attempts
                        .is_some_and(|max| attempt >= max)
                    {
                        let _ = shared.events.send(ClientEvent::GaveUp { error });
                        return;
                    }
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
}

/// A swaggersocket client (Go's `WebsocketClient`): one connection to a
/// server at a time, replaced after a loss when keep-alive is on.
///
/// Dropping it closes the connection and stops reconnecting.
pub struct Client {
    shared: Arc<Shared>,
    current: Arc<watch::Sender<Connection>>,
    keep_alive: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.shared.target.url)
            .field("connection", &*self.current.borrow())
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

impl Client {
    /// A builder for a client of the server at `url` (`ws://host:port/path`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            fallback_urls: Vec::new(),
            metadata: serde_json::Value::Null,
            config: Config::default(),
            keep_alive: true,
            backoff: Backoff::default(),
            handler: None,
            connector: None,
            headers: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The current connection (possibly one that has just ended, while a
    /// reconnect is under way; calls on it fail at once).
    pub fn connection(&self) -> Connection {
        self.current.borrow().clone()
    }

    /// Waits for a live connection: the current one if it is up, else the
    /// next one the client makes. Fails when the connection is down and the
    /// client will not reconnect. A detached connection (resumable, while
    /// the client resumes it: [`Connection::is_detached`]) counts as up:
    /// calls on it wait for the resume.
    pub async fn connected(&self) -> Result<Connection, Error> {
        let mut rx = self.current.subscribe();
        loop {
            let conn = rx.borrow_and_update().clone();
            if !conn.is_closed() {
                return Ok(conn);
            }
            if !self.keep_alive || self.shared.stop.is_cancelled() {
                return Err(Error::new(
                    ErrorKind::Closed,
                    "the connection is closed and the client does not reconnect",
                ));
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Err(Error::new(ErrorKind::Closed, "the client stopped"));
                    }
                }
                _ = self.shared.stop.cancelled() => {}
                _ = conn.closed() => {}
            }
        }
    }

    /// Serves this API to the server on the current connection and every
    /// later one.
    pub fn serve(&self, service: impl IntoHandler) {
        let handler = Handler::new(service);
        *self
            .shared
            .handler
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(handler.clone());
        self.connection().serve_handler(handler);
    }

    /// Subscribes to connection events from now on.
    pub fn events(&self) -> Events<ClientEvent> {
        Events::new(self.shared.events.subscribe())
    }

    /// Closes the connection (code 1000) and stops reconnecting. Calls in
    /// flight fail at once; see [`shutdown`](Client::shutdown) to let them
    /// finish.
    pub fn close(&self) {
        self.shared.stop.cancel();
        self.connection().close();
    }

    /// Shuts the client down gracefully: stops reconnecting; on the current
    /// connection, as [`Connection::shutdown`], new calls fail and the
    /// server's new requests are answered 503 while the calls under way in
    /// both directions (this client's calls, and the server's calls it
    /// serves) get up to `grace` to finish; then closes with code 1001
    /// (Going Away), failing whatever is left with an error that says
    /// "shutting down". Resolves once the close frame is sent.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.stop.cancel();
        self.connection()
            .shutdown_with(grace, "client shutting down")
            .await;
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff::default()
            .initial(Duration::from_millis(100))
            .max(Duration::from_secs(1))
            .jitter(0.0);
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(2), Duration::from_millis(200));
        assert_eq!(b.delay(4), Duration::from_millis(800));
        assert_eq!(b.delay(5), Duration::from_secs(1));
        assert_eq!(b.delay(1000), Duration::from_secs(1));
    }

    #[test]
    fn backoff_jitter_stays_in_range() {
        let b = Backoff::default()
            .initial(Duration::from_secs(1))
            .jitter(0.5);
        for _ in 0..200 {
            let d = b.delay(1);
            assert!(
                d >= Duration::from_millis(500) && d <= Duration::from_secs(1),
                "{d:?}"
            );
        }
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            Target::parse("http://x").err().map(|e| e.kind()),
            Some(ErrorKind::Config)
        );
        #[cfg(not(feature = "tls"))]
        assert_eq!(
            Target::parse("wss://x").err().map(|e| e.kind()),
            Some(ErrorKind::Config)
        );
        #[cfg(feature = "tls")]
        assert_eq!(Target::parse("wss://x").ok().map(|t| t.port), Some(443));
        let t = Target::parse("ws://127.0.0.1:9000/api").ok();
        assert_eq!(
            t.map(|t| (t.host, t.port)),
            Some(("127.0.0.1".to_owned(), 9000))
        );
        let t = Target::parse("ws://[::1]/").ok();
        assert_eq!(t.map(|t| (t.host, t.port)), Some(("::1".to_owned(), 80)));
    }
}
