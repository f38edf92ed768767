//! The hostile-peer benchmark (issue 13): `echo_server`, as shipped with its
//! default `Config`, against one attack at a time while a well-behaved
//! canary client calls it every 10 ms.
//!
//! The server runs as a child process (`--server PATH`, started with
//! `--listen 127.0.0.1:0`; it prints `listening on ADDR`). For each attack
//! the benchmark records the canary's p50/p99 before and during it, the
//! server's RSS (`/proc/PID/status` VmRSS) before, at its peak and after,
//! its open descriptors (`/proc/PID/fd`) before and after, and whether a
//! new client can connect and call during the attack and after it; then
//! prints a markdown table to stdout (progress goes to stderr).
//!
//! Attacks, each a raw websocket peer written here by hand (loopback only):
//!
//! - `idle`: N TCP connections that send nothing;
//! - `stalled`: N handshakes that stop half way, half of them inside the
//!   HTTP upgrade and half after it, before the first swaggersocket message;
//! - `pipeline`: one client that pipelines N `POST /echo` requests with
//!   1 MiB bodies (so 1 MiB answers) and never reads;
//! - `flood`: a few connections sending small requests as fast as the
//!   server takes them, reading (and dropping) the answers;
//! - `churn`: N connect / upgrade / handshake / close cycles, half closed
//!   with a close frame and half dropped.
//!
//! Everything is bounded: an attack holds for `--hold` seconds (churn runs
//! its cycles, at most `--max-attack` seconds), and one whose server RSS
//! passes `--rss-cap-mib` is stopped at once, so a server without limits
//! cannot take the machine's memory. `--help` lists the options.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

const HELP: &str = "\
usage: hostile --server PATH [options]

Runs PATH (echo_server) with --listen 127.0.0.1:0 and its default config,
then each attack in turn while a canary client calls every 10 ms; prints a
markdown table. Loopback only.
  --server PATH        the echo_server binary (required)
  --quick              small and short: 200 idle, 200 stalled, 1,000
                       pipelined, 500 churn cycles, 1 s baseline, 2 s hold
  --attacks LIST       idle,stalled,pipeline,flood,churn (default all)
  --idle N             idle TCP connections (default 1000)
  --stalled N          stalled handshakes (default 1000)
  --pipeline N         pipelined requests that are never read (default 10000)
  --pipeline-bytes B   body (and answer) size of each (default 1048576)
  --flood-conns N      connections of the request flood (default 4)
  --churn N            connect/close cycles (default 5000)
  --churn-parallel N   cycles at once (default 16)
  --baseline SECS      canary time before each attack (default 3)
  --hold SECS          how long an attack holds (default 12, past the
                       server's 10 s handshake timeout)
  --settle SECS        wait after an attack before measuring (default 2; up
                       to 10 s more while descriptors are still closing)
  --max-attack SECS    churn's time limit (default 60)
  --rss-cap-mib N      stop an attack when the server's RSS has grown by
                       this much (default 2048); a server that keeps more
                       than this after an attack is replaced by a fresh one
                       for the next
  --server-log PATH    the server's stderr (default: discarded)
  --restart-each       a fresh server (and canary) for each attack, so that
                       one attack's aftermath does not weigh on the next
                       (default: one server for the whole run, which also
                       shows whether it recovers)
";

/// The canary's call interval.
const CANARY_EVERY: Duration = Duration::from_millis(10);
/// A canary call slower than this counts as failed.
const CANARY_LIMIT: Duration = Duration::from_secs(2);
/// Any single network step of an attacker.
const STEP_LIMIT: Duration = Duration::from_secs(10);
/// Connections opened at once while setting up many.
const CONNECT_PARALLEL: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attack {
    Idle,
    Stalled,
    Pipeline,
    Flood,
    Churn,
}

impl Attack {
    const ALL: [Attack; 5] = [
        Attack::Idle,
        Attack::Stalled,
        Attack::Pipeline,
        Attack::Flood,
        Attack::Churn,
    ];

    fn name(self) -> &'static str {
        match self {
            Attack::Idle => "idle",
            Attack::Stalled => "stalled",
            Attack::Pipeline => "pipeline",
            Attack::Flood => "flood",
            Attack::Churn => "churn",
        }
    }
}

