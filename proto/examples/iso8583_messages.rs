//! Prints CUP ISO 8583 messages made by posmate, one per line as `HEX JSON`: the message's
//! wire bytes (2-byte length first) and the fields posmate put in it (`t` the MTI, `h` the
//! TPDU and header in hex, numeric and text fields as strings, binary fields in hex), for an
//! independent implementation to decode: `cargo xtask standards-test` feeds them to
//! Python's `pyiso8583` (`xtask/src/standards.rs`, `xtask/src/iso8583_check.py`). The
//! management messages first (0800/0810, 0500/0510, 0320/0330, 0820), then random messages
//! over every field of the table. Seeded, so a failure reproduces.

use posmate_proto::iso8583::{
    response, spec, BatchEntry, Field, Kind, Len, Message, SettlementTotals, Terminal, Totals, Tpdu,
};
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// How many random messages follow the management ones.
const RANDOM: usize = 200;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn line(m: &Message) {
    let bytes = m.encode().expect("a valid message");
    let mut expected = serde_json::Map::new();
    expected.insert("t".into(), format!("{:04}", m.mti).into());
    let mut h = vec![0x60];
    h.extend_from_slice(&m.tpdu.destination);
    h.extend_from_slice(&m.tpdu.source);
    h.extend_from_slice(&m.header);
    expected.insert("h".into(), hex(&h).into());
    for (number, value) in &m.fields {
        let v = match value {
            Field::Digits(s) | Field::Text(s) => s.clone(),
            Field::Bytes(b) => hex(b),
        };
        expected.insert(number.to_string(), v.into());
    }
    println!("{} {}", hex(&bytes), serde_json::Value::Object(expected));
}

fn random_field(rng: &mut impl RngCore, s: &spec::FieldSpec) -> Field {
    let len = match s.len {
        Len::Fixed(n) => usize::from(n),
        Len::LlVar(n) | Len::LllVar(n) => rng.next_u32() as usize % (usize::from(n) + 1),
    };
    let mut pick = |n: u32| rng.next_u32() % n;
    match s.kind {
        Kind::Numeric => Field::Digits((0..len).map(|_| (b'0' + pick(10) as u8) as char).collect()),
        Kind::Track => Field::Digits(
            (0..len)
                .map(|_| match pick(11) {
                    10 => 'D',
                    d => (b'0' + d as u8) as char,
                })
                .collect(),
        ),
        Kind::Text => Field::Text((0..len).map(|_| (0x20 + pick(95) as u8) as char).collect()),
        Kind::Binary => Field::Bytes((0..len).map(|_| pick(256) as u8).collect()),
    }
}

fn main() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8583);
    let t = Terminal {
        tpdu: Tpdu {
            destination: [0x00, 0x03],
            source: [0x00, 0x00],
        },
        header: [0x60, 0x31, 0x00, 0x31, 0x00, 0x00],
        terminal_id: "12345678".into(),
        merchant_id: "898310048160001".into(),
        operator: "001".into(),
    };
    let sign_on = t.sign_on(1, 1);
    let mut keys = vec![0u8; 40];
    rng.fill_bytes(&mut keys);
    let signed_on = response(&sign_on, "00")
        .with(12, Field::number(93015, 6))
        .with(13, Field::number(1208, 4))
        .with(32, Field::Digits("48021000".into()))
        .with(37, Field::text("120809301500"))
        .with(62, Field::Bytes(keys));
    let totals = SettlementTotals {
        domestic: Totals {
            debit_count: 12,
            debit_amount: 1_234_500,
            credit_count: 1,
            credit_amount: 2_000,
        },
        foreign: Totals {
            debit_count: 2,
            debit_amount: 99_900,
            credit_count: 0,
            credit_amount: 0,
        },
    };
    let settlement = t.settlement(30, 1, &totals);
    let mut settled = response(&settlement, "00")
        .with(12, Field::number(235959, 6))
        .with(13, Field::number(1208, 4))
        .with(15, Field::number(1208, 4))
        .with(37, Field::text("120823595900"))
        .with(49, Field::text("156"));
    // The host's reconciliation codes: domestic balanced (1), foreign unbalanced (2).
    let Field::Digits(mut f48) = totals.field() else {
        unreachable!("field 48 is numeric")
    };
    f48.replace_range(30..31, "1");
    f48.replace_range(61..62, "2");
    settled.fields.insert(48, Field::Digits(f48));
    let entries: Vec<BatchEntry> = (0..13)
        .map(|i| BatchEntry {
            organisation: if i % 4 == 3 { 1 } else { 0 },
            stan: 10 + i,
            pan: format!("62220212345678{:05}", i * 7),
            amount: 100 * u64::from(i + 1),
        })
        .collect();
    let mut messages = vec![sign_on, signed_on, settlement, settled];
    let chunks: Vec<_> = entries.chunks(8).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let upload = t
            .batch_upload(31 + i as u32, 1, chunk, i + 1 == chunks.len())
            .expect("at most 8 entries");
        let uploaded = response(&upload, "00");
        messages.extend([upload, uploaded]);
    }
    // 0820: the terminal's network management notice (here a status report), 11, 41, 42, 60.
    messages.push(
        Message::new(t.tpdu, t.header, 820)
            .with(11, Field::number(40, 6))
            .with(41, Field::text(&t.terminal_id))
            .with(42, Field::text(&t.merchant_id))
            .with(60, Field::Digits("00000001301".into())),
    );
    for m in &messages {
        line(m);
    }
    for _ in 0..RANDOM {
        let mut h = [0u8; 10];
        rng.fill_bytes(&mut h);
        let mut m = Message::new(
            Tpdu {
                destination: [h[0], h[1]],
                source: [h[2], h[3]],
            },
            h[4..].try_into().expect("6 bytes"),
            (rng.next_u32() % 10_000) as u16,
        );
        for s in spec::FIELDS {
            if rng.next_u32() % 2 == 0 {
                m.fields.insert(s.number, random_field(&mut rng, s));
            }
        }
        line(&m);
    }
}
