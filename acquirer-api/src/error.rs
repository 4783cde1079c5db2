//! What can go wrong talking to the acquirer. The same enum travels on the wire (as
//! `{"error": {"code": "…", …}}`), so a refusal decided by the acquirer reaches the phone
//! as the very variant the acquirer chose, and the flows above can act on it (retry, ask
//! the merchant to fix a field, explain a refusal) without parsing messages.

use serde::{Deserialize, Serialize};

/// Why an acquirer call failed. The message says what happened and
/// [`AcquirerError::user_action`] what to do about it; neither ever carries a card number,
/// an activation code or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum AcquirerError {
    /// The request did not reach the acquirer (no network, DNS, refused connection).
    #[error("the acquirer cannot be reached: {detail}")]
    Unreachable { detail: String },
    /// The request may have reached the acquirer but no answer came back in time. Retrying
    /// with the same request id is safe.
    #[error("the acquirer did not answer in time")]
    Timeout,
    /// The acquirer (or a proxy in front of it) answered that it cannot serve now (an HTTP
    /// 5xx without a problem object). Retrying with the same request id is safe.
    #[error("the acquirer is unavailable (HTTP {status})")]
    Unavailable { status: u16 },
    #[error("the acquirer does not know terminal {sn}")]
    UnknownTerminal { sn: String },
    #[error("terminal {sn} is registered to another merchant")]
    OwnedByAnotherMerchant { sn: String },
    #[error("the activation code is wrong{}", attempts_hint(.attempts_left))]
    WrongActivationCode { attempts_left: Option<u32> },
    #[error("the acquirer does not know this merchant number")]
    UnknownMerchant,
    #[error("terminal {sn} is already activated for this merchant")]
    AlreadyActivated { sn: String },
    #[error("the card holder's name does not match the merchant's registered name")]
    NameMismatch,
    #[error("the acquirer refused the card: {reason}")]
    CardRefused { reason: String },
    /// Cannot remove the only settlement card of a merchant with an active terminal.
    #[error("the only settlement card of a merchant with an active terminal cannot be removed")]
    SettlementCardRequired,
    #[error("{what} was not found at the acquirer")]
    NotFound { what: String },
    #[error("terminal {sn} was shut down for lack of trading")]
    Dormant { sn: String },
    #[error("terminal {sn} is deregistered; its activation and keys are no longer valid")]
    Deregistered { sn: String },
    #[error("{field} is not acceptable: {reason}")]
    Invalid { field: String, reason: String },
    /// The phone refused the acquirer's TLS certificate (an unknown CA, an expired
    /// certificate, another host's, a pin that does not match): nothing was sent. Not
    /// retryable: the same certificate is refused again until the configuration or the
    /// server changes. A server never answers it; the phone's client decides it.
    #[error("the acquirer's certificate was refused ({reason}): {detail}")]
    Tls { reason: TlsReason, detail: String },
    /// The answer could not be understood (a bug on one side, or a proxy in the way).
    #[error("the acquirer's answer could not be understood: {detail}")]
    Protocol { detail: String },
}

/// Why the phone refused a certificate, as the fix depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsReason {
    /// No trusted CA issued it (a private or sandbox acquirer's own CA, or an interception
    /// proxy).
    UnknownCa,
    /// Outside its validity period (expired, or not yet valid: often the phone's clock).
    Expired,
    NotYetValid,
    /// Issued for another host than the URL names.
    WrongHost,
    /// Valid, but its key is not one of the pinned keys (`acquirer_pin`).
    PinMismatch,
    /// Anything else the TLS layer refused (a revoked certificate, no common cipher, …).
    Other,
}

impl TlsReason {
    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            TlsReason::UnknownCa => {
                "check the acquirer's URL; a sandbox's or private acquirer's CA must be added \
                 to the CAs this device trusts for it"
            }
            TlsReason::Expired | TlsReason::NotYetValid => {
                "check the phone's date and time; if they are right, the acquirer must renew \
                 its certificate"
            }
            TlsReason::WrongHost => {
                "check the host in the acquirer URL against the acquirer's certificate"
            }
            TlsReason::PinMismatch => {
                "the acquirer's key is not a pinned one: confirm the pin with the acquirer \
                 before changing it"
            }
            TlsReason::Other => {
                "check the acquirer's URL and the CAs trusted for it; if it persists, contact \
                 the acquirer"
            }
        }
    }
}

