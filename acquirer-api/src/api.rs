//! The acquirer's API as plain data: what the phone asks and what the acquirer answers.
//!
//! These types are both the vocabulary of the phone's `Gateway` trait (`posmate-core`) and the JSON wire
//! format ([`ApiRequest`], [`ApiResponse`]), so the simulated acquirer and an adapter for a
//! real one speak exactly the same thing. Binary fields travel as lowercase hex.
//!
//! Card data: a card number appears only in [`CardSource::Manual`] on its way to the
//! acquirer, zeroized on drop and masked in `Debug`. Everything coming back carries the
//! masked form only (the remote gateway refuses an answer that does not). Activation codes
//! are masked in `Debug` too.

use std::fmt;
use std::str::FromStr;

use posmate_proto::keybundle::KeyKind;
use posmate_proto::message::CardPurpose;
use posmate_proto::pan::MaskedPan;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// What a bound card is for: the card takings are paid to, or one of the merchant's own
/// credit cards. Canonical here; the store keeps it as the text of [`Self::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardPurposeKind {
    Settlement,
    Credit,
}

impl CardPurposeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CardPurposeKind::Settlement => "settlement",
            CardPurposeKind::Credit => "credit",
        }
    }
}

impl fmt::Display for CardPurposeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no card purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a card purpose (settlement or credit)")]
pub struct UnknownCardPurpose(pub String);

impl FromStr for CardPurposeKind {
    type Err = UnknownCardPurpose;
    fn from_str(s: &str) -> Result<Self, UnknownCardPurpose> {
        match s {
            "settlement" => Ok(CardPurposeKind::Settlement),
            "credit" => Ok(CardPurposeKind::Credit),
            other => Err(UnknownCardPurpose(other.chars().take(32).collect())),
        }
    }
}

/// The terminal is told what the card it reads is for (it shows it on screen).
impl From<CardPurposeKind> for CardPurpose {
    fn from(p: CardPurposeKind) -> Self {
        match p {
            CardPurposeKind::Settlement => CardPurpose::Settlement,
            CardPurposeKind::Credit => CardPurpose::Credit,
        }
    }
}

/// The merchant as the acquirer registered them; checked against its records at activation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantDetails {
    pub legal_name: String,
    pub contact_phone: String,
    pub address: String,
}

/// Asks the acquirer to activate a terminal for a merchant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRequest {
    /// Idempotency key chosen by the phone and saved before sending: the same key again
    /// (after a timeout, or after the app was killed) finds the same application.
    pub request_id: String,
    pub sn: String,
    pub terminal_no: String,
    pub merchant_no: String,
    /// The one-time code from the acquirer's letter. Never printed.
    pub activation_code: String,
    pub merchant: MerchantDetails,
    /// The terminal's factory Ed25519 key as it reported it (`Info.device_key`). The
    /// acquirer compares it with the manufacturer's record and seals the keys to it.
    #[serde(with = "hex_array")]
    pub device_key: [u8; 32],
}

impl fmt::Debug for ActivationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivationRequest")
            .field("request_id", &self.request_id)
            .field("sn", &self.sn)
            .field("terminal_no", &self.terminal_no)
            .field("merchant_no", &self.merchant_no)
            .field("activation_code", &"<redacted>")
            .field("merchant", &self.merchant)
            .field("device_key", &hex::encode(&self.device_key))
            .finish()
    }
}

/// One issued key as the acquirer records it: slot, kind and key check value.
pub type KeyCheck = (u8, KeyKind, [u8; 3]);

/// An activation application and where its review stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationStatus {
    /// The acquirer's reference, e.g. `APP-000123`; what the phone polls with.
    pub application_id: String,
    pub state: ActivationState,
}

/// Where an activation application stands.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActivationState {
    /// Under review; ask again after `retry_after_ms`.
    Pending { retry_after_ms: u64 },
    /// Approved: the terminal's keys, sealed to its device key (`keybundle::seal`), and
    /// the acquirer's key check values to compare with the terminal's `KeysInstalled`.
    /// Returned on every status call until the activation is confirmed.
    Approved {
        #[serde(with = "hex_vec")]
        bundle: Vec<u8>,
        #[serde(with = "kcv_list")]
        kcvs: Vec<KeyCheck>,
    },
    /// Refused; `reason_code` is the acquirer's, `reason` says what to fix.
    Rejected { reason_code: String, reason: String },
    /// The terminal signed on and the activation is complete.
    Confirmed,
}