#[derive(Clone, Debug)]
struct Options {
    server: PathBuf,
    attacks: Vec<Attack>,
    idle: usize,
    stalled: usize,
    pipeline: usize,
    pipeline_bytes: usize,
    flood_conns: usize,
    churn: usize,
    churn_parallel: usize,
    baseline: Duration,
    hold: Duration,
    settle: Duration,
    max_attack: Duration,
    rss_cap_kib: u64,
    server_log: Option<PathBuf>,
    restart_each: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        server: PathBuf::new(),
        attacks: Attack::ALL.to_vec(),
        idle: 1000,
        stalled: 1000,
        pipeline: 10_000,
        pipeline_bytes: 1 << 20,
        flood_conns: 4,
        churn: 5000,
        churn_parallel: 16,
        baseline: Duration::from_secs(3),
        hold: Duration::from_secs(12),
        settle: Duration::from_secs(2),
        max_attack: Duration::from_secs(60),
        rss_cap_kib: 2048 << 10,
        server_log: None,
        restart_each: false,
    };
    let mut server = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        fn number<T: std::str::FromStr>(arg: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{arg}: not a number: {v:?}"))
        }
        fn secs(arg: &str, v: String) -> Result<Duration, String> {
            let s: f64 = number(arg, v)?;
            if (0.0..3600.0).contains(&s) {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(format!("{arg}: between 0 and 3600 seconds"))
            }
        }
        match arg.as_str() {
            "--server" => server = Some(PathBuf::from(value()?)),
            "--quick" => {
                o.idle = 200;
                o.stalled = 200;
                o.pipeline = 1000;
                o.churn = 500;
                o.baseline = Duration::from_secs(1);
                o.hold = Duration::from_secs(2);
                o.settle = Duration::from_secs(1);
            }
            "--attacks" => {
                let list = value()?;
                o.attacks = list
                    .split(',')
                    .map(|name| {
                        Attack::ALL
                            .into_iter()
                            .find(|a| a.name() == name.trim())
                            .ok_or(format!("unknown attack {name:?}; try --help"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--idle" => o.idle = number(&arg, value()?)?,
            "--stalled" => o.stalled = number(&arg, value()?)?,
            "--pipeline" => o.pipeline = number(&arg, value()?)?,
            "--pipeline-bytes" => o.pipeline_bytes = number(&arg, value()?)?,
            "--flood-conns" => o.flood_conns = number::<usize>(&arg, value()?)?.max(1),
            "--churn" => o.churn = number(&arg, value()?)?,
            "--churn-parallel" => o.churn_parallel = number::<usize>(&arg, value()?)?.max(1),
            "--baseline" => o.baseline = secs(&arg, value()?)?,
            "--hold" => o.hold = secs(&arg, value()?)?,
            "--settle" => o.settle = secs(&arg, value()?)?,
            "--max-attack" => o.max_attack = secs(&arg, value()?)?,
            "--rss-cap-mib" => o.rss_cap_kib = number::<u64>(&arg, value()?)? << 10,
            "--server-log" => o.server_log = Some(PathBuf::from(value()?)),
            "--restart-each" => o.restart_each = true,
            "-h" | "--help" => return Err(HELP.to_owned()),
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    o.server = server.ok_or("--server PATH is required; try --help")?;
    if o.pipeline_bytes > 15 << 20 {
        return Err(
            "--pipeline-bytes: at most 15 MiB (the server's maximum message is 16 MiB)".into(),
        );
    }
    Ok(o)
}

// --- the server child and /proc ---

struct ServerChild {
    child: tokio::process::Child,
    pid: u32,
    addr: SocketAddr,
}

async fn start_server(o: &Options) -> Result<ServerChild, String> {
    let stderr = match &o.server_log {
        Some(path) => Stdio::from(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    let mut child = tokio::process::Command::new(&o.server)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", o.server.display()))?;
    let pid = child.id().ok_or("the server exited at once")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.strip_prefix("listening on ") {
                return addr.trim().parse::<SocketAddr>().ok();
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or("the server did not print `listening on ADDR` within 30 s")?;
    // Keep its stdout drained.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(ServerChild { child, pid, addr })
}

/// The server's resident set, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The server's open file descriptors.
fn fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Samples the server's RSS every 20 ms: the peak since the last reset,
/// and a flag raised when it grows past `base + cap`.
struct RssWatch {
    peak: AtomicU64,
    base: AtomicU64,
    over_cap: AtomicBool,
    cap: u64,
}

fn watch_rss(pid: u32, cap: u64) -> Arc<RssWatch> {
    let watch = Arc::new(RssWatch {
        peak: AtomicU64::new(0),
        base: AtomicU64::new(u64::MAX / 2),
        over_cap: AtomicBool::new(false),
        cap,
    });
    let w = watch.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            let Some(rss) = rss_kib(pid) else { return };
            w.peak.fetch_max(rss, Ordering::Relaxed);
            if rss > w.base.load(Ordering::Relaxed).saturating_add(w.cap) {
                w.over_cap.store(true, Ordering::Relaxed);
            }
        }
    });
    watch
}

// --- the canary ---

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    latency: Duration,
    ok: bool,
}

type Samples = Arc<Mutex<Vec<Sample>>>;

/// A well-behaved client on a thread and runtime of its own (so that the
/// attackers' tasks do not delay it), calling `POST /echo` every 10 ms.
fn start_canary(addr: SocketAddr, stop: Arc<AtomicBool>) -> (Samples, std::thread::JoinHandle<()>) {
    let samples: Samples = Arc::default();
    let out = samples.clone();
    let thread = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let client = loop {
                match swaggersocket::Client::builder(format!("ws://{addr}/"))
                    .connect()
                    .await
                {
                    Ok(client) => break client,
                    Err(_) if !stop.load(Ordering::Relaxed) => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(_) => return,
                }
            };
            let mut tick = tokio::time::interval(CANARY_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let body = bytes::Bytes::from_static(b"{\"canary\":true}");
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let request = http::Request::post("/echo")
                    .body(body.clone())
                    .unwrap_or_default();
                let started = Instant::now();
                let result =
                    tokio::time::timeout(CANARY_LIMIT, client.connection().call(request)).await;
                let ok = matches!(&result, Ok(Ok(r)) if r.status() == 200 && *r.body() == body);
                out.lock().unwrap_or_else(|e| e.into_inner()).push(Sample {
                    at: started,
                    latency: started.elapsed(),
                    ok,
                });
            }
            client.close();
        });
    });
    (samples, thread)
}

