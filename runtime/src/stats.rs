//! Counters of the limits a peer hit, and their rate-limited log lines.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Why something a peer did was refused or cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// An upgrade past [`max_connections`](crate::ServerBuilder::max_connections): HTTP 503.
    TooManyConnections,
    /// A socket past [`max_handshakes`](crate::ServerBuilder::max_handshakes): dropped.
    TooManyHandshakes,
    /// The upgrade and handshake did not finish within the handshake timeout.
    HandshakeTimeout,
    /// The handshake failed (bad or oversized messages, metadata refused).
    HandshakeRejected,
    /// The peer did not read for the write stall timeout: closed with 1008.
    PeerNotReading,
    /// A call to a peer whose queue is full failed at once.
    CallRefused,
    /// A request answered 503 by the per-connection admission limits.
    RequestRefused,
    /// An undecodable request answered 400, or a message dropped.
    Malformed,
    /// A request reused a correlation id still being served: answered 409.
    DuplicateId,
    /// A websocket protocol error or an oversized message: closed with
    /// 1002, 1007 or 1009.
    ProtocolError,
    /// Pings past the ping budget: closed with 1008.
    PingFlood,
}

const REASONS: usize = 11;

impl Reason {
    fn index(self) -> usize {
        self as usize
    }

    fn as_str(self) -> &'static str {
        match self {
            Reason::TooManyConnections => "too many connections",
            Reason::TooManyHandshakes => "too many handshakes in progress",
            Reason::HandshakeTimeout => "handshake timeout",
            Reason::HandshakeRejected => "handshake rejected",
            Reason::PeerNotReading => "peer not reading",
            Reason::CallRefused => "call refused: peer not reading",
            Reason::RequestRefused => "request refused by admission limits",
            Reason::Malformed => "malformed message",
            Reason::DuplicateId => "duplicate correlation id",
            Reason::ProtocolError => "websocket protocol error",
            Reason::PingFlood => "ping flood",
        }
    }
}

/// Shared by a server and its connections (a client has its own).
#[derive(Debug)]
pub(crate) struct Counters {
    counts: [AtomicU64; REASONS],
    /// Milliseconds since `born` of each reason's last log line, plus one
    /// (0: never logged).
    logged: [AtomicU64; REASONS],
    born: Instant,
    pub(crate) connections: AtomicUsize,
    pub(crate) handshakes: AtomicUsize,
    /// Resumable sessions (resume/1): sockets lost, sessions resumed,
    /// resumes refused, messages sent again.
    pub(crate) detached: AtomicU64,
    pub(crate) resumed: AtomicU64,
    pub(crate) refused_resumes: AtomicU64,
    pub(crate) replayed: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            counts: Default::default(),
            logged: Default::default(),
            born: Instant::now(),
            connections: AtomicUsize::new(0),
            handshakes: AtomicUsize::new(0),
            detached: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            refused_resumes: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
        }
    }
}

/// At most one log line per reason in this time: a flood of bad messages
/// must not become a flood of log lines.
const LOG_EVERY: Duration = Duration::from_secs(1);

