//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the HTTP API, generated with
//! utoipa's typed builders from the route table ([`ROUTES`]), so a route added there is
//! described here without another line. Each route's parameters (path, query, JSON body)
//! come from the schema of its control method's `Params` type ([`params_docs`]), with an
//! example request.

use utoipa::openapi::path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Required, ResponseBuilder,
};

use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Ref, Schema, Type};

use super::params_doc::{ParamsDoc, example, params_docs};
use super::routes::{HttpMethod, ROUTES, RestRoute};
use crate::control::protocol::{self, Method as _};

/// The document: every REST route (bearer auth), `POST /rpc`, `/health`, `/metrics` and
/// `/chart`.
pub fn document() -> OpenApi {
    let docs = params_docs();
    let mut components = ComponentsBuilder::new();
    for d in &docs {
        components = components.schema(d.schema_name.clone(), d.schema.clone());
        for (name, schema) in &d.referenced {
            components = components.schema(name.clone(), schema.clone());
        }
    }
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        let params = docs.iter().find(|d| d.method == r.rpc);
        paths = paths.path(
            format!("/api/v1{}", r.path),
            PathItem::new(method(r.method), operation(r, params)),
        );
    }
    paths = paths
        .path(
            "/rpc",
            PathItem::new(
                utoipa::openapi::HttpMethod::Post,
                authed(
                    OperationBuilder::new()
                        .operation_id(Some("rpc"))
                        .summary(Some("One JSON-RPC 2.0 request of the control protocol, as on the socket"))
                        .request_body(Some(rpc_body()))
                        .response("200", json_response("The JSON-RPC response object"))
                        .response("400", json_response("Not JSON, or not a request object")),
                ),
            ),
        )
        .path(
            "/health",
            get("health", "Liveness: the last scheduled beat is at most two periods old and the database accepts a write")
                .response("200", json_response("{\"status\":\"ok\", ...}"))
                .response("503", json_response("{\"status\":\"unhealthy\", \"reason\": ...}"))
                .into_path_item(),
        )
        .path(
            "/metrics",
            get("metrics", "Prometheus text exposition")
                .response("200", ResponseBuilder::new().description("text/plain; version=0.0.4").build())
                .into_path_item(),
        )
        .path(
            "/chart",
            get("chart", "A self-contained HTML page: the close of every followed symbol on a log-scale axis (query: interval, days)")
                .response("200", ResponseBuilder::new().description("text/html").build())
                .into_path_item(),
        )
        .path(
            "/api/v1/openapi.json",
            get("openapi", "This document")
                .response("200", json_response("OpenAPI 3.1"))
                .into_path_item(),
        );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("tradebeat HTTP API")
                .version(crate::VERSION)
                .description(Some(
                    "The control methods of tradebeat's socket over HTTP. Errors are \
                     {\"error\": {code, message, data}} with the socket's codes.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(
            components
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
                )
                .build(),
        ))
        .build()
}

trait IntoPathItem {
    fn into_path_item(self) -> PathItem;
}

impl IntoPathItem for OperationBuilder {
    fn into_path_item(self) -> PathItem {
        PathItem::new(utoipa::openapi::HttpMethod::Get, self.build())
    }
}

fn get(id: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(summary))
}

fn method(m: HttpMethod) -> utoipa::openapi::HttpMethod {
    match m {
        HttpMethod::Get => utoipa::openapi::HttpMethod::Get,
        HttpMethod::Post => utoipa::openapi::HttpMethod::Post,
        HttpMethod::Delete => utoipa::openapi::HttpMethod::Delete,
    }
}

fn json_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().build())
        .build()
}

fn authed(op: OperationBuilder) -> Operation {
    op.security(SecurityRequirement::new("bearer", Vec::<String>::new()))
        .response("401", json_response("No or a wrong bearer token"))
        .build()
}

