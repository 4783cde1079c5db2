//! The sans-IO link endpoint that the phone session (posmate-core) and terminal firmware
//! (posmate-sim) both drive: frames in and out, credits, segmentation and reassembly in one
//! place, so both ends enforce `docs/protocol.md` §2–§4 identically.
//!
//! The caller owns I/O and time: it calls [`Wire::poll_packet`] whenever the link can take a
//! packet, feeds every received ATT value (or byte-stream chunk) to [`Wire::receive`], and
//! reports each handled frame with [`Wire::frame_processed`] so its credit goes back.

use crate::flow::{FlowError, ReceiveWindow, SendCredits};
use crate::frame::{
    decode_frame, encode_frame, FrameError, FrameKind, Role, FRAME_OVERHEAD, HELLO_MAX_FRAME,
};
use crate::message::CloseReason;
use crate::segment::{Channel, Reassembler, SegmentError, Segmenter};

/// Smallest `max_frame` a side may advertise (§4).
pub const MIN_MAX_FRAME: u16 = 64;
/// Bytes of a CREDIT frame body.
const CREDIT_BODY_LEN: usize = 2;

/// A session-channel frame received whole and intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    pub kind: FrameKind,
    pub body: Vec<u8>,
}

/// Errors of the link layer. Those caused by the peer map to a CLOSE reason
/// ([`WireError::close_reason`]); the others are local misuse the caller must handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// No credit to send a flow-controlled frame: wait for the peer's CREDIT.
    #[error("no credit: wait for the peer to grant one")]
    NoCredit,
    /// The frame would exceed the limit the peer accepts.
    #[error("frame of {len} bytes exceeds the peer's limit of {max}")]
    FrameTooLarge { len: usize, max: usize },
    /// This role may not send this kind (or CREDIT, which the wire sends by itself).
    #[error("{} may not be sent by this side", .0.name())]
    NotSendable(FrameKind),
    /// [`Wire::frame_processed`] with no received frame outstanding.
    #[error("no received frame is waiting to be processed")]
    NothingToProcess,
    /// A bad segment from the peer (§2).
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A bad frame from the peer (§3).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame kind on the wrong channel.
    #[error("{} arrived on the {channel:?} channel", kind.name())]
    WrongChannel { kind: FrameKind, channel: Channel },
    /// A frame kind the peer's role may not send.
    #[error("{} may not be sent by the peer", .0.name())]
    WrongDirection(FrameKind),
    /// A non-exempt frame larger than this side's `max_frame`.
    #[error("received frame of {len} bytes exceeds this side's max_frame {max}")]
    ReceivedTooLarge { len: usize, max: usize },
    /// A CREDIT frame whose body is not a u16.
    #[error("CREDIT body of {0} bytes (expected 2)")]
    BadCredit(usize),
    /// Flow control violated by the peer.
    #[error(transparent)]
    Flow(FlowError),
}

impl WireError {
    /// The CLOSE reason to send before disconnecting, for errors caused by the peer; `None`
    /// for local misuse (the connection is fine).
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self {
            WireError::NoCredit
            | WireError::FrameTooLarge { .. }
            | WireError::NotSendable(_)
            | WireError::NothingToProcess => None,
            WireError::Frame(FrameError::CrcMismatch { .. }) => Some(CloseReason::CorruptFrame),
            WireError::Flow(FlowError::Overrun) => Some(CloseReason::Overrun),
            WireError::Segment(_)
            | WireError::Frame(_)
            | WireError::WrongChannel { .. }
            | WireError::WrongDirection(_)
            | WireError::ReceivedTooLarge { .. }
            | WireError::BadCredit(_)
            | WireError::Flow(_) => Some(CloseReason::ProtocolViolation),
        }
    }
}

/// Byte counters for wire-efficiency measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Session frame bodies handed to [`Wire::send`].
    pub app_bytes_out: u64,
    /// Session frame bodies delivered by [`Wire::receive`].
    pub app_bytes_in: u64,
    pub frames_out: u64,
    pub frames_in: u64,
    pub packets_out: u64,
    /// Σ (packet length + 3 bytes of ATT header).
    pub att_bytes_out: u64,
    /// Raw bytes passed to [`Wire::receive`].
    pub bytes_in: u64,
    pub credit_frames_out: u64,
    pub credit_frames_in: u64,
}

