//! Cross-node against local calls, and idle peers per node with the cluster
//! on (BENCHMARKS.md, "Cluster").
//!
//! ```text
//! cargo run --release -p swaggersocket-cluster --example cluster_bench -- calls [RUNS] [SECONDS]
//! cargo run --release -p swaggersocket-cluster --example cluster_bench -- idle [DEVICES]
//! ```
//!
//! `calls`: a `nats-server` child, two nodes A and B in this process, one
//! device on B. "local" is B calling the device, "cross-node" is A calling
//! it through NATS. Each run measures, for each of the two, in an order that
//! alternates from run to run: one call at a time (latency and calls/s), 32
//! calls in flight (calls/s), and an 8 MiB streamed response in 64 KiB
//! pieces (MB/s).
//!
//! `idle`: a `nats-server` child and `swaggersocket-node` children (the
//! release binary, built first); DEVICES idle devices connect to one node;
//! the growth of each child's VmRSS, per device: the node without NATS, the
//! node with NATS, and another node that only sees them remotely.
//!
//! The `nats-server` binary: `$NATS_SERVER`, `PATH`, or
//! `target/nats-venv/bin/nats-server` (`scripts/nats-server`).

use bytes::Bytes;
use futures_util::StreamExt;
use std::convert::Infallible;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use swaggersocket::{service_fn, Body, Client, Server};
use swaggersocket_cluster::{Node, Peer};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("calls") => {
            let runs = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
            let seconds = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3.0);
            calls(runs, Duration::from_secs_f64(seconds)).await
        }
        Some("idle") => {
            let devices = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
            idle(devices).await
        }
        _ => Err("usage: cluster_bench calls [RUNS] [SECONDS] | idle [DEVICES]".into()),
    }
}

fn nats_binary() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            if dir.join("nats-server").is_file() {
                return Ok(dir.join("nats-server"));
            }
        }
    }
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/nats-venv/bin/nats-server");
    if venv.is_file() {
        return Ok(venv);
    }
    Err("no nats-server: run scripts/nats-server or set NATS_SERVER".into())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_nats() -> Result<(Killed, String), Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(nats_binary()?)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let child = Killed(child);
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok((child, format!("nats://127.0.0.1:{port}")));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err("nats-server did not start".into())
}

async fn device_service(req: http::Request<Bytes>) -> Result<http::Response<Body>, Infallible> {
    if req.uri().path() == "/stream" {
        let (tx, body) = Body::channel();
        tokio::spawn(async move {
            let piece = Bytes::from(vec![b's'; 64 << 10]);
            for _ in 0..128 {
                if tx.send(piece.clone()).await.is_err() {
                    return;
                }
            }
        });
        return Ok(http::Response::new(body));
    }
    Ok(http::Response::new(Body::from(req.into_body())))
}

fn echo() -> http::Request<Bytes> {
    http::Request::post("/echo")
        .body(Bytes::from_static(&[b'x'; 64]))
        .unwrap_or_default()
}

struct Figures {
    p50_us: f64,
    p99_us: f64,
    serial_per_s: f64,
    parallel_per_s: f64,
    stream_mb_s: f64,
}

