swaggersocket_macros::openapi_socket!(spec = "ui-specs/dangling.yaml", colour = blue);

fn main() {}
