//! The HTTP gateway: the peers' APIs over plain HTTP.

use crate::error::CallError;
use crate::peer::{PeerDirectory, PeerInfo};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::Router;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use swaggersocket::Reject;

/// The request header in which a gateway's caller can shorten the deadline
/// of its call: `250ms`, `5s` or a number of seconds.
pub const TIMEOUT_HEADER: &str = "x-gateway-timeout";

type AuthHook = Arc<dyn Fn(GatewayRequest) -> BoxFuture<'static, Result<(), Reject>> + Send + Sync>;

/// A request to the gateway, as its authentication hook sees it
/// ([`Gateway::authenticate`]).
#[derive(Debug, Clone)]
pub struct GatewayRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    remote_addr: Option<SocketAddr>,
    peer: Option<String>,
}

impl GatewayRequest {
    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target as the gateway received it (`/peers/{id}/…`).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Every header of the request.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The caller's address, when the gateway is served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The id of the peer the request is for; `None` for `GET /peers` and
    /// the OpenAPI document.
    pub fn peer(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }
}

/// An HTTP gateway to the peers of a [`PeerDirectory`]:
///
/// - `GET /peers` lists them as JSON, filtered by metadata
///   (`?device=sensor-7`; `a.b=1` looks into nested objects);
/// - `ANY /peers/{id}/{path}` forwards the request to that peer and streams
///   its response back;
/// - `GET /openapi.json`, when given one, the peers' OpenAPI document with
///   its `servers` pointing at `/peers/{peer}`.
///
/// Unknown peer: 404; peer gone mid-call: 502; no answer in time: 504; each
/// with a plain-text body that says why. Build the router with
/// [`router`](Gateway::router).
pub struct Gateway {
    directory: Arc<dyn PeerDirectory>,
    auth: Option<AuthHook>,
    timeout: Duration,
    max_request_body: usize,
    openapi: Option<Bytes>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("auth", &self.auth.is_some())
            .field("timeout", &self.timeout)
            .field("max_request_body", &self.max_request_body)
            .field("openapi", &self.openapi.is_some())
            .finish()
    }
}

impl Gateway {
    /// A gateway over `directory`: no authentication (set one unless the
    /// gateway listens where only trusted callers reach it), a 30 s
    /// deadline for the response head, request bodies up to 16 MiB.
    pub fn new(directory: impl PeerDirectory) -> Self {
        Gateway::from_arc(Arc::new(directory))
    }

    /// As [`new`](Gateway::new), over a shared directory.
    pub fn from_arc(directory: Arc<dyn PeerDirectory>) -> Self {
        Gateway {
            directory,
            auth: None,
            timeout: Duration::from_secs(30),
            max_request_body: 16 << 20,
            openapi: None,
        }
    }

    /// Authenticates every request to the gateway, in the style of
    /// `ServerBuilder::authenticate`: the hook sees the method, target,
    /// headers, caller address and the peer asked for; `Err(Reject)` answers
    /// with its status, headers and body. A request the hook accepted is
    /// forwarded without its `Authorization` header (the gateway's
    /// credentials are not the peer's).
    pub fn authenticate<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(GatewayRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Reject>> + Send + 'static,
    {
        self.auth = Some(Arc::new(move |request| Box::pin(hook(request))));
        self
    }

    /// Accepts only callers with `Authorization: Bearer <token>`, one of
    /// `tokens`; others get 401.
    pub fn bearer_tokens<I>(self, tokens: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let tokens: Arc<Vec<String>> = Arc::new(tokens.into_iter().map(Into::into).collect());
        self.authenticate(move |request| {
            let ok = request
                .bearer_token()
                .is_some_and(|t| tokens.iter().any(|k| constant_time_eq(k, t)));
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(Reject::unauthorized(
                        "the gateway needs Authorization: Bearer <token>",
                    ))
                }
            }
        })
    }

    /// The longest wait for a response head (a caller can ask for less with
    /// the `X-Gateway-Timeout` header); default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest request body forwarded; larger ones get 413. Default
    /// 16 MiB.
    pub fn max_request_body(mut self, bytes: usize) -> Self {
        self.max_request_body = bytes;
        self
    }

    /// Serves `document` (the peers' OpenAPI document in JSON, as generated
    /// code embeds it) at `GET /openapi.json`, its `servers` replaced by
    /// `/peers/{peer}` so that HTTP tools call a peer through the gateway.
    /// Fails if the document is not a JSON object.
    pub fn openapi(mut self, document: &str) -> Result<Self, serde_json::Error> {
        let mut doc: serde_json::Value = serde_json::from_str(document)?;
        if let Some(object) = doc.as_object_mut() {
            object.insert(
                "servers".into(),
                serde_json::json!([{
                    "url": "/peers/{peer}",
                    "description": "a peer, through the gateway",
                    "variables": { "peer": { "default": "", "description": "the peer's connection id (GET /peers)" } }
                }]),
            );
        } else {
            return Err(serde::de::Error::custom(
                "the OpenAPI document is not an object",
            ));
        }
        self.openapi = Some(Bytes::from(serde_json::to_vec(&doc)?));
        Ok(self)
    }

    /// The axum router of the gateway. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` to give the
    /// authentication hook the callers' addresses, or nest it in an app.
    pub fn router(self) -> Router {
        Router::new().fallback(handle).with_state(Arc::new(self))
    }

    /// The auth hook's verdict on a request, started without holding the
    /// request (its body is not `Sync`): `Ok(true)` accepted by the hook,
    /// `Ok(false)` no hook, `Err` the rejection to answer.
    fn authorize(
        &self,
        request: &Request<Body>,
        peer: Option<&str>,
    ) -> impl Future<Output = Result<bool, Response<Body>>> + Send + 'static {
        let verdict = self.auth.as_ref().map(|hook| hook(describe(request, peer)));
        async move {
            match verdict {
                None => Ok(false),
                Some(verdict) => match verdict.await {
                    Ok(()) => Ok(true),
                    Err(reject) => {
                        let mut response = text(reject.status(), reject.body());
                        for (name, value) in reject.headers() {
                            response.headers_mut().append(name.clone(), value.clone());
                        }
                        Err(response)
                    }
                },
            }
        }
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut body = body.to_owned();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(error: &CallError) -> Response<Body> {
    text(error.status(), error.message())
}

