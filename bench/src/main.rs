//! Calls over the swaggersocket runtime against two baselines, in one run:
//! plain tokio-tungstenite with a minimal multiplexer (the ceiling of this
//! stack) and jsonrpsee's websocket server and client.
//!
//! `swaggersocket-bench run [options]` runs every workload against the three
//! implementations, interleaved, each server in a fresh child process (this
//! binary again, as `serve --impl NAME`), and prints a markdown table of
//! medians and ratios to the plain baseline. `--help` lists the options.

mod impls;
mod plain;

use impls::{BoxError, Conn, Impl, Payload, TlsFiles};
use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server child never outlives this, even if the parent vanished without
/// closing its stdin.
const CHILD_LIFETIME: Duration = Duration::from_secs(900);
/// One call that takes longer than this fails the run.
const CALL_LIMIT: Duration = Duration::from_secs(10);
/// Calls per caller per measurement, at most (the duration ends it first).
const MAX_CALLS_PER_CALLER: u64 = 50_000_000;
/// Connections opened at once while setting up many.
const CONNECT_PARALLEL: usize = 32;

const HELP: &str = "\
usage: swaggersocket-bench run [--runs N] [--warmup SECS] [--duration SECS]
                               [--idle N] [--small BYTES] [--impls a,b,c]
                               [--workloads a,b,c]
       swaggersocket-bench serve --impl swaggersocket|plain|jsonrpsee
                                 [--tls CERT.pem KEY.pem]

run: every workload against every implementation, interleaved, N runs;
prints a markdown table of medians and ratios to the plain baseline.
  --runs N         runs of each workload (default 3)
  --warmup SECS    unmeasured time before each measurement (default 0.5)
  --duration SECS  measured time of each workload (default 3)
  --idle N         idle connections for the memory workload (default 2000)
  --small BYTES    request body of the small-call workloads (default 64)
  --impls LIST     swaggersocket,plain,jsonrpsee (default all)
  --workloads LIST c1,c64,big,conns,idle,wss,streams (default all; wss,
                   the c64 workload over TLS, and streams, 100 streamed
                   responses of 16 x 4 KiB at once on one connection against
                   the same bytes in plain 4 KiB calls, run swaggersocket and
                   plain only)
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// One caller on one connection: calls/s, p50, p99.
    C1,
    /// 64 callers on one connection: calls/s.
    C64,
    /// 64 KiB bodies, 8 callers on one connection: MB/s.
    Big,
    /// 200 connections with one caller each: calls/s.
    Conns,
    /// Server RSS per idle connection.
    Idle,
    /// 64 callers on one `wss://` connection (TLS 1.3, a self-signed
    /// certificate made for the run): calls/s. jsonrpsee is left out.
    Wss,
    /// 100 callers on one connection, each taking streamed responses of
    /// 16 chunks of 4 KiB one after the other (plain: the same bytes in
    /// 4 KiB calls): MB/s. jsonrpsee is left out.
    Streams,
}

impl Workload {
    const ALL: [Workload; 7] = [
        Workload::C1,
        Workload::C64,
        Workload::Big,
        Workload::Conns,
        Workload::Idle,
        Workload::Wss,
        Workload::Streams,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::C1 => "c1",
            Workload::C64 => "c64",
            Workload::Big => "big",
            Workload::Conns => "conns",
            Workload::Idle => "idle",
            Workload::Wss => "wss",
            Workload::Streams => "streams",
        }
    }

    /// Whether `imp` runs this workload.
    fn runs_on(self, imp: Impl) -> bool {
        !matches!(self, Workload::Wss | Workload::Streams) || imp != Impl::Jsonrpsee
    }
}

