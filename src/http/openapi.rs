//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the HTTP API, generated with
//! utoipa's typed builders from the route table ([`ROUTES`]), so a route added there is
//! described here without another line.

use utoipa::openapi::path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Required, ResponseBuilder,
};

use super::routes::{HttpMethod, ROUTES, RestRoute};

/// The document: every REST route (bearer auth), `POST /rpc`, `/health`, `/metrics` and
/// `/chart`.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        paths = paths.path(
            format!("/api/v1{}", r.path),
            PathItem::new(method(r.method), operation(r)),
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
                        .request_body(Some(json_body("A JSON-RPC 2.0 request object")))
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
            ComponentsBuilder::new()
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

fn json_body(description: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .description(Some(description))
        .required(Some(Required::True))
        .content("application/json", ContentBuilder::new().build())
        .build()
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

/// One route's operation: its path segments, its body for `POST`, the error statuses.
fn operation(r: &RestRoute) -> Operation {
    let mut op = OperationBuilder::new()
        .operation_id(Some(r.rpc))
        .summary(Some(r.summary))
        .description(Some(format!("Calls the control method `{}`.", r.rpc)));
    for segment in r.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .build(),
            );
        }
    }
    if r.method == HttpMethod::Post {
        op = op.request_body(Some(json_body(&format!("The params of `{}`", r.rpc))));
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
