//! Advertising through the kernel's Bluetooth management interface (BlueZ's `mgmt` API,
//! `doc/mgmt-api.txt`), one level below `bluetoothd`.
//!
//! Why not BlueZ's D-Bus advertising API: the posmate advertisement (`docs/protocol.md`
//! §1.2) is 54 bytes — flags, the 128-bit service UUID, the manufacturer data and the local
//! name — and a legacy advertisement carries 31 bytes plus 31 in the scan response. BlueZ's
//! D-Bus API (5.66, Debian bookworm) puts everything but the local name into the
//! advertisement itself, which then does not fit. A terminal's firmware lays the packets
//! out itself, as this module does through the kernel: the flags and the service UUID in
//! the advertisement, the manufacturer data and the complete local name in the scan
//! response (see [`legacy_layout`]). Centrals scan actively and see both merged.
//!
//! The same socket drops the link when the terminal stops ([`Advertiser::disconnect`]).
//! Both need CAP_NET_ADMIN (root, or `setcap cap_net_admin+ep posmate`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use posmate_proto::gatt::{self, Advertisement};

const AF_BLUETOOTH: libc::c_int = 31;
const BTPROTO_HCI: libc::c_int = 1;
const HCI_CHANNEL_CONTROL: u16 = 3;
const HCI_DEV_NONE: u16 = 0xffff;

const OP_READ_ADV_FEATURES: u16 = 0x003d;
const OP_ADD_ADVERTISING: u16 = 0x003e;
const OP_REMOVE_ADVERTISING: u16 = 0x003f;
const OP_DISCONNECT: u16 = 0x0014;
/// mgmt address types of LE devices.
const LE_PUBLIC: u8 = 1;
const LE_RANDOM: u8 = 2;
const EV_CMD_COMPLETE: u16 = 0x0001;
const EV_CMD_STATUS: u16 = 0x0002;

/// Add Advertising flags: connectable, general discoverable (the kernel adds the Flags AD).
const FLAG_CONNECTABLE: u32 = 1 << 0;
const FLAG_DISCOVERABLE: u32 = 1 << 1;

/// Legacy advertising and scan response payloads hold 31 bytes each.
pub const LEGACY_MAX: usize = 31;
/// The Flags AD structure the kernel adds to a discoverable advertisement.
const FLAGS_AD_LEN: usize = 3;
/// SN characters in the manufacturer data of the legacy layout: as many as fit next to
/// the local name in a 31-byte scan response. Six is what a merchant reads off the label
/// and what the phone filters on (`docs/protocol.md` §1.2 allows 1..8).
pub const LEGACY_SN_SUFFIX: usize = 6;

const AD_COMPLETE_UUID128: u8 = 0x07;
const AD_COMPLETE_NAME: u8 = 0x09;
const AD_MANUFACTURER: u8 = 0xff;

/// Why advertising failed.
#[derive(Debug, thiserror::Error)]
pub enum AdvertiseError {
    #[error(
        "cannot open the kernel's Bluetooth management socket: {0} (is Bluetooth in this kernel?)"
    )]
    Socket(io::Error),
    #[error(
        "the kernel refused to let this process advertise (mgmt status 0x14, permission \
         denied); run as root or give the binary CAP_NET_ADMIN (sudo setcap cap_net_admin+ep \
         $(command -v posmate))"
    )]
    PermissionDenied,
    #[error("{what} failed with mgmt status {status:#04x} ({})", status_name(*status))]
    Refused { what: &'static str, status: u8 },
    #[error("the kernel did not answer {what} within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "the advertisement does not fit legacy advertising ({adv} + {scan_rsp} bytes, {max} \
         each)"
    )]
    TooLong {
        adv: usize,
        scan_rsp: usize,
        max: usize,
    },
}

fn status_name(status: u8) -> &'static str {
    match status {
        0x01 => "unknown command",
        0x03 => "failed",
        0x07 => "no resources",
        0x0a => "busy",
        0x0b => "rejected",
        0x0c => "not supported",
        0x0d => "invalid parameters",
        0x0f => "not powered",
        0x11 => "invalid index",
        0x12 => "rfkilled",
        0x14 => "permission denied",
        _ => "see doc/mgmt-api.txt",
    }
}

