//! End to end: a generated client calls a generated server over a real
//! websocket on 127.0.0.1:0, in both directions — the server serves and the
//! client calls, then the client serves and the server calls it back.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use swaggersocket::api::{CallError, Context, ServerError, StatusCode};
use swaggersocket::{Event, Server};
use swaggersocket_tests::operations::{self, types};
use swaggersocket_tests::petstore;

/// The server side of `fixtures/operations.json`, keeping blobs in memory
/// and echoing what it received.
#[derive(Default)]
struct Store {
    blobs: Mutex<HashMap<String, Bytes>>,
}

fn item(id: i64, name: impl Into<String>) -> types::Item {
    types::Item {
        id,
        name: name.into(),
        price: None,
        status: None,
        tags: None,
        created_at: None,
    }
}

impl operations::Api for Store {
    async fn list_items(
        &self,
        ctx: Context,
        tags: Option<Vec<String>>,
        ids: Option<Vec<i64>>,
        limit: Option<i32>,
        status: Option<types::Status>,
        x_trace: Option<String>,
        filter: Option<types::Filter>,
    ) -> Result<operations::ListItemsResponse, ServerError> {
        let ids = ids.unwrap_or_default();
        let mut items: Vec<types::Item> = ids
            .iter()
            .map(|id| {
                let mut it = item(*id, format!("item {id}"));
                it.tags = tags.clone();
                it.status = status;
                it
            })
            .collect();
        if let Some(trace) = x_trace {
            items.push(item(0, format!("trace {trace}")));
        }
        if let Some(filter) = filter {
            let mut it = item(-2, filter.name.unwrap_or_default());
            it.price = filter.min_price;
            it.tags = filter
                .statuses
                .map(|s| s.iter().map(ToString::to_string).collect());
            items.push(it);
        }
        let who = ctx.metadata()["name"]
            .as_str()
            .unwrap_or("nobody")
            .to_owned();
        items.push(item(-1, format!("for {who}")));
        let total = items.len() as i64;
        if let Some(limit) = limit {
            items.truncate(limit as usize);
        }
        Ok(operations::ListItemsResponse::Ok {
            body: items,
            x_total: total,
        })
    }

    async fn create_item(
        &self,
        _ctx: Context,
        body: operations::CreateItemBody,
    ) -> Result<operations::CreateItemResponse, ServerError> {
        let (new, how) = match body {
            operations::CreateItemBody::Json(new) => (new, "json"),
            operations::CreateItemBody::Form(new) => (new, "form"),
        };
        if new.name.is_empty() {
            return Ok(operations::CreateItemResponse::UnprocessableEntity(
                types::Problem {
                    title: "name must not be empty".into(),
                    status: Some(422),
                    detail: None,
                },
            ));
        }
        let mut created = item(7, format!("{} via {how}", new.name));
        created.price = new.price;
        created.status = new.status;
        Ok(operations::CreateItemResponse::Created {
            body: created,
            location: Some("/items/7".into()),
        })
    }

    async fn get_item(
        &self,
        _ctx: Context,
        item_id: i64,
        verbose: Option<bool>,
        x_request_id: swaggersocket::api::uuid::Uuid,
        session: Option<String>,
    ) -> Result<operations::GetItemResponse, ServerError> {
        match item_id {
            404 => Ok(operations::GetItemResponse::NotFound(types::Problem {
                title: format!("no item {item_id}"),
                status: Some(404),
                detail: Some(x_request_id.to_string()),
            })),
            409 => Ok(operations::GetItemResponse::ClientError {
                status: StatusCode::CONFLICT,
                body: types::Problem {
                    title: "conflict".into(),
                    status: None,
                    detail: None,
                },
            }),
            503 => Ok(operations::GetItemResponse::Default {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: "try later".into(),
            }),
            500 => Err(ServerError::internal("boom")),
            _ => Ok(operations::GetItemResponse::Ok(item(
                item_id,
                format!("verbose={verbose:?} session={session:?} request={x_request_id}"),
            ))),
        }
    }

    async fn delete_item(
        &self,
        _ctx: Context,
        item_id: i64,
    ) -> Result<operations::DeleteItemResponse, ServerError> {
        Ok(if item_id == 1 {
            operations::DeleteItemResponse::NoContent
        } else {
            operations::DeleteItemResponse::NotFound(types::Problem {
                title: "gone".into(),
                status: None,
                detail: None,
            })
        })
    }