impl fmt::Debug for ActivationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActivationState::Pending { retry_after_ms } => f
                .debug_struct("Pending")
                .field("retry_after_ms", retry_after_ms)
                .finish(),
            // The bundle is sealed, but its bytes say nothing useful in a log either.
            ActivationState::Approved { bundle, kcvs } => f
                .debug_struct("Approved")
                .field("bundle_len", &bundle.len())
                .field("kcvs", kcvs)
                .finish(),
            ActivationState::Rejected {
                reason_code,
                reason,
            } => f
                .debug_struct("Rejected")
                .field("reason_code", reason_code)
                .field("reason", reason)
                .finish(),
            ActivationState::Confirmed => f.write_str("Confirmed"),
        }
    }
}

/// Asks the acquirer to bind a card to the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindCardRequest {
    /// Idempotency key, as for activation.
    pub request_id: String,
    pub merchant_no: String,
    pub purpose: CardPurposeKind,
    /// As on the card; must match the merchant's registered name (case and spacing aside).
    pub holder_name: String,
    pub source: CardSource,
}

/// Where the card's number comes from.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CardSource {
    /// Read on the terminal: the terminal's token for the card and its masked number.
    Token { token: String, masked_pan: String },
    /// Typed in by the merchant. `pan` is the full number (digits only), zeroized on drop
    /// and masked in `Debug`; `expiry` is `MMYY`.
    Manual {
        #[serde(with = "zeroizing_string")]
        pan: Zeroizing<String>,
        expiry: String,
    },
}

impl fmt::Debug for CardSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardSource::Token { token, masked_pan } => f
                .debug_struct("Token")
                .field("token", token)
                .field("masked_pan", masked_pan)
                .finish(),
            CardSource::Manual { pan, expiry } => {
                let masked = MaskedPan::mask(pan.as_str())
                    .map(|m| m.to_string())
                    .unwrap_or_else(|_| "<not a card number>".to_owned());
                f.debug_struct("Manual")
                    .field("pan", &masked)
                    .field("expiry", expiry)
                    .finish()
            }
        }
    }
}

/// A card bound to a merchant at the acquirer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardBinding {
    /// The acquirer's reference, e.g. `BND-00000042`; what unbinding names.
    pub binding_id: String,
    pub merchant_no: String,
    pub purpose: CardPurposeKind,
    /// At most the first 6 and last 4 digits (checked on arrival by the remote gateway).
    pub masked_pan: String,
    /// The issuing bank, when the acquirer knows it.
    pub issuer: Option<String>,
    pub holder_name: String,
    pub bound_at_ms: u64,
    /// The binding this one replaced (a merchant has one settlement card).
    pub replaced: Option<String>,
}

/// Asks the acquirer to close a terminal for this merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeregisterRequest {
    /// Idempotency key, as for activation.
    pub request_id: String,
    pub merchant_no: String,
    pub sn: String,
    /// The merchant's reason, kept by the acquirer with the request.
    pub reason: String,
}

/// The acquirer's confirmation of a deregistration: the merchant's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deregistration {
    /// e.g. `DRG-2026-000007`.
    pub reference: String,
    pub at_ms: u64,
    /// Until when the acquirer keeps the terminal's transaction records for disputes.
    pub records_retained_until_ms: u64,
}

/// Where a request to reopen a dormant terminal stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReopenStatus {
    pub state: ReopenState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReopenState {
    /// Under review; ask again after `retry_after_ms`.
    Pending { retry_after_ms: u64 },
    /// The terminal may trade again.
    Approved,
}

