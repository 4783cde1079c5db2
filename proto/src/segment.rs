//! Segmentation (`docs/protocol.md` §2): frames are cut into segments with a 2-byte header
//! and packed greedily into ATT values; the receiving side reassembles them from an
//! arbitrary byte stream.
//!
//! The sender side ([`Segmenter`]) and the receiver side ([`Reassembler`]) are independent,
//! one of each per direction, and neither does I/O.

use std::collections::VecDeque;

/// Bytes of a segment header.
pub const HEADER_LEN: usize = 2;
/// Largest payload one segment can carry (10-bit length field).
pub const MAX_SEGMENT_PAYLOAD: usize = 1023;
/// Sequence numbers count modulo this.
pub const SEQ_MODULUS: u8 = 8;

const LEN_MASK: u16 = 0x03FF;
const SEQ_SHIFT: u16 = 10;
const SEQ_MASK: u16 = 0x7;
const CHANNEL_BIT: u16 = 1 << 13;
const LAST_BIT: u16 = 1 << 14;
const FIRST_BIT: u16 = 1 << 15;

/// The two logical channels that share one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Link control (credit grants); never flow-controlled.
    Control = 0,
    /// Everything else.
    Session = 1,
}

impl Channel {
    fn index(self) -> usize {
        self as usize
    }
}

/// One decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Payload length, 1..=1023.
    pub len: u16,
    /// Sequence number modulo 8.
    pub seq: u8,
    pub channel: Channel,
    /// This segment starts a frame.
    pub first: bool,
    /// This segment ends its frame.
    pub last: bool,
}

impl SegmentHeader {
    /// The 16-bit little-endian wire form. Out-of-range `len`/`seq` bits are masked off.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut v = (self.len & LEN_MASK) | ((u16::from(self.seq) & SEQ_MASK) << SEQ_SHIFT);
        if self.channel == Channel::Session {
            v |= CHANNEL_BIT;
        }
        if self.last {
            v |= LAST_BIT;
        }
        if self.first {
            v |= FIRST_BIT;
        }
        v.to_le_bytes()
    }

    /// Parses a header; only `L = 0` is invalid at this level.
    pub fn from_bytes(bytes: [u8; HEADER_LEN]) -> Result<Self, SegmentError> {
        let v = u16::from_le_bytes(bytes);
        let channel = if v & CHANNEL_BIT != 0 {
            Channel::Session
        } else {
            Channel::Control
        };
        let len = v & LEN_MASK;
        if len == 0 {
            return Err(SegmentError::ZeroLength { channel });
        }
        Ok(SegmentHeader {
            len,
            // Masked to three bits, so the cast cannot truncate.
            seq: ((v >> SEQ_SHIFT) & SEQ_MASK) as u8,
            channel,
            first: v & FIRST_BIT != 0,
            last: v & LAST_BIT != 0,
        })
    }
}

/// A violation of §2 by the peer. Every one of them ends the connection with CLOSE
/// `protocol-violation`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("segment on {channel:?} channel has sequence number {got}, expected {expected}")]
    Sequence {
        channel: Channel,
        expected: u8,
        got: u8,
    },
    #[error("continuation segment on {channel:?} channel with no frame in progress")]
    ContinuationWithoutFirst { channel: Channel },
    #[error("FIRST segment on {channel:?} channel while a frame is in progress")]
    FirstMidFrame { channel: Channel },
    #[error("zero-length segment on {channel:?} channel")]
    ZeroLength { channel: Channel },
    #[error("frame on {channel:?} channel exceeds the {max} bytes this side accepts")]
    FrameTooLarge { channel: Channel, max: usize },
}

struct Outgoing {
    bytes: Vec<u8>,
    sent: usize,
}

/// The sending half of segmentation: queues whole frames per channel and cuts them into
/// ATT-sized packets on demand, so the caller decides when a packet can go on air.
#[derive(Default)]
pub struct Segmenter {
    queues: [VecDeque<Outgoing>; 2],
    next_seq: [u8; 2],
    bytes_emitted: u64,
    packets_emitted: u64,
}

