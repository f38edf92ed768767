//! The version-neutral input model: what a Swagger 2.0, OpenAPI 3.0, 3.1
//! or 3.2 document says, in the generator's own types.
//!
//! The loaders (`crate::load`) produce it; typing (`crate::schema`,
//! `crate::ops`) and emitting read only it. It holds no Rust names.
//!
//! Every node carries its [location](Loc): a JSON pointer as a URI
//! reference relative to the root document, `#/paths/~1pets/get` in the
//! root file and `schemas/pet.yaml#/properties/name` in another one, so
//! that every diagnostic names a place in the user's own files.
//!
//! Schemas live in one arena ([`Document::schemas`]) and refer to each
//! other by [`SchemaId`]: a `$ref` is resolved by the loader to the node it
//! names, wherever that is, and cycles are just ids.

use indexmap::IndexMap;
use serde_json::Value;
use std::path::PathBuf;

/// A location in the user's document(s): `#/…` in the root file,
/// `other.yaml#/…` in another file (relative to the root's folder).
pub(crate) type Loc = String;

/// Index of a [`Schema`] in [`Document::schemas`].
pub(crate) type SchemaId = usize;

/// Which generation of the specification the root document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    /// Swagger 2.0.
    Swagger2,
    /// OpenAPI 3.0.x.
    V30,
    /// OpenAPI 3.1.x (JSON Schema 2020-12).
    V31,
    /// OpenAPI 3.2.x.
    V32,
}

/// One loaded API description.
#[derive(Debug, Default)]
pub(crate) struct Document {
    #[allow(dead_code)] // filled by the loaders, read by no later stage yet
    pub(crate) version: Option<Version>,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    /// A prefix of every route and client URL (Swagger 2.0 `basePath`);
    /// empty when there is none.
    pub(crate) base_path: String,
    /// Every schema node, in the order the loader met them.
    pub(crate) schemas: Vec<Schema>,
    /// The named schemas (`#/components/schemas`, `#/definitions`), in
    /// document order: each becomes a type of that name.
    pub(crate) components: Vec<(String, SchemaId)>,
    /// The operations of `paths`, in document order.
    pub(crate) operations: Vec<Operation>,
    /// Calls in the other direction: 3.1+ `webhooks` and the `callbacks`
    /// of operations, made by the API's provider to its consumer.
    pub(crate) webhooks: Vec<Operation>,
    /// Every file read, the root first.
    pub(crate) files: Vec<PathBuf>,
}

impl Document {
    pub(crate) fn schema(&self, id: SchemaId) -> &Schema {
        &self.schemas[id]
    }

    /// Follows a chain of plain `$ref`s to the schema it ends at.
    pub(crate) fn deref(&self, mut id: SchemaId) -> SchemaId {
        for _ in 0..64 {
            match &self.schemas[id].reference {
                Some(Ref {
                    target: Some(next), ..
                }) if self.schemas[id].is_plain_ref() => id = *next,
                _ => return id,
            }
        }
        id
    }
}

/// A JSON type, as `type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    /// Only `null` (`type: "null"`).
    Null,
}

impl Type {
    pub(crate) fn parse(name: &str) -> Option<Type> {
        Some(match name {
            "string" => Type::String,
            "integer" => Type::Integer,
            "number" => Type::Number,
            "boolean" => Type::Boolean,
            "array" => Type::Array,
            "object" => Type::Object,
            "null" => Type::Null,
            _ => return None,
        })
    }
}

/// A resolved `$ref`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ref {
    /// The reference as written (`#/components/schemas/Pet`, `pet.yaml`).
    pub(crate) text: String,
    /// The node it names; `None` when it names nothing (the loader has
    /// reported that as an error).
    pub(crate) target: Option<SchemaId>,
}

/// `additionalProperties`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Additional {
    /// `true` or `false`.
    Bool(bool),
    Schema(SchemaId),
}

/// `discriminator`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Discriminator {
    pub(crate) property: String,
    /// Tag value → `$ref` text (or bare schema name) of its schema.
    pub(crate) mapping: Vec<(String, String)>,
    /// 3.2 `defaultMapping`: the `$ref` text of the schema of a value whose
    /// tag is absent or not in the mapping.
    pub(crate) default_mapping: Option<String>,
}

/// One JSON Schema, in the union of what the generations can say.
///
/// The loaders normalise what differs between generations: a `type` array
/// without `null` becomes an `anyOf` of one-type schemas, `"null"` in
/// `type`, 3.0's `nullable` and 2.0's `x-nullable` set [`Schema::nullable`],
/// `const` becomes a one-value `enum`, and keywords beside a 3.1 `$ref`
/// that constrain it become an `allOf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Schema {
    pub(crate) loc: Loc,
    /// `$ref`: the schema is the one it names (with [`Schema::title`] and
    /// [`Schema::description`] beside it at most).
    pub(crate) reference: Option<Ref>,
    /// `type` without `null`; `None`: any type.
    pub(crate) ty: Option<Type>,
    /// `null` is a value too.
    pub(crate) nullable: bool,
    pub(crate) format: Option<String>,
    /// `enum` (and `const`), when present.
    pub(crate) enumeration: Option<Vec<Value>>,
    pub(crate) properties: IndexMap<String, SchemaId>,
    pub(crate) required: Vec<String>,
    pub(crate) additional: Option<Additional>,
    pub(crate) items: Option<SchemaId>,
    /// `prefixItems` (a tuple), or 2.0/3.0's array-valued `items`.
    pub(crate) prefix_items: Vec<SchemaId>,
    pub(crate) all_of: Vec<SchemaId>,
    pub(crate) one_of: Vec<SchemaId>,
    pub(crate) any_of: Vec<SchemaId>,
    pub(crate) not: Option<SchemaId>,
    pub(crate) discriminator: Option<Discriminator>,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) default: Option<Value>,
    pub(crate) read_only: bool,
    pub(crate) write_only: bool,
    /// Validation keywords (`minimum`, `pattern`, `maxItems`…) are present;
    /// they do not change the Rust type.
    pub(crate) asserts: bool,
    /// `contentEncoding` (3.1: `base64` makes a string hold bytes).
    pub(crate) content_encoding: Option<String>,
    /// `contentMediaType`.
    pub(crate) content_media_type: Option<String>,
    /// A naming hint from the document (`x-go-name`, `title` of a 2.0
    /// definition is not one).
    pub(crate) name_hint: Option<String>,
}

