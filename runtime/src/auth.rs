//! Authentication at the websocket upgrade, before any websocket exists.

use crate::CertificateDer;
use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What an authentication hook accepted a client as, kept with its
/// [`Connection`](crate::Connection).
pub(crate) type Identity = Arc<dyn Any + Send + Sync>;

pub(crate) type Authenticator =
    Arc<dyn Fn(UpgradeRequest) -> BoxFuture<'static, Result<Identity, Reject>> + Send + Sync>;

/// A client's HTTP upgrade request, as an authentication hook sees it
/// ([`ServerBuilder::authenticate`](crate::ServerBuilder::authenticate)).
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) peer_certificates: Vec<CertificateDer<'static>>,
}

impl UpgradeRequest {
    /// The request method (`GET` for any valid upgrade).
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target: path and query (`/ws?token=…`).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Every header: `Authorization`, `Origin`, `Cookie`,
    /// `Sec-WebSocket-Protocol`, …
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The peer's address, when known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The certificate chain the client presented in TLS (mutual TLS),
    /// leaf first; empty otherwise.
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.peer_certificates
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self
            .headers
            .get(http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The `Origin` header (browsers send it; devices usually do not).
    pub fn origin(&self) -> Option<&str> {
        self.headers.get(http::header::ORIGIN)?.to_str().ok()
    }

    /// The subprotocols the client offered in `Sec-WebSocket-Protocol`, in
    /// order (where a browser can put a token; see the crate README).
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }
}

/// A hook on the handshake's metadata: `Ok(Some(identity))` replaces the
/// connection's identity, `Ok(None)` keeps the upgrade's, `Err(why)` closes
/// with 1008.
pub(crate) type MetadataCheck = Arc<
    dyn Fn(MetadataRequest) -> BoxFuture<'static, Result<Option<Identity>, String>> + Send + Sync,
>;

/// A client's handshake metadata, as a metadata hook sees it
/// ([`ServerBuilder::authenticate_metadata`](crate::ServerBuilder::authenticate_metadata)):
/// the second stage, after the HTTP upgrade was accepted, with what the
/// upgrade found out.
#[derive(Clone)]
pub struct MetadataRequest {
    pub(crate) metadata: serde_json::Value,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) peer_certificates: Vec<CertificateDer<'static>>,
    pub(crate) identity: Option<Identity>,
}

impl MetadataRequest {
    /// The `Meta` value of the client's first handshake message.
    pub fn metadata(&self) -> &serde_json::Value {
        &self.metadata
    }

    /// The peer's address, when known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The certificate chain the client presented in TLS, leaf first;
    /// empty otherwise.
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.peer_certificates
    }

    /// The identity the upgrade's
    /// [`authenticate`](crate::ServerBuilder::authenticate) hook accepted
    /// the client as, if it ran and `T` is its type.
    pub fn identity<T: Any>(&self) -> Option<&T> {
        self.identity.as_deref()?.downcast_ref()
    }
}

impl fmt::Debug for MetadataRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataRequest")
            .field("metadata", &self.metadata)
            .field("remote_addr", &self.remote_addr)
            .field("peer_certificates", &self.peer_certificates.len())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

/// A refused upgrade: answered with a plain HTTP response (this status,
/// headers and a `text/plain` body) and the socket closed, before any
/// websocket exists.
#[derive(Debug, Clone)]
pub struct Reject {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reject {
    /// A refusal with any status (a 4xx or 5xx) and a body saying why.
    pub fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Reject {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    /// `401 Unauthorized` with `WWW-Authenticate: Bearer`: no credentials,
    /// or bad ones.
    pub fn unauthorized(body: impl Into<String>) -> Self {
        Reject::new(StatusCode::UNAUTHORIZED, body).header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        )
    }

    /// `403 Forbidden`: known, but not allowed.
    pub fn forbidden(body: impl Into<String>) -> Self {
        Reject::new(StatusCode::FORBIDDEN, body)
    }

    /// `429 Too Many Requests`.
    pub fn too_many_requests(body: impl Into<String>) -> Self {
        Reject::new(StatusCode::TOO_MANY_REQUESTS, body)
    }

    /// Adds a header to the response (`Retry-After`, …).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers added to the response.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body of the response.
    pub fn body(&self) -> &str {
        &self.body
    }

    fn to_http(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            self.body.len(),
        )
        .into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body.as_bytes());
        out
    }

    /// Writes the response and closes the write side, best effort.
    pub(crate) async fn send<S: AsyncWrite + Unpin>(&self, io: &mut S) {
        let _ = io.write_all(&self.to_http()).await;
        let _ = io.flush().await;
        let _ = io.shutdown().await;
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.body)
    }
}

/// The longest upgrade request head read before authentication.
const MAX_HEAD: usize = 16 << 10;
const MAX_HEADERS: usize = 64;

/// Reads the HTTP head of an upgrade request. Returns it parsed with every
/// byte read (to replay to the websocket upgrade), or the response that
/// refuses it; `Ok(None)`: the peer went away first.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
) -> Result<Option<(http::request::Parts, Bytes)>, Reject> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        match io.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let mut builder = http::Request::builder()
                    .method(request.method.unwrap_or("GET"))
                    .uri(request.path.unwrap_or("/"));
                for header in request.headers.iter() {
                    builder = builder.header(header.name, header.value);
                }
                let parts = builder
                    .body(())
                    .map_err(|e| {
                        Reject::new(StatusCode::BAD_REQUEST, format!("bad upgrade request: {e}"))
                    })?
                    .into_parts()
                    .0;
                return Ok(Some((parts, buf.freeze())));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Err(Reject::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "the upgrade request head is too large",
                ))
            }
            Err(e) => {
                return Err(Reject::new(
                    StatusCode::BAD_REQUEST,
                    format!("bad upgrade request: {e}"),
                ))
            }
        }
    }
}
