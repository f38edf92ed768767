//! A TCP proxy on loopback that injects network faults into the
//! connections it carries, switchable while they run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How the proxy forwards, for every connection, present and future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards at once.
    Pass,
    /// Holds every piece of data this long before forwarding it.
    Delay(Duration),
    /// Forwards nothing, either way, and keeps the sockets open: a peer
    /// that vanished without a trace (a blackhole).
    Stall,
}

/// What happens to the connections carried now (new ones are carried
/// normally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// Closes both sockets (FIN), mid-stream.
    Cut,
    /// Forwards the next piece of data only up to the middle of a
    /// websocket frame, then closes both sockets.
    Truncate,
    /// Resets both sockets (`SO_LINGER` 0: RST, no FIN).
    Reset,
    /// Half-open: forwards nothing more, either way, and keeps both
    /// sockets open (what each side writes is read and dropped) until a
    /// side closes its own; new connections are carried normally.
    Blackhole,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    breaks: watch::Sender<Arc<Breaker>>,
    stop: CancellationToken,
}

/// The break that ends one generation of connections.
#[derive(Default)]
struct Breaker {
    token: CancellationToken,
    kind: std::sync::OnceLock<Break>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Pass);
        let (breaks, _) = watch::channel(Arc::new(Breaker::default()));
        let stop = CancellationToken::new();
        let proxy = FaultProxy {
            addr,
            mode,
            breaks,
            stop: stop.clone(),
        };
        let mode_rx = proxy.mode.subscribe();
        let breaks_rx = proxy.breaks.subscribe();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((down, _)) = accepted else { continue };
                let Ok(up) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let _ = down.set_nodelay(true);
                let _ = up.set_nodelay(true);
                let breaker = breaks_rx.borrow().clone();
                let (dr, dw) = down.into_split();
                let (ur, uw) = up.into_split();
                tokio::spawn(pipe(dr, uw, mode_rx.clone(), breaker.clone()));
                tokio::spawn(pipe(ur, dw, mode_rx.clone(), breaker));
            }
        });
        proxy
    }

    /// How data flows from now on.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Breaks every connection carried now.
    pub fn strike(&self, kind: Break) {
        let old = self.breaks.send_replace(Arc::new(Breaker::default()));
        let _ = old.kind.set(kind);
        old.token.cancel();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        let breaker = self.breaks.borrow().clone();
        let _ = breaker.kind.set(Break::Cut);
        breaker.token.cancel();
    }
}

/// One direction of one connection.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    breaker: Arc<Breaker>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut frames = FrameTracker::default();
    loop {
        let n = tokio::select! {
            _ = breaker.stopped() => break,
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
        };
        let held = async {
            loop {
                let now = *mode.borrow_and_update();
                match now {
                    Mode::Pass => return,
                    Mode::Delay(d) => return tokio::time::sleep(d).await,
                    Mode::Stall => {
                        let _ = mode.changed().await;
                    }
                }
            }
        };
        tokio::select! {
            _ = breaker.token.cancelled() => {}
            _ = held => {}
        }
        let data = &buf[..n];
        if breaker.token.is_cancelled() {
            if breaker.kind.get() == Some(&Break::Truncate) {
                let cut = frames.inside_a_frame(data);
                let _ = to.write_all(&data[..cut]).await;
                return;
            }
            break;
        }
        frames.track(data);
        if to.write_all(data).await.is_err() {
            return;
        }
    }
    match breaker.kind.get() {
        Some(Break::Reset) => {
            // RST instead of FIN: no lingering, and the write half must not
            // shut down (that would send a FIN first).
            let _ = socket2::SockRef::from(from.as_ref()).set_linger(Some(Duration::ZERO));
            let _ = socket2::SockRef::from(to.as_ref()).set_linger(Some(Duration::ZERO));
            to.forget();
        }
        Some(Break::Blackhole) => {
            // Swallow whatever comes, keep `to` open, until `from` closes.
            let mut sink = [0u8; 4096];
            while let Ok(n) = from.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
            drop(to);
        }
        Some(Break::Truncate) if frames.at_boundary() => {
            // No data came this way: start a frame of our own that no
            // reader can complete.
            let _ = to.write_all(&[0x82]).await;
        }
        _ => {}
    }
}

impl Breaker {
    /// When a pipe stops reading: at once when struck, except that a
    /// truncation first waits a little for data to cut in the middle.
    async fn stopped(&self) {
        self.token.cancelled().await;
        if self.kind.get() == Some(&Break::Truncate) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Follows websocket frame boundaries in one direction of a connection,
/// after the HTTP upgrade, so a truncation can land inside a frame.
#[derive(Default, Clone)]
struct FrameTracker {
    /// Past the HTTP head of the upgrade.
    upgraded: bool,
    /// The last bytes of the HTTP head seen so far (to find its end).
    head_tail: Vec<u8>,
    /// The header of the frame being read, while incomplete.
    header: Vec<u8>,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
}

impl FrameTracker {
    fn at_boundary(&self) -> bool {
        self.upgraded && self.header.is_empty() && self.payload_left == 0
    }

    /// How much of `data` to forward so that it ends strictly inside a
    /// frame (a header or a payload begun and not complete).
    fn inside_a_frame(&self, data: &[u8]) -> usize {
        let mut probe = self.clone();
        for (i, byte) in data.iter().enumerate() {
            probe.track(std::slice::from_ref(byte));
            if probe.upgraded && !probe.at_boundary() {
                return i + 1;
            }
        }
        data.len().saturating_sub(1)
    }

    fn track(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if !self.upgraded {
                let byte = data[0];
                data = &data[1..];
                self.head_tail.push(byte);
                if self.head_tail.len() > 4 {
                    self.head_tail.remove(0);
                }
                if self.head_tail == b"\r\n\r\n" {
                    self.upgraded = true;
                }
                continue;
            }
            if self.payload_left > 0 {
                let n = (data.len() as u64).min(self.payload_left);
                self.payload_left -= n;
                data = &data[n as usize..];
                continue;
            }
            self.header.push(data[0]);
            data = &data[1..];
            if let Some(payload) = header_complete(&self.header) {
                self.header.clear();
                self.payload_left = payload;
            }
        }
    }
}

/// The payload length once `header` holds a whole websocket frame header.
fn header_complete(header: &[u8]) -> Option<u64> {
    if header.len() < 2 {
        return None;
    }
    let masked = header[1] & 0x80 != 0;
    let (len_bytes, short) = match header[1] & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let total = 2 + len_bytes + if masked { 4 } else { 0 };
    if header.len() < total {
        return None;
    }
    Some(short.unwrap_or_else(|| {
        header[2..2 + len_bytes]
            .iter()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b))
    }))
}
