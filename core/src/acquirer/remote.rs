//! The gateway over the acquirer's API. [`RemoteGateway`] turns each call into one
//! [`ApiRequest`], hands it to an [`ApiCaller`] — an [`Exchange`] of JSON bodies (the
//! simulated acquirer, in process or over the sim link) or HTTPS (`super::https`) — and
//! checks what comes back: the [`ApiResponse`] the call expects, with only masked card
//! numbers, or the same [`AcquirerError`] the acquirer chose. Those checks are here once,
//! whatever carries the call.
//!
//! The encoding itself is `posmate-acquirer-api`'s, shared with the acquirer side.

use async_trait::async_trait;
use posmate_acquirer_api::{
    decode_reply, encode_request, ActivationRequest, ActivationStatus, ApiRequest, ApiResponse,
    BindCardRequest, CardBinding, DeregisterRequest, Deregistration, ReopenStatus, TerminalStatus,
};
use posmate_proto::pan::MaskedPan;

use super::{AcquirerError, Gateway};

/// Carries one request body to the acquirer and brings its answer back.
///
/// A body may carry a card number typed in by the merchant: implementations must not log
/// bodies and should zeroize them once sent. A failure to get an answer is
/// [`AcquirerError::Unreachable`] (nothing was sent) or [`AcquirerError::Timeout`] (it
/// may have been applied; the request id makes a retry safe).
#[async_trait]
pub trait Exchange: Send + Sync {
    async fn call(&self, body: Vec<u8>) -> Result<Vec<u8>, AcquirerError>;
}

/// A shared exchange is an exchange: the same connection can carry both the terminals' link
/// and the acquirer's calls (the sim link does).
#[async_trait]
impl<E: Exchange + ?Sized> Exchange for std::sync::Arc<E> {
    async fn call(&self, body: Vec<u8>) -> Result<Vec<u8>, AcquirerError> {
        (**self).call(body).await
    }
}

/// Carries one API call to the acquirer and brings its answer back, however it travels.
#[async_trait]
pub trait ApiCaller: Send + Sync {
    async fn call_api(&self, req: &ApiRequest) -> Result<ApiResponse, AcquirerError>;
}

/// An exchange carries a call as its JSON body.
#[async_trait]
impl<E: Exchange> ApiCaller for E {
    async fn call_api(&self, req: &ApiRequest) -> Result<ApiResponse, AcquirerError> {
        let reply = self.call(encode_request(req)).await?;
        decode_reply(&reply)
    }
}

/// [`Gateway`] over the API, through any [`ApiCaller`].
pub struct RemoteGateway<C: ApiCaller> {
    caller: C,
}

impl<C: ApiCaller> RemoteGateway<C> {
    pub fn new(caller: C) -> Self {
        RemoteGateway { caller }
    }

    /// What carries the calls.
    pub fn caller(&self) -> &C {
        &self.caller
    }

    async fn call(&self, req: &ApiRequest) -> Result<ApiResponse, AcquirerError> {
        self.caller.call_api(req).await
    }
}

fn unexpected(wanted: &str, got: &ApiResponse) -> AcquirerError {
    let got = match got {
        ApiResponse::Activation(_) => "activation",
        ApiResponse::Done => "done",
        ApiResponse::CardBinding(_) => "card_binding",
        ApiResponse::Cards { .. } => "cards",
        ApiResponse::Deregistration(_) => "deregistration",
        ApiResponse::Reopen(_) => "reopen",
        ApiResponse::TerminalStatus(_) => "terminal_status",
    };
    AcquirerError::Protocol {
        detail: format!("expected a {wanted} answer, got {got}"),
    }
}

/// Only masked card numbers may enter the phone; an acquirer that sends more is broken.
fn checked(binding: CardBinding) -> Result<CardBinding, AcquirerError> {
    MaskedPan::parse(&binding.masked_pan).map_err(|e| AcquirerError::Protocol {
        detail: format!(
            "binding {} carries a card number that is not properly masked: {e}",
            binding.binding_id
        ),
    })?;
    Ok(binding)
}

#[async_trait]
impl<C: ApiCaller> Gateway for RemoteGateway<C> {
    async fn activate(&self, req: &ActivationRequest) -> Result<ActivationStatus, AcquirerError> {
        match self.call(&ApiRequest::Activate(req.clone())).await? {
            ApiResponse::Activation(s) => Ok(s),
            other => Err(unexpected("activation", &other)),
        }
    }

    async fn activation_status(
        &self,
        application_id: &str,
    ) -> Result<ActivationStatus, AcquirerError> {
        let req = ApiRequest::ActivationStatus {
            application_id: application_id.to_owned(),
        };
        match self.call(&req).await? {
            ApiResponse::Activation(s) => Ok(s),
            other => Err(unexpected("activation", &other)),
        }
    }

    async fn confirm_activation(
        &self,
        application_id: &str,
        test_txn_ref: &str,
    ) -> Result<(), AcquirerError> {
        let req = ApiRequest::ConfirmActivation {
            application_id: application_id.to_owned(),
            test_txn_ref: test_txn_ref.to_owned(),
        };
        match self.call(&req).await? {
            ApiResponse::Done => Ok(()),
            other => Err(unexpected("done", &other)),
        }
    }

    async fn bind_card(&self, req: &BindCardRequest) -> Result<CardBinding, AcquirerError> {
        match self.call(&ApiRequest::BindCard(req.clone())).await? {
            ApiResponse::CardBinding(b) => checked(b),
            other => Err(unexpected("card_binding", &other)),
        }
    }

    async fn unbind_card(&self, merchant_no: &str, binding_id: &str) -> Result<(), AcquirerError> {
        let req = ApiRequest::UnbindCard {
            merchant_no: merchant_no.to_owned(),
            binding_id: binding_id.to_owned(),
        };
        match self.call(&req).await? {
            ApiResponse::Done => Ok(()),
            other => Err(unexpected("done", &other)),
        }
    }

    async fn cards(&self, merchant_no: &str) -> Result<Vec<CardBinding>, AcquirerError> {
        let req = ApiRequest::Cards {
            merchant_no: merchant_no.to_owned(),
        };
        match self.call(&req).await? {
            ApiResponse::Cards { cards } => cards.into_iter().map(checked).collect(),
            other => Err(unexpected("cards", &other)),
        }
    }

    async fn deregister(&self, req: &DeregisterRequest) -> Result<Deregistration, AcquirerError> {
        match self.call(&ApiRequest::Deregister(req.clone())).await? {
            ApiResponse::Deregistration(d) => Ok(d),
            other => Err(unexpected("deregistration", &other)),
        }
    }

    async fn reopen(&self, merchant_no: &str, sn: &str) -> Result<ReopenStatus, AcquirerError> {
        let req = ApiRequest::Reopen {
            merchant_no: merchant_no.to_owned(),
            sn: sn.to_owned(),
        };
        match self.call(&req).await? {
            ApiResponse::Reopen(r) => Ok(r),
            other => Err(unexpected("reopen", &other)),
        }
    }

    async fn terminal_status(
        &self,
        merchant_no: &str,
        sn: &str,
    ) -> Result<TerminalStatus, AcquirerError> {
        let req = ApiRequest::TerminalStatus {
            merchant_no: merchant_no.to_owned(),
            sn: sn.to_owned(),
        };
        match self.call(&req).await? {
            ApiResponse::TerminalStatus(s) => Ok(s),
            other => Err(unexpected("terminal_status", &other)),
        }
    }
}
