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
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

/// The PEM certificate and key files a server serves `wss://` with.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// A self-signed certificate for 127.0.0.1, written to `dir`; and the
    /// client configuration that trusts it (the same rustls for all).
    pub fn generate(dir: &Path) -> Result<(TlsFiles, Arc<rustls::ClientConfig>), BoxError> {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
        std::fs::create_dir_all(dir)?;
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, certified.cert.pem())?;
        std::fs::write(&files.key, certified.signing_key.serialize_pem())?;
        let client = swaggersocket::tls::client_config_with_ca_pem_file(&files.cert)?;
        Ok((files, Arc::new(client)))
    }
}

/// Starts the server of `imp` on 127.0.0.1 and returns its address; it
/// serves until the process ends; `wss://` with `tls`.
pub async fn start_server(imp: Impl, tls: Option<TlsFiles>) -> Result<SocketAddr, BoxError> {
    if tls.is_some() && imp == Impl::Jsonrpsee {
        return Err("the jsonrpsee server runs without TLS here".into());
    }
    match imp {
        Impl::Swaggersocket => {
            // The defaults a user gets (8 KiB read buffer, heartbeat on,
            // 30 s call timeout); TCP_NODELAY is always on.
            let mut builder = swaggersocket::Server::builder();
            if let Some(files) = tls {
                builder = builder.tls_pem_files(files.cert, files.key)?;
            }
            // POST /echo echoes; GET /stream answers a streamed body of
            // STREAM_CHUNKS chunks of STREAM_CHUNK bytes.
            let chunk = Payload::new(STREAM_CHUNK).bytes;
            let server = builder
                .serve(service_fn(move |req: http::Request<Bytes>| {
                    let chunk = chunk.clone();
                    async move {
                        let body = if req.uri().path() == "/stream" {
                            let chunks =
                                std::iter::repeat_n(chunk, STREAM_CHUNKS).map(Ok::<_, Infallible>);
                            swaggersocket::Body::from_stream(futures_util::stream::iter(chunks))
                        } else {
                            swaggersocket::Body::full(req.into_body())
                        };
                        Ok::<_, Infallible>(http::Response::new(body))
                    }
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
            let acceptor = match tls {
                Some(files) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(
                    swaggersocket::tls::server_config_from_pem_files(files.cert, files.key)?,
                ))),
                None => None,
            };
            tokio::spawn(plain::serve(listener, acceptor));
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

/// A streamed response of the `streams` workload: this many chunks of
/// `STREAM_CHUNK` bytes (64 KiB in all); plain fetches the same bytes in
/// as many calls.
pub const STREAM_CHUNKS: usize = 16;
pub const STREAM_CHUNK: usize = 4 << 10;

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
    /// Connects to `addr`; over `wss://` with `tls` (not for jsonrpsee).
    pub async fn connect(
        imp: Impl,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Conn, BoxError> {
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        let url = format!("{scheme}://{addr}/");
        match imp {
            Impl::Swaggersocket => {
                // No reconnecting: a lost connection is a failed run. With
                // SWAGGERSOCKET_BENCH_RESUME=on|off, keep-alive is on (a
                // client without it never offers resumable sessions) and
                // resume/1 is on or off: the overhead of resume alone.
                let mut builder = swaggersocket::Client::builder(url).keep_alive(false);
                match std::env::var("SWAGGERSOCKET_BENCH_RESUME").as_deref() {
                    Ok("on") => {
                        builder = builder
                            .keep_alive(true)
                            .config(swaggersocket::Config::new().resume(true));
                    }
                    Ok("off") => {
                        builder = builder
                            .keep_alive(true)
                            .config(swaggersocket::Config::new().resume(false));
                    }
                    _ => {}
                }
                if let Some(config) = tls {
                    builder = builder.tls_config(config);
                }
                let client = builder.connect().await?;
                let conn = client.connection();
                Ok(Conn::Swaggersocket {
                    _client: client,
                    conn,
                })
            }
            Impl::Plain => {
                let connector = tls.map(tokio_rustls::TlsConnector::from);
                Ok(Conn::Plain(plain::Client::connect(addr, connector).await?))
            }
            Impl::Jsonrpsee if tls.is_some() => Err("jsonrpsee runs without TLS here".into()),
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

impl Conn {
    /// Takes one streamed response (swaggersocket: `call_streaming`, chunk
    /// by chunk) or, for plain, the same bytes in `STREAM_CHUNKS` calls
    /// one after the other; returns the bytes received.
    pub async fn stream(&self) -> Result<usize, BoxError> {
        let want = STREAM_CHUNKS * STREAM_CHUNK;
        let got = match self {
            Conn::Swaggersocket { conn, .. } => {
                let request = http::Request::get("/stream").body(Bytes::new())?;
                let response = conn.call_streaming(request).await?;
                if response.status() != http::StatusCode::OK {
                    return Err(format!("status {}", response.status()).into());
                }
                let mut body = response.into_body();
                let mut got = 0;
                while let Some(chunk) = body.chunk().await {
                    got += chunk?.len();
                }
                got
            }
            Conn::Plain(client) => {
                let mut got = 0;
                for _ in 0..STREAM_CHUNKS {
                    got += client.fetch(STREAM_CHUNK as u32).await?.len();
                }
                got
            }
            Conn::Jsonrpsee(_) => return Err("jsonrpsee has no streams here".into()),
        };
        if got != want {
            return Err(format!("streamed {got} bytes, expected {want}").into());
        }
        Ok(got)
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
