//! Unit tests of the type mapping: schema → model.

use crate::diag::Diags;
use crate::schema::{Kind, Ty, TypeSpace};

/// Models the component schemas given as YAML (indented under `schemas:`).
fn with_space(schemas: &str, check: impl FnOnce(&TypeSpace<'_>, &Diags)) {
    let spec = format!(
        "openapi: 3.0.0\ninfo: {{ title: t, version: '1' }}\npaths: {{}}\ncomponents:\n  schemas:\n{schemas}"
    );
    let mut diags = Diags::default();
    let source = crate::load::Source {
        text: &spec,
        path: None,
    };
    let doc = crate::load::load(source, &mut diags).unwrap_or_else(|e| panic!("{e}"));
    let space = TypeSpace::new(&doc, &mut diags);
    check(&space, &diags);
}

fn def<'s>(space: &'s TypeSpace<'_>, name: &str) -> &'s Kind {
    match space.defs.iter().find(|d| d.name == name) {
        Some(d) => &d.kind,
        None => panic!(
            "no type {name}: {:?}",
            space.defs.iter().map(|d| &d.name).collect::<Vec<_>>()
        ),
    }
}

fn alias<'s>(space: &'s TypeSpace<'_>, name: &str) -> &'s Ty {
    match def(space, name) {
        Kind::Alias(ty) => ty,
        other => panic!("{name} is not an alias: {other:?}"),
    }
}

fn id(space: &TypeSpace<'_>, name: &str) -> usize {
    space
        .defs
        .iter()
        .position(|d| d.name == name)
        .unwrap_or(usize::MAX)
}

#[test]
fn primitives_and_formats() {
    with_space(
        "    S: { type: string }
    I32: { type: integer, format: int32 }
    I64: { type: integer }
    F32: { type: number, format: float }
    F64: { type: number, format: double }
    B: { type: boolean }
    Dt: { type: string, format: date-time }
    D: { type: string, format: date }
    U: { type: string, format: uuid }
    By: { type: string, format: byte }
    Bin: { type: string, format: binary }
    Ip: { type: string, format: ipv6 }
    Any: {}
    N: { type: string, nullable: true }
",
        |space, diags| {
            assert!(diags.warnings.is_empty());
            let expect = [
                ("S", Ty::String),
                ("I32", Ty::I32),
                ("I64", Ty::I64),
                ("F32", Ty::F32),
                ("F64", Ty::F64),
                ("B", Ty::Bool),
                ("Dt", Ty::DateTime),
                ("D", Ty::Date),
                ("U", Ty::Uuid),
                ("By", Ty::Base64),
                ("Bin", Ty::String),
                ("Ip", Ty::Ipv6),
                ("Any", Ty::Value),
                ("N", Ty::Option(Box::new(Ty::String))),
            ];
            for (name, ty) in expect {
                assert_eq!(alias(space, name), &ty, "{name}");
            }
        },
    );
}

#[test]
fn arrays_and_maps() {
    with_space(
        "    List: { type: array, items: { type: integer, format: int32 } }
    Untyped: { type: array }
    Map: { type: object, additionalProperties: { type: boolean } }
    Free: { type: object }
    FreeToo: { type: object, additionalProperties: true }
",
        |space, _| {
            assert_eq!(alias(space, "List"), &Ty::Vec(Box::new(Ty::I32)));
            assert_eq!(alias(space, "Untyped"), &Ty::Vec(Box::new(Ty::Value)));
            assert_eq!(alias(space, "Map"), &Ty::Map(Box::new(Ty::Bool)));
            assert_eq!(alias(space, "Free"), &Ty::Map(Box::new(Ty::Value)));
            assert_eq!(alias(space, "FreeToo"), &Ty::Map(Box::new(Ty::Value)));
        },
    );
}

#[test]
fn objects_required_optional_nullable_defaults() {
    with_space(
        "    Pet:
      type: object
      required: [id, owner, ro, rid]
      properties:
        id: { type: integer }
        name: { type: string }
        owner: { type: string, nullable: true }
        count: { type: integer, default: 2 }
        ro: { type: string, readOnly: true }
        rid: { $ref: '#/components/schemas/Id' }
        kind: { type: string, enum: [cat, dog] }
    Id: { type: string, readOnly: true }
",
        |space, _| {
            let Kind::Struct(s) = def(space, "Pet") else {
                panic!()
            };
            let field = |n: &str| {
                s.fields
                    .iter()
                    .find(|f| f.wire == n)
                    .unwrap_or_else(|| panic!("{n}"))
            };
            assert_eq!(field("id").ty, Ty::I64);
            assert!(!field("id").optional);
            assert_eq!(field("name").ty, Ty::Option(Box::new(Ty::String)));
            assert!(field("name").optional);
            // Required and nullable: present, maybe null.
            assert_eq!(field("owner").ty, Ty::Option(Box::new(Ty::String)));
            assert!(!field("owner").optional);
            // A default makes an optional field plain.
            assert_eq!(field("count").ty, Ty::I64);
            assert!(field("count").default.is_some());
            // readOnly: absent from requests even when required.
            assert!(field("ro").optional);
            // Also when the schema a `$ref` names is readOnly.
            assert!(field("rid").optional);
            // Inline enums get names from their owner.
            let kind = id(space, "PetKind");
            assert_eq!(field("kind").ty, Ty::Option(Box::new(Ty::Named(kind))));
            assert!(matches!(def(space, "PetKind"), Kind::StrEnum(v) if v.len() == 2));
        },
    );
}

#[test]
fn all_of_merges_objects() {
    with_space(
        "    Base: { type: object, required: [id], properties: { id: { type: string } } }
    Derived:
      allOf:
        - $ref: '#/components/schemas/Base'
        - { type: object, properties: { extra: { type: boolean } } }
        - { description: nothing to merge }
    Single:
      allOf: [ { $ref: '#/components/schemas/Base' } ]
",
        |space, diags| {
            assert!(diags.warnings.is_empty(), "{:?}", diags.warnings);
            let Kind::Struct(s) = def(space, "Derived") else {
                panic!()
            };
            let names: Vec<&str> = s.fields.iter().map(|f| f.wire.as_str()).collect();
            assert_eq!(names, ["id", "extra"]);
            assert!(!s.fields[0].optional);
            assert_eq!(alias(space, "Single"), &Ty::Named(id(space, "Base")));
        },
    );
}

#[test]
fn unions() {
    with_space(
        "    A: { type: object, required: [t], properties: { t: { type: string } } }
    B: { type: object, required: [t], properties: { t: { type: string } } }
    Tagged:
      oneOf: [ { $ref: '#/components/schemas/A' }, { $ref: '#/components/schemas/B' } ]
      discriminator: { propertyName: t, mapping: { a: '#/components/schemas/A' } }
    Untagged:
      anyOf: [ { type: string }, { $ref: '#/components/schemas/A' } ]
    Nullable:
      oneOf: [ { type: integer }, { type: 'null' } ]
",
        |space, _| {
            match def(space, "Tagged") {
                Kind::Tagged { tag, variants, .. } => {
                    assert_eq!(tag, "t");
                    let tags: Vec<&str> = variants.iter().map(|v| v.tag.as_str()).collect();
                    assert_eq!(tags, ["a", "B"]);
                }
                other => panic!("{other:?}"),
            }
            match def(space, "Untagged") {
                Kind::Untagged(variants) => {
                    let names: Vec<&str> = variants.iter().map(|v| v.0.as_str()).collect();
                    assert_eq!(names, ["String", "A"]);
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(alias(space, "Nullable"), &Ty::Option(Box::new(Ty::I64)));
        },
    );
}

#[test]
fn fallbacks_are_warned() {
    with_space(
        "    Not: { not: { type: string } }
    Mixed: { enum: [1, 'a'] }
    Deep: { $ref: '#/components/schemas/Not/not' }
",
        |space, diags| {
            assert_eq!(alias(space, "Not"), &Ty::Value);
            assert_eq!(alias(space, "Mixed"), &Ty::Value);
            assert_eq!(alias(space, "Deep"), &Ty::String);
            assert_eq!(diags.fallbacks(), 2);
            let pointers: Vec<&str> = diags.warnings.iter().map(|w| w.pointer.as_str()).collect();
            assert_eq!(
                pointers,
                ["#/components/schemas/Not", "#/components/schemas/Mixed",]
            );
        },
    );
}

#[test]
fn component_names_are_unique_rust_types() {
    with_space(
        "    pet: { type: string }
    Pet: { type: integer }
    Self: { type: string }
    '1x': { type: string }
",
        |space, _| {
            let names: Vec<&str> = space.defs.iter().map(|d| d.name.as_str()).collect();
            assert_eq!(names, ["Pet", "Pet2", "Self_", "V1x"]);
        },
    );
}

#[test]
fn nullable_components_are_options_where_used() {
    with_space(
        "    Pet:
      type: object
      required: [owner, tags]
      properties:
        owner: { $ref: '#/components/schemas/Owner' }
        tags: { type: array, items: { $ref: '#/components/schemas/Owner' } }
    Owner:
      type: object
      nullable: true
      properties: { name: { type: string } }
",
        |space, _| {
            let owner = id(space, "Owner");
            let Kind::Struct(s) = def(space, "Pet") else {
                panic!()
            };
            let opt = Ty::Option(Box::new(Ty::Named(owner)));
            assert_eq!(s.fields[0].ty, opt);
            assert_eq!(s.fields[1].ty, Ty::Vec(Box::new(opt)));
        },
    );
}
