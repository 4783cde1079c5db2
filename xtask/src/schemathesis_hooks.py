"""cargo xtask api-fuzz (xtask/src/api_fuzz.rs): one check schemathesis lacks.

positive_data_acceptance has to take 422 from this API (schemathesis.toml says why): some
of its rules are beyond any JSON Schema. This check keeps that from hiding a rule the spec
fails to state: a call valid by the spec and refused 422 `invalid` must be refused for one
of those rules, recognised by the field and the server's reason; a refusal for a field's
own format (length, characters) means openapi.yaml is looser than the server, and fails.
"""

import json

import schemathesis

# Refusals that no schema can state, as (field, words of the reason). The field alone is
# not enough: `merchant_no` is refused for its format and for differing from the path.
BEYOND_THE_SCHEMA = [
    # A body value repeating the path's differently (generated independently).
    ("merchant_no", "the path and the body name different values"),
    ("sn", "the path and the body name different values"),
    # The key must equal the body's request_id; or it was used for another call.
    ("Idempotency-Key", "must equal the body's request_id"),
    ("Idempotency-Key", "already used for a different request"),
    ("request_id", "already used for a different request"),
    # The acquirer's records: the terminal's registration, the merchant's name.
    ("device_key", "does not match the manufacturer's record"),
    ("terminal_no", "is not the terminal number assigned to this SN"),
    ("legal_name", "does not match the name the acquirer registered"),
    # A card number's Luhn check digit.
    ("pan", "fails its check digit"),
    # Where an application or a terminal stands.
    ("application_id", "still under review"),
    ("application_id", "was rejected"),
    ("application_id", "no longer under review"),
    ("sn", "activation is not complete"),
]


@schemathesis.check
def valid_data_refused_only_beyond_the_schema(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        problem = json.loads(response.content)
    except ValueError:
        return None  # content_type_conformance and response_schema_conformance judge it
    if not isinstance(problem, dict) or problem.get("code") != "invalid":
        return None  # name-mismatch, card-refused: decided on the books
    field = problem.get("field", "")
    reason = problem.get("reason", "")
    if any(field == f and words in reason for f, words in BEYOND_THE_SCHEMA):
        return None
    raise AssertionError(
        f"A call valid by openapi.yaml was refused for its field `{field}` ({reason}): "
        "the spec is looser than the server's rule for it, or the server is wrong"
    )
