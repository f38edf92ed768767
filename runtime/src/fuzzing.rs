//! Entry points for the `cargo fuzz` targets in `fuzz/` (feature `internals`).
//! Not a public API: it exists so that the crate-private handshake reader
//! can be fed bytes from a fuzzer, and changes with it.

use crate::handshake;
use crate::peer_io::PeerIo;
use futures_util::StreamExt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// Generous: the scripted peer never makes anyone wait, it ends instead.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Messages read after a handshake that succeeded, at most.
const AFTER: usize = 64;

/// A peer that sends `input` in reads of at most `step` bytes, then ends;
/// whatever is written to it is dropped.
#[derive(Debug)]
struct Scripted {
    input: Vec<u8>,
    at: usize,
    step: usize,
}

impl AsyncRead for Scripted {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = (this.input.len() - this.at)
            .min(buf.remaining())
            .min(this.step);
        buf.put_slice(&this.input[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The first byte of a fuzz input is the read size (0: as much as fits),
/// the rest what the peer sends.
fn scripted(input: &[u8]) -> Scripted {
    let (step, rest) = input.split_first().map_or((0, input), |(s, r)| (*s, r));
    Scripted {
        input: rest.to_vec(),
        at: 0,
        step: if step == 0 {
            usize::MAX
        } else {
            usize::from(step)
        },
    }
}

/// The largest handshake message read (the runtime's default limit).
const MAX_HANDSHAKE: usize = 64 << 10;

fn websocket() -> WebSocketConfig {
    // Small limits, as a fuzzer's inputs are small: a length field that
    // announces more must fail as "too big", not allocate it.
    WebSocketConfig::default()
        .max_message_size(Some(1 << 16))
        .max_frame_size(Some(1 << 16))
}

/// The server's side of a connection, from the first byte of the HTTP
/// upgrade request (`input`, after its read-size byte) through the
/// three-message handshake, then up to 64 messages as the connection
/// would read them. Returns the handshake's outcome: the client's metadata,
/// or the error it would be closed with.
pub async fn handshake_server(input: &[u8]) -> Result<serde_json::Value, String> {
    let io = PeerIo::new(scripted(input));
    let upgrade = tokio_tungstenite::accept_async_with_config(io, Some(websocket()));
    let mut ws = upgrade.await.map_err(|e| format!("upgrade: {e}"))?;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let (meta, _, _, _) = handshake::accept(
        &mut ws,
        "fuzz",
        (deadline, TIMEOUT),
        None,
        true,
        MAX_HANDSHAKE,
        None,
    )
    .await
    .map_err(|r| r.error.to_string())?;
    drain(&mut ws).await;
    Ok(meta)
}

/// The client's side, over a stream whose upgrade is done: what the server
/// sends from its first frame (`input`, after its read-size byte) through
/// the handshake, then up to 64 messages. Returns the connection id the
/// server assigned, or the handshake's error.
pub async fn handshake_client(input: &[u8]) -> Result<String, String> {
    let io = PeerIo::upgraded(scripted(input));
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Client, Some(websocket())).await;
    let meta = serde_json::json!({ "fuzz": true });
    let (id, _, _) =
        handshake::initiate(&mut ws, &meta, TIMEOUT, true, MAX_HANDSHAKE, (true, None))
            .await
            .map_err(|r| r.error.to_string())?;
    drain(&mut ws).await;
    Ok(id)
}

async fn drain<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) {
    for _ in 0..AFTER {
        match ws.next().await {
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
}
