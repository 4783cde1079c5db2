//! GATT layout, advertising data and the firmware-side peripheral interface
//! (`docs/protocol.md` §1).
//!
//! UUIDs are plain `u128` so that firmware and the phone share them without a UUID crate.

/// The posmate primary service.
pub const SERVICE_UUID: u128 = 0x7a6d0001_5f3c_4c1e_9b1a_706f736d6174;
/// Phone → terminal, write without response.
pub const RX_CHAR_UUID: u128 = 0x7a6d0002_5f3c_4c1e_9b1a_706f736d6174;
/// Terminal → phone, notify.
pub const TX_CHAR_UUID: u128 = 0x7a6d0003_5f3c_4c1e_9b1a_706f736d6174;

/// Bluetooth SIG company identifier reserved for testing; a production terminal uses its
/// vendor's identifier.
pub const COMPANY_ID: u16 = 0xFFFF;
/// Prefix of the advertised local name.
pub const LOCAL_NAME_PREFIX: &str = "POSMATE-";
/// Smallest ATT MTU (BLE 4.0 default).
pub const MIN_MTU: u16 = 23;
/// Largest ATT MTU.
pub const MAX_MTU: u16 = 517;
/// ATT header bytes in a write or notification (opcode + handle).
pub const ATT_HEADER: usize = 3;

/// Largest ATT value for a negotiated MTU, clamped to the legal MTU range.
pub fn max_value_len(mtu: u16) -> usize {
    usize::from(mtu.clamp(MIN_MTU, MAX_MTU)) - ATT_HEADER
}

const MAGIC: [u8; 2] = *b"PM";
const MAX_SN_SUFFIX: usize = 8;

/// Where a terminal is in its life (`docs/protocol.md` §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    /// Fresh from the factory or wiped: no keys, no merchant.
    Factory,
    /// Activated for a merchant, holding keys.
    Activated,
    /// Suspended by the acquirer (e.g. dormancy); keys kept.
    Suspended,
    /// Deregistered and wiped; returns to factory when re-provisioned.
    Decommissioned,
}

impl Lifecycle {
    pub fn code(self) -> u8 {
        match self {
            Lifecycle::Factory => 0,
            Lifecycle::Activated => 1,
            Lifecycle::Suspended => 2,
            Lifecycle::Decommissioned => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Lifecycle::Factory,
            1 => Lifecycle::Activated,
            2 => Lifecycle::Suspended,
            3 => Lifecycle::Decommissioned,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Lifecycle::Factory => "factory",
            Lifecycle::Activated => "activated",
            Lifecycle::Suspended => "suspended",
            Lifecycle::Decommissioned => "decommissioned",
        }
    }
}

/// What a terminal puts in its advertising packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// Complete local name, `POSMATE-` + last 6 SN characters.
    pub local_name: String,
    /// Highest protocol version the terminal speaks.
    pub protocol_version: u8,
    pub lifecycle: Lifecycle,
    /// The pairing window is open (the terminal shows a code).
    pub pairing_open: bool,
    /// Pairing is locked out after too many wrong codes.
    pub pairing_locked: bool,
    /// Last (up to 8) ASCII characters of the SN.
    pub sn_suffix: String,
}

/// Why manufacturer data could not be read as a posmate advertisement. Scanners ignore such
/// records; the error exists so that tests and `posmate scan -v` can say why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvertisementError {
    #[error("manufacturer data too short ({0} bytes)")]
    TooShort(usize),
    #[error("not a posmate terminal (magic mismatch)")]
    BadMagic,
    #[error("unknown lifecycle code {0}")]
    BadLifecycle(u8),
    #[error("SN suffix is not printable ASCII")]
    BadSn,
}

impl Advertisement {
    /// Builds the advertisement of a terminal with serial number `sn`.
    pub fn for_terminal(sn: &str, protocol_version: u8, lifecycle: Lifecycle) -> Self {
        Advertisement {
            local_name: local_name_for(sn),
            protocol_version,
            lifecycle,
            pairing_open: false,
            pairing_locked: false,
            sn_suffix: tail(sn, MAX_SN_SUFFIX).to_owned(),
        }
    }