impl Counters {
    /// Counts one rejection and logs it, unless a line for the same reason
    /// was logged within the last second. `detail` is ours, never the
    /// peer's bytes.
    pub(crate) fn hit(&self, reason: Reason, detail: fmt::Arguments<'_>) {
        let n = self.counts[reason.index()].fetch_add(1, Ordering::Relaxed) + 1;
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let slot = &self.logged[reason.index()];
        let last = slot.load(Ordering::Relaxed);
        let every = LOG_EVERY.as_millis() as u64;
        if (last == 0 || now.saturating_sub(last) >= every)
            && slot
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                reason = reason.as_str(),
                total = n,
                "limit hit: {} (logged at most once a second per reason)",
                printable(&detail.to_string())
            );
        }
    }

    fn count(&self, reason: Reason) -> u64 {
        self.counts[reason.index()].load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            connections: self.connections.load(Ordering::Relaxed),
            handshakes: self.handshakes.load(Ordering::Relaxed),
            refused_connections: self.count(Reason::TooManyConnections),
            refused_handshakes: self.count(Reason::TooManyHandshakes),
            handshake_timeouts: self.count(Reason::HandshakeTimeout),
            rejected_handshakes: self.count(Reason::HandshakeRejected),
            closed_not_reading: self.count(Reason::PeerNotReading),
            refused_calls: self.count(Reason::CallRefused),
            refused_requests: self.count(Reason::RequestRefused),
            malformed_messages: self.count(Reason::Malformed),
            duplicate_ids: self.count(Reason::DuplicateId),
            protocol_errors: self.count(Reason::ProtocolError),
            ping_floods: self.count(Reason::PingFlood),
            detached_sessions: self.detached.load(Ordering::Relaxed),
            resumed_sessions: self.resumed.load(Ordering::Relaxed),
            refused_resumes: self.refused_resumes.load(Ordering::Relaxed),
            replayed_messages: self.replayed.load(Ordering::Relaxed),
        }
    }
}

/// What a server's limits have done so far: a snapshot from
/// [`Server::stats`](crate::Server::stats). Every count is since the server
/// started; each of them is also logged (at `WARN`, at most once a second
/// per reason).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections open or in their upgrade and handshake now.
    pub connections: usize,
    /// Upgrades and handshakes in progress now.
    pub handshakes: usize,
    /// Upgrades answered HTTP 503: the server had
    /// [`max_connections`](crate::ServerBuilder::max_connections).
    pub refused_connections: u64,
    /// Sockets dropped at once: [`max_handshakes`](crate::ServerBuilder::max_handshakes)
    /// were in progress.
    pub refused_handshakes: u64,
    /// Upgrades and handshakes that did not finish within the handshake
    /// timeout (slowloris and stalled peers).
    pub handshake_timeouts: u64,
    /// Handshakes refused for their content (bad JSON, oversized metadata,
    /// metadata refused by the check, protocol errors).
    pub rejected_handshakes: u64,
    /// Connections closed with 1008 because the peer did not read for the
    /// [`write_stall_timeout`](crate::Config::write_stall_timeout).
    pub closed_not_reading: u64,
    /// Calls to a peer that failed at once because its queue was full.
    pub refused_calls: u64,
    /// Requests answered 503 by a connection's admission limits.
    pub refused_requests: u64,
    /// Undecodable messages (a request among them is answered 400).
    pub malformed_messages: u64,
    /// Requests whose correlation id was still being served (answered 409).
    pub duplicate_ids: u64,
    /// Connections closed for a websocket protocol error or an oversized
    /// message (1002, 1007, 1009).
    pub protocol_errors: u64,
    /// Connections closed with 1008 for pinging past the ping budget.
    pub ping_floods: u64,
    /// Times a resumable session (`resume/1`) lost its socket and was
    /// detached.
    pub detached_sessions: u64,
    /// Detached sessions their client resumed.
    pub resumed_sessions: u64,
    /// Resumes refused (wrong token, unknown or ended session, counts that
    /// do not match, replay buffer exceeded); each is also counted in
    /// `rejected_handshakes`.
    pub refused_resumes: u64,
    /// Messages sent again to clients after resumes (what they had not
    /// acknowledged).
    pub replayed_messages: u64,
}

/// At most 200 characters of `text`, control characters escaped: a log
/// line stays one short line whatever a peer put in an error.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(210));
    for (n, c) in text.chars().enumerate() {
        if n == 200 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_details_are_short_and_printable() {
        assert_eq!(printable("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(printable(&"x".repeat(1000)).chars().count(), 201);
    }

    #[test]
    fn every_hit_is_counted_by_reason() {
        let counters = Counters::default();
        for _ in 0..3 {
            counters.hit(Reason::DuplicateId, format_args!("dup"));
        }
        counters.hit(Reason::PingFlood, format_args!("pings"));
        let stats = counters.snapshot();
        assert_eq!((stats.duplicate_ids, stats.ping_floods), (3, 1));
        assert_eq!(stats.protocol_errors, 0);
    }
}
