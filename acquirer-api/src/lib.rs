//! The acquirer's merchant API as data: what the phone asks ([`ApiRequest`]), what the
//! acquirer answers ([`ApiResponse`]), why a call failed ([`AcquirerError`]) and how all of
//! it travels as JSON ([`encode_request`], [`decode_request`], [`encode_reply`],
//! [`decode_reply`]).
//!
//! It is its own crate so that both sides of the API share one definition without either
//! depending on the other: the phone (`posmate-core`, whose `Gateway` speaks these types
//! through an `Exchange`) and every acquirer implementation (the simulated one in
//! `posmate-sim`, a sandbox server) encode exactly what the other decodes. It knows nothing
//! of the phone: no store, no Bluetooth, no async runtime.

mod api;
mod codec;
mod error;
pub mod http;
#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod openapi_tests;
#[cfg(test)]
mod tests;

pub use api::{
    AcquirerTerminalState, ActivationRequest, ActivationState, ActivationStatus, ApiRequest,
    ApiResponse, BindCardRequest, CardBinding, CardPurposeKind, CardSource, DeregisterRequest,
    Deregistration, KeyCheck, MerchantDetails, ReopenState, ReopenStatus, TerminalStatus,
    UnknownCardPurpose,
};
pub use codec::{decode_reply, decode_request, encode_reply, encode_request};
pub use error::{AcquirerError, TlsReason};
