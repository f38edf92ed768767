//! The three-message handshake (PROTOCOL.md §2), both sides.

use crate::error::{Error, ErrorKind};
use crate::peer_io::PeerIo;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

pub(crate) const CLIENT_META: &str = "ClientHandshakeMetaData";
pub(crate) const SERVER_ID: &str = "ServerHandshakeConnectionID";
pub(crate) const CLIENT_ACK: &str = "ClientHandshakeAckFrame";

/// The streaming extension (docs/PROTOCOL.md §7), offered by the client in
/// step 1 and accepted by the server in step 2. A Go peer ignores the field.
pub(crate) const STREAMING: &str = "stream/1";

#[derive(Serialize)]
struct MetaOut<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
    #[serde(rename = "Meta")]
    meta: &'a serde_json::Value,
    #[serde(rename = "Features")]
    features: &'a [&'a str],
}

#[derive(Serialize)]
struct IdOut<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
    #[serde(rename = "ConnectionID")]
    id: &'a str,
    #[serde(rename = "Features", skip_serializing_if = "Option::is_none")]
    features: Option<&'a [&'a str]>,
}

#[derive(Serialize)]
struct AckOut<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
}

/// Any of the three messages; unknown fields are ignored.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Meta", default)]
    meta: serde_json::Value,
    #[serde(rename = "ConnectionID", default)]
    id: Option<String>,
    #[serde(rename = "Features", default)]
    features: Option<Vec<serde_json::Value>>,
}

impl Incoming {
    /// A Go peer sends no `Features` field; a peer of this project always
    /// does (an empty list when it offers nothing).
    fn is_go_peer(&self) -> bool {
        self.features.is_none()
    }

    fn offers(&self, feature: &str) -> bool {
        self.features
            .iter()
            .flatten()
            .any(|f| f.as_str() == Some(feature))
    }
}

/// A handshake failure and the close frame that reports it to the peer.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) code: CloseCode,
    pub(crate) error: Error,
}

impl Rejection {
    fn protocol(message: String) -> Self {
        Rejection {
            code: CloseCode::Protocol,
            error: Error::new(ErrorKind::Handshake, message),
        }
    }

    fn policy(message: String) -> Self {
        Rejection {
            code: CloseCode::Policy,
            error: Error::new(ErrorKind::Handshake, message),
        }
    }

    pub(crate) fn close_frame(&self) -> CloseFrame {
        // A close reason is limited to 123 bytes.
        let mut reason = self.error.message().to_owned();
        if reason.len() > 120 {
            let mut cut = 120;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        CloseFrame {
            code: self.code,
            reason: reason.into(),
        }
    }
}

/// Reads the next data message of the handshake, skipping control frames.
async fn next_json<S>(ws: &mut WebSocketStream<S>, step: &str) -> Result<Incoming, Rejection>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let msg = match ws.next().await {
            None => {
                return Err(Rejection::protocol(format!(
                    "connection ended before the {step} message"
                )))
            }
            Some(Err(e)) => {
                return Err(Rejection {
                    code: CloseCode::Protocol,
                    error: Error::with_source(
                        ErrorKind::Handshake,
                        format!("reading the {step} message failed"),
                        e,
                    ),
                })
            }
            Some(Ok(m)) => m,
        };
        match msg {
            WsMessage::Text(text) => {
                return serde_json::from_str::<Incoming>(text.as_str()).map_err(|e| {
                    Rejection::protocol(format!(
                        "the {step} message is not valid handshake JSON: {e}"
                    ))
                })
            }
            WsMessage::Binary(_) => {
                return Err(Rejection::protocol(format!(
                    "expected the {step} message as text, got a binary message"
                )))
            }
            WsMessage::Close(_) => {
                return Err(Rejection::protocol(format!(
                    "peer closed the connection before the {step} message"
                )))
            }
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => continue,
        }
    }
}

fn expect_type(msg: &Incoming, expected: &str) -> Result<(), Rejection> {
    if msg.kind == expected {
        Ok(())
    } else {
        Err(Rejection::protocol(format!(
            "expected handshake message of Type {expected:?}, got {:?}",
            crate::log_safe::excerpt(&msg.kind)
        )))
    }
}

