//! The spec loader and generator end to end: text in, the module out as the
//! CLI writes it. Never panics; the output parses as Rust (checked for
//! inputs up to 1 KiB); every error names its place: a JSON pointer
//! (`#`, `#/paths/...`), and for text that does not parse, a line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swaggersocket_codegen::{format_file, generate, Options};

fuzz_target!(
    init: {
        // `openapiv3` panics on some malformed `$ref`-or-object values and
        // the loader catches that (codegen/src/load/v30.rs); libFuzzer's hook
        // would abort on it first. Panics from anywhere else still abort.
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let caught = info.location().is_some_and(|l| l.file().contains("openapiv3"));
            if !caught {
                abort(info);
            }
        }));
    },
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match generate(text, &Options::default()) {
            Ok(generated) => {
                for w in &generated.warnings {
                    assert!(w.pointer.starts_with('#'), "warning without a pointer: {w}");
                }
                // Parsing and formatting the output costs several times
                // what generating does (1 s and more for a 10 KB document
                // under the sanitizer): done for small inputs, which are
                // most of what the fuzzer tries.
                if data.len() > 1024 {
                    return;
                }
                // The generated module is valid Rust syntax (format_file
                // falls back to unformatted tokens when it is not).
                if let Err(e) = syn::parse2::<syn::File>(generated.tokens.clone()) {
                    panic!("generated code does not parse: {e}");
                }
                let file = format_file(&generated);
                assert!(file.contains("pub mod"), "no module in the output");
            }
            Err(errors) => {
                assert!(!errors.0.is_empty(), "an error with no diagnostic");
                for e in &errors.0 {
                    assert!(e.pointer.starts_with('#'), "error without a pointer: {e}");
                    assert!(!e.message.is_empty(), "error without a message at {}", e.pointer);
                    if e.message.starts_with("not a valid JSON document")
                        || e.message.starts_with("not a valid YAML document")
                    {
                        assert!(e.message.contains("line"), "parse error without a line: {e}");
                    }
                }
            }
        }
    }
);
