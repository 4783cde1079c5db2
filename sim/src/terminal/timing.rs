//! How long the simulated firmware takes, in link microseconds. A small model of a
//! Cortex-M class terminal: enough that responses and credits arrive later than the frames
//! that caused them, so that flow control is exercised honestly.

use proto::gatt::Micros;

/// Decoding and dispatching any session frame.
pub const FRAME_US: Micros = 1_000;
/// One public-key operation (X25519, SPAKE2 on Ed25519, an Ed25519 signature).
pub const CRYPTO_US: Micros = 30_000;
/// Writing one flash record (pairing, lockout counter, lifecycle, sign-on, journal).
pub const FLASH_WRITE_US: Micros = 20_000;
/// Installing keys: open the sealed bundle and write the key store.
pub const INSTALL_KEYS_US: Micros = CRYPTO_US + 2 * FLASH_WRITE_US;
/// Sign-on: the terminal's online test transaction with the acquirer's host.
pub const SIGN_ON_US: Micros = 250_000;
/// Wipe: erase key store, journal and pairing sectors, then sign the receipt.
pub const WIPE_US: Micros = 400_000 + CRYPTO_US;
/// Per journal record read out.
pub const RECORD_READ_US: Micros = 20;
/// From a card being presented to the read completing.
pub const CARD_TAP_US: Micros = 200_000;
