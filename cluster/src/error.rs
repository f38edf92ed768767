//! What a call to a peer through the directory can fail with.

use http::StatusCode;
use std::fmt;

/// Why a call to a peer failed, as the gateway answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallErrorKind {
    /// No peer has this id, on this node or any other (HTTP 404).
    NotFound,
    /// The peer, or the node it is connected to, went away before the
    /// response ended (HTTP 502).
    PeerGone,
    /// No response head within the deadline (HTTP 504).
    Timeout,
    /// The cluster could not carry the call: NATS is unreachable, the
    /// request is too large, the peer refused the call (HTTP 502 or 503).
    Unavailable,
    /// The request could not be sent as it is (HTTP 400).
    BadRequest,
}

/// A failed call to a peer: what kind of failure, and a message that says
/// what happened in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    kind: CallErrorKind,
    message: String,
}

impl CallError {
    /// A new error.
    pub fn new(kind: CallErrorKind, message: impl Into<String>) -> Self {
        CallError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> CallErrorKind {
        self.kind
    }

    /// The message, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status the gateway answers this error with.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            CallErrorKind::NotFound => StatusCode::NOT_FOUND,
            CallErrorKind::PeerGone => StatusCode::BAD_GATEWAY,
            CallErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            CallErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            CallErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn not_found(id: &str) -> Self {
        CallError::new(
            CallErrorKind::NotFound,
            format!("no peer with id {id:?} is connected"),
        )
    }

    pub(crate) fn timeout(limit: std::time::Duration) -> Self {
        CallError::new(
            CallErrorKind::Timeout,
            format!("the peer did not answer within {} ms", limit.as_millis()),
        )
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallError {}

impl From<swaggersocket::Error> for CallError {
    fn from(error: swaggersocket::Error) -> Self {
        use swaggersocket::ErrorKind as K;
        let kind = match error.kind() {
            K::Timeout => CallErrorKind::Timeout,
            K::InvalidRequest | K::MessageTooLarge => CallErrorKind::BadRequest,
            K::TooManyInFlight | K::PeerNotReading => CallErrorKind::Unavailable,
            _ => CallErrorKind::PeerGone,
        };
        CallError::new(kind, format!("the call to the peer failed: {error}"))
    }
}
