//! A node: one `Server` and, opted in, its place in a cluster over NATS.

use crate::error::{CallError, CallErrorKind};
use crate::peer::{Peer, PeerBody, PeerDirectory, PeerInfo, Route};
use crate::proto;
use async_nats::Message;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use swaggersocket::{Event, Server};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The node id cannot be a NATS subject token.
    #[error("invalid node id {0:?}: use letters, digits, '-' and '_' only")]
    InvalidId(String),
    /// The NATS server could not be reached.
    #[error("connecting to NATS at {url} failed: {source}")]
    Nats {
        /// The URL tried.
        url: String,
        /// Why it failed.
        source: async_nats::ConnectError,
    },
    /// A subscription on NATS failed.
    #[error("subscribing on NATS failed: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
}

/// What happened to a peer anywhere in the cluster, or to a node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClusterEvent {
    /// A peer connected (to this node or another), or became known when a
    /// node joined.
    Received(PeerInfo),
    /// A peer's connection ended with a close frame, or its node left the
    /// cluster in an orderly way.
    Closed {
        /// The peer's id.
        id: String,
        /// The node it was connected to.
        node: String,
    },
    /// A peer's connection was lost, or its node stopped answering.
    Failure {
        /// The peer's id.
        id: String,
        /// The node it was connected to.
        node: String,
        /// What happened, in words.
        error: String,
    },
    /// A node was heard from for the first time.
    NodeJoined {
        /// Its id.
        node: String,
    },
    /// A node left, or sent no heartbeat within the TTL.
    NodeLost {
        /// Its id.
        node: String,
        /// Why it is considered gone.
        reason: String,
    },
}

/// A subscription to [`ClusterEvent`]s from now on. A subscriber that falls
/// more than 4,096 events behind skips the oldest (a warning is logged).
#[derive(Debug)]
pub struct ClusterEvents {
    rx: broadcast::Receiver<ClusterEvent>,
}

impl ClusterEvents {
    /// The next event; `None` once the node is gone.
    pub async fn recv(&mut self) -> Option<ClusterEvent> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "cluster event subscriber fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

enum NatsTarget {
    Url(String),
    Client(async_nats::Client),
}

/// Configures and starts a [`Node`].
pub struct NodeBuilder {
    id: Option<String>,
    nats: Option<NatsTarget>,
    prefix: String,
    heartbeat: Duration,
    ttl: Duration,
    chunk_size: usize,
    window: usize,
    stream_idle_timeout: Duration,
}

impl fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("id", &self.id)
            .field("nats", &self.nats.is_some())
            .field("prefix", &self.prefix)
            .field("heartbeat", &self.heartbeat)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Default for NodeBuilder {
    fn default() -> Self {
        NodeBuilder {
            id: None,
            nats: None,
            prefix: "swaggersocket".into(),
            heartbeat: Duration::from_secs(1),
            ttl: Duration::from_secs(3),
            chunk_size: 256 << 10,
            window: 16,
            stream_idle_timeout: Duration::from_secs(60),
        }
    }
}

impl NodeBuilder {
    /// The node's id in the cluster (letters, digits, `-`, `_`); a random
    /// one by default.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Joins the cluster through the NATS server at `url`
    /// (`nats://127.0.0.1:4222`; several, comma-separated, for a NATS
    /// cluster). Without it the node is alone: exactly the `Server`.
    pub fn nats(mut self, url: impl Into<String>) -> Self {
        self.nats = Some(NatsTarget::Url(url.into()));
        self
    }

    /// Joins the cluster through a NATS client connected already (with
    /// credentials, TLS, …).
    pub fn nats_client(mut self, client: async_nats::Client) -> Self {
        self.nats = Some(NatsTarget::Client(client));
        self
    }

    /// The first token of every subject the node uses (default
    /// `swaggersocket`): clusters with different prefixes share a NATS
    /// server without seeing each other.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often the node tells the cluster it is alive (default 1 s), and
    /// after how long without a heartbeat the others drop it and its peers
    /// (default 3 s). A dead node's peers vanish from the others' view
    /// within `ttl + interval`.
    pub fn heartbeat(mut self, interval: Duration, ttl: Duration) -> Self {
        self.heartbeat = interval.max(Duration::from_millis(10));
        self.ttl = ttl.max(self.heartbeat);
        self
    }

    /// The largest body piece in one NATS message (default 256 KiB; never
    /// over the NATS server's `max_payload` less 4 KiB), and how many pieces
    /// may be unacknowledged on the way to a slow caller (default 16).
    pub fn chunking(mut self, chunk_size: usize, window: usize) -> Self {
        self.chunk_size = chunk_size.max(1024);
        self.window = window.max(1);
        self
    }

    /// How long a streamed response to another node waits for a caller that
    /// acknowledges nothing before it gives the call up (default 60 s).
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = timeout;
        self
    }

    /// Starts the node around `server`: watches its connections and, with
    /// NATS, joins the cluster.
    pub async fn start(self, server: Server) -> Result<Node, StartError> {
        let id = self
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
        if !valid_token(&id) {
            return Err(StartError::InvalidId(id));
        }
        if !self.prefix.split('.').all(valid_token) {
            return Err(StartError::InvalidId(self.prefix));
        }
        let server_events = server.events();
        let instance = rand_u64();
        let (events, _) = broadcast::channel(4096);
        let nats = match self.nats {
            None => None,
            Some(target) => {
                let client = match target {
                    NatsTarget::Client(client) => client,
                    NatsTarget::Url(url) => async_nats::ConnectOptions::new()
                        .name(format!("swaggersocket-node-{id}"))
                        .connect(url.as_str())
                        .await
                        .map_err(|source| StartError::Nats { url, source })?,
                };
                let max_payload = client.server_info().max_payload;
                let part = if max_payload > 8192 {
                    self.chunk_size.min(max_payload - 4096)
                } else {
                    self.chunk_size
                };
                Some(Arc::new(Nats {
                    client,
                    instance,
                    prefix: self.prefix.clone(),
                    node: id.clone(),
                    part,
                    max_message: max_payload.max(part + 4096),
                    window: self.window as u64,
                    idle: self.stream_idle_timeout,
                    replies: Mutex::new(HashMap::new()),
                    controls: Mutex::new(HashMap::new()),
                    early_cancels: Mutex::new(EarlyCancels::default()),
                }))
            }
        };
        let inner = Arc::new(NodeInner {
            id,
            instance,
            tasks: Mutex::new(Vec::new()),
            server,
            local: Mutex::new(LocalState::default()),
            remote: Mutex::new(HashMap::new()),
            events,
            nats: nats.clone(),
            stop: CancellationToken::new(),
            heartbeat: self.heartbeat,
            ttl: self.ttl,
        });
        if let Some(nats) = &nats {
            let p = &nats.prefix;
            let me = &inner.id;
            let registry = nats.client.subscribe(format!("{p}.registry")).await?;
            let snapshots = nats
                .client
                .subscribe(format!("{p}.node.{me}.snapshot"))
                .await?;
            let calls = nats.client.subscribe(format!("{p}.node.{me}.call")).await?;
            let controls = nats.client.subscribe(format!("{p}.ctl.{me}.*")).await?;
            let replies = nats.client.subscribe(format!("{p}.reply.{me}.*")).await?;
            inner.track(tokio::spawn(registry_loop(inner.clone(), registry)));
            inner.track(tokio::spawn(snapshot_loop(inner.clone(), snapshots)));
            inner.track(tokio::spawn(call_loop(inner.clone(), calls)));
            inner.track(tokio::spawn(dispatch_loop(
                inner.stop.clone(),
                controls,
                nats.clone(),
                Dispatch::Control,
            )));
            inner.track(tokio::spawn(dispatch_loop(
                inner.stop.clone(),
                replies,
                nats.clone(),
                Dispatch::Reply,
            )));
        }
        // The connections made before the watch began.
        inner.reconcile().await;
        inner.track(tokio::spawn(local_loop(inner.clone(), server_events)));
        let last = Arc::new(StopOnDrop(inner.stop.clone()));
        Ok(Node { inner, _last: last })
    }
}

fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One `Server` and its place in the cluster: a directory of every peer,
/// local or connected to another node, with the same calls for both.
///
/// Cheap to clone. Dropping the last clone stops the node and its server
/// at once, as [`abort`](Node::abort) does; [`shutdown`](Node::shutdown)
/// leaves in order (the calls under way finish, the cluster is told at
/// once).
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
    _last: Arc<StopOnDrop>,
}

/// Held by every clone of a `Node`: the last one dropped stops the node's
/// tasks, which hold its state, so the server is dropped with them.
struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.id)
            .field("clustered", &self.inner.nats.is_some())
            .finish()
    }
}

struct NodeInner {
    id: String,
    instance: u64,
    /// The node's long-running tasks, awaited when it stops.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    server: Server,
    local: Mutex<LocalState>,
    remote: Mutex<HashMap<String, RemoteNode>>,
    events: broadcast::Sender<ClusterEvent>,
    nats: Option<Arc<Nats>>,
    stop: CancellationToken,
    heartbeat: Duration,
    ttl: Duration,
}

#[derive(Default)]
struct LocalState {
    /// The number of the last registry change this node published.
    seq: u64,
    peers: HashMap<String, Arc<PeerInfo>>,
}

struct RemoteNode {
    /// Cancelled when the node is dropped from the registry (lost, left,
    /// restarted): the calls it made to this node's peers stop then.
    gone: StopOnDrop,
    instance: u64,
    last_seen: Instant,
    seq: u64,
    synced: bool,
    syncing: bool,
    pending: Vec<Delta>,
    peers: HashMap<String, RemoteEntry>,
}

impl RemoteNode {
    fn new(instance: u64) -> Self {
        RemoteNode {
            gone: StopOnDrop(CancellationToken::new()),
            instance,
            last_seen: Instant::now(),
            seq: 0,
            synced: false,
            syncing: false,
            pending: Vec::new(),
            peers: HashMap::new(),
        }
    }
}

struct RemoteEntry {
    info: Arc<PeerInfo>,
    /// Cancelled when the peer or its node is gone: calls under way to it
    /// fail with 502 then.
    gone: CancellationToken,
}

/// A registry message on `{prefix}.registry`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RegistryMsg {
    Heartbeat {
        node: String,
        seq: u64,
        peers: usize,
    },
    Received {
        node: String,
        seq: u64,
        peer: PeerInfo,
    },
    Closed {
        node: String,
        seq: u64,
        id: String,
    },
    Failure {
        node: String,
        seq: u64,
        id: String,
        error: String,
    },
    Leaving {
        node: String,
    },
}

/// What goes on the wire: a registry message and the sender's instance
/// (random at each start), which tells a restarted node from the one before
/// it, and two nodes given the same id apart.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    instance: u64,
    #[serde(flatten)]
    msg: RegistryMsg,
}

#[derive(Debug, Clone)]
struct Delta {
    seq: u64,
    change: Change,
}

#[derive(Debug, Clone)]
enum Change {
    Received(PeerInfo),
    Closed(String),
    Failure(String, String),
}

/// A page of a node's snapshot, sent to the asker's reply subject.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotPage {
    seq: u64,
    last: bool,
    peers: Vec<PeerInfo>,
}

impl Node {
    /// A builder: alone by default; [`nats`](NodeBuilder::nats) joins a
    /// cluster.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// The node's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The server the node runs.
    pub fn server(&self) -> &Server {
        &self.inner.server
    }

    /// True when the node is in a cluster (over NATS).
    pub fn is_clustered(&self) -> bool {
        self.inner.nats.is_some()
    }

    /// The other nodes heard from within the TTL, and how many peers each
    /// holds.
    pub fn nodes(&self) -> Vec<(String, usize)> {
        let remote = self
            .inner
            .remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut nodes: Vec<(String, usize)> = remote
            .iter()
            .map(|(id, n)| (id.clone(), n.peers.len()))
            .collect();
        nodes.sort();
        nodes
    }

    /// The peer with this id, on this node or any other.
    pub fn connection(&self, id: &str) -> Option<Peer> {
        self.inner.peer(id)
    }

    /// Every peer of the cluster.
    pub fn connections(&self) -> Vec<Peer> {
        self.find(|_| true)
    }

    /// The peers of the cluster whose handshake metadata satisfies
    /// `predicate`.
    pub fn find(&self, predicate: impl Fn(&serde_json::Value) -> bool) -> Vec<Peer> {
        let mut out: Vec<Peer> = self
            .inner
            .server
            .connections()
            .into_iter()
            .filter(|c| predicate(c.metadata()))
            .map(|c| self.inner.local_peer(c))
            .collect();
        if let Some(nats) = &self.inner.nats {
            let remote = self
                .inner
                .remote
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (node, entry) in remote.iter() {
                for peer in entry.peers.values() {
                    if predicate(&peer.info.metadata) {
                        out.push(remote_peer(nats, node, peer));
                    }
                }
            }
        }
        out
    }

