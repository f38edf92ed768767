//! The three-message handshake (PROTOCOL.md §2), both sides.

use crate::auth::{Identity, MetadataCheck, MetadataRequest};
use crate::connection::Connection;
use crate::error::{Error, ErrorKind};
use crate::peer_io::PeerIo;
use crate::resume::RESUME;
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Error as WsError;
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
    #[serde(rename = "Resume", skip_serializing_if = "Option::is_none")]
    resume: Option<&'a ResumeAsk>,
}

/// What a client presents in step 1 to resume a session (resume/1).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct ResumeAsk {
    #[serde(rename = "ConnectionID")]
    pub(crate) id: String,
    #[serde(rename = "Token")]
    pub(crate) token: String,
    /// How many of the server's messages the client has received.
    #[serde(rename = "Received")]
    pub(crate) received: u64,
}

#[derive(Serialize)]
struct IdOut<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
    #[serde(rename = "ConnectionID")]
    id: &'a str,
    #[serde(rename = "Features", skip_serializing_if = "Option::is_none")]
    features: Option<&'a [&'a str]>,
    #[serde(rename = "ResumeToken", skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    /// In the answer to a resume: how many of the client's messages the
    /// server has received.
    #[serde(rename = "Received", skip_serializing_if = "Option::is_none")]
    received: Option<u64>,
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
    #[serde(rename = "Resume", default)]
    resume: Option<ResumeAsk>,
    #[serde(rename = "ResumeToken", default)]
    token: Option<String>,
    #[serde(rename = "Received", default)]
    received: Option<u64>,
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
    /// The handshake did not finish in time (rather than failed).
    pub(crate) timed_out: bool,
    /// The server refused the client's resume (close 1008 before step 2).
    pub(crate) resume_refused: bool,
}

impl Rejection {
    fn protocol(message: String) -> Self {
        Rejection {
            code: CloseCode::Protocol,
            error: Error::new(ErrorKind::Handshake, message),
            timed_out: false,
            resume_refused: false,
        }
    }

    fn policy(message: String) -> Self {
        Rejection {
            code: CloseCode::Policy,
            error: Error::new(ErrorKind::Handshake, message),
            timed_out: false,
            resume_refused: false,
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

/// Reads the next data message of the handshake, skipping control frames;
/// one over `max` bytes is refused (1009) before it is parsed.
async fn next_json<S>(
    ws: &mut WebSocketStream<S>,
    step: &str,
    max: usize,
) -> Result<Incoming, Rejection>
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
                // Refused from its frame headers (PeerIo::limit_handshake).
                let too_large = matches!(&e, WsError::Io(io)
                    if io.get_ref().is_some_and(|e| e.is::<crate::peer_io::HandshakeTooLarge>()));
                if too_large {
                    return Err(Rejection {
                        code: CloseCode::Size,
                        error: Error::new(
                            ErrorKind::Handshake,
                            format!("the {step} message is over the limit of {max} bytes"),
                        ),
                        timed_out: false,
                        resume_refused: false,
                    });
                }
                return Err(Rejection {
                    code: CloseCode::Protocol,
                    error: Error::with_source(
                        ErrorKind::Handshake,
                        format!("reading the {step} message failed"),
                        e,
                    ),
                    timed_out: false,
                    resume_refused: false,
                });
            }
            Some(Ok(m)) => m,
        };
        if msg.len() > max {
            return Err(Rejection {
                code: CloseCode::Size,
                error: Error::new(
                    ErrorKind::Handshake,
                    format!(
                        "the {step} message is {} bytes, over the limit of {max}",
                        msg.len()
                    ),
                ),
                timed_out: false,
                resume_refused: false,
            });
        }
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
            WsMessage::Close(frame) => {
                // The reason is what a refused client needs to read
                // ("metadata rejected: token revoked"), bounded by the
                // 123 bytes a close frame holds.
                let frame_code = frame.as_ref().map(|f| u16::from(f.code));
                let why = match frame {
                    Some(frame) => format!(
                        ": code {} ({})",
                        u16::from(frame.code),
                        frame.reason.escape_debug()
                    ),
                    None => String::new(),
                };
                let policy = frame_code == Some(1008);
                return Err(Rejection {
                    resume_refused: policy,
                    ..Rejection::protocol(format!(
                        "peer closed the connection before the {step} message{why}"
                    ))
                });
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
        timed_out: false,
        resume_refused: false,
    })
}

/// What the handshake settled about the peer.
#[derive(Debug, Clone)]
pub(crate) struct Negotiated {
    /// Both sides take the streaming extension.
    pub(crate) streams: bool,
    /// The peer sent no `Features`: it is a Go peer (docs/PROTOCOL.md,
    /// "Go peers in practice").
    pub(crate) go_peer: bool,
    /// Both sides take resumable sessions: the session's token.
    pub(crate) resume_token: Option<String>,
}

/// A session a client resumed, found and settled by the server.
pub(crate) struct Resumed {
    pub(crate) conn: Connection,
    /// How many of the client's messages the server received.
    pub(crate) received: u64,
    /// How many of the server's messages the client received.
    pub(crate) peer_received: u64,
    /// Held until the session runs over the new socket.
    pub(crate) _gate: tokio::sync::OwnedMutexGuard<()>,
}