async fn measure(peer: &Peer, window: Duration) -> Result<Figures, Error> {
    // Warm-up.
    for _ in 0..200 {
        peer.call(echo()).await?;
    }
    let mut latencies = Vec::new();
    let start = Instant::now();
    while start.elapsed() < window {
        let t = Instant::now();
        peer.call(echo()).await?;
        latencies.push(t.elapsed());
    }
    let serial_per_s = latencies.len() as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    let pick =
        |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    let (p50_us, p99_us) = (pick(0.5), pick(0.99));

    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let peer = peer.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < window {
                if peer.call(echo()).await.is_ok() {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut calls = 0;
    for task in tasks {
        calls += task.await?;
    }
    let parallel_per_s = calls as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut bytes = 0usize;
    while start.elapsed() < window {
        let request = http::Request::get("/stream").body(Bytes::new())?;
        let mut body = peer.call_streaming(request, None).await?.into_body();
        while let Some(piece) = body.next().await {
            bytes += piece?.len();
        }
    }
    let stream_mb_s = bytes as f64 / 1e6 / start.elapsed().as_secs_f64();
    Ok(Figures {
        p50_us,
        p99_us,
        serial_per_s,
        parallel_per_s,
        stream_mb_s,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn calls(runs: usize, window: Duration) -> Result<(), Error> {
    let (_nats, url) = start_nats().await?;
    let a = Node::builder()
        .id("a")
        .nats(&url)
        .start(Server::builder().bind("127.0.0.1:0").await?)
        .await?;
    let server_b = Server::builder().bind("127.0.0.1:0").await?;
    let b_url = format!("ws://{}/", server_b.local_addr());
    let b = Node::builder().id("b").nats(&url).start(server_b).await?;
    let client = Client::builder(b_url)
        .serve(service_fn(device_service))
        .connect()
        .await?;
    let id = client.connection().id().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.connection(&id).is_none() {
        if Instant::now() > deadline {
            return Err("node A never saw the device".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let local = b.connection(&id).ok_or("no local peer")?;
    let remote = a.connection(&id).ok_or("no remote peer")?;
    assert!(local.is_local() && !remote.is_local());
    let mut rows: Vec<(Figures, Figures)> = Vec::new();
    for run in 0..runs {
        let (l, r) = if run % 2 == 0 {
            let l = measure(&local, window).await?;
            (l, measure(&remote, window).await?)
        } else {
            let r = measure(&remote, window).await?;
            (measure(&local, window).await?, r)
        };
        eprintln!(
            "run {}: local p50 {:.1} µs, cross-node p50 {:.1} µs",
            run + 1,
            l.p50_us,
            r.p50_us
        );
        rows.push((l, r));
    }
    type Pick = fn(&Figures) -> f64;
    let metrics: [(&str, &str, Pick); 5] = [
        ("one call at a time, p50 latency", "µs", |f| f.p50_us),
        ("one call at a time, p99 latency", "µs", |f| f.p99_us),
        ("one call at a time", "calls/s", |f| f.serial_per_s),
        ("32 calls in flight", "calls/s", |f| f.parallel_per_s),
        ("8 MiB streamed response, 64 KiB pieces", "MB/s", |f| {
            f.stream_mb_s
        }),
    ];
    println!("| workload | unit | local | cross-node | cross-node ÷ local |");
    println!("|---|---|---:|---:|---:|");
    for (name, unit, pick) in metrics {
        let local: Vec<f64> = rows.iter().map(|(l, _)| pick(l)).collect();
        let remote: Vec<f64> = rows.iter().map(|(_, r)| pick(r)).collect();
        let ratios: Vec<f64> = rows.iter().map(|(l, r)| pick(r) / pick(l)).collect();
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "| {name} | {unit} | {:.1} | {:.1} | {:.2}× ({lo:.2}–{hi:.2}) |",
            median(local),
            median(remote),
            median(ratios.clone())
        );
    }
    // The floor: a bare NATS request/reply of 64 bytes between two clients
    // of the same server, one at a time.
    let (p50, p99, per_s) = nats_floor(&url, window).await?;
    println!(
        "| bare NATS request/reply, one at a time (the floor of a cross-node call) | µs p50 / µs p99 / calls/s | | {p50:.1} / {p99:.1} / {per_s:.0} | |"
    );
    client.close();
    Ok(())
}

async fn nats_floor(url: &str, window: Duration) -> Result<(f64, f64, f64), Error> {
    let server = async_nats::connect(url).await?;
    let caller = async_nats::connect(url).await?;
    let mut sub = server.subscribe("bench.echo").await?;
    let replier = server.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                let _ = replier.publish(reply, msg.payload).await;
            }
        }
    });
    let payload = Bytes::from_static(&[b'x'; 64]);
    for _ in 0..200 {
        caller.request("bench.echo", payload.clone()).await?;
    }
    let mut latencies = Vec::new();
    let start = Instant::now();
    while start.elapsed() < window {
        let t = Instant::now();
        caller.request("bench.echo", payload.clone()).await?;
        latencies.push(t.elapsed());
    }
    let per_s = latencies.len() as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    let pick =
        |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    Ok((pick(0.5), pick(0.99), per_s))
}

fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

/// A `swaggersocket-node` child; returns it and its devices' URL.
fn start_node(nats: Option<&str>, id: &str) -> Result<(Killed, String, u32), Error> {
    let binary =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/swaggersocket-node");
    if !binary.is_file() {
        return Err("build it first: cargo build --release -p swaggersocket-cluster --bins".into());
    }
    let mut command = Command::new(binary);
    command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--gateway",
            "127.0.0.1:0",
            "--id",
            id,
        ])
        .args(["--max-connections", "20000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = nats {
        command.args(["--nats", url]);
    }
    let mut child = command.spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let ws = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .ok_or_else(|| format!("unexpected first line: {line}"))?
        .trim_end_matches(',')
        .to_owned();
    Ok((Killed(child), ws, pid))
}

async fn idle(devices: usize) -> Result<(), Error> {
    let (_nats, nats_url) = start_nats().await?;
    println!(
        "| node | RSS before (KiB) | RSS with {devices} idle devices (KiB) | per device (KiB) |"
    );
    println!("|---|---:|---:|---:|");
    for clustered in [false, true] {
        let (_node, ws, pid) = start_node(clustered.then_some(nats_url.as_str()), "holder")?;
        let (_other, _, other_pid) = start_node(clustered.then_some(nats_url.as_str()), "viewer")?;
        // Pay the one-time costs first.
        let mut clients = Vec::new();
        for i in 0..50 {
            clients.push(connect(&ws, i).await?);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = rss_kib(pid)?;
        let other_before = rss_kib(other_pid)?;
        for i in 50..50 + devices {
            match connect(&ws, i).await {
                Ok(client) => clients.push(client),
                Err(e) => return Err(format!("device {i}: {e}").into()),
            }
        }
        // Let the registry settle (heartbeat 1 s) and the RSS with it.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let after = rss_kib(pid)?;
        let other_after = rss_kib(other_pid)?;
        let label = if clustered { "with NATS" } else { "alone" };
        println!(
            "| the devices' node, {label} | {before} | {after} | {:.2} |",
            (after as f64 - before as f64) / devices as f64
        );
        if clustered {
            println!(
                "| another node, which sees them remotely | {other_before} | {other_after} | {:.2} |",
                (other_after as f64 - other_before as f64) / devices as f64
            );
        }
        for client in &clients {
            client.close();
        }
    }
    Ok(())
}

async fn connect(ws: &str, i: usize) -> Result<Client, Error> {
    Ok(Client::builder(ws)
        .metadata(serde_json::json!({ "device": format!("idle-{i}") }))
        .keep_alive(false)
        .connect()
        .await?)
}
