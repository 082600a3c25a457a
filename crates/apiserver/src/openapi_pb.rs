//! `/openapi/v2` as protobuf: gnostic's `openapi.v2.Document`, which is the only form
//! kubectl up to 1.2x parses (it asks for
//! `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and needs the document
//! for client-side validation and `kubectl explain`).
//!
//! The messages below are the subset of gnostic's `openapiv2/OpenAPIv2.proto` that the
//! v2 document built by `openapi.rs` uses, with upstream's field numbers (fields we never
//! set are left out; a decoder simply sees them as unset). The JSON document is
//! converted field by field; vendor extensions (`x-kubernetes-*`) become `NamedAny`s
//! whose `Any.yaml` holds the value as YAML text, as gnostic's compiler produces them.
//!
//! `v2_compatible` applies the rewrites kube-apiserver makes when it publishes CRD
//! schemas in v2 (apiextensions `ToStructuralOpenAPIV2`), so that old kubectl's
//! validation does not reject what the server accepts.

// The oneofs mirror gnostic's messages one to one; they are built once per request and
// encoded right away, so boxing the large variants would buy nothing.
#![allow(clippy::large_enum_variant)]

use serde_json::{Map, Value};

/// The media type kubectl ≤ 1.2x asks for. `@` is not a token character, so Go's
/// `mime.ParseMediaType` (which client-go runs on the response) rejects it in a
/// `Content-Type`; kube-openapi therefore answers with [`CONTENT_TYPE`], and so do we.
pub const ACCEPT_TYPE: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The media type of the protobuf document in responses (and also accepted in `Accept`).
pub const CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Whether an `Accept` header asks for the protobuf document (kubectl ≤ 1.2x lists only
/// it; newer clients list JSON).
pub fn wants_protobuf(accept: &str) -> bool {
    accept
        .split(',')
        .map(|m| m.split(';').next().unwrap_or("").trim())
        .any(|m| m.eq_ignore_ascii_case(ACCEPT_TYPE) || m.eq_ignore_ascii_case(CONTENT_TYPE))
}

// ---------------------------------------------------------------------------------
// Messages (package openapi.v2), field numbers from gnostic's OpenAPIv2.proto.
// ---------------------------------------------------------------------------------

/// `message Document`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Document {
    #[prost(string, tag = "1")]
    pub swagger: String,
    #[prost(message, optional, tag = "2")]
    pub info: Option<Info>,
    #[prost(string, tag = "3")]
    pub host: String,
    #[prost(string, tag = "4")]
    pub base_path: String,
    #[prost(string, repeated, tag = "5")]
    pub schemes: Vec<String>,
    #[prost(string, repeated, tag = "6")]
    pub consumes: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    pub produces: Vec<String>,
    #[prost(message, optional, tag = "8")]
    pub paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    pub definitions: Option<Definitions>,
    #[prost(message, repeated, tag = "16")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message Info`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Info {
    #[prost(string, tag = "1")]
    pub title: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(message, repeated, tag = "7")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message Paths`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Paths {
    #[prost(message, repeated, tag = "1")]
    pub vendor_extension: Vec<NamedAny>,
    #[prost(message, repeated, tag = "2")]
    pub path: Vec<NamedPathItem>,
}

/// `message NamedPathItem`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamedPathItem {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<PathItem>,
}

/// `message PathItem`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PathItem {
    #[prost(string, tag = "1")]
    pub xref: String,
    #[prost(message, optional, tag = "2")]
    pub get: Option<Operation>,
    #[prost(message, optional, tag = "3")]
    pub put: Option<Operation>,
    #[prost(message, optional, tag = "4")]
    pub post: Option<Operation>,
    #[prost(message, optional, tag = "5")]
    pub delete: Option<Operation>,
    #[prost(message, optional, tag = "6")]
    pub options: Option<Operation>,
    #[prost(message, optional, tag = "7")]
    pub head: Option<Operation>,
    #[prost(message, optional, tag = "8")]
    pub patch: Option<Operation>,
    #[prost(message, repeated, tag = "9")]
    pub parameters: Vec<ParametersItem>,
    #[prost(message, repeated, tag = "10")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message Operation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Operation {
    #[prost(string, repeated, tag = "1")]
    pub tags: Vec<String>,
    #[prost(string, tag = "2")]
    pub summary: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "5")]
    pub operation_id: String,
    #[prost(string, repeated, tag = "6")]
    pub produces: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    pub consumes: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    pub parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    pub responses: Option<Responses>,
    #[prost(string, repeated, tag = "10")]
    pub schemes: Vec<String>,
    #[prost(bool, tag = "11")]
    pub deprecated: bool,
    #[prost(message, repeated, tag = "13")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message ParametersItem { oneof { Parameter parameter = 1; JsonReference json_reference = 2; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ParametersItem {
    #[prost(oneof = "parameters_item::Oneof", tags = "1, 2")]
    pub oneof: Option<parameters_item::Oneof>,
}

pub mod parameters_item {
    /// The `oneof` of `ParametersItem`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        #[prost(message, tag = "1")]
        Parameter(super::Parameter),
        #[prost(message, tag = "2")]
        JsonReference(super::JsonReference),
    }
}

/// `message JsonReference`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JsonReference {
    #[prost(string, tag = "1")]
    pub xref: String,
    #[prost(string, tag = "2")]
    pub description: String,
}

/// `message Parameter { oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Parameter {
    #[prost(oneof = "parameter::Oneof", tags = "1, 2")]
    pub oneof: Option<parameter::Oneof>,
}

pub mod parameter {
    /// The `oneof` of `Parameter`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        #[prost(message, tag = "1")]
        BodyParameter(super::BodyParameter),
        #[prost(message, tag = "2")]
        NonBodyParameter(super::NonBodyParameter),
    }
}

/// `message BodyParameter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BodyParameter {
    #[prost(string, tag = "1")]
    pub description: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub r#in: String,
    #[prost(bool, tag = "4")]
    pub required: bool,
    #[prost(message, optional, tag = "5")]
    pub schema: Option<Schema>,
    #[prost(message, repeated, tag = "6")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message NonBodyParameter` (header = 1 and formData = 2 are never produced).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NonBodyParameter {
    #[prost(oneof = "non_body_parameter::Oneof", tags = "3, 4")]
    pub oneof: Option<non_body_parameter::Oneof>,
}

