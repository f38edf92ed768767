//! End to end: operations whose responses are streams of typed items
//! (server-sent events, NDJSON, JSON lines, JSON text sequences), from a
//! generated server to a generated client over a websocket on loopback, in
//! both directions.

#![allow(clippy::unwrap_used)]

use futures_util::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use swaggersocket::api::{Context, ServerError, StatusCode};
use swaggersocket::{Client, Event, Server, TypedStream};
use swaggersocket_tests::streaming::{self, types};

/// Streams `count` events 30 ms apart, counting what it produced.
#[derive(Default)]
struct Feeds {
    produced: Arc<AtomicUsize>,
}

impl streaming::Api for Feeds {
    async fn watch_events(
        &self,
        _ctx: Context,
        count: i32,
    ) -> Result<streaming::WatchEventsResponse, ServerError> {
        if count < 0 {
            return Ok(streaming::WatchEventsResponse::Default {
                status: StatusCode::BAD_REQUEST,
                body: types::Error {
                    message: format!("count {count} is negative"),
                },
            });
        }
        let produced = self.produced.clone();
        let events = futures_util::stream::unfold(0i64, move |id| {
            let produced = produced.clone();
            async move {
                if id >= i64::from(count) {
                    return None;
                }
                if id > 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                produced.fetch_add(1, Ordering::SeqCst);
                let event = types::Event {
                    id,
                    message: format!("event {id}\nwith a second line"),
                };
                Some((event, id + 1))
            }
        });
        Ok(streaming::WatchEventsResponse::Ok {
            body: TypedStream::new(events),
            x_stream_id: Some("s-1".to_owned()),
        })
    }

    async fn follow_logs(
        &self,
        ctx: Context,
    ) -> Result<streaming::FollowLogsResponse, ServerError> {
        if ctx.headers().contains_key("x-missing") {
            return Ok(streaming::FollowLogsResponse::NotFound(types::Error {
                message: "no such log".to_owned(),
            }));
        }
        let lines = (0..50).map(|i| types::LogLine {
            level: if i % 2 == 0 {
                types::LogLineLevel::Info
            } else {
                types::LogLineLevel::Warn
            },
            text: format!("line {i}"),
        });
        Ok(streaming::FollowLogsResponse::Ok(TypedStream::iter(
            lines.collect::<Vec<_>>(),
        )))
    }

    async fn list_lines(&self, _ctx: Context) -> Result<streaming::ListLinesResponse, ServerError> {
        let line = types::LogLine {
            level: types::LogLineLevel::Error,
            text: "only".to_owned(),
        };
        Ok(streaming::ListLinesResponse::Ok(TypedStream::iter([line])))
    }

    async fn count_up(&self, _ctx: Context) -> Result<streaming::CountUpResponse, ServerError> {
        Ok(streaming::CountUpResponse::Ok(TypedStream::iter(
            1..=1000i64,
        )))
    }
}

async fn exercise(api: &streaming::ApiClient, produced: &AtomicUsize) {
    // Server-sent events arrive one by one, with the response header.
    match api.watch_events(5).await.unwrap() {
        streaming::WatchEventsResponse::Ok {
            mut body,
            x_stream_id,
        } => {
            assert_eq!(x_stream_id.as_deref(), Some("s-1"));
            let mut got = Vec::new();
            while let Some(event) = body.next().await {
                let event = event.unwrap();
                assert!(
                    produced.load(Ordering::SeqCst) <= got.len() + 2,
                    "events were not streamed"
                );
                assert_eq!(
                    event.message,
                    format!("event {}\nwith a second line", event.id)
                );
                got.push(event.id);
            }
            assert_eq!(got, [0, 1, 2, 3, 4]);
        }
        other => panic!("{other:?}"),
    }
    // A documented error of a streaming operation comes back typed.
    match api.watch_events(-1).await.unwrap() {
        streaming::WatchEventsResponse::Default { status, body } => {
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(body.message.contains("negative"));
        }
        other => panic!("{other:?}"),
    }
    match api.follow_logs().await.unwrap() {
        streaming::FollowLogsResponse::Ok(body) => {
            let lines = body.collect_all().await.unwrap();
            assert_eq!(lines.len(), 50);
            assert_eq!(lines[49].text, "line 49");
            assert_eq!(lines[1].level, types::LogLineLevel::Warn);
        }
        other => panic!("{other:?}"),
    }
    match api.list_lines().await.unwrap() {
        streaming::ListLinesResponse::Ok(body) => {
            let lines = body.collect_all().await.unwrap();
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0].level, types::LogLineLevel::Error);
        }
    }
    match api.count_up().await.unwrap() {
        streaming::CountUpResponse::Ok(body) => {
            let numbers = body.collect_all().await.unwrap();
            assert_eq!(numbers, (1..=1000).collect::<Vec<i64>>());
        }
    }
}

#[tokio::test]
async fn typed_streams_flow_server_to_client() {
    let feeds = Feeds::default();
    let produced = feeds.produced.clone();
    let server = Server::builder()
        .serve(streaming::ApiService::new(feeds))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(format!("ws://{}/", server.local_addr()))
        .connect()
        .await
        .unwrap();
    let api = streaming::ApiClient::new(client.connection());
    tokio::time::timeout(Duration::from_secs(20), exercise(&api, &produced))
        .await
        .unwrap();
}

#[tokio::test]
async fn typed_streams_flow_client_to_server() {
    let feeds = Feeds::default();
    let produced = feeds.produced.clone();
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let mut events = server.events();
    let _device = Client::builder(format!("ws://{}/", server.local_addr()))
        .serve(streaming::ApiService::new(feeds))
        .connect()
        .await
        .unwrap();
    let conn = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
        {
            Some(Event::Received(conn)) => break conn,
            Some(_) => continue,
            None => panic!("server stopped"),
        }
    };
    let api = streaming::ApiClient::new(conn);
    tokio::time::timeout(Duration::from_secs(20), exercise(&api, &produced))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dropped_typed_stream_stops_the_producer() {
    let feeds = Feeds::default();
    let produced = feeds.produced.clone();
    let server = Server::builder()
        .serve(streaming::ApiService::new(feeds))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::builder(format!("ws://{}/", server.local_addr()))
        .connect()
        .await
        .unwrap();
    let api = streaming::ApiClient::new(client.connection());
    let streaming::WatchEventsResponse::Ok { mut body, .. } = api.watch_events(1000).await.unwrap()
    else {
        panic!("not Ok")
    };
    body.next().await.unwrap().unwrap();
    drop(body);
    // The producer stops soon after: far fewer than 1000 events are made.
    let mut last = produced.load(Ordering::SeqCst);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = produced.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    let stopped_at = produced.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        produced.load(Ordering::SeqCst),
        stopped_at,
        "the producer kept going"
    );
    assert!(stopped_at < 100, "produced {stopped_at}");
}
