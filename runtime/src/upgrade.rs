//! Mounting a [`Server`](crate::Server) inside an axum or hyper server.

use crate::server::{self, Peer, Shared};
use futures_util::future::BoxFuture;
use http::{header, HeaderValue, Request, Response, StatusCode};
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Weak;
use std::task::{Context, Poll};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// A `tower::Service` that upgrades an HTTP request of an axum (or hyper)
/// server into a swaggersocket connection of a [`Server`](crate::Server),
/// so the websocket endpoint shares a port with the service's own HTTP API.
/// Made by [`Server::upgrade_service`](crate::Server::upgrade_service).
///
/// ```no_run
/// # async fn run(api: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
/// let devices = swaggersocket::Server::builder().build();
/// let app = axum::Router::new()
///     .nest("/api", api)
///     .route_service("/ws", devices.upgrade_service());
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// axum::serve(
///     listener,
///     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
/// )
/// .await?;
/// # Ok(()) }
/// ```
///
/// The request is checked as the server's own listener would: `Origin`
/// allow-list, then the authentication hook (a refusal is the hook's HTTP
/// response), then `101 Switching Protocols` and the handshake on the
/// upgraded stream (hyper's `upgrade::on`). The remote address comes from
/// axum's `ConnectInfo<SocketAddr>` when the app is served with it. The
/// server's TLS settings do not apply: TLS is the HTTP server's.
#[derive(Clone)]
pub struct UpgradeService {
    pub(crate) shared: Weak<Shared>,
}

impl fmt::Debug for UpgradeService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradeService")
            .field("server_running", &(self.shared.strong_count() > 0))
            .finish()
    }
}

impl<B> tower_service::Service<Request<B>> for UpgradeService
where
    B: Send + 'static,
{
    type Response = Response<String>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { Ok(upgrade(shared, request).await) })
    }
}

fn plain(status: StatusCode, body: &str) -> Response<String> {
    let mut response = Response::new(body.to_owned());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn has_token(request: &http::request::Parts, name: header::HeaderName, token: &str) -> bool {
    request
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

async fn upgrade<B: Send + 'static>(shared: Weak<Shared>, request: Request<B>) -> Response<String> {
    let Some(strong) = shared.upgrade().filter(|s| !s.shutdown.is_cancelled()) else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down\n",
        );
    };
    let policy = strong.upgrade.clone();

    let mut request = request;
    let on_upgrade = hyper::upgrade::on(&mut request);
    let (parts, body) = request.into_parts();
    let websocket = parts.method == http::Method::GET
        && has_token(&parts, header::CONNECTION, "upgrade")
        && has_token(&parts, header::UPGRADE, "websocket");
    if !websocket {
        let mut response = plain(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint takes websocket upgrades only\n",
        );
        response
            .headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return response;
    }
    if parts
        .headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v != "13")
    {
        let mut response = plain(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Version 13 is required\n",
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return response;
    }
    let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY) else {
        return plain(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing\n");
    };
    let accept = derive_accept_key(key.as_bytes());
    let protocol = server::select_subprotocol(&parts.headers, &policy.subprotocols);
    let addr = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let mut peer = Peer::at(addr);
    // The server's limits hold here too; the HTTP server answers for us.
    let admission = match strong.admit(addr) {
        Ok(admission) => admission,
        Err(_) => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server has its maximum of connections or handshakes; try again later\n",
            )
        }
    };
    drop(strong);

    let judge = server::judge(
        &policy,
        parts.method.clone(),
        parts.uri.clone(),
        parts.headers.clone(),
        &peer,
    );
    let judged = tokio::time::timeout_at(admission.deadline, judge).await;
    match judged {
        Ok(Ok(identity)) => peer.identity = identity,
        Ok(Err(reject)) => {
            tracing::debug!(addr = ?addr, %reject, "upgrade refused");
            let mut response = plain(reject.status(), reject.body());
            response.headers_mut().extend(reject.headers().clone());
            return response;
        }
        Err(_) => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the upgrade request was not authenticated in time\n",
            )
        }
    }
    drop(body);

    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = hyper_util::rt::TokioIo::new(upgraded);
                if let Err(error) = server::upgraded(shared, io, peer, admission).await {
                    tracing::debug!(addr = ?addr, %error, "connection not opened");
                }
            }
            Err(error) => tracing::debug!(addr = ?addr, %error, "the HTTP upgrade failed"),
        }
    });

    let mut response = Response::new(String::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
}
