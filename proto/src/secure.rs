//! Noise transport phase (`docs/protocol.md` §5.4): ChaCha20-Poly1305 under an implicit
//! 64-bit nonce per direction.
//!
//! We take the two cipher keys out of snow at the end of the handshake and run the
//! transport here, rather than use snow's `TransportState`, because snow 0.10 does not
//! zeroize its key material: these keys are wiped when the channel is dropped. The
//! construction is exactly Noise's (`ENCRYPT(k, n, ad = ∅, p)` with the nonce as 4 zero
//! bytes ‖ n little-endian), so any Noise implementation interoperates.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Authentication tag bytes added to every message.
pub const TAG_LEN: usize = 16;
/// Largest Noise message, tag included.
pub const MAX_MESSAGE: usize = 65535;

/// Why a secure frame was refused. Every variant ends the session: the peer is either
/// broken or under attack, and the nonce sequence can no longer be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecureError {
    /// The frame failed authentication: forged, replayed, reordered or truncated.
    #[error("a secure frame failed authentication (forged, replayed, reordered or truncated)")]
    Decrypt,
    /// Plaintext larger than a Noise message can carry.
    #[error("message of {0} bytes is too large for one secure frame")]
    TooLarge(usize),
    /// 2^64 − 1 messages sent or received: the session must be re-established.
    #[error("nonce space exhausted; reconnect")]
    NonceExhausted,
    /// An earlier failure closed this channel.
    #[error("the secure channel was closed after an earlier failure")]
    Closed,
}

#[derive(Zeroize, ZeroizeOnDrop)]
struct DirectionKey {
    key: [u8; 32],
    #[zeroize(skip)]
    nonce: u64,
}

impl DirectionKey {
    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.key))
    }

    fn next_nonce(&mut self) -> Result<Nonce, SecureError> {
        // Noise reserves 2^64 − 1; refusing at that point keeps nonces unique.
        if self.nonce == u64::MAX {
            return Err(SecureError::NonceExhausted);
        }
        let mut bytes = [0u8; 12];
        bytes[4..].copy_from_slice(&self.nonce.to_le_bytes());
        self.nonce += 1;
        Ok(*Nonce::from_slice(&bytes))
    }
}

/// One established session's transport keys. Sealing and opening advance independent
/// nonce counters; the first failure to open poisons the channel.
pub struct SecureChannel {
    send: DirectionKey,
    recv: DirectionKey,
    handshake_hash: [u8; 32],
    poisoned: bool,
}

impl SecureChannel {
    /// `initiator_to_responder` and `responder_to_initiator` are Noise's Split() outputs.
    pub(crate) fn from_split(
        initiator: bool,
        initiator_to_responder: [u8; 32],
        responder_to_initiator: [u8; 32],
        handshake_hash: [u8; 32],
    ) -> Self {
        let (send, recv) = if initiator {
            (initiator_to_responder, responder_to_initiator)
        } else {
            (responder_to_initiator, initiator_to_responder)
        };
        SecureChannel {
            send: DirectionKey {
                key: send,
                nonce: 0,
            },
            recv: DirectionKey {
                key: recv,
                nonce: 0,
            },
            handshake_hash,
            poisoned: false,
        }
    }

