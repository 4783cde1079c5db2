//! Frames (`docs/protocol.md` §3): `kind ‖ body ‖ CRC-32C LE`, and the table of kinds with
//! the channel and direction each may use.

use crate::segment::Channel;
use crc::{Crc, Table, CRC_32_ISCSI};

/// CRC-32C (Castagnoli), the frame check. Slice-by-16 tables (16 KiB, built at compile
/// time): every byte of every frame is checked twice, so the byte-wise table would cost more
/// than the encryption (see `cargo xtask bench`). Firmware may use any CRC-32C routine.
pub const CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);
/// Bytes a frame adds around its body: one kind byte and four CRC bytes.
pub const FRAME_OVERHEAD: usize = 5;
/// HELLO, HELLO_ACK and CLOSE frames are exempt from flow control; each side always accepts
/// one of up to this many bytes (§3.1), whatever its `max_frame`.
pub const HELLO_MAX_FRAME: usize = 256;

/// Which end of the link an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The central, running posmate-core.
    Phone,
    /// The peripheral, running firmware.
    Terminal,
}

impl Role {
    /// The other end.
    pub fn peer(self) -> Role {
        match self {
            Role::Phone => Role::Terminal,
            Role::Terminal => Role::Phone,
        }
    }
}

/// Who may send a kind of frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    PhoneToTerminal,
    TerminalToPhone,
    Both,
}

/// The frame kinds of §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    Hello = 0x01,
    HelloAck = 0x02,
    Pair1 = 0x10,
    Pair2 = 0x11,
    Pair3 = 0x12,
    Resume1 = 0x13,
    Resume2 = 0x14,
    Secure = 0x20,
    Credit = 0x30,
    Close = 0x3F,
}

impl FrameKind {
    /// Every kind, in table order.
    pub const ALL: [FrameKind; 10] = [
        FrameKind::Hello,
        FrameKind::HelloAck,
        FrameKind::Pair1,
        FrameKind::Pair2,
        FrameKind::Pair3,
        FrameKind::Resume1,
        FrameKind::Resume2,
        FrameKind::Secure,
        FrameKind::Credit,
        FrameKind::Close,
    ];

    /// The kind byte.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind for a kind byte, if it is one of §3's.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The channel this kind travels on.
    pub fn channel(self) -> Channel {
        match self {
            FrameKind::Credit => Channel::Control,
            _ => Channel::Session,
        }
    }

    /// Who may send this kind.
    pub fn direction(self) -> Direction {
        match self {
            FrameKind::Hello | FrameKind::Pair1 | FrameKind::Pair3 | FrameKind::Resume1 => {
                Direction::PhoneToTerminal
            }
            FrameKind::HelloAck | FrameKind::Pair2 | FrameKind::Resume2 => {
                Direction::TerminalToPhone
            }
            FrameKind::Secure | FrameKind::Credit | FrameKind::Close => Direction::Both,
        }
    }

    /// Whether `role` may send this kind.
    pub fn sent_by(self, role: Role) -> bool {
        matches!(
            (self.direction(), role),
            (Direction::Both, _)
                | (Direction::PhoneToTerminal, Role::Phone)
                | (Direction::TerminalToPhone, Role::Terminal)
        )
    }

    /// Whether a frame of this kind costs a credit (§4): every session frame except HELLO,
    /// HELLO_ACK and CLOSE (§3.1, §3.2: CLOSE's sender may not know the peer's window yet,
    /// and it is the last frame sent). CREDIT frames are on the control channel and never
    /// cost one.
    pub fn is_flow_controlled(self) -> bool {
        !matches!(
            self,
            FrameKind::Hello | FrameKind::HelloAck | FrameKind::Close | FrameKind::Credit
        )
    }

    /// The protocol name, as in the table of §3.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Hello => "HELLO",
            FrameKind::HelloAck => "HELLO_ACK",
            FrameKind::Pair1 => "PAIR1",
            FrameKind::Pair2 => "PAIR2",
            FrameKind::Pair3 => "PAIR3",
            FrameKind::Resume1 => "RESUME1",
            FrameKind::Resume2 => "RESUME2",
            FrameKind::Secure => "SECURE",
            FrameKind::Credit => "CREDIT",
            FrameKind::Close => "CLOSE",
        }
    }
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer than 5 bytes: no room for kind and CRC. Ends the connection with CLOSE
    /// `protocol-violation`.
    #[error("frame of {0} bytes is shorter than kind and CRC")]
    TooShort(usize),
    /// The CRC does not match. Ends the connection with CLOSE `corrupt-frame`.
    #[error("frame CRC mismatch (carried {carried:#010x}, computed {computed:#010x})")]
    CrcMismatch { carried: u32, computed: u32 },
    /// A kind byte not in §3's table (the CRC was good). CLOSE `protocol-violation`.
    #[error("unknown frame kind {0:#04x}")]
    UnknownKind(u8),
}