impl Segmenter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a whole frame on `channel`. A frame is at least 5 bytes (§3); an empty one has
    /// no segment representation and is ignored.
    pub fn push_frame(&mut self, channel: Channel, frame: Vec<u8>) {
        if !frame.is_empty() {
            self.queues[channel.index()].push_back(Outgoing {
                bytes: frame,
                sent: 0,
            });
        }
    }

    /// Whether any frame bytes are still waiting to be emitted.
    pub fn has_pending(&self) -> bool {
        self.queues.iter().any(|q| !q.is_empty())
    }

    /// Frames (whole or partly unsent) still queued on `channel`.
    pub fn pending_frames(&self, channel: Channel) -> usize {
        self.queues[channel.index()].len()
    }

    /// The next packet of at most `max_value_len` bytes (`MTU − 3`), or `None` if nothing is
    /// queued or `max_value_len` cannot hold a header plus one payload byte.
    ///
    /// Link-control frames go first so that a credit grant overtakes a long session frame;
    /// the packet is filled to the brim, splitting frames where needed.
    pub fn next_packet(&mut self, max_value_len: usize) -> Option<Vec<u8>> {
        let mut packet = Vec::with_capacity(max_value_len.min(HEADER_LEN + MAX_SEGMENT_PAYLOAD));
        loop {
            let room = max_value_len.saturating_sub(packet.len());
            if room <= HEADER_LEN {
                break;
            }
            let channel = if !self.queues[Channel::Control.index()].is_empty() {
                Channel::Control
            } else if !self.queues[Channel::Session.index()].is_empty() {
                Channel::Session
            } else {
                break;
            };
            let ci = channel.index();
            let Some(frame) = self.queues[ci].front_mut() else {
                break;
            };
            let remaining = frame.bytes.len() - frame.sent;
            let take = remaining.min(room - HEADER_LEN).min(MAX_SEGMENT_PAYLOAD);
            let header = SegmentHeader {
                // take <= 1023, so it fits the 10-bit field.
                len: take as u16,
                seq: self.next_seq[ci],
                channel,
                first: frame.sent == 0,
                last: take == remaining,
            };
            packet.extend_from_slice(&header.to_bytes());
            packet.extend_from_slice(&frame.bytes[frame.sent..frame.sent + take]);
            frame.sent += take;
            self.next_seq[ci] = (self.next_seq[ci] + 1) % SEQ_MODULUS;
            if header.last {
                self.queues[ci].pop_front();
            }
        }
        if packet.is_empty() {
            return None;
        }
        self.bytes_emitted += packet.len() as u64;
        self.packets_emitted += 1;
        Some(packet)
    }

    /// Total packet bytes emitted so far (segment headers included, ATT header excluded).
    pub fn bytes_emitted(&self) -> u64 {
        self.bytes_emitted
    }

    /// Packets emitted so far.
    pub fn packets_emitted(&self) -> u64 {
        self.packets_emitted
    }
}

/// The segment being read: its header, and how many payload bytes are still to come.
struct InSegment {
    channel: Channel,
    last: bool,
    remaining: usize,
}

/// The receiving half: accepts the peer's byte stream in chunks of any size (a header may
/// be split between chunks, a chunk may hold many segments) and yields whole frames.
///
/// After the first error the reassembler is poisoned and returns that error forever: the
/// connection must end anyway, and nothing after a violation can be trusted.
pub struct Reassembler {
    max_frame: usize,
    header: [u8; HEADER_LEN],
    header_have: usize,
    segment: Option<InSegment>,
    frames: [Option<Vec<u8>>; 2],
    expected_seq: [u8; 2],
    failed: Option<SegmentError>,
    bytes_received: u64,
}

