//! What generated code imports, in one `use`: a list of re-exports of the
//! runtime's [`api`] modules and the `macro_rules!` tables that
//! write the serde implementations of generated types (a written-out
//! `visit_map` per type, quicker to compile than `#[derive]`s).
//!
//! A generated module starts with
//! `use ::swaggersocket::codegen::{self as rt, *};`. Nothing here is needed
//! by hand-written code: the items are documented where they are defined.

pub use bytes::{self, Bytes};
pub use http::{self, Method, Request, Response};
pub use serde;
pub use serde_json;
pub use std::future::{Future, IntoFuture};
pub use std::sync::Arc;

pub use crate::api::media::{
    accept_media, body_required, client, content_type, decode_bytes, decode_form, decode_items,
    decode_json, decode_text, expect_media, has_body, json, media_accepts, media_matches,
    request_body, response_body, stream_from_bytes, undocumented, unsupported_media, with_tag,
    DecodeError,
};
pub use crate::api::message::{
    collect_body, reply, reply_with, response_header, response_header_required, send,
    send_streaming, status, RequestBuilder, ResponseBuilder,
};
pub use crate::api::multipart::{
    decode_fields, decode_multipart, MultipartBody, MultipartParts, MultipartWriter,
};
pub use crate::api::param::{
    cookie_one, header_list, header_one, path_param, path_param_list, path_param_split, require,
    Query,
};
pub use crate::api::route::{not_found, route, Routed, Router};
pub use crate::api::{
    self, answer_later, not_implemented, ApiService, BoxFuture, CallError, Context, Dispatch,
    FromResponse, IntoResponse, ServerError, StatusCode, StreamFormat, TypedStream,
};
pub use crate::body::{Body, BodyStream};
pub use crate::rejection::{ParamLocation, Rejection};
pub use crate::Connection;

pub use crate::fields::{
    keep, missing_field, object_de, object_ser, required, skip, slot, tagged, text, unknown_field,
    Key,
};
pub use crate::{
    __int_enum as int_enum, __object as object, __request as request, __str_enum as str_enum,
};

/// `Debug` (without the fields) and `IntoFuture` (through `send`) for a
/// generated request builder: `request!(Builder => Response)`.
#[macro_export]
#[doc(hidden)]
macro_rules! __request {
    ($builder:ident => $response:ty) => {
        impl<'a> ::core::fmt::Debug for $builder<'a> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!($builder))
                    .finish_non_exhaustive()
            }
        }
        impl<'a> ::core::future::IntoFuture for $builder<'a> {
            type Output = ::core::result::Result<$response, $crate::api::CallError>;
            type IntoFuture = $crate::api::BoxFuture<'a, Self::Output>;
            fn into_future(self) -> Self::IntoFuture {
                ::std::boxed::Box::pin(self.send())
            }
        }
    };
}
