//! Type-erased request handlers.

use crate::error::BoxError;
use bytes::Bytes;
use http::{Request, Response};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tower::ServiceExt;
use tower_service::Service;

pub(crate) type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Bytes>, BoxError>> + Send + 'static>>;

trait ErasedHandler: Send + Sync {
    fn call(&self, request: Request<Bytes>) -> ResponseFuture;
}

struct ServiceHandler<S>(S);

impl<S> ErasedHandler for ServiceHandler<S>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn call(&self, request: Request<Bytes>) -> ResponseFuture {
        let service = self.0.clone();
        Box::pin(async move { service.oneshot(request).await.map_err(Into::into) })
    }
}

/// A request handler: any `tower::Service` from `http::Request<Bytes>` to
/// `http::Response<Bytes>`, shared by every request it serves.
///
/// Build one with [`Handler::new`], or pass a service directly to the methods
/// that take `impl Into<Handler>`… through `serve`, which accept any such
/// service.
#[derive(Clone)]
pub struct Handler(Arc<dyn ErasedHandler>);

impl Handler {
    /// Wraps a service. It is cloned for each request, as tower services are.
    pub fn new<S>(service: S) -> Self
    where
        S: Service<Request<Bytes>, Response = Response<Bytes>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        Handler(Arc::new(ServiceHandler(service)))
    }

    pub(crate) fn call(&self, request: Request<Bytes>) -> ResponseFuture {
        self.0.call(request)
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handler")
    }
}