/// `kind ‖ body ‖ CRC-32C(kind ‖ body) LE`.
pub fn encode_frame(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + FRAME_OVERHEAD);
    out.push(kind.code());
    out.extend_from_slice(body);
    let crc = CRC32C.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the CRC, then the kind, and returns the kind and the body.
pub fn decode_frame(frame: &[u8]) -> Result<(FrameKind, &[u8]), FrameError> {
    if frame.len() < FRAME_OVERHEAD {
        return Err(FrameError::TooShort(frame.len()));
    }
    let (covered, crc) = frame.split_at(frame.len() - 4);
    let carried = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let computed = CRC32C.checksum(covered);
    if carried != computed {
        return Err(FrameError::CrcMismatch { carried, computed });
    }
    let kind = FrameKind::from_code(covered[0]).ok_or(FrameError::UnknownKind(covered[0]))?;
    Ok((kind, &covered[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn frames_round_trip_for_every_kind() {
        for kind in FrameKind::ALL {
            let f = encode_frame(kind, b"body");
            assert_eq!(f.len(), 4 + FRAME_OVERHEAD);
            assert_eq!(f[0], kind.code());
            assert_eq!(decode_frame(&f), Ok((kind, &b"body"[..])));
            assert_eq!(FrameKind::from_code(kind.code()), Some(kind));
        }
        let empty = encode_frame(FrameKind::Pair3, &[]);
        assert_eq!(decode_frame(&empty), Ok((FrameKind::Pair3, &[][..])));
    }

    #[test]
    fn crc_is_little_endian_over_kind_and_body() {
        let f = encode_frame(FrameKind::Credit, &[4, 0]);
        let crc = CRC32C.checksum(&[0x30, 4, 0]);
        assert_eq!(&f[3..], &crc.to_le_bytes());
    }

    #[test]
    fn too_short() {
        assert_eq!(decode_frame(&[1, 2, 3, 4]), Err(FrameError::TooShort(4)));
        assert_eq!(decode_frame(&[]), Err(FrameError::TooShort(0)));
    }

    #[test]
    fn every_flipped_bit_is_a_crc_mismatch() {
        let f = encode_frame(FrameKind::Secure, b"hello world");
        for i in 0..f.len() * 8 {
            let mut g = f.clone();
            g[i / 8] ^= 1 << (i % 8);
            assert!(matches!(
                decode_frame(&g),
                Err(FrameError::CrcMismatch { .. })
            ));
        }
    }

    #[test]
    fn unknown_kind_with_good_crc() {
        let mut f = vec![0x7E, 1, 2];
        let crc = CRC32C.checksum(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_frame(&f), Err(FrameError::UnknownKind(0x7E)));
        assert_eq!(FrameKind::from_code(0x00), None);
    }

    #[test]
    fn channels_and_directions_follow_the_table() {
        use FrameKind::*;
        assert_eq!(Credit.channel(), Channel::Control);
        assert!(FrameKind::ALL
            .iter()
            .filter(|k| **k != Credit)
            .all(|k| k.channel() == Channel::Session));
        for k in [Hello, Pair1, Pair3, Resume1] {
            assert!(k.sent_by(Role::Phone) && !k.sent_by(Role::Terminal));
        }
        for k in [HelloAck, Pair2, Resume2] {
            assert!(k.sent_by(Role::Terminal) && !k.sent_by(Role::Phone));
        }
        for k in [Secure, Credit, Close] {
            assert!(k.sent_by(Role::Terminal) && k.sent_by(Role::Phone));
        }
        assert!(!Hello.is_flow_controlled() && !HelloAck.is_flow_controlled());
        assert!(!Credit.is_flow_controlled());
        assert!(!Close.is_flow_controlled());
        for k in [Pair1, Pair2, Pair3, Resume1, Resume2, Secure] {
            assert!(k.is_flow_controlled());
        }
        assert_eq!(Role::Phone.peer(), Role::Terminal);
        assert_eq!(HelloAck.name(), "HELLO_ACK");
    }
}