    /// Manufacturer-specific data after the company identifier.
    pub fn manufacturer_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.sn_suffix.len());
        out.extend_from_slice(&MAGIC);
        out.push(self.protocol_version);
        out.push(self.lifecycle.code());
        out.push(u8::from(self.pairing_open) | (u8::from(self.pairing_locked) << 1));
        out.extend_from_slice(tail(&self.sn_suffix, MAX_SN_SUFFIX).as_bytes());
        out
    }

    /// Parses manufacturer data (after the company identifier) together with the local name.
    pub fn parse(local_name: Option<&str>, data: &[u8]) -> Result<Self, AdvertisementError> {
        if data.len() < 6 {
            return Err(AdvertisementError::TooShort(data.len()));
        }
        if data[0..2] != MAGIC {
            return Err(AdvertisementError::BadMagic);
        }
        let lifecycle =
            Lifecycle::from_code(data[3]).ok_or(AdvertisementError::BadLifecycle(data[3]))?;
        let sn = &data[5..data.len().min(5 + MAX_SN_SUFFIX)];
        if !sn.iter().all(|b| b.is_ascii_graphic()) {
            return Err(AdvertisementError::BadSn);
        }
        let sn_suffix = String::from_utf8(sn.to_vec()).map_err(|_| AdvertisementError::BadSn)?;
        Ok(Advertisement {
            local_name: local_name
                .map(str::to_owned)
                .unwrap_or_else(|| local_name_for(&sn_suffix)),
            protocol_version: data[2],
            lifecycle,
            pairing_open: data[4] & 1 != 0,
            pairing_locked: data[4] & 2 != 0,
            sn_suffix,
        })
    }
}

/// `POSMATE-` followed by the last 6 characters of the SN.
pub fn local_name_for(sn: &str) -> String {
    let mut name = String::from(LOCAL_NAME_PREFIX);
    name.push_str(tail(sn, 6));
    name
}

fn tail(s: &str, n: usize) -> &str {
    let start = s
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    if s.chars().count() <= n {
        s
    } else {
        &s[start..]
    }
}

/// Microseconds on a link's clock (virtual in simulation, monotonic on hardware).
pub type Micros = u64;

/// A notification the peripheral wants to send on TX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Earliest link time at which it may go on air (models the firmware's processing time).
    pub not_before: Micros,
    /// The ATT value, at most [`max_value_len`] of the connection's MTU.
    pub data: Vec<u8>,
}

/// The terminal side of a GATT connection, as firmware sees it: the link layer calls these
/// from its event loop. A simulated link drives a simulated terminal through exactly this
/// interface — bytes in, bytes out — so a simulation proves what real firmware would see.
pub trait Peripheral: Send {
    /// What the terminal advertises right now.
    fn advertisement(&self) -> Advertisement;
    /// A central connected and notifications on TX were enabled; `mtu` is the ATT MTU.
    fn on_connect(&mut self, now: Micros, mtu: u16);
    /// The central wrote `value` to RX (one ATT write without response).
    fn on_write(&mut self, now: Micros, value: &[u8]);
    /// The link dropped or the central disconnected. Everything not yet persisted by the
    /// firmware's own rules is gone.
    fn on_disconnect(&mut self, now: Micros);
    /// The next notification the firmware has queued, if any. The link calls this after
    /// every delivery until it returns `None`.
    fn poll_notification(&mut self, now: Micros) -> Option<Notification>;
    /// The firmware asks to drop the connection (after sending CLOSE, say).
    fn wants_disconnect(&self) -> bool;
    /// Fault injection for simulated terminals: stop draining the receive buffer until
    /// `until` (a busy terminal). Flow control must keep the central from overrunning it.
    fn stall_until(&mut self, until: Micros);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisement_round_trips() {
        let mut adv = Advertisement::for_terminal("SN20260042A1", 1, Lifecycle::Activated);
        adv.pairing_open = true;
        assert_eq!(adv.local_name, "POSMATE-0042A1");
        assert_eq!(adv.sn_suffix, "260042A1");
        let parsed = Advertisement::parse(Some(&adv.local_name), &adv.manufacturer_data()).unwrap();
        assert_eq!(parsed, adv);
    }

    #[test]
    fn foreign_manufacturer_data_is_rejected_not_panicking() {
        assert_eq!(
            Advertisement::parse(None, b"XX\x01\x00\x00A"),
            Err(AdvertisementError::BadMagic)
        );
        assert_eq!(
            Advertisement::parse(None, b"PM"),
            Err(AdvertisementError::TooShort(2))
        );
        assert_eq!(
            Advertisement::parse(None, b"PM\x01\x09\x00A"),
            Err(AdvertisementError::BadLifecycle(9))
        );
    }

    #[test]
    fn value_len_follows_mtu() {
        assert_eq!(max_value_len(23), 20);
        assert_eq!(max_value_len(247), 244);
        assert_eq!(max_value_len(10), 20);
        assert_eq!(max_value_len(600), 514);
    }
}