    async fn tag_item(
        &self,
        _ctx: Context,
        item_id: i64,
        tag: String,
    ) -> Result<operations::TagItemResponse, ServerError> {
        let mut it = item(item_id, "tagged");
        it.tags = Some(vec![tag]);
        Ok(operations::TagItemResponse::Ok(it))
    }

    async fn my_items(&self, _ctx: Context) -> Result<operations::MyItemsResponse, ServerError> {
        Ok(operations::MyItemsResponse::Ok(vec![item(1, "mine")]))
    }

    async fn put_blob(
        &self,
        _ctx: Context,
        name: String,
        body: Bytes,
    ) -> Result<operations::PutBlobResponse, ServerError> {
        self.blobs.lock().unwrap().insert(name, body);
        Ok(operations::PutBlobResponse::NoContent)
    }

    async fn get_blob(
        &self,
        _ctx: Context,
        name: String,
    ) -> Result<operations::GetBlobResponse, ServerError> {
        Ok(match self.blobs.lock().unwrap().get(&name) {
            Some(blob) => operations::GetBlobResponse::Ok(blob.clone()),
            None => operations::GetBlobResponse::NotFound,
        })
    }

    async fn add_note(
        &self,
        _ctx: Context,
        body: Option<String>,
    ) -> Result<operations::AddNoteResponse, ServerError> {
        Ok(operations::AddNoteResponse::Ok(
            body.unwrap_or_else(|| "(no note)".into()).to_uppercase(),
        ))
    }

    async fn describe_shape(
        &self,
        _ctx: Context,
        body: types::Shape,
    ) -> Result<operations::DescribeShapeResponse, ServerError> {
        Ok(operations::DescribeShapeResponse::Ok(match body {
            types::Shape::Circle(c) => {
                operations::DescribeShapeOkBody::Text(format!("circle of radius {}", c.radius))
            }
            rect @ types::Shape::Rect(_) => operations::DescribeShapeOkBody::Json(rect),
        }))
    }
    // `not_implemented_yet` keeps its default body: 501.
}

