//! The build-script way: generate the petstore module into OUT_DIR.

fn main() {
    let generated = swaggersocket_codegen::Builder::new("../../fixtures/petstore.yaml")
        .name("petstore")
        .generate();
    if let Err(error) = generated {
        eprintln!("{error}");
        std::process::exit(1);
    }
}
