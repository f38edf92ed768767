//! The runtime's one error type.

use std::fmt;
use std::sync::Arc;

/// A boxed error, as tower services return them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`Error`] reports.
///
/// Match on it to decide what to do: retry after [`ErrorKind::Closed`] once the
/// client has reconnected, back off after [`ErrorKind::TooManyInFlight`], and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A socket-level failure: connect, read or write.
    Io,
    /// The websocket layer failed (upgrade refused, bad frame, …).
    WebSocket,
    /// The three-message swaggersocket handshake failed or timed out.
    Handshake,
    /// The peer sent something the protocol does not allow (an unparsable
    /// HTTP message, a frame of the wrong kind).
    Protocol,
    /// The connection is closed, or closed while the call was in flight.
    Closed,
    /// The peer stopped answering: no frame arrived within the heartbeat timeout.
    HeartbeatTimeout,
    /// The call got no response within its timeout.
    Timeout,
    /// A message was larger than the configured maximum.
    MessageTooLarge,
    /// The connection already has the maximum number of calls in flight.
    TooManyInFlight,
    /// The request could not be turned into a wire message (for example a
    /// header value the protocol cannot carry).
    InvalidRequest,
    /// A URL, address or option given to a builder is not usable.
    Config,
    /// The TLS handshake failed (an untrusted or misnamed certificate, a
    /// peer that does not speak TLS); the message says which check failed.
    Tls,
    /// The server answered the websocket upgrade with an HTTP error (401,
    /// 403, 429, …) instead of switching protocols; the message carries the
    /// status and the body.
    Rejected,
    /// The peer is not reading: the bytes queued to it are at the
    /// connection's limit ([`Config::max_queued_bytes`](crate::Config::max_queued_bytes)),
    /// so the call was not sent. Retry later or on another connection.
    PeerNotReading,
    /// A resumable session (`resume/1`) was lost and not resumed: the
    /// client did not come back within the resume window, or the resume
    /// was refused (wrong token, a replay buffer that overflowed, counts
    /// that do not match). The message says which; calls that were in
    /// flight on the session fail with it.
    NotResumed,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "i/o error",
            ErrorKind::WebSocket => "websocket error",
            ErrorKind::Handshake => "handshake failed",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Closed => "connection closed",
            ErrorKind::HeartbeatTimeout => "heartbeat timeout",
            ErrorKind::Timeout => "call timed out",
            ErrorKind::MessageTooLarge => "message too large",
            ErrorKind::TooManyInFlight => "too many calls in flight",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Tls => "TLS handshake failed",
            ErrorKind::Rejected => "connection refused by the server",
            ErrorKind::PeerNotReading => "the peer is not reading",
            ErrorKind::NotResumed => "session not resumed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every fallible runtime operation.
///
/// It is cheap to clone (one reference count), so one failure can be handed to
/// every call that was waiting on a connection. [`Error::kind`] tells what
/// happened; `Display` says it in words (the kind and this error's own
/// message, never the cause), and [`std::error::Error::source`] leads to the
/// underlying cause where there is one, so that a report such as anyhow's
/// `{:#}` prints each cause once.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                message: message.into(),
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                message: message.into(),
                source: Some(source.into()),
            }),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message without the kind prefix or the source.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// True for errors after which the same call may succeed on a new
    /// connection (the connection closed or failed, or the call timed out).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Closed
                | ErrorKind::HeartbeatTimeout
                | ErrorKind::Io
                | ErrorKind::WebSocket
                | ErrorKind::NotResumed
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cause is not repeated here: it is `source()`, and error
        // reporters (anyhow, eyre, tracing) print the chain themselves.
        write!(f, "{}: {}", self.inner.kind, self.inner.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(err: tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::error::{
            CapacityError, Error as WsError, ProtocolError,
        };
        match err {
            WsError::Io(io) => {
                Error::with_source(ErrorKind::Io, format!("socket error ({})", io.kind()), io)
            }
            // The TCP stream ended (FIN) with no close frame, between
            // messages or in the middle of one.
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Error::new(
                ErrorKind::Closed,
                "the peer closed the socket without a close frame",
            ),
            WsError::ConnectionClosed | WsError::AlreadyClosed => {
                Error::new(ErrorKind::Closed, "the websocket is closed")
            }
            WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Error::new(
                ErrorKind::MessageTooLarge,
                format!("a message of {size} bytes exceeds the maximum of {max_size} bytes"),
            ),
            other => Error::with_source(ErrorKind::WebSocket, "websocket failure", other),
        }
    }
}