#[derive(Clone, Copy, Default)]
struct Latency {
    p50: Duration,
    p99: Duration,
    ok: usize,
    failed: usize,
}

fn latency(samples: &Samples, from: Instant, to: Instant) -> Latency {
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner());
    let window: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .collect();
    let mut times: Vec<Duration> = window.iter().filter(|s| s.ok).map(|s| s.latency).collect();
    times.sort_unstable();
    let failed = window.len() - times.len();
    // A failed call counts as slow as the limit: it must not flatter p99.
    times.extend(std::iter::repeat_n(CANARY_LIMIT, failed));
    let pick = |q: f64| -> Duration {
        if times.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
        times[rank - 1]
    };
    Latency {
        p50: pick(0.50),
        p99: pick(0.99),
        ok: window.len() - failed,
        failed,
    }
}

/// Whether a new client can connect and get one answer within 5 s.
async fn new_client(addr: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let attempt = async {
        let client = swaggersocket::Client::builder(format!("ws://{addr}/"))
            .keep_alive(false)
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let request = http::Request::get("/probe")
            .body(bytes::Bytes::new())
            .map_err(|e| e.to_string())?;
        let answer = client.connection().call(request).await;
        client.close();
        match answer {
            Ok(r) if r.status() == 200 => Ok(started.elapsed()),
            Ok(r) => Err(format!("answered {}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .unwrap_or_else(|_| Err("no answer within 5 s".to_owned()))
}

// --- a raw websocket peer, by hand ---

const STEP_1: &[u8] = b"{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":null,\"Features\":[]}";
const STEP_3: &[u8] = b"{\"Type\":\"ClientHandshakeAckFrame\"}";

fn upgrade_request(addr: SocketAddr) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A client frame: FIN, `opcode`, masked with a zero key (legal, and the
/// payload goes out as it is).
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
    out
}

/// Reads one (unmasked) server frame: its opcode and payload.
async fn read_frame(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > 1 << 20 {
        return Err(std::io::Error::other("a handshake frame over 1 MiB"));
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).await?;
    Ok((head[0] & 0x0f, payload))
}

/// Connects and completes the HTTP upgrade.
async fn upgraded(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(upgrade_request(addr).as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 || head.len() > 8192 {
            return Err(std::io::Error::other("no upgrade answer"));
        }
        head.extend_from_slice(&buf[..n]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(std::io::Error::other(format!(
            "upgrade refused: {}",
            String::from_utf8_lossy(&head[..head.len().min(40)])
        )));
    }
    Ok(s)
}

/// Connects, upgrades and completes the three-message handshake as a peer
/// of this project.
async fn handshaken(addr: SocketAddr) -> std::io::Result<TcpStream> {
    tokio::time::timeout(STEP_LIMIT, async {
        let mut s = upgraded(addr).await?;
        s.write_all(&frame(1, STEP_1)).await?;
        loop {
            let (opcode, _) = read_frame(&mut s).await?;
            match opcode {
                1 => break,
                8 => return Err(std::io::Error::other("closed during the handshake")),
                _ => continue,
            }
        }
        s.write_all(&frame(1, STEP_3)).await?;
        Ok(s)
    })
    .await
    .unwrap_or_else(|_| Err(std::io::Error::other("handshake timed out")))
}

/// Runs `make(i)` for `0..n`, `CONNECT_PARALLEL` at a time, keeping what
/// succeeds; stops early when `stop` is raised.
async fn open_many<F, Fut>(
    n: usize,
    stop: &watch::Receiver<bool>,
    make: F,
) -> (Vec<TcpStream>, usize)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<TcpStream>> + Send + 'static,
{
    let mut kept = Vec::with_capacity(n);
    let mut failed = 0;
    let mut start = 0;
    while start < n && !*stop.borrow() {
        let end = (start + CONNECT_PARALLEL).min(n);
        let batch: Vec<_> = (start..end)
            .map(|i| {
                let make = make.clone();
                tokio::spawn(async move { tokio::time::timeout(STEP_LIMIT, make(i)).await })
            })
            .collect();
        for task in batch {
            match task.await {
                Ok(Ok(Ok(s))) => kept.push(s),
                _ => failed += 1,
            }
        }
        start = end;
    }
    (kept, failed)
}

// --- the attacks ---

/// What an attack did, for the table's notes.
struct Done {
    load: String,
    note: String,
}

/// Runs `attack` until `stop`; `ready` is raised once its units are set up.
async fn run(
    attack: Attack,
    addr: SocketAddr,
    o: Options,
    stop: watch::Receiver<bool>,
    ready: Arc<tokio::sync::Notify>,
) -> Done {
    match attack {
        Attack::Idle => {
            let (held, failed) = open_many(o.idle, &stop, move |_| async move {
                TcpStream::connect(addr).await
            })
            .await;
            ready.notify_one();
            hold_until(stop).await;
            Done {
                load: format!("{} idle TCP connections", held.len()),
                note: failed_note(failed, "connects"),
            }
        }
        Attack::Stalled => {
            let (held, failed) = open_many(o.stalled, &stop, move |i| async move {
                if i % 2 == 0 {
                    // Inside the HTTP upgrade: the head never ends.
                    let mut s = TcpStream::connect(addr).await?;
                    let request = upgrade_request(addr);
                    s.write_all(&request.as_bytes()[..request.len() / 2])
                        .await?;
                    Ok(s)
                } else {
                    // Upgraded, then no first swaggersocket message.
                    upgraded(addr).await
                }
            })
            .await;
            ready.notify_one();
            let started = Instant::now();
            hold_until(stop).await;
            // How many the server had closed by the end of the hold.
            let dropped = held.iter().filter(|s| closed_by_peer(s)).count();
            Done {
                load: format!(
                    "{} stalled handshakes (half in the upgrade, half after it)",
                    held.len()
                ),
                note: format!(
                    "{dropped} of them closed by the server within {:.1} s{}",
                    started.elapsed().as_secs_f64(),
                    failed_note(failed, "connects")
                ),
            }
        }
        Attack::Pipeline => {
            let mut s = match handshaken(addr).await {
                Ok(s) => s,
                Err(e) => {
                    ready.notify_one();
                    return Done {
                        load: "pipeline: no connection".into(),
                        note: e.to_string(),
                    };
                }
            };
            ready.notify_one();
            let mut message = format!(
                "POST /echo HTTP/1.1\r\nContent-Length: {}\r\nX-Correlation-Id: 00000000\r\n\r\n",
                o.pipeline_bytes
            )
            .into_bytes();
            message.resize(message.len() + o.pipeline_bytes, b'x');
            let mut wire = frame(2, &message);
            let id_at = wire.len() - o.pipeline_bytes - 4 - 8;
            let started = Instant::now();
            let mut last_write = started;
            let mut sent = 0usize;
            let mut stop = stop;
            let mut failed = None;
            while sent < o.pipeline && !*stop.borrow() {
                wire[id_at..id_at + 8]
                    .copy_from_slice(format!("{:08}", sent % 100_000_000).as_bytes());
                tokio::select! {
                    r = s.write_all(&wire) => if let Err(e) = r { failed = Some(e); break },
                    _ = stop.changed() => break,
                }
                sent += 1;
                last_write = Instant::now();
            }
            let writing = last_write - started;
            let stalled = last_write.elapsed();
            hold_until(stop).await;
            drop(s);
            Done {
                load: format!(
                    "{sent} of {} pipelined requests of {} KiB, never read",
                    o.pipeline,
                    o.pipeline_bytes >> 10
                ),
                note: match failed {
                    Some(e) => format!("{sent} written, then the write failed: {e}"),
                    None if sent == o.pipeline => format!(
                        "all {sent} written in {:.1} s, then held unread",
                        writing.as_secs_f64()
                    ),
                    None if stalled > Duration::from_millis(500) => format!(
                        "the server stopped reading after {sent} requests ({:.1} s): writes blocked for the last {:.1} s",
                        writing.as_secs_f64(),
                        stalled.as_secs_f64()
                    ),
                    None => format!(
                        "{sent} written in {:.1} s, still being taken when the hold ended",
                        writing.as_secs_f64()
                    ),
                },
            }
        }
        Attack::Flood => {
            let sent = Arc::new(AtomicU64::new(0));
            let received = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for c in 0..o.flood_conns {
                let (sent, received, mut stop) = (sent.clone(), received.clone(), stop.clone());
                tasks.push(tokio::spawn(async move {
                    let Ok(s) = handshaken(addr).await else { return };
                    let (mut r, mut w) = s.into_split();
                    let received2 = received.clone();
                    let drain = tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 << 10];
                        while let Ok(n) = r.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            received2.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    });
                    let mut id = 0u64;
                    loop {
                        let mut batch = Vec::with_capacity(64 * 80);
                        for _ in 0..64 {
                            id += 1;
                            let request = format!(
                                "GET /flood HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: {c}-{id}\r\n\r\n"
                            );
                            batch.extend_from_slice(&frame(2, request.as_bytes()));
                        }
                        tokio::select! {
                            r = w.write_all(&batch) => if r.is_err() { break },
                            _ = stop.changed() => break,
                        }
                        sent.fetch_add(64, Ordering::Relaxed);
                    }
                    drain.abort();
                }));
            }
            ready.notify_one();
            let started = Instant::now();
            hold_until(stop).await;
            for t in tasks {
                let _ = t.await;
            }
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let sent = sent.load(Ordering::Relaxed);
            Done {
                load: format!(
                    "request flood: {} connections, {:.0} requests/s",
                    o.flood_conns,
                    sent as f64 / secs
                ),
                note: format!(
                    "{sent} requests sent, {:.1} MB of answers read",
                    received.load(Ordering::Relaxed) as f64 / 1e6
                ),
            }
        }
        Attack::Churn => {
            let next = Arc::new(AtomicUsize::new(0));
            let failed = Arc::new(AtomicUsize::new(0));
            let done = Arc::new(AtomicUsize::new(0));
            ready.notify_one();
            let started = Instant::now();
            let workers: Vec<_> = (0..o.churn_parallel)
                .map(|_| {
                    let (next, failed, done, stop) =
                        (next.clone(), failed.clone(), done.clone(), stop.clone());
                    let n = o.churn;
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n || *stop.borrow() {
                                return;
                            }
                            match churn_once(addr, i).await {
                                Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                                Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                    })
                })
                .collect();
            for w in workers {
                let _ = w.await;
            }
            let secs = started.elapsed().as_secs_f64();
            let done = done.load(Ordering::Relaxed);
            Done {
                load: format!(
                    "{done} connect/handshake/close cycles ({} at once)",
                    o.churn_parallel
                ),
                note: format!(
                    "{done} cycles in {secs:.1} s ({:.0}/s){}",
                    done as f64 / secs.max(0.001),
                    failed_note(failed.load(Ordering::Relaxed), "cycles")
                ),
            }
        }
    }
}

/// One churn cycle: handshake, then a close frame (even) or a dropped
/// socket (odd).
async fn churn_once(addr: SocketAddr, i: usize) -> std::io::Result<()> {
    let mut s = handshaken(addr).await?;
    if i % 2 == 0 {
        s.write_all(&frame(8, &1000u16.to_be_bytes())).await?;
        // Wait (briefly) for the server's close frame or EOF.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let mut buf = [0u8; 1024];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
    Ok(())
}

/// True when the peer has closed `s` (whatever it sent before).
fn closed_by_peer(s: &TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

async fn hold_until(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

fn failed_note(failed: usize, what: &str) -> String {
    if failed == 0 {
        String::new()
    } else {
        format!("; {failed} {what} failed")
    }
}

// --- one attack, measured ---

struct Row {
    attack: Attack,
    done: Done,
    before: Latency,
    during: Latency,
    rss_before: u64,
    rss_peak: u64,
    rss_after: u64,
    fds_before: usize,
    fds_after: usize,
    client_during: Result<Duration, String>,
    client_after: Result<Duration, String>,
    capped: bool,
}

async fn measure(
    attack: Attack,
    o: &Options,
    server: &ServerChild,
    samples: &Samples,
    rss: &RssWatch,
) -> Row {
    eprintln!(
        "[{}] baseline {:.1} s",
        attack.name(),
        o.baseline.as_secs_f64()
    );
    let from = Instant::now();
    tokio::time::sleep(o.baseline).await;
    let rss_before = rss_kib(server.pid).unwrap_or(0);
    let fds_before = fds(server.pid).unwrap_or(0);
    rss.peak.store(rss_before, Ordering::Relaxed);
    rss.base.store(rss_before, Ordering::Relaxed);
    rss.over_cap.store(false, Ordering::Relaxed);

    let attack_start = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let ready = Arc::new(tokio::sync::Notify::new());
    let task = tokio::spawn(run(attack, server.addr, o.clone(), stop_rx, ready.clone()));
    eprintln!("[{}] attacking", attack.name());
    let capped = {
        let cap = async {
            while !rss.over_cap.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let held = async {
            if attack == Attack::Churn {
                // Churn holds as long as its cycles run.
                tokio::time::sleep(o.max_attack).await;
            } else {
                let _ = tokio::time::timeout(o.max_attack, ready.notified()).await;
                tokio::time::sleep(o.hold).await;
            }
        };
        let finished = async {
            if attack == Attack::Churn {
                while !task.is_finished() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            } else {
                std::future::pending::<()>().await
            }
        };
        tokio::select! {
            _ = cap => true,
            _ = held => false,
            _ = finished => false,
        }
    };
    if capped {
        eprintln!(
            "[{}] server RSS passed the cap: stopping the attack",
            attack.name()
        );
    }
    let client_during = if capped {
        Err("not tried (RSS cap)".to_owned())
    } else {
        new_client(server.addr).await
    };
    let attack_end = Instant::now();
    let _ = stop_tx.send(true);
    let done = task.await.unwrap_or(Done {
        load: attack.name().to_owned(),
        note: "the attack task failed".to_owned(),
    });
    eprintln!("[{}] settling", attack.name());
    tokio::time::sleep(o.settle).await;
    let settle_until = Instant::now() + Duration::from_secs(10);
    while fds(server.pid).unwrap_or(0) > fds_before && Instant::now() < settle_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_after = rss_kib(server.pid).unwrap_or(0);
    let fds_after = fds(server.pid).unwrap_or(0);
    let rss_peak = rss.peak.load(Ordering::Relaxed).max(rss_after);
    let client_after = new_client(server.addr).await;
    Row {
        attack,
        done,
        before: latency(samples, from, attack_start),
        during: latency(samples, attack_start, attack_end),
        rss_before,
        rss_peak,
        rss_after,
        fds_before,
        fds_after,
        client_during,
        client_after,
        capped,
    }
}

// --- the report ---

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

fn yes_no(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

fn connects(r: &Result<Duration, String>) -> String {
    match r {
        Ok(d) => format!("yes ({} ms)", ms(*d)),
        Err(e) => format!("**no**: {e}"),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or("?".to_owned(), |kib| {
            format!("{:.0} GiB", kib as f64 / (1 << 20) as f64)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {kernel}")
}

fn report(rows: &[Row], o: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Command: `{}`  \nMachine: {}  \nCanary: one swaggersocket client, `POST /echo` every {} ms; a failed or timed-out call counts as {} ms.\n",
        std::env::args().collect::<Vec<_>>().join(" "),
        machine(),
        CANARY_EVERY.as_millis(),
        CANARY_LIMIT.as_millis()
    );
    let _ = writeln!(
        out,
        "| attack | load | canary p50 / p99 before (ms) | canary p50 / p99 during (ms) | canary calls ok / failed during | RSS before / peak / after (MiB) | fds before / after | new client during | new client after | p99 < 10 ms | RSS after ≤ +10% | no fd leaked |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} / {} | {} / {} | {} / {}{} / {} | {} / {} | {} | {} | {} | {} | {} |",
            r.attack.name(),
            r.done.load,
            ms(r.before.p50),
            ms(r.before.p99),
            ms(r.during.p50),
            ms(r.during.p99),
            r.during.ok,
            r.during.failed,
            mib(r.rss_before),
            mib(r.rss_peak),
            if r.capped { " (cap)" } else { "" },
            mib(r.rss_after),
            r.fds_before,
            r.fds_after,
            connects(&r.client_during),
            connects(&r.client_after),
            yes_no(
                r.during.ok > 0
                    && r.during.p99 < Duration::from_millis(10)
                    && r.during.failed == 0
            ),
            yes_no(r.rss_after as f64 <= r.rss_before as f64 * 1.1),
            yes_no(r.fds_after <= r.fds_before),
        );
    }
    out.push('\n');
    for (attack, note) in RESTARTS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = writeln!(out, "- {}: {note}", attack.name());
    }
    for r in rows {
        if !r.done.note.is_empty() {
            let _ = writeln!(
                out,
                "- {}: {}",
                r.attack.name(),
                r.done.note.trim_start_matches("; ")
            );
        }
    }
    let _ = writeln!(
        out,
        "\nTargets (issue 13): canary p99 under 10 ms during every attack, RSS back within 10% of its baseline after each, no descriptor leaked. An attack is stopped when the server's RSS grows by {} MiB; a server still holding that much after an attack is replaced by a fresh one for the next (noted below).",
        o.rss_cap_kib >> 10
    );
    out
}

/// How a group of attacks on one server ended.
struct GroupEnd {
    /// How many of its attacks ran.
    ran: usize,
    /// The server exited.
    died: bool,
}

/// Starts a server and a canary, warms them up, runs `attacks` one after
/// the other, and stops early when the server kept more memory than the
/// cap after one (the rest run on a fresh server).
async fn run_group(
    o: &Options,
    attacks: &[Attack],
    rows: &mut Vec<Row>,
) -> Result<GroupEnd, String> {
    let mut server = start_server(o).await?;
    eprintln!("server pid {} on {}", server.pid, server.addr);
    let rss = watch_rss(server.pid, o.rss_cap_kib);
    let stop = Arc::new(AtomicBool::new(false));
    let (samples, canary) = start_canary(server.addr, stop.clone());
    // Warm up: the canary's connection and a few dozen handshakes, so that
    // the first baseline is not the allocator's first use.
    let warm = Instant::now();
    let (never, _) = watch::channel(false);
    let _ = open_many(64, &never.subscribe(), move |_| handshaken(server.addr)).await;
    while samples.lock().map_or(0, |s| s.len()) < 100 && warm.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut died = false;
    let mut ran = 0;
    for &attack in attacks {
        let held = rss_kib(server.pid).unwrap_or(0);
        if ran > 0 && held > o.rss_cap_kib {
            let note = format!(
                "the server still held {} MiB after the previous attack: a fresh server was started for this one",
                held >> 10
            );
            eprintln!("[{}] {note}", attack.name());
            RESTARTS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((attack, note));
            break;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            eprintln!(
                "hostile: the server exited ({status}) before the {} attack",
                attack.name()
            );
            died = true;
            break;
        }
        let row = measure(attack, o, &server, &samples, &rss).await;
        eprintln!(
            "[{}] done: canary p99 {} ms, RSS {} MiB peak",
            attack.name(),
            ms(row.during.p99),
            mib(row.rss_peak)
        );
        rows.push(row);
        ran += 1;
    }
    died |= matches!(server.child.try_wait(), Ok(Some(_)));
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || canary.join()).await;
    let _ = server.child.kill().await;
    Ok(GroupEnd { ran, died })
}

/// Attacks that ran on a fresh server, and why.
static RESTARTS: Mutex<Vec<(Attack, String)>> = Mutex::new(Vec::new());

#[tokio::main]
async fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut rows = Vec::new();
    let mut server_died = false;
    let mut left: &[Attack] = &o.attacks;
    while !left.is_empty() && !server_died {
        let group = if o.restart_each { &left[..1] } else { left };
        match run_group(&o, group, &mut rows).await {
            Ok(end) => {
                server_died = end.died;
                // A group that ran nothing cannot loop: skip its first attack.
                left = &left[end.ran.max(1)..];
            }
            Err(e) => {
                eprintln!("hostile: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", report(&rows, &o));
    if server_died {
        println!("\n**The server exited during the run.**");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
