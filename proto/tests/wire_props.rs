//! Property tests of the whole link stack: any message survives encode → frame → segment at
//! any MTU → any re-chunking → interleaving with CREDIT frames → reassembly → decode; and two
//! `Wire` endpoints with random windows and MTUs deliver everything in order without the
//! sender ever exceeding the receiver's window.

use posmate_proto::frame::{decode_frame, encode_frame, FrameKind, Role};
use posmate_proto::gatt::{max_value_len, Lifecycle};
use posmate_proto::message::*;
use posmate_proto::pan::MaskedPan;
use posmate_proto::segment::{Channel, Reassembler, Segmenter};
use posmate_proto::wire::{Wire, WireError};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn array<const N: usize>() -> impl Strategy<Value = [u8; N]> {
    prop::collection::vec(any::<u8>(), N).prop_map(|v| v.try_into().unwrap_or([0; N]))
}

fn lifecycle() -> impl Strategy<Value = Lifecycle> {
    (0u8..4).prop_map(|c| Lifecycle::from_code(c).unwrap_or(Lifecycle::Factory))
}

fn masked_pan() -> impl Strategy<Value = MaskedPan> {
    ("[0-9]{12,19}", 0usize..=6).prop_map(|(digits, hide)| {
        let masked = MaskedPan::mask(&digits).expect("12..=19 digits mask");
        // Also hide some of the leading digits: fewer shown is allowed.
        let s: String = masked
            .as_str()
            .chars()
            .enumerate()
            .map(|(i, c)| if i < hide { '*' } else { c })
            .collect();
        MaskedPan::parse(&s).expect("still masked")
    })
}

fn close_reason() -> impl Strategy<Value = CloseReason> {
    any::<u16>().prop_map(CloseReason::from_code)
}

fn close() -> impl Strategy<Value = Close> {
    (
        close_reason(),
        text(),
        any::<Option<u32>>(),
        any::<Option<u8>>(),
        any::<Option<u8>>(),
        any::<Option<u8>>(),
    )
        .prop_map(
            |(reason, detail, retry_after_ms, attempts_left, min_version, max_version)| Close {
                reason,
                detail,
                retry_after_ms,
                attempts_left,
                min_version,
                max_version,
            },
        )
}

fn key_slot() -> impl Strategy<Value = KeySlot> {
    (any::<u8>(), 0usize..4, array::<3>()).prop_map(|(slot, k, kcv)| KeySlot {
        slot,
        kind: [
            KeyKind::Tmk,
            KeyKind::PinKey,
            KeyKind::MacKey,
            KeyKind::DataKey,
        ][k],
        kcv,
    })
}

fn record() -> impl Strategy<Value = Record> {
    (
        (
            any::<u64>(),
            any::<u32>(),
            0usize..6,
            any::<u64>(),
            any::<u16>(),
        ),
        (any::<u64>(), masked_pan(), text(), text(), 0usize..3),
        any::<Option<u64>>(),
    )
        .prop_map(
            |(
                (seq, batch_no, kind, amount_minor, currency),
                (at_ms, masked_pan, auth_code, rrn, status),
                orig_seq,
            )| Record {
                seq,
                batch_no,
                kind: [
                    RecordKind::Sale,
                    RecordKind::Refund,
                    RecordKind::PreAuth,
                    RecordKind::PreAuthCompletion,
                    RecordKind::BalanceInquiry,
                    RecordKind::Void,
                ][kind],
                amount_minor,
                currency,
                at_ms,
                masked_pan,
                auth_code,
                rrn,
                status: [
                    RecordStatus::Approved,
                    RecordStatus::Declined,
                    RecordStatus::Reversed,
                ][status],
                orig_seq,
            },
        )
}