impl WireStats {
    /// Application bytes sent per ATT byte sent; 0 before anything was sent.
    pub fn efficiency_out(&self) -> f64 {
        if self.att_bytes_out == 0 {
            0.0
        } else {
            self.app_bytes_out as f64 / self.att_bytes_out as f64
        }
    }
}

/// One end of a link. See the module documentation.
pub struct Wire {
    role: Role,
    local_max_frame: usize,
    peer_max_frame: usize,
    credits: SendCredits,
    window: ReceiveWindow,
    segmenter: Segmenter,
    reassembler: Reassembler,
    failed: Option<WireError>,
    stats: WireStats,
}

impl Wire {
    /// An endpoint for `role` that advertises `local_rx_window` (at least 1) and
    /// `local_max_frame` (at least 64) in its HELLO / HELLO_ACK.
    pub fn new(role: Role, local_rx_window: u16, local_max_frame: u16) -> Self {
        let local_max_frame = usize::from(local_max_frame.max(MIN_MAX_FRAME));
        Wire {
            role,
            local_max_frame,
            peer_max_frame: usize::from(MIN_MAX_FRAME),
            credits: SendCredits::new(),
            window: ReceiveWindow::new(local_rx_window),
            segmenter: Segmenter::new(),
            // HELLO / HELLO_ACK / CLOSE may reach 256 bytes whatever max_frame is; other kinds are
            // held to max_frame once decoded.
            reassembler: Reassembler::new(local_max_frame.max(HELLO_MAX_FRAME)),
            failed: None,
            stats: WireStats::default(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The window this side advertises.
    pub fn local_rx_window(&self) -> u16 {
        self.window.window()
    }

    /// The largest frame this side accepts.
    pub fn local_max_frame(&self) -> u16 {
        // Built from a u16 in `new`.
        u16::try_from(self.local_max_frame).unwrap_or(u16::MAX)
    }

    /// The peer's HELLO / HELLO_ACK arrived: it holds `rx_window` slots for us and accepts
    /// frames of up to `max_frame` bytes. Call once; sending then has credits.
    pub fn set_peer_limits(&mut self, rx_window: u16, max_frame: u16) {
        self.credits.start(rx_window);
        self.peer_max_frame = usize::from(max_frame.max(MIN_MAX_FRAME));
    }

    /// Largest body that fits the peer's `max_frame`.
    pub fn max_body(&self) -> usize {
        self.peer_max_frame - FRAME_OVERHEAD
    }

    /// Credits left for flow-controlled frames.
    pub fn credits(&self) -> u32 {
        self.credits.available()
    }

    /// Whether a flow-controlled frame can be sent now.
    pub fn can_send(&self) -> bool {
        self.credits.available() > 0
    }

    /// Queues one frame. Flow-controlled kinds spend a credit now (and fail with
    /// [`WireError::NoCredit`] rather than queue beyond the peer's window).
    pub fn send(&mut self, kind: FrameKind, body: &[u8]) -> Result<(), WireError> {
        if kind == FrameKind::Credit || !kind.sent_by(self.role) {
            return Err(WireError::NotSendable(kind));
        }
        let len = body.len() + FRAME_OVERHEAD;
        let max = if kind.is_flow_controlled() {
            self.peer_max_frame
        } else {
            HELLO_MAX_FRAME
        };
        if len > max {
            return Err(WireError::FrameTooLarge { len, max });
        }
        if kind.is_flow_controlled() && !self.credits.try_spend() {
            return Err(WireError::NoCredit);
        }
        self.segmenter
            .push_frame(Channel::Session, encode_frame(kind, body));
        self.stats.app_bytes_out += body.len() as u64;
        self.stats.frames_out += 1;
        Ok(())
    }

    /// Whether packets are waiting for [`Wire::poll_packet`].
    pub fn has_output(&self) -> bool {
        self.segmenter.has_pending()
    }

    /// The next ATT value to write or notify, at most `max_value_len` (`MTU − 3`) bytes.
    pub fn poll_packet(&mut self, max_value_len: usize) -> Option<Vec<u8>> {
        let p = self.segmenter.next_packet(max_value_len)?;
        self.stats.packets_out += 1;
        self.stats.att_bytes_out += (p.len() + crate::gatt::ATT_HEADER) as u64;
        Some(p)
    }

    /// Feeds received bytes; returns the session frames they completed, in order. CREDIT
    /// frames are absorbed. Any error is final: send CLOSE with
    /// [`WireError::close_reason`] and disconnect; later calls return the same error.
    pub fn receive(&mut self, chunk: &[u8]) -> Result<Vec<ReceivedFrame>, WireError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.stats.bytes_in += chunk.len() as u64;
        match self.absorb(chunk) {
            Ok(frames) => Ok(frames),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn absorb(&mut self, chunk: &[u8]) -> Result<Vec<ReceivedFrame>, WireError> {
        let mut out = Vec::new();
        for (channel, raw) in self.reassembler.push(chunk)? {
            let (kind, body) = decode_frame(&raw)?;
            if kind.channel() != channel {
                return Err(WireError::WrongChannel { kind, channel });
            }
            if !kind.sent_by(self.role.peer()) {
                return Err(WireError::WrongDirection(kind));
            }
            if kind == FrameKind::Credit {
                let granted: [u8; CREDIT_BODY_LEN] = body
                    .try_into()
                    .map_err(|_| WireError::BadCredit(body.len()))?;
                self.credits
                    .grant(u16::from_le_bytes(granted))
                    .map_err(WireError::Flow)?;
                self.stats.credit_frames_in += 1;
                continue;
            }
            if kind.is_flow_controlled() {
                if raw.len() > self.local_max_frame {
                    return Err(WireError::ReceivedTooLarge {
                        len: raw.len(),
                        max: self.local_max_frame,
                    });
                }
                self.window.on_frame_received().map_err(WireError::Flow)?;
            }
            self.stats.app_bytes_in += body.len() as u64;
            self.stats.frames_in += 1;
            out.push(ReceivedFrame {
                kind,
                body: body.to_vec(),
            });
        }
        Ok(out)
    }

    /// The caller finished with one received flow-controlled frame (any session kind but
    /// HELLO, HELLO_ACK and CLOSE): its buffer slot is free. A CREDIT is queued when the batching rule of
    /// [`ReceiveWindow::take_grant`] says so.
    pub fn frame_processed(&mut self) -> Result<(), WireError> {
        self.window
            .on_frame_processed()
            .map_err(|_| WireError::NothingToProcess)?;
        if let Some(n) = self.window.take_grant() {
            self.segmenter.push_frame(
                Channel::Control,
                encode_frame(FrameKind::Credit, &n.to_le_bytes()),
            );
            self.stats.credit_frames_out += 1;
        }
        Ok(())
    }

    /// Received flow-controlled frames not yet reported processed.
    pub fn unprocessed(&self) -> u32 {
        self.window.buffered()
    }

    pub fn stats(&self) -> WireStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SegmentHeader;

    /// Moves every pending packet from `a` to `b`.
    fn pump(a: &mut Wire, b: &mut Wire, max: usize) -> Result<Vec<ReceivedFrame>, WireError> {
        let mut got = Vec::new();
        while let Some(p) = a.poll_packet(max) {
            assert!(p.len() <= max);
            got.extend(b.receive(&p)?);
        }
        Ok(got)
    }

    fn pair(phone_window: u16, terminal_window: u16) -> (Wire, Wire) {
        let mut phone = Wire::new(Role::Phone, phone_window, 65535);
        let mut terminal = Wire::new(Role::Terminal, terminal_window, 4096);
        phone.set_peer_limits(terminal_window, 4096);
        terminal.set_peer_limits(phone_window, 65535);
        (phone, terminal)
    }

    #[test]
    fn hello_is_exempt_and_needs_no_limits() {
        let mut phone = Wire::new(Role::Phone, 32, 65535);
        let mut terminal = Wire::new(Role::Terminal, 4, 64);
        assert!(!phone.can_send());
        phone.send(FrameKind::Hello, &[0; 200]).unwrap();
        let got = pump(&mut phone, &mut terminal, 20).unwrap();
        assert_eq!(got[0].kind, FrameKind::Hello);
        assert_eq!(terminal.unprocessed(), 0);
        assert_eq!(terminal.frame_processed(), Err(WireError::NothingToProcess));
        assert_eq!(
            phone.send(FrameKind::Hello, &[0; 252]),
            Err(WireError::FrameTooLarge { len: 257, max: 256 })
        );
        assert_eq!(phone.send(FrameKind::Pair1, &[]), Err(WireError::NoCredit));
    }

    #[test]
    fn close_is_exempt_even_with_a_full_window() {
        // A terminal refusing HELLO before it knows the phone's window.
        let mut terminal = Wire::new(Role::Terminal, 4, 4096);
        let mut phone = Wire::new(Role::Phone, 1, 65535);
        terminal.send(FrameKind::Close, &[0; 251]).unwrap();
        assert_eq!(
            terminal.send(FrameKind::Close, &[0; 252]),
            Err(WireError::FrameTooLarge { len: 257, max: 256 })
        );
        // The phone's single slot is taken by a SECURE frame; the CLOSE still gets through.
        terminal.set_peer_limits(1, 65535);
        terminal.send(FrameKind::Secure, b"x").unwrap();
        terminal.send(FrameKind::Close, b"bye").unwrap();
        let got = pump(&mut terminal, &mut phone, 20).unwrap();
        let kinds: Vec<_> = got.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [FrameKind::Close, FrameKind::Secure, FrameKind::Close]
        );
        assert_eq!(phone.unprocessed(), 1);
        assert_eq!(terminal.credits(), 0);
    }

    #[test]
    fn credits_flow_back_and_window_one_never_deadlocks() {
        let (mut phone, mut terminal) = pair(32, 1);
        for i in 0..5u8 {
            phone.send(FrameKind::Secure, &[i; 300]).unwrap();
            assert_eq!(
                phone.send(FrameKind::Secure, &[i]),
                Err(WireError::NoCredit)
            );
            let got = pump(&mut phone, &mut terminal, 20).unwrap();
            assert_eq!(
                got,
                vec![ReceivedFrame {
                    kind: FrameKind::Secure,
                    body: vec![i; 300]
                }]
            );
            terminal.frame_processed().unwrap();
            assert!(pump(&mut terminal, &mut phone, 20).unwrap().is_empty());
            assert_eq!(phone.credits(), 1);
        }
        assert_eq!(terminal.stats().credit_frames_out, 5);
        assert_eq!(phone.stats().credit_frames_in, 5);
    }

    #[test]
    fn direction_is_checked_on_send() {
        let (mut phone, mut terminal) = pair(4, 4);
        assert_eq!(
            phone.send(FrameKind::HelloAck, &[]),
            Err(WireError::NotSendable(FrameKind::HelloAck))
        );
        assert_eq!(
            terminal.send(FrameKind::Pair1, &[]),
            Err(WireError::NotSendable(FrameKind::Pair1))
        );
        assert_eq!(
            phone.send(FrameKind::Credit, &[1, 0]),
            Err(WireError::NotSendable(FrameKind::Credit))
        );
        assert!(WireError::NoCredit.close_reason().is_none());
    }

    #[test]
    fn frame_exactly_at_peer_max_frame() {
        let (mut phone, mut terminal) = pair(4, 4);
        assert_eq!(phone.max_body(), 4091);
        phone.send(FrameKind::Secure, &vec![1; 4091]).unwrap();
        assert_eq!(
            phone.send(FrameKind::Secure, &vec![1; 4092]),
            Err(WireError::FrameTooLarge {
                len: 4097,
                max: 4096
            })
        );
        assert_eq!(
            pump(&mut phone, &mut terminal, 514).unwrap()[0].body.len(),
            4091
        );
    }

    /// Raw bytes of one frame as a single FIRST|LAST segment on `channel` with `seq`.
    fn raw(kind_byte: u8, body: &[u8], channel: Channel, seq: u8) -> Vec<u8> {
        let mut f = vec![kind_byte];
        f.extend_from_slice(body);
        let crc = crate::frame::CRC32C.checksum(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        let mut out = SegmentHeader {
            len: f.len() as u16,
            seq,
            channel,
            first: true,
            last: true,
        }
        .to_bytes()
        .to_vec();
        out.extend(f);
        out
    }

    #[test]
    fn peer_errors_map_to_close_reasons() {
        let reason = |bytes: Vec<u8>| {
            let (_, mut terminal) = pair(4, 2);
            terminal.receive(&bytes).unwrap_err().close_reason()
        };
        use CloseReason::*;
        // Overrun: three SECURE frames into a window of two.
        let mut three = raw(0x20, b"a", Channel::Session, 0);
        three.extend(raw(0x20, b"b", Channel::Session, 1));
        three.extend(raw(0x20, b"c", Channel::Session, 2));
        assert_eq!(reason(three), Some(Overrun));
        // CRC.
        let mut bad = raw(0x20, b"abc", Channel::Session, 0);
        bad[3] ^= 1;
        assert_eq!(reason(bad), Some(CorruptFrame));
        // Unknown kind, wrong channel, wrong direction, bad segment, short frame, bad credit,
        // and excess credit (the terminal holds all 4 of the phone's credits already).
        let violations = [
            raw(0x77, b"", Channel::Session, 0),
            raw(0x20, b"", Channel::Control, 0),
            raw(0x30, &[1, 0], Channel::Session, 0),
            raw(0x02, b"", Channel::Session, 0),
            raw(0x20, b"", Channel::Session, 3),
            vec![0x02, 0xC0, 1, 2],
            raw(0x30, &[1], Channel::Control, 0),
            raw(0x30, &[1, 0], Channel::Control, 0),
        ];
        for bytes in violations {
            assert_eq!(
                reason(bytes.clone()),
                Some(ProtocolViolation),
                "{bytes:02x?}"
            );
        }
        // Errors are sticky.
        let (_, mut terminal) = pair(4, 2);
        let e = terminal
            .receive(&raw(0x77, b"", Channel::Session, 0))
            .unwrap_err();
        assert_eq!(e, WireError::Frame(FrameError::UnknownKind(0x77)));
        assert_eq!(terminal.receive(&[]), Err(e));
    }

    #[test]
    fn received_frame_over_local_max_frame_is_rejected() {
        let mut terminal = Wire::new(Role::Terminal, 4, 64);
        // 100-byte PAIR1 against max_frame 64 (it passes the 256-byte HELLO allowance).
        let err = terminal
            .receive(&raw(0x10, &[0; 95], Channel::Session, 0))
            .unwrap_err();
        assert_eq!(err, WireError::ReceivedTooLarge { len: 100, max: 64 });
        assert_eq!(err.close_reason(), Some(CloseReason::ProtocolViolation));
        // More than 256 bytes fails in reassembly already.
        let mut terminal = Wire::new(Role::Terminal, 4, 64);
        let mut phone = Wire::new(Role::Phone, 4, 65535);
        phone.set_peer_limits(4, 4096);
        phone.send(FrameKind::Pair1, &[0; 300]).unwrap();
        assert!(matches!(
            pump(&mut phone, &mut terminal, 244),
            Err(WireError::Segment(SegmentError::FrameTooLarge { .. }))
        ));
    }

    /// app bytes ÷ ATT bytes for one 4096-byte body (plus 16 for the AEAD tag that SECURE
    /// adds), as the benchmark reports it.
    fn efficiency(mtu: u16) -> f64 {
        let mut phone = Wire::new(Role::Phone, 32, 65535);
        phone.set_peer_limits(4, 65535);
        phone.send(FrameKind::Secure, &[0; 4096 + 16]).unwrap();
        let max = crate::gatt::max_value_len(mtu);
        while phone.poll_packet(max).is_some() {}
        let s = phone.stats();
        4096.0 / s.att_bytes_out as f64
    }

    #[test]
    fn wire_efficiency_for_a_4096_byte_body() {
        let e23 = efficiency(23);
        let e185 = efficiency(185);
        let e247 = efficiency(247);
        // MTU 23: 4117 frame bytes in 229 packets of ≤ 20 bytes → 4096 / 5262.
        assert_eq!(e23, 4096.0 / (4117.0 + 229.0 * 5.0));
        assert!(e185 > 0.96, "{e185}");
        assert!(e247 >= 0.95, "{e247}");
        assert!(e23 < e185 && e185 < e247);
    }
}