/// Exercises every operation of `operations.json` through `client`.
async fn exercise(client: &operations::ApiClient, who: &str) {
    // Query (exploded array, joined array, scalar, enum) and header parameters.
    let listed = client
        .list_items()
        .tags(vec!["a b".into(), "c&d".into()])
        .ids(vec![3, 4])
        .status(types::Status::Sold)
        .x_trace("t-1".into())
        .await
        .unwrap();
    let operations::ListItemsResponse::Ok { body, x_total } = listed;
    assert_eq!(x_total, 4);
    assert_eq!(body.len(), 4);
    assert_eq!(body[0].id, 3);
    assert_eq!(body[1].id, 4);
    assert_eq!(
        body[0].tags.as_deref(),
        Some(&["a b".to_owned(), "c&d".to_owned()][..])
    );
    assert_eq!(body[0].status, Some(types::Status::Sold));
    assert_eq!(body[2].name, "trace t-1");
    assert_eq!(body[3].name, format!("for {who}"));
    // A deepObject query parameter.
    let operations::ListItemsResponse::Ok { body, .. } = client
        .list_items()
        .filter(types::Filter {
            min_price: Some(2.5),
            name: Some("a&b=c[d]".into()),
            statuses: Some(vec![types::Status::Sold, types::Status::Available]),
        })
        .await
        .unwrap();
    assert_eq!(body[0].id, -2);
    assert_eq!(body[0].name, "a&b=c[d]");
    assert_eq!(body[0].price, Some(2.5));
    assert_eq!(
        body[0].tags,
        Some(vec!["sold".to_owned(), "available".to_owned()])
    );
    // Optional arguments left out, one set.
    let operations::ListItemsResponse::Ok { body, x_total } =
        client.list_items().limit(0).send().await.unwrap();
    assert_eq!((body.len(), x_total), (0, 1));

    // Path, query, header and cookie parameters; several statuses.
    let id = swaggersocket::api::uuid::Uuid::from_u128(0x1234);
    let got = client
        .get_item(42, id)
        .verbose(true)
        .session("s;1 x".into())
        .await
        .unwrap();
    assert_eq!(
        got,
        operations::GetItemResponse::Ok(item(
            42,
            format!("verbose=Some(true) session=Some(\"s;1 x\") request={id}")
        ))
    );
    // A typed error response.
    match client.get_item(404, id).await.unwrap() {
        operations::GetItemResponse::NotFound(problem) => {
            assert_eq!(problem.title, "no item 404");
            assert_eq!(problem.detail, Some(id.to_string()));
        }
        other => panic!("{other:?}"),
    }
    // A status range and `default`, carrying their status.
    let conflict = client.get_item(409, id).await.unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    match conflict {
        operations::GetItemResponse::ClientError { status, body } => {
            assert_eq!(status, StatusCode::CONFLICT);
            assert_eq!(body.title, "conflict");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client.get_item(503, id).await.unwrap(),
        operations::GetItemResponse::Default {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: "try later".into()
        }
    );
    // A server error becomes the `default` response (text/plain here).
    match client.get_item(500, id).await.unwrap() {
        operations::GetItemResponse::Default { status, body } => {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body, "boom");
        }
        other => panic!("{other:?}"),
    }

    assert_eq!(
        client.delete_item(1).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    // Two path parameters; a literal segment wins over a template.
    let operations::TagItemResponse::Ok(tagged) = client.tag_item(9, "x/y z".into()).await.unwrap();
    assert_eq!(
        (tagged.id, tagged.tags),
        (9, Some(vec!["x/y z".to_owned()]))
    );
    assert_eq!(
        client.my_items().await.unwrap(),
        operations::MyItemsResponse::Ok(vec![item(1, "mine")])
    );
    assert_eq!(
        client.delete_item(1).await.unwrap(),
        operations::DeleteItemResponse::NoContent
    );
    assert!(matches!(
        client.delete_item(2).await.unwrap(),
        operations::DeleteItemResponse::NotFound(_)
    ));

    // JSON and form bodies of one operation, and a `+json` error body.
    let new = types::NewItem {
        name: "lamp".into(),
        price: Some(9.5),
        status: Some(types::Status::Available),
    };
    for (body, how) in [
        (operations::CreateItemBody::Json(new.clone()), "json"),
        (operations::CreateItemBody::Form(new.clone()), "form"),
    ] {
        match client.create_item(body).await.unwrap() {
            operations::CreateItemResponse::Created { body, location } => {
                assert_eq!(body.name, format!("lamp via {how}"));
                assert_eq!(body.price, Some(9.5));
                assert_eq!(body.status, Some(types::Status::Available));
                assert_eq!(location.as_deref(), Some("/items/7"));
            }
            other => panic!("{other:?}"),
        }
    }
    let empty = types::NewItem {
        name: String::new(),
        price: None,
        status: None,
    };
    match client
        .create_item(operations::CreateItemBody::Json(empty))
        .await
        .unwrap()
    {
        operations::CreateItemResponse::UnprocessableEntity(problem) => {
            assert_eq!(problem.status, Some(422));
        }
        other => panic!("{other:?}"),
    }

    // Binary bodies, in a template with a suffix (`{name}.bin`).
    let blob = Bytes::from_static(&[0, 159, 146, 150, 255]);
    assert_eq!(
        client.put_blob("b 1".into(), blob.clone()).await.unwrap(),
        operations::PutBlobResponse::NoContent
    );
    assert_eq!(
        client.get_blob("b 1".into()).await.unwrap(),
        operations::GetBlobResponse::Ok(blob)
    );
    assert_eq!(
        client.get_blob("nope".into()).await.unwrap(),
        operations::GetBlobResponse::NotFound
    );

    // Text bodies, optional body left out.
    assert_eq!(
        client.add_note().body("hello".into()).await.unwrap(),
        operations::AddNoteResponse::Ok("HELLO".into())
    );
    assert_eq!(
        client.add_note().await.unwrap(),
        operations::AddNoteResponse::Ok("(NO NOTE)".into())
    );

    // A discriminated union in a `+json` body; a response with two media types.
    let circle = types::Shape::Circle(types::Circle {
        shape_type: "Circle".into(),
        radius: 2.0,
    });
    assert_eq!(
        client.describe_shape(circle).await.unwrap(),
        operations::DescribeShapeResponse::Ok(operations::DescribeShapeOkBody::Text(
            "circle of radius 2".into()
        ))
    );
    let rect = types::Shape::Rect(types::Rect {
        shape_type: "Rect".into(),
        width: 1.0,
        height: 3.0,
    });
    assert_eq!(
        client.describe_shape(rect.clone()).await.unwrap(),
        operations::DescribeShapeResponse::Ok(operations::DescribeShapeOkBody::Json(rect))
    );

    // An operation the server does not implement: 501, undocumented here.
    match client.not_implemented_yet().await {
        Err(CallError::Undocumented { status, body, .. }) => {
            assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
            assert!(String::from_utf8_lossy(&body).contains("notImplementedYet"));
        }
        other => panic!("{other:?}"),
    }
}

async fn next_connection(events: &mut swaggersocket::Events<Event>) -> swaggersocket::Connection {
    loop {
        match events.recv().await {
            Some(Event::Received(connection)) => return connection,
            Some(_) => continue,
            None => panic!("the server stopped"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_calls_server() {
    let server = Server::builder()
        .serve(operations::ApiService::new(Store::default()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let client = swaggersocket::Client::builder(url)
        .metadata(serde_json::json!({ "name": "alice" }))
        .connect()
        .await
        .unwrap();
    let api = operations::ApiClient::new(client.connection());
    exercise(&api, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_calls_client() {
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let mut events = server.events();
    let url = format!("ws://{}/", server.local_addr());
    let _client = swaggersocket::Client::builder(url)
        .metadata(serde_json::json!({ "name": "device-7" }))
        .serve(operations::ApiService::new(Store::default()))
        .connect()
        .await
        .unwrap();
    let connection = next_connection(&mut events).await;
    assert_eq!(connection.metadata()["name"], "device-7");
    // The device's API sees the metadata of its own handshake.
    exercise(&operations::ApiClient::new(connection), "device-7").await;
}

/// Petstore on both ends at once: each side serves the API and calls the
/// other's over one socket.
#[derive(Default)]
struct Pets {
    name: &'static str,
}

impl petstore::Api for Pets {
    async fn show_pet_by_id(
        &self,
        ctx: Context,
        pet_id: String,
    ) -> Result<petstore::ShowPetByIdResponse, ServerError> {
        let conn = ctx
            .connection()
            .map(|c| c.id().to_string())
            .unwrap_or_default();
        Ok(petstore::ShowPetByIdResponse::Ok(petstore::types::Pet {
            id: pet_id.parse().unwrap_or(0),
            name: self.name.to_owned(),
            tag: Some(conn),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_serve_and_call_on_one_socket() {
    let server = Server::builder()
        .serve(petstore::ApiService::new(Pets { name: "cloud" }))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let client = swaggersocket::Client::builder(format!("ws://{}/", server.local_addr()))
        .serve(petstore::ApiService::new(Pets { name: "device" }))
        .connect()
        .await
        .unwrap();
    let at_server = next_connection(&mut events).await;

    let from_client = petstore::ApiClient::from(client.connection());
    let from_server = petstore::ApiClient::new(at_server.clone());
    let (a, b) = tokio::join!(
        from_client.show_pet_by_id("1".into()),
        from_server.show_pet_by_id("2".into())
    );
    let petstore::ShowPetByIdResponse::Ok(a) = a.unwrap() else {
        panic!()
    };
    let petstore::ShowPetByIdResponse::Ok(b) = b.unwrap() else {
        panic!()
    };
    assert_eq!((a.id, a.name.as_str()), (1, "cloud"));
    assert_eq!((b.id, b.name.as_str()), (2, "device"));
    // The server-side context names the connection the request came on.
    assert_eq!(a.tag.as_deref(), Some(at_server.id().as_str()));
    // Unimplemented operations answer 501 in text: the documented `default`
    // is JSON, so the client reports an undocumented response.
    match from_server.list_pets().limit(3).await {
        Err(CallError::Undocumented { status, body, .. }) => {
            assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
            assert!(String::from_utf8_lossy(&body).contains("listPets"));
        }
        other => panic!("{other:?}"),
    }
}

/// The adapter called directly, without a connection (as in a unit test):
/// routing, 404, 405 and 400 answers that name the bad parameter.
#[tokio::test]
async fn adapter_rejects_malformed_requests() {
    let service = operations::ApiService::new(Store::default());
    let call = |method: &str, uri: &str, body: &'static str, content_type: Option<&str>| {
        let mut request = http::Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let request = request.body(Bytes::from_static(body.as_bytes())).unwrap();
        let service = service.clone();
        async move {
            let response = service.handle(request).await;
            let text = String::from_utf8_lossy(response.body().as_full().expect("a whole body"))
                .into_owned();
            (response.status().as_u16(), text)
        }
    };
    let id = "00000000-0000-0000-0000-000000001234";
    let with_id = |uri: &str| {
        http::Request::builder()
            .uri(uri)
            .header("x-request-id", id)
            .body(Bytes::new())
            .unwrap()
    };

    let (status, text) = call("GET", "/nowhere", "", None).await;
    assert_eq!(status, 404, "{text}");
    let (status, text) = call("PATCH", "/items", "", None).await;
    assert_eq!(status, 405, "{text}");
    assert!(text.contains("GET, POST"), "{text}");
    // `/items/mine` only has GET: DELETE falls through to `/items/{itemId}`.
    let (status, text) = call("DELETE", "/items/mine", "", None).await;
    assert_eq!(status, 400);
    assert!(text.contains("path parameter `itemId`"), "{text}");
    let (status, text) = call("GET", "/items/abc", "", None).await;
    assert_eq!(status, 400);
    assert!(text.contains("path parameter `itemId`"), "{text}");
    let (status, text) = call("GET", "/items?limit=many", "", None).await;
    assert_eq!(status, 400);
    assert!(text.contains("query parameter `limit`"), "{text}");
    let (status, text) = call("GET", "/items?status=lost", "", None).await;
    assert_eq!(status, 400);
    assert!(text.contains("`status`"), "{text}");
    let (status, text) = call("GET", "/items/1", "", None).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("missing required header `X-Request-Id`"),
        "{text}"
    );
    let response = service.handle(with_id("/items/1?verbose=maybe")).await;
    assert_eq!(response.status(), 400);
    let response = service.handle(with_id("/items/1?verbose=false")).await;
    assert_eq!(response.status(), 200);
    let (status, text) = call("POST", "/items", r#"{"name": 5}"#, Some("application/json")).await;
    assert_eq!(status, 400);
    assert!(text.contains("`name`"), "{text}");
    let (status, text) = call("POST", "/items", "", None).await;
    assert_eq!(status, 400);
    assert!(text.contains("missing required request body"), "{text}");
    let (status, text) = call("POST", "/items", "<x/>", Some("application/xml")).await;
    assert_eq!(status, 415, "{text}");
    let (status, text) = call(
        "POST",
        "/shapes",
        r#"{"shapeType": "Hexagon"}"#,
        Some("application/merge-patch+json"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("Hexagon"), "{text}");
    let (status, text) = call(
        "POST",
        "/items",
        "name=x&price=1.5",
        Some("application/x-www-form-urlencoded"),
    )
    .await;
    assert_eq!(status, 201, "{text}");
}

/// Who the server's authentication hook accepted the client as.
#[derive(Debug)]
struct Tenant(String);

/// Names the authenticated tenant in every pet it shows.
struct TenantPets;

impl petstore::Api for TenantPets {
    async fn show_pet_by_id(
        &self,
        ctx: Context,
        pet_id: String,
    ) -> Result<petstore::ShowPetByIdResponse, ServerError> {
        let Some(Tenant(tenant)) = ctx.identity::<Tenant>() else {
            return Err(ServerError::new(StatusCode::FORBIDDEN, "no tenant"));
        };
        Ok(petstore::ShowPetByIdResponse::Ok(petstore::types::Pet {
            id: pet_id.parse().unwrap_or(0),
            name: "rex".to_owned(),
            tag: Some(tenant.clone()),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_handler_reads_the_authenticated_identity_from_its_context() {
    let server = Server::builder()
        .authenticate(|req| async move {
            match req.bearer_token() {
                Some(token) => Ok(Tenant(format!("tenant of {token}"))),
                None => Err(swaggersocket::Reject::unauthorized("token required")),
            }
        })
        .serve(petstore::ApiService::new(TenantPets))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = swaggersocket::Client::builder(format!("ws://{}/", server.local_addr()))
        .bearer_token("acme")
        .connect()
        .await
        .unwrap();
    let pets = petstore::ApiClient::from(client.connection());
    let petstore::ShowPetByIdResponse::Ok(pet) = pets.show_pet_by_id("7".into()).await.unwrap()
    else {
        panic!("expected 200")
    };
    assert_eq!(pet.tag.as_deref(), Some("tenant of acme"));
}