/// Where a request to the gateway goes.
enum Target<'a> {
    List,
    OpenApi,
    Peer { id: String, rest: &'a str },
    Unknown,
}

fn route(path: &str) -> Target<'_> {
    if path == "/openapi.json" {
        return Target::OpenApi;
    }
    let Some(after) = path.strip_prefix("/peers") else {
        return Target::Unknown;
    };
    if after.is_empty() || after == "/" {
        return Target::List;
    }
    let Some(after) = after.strip_prefix('/') else {
        return Target::Unknown;
    };
    let (id, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let id = percent_decode(id);
    if id.is_empty() {
        return Target::Unknown;
    }
    Target::Peer { id, rest }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    match route(&path) {
        Target::Unknown => text(
            StatusCode::NOT_FOUND,
            "not a gateway route: use GET /peers or /peers/{id}/{path}",
        ),
        Target::List | Target::OpenApi if request.method() != Method::GET => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed here");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            response
        }
        Target::List => {
            if let Err(response) = gateway.authorize(&request, None).await {
                return response;
            }
            list(&gateway, request.uri().query().unwrap_or(""))
        }
        Target::OpenApi => {
            if let Err(response) = gateway.authorize(&request, None).await {
                return response;
            }
            match &gateway.openapi {
                Some(doc) => {
                    let mut response = Response::new(Body::from(doc.clone()));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    response
                }
                None => text(
                    StatusCode::NOT_FOUND,
                    "this gateway serves no OpenAPI document",
                ),
            }
        }
        Target::Peer { id, rest } => {
            let rest = rest.to_owned();
            forward(&gateway, id, rest, request).await
        }
    }
}

fn describe(request: &Request<Body>, peer: Option<&str>) -> GatewayRequest {
    GatewayRequest {
        method: request.method().clone(),
        uri: request.uri().clone(),
        headers: request.headers().clone(),
        remote_addr: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
        peer: peer.map(str::to_owned),
    }
}

fn list(gateway: &Gateway, query: &str) -> Response<Body> {
    let filters: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut peers: Vec<PeerInfo> = gateway
        .directory
        .peers()
        .into_iter()
        .filter(|p| filters.iter().all(|(k, v)| matches(&p.metadata, k, v)))
        .collect();
    peers.sort_by(|a, b| (a.connected_since_ms, &a.id).cmp(&(b.connected_since_ms, &b.id)));
    let list: Vec<serde_json::Value> = peers
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id,
                "node": p.node,
                "metadata": p.metadata,
                "remote_addr": p.remote_addr.map(|a| a.to_string()),
                "connected_since": chrono::DateTime::<chrono::Utc>::from(p.connected_since())
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        })
        .collect();
    json(&serde_json::json!({ "count": list.len(), "peers": list }))
}

/// Whether the metadata at `key` (dots go into nested objects) is `want`:
/// a string equal to it, or a number or boolean written as it.
pub(crate) fn matches(metadata: &serde_json::Value, key: &str, want: &str) -> bool {
    let mut value = metadata;
    for part in key.split('.') {
        match value.get(part) {
            Some(v) => value = v,
            None => return false,
        }
    }
    match value {
        serde_json::Value::Array(items) => items.iter().any(|item| scalar_is(item, want)),
        other => scalar_is(other, want),
    }
}

/// A string equal to `want`, or a number or boolean written as it.
fn scalar_is(value: &serde_json::Value, want: &str) -> bool {
    match value {
        serde_json::Value::String(s) => s == want,
        serde_json::Value::Number(n) => n.to_string().as_str() == want,
        serde_json::Value::Bool(b) => want == if *b { "true" } else { "false" },
        _ => false,
    }
}