impl Reassembler {
    /// A reassembler that refuses frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Reassembler {
            max_frame,
            header: [0; HEADER_LEN],
            header_have: 0,
            segment: None,
            frames: [None, None],
            expected_seq: [0; 2],
            failed: None,
            bytes_received: 0,
        }
    }

    /// The largest frame accepted.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Total bytes pushed so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Feeds the next chunk of the byte stream; returns the frames it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<(Channel, Vec<u8>)>, SegmentError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.bytes_received += chunk.len() as u64;
        let mut done = Vec::new();
        match self.consume(chunk, &mut done) {
            Ok(()) => Ok(done),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn consume(
        &mut self,
        mut chunk: &[u8],
        done: &mut Vec<(Channel, Vec<u8>)>,
    ) -> Result<(), SegmentError> {
        while !chunk.is_empty() {
            let Some(seg) = &mut self.segment else {
                let need = HEADER_LEN - self.header_have;
                let n = need.min(chunk.len());
                self.header[self.header_have..self.header_have + n].copy_from_slice(&chunk[..n]);
                self.header_have += n;
                chunk = &chunk[n..];
                if self.header_have == HEADER_LEN {
                    self.header_have = 0;
                    self.start_segment(SegmentHeader::from_bytes(self.header)?)?;
                }
                continue;
            };
            let ci = seg.channel.index();
            let n = seg.remaining.min(chunk.len());
            // start_segment guarantees a frame in progress on this channel.
            if let Some(frame) = &mut self.frames[ci] {
                frame.extend_from_slice(&chunk[..n]);
            }
            chunk = &chunk[n..];
            seg.remaining -= n;
            if seg.remaining == 0 {
                let (channel, last) = (seg.channel, seg.last);
                self.segment = None;
                if last {
                    if let Some(frame) = self.frames[ci].take() {
                        done.push((channel, frame));
                    }
                }
            }
        }
        Ok(())
    }

    fn start_segment(&mut self, h: SegmentHeader) -> Result<(), SegmentError> {
        let ci = h.channel.index();
        let channel = h.channel;
        if h.seq != self.expected_seq[ci] {
            return Err(SegmentError::Sequence {
                channel,
                expected: self.expected_seq[ci],
                got: h.seq,
            });
        }
        self.expected_seq[ci] = (h.seq + 1) % SEQ_MODULUS;
        let so_far = match (&self.frames[ci], h.first) {
            (Some(_), true) => return Err(SegmentError::FirstMidFrame { channel }),
            (None, false) => return Err(SegmentError::ContinuationWithoutFirst { channel }),
            (Some(f), false) => f.len(),
            (None, true) => 0,
        };
        let len = usize::from(h.len);
        if so_far + len > self.max_frame {
            return Err(SegmentError::FrameTooLarge {
                channel,
                max: self.max_frame,
            });
        }
        if h.first {
            self.frames[ci] = Some(Vec::with_capacity(len));
        }
        self.segment = Some(InSegment {
            channel,
            last: h.last,
            remaining: len,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(s: &mut Segmenter, max: usize) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| s.next_packet(max)).collect()
    }

    fn seg(len: u16, seq: u8, channel: Channel, first: bool, last: bool) -> Vec<u8> {
        SegmentHeader {
            len,
            seq,
            channel,
            first,
            last,
        }
        .to_bytes()
        .to_vec()
    }

    #[test]
    fn header_bits_follow_the_table() {
        let h = SegmentHeader {
            len: 1023,
            seq: 5,
            channel: Channel::Session,
            first: true,
            last: false,
        };
        let v = u16::from_le_bytes(h.to_bytes());
        assert_eq!(v & 0x3FF, 1023);
        assert_eq!((v >> 10) & 7, 5);
        assert_eq!(v & (1 << 13), 1 << 13);
        assert_eq!(v & (1 << 14), 0);
        assert_eq!(v & (1 << 15), 1 << 15);
        assert_eq!(SegmentHeader::from_bytes(h.to_bytes()), Ok(h));
        // A one-segment control frame of 7 bytes, seq 0: FIRST|LAST|len 7.
        assert_eq!(seg(7, 0, Channel::Control, true, true), vec![0x07, 0xC0]);
    }

    #[test]
    fn packets_never_exceed_value_len_at_mtu_23_and_517() {
        for max in [20usize, 514] {
            let mut s = Segmenter::new();
            s.push_frame(Channel::Session, vec![0xAB; 3000]);
            s.push_frame(Channel::Session, vec![0xCD; 10]);
            let packets = drain(&mut s, max);
            assert!(packets.iter().all(|p| p.len() <= max));
            // Greedy: every packet but the last is full.
            assert!(packets[..packets.len() - 1].iter().all(|p| p.len() == max));
            let mut r = Reassembler::new(4096);
            let frames: Vec<_> = packets.iter().flat_map(|p| r.push(p).unwrap()).collect();
            assert_eq!(
                frames,
                vec![
                    (Channel::Session, vec![0xAB; 3000]),
                    (Channel::Session, vec![0xCD; 10])
                ]
            );
        }
    }

    #[test]
    fn segments_are_capped_at_1023_payload_bytes() {
        let mut s = Segmenter::new();
        s.push_frame(Channel::Session, vec![1; 2000]);
        let p = s.next_packet(514 * 5).unwrap();
        // 1023 + 977 payload, two headers.
        assert_eq!(p.len(), 2000 + 4);
        let h = SegmentHeader::from_bytes([p[0], p[1]]).unwrap();
        assert_eq!((h.len, h.first, h.last), (1023, true, false));
    }

    #[test]
    fn control_frames_overtake_a_long_session_frame() {
        let mut s = Segmenter::new();
        s.push_frame(Channel::Session, vec![9; 100]);
        let first = s.next_packet(20).unwrap();
        s.push_frame(Channel::Control, vec![7; 7]);
        let second = s.next_packet(20).unwrap();
        let h = SegmentHeader::from_bytes([second[0], second[1]]).unwrap();
        assert_eq!(h.channel, Channel::Control);
        assert_eq!((h.len, h.first, h.last), (7, true, true));
        // The rest of the packet continues the session frame.
        let h2 = SegmentHeader::from_bytes([second[9], second[10]]).unwrap();
        assert_eq!((h2.channel, h2.first, h2.seq), (Channel::Session, false, 1));
        let mut r = Reassembler::new(4096);
        let mut got = r.push(&first).unwrap();
        got.extend(r.push(&second).unwrap());
        assert_eq!(got, vec![(Channel::Control, vec![7; 7])]);
        for p in drain(&mut s, 20) {
            got.extend(r.push(&p).unwrap());
        }
        assert_eq!(got[1], (Channel::Session, vec![9; 100]));
    }

    #[test]
    fn no_segment_without_payload_room() {
        let mut s = Segmenter::new();
        s.push_frame(Channel::Session, vec![1; 4]);
        assert_eq!(s.next_packet(2), None);
        // 3 bytes of room fit one header and one byte.
        let p = s.next_packet(3).unwrap();
        assert_eq!(p.len(), 3);
        // A packet whose tail cannot hold a header plus a byte stops early.
        s.push_frame(Channel::Session, vec![2; 5]);
        let p = s.next_packet(7).unwrap();
        assert_eq!(p.len(), 5); // the remaining 3 bytes of frame 1, then 2 bytes left: too small
        assert_eq!(s.next_packet(0), None);
        s.push_frame(Channel::Session, Vec::new());
        assert_eq!(s.pending_frames(Channel::Session), 1);
    }

    #[test]
    fn sequence_numbers_wrap_after_eight_segments_per_channel() {
        let mut s = Segmenter::new();
        for i in 0..20u8 {
            s.push_frame(Channel::Session, vec![i; 1]);
            s.push_frame(Channel::Control, vec![i; 1]);
        }
        let packets = drain(&mut s, 3);
        let mut seqs = [Vec::new(), Vec::new()];
        for p in &packets {
            let h = SegmentHeader::from_bytes([p[0], p[1]]).unwrap();
            seqs[h.channel.index()].push(h.seq);
        }
        let expected: Vec<u8> = (0..20).map(|i| i % 8).collect();
        assert_eq!(seqs[0], expected);
        assert_eq!(seqs[1], expected);
        let mut r = Reassembler::new(64);
        let frames: Vec<_> = packets.iter().flat_map(|p| r.push(p).unwrap()).collect();
        assert_eq!(frames.len(), 40);
    }

    #[test]
    fn headers_split_across_chunks_and_many_segments_per_chunk() {
        let mut s = Segmenter::new();
        s.push_frame(Channel::Session, (0..200u8).collect());
        s.push_frame(Channel::Control, vec![1, 2, 3, 4, 5, 6, 7]);
        let stream: Vec<u8> = drain(&mut s, 20).concat();
        let mut r = Reassembler::new(1000);
        let mut frames = Vec::new();
        for b in &stream {
            frames.extend(r.push(std::slice::from_ref(b)).unwrap());
        }
        let mut r2 = Reassembler::new(1000);
        assert_eq!(r2.push(&stream).unwrap(), frames);
        assert_eq!(frames.len(), 2);
        assert_eq!(r2.bytes_received(), stream.len() as u64);
        assert_eq!(s.bytes_emitted(), stream.len() as u64);
    }

    #[test]
    fn sequence_gap_and_repeat_are_errors() {
        let mut r = Reassembler::new(100);
        let mut stream = seg(1, 0, Channel::Session, true, true);
        stream.push(0);
        stream.extend(seg(1, 2, Channel::Session, true, true));
        stream.push(0);
        assert_eq!(
            r.push(&stream),
            Err(SegmentError::Sequence {
                channel: Channel::Session,
                expected: 1,
                got: 2
            })
        );
        // Poisoned: the same error again.
        assert!(r.push(&[]).is_err());

        let mut r = Reassembler::new(100);
        let mut stream = seg(1, 0, Channel::Control, true, true);
        stream.push(0);
        stream.extend(seg(1, 0, Channel::Control, true, true));
        assert_eq!(
            r.push(&stream),
            Err(SegmentError::Sequence {
                channel: Channel::Control,
                expected: 1,
                got: 0
            })
        );
    }

    #[test]
    fn continuation_without_first_is_an_error() {
        let mut r = Reassembler::new(100);
        assert_eq!(
            r.push(&seg(3, 0, Channel::Session, false, true)),
            Err(SegmentError::ContinuationWithoutFirst {
                channel: Channel::Session
            })
        );
    }

    #[test]
    fn first_mid_frame_is_an_error() {
        let mut r = Reassembler::new(100);
        let mut stream = seg(1, 0, Channel::Session, true, false);
        stream.push(0);
        stream.extend(seg(1, 1, Channel::Session, true, true));
        assert_eq!(
            r.push(&stream),
            Err(SegmentError::FirstMidFrame {
                channel: Channel::Session
            })
        );
    }

    #[test]
    fn zero_length_is_an_error() {
        let mut r = Reassembler::new(100);
        assert_eq!(
            r.push(&[0x00, 0xC0]),
            Err(SegmentError::ZeroLength {
                channel: Channel::Control
            })
        );
    }

    #[test]
    fn frame_exactly_at_max_is_accepted_one_more_byte_is_not() {
        for extra in [0usize, 1] {
            let mut s = Segmenter::new();
            s.push_frame(Channel::Session, vec![5; 300 + extra]);
            let mut r = Reassembler::new(300);
            let result: Result<Vec<_>, _> = drain(&mut s, 20).iter().map(|p| r.push(p)).collect();
            if extra == 0 {
                assert_eq!(result.unwrap().concat().len(), 1);
            } else {
                assert_eq!(
                    result,
                    Err(SegmentError::FrameTooLarge {
                        channel: Channel::Session,
                        max: 300
                    })
                );
            }
        }
    }

    #[test]
    fn interleaved_channels_reassemble_independently() {
        let mut stream = seg(2, 0, Channel::Session, true, false);
        stream.extend([1, 2]);
        stream.extend(seg(1, 0, Channel::Control, true, true));
        stream.push(9);
        stream.extend(seg(1, 1, Channel::Session, false, true));
        stream.push(3);
        let mut r = Reassembler::new(100);
        assert_eq!(
            r.push(&stream).unwrap(),
            vec![
                (Channel::Control, vec![9]),
                (Channel::Session, vec![1, 2, 3])
            ]
        );
        assert_eq!(r.max_frame(), 100);
    }
}