/// `POST /rpc`'s body: a JSON-RPC 2.0 request of one of the served methods.
fn rpc_body() -> utoipa::openapi::request_body::RequestBody {
    let mut methods: Vec<&str> = protocol::METHODS.to_vec();
    methods.retain(|m| *m != protocol::Subscribe::NAME);
    let schema = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "jsonrpc",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["2.0"])),
        )
        .property(
            "id",
            ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::Integer,
                Type::String,
            ])),
        )
        .property(
            "method",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(methods)),
        )
        .property("params", ObjectBuilder::new().schema_type(Type::Object))
        .required("jsonrpc")
        .required("id")
        .required("method")
        .build();
    RequestBodyBuilder::new()
        .description(Some(
            "A JSON-RPC 2.0 request object of the control protocol",
        ))
        .required(Some(Required::True))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(schema))
                .example(Some(
                    json!({"jsonrpc": "2.0", "id": 1, "method": "symbol.list",
                    "params": {"active": true}}),
                ))
                .build(),
        )
        .build()
}

/// The object schema of a params type (every params type is an object).
fn object_of(schema: &RefOr<Schema>) -> Option<&Object> {
    match schema {
        RefOr::T(Schema::Object(object)) => Some(object),
        _ => None,
    }
}

/// One route's operation: its path segments, query parameters or JSON body (from the
/// method's params schema, with the example's values), the error statuses.
fn operation(r: &RestRoute, params: Option<&ParamsDoc>) -> Operation {
    use utoipa::openapi::path::Parameter;
    let mut op = OperationBuilder::new()
        .operation_id(Some(r.rpc))
        .summary(Some(r.summary))
        .description(Some(format!("Calls the control method `{}`.", r.rpc)));
    let path_names: Vec<&str> = r
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let object = params.and_then(|p| object_of(&p.schema));
    let example = example(r.rpc).unwrap_or(Value::Null);
    let parameter = |name: &str, place: ParameterIn| -> Parameter {
        let required = place == ParameterIn::Path
            || object.is_some_and(|o| o.required.iter().any(|n| n == name));
        let mut p = ParameterBuilder::new()
            .name(name)
            .parameter_in(place)
            .required(if required {
                Required::True
            } else {
                Required::False
            })
            .example(example.get(name).cloned());
        if let Some(schema) = object.and_then(|o| o.properties.get(name)) {
            p = p.schema(Some(schema.clone()));
        }
        p.build()
    };
    for name in &path_names {
        op = op.parameter(parameter(name, ParameterIn::Path));
    }
    let rest = object.map(|o| {
        let mut rest = o.clone();
        rest.properties
            .retain(|k, _| !path_names.contains(&k.as_str()));
        rest.required.retain(|k| !path_names.contains(&k.as_str()));
        rest
    });
    if r.method == HttpMethod::Post {
        let mut content = ContentBuilder::new();
        if let (Some(p), Some(rest)) = (params, rest) {
            let schema: RefOr<Schema> = if path_names.is_empty() {
                Ref::from_schema_name(p.schema_name.clone()).into()
            } else {
                Schema::Object(rest).into()
            };
            let mut body = example.as_object().cloned().unwrap_or_default();
            body.retain(|k, _| !path_names.contains(&k.as_str()));
            content = content
                .schema(Some(schema))
                .example(Some(Value::Object(body)));
        }
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .description(Some(format!("The params of `{}`", r.rpc)))
                .required(Some(Required::True))
                .content("application/json", content.build())
                .build(),
        ));
    } else if let Some(rest) = rest {
        for name in rest.properties.keys() {
            op = op.parameter(parameter(name, ParameterIn::Query));
        }
    }
    authed(
        op.response("200", json_response("The method's result"))
            .response("400", json_response("Invalid params or malformed JSON"))
            .response("404", json_response("Unknown symbol or order"))
            .response("409", json_response("Conflict"))
            .response(
                "429",
                json_response("This transport's exchange request rate is spent"),
            )
            .response("501", json_response("Not served by this daemon"))
            .response("502", json_response("The exchange rejected the request"))
            .response(
                "503",
                json_response("The exchange is unavailable or its limits are reached"),
            ),
    )
}
