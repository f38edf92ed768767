//! Helpers shared by the runtime's integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, missing_docs)]

use bytes::Bytes;
use http::{Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use swaggersocket::{service_fn, ClientEvent, Event, Events, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub mod fault_proxy;

/// The longest any single wait in a test may take before the test fails.
pub const BOUND: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test if it takes longer than [`BOUND`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Answers 200 with the request body, method and path in `x-echo-*` headers.
pub async fn echo(request: Request<Bytes>) -> Result<Response<Bytes>, Infallible> {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut response = Response::new(request.into_body());
    response
        .headers_mut()
        .insert("x-echo-method", method.parse().unwrap());
    response
        .headers_mut()
        .insert("x-echo-path", path.parse().unwrap());
    Ok(response)
}

pub fn echo_service() -> impl tower::Service<
    Request<Bytes>,
    Response = Response<Bytes>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    service_fn(echo)
}

pub fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

pub fn get(path: &str) -> Request<Bytes> {
    Request::get(path).body(Bytes::new()).unwrap()
}

pub fn post(path: &str, body: impl Into<Bytes>) -> Request<Bytes> {
    Request::post(path).body(body.into()).unwrap()
}

/// The next server event, within the bound.
pub async fn next_event(events: &mut Events<Event>) -> Event {
    within("a server event", events.recv())
        .await
        .expect("event stream ended")
}

pub async fn next_client_event(events: &mut Events<ClientEvent>) -> ClientEvent {
    within("a client event", events.recv())
        .await
        .expect("event stream ended")
}

/// Waits for the next `Received` event and returns its connection.
pub async fn next_received(events: &mut Events<Event>) -> swaggersocket::Connection {
    loop {
        if let Event::Received(conn) = next_event(events).await {
            return conn;
        }
    }
}

pub async fn echo_server() -> Server {
    Server::builder()
        .serve(echo_service())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// A TCP proxy on loopback that can freeze (stop forwarding, keep the
/// sockets open: a peer that vanished silently) or cut (drop every socket).
pub struct Proxy {
    pub addr: SocketAddr,
    frozen: watch::Sender<bool>,
    cut: watch::Sender<CancellationToken>,
    stop: CancellationToken,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (frozen, _) = watch::channel(false);
        let (cut, _) = watch::channel(CancellationToken::new());
        let stop = CancellationToken::new();
        let proxy = Proxy {
            addr,
            frozen,
            cut,
            stop: stop.clone(),
        };
        let frozen_rx = proxy.frozen.subscribe();
        let cut_rx = proxy.cut.subscribe();
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
                let token = cut_rx.borrow().clone();
                let (dr, dw) = down.into_split();
                let (ur, uw) = up.into_split();
                tokio::spawn(pipe(dr, uw, frozen_rx.clone(), token.clone()));
                tokio::spawn(pipe(ur, dw, frozen_rx.clone(), token));
            }
        });
        proxy
    }

    /// Stops forwarding in both directions; sockets stay open.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Drops every proxied socket; new connections are proxied again.
    pub fn cut(&self) {
        let old = self.cut.send_replace(CancellationToken::new());
        old.cancel();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.cut.borrow().cancel();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
    cut: CancellationToken,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            _ = cut.cancelled() => return,
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
        };
        // While frozen, hold everything: the peer sees silence, not an error.
        tokio::select! {
            _ = cut.cancelled() => return,
            _ = frozen.wait_for(|f| !*f) => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