pub mod non_body_parameter {
    /// The `oneof` of `NonBodyParameter`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        #[prost(message, tag = "3")]
        QueryParameterSubSchema(super::QueryParameterSubSchema),
        #[prost(message, tag = "4")]
        PathParameterSubSchema(super::PathParameterSubSchema),
    }
}

/// `message QueryParameterSubSchema` (the fields we use).
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryParameterSubSchema {
    #[prost(bool, tag = "1")]
    pub required: bool,
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(bool, tag = "5")]
    pub allow_empty_value: bool,
    #[prost(string, tag = "6")]
    pub r#type: String,
    #[prost(string, tag = "7")]
    pub format: String,
    #[prost(bool, tag = "20")]
    pub unique_items: bool,
    #[prost(message, repeated, tag = "23")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message PathParameterSubSchema` (the fields we use).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PathParameterSubSchema {
    #[prost(bool, tag = "1")]
    pub required: bool,
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "5")]
    pub r#type: String,
    #[prost(string, tag = "6")]
    pub format: String,
    #[prost(bool, tag = "19")]
    pub unique_items: bool,
    #[prost(message, repeated, tag = "22")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message Responses`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Responses {
    #[prost(message, repeated, tag = "1")]
    pub response_code: Vec<NamedResponseValue>,
    #[prost(message, repeated, tag = "2")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message NamedResponseValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamedResponseValue {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<ResponseValue>,
}

/// `message ResponseValue { oneof { Response response = 1; JsonReference json_reference = 2; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseValue {
    #[prost(oneof = "response_value::Oneof", tags = "1, 2")]
    pub oneof: Option<response_value::Oneof>,
}

pub mod response_value {
    /// The `oneof` of `ResponseValue`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        #[prost(message, tag = "1")]
        Response(super::Response),
        #[prost(message, tag = "2")]
        JsonReference(super::JsonReference),
    }
}

/// `message Response` (headers = 3 and examples = 4 are never produced).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    #[prost(string, tag = "1")]
    pub description: String,
    #[prost(message, optional, tag = "2")]
    pub schema: Option<SchemaItem>,
    #[prost(message, repeated, tag = "5")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message SchemaItem { oneof { Schema schema = 1; FileSchema file_schema = 2; } }`
