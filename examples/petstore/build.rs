//! The build-script way: generate the petstore and kennel modules into OUT_DIR.

fn main() {
    let generated = swaggersocket_codegen::Builder::new("../../fixtures/petstore.yaml")
        .name("petstore")
        .generate();
    if let Err(error) = generated {
        eprintln!("{error}");
        std::process::exit(1);
    }
    // A document split over several files: every file it reads is watched.
    let generated = swaggersocket_codegen::Builder::new("../../fixtures/multi-file/api.yaml")
        .name("kennel")
        .generate();
    if let Err(error) = generated {
        eprintln!("{error}");
        std::process::exit(1);
    }
}
