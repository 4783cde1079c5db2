//! `acquirer-api/openapi.yaml` states each field's format exactly as the acquirer checks it:
//! for every field with a rule of its own, values on both sides of each limit (length,
//! characters, counted in characters) are judged by the spec's schema and by the sandbox's
//! acquirer (`posmate_sim`, demo world), and the two must agree — a value the spec allows is
//! never refused for that field, a value it forbids always is. This is the format half of
//! the spec's drift test (`acquirer-api/src/openapi_tests.rs` has the routes and shapes);
//! `cargo xtask api-fuzz` checks the same from outside with schemathesis.

use posmate_acquirer_api::http::{self, HttpRequest, Method, IDEMPOTENCY_KEY};
use posmate_acquirer_api::{decode_reply, AcquirerError, ApiRequest};
use posmate_sim::acquirer::SimAcquirer;
use serde_json::{json, Value};

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../acquirer-api/openapi.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("openapi.yaml")).expect("YAML")
}

/// Whether `instance` is valid by the spec's schema at `pointer` (its `$ref`s resolving in
/// the spec).
fn valid(spec: &Value, pointer: &str, instance: &Value) -> bool {
    let mut root = spec.clone();
    let object = root.as_object_mut().expect("an object");
    object.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    object.insert("allOf".into(), json!([{ "$ref": format!("#{pointer}") }]));
    jsonschema::validator_for(&root)
        .expect("the spec's schemas compile")
        .is_valid(instance)
}

fn acquirer() -> SimAcquirer {
    let acquirer = SimAcquirer::new(7);
    posmate_sim::demo::seed(&acquirer);
    acquirer
}

/// The field the acquirer refused `body` (a call of kind `op`) for, if it was `invalid`.
fn refused_field(op: &str, body: &Value) -> Option<String> {
    let mut call = body.clone();
    call["op"] = op.into();
    let request: ApiRequest = serde_json::from_value(call).expect("the call's shape");
    let answer = acquirer().handle(&posmate_acquirer_api::encode_request(&request));
    match decode_reply(&answer) {
        Err(AcquirerError::Invalid { field, .. }) => Some(field),
        _ => None,
    }
}

fn long(c: &str, n: usize) -> String {
    c.repeat(n)
}

/// `(member path in the body, the acquirer's name for the field, values)`.
type Cases = Vec<(&'static str, &'static str, Vec<String>)>;

