//! Generating a selection of the operations (`fixtures/selection.yaml`):
//! the operations kept, the types they reach and nothing else, stable names,
//! and an error for a name that matches nothing.

use bytes::Bytes;
use swaggersocket::api::{Context, ServerError};
use swaggersocket_codegen::{generate, Generated, Options, Selection};
use swaggersocket_tests::selection_pets::{types, Api, ApiService, ListPetsResponse};

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/selection.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn select(select: Selection) -> Result<Generated, String> {
    let options = Options {
        select,
        ..Options::default()
    };
    generate(&fixture(), &options).map_err(|e| e.to_string())
}

fn names(generated: &Generated) -> Vec<&str> {
    generated.operations.iter().map(|o| o.id.as_str()).collect()
}

/// Whether the generated code defines the type `name`.
fn defines(generated: &Generated, name: &str) -> bool {
    let code = generated.tokens.to_string();
    code.contains(&format!("pub struct {name} "))
        || code.contains(&format!("pub enum {name} "))
        || code.contains(&format!("pub type {name} "))
}

#[test]
fn a_tag_keeps_its_operations_and_the_types_they_reach() {
    let all = select(Selection::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&all), ["listPets", "DELETE /pets/{id}", "placeOrder"]);
    assert_eq!(all.stats.types, 5);
    let pets = select(Selection {
        tags: vec!["pets".into()],
        ..Selection::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&pets), ["listPets", "DELETE /pets/{id}"]);
    assert_eq!(pets.stats.types, 2);
    assert!(defines(&pets, "Pet") && defines(&pets, "Owner"));
    for gone in ["Order", "OrderStatus", "Unused", "PlaceOrderResponse"] {
        assert!(!defines(&pets, gone), "{gone} is still generated");
    }
    // The default function of `Order.quantity` went with `Order`.
    assert!(!pets.tokens.to_string().contains("fn order_quantity"));
}

#[test]
fn operations_and_exclusions_combine() {
    let some = select(Selection {
        tags: vec!["pets".into()],
        operations: vec!["placeOrder".into()],
        exclude_operations: vec!["DELETE /pets/{id}".into()],
        ..Selection::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&some), ["listPets", "placeOrder"]);
    assert!(defines(&some, "Order") && defines(&some, "OrderStatus"));
    assert!(!defines(&some, "Unused"));
    let without_admin = select(Selection {
        exclude_tags: vec!["admin".into()],
        ..Selection::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&without_admin), ["listPets", "placeOrder"]);
}

#[test]
fn names_do_not_depend_on_the_selection() {
    let only = select(Selection {
        operations: vec!["placeOrder".into()],
        ..Selection::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let all = select(Selection::default()).unwrap_or_else(|e| panic!("{e}"));
    let name = |g: &Generated, id: &str| {
        g.operations
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.name.clone())
    };
    assert_eq!(name(&only, "placeOrder"), name(&all, "placeOrder"));
}

#[test]
fn a_name_that_matches_nothing_is_an_error() {
    let error = select(Selection {
        tags: vec!["petz".into()],
        exclude_operations: vec!["nothing".into()],
        ..Selection::default()
    })
    .err()
    .unwrap_or_default();
    assert!(
        error.contains("option tags: no operation has the tag `petz`"),
        "{error}"
    );
    assert!(
        error.contains("option exclude_operations: no operation has the operationId `nothing`"),
        "{error}"
    );
}

struct Shop;
impl Api for Shop {
    async fn list_pets(&self, _ctx: Context) -> Result<ListPetsResponse, ServerError> {
        Ok(ListPetsResponse::Ok(vec![types::Pet {
            id: 1,
            name: "Rex".into(),
            owner: None,
        }]))
    }
}

#[tokio::test]
async fn the_selected_module_serves_its_operations_only() {
    let service = ApiService::new(Shop);
    let get = http::Request::get("/pets")
        .body(Bytes::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let response = service.handle(get).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.body().as_full().expect("a whole body").as_ref(),
        br#"[{"id":1,"name":"Rex"}]"#
    );
    // `placeOrder` was left out, and `DELETE /pets/{id}` (tag admin) too:
    // no route is left for their paths.
    let post = http::Request::post("/orders")
        .header("content-type", "application/json")
        .body(Bytes::from_static(b"{}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(service.handle(post).await.status(), 404);
    let delete = http::Request::delete("/pets/1")
        .body(Bytes::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(service.handle(delete).await.status(), 404);
}

#[test]
fn warnings_about_schemas_left_out_are_left_out_too() {
    // An extra schema that falls back to `serde_json::Value`, used by no
    // operation.
    let source = format!("{}    Odd:\n      not: {{type: string}}\n", fixture());
    let run = |select: Selection| {
        let options = Options {
            select,
            strict: true,
            ..Options::default()
        };
        generate(&source, &options).map_err(|e| e.to_string())
    };
    let all = run(Selection::default()).err().unwrap_or_default();
    assert!(all.contains("#/components/schemas/Odd"), "{all}");
    let pets = run(Selection {
        tags: vec!["pets".into()],
        ..Selection::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(pets.warnings.is_empty(), "{:?}", pets.warnings);
    assert_eq!(pets.stats.fallbacks, 0);
}