impl Schema {
    /// A `$ref` with nothing but documentation beside it.
    pub(crate) fn is_plain_ref(&self) -> bool {
        self.reference.is_some() && self.is_unconstrained()
    }

    /// No keyword that constrains a value (documentation and `nullable`
    /// aside), and no `$ref`.
    pub(crate) fn is_unconstrained(&self) -> bool {
        self.ty.is_none()
            && self.format.is_none()
            && self.enumeration.is_none()
            && self.properties.is_empty()
            && self.required.is_empty()
            && self.additional.is_none()
            && self.items.is_none()
            && self.prefix_items.is_empty()
            && self.all_of.is_empty()
            && self.one_of.is_empty()
            && self.any_of.is_empty()
            && self.not.is_none()
            && self.discriminator.is_none()
            && !self.asserts
            && self.content_encoding.is_none()
            && self.content_media_type.is_none()
    }

    /// A schema that only documents (title, description, example…).
    pub(crate) fn is_decoration(&self) -> bool {
        self.reference.is_none() && self.is_unconstrained()
    }
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum In {
    Path,
    Query,
    Header,
    Cookie,
    /// 3.2 `in: querystring`: the whole query string is one value.
    QueryString,
}

/// How an array (or object) parameter is serialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `a=1&a=2`, or `a=1,2` without explode (2.0 `csv` in a query, `multi`).
    Form,
    /// `1,2` (paths and headers; 2.0 `csv` there).
    Simple,
    /// `1 2` (2.0 `ssv`).
    SpaceDelimited,
    /// `1\t2` (2.0 `tsv`).
    TabDelimited,
    /// `1|2` (2.0 `pipes`).
    PipeDelimited,
    /// `a[key]=value`.
    DeepObject,
    /// `;a=1` (paths).
    Matrix,
    /// `.1` (paths).
    Label,
}

/// One parameter, after `$ref`s are followed.
#[derive(Debug, Clone)]
pub(crate) struct Parameter {
    pub(crate) loc: Loc,
    pub(crate) name: String,
    pub(crate) location: In,
    pub(crate) required: bool,
    pub(crate) description: Option<String>,
    /// `None`: the default for the location.
    pub(crate) style: Option<Style>,
    pub(crate) explode: Option<bool>,
    /// The value's schema (for 2.0 a schema made of the parameter's own
    /// `type`, `items`, `enum`…, located at the parameter).
    pub(crate) schema: Option<SchemaId>,
    /// `content` instead of a schema: the media type and its schema.
    pub(crate) content: Option<MediaType>,
    #[allow(dead_code)] // filled by the loaders, read by no later stage yet
    pub(crate) allow_empty: bool,
}

/// One entry of a `content` map (or, in 2.0, one of `consumes`/`produces`
/// with the body's schema).
#[derive(Debug, Clone)]
pub(crate) struct MediaType {
    pub(crate) loc: Loc,
    /// As the document writes it (may be a pattern such as `text/*`).
    pub(crate) media: String,
    pub(crate) schema: Option<SchemaId>,
    /// 3.2 `itemSchema`: the schema of each item of a sequential media type.
    pub(crate) item_schema: Option<SchemaId>,
}

/// A request body, after `$ref`s are followed.
#[derive(Debug, Clone)]
pub(crate) struct RequestBody {
    #[allow(dead_code)] // filled by the loaders, read by no later stage yet
    pub(crate) loc: Loc,
    pub(crate) required: bool,
    pub(crate) content: Vec<MediaType>,
}

/// A status code key of `responses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKey {
    Code(u16),
    /// `2XX`: the first digit.
    Range(u16),
    Default,
}

/// One response, after `$ref`s are followed.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    /// Where the `responses` entry is (`…/responses/200`).
    pub(crate) key_loc: Loc,
    /// Where the response object is (its `$ref` target, or `key_loc`).
    #[allow(dead_code)] // filled by the loaders, read by no later stage yet
    pub(crate) loc: Loc,
    pub(crate) status: StatusKey,
    pub(crate) description: Option<String>,
    pub(crate) content: Vec<MediaType>,
    pub(crate) headers: Vec<Header>,
}

/// A response header.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    #[allow(dead_code)] // filled by the loaders, read by no later stage yet
    pub(crate) loc: Loc,
    pub(crate) name: String,
    pub(crate) required: bool,
    pub(crate) schema: Option<SchemaId>,
}

/// One operation.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    /// `#/paths/~1pets/get`.
    pub(crate) loc: Loc,
    /// Upper case: `GET`, `QUERY`, `LINK`.
    pub(crate) method: String,
    /// The path template, as `paths` writes it (without `basePath`).
    pub(crate) path: String,
    pub(crate) operation_id: Option<String>,
    pub(crate) summary: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) tags: Vec<String>,
    /// The operation's parameters, then those of its path item that it
    /// does not override.
    pub(crate) parameters: Vec<Parameter>,
    pub(crate) request_body: Option<RequestBody>,
    pub(crate) responses: Vec<Response>,
}