/// (only `schema`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SchemaItem {
    #[prost(oneof = "schema_item::Oneof", tags = "1")]
    pub oneof: Option<schema_item::Oneof>,
}

pub mod schema_item {
    /// The `oneof` of `SchemaItem`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        #[prost(message, tag = "1")]
        Schema(super::Schema),
    }
}

/// `message Definitions`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Definitions {
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

/// `message NamedSchema`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamedSchema {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Schema>,
}

/// `message Properties`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Properties {
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

/// `message Schema` (all but `xml` = 28 and `external_docs` = 29).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Schema {
    #[prost(string, tag = "1")]
    pub xref: String,
    #[prost(string, tag = "2")]
    pub format: String,
    #[prost(string, tag = "3")]
    pub title: String,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(message, optional, tag = "5")]
    pub default: Option<Any>,
    #[prost(double, tag = "6")]
    pub multiple_of: f64,
    #[prost(double, tag = "7")]
    pub maximum: f64,
    #[prost(bool, tag = "8")]
    pub exclusive_maximum: bool,
    #[prost(double, tag = "9")]
    pub minimum: f64,
    #[prost(bool, tag = "10")]
    pub exclusive_minimum: bool,
    #[prost(int64, tag = "11")]
    pub max_length: i64,
    #[prost(int64, tag = "12")]
    pub min_length: i64,
    #[prost(string, tag = "13")]
    pub pattern: String,
    #[prost(int64, tag = "14")]
    pub max_items: i64,
    #[prost(int64, tag = "15")]
    pub min_items: i64,
    #[prost(bool, tag = "16")]
    pub unique_items: bool,
    #[prost(int64, tag = "17")]
    pub max_properties: i64,
    #[prost(int64, tag = "18")]
    pub min_properties: i64,
    #[prost(string, repeated, tag = "19")]
    pub required: Vec<String>,
    #[prost(message, repeated, tag = "20")]
    pub r#enum: Vec<Any>,
    #[prost(message, optional, boxed, tag = "21")]
    pub additional_properties: Option<Box<AdditionalPropertiesItem>>,
    #[prost(message, optional, tag = "22")]
    pub r#type: Option<TypeItem>,
    #[prost(message, optional, tag = "23")]
    pub items: Option<ItemsItem>,
    #[prost(message, repeated, tag = "24")]
    pub all_of: Vec<Schema>,
    #[prost(message, optional, tag = "25")]
    pub properties: Option<Properties>,
    #[prost(string, tag = "26")]
    pub discriminator: String,
    #[prost(bool, tag = "27")]
    pub read_only: bool,
    #[prost(message, optional, tag = "30")]
    pub example: Option<Any>,
    #[prost(message, repeated, tag = "31")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `message AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdditionalPropertiesItem {
    #[prost(oneof = "additional_properties_item::Oneof", tags = "1, 2")]
    pub oneof: Option<additional_properties_item::Oneof>,
}

pub mod additional_properties_item {
    /// The `oneof` of `AdditionalPropertiesItem`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        #[prost(message, tag = "1")]
        Schema(super::Schema),
        #[prost(bool, tag = "2")]
        Boolean(bool),
    }
}

/// `message TypeItem`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeItem {
    #[prost(string, repeated, tag = "1")]
    pub value: Vec<String>,
}

/// `message ItemsItem`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    pub schema: Vec<Schema>,
}

/// `message Any` (only `yaml` = 2; `value` = 1 is a google.protobuf.Any gnostic leaves
/// empty for YAML-sourced documents).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "2")]
    pub yaml: String,
}

/// `message NamedAny`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamedAny {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Any>,
}

// ---------------------------------------------------------------------------------
// JSON → messages
// ---------------------------------------------------------------------------------

/// Encodes a Swagger 2.0 JSON document (as `openapi.rs` builds it) as gnostic protobuf.
pub fn encode(doc: &Value) -> Vec<u8> {
    use prost::Message;
    document(doc).encode_to_vec()
}

