//! The socket below tungstenite: lets a Go peer's text frames through as
//! binary.
//!
//! The Go original writes every message as a text frame, whatever its body
//! holds, and gorilla/websocket does not check UTF-8 on either side. RFC 6455
//! requires a receiver to fail a text message that is not UTF-8, and
//! tungstenite does so with no switch to turn it off. So, toward a peer that
//! negotiated none of our features (a Go peer), [`PeerIo`] reads the incoming
//! byte stream frame header by frame header and turns the opcode of every
//! text frame into binary before tungstenite sees it: the payload is never
//! touched and continuation frames carry no type of their own, so a
//! fragmented text message becomes a binary one as a whole. Peers of this
//! project keep RFC 6455's checking, and on their connections the adapter
//! only forwards calls once the handshake is over.
//!
//! The scan follows the stream from its first byte: the HTTP upgrade (up to
//! the empty line that ends its head), then frame headers and payload
//! lengths, so that when the handshake has decided, the adapter knows where
//! the next frame header is.
//!
//! The same scan counts the frames of each incoming message: tungstenite
//! takes any number of continuation frames, so a peer could send a message
//! as 100,000 frames of one byte. Past the limit
//! ([`limit_fragments`](PeerIo::limit_fragments)) the read fails with
//! [`TooManyFragments`], which the connection answers with close code 1009.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;

/// The read error of a message in more frames than the limit allows.
#[derive(Debug)]
pub(crate) struct TooManyFragments(pub(crate) u32);

impl std::fmt::Display for TooManyFragments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a message came in more than {} frames", self.0)
    }
}

impl std::error::Error for TooManyFragments {}

/// The read error of a handshake message announced larger than the limit
/// ([`PeerIo::limit_handshake`]): refused from its frame headers, before its
/// bytes are read.
#[derive(Debug)]
pub(crate) struct HandshakeTooLarge(pub(crate) u64);

impl std::fmt::Display for HandshakeTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a handshake message over {} bytes", self.0)
    }
}

impl std::error::Error for HandshakeTooLarge {}

/// What the adapter does with the frames it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Follows the frames (handshake under way), changes nothing.
    Watch,
    /// A peer of this project: forwards everything, follows nothing.
    Pass,
    /// A Go peer: data messages are binary, after `skip` more messages
    /// starting have passed unchanged.
    Rewrite { skip: u32 },
}

/// Where the scan is in the incoming byte stream.
#[derive(Debug, Clone, Copy)]
enum Scan {
    /// In the HTTP upgrade head; `matched` bytes of `\r\n\r\n` seen.
    Http { matched: u8 },
    /// The next byte is the first of a frame header.
    First,
    /// The second header byte (mask bit, 7-bit length).
    Second,
    /// `left` bytes of the extended payload length, read into `len`.
    Length { left: u8, len: u64, masked: bool },
    /// `left` bytes of the masking key.
    Mask { left: u8, len: u64 },
    /// `left` payload bytes.
    Payload { left: u64 },
}

/// An I/O stream that can turn a Go peer's text frames into binary ones on
/// their way to tungstenite. Writes pass through unchanged.
#[derive(Debug)]
pub(crate) struct PeerIo<S> {
    io: S,
    scanner: Scanner,
    /// Bytes already read from `io` (an HTTP head read to authenticate
    /// it), handed out before anything else is read.
    replay: bytes::Bytes,
}

impl<S> PeerIo<S> {
    /// Over a stream whose first byte is the first of the HTTP upgrade.
    pub(crate) fn new(io: S) -> Self {
        PeerIo {
            io,
            scanner: Scanner::new(),
            replay: bytes::Bytes::new(),
        }
    }

    /// As [`new`](PeerIo::new), with `replay` (bytes already read from the
    /// start of `io`) read again first.
    pub(crate) fn with_replay(io: S, replay: bytes::Bytes) -> Self {
        PeerIo {
            replay,
            ..PeerIo::new(io)
        }
    }

    /// Over a stream whose HTTP upgrade is over (hyper's `Upgraded`): its
    /// next byte starts a frame header.
    pub(crate) fn upgraded(io: S) -> Self {
        let mut io = PeerIo::new(io);
        io.scanner.scan = Scan::First;
        io
    }