impl std::fmt::Display for TlsReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsReason::UnknownCa => "unknown CA",
            TlsReason::Expired => "expired",
            TlsReason::NotYetValid => "not yet valid",
            TlsReason::WrongHost => "wrong host name",
            TlsReason::PinMismatch => "pin mismatch",
            TlsReason::Other => "refused",
        })
    }
}

fn attempts_hint(left: &Option<u32>) -> String {
    match left {
        Some(0) => " and no attempts are left".to_owned(),
        Some(1) => "; 1 attempt is left".to_owned(),
        Some(n) => format!("; {n} attempts are left"),
        None => String::new(),
    }
}

impl AcquirerError {
    /// A stable code for logs, the CLI and the FFI layer; also the `code` on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            AcquirerError::Unreachable { .. } => "unreachable",
            AcquirerError::Timeout => "timeout",
            AcquirerError::Unavailable { .. } => "unavailable",
            AcquirerError::UnknownTerminal { .. } => "unknown-terminal",
            AcquirerError::OwnedByAnotherMerchant { .. } => "owned-by-another-merchant",
            AcquirerError::WrongActivationCode { .. } => "wrong-activation-code",
            AcquirerError::UnknownMerchant => "unknown-merchant",
            AcquirerError::AlreadyActivated { .. } => "already-activated",
            AcquirerError::NameMismatch => "name-mismatch",
            AcquirerError::CardRefused { .. } => "card-refused",
            AcquirerError::SettlementCardRequired => "settlement-card-required",
            AcquirerError::NotFound { .. } => "not-found",
            AcquirerError::Dormant { .. } => "dormant",
            AcquirerError::Deregistered { .. } => "deregistered",
            AcquirerError::Invalid { .. } => "invalid",
            AcquirerError::Tls { .. } => "tls",
            AcquirerError::Protocol { .. } => "protocol",
        }
    }

    /// Whether the same call may succeed later without anything being changed: the
    /// acquirer was not reached or did not answer. Every other error is the acquirer's
    /// decision and repeats until the input or the situation changes.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AcquirerError::Unreachable { .. }
                | AcquirerError::Timeout
                | AcquirerError::Unavailable { .. }
        )
    }

    /// What the merchant should do next, in plain words.
    pub fn user_action(&self) -> String {
        match self {
            AcquirerError::Unreachable { .. } => {
                "check the phone's internet connection, then try again".into()
            }
            AcquirerError::Timeout => {
                "try again; the acquirer will not apply the request twice".into()
            }
            AcquirerError::Unavailable { .. } => {
                "try again in a few minutes; the acquirer will not apply the request twice".into()
            }
            AcquirerError::UnknownTerminal { .. } => {
                "check the SN against the label on the terminal; if it is right, contact the acquirer".into()
            }
            AcquirerError::OwnedByAnotherMerchant { .. } => {
                "the merchant it is registered to must deregister it first".into()
            }
            AcquirerError::WrongActivationCode {
                attempts_left: Some(0),
            } => "ask the acquirer for a new activation code".into(),
            AcquirerError::WrongActivationCode { .. } => {
                "type the activation code exactly as in the acquirer's letter".into()
            }
            AcquirerError::UnknownMerchant => {
                "check the merchant number against the acquirer's letter".into()
            }
            AcquirerError::AlreadyActivated { .. } => "nothing to do; it is ready to trade".into(),
            AcquirerError::NameMismatch => {
                "bind a card held in the merchant's registered name".into()
            }
            AcquirerError::CardRefused { .. } => "use another card".into(),
            AcquirerError::SettlementCardRequired => {
                "bind the new settlement card first: it replaces this one".into()
            }
            AcquirerError::NotFound { .. } => {
                "refresh; it may have been removed already".into()
            }
            AcquirerError::Dormant { .. } => "ask the acquirer to reopen the terminal".into(),
            AcquirerError::Deregistered { .. } => {
                "activate the terminal again to use it".into()
            }
            AcquirerError::Invalid { .. } => "correct it and try again".into(),
            AcquirerError::Tls { reason, .. } => reason.fix().into(),
            AcquirerError::Protocol { .. } => {
                "try again later; if it persists, update the app or contact support".into()
            }
        }
    }

    /// Whether the phone could not get through at all, so the merchant should check its
    /// internet connection. A timeout is retryable but not this: the request went out and
    /// the acquirer was slow.
    pub fn needs_internet(&self) -> bool {
        matches!(self, AcquirerError::Unreachable { .. })
    }
}
