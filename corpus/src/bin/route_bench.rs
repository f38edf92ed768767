//! How long routing one request takes in the generated server, by the size
//! of the API: the runtime's `Router` (what generated servers use) against
//! trying every path template in turn (what they did before), for the first
//! and the last operation of each document.
//!
//! ```text
//! cargo run --release -p swaggersocket-corpus --bin route_bench -- \
//!     fixtures/petstore.yaml ../shared/specs/github-rest.json ../shared/specs/cloudflare.json
//! ```
//!
//! Prints a markdown table; each figure is the median of 7 batches.

#[path = "common/timing.rs"]
mod timing;
use std::path::Path;
use swaggersocket::api::param::match_path;
use swaggersocket::api::route::{Route, Routed, Router};
use timing::time_ns;

/// A concrete path for a template: every `{param}` becomes `v1`.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in template.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("v1");
            }
            '}' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

struct Table {
    routes: Vec<Route>,
    /// (method, template) of every operation, in document order.
    ops: Vec<(&'static str, &'static str)>,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn table(path: &Path) -> Result<Table, String> {
    let options = swaggersocket_codegen::Options {
        name: Some("api".into()),
        ..Default::default()
    };
    let generated = swaggersocket_codegen::generate_file(path, &options)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut keys: Vec<&str> = Vec::new();
    for op in &generated.operations {
        if !keys.contains(&op.path.as_str()) {
            keys.push(&op.path);
        }
    }
    let routes = keys
        .iter()
        .map(|key| {
            let methods: Vec<(&'static str, usize)> = generated
                .operations
                .iter()
                .enumerate()
                .filter(|(_, o)| o.path == *key)
                .map(|(i, o)| (leak(&o.method), i))
                .collect();
            let (template, fixed) = match key.split_once('?') {
                Some((t, q)) => (t, Some(leak(q))),
                None => (*key, None),
            };
            Route {
                template: leak(template),
                fixed_query: fixed,
                methods: Box::leak(methods.into_boxed_slice()),
            }
        })
        .collect();
    let ops = generated
        .operations
        .iter()
        .map(|o| {
            (
                leak(&o.method),
                leak(o.path.split('?').next().unwrap_or("")),
            )
        })
        .collect();
    Ok(Table { routes, ops })
}

fn main() -> std::process::ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: route_bench SPEC...");
        return std::process::ExitCode::from(2);
    }
    println!(
        "| document | operations | path keys | router, first op | router, last op | \
         every template in turn, last op | in turn ÷ router |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for file in files {
        let table = match table(Path::new(&file)) {
            Ok(table) => table,
            Err(e) => {
                eprintln!("route_bench: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let router = Router::new(&table.routes);
        let (Some(&first), Some(&last)) = (table.ops.first(), table.ops.last()) else {
            eprintln!("route_bench: {file} has no operations");
            return std::process::ExitCode::FAILURE;
        };
        let request = |(method, template): (&str, &str)| {
            let method = http::Method::from_bytes(method.as_bytes()).expect("a method");
            let uri: http::Uri = concrete(template).parse().expect("a path");
            (method, uri)
        };
        let (m_first, u_first) = request(first);
        let (m_last, u_last) = request(last);
        for (m, u) in [(&m_first, &u_first), (&m_last, &u_last)] {
            if !matches!(router.route(m, u), Routed::Operation(..)) {
                eprintln!("route_bench: {file}: {m} {u} does not route");
                return std::process::ExitCode::FAILURE;
            }
        }
        let first_ns =
            time_ns(|| matches!(router.route(&m_first, &u_first), Routed::Operation(..)));
        let last_ns = time_ns(|| matches!(router.route(&m_last, &u_last), Routed::Operation(..)));
        // Before: every template tried in turn until one matches (with its
        // captures allocated), as the generated `__dispatch` did.
        let path = u_last.path().to_owned();
        let linear_ns = time_ns(|| {
            table
                .routes
                .iter()
                .any(|r| match_path(r.template, &path).is_some() && r.template == last.1)
        });
        let name = Path::new(&file)
            .file_name()
            .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
        println!(
            "| {name} | {} | {} | {first_ns:.0} ns | {last_ns:.0} ns | {linear_ns:.0} ns | {:.1}× |",
            table.ops.len(),
            table.routes.len(),
            linear_ns / last_ns
        );
    }
    std::process::ExitCode::SUCCESS
}