    /// The peer is of this project: forward everything from now on.
    pub(crate) fn peer_is_ours(&mut self) {
        self.scanner.mode = Mode::Pass;
    }

    /// Fails the read of a message that comes in more than `max` frames.
    pub(crate) fn limit_fragments(&mut self, max: u32) {
        self.scanner.max_fragments = max;
    }

    /// Fails the read of either of the client's two handshake messages
    /// (the metadata and the ack) when its frames announce more than `max`
    /// bytes, as soon as a frame header says so: a 16 MiB "metadata" is
    /// refused without being read. Later messages are bounded by the
    /// websocket's own maximum (a Go client may send its first request in
    /// the same read as its ack).
    pub(crate) fn limit_handshake(&mut self, max: usize) {
        self.scanner.max_message_bytes = u64::try_from(max).unwrap_or(u64::MAX);
        self.scanner.limited_messages = 2;
    }

    /// The peer is a Go peer: from now on its data messages reach
    /// tungstenite as binary, except the next `skip` ones (the rest of the
    /// handshake, valid JSON text).
    pub(crate) fn peer_is_go(&mut self, skip: u32) {
        self.scanner.mode = Mode::Rewrite { skip };
    }
}

/// The scan state of the incoming bytes.
#[derive(Debug)]
struct Scanner {
    mode: Mode,
    scan: Scan,
    /// Frames of the data message being received so far (0: none open).
    fragments: u32,
    max_fragments: u32,
    /// Payload bytes the frames of the open data message announced.
    message_bytes: u64,
    max_message_bytes: u64,
    /// Data messages still to come under `max_message_bytes`.
    limited_messages: u32,
    /// The open data message is under `max_message_bytes`.
    limited: bool,
    /// The frame being scanned is a data frame.
    data_frame: bool,
    /// Where the frame being scanned starts in the current read, if in it.
    frame_start: Option<usize>,
    /// A limit was passed: every further read fails.
    over: Option<Over>,
}

/// Which limit a peer passed.
#[derive(Debug, Clone, Copy)]
enum Over {
    Fragments,
    HandshakeBytes,
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            mode: Mode::Watch,
            scan: Scan::Http { matched: 0 },
            fragments: 0,
            max_fragments: u32::MAX,
            message_bytes: 0,
            max_message_bytes: u64::MAX,
            limited_messages: 0,
            limited: false,
            data_frame: false,
            frame_start: None,
            over: None,
        }
    }

    /// Whether the scan must look at every byte read.
    fn watching(&self) -> bool {
        self.mode != Mode::Pass || self.max_fragments != u32::MAX || self.limited_messages > 0
    }

    /// A frame's payload length is known: counts it toward the open data
    /// message. Returns where to cut the read when the message passes the
    /// handshake limit.
    fn counted(&mut self, len: u64, i: usize) -> Option<usize> {
        if !self.data_frame || !self.limited {
            return None;
        }
        self.message_bytes = self.message_bytes.saturating_add(len);
        if self.message_bytes > self.max_message_bytes {
            self.over = Some(Over::HandshakeBytes);
            return Some(self.frame_start.unwrap_or(i));
        }
        None
    }

    /// Follows the header bytes in `buf` (just read), rewriting opcodes as
    /// the mode says. Returns where the frame that passed the fragment
    /// limit starts, if one did (the scan stops there).
    fn scan(&mut self, buf: &mut [u8]) -> Option<usize> {
        let mut i = 0;
        self.frame_start = None;
        while i < buf.len() {
            match self.scan {
                Scan::Http { matched } => {
                    let expected = b"\r\n\r\n"[usize::from(matched)];
                    let matched = if buf[i] == expected {
                        matched + 1
                    } else if buf[i] == b'\r' {
                        1
                    } else {
                        0
                    };
                    self.scan = if matched == 4 {
                        Scan::First
                    } else {
                        Scan::Http { matched }
                    };
                    i += 1;
                }
                Scan::First => {
                    let opcode = buf[i] & 0x0f;
                    let fin = buf[i] & 0x80 != 0;
                    // Control frames (opcode 8 and up) may come between
                    // the frames of a message and do not count.
                    self.frame_start = Some(i);
                    self.data_frame = opcode < 0x8;
                    if opcode < 0x8 {
                        self.fragments = self.fragments.saturating_add(1);
                        if self.fragments == 1 {
                            self.message_bytes = 0;
                            self.limited = self.limited_messages > 0;
                            self.limited_messages = self.limited_messages.saturating_sub(1);
                        }
                        if self.fragments > self.max_fragments {
                            self.over = Some(Over::Fragments);
                            return Some(i);
                        }
                        if fin {
                            self.fragments = 0;
                        }
                    }
                    if opcode == OP_TEXT || opcode == OP_BINARY {
                        match &mut self.mode {
                            Mode::Rewrite { skip } if *skip > 0 => *skip -= 1,
                            Mode::Rewrite { .. } if opcode == OP_TEXT => {
                                buf[i] = (buf[i] & 0xf0) | OP_BINARY;
                            }
                            _ => {}
                        }
                    }
                    self.scan = Scan::Second;
                    i += 1;
                }
                Scan::Second => {
                    let masked = buf[i] & 0x80 != 0;
                    let len = u64::from(buf[i] & 0x7f);
                    self.scan = match len {
                        126 => Scan::Length {
                            left: 2,
                            len: 0,
                            masked,
                        },
                        127 => Scan::Length {
                            left: 8,
                            len: 0,
                            masked,
                        },
                        len => {
                            if let Some(cut) = self.counted(len, i) {
                                return Some(cut);
                            }
                            after_length(len, masked)
                        }
                    };
                    i += 1;
                }
                Scan::Length { left, len, masked } => {
                    let len = (len << 8) | u64::from(buf[i]);
                    self.scan = if left == 1 {
                        if let Some(cut) = self.counted(len, i) {
                            return Some(cut);
                        }
                        after_length(len, masked)
                    } else {
                        Scan::Length {
                            left: left - 1,
                            len,
                            masked,
                        }
                    };
                    i += 1;
                }
                Scan::Mask { left, len } => {
                    let take = usize::from(left).min(buf.len() - i);
                    i += take;
                    // `take` is at most `left`, a u8.
                    let left = left - take as u8;
                    self.scan = if left == 0 {
                        payload(len)
                    } else {
                        Scan::Mask { left, len }
                    };
                }
                Scan::Payload { left } => {
                    let rest = (buf.len() - i) as u64;
                    let take = left.min(rest);
                    // `take` is at most what is left of `buf`.
                    i += take as usize;
                    self.scan = payload(left - take);
                }
            }
        }
        None
    }
}

