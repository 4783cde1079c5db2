//! InstallKeys (protocol.md §6, bundle format §8): the acquirer's keys, sealed to the
//! device key, opened and stored. The phone only relays the sealed bytes; what it learns
//! back is the slots and their check values, never a key.

use proto::gatt::Lifecycle;
use proto::keybundle::{self, KeyBundleError};
use proto::message::{self, ErrorCode, KeySlot, Response};

use super::super::nvm::StoredKey;
use super::{err, Device};

impl Device {
    /// The installed keys as the wire shows them: slot, kind and check value.
    pub(super) fn key_slots(&self) -> Vec<KeySlot> {
        self.nvm
            .keys
            .iter()
            .map(|k| KeySlot {
                slot: k.slot,
                kind: k.kind(),
                kcv: k.kcv,
            })
            .collect()
    }

    /// Opens a sealed key bundle and stores its keys; only in factory state, so that an
    /// activated terminal's keys cannot be replaced under it.
    pub(super) fn install_keys(&mut self, sealed: &[u8]) -> Response {
        if self.nvm.lifecycle() != Lifecycle::Factory {
            return err(
                ErrorCode::WrongLifecycleState,
                format!(
                    "keys can only be installed in factory state, not {}",
                    self.nvm.lifecycle().name()
                ),
            );
        }
        let bundle = match keybundle::open(&self.device_key(), &self.nvm.sn, sealed) {
            Ok(b) => b,
            Err(KeyBundleError::Malformed) => {
                return err(ErrorCode::BadRequest, "the key bundle is malformed")
            }
            Err(e) => return err(ErrorCode::KeyCheckFailed, e.to_string()),
        };
        let mut slots: Vec<u8> = bundle.keys.iter().map(|k| k.slot).collect();
        slots.sort_unstable();
        slots.dedup();
        if bundle.keys.is_empty() || slots.len() != bundle.keys.len() {
            return err(
                ErrorCode::BadRequest,
                "the key bundle has no keys or repeats a slot",
            );
        }
        self.nvm.keys = bundle
            .keys
            .iter()
            .map(|k| StoredKey {
                slot: k.slot,
                kind: match k.kind {
                    message::KeyKind::Tmk => 0,
                    message::KeyKind::PinKey => 1,
                    message::KeyKind::MacKey => 2,
                    message::KeyKind::DataKey => 3,
                },
                key: k.key,
                kcv: keybundle::kcv(&k.key),
            })
            .collect();
        self.nvm.issued_to = Some((bundle.terminal_no.clone(), bundle.merchant_no.clone()));
        self.wrote = true;
        Response::KeysInstalled {
            slots: self.key_slots(),
        }
    }
}
