swaggersocket_macros::openapi_socket!("no/such/spec.yaml");

fn main() {}