/// The advertising and scan response data of `adv` for legacy advertising: the service
/// UUID in the advertisement (after the Flags the kernel adds), the manufacturer data with
/// the last [`LEGACY_SN_SUFFIX`] SN characters and the complete local name in the scan
/// response.
pub fn legacy_layout(adv: &Advertisement) -> Result<(Vec<u8>, Vec<u8>), AdvertiseError> {
    let mut data = Vec::with_capacity(LEGACY_MAX);
    push_ad(
        &mut data,
        AD_COMPLETE_UUID128,
        &gatt::SERVICE_UUID.to_le_bytes(),
    );
    let mut short = adv.clone();
    let keep = short.sn_suffix.chars().count().min(LEGACY_SN_SUFFIX);
    short.sn_suffix = short
        .sn_suffix
        .chars()
        .skip(short.sn_suffix.chars().count() - keep)
        .collect();
    let mut manufacturer = gatt::COMPANY_ID.to_le_bytes().to_vec();
    manufacturer.extend_from_slice(&short.manufacturer_data());
    let mut scan_rsp = Vec::with_capacity(LEGACY_MAX);
    push_ad(&mut scan_rsp, AD_MANUFACTURER, &manufacturer);
    push_ad(&mut scan_rsp, AD_COMPLETE_NAME, adv.local_name.as_bytes());
    if data.len() + FLAGS_AD_LEN > LEGACY_MAX || scan_rsp.len() > LEGACY_MAX {
        return Err(AdvertiseError::TooLong {
            adv: data.len() + FLAGS_AD_LEN,
            scan_rsp: scan_rsp.len(),
            max: LEGACY_MAX,
        });
    }
    Ok((data, scan_rsp))
}

fn push_ad(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(u8::try_from(body.len() + 1).expect("an AD structure is short"));
    out.push(kind);
    out.extend_from_slice(body);
}

/// One advertising instance on one controller, through the management socket. Blocking
/// (each command is a local round trip to the kernel); call from a blocking context.
pub struct Advertiser {
    socket: OwnedFd,
    index: u16,
    instance: u8,
    /// What is being advertised now.
    current: Option<(Vec<u8>, Vec<u8>)>,
}

/// How long the kernel gets to answer a management command.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often "add advertising" is tried while the controller is busy, and the first pause
/// (doubling: 50 + 100 + 200 + 400 ms at most).
const ADD_ATTEMPTS: u32 = 5;
const ADD_RETRY_FIRST: Duration = Duration::from_millis(50);