    /// Calls the peer with this id, wherever it is connected, and waits for
    /// the whole response.
    pub async fn call(
        &self,
        id: &str,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, CallError> {
        let peer = self
            .connection(id)
            .ok_or_else(|| CallError::not_found(id))?;
        peer.call(request).await
    }

    /// Calls the peer with this id and returns its response as soon as the
    /// head arrives; the body streams, across nodes too.
    pub async fn call_streaming(
        &self,
        id: &str,
        request: Request<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<Response<PeerBody>, CallError> {
        let peer = self
            .connection(id)
            .ok_or_else(|| CallError::not_found(id))?;
        peer.call_streaming(request, timeout).await
    }

    /// Subscribes to the events of every peer of the cluster from now on.
    pub fn events(&self) -> ClusterEvents {
        ClusterEvents {
            rx: self.inner.events.subscribe(),
        }
    }

    /// Leaves the cluster in order: the server shuts down (its calls get up
    /// to `grace` to finish, see `Server::shutdown`), the other nodes are
    /// told at once, then the node stops.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.server.shutdown(grace).await;
        // Publish the closes the shutdown caused before the goodbye.
        self.inner.reconcile().await;
        if let Some(nats) = &self.inner.nats {
            let leaving = RegistryMsg::Leaving {
                node: self.inner.id.clone(),
            };
            nats.publish_registry(leaving).await;
        }
        self.inner.stop.cancel();
        self.inner.stopped().await;
    }

    /// Stops at once, as a crash would: the connections are dropped and the
    /// node goes silent on NATS without a goodbye, so the other nodes drop
    /// its peers only when its heartbeats are missing for the TTL. For
    /// failover tests and drills.
    pub async fn abort(&self) {
        self.inner.stop.cancel();
        self.inner.stopped().await;
        self.inner.server.shutdown(Duration::ZERO).await;
    }
}

impl PeerDirectory for Node {
    fn peers(&self) -> Vec<PeerInfo> {
        self.connections()
            .into_iter()
            .map(|p| p.info().clone())
            .collect()
    }

    fn peer(&self, id: &str) -> Option<Peer> {
        self.connection(id)
    }
}

fn remote_peer(nats: &Arc<Nats>, node: &str, entry: &RemoteEntry) -> Peer {
    Peer {
        info: entry.info.clone(),
        route: Route::Remote(Arc::new(RemoteRoute {
            nats: nats.clone(),
            node: node.to_owned(),
            gone: entry.gone.clone(),
        })),
    }
}

impl NodeInner {
    /// The token cancelled when the node that sent a call (named in its
    /// reply subject, `{prefix}.reply.{node}.{call}`) leaves the registry.
    /// A node not (yet) known gives a token that is never cancelled.
    fn caller_gone(&self, reply: Option<&str>) -> CancellationToken {
        let node = reply.zip(self.nats.as_ref()).and_then(|(reply, nats)| {
            let rest = reply.strip_prefix(&nats.prefix)?.strip_prefix(".reply.")?;
            rest.rsplit_once('.').map(|(node, _call)| node)
        });
        node.and_then(|node| {
            self.remote
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(node)
                .map(|n| n.gone.0.clone())
        })
        .unwrap_or_default()
    }

    fn track(&self, task: tokio::task::JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
    }

    /// After `stop` is cancelled: waits for the node's tasks to end (their
    /// subscriptions dropped), then for NATS to have what they sent, so
    /// that nothing reaches this node any more (NATS answers "no
    /// responders" to calls from then on).
    async fn stopped(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        if let Some(nats) = &self.nats {
            // NATS handles a connection's messages in order: once it has
            // answered "no responders" to a request on this node's own call
            // subject, it has taken the unsubscriptions sent before it.
            let barrier = nats.client.request(
                format!("{}.node.{}.call", nats.prefix, self.id),
                Bytes::new(),
            );
            let _ = tokio::time::timeout(Duration::from_secs(1), barrier).await;
        }
    }

    fn emit(&self, event: ClusterEvent) {
        let _ = self.events.send(event);
    }

    fn local_peer(&self, conn: swaggersocket::Connection) -> Peer {
        let known = self
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .peers
            .get(conn.id().as_str())
            .cloned();
        let info =
            known.unwrap_or_else(|| Arc::new(PeerInfo::of(&conn, SystemTime::now(), &self.id)));
        Peer {
            info,
            route: Route::Local(conn),
        }
    }

    fn peer(&self, id: &str) -> Option<Peer> {
        if let Some(conn) = self.server.connection(id) {
            return Some(self.local_peer(conn));
        }
        let nats = self.nats.as_ref()?;
        let remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        remote.iter().find_map(|(node, entry)| {
            entry
                .peers
                .get(id)
                .map(|peer| remote_peer(nats, node, peer))
        })
    }

    /// Records a local change, tells the cluster and this node's
    /// subscribers. Only `local_loop` (and `reconcile`, called from it or
    /// before it starts) changes the local state, so changes go out in the
    /// order of their numbers.
    async fn local_change(&self, change: Change) {
        let (seq, event) = {
            let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
            let event = match &change {
                Change::Received(info) => {
                    if local.peers.contains_key(&info.id) {
                        return;
                    }
                    local.peers.insert(info.id.clone(), Arc::new(info.clone()));
                    ClusterEvent::Received(info.clone())
                }
                Change::Closed(id) => {
                    if local.peers.remove(id).is_none() {
                        return;
                    }
                    ClusterEvent::Closed {
                        id: id.clone(),
                        node: self.id.clone(),
                    }
                }
                Change::Failure(id, error) => {
                    if local.peers.remove(id).is_none() {
                        return;
                    }
                    ClusterEvent::Failure {
                        id: id.clone(),
                        node: self.id.clone(),
                        error: error.clone(),
                    }
                }
            };
            local.seq += 1;
            (local.seq, event)
        };
        self.emit(event);
        // A node stopped by `abort` goes silent at once, as a crashed one.
        if self.stop.is_cancelled() {
            return;
        }
        if let Some(nats) = &self.nats {
            let node = self.id.clone();
            let msg = match change {
                Change::Received(peer) => RegistryMsg::Received { node, seq, peer },
                Change::Closed(id) => RegistryMsg::Closed { node, seq, id },
                Change::Failure(id, error) => RegistryMsg::Failure {
                    node,
                    seq,
                    id,
                    error,
                },
            };
            nats.publish_registry(msg).await;
        }
    }

