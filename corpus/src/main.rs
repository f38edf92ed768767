//! `swaggersocket-corpus`: runs the generator over every OpenAPI document of
//! a folder (by default `../shared/specs`), compiles the generated code of
//! each in a scratch crate with `-D warnings`, sends one request per
//! operation to its `ApiService` over an implementation that implements
//! nothing (each must answer the 501 of that very operation), and writes the
//! results as a Markdown table (`CORPUS.md`).
//!
//! ```text
//! swaggersocket-corpus [--specs DIR] [--out FILE] [--only NAME,...] [--skip NAME,...]
//!                      [--no-compile NAME,...] [--generate-only] [--no-route] [--report-only]
//!                      [--timeout SECS]
//! ```
//!
//! Scratch crates live in `$CARGO_TARGET_DIR/corpus/<name>/` (default
//! `target/`), share one target directory so the runtime builds once, and use
//! a copy of the repository's `Cargo.lock` with `--offline`. Results of
//! earlier runs are kept in `corpus/results.json` there, so a run over a few
//! documents updates their rows and keeps the others; `--report-only`
//! rewrites the table from them without running anything.

mod sample;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

struct Args {
    specs: PathBuf,
    out: Option<PathBuf>,
    only: Vec<String>,
    skip: Vec<String>,
    no_compile: Vec<String>,
    compile: bool,
    route: bool,
    report_only: bool,
    timeout: Duration,
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        specs: PathBuf::from("../shared/specs"),
        out: Some(PathBuf::from("CORPUS.md")),
        only: Vec::new(),
        skip: Vec::new(),
        no_compile: Vec::new(),
        compile: true,
        route: true,
        report_only: false,
        timeout: Duration::from_secs(1800),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--specs" => args.specs = value()?.into(),
            "--out" => {
                let v = value()?;
                args.out = (v != "-").then(|| v.into());
            }
            "--only" => args.only.extend(list(&value()?)),
            "--skip" => args.skip.extend(list(&value()?)),
            "--no-compile" => args.no_compile.extend(list(&value()?)),
            "--generate-only" => args.compile = false,
            "--no-route" => args.route = false,
            "--report-only" => args.report_only = true,
            "--timeout" => {
                let v = value()?;
                args.timeout = Duration::from_secs(
                    v.parse()
                        .map_err(|_| format!("--timeout: `{v}` is not seconds"))?,
                );
            }
            "-h" | "--help" => {
                return Err("usage: swaggersocket-corpus [--specs DIR] [--out FILE|-] [--only NAMES] [--skip NAMES] [--no-compile NAMES] [--generate-only] [--no-route] [--report-only] [--timeout SECS]".into())
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(args)
}

/// A document's name without its extension: `stripe.yaml` → `stripe`.
fn stem(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(s, _)| s)
}