fn info() -> impl Strategy<Value = Info> {
    (
        (
            text(),
            text(),
            text(),
            any::<u8>(),
            lifecycle(),
            any::<u8>(),
        ),
        (
            any::<Option<String>>(),
            any::<Option<String>>(),
            array::<32>(),
        ),
        (
            prop::collection::vec(key_slot(), 0..5),
            array::<16>(),
            any::<u64>(),
            any::<u32>(),
        ),
    )
        .prop_map(
            |(
                (sn, model, firmware, battery_pct, lifecycle, protocol_version),
                (terminal_no, merchant_no, device_key),
                (key_slots, journal_epoch, journal_head, batch_no),
            )| Info {
                sn,
                model,
                firmware,
                battery_pct,
                lifecycle,
                protocol_version,
                terminal_no,
                merchant_no,
                device_key,
                key_slots,
                journal_epoch,
                journal_head,
                batch_no,
            },
        )
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::GetInfo),
        bytes(600).prop_map(|bundle| Request::InstallKeys { bundle }),
        (text(), text()).prop_map(|(terminal_no, merchant_no)| Request::SignOn {
            terminal_no,
            merchant_no
        }),
        (any::<bool>(), any::<u32>()).prop_map(|(c, timeout_ms)| Request::ReadCard {
            purpose: if c {
                CardPurpose::Credit
            } else {
                CardPurpose::Settlement
            },
            timeout_ms
        }),
        (any::<u64>(), any::<u16>()).prop_map(|(from_seq, max_records)| {
            Request::ReadJournal {
                from_seq,
                max_records,
            }
        }),
        any::<u32>().prop_map(|batch_no| Request::CloseBatch { batch_no }),
        (array::<16>(), text()).prop_map(|(nonce, reason)| Request::Wipe { nonce, reason }),
        lifecycle().prop_map(|state| Request::SetLifecycle { state }),
        Just(Request::Unpair),
        bytes(3000).prop_map(|payload| Request::Ping { payload }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        info().prop_map(Response::Info),
        prop::collection::vec(key_slot(), 0..5).prop_map(|slots| Response::KeysInstalled { slots }),
        text().prop_map(|test_txn_ref| Response::SignedOn { test_txn_ref }),
        (masked_pan(), text(), 0usize..3, text()).prop_map(|(masked_pan, token, e, expiry)| {
            Response::CardRead {
                masked_pan,
                token,
                entry: [EntryMode::Tap, EntryMode::Insert, EntryMode::Swipe][e],
                expiry,
            }
        }),
        (
            array::<16>(),
            prop::collection::vec(record(), 0..6),
            any::<u64>()
        )
            .prop_map(|(epoch, records, head)| Response::JournalPage {
                epoch,
                records,
                head
            }),
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<[u64; 6]>()).prop_map(
            |(batch_no, first_seq, last_seq, t)| Response::BatchClosed {
                batch_no,
                first_seq,
                last_seq,
                totals: Totals {
                    sale_count: t[0] as u32,
                    sale_minor: t[1],
                    refund_count: t[2] as u32,
                    refund_minor: t[3],
                    void_count: t[4] as u32,
                    void_minor: t[5],
                },
            }
        ),
        (
            text(),
            array::<16>(),
            any::<u64>(),
            any::<u64>(),
            array::<64>()
        )
            .prop_map(|(sn, nonce, wiped_at_ms, journal_head, signature)| {
                Response::WipeReceipt {
                    sn,
                    nonce,
                    wiped_at_ms,
                    journal_head,
                    signature,
                }
            }),
        Just(Response::Done),
        bytes(3000).prop_map(|payload| Response::Pong { payload }),
        (any::<u16>(), text()).prop_map(|(c, message)| Response::Error {
            code: ErrorCode::from_code(c),
            message
        }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        any::<u64>().prop_map(|head| Event::JournalAppended { head }),
        lifecycle().prop_map(|state| Event::LifecycleChanged { state }),
        text().prop_map(|sn| Event::PairConfirmed { sn }),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        any::<u32>(),
        prop_oneof![
            request().prop_map(Body::Request),
            response().prop_map(Body::Response),
            event().prop_map(Body::Event),
            close().prop_map(Body::Close),
        ],
    )
        .prop_map(|(id, body)| Envelope { id, body })
}

/// Every message that travels in a frame of its own.
#[derive(Debug, Clone, PartialEq)]
enum Msg {
    Hello(Hello),
    HelloAck(HelloAck),
    Close(Close),
    Pair1(Pair1),
    Pair2(Pair2),
    /// The plaintext that a SECURE frame carries once encrypted.
    Envelope(Envelope),
}

impl Msg {
    fn frame(&self) -> (FrameKind, Vec<u8>) {
        match self {
            Msg::Hello(m) => (FrameKind::Hello, encode(m)),
            Msg::HelloAck(m) => (FrameKind::HelloAck, encode(m)),
            Msg::Close(m) => (FrameKind::Close, encode(m)),
            Msg::Pair1(m) => (FrameKind::Pair1, encode(m)),
            Msg::Pair2(m) => (FrameKind::Pair2, encode(m)),
            Msg::Envelope(m) => (FrameKind::Secure, encode(m)),
        }
    }

