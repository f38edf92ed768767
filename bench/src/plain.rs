//! The ceiling of this stack: plain tokio-tungstenite with a minimal
//! id-matching multiplexer.
//!
//! Every message is `[u64 id, little endian][payload]` in one binary frame;
//! the server echoes each message unchanged. On both sides one writer task
//! owns the sink and batches (with more than one call under way it yields
//! once so that ready senders queue, then feeds while more is queued and
//! flushes when the queue is empty); the
//! client's reader task hands each answer to the oneshot sender registered
//! under its id.

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A request whose payload starts with this, followed by a `u32` (little
/// endian), asks for that many bytes back instead of an echo: the plain
/// counterpart of a streamed response's chunks (echo payloads are
/// printable ASCII, so never start with a NUL).
const FETCH: &[u8] = b"\0fetch";

/// Messages fed to the sink before one flush, at most.
const MAX_BATCH: usize = 128;
/// Messages queued for a writer, at most.
const QUEUE: usize = 1024;

/// tungstenite's default 128 KiB read buffer is zero-filled on every read
/// and costs ~135 KiB per idle connection; 16 KiB is plenty.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(16 << 10)
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    io::Error::other(e)
}

/// Work under way on one socket: the client's calls waiting for an answer,
/// or the requests the server received and has not written an answer to.
type InFlight = Arc<AtomicUsize>;

/// Owns the sink: feeds every queued message, flushes when the queue is
/// empty. `answers`: each message written ends one unit of `in_flight`.
async fn write_loop<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut rx: mpsc::Receiver<Message>,
    in_flight: InFlight,
    answers: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let written = |n: usize| {
        if answers {
            in_flight.fetch_sub(n, Ordering::Relaxed);
        }
    };
    while let Some(first) = rx.recv().await {
        // With more under way, let the tasks that are ready run first, so
        // that what they queue joins this batch. Without this, tokio's LIFO
        // slot runs the writer right after the first sender, and it flushes
        // one message per write (4x fewer calls/s with 64 in flight on this
        // machine). Alone, the extra scheduler pass would only add latency.
        if in_flight.load(Ordering::Relaxed) > 1 {
            tokio::task::yield_now().await;
        }
        if sink.feed(first).await.is_err() {
            return;
        }
        written(1);
        for _ in 1..MAX_BATCH {
            let Ok(next) = rx.try_recv() else { break };
            if sink.feed(next).await.is_err() {
                return;
            }
            written(1);
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

/// Accepts connections until the process ends, echoing every data message;
/// over TLS first with `tls`.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of descriptors and the like: pause instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        match tls.clone() {
            None => {
                tokio::spawn(echo(tcp));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        echo(stream).await;
                    }
                });
            }
        }
    }
}

async fn echo<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config())).await
    else {
        return;
    };
    let (sink, mut stream) = ws.split();
    let (tx, rx) = mpsc::channel(QUEUE);
    let in_flight = InFlight::default();
    let writer = tokio::spawn(write_loop(sink, rx, in_flight.clone(), true));
    let fill = fill();
    while let Some(Ok(message)) = stream.next().await {
        let reply = match message {
            Message::Binary(data) if fetch_len(&data).is_some() => {
                let len = fetch_len(&data).unwrap_or(0);
                let mut reply = BytesMut::with_capacity(8 + len);
                reply.extend_from_slice(&data[..8]);
                let mut left = len;
                while left > 0 {
                    let n = left.min(fill.len());
                    reply.extend_from_slice(&fill[..n]);
                    left -= n;
                }
                Message::Binary(reply.freeze())
            }
            Message::Binary(_) | Message::Text(_) => message,
            Message::Close(_) => break,
            _ => continue,
        };
        in_flight.fetch_add(1, Ordering::Relaxed);
        if tx.send(reply).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// What fetches are answered with (copied, as a handler would produce
/// it); one block for the process, so that idle connections do not pay it.
fn fill() -> &'static [u8] {
    static FILL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILL.get_or_init(|| (0..16usize << 10).map(|i| b'a' + (i % 26) as u8).collect())
}

/// The length a fetch request (`[id][FETCH][u32]`) asks for.
fn fetch_len(data: &[u8]) -> Option<usize> {
    let rest = data.get(8..)?.strip_prefix(FETCH)?;
    let len: [u8; 4] = rest.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(len)).ok()
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Bytes>>>>;

/// One multiplexed connection to a plain echo server.
pub struct Client {
    tx: mpsc::Sender<Message>,
    pending: Pending,
    in_flight: InFlight,
    next: AtomicU64,
    tasks: [JoinHandle<()>; 2],
}

impl Client {
    /// Dials `addr` and upgrades to a websocket; over TLS first with `tls`
    /// (the server's name is its IP address).
    pub async fn connect(addr: SocketAddr, tls: Option<TlsConnector>) -> io::Result<Client> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        match tls {
            None => Client::start(
                tokio_tungstenite::client_async_with_config(
                    format!("ws://{addr}/"),
                    tcp,
                    Some(ws_config()),
                )
                .await
                .map_err(ws_error)?
                .0,
            ),
            Some(connector) => {
                let name = ServerName::IpAddress(addr.ip().into());
                let stream = connector.connect(name, tcp).await?;
                Client::start(
                    tokio_tungstenite::client_async_with_config(
                        format!("wss://{addr}/"),
                        stream,
                        Some(ws_config()),
                    )
                    .await
                    .map_err(ws_error)?
                    .0,
                )
            }
        }
    }

    fn start<S>(ws: WebSocketStream<S>) -> io::Result<Client>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sink, mut stream) = ws.split();
        let (tx, rx) = mpsc::channel(QUEUE);
        let pending: Pending = Arc::default();
        let in_flight = InFlight::default();
        let writer = tokio::spawn(write_loop(sink, rx, in_flight.clone(), false));
        let table = pending.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Binary(data) = message else {
                    continue;
                };
                if data.len() < 8 {
                    continue;
                }
                let mut id = [0u8; 8];
                id.copy_from_slice(&data[..8]);
                let waiter = table
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&u64::from_le_bytes(id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(data.slice(8..));
                }
            }
            // The connection ended: every call in flight fails at once.
            table.lock().unwrap_or_else(PoisonError::into_inner).clear();
        });
        Ok(Client {
            tx,
            pending,
            in_flight,
            next: AtomicU64::new(1),
            tasks: [writer, reader],
        })
    }

    /// Asks the server for `len` bytes and waits for them.
    pub async fn fetch(&self, len: u32) -> io::Result<Bytes> {
        let mut payload = Vec::with_capacity(FETCH.len() + 4);
        payload.extend_from_slice(FETCH);
        payload.extend_from_slice(&len.to_le_bytes());
        self.call(&payload).await
    }

    /// Sends `payload` and waits for its echo.
    pub async fn call(&self, payload: &[u8]) -> io::Result<Bytes> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut frame = BytesMut::with_capacity(8 + payload.len());
        frame.put_u64_le(id);
        frame.extend_from_slice(payload);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        let closed = || io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed");
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _done = Done(&self.in_flight);
        if self.tx.send(Message::Binary(frame.freeze())).await.is_err() {
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            return Err(closed());
        }
        rx.await.map_err(|_| closed())
    }
}

/// Ends one call in flight when dropped (answered, failed or abandoned).
struct Done<'a>(&'a AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
