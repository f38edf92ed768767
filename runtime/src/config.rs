//! Options shared by servers and clients.

use crate::wire::WireLimits;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A hook called with the application data of every Ping or Pong received.
pub type HeartbeatHook = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Per-connection options: limits, timeouts and the heartbeat.
///
/// Every limit has a safe default; every limit that is hit gives a clear error
/// to the side that caused it and leaves other calls and connections served.
///
/// | option | default |
/// |---|---|
/// | [`heartbeat`](Config::heartbeat) | on, a Ping every 5 s |
/// | [`heartbeat_timeout`](Config::heartbeat_timeout) | 20 s without any frame from the peer, or data taken by it |
/// | [`handshake_timeout`](Config::handshake_timeout) | 10 s |
/// | [`call_timeout`](Config::call_timeout) | 30 s |
/// | [`max_message_size`](Config::max_message_size) | 16 MiB |
/// | [`max_concurrent_handlers`](Config::max_concurrent_handlers) | 256 per connection |
/// | [`max_queued_requests`](Config::max_queued_requests) | 4,096 per connection |
/// | [`max_in_flight_calls`](Config::max_in_flight_calls) | 4,096 per connection |
/// | [`read_buffer_size`](Config::read_buffer_size) | 8 KiB |
/// | [`stream_window`](Config::stream_window) | 256 KiB per streamed body |
/// | [`concurrent_calls_to_go_peers`](Config::concurrent_calls_to_go_peers) | off: one call at a time to a Go peer |
/// | [`max_queued_bytes`](Config::max_queued_bytes) | 8 MiB queued to the peer per connection |
/// | [`write_stall_timeout`](Config::write_stall_timeout) | 30 s |
/// | [`max_inbound_bytes`](Config::max_inbound_bytes) | 32 MiB of requests in progress per connection |
/// | [`max_pings_per_second`](Config::max_pings_per_second) | 10 |
/// | [`max_handshake_size`](Config::max_handshake_size) | 64 KiB |
/// | [`max_fragments`](Config::max_fragments) | 16,384 frames per message |
/// | [`wire_limits`](Config::wire_limits) | 100 header fields, 64 KiB of head per message |
/// | [`resume`](Config::resume) | on: between peers of this project a lost connection is resumed |
/// | [`resume_window`](Config::resume_window) | 30 s |
/// | [`replay_buffer`](Config::replay_buffer) | 100 kB of unacknowledged messages per side |
///
/// Together they bound what one connection can make this side hold,
/// whatever the peer does: about `max_inbound_bytes + max_queued_bytes`
/// plus one message of each direction and the websocket buffers. The
/// server's own limits (connections, handshakes in progress) are on
/// [`ServerBuilder`](crate::ServerBuilder).
///
/// A *Go peer* is one whose handshake carried no `Features` (the Go
/// original, or anything that speaks only its protocol). Toward it the
/// heartbeat sets no deadline and calls go one at a time; see
/// `docs/PROTOCOL.md`, "Go peers in practice". Every socket, accepted or
/// dialed, has TCP keepalive on (`SO_KEEPALIVE`: first probe after the
/// heartbeat timeout, then one every heartbeat interval, 3 unanswered
/// probes end it; on Linux also `TCP_USER_TIMEOUT`, so a write that the
/// peer never acknowledges fails in about the same time).
#[derive(Clone)]
pub struct Config {
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) app_data: Bytes,
    pub(crate) on_ping: Option<HeartbeatHook>,
    pub(crate) on_pong: Option<HeartbeatHook>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) max_message_size: usize,
    pub(crate) max_concurrent_handlers: usize,
    pub(crate) max_queued_requests: usize,
    pub(crate) max_in_flight_calls: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) stream_window: usize,
    pub(crate) streaming: bool,
    pub(crate) concurrent_calls_to_go_peers: bool,
    pub(crate) max_queued_bytes: usize,
    pub(crate) write_stall_timeout: Duration,
    pub(crate) max_inbound_bytes: usize,
    pub(crate) max_pings_per_second: u32,
    pub(crate) max_handshake_size: usize,
    pub(crate) max_fragments: u32,
    pub(crate) wire: WireLimits,
    pub(crate) resume: bool,
    pub(crate) resume_window: Duration,
    pub(crate) replay_buffer: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat: Some(Duration::from_secs(5)),
            heartbeat_timeout: Duration::from_secs(20),
            app_data: Bytes::new(),
            on_ping: None,
            on_pong: None,
            handshake_timeout: Duration::from_secs(10),
            call_timeout: Some(Duration::from_secs(30)),
            max_message_size: 16 << 20,
            max_concurrent_handlers: 256,
            max_queued_requests: 4096,
            max_in_flight_calls: 4096,
            read_buffer_size: 8 << 10,
            stream_window: 256 << 10,
            streaming: true,
            concurrent_calls_to_go_peers: false,
            max_queued_bytes: 8 << 20,
            write_stall_timeout: Duration::from_secs(30),
            max_inbound_bytes: 32 << 20,
            max_pings_per_second: 10,
            max_handshake_size: 64 << 10,
            max_fragments: 16_384,
            wire: WireLimits::new(),
            resume: true,
            resume_window: Duration::from_secs(30),
            replay_buffer: 100_000,
        }
    }
}

