swaggersocket_macros::openapi_socket!("ui-specs/bad.yaml");

fn main() {}