/// Converts a Swagger 2.0 JSON document into a `Document`.
pub fn document(doc: &Value) -> Document {
    let info = doc.get("info").map(|i| Info {
        title: str_of(i, "title"),
        version: str_of(i, "version"),
        description: str_of(i, "description"),
        vendor_extension: extensions(i),
    });
    let paths = doc.get("paths").and_then(Value::as_object).map(|p| Paths {
        vendor_extension: extensions_of(p),
        path: p
            .iter()
            .filter(|(k, _)| !k.starts_with("x-"))
            .map(|(k, v)| NamedPathItem {
                name: k.clone(),
                value: Some(path_item(v)),
            })
            .collect(),
    });
    let definitions = doc
        .get("definitions")
        .and_then(Value::as_object)
        .map(|d| Definitions {
            additional_properties: named_schemas(d),
        });
    Document {
        swagger: str_of(doc, "swagger"),
        info,
        host: str_of(doc, "host"),
        base_path: str_of(doc, "basePath"),
        schemes: strings(doc.get("schemes")),
        consumes: strings(doc.get("consumes")),
        produces: strings(doc.get("produces")),
        paths,
        definitions,
        vendor_extension: extensions(doc),
    }
}

fn path_item(v: &Value) -> PathItem {
    let op = |m: &str| v.get(m).map(operation);
    PathItem {
        xref: str_of(v, "$ref"),
        get: op("get"),
        put: op("put"),
        post: op("post"),
        delete: op("delete"),
        options: op("options"),
        head: op("head"),
        patch: op("patch"),
        parameters: parameters(v.get("parameters")),
        vendor_extension: extensions(v),
    }
}

fn operation(v: &Value) -> Operation {
    let responses = v
        .get("responses")
        .and_then(Value::as_object)
        .map(|r| Responses {
            response_code: r
                .iter()
                .filter(|(k, _)| !k.starts_with("x-"))
                .map(|(code, resp)| NamedResponseValue {
                    name: code.clone(),
                    value: Some(ResponseValue {
                        oneof: Some(match resp.get("$ref").and_then(Value::as_str) {
                            Some(r) => response_value::Oneof::JsonReference(JsonReference {
                                xref: r.to_string(),
                                description: str_of(resp, "description"),
                            }),
                            None => response_value::Oneof::Response(Response {
                                description: str_of(resp, "description"),
                                schema: resp.get("schema").map(|s| SchemaItem {
                                    oneof: Some(schema_item::Oneof::Schema(schema(s))),
                                }),
                                vendor_extension: extensions(resp),
                            }),
                        }),
                    }),
                })
                .collect(),
            vendor_extension: extensions_of(r),
        });
    Operation {
        tags: strings(v.get("tags")),
        summary: str_of(v, "summary"),
        description: str_of(v, "description"),
        operation_id: str_of(v, "operationId"),
        produces: strings(v.get("produces")),
        consumes: strings(v.get("consumes")),
        parameters: parameters(v.get("parameters")),
        responses,
        schemes: strings(v.get("schemes")),
        deprecated: bool_of(v, "deprecated"),
        vendor_extension: extensions(v),
    }
}

fn parameters(v: Option<&Value>) -> Vec<ParametersItem> {
    let Some(list) = v.and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|p| {
            if let Some(r) = p.get("$ref").and_then(Value::as_str) {
                return Some(parameters_item::Oneof::JsonReference(JsonReference {
                    xref: r.to_string(),
                    description: str_of(p, "description"),
                }));
            }
            let param = match p.get("in").and_then(Value::as_str)? {
                "body" => parameter::Oneof::BodyParameter(BodyParameter {
                    description: str_of(p, "description"),
                    name: str_of(p, "name"),
                    r#in: "body".into(),
                    required: bool_of(p, "required"),
                    schema: p.get("schema").map(schema),
                    vendor_extension: extensions(p),
                }),
                "query" => parameter::Oneof::NonBodyParameter(NonBodyParameter {
                    oneof: Some(non_body_parameter::Oneof::QueryParameterSubSchema(
                        QueryParameterSubSchema {
                            required: bool_of(p, "required"),
                            r#in: "query".into(),
                            description: str_of(p, "description"),
                            name: str_of(p, "name"),
                            allow_empty_value: bool_of(p, "allowEmptyValue"),
                            r#type: str_of(p, "type"),
                            format: str_of(p, "format"),
                            unique_items: bool_of(p, "uniqueItems"),
                            vendor_extension: extensions(p),
                        },
                    )),
                }),
                "path" => parameter::Oneof::NonBodyParameter(NonBodyParameter {
                    oneof: Some(non_body_parameter::Oneof::PathParameterSubSchema(
                        PathParameterSubSchema {
                            required: bool_of(p, "required"),
                            r#in: "path".into(),
                            description: str_of(p, "description"),
                            name: str_of(p, "name"),
                            r#type: str_of(p, "type"),
                            format: str_of(p, "format"),
                            unique_items: bool_of(p, "uniqueItems"),
                            vendor_extension: extensions(p),
                        },
                    )),
                }),
                // header / formData parameters are never produced by openapi.rs.
                _ => return None,
            };
            Some(parameters_item::Oneof::Parameter(Parameter {
                oneof: Some(param),
            }))
        })
        .map(|o| ParametersItem { oneof: Some(o) })
        .collect()
}

