//! Every decoder facing the peer or the radio, fed random bytes and mutated valid
//! encodings: it may reject, it must never panic. (`fuzz/` runs the same decoders under
//! libFuzzer for longer.)

use posmate_proto::frame::{decode_frame, encode_frame, FrameKind, Role};
use posmate_proto::gatt::{Advertisement, Lifecycle};
use posmate_proto::message::*;
use posmate_proto::pan::MaskedPan;
use posmate_proto::segment::{Channel, Reassembler, Segmenter};
use posmate_proto::wire::Wire;
use proptest::prelude::*;

/// Valid encodings of each message type, the seeds for mutation.
fn samples() -> Vec<Vec<u8>> {
    let pan = MaskedPan::mask("4111111111111111").expect("valid PAN");
    let envelopes = [
        Body::Request(Request::ReadJournal {
            from_seq: 7,
            max_records: 50,
        }),
        Body::Response(Response::CardRead {
            masked_pan: pan.clone(),
            token: "tok".into(),
            entry: EntryMode::Tap,
            expiry: "1229".into(),
        }),
        Body::Response(Response::JournalPage {
            epoch: [3; 16],
            records: vec![Record {
                seq: 1,
                batch_no: 2,
                kind: RecordKind::Sale,
                amount_minor: 995,
                currency: 978,
                at_ms: 1,
                masked_pan: pan,
                auth_code: "123456".into(),
                rrn: "000000000001".into(),
                status: RecordStatus::Approved,
                orig_seq: None,
            }],
            head: 1,
        }),
        Body::Event(Event::LifecycleChanged {
            state: Lifecycle::Suspended,
        }),
        Body::Close(Close::new(CloseReason::Bye, "bye")),
    ];
    let mut out: Vec<Vec<u8>> = envelopes
        .into_iter()
        .map(|body| encode(&Envelope { id: 9, body }))
        .collect();
    out.push(encode(&Hello {
        min_version: 1,
        max_version: 1,
        intent: Intent::Pair,
        rx_window: 32,
        max_frame: 65535,
    }));
    out.push(encode(&HelloAck {
        version: 1,
        rx_window: 4,
        max_frame: 4096,
        static_key: [1; 32],
        sn: "SN1".into(),
        lifecycle: Lifecycle::Activated,
        pairing: PairingState::Open,
        retry_after_ms: 0,
    }));
    out.push(encode(&Pair1 {
        spake: [2; 33],
        noise: vec![5; 32],
    }));
    out
}

/// Runs every message decoder over `bytes`; only panics matter.
fn decode_all(bytes: &[u8]) {
    let _ = decode::<Envelope>(bytes);
    let _ = decode::<Hello>(bytes);
    let _ = decode::<HelloAck>(bytes);
    let _ = decode::<Close>(bytes);
    let _ = decode::<Pair1>(bytes);
    let _ = decode::<Pair2>(bytes);
    let _ = decode::<Response>(bytes);
    let _ = decode::<Request>(bytes);
    let _ = decode::<Event>(bytes);
    let _ = decode::<MaskedPan>(bytes);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Flip(i, x) if len > 0 => bytes[i % len] ^= x,
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            _ => {}
        }
    }
    bytes
}