    /// Brings the local state in line with the server's connections (events
    /// a lagging subscriber skipped, connections made before the watch).
    async fn reconcile(&self) {
        let live = self.server.connections();
        let (added, removed) = {
            let local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
            let added: Vec<_> = live
                .iter()
                .filter(|c| !local.peers.contains_key(c.id().as_str()))
                .cloned()
                .collect();
            let live_ids: std::collections::HashSet<&str> =
                live.iter().map(|c| c.id().as_str()).collect();
            let removed: Vec<String> = local
                .peers
                .keys()
                .filter(|id| !live_ids.contains(id.as_str()))
                .cloned()
                .collect();
            (added, removed)
        };
        for conn in added {
            let info = PeerInfo::of(&conn, SystemTime::now(), &self.id);
            self.local_change(Change::Received(info)).await;
        }
        for id in removed {
            self.local_change(Change::Closed(id)).await;
        }
    }

    /// Drops the nodes not heard from within the TTL, with their peers.
    fn reap(&self) {
        let now = Instant::now();
        let lost: Vec<(String, RemoteNode)> = {
            let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
            let ids: Vec<String> = remote
                .iter()
                .filter(|(_, n)| now.duration_since(n.last_seen) > self.ttl)
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| remote.remove(&id).map(|n| (id, n)))
                .collect()
        };
        for (node, entry) in lost {
            let reason = format!(
                "node {node} sent no heartbeat for {} ms",
                self.ttl.as_millis()
            );
            tracing::warn!(%node, peers = entry.peers.len(), "{reason}: its peers are dropped");
            for (id, peer) in entry.peers {
                peer.gone.cancel();
                self.emit(ClusterEvent::Failure {
                    id,
                    node: node.clone(),
                    error: reason.clone(),
                });
            }
            self.emit(ClusterEvent::NodeLost { node, reason });
        }
    }

    fn apply(self: &Arc<Self>, instance: u64, msg: RegistryMsg) {
        let (node, delta) = match msg {
            RegistryMsg::Leaving { node } => {
                if node == self.id {
                    return;
                }
                let gone = {
                    let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
                    if remote.get(&node).is_some_and(|n| n.instance == instance) {
                        remote.remove(&node)
                    } else {
                        None
                    }
                };
                if let Some(entry) = gone {
                    for (id, peer) in entry.peers {
                        peer.gone.cancel();
                        self.emit(ClusterEvent::Closed {
                            id,
                            node: node.clone(),
                        });
                    }
                    self.emit(ClusterEvent::NodeLost {
                        node,
                        reason: "the node left the cluster".into(),
                    });
                }
                return;
            }
            RegistryMsg::Heartbeat { node, seq, .. } => (node, Err(seq)),
            RegistryMsg::Received { node, seq, peer } => (
                node,
                Ok(Delta {
                    seq,
                    change: Change::Received(peer),
                }),
            ),
            RegistryMsg::Closed { node, seq, id } => (
                node,
                Ok(Delta {
                    seq,
                    change: Change::Closed(id),
                }),
            ),
            RegistryMsg::Failure {
                node,
                seq,
                id,
                error,
            } => (
                node,
                Ok(Delta {
                    seq,
                    change: Change::Failure(id, error),
                }),
            ),
        };
        if node == self.id {
            if instance != self.instance {
                tracing::error!(
                    node = %self.id,
                    "another node runs with this node's id: give every node its own id"
                );
            }
            return;
        }
        if !valid_token(&node) {
            return;
        }
        let mut sync = false;
        let mut events = Vec::new();
        {
            let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
            // A node that restarted under the same id: what the one before
            // it held is gone.
            if remote.get(&node).is_some_and(|n| n.instance != instance) {
                if let Some(old) = remote.remove(&node) {
                    for (id, peer) in old.peers {
                        peer.gone.cancel();
                        events.push(ClusterEvent::Failure {
                            id,
                            node: node.clone(),
                            error: format!("node {node} restarted"),
                        });
                    }
                }
            }
            let entry = remote.entry(node.clone()).or_insert_with(|| {
                events.push(ClusterEvent::NodeJoined { node: node.clone() });
                RemoteNode::new(instance)
            });
            entry.last_seen = Instant::now();
            match delta {
                Err(seq) => {
                    // A heartbeat: a number past ours means changes were missed.
                    if !entry.synced || seq > entry.seq {
                        entry.synced = false;
                        sync = !entry.syncing;
                    }
                }
                Ok(delta) => {
                    if !entry.synced {
                        entry.pending.push(delta);
                        sync = !entry.syncing;
                    } else if delta.seq <= entry.seq {
                    } else if delta.seq == entry.seq + 1 {
                        entry.seq = delta.seq;
                        apply_change(&node, entry, delta.change, &mut events);
                    } else {
                        entry.synced = false;
                        entry.pending.push(delta);
                        sync = !entry.syncing;
                    }
                }
            }
            if sync {
                entry.syncing = true;
            }
        }
        for event in events {
            self.emit(event);
        }
        if sync {
            tokio::spawn(sync_node(self.clone(), node));
        }
    }
}

fn apply_change(
    node: &str,
    entry: &mut RemoteNode,
    change: Change,
    events: &mut Vec<ClusterEvent>,
) {
    match change {
        Change::Received(mut info) => {
            info.node = node.to_owned();
            if !entry.peers.contains_key(&info.id) {
                entry.peers.insert(
                    info.id.clone(),
                    RemoteEntry {
                        info: Arc::new(info.clone()),
                        gone: CancellationToken::new(),
                    },
                );
                events.push(ClusterEvent::Received(info));
            }
        }
        Change::Closed(id) => {
            if let Some(peer) = entry.peers.remove(&id) {
                peer.gone.cancel();
                events.push(ClusterEvent::Closed {
                    id,
                    node: node.to_owned(),
                });
            }
        }
        Change::Failure(id, error) => {
            if let Some(peer) = entry.peers.remove(&id) {
                peer.gone.cancel();
                events.push(ClusterEvent::Failure {
                    id,
                    node: node.to_owned(),
                    error,
                });
            }
        }
    }
}

