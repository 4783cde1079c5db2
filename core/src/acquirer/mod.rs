//! The acquirer, as the phone sees it: approves activations and issues the terminal's keys,
//! binds the merchant's cards, watches for dormancy and closes terminals on deregistration.
//!
//! [`Gateway`] is what the flows call; [`RemoteGateway`] implements it over the acquirer's
//! API (`posmate-acquirer-api`) through an [`ApiCaller`]: an [`Exchange`] of JSON bodies
//! (`posmate-sim`'s acquirer, in process or over the sim link) or HTTPS ([`https`]: an
//! [`https::HttpClient`] — the app's own, or posmate's with the `https` feature). Every mutating call carries a `request_id` chosen and saved by the phone
//! first, so a call whose answer was lost can be repeated without being applied twice.

pub mod https;
mod remote;
#[cfg(test)]
mod tests;

use async_trait::async_trait;

// The API's vocabulary is `posmate-acquirer-api`'s; re-exported so the phone's code names it
// as part of the acquirer it talks to.
pub use posmate_acquirer_api::{
    decode_reply, decode_request, encode_reply, encode_request, AcquirerError,
    AcquirerTerminalState, ActivationRequest, ActivationState, ActivationStatus, ApiRequest,
    ApiResponse, BindCardRequest, CardBinding, CardPurposeKind, CardSource, DeregisterRequest,
    Deregistration, KeyCheck, MerchantDetails, ReopenState, ReopenStatus, TerminalStatus,
    TlsReason, UnknownCardPurpose,
};
pub use remote::{ApiCaller, Exchange, RemoteGateway};

/// The acquirer's services. Implementations translate their transport's failures into
/// [`AcquirerError::Unreachable`] / [`AcquirerError::Timeout`] and pass the acquirer's own
/// refusals through as the variants it chose.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// Submits an activation (idempotent by `request_id`): usually `Pending` at first.
    async fn activate(&self, req: &ActivationRequest) -> Result<ActivationStatus, AcquirerError>;
    /// Where an application stands; returns the sealed key bundle while approved and not
    /// yet confirmed.
    async fn activation_status(
        &self,
        application_id: &str,
    ) -> Result<ActivationStatus, AcquirerError>;
    /// The terminal signed on with the installed keys (`test_txn_ref` from `SignedOn`):
    /// the activation is complete and the bundle is no longer handed out.
    async fn confirm_activation(
        &self,
        application_id: &str,
        test_txn_ref: &str,
    ) -> Result<(), AcquirerError>;
    async fn bind_card(&self, req: &BindCardRequest) -> Result<CardBinding, AcquirerError>;
    async fn unbind_card(&self, merchant_no: &str, binding_id: &str) -> Result<(), AcquirerError>;
    async fn cards(&self, merchant_no: &str) -> Result<Vec<CardBinding>, AcquirerError>;
    /// Closes the terminal for this merchant and revokes its keys (idempotent by
    /// `request_id`; asking again for a terminal already closed returns the same answer).
    async fn deregister(&self, req: &DeregisterRequest) -> Result<Deregistration, AcquirerError>;
    /// Asks to reopen a dormant terminal; ask again until `Approved`.
    async fn reopen(&self, merchant_no: &str, sn: &str) -> Result<ReopenStatus, AcquirerError>;
    async fn terminal_status(
        &self,
        merchant_no: &str,
        sn: &str,
    ) -> Result<TerminalStatus, AcquirerError>;
}
