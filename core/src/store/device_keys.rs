//! The device key each terminal first showed the phone. A terminal's device key is made at
//! the factory and survives wipes (only its pairing identity is renewed), so the key learnt
//! the first time is the terminal: a different one under the same SN is refused wherever a
//! row would carry it (pairing again after forgetting, an activation reading the terminal,
//! a restored backup), never silently swapped in. Forgetting a terminal keeps what was
//! learnt; wiping the phone deletes it with the database.

use rusqlite::OptionalExtension;

use super::error::StoreError;
use super::Tx;

impl Tx<'_> {
    /// The device key learnt for `sn`, if the phone has seen it.
    pub fn learnt_device_key(&self, sn: &str) -> Result<Option<[u8; 32]>, StoreError> {
        let key: Option<Vec<u8>> = self
            .tx
            .prepare_cached("SELECT device_key FROM device_keys WHERE sn = ?1")?
            .query_row([sn], |r| r.get(0))
            .optional()?;
        key.map(|k| {
            <[u8; 32]>::try_from(k.as_slice())
                .map_err(|_| StoreError::bad_value("device key length", k.len()))
        })
        .transpose()
    }

    /// Learns `key` for `sn` if nothing is learnt yet; refuses another one.
    pub(super) fn learn_device_key(
        &self,
        sn: &str,
        key: &[u8; 32],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        match self.learnt_device_key(sn)? {
            Some(learnt) if learnt == *key => Ok(()),
            Some(_) => Err(StoreError::DeviceKeyChanged { sn: sn.into() }),
            None => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO device_keys (sn, device_key, learnt_at_ms) \
                         VALUES (?1, ?2, ?3)",
                    )?
                    .execute(rusqlite::params![sn, &key[..], now_ms])?;
                Ok(())
            }
        }
    }
}