/// Fetches a node's snapshot and applies it, then the changes that came
/// meanwhile.
async fn sync_node(inner: Arc<NodeInner>, node: String) {
    let Some(nats) = inner.nats.clone() else {
        return;
    };
    loop {
        let fetched = nats.fetch_snapshot(&node).await;
        let mut events = Vec::new();
        let mut again = false;
        {
            let mut remote = inner.remote.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(entry) = remote.get_mut(&node) else {
                return;
            };
            entry.syncing = false;
            match fetched {
                Err(why) => {
                    // The next snapshot covers whatever came before it.
                    entry.pending.clear();
                    tracing::debug!(%node, %why, "snapshot failed; retried at the next heartbeat");
                }
                Ok((seq, peers)) => {
                    let mut fresh: HashMap<String, PeerInfo> = peers
                        .into_iter()
                        .map(|mut p| {
                            p.node = node.clone();
                            (p.id.clone(), p)
                        })
                        .collect();
                    let old = std::mem::take(&mut entry.peers);
                    for (id, peer) in old {
                        if fresh.remove(&id).is_some() {
                            entry.peers.insert(id, peer);
                        } else {
                            peer.gone.cancel();
                            events.push(ClusterEvent::Closed {
                                id,
                                node: node.clone(),
                            });
                        }
                    }
                    for (_, info) in fresh {
                        apply_change(&node, entry, Change::Received(info), &mut events);
                    }
                    entry.seq = seq;
                    entry.synced = true;
                    let mut pending = std::mem::take(&mut entry.pending);
                    pending.sort_by_key(|d| d.seq);
                    for delta in pending {
                        if delta.seq <= entry.seq {
                            continue;
                        }
                        if delta.seq == entry.seq + 1 {
                            entry.seq = delta.seq;
                            apply_change(&node, entry, delta.change, &mut events);
                        } else {
                            entry.synced = false;
                            entry.syncing = true;
                            again = true;
                            break;
                        }
                    }
                }
            }
        }
        for event in events {
            inner.emit(event);
        }
        if !again {
            return;
        }
    }
}

/// Watches the server's connections; on every heartbeat tick reconciles,
/// tells the cluster this node is alive and drops the silent nodes.
async fn local_loop(inner: Arc<NodeInner>, mut events: swaggersocket::Events<Event>) {
    let mut tick = tokio::time::interval(inner.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = inner.stop.cancelled() => return,
            event = events.recv() => match event {
                None => return,
                Some(Event::Received(conn)) => {
                    let info = PeerInfo::of(&conn, SystemTime::now(), &inner.id);
                    inner.local_change(Change::Received(info)).await;
                }
                Some(Event::Closed(id)) => inner.local_change(Change::Closed(id.to_string())).await,
                Some(Event::Failure(id, error)) => {
                    inner.local_change(Change::Failure(id.to_string(), error.to_string())).await;
                }
                Some(_) => {}
            },
            _ = tick.tick() => {
                inner.reconcile().await;
                if let Some(nats) = &inner.nats {
                    let (seq, peers) = {
                        let local = inner.local.lock().unwrap_or_else(PoisonError::into_inner);
                        (local.seq, local.peers.len())
                    };
                    nats.publish_registry(RegistryMsg::Heartbeat {
                        node: inner.id.clone(),
                        seq,
                        peers,
                    })
                    .await;
                    inner.reap();
                }
            }
        }
    }
}

/// The next message of `sub`, or `None` once the node stops (the
/// subscription is then dropped on the server too) or the subscription ends.
async fn next_or_stop(
    sub: &mut async_nats::Subscriber,
    stop: &CancellationToken,
) -> Option<async_nats::Message> {
    tokio::select! {
        biased;
        _ = stop.cancelled() => {
            let _ = sub.unsubscribe().await;
            None
        }
        msg = sub.next() => msg,
    }
}

async fn registry_loop(inner: Arc<NodeInner>, mut sub: async_nats::Subscriber) {
    loop {
        let Some(msg) = next_or_stop(&mut sub, &inner.stop).await else {
            return;
        };
        match serde_json::from_slice::<Envelope>(&msg.payload) {
            Ok(envelope) => inner.apply(envelope.instance, envelope.msg),
            Err(e) => tracing::warn!(error = %e, "an unreadable registry message was ignored"),
        }
    }
}

async fn snapshot_loop(inner: Arc<NodeInner>, mut sub: async_nats::Subscriber) {
    loop {
        let Some(msg) = next_or_stop(&mut sub, &inner.stop).await else {
            return;
        };
        let (Some(reply), Some(nats)) = (msg.reply, inner.nats.as_ref()) else {
            continue;
        };
        let (seq, peers): (u64, Vec<Arc<PeerInfo>>) = {
            let local = inner.local.lock().unwrap_or_else(PoisonError::into_inner);
            (local.seq, local.peers.values().cloned().collect())
        };
        // Pages under the part size, so under NATS's payload limit.
        let mut pages: Vec<Vec<PeerInfo>> = vec![Vec::new()];
        let mut size = 0;
        for peer in peers {
            let len = serde_json::to_vec(&*peer).map(|v| v.len()).unwrap_or(0) + 1;
            if size + len > nats.part.saturating_sub(64) && !pages[pages.len() - 1].is_empty() {
                pages.push(Vec::new());
                size = 0;
            }
            size += len;
            let last = pages.len() - 1;
            pages[last].push((*peer).clone());
        }
        let count = pages.len();
        for (i, peers) in pages.into_iter().enumerate() {
            let page = SnapshotPage {
                seq,
                last: i + 1 == count,
                peers,
            };
            if let Ok(payload) = serde_json::to_vec(&page) {
                let _ = nats.client.publish(reply.clone(), payload.into()).await;
            }
        }
    }
}

async fn call_loop(inner: Arc<NodeInner>, mut sub: async_nats::Subscriber) {
    loop {
        let Some(msg) = next_or_stop(&mut sub, &inner.stop).await else {
            return;
        };
        let inner = inner.clone();
        // A calling node that dies sends no CANCEL: its calls end here when
        // the registry drops it (TTL + heartbeat), not at their deadline or
        // the streaming idle timeout.
        let caller_gone = inner.caller_gone(msg.reply.as_deref());
        tokio::spawn(async move {
            let stop = inner.stop.clone();
            tokio::select! {
                biased;
                _ = stop.cancelled() => {}
                _ = caller_gone.cancelled() => {
                    tracing::debug!("the calling node is gone: its call is dropped");
                }
                _ = serve_call(&inner, msg) => {}
            }
        });
    }
}

#[derive(Clone, Copy)]
enum Dispatch {
    Control,
    Reply,
}

/// Hands the messages on `{prefix}.ctl.{me}.*` and `{prefix}.reply.{me}.*`
/// to the call they are for (the last token).
async fn dispatch_loop(
    stop: CancellationToken,
    mut sub: async_nats::Subscriber,
    nats: Arc<Nats>,
    kind: Dispatch,
) {
    loop {
        let Some(msg) = next_or_stop(&mut sub, &stop).await else {
            return;
        };
        let Some(call) = msg.subject.rsplit('.').next().map(str::to_owned) else {
            continue;
        };
        let map = match kind {
            Dispatch::Control => &nats.controls,
            Dispatch::Reply => &nats.replies,
        };
        let tx = {
            let calls = map.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = calls.get(&call).cloned();
            // A CANCEL can overtake its REQUEST (they travel on different
            // subjects): remember it, under the same lock `register` takes,
            // so that the call is dropped as soon as it is registered.
            if tx.is_none()
                && matches!(kind, Dispatch::Control)
                && msg.payload.first() == Some(&proto::CANCEL)
            {
                nats.early_cancels
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(call, Instant::now());
            }
            tx
        };
        if let Some(tx) = tx {
            let _ = tx.send(msg);
        }
    }
}

