//! The server's upgrade and handshake reader, fed what a client sends:
//! byte 0 is the read size (0: whole), the rest the client's bytes from the
//! first byte of its HTTP upgrade request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    // Never panics, never hangs (the scripted peer ends), whatever comes.
    let _ = runtime().block_on(swaggersocket::__fuzz::handshake_server(data));
});
