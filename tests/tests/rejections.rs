//! Typed rejections and streamed responses as ordinary bodies: a custom
//! rejection handler answers `application/problem+json` for a bad parameter
//! and a bad body, and a streamed response survives a tower middleware that
//! rebuilds every response from its parts.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use std::sync::Arc;
use std::time::Duration;
use swaggersocket::api::{Context, ServerError};
use swaggersocket::rejection::{ParamLocation, Rejection};
use swaggersocket::{Body, Client, Server, TypedStream};
use swaggersocket_tests::{petstore, streaming};
use tokio::sync::Notify;

struct Pets;

impl petstore::Api for Pets {
    async fn list_pets(
        &self,
        _ctx: Context,
        _limit: Option<i32>,
    ) -> Result<petstore::ListPetsResponse, ServerError> {
        Ok(petstore::ListPetsResponse::Ok {
            body: Vec::new(),
            x_next: None,
        })
    }
}

/// RFC 9457 problem details, with the rejection's typed fields.
fn problem(rejection: Rejection) -> Response<Body> {
    let mut problem = serde_json::json!({
        "type": "about:blank",
        "status": rejection.status().as_u16(),
        "title": rejection.status().canonical_reason(),
        "detail": rejection.to_string(),
    });
    match &rejection {
        Rejection::InvalidParameter { name, location, .. }
        | Rejection::MissingParameter { name, location } => {
            problem["parameter"] = name.as_str().into();
            problem["in"] = location.as_str().into();
        }
        Rejection::InvalidBody { path, .. } => {
            problem["pointer"] = path.clone().into();
        }
        _ => {}
    }
    Response::builder()
        .status(rejection.status())
        .header("content-type", "application/problem+json")
        .body(Body::from(problem.to_string()))
        .unwrap()
}

fn json(response: &Response<Bytes>) -> serde_json::Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test]
async fn a_rejection_handler_answers_problem_json() {
    let service = petstore::ApiService::new(Pets).with_rejection_handler(problem);
    let server = Server::builder()
        .serve(service)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(format!("ws://{}/", server.local_addr()))
        .connect()
        .await
        .unwrap();
    let connection = client.connection();

    // A query parameter that is not an integer.
    let bad_param = Request::get("/pets?limit=many").body(Bytes::new()).unwrap();
    let response = connection.call(bad_param).await.unwrap();
    assert_eq!(response.status(), 400);
    let body = json(&response);
    assert_eq!(body["status"], 400);
    assert_eq!(body["parameter"], "limit");
    assert_eq!(body["in"], "query");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("invalid query parameter `limit`"),
        "{body}"
    );

    // A body whose `name` is a number: the JSON path names it.
    let bad_body = Request::post("/pets")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"id": 1, "name": 5}"#))
        .unwrap();
    let response = connection.call(bad_body).await.unwrap();
    assert_eq!(response.status(), 400);
    let body = json(&response);
    assert_eq!(body["pointer"], "name");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("invalid JSON body at `name`"),
        "{body}"
    );

    // A media type the operation does not take: 415, through the handler.
    let bad_media = Request::post("/pets")
        .header("content-type", "text/plain")
        .body(Bytes::from_static(b"Rex"))
        .unwrap();
    let response = connection.call(bad_media).await.unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(json(&response)["status"], 415);

    // A valid request reaches the implementation, untouched by the handler.
    let fine = Request::get("/pets?limit=3").body(Bytes::new()).unwrap();
    let response = connection.call(fine).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "[]");
}

#[tokio::test]
async fn rejections_are_typed_and_answer_their_defaults() {
    let service = streaming::ApiService::new(Gated::default());
    // No handler: the default plain-text answer, its text the rejection's.
    let missing = Request::get("/events").body(Bytes::new()).unwrap();
    let response = service.handle(missing).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.body().as_full().unwrap(),
        "missing required query parameter `count`"
    );
    let not_found = Request::get("/nowhere").body(Bytes::new()).unwrap();
    assert_eq!(service.handle(not_found).await.status(), 404);

    // With a handler, it sees the typed rejection.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let service = service.with_rejection_handler(move |rejection| {
        record.lock().unwrap().push(rejection.clone());
        rejection.into_response()
    });
    let missing = Request::get("/events").body(Bytes::new()).unwrap();
    service.handle(missing).await;
    let wrong_method = Request::delete("/events").body(Bytes::new()).unwrap();
    let response = service.handle(wrong_method).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Rejection::MissingParameter {
                name: "count".to_owned(),
                location: ParamLocation::Query,
            },
            Rejection::MethodNotAllowed {
                allowed: "GET".to_owned(),
            },
        ]
    );
}

/// Streams events; the second waits for the client to have the first.
#[derive(Default)]
struct Gated {
    gate: Arc<Notify>,
}

impl streaming::Api for Gated {
    async fn watch_events(
        &self,
        _ctx: Context,
        count: i32,
    ) -> Result<streaming::WatchEventsResponse, ServerError> {
        let gate = self.gate.clone();
        let events = futures_util::stream::unfold(0i64, move |id| {
            let gate = gate.clone();
            async move {
                if id >= i64::from(count) {
                    return None;
                }
                if id == 1 {
                    gate.notified().await;
                }
                let event = streaming::types::Event {
                    id,
                    message: format!("event {id}"),
                };
                Some((event, id + 1))
            }
        });
        Ok(streaming::WatchEventsResponse::Ok {
            body: TypedStream::new(events),
            x_stream_id: Some("gated".to_owned()),
        })
    }
}

#[tokio::test]
async fn a_stream_survives_a_middleware_that_rebuilds_responses() {
    let gated = Gated::default();
    let gate = gated.gate.clone();
    // Takes every response apart and builds a new one: no extension of the
    // original survives, only status, headers and body.
    let rebuild = tower::ServiceBuilder::new()
        .map_response(|response: Response<Body>| {
            let (parts, body) = response.into_parts();
            let mut rebuilt = Response::new(body);
            *rebuilt.status_mut() = parts.status;
            *rebuilt.headers_mut() = parts.headers;
            rebuilt
                .headers_mut()
                .insert("x-rebuilt", http::HeaderValue::from_static("yes"));
            rebuilt
        })
        .service(streaming::ApiService::new(gated));
    let server = Server::builder()
        .serve(rebuild)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(format!("ws://{}/", server.local_addr()))
        .connect()
        .await
        .unwrap();

    // The head arrives, marked by the middleware, with a streamed body.
    let request = Request::get("/events?count=1").body(Bytes::new()).unwrap();
    let response = client.connection().call_streaming(request).await.unwrap();
    assert_eq!(response.headers()["x-rebuilt"], "yes");
    assert_eq!(response.headers()["x-stream-id"], "gated");
    assert!(response.body().is_streamed());
    drop(response);

    // The typed client gets the first event while the server still holds
    // back the second: the body is streamed, not collected.
    let api = streaming::ApiClient::new(client.connection());
    let streaming::WatchEventsResponse::Ok {
        mut body,
        x_stream_id,
    } = api.watch_events(3).await.unwrap()
    else {
        panic!("not Ok")
    };
    assert_eq!(x_stream_id.as_deref(), Some("gated"));
    let first = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("the first event did not arrive before the rest was produced")
        .unwrap()
        .unwrap();
    assert_eq!(first.id, 0);
    gate.notify_one();
    let rest: Vec<i64> = tokio::time::timeout(Duration::from_secs(10), body.collect::<Vec<_>>())
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.unwrap().id)
        .collect();
    assert_eq!(rest, [1, 2]);
}
