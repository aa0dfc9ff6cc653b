//! The OpenAPI document of the HTTP API (`GET /api/v1/openapi.json` serves this same
//! document): every route is in it, each with the JSON schema of its method's params and
//! an example request; every example validates against its schema (a JSON Schema 2020-12
//! validator, the dialect of OpenAPI 3.1) and is accepted by the method's params type.
//! The schemas refuse what the methods refuse (an unknown key, a wrong value, a missing
//! required one), so a schema that validated everything would fail here.

use serde_json::{Map, Value, json};
use tradebeat::control::protocol::{self, Method as _};
use tradebeat::http::params_doc::{ParamsDoc, example, params_docs};
use tradebeat::http::routes::ROUTES;

fn document() -> Value {
    let text = tradebeat::http::openapi::document()
        .to_json()
        .expect("the document serializes");
    serde_json::from_str(&text).expect("the document is JSON")
}

/// A validator of `schema`, with the document's components beside it so that
/// `#/components/schemas/…` references resolve.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": doc["components"],
    });
    jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("not a valid schema ({e}): {schema}"))
}

fn assert_valid(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let v = validator(doc, schema);
    let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what}: {instance} does not validate against {schema}: {errors:?}"
    );
}

fn component_ref(d: &ParamsDoc) -> Value {
    json!({ "$ref": format!("#/components/schemas/{}", d.schema_name) })
}

fn served(method: &str) -> bool {
    protocol::METHODS.contains(&method)
}

#[test]
fn every_route_has_its_params_schema_and_an_example_request_that_validates() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let docs = params_docs();
    let mut checked = 0;
    for r in ROUTES {
        let path = format!("/api/v1{}", r.path);
        let op = &doc["paths"][&path][r.method.as_str()];
        assert!(op.is_object(), "{} {path} missing", r.method.as_str());
        if !served(r.rpc) {
            // A route for a method a later release serves (501): no params to describe.
            assert!(docs.iter().all(|d| d.method != r.rpc), "{}", r.rpc);
            continue;
        }
        let d = docs
            .iter()
            .find(|d| d.method == r.rpc)
            .unwrap_or_else(|| panic!("no params schema for {}", r.rpc));
        let what = format!("{} {path} ({})", r.method.as_str(), r.rpc);

        // The request, as the document shows it: each parameter's example against its
        // schema, the body's example against the body's schema.
        let mut request = Map::new();
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            let schema = &p["schema"];
            assert!(schema.is_object(), "{what}: parameter {name} has no schema");
            match p.get("example") {
                Some(value) if !value.is_null() => {
                    assert_valid(&doc, schema, value, &format!("{what} parameter {name}"));
                    request.insert(name.to_string(), value.clone());
                }
                _ => assert!(
                    p["required"] != json!(true),
                    "{what}: required parameter {name} has no example"
                ),
            }
        }
        if let Some(content) = op["requestBody"]["content"].get("application/json") {
            let schema = &content["schema"];
            assert!(schema.is_object(), "{what}: the body has no schema");
            let body = &content["example"];
            assert!(body.is_object(), "{what}: the body has no example");
            assert_valid(&doc, schema, body, &format!("{what} body"));
            for (k, v) in body.as_object().unwrap() {
                assert!(
                    request.insert(k.clone(), v.clone()).is_none(),
                    "{what}: {k} twice"
                );
            }
        }
        let request = Value::Object(request);
        assert_eq!(
            Some(&request),
            example(r.rpc).as_ref(),
            "{what}: the document carries the whole example"
        );
        // The whole params object: valid against the params type's schema, and taken by
        // the method's own params type.
        assert_valid(&doc, &component_ref(d), &request, &what);
        (d.accepts)(&request).unwrap_or_else(|e| panic!("{what}: {request} refused: {e}"));
        checked += 1;
    }
    assert!(checked >= 30, "{checked} routes checked");
    for path in [
        "/rpc",
        "/health",
        "/metrics",
        "/chart",
        "/api/v1/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
}

#[test]
fn every_served_method_has_a_params_schema_and_rpc_names_them_all() {
    let doc = document();
    let docs = params_docs();
    for method in protocol::METHODS {
        let d = docs
            .iter()
            .find(|d| d.method == method)
            .unwrap_or_else(|| panic!("{method} has no params schema"));
        assert!(
            doc["components"]["schemas"][&d.schema_name].is_object(),
            "{method}: {} not in components",
            d.schema_name
        );
        let example = example(method).unwrap_or_else(|| panic!("{method} has no example"));
        assert_valid(&doc, &component_ref(d), &example, method);
        (d.accepts)(&example).unwrap_or_else(|e| panic!("{method}: {example} refused: {e}"));
    }
    // POST /rpc: its example validates, and its method enum is every method it serves.
    let content = &doc["paths"]["/rpc"]["post"]["requestBody"]["content"]["application/json"];
    assert_valid(&doc, &content["schema"], &content["example"], "/rpc");
    let names = content["schema"]["properties"]["method"]["enum"]
        .as_array()
        .unwrap();
    for method in protocol::METHODS {
        let listed = names.contains(&json!(method));
        assert_eq!(
            listed,
            method != protocol::Subscribe::NAME,
            "{method} in /rpc's method enum"
        );
    }
    assert!(!validator(&doc, &content["schema"]).is_valid(&json!({"jsonrpc": "2.0", "id": 1})));
}

#[test]
fn the_schemas_refuse_what_the_methods_refuse() {
    let doc = document();
    let docs = params_docs();
    let find = |method: &str| docs.iter().find(|d| d.method == method).unwrap();
    let with = |method: &str, key: &str, value: Value| {
        let mut e = example(method).unwrap();
        e[key] = value;
        e
    };
    let without = |method: &str, key: &str| {
        let mut e = example(method).unwrap();
        e.as_object_mut().unwrap().remove(key);
        e
    };
    let cases = [
        ("symbol.add", with("symbol.add", "no_such_param", json!(1))),
        ("symbol.add", without("symbol.add", "symbol")),
        ("symbol.add", with("symbol.add", "intervals", json!(["7m"]))),
        ("symbol.add", with("symbol.add", "market", json!("margin"))),
        (
            "symbol.add",
            with("symbol.add", "symbol", json!("BTC-USDT")),
        ),
        (
            "order.place",
            with("order.place", "side", json!("SIDEWAYS")),
        ),
        (
            "order.place",
            with("order.place", "type", json!("TRAILING")),
        ),
        (
            "order.place",
            with("order.place", "client_order_id", json!("a b")),
        ),
        ("kline.list", with("kline.list", "limit", json!("many"))),
        ("kline.list", without("kline.list", "interval")),
        ("subscribe", with("subscribe", "events", json!(["trade"]))),
        ("strategy.add", without("strategy.add", "command")),
        ("status", json!({"verbose": true})),
    ];
    for (method, params) in cases {
        let d = find(method);
        assert!(
            !validator(&doc, &component_ref(d)).is_valid(&params),
            "{method}: the schema takes {params}"
        );
        assert!(
            (d.accepts)(&params).is_err(),
            "{method}: the method takes {params}"
        );
    }
    // And the spellings the methods accept beyond the examples validate too.
    for symbol in ["btcusdt", "BTC/USDT", "BTCUSD_PERP"] {
        let params = with("market.get", "symbol", json!(symbol));
        assert_valid(&doc, &component_ref(find("market.get")), &params, symbol);
        assert!((find("market.get").accepts)(&params).is_ok(), "{symbol}");
    }
}