impl Config {
    /// The defaults in the table above.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends a websocket Ping every `interval` (`None` turns the heartbeat
    /// off, as Go's `KeepAlive: false`). Pings go to every peer, Go peers
    /// included; what a missing answer means is up to
    /// [`heartbeat_timeout`](Config::heartbeat_timeout).
    pub fn heartbeat(mut self, interval: Option<Duration>) -> Self {
        self.heartbeat = interval;
        self
    }

    /// With the heartbeat on, the peer is declared dead when no frame at all
    /// (Pong, data or anything else) arrived for this long, and it took
    /// none of the data written to it meanwhile (a peer busy reading a
    /// backlog is alive). This detects a peer that vanished silently, not
    /// only one whose socket errors.
    ///
    /// The deadline applies only to a peer that negotiated our features and
    /// has answered a Ping at least once. A Go peer answers Pings only while
    /// something on its side reads (a Go client between calls, a Go server
    /// that is not serving, read nothing), so a missing Pong says nothing
    /// about it: toward a Go peer, and toward a peer that has not answered
    /// yet, liveness comes from write failures and TCP keepalive, as in the
    /// Go original.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// Application data carried by every Ping (Go's `AppData`); at most 125
    /// bytes, longer data is cut to 125.
    pub fn app_data(mut self, data: impl Into<Bytes>) -> Self {
        let mut data: Bytes = data.into();
        data.truncate(125);
        self.app_data = data;
        self
    }

    /// Called with the data of every Ping received (Go's `PingHdlr`). The
    /// Pong answer is still sent, as RFC 6455 requires.
    pub fn on_ping(mut self, hook: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.on_ping = Some(Arc::new(hook));
        self
    }

    /// Called with the data of every Pong received (Go's `PongHdlr`).
    pub fn on_pong(mut self, hook: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.on_pong = Some(Arc::new(hook));
        self
    }

