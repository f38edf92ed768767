//! End to end over a real websocket, one service per generation of the
//! specification: a Swagger 2.0 service (`fixtures/swagger2.yaml`: base
//! path, collection formats, form and multipart bodies with a file), an
//! OpenAPI 3.1 one (`fixtures/oas31.yaml`: type arrays, `const` tags, `$ref`
//! with siblings, tuples, base64, webhooks called back over the same
//! connection) and an OpenAPI 3.2 one (`fixtures/oas32.yaml`: `QUERY`,
//! `LINK`, item streams in both directions, `in: querystring`).
//!
//! Besides our client against our server, each service also gets requests
//! written by hand as another tool would send them, so that the wire format
//! is the specification's and not only our own two ends agreeing.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use futures_util::StreamExt;
use swaggersocket::api::{Context, File, ServerError};
use swaggersocket::{Event, Server, TypedStream};
use swaggersocket_tests::{oas31 as shapes, oas32 as telemetry, swagger2 as inventory};

async fn next_connection(events: &mut swaggersocket::Events<Event>) -> swaggersocket::Connection {
    loop {
        match events.recv().await {
            Some(Event::Received(connection)) => return connection,
            Some(_) => continue,
            None => panic!("the server stopped"),
        }
    }
}

/// A raw request through a service's router, as any HTTP tool would send it.
async fn raw(
    handle: impl std::future::Future<Output = http::Response<swaggersocket::Body>>,
) -> (u16, String) {
    let response = handle.await;
    let status = response.status().as_u16();
    let body = response.into_body().into_bytes().await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn request(
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> http::Request<Bytes> {
    let mut builder = http::Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(Bytes::copy_from_slice(body)).unwrap()
}

// ---------------------------------------------------------------- 2.0

struct Inventory;

fn item(id: i64, title: &str, tags: Option<Vec<String>>) -> inventory::types::Item {
    inventory::types::Item {
        id: Some(id),
        title: title.to_owned(),
        price: None,
        tags,
        kind: inventory::types::ItemKind::Tool,
    }
}

impl inventory::Api for Inventory {
    async fn list_items(
        &self,
        _ctx: Context,
        tags: Option<Vec<String>>,
        ids: Option<Vec<i64>>,
        words: Option<Vec<String>>,
        codes: Option<Vec<String>>,
        fields: Option<Vec<String>>,
        x_trace: Option<Vec<String>>,
        limit: Option<i32>,
    ) -> Result<inventory::ListItemsResponse, ServerError> {
        // One item per array parameter, its values as the tags.
        let ids = ids.map(|ids| ids.iter().map(i64::to_string).collect());
        let mut body: Vec<_> = [
            ("tags", tags),
            ("ids", ids),
            ("words", words),
            ("codes", codes),
            ("fields", fields),
            ("x-trace", x_trace),
        ]
        .into_iter()
        .enumerate()
        .filter_map(|(i, (name, values))| values.map(|v| item(i as i64, name, Some(v))))
        .collect();
        body.push(item(
            99,
            "limit",
            Some(vec![limit.unwrap_or(-1).to_string()]),
        ));
        let x_total = Some(body.len() as i32);
        Ok(inventory::ListItemsResponse::Ok { body, x_total })
    }

    async fn create_item(
        &self,
        _ctx: Context,
        mut body: inventory::types::Item,
    ) -> Result<inventory::CreateItemResponse, ServerError> {
        if body.title.is_empty() {
            return Ok(inventory::CreateItemResponse::BadRequest);
        }
        body.id = Some(1);
        Ok(inventory::CreateItemResponse::Created(body))
    }

    async fn get_item(
        &self,
        _ctx: Context,
        id: i64,
    ) -> Result<inventory::GetItemResponse, ServerError> {
        if id == 404 {
            return Ok(inventory::GetItemResponse::NotFound(
                inventory::types::Error {
                    message: format!("no item {id}"),
                    code: Some(404),
                },
            ));
        }
        Ok(inventory::GetItemResponse::Ok(item(id, "found", None)))
    }

    async fn delete_item(
        &self,
        _ctx: Context,
        _id: i64,
    ) -> Result<inventory::DeleteItemResponse, ServerError> {
        Ok(inventory::DeleteItemResponse::NoContent)
    }

    async fn rename_item(
        &self,
        _ctx: Context,
        id: i64,
        body: inventory::types::RenameItemBody,
    ) -> Result<inventory::RenameItemResponse, ServerError> {
        let tags = body.notify.map(|n| vec![format!("notify={n}")]);
        Ok(inventory::RenameItemResponse::Ok(item(
            id, &body.name, tags,
        )))
    }

    async fn upload_photo(
        &self,
        _ctx: Context,
        id: i64,
        body: inventory::types::UploadPhotoBody,
    ) -> Result<inventory::UploadPhotoResponse, ServerError> {
        // Everything the server received, so that the caller can check it.
        let caption = format!(
            "{}|{}|{}|{:?}",
            body.caption,
            body.photo.name.as_deref().unwrap_or("-"),
            body.photo.content_type.as_deref().unwrap_or("-"),
            &body.photo.bytes[..],
        );
        Ok(inventory::UploadPhotoResponse::Ok(
            inventory::types::Photo {
                item: id,
                caption,
                size: body.photo.bytes.len() as i64,
            },
        ))
    }

    async fn get_batch(
        &self,
        _ctx: Context,
        ids: Vec<i64>,
    ) -> Result<inventory::GetBatchResponse, ServerError> {
        let items = ids.iter().map(|id| item(*id, "batch", None)).collect();
        Ok(inventory::GetBatchResponse::Ok(
            inventory::GetBatchOkBody::Json(items),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_2_service_over_a_socket() {
    let server = Server::builder()
        .serve(inventory::ApiService::new(Inventory))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = swaggersocket::Client::builder(format!("ws://{}/", server.local_addr()))
        .connect()
        .await
        .unwrap();
    let api = inventory::ApiClient::new(client.connection());

    // Every collection format, each array with a separator-like value.
    let inventory::ListItemsResponse::Ok { body, x_total } = api
        .list_items()
        .tags(vec!["a".into(), "b c".into()])
        .ids(vec![3, 4])
        .words(vec!["x".into(), "y".into()])
        .codes(vec!["p".into(), "q".into()])
        .fields(vec!["s".into(), "t".into()])
        .x_trace(vec!["t1".into(), "t2".into()])
        .limit(5)
        .await
        .unwrap()
    else {
        panic!("not the 200")
    };
    let tags: Vec<(String, Vec<String>)> = body
        .iter()
        .map(|i| (i.title.clone(), i.tags.clone().unwrap_or_default()))
        .collect();
    let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        tags,
        vec![
            ("tags".into(), s(&["a", "b c"])),
            ("ids".into(), s(&["3", "4"])),
            ("words".into(), s(&["x", "y"])),
            ("codes".into(), s(&["p", "q"])),
            ("fields".into(), s(&["s", "t"])),
            ("x-trace".into(), s(&["t1", "t2"])),
            ("limit".into(), s(&["5"])),
        ]
    );
    assert_eq!(x_total, Some(7));

    // `in: body`, and a documented response without a schema.
    let created = api.create_item(item(0, "saw", None)).await.unwrap();
    assert_eq!(
        created,
        inventory::CreateItemResponse::Created(item(1, "saw", None))
    );
    assert_eq!(
        api.create_item(item(0, "", None)).await.unwrap(),
        inventory::CreateItemResponse::BadRequest
    );
    // A `#/responses/…` response.
    match api.get_item(404).await.unwrap() {
        inventory::GetItemResponse::NotFound(e) => assert_eq!(e.message, "no item 404"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        api.delete_item(3).await.unwrap(),
        inventory::DeleteItemResponse::NoContent
    );

    // `formData`, urlencoded.
    let renamed = api
        .rename_item(
            8,
            inventory::types::RenameItemBody {
                name: "hammer & tongs".into(),
                notify: Some(true),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        renamed,
        inventory::RenameItemResponse::Ok(item(
            8,
            "hammer & tongs",
            Some(vec!["notify=true".into()])
        ))
    );

    // `formData` with a `type: file`: multipart, the bytes intact.
    let bytes: &[u8] = &[0xff, 0xfe, 0x00, b'\r', b'\n', b'-', b'-', 0x80];
    let photo = File::new(Bytes::copy_from_slice(bytes))
        .with_name("cat \"1\".png")
        .with_content_type("image/png");
    let inventory::UploadPhotoResponse::Ok(stored) = api
        .upload_photo(
            9,
            inventory::types::UploadPhotoBody {
                caption: "a cat".into(),
                photo,
            },
        )
        .await
        .unwrap();
    assert_eq!(stored.item, 9);
    assert_eq!(stored.size, bytes.len() as i64);
    assert_eq!(
        stored.caption,
        format!("a cat|cat %221%22.png|image/png|{bytes:?}")
    );

    // A path array joined by `|` (collectionFormat: pipes).
    let inventory::GetBatchResponse::Ok(inventory::GetBatchOkBody::Json(batch)) =
        api.get_batch(vec![1, 2, 3]).await.unwrap()
    else {
        panic!("not JSON")
    };
    assert_eq!(
        batch.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3)]
    );
}

/// Requests as Swagger 2.0 describes them on the wire, written by hand.
#[tokio::test]
async fn swagger_2_wire_format() {
    let service = inventory::ApiService::new(Inventory);
    // The base path prefixes every route.
    let (status, _) = raw(service.handle(request("GET", "/items", None, b""))).await;
    assert_eq!(status, 404);
    let uri = "/api/v2/items?tags=a,b&ids=1&ids=2&words=x%20y&codes=p%7Cq&fields=s%09t&limit=2";
    let (status, body) = raw(service.handle(request("GET", uri, None, b""))).await;
    assert_eq!(status, 200, "{body}");
    let items: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tags: Vec<&serde_json::Value> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["tags"])
        .collect();
    assert_eq!(
        serde_json::Value::Array(tags.into_iter().cloned().collect()),
        serde_json::json!([
            ["a", "b"],
            ["1", "2"],
            ["x", "y"],
            ["p", "q"],
            ["s", "t"],
            ["2"]
        ])
    );
    // `x-go-name` renames the Rust field only: the wire keeps `name`.
    assert!(body.contains(r#""name":"tags""#), "{body}");

    // A multipart body as a browser writes it.
    let multipart = b"--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nhello\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.bin\"\r\nContent-Type: application/x-thing\r\n\r\n\x00\xff\x01\r\n--XyZ--\r\n";
    let (status, body) = raw(service.handle(request(
        "POST",
        "/api/v2/items/5/photo",
        Some("multipart/form-data; boundary=XyZ"),
        multipart,
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""caption":"hello|p.bin|application/x-thing|[0, 255, 1]""#),
        "{body}"
    );
    // A required part missing: 400 naming it.
    let missing =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nhello\r\n--XyZ--\r\n";
    let (status, body) = raw(service.handle(request(
        "POST",
        "/api/v2/items/5/photo",
        Some("multipart/form-data; boundary=XyZ"),
        missing,
    )))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("photo"), "{body}");

    // A urlencoded form.
    let (status, body) = raw(service.handle(request(
        "POST",
        "/api/v2/items/6/rename",
        Some("application/x-www-form-urlencoded"),
        b"name=a%20b&notify=false",
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""name":"a b""#) && body.contains("notify=false"),
        "{body}"
    );

    // A `pipes` path array.
    let (status, body) =
        raw(service.handle(request("GET", "/api/v2/batches/4%7C5", None, b""))).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""id":4"#) && body.contains(r#""id":5"#),
        "{body}"
    );
}

// ---------------------------------------------------------------- 3.1

struct ShapeStore;

fn circle(radius: f64) -> shapes::types::Shape {
    shapes::types::Shape::Circle(shapes::types::Circle {
        kind: shapes::types::CircleKind::Circle,
        radius,
        center: Some((1.5, -2.0)),
        note: None,
    })
}

impl shapes::Api for ShapeStore {
    async fn list_shapes(
        &self,
        _ctx: Context,
        min_area: Option<f64>,
    ) -> Result<shapes::ListShapesResponse, ServerError> {
        let square = shapes::types::Shape::Square(shapes::types::Square {
            kind: shapes::types::SquareKind::Square,
            side: 2.0,
            corner: None,
            tint: Some(shapes::types::Tint::Green),
        });
        Ok(shapes::ListShapesResponse::Ok(vec![
            circle(min_area.unwrap_or(0.5)),
            square,
        ]))
    }

    async fn add_shape(
        &self,
        ctx: Context,
        body: shapes::types::Shape,
    ) -> Result<shapes::AddShapeResponse, ServerError> {
        if let shapes::types::Shape::Circle(c) = &body {
            if c.radius <= 0.0 {
                return Ok(shapes::AddShapeResponse::UnprocessableEntity(
                    shapes::types::Problem {
                        title: "radius must be positive".into(),
                        status: Some(422),
                    },
                ));
            }
        }
        // The provider tells its consumer through the webhook, over the
        // same connection the call came on.
        if let Some(connection) = ctx.connection() {
            let seen = shapes::webhooks::ApiClient::new(connection.clone())
                .shape_added(body.clone())
                .await
                .map_err(|e| ServerError::internal(e.to_string()))?;
            assert_eq!(seen, shapes::webhooks::ShapeAddedResponse::NoContent);
        }
        Ok(shapes::AddShapeResponse::Created(body))
    }

    async fn get_label(
        &self,
        _ctx: Context,
        id: String,
    ) -> Result<shapes::GetLabelResponse, ServerError> {
        let value = match id.parse::<i64>() {
            Ok(n) => shapes::types::LabelValue::Integer(n),
            Err(_) => shapes::types::LabelValue::String(id.clone()),
        };
        Ok(shapes::GetLabelResponse::Ok(shapes::types::Label {
            id,
            value,
            data: Some(vec![0, 159, 255].into()),
            owner: Some(shapes::types::LabelOwner { name: "ann".into() }),
        }))
    }
}

/// The consumer's side of the webhooks: remembers what it was told.
struct Watcher(tokio::sync::mpsc::UnboundedSender<shapes::types::Shape>);

impl shapes::webhooks::Api for Watcher {
    async fn shape_added(
        &self,
        _ctx: Context,
        body: shapes::types::Shape,
    ) -> Result<shapes::webhooks::ShapeAddedResponse, ServerError> {
        self.0.send(body).unwrap();
        Ok(shapes::webhooks::ShapeAddedResponse::NoContent)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_3_1_service_and_its_webhooks_over_one_socket() {
    let server = Server::builder()
        .serve(shapes::ApiService::new(ShapeStore))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    // The websocket client calls the API and serves its webhooks.
    let client = swaggersocket::Client::builder(format!("ws://{}/", server.local_addr()))
        .serve(shapes::webhooks::ApiService::new(Watcher(seen_tx)))
        .connect()
        .await
        .unwrap();
    let api = shapes::ApiClient::new(client.connection());

    let shapes::ListShapesResponse::Ok(list) = api.list_shapes().min_area(3.0).await.unwrap();
    assert_eq!(list[0], circle(3.0));
    assert!(
        matches!(&list[1], shapes::types::Shape::Square(s) if s.tint == Some(shapes::types::Tint::Green))
    );

    // The call makes the server call the client's webhook before answering.
    let added = api.add_shape(circle(2.0)).await.unwrap();
    assert_eq!(added, shapes::AddShapeResponse::Created(circle(2.0)));
    assert_eq!(seen.recv().await, Some(circle(2.0)));
    match api.add_shape(circle(-1.0)).await.unwrap() {
        shapes::AddShapeResponse::UnprocessableEntity(p) => assert_eq!(p.status, Some(422)),
        other => panic!("{other:?}"),
    }

    let shapes::GetLabelResponse::Ok(label) = api.get_label("42".into()).await.unwrap();
    assert_eq!(label.value, shapes::types::LabelValue::Integer(42));
    assert_eq!(label.data.unwrap().0, vec![0, 159, 255]);
    let shapes::GetLabelResponse::Ok(label) = api.get_label("x".into()).await.unwrap();
    assert_eq!(label.value, shapes::types::LabelValue::String("x".into()));

    // The server side calls a webhook on its own.
    let at_server = next_connection(&mut events).await;
    let hook = shapes::webhooks::ApiClient::new(at_server);
    assert_eq!(
        hook.shape_added(circle(9.0)).await.unwrap(),
        shapes::webhooks::ShapeAddedResponse::NoContent
    );
    assert_eq!(seen.recv().await, Some(circle(9.0)));
}

/// 3.1 JSON as another tool writes it: `const` tags, a tuple, base64.
#[tokio::test]
async fn openapi_3_1_wire_format() {
    let service = shapes::ApiService::new(ShapeStore);
    let (status, body) = raw(service.handle(request("GET", "/shapes?minArea=4", None, b""))).await;
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value[0]["kind"], "circle");
    assert_eq!(value[0]["center"], serde_json::json!([1.5, -2.0]));
    assert_eq!(value[1]["kind"], "square");
    // The tag must be the `const`, not the schema name.
    let (status, body) = raw(service.handle(request(
        "POST",
        "/shapes",
        Some("application/json"),
        br#"{"kind": "Circle", "radius": 1}"#,
    )))
    .await;
    assert_eq!(status, 400, "{body}");
    // A tuple of the wrong length is refused.
    let (status, body) = raw(service.handle(request(
        "POST",
        "/shapes",
        Some("application/json"),
        br#"{"kind": "circle", "radius": 1, "center": [1, 2, 3]}"#,
    )))
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = raw(service.handle(request("GET", "/labels/7", None, b""))).await;
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["value"], 7);
    assert_eq!(value["data"], "AJ//");
}

// ---------------------------------------------------------------- 3.2

struct Sensors;

fn reading(sensor: &str, value: f64) -> telemetry::types::Reading {
    telemetry::types::Reading {
        sensor: sensor.to_owned(),
        value,
    }
}

impl telemetry::Api for Sensors {
    async fn upload_readings(
        &self,
        _ctx: Context,
        body: Vec<telemetry::types::Reading>,
    ) -> Result<telemetry::UploadReadingsResponse, ServerError> {
        let stored = body.iter().filter(|r| r.value >= 0.0).count() as i64;
        Ok(telemetry::UploadReadingsResponse::Ok(
            telemetry::types::UploadReadingsOkBody { stored },
        ))
    }

    async fn search_readings(
        &self,
        _ctx: Context,
        body: telemetry::types::Filter,
    ) -> Result<telemetry::SearchReadingsResponse, ServerError> {
        let sensor = body.sensor.unwrap_or_else(|| "any".into());
        Ok(telemetry::SearchReadingsResponse::Ok(vec![reading(
            &sensor, 1.0,
        )]))
    }

    async fn live_readings(
        &self,
        _ctx: Context,
        sensor: String,
    ) -> Result<telemetry::LiveReadingsResponse, ServerError> {
        let items = (0..3).map(move |i| reading(&sensor, f64::from(i)));
        Ok(telemetry::LiveReadingsResponse::Ok(TypedStream::iter(
            items,
        )))
    }

    async fn link_sensor(
        &self,
        _ctx: Context,
        id: String,
        to: String,
    ) -> Result<telemetry::LinkSensorResponse, ServerError> {
        if id == to {
            return Err(ServerError::internal("a sensor cannot link to itself"));
        }
        Ok(telemetry::LinkSensorResponse::NoContent)
    }

    async fn export_readings(
        &self,
        _ctx: Context,
        filter: Option<telemetry::types::Filter>,
    ) -> Result<telemetry::ExportReadingsResponse, ServerError> {
        let sensor = filter
            .and_then(|f| f.sensor)
            .unwrap_or_else(|| "all".into());
        let items = vec![reading(&sensor, 10.0), reading(&sensor, 20.0)];
        Ok(telemetry::ExportReadingsResponse::Ok(TypedStream::iter(
            items,
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_3_2_service_over_a_socket() {
    let server = Server::builder()
        .serve(telemetry::ApiService::new(Sensors))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = swaggersocket::Client::builder(format!("ws://{}/", server.local_addr()))
        .connect()
        .await
        .unwrap();
    let api = telemetry::ApiClient::new(client.connection());

    // QUERY with a body.
    let filter = telemetry::types::Filter {
        sensor: Some("t-1".into()),
        since: None,
    };
    let telemetry::SearchReadingsResponse::Ok(found) =
        api.search_readings(filter.clone()).await.unwrap();
    assert_eq!(found, vec![reading("t-1", 1.0)]);

    // An item sequence as the request body (itemSchema, application/jsonl).
    let telemetry::UploadReadingsResponse::Ok(stored) = api
        .upload_readings(vec![
            reading("a", 1.0),
            reading("b", -1.0),
            reading("c", 2.0),
        ])
        .await
        .unwrap();
    assert_eq!(stored.stored, 2);

    // An SSE stream of items as the response.
    let telemetry::LiveReadingsResponse::Ok(mut live) =
        api.live_readings("t-2".into()).await.unwrap();
    let mut got = Vec::new();
    while let Some(item) = live.next().await {
        got.push(item.unwrap());
    }
    assert_eq!(
        got,
        (0..3)
            .map(|i| reading("t-2", f64::from(i)))
            .collect::<Vec<_>>()
    );

    // LINK, from additionalOperations.
    assert_eq!(
        api.link_sensor("a".into(), "b".into()).await.unwrap(),
        telemetry::LinkSensorResponse::NoContent
    );

    // `in: querystring`: the whole query is the filter.
    let telemetry::ExportReadingsResponse::Ok(export) =
        api.export_readings().filter(filter).await.unwrap();
    let exported: Vec<_> = export.map(Result::unwrap).collect().await;
    assert_eq!(exported, vec![reading("t-1", 10.0), reading("t-1", 20.0)]);
    let telemetry::ExportReadingsResponse::Ok(export) = api.export_readings().await.unwrap();
    let exported: Vec<_> = export.map(Result::unwrap).collect().await;
    assert_eq!(exported[0].sensor, "all");
}

/// 3.2 requests written by hand: the QUERY and LINK methods, JSON Lines,
/// a whole query string.
#[tokio::test]
async fn openapi_3_2_wire_format() {
    let service = telemetry::ApiService::new(Sensors);
    let (status, body) = raw(service.handle(request(
        "QUERY",
        "/readings",
        Some("application/json"),
        br#"{"sensor": "q"}"#,
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""sensor":"q""#), "{body}");
    // Methods the path does not have: 405 listing QUERY too.
    let response = service.handle(request("PUT", "/readings", None, b"")).await;
    assert_eq!(response.status().as_u16(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("QUERY") && allow.contains("POST"), "{allow}");
    let (status, _) = raw(service.handle(request("LINK", "/sensors/a?to=b", None, b""))).await;
    assert_eq!(status, 204);
    let lines = b"{\"sensor\":\"a\",\"value\":1}\n{\"sensor\":\"b\",\"value\":2}\n";
    let (status, body) = raw(service.handle(request(
        "POST",
        "/readings",
        Some("application/jsonl"),
        lines,
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"{"stored":2}"#);
    // A bad item: 400 naming it.
    let (status, body) = raw(service.handle(request(
        "POST",
        "/readings",
        Some("application/jsonl"),
        b"{\"sensor\":\"a\",\"value\":1}\n{\"sensor\":\"b\"}\n",
    )))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("item 1"), "{body}");
    // The whole query string is the filter: a valid one is accepted, one
    // whose field does not decode is refused.
    let (status, body) = raw(service.handle(request(
        "GET",
        "/export?sensor=s-9&since=2020-01-01T00:00:00Z",
        None,
        b"",
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        raw(service.handle(request("GET", "/export?since=yesterday", None, b""))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("query string"), "{body}");
}

/// 3.2 `defaultMapping`: a value whose tag is absent or unknown is the
/// default schema's, and keeps its own tag when written back.
#[test]
fn openapi_3_2_default_mapping() {
    use telemetry::types::Sensor;
    let baro: Sensor =
        serde_json::from_value(serde_json::json!({"type": "baro", "celsius": 3.5})).unwrap();
    match &baro {
        Sensor::Thermo(t) => assert_eq!((t.type_.as_str(), t.celsius), ("baro", 3.5)),
        other => panic!("{other:?}"),
    }
    assert_eq!(serde_json::to_value(&baro).unwrap()["type"], "baro");
    let hygro: Sensor =
        serde_json::from_value(serde_json::json!({"type": "hygro", "humidity": 0.4})).unwrap();
    assert!(matches!(hygro, Sensor::Hygro(_)), "{hygro:?}");
    // The default schema still has its own required properties.
    assert!(serde_json::from_value::<Sensor>(serde_json::json!({"type": "baro"})).is_err());
}

/// Members of a discriminated `oneOf` that fix the tag to the same value
/// are tried in order.
#[test]
fn members_sharing_a_tag_are_told_apart_by_their_content() {
    use shapes::types::Message;
    let input: Message =
        serde_json::from_value(serde_json::json!({"type": "message", "input": "hi"})).unwrap();
    assert!(
        matches!(&input, Message::Message(m) if m.input == "hi"),
        "{input:?}"
    );
    let output: Message =
        serde_json::from_value(serde_json::json!({"type": "message", "output": "yo"})).unwrap();
    assert!(
        matches!(&output, Message::Message2(m) if m.output == "yo"),
        "{output:?}"
    );
    assert_eq!(serde_json::to_value(&output).unwrap()["type"], "message");
    assert!(serde_json::from_value::<Message>(serde_json::json!({"type": "message"})).is_err());
}
