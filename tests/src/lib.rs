//! The generated code of every fixture in `fixtures/`, compiled under the
//! workspace's lints; the tests in `tests/` exercise it.

include!(concat!(env!("OUT_DIR"), "/petstore.rs"));
include!(concat!(env!("OUT_DIR"), "/petstore_expanded.rs"));
include!(concat!(env!("OUT_DIR"), "/kitchen_sink.rs"));
include!(concat!(env!("OUT_DIR"), "/operations.rs"));
include!(concat!(env!("OUT_DIR"), "/names.rs"));
include!(concat!(env!("OUT_DIR"), "/routing.rs"));
include!(concat!(env!("OUT_DIR"), "/allof_oneof.rs"));
include!(concat!(env!("OUT_DIR"), "/form_empty_object.rs"));
include!(concat!(env!("OUT_DIR"), "/streaming.rs"));
include!(concat!(env!("OUT_DIR"), "/scalar_enums.rs"));
include!(concat!(env!("OUT_DIR"), "/read_only_ref.rs"));
include!(concat!(env!("OUT_DIR"), "/selection.rs"));
include!(concat!(env!("OUT_DIR"), "/deep_types.rs"));
include!(concat!(env!("OUT_DIR"), "/operations_server_only.rs"));
include!(concat!(env!("OUT_DIR"), "/operations_client_only.rs"));
include!(concat!(env!("OUT_DIR"), "/selection_pets.rs"));
include!(concat!(env!("OUT_DIR"), "/swagger2.rs"));
include!(concat!(env!("OUT_DIR"), "/oas31.rs"));
include!(concat!(env!("OUT_DIR"), "/oas32.rs"));
include!(concat!(env!("OUT_DIR"), "/multi_file.rs"));
include!(concat!(env!("OUT_DIR"), "/same_v2.rs"));
include!(concat!(env!("OUT_DIR"), "/same_v30.rs"));
include!(concat!(env!("OUT_DIR"), "/same_v31.rs"));
