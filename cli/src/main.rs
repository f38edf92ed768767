//! `swaggersocket-gen`: generate typed Rust from an OpenAPI document.
//!
//! A thin layer over [`swaggersocket_codegen::generate`]: it reads the file,
//! calls the generator, formats the tokens and reports diagnostics. Exit
//! codes: 0 success, 1 errors in the spec, 2 usage or I/O errors.

use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use swaggersocket_codegen::{format_file, generate_at, Generated, Options, Selection};

#[derive(Parser, Debug)]
#[command(
    name = "swaggersocket-gen",
    version,
    about = "Generate a typed server trait and client stub from an OpenAPI document (Swagger 2.0, OpenAPI 3.0, 3.1, 3.2), for REST over websocket with the swaggersocket runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write the generated Rust module to a file or stdout
    Generate {
        #[command(flatten)]
        spec: SpecArgs,
        /// Write to FILE instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Validate the document and report what would be generated
    Check {
        #[command(flatten)]
        spec: SpecArgs,
    },
}

#[derive(Args, Debug)]
struct SpecArgs {
    /// The API description: Swagger 2.0 or OpenAPI 3.0/3.1/3.2, YAML or JSON; `$ref`s to other files are read relative to it
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// Name of the generated module (snake_case; default: from info.title)
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Generate only the types, server trait and server adapter
    #[arg(long, conflicts_with = "client_only")]
    server_only: bool,
    /// Generate only the types and client stub
    #[arg(long)]
    client_only: bool,
    /// Treat warnings (constructs typed as serde_json::Value) as errors
    #[arg(long)]
    strict: bool,
    /// Path of the runtime crate in generated code
    #[arg(long, value_name = "PATH", default_value = "::swaggersocket")]
    crate_path: String,
    /// Generate only the operations with this tag (repeatable; with
    /// --operation, the operations of either), and the types they use
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Generate only this operation, by operationId or "METHOD /path"
    /// (repeatable)
    #[arg(long = "operation", value_name = "ID")]
    operations: Vec<String>,
    /// Leave out the operations with this tag (repeatable)
    #[arg(long = "exclude-tag", value_name = "TAG")]
    exclude_tags: Vec<String>,
    /// Leave out this operation (repeatable)
    #[arg(long = "exclude-operation", value_name = "ID")]
    exclude_operations: Vec<String>,
}

impl SpecArgs {
    fn options(&self) -> Options {
        Options {
            name: self.name.clone(),
            server: !self.client_only,
            client: !self.server_only,
            strict: self.strict,
            crate_path: Some(self.crate_path.clone()),
            select: Selection {
                tags: self.tags.clone(),
                operations: self.operations.clone(),
                exclude_tags: self.exclude_tags.clone(),
                exclude_operations: self.exclude_operations.clone(),
            },
        }
    }
}

/// Why the command failed, and its exit code.
enum Failure {
    /// The spec has errors (exit 1); each was already printed.
    Spec,
    /// Usage or I/O (exit 2).
    Io(String),
}

fn read_spec(path: &Path) -> Result<String, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::Io(format!("cannot read {}: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|e| {
        eprintln!(
            "error: {}: #: not a YAML or JSON document: invalid UTF-8 at byte {}",
            path.display(),
            e.utf8_error().valid_up_to()
        );
        Failure::Spec
    })
}

fn run_generator(args: &SpecArgs) -> Result<Generated, Failure> {
    let source = read_spec(&args.spec)?;
    generate_at(&source, &args.spec, &args.options()).map_err(|errors| {
        for d in errors.diagnostics() {
            eprintln!("error: {}: {d}", args.spec.display());
        }
        Failure::Spec
    })
}

fn print_warnings(spec: &Path, generated: &Generated) {
    for w in &generated.warnings {
        eprintln!("warning: {}: {w}", spec.display());
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Generate { spec, output } => {
            let generated = run_generator(&spec)?;
            print_warnings(&spec.spec, &generated);
            let code = format_file(&generated);
            // The process ends here: freeing a large API's token tree one
            // token at a time would take a quarter of the run.
            std::mem::forget(generated);
            match output {
                Some(path) => std::fs::write(&path, code)
                    .map_err(|e| Failure::Io(format!("cannot write {}: {e}", path.display())))?,
                None => std::io::stdout()
                    .lock()
                    .write_all(code.as_bytes())
                    .map_err(|e| Failure::Io(format!("cannot write to stdout: {e}")))?,
            }
            Ok(())
        }
        Command::Check { spec } => {
            let generated = run_generator(&spec)?;
            print_warnings(&spec.spec, &generated);
            let s = generated.stats;
            println!(
                "{}: ok: {} operations, {} types, {} warnings, {} fallbacks to serde_json::Value",
                spec.spec.display(),
                s.operations,
                s.types,
                generated.warnings.len(),
                s.fallbacks
            );
            std::mem::forget(generated);
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Spec) => ExitCode::from(1),
        Err(Failure::Io(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
