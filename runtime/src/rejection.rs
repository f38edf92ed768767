//! Why a generated [`ApiService`](crate::api::ApiService) refused a request
//! before it reached the implementation: a parameter or body that does not
//! match the document, or a path or method that no operation serves.
//!
//! Each [`Rejection`] answers a plain-text response by default
//! ([`Rejection::into_response`]); an
//! [`ApiService::with_rejection_handler`](crate::api::ApiService::with_rejection_handler)
//! answers them as it likes instead (`application/problem+json`, say), with
//! the typed fields at hand.

use crate::body::Body;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Response, StatusCode};
use std::fmt;

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParamLocation {
    /// A segment of the path (`/pets/{petId}`).
    Path,
    /// A query parameter (`?limit=10`).
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
    /// The whole query string (OpenAPI 3.2 `in: querystring`).
    QueryString,
}

impl ParamLocation {
    /// The OpenAPI name of the location (`path`, `query`, `header`,
    /// `cookie`, `querystring`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
            ParamLocation::Header => "header",
            ParamLocation::Cookie => "cookie",
            ParamLocation::QueryString => "querystring",
        }
    }

    /// How messages name a parameter of this location.
    fn noun(self) -> &'static str {
        match self {
            ParamLocation::Path => "path parameter",
            ParamLocation::Query => "query parameter",
            ParamLocation::Header => "header",
            ParamLocation::Cookie => "cookie",
            ParamLocation::QueryString => "query string",
        }
    }
}

impl fmt::Display for ParamLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request a generated server refused before calling the implementation.
///
/// Its [`Display`](fmt::Display) is the text of the default answer; the
/// fields say what and where for an answer of your own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// A required parameter is absent (400).
    MissingParameter {
        /// The parameter's name as the document spells it.
        name: String,
        /// Where it should have been.
        location: ParamLocation,
    },
    /// A parameter does not decode as its type (400).
    InvalidParameter {
        /// The parameter's name as the document spells it.
        name: String,
        /// Where it was.
        location: ParamLocation,
        /// Why it does not decode.
        message: String,
    },
    /// The operation requires a body and the request has none (400).
    MissingBody,
    /// The body does not decode as the operation's body type (400).
    InvalidBody {
        /// The path to the value that did not match (`items[0].name`), when
        /// the body is JSON and the failure is inside it; `None` at the top.
        path: Option<String>,
        /// Why it does not decode.
        message: String,
    },
    /// The body's media type is not one the operation accepts (415).
    UnsupportedMediaType {
        /// The request's `Content-Type` (without parameters).
        content_type: String,
    },
    /// No operation matches the path (404).
    NotFound {
        /// The request's path.
        path: String,
    },
    /// An operation matches the path but not the method (405).
    MethodNotAllowed {
        /// The methods the path allows, comma-separated (the `Allow` header).
        allowed: String,
    },
}

impl Rejection {
    /// The status of the default answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::MissingParameter { .. }
            | Rejection::InvalidParameter { .. }
            | Rejection::MissingBody
            | Rejection::InvalidBody { .. } => StatusCode::BAD_REQUEST,
            Rejection::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::NotFound { .. } => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The default answer: [`status`](Rejection::status), the
    /// [`Display`](fmt::Display) text as `text/plain`, and an `Allow` header
    /// for a 405.
    pub fn into_response(self) -> Response<Body> {
        let mut response = text_response(self.status(), self.to_string());
        if let Rejection::MethodNotAllowed { allowed } = &self {
            if let Ok(value) = HeaderValue::from_str(allowed) {
                response.headers_mut().insert(ALLOW, value);
            }
        }
        response
    }

    pub(crate) fn invalid(name: &str, location: ParamLocation, message: impl fmt::Display) -> Self {
        Rejection::InvalidParameter {
            name: name.to_owned(),
            location,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MissingParameter { name, location } => {
                write!(f, "missing required {} `{name}`", location.noun())
            }
            Rejection::InvalidParameter {
                location: ParamLocation::QueryString,
                message,
                ..
            } => write!(f, "invalid query string: {message}"),
            Rejection::InvalidParameter {
                name,
                location,
                message,
            } => write!(f, "invalid {} `{name}`: {message}", location.noun()),
            Rejection::MissingBody => f.write_str("missing required request body"),
            Rejection::InvalidBody { message, .. } => f.write_str(message),
            Rejection::UnsupportedMediaType { content_type } => {
                write!(f, "unsupported media type `{content_type}`")
            }
            Rejection::NotFound { path } => write!(f, "no operation matches path `{path}`"),
            Rejection::MethodNotAllowed { allowed } => {
                write!(f, "method not allowed; allowed: {allowed}")
            }
        }
    }
}

impl std::error::Error for Rejection {}

impl crate::api::IntoResponse for Rejection {
    fn into_response(self) -> Response<Body> {
        Rejection::into_response(self)
    }
}

/// A `text/plain; charset=utf-8` response.
pub(crate) fn text_response(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