fn named_schemas(m: &Map<String, Value>) -> Vec<NamedSchema> {
    m.iter()
        .map(|(k, v)| NamedSchema {
            name: k.clone(),
            value: Some(schema(v)),
        })
        .collect()
}

/// Converts one JSON schema object.
pub fn schema(v: &Value) -> Schema {
    let num = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let int = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let r#type = match v.get("type") {
        Some(Value::String(t)) => Some(TypeItem {
            value: vec![t.clone()],
        }),
        Some(Value::Array(ts)) => Some(TypeItem {
            value: ts
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
        }),
        _ => None,
    };
    let items = match v.get("items") {
        Some(Value::Array(list)) => Some(ItemsItem {
            schema: list.iter().map(schema).collect(),
        }),
        Some(s @ Value::Object(_)) => Some(ItemsItem {
            schema: vec![schema(s)],
        }),
        _ => None,
    };
    let additional_properties = match v.get("additionalProperties") {
        Some(Value::Bool(b)) => Some(additional_properties_item::Oneof::Boolean(*b)),
        Some(s @ Value::Object(_)) => Some(additional_properties_item::Oneof::Schema(schema(s))),
        _ => None,
    }
    .map(|o| Box::new(AdditionalPropertiesItem { oneof: Some(o) }));
    Schema {
        xref: str_of(v, "$ref"),
        format: str_of(v, "format"),
        title: str_of(v, "title"),
        description: str_of(v, "description"),
        default: v.get("default").map(any),
        multiple_of: num("multipleOf"),
        maximum: num("maximum"),
        exclusive_maximum: bool_of(v, "exclusiveMaximum"),
        minimum: num("minimum"),
        exclusive_minimum: bool_of(v, "exclusiveMinimum"),
        max_length: int("maxLength"),
        min_length: int("minLength"),
        pattern: str_of(v, "pattern"),
        max_items: int("maxItems"),
        min_items: int("minItems"),
        unique_items: bool_of(v, "uniqueItems"),
        max_properties: int("maxProperties"),
        min_properties: int("minProperties"),
        required: strings(v.get("required")),
        r#enum: v
            .get("enum")
            .and_then(Value::as_array)
            .map(|e| e.iter().map(any).collect())
            .unwrap_or_default(),
        additional_properties,
        r#type,
        items,
        all_of: v
            .get("allOf")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(schema).collect())
            .unwrap_or_default(),
        properties: v
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| Properties {
                additional_properties: named_schemas(p),
            }),
        discriminator: str_of(v, "discriminator"),
        read_only: bool_of(v, "readOnly"),
        example: v.get("example").map(any),
        vendor_extension: extensions(v),
    }
}

/// A value as gnostic carries it: YAML text.
fn any(v: &Value) -> Any {
    Any {
        yaml: serde_yaml::to_string(v).unwrap_or_default(),
    }
}

fn extensions(v: &Value) -> Vec<NamedAny> {
    v.as_object().map(extensions_of).unwrap_or_default()
}

