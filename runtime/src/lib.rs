//! REST over websocket: the swaggersocket runtime.
//!
//! A [`Server`] accepts websocket clients, a [`Client`] dials one; after a
//! three-message handshake (metadata in, connection id out) each side holds a
//! [`Connection`]. Either side can [`call`](Connection::call) the other with an
//! `http::Request<Bytes>` and [`serve`](Connection::serve) the other's calls
//! with any `tower::Service`, many calls in flight at once in both
//! directions. The wire format is that of the Go implementation
//! (go-openapi/swaggersocket): each websocket message carries one HTTP/1.1
//! message, matched to its answer by `X-Correlation-Id`.
//!
//! ```no_run
//! use bytes::Bytes;
//! use swaggersocket::{service_fn, Client, Server};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder()
//!     .serve(service_fn(|req: http::Request<Bytes>| async move {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(req.into_body()))
//!     }))
//!     .bind("127.0.0.1:0")
//!     .await?;
//!
//! let client = Client::builder(format!("ws://{}/", server.local_addr()))
//!     .metadata(serde_json::json!({ "device": "sensor-7" }))
//!     .connect()
//!     .await?;
//! let response = client
//!     .connection()
//!     .call(http::Request::post("/echo").body(Bytes::from("hi"))?)
//!     .await?;
//! assert_eq!(response.body(), "hi");
//! # Ok(()) }
//! ```

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzzing.rs"]
pub mod __fuzz;
mod auth;
mod body;
mod client;
mod config;
mod connection;
mod drain;
mod error;
mod event;
mod fields;
mod handler;
mod handshake;
#[cfg(feature = "axum")]
mod http_service;
mod log_safe;
mod multipart;
mod param;
mod peer_io;
mod resume;
mod route;
mod server;
mod stats;
#[cfg(feature = "tls")]
pub mod tls;
mod typed_stream;
#[cfg(feature = "axum")]
mod upgrade;
pub mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub mod api;

pub use auth::{MetadataRequest, Reject, UpgradeRequest};
pub use body::{Body, BodySender, BodyStream};
pub use client::{Backoff, Client, ClientBuilder};
pub use config::{Config, HeartbeatHook};
pub use connection::{Connection, ConnectionId};
pub use error::{BoxError, Error, ErrorKind};
pub use event::{ClientEvent, Event, Events};
pub use handler::Handler;
#[cfg(feature = "axum")]
pub use http_service::HttpService;
/// A DER certificate, as [`Connection::peer_certificates`] lists them.
pub use rustls_pki_types::CertificateDer;
pub use server::{Server, ServerBuilder};
pub use stats::Stats;
pub use tower::service_fn;
pub use typed_stream::{StreamFormat, TypedStream};
#[cfg(feature = "axum")]
pub use upgrade::UpgradeService;

#[cfg(feature = "macros")]
pub use swaggersocket_macros::openapi_socket;