    /// Encrypts one message; the result is a SECURE frame's body.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SecureError> {
        if self.poisoned {
            return Err(SecureError::Closed);
        }
        if plaintext.len() + TAG_LEN > MAX_MESSAGE {
            return Err(SecureError::TooLarge(plaintext.len()));
        }
        let nonce = self.send.next_nonce()?;
        self.send
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &[],
                },
            )
            .map_err(|_| SecureError::TooLarge(plaintext.len()))
    }

    /// Decrypts one SECURE frame body. Any failure poisons the channel for good.
    pub fn open(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, SecureError> {
        if self.poisoned {
            return Err(SecureError::Closed);
        }
        let result = if ciphertext.len() < TAG_LEN || ciphertext.len() > MAX_MESSAGE {
            Err(SecureError::Decrypt)
        } else {
            match self.recv.next_nonce() {
                Ok(nonce) => self
                    .recv
                    .cipher()
                    .decrypt(
                        &nonce,
                        Payload {
                            msg: ciphertext,
                            aad: &[],
                        },
                    )
                    .map_err(|_| SecureError::Decrypt),
                Err(e) => Err(e),
            }
        };
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Encodes and seals one envelope.
    pub fn seal_envelope(
        &mut self,
        envelope: &crate::message::Envelope,
    ) -> Result<Vec<u8>, SecureError> {
        self.seal(&crate::message::encode(envelope))
    }

    /// Opens one SECURE frame body and decodes the envelope inside. A body that
    /// authenticates but does not decode is a protocol violation by an authenticated peer.
    pub fn open_envelope(&mut self, body: &[u8]) -> Result<crate::message::Envelope, OpenError> {
        let plaintext = self.open(body)?;
        crate::message::decode(&plaintext).map_err(|_| OpenError::Malformed)
    }

    /// The Noise handshake hash: a unique, public identifier of this session (channel
    /// binding), never a key.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.handshake_hash
    }

    /// Messages sealed so far (the next send nonce).
    pub fn sent(&self) -> u64 {
        self.send.nonce
    }

    /// Messages opened so far (the next receive nonce).
    pub fn received(&self) -> u64 {
        self.recv.nonce
    }
}

impl core::fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecureChannel")
            .field("sent", &self.send.nonce)
            .field("received", &self.recv.nonce)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// Why an envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Secure(#[from] SecureError),
    /// Authenticated, but not a valid envelope.
    #[error("an authenticated message did not decode")]
    Malformed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (SecureChannel, SecureChannel) {
        let a = [7u8; 32];
        let b = [9u8; 32];
        (
            SecureChannel::from_split(true, a, b, [1; 32]),
            SecureChannel::from_split(false, a, b, [1; 32]),
        )
    }

    #[test]
    fn seal_open_both_directions() {
        let (mut phone, mut terminal) = pair();
        for i in 0..5u8 {
            let ct = phone.seal(&[i; 40]).unwrap();
            assert_eq!(ct.len(), 40 + TAG_LEN);
            assert_eq!(terminal.open(&ct).unwrap(), vec![i; 40]);
            let back = terminal.seal(&[i]).unwrap();
            assert_eq!(phone.open(&back).unwrap(), vec![i]);
        }
    }

    #[test]
    fn replay_is_rejected_and_poisons() {
        let (mut phone, mut terminal) = pair();
        let first = phone.seal(b"one").unwrap();
        terminal.open(&first).unwrap();
        assert_eq!(terminal.open(&first), Err(SecureError::Decrypt));
        let second = phone.seal(b"two").unwrap();
        assert_eq!(terminal.open(&second), Err(SecureError::Closed));
    }

    #[test]
    fn reorder_forgery_and_truncation_are_rejected() {
        let (mut phone, mut terminal) = pair();
        let m1 = phone.seal(b"one").unwrap();
        let m2 = phone.seal(b"two").unwrap();
        assert_eq!(terminal.open(&m2), Err(SecureError::Decrypt));
        let _ = m1;

        let (mut phone, mut terminal) = pair();
        let mut forged = phone.seal(b"pay 100").unwrap();
        forged[0] ^= 1;
        assert_eq!(terminal.open(&forged), Err(SecureError::Decrypt));

        let (mut phone, mut terminal) = pair();
        let truncated = phone.seal(b"pay 100").unwrap();
        assert_eq!(
            terminal.open(&truncated[..truncated.len() - 1]),
            Err(SecureError::Decrypt)
        );
        let (_, mut terminal2) = pair();
        assert_eq!(terminal2.open(&[0u8; 3]), Err(SecureError::Decrypt));
    }

    #[test]
    fn same_direction_keys_differ_so_reflection_fails() {
        let (mut phone, _) = pair();
        let (mut other_phone, _) = pair();
        let ct = phone.seal(b"reflect me").unwrap();
        assert_eq!(other_phone.open(&ct), Err(SecureError::Decrypt));
    }
}