    fn decode(kind: FrameKind, body: &[u8]) -> Result<Msg, DecodeError> {
        Ok(match kind {
            FrameKind::Hello => Msg::Hello(decode(body)?),
            FrameKind::HelloAck => Msg::HelloAck(decode(body)?),
            FrameKind::Close => Msg::Close(decode(body)?),
            FrameKind::Pair1 => Msg::Pair1(decode(body)?),
            FrameKind::Pair2 => Msg::Pair2(decode(body)?),
            FrameKind::Secure => Msg::Envelope(decode(body)?),
            other => panic!("no message travels in {}", other.name()),
        })
    }
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u8>(),
            any::<bool>(),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(min_version, max_version, resume, rx_window, max_frame)| {
                Msg::Hello(Hello {
                    min_version,
                    max_version,
                    intent: if resume { Intent::Resume } else { Intent::Pair },
                    rx_window,
                    max_frame,
                })
            }),
        (
            (any::<u8>(), any::<u16>(), any::<u16>(), array::<32>()),
            (text(), lifecycle(), 0usize..3, any::<u32>())
        )
            .prop_map(
                |((version, rx_window, max_frame, static_key), (sn, lifecycle, p, retry))| {
                    Msg::HelloAck(HelloAck {
                        version,
                        rx_window,
                        max_frame,
                        static_key,
                        sn,
                        lifecycle,
                        pairing: [
                            PairingState::Closed,
                            PairingState::Open,
                            PairingState::Locked,
                        ][p],
                        retry_after_ms: retry,
                    })
                }
            ),
        close().prop_map(Msg::Close),
        (array::<33>(), bytes(100)).prop_map(|(spake, noise)| Msg::Pair1(Pair1 { spake, noise })),
        (array::<33>(), bytes(200)).prop_map(|(spake, noise)| Msg::Pair2(Pair2 { spake, noise })),
        envelope().prop_map(Msg::Envelope),
        envelope().prop_map(Msg::Envelope),
        envelope().prop_map(Msg::Envelope),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// encode → frame → segment (any MTU, CREDIT frames interleaved mid-frame) → any
    /// re-chunking → reassemble → decode gives back every message, in order per channel.
    #[test]
    fn messages_survive_segmentation_rechunking_and_interleaving(
        msgs in prop::collection::vec(msg(), 1..8),
        mtu in 23u16..=517,
        pulls in prop::collection::vec(0usize..4, 8),
        credits in prop::collection::vec(any::<Option<u16>>(), 8),
        cuts in prop::collection::vec(1usize..700, 1..16),
    ) {
        let max = max_value_len(mtu);
        let mut tx = Segmenter::new();
        let mut stream = Vec::new();
        let mut credit_frames = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let (kind, body) = m.frame();
            tx.push_frame(Channel::Session, encode_frame(kind, &body));
            for _ in 0..pulls[i] {
                if let Some(p) = tx.next_packet(max) {
                    prop_assert!(p.len() <= max);
                    stream.extend(p);
                }
            }
            // A credit grant queued while a session frame is part-way out.
            if let Some(n) = credits[i] {
                tx.push_frame(Channel::Control, encode_frame(FrameKind::Credit, &n.to_le_bytes()));
                credit_frames.push(n);
            }
        }
        while let Some(p) = tx.next_packet(max) {
            prop_assert!(p.len() <= max);
            prop_assert!(p.len() >= 3);
            stream.extend(p);
        }
        prop_assert_eq!(tx.bytes_emitted(), stream.len() as u64);

        let mut rx = Reassembler::new(65535);
        let mut got_msgs = Vec::new();
        let mut got_credits = Vec::new();
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            i += 1;
            for (channel, frame) in rx.push(&rest[..n]).unwrap() {
                let (kind, body) = decode_frame(&frame).unwrap();
                prop_assert_eq!(kind.channel(), channel);
                if kind == FrameKind::Credit {
                    got_credits.push(u16::from_le_bytes([body[0], body[1]]));
                } else {
                    got_msgs.push(Msg::decode(kind, body).unwrap());
                }
            }
            rest = &rest[n..];
        }
        prop_assert_eq!(got_msgs, msgs);
        prop_assert_eq!(got_credits, credit_frames);
    }
}

/// One direction of a simulated link: frames still to send, frames delivered, frames the
/// receiver holds unprocessed.
struct Lane {
    to_send: std::collections::VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
    delivered: Vec<Vec<u8>>,
    unprocessed: usize,
}

impl Lane {
    fn new(frames: Vec<Vec<u8>>) -> Self {
        Lane {
            to_send: frames.into(),
            sent: Vec::new(),
            delivered: Vec::new(),
            unprocessed: 0,
        }
    }
}

