//! The acquirer's checks on the fields of a request (identifiers, numbers, an activation's
//! merchant details) and the `Invalid` error they answer with: rules about the request
//! alone, apart from the books, so that every kind of call checks its fields the same way.

use std::ops::RangeInclusive;

use posmate_acquirer_api::{AcquirerError, ActivationRequest};

pub(super) fn invalid(field: &str, reason: impl Into<String>) -> AcquirerError {
    AcquirerError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

pub(super) fn check(ok: bool, field: &str, reason: &str) -> Result<(), AcquirerError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(field, reason))
    }
}

/// The shape most identifiers and codes have: a length (in bytes) within `len`, every byte
/// one that `allowed` accepts.
pub(super) fn check_text(
    value: &str,
    len: RangeInclusive<usize>,
    allowed: impl Fn(&u8) -> bool,
    field: &str,
    reason: &str,
) -> Result<(), AcquirerError> {
    check(
        len.contains(&value.len()) && value.bytes().all(|b| allowed(&b)),
        field,
        reason,
    )
}

pub(super) fn check_request_id(id: &str) -> Result<(), AcquirerError> {
    check_text(
        id,
        1..=64,
        u8::is_ascii_graphic,
        "request_id",
        "must be 1 to 64 printable characters",
    )
}

pub(super) fn check_merchant_no(m: &str) -> Result<(), AcquirerError> {
    check_text(
        m,
        15..=15,
        u8::is_ascii_digit,
        "merchant_no",
        "a merchant number has 15 digits",
    )
}

pub(super) fn check_sn(sn: &str) -> Result<(), AcquirerError> {
    check_text(
        sn,
        6..=32,
        |b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'-',
        "sn",
        "an SN has 6 to 32 capital letters, digits or '-'",
    )
}

pub(super) fn check_activation(req: &ActivationRequest) -> Result<(), AcquirerError> {
    check_sn(&req.sn)?;
    check_merchant_no(&req.merchant_no)?;
    check_text(
        &req.terminal_no,
        8..=8,
        u8::is_ascii_alphanumeric,
        "terminal_no",
        "a terminal number has 8 letters or digits",
    )?;
    check_text(
        &req.activation_code,
        6..=16,
        u8::is_ascii_alphanumeric,
        "activation_code",
        "an activation code has 6 to 16 letters or digits",
    )?;
    let m = &req.merchant;
    check(
        !m.legal_name.trim().is_empty() && m.legal_name.chars().count() <= 200,
        "legal_name",
        "the merchant's legal name is required (at most 200 characters)",
    )?;
    let digits = m.contact_phone.bytes().filter(u8::is_ascii_digit).count();
    check(
        (5..=15).contains(&digits)
            && m.contact_phone
                .bytes()
                .all(|b| b.is_ascii_digit() || b" +-()".contains(&b)),
        "contact_phone",
        "a phone number has 5 to 15 digits (spaces, '+', '-' and brackets allowed)",
    )?;
    check(
        !m.address.trim().is_empty() && m.address.chars().count() <= 300,
        "address",
        "the shop's address is required (at most 300 characters)",
    )
}