/// CANCELs that arrived before their call was registered: the last
/// [`EarlyCancels::MAX`], for [`EarlyCancels::KEEP`] at most.
#[derive(Default)]
struct EarlyCancels {
    order: std::collections::VecDeque<(String, Instant)>,
    ids: HashMap<String, Instant>,
}

impl EarlyCancels {
    const MAX: usize = 4096;
    const KEEP: Duration = Duration::from_secs(60);

    fn insert(&mut self, call: String, now: Instant) {
        while let Some((old, at)) = self.order.front() {
            if self.order.len() < Self::MAX && now.duration_since(*at) < Self::KEEP {
                break;
            }
            if self.ids.get(old) == Some(at) {
                self.ids.remove(old);
            }
            self.order.pop_front();
        }
        if !self.ids.contains_key(&call) {
            self.ids.insert(call.clone(), now);
            self.order.push_back((call, now));
        }
    }

    /// True (once) when `call` was cancelled before it was registered.
    fn take(&mut self, call: &str) -> bool {
        // The entry stays in `order` until it ages out; `ids` is what counts.
        self.ids.remove(call).is_some()
    }
}

/// This node's NATS side.
pub(crate) struct Nats {
    client: async_nats::Client,
    /// Random at each start (see `Envelope`).
    instance: u64,
    prefix: String,
    node: String,
    /// The largest body piece in one message.
    part: usize,
    /// The largest message: the NATS server's `max_payload`.
    max_message: usize,
    window: u64,
    idle: Duration,
    /// Calls this node made, by call id: their replies.
    replies: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
    /// Calls this node serves, by call id: the callers' acks, cancels and
    /// request parts.
    controls: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
    /// CANCELs that overtook their call (see `dispatch_loop`).
    early_cancels: Mutex<EarlyCancels>,
}

/// Removes a call from a dispatch map when dropped, and, armed, tells the
/// other side the call is given up.
struct Registration {
    nats: Arc<Nats>,
    call: String,
    control: bool,
    cancel_to: Option<String>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let map = if self.control {
            &self.nats.controls
        } else {
            &self.nats.replies
        };
        map.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.call);
        if let Some(subject) = self.cancel_to.take() {
            let client = self.nats.client.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = client
                        .publish(subject, proto::one_byte(proto::CANCEL))
                        .await;
                });
            }
        }
    }
}

