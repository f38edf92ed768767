//! Peers as the gateway and the cluster see them: local or on another node,
//! with one API.

use crate::error::{CallError, CallErrorKind};
use crate::node::RemoteRoute;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http::{Request, Response};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use swaggersocket::{BodyStream, Connection};
use tokio::sync::mpsc;

/// What the directory knows of a connected peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The connection id the server gave the peer.
    pub id: String,
    /// The metadata of the peer's handshake.
    pub metadata: serde_json::Value,
    /// The peer's address as the server saw it, when known.
    pub remote_addr: Option<SocketAddr>,
    /// When the node first saw the connection, in milliseconds since the
    /// Unix epoch.
    pub connected_since_ms: u64,
    /// The id of the node the peer is connected to.
    pub node: String,
}

impl PeerInfo {
    pub(crate) fn of(conn: &Connection, since: SystemTime, node: &str) -> Self {
        PeerInfo {
            id: conn.id().to_string(),
            metadata: conn.metadata().clone(),
            remote_addr: conn.remote_addr(),
            connected_since_ms: unix_ms(since),
            node: node.to_owned(),
        }
    }

    /// When the node first saw the connection.
    pub fn connected_since(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.connected_since_ms)
    }
}

pub(crate) fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Where the peers are: the gateway serves whatever implements it. A
/// [`Node`](crate::Node) does, alone or in a cluster.
pub trait PeerDirectory: Send + Sync + 'static {
    /// Every peer known now, on this node and elsewhere.
    fn peers(&self) -> Vec<PeerInfo>;
    /// The peer with this id, wherever it is connected.
    fn peer(&self, id: &str) -> Option<Peer>;
}

/// A connected peer, on this node or on another one of the cluster: the
/// same calls either way.
#[derive(Clone)]
pub struct Peer {
    pub(crate) info: Arc<PeerInfo>,
    pub(crate) route: Route,
}

#[derive(Clone)]
pub(crate) enum Route {
    Local(Connection),
    Remote(Arc<RemoteRoute>),
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.info.id)
            .field("node", &self.info.node)
            .field("local", &self.is_local())
            .finish()
    }
}

impl Peer {
    /// The connection id.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The metadata of the peer's handshake.
    pub fn metadata(&self) -> &serde_json::Value {
        &self.info.metadata
    }

    /// The peer's address as its node saw it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }

    /// The id of the node the peer is connected to.
    pub fn node(&self) -> &str {
        &self.info.node
    }

    /// Everything the directory knows of the peer.
    pub fn info(&self) -> &PeerInfo {
        &self.info
    }

    /// True when the peer is connected to this node.
    pub fn is_local(&self) -> bool {
        matches!(self.route, Route::Local(_))
    }

    /// The connection itself, when the peer is connected to this node.
    pub fn connection(&self) -> Option<&Connection> {
        match &self.route {
            Route::Local(conn) => Some(conn),
            Route::Remote(_) => None,
        }
    }

    /// Sends a request to the peer and waits for its whole response (up to
    /// 16 MiB). A dropped future gives the call up, on the peer too.
    pub async fn call(&self, request: Request<Bytes>) -> Result<Response<Bytes>, CallError> {
        let (parts, body) = self.call_streaming(request, None).await?.into_parts();
        let body = body.collect(16 << 20).await?;
        Ok(Response::from_parts(parts, body))
    }

    /// Sends a request and returns the response once its head arrives, the
    /// body following as the peer produces it. `timeout` bounds the wait for
    /// the head (besides the runtime's call timeout). Dropping the future or
    /// the body gives the call up, on the peer too, across nodes.
    pub async fn call_streaming(
        &self,
        request: Request<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<Response<PeerBody>, CallError> {
        match &self.route {
            Route::Local(conn) => {
                let call = conn.call_streaming(request);
                let response = match timeout {
                    Some(limit) => tokio::time::timeout(limit, call)
                        .await
                        .map_err(|_| CallError::timeout(limit))??,
                    None => call.await?,
                };
                let (parts, body) = response.into_parts();
                Ok(Response::from_parts(parts, PeerBody::local(body)))
            }
            Route::Remote(route) => route.call(&self.info.id, request, timeout).await,
        }
    }
}

/// A response body from a peer, local or remote: a `Stream` of chunks; an
/// `Err` item means it was cut (the peer or its node went away) and nothing
/// follows. Dropping it before its end stops the peer's handler.
pub struct PeerBody {
    inner: BodyInner,
}

enum BodyInner {
    Full(Option<Bytes>),
    Local(BodyStream),
    Remote(mpsc::Receiver<Result<Bytes, CallError>>),
}

impl fmt::Debug for PeerBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            BodyInner::Full(_) => "full",
            BodyInner::Local(_) => "local",
            BodyInner::Remote(_) => "remote",
        };
        f.debug_struct("PeerBody").field("kind", &kind).finish()
    }
}

impl PeerBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        PeerBody {
            inner: BodyInner::Full(Some(bytes)),
        }
    }

    pub(crate) fn local(body: BodyStream) -> Self {
        PeerBody {
            inner: BodyInner::Local(body),
        }
    }

    pub(crate) fn remote(rx: mpsc::Receiver<Result<Bytes, CallError>>) -> Self {
        PeerBody {
            inner: BodyInner::Remote(rx),
        }
    }

    /// True if the body is known whole already (its length is known).
    pub fn is_full(&self) -> bool {
        match &self.inner {
            BodyInner::Full(_) => true,
            BodyInner::Local(body) => !body.is_streamed(),
            BodyInner::Remote(_) => false,
        }
    }

    /// Collects the whole body, failing past `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, CallError> {
        use futures_util::StreamExt;
        let mut out = BytesMut::new();
        while let Some(chunk) = self.next().await {
            let chunk = chunk?;
            if out.len() + chunk.len() > limit {
                return Err(CallError::new(
                    CallErrorKind::Unavailable,
                    format!("the response body is over {limit} bytes"),
                ));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}

impl Stream for PeerBody {
    type Item = Result<Bytes, CallError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            BodyInner::Full(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(Ok)),
            BodyInner::Local(body) => Pin::new(body).poll_next(cx).map(|item| {
                item.map(|r| {
                    r.map_err(|e| {
                        CallError::new(
                            CallErrorKind::PeerGone,
                            format!("the peer's response was cut: {e}"),
                        )
                    })
                })
            }),
            BodyInner::Remote(rx) => rx.poll_recv(cx),
        }
    }
}
