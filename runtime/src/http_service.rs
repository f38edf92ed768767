//! Any tower service with `http_body` bodies (an `axum::Router`) as a
//! handler.

use crate::body::Body;
use crate::error::BoxError;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use std::task::{Context, Poll};
use tower::ServiceExt;
use tower_service::Service;

/// Serves a tower service whose bodies are `http_body::Body`s (an
/// `axum::Router` as it is) over a connection, in either role: the server's
/// API for its clients, or a device's existing axum API for the cloud that
/// it dialed, without code generation.
///
/// ```no_run
/// # async fn run(api: axum::Router) -> Result<(), swaggersocket::Error> {
/// use swaggersocket::{Client, HttpService};
/// let device = Client::builder("wss://cloud.example/devices")
///     .serve(HttpService::new(api))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
///
/// The request reaches the service with an `http_body_util::Full<Bytes>`
/// body. A response body of known length is sent whole; any other
/// (`axum::body::Body::from_stream`, server-sent events) is streamed to the
/// caller chunk by chunk as it is produced (see
/// [`Connection::call_streaming`](crate::Connection::call_streaming)).
#[derive(Debug, Clone)]
pub struct HttpService<S> {
    inner: S,
}

impl<S> HttpService<S> {
    /// Wraps `service`.
    pub fn new(service: S) -> Self {
        HttpService { inner: service }
    }
}

impl<S, B> Service<Request<Bytes>> for HttpService<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is awaited on the clone that serves the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let service = self.inner.clone();
        Box::pin(async move {
            let response = service
                .oneshot(request.map(Full::new))
                .await
                .map_err(Into::into)?;
            let (parts, body) = response.into_parts();
            let body = if http_body::Body::size_hint(&body).exact().is_some() {
                Body::full(body.collect().await.map_err(Into::into)?.to_bytes())
            } else {
                Body::from_stream(body.into_data_stream())
            };
            Ok(Response::from_parts(parts, body))
        })
    }
}