    /// How long the three-message handshake may take.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long [`Connection::call`](crate::Connection::call) waits for a
    /// response (`None`: no limit).
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The largest message accepted from the peer, and sent to it. A larger
    /// incoming message closes the connection with code 1009; a larger
    /// outgoing call fails before it is sent.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(1024);
        self
    }

    /// How many of the peer's requests may be handled at once on one
    /// connection; more wait for a free slot (see
    /// [`max_queued_requests`](Config::max_queued_requests)).
    pub fn max_concurrent_handlers(mut self, n: usize) -> Self {
        self.max_concurrent_handlers = n.max(1);
        self
    }

    /// How many of the peer's requests may wait for a handler slot on one
    /// connection; a request beyond that is answered `503 Service
    /// Unavailable` at once, with a body that names the limit.
    pub fn max_queued_requests(mut self, n: usize) -> Self {
        self.max_queued_requests = n;
        self
    }

    /// How many calls may wait for a response at once on one connection; one
    /// more fails with [`ErrorKind::TooManyInFlight`](crate::ErrorKind::TooManyInFlight).
    pub fn max_in_flight_calls(mut self, n: usize) -> Self {
        self.max_in_flight_calls = n.max(1);
        self
    }

    /// The websocket read buffer of each connection. Small buffers keep idle
    /// connections cheap; the buffer grows for large messages as needed.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(256);
        self
    }

    /// How many bytes of a streamed body may be on their way before the
    /// consumer takes them: the producer waits for credit beyond that, so a
    /// slow reader never makes the sending side buffer without bound.
    pub fn stream_window(mut self, bytes: usize) -> Self {
        self.stream_window = bytes.clamp(1024, 1 << 30);
        self
    }

    /// Offer (client) or accept (server) resumable sessions, the `resume/1`
    /// extension (on by default; docs/PROTOCOL.md §9). With it on at both
    /// ends, a connection lost without a close frame (a socket error, a
    /// heartbeat timeout) is *detached* rather than failed: the client
    /// reconnects and resumes the session within
    /// [`resume_window`](Config::resume_window), with the same id, metadata
    /// and handler, and each side sends again what the other had not
    /// received, so calls in flight complete, each exactly once. A Go peer
    /// never offers it, and a client without
    /// [`keep_alive`](crate::ClientBuilder::keep_alive) does not: with
    /// those nothing changes.
    ///
    /// The price: a detached session stays registered, its calls waiting,
    /// until it is resumed or the window passes, so a client that is gone
    /// for good is reported (`Event::Failure`, `NotResumed`) only then.
    /// Turn it off for calls that fail as soon as the socket is lost.
    pub fn resume(mut self, on: bool) -> Self {
        self.resume = on;
        self
    }

    /// How long a server keeps a lost resumable session (its id, metadata,
    /// handler and calls in flight) for its client to come back, and how
    /// long a client keeps trying to resume before it starts afresh. Past
    /// it the calls in flight fail with [`ErrorKind::NotResumed`](crate::ErrorKind::NotResumed).
    pub fn resume_window(mut self, window: Duration) -> Self {
        self.resume_window = window;
        self
    }

    /// The bytes of sent messages that a resumable session keeps until the
    /// peer acknowledges them, to send them again after a resume. When it
    /// overflows the oldest are dropped, and a resume that would need them
    /// is refused: the calls in flight then fail with
    /// [`ErrorKind::NotResumed`](crate::ErrorKind::NotResumed) saying so.
    pub fn replay_buffer(mut self, bytes: usize) -> Self {
        self.replay_buffer = bytes;
        self
    }

    /// Offer (client) or accept (server) the streaming extension in the
    /// handshake (on by default). Off, a connection behaves as with a Go
    /// peer: streamed responses go one at a time in Go's continuation form,
    /// and a dropped call does not stop the remote handler.
    pub fn streaming(mut self, on: bool) -> Self {
        self.streaming = on;
        self
    }

    /// Toward a Go peer (see above), calls go one at a time by default:
    /// the Go original reads the next message while a handler still reads
    /// the body of the last one, and holds one writer, so overlapping calls
    /// lose bodies and answers. Further calls wait in order, their call
    /// timeout running, and count toward
    /// [`max_in_flight_calls`](Config::max_in_flight_calls). Turn this on
    /// for a peer known to take concurrent calls. Peers of this project
    /// always take them.
    pub fn concurrent_calls_to_go_peers(mut self, on: bool) -> Self {
        self.concurrent_calls_to_go_peers = on;
        self
    }

    /// How many bytes may wait to be written to the peer on one connection
    /// (default 8 MiB): messages are counted by their size, not their
    /// number. Past it a handler's response waits for room (backpressure on
    /// the handler, not memory), the connection's own answers (fast
    /// answers, 503, 400) make its reader wait, so it stops reading the
    /// peer's requests, and a new [`Connection::call`](crate::Connection::call)
    /// fails at once with [`ErrorKind::PeerNotReading`](crate::ErrorKind::PeerNotReading).
    /// One message larger than the limit still goes, alone. The default
    /// leaves a fast peer room to stream while keeping a peer that never
    /// reads to a few megabytes.
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes.clamp(1024, u32::MAX as usize);
        self
    }

    /// A peer that takes nothing of what is queued to it for this long
    /// (default 30 s) is closed with code 1008 and the reason "peer is not
    /// reading": a write of at most one message plus 256 KiB must finish
    /// within it. While writes progress, the peer counts as alive for the
    /// [`heartbeat_timeout`](Config::heartbeat_timeout) too, so a peer busy
    /// reading a backlog is not declared dead. 30 s lets a slow link
    /// (about 600 KB/s) take a 16 MiB message.
    pub fn write_stall_timeout(mut self, timeout: Duration) -> Self {
        self.write_stall_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// How many bytes of the peer's requests may be in progress (queued for
    /// a handler or being handled) on one connection (default 32 MiB). A
    /// request beyond that is answered `503 Service Unavailable` at once,
    /// with a body that names the limit; one request larger than the limit
    /// is still taken when nothing else is in progress. With
    /// [`max_concurrent_handlers`](Config::max_concurrent_handlers) and
    /// [`max_queued_requests`](Config::max_queued_requests), this bounds
    /// what a flooding peer can make a connection hold.
    pub fn max_inbound_bytes(mut self, bytes: usize) -> Self {
        self.max_inbound_bytes = bytes.clamp(1024, u32::MAX as usize);
        self
    }

    /// How many Pings per second a peer may send (default 10, with a burst
    /// of as many). Every Ping is answered with a Pong, and Pongs that the
    /// peer does not read are coalesced into one; a peer that pings faster
    /// than this is closed with code 1008 ("ping flood"), so a ping flood
    /// cannot take the writer. Honest peers ping every few seconds.
    pub fn max_pings_per_second(mut self, n: u32) -> Self {
        self.max_pings_per_second = n.max(1);
        self
    }

    /// The largest handshake message (the client's metadata, the server's
    /// reply) accepted (default 64 KiB). A larger one ends the handshake
    /// with close code 1009 before it is parsed, and nothing of it is kept;
    /// on a server, the client's is refused as soon as its frame headers
    /// announce more, before its bytes are read.
    pub fn max_handshake_size(mut self, bytes: usize) -> Self {
        self.max_handshake_size = bytes.max(1024);
        self
    }

    /// How many websocket frames one incoming message may come in (default
    /// 16,384); a message in more closes the connection with code 1009
    /// ("too many frames in one message"), so 100,000 continuation frames
    /// of one byte cost the server one failed read, not 100,000 steps. The
    /// Go original writes a message in frames of its 4 KiB write buffer:
    /// a 16 MiB message is 4,096 frames, well within the default.
    pub fn max_fragments(mut self, n: u32) -> Self {
        self.max_fragments = n.max(1);
        self
    }

    /// Limits on the head of every HTTP message from the peer (default:
    /// 100 header fields and 64 KiB, start line included; see
    /// [`WireLimits`]). Real clients stay far below them (a Go request
    /// carries a handful of fields in well under 1 KiB); they keep one
    /// message from costing a parse of millions of fields. A request over a
    /// limit is answered `400 Bad Request` saying which limit and where, a
    /// response over one fails its call; the connection goes on.
    pub fn wire_limits(mut self, limits: WireLimits) -> Self {
        self.wire = limits;
        self
    }

    /// TCP keepalive (and, on Linux, `TCP_USER_TIMEOUT`) on a connection's
    /// socket, best effort: this is what notices a vanished peer when the
    /// heartbeat sets no deadline.
    pub(crate) fn tune_socket(&self, tcp: &tokio::net::TcpStream) {
        let idle = self.heartbeat_timeout.max(Duration::from_secs(1));
        let interval = self
            .heartbeat
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_secs(1));
        const PROBES: u32 = 3;
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(interval);
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
        let keepalive = keepalive.with_retries(PROBES);
        let socket = socket2::SockRef::from(tcp);
        if let Err(error) = socket.set_tcp_keepalive(&keepalive) {
            tracing::debug!(%error, "TCP keepalive could not be set");
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Err(error) = socket.set_tcp_user_timeout(Some(idle + interval * PROBES)) {
            tracing::debug!(%error, "TCP_USER_TIMEOUT could not be set");
        }
    }

    pub(crate) fn websocket(&self) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
        // tungstenite writes out its buffer past `write_buffer_size` (our
        // writer flushes each batch anyway) and never holds more than that
        // plus one frame, as the sink is not fed while it is full.
        let write_buffer = 64 << 10;
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .write_buffer_size(write_buffer)
            .max_write_buffer_size(self.max_message_size.saturating_add(4 * write_buffer))
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("heartbeat", &self.heartbeat)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("app_data", &self.app_data)
            .field("on_ping", &self.on_ping.is_some())
            .field("on_pong", &self.on_pong.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("max_concurrent_handlers", &self.max_concurrent_handlers)
            .field("max_queued_requests", &self.max_queued_requests)
            .field("max_in_flight_calls", &self.max_in_flight_calls)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("stream_window", &self.stream_window)
            .field("streaming", &self.streaming)
            .field("resume", &self.resume)
            .field("resume_window", &self.resume_window)
            .field("replay_buffer", &self.replay_buffer)
            .field(
                "concurrent_calls_to_go_peers",
                &self.concurrent_calls_to_go_peers,
            )
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("write_stall_timeout", &self.write_stall_timeout)
            .field("max_inbound_bytes", &self.max_inbound_bytes)
            .field("max_pings_per_second", &self.max_pings_per_second)
            .field("max_handshake_size", &self.max_handshake_size)
            .field("max_fragments", &self.max_fragments)
            .field("wire", &self.wire)
            .finish()
    }
}