/// How the acquirer sees a terminal, from the asking merchant's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalStatus {
    pub sn: String,
    pub state: AcquirerTerminalState,
    /// The merchant it is activated for, when that is the asking merchant.
    pub merchant_no: Option<String>,
    pub last_trade_at_ms: Option<u64>,
    /// The instant it goes (or went) dormant unless it trades before.
    pub dormant_after_ms: Option<u64>,
    /// The acquirer's clock, so the phone can count down without trusting its own.
    pub now_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcquirerTerminalState {
    /// No activation of this terminal for the asking merchant.
    Unknown,
    /// An activation is under review or approved but not yet confirmed.
    Pending,
    Active,
    /// Shut down for lack of trading; `reopen` asks to trade again.
    Dormant,
    /// Deregistered by the asking merchant.
    Deregistered,
}

/// One call on the wire: `{"op": "activate", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ApiRequest {
    Activate(ActivationRequest),
    ActivationStatus {
        application_id: String,
    },
    ConfirmActivation {
        application_id: String,
        test_txn_ref: String,
    },
    BindCard(BindCardRequest),
    UnbindCard {
        merchant_no: String,
        binding_id: String,
    },
    Cards {
        merchant_no: String,
    },
    Deregister(DeregisterRequest),
    Reopen {
        merchant_no: String,
        sn: String,
    },
    TerminalStatus {
        merchant_no: String,
        sn: String,
    },
}

/// A successful answer on the wire: `{"op": "activation", …}`. Failures travel as
/// `{"error": {"code": …}}` instead (see [`encode_reply`](crate::encode_reply)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ApiResponse {
    /// Answers `activate` and `activation_status`.
    Activation(ActivationStatus),
    /// Answers `confirm_activation` and `unbind_card`.
    Done,
    CardBinding(CardBinding),
    Cards {
        cards: Vec<CardBinding>,
    },
    Deregistration(Deregistration),
    Reopen(ReopenStatus),
    TerminalStatus(TerminalStatus),
}

/// Lowercase hex, for binary fields and `Debug`.
mod hex {
    pub fn encode(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(s: &str) -> Result<Vec<u8>, String> {
        if !s.len().is_multiple_of(2) {
            return Err("hex text has an odd length".into());
        }
        s.as_bytes()
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| "not hex".to_owned())
            })
            .collect()
    }
}

mod hex_vec {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        super::hex::decode(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

mod hex_array {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let bytes = super::hex::decode(&String::deserialize(d)?).map_err(D::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom(format!("expected {N} bytes of hex")))
    }
}

/// `[{"slot": 1, "kind": "tmk", "kcv": "763cbc"}, …]`: `KeyKind` is the protocol crate's
/// (no serde there), named here by the words the acquirer's documents use.
mod kcv_list {
    use posmate_proto::keybundle::KeyKind;
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    use super::KeyCheck;

    #[derive(Serialize, Deserialize)]
    struct Kcv {
        slot: u8,
        kind: String,
        kcv: String,
    }

    fn name(kind: KeyKind) -> &'static str {
        match kind {
            KeyKind::Tmk => "tmk",
            KeyKind::PinKey => "pin",
            KeyKind::MacKey => "mac",
            KeyKind::DataKey => "data",
        }
    }

    fn kind(name: &str) -> Option<KeyKind> {
        Some(match name {
            "tmk" => KeyKind::Tmk,
            "pin" => KeyKind::PinKey,
            "mac" => KeyKind::MacKey,
            "data" => KeyKind::DataKey,
            _ => return None,
        })
    }

    pub fn serialize<S: Serializer>(v: &[KeyCheck], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|(slot, k, kcv)| Kcv {
                slot: *slot,
                kind: name(*k).to_owned(),
                kcv: super::hex::encode(kcv),
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<KeyCheck>, D::Error> {
        Vec::<Kcv>::deserialize(d)?
            .into_iter()
            .map(|k| {
                let kind = kind(&k.kind)
                    .ok_or_else(|| D::Error::custom(format!("unknown key kind '{}'", k.kind)))?;
                let kcv = super::hex::decode(&k.kcv)
                    .ok()
                    .and_then(|b| <[u8; 3]>::try_from(b).ok())
                    .ok_or_else(|| D::Error::custom("a kcv is 3 bytes of hex"))?;
                Ok((k.slot, kind, kcv))
            })
            .collect()
    }
}

/// A full card number: deserialized straight into zeroizing storage.
mod zeroizing_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(v: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
        String::deserialize(d).map(Zeroizing::new)
    }
}