fn matches(names: &[String], file: &str) -> bool {
    names.iter().any(|n| n == file || n == stem(file))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    let scratch = std::path::absolute(target.join("corpus")).unwrap_or(target.join("corpus"));
    let mut files: Vec<String> = match std::fs::read_dir(&args.specs) {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".json") || f.ends_with(".yaml") || f.ends_with(".yml"))
            .collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.specs.display());
            return ExitCode::from(2);
        }
    };
    files.sort();
    let results_path = scratch.join("results.json");
    let mut results: serde_json::Map<String, Value> = std::fs::read_to_string(&results_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    // Smallest first: their rows arrive early.
    let mut order = files.clone();
    order.sort_by_key(|f| {
        std::fs::metadata(args.specs.join(f))
            .map(|m| m.len())
            .unwrap_or(0)
    });
    if args.report_only {
        order.clear();
    }
    let mut warmed = false;
    let mut failed = false;
    for file in &order {
        if (!args.only.is_empty() && !matches(&args.only, file)) || matches(&args.skip, file) {
            continue;
        }
        let compile = args.compile && !matches(&args.no_compile, file);
        if compile && !warmed {
            // Build the dependencies once, so that check times are the
            // generated code's own.
            warmed = true;
            if let Err(e) = warm_up(&repo, &scratch, args.route, args.timeout) {
                eprintln!("cannot build the runtime for the scratch crates:\n{e}");
                return ExitCode::from(2);
            }
        }
        let row = run_one(&args, &repo, &scratch, file, compile);
        failed |= row["ok"] == Value::Bool(false);
        eprintln!("{file}: {}", row["summary"].as_str().unwrap_or_default());
        results.insert(file.clone(), row);
        if std::fs::create_dir_all(&scratch).is_ok() {
            let _ = std::fs::write(
                &results_path,
                serde_json::to_string_pretty(&results).unwrap_or_default(),
            );
        }
        if let Some(out) = &args.out {
            if let Err(e) = write_report(out, &files, &results) {
                eprintln!("cannot write {}: {e}", out.display());
                return ExitCode::from(2);
            }
        }
    }
    if args.report_only {
        if let Some(out) = &args.out {
            if let Err(e) = write_report(out, &files, &results) {
                eprintln!("cannot write {}: {e}", out.display());
                return ExitCode::from(2);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The version from the text, for documents the YAML reader here refuses.
fn version_line(source: &str) -> Option<String> {
    source.lines().take(50).find_map(|line| {
        let line = line.trim().trim_start_matches('"');
        let rest = line
            .strip_prefix("openapi")
            .or_else(|| line.strip_prefix("swagger"))?;
        let value = rest
            .trim_start_matches('"')
            .trim_start()
            .strip_prefix(':')?;
        let value = value
            .trim()
            .trim_matches(|c| c == '"' || c == '\'' || c == ',');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// A generation the generator reads: Swagger 2.0, OpenAPI 3.0, 3.1 and 3.2
/// (any patch: `3.0.3`, `3.1.0`, `3.2.0`).
fn supported(version: &str) -> bool {
    let mut parts = version.split('.');
    matches!(
        (parts.next(), parts.next()),
        (Some("2"), Some("0")) | (Some("3"), Some("0" | "1" | "2"))
    )
}

/// Runs one document; the row of the table as JSON.
fn run_one(args: &Args, repo: &Path, scratch: &Path, file: &str, compile: bool) -> Value {
    let mut row = json!({ "file": file, "ok": true });
    let path = args.specs.join(file);
    let source = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            row["generated"] = json!(format!("unreadable: {e}"));
            row["ok"] = json!(false);
            row["summary"] = row["generated"].clone();
            return row;
        }
    };
    let document = sample::parse(&source).unwrap_or(Value::Null);
    let version = document
        .get("openapi")
        .or_else(|| document.get("swagger"))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .or_else(|| version_line(&source))
        .unwrap_or_else(|| "?".into());
    row["version"] = json!(version);
    let options = swaggersocket_codegen::Options {
        name: Some("api".into()),
        ..Default::default()
    };
    let started = Instant::now();
    // From the file, so that `$ref`s to other files resolve.
    let outcome =
        std::panic::catch_unwind(|| swaggersocket_codegen::generate_file(&path, &options));
    row["generate_ms"] = json!(started.elapsed().as_millis() as u64);
    let generated = match outcome {
        Err(_) => {
            row["generated"] = json!("PANIC");
            row["ok"] = json!(false);
            row["summary"] = json!("generator panicked");
            return row;
        }
        Ok(Err(errors)) => {
            let text = errors.to_string();
            let lines = text.lines().count();
            let first = text.lines().next().unwrap_or_default().to_owned();
            // Only a version the generator does not know (1.x, 4.x, none)
            // is refused on purpose, in one line naming it.
            let expected = !supported(&version) && lines == 1;
            row["generated"] = json!(if expected {
                format!("refused: {first}")
            } else {
                format!("ERROR ({lines} lines): {first}")
            });
            row["ok"] = json!(expected);
            row["summary"] = row["generated"].clone();
            return row;
        }
        Ok(Ok(g)) => g,
    };
    row["generated"] = json!("yes");
    row["operations"] = json!(generated.stats.operations);
    row["types"] = json!(generated.stats.types);
    row["fallbacks"] = json!(generated.stats.fallbacks);
    row["warnings"] = json!(generated.warnings.len());
    let code = swaggersocket_codegen::format_file(&generated);
    row["lines"] = json!(code.lines().count());
    row["summary"] = json!(format!(
        "generated {} operations, {} types, {} warnings",
        generated.stats.operations,
        generated.stats.types,
        generated.warnings.len()
    ));
    if !compile {
        row["compiled"] = json!("not tried");
        return row;
    }
    let name = stem(file)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect::<String>();
    let dir = scratch.join(&name);
    let docs = sample::Docs::new(&path, document);
    let cases: Vec<sample::Case> = generated
        .operations
        .iter()
        .map(|op| sample::case(&docs, op.into()))
        .collect();
    if let Err(e) = write_crate(repo, &dir, &name, &code, &cases, args.route) {
        row["compiled"] = json!(format!("cannot write the crate: {e}"));
        row["ok"] = json!(false);
        return row;
    }
    let target_dir = scratch.join("target");
    let started = Instant::now();
    let check = cargo(&dir, &target_dir, "check", args.timeout);
    row["check_s"] = json!(started.elapsed().as_secs_f64());
    match check {
        Ok(log) => {
            row["compiled"] = json!("yes");
            let _ = log;
        }
        Err(log) => {
            let errors = log.lines().filter(|l| l.starts_with("error")).count();
            let first = log
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or("")
                .to_owned();
            row["compiled"] = json!(format!("NO ({errors} errors)"));
            row["compile_error"] = json!(first);
            row["ok"] = json!(false);
            row["summary"] = json!(format!("compile failed: {first}"));
            return row;
        }
    }
    if !args.route {
        return row;
    }
    let started = Instant::now();
    let run = cargo(&dir, &target_dir, "run", args.timeout);
    row["route_s"] = json!(started.elapsed().as_secs_f64());
    let log = match run {
        Ok(log) | Err(log) => log,
    };
    let routed = log
        .lines()
        .find_map(|l| l.strip_prefix("ROUTED\t"))
        .map(|r| r.replace('\t', "/"));
    let failures: Vec<&str> = log.lines().filter(|l| l.starts_with("FAIL\t")).collect();
    row["routed"] = json!(routed
        .clone()
        .unwrap_or_else(|| "NO (harness failed)".into()));
    row["route_failures"] = json!(failures.iter().take(20).collect::<Vec<_>>());
    row["route_failure_count"] = json!(failures.len());
    if routed.is_none() || !failures.is_empty() {
        row["ok"] = json!(false);
    }
    row["summary"] = json!(format!(
        "compiled; routed {}",
        routed.unwrap_or_else(|| "NO".into())
    ));
    row
}

/// Checks (and, for routing, builds) an empty scratch crate.
fn warm_up(repo: &Path, scratch: &Path, route: bool, timeout: Duration) -> Result<(), String> {
    let dir = scratch.join("warm_up");
    write_crate(repo, &dir, "warm_up", "", &[], false).map_err(|e| e.to_string())?;
    let target = scratch.join("target");
    cargo(&dir, &target, "check", timeout)?;
    if route {
        cargo(&dir, &target, "build", timeout)?;
    }
    Ok(())
}

fn write_crate(
    repo: &Path,
    dir: &Path,
    name: &str,
    code: &str,
    cases: &[sample::Case],
    route: bool,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    let runtime = std::path::absolute(repo.join("runtime"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"corpus-{pkg}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nswaggersocket = {{ path = {runtime:?}, default-features = false, features = [\"codegen\"] }}\n\n\
             [profile.dev]\ndebug = 0\nincremental = false\n\n[workspace]\n",
            pkg = name.replace('_', "-"),
            runtime = runtime.display().to_string(),
        ),
    )?;
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    std::fs::write(dir.join("src/generated.rs"), code)?;
    std::fs::write(
        dir.join("src/lib.rs"),
        "//! The generated code of one corpus document.\n#![allow(missing_docs)]\npub mod generated;\n",
    )?;
    let main = if route {
        harness(name, cases)
    } else {
        "fn main() {}\n".to_owned()
    };
    std::fs::write(dir.join("src/main.rs"), main)
}

/// The routing test: one request per operation to `ApiService` over an
/// implementation that implements nothing.
fn harness(name: &str, cases: &[sample::Case]) -> String {
    let mut table = String::new();
    for c in cases {
        let headers: Vec<String> = c
            .headers
            .iter()
            .map(|(k, v)| format!("({k:?}, {v:?})"))
            .collect();
        table.push_str(&format!(
            "    ({:?}, {:?}, {:?}, &[{}], {:?}),\n",
            c.id,
            c.method,
            c.uri,
            headers.join(", "),
            String::from_utf8_lossy(&c.body),
        ));
    }
    format!(
        r#"//! Routing test written by swaggersocket-corpus: every operation must
//! answer the 501 that names it.
use corpus_{name}::generated::api as g;
use std::future::Future;
use std::task::{{Context, Poll, Waker}};
use swaggersocket::codegen::{{http, Bytes}};

struct Unimplemented;
impl g::Api for Unimplemented {{}}

type Case = (&'static str, &'static str, &'static str, &'static [(&'static str, &'static str)], &'static str);

static CASES: &[Case] = &[
{table}];

fn block_on<F: Future>(future: F) -> F::Output {{
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {{
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {{
            return value;
        }}
        std::thread::yield_now();
    }}
}}

fn main() {{
    let service = g::ApiService::new(Unimplemented);
    let mut routed = 0;
    for (id, method, uri, headers, body) in CASES {{
        let mut request = http::Request::builder().method(*method).uri(*uri);
        for (k, v) in headers.iter() {{
            request = request.header(*k, *v);
        }}
        let request = match request.body(Bytes::from_static(body.as_bytes())) {{
            Ok(r) => r,
            Err(e) => {{
                println!("FAIL\t{{id}}\t{{method}} {{uri}}\tinvalid request: {{e}}");
                continue;
            }}
        }};
        let response = block_on(service.handle(request));
        let text = String::from_utf8_lossy(response.body().as_full().map_or(&[][..], |b| &b[..]));
        let expected = format!("operation `{{id}}` is not implemented by this server");
        if response.status().as_u16() == 501 && text.contains(&expected) {{
            routed += 1;
        }} else {{
            let short: String = text.chars().take(300).collect();
            println!("FAIL\t{{id}}\t{{method}} {{uri}}\t{{}}\t{{}}", response.status().as_u16(), short.replace('\n', " "));
        }}
    }}
    println!("ROUTED\t{{routed}}\t{{}}", CASES.len());
}}
"#
    )
}

/// Runs `cargo <sub>` in a scratch crate with `-D warnings`; its output
/// (stdout then stderr), as `Ok` if it succeeded.
fn cargo(dir: &Path, target: &Path, sub: &str, timeout: Duration) -> Result<String, String> {
    let log_path = dir.join(format!("{sub}.log"));
    let out_path = dir.join(format!("{sub}.out"));
    let (Ok(log), Ok(out)) = (
        std::fs::File::create(&log_path),
        std::fs::File::create(&out_path),
    ) else {
        return Err("cannot create the log files".into());
    };
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .arg(sub)
        .args(["--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env("RUSTFLAGS", "-D warnings")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(log);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return Err(format!("cannot run cargo: {e}")),
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > timeout => {
                // The whole process group: cargo and its rustc children.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(_) => break None,
        }
    };
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    match status {
        Some(s) if s.success() => Ok(text),
        Some(_) => Err(text),
        None => Err(format!("error: timed out after {timeout:?}\n{text}")),
    }
}

fn cell(row: &Value, key: &str) -> String {
    match row.get(key) {
        None | Some(Value::Null) => "—".into(),
        Some(Value::String(s)) => s.replace('|', "\\|"),
        Some(v) => v.to_string(),
    }
}

fn write_report(
    out: &Path,
    files: &[String],
    results: &serde_json::Map<String, Value>,
) -> std::io::Result<()> {
    const END: &str = "<!-- end of the generated part; notes below are kept -->";
    let kept = std::fs::read_to_string(out)
        .ok()
        .and_then(|t| t.split_once(END).map(|(_, rest)| rest.to_owned()))
        .unwrap_or_else(|| "\n".into());
    let mut text = String::from(
        "# Corpus: the generator on real OpenAPI documents\n\n\
         Written by `scripts/corpus` (`swaggersocket-corpus`) from the documents in\n\
         `../shared/specs`. *generated*: `generate_file()` succeeded; every Swagger 2.0\n\
         and OpenAPI 3.0, 3.1 and 3.2 document is expected to (only other versions, 1.x\n\
         or 4.x, are refused, with a one-line error naming the version);\n\
         *compiled*: `cargo check` of a scratch crate holding\n\
         the generated module, with `RUSTFLAGS=\"-D warnings\"`; *routed*: operations\n\
         whose request reached the right default method of `Api` (501 naming the\n\
         operation) through `ApiService`. Times are wall-clock on a shared 2-core\n\
         machine; *check* is `cargo check` of the scratch crate and *build + route* the\n\
         debug build and run of its routing harness, both without the dependencies\n\
         (built once beforehand).\n\n\
         | file | version | operations | types | warnings | fallbacks | generated | compiled | routed | generate | lines | check | build + route |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut details = String::new();
    let mut refusals: Vec<&str> = Vec::new();
    for file in files {
        let Some(row) = results.get(file) else {
            text.push_str(&format!("| {file} | | | | | | not run | | | | | | |\n"));
            continue;
        };
        let mut generated = cell(row, "generated");
        if let Some(message) = row
            .get("generated")
            .and_then(Value::as_str)
            .and_then(|g| g.strip_prefix("refused: "))
        {
            if !refusals.contains(&message) {
                refusals.push(message);
            }
            generated = "refused".into();
        }
        let ms = row.get("generate_ms").and_then(Value::as_u64);
        let check = row.get("check_s").and_then(Value::as_f64);
        let route = row.get("route_s").and_then(Value::as_f64);
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            file,
            cell(row, "version"),
            cell(row, "operations"),
            cell(row, "types"),
            cell(row, "warnings"),
            cell(row, "fallbacks"),
            generated,
            cell(row, "compiled"),
            cell(row, "routed"),
            ms.map_or("—".into(), |ms| format!("{:.2} s", ms as f64 / 1000.0)),
            cell(row, "lines"),
            check.map_or("—".into(), |s| format!("{s:.0} s")),
            route.map_or("—".into(), |s| format!("{s:.0} s")),
        ));
        if let Some(e) = row.get("compile_error").and_then(Value::as_str) {
            details.push_str(&format!("- {file}: first compile error: `{e}`\n"));
        }
        if let Some(fails) = row.get("route_failures").and_then(Value::as_array) {
            if !fails.is_empty() {
                details.push_str(&format!(
                    "- {file}: {} operations not routed, first ones:\n",
                    cell(row, "route_failure_count")
                ));
                for f in fails.iter().take(5).filter_map(Value::as_str) {
                    details.push_str(&format!("  - `{}`\n", f.replace('\t', " · ")));
                }
            }
        }
    }
    if !refusals.is_empty() {
        text.push_str(
            "\n*refused* (a version the generator does not read): the one-line error, one of:\n\n",
        );
        for r in refusals {
            text.push_str(&format!("- `{r}`\n"));
        }
    }
    if !details.is_empty() {
        text.push_str("\nFailures:\n\n");
        text.push_str(&details);
    }
    text.push('\n');
    text.push_str(END);
    text.push_str(&kept);
    std::fs::write(out, text)
}