fn extensions_of(m: &Map<String, Value>) -> Vec<NamedAny> {
    m.iter()
        .filter(|(k, _)| k.starts_with("x-"))
        .map(|(k, v)| NamedAny {
            name: k.clone(),
            value: Some(any(v)),
        })
        .collect()
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn bool_of(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------
// v2 compatibility rewrites
// ---------------------------------------------------------------------------------

/// Rewrites an OpenAPI v3 (structural) schema into what kube-apiserver publishes in v2,
/// recursively: junctors (`allOf`/`anyOf`/`oneOf`/`not`) are dropped, except a lone
/// `allOf: [{$ref}]`, which becomes a plain `$ref`; `nullable` and
/// `x-kubernetes-int-or-string` values lose their type; `x-kubernetes-preserve-unknown-fields`
/// values lose properties, items and an `object` type; arrays without items lose their
/// type; a nullable property is no longer required; a multi-valued `type` keeps its one
/// non-null entry. Old kubectl validates against exactly this.
pub fn v2_compatible(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    // Recurse first, so the nullable check on properties below sees the originals.
    let nullable_props: Vec<String> = obj
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, s)| is_nullable(s))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let nullable_additional = obj.get("additionalProperties").is_some_and(is_nullable);
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for s in props.values_mut() {
            v2_compatible(s);
        }
    }
    if let Some(items) = obj.get_mut("items") {
        match items {
            Value::Array(list) => list.iter_mut().for_each(v2_compatible),
            other => v2_compatible(other),
        }
    }
    if let Some(a @ Value::Object(_)) = obj.get_mut("additionalProperties") {
        v2_compatible(a);
    }

    // A lone `allOf: [{$ref: ...}]` (how v3 attaches a description to a reference) is
    // a plain reference in v2.
    if let Some(Value::Array(all)) = obj.get("allOf") {
        if all.len() == 1 && !obj.contains_key("$ref") {
            if let Some(r) = all[0].get("$ref").cloned() {
                obj.insert("$ref".into(), r);
            }
        }
    }
    for k in ["allOf", "anyOf", "oneOf", "not"] {
        obj.remove(k);
    }
    if let Some(Value::Array(types)) = obj.get("type") {
        let non_null: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if non_null.len() < types.len() {
            obj.insert("nullable".into(), Value::Bool(true));
        }
        match non_null.as_slice() {
            [one] => {
                obj.insert("type".into(), one.clone());
            }
            _ => {
                obj.remove("type");
            }
        }
    }
    let flag = |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_bool) == Some(true);
    if flag(obj, "nullable") {
        obj.remove("type");
        obj.remove("items");
        obj.remove("properties");
        obj.remove("nullable");
    }
    if flag(obj, "x-kubernetes-int-or-string") {
        obj.remove("type");
    }
    let preserve = flag(obj, "x-kubernetes-preserve-unknown-fields");
    if preserve {
        obj.remove("items");
        obj.remove("properties");
    }
    let ty = obj.get("type").and_then(Value::as_str).map(String::from);
    if ty.as_deref() == Some("array") && !obj.contains_key("items") {
        obj.remove("type");
    }
    if preserve && ty.as_deref() == Some("object") {
        obj.remove("type");
    }
    if obj.contains_key("$ref") {
        // A reference carries nothing but itself and a description in v2 (old kubectl
        // refuses a `$ref` with a type or properties).
        obj.retain(|k, _| k == "$ref" || k == "description");
    }
    if !nullable_props.is_empty() || nullable_additional {
        if let Some(Value::Array(req)) = obj.get_mut("required") {
            if nullable_additional {
                req.clear();
            } else {
                req.retain(|r| {
                    !r.as_str()
                        .is_some_and(|r| nullable_props.iter().any(|n| n == r))
                });
            }
            if req.is_empty() {
                obj.remove("required");
            }
        }
    }
}

