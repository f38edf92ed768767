swaggersocket_macros::openapi_socket!(spec = "ui-specs/dangling.yaml", name = dangling);

fn main() {}
