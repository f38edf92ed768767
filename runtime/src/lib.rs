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
//!
//! # The crate at a glance
//!
//! | you want to | use |
//! |---|---|
//! | accept devices | [`Server::builder`] → [`ServerBuilder::bind`], or [`ServerBuilder::serve_with_incoming`], or [`Server::upgrade_service`] inside an axum app (feature `axum`) |
//! | dial a server, reconnecting with backoff | [`Client::builder`] → [`ClientBuilder::connect`] |
//! | call the peer | [`Connection::call`] (an `http::Request<Bytes>` in, a `Response<Body>` out) |
//! | answer the peer's calls | `serve(service)` on either builder or on a [`Connection`]: any tower service ([`IntoHandler`]) |
//! | stream a body either way | [`Body`], [`BodySender`], [`TypedStream`] |
//! | watch connections come and go | [`Server::events`] / [`Client::events`] ([`Event`], [`ClientEvent`]) |
//! | tune timeouts, limits, heartbeat | [`Config`], [`WireLimits`] |
//! | check who connects | [`ServerBuilder::authenticate`] ([`UpgradeRequest`], [`Reject`]) and [`ServerBuilder::authenticate_metadata`] ([`MetadataRequest`]) |
//! | know what failed | [`Error`], [`ErrorKind`] |
//! | typed code from an OpenAPI document | the `openapi_socket!` macro (feature `macros`), the `swaggersocket-gen` CLI or the `swaggersocket-codegen` build-script builder: a module with an `Api` trait to implement, an `ApiService` that serves it ([`api::ApiService`]) and an `ApiClient` that calls it; the generated code stands on [`api`] (reached through [`codegen`]) |
//! | answer bad requests to a generated API your way | [`rejection::Rejection`], [`api::ApiService::with_rejection_handler`] |
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `macros` | yes | the `openapi_socket!` macro (and `codegen`) |
//! | `codegen` | yes (with `macros`) | [`api`], [`codegen`] and [`rejection`]: what generated code builds on |
//! | `tls` | yes | `wss://` on both sides with rustls ([`tls`]) |
//! | `axum` | no | [`Server::upgrade_service`] and [`HttpService`]: mount in an axum app, serve an axum `Router` over the socket |

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "internals")]
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
#[cfg(feature = "codegen")]
mod fields;
mod handler;
mod handshake;
#[cfg(feature = "axum")]
mod http_service;
mod log_safe;
#[cfg(feature = "codegen")]
mod param;
mod peer_io;
mod resume;
mod server;
mod stats;
#[cfg(feature = "tls")]
pub mod tls;
mod typed_stream;
#[cfg(feature = "axum")]
mod upgrade;
// The codec: crate-private. The `internals` feature (for this crate's own
// tests and the fuzz targets, never for users) opens it, outside semver.
#[cfg(not(feature = "internals"))]
#[allow(dead_code, unreachable_pub)]
mod wire;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod wire;

#[cfg(feature = "codegen")]
#[cfg_attr(docsrs, doc(cfg(feature = "codegen")))]
pub mod api;
#[cfg(feature = "codegen")]
#[cfg_attr(docsrs, doc(cfg(feature = "codegen")))]
pub mod codegen;
#[cfg(feature = "codegen")]
#[cfg_attr(docsrs, doc(cfg(feature = "codegen")))]
pub mod rejection;

pub use auth::{MetadataRequest, Reject, UpgradeRequest};
pub use body::{Body, BodySender, BodyStream};
pub use client::{Backoff, Client, ClientBuilder};
pub use config::{Config, HeartbeatHook};
pub use connection::{Connection, ConnectionId};
pub use error::{BoxError, Error, ErrorKind};
pub use event::{ClientEvent, Event, Events};
pub use handler::IntoHandler;
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
pub use wire::WireLimits;

#[cfg(feature = "macros")]
pub use swaggersocket_macros::openapi_socket;
