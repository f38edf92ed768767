//! Generates code for a spec and reports time, peak memory and counts.
//!
//! `cargo run --release -p swaggersocket-codegen --example generate -- SPEC [--print]`

#![allow(clippy::unwrap_used)]

use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: generate SPEC [--print]");
        std::process::exit(2);
    };
    let print = args.any(|a| a == "--print");
    let start = Instant::now();
    // Reading the file is part of it: a document may be several files.
    let result = swaggersocket_codegen::generate_file(&path, &Default::default());
    let elapsed = start.elapsed();
    match result {
        Ok(generated) => {
            let code = generated.tokens.to_string();
            if print {
                let file: syn::File = syn::parse2(generated.tokens.clone()).unwrap();
                println!("{}", prettyplease::unparse(&file));
            }
            for w in &generated.warnings {
                eprintln!("warning: {w}");
            }
            eprintln!(
                "{path}: {:.3} s, peak RSS {} MiB, {} operations, {} types, {} fallbacks, {} warnings, {} bytes of tokens",
                elapsed.as_secs_f64(),
                peak_rss_kib().unwrap_or(0) / 1024,
                generated.stats.operations,
                generated.stats.types,
                generated.stats.fallbacks,
                generated.warnings.len(),
                code.len()
            );
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{path}: failed after {:.3} s", elapsed.as_secs_f64());
            std::process::exit(1);
        }
    }
}
