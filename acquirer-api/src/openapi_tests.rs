//! `openapi.yaml` and the Rust mapping never drift: every route `to_http` produces is in
//! the spec with that method, its path parameters and (on a mutating call) its required
//! `Idempotency-Key`; the spec has no route the mapping lacks; and every sample request
//! body, answer and problem validates against the schema the spec gives it. The schemas
//! forbid members they do not name, so a field added in Rust without the spec fails here.

use serde_json::{json, Value};

use crate::http::*;
use crate::http_tests::{answers, every_request};
use crate::tests::every_error;
use crate::*;

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml is there");
    serde_norway::from_str(&text).expect("openapi.yaml is YAML")
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = spec
                .pointer(r.strip_prefix('#').expect("a local $ref"))
                .unwrap_or_else(|| panic!("{r} is not in the spec"));
            resolve(spec, target)
        }
        None => v,
    }
}

/// A validator of `schema`, a schema of the spec: the whole spec is its root, so that its
/// `$ref`s (`#/components/schemas/…`) resolve as they do in the spec.
fn validator(spec: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = spec.clone();
    let object = root.as_object_mut().expect("the spec is an object");
    object.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    object.insert("allOf".into(), json!([schema]));
    jsonschema::validator_for(&root).expect("the spec's schemas compile")
}

/// Checks `instance` against `schema`, a schema of the spec.
fn validate(spec: &Value, schema: &Value, instance: &Value, what: &str) {
    let validator = validator(spec, schema);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{instance:#}");
}

/// The spec's path template matching `path` (`{name}` matches one segment), with the
/// values of its parameters.
fn template<'a>(spec: &'a Value, path: &str) -> (&'a str, Vec<(String, String)>) {
    let segments: Vec<&str> = path.split('/').collect();
    for t in spec["paths"].as_object().unwrap().keys() {
        let parts: Vec<&str> = t.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matches = parts.iter().zip(&segments).all(|(p, s)| {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    params.push((name.to_owned(), (*s).to_owned()));
                    true
                }
                None => p == s,
            }
        });
        if matches {
            return (t, params);
        }
    }
    panic!("no route of openapi.yaml matches {path}")
}

/// A path segment as the server reads it (`%XX` decoded).
fn unescape(segment: &str) -> String {
    let mut out = Vec::new();
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&segment[i + 1..i + 3], 16).expect("a %XX escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

fn parameters<'a>(spec: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
    operation["parameters"]
        .as_array()
        .map(|ps| ps.iter().map(|p| resolve(spec, p)).collect())
        .unwrap_or_default()
}

#[test]
fn every_route_of_the_mapping_is_in_the_spec_and_nothing_else_is() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut covered = vec![(HEALTH_PATH.to_owned(), "get".to_owned())];
    for req in every_request() {
        let http = to_http(&req);
        let (t, params) = template(&spec, &http.path);
        let method = http.method.as_str().to_lowercase();
        let operation = &spec["paths"][t][&method];
        assert!(operation.is_object(), "{method} {t} is not in the spec");
        covered.push((t.to_owned(), method.clone()));
        let declared = parameters(&spec, operation);
        for (name, value) in &params {
            let param = declared
                .iter()
                .find(|p| p["name"] == name.as_str() && p["in"] == "path" && p["required"] == true);
            let param = param
                .unwrap_or_else(|| panic!("{method} {t}: path parameter {name} is not declared"));
            // The value as the server reads it, against the parameter's own format.
            let value = Value::String(unescape(value));
            validate(
                &spec,
                &param["schema"],
                &value,
                &format!("{method} {t}: path parameter {name}"),
            );
        }
        let key = declared
            .iter()
            .find(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
        match http.header(IDEMPOTENCY_KEY) {
            Some(value) => {
                let key =
                    key.unwrap_or_else(|| panic!("{method} {t} must declare Idempotency-Key"));
                assert_eq!(
                    key["required"], true,
                    "{method} {t} must require Idempotency-Key"
                );
                validate(
                    &spec,
                    &key["schema"],
                    &Value::String(value.to_owned()),
                    &format!("{method} {t}: the Idempotency-Key the phone sends"),
                );
            }
            None => assert!(key.is_none(), "{method} {t} takes no Idempotency-Key"),
        }
        match &http.body {
            Some(body) => {
                let content = &operation["requestBody"]["content"][JSON];
                assert_eq!(operation["requestBody"]["required"], true, "{method} {t}");
                let body: Value = serde_json::from_slice(body).unwrap();
                validate(
                    &spec,
                    &content["schema"],
                    &body,
                    &format!("{method} {t} request"),
                );
            }
            None => assert!(operation.get("requestBody").is_none(), "{method} {t}"),
        }
    }
    let mut in_spec = Vec::new();
    for (t, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            in_spec.push((t.clone(), method.clone()));
        }
    }
    covered.sort();
    covered.dedup();
    in_spec.sort();
    assert_eq!(
        in_spec, covered,
        "the spec's routes are exactly the mapping's"
    );
}

#[test]
fn every_answer_and_problem_validates_against_the_spec() {
    let spec = spec();
    let statuses: Vec<u16> = every_error().iter().map(status_of).collect();
    for (req, answers) in every_request().iter().zip(answers()) {
        let http = to_http(req);
        let (t, _) = template(&spec, &http.path);
        let operation = &spec["paths"][t][http.method.as_str().to_lowercase()];
        let ok = &operation["responses"]["200"]["content"][JSON]["schema"];
        for answer in answers {
            let body: Value = serde_json::from_slice(&reply_to_http(&Ok(answer)).body).unwrap();
            validate(&spec, ok, &body, &format!("the answer of {t}"));
        }
        for status in &statuses {
            let response = resolve(&spec, &operation["responses"][status.to_string()]);
            assert!(
                response["content"][PROBLEM_JSON]["schema"].is_object(),
                "{t}: no problem answer for HTTP {status}"
            );
        }
    }
    let problem_schema = &spec["components"]["schemas"]["Problem"];
    for e in every_error() {
        let body: Value = serde_json::from_slice(&problem(&e)).unwrap();
        validate(
            &spec,
            problem_schema,
            &body,
            &format!("the problem of {}", e.code()),
        );
    }
    let health = serde_json::to_value(Health {
        api_version: API_VERSION,
        server: "posmate-sandbox 0.1.0".into(),
    })
    .unwrap();
    let schema = &spec["paths"][HEALTH_PATH]["get"]["responses"]["200"]["content"][JSON]["schema"];
    validate(&spec, schema, &health, "health");
}

#[test]
fn the_spec_refuses_what_the_mapping_would_not_send() {
    let spec = spec();
    let schema = json!({"$ref": "#/components/schemas/ActivationRequest"});
    let mut body: Value = serde_json::from_slice(
        &to_http(&ApiRequest::Activate(tests::activation()))
            .body
            .unwrap(),
    )
    .unwrap();
    body["device_key"] = "not hex".into();
    let validator = validator(&spec, &schema);
    assert!(!validator.is_valid(&body), "a bad device key is refused");
    body["device_key"] = "ab".repeat(32).into();
    assert!(validator.is_valid(&body));
    body["surprise"] = 1.into();
    assert!(
        !validator.is_valid(&body),
        "an undocumented member is refused"
    );
}