/// The hop-by-hop headers of RFC 9110 section 7.6.1, which a proxy does not
/// pass on, and the headers named in `Connection`.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// `250ms`, `5s`, `1.5` (seconds).
fn parse_timeout(value: &str) -> Option<Duration> {
    let value = value.trim();
    let (number, scale) = if let Some(ms) = value.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = value.strip_suffix('s') {
        (s, 1.0)
    } else {
        (value, 1.0)
    };
    let seconds: f64 = number.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds * scale))
}

async fn forward(
    gateway: &Gateway,
    id: String,
    rest: String,
    request: Request<Body>,
) -> Response<Body> {
    let authorized = match gateway.authorize(&request, Some(&id)).await {
        Ok(authorized) => authorized,
        Err(response) => return response,
    };
    let Some(peer) = gateway.directory.peer(&id) else {
        return error_response(&CallError::not_found(&id));
    };
    let (parts, body) = request.into_parts();
    let mut deadline = gateway.timeout;
    if let Some(value) = parts.headers.get(TIMEOUT_HEADER) {
        match value.to_str().ok().and_then(parse_timeout) {
            Some(asked) => deadline = deadline.min(asked),
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "X-Gateway-Timeout must be like 250ms, 5s or 1.5 (seconds)",
                )
            }
        }
    }
    let body = match http_body_util::Limited::new(body, gateway.max_request_body)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!(
                        "the request body is over the gateway's limit of {} bytes",
                        gateway.max_request_body
                    ),
                );
            }
            return text(
                StatusCode::BAD_REQUEST,
                &format!("reading the request body failed: {e}"),
            );
        }
    };
    let target = match parts.uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest,
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return text(StatusCode::BAD_REQUEST, "the request target is not valid");
    };
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(TIMEOUT_HEADER);
    if authorized {
        headers.remove(header::AUTHORIZATION);
    }
    if let Some(host) = headers.remove(header::HOST) {
        headers.insert("x-forwarded-host", host);
    }
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        let mut chain = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(|v| format!("{v}, "))
            .unwrap_or_default();
        chain.push_str(&addr.ip().to_string());
        if let Ok(value) = HeaderValue::from_str(&chain) {
            headers.insert("x-forwarded-for", value);
        }
    }
    let mut forwarded = Request::new(body);
    *forwarded.method_mut() = parts.method.clone();
    *forwarded.uri_mut() = uri;
    *forwarded.headers_mut() = headers;
    // Dropping this future (the HTTP caller went away) drops the call, which
    // stops it on the peer.
    let response = match peer.call_streaming(forwarded, Some(deadline)).await {
        Ok(response) => response,
        Err(error) => return error_response(&error),
    };
    let (mut head, body) = response.into_parts();
    strip_hop_by_hop(&mut head.headers);
    let is_head = parts.method == Method::HEAD;
    let body = if body.is_full() {
        match body.collect(usize::MAX).await {
            Ok(bytes) => {
                if !is_head {
                    head.headers
                        .insert(header::CONTENT_LENGTH, bytes.len().into());
                }
                Body::from(bytes)
            }
            Err(error) => return error_response(&error),
        }
    } else {
        if !is_head {
            head.headers.remove(header::CONTENT_LENGTH);
        }
        // An error item cuts the response short (no last chunk), as a proxy
        // does when its upstream fails mid-body.
        Body::from_stream(body.map(|item| item.map_err(|e| Box::new(e) as swaggersocket::BoxError)))
    };
    head.version = http::Version::HTTP_11;
    Response::from_parts(head, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(route("/peers"), Target::List));
        assert!(matches!(route("/peers/"), Target::List));
        assert!(matches!(route("/openapi.json"), Target::OpenApi));
        assert!(matches!(route("/other"), Target::Unknown));
        assert!(matches!(route("/peersx"), Target::Unknown));
        match route("/peers/a%20b/x/y%2Fz") {
            Target::Peer { id, rest } => {
                assert_eq!(id, "a b");
                assert_eq!(rest, "/x/y%2Fz");
            }
            _ => panic!("not a peer route"),
        }
        match route("/peers/a+b&c=d") {
            Target::Peer { id, .. } => assert_eq!(id, "a+b&c=d"),
            _ => panic!("not a peer route"),
        }
        match route("/peers/abc") {
            Target::Peer { id, rest } => assert_eq!((id.as_str(), rest), ("abc", "/")),
            _ => panic!("not a peer route"),
        }
    }

    #[test]
    fn metadata_filters() {
        let meta = serde_json::json!({"device": "sensor-7", "floor": 3, "on": true,
            "site": {"room": "b2"}, "tags": ["a", "b"]});
        assert!(matches(&meta, "device", "sensor-7"));
        assert!(!matches(&meta, "device", "sensor-8"));
        assert!(matches(&meta, "floor", "3"));
        assert!(matches(&meta, "on", "true"));
        assert!(matches(&meta, "site.room", "b2"));
        assert!(matches(&meta, "tags", "b"));
        assert!(!matches(&meta, "missing", "x"));
    }

    #[test]
    fn timeouts_and_hop_by_hop() {
        assert_eq!(parse_timeout("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("soon"), None);
        assert_eq!(parse_timeout("-1"), None);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }
}
