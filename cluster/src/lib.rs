//! Reach the peers of swaggersocket servers from anywhere.
//!
//! - [`Gateway`]: the peers' APIs over plain HTTP (an axum `Router`):
//!   `GET /peers`, `ANY /peers/{id}/{path}`, streamed responses included.
//! - [`Node`]: a `Server` and, opted in with [`NodeBuilder::nats`], its
//!   place in a cluster of nodes over NATS: a cluster-wide
//!   [`connection`](Node::connection), [`find`](Node::find) and
//!   [`call`](Node::call), local and remote peers alike, and cluster-wide
//!   [`events`](Node::events). Alone (no NATS), a node is exactly its
//!   `Server`.
//!
//! See `docs/CLUSTER.md` for the subjects and messages on NATS, the failure
//! modes and their bounds, and how to run three nodes on one machine.

mod error;
mod gateway;
mod node;
mod peer;
mod proto;

pub use error::{CallError, CallErrorKind};
pub use gateway::{Gateway, GatewayRequest, TIMEOUT_HEADER};
pub use node::{ClusterEvent, ClusterEvents, Node, NodeBuilder, StartError};
pub use peer::{Peer, PeerBody, PeerDirectory, PeerInfo};
pub use swaggersocket::Reject;