impl Nats {
    async fn publish_registry(&self, msg: RegistryMsg) {
        let envelope = Envelope {
            instance: self.instance,
            msg,
        };
        match serde_json::to_vec(&envelope) {
            Ok(payload) => {
                if let Err(e) = self
                    .client
                    .publish(format!("{}.registry", self.prefix), payload.into())
                    .await
                {
                    tracing::warn!(error = %e, "publishing on NATS failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "a registry message did not encode"),
        }
    }

    fn register(
        self: &Arc<Self>,
        call: &str,
        control: bool,
    ) -> (Registration, mpsc::UnboundedReceiver<Message>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let map = if control {
            &self.controls
        } else {
            &self.replies
        };
        map.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(call.to_owned(), tx);
        (
            Registration {
                nats: self.clone(),
                call: call.to_owned(),
                control,
                cancel_to: None,
            },
            rx,
        )
    }

    fn reply_subject(&self, call: &str) -> String {
        format!("{}.reply.{}.{call}", self.prefix, self.node)
    }

    async fn fetch_snapshot(self: &Arc<Self>, node: &str) -> Result<(u64, Vec<PeerInfo>), String> {
        let call = new_call_id();
        let (_registration, mut rx) = self.register(&call, false);
        self.client
            .publish_with_reply(
                format!("{}.node.{node}.snapshot", self.prefix),
                self.reply_subject(&call),
                Bytes::new(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut peers = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let msg = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .map_err(|_| format!("node {node} sent no snapshot within 5 s"))?
                .ok_or("the node is stopping")?;
            if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                return Err(format!("node {node} does not answer"));
            }
            let page: SnapshotPage =
                serde_json::from_slice(&msg.payload).map_err(|e| e.to_string())?;
            peers.extend(page.peers);
            if page.last {
                return Ok((page.seq, peers));
            }
        }
    }
}

fn rand_u64() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_be_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

fn new_call_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The deadline of a remote call's response head when the caller gave none
/// (the runtime's default call timeout).
const REMOTE_HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach a peer connected to another node.
pub(crate) struct RemoteRoute {
    nats: Arc<Nats>,
    node: String,
    gone: CancellationToken,
}

impl RemoteRoute {
    fn gone_error(&self, id: &str) -> CallError {
        CallError::new(
            CallErrorKind::PeerGone,
            format!("peer {id} (on node {}) went away", self.node),
        )
    }

    pub(crate) async fn call(
        &self,
        id: &str,
        request: Request<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<Response<PeerBody>, CallError> {
        if self.gone.is_cancelled() {
            return Err(self.gone_error(id));
        }
        // A message lost on the way (NATS restarting) must not leave the
        // caller waiting for ever.
        let limit = timeout.unwrap_or(REMOTE_HEAD_TIMEOUT);
        let nats = &self.nats;
        let call = new_call_id();
        let control = format!("{}.ctl.{}.{call}", nats.prefix, self.node);
        let encoded = proto::encode_request(&request);
        let first = encoded.len().min(nats.part);
        let (mut registration, mut rx) = nats.register(&call, false);
        // From here, a caller that goes away cancels the call on the node.
        registration.cancel_to = Some(control.clone());
        let head = proto::CallHead {
            call: call.clone(),
            peer: id.to_owned(),
            timeout_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1),
            total: encoded.len() as u64,
        };
        nats.client
            .publish_with_reply(
                format!("{}.node.{}.call", nats.prefix, self.node),
                nats.reply_subject(&call),
                proto::encode_call(&head, &encoded[..first]),
            )
            .await
            .map_err(|e| {
                CallError::new(
                    CallErrorKind::Unavailable,
                    format!("the call could not be sent over NATS: {e}"),
                )
            })?;
        // The node applies the deadline too; this one, a little later, covers
        // a node that died meanwhile without its heartbeats running out yet.
        let sleep = tokio::time::sleep(limit + Duration::from_millis(500));
        tokio::pin!(sleep);
        loop {
            let msg = tokio::select! {
                msg = rx.recv() => msg,
                _ = self.gone.cancelled() => return Err(self.gone_error(id)),
                _ = &mut sleep => {
                    return Err(CallError::timeout(limit));
                }
            };
            let Some(msg) = msg else {
                return Err(CallError::new(
                    CallErrorKind::Unavailable,
                    "this node is stopping",
                ));
            };
            if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                registration.cancel_to = None;
                return Err(CallError::new(
                    CallErrorKind::PeerGone,
                    format!("node {} of peer {id} does not answer on NATS", self.node),
                ));
            }
            let mut payload = msg.payload;
            if payload.is_empty() {
                continue;
            }
            let kind = payload[0];
            let rest = payload.split_off(1);
            match kind {
                proto::MORE => {
                    for piece in encoded[first..].chunks(nats.part) {
                        let mut part = bytes::BytesMut::with_capacity(piece.len() + 1);
                        part.extend_from_slice(&[proto::PART]);
                        part.extend_from_slice(piece);
                        nats.client
                            .publish(control.clone(), part.freeze())
                            .await
                            .map_err(|e| {
                                CallError::new(
                                    CallErrorKind::Unavailable,
                                    format!("the request could not be sent over NATS: {e}"),
                                )
                            })?;
                    }
                }
                proto::WHOLE => {
                    registration.cancel_to = None;
                    let response = proto::decode_response(rest).map_err(malformed)?;
                    let (parts, body) = response.into_parts();
                    return Ok(Response::from_parts(parts, PeerBody::full(body)));
                }
                proto::ERROR => {
                    registration.cancel_to = None;
                    return Err(proto::decode_error(rest).map_err(malformed)?);
                }
                proto::HEAD => {
                    let response = proto::decode_response(rest).map_err(malformed)?;
                    let (parts, _) = response.into_parts();
                    let (tx, body) = mpsc::channel(2);
                    tokio::spawn(pump_body(
                        registration,
                        rx,
                        tx,
                        control,
                        self.gone.clone(),
                        self.gone_error(id),
                        nats.clone(),
                    ));
                    return Ok(Response::from_parts(parts, PeerBody::remote(body)));
                }
                _ => {}
            }
        }
    }
}

fn malformed(e: proto::Malformed) -> CallError {
    CallError::new(
        CallErrorKind::PeerGone,
        format!("the peer's node sent a malformed message ({})", e.0),
    )
}

/// Moves a remote response body to its consumer, acknowledging each piece
/// once the consumer took it: the serving node sends no more than its
/// window ahead.
async fn pump_body(
    mut registration: Registration,
    mut rx: mpsc::UnboundedReceiver<Message>,
    tx: mpsc::Sender<Result<Bytes, CallError>>,
    control: String,
    gone: CancellationToken,
    gone_error: CallError,
    nats: Arc<Nats>,
) {
    loop {
        let msg = tokio::select! {
            msg = rx.recv() => msg,
            _ = gone.cancelled() => {
                let _ = tx.send(Err(gone_error)).await;
                return;
            }
            _ = tx.closed() => return,
        };
        let Some(msg) = msg else {
            let _ = tx
                .send(Err(CallError::new(
                    CallErrorKind::Unavailable,
                    "this node is stopping",
                )))
                .await;
            return;
        };
        let mut payload = msg.payload;
        if payload.is_empty() {
            continue;
        }
        let kind = payload[0];
        let mut rest = payload.split_off(1);
        match kind {
            proto::DATA => {
                let Ok(seq) = proto::get_u64(&mut rest, "sequence") else {
                    let _ = tx.send(Err(malformed(proto::Malformed("data")))).await;
                    return;
                };
                tokio::select! {
                    sent = tx.send(Ok(rest)) => if sent.is_err() { return },
                    _ = gone.cancelled() => {
                        let _ = tx.try_send(Err(gone_error));
                        return;
                    }
                }
                let _ = nats
                    .client
                    .publish(control.clone(), proto::encode_ack(seq))
                    .await;
            }
            proto::END => {
                registration.cancel_to = None;
                return;
            }
            proto::ERROR => {
                registration.cancel_to = None;
                let error = proto::decode_error(rest).unwrap_or_else(malformed);
                let _ = tx.send(Err(error)).await;
                return;
            }
            _ => {}
        }
    }
}

/// Serves a call from another node to a peer of this one.
async fn serve_call(inner: &Arc<NodeInner>, msg: Message) {
    let Some(nats) = inner.nats.clone() else {
        return;
    };
    let Some(reply) = msg.reply else {
        return;
    };
    let send = |payload: Bytes| {
        let client = nats.client.clone();
        let reply = reply.clone();
        async move {
            let _ = client.publish(reply, payload).await;
        }
    };
    let fail = |kind: CallErrorKind, message: String| {
        send(proto::encode_error(proto::error_kind(kind), &message))
    };
    let (head, first) = match proto::decode_call(msg.payload) {
        Ok(decoded) => decoded,
        Err(e) => {
            fail(
                CallErrorKind::BadRequest,
                format!("malformed call message ({})", e.0),
            )
            .await;
            return;
        }
    };
    let (_registration, mut control) = nats.register(&head.call, true);
    if nats
        .early_cancels
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take(&head.call)
    {
        // The caller gave up before this node had registered the call.
        return;
    }
    let Some(conn) = inner.server.connection(&head.peer) else {
        fail(
            CallErrorKind::NotFound,
            format!(
                "no peer with id {:?} is connected to node {}",
                head.peer, inner.id
            ),
        )
        .await;
        return;
    };
    let total = usize::try_from(head.total).unwrap_or(usize::MAX);
    let encoded = if total > first.len() {
        if total > 64 << 20 {
            fail(
                CallErrorKind::BadRequest,
                "the request is over 64 MiB".into(),
            )
            .await;
            return;
        }
        let mut whole = bytes::BytesMut::with_capacity(total);
        whole.extend_from_slice(&first);
        send(proto::one_byte(proto::MORE)).await;
        while whole.len() < total {
            let msg = match tokio::time::timeout(Duration::from_secs(30), control.recv()).await {
                Ok(Some(msg)) => msg,
                _ => return,
            };
            match msg.payload.first() {
                Some(&proto::PART) => whole.extend_from_slice(&msg.payload[1..]),
                Some(&proto::CANCEL) => return,
                _ => {}
            }
        }
        whole.freeze()
    } else {
        first
    };
    let request = match proto::decode_request(encoded) {
        Ok(request) => request,
        Err(e) => {
            fail(
                CallErrorKind::BadRequest,
                format!("malformed request ({})", e.0),
            )
            .await;
            return;
        }
    };
    let timeout = (head.timeout_ms > 0).then(|| Duration::from_millis(head.timeout_ms));
    let call = async {
        match timeout {
            Some(limit) => tokio::time::timeout(limit, conn.call_streaming(request))
                .await
                .map_err(|_| CallError::timeout(limit))?
                .map_err(CallError::from),
            None => conn.call_streaming(request).await.map_err(CallError::from),
        }
    };
    tokio::pin!(call);
    let result = loop {
        tokio::select! {
            result = &mut call => break result,
            msg = control.recv() => match msg {
                Some(msg) if msg.payload.first() == Some(&proto::CANCEL) => return,
                Some(_) => {}
                None => return,
            },
        }
    };
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            fail(error.kind(), error.message().to_owned()).await;
            return;
        }
    };
    let (parts, body) = response.into_parts();
    // A whole body goes in one message when it fits, else in pieces after
    // the head, as a streamed one does.
    let outgoing = if body.is_streamed() {
        Err(body)
    } else {
        let bytes = match body.collect(usize::MAX).await {
            Ok(bytes) => bytes,
            Err(e) => {
                fail(
                    CallErrorKind::PeerGone,
                    format!("the peer's response was cut: {e}"),
                )
                .await;
                return;
            }
        };
        let whole = proto::encode_response(proto::WHOLE, &parts, &bytes);
        if whole.len() <= nats.max_message {
            send(whole).await;
            return;
        }
        Ok(bytes)
    };
    let head = proto::encode_response(proto::HEAD, &parts, &[]);
    if head.len() > nats.max_message {
        fail(
            CallErrorKind::PeerGone,
            head_too_large(head.len(), nats.max_message),
        )
        .await;
        return;
    }
    send(head).await;
    let mut window = Window::new(&nats);
    let mut body = match outgoing {
        Ok(bytes) => {
            for piece in bytes.chunks(nats.part) {
                if !window.send(&mut control, &send, piece).await {
                    return;
                }
            }
            send(proto::one_byte(proto::END)).await;
            return;
        }
        Err(body) => body,
    };
    loop {
        let next = tokio::select! {
            next = body.next() => next,
            msg = control.recv() => {
                match msg {
                    Some(msg) => if !window.control(&msg) { return },
                    None => return,
                }
                continue;
            }
        };
        match next {
            None => {
                send(proto::one_byte(proto::END)).await;
                return;
            }
            Some(Err(e)) => {
                fail(
                    CallErrorKind::PeerGone,
                    format!("the peer's response was cut: {e}"),
                )
                .await;
                return;
            }
            Some(Ok(chunk)) => {
                for piece in chunk.chunks(nats.part) {
                    if !window.send(&mut control, &send, piece).await {
                        return;
                    }
                }
            }
        }
    }
}