impl Advertiser {
    /// Opens the management socket for controller `hci<index>` and picks the highest
    /// advertising instance (bluetoothd's own advertisements start from 1).
    pub fn open(index: u16) -> Result<Self, AdvertiseError> {
        // SAFETY: plain socket(2) call; the result is checked before it is owned.
        let fd = unsafe {
            libc::socket(
                AF_BLUETOOTH,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                BTPROTO_HCI,
            )
        };
        if fd < 0 {
            return Err(AdvertiseError::Socket(io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // struct sockaddr_hci { sa_family_t family; unsigned short dev; unsigned short channel; }
        let mut addr = [0u8; 6];
        addr[0..2].copy_from_slice(&(AF_BLUETOOTH as u16).to_ne_bytes());
        addr[2..4].copy_from_slice(&HCI_DEV_NONE.to_ne_bytes());
        addr[4..6].copy_from_slice(&HCI_CHANNEL_CONTROL.to_ne_bytes());
        // SAFETY: `addr` is a valid sockaddr_hci of the length passed.
        let rc = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                addr.as_ptr().cast(),
                addr.len() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(AdvertiseError::Socket(io::Error::last_os_error()));
        }
        let mut advertiser = Advertiser {
            socket,
            index,
            instance: 1,
            current: None,
        };
        let features =
            advertiser.command("read advertising features", OP_READ_ADV_FEATURES, &[])?;
        // Supported_Flags (4), Max_Adv_Data_Len, Max_Scan_Rsp_Len, Max_Instances, ...
        let max_instances = features.get(6).copied().unwrap_or(1).max(1);
        advertiser.instance = max_instances;
        Ok(advertiser)
    }

    /// Advertises `adv` (replacing what this instance advertised). Unchanged data is left
    /// alone unless `again`: adding the instance anew makes the kernel re-enable
    /// advertising.
    pub fn advertise(&mut self, adv: &Advertisement, again: bool) -> Result<(), AdvertiseError> {
        let (data, scan_rsp) = legacy_layout(adv)?;
        if !again && self.current.as_ref() == Some(&(data.clone(), scan_rsp.clone())) {
            return Ok(());
        }
        let mut params = vec![self.instance];
        params.extend_from_slice(&(FLAG_CONNECTABLE | FLAG_DISCOVERABLE).to_le_bytes());
        params.extend_from_slice(&0u16.to_le_bytes()); // duration: default
        params.extend_from_slice(&0u16.to_le_bytes()); // timeout: none
        params.push(u8::try_from(data.len()).expect("checked"));
        params.push(u8::try_from(scan_rsp.len()).expect("checked"));
        params.extend_from_slice(&data);
        params.extend_from_slice(&scan_rsp);
        // Just after a link ends the controller may still refuse to enable advertising (the
        // kernel logs "Opcode 0x200a failed: -16", EBUSY, and answers mgmt status 0x03
        // "failed"): a short, bounded retry rides that out; other refusals fail at once.
        let mut wait = ADD_RETRY_FIRST;
        for attempt in 1.. {
            match self.command("add advertising", OP_ADD_ADVERTISING, &params) {
                Err(AdvertiseError::Refused { status: 0x03, .. }) if attempt < ADD_ATTEMPTS => {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        self.current = Some((data, scan_rsp));
        Ok(())
    }

    /// Stops advertising (a connected terminal does not advertise).
    pub fn stop(&mut self) -> Result<(), AdvertiseError> {
        if self.current.take().is_none() {
            return Ok(());
        }
        match self.command(
            "remove advertising",
            OP_REMOVE_ADVERTISING,
            &[self.instance],
        ) {
            // Already gone (the adapter was powered off, say).
            Err(AdvertiseError::Refused { status: 0x0d, .. }) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Drops the link to the device at `address` (most significant byte first, as
    /// displayed).
    pub fn disconnect(&mut self, address: [u8; 6], public: bool) -> Result<(), AdvertiseError> {
        let mut params: Vec<u8> = address.iter().rev().copied().collect();
        params.push(if public { LE_PUBLIC } else { LE_RANDOM });
        self.command("disconnect", OP_DISCONNECT, &params)
            .map(|_| ())
    }

    /// Sends one command and waits for its Command Complete (return parameters) or
    /// Command Status (an error). Other events on the socket are skipped.
    fn command(
        &mut self,
        what: &'static str,
        opcode: u16,
        params: &[u8],
    ) -> Result<Vec<u8>, AdvertiseError> {
        let mut packet = Vec::with_capacity(6 + params.len());
        packet.extend_from_slice(&opcode.to_le_bytes());
        packet.extend_from_slice(&self.index.to_le_bytes());
        packet.extend_from_slice(&(params.len() as u16).to_le_bytes());
        packet.extend_from_slice(params);
        let io_err = |source| AdvertiseError::Io { what, source };
        // SAFETY: writes `packet.len()` bytes from a live buffer to an owned socket.
        let n = unsafe {
            libc::write(
                self.socket.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
            )
        };
        if n < 0 {
            return Err(io_err(io::Error::last_os_error()));
        }
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let mut buf = [0u8; 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AdvertiseError::Timeout {
                    what,
                    after: REPLY_TIMEOUT,
                });
            }
            let mut pfd = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(io_err(e));
            }
            if rc == 0 {
                continue;
            }
            // SAFETY: reads at most `buf.len()` bytes into a live buffer.
            let n =
                unsafe { libc::read(self.socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                return Err(io_err(io::Error::last_os_error()));
            }
            let event = &buf[..n as usize];
            if event.len() < 9 {
                continue;
            }
            let code = u16::from_le_bytes([event[0], event[1]]);
            let index = u16::from_le_bytes([event[2], event[3]]);
            let op = u16::from_le_bytes([event[6], event[7]]);
            if index != self.index
                || op != opcode
                || !matches!(code, EV_CMD_COMPLETE | EV_CMD_STATUS)
            {
                continue;
            }
            let status = event[8];
            return match status {
                0 => Ok(event[9..].to_vec()),
                0x14 => Err(AdvertiseError::PermissionDenied),
                status => Err(AdvertiseError::Refused { what, status }),
            };
        }
    }
}

impl Drop for Advertiser {
    fn drop(&mut self) {
        // Best effort: a terminal that stops serving stops advertising.
        let _ = self.stop();
    }
}

/// `hci1` → 1.
pub fn index_of(adapter: &str) -> Option<u16> {
    adapter.strip_prefix("hci")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use posmate_proto::gatt::Lifecycle;

    #[test]
    fn the_protocol_advertisement_fits_legacy_packets_and_parses_back() {
        let mut adv = Advertisement::for_terminal("SN2026000001", 1, Lifecycle::Activated);
        adv.pairing_open = true;
        let (data, scan_rsp) = legacy_layout(&adv).unwrap();
        assert_eq!(data.len() + FLAGS_AD_LEN, 21);
        assert_eq!(scan_rsp.len(), 31, "exactly fills the scan response");
        assert_eq!(&data[..2], &[17, AD_COMPLETE_UUID128]);
        assert_eq!(
            u128::from_le_bytes(data[2..18].try_into().unwrap()),
            gatt::SERVICE_UUID
        );
        // Manufacturer AD: len, 0xff, company id LE, then the posmate data.
        assert_eq!(scan_rsp[1], AD_MANUFACTURER);
        let mlen = usize::from(scan_rsp[0]) - 1;
        let body = &scan_rsp[2..2 + mlen];
        assert_eq!(u16::from_le_bytes([body[0], body[1]]), gatt::COMPANY_ID);
        let name_ad = &scan_rsp[2 + mlen..];
        assert_eq!(name_ad[1], AD_COMPLETE_NAME);
        let name = std::str::from_utf8(&name_ad[2..]).unwrap();
        assert_eq!(name, "POSMATE-000001");
        let parsed = Advertisement::parse(Some(name), &body[2..]).unwrap();
        assert_eq!(parsed.sn_suffix, "000001");
        assert_eq!(parsed.lifecycle, Lifecycle::Activated);
        assert!(parsed.pairing_open);
    }

    #[test]
    fn adapter_names_map_to_indexes() {
        assert_eq!(index_of("hci0"), Some(0));
        assert_eq!(index_of("hci12"), Some(12));
        assert_eq!(index_of("usb0"), None);
    }
}