#[derive(Clone, Debug)]
struct Options {
    runs: usize,
    warmup: Duration,
    duration: Duration,
    idle: usize,
    small: usize,
    impls: Vec<Impl>,
    workloads: Vec<Workload>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            runs: 3,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(3),
            idle: 2000,
            small: 64,
            impls: Impl::ALL.to_vec(),
            workloads: Workload::ALL.to_vec(),
        }
    }
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| format!("not seconds: {text}"))?;
    if !(0.0..=600.0).contains(&secs) {
        return Err(format!("out of range (0 to 600 s): {text}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_count(text: &str, max: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("not a count from 1 to {max}: {text}")),
    }
}

fn parse_run(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--runs" => options.runs = parse_count(&value()?, 100)?,
            "--warmup" => options.warmup = parse_secs(&value()?)?,
            "--duration" => options.duration = parse_secs(&value()?)?,
            "--idle" => options.idle = parse_count(&value()?, 8000)?,
            "--small" => options.small = parse_count(&value()?, 1 << 20)?,
            "--impls" => {
                options.impls = value()?
                    .split(',')
                    .map(|name| Impl::parse(name).ok_or_else(|| format!("no impl {name}")))
                    .collect::<Result<_, _>>()?;
            }
            "--workloads" => {
                options.workloads = value()?
                    .split(',')
                    .map(|name| {
                        Workload::ALL
                            .into_iter()
                            .find(|w| w.name() == name)
                            .ok_or_else(|| format!("no workload {name}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other}\n{HELP}")),
        }
    }
    if options.duration.is_zero() {
        return Err("--duration must be above 0".into());
    }
    Ok(options)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve_main(&args[1..]),
        Some("run") => parse_run(&args[1..])
            .map_err(BoxError::from)
            .and_then(run_main),
        Some("--help") | Some("-h") => {
            print!("{HELP}");
            Ok(())
        }
        _ => Err(format!("a subcommand is needed\n{HELP}").into()),
    };
    if let Err(e) = result {
        eprintln!("swaggersocket-bench: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------- the child

/// Runs one server until stdin closes (the parent ended) or the lifetime passes.
fn serve_main(args: &[String]) -> Result<(), BoxError> {
    let (imp, tls) = match args {
        [flag, name, rest @ ..] if flag == "--impl" => {
            let imp = Impl::parse(name).ok_or_else(|| format!("no impl {name}"))?;
            match rest {
                [] => (imp, None),
                [flag, cert, key] if flag == "--tls" => (
                    imp,
                    Some(TlsFiles {
                        cert: cert.into(),
                        key: key.into(),
                    }),
                ),
                _ => return Err(format!("serve: unexpected {rest:?}\n{HELP}").into()),
            }
        }
        _ => return Err(format!("serve needs --impl NAME\n{HELP}").into()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let addr = impls::start_server(imp, tls).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
        drop(out);
        let wait_for_eof = async {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            while let Ok(n) = stdin.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CHILD_LIFETIME, wait_for_eof).await;
        Ok::<_, BoxError>(())
    })?;
    // Connections may still be open: do not wait for their tasks.
    runtime.shutdown_background();
    Ok(())
}

/// A server child process; killed when dropped.
struct ServerChild {
    child: Child,
    addr: SocketAddr,
}

impl ServerChild {
    async fn spawn(imp: Impl, tls: Option<&TlsFiles>) -> Result<ServerChild, BoxError> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command.args(["serve", "--impl", imp.name()]);
        if let Some(files) = tls {
            command.arg("--tls").arg(&files.cert).arg(&files.key);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .map_err(|_| format!("the {imp} server did not start within 10 s"))??;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("the {imp} server printed {line:?}"))?;
        Ok(ServerChild { child, addr })
    }

    fn pid(&self) -> Result<u32, BoxError> {
        self.child.id().ok_or_else(|| "the server exited".into())
    }

    /// The child's resident set size in KiB (VmRSS of /proc/PID/status).
    fn rss_kib(&self) -> Result<u64, BoxError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| "no VmRSS in /proc/PID/status".into())
    }

    /// CPU time (user + system) the child used so far.
    fn cpu(&self) -> Result<Duration, BoxError> {
        cpu_of(&format!("/proc/{}/stat", self.pid()?))
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// User + system CPU time of a process, all threads, from /proc/PID/stat
/// (fields 14 and 15, in USER_HZ = 100 ticks per second on Linux).
fn cpu_of(path: &str) -> Result<Duration, BoxError> {
    let stat = std::fs::read_to_string(path)?;
    // The command name (field 2) may hold spaces: count from its closing ')'.
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, BoxError> {
        Ok(fields.get(i).ok_or("short stat")?.parse::<u64>()?)
    };
    // After ')': field 3 is at index 0, so utime (14) is 11 and stime (15) 12.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

// ---------------------------------------------------------------- the parent

/// The figures of one workload run.
#[derive(Clone, Debug, Default)]
struct Sample {
    calls_per_sec: f64,
    mb_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    kib_per_conn: f64,
    /// Server CPU time per call in the measured window.
    server_cpu_us: f64,
    /// Client (parent) CPU time per call in the measured window.
    client_cpu_us: f64,
}

fn run_main(options: Options) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run_all(&options));
    // Tasks of connections being torn down must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    let samples = result?;
    print!("{}", report(&options, &samples));
    Ok(())
}

type Samples = Vec<(Workload, Impl, Vec<Sample>)>;

/// The certificate of the `wss` workload: its files (for the server child)
/// and a client configuration trusting it.
type Tls = (TlsFiles, Arc<rustls::ClientConfig>);

async fn run_all(options: &Options) -> Result<Samples, BoxError> {
    let mut samples: Samples = Vec::new();
    for &w in &options.workloads {
        for &i in &options.impls {
            if w.runs_on(i) {
                samples.push((w, i, Vec::new()));
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("swaggersocket-bench-{}", std::process::id()));
    let tls = if options.workloads.contains(&Workload::Wss) {
        Some(TlsFiles::generate(&dir)?)
    } else {
        None
    };
    let result = run_each(options, tls.as_ref(), &mut samples).await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| samples)
}

async fn run_each(
    options: &Options,
    tls: Option<&Tls>,
    samples: &mut Samples,
) -> Result<(), BoxError> {
    for run in 0..options.runs {
        for &workload in &options.workloads {
            // Rotate the order each run, so that no implementation always
            // runs right after the same one.
            let mut order = options.impls.clone();
            let turn = run % order.len().max(1);
            order.rotate_left(turn);
            for imp in order.into_iter().filter(|i| workload.runs_on(*i)) {
                let sample = run_one(options, workload, imp, tls)
                    .await
                    .map_err(|e| format!("run {} of {} on {imp}: {e}", run + 1, workload.name()))?;
                eprintln!(
                    "run {} {:>5} {:>13}: {}",
                    run + 1,
                    workload.name(),
                    imp.name(),
                    describe(workload, &sample)
                );
                let slot = samples
                    .iter_mut()
                    .find(|(w, i, _)| *w == workload && *i == imp)
                    .ok_or("no slot")?;
                slot.2.push(sample);
                // Let the sockets of the last run wind down.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(())
}

fn describe(workload: Workload, s: &Sample) -> String {
    let figure = match workload {
        Workload::C1 => format!(
            "{:.0} calls/s, p50 {:.1} µs, p99 {:.1} µs",
            s.calls_per_sec, s.p50_us, s.p99_us
        ),
        Workload::C64 | Workload::Conns | Workload::Wss => {
            format!("{:.0} calls/s", s.calls_per_sec)
        }
        Workload::Big | Workload::Streams => format!("{:.1} MB/s", s.mb_per_sec),
        Workload::Idle => return format!("{:.2} KiB per connection", s.kib_per_conn),
    };
    format!(
        "{figure}; CPU per call: server {:.1} µs, client {:.1} µs",
        s.server_cpu_us, s.client_cpu_us
    )
}

async fn run_one(
    options: &Options,
    workload: Workload,
    imp: Impl,
    tls: Option<&Tls>,
) -> Result<Sample, BoxError> {
    let tls = match workload {
        Workload::Wss => Some(tls.ok_or("no certificate for the wss workload")?),
        _ => None,
    };
    let server = ServerChild::spawn(imp, tls.map(|(files, _)| files)).await?;
    let client_tls = tls.map(|(_, config)| config.clone());
    let small = options.small;
    let result = match workload {
        Workload::C1 => drive(options, imp, &server, None, 1, 1, small, true).await,
        Workload::C64 => drive(options, imp, &server, None, 1, 64, small, false).await,
        Workload::Big => drive(options, imp, &server, None, 1, 8, 64 << 10, false).await,
        Workload::Conns => drive(options, imp, &server, None, 200, 1, small, false).await,
        Workload::Idle => idle_memory(options, imp, &server).await,
        Workload::Wss => drive(options, imp, &server, client_tls, 1, 64, small, false).await,
        // `body` 0: each unit of work is a stream, not an echo.
        Workload::Streams => drive(options, imp, &server, None, 1, 100, 0, false).await,
    };
    server.stop().await;
    result
}

async fn connect_many(
    imp: Impl,
    addr: SocketAddr,
    n: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Vec<Conn>, BoxError> {
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(0..n)
        .map(|_| {
            let tls = tls.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(10), Conn::connect(imp, addr, tls))
                    .await
                    .map_err(|_| BoxError::from("connecting took over 10 s"))?
            }
        })
        .buffer_unordered(CONNECT_PARALLEL)
        .try_collect()
        .await
}

/// `callers` tasks per connection over `connections` connections (over TLS
/// with `tls`), each calling in a loop; measures after the warm-up for the
/// duration.
#[allow(clippy::too_many_arguments)]
async fn drive(
    options: &Options,
    imp: Impl,
    server: &ServerChild,
    tls: Option<Arc<rustls::ClientConfig>>,
    connections: usize,
    callers: usize,
    body: usize,
    latency: bool,
) -> Result<Sample, BoxError> {
    let conns: Vec<Arc<Conn>> = connect_many(imp, server.addr, connections, tls)
        .await?
        .into_iter()
        .map(Arc::new)
        .collect();
    // Without a body, each unit of work is a streamed response.
    let streams = body == 0;
    let payload = Arc::new(Payload::new(body));
    let start = Instant::now() + options.warmup;
    let end = start + options.duration;
    let mut tasks = Vec::new();
    for conn in &conns {
        for _ in 0..callers {
            let conn = conn.clone();
            let payload = payload.clone();
            tasks.push(tokio::spawn(async move {
                let mut calls = 0u64;
                let mut latencies = Vec::new();
                for _ in 0..MAX_CALLS_PER_CALLER {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let work = async {
                        if streams {
                            conn.stream().await
                        } else {
                            conn.call(&payload).await
                        }
                    };
                    tokio::time::timeout(CALL_LIMIT, work)
                        .await
                        .map_err(|_| format!("a call took over {} s", CALL_LIMIT.as_secs()))??;
                    let done = Instant::now();
                    if done >= start && done < end {
                        calls += 1;
                        if latency {
                            latencies.push(done - sent);
                        }
                    }
                }
                Ok::<_, BoxError>((calls, latencies))
            }));
        }
    }
    tokio::time::sleep_until(start.into()).await;
    let cpu_before = (server.cpu()?, cpu_of("/proc/self/stat")?);
    tokio::time::sleep_until(end.into()).await;
    let cpu_after = (server.cpu()?, cpu_of("/proc/self/stat")?);
    let mut calls = 0u64;
    let mut latencies = Vec::new();
    for task in tasks {
        let (n, lat) = task.await??;
        calls += n;
        latencies.extend(lat);
    }
    drop(conns);
    let secs = options.duration.as_secs_f64();
    let unit_bytes = if streams {
        impls::STREAM_CHUNKS * impls::STREAM_CHUNK
    } else {
        body
    };
    let calls_per_sec = calls as f64 / secs;
    let per_call = |before: Duration, after: Duration| {
        after.saturating_sub(before).as_secs_f64() * 1e6 / calls.max(1) as f64
    };
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e6
    };
    Ok(Sample {
        calls_per_sec,
        mb_per_sec: calls_per_sec * unit_bytes as f64 / 1e6,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        kib_per_conn: f64::NAN,
        server_cpu_us: per_call(cpu_before.0, cpu_after.0),
        client_cpu_us: per_call(cpu_before.1, cpu_after.1),
    })
}

/// Server RSS growth per idle connection: a few connections first (so that
/// one-time costs are paid), then `options.idle` more, each making one call
/// and then staying idle.
async fn idle_memory(
    options: &Options,
    imp: Impl,
    server: &ServerChild,
) -> Result<Sample, BoxError> {
    const FIRST: usize = 50;
    let payload = Payload::new(options.small);
    let settle = Duration::from_millis(500);
    let first = connect_many(imp, server.addr, FIRST, None).await?;
    for conn in &first {
        conn.call(&payload).await?;
    }
    tokio::time::sleep(settle).await;
    let before = server.rss_kib()?;
    let more = connect_many(imp, server.addr, options.idle, None).await?;
    for conn in &more {
        tokio::time::timeout(CALL_LIMIT, conn.call(&payload))
            .await
            .map_err(|_| "a call took too long")??;
    }
    tokio::time::sleep(settle).await;
    let after = server.rss_kib()?;
    drop(more);
    drop(first);
    Ok(Sample {
        kib_per_conn: after.saturating_sub(before) as f64 / options.idle as f64,
        calls_per_sec: f64::NAN,
        mb_per_sec: f64::NAN,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        server_cpu_us: f64::NAN,
        client_cpu_us: f64::NAN,
    })
}

// ---------------------------------------------------------------- the report

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One row of the table: what it measures, how to read it from a sample,
/// the target for swaggersocket (as a ratio to plain, or absolute).
struct Row {
    workload: Workload,
    label: &'static str,
    unit: &'static str,
    get: fn(&Sample) -> f64,
    target: Target,
}

enum Target {
    None,
    /// swaggersocket ÷ plain at least this.
    AtLeastRatio(f64),
    /// swaggersocket ÷ plain at most this.
    AtMostRatio(f64),
    /// swaggersocket's own figure at most this.
    AtMost(f64),
}

// The targets are issue 14's.
const ROWS: [Row; 10] = [
    Row {
        workload: Workload::C1,
        label: "concurrency 1, one connection",
        unit: "calls/s",
        get: |s| s.calls_per_sec,
        target: Target::AtLeastRatio(0.9),
    },
    Row {
        workload: Workload::C1,
        label: "concurrency 1, p50 latency",
        unit: "µs",
        get: |s| s.p50_us,
        target: Target::None,
    },
    Row {
        workload: Workload::C1,
        label: "concurrency 1, p99 latency",
        unit: "µs",
        get: |s| s.p99_us,
        target: Target::AtMostRatio(1.2),
    },
    Row {
        workload: Workload::C1,
        label: "concurrency 1, server CPU per call",
        unit: "µs",
        get: |s| s.server_cpu_us,
        target: Target::AtMostRatio(1.3),
    },
    Row {
        workload: Workload::C64,
        label: "64 in flight, one connection",
        unit: "calls/s",
        get: |s| s.calls_per_sec,
        target: Target::AtLeastRatio(0.8),
    },
    Row {
        workload: Workload::Big,
        label: "64 KiB bodies, 8 in flight",
        unit: "MB/s",
        get: |s| s.mb_per_sec,
        target: Target::AtLeastRatio(0.9),
    },
    Row {
        workload: Workload::Conns,
        label: "200 connections, 1 caller each",
        unit: "calls/s",
        get: |s| s.calls_per_sec,
        target: Target::AtLeastRatio(0.9),
    },
    Row {
        workload: Workload::Idle,
        label: "server memory per idle connection",
        unit: "KiB",
        get: |s| s.kib_per_conn,
        target: Target::AtMost(10.0),
    },
    Row {
        workload: Workload::Wss,
        label: "64 in flight, one wss:// connection",
        unit: "calls/s",
        get: |s| s.calls_per_sec,
        target: Target::None,
    },
    Row {
        workload: Workload::Streams,
        label: "100 streamed responses, one connection",
        unit: "MB/s",
        get: |s| s.mb_per_sec,
        target: Target::AtLeastRatio(0.8),
    },
];

fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v >= 1000.0 {
        format!("{:.0}", v)
    } else if v >= 100.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.2}", v)
    }
}

fn report(options: &Options, samples: &Samples) -> String {
    let figure = |w: Workload, i: Impl, get: fn(&Sample) -> f64| -> f64 {
        samples
            .iter()
            .find(|(sw, si, _)| *sw == w && *si == i)
            .map(|(_, _, runs)| median(runs.iter().map(get)))
            .unwrap_or(f64::NAN)
    };
    // The ratio to plain of each run (the implementations of one run ran
    // back to back, so they share the machine's load of the moment).
    let per_run_ratios = |w: Workload, i: Impl, get: fn(&Sample) -> f64| -> Vec<f64> {
        let runs = |imp: Impl| {
            samples
                .iter()
                .find(|(sw, si, _)| *sw == w && *si == imp)
                .map(|(_, _, runs)| runs.iter().map(get).collect::<Vec<f64>>())
                .unwrap_or_default()
        };
        runs(i)
            .iter()
            .zip(runs(Impl::Plain))
            .map(|(x, plain)| x / plain)
            .filter(|r| r.is_finite())
            .collect()
    };
    let mut out = String::new();
    out.push_str(&format!(
        "Medians of {} runs; {} s measured after {} s warm-up; small bodies {} B. \
         A ratio is the median of the per-run ratios to plain (the runs' \
         lowest and highest in brackets).\n\n",
        options.runs,
        options.duration.as_secs_f64(),
        options.warmup.as_secs_f64(),
        options.small
    ));
    out.push_str(
        "| workload | unit | swaggersocket | plain tokio-tungstenite | jsonrpsee \
         | swaggersocket ÷ plain | jsonrpsee ÷ plain | target | met |\n\
         |---|---|---:|---:|---:|---:|---:|---|---|\n",
    );
    for row in &ROWS {
        if !options.workloads.contains(&row.workload) {
            continue;
        }
        let ss = figure(row.workload, Impl::Swaggersocket, row.get);
        let plain = figure(row.workload, Impl::Plain, row.get);
        let rpc = figure(row.workload, Impl::Jsonrpsee, row.get);
        let ratio_of = |i: Impl| median(per_run_ratios(row.workload, i, row.get).into_iter());
        let ratio = |i: Impl| {
            let ratios = per_run_ratios(row.workload, i, row.get);
            if ratios.is_empty() {
                return "–".to_owned();
            }
            let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mid = median(ratios.into_iter());
            if options.runs > 1 {
                format!("{mid:.2}× ({low:.2}–{high:.2})")
            } else {
                format!("{mid:.2}×")
            }
        };
        let ss_ratio = ratio_of(Impl::Swaggersocket);
        let (target, met) = match row.target {
            Target::None => ("".to_owned(), None),
            Target::AtLeastRatio(r) => (format!("≥ {r}× plain"), Some(ss_ratio >= r)),
            Target::AtMostRatio(r) => (format!("≤ {r}× plain"), Some(ss_ratio <= r)),
            Target::AtMost(v) => (format!("≤ {v} {}", row.unit), Some(ss <= v)),
        };
        let met = match met {
            None => "",
            Some(true) => "yes",
            Some(false) => "**no**",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.label,
            row.unit,
            fmt_value(ss),
            fmt_value(plain),
            fmt_value(rpc),
            ratio(Impl::Swaggersocket),
            ratio(Impl::Jsonrpsee),
            target,
            met
        ));
    }
    let timed: Vec<Workload> = options
        .workloads
        .iter()
        .copied()
        .filter(|w| *w != Workload::Idle)
        .collect();
    if !timed.is_empty() {
        out.push_str(
            "\nCPU time per call in the measured window (user + system, µs; \
             server child / client parent):\n\n\
             | workload | swaggersocket | plain tokio-tungstenite | jsonrpsee |\n\
             |---|---:|---:|---:|\n",
        );
        for w in timed {
            let cell = |i: Impl| {
                let server = figure(w, i, |s| s.server_cpu_us);
                let client = figure(w, i, |s| s.client_cpu_us);
                if server.is_finite() {
                    format!("{server:.1} / {client:.1}")
                } else {
                    "–".into()
                }
            };
            let label = ROWS
                .iter()
                .find(|r| r.workload == w)
                .map_or("", |r| r.label);
            out.push_str(&format!(
                "| {label} | {} | {} | {} |\n",
                cell(Impl::Swaggersocket),
                cell(Impl::Plain),
                cell(Impl::Jsonrpsee)
            ));
        }
    }
    out
}
