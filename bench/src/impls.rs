//! The three implementations: their servers (run in the child process) and
//! their client connections (in the parent).

use crate::plain;
use bytes::Bytes;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::server::{RpcModule, ServerConfig};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use swaggersocket::service_fn;

/// Which implementation a server or client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// The runtime of this repository.
    Swaggersocket,
    /// Plain tokio-tungstenite with a minimal multiplexer: the ceiling.
    Plain,
    /// jsonrpsee's websocket server and client.
    Jsonrpsee,
}

impl Impl {
    pub const ALL: [Impl; 3] = [Impl::Swaggersocket, Impl::Plain, Impl::Jsonrpsee];

    pub fn name(self) -> &'static str {
        match self {
            Impl::Swaggersocket => "swaggersocket",
            Impl::Plain => "plain",
            Impl::Jsonrpsee => "jsonrpsee",
        }
    }

    pub fn parse(text: &str) -> Option<Impl> {
        Impl::ALL.into_iter().find(|i| i.name() == text)
    }
}

impl fmt::Display for Impl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Allowed connections for jsonrpsee (its default is 100).
const RPC_MAX_CONNECTIONS: u32 = 20_000;

/// Starts the server of `imp` on 127.0.0.1 and returns its address; it
/// serves until the process ends.
pub async fn start_server(imp: Impl) -> Result<SocketAddr, BoxError> {
    match imp {
        Impl::Swaggersocket => {
            // The defaults a user gets (8 KiB read buffer, heartbeat on,
            // 30 s call timeout); TCP_NODELAY is always on.
            let server = swaggersocket::Server::builder()
                .serve(service_fn(|req: http::Request<Bytes>| async move {
                    Ok::<_, Infallible>(http::Response::new(req.into_body()))
                }))
                .bind("127.0.0.1:0")
                .await?;
            let addr = server.local_addr();
            // Keep it running for the life of the process.
            std::mem::forget(server);
            Ok(addr)
        }
        Impl::Plain => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(plain::serve(listener));
            Ok(addr)
        }
        Impl::Jsonrpsee => {
            let config = ServerConfig::builder()
                .ws_only()
                .set_tcp_no_delay(true)
                .max_connections(RPC_MAX_CONNECTIONS)
                .build();
            let server = jsonrpsee::server::Server::builder()
                .set_config(config)
                .build("127.0.0.1:0")
                .await?;
            let addr = server.local_addr()?;
            let mut module = RpcModule::new(());
            module.register_method("echo", |params, _, _| params.one::<String>())?;
            let handle = server.start(module);
            std::mem::forget(handle);
            Ok(addr)
        }
    }
}

/// One client connection of any implementation.
pub enum Conn {
    Swaggersocket {
        // Kept so that the connection lives; calls go through `conn`.
        _client: swaggersocket::Client,
        conn: swaggersocket::Connection,
    },
    Plain(plain::Client),
    Jsonrpsee(WsClient),
}

impl Conn {
    pub async fn connect(imp: Impl, addr: SocketAddr) -> Result<Conn, BoxError> {
        let url = format!("ws://{addr}/");
        match imp {
            Impl::Swaggersocket => {
                // No reconnecting: a lost connection is a failed run.
                let client = swaggersocket::Client::builder(url)
                    .keep_alive(false)
                    .connect()
                    .await?;
                let conn = client.connection();
                Ok(Conn::Swaggersocket {
                    _client: client,
                    conn,
                })
            }
            Impl::Plain => Ok(Conn::Plain(plain::Client::connect(addr).await?)),
            Impl::Jsonrpsee => {
                let client = WsClientBuilder::default()
                    .set_tcp_no_delay(true)
                    .max_concurrent_requests(4096)
                    .request_timeout(Duration::from_secs(30))
                    .build(url)
                    .await?;
                Ok(Conn::Jsonrpsee(client))
            }
        }
    }

    /// Sends `payload` (ASCII) and checks that it comes back; returns its length.
    pub async fn call(&self, payload: &Payload) -> Result<usize, BoxError> {
        let len = match self {
            Conn::Swaggersocket { conn, .. } => {
                let request = http::Request::post("/echo").body(payload.bytes.clone())?;
                let response = conn.call(request).await?;
                if response.status() != http::StatusCode::OK {
                    return Err(format!("status {}", response.status()).into());
                }
                response.body().len()
            }
            Conn::Plain(client) => client.call(&payload.bytes).await?.len(),
            Conn::Jsonrpsee(client) => {
                let echoed: String = client
                    .request("echo", rpc_params![payload.text.as_str()])
                    .await?;
                echoed.len()
            }
        };
        if len != payload.bytes.len() {
            return Err(format!("sent {} bytes, got {len} back", payload.bytes.len()).into());
        }
        Ok(len)
    }
}

/// A request body, as bytes and as the same text (for JSON-RPC).
pub struct Payload {
    pub bytes: Bytes,
    pub text: String,
}

impl Payload {
    /// `len` bytes of printable ASCII (a JSON string needs no escaping).
    pub fn new(len: usize) -> Payload {
        let text: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        Payload {
            bytes: Bytes::from(text.clone()),
            text,
        }
    }
}