fn head_too_large(len: usize, max: usize) -> String {
    format!(
        "the peer's response head is {len} bytes, over the {max} bytes one NATS message carries"
    )
}

/// Flow control of a response body to another node: at most `window`
/// pieces unacknowledged.
struct Window {
    sent: u64,
    acked: u64,
    window: u64,
    idle: Duration,
}

impl Window {
    fn new(nats: &Nats) -> Self {
        Window {
            sent: 0,
            acked: 0,
            window: nats.window,
            idle: nats.idle,
        }
    }

    /// Takes an ack or a cancel; false when the caller gave up.
    fn control(&mut self, msg: &Message) -> bool {
        let mut payload = msg.payload.clone();
        match payload.first() {
            Some(&proto::CANCEL) => false,
            Some(&proto::ACK) => {
                payload = payload.split_off(1);
                if let Ok(seq) = proto::get_u64(&mut payload, "ack") {
                    self.acked = self.acked.max(seq);
                }
                true
            }
            _ => true,
        }
    }

    /// Sends one piece once the window has room; false when the caller
    /// gave up or acknowledged nothing for the idle timeout.
    async fn send<F, Fut>(
        &mut self,
        control: &mut mpsc::UnboundedReceiver<Message>,
        send: &F,
        piece: &[u8],
    ) -> bool
    where
        F: Fn(Bytes) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        while self.sent.saturating_sub(self.acked) >= self.window {
            match tokio::time::timeout(self.idle, control.recv()).await {
                Ok(Some(msg)) => {
                    if !self.control(&msg) {
                        return false;
                    }
                }
                Ok(None) => return false,
                Err(_) => {
                    tracing::warn!(
                        idle_ms = self.idle.as_millis() as u64,
                        "a caller on another node acknowledged nothing: the streamed call is given up"
                    );
                    return false;
                }
            }
        }
        self.sent += 1;
        send(proto::encode_data(self.sent, piece)).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::EarlyCancels;
    use std::time::{Duration, Instant};

    #[test]
    fn an_early_cancel_is_taken_once_and_ages_out() {
        let mut early = EarlyCancels::default();
        let t0 = Instant::now();
        early.insert("a".into(), t0);
        early.insert("b".into(), t0);
        assert!(early.take("a"));
        assert!(!early.take("a"), "taken once");
        assert!(!early.take("never"));
        // Past the keep time, a new insert ages the old ones out.
        early.insert("c".into(), t0 + EarlyCancels::KEEP + Duration::from_secs(1));
        assert!(!early.take("b"), "aged out");
        assert!(early.take("c"));
    }

    #[test]
    fn early_cancels_are_bounded() {
        let mut early = EarlyCancels::default();
        let now = Instant::now();
        for i in 0..EarlyCancels::MAX + 10 {
            early.insert(format!("call-{i}"), now);
        }
        assert!(early.order.len() <= EarlyCancels::MAX);
        assert!(!early.take("call-0"), "the oldest went first");
        assert!(early.take(&format!("call-{}", EarlyCancels::MAX + 9)));
    }

    #[test]
    fn a_taken_id_cancelled_again_is_remembered_again() {
        let mut early = EarlyCancels::default();
        let t0 = Instant::now();
        early.insert("a".into(), t0);
        assert!(early.take("a"));
        early.insert("a".into(), t0 + Duration::from_secs(30));
        // The first entry ages out; the second, newer one must stay.
        early.insert("z".into(), t0 + EarlyCancels::KEEP + Duration::from_secs(1));
        assert!(early.take("a"));
    }
}