/// Every value of `cases` set into `base` (one at a time) is judged alike by the spec's
/// `schema` and the acquirer.
fn agree(op: &str, schema: &str, base: Value, cases: Cases) {
    let spec = spec();
    let pointer = format!("/components/schemas/{schema}");
    assert!(valid(&spec, &pointer, &base), "{schema}: the base is valid");
    assert_eq!(
        refused_field(op, &base),
        None,
        "{schema}: the base is taken"
    );
    let mut checked = 0;
    for (path, field, values) in cases {
        for value in values {
            let mut body = base.clone();
            *body.pointer_mut(path).expect("a member of the base") = value.clone().into();
            let by_spec = valid(&spec, &pointer, &body);
            let refused = refused_field(op, &body).as_deref() == Some(field);
            assert_eq!(
                by_spec,
                !refused,
                "{schema}{path} = {value:?}: the spec says {}, the acquirer {}",
                if by_spec { "valid" } else { "invalid" },
                if refused { "refuses it" } else { "takes it" },
            );
            checked += 1;
        }
    }
    eprintln!("{schema}: {checked} values judged alike");
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn merchant_nos() -> Vec<String> {
    strings(&[
        "898310148160099",
        "89831014816001",
        "8983101481600123",
        "89831014816001a",
        " 89831014816001",
        "",
    ])
}

fn sns() -> Vec<String> {
    let mut v = strings(&[
        "SN2027",
        "SN-20",
        "SN202",
        "sn2026000001",
        "SN 2026",
        "SN_2026",
        "",
    ]);
    v.extend([long("A", 32), long("A", 33), long("9", 6)]);
    v
}

fn request_ids() -> Vec<String> {
    let mut v = strings(&["x", "!~{}", "", "req 1", "réq-1", "req\t1"]);
    v.extend([long("r", 64), long("r", 65)]);
    v
}

/// Blank, and the limit of `max` characters counted in characters, not bytes.
fn not_blank_at_most(max: usize) -> Vec<String> {
    let mut v = strings(&["x", " x ", "", " ", "\t\n", "\u{3000}"]);
    v.extend([long("é", max), long("é", max + 1), long("a", max + 1)]);
    v
}

#[test]
fn activation_fields_are_as_the_spec_says() {
    let base = json!({
        "request_id": "req-1",
        "sn": "SN2026000099",
        "terminal_no": "10020301",
        "merchant_no": "898310148160099",
        "activation_code": "ACT07001",
        "merchant": {
            "legal_name": "Zhang San Noodles",
            "contact_phone": "+86 138 0000 0000",
            "address": "12 Wenhua Road, Hangzhou"
        },
        "device_key": long("ab", 32),
    });
    let mut terminal_nos = strings(&["1002030", "100203011", "1002-301", "abcdEF12", "1002 301"]);
    terminal_nos.push(String::new());
    let mut codes = strings(&["ACT070", "ACT07", "ACT-7001", "act07001", "ACT 7001"]);
    codes.extend([long("A", 16), long("A", 17)]);
    let phones = strings(&[
        "12345",
        "1234",
        "123456789012345",
        "1234567890123456",
        "(+86) 138-0000",
        "+86 138 0000 000x",
        "     ",
        "+ - ( ) 1 2 3 4 5",
        "",
    ]);
    agree(
        "activate",
        "ActivationRequest",
        base,
        vec![
            ("/request_id", "request_id", request_ids()),
            ("/sn", "sn", sns()),
            ("/merchant_no", "merchant_no", merchant_nos()),
            ("/terminal_no", "terminal_no", terminal_nos),
            ("/activation_code", "activation_code", codes),
            ("/merchant/legal_name", "legal_name", not_blank_at_most(200)),
            ("/merchant/contact_phone", "contact_phone", phones),
            ("/merchant/address", "address", not_blank_at_most(300)),
        ],
    );
}

#[test]
fn card_binding_fields_are_as_the_spec_says() {
    let merchant = posmate_sim::demo::MERCHANT_NO;
    let token = json!({
        "request_id": "req-2",
        "merchant_no": merchant,
        "purpose": "credit",
        "holder_name": posmate_sim::demo::MERCHANT_NAME,
        "source": {"type": "token", "token": long("ab", 8), "masked_pan": "622588******1234"},
    });
    let mut tokens = strings(&[
        "0123456789ABCDEF",
        "0123456789abcde",
        "0123456789abcdeg",
        "",
    ]);
    tokens.extend([long("f", 64), long("f", 65)]);
    let masked = strings(&[
        "622588**1234",
        "622588*1234",
        "622588*********1234",
        "622588**********1234",
        "622588******12a4",
        "6225881234561234",
        "******************",
        "",
    ]);
    let mut holders = strings(&[" ", "", "\t"]);
    holders.push(posmate_sim::demo::MERCHANT_NAME.to_lowercase());
    agree(
        "bind_card",
        "BindCardRequest",
        token,
        vec![
            ("/request_id", "request_id", request_ids()),
            ("/merchant_no", "merchant_no", merchant_nos()),
            ("/holder_name", "holder_name", holders),
            ("/source/token", "token", tokens),
            ("/source/masked_pan", "masked_pan", masked),
        ],
    );
    let manual = json!({
        "request_id": "req-3",
        "merchant_no": merchant,
        "purpose": "credit",
        "holder_name": posmate_sim::demo::MERCHANT_NAME,
        "source": {"type": "manual", "pan": "6222021234567890128", "expiry": "0330"},
    });
    // The digits and their count; a failing Luhn check digit is the one rule beyond a
    // schema (a 422 `invalid` for `pan` that schemathesis_hooks.py lets through), so every
    // number here passes it.
    let pans = strings(&[
        "4111111111111111",
        "4222222222222",
        "6222021234567890128",
        "411111111111",
        "62220212345678901280",
        "4111 1111 1111 1111",
        "",
    ]);
    let expiries = strings(&["1299", "0130", "1399", "0099", "130", "01/30", "12345", ""]);
    agree(
        "bind_card",
        "BindCardRequest",
        manual,
        vec![
            ("/source/pan", "pan", pans),
            ("/source/expiry", "expiry", expiries),
        ],
    );
}

#[test]
fn confirmation_and_deregistration_fields_are_as_the_spec_says() {
    // Confirmation's body is `{"test_txn_ref"}`; the call also names the application.
    let spec = spec();
    let pointer = "/components/schemas/Confirmation";
    let mut refs = strings(&["TST000000000042", "T", "", "TXN-9", "TST 1", "TSTé"]);
    refs.extend([long("T", 32), long("T", 33)]);
    for r in refs {
        let by_spec = valid(&spec, pointer, &json!({ "test_txn_ref": r }));
        let body = json!({"application_id": "APP-000001", "test_txn_ref": r});
        let refused = refused_field("confirm_activation", &body).as_deref() == Some("test_txn_ref");
        assert_eq!(by_spec, !refused, "test_txn_ref = {r:?}");
    }
    let base = json!({
        "request_id": "req-4",
        "merchant_no": posmate_sim::demo::MERCHANT_NO,
        "sn": "SN2026000001",
        "reason": "shop closed",
    });
    agree(
        "deregister",
        "DeregisterRequest",
        base,
        vec![
            ("/request_id", "request_id", request_ids()),
            ("/merchant_no", "merchant_no", merchant_nos()),
            ("/sn", "sn", sns()),
            ("/reason", "reason", not_blank_at_most(500)),
        ],
    );
}

#[test]
fn the_idempotency_key_is_as_the_spec_says() {
    let spec = spec();
    let key = &spec["components"]["parameters"]["IdempotencyKey"]["schema"];
    let mut root = spec.clone();
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
    root["allOf"] = json!([key]);
    let validator = jsonschema::validator_for(&root).expect("compiles");
    let mut keys = strings(&["k", "unbind:M:B", "a b", "!~", "", "a\u{7f}"]);
    keys.extend([long("k", 255), long("k", 256)]);
    for k in keys {
        // What reaches the server: a header value the HTTP layer read as text.
        let request = HttpRequest {
            method: Method::Post,
            path: "/v1/merchants/898310148160012/terminals/SN2026000001/reopening".into(),
            headers: vec![(IDEMPOTENCY_KEY.into(), k.clone())],
            body: None,
        };
        let refused = matches!(
            http::from_http(&request),
            Err(AcquirerError::Invalid { field, .. }) if field == "Idempotency-Key"
        );
        let by_spec = validator.is_valid(&json!(k));
        // A value with a control character or a space at either end never arrives as
        // this text (HTTP trims the ends; hyper's to_str refuses the rest), so the spec
        // forbidding it is stricter than the mapping, never looser.
        let unsendable = k.chars().any(|c| c.is_ascii_control()) || k.trim() != k;
        if !unsendable {
            assert_eq!(by_spec, !refused, "Idempotency-Key = {k:?}");
        } else {
            assert!(
                !by_spec,
                "Idempotency-Key = {k:?} cannot be sent, the spec forbids it"
            );
        }
    }
}
