//! Full card numbers masked in free text before it is stored: what the acquirer or the
//! terminal wrote in a message (an error's detail, a decline reason, a record's reference
//! numbers) and what the merchant typed (a decommission reason) may hold one by mistake or
//! by malice, and the phone's storage may hold masked numbers only (PCI DSS 3.4).
//!
//! What counts as a card number is `posmate_proto::pan::full_pans`' rule: a whole run of
//! 13–19 digits (grouped or not) with a scheme's first digit and a valid check digit, so
//! digits inside hex strings or codes are not touched.
//!
//! Identifiers are left alone: merchant and terminal numbers, serial numbers and ids have
//! formats checked where they enter, and a merchant number that happens to pass Luhn is not
//! a card number.

use std::borrow::Cow;

use posmate_proto::pan::mask_full_pans;
use serde_json::Value;

use super::model::AuditEvent;

/// Keys of identifier fields in audit inputs and details, never masked.
const IDENTIFIERS: &[&str] = &[
    "application_id",
    "binding_id",
    "deregistration_id",
    "flow_id",
    "id",
    "merchant_no",
    "request_id",
    "sn",
    "terminal_no",
];

/// `text` with full card numbers masked.
pub(super) fn text(text: &str) -> Cow<'_, str> {
    mask_full_pans(text)
}

/// `value` with full card numbers masked in every string but identifiers'.
pub(super) fn json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(text(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if IDENTIFIERS.contains(&k.as_str()) {
                        v.clone()
                    } else {
                        json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `event` as it may be stored.
pub(super) fn event(event: &AuditEvent) -> AuditEvent {
    AuditEvent {
        at_ms: event.at_ms,
        action: text(&event.action).into_owned(),
        sn: event.sn.clone(),
        inputs: json(&event.inputs),
        outcome: text(&event.outcome).into_owned(),
        detail: json(&event.detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_card_numbers_in_free_text_but_not_in_identifiers() {
        let detail = json!({
            "error": "card 6222021234567890128 is blocked",
            "lines": ["ok", "retry 4111111111111111"],
            "merchant_no": "378282246310005",
            "count": 3,
        });
        assert_eq!(
            json(&detail),
            json!({
                "error": "card 622202*********0128 is blocked",
                "lines": ["ok", "retry 411111******1111"],
                "merchant_no": "378282246310005",
                "count": 3,
            })
        );
    }
}