impl Scanner {
    fn too_many(&self) -> io::Error {
        match self.over {
            Some(Over::HandshakeBytes) => io::Error::new(
                io::ErrorKind::InvalidData,
                HandshakeTooLarge(self.max_message_bytes),
            ),
            _ => io::Error::new(
                io::ErrorKind::InvalidData,
                TooManyFragments(self.max_fragments),
            ),
        }
    }
}

fn after_length(len: u64, masked: bool) -> Scan {
    if masked {
        Scan::Mask { left: 4, len }
    } else {
        payload(len)
    }
}

fn payload(len: u64) -> Scan {
    if len == 0 {
        Scan::First
    } else {
        Scan::Payload { left: len }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PeerIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.replay.is_empty() {
            let start = buf.filled().len();
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay.split_to(n));
            if let Some(cut) = this.scanner.scan(&mut buf.filled_mut()[start..]) {
                this.replay = bytes::Bytes::new();
                buf.set_filled(start + cut);
                if cut == 0 {
                    return Poll::Ready(Err(this.scanner.too_many()));
                }
            }
            return Poll::Ready(Ok(()));
        }
        if this.scanner.over.is_some() {
            return Poll::Ready(Err(this.scanner.too_many()));
        }
        if !this.scanner.watching() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let start = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if let Some(cut) = this.scanner.scan(&mut buf.filled_mut()[start..]) {
                // The frames before the one past the limit go on (the
                // handshake's last message may share this read); the next
                // read fails. The rest is dropped: the connection ends.
                if cut == 0 {
                    buf.set_filled(start);
                    return Poll::Ready(Err(this.scanner.too_many()));
                }
                buf.set_filled(start + cut);
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PeerIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One websocket frame as a peer writes it (masked when `mask` is set).
    fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        let mask_bit = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n <= 0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    /// Opcodes of the frames in `bytes` (after the HTTP head), in order.
    fn opcodes(bytes: &[u8]) -> Vec<u8> {
        let start = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        let mut at = start;
        let mut found = Vec::new();
        while at < bytes.len() {
            found.push(bytes[at] & 0x0f);
            let masked = bytes[at + 1] & 0x80 != 0;
            let (len, head) = match bytes[at + 1] & 0x7f {
                126 => (
                    u64::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])),
                    4,
                ),
                127 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&bytes[at + 2..at + 10]);
                    (u64::from_be_bytes(b), 10)
                }
                n => (u64::from(n), 2),
            };
            at += head + if masked { 4 } else { 0 } + len as usize;
        }
        found
    }

    /// The incoming stream of a connection: an HTTP head, the handshake's
    /// last text message, then a Go peer's messages (text, binary, a ping
    /// in the middle of a fragmented text message, lengths of every size).
    fn stream(mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut s = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        s.extend(frame(
            true,
            OP_TEXT,
            b"{\"Type\":\"ClientHandshakeAckFrame\"}\n",
            mask,
        ));
        s.extend(frame(true, OP_TEXT, &[0xff, 0xfe, 0x00, 0x80, 0xc3], mask));
        s.extend(frame(true, OP_BINARY, b"bin", mask));
        s.extend(frame(false, OP_TEXT, &[0x81; 300], mask));
        s.extend(frame(true, 0x9, b"ping", mask));
        s.extend(frame(false, 0x0, &[0xc3; 70_000], mask));
        s.extend(frame(true, 0x0, b"", mask));
        s.extend(frame(true, OP_TEXT, b"", mask));
        s
    }

    /// Scans `bytes` in pieces of `piece` bytes; `go`: the peer is a Go
    /// peer, decided before the handshake's last message (`skip` 1).
    fn run(mut bytes: Vec<u8>, piece: usize, go: Option<u32>) -> Vec<u8> {
        let mut scanner = Scanner::new();
        if let Some(skip) = go {
            scanner.mode = Mode::Rewrite { skip };
        }
        let mut at = 0;
        while at < bytes.len() {
            let end = at.saturating_add(piece).min(bytes.len());
            scanner.scan(&mut bytes[at..end]);
            at = end;
        }
        bytes
    }

    #[test]
    fn a_go_peers_text_frames_become_binary_after_the_handshake() {
        for mask in [None, Some([1, 2, 3, 4])] {
            for piece in [1, 2, 3, 7, 100, 4096, usize::MAX] {
                let out = run(stream(mask), piece, Some(1));
                assert_eq!(
                    opcodes(&out),
                    [OP_TEXT, OP_BINARY, OP_BINARY, OP_BINARY, 0x9, 0x0, 0x0, OP_BINARY],
                    "mask {mask:?}, pieces of {piece}"
                );
                // Only opcodes change.
                let original = stream(mask);
                let changed = out.iter().zip(&original).filter(|(a, b)| a != b).count();
                assert_eq!(changed, 3);
            }
        }
    }

    #[test]
    fn a_message_in_too_many_frames_is_cut_at_the_frame_past_the_limit() {
        let mut bytes = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        bytes.extend(frame(true, OP_TEXT, b"ack", None));
        let first = bytes.len();
        bytes.extend(frame(false, OP_BINARY, b"a", None));
        bytes.extend(frame(true, 0x9, b"ping", None));
        bytes.extend(frame(false, 0x0, b"b", None));
        let past = bytes.len();
        bytes.extend(frame(true, 0x0, b"c", None));
        let mut scanner = Scanner::new();
        scanner.max_fragments = 2;
        assert_eq!(scanner.scan(&mut bytes[..first]), None);
        assert_eq!(scanner.scan(&mut bytes[first..]), Some(past - first));
        assert!(scanner.over.is_some());
        // Whole messages in one frame each never count up.
        let mut scanner = Scanner::new();
        scanner.max_fragments = 1;
        let mut many: Vec<u8> = b"\r\n\r\n".to_vec();
        for _ in 0..10 {
            many.extend(frame(true, OP_BINARY, b"m", None));
        }
        assert_eq!(scanner.scan(&mut many), None);
    }

    #[test]
    fn other_peers_frames_pass_unchanged() {
        for piece in [1, 5, usize::MAX] {
            assert_eq!(run(stream(None), piece, None), stream(None));
        }
    }
}
