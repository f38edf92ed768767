//! Connection events.

use crate::connection::{Connection, ConnectionId};
use crate::error::Error;
use std::time::Duration;
use tokio::sync::broadcast;

/// What happened to a server's connection (Go's `ConnectionEvent`).
///
/// Each connection raises `Received` once, then exactly one of `Closed` or
/// `Failure`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A client completed the handshake; the connection is registered.
    Received(Connection),
    /// The connection ended with a close frame, sent or received.
    Closed(ConnectionId),
    /// The connection was lost: socket error, heartbeat timeout, protocol
    /// violation.
    Failure(ConnectionId, Error),
    /// A resumable connection (`resume/1`) lost its socket, with this
    /// error: it stays registered, with its calls in flight, for its client
    /// to resume it within the resume window; then `Resumed`, or `Failure`
    /// with [`ErrorKind::NotResumed`](crate::ErrorKind::NotResumed).
    Detached(ConnectionId, Error),
    /// The client resumed a detached connection over a new socket: same id,
    /// metadata and handler; what either side had not received was sent again.
    Resumed(Connection),
}

/// What happened to a client's connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A connection completed its handshake (the first one or after a
    /// reconnect).
    Connected(Connection),
    /// A resumable connection (`resume/1`) lost its socket; the client
    /// tries to resume it (same id, calls in flight kept) and raises
    /// `Resumed`, or, if the server refuses or the window passes,
    /// `Disconnected` for it and `Connected` for a new one.
    Detached {
        /// The id of the connection that lost its socket.
        id: ConnectionId,
        /// How it was lost.
        error: Error,
    },
    /// The client resumed its connection over a new socket: the same
    /// connection, id and metadata; calls in flight complete.
    Resumed(Connection),
    /// The connection ended; `error` is `None` after a close frame.
    Disconnected {
        /// The id of the connection that ended.
        id: ConnectionId,
        /// Why it failed, if it failed.
        error: Option<Error>,
    },
    /// The client waits `delay` before its `attempt`-th try to reconnect.
    Reconnecting {
        /// 1 for the first try after a loss.
        attempt: u32,
        /// How long it waits before trying.
        delay: Duration,
    },
    /// Reconnecting stopped after the configured number of attempts.
    GaveUp {
        /// The error of the last attempt.
        error: Error,
    },
}

/// A subscription to events. Events raised before it was created are not in
/// it. A subscriber that falls more than the channel capacity (1,024 events)
/// behind skips the oldest ones and a warning is logged; it never slows the
/// server down.
#[derive(Debug)]
pub struct Events<E> {
    rx: broadcast::Receiver<E>,
}

pub(crate) const EVENT_CAPACITY: usize = 1024;

impl<E: Clone> Events<E> {
    pub(crate) fn new(rx: broadcast::Receiver<E>) -> Self {
        Events { rx }
    }

    /// The next event; `None` once the server or client is gone.
    pub async fn recv(&mut self) -> Option<E> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "event subscriber fell behind; skipped events");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is waiting, without blocking.
    pub fn try_recv(&mut self) -> Option<E> {
        loop {
            match self.rx.try_recv() {
                Ok(event) => return Some(event),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "event subscriber fell behind; skipped events");
                }
                Err(_) => return None,
            }
        }
    }
}