/// A valid byte stream from phone to terminal: HELLO, then SECURE frames.
fn valid_stream(mtu_value: usize) -> Vec<u8> {
    let mut phone = Wire::new(Role::Phone, 8, 65535);
    phone.set_peer_limits(4, 4096);
    phone
        .send(FrameKind::Hello, &samples()[5])
        .expect("HELLO fits");
    for body in samples().iter().take(3) {
        phone.send(FrameKind::Secure, body).expect("credit");
    }
    std::iter::from_fn(|| phone.poll_packet(mtu_value))
        .flatten()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn message_decoders_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&bytes);
    }

    #[test]
    fn message_decoders_never_panic_on_mutated_encodings(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let all = samples();
        let bytes = mutate(all[which.index(all.len())].clone(), &mutations);
        decode_all(&bytes);
    }

    #[test]
    fn masked_pan_parse_never_panics_and_never_accepts_a_full_pan(s in "\\PC{0,24}", digits in "[0-9]{12,19}") {
        if let Ok(p) = MaskedPan::parse(&s) {
            prop_assert!(p.as_str().chars().filter(char::is_ascii_digit).count() <= 10);
        }
        prop_assert!(MaskedPan::parse(&digits).is_err());
    }

    #[test]
    fn frame_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), kind in any::<u8>()) {
        let _ = decode_frame(&bytes);
        let mut framed = vec![kind];
        framed.extend_from_slice(&bytes);
        let crc = posmate_proto::frame::CRC32C.checksum(&framed);
        framed.extend_from_slice(&crc.to_le_bytes());
        // A good CRC: either a known kind with its body back, or UnknownKind.
        match decode_frame(&framed) {
            Ok((k, body)) => {
                prop_assert_eq!(k.code(), kind);
                prop_assert_eq!(body, &bytes[..]);
            }
            Err(e) => prop_assert_eq!(e, posmate_proto::frame::FrameError::UnknownKind(kind)),
        }
    }

    #[test]
    fn reassembler_never_panics(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
        max_frame in 0usize..2048,
    ) {
        let mut r = Reassembler::new(max_frame);
        for c in &chunks {
            if let Ok(frames) = r.push(c) {
                for (_, f) in frames {
                    prop_assert!(f.len() <= max_frame);
                }
            }
        }
    }

    #[test]
    fn reassembler_never_panics_on_mutated_streams(
        mutations in prop::collection::vec(mutation(), 1..6),
        value_len in 20usize..=514,
    ) {
        let mut s = Segmenter::new();
        s.push_frame(Channel::Session, samples()[0].clone());
        s.push_frame(Channel::Control, encode_frame(FrameKind::Credit, &[1, 0]));
        let stream: Vec<u8> = std::iter::from_fn(|| s.next_packet(value_len)).flatten().collect();
        let stream = mutate(stream, &mutations);
        let _ = Reassembler::new(4096).push(&stream);
    }

    #[test]
    fn wire_receive_never_panics(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..96), 0..8),
        terminal in any::<bool>(),
    ) {
        let role = if terminal { Role::Terminal } else { Role::Phone };
        let mut w = Wire::new(role, 2, 64);
        w.set_peer_limits(2, 64);
        for c in &chunks {
            if let Err(e) = w.receive(c) {
                // Every peer-caused error has a CLOSE reason.
                prop_assert!(e.close_reason().is_some());
            }
        }
    }

    #[test]
    fn wire_receive_never_panics_on_mutated_streams(
        mutations in prop::collection::vec(mutation(), 1..6),
        value_len in 20usize..=514,
        process in any::<bool>(),
    ) {
        let stream = mutate(valid_stream(value_len), &mutations);
        let mut terminal = Wire::new(Role::Terminal, 4, 4096);
        if let Ok(frames) = terminal.receive(&stream) {
            if process {
                let held = frames.iter().filter(|f| f.kind.is_flow_controlled()).count();
                for _ in 0..held {
                    prop_assert!(terminal.frame_processed().is_ok());
                }
                prop_assert!(terminal.frame_processed().is_err());
            }
        }
    }

    #[test]
    fn advertisement_parse_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..32),
        name in proptest::option::of("\\PC{0,20}"),
    ) {
        let _ = Advertisement::parse(name.as_deref(), &data);
        let mut pm = b"PM".to_vec();
        pm.extend_from_slice(&data);
        let _ = Advertisement::parse(name.as_deref(), &pm);
    }
}

#[test]
fn the_unmutated_stream_is_accepted() {
    // Guards the mutation tests above: without mutations the stream must decode, else they
    // would only ever exercise the first error path.
    let mut terminal = Wire::new(Role::Terminal, 4, 4096);
    let frames = terminal.receive(&valid_stream(20)).unwrap();
    assert_eq!(frames.len(), 4);
    assert!(decode::<Hello>(&frames[0].body).is_ok());
    assert!(decode::<Envelope>(&frames[1].body).is_ok());
}