async fn send_json<S, T: Serialize>(
    ws: &mut WebSocketStream<S>,
    value: &T,
    step: &str,
) -> Result<(), Rejection>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let text = serde_json::to_string(value)
        .map_err(|e| Rejection::protocol(format!("encoding the {step} message failed: {e}")))?;
    ws.send(WsMessage::text(text)).await.map_err(|e| Rejection {
        code: CloseCode::Protocol,
        error: Error::with_source(
            ErrorKind::Handshake,
            format!("sending the {step} message failed"),
            e,
        ),
    })
}

/// What the handshake settled about the peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Negotiated {
    /// Both sides take the streaming extension.
    pub(crate) streams: bool,
    /// The peer sent no `Features`: it is a Go peer (docs/PROTOCOL.md,
    /// "Go peers in practice").
    pub(crate) go_peer: bool,
}

/// A hook that accepts or rejects a client's metadata.
pub(crate) type MetadataCheck =
    std::sync::Arc<dyn Fn(&serde_json::Value) -> Result<(), String> + Send + Sync>;

/// Server side: reads the metadata, assigns `id`, waits for the ack.
pub(crate) async fn accept<S>(
    ws: &mut WebSocketStream<PeerIo<S>>,
    id: &str,
    timeout: Duration,
    check: Option<&MetadataCheck>,
    streaming: bool,
) -> Result<(serde_json::Value, Negotiated), Rejection>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let steps = async {
        let hello = next_json(ws, CLIENT_META).await?;
        expect_type(&hello, CLIENT_META)?;
        if let Some(check) = check {
            check(&hello.meta)
                .map_err(|why| Rejection::policy(format!("metadata rejected: {why}")))?;
        }
        let go_peer = hello.is_go_peer();
        let streams = streaming && hello.offers(STREAMING);
        let features: &[&str] = if streams { &[STREAMING] } else { &[] };
        let reply = IdOut {
            kind: SERVER_ID,
            id,
            // A Go client gets the reply it expects, byte for byte.
            features: (!go_peer).then_some(features),
        };
        // Decided before the reply goes: a Go client may send its first
        // request right behind its ack, possibly in the same read. The ack
        // itself still reaches the check below as text.
        if go_peer {
            ws.get_mut().peer_is_go(1);
        } else {
            ws.get_mut().peer_is_ours();
        }
        send_json(ws, &reply, SERVER_ID).await?;
        let ack = next_json(ws, CLIENT_ACK).await?;
        expect_type(&ack, CLIENT_ACK)?;
        Ok((hello.meta, Negotiated { streams, go_peer }))
    };
    match tokio::time::timeout(timeout, steps).await {
        Ok(result) => result,
        Err(_) => Err(Rejection::policy(format!(
            "handshake not completed within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// Client side: sends the metadata, receives the connection id, acks it.
pub(crate) async fn initiate<S>(
    ws: &mut WebSocketStream<PeerIo<S>>,
    meta: &serde_json::Value,
    timeout: Duration,
    streaming: bool,
) -> Result<(String, Negotiated), Rejection>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let steps = async {
        let hello = MetaOut {
            kind: CLIENT_META,
            meta,
            features: if streaming { &[STREAMING] } else { &[] },
        };
        send_json(ws, &hello, CLIENT_META).await?;
        let reply = next_json(ws, SERVER_ID).await?;
        expect_type(&reply, SERVER_ID)?;
        let go_peer = reply.is_go_peer();
        let streams = streaming && reply.offers(STREAMING);
        // A Go server sends nothing before our ack, so nothing it sent after
        // its reply has been read yet.
        if go_peer {
            ws.get_mut().peer_is_go(0);
        } else {
            ws.get_mut().peer_is_ours();
        }
        let id = reply.id.filter(|id| !id.is_empty()).ok_or_else(|| {
            Rejection::protocol("the server's handshake reply has no ConnectionID".to_owned())
        })?;
        send_json(ws, &AckOut { kind: CLIENT_ACK }, CLIENT_ACK).await?;
        Ok((id, Negotiated { streams, go_peer }))
    };
    match tokio::time::timeout(timeout, steps).await {
        Ok(result) => result,
        Err(_) => Err(Rejection::policy(format!(
            "handshake not completed within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// Sends the rejection's close frame, best effort.
pub(crate) async fn reject<S>(ws: &mut WebSocketStream<S>, rejection: &Rejection)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = rejection.close_frame();
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
}
