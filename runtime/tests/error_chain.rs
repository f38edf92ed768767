//! Errors print each cause once: `Display` is the error's own message, and
//! the cause is reached through `source()`, as error reporters (anyhow,
//! eyre, tracing) expect.

use std::error::Error as _;
use swaggersocket::{Client, ErrorKind};

#[tokio::test]
async fn an_anyhow_report_of_a_failed_dial_shows_each_cause_once() {
    // A port with nothing listening: bind, note the address, drop it.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let err = Client::builder(format!("ws://{addr}/"))
        .connect()
        .await
        .expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::Io, "{err:?}");

    let shown = err.to_string();
    let cause = err
        .source()
        .expect("the io error is the source")
        .to_string();
    assert!(!cause.is_empty());
    assert!(
        !shown.contains(&cause),
        "Display repeats the cause {cause:?}: {shown:?}"
    );

    let report = format!("{:#}", anyhow::Error::new(err));
    assert_eq!(
        report.matches(&cause).count(),
        1,
        "the cause is printed once: {report}"
    );
    assert!(report.starts_with(&shown), "{report}");
}
