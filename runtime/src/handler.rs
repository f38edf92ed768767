//! Type-erased request handlers.

use crate::body::Body;
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
    Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send + 'static>>;

trait ErasedHandler: Send + Sync {
    fn call(&self, request: Request<Bytes>) -> ResponseFuture;
}

struct ServiceHandler<S>(S);

impl<S, B> ErasedHandler for ServiceHandler<S>
where
    S: Service<Request<Bytes>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Into<Body>,
{
    fn call(&self, request: Request<Bytes>) -> ResponseFuture {
        let service = self.0.clone();
        Box::pin(async move {
            match service.oneshot(request).await {
                Ok(response) => Ok(response.map(Into::into)),
                Err(error) => Err(error.into()),
            }
        })
    }
}

/// A request handler: any `tower::Service` from `http::Request<Bytes>` to
/// `http::Response<Bytes>` (or `http::Response<Body>` to stream the answer),
/// shared by every request it serves. The `serve` methods take such a
/// service directly; [`Handler::new`] erases its type.
#[derive(Clone)]
pub struct Handler(Arc<dyn ErasedHandler>);

impl Handler {
    /// Wraps a service. It is cloned for each request, as tower services are.
    pub fn new<S, B>(service: S) -> Self
    where
        S: Service<Request<Bytes>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: Into<Body>,
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