/// Moves the packets `from` has ready (up to `budget`) to `to`, re-chunked at random.
fn carry(
    from: &mut Wire,
    to: &mut Wire,
    max: usize,
    budget: usize,
    rng: &mut ChaCha8Rng,
    lane: &mut Lane,
    window: u16,
) -> Result<(), TestCaseError> {
    let mut bytes = Vec::new();
    for _ in 0..budget {
        match from.poll_packet(max) {
            Some(p) => {
                prop_assert!(p.len() <= max);
                bytes.extend(p);
            }
            None => break,
        }
    }
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let n = rng.gen_range(1..=rest.len().min(2 * max));
        let frames = to
            .receive(&rest[..n])
            .map_err(|e| TestCaseError::fail(format!("receive failed: {e}")))?;
        for f in frames {
            prop_assert_eq!(f.kind, FrameKind::Secure);
            lane.delivered.push(f.body);
            lane.unprocessed += 1;
            // The receiver-side check: never more unprocessed frames than its window.
            prop_assert!(lane.unprocessed <= usize::from(window));
        }
        prop_assert_eq!(to.unprocessed() as usize, lane.unprocessed);
        rest = &rest[n..];
    }
    Ok(())
}

fn try_send(w: &mut Wire, lane: &mut Lane) -> Result<(), TestCaseError> {
    while let Some(body) = lane.to_send.front() {
        match w.send(FrameKind::Secure, body) {
            Ok(()) => {
                let body = lane.to_send.pop_front().unwrap_or_default();
                lane.sent.push(body);
            }
            Err(WireError::NoCredit) => break,
            Err(e) => return Err(TestCaseError::fail(format!("send failed: {e}"))),
        }
    }
    Ok(())
}

fn process(w: &mut Wire, lane: &mut Lane, rng: &mut ChaCha8Rng, all: bool) {
    while lane.unprocessed > 0 && (all || rng.gen_bool(0.5)) {
        w.frame_processed().expect("a frame is waiting");
        lane.unprocessed -= 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Two endpoints with random windows and MTUs exchange random frames in both
    /// directions: everything arrives in order, nobody overruns, nothing deadlocks, and all
    /// credits come home at the end.
    #[test]
    fn two_wires_deliver_in_order_within_the_window(
        phone_window in 1u16..=8,
        terminal_window in 1u16..=8,
        up_mtu in 23u16..=517,
        down_mtu in 23u16..=517,
        up in prop::collection::vec(bytes(1500), 0..24),
        down in prop::collection::vec(bytes(1500), 0..24),
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut phone = Wire::new(Role::Phone, phone_window, 65535);
        let mut terminal = Wire::new(Role::Terminal, terminal_window, 4096);
        phone.set_peer_limits(terminal_window, 4096);
        terminal.set_peer_limits(phone_window, 65535);
        let (mut up_lane, mut down_lane) = (Lane::new(up.clone()), Lane::new(down.clone()));
        let (up_max, down_max) = (max_value_len(up_mtu), max_value_len(down_mtu));

        let mut rounds = 0;
        loop {
            rounds += 1;
            prop_assert!(rounds < 100_000, "no progress: deadlock");
            try_send(&mut phone, &mut up_lane)?;
            try_send(&mut terminal, &mut down_lane)?;
            let budget = rng.gen_range(1..6);
            carry(&mut phone, &mut terminal, up_max, budget, &mut rng, &mut up_lane, terminal_window)?;
            let budget = rng.gen_range(1..6);
            carry(&mut terminal, &mut phone, down_max, budget, &mut rng, &mut down_lane, phone_window)?;
            // Receivers are sometimes slow; once nothing else moves they catch up.
            let idle = !phone.has_output() && !terminal.has_output();
            process(&mut terminal, &mut up_lane, &mut rng, idle);
            process(&mut phone, &mut down_lane, &mut rng, idle);
            let done = up_lane.to_send.is_empty() && down_lane.to_send.is_empty()
                && up_lane.unprocessed == 0 && down_lane.unprocessed == 0
                && !phone.has_output() && !terminal.has_output();
            if done {
                break;
            }
        }
        prop_assert_eq!(&up_lane.delivered, &up);
        prop_assert_eq!(&down_lane.delivered, &down);
        prop_assert_eq!(phone.credits(), u32::from(terminal_window));
        prop_assert_eq!(terminal.credits(), u32::from(phone_window));
        let up_bytes: usize = up.iter().map(Vec::len).sum();
        prop_assert_eq!(phone.stats().app_bytes_out, up_bytes as u64);
        prop_assert_eq!(terminal.stats().app_bytes_in, up_bytes as u64);
    }
}