/// `nullable: true`, or a JSON-Schema style `type: [..., "null"]`.
fn is_nullable(s: &Value) -> bool {
    s.get("nullable").and_then(Value::as_bool) == Some(true)
        || s.get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t == "null"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use serde_json::json;

    #[test]
    fn accept_negotiation() {
        assert!(wants_protobuf(
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        ));
        assert!(wants_protobuf(
            "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        ));
        assert!(wants_protobuf(
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        ));
        assert!(!wants_protobuf("application/json"));
        assert!(!wants_protobuf("*/*"));
    }

    #[test]
    fn document_fields_use_gnostic_numbers() {
        let doc = json!({"swagger": "2.0", "info": {"title": "T", "version": "v"}});
        let bytes = encode(&doc);
        // swagger = 1 (string): tag 0x0a; info = 2 (message): tag 0x12 { title = 1, version = 2 }.
        assert_eq!(
            bytes,
            [0x0a, 3, b'2', b'.', b'0', 0x12, 6, 0x0a, 1, b'T', 0x12, 1, b'v']
        );
    }

    #[test]
    fn schema_fields_use_gnostic_numbers() {
        // type = 22 (TypeItem { value = 1 }), required = 19, _ref = 1, vendor_extension = 31.
        let s = schema(&json!({"type": "string"}));
        assert_eq!(
            s.encode_to_vec(),
            [0xb2, 0x01, 8, 0x0a, 6, b's', b't', b'r', b'i', b'n', b'g']
        );
        let s = schema(&json!({"$ref": "#/d/X"}));
        assert_eq!(s.encode_to_vec()[0], 0x0a);
        let s = schema(&json!({"required": ["a"]}));
        assert_eq!(s.encode_to_vec(), [0x9a, 0x01, 1, b'a']);
        let s = schema(&json!({"x-a": 1}));
        // field 31, wire type 2 → (31 << 3 | 2) = 250 = 0xfa 0x01.
        assert_eq!(&s.encode_to_vec()[..2], &[0xfa, 0x01]);
        // additionalProperties = 21 → (21 << 3 | 2) = 170 = 0xaa 0x01; boolean = 2 varint.
        let s = schema(&json!({"additionalProperties": false}));
        assert_eq!(s.encode_to_vec(), [0xaa, 0x01, 2, 0x10, 0]);
    }

    #[test]
    fn round_trips_a_kubernetes_style_document() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "paths": {"/api/v1/namespaces/{namespace}/configmaps": {
                "get": {"operationId": "listConfigMap",
                        "parameters": [{"name": "limit", "in": "query", "type": "string", "uniqueItems": true}],
                        "responses": {"200": {"description": "OK"}},
                        "x-kubernetes-action": "list"}}},
            "definitions": {"io.k8s.api.core.v1.ConfigMap": {
                "type": "object",
                "properties": {
                    "data": {"type": "object", "additionalProperties": {"type": "string"}},
                    "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
                    "items": {"type": "array", "items": {"type": "string"}, "enum": [["a"]]}},
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]}}
        });
        let bytes = encode(&doc);
        let back = Document::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.swagger, "2.0");
        let path = &back.paths.as_ref().unwrap().path[0];
        assert_eq!(path.name, "/api/v1/namespaces/{namespace}/configmaps");
        let get = path.value.as_ref().unwrap().get.as_ref().unwrap();
        assert_eq!(get.operation_id, "listConfigMap");
        assert_eq!(get.vendor_extension[0].name, "x-kubernetes-action");
        assert_eq!(
            get.vendor_extension[0].value.as_ref().unwrap().yaml,
            "list\n"
        );
        let def = &back.definitions.as_ref().unwrap().additional_properties[0];
        assert_eq!(def.name, "io.k8s.api.core.v1.ConfigMap");
        let s = def.value.as_ref().unwrap();
        let gvk = &s.vendor_extension[0];
        assert_eq!(gvk.name, "x-kubernetes-group-version-kind");
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&gvk.value.as_ref().unwrap().yaml).unwrap();
        assert_eq!(yaml[0]["kind"], "ConfigMap");
        let props = &s.properties.as_ref().unwrap().additional_properties;
        let data = props.iter().find(|p| p.name == "data").unwrap();
        match data
            .value
            .as_ref()
            .unwrap()
            .additional_properties
            .as_deref()
        {
            Some(AdditionalPropertiesItem {
                oneof: Some(additional_properties_item::Oneof::Schema(s)),
            }) => assert_eq!(s.r#type.as_ref().unwrap().value, ["string"]),
            other => panic!("{other:?}"),
        }
        let meta = props.iter().find(|p| p.name == "metadata").unwrap();
        assert!(meta.value.as_ref().unwrap().xref.ends_with("ObjectMeta"));
    }

    #[test]
    fn v2_rewrites_match_kube_apiserver() {
        let mut s = json!({
            "type": "object",
            "required": ["a", "b"],
            "properties": {
                "metadata": {"allOf": [{"$ref": "#/definitions/M"}], "description": "m"},
                "a": {"type": "string", "nullable": true},
                "b": {"type": ["integer", "null"]},
                "c": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "d": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"x": {"type": "string"}}},
                "e": {"type": "array"}
            }
        });
        v2_compatible(&mut s);
        assert_eq!(
            s,
            json!({
                "type": "object",
                "properties": {
                    "metadata": {"$ref": "#/definitions/M", "description": "m"},
                    "a": {},
                    "b": {},
                    "c": {"x-kubernetes-int-or-string": true},
                    "d": {"x-kubernetes-preserve-unknown-fields": true},
                    "e": {}
                }
            })
        );
    }
}