/// Finds the session a client asks to resume and gets it ready, or says
/// why not.
pub(crate) type Resolve =
    dyn Fn(ResumeAsk) -> BoxFuture<'static, Result<Resumed, String>> + Send + Sync;

/// Server side: reads the metadata (checked by `check`, which may give the
/// connection its identity; its request is what the upgrade found out),
/// assigns `id`, waits for the ack, by `deadline` (the end of the `timeout`
/// that began at the upgrade).
pub(crate) async fn accept<S>(
    ws: &mut WebSocketStream<PeerIo<S>>,
    id: &str,
    (deadline, timeout): (tokio::time::Instant, Duration),
    check: Option<(&MetadataCheck, MetadataRequest)>,
    streaming: bool,
    max_size: usize,
    resume: Option<&Resolve>,
) -> Result<
    (
        serde_json::Value,
        Negotiated,
        Option<Identity>,
        Option<Resumed>,
    ),
    Rejection,
>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let steps = async {
        let hello = next_json(ws, CLIENT_META, max_size).await?;
        expect_type(&hello, CLIENT_META)?;
        let mut identity = None;
        if let Some((check, mut request)) = check {
            request.metadata = hello.meta.clone();
            identity = check(request)
                .await
                .map_err(|why| Rejection::policy(format!("metadata rejected: {why}")))?;
        }
        let go_peer = hello.is_go_peer();
        let streams = streaming && hello.offers(STREAMING);
        let resumable = resume.is_some() && !go_peer && hello.offers(RESUME);
        let mut resumed = None;
        if let (true, Some(resolve), Some(ask)) = (resumable, resume, hello.resume.clone()) {
            match resolve(ask).await {
                Ok(found) => resumed = Some(found),
                Err(why) => return Err(Rejection::policy(format!("resume refused: {why}"))),
            }
        }
        let mut features: Vec<&str> = Vec::new();
        if streams {
            features.push(STREAMING);
        }
        if resumable {
            features.push(RESUME);
        }
        let token = match &resumed {
            Some(found) => found.conn.resume_token().map(str::to_owned),
            None => resumable.then(crate::resume::new_token),
        };
        let reply_id = resumed
            .as_ref()
            .map(|found| found.conn.id().as_str().to_owned());
        let reply = IdOut {
            kind: SERVER_ID,
            id: reply_id.as_deref().unwrap_or(id),
            // A Go client gets the reply it expects, byte for byte.
            features: (!go_peer).then_some(features.as_slice()),
            token: token.as_deref(),
            received: resumed.as_ref().map(|found| found.received),
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
        let ack = next_json(ws, CLIENT_ACK, max_size).await?;
        expect_type(&ack, CLIENT_ACK)?;
        let negotiated = Negotiated {
            streams,
            go_peer,
            resume_token: token,
        };
        Ok((hello.meta, negotiated, identity, resumed))
    };
    match tokio::time::timeout_at(deadline, steps).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(timeout)),
    }
}

/// Client side: sends the metadata, receives the connection id, acks it.
pub(crate) async fn initiate<S>(
    ws: &mut WebSocketStream<PeerIo<S>>,
    meta: &serde_json::Value,
    timeout: Duration,
    streaming: bool,
    max_size: usize,
    (resume, ask): (bool, Option<&ResumeAsk>),
) -> Result<(String, Negotiated, Option<u64>), Rejection>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let steps = async {
        let features: &[&str] = match (streaming, resume) {
            (true, true) => &[STREAMING, RESUME],
            (true, false) => &[STREAMING],
            (false, true) => &[RESUME],
            (false, false) => &[],
        };
        let hello = MetaOut {
            kind: CLIENT_META,
            meta,
            features,
            resume: ask.filter(|_| resume),
        };
        send_json(ws, &hello, CLIENT_META).await?;
        let reply = next_json(ws, SERVER_ID, max_size)
            .await
            .map_err(|mut rejection| {
                rejection.resume_refused &= ask.is_some() && resume;
                rejection
            })?;
        expect_type(&reply, SERVER_ID)?;
        let go_peer = reply.is_go_peer();
        let streams = streaming && reply.offers(STREAMING);
        let resume_token = reply
            .token
            .clone()
            .filter(|t| resume && !t.is_empty() && reply.offers(RESUME));
        // The server resumed the session we asked for.
        let resumed = match (ask, &resume_token, reply.received) {
            (Some(ask), Some(_), Some(received))
                if reply.id.as_deref() == Some(ask.id.as_str()) =>
            {
                Some(received)
            }
            _ => None,
        };
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
        let negotiated = Negotiated {
            streams,
            go_peer,
            resume_token,
        };
        Ok((id, negotiated, resumed))
    };
    match tokio::time::timeout(timeout, steps).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(timeout)),
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

fn timed_out(timeout: Duration) -> Rejection {
    Rejection {
        timed_out: true,
        ..Rejection::policy(format!(
            "handshake not completed within {} ms",
            timeout.as_millis()
        ))
    }
}
