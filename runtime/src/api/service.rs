//! The server and client halves a generated module builds on: the
//! [`ApiService`] that serves an implementation of a generated `Api` trait,
//! the [`Dispatch`] a generated module implements to route its operations,
//! and the conversions of response enums to and from HTTP
//! ([`IntoResponse`], [`FromResponse`]).

use crate::api::message::collect_body;
use crate::api::{CallError, ServerError};
use crate::body::{Body, BodyStream};
use crate::rejection::Rejection;
use bytes::Bytes;
use http::{Request, Response};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A boxed, `Send` future: what a generated handler and request builder
/// return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A type that answers as an HTTP response: the response enums of a
/// generated server, [`ServerError`] and [`Rejection`].
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response<Body>;
}

impl IntoResponse for Response<Body> {
    fn into_response(self) -> Response<Body> {
        self
    }
}

impl IntoResponse for Response<Bytes> {
    fn into_response(self) -> Response<Body> {
        self.map(Body::from)
    }
}

/// A type read from an HTTP response: the response enums of a generated
/// client.
pub trait FromResponse: Sized {
    /// Decodes a response read whole.
    ///
    /// # Errors
    ///
    /// A status the operation does not document, or a body or header that
    /// does not match it.
    fn from_response(response: Response<Bytes>) -> Result<Self, CallError>;

    /// Decodes a response whose head arrived and whose body is still coming.
    /// By default the body is read whole first (at most 64 MiB); an
    /// operation that answers a stream takes it as it comes.
    ///
    /// # Errors
    ///
    /// As [`from_response`](FromResponse::from_response), and a body that
    /// fails on the way.
    fn from_streamed_response(
        response: Response<BodyStream>,
    ) -> impl Future<Output = Result<Self, CallError>> + Send {
        async move {
            let (parts, body) = response.into_parts();
            let bytes = collect_body(body).await?;
            Self::from_response(Response::from_parts(parts, bytes))
        }
    }
}

/// The routing of a generated API: implemented by the module's `Routes`
/// for every implementation `A` of its `Api` trait. It decodes a request's
/// parameters and body and returns the future of the operation's answer, or
/// the [`Rejection`] of a request that does not fit.
pub trait Dispatch<A>: 'static {
    /// Routes and decodes `request`, and calls the operation on `api`.
    ///
    /// # Errors
    ///
    /// The request matches no operation, or its parameters or body do not
    /// match the operation's.
    fn dispatch(
        api: &A,
        request: Request<Bytes>,
    ) -> Result<BoxFuture<'_, Response<Body>>, Rejection>;
}

type RejectionHandler = Arc<dyn Fn(Rejection) -> Response<Body> + Send + Sync>;

/// Serves an implementation `A` of a generated `Api` trait as a
/// `tower::Service` (to give to a `serve` method): routes requests, decodes
/// parameters and bodies, calls the operation and encodes its response.
/// A generated module names it `ApiService<A>`, its `Routes` filled in.
///
/// A request that does not fit an operation is answered by its
/// [`Rejection`]'s default response, or by the handler given to
/// [`with_rejection_handler`](ApiService::with_rejection_handler).
pub struct ApiService<A, R> {
    api: Arc<A>,
    rejections: Option<RejectionHandler>,
    routes: PhantomData<fn() -> R>,
}

impl<A, R: Dispatch<A>> ApiService<A, R> {
    /// Serves `api`.
    pub fn new(api: A) -> Self {
        Self::from_arc(Arc::new(api))
    }

    /// Serves a shared implementation.
    pub fn from_arc(api: Arc<A>) -> Self {
        ApiService {
            api,
            rejections: None,
            routes: PhantomData,
        }
    }

    /// Answers rejected requests with `handler` instead of the plain-text
    /// default ([`Rejection::into_response`]).
    ///
    /// ```
    /// # fn with<A, R: swaggersocket::api::Dispatch<A>>(service: swaggersocket::api::ApiService<A, R>) {
    /// use swaggersocket::rejection::Rejection;
    ///
    /// let service = service.with_rejection_handler(|rejection: Rejection| {
    ///     let body = serde_json::json!({ "title": rejection.to_string() });
    ///     http::Response::builder()
    ///         .status(rejection.status())
    ///         .header("content-type", "application/problem+json")
    ///         .body(body.to_string().into())
    ///         .unwrap_or_default()
    /// });
    /// # }
    /// ```
    #[must_use]
    pub fn with_rejection_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(Rejection) -> Response<Body> + Send + Sync + 'static,
    {
        self.rejections = Some(Arc::new(handler));
        self
    }

    /// The implementation served.
    pub fn api(&self) -> &Arc<A> {
        &self.api
    }

    /// Handles one request.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Body> {
        answer::<A, R>(&self.api, self.rejections.as_ref(), request).await
    }
}

async fn answer<A, R: Dispatch<A>>(
    api: &A,
    rejections: Option<&RejectionHandler>,
    request: Request<Bytes>,
) -> Response<Body> {
    match R::dispatch(api, request) {
        Ok(future) => future.await,
        Err(rejection) => match rejections {
            Some(handler) => handler(rejection),
            None => rejection.into_response(),
        },
    }
}

impl<A, R> Clone for ApiService<A, R> {
    fn clone(&self) -> Self {
        ApiService {
            api: Arc::clone(&self.api),
            rejections: self.rejections.clone(),
            routes: PhantomData,
        }
    }
}

impl<A, R> fmt::Debug for ApiService<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiService")
            .field("rejection_handler", &self.rejections.is_some())
            .finish_non_exhaustive()
    }
}

impl<A, R> tower_service::Service<Request<Bytes>> for ApiService<A, R>
where
    A: Send + Sync + 'static,
    R: Dispatch<A>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let api = Arc::clone(&self.api);
        let rejections = self.rejections.clone();
        Box::pin(async move { Ok(answer::<A, R>(&api, rejections.as_ref(), request).await) })
    }
}

/// The future of a server operation's answer: the operation's future, then
/// its response enum (or error) as a response. The one `async` block of
/// every generated handler, so that a generated server has none of its own
/// per operation to check.
pub fn answer_later<'a, F, T>(operation: F) -> BoxFuture<'a, Response<Body>>
where
    F: Future<Output = Result<T, ServerError>> + Send + 'a,
    T: IntoResponse + 'a,
{
    Box::pin(async move {
        match operation.await {
            Ok(response) => response.into_response(),
            Err(error) => error.into_response(),
        }
    })
}

/// The answer of an operation the server does not implement: 501 naming it.
///
/// Not `std::future::Ready<Result<T, ServerError>>`: that is `Send` only if
/// `T` is, and proving it for a response type of a large API walks the whole
/// graph of schema types (stripe's overflows the recursion limit). This
/// holds no `T`, so it is `Send` whatever `T` is.
#[derive(Debug)]
pub struct NotImplemented<T> {
    operation: &'static str,
    output: std::marker::PhantomData<fn() -> T>,
}

/// See [`NotImplemented`].
pub fn not_implemented<T>(operation: &'static str) -> NotImplemented<T> {
    NotImplemented {
        operation,
        output: std::marker::PhantomData,
    }
}

impl<T> std::future::Future for NotImplemented<T> {
    type Output = Result<T, ServerError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Err(ServerError::not_implemented(self.operation)))
    }
}
