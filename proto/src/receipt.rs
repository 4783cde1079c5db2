//! Wipe receipts (`docs/protocol.md` §7).
//!
//! A wipe is the last thing a merchant asks of a terminal before handing it back, so the
//! phone keeps evidence that it happened: an Ed25519 signature by the terminal's factory
//! device key (which a wipe never erases) over the SN, a phone-chosen nonce, the time of the
//! wipe and the journal head at that moment. The nonce makes a receipt from an earlier wipe
//! useless as evidence of this one.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Domain separation tag at the start of every signed receipt message.
pub const RECEIPT_TAG: &[u8] = b"posmate wipe receipt v1";
/// Length of the phone-chosen nonce.
pub const NONCE_LEN: usize = 16;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Why a wipe receipt was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The device key is not a valid Ed25519 public key.
    #[error("the terminal's device key is not a valid Ed25519 key")]
    BadDeviceKey,
    /// The signature does not match the receipt's fields under the device key.
    #[error("the wipe receipt's signature does not verify")]
    BadSignature,
}

/// The fields of a wipe receipt, as the terminal reports them in `Response::WipeReceipt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptFields<'a> {
    pub sn: &'a str,
    pub nonce: &'a [u8; NONCE_LEN],
    pub wiped_at_ms: u64,
    pub journal_head: u64,
}

/// The exact bytes that are signed:
/// `"posmate wipe receipt v1" ‖ sn (UTF-8) ‖ 0x00 ‖ nonce (16) ‖ wiped_at_ms u64 LE ‖ journal_head u64 LE`.
///
/// The 0x00 after the SN keeps `sn` and `nonce` from trading bytes (an SN never contains NUL).
pub fn receipt_message(fields: &ReceiptFields<'_>) -> Vec<u8> {
    let mut msg = Vec::with_capacity(RECEIPT_TAG.len() + fields.sn.len() + 1 + NONCE_LEN + 16);
    msg.extend_from_slice(RECEIPT_TAG);
    msg.extend_from_slice(fields.sn.as_bytes());
    msg.push(0);
    msg.extend_from_slice(fields.nonce);
    msg.extend_from_slice(&fields.wiped_at_ms.to_le_bytes());
    msg.extend_from_slice(&fields.journal_head.to_le_bytes());
    msg
}

/// Signs a receipt with the terminal's factory device key (terminal side).
pub fn sign(device_key: &SigningKey, fields: &ReceiptFields<'_>) -> [u8; SIGNATURE_LEN] {
    device_key.sign(&receipt_message(fields)).to_bytes()
}

/// Checks a receipt against the terminal's device public key (phone side). The phone must
/// also check that `fields.nonce` is the nonce it sent and `fields.sn` the terminal it wiped;
/// this function proves only that the device key signed exactly these fields.
pub fn verify(
    device_key: &[u8; 32],
    fields: &ReceiptFields<'_>,
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), ReceiptError> {
    let key = VerifyingKey::from_bytes(device_key).map_err(|_| ReceiptError::BadDeviceKey)?;
    let sig = Signature::from_bytes(signature);
    key.verify(&receipt_message(fields), &sig)
        .map_err(|_| ReceiptError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    const NONCE: [u8; 16] = [0xA5; 16];

    fn fields() -> ReceiptFields<'static> {
        ReceiptFields {
            sn: "SN0001",
            nonce: &NONCE,
            wiped_at_ms: 1_700_000_000_123,
            journal_head: 42,
        }
    }

    #[test]
    fn message_layout_is_exact() {
        let msg = receipt_message(&fields());
        let mut expected = b"posmate wipe receipt v1SN0001\0".to_vec();
        expected.extend_from_slice(&[0xA5; 16]);
        expected.extend_from_slice(&1_700_000_000_123u64.to_le_bytes());
        expected.extend_from_slice(&42u64.to_le_bytes());
        assert_eq!(msg, expected);
    }

    #[test]
    fn signed_receipt_verifies() {
        let sk = key();
        let sig = sign(&sk, &fields());
        assert_eq!(
            verify(&sk.verifying_key().to_bytes(), &fields(), &sig),
            Ok(())
        );
    }

    #[test]
    fn any_changed_field_fails() {
        let sk = key();
        let pk = sk.verifying_key().to_bytes();
        let sig = sign(&sk, &fields());
        let other_nonce = [0u8; 16];
        let variants = [
            ReceiptFields {
                sn: "SN0002",
                ..fields()
            },
            ReceiptFields {
                nonce: &other_nonce,
                ..fields()
            },
            ReceiptFields {
                wiped_at_ms: 1,
                ..fields()
            },
            ReceiptFields {
                journal_head: 41,
                ..fields()
            },
        ];
        for f in variants {
            assert_eq!(verify(&pk, &f, &sig), Err(ReceiptError::BadSignature));
        }
        let mut bad_sig = sig;
        bad_sig[10] ^= 1;
        assert_eq!(
            verify(&pk, &fields(), &bad_sig),
            Err(ReceiptError::BadSignature)
        );
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert_eq!(
            verify(&other, &fields(), &sig),
            Err(ReceiptError::BadSignature)
        );
    }
}
