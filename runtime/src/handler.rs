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

impl<S> ErasedHandler for ServiceHandler<S>
where
    S: Service<Request<Bytes>> + Clone + Send + Sync + 'static,
    S::Response: sealed::IntoBodyResponse,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn call(&self, request: Request<Bytes>) -> ResponseFuture {
        let service = self.0.clone();
        Box::pin(async move {
            match service.oneshot(request).await {
                Ok(response) => Ok(sealed::IntoBodyResponse::into_body_response(response)),
                Err(error) => Err(error.into()),
            }
        })
    }
}

/// What the `serve` methods take: a `tower::Service` from
/// `http::Request<Bytes>` to `http::Response<B>`, where `B` is
/// [`Body`](crate::Body) (to stream the answer), `Bytes`, `String`,
/// `Vec<u8>` or anything else that converts into a `Body`.
///
/// It is implemented for every such service, and only for them (the trait is
/// sealed): a generated `ApiService`, an axum `Router` wrapped in
/// [`HttpService`](crate::HttpService), a [`service_fn`](crate::service_fn), a
/// stack of tower middleware. The service is cloned for each request, as
/// tower services are. Its errors become a `500` answer.
pub trait IntoHandler: sealed::Sealed + Send + 'static {}

impl<S> IntoHandler for S where S: sealed::Sealed + Send + 'static {}

pub(crate) mod sealed {
    use super::*;

    /// A response body the handler can turn into a [`Body`].
    pub trait IntoBodyResponse {
        fn into_body_response(self) -> Response<Body>;
    }

    impl<B: Into<Body>> IntoBodyResponse for Response<B> {
        fn into_body_response(self) -> Response<Body> {
            self.map(Into::into)
        }
    }

    /// The erasing half of [`IntoHandler`](super::IntoHandler), not nameable
    /// outside the crate.
    pub trait Sealed {
        fn into_handler(self) -> Handler;
    }

    impl<S> Sealed for S
    where
        S: Service<Request<Bytes>> + Clone + Send + Sync + 'static,
        S::Response: IntoBodyResponse,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        fn into_handler(self) -> Handler {
            Handler(Arc::new(ServiceHandler(self)))
        }
    }
}

/// A type-erased request handler, shared by every request it serves. Public
/// only in name (the module is private), as the sealed trait needs it.
#[derive(Clone)]
pub struct Handler(Arc<dyn ErasedHandler>);

impl Handler {
    pub(crate) fn new(service: impl IntoHandler) -> Self {
        sealed::Sealed::into_handler(service)
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
