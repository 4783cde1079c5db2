//! Framing + session encryption throughput, and wire efficiency (issue "terminal link").
//!
//! Prints ratios measured in the same run, never absolute pass/fail timings:
//! * the full path (seal → frame → segment → reassemble → open, both endpoints' work)
//!   against the raw AEAD (ChaCha20-Poly1305 seal + open) on the same buffers;
//! * application bytes ÷ ATT bytes for one 4 KiB message at MTU 23, 185 and 247.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p posmate-proto --bench wire`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use posmate_proto::frame::{FrameKind, Role};
use posmate_proto::gatt;
use posmate_proto::handshake::{prologue, PhoneResume, StaticKeypair, TerminalResume};
use posmate_proto::message::{Body, Envelope, Response};
use posmate_proto::secure::SecureChannel;
use posmate_proto::wire::Wire;

const MESSAGE: usize = 4096;
const MESSAGES: usize = 8192; // 32 MiB per measurement
const ROUNDS: usize = 5;

fn channels() -> (SecureChannel, SecureChannel) {
    let phone = StaticKeypair::from_seed([1; 32]);
    let terminal = StaticKeypair::from_seed([2; 32]);
    let p = prologue(b"bench", b"bench");
    let (init, m1) =
        PhoneResume::start(&phone, &terminal.public(), &p, [3; 32]).expect("IK message 1");
    let (term, m2, _) =
        TerminalResume::on_resume1(&terminal, &p, &m1, |_| true, [4; 32]).expect("IK message 2");
    (init.on_resume2(&m2).expect("IK finish"), term)
}

fn wires(mtu: u16) -> (Wire, Wire, usize) {
    // Terminal → phone: the bulk direction (journal pages), into the phone's large window.
    let mut sender = Wire::new(Role::Terminal, 4, 4096);
    let mut receiver = Wire::new(Role::Phone, 32, u16::MAX);
    sender.set_peer_limits(32, u16::MAX);
    receiver.set_peer_limits(4, 4096);
    (sender, receiver, gatt::max_value_len(mtu))
}

/// Raw AEAD on the same buffers: seal every buffer, then open every ciphertext.
fn raw_aead(buffers: &[Vec<u8>]) -> (Duration, Duration) {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&[7u8; 32]));
    let nonce = |n: usize| {
        let mut bytes = [0u8; 12];
        bytes[4..].copy_from_slice(&(n as u64).to_le_bytes());
        *Nonce::from_slice(&bytes)
    };
    let start = Instant::now();
    let sealed: Vec<Vec<u8>> = buffers
        .iter()
        .enumerate()
        .map(|(n, buf)| {
            cipher
                .encrypt(&nonce(n), Payload { msg: buf, aad: &[] })
                .expect("seal")
        })
        .collect();
    let seal = start.elapsed();
    let start = Instant::now();
    for (n, ct) in sealed.iter().enumerate() {
        black_box(
            cipher
                .decrypt(&nonce(n), Payload { msg: ct, aad: &[] })
                .expect("open"),
        );
    }
    (seal, start.elapsed())
}

/// The full path at MTU 247: the sending endpoint (seal → frame → segment into ATT values),
/// then the receiving endpoint (reassemble → check → open → return credit).
fn full_path(buffers: &[Vec<u8>]) -> (Duration, Duration) {
    let (mut seal_side, mut open_side) = channels();
    let (mut tx, mut rx, max) = wires(247);
    // The sender's window is the whole run, so sending never waits on credits that the
    // receiving half (timed separately) has not returned yet.
    tx.set_peer_limits(u16::MAX, u16::MAX);
    let start = Instant::now();
    let mut packets = Vec::with_capacity(buffers.len() * 18);
    for buf in buffers {
        let body = seal_side.seal(buf).expect("seal");
        tx.send(FrameKind::Secure, &body).expect("credit");
        while let Some(packet) = tx.poll_packet(max) {
            packets.push(packet);
        }
    }
    let send = start.elapsed();
    let start = Instant::now();
    for packet in &packets {
        for frame in rx.receive(packet).expect("receive") {
            black_box(open_side.open(&frame.body).expect("open"));
            rx.frame_processed().expect("processed");
        }
        while let Some(credit) = rx.poll_packet(max) {
            black_box(credit);
        }
    }
    (send, start.elapsed())
}

fn efficiency(mtu: u16) -> (f64, usize, usize) {
    let (mut seal_side, _) = channels();
    let (mut tx, _, max) = wires(mtu);
    let envelope = Envelope {
        id: 7,
        body: Body::Response(Response::Pong {
            payload: vec![0x5a; MESSAGE],
        }),
    };
    let body = seal_side.seal_envelope(&envelope).expect("seal");
    tx.send(FrameKind::Secure, &body).expect("credit");
    let mut att = 0;
    let mut packets = 0;
    while let Some(p) = tx.poll_packet(max) {
        att += p.len() + gatt::ATT_HEADER;
        packets += 1;
    }
    (MESSAGE as f64 / att as f64, att, packets)
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    let buffers: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|i| vec![(i % 251) as u8; MESSAGE])
        .collect();
    let total = MESSAGE * MESSAGES;
    // Best of several rounds, interleaved so machine noise hits both alike.
    let (mut raw_seal, mut raw_open, mut send, mut recv) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let (s, o) = raw_aead(&buffers);
        raw_seal = raw_seal.min(s);
        raw_open = raw_open.min(o);
        let (s, r) = full_path(&buffers);
        send = send.min(s);
        recv = recv.min(r);
    }
    let verdict = |mb: f64| if mb >= 200.0 { "met" } else { "NOT MET" };
    println!("== framing + session encryption, one core, {MESSAGES} × {MESSAGE} B at MTU 247, best of {ROUNDS}");
    println!(
        "{:<44}{:>10}{:>10}{:>22}",
        "path", "MB/s", "raw AEAD", "ratio to raw AEAD"
    );
    for (name, ours, raw) in [
        ("send: seal → frame → segment", send, raw_seal),
        ("receive: reassemble → check → open", recv, raw_open),
        (
            "both endpoints, one after the other",
            send + recv,
            raw_seal + raw_open,
        ),
    ] {
        let (mb, raw_mb) = (mb_per_s(total, ours), mb_per_s(total, raw));
        println!("{name:<44}{mb:>10.1}{raw_mb:>10.1}{:>22.3}", mb / raw_mb);
    }
    let per_endpoint = mb_per_s(total, send.max(recv));
    println!(
        "slowest endpoint: {per_endpoint:.1} MB/s — target ≥ 200 MB/s per endpoint on one core: {}",
        verdict(per_endpoint)
    );
    println!("== wire efficiency, one {MESSAGE}-byte message (application bytes ÷ ATT bytes incl. 3-byte ATT header)");
    for mtu in [23u16, 185, 247] {
        let (eff, att, packets) = efficiency(mtu);
        let target = if mtu == 247 {
            if eff >= 0.95 {
                "  target ≥ 0.95: met"
            } else {
                "  target ≥ 0.95: NOT MET"
            }
        } else {
            ""
        };
        println!("MTU {mtu:>3}: {eff:.4}  ({packets} packets, {att} ATT bytes){target}");
    }
}
