use super::*;
use proptest::prelude::*;

fn terminal() -> Terminal {
    Terminal {
        tpdu: Tpdu {
            destination: [0x00, 0x03],
            source: [0x00, 0x00],
        },
        header: [0x60, 0x31, 0x00, 0x31, 0x00, 0x00],
        terminal_id: "12345678".into(),
        merchant_id: "898310048160001".into(),
        operator: "001".into(),
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn sign_on_bytes() {
    let m = terminal().sign_on(1, 1);
    let bytes = m.encode().unwrap();
    // Worked out by hand from the layout: bitmap bits 11, 41, 42, 60, 63.
    let expected = hex("003C 6000030000 603100310000 0800 0020000000C00012 000001 \
         3132333435363738 383938333130303438313630303031 \
         0011 000000001003 \
         0003 303031");
    assert_eq!(bytes, expected, "{bytes:02X?}");
    assert_eq!(Message::decode(&bytes).unwrap(), m);
}

#[test]
fn builders_fill_their_fields() {
    let t = terminal();
    let keys: Vec<u8> = t.sign_on(7, 2).fields.keys().copied().collect();
    assert_eq!(keys, [11, 41, 42, 60, 63]);
    let totals = SettlementTotals {
        domestic: Totals {
            debit_count: 3,
            debit_amount: 12_345,
            credit_count: 1,
            credit_amount: 100,
        },
        foreign: Totals::default(),
    };
    let s = t.settlement(8, 2, &totals);
    assert_eq!(
        s.fields.keys().copied().collect::<Vec<_>>(),
        [11, 41, 42, 48, 49, 60, 63]
    );
    assert_eq!(
        s.get_str(48).unwrap(),
        "003000000012345001000000000100".to_string() + "0" + &"0".repeat(30) + "0"
    );
    assert_eq!(s.get_str(48).unwrap().len(), 62);
    assert_eq!(
        Field60::parse(&s.fields[&60]),
        Some(Field60 {
            type_code: 0,
            batch: 2,
            network_code: NET_SETTLEMENT
        })
    );
    let entry = BatchEntry {
        organisation: 0,
        stan: 5,
        pan: "6222021234567890123".into(),
        amount: 999,
    };
    let b = t
        .batch_upload(9, 2, &vec![entry.clone(); BATCH_ENTRIES_PER_MESSAGE], true)
        .unwrap();
    assert_eq!(b.get_str(48).unwrap().len(), 322);
    assert_eq!(
        Field60::parse(&b.fields[&60]).unwrap().network_code,
        NET_BATCH_UPLOAD_END
    );
    assert!(t.batch_upload(9, 2, &vec![entry; 9], false).is_none());
    for m in [t.sign_on(7, 2), s, b] {
        assert_eq!(Message::decode(&m.encode().unwrap()).unwrap(), m);
    }
}

#[test]
fn response_echoes_and_swaps() {
    let req = terminal().sign_on(42, 1);
    let rsp = response(&req, "00");
    assert_eq!(rsp.mti, 810);
    assert_eq!(rsp.tpdu.destination, req.tpdu.source);
    assert_eq!(rsp.get_str(39), Some("00"));
    assert_eq!(rsp.get_str(11), Some("000042"));
    assert!(!rsp.fields.contains_key(&63));
}

fn reason(bytes: &[u8]) -> (Reason, Option<u8>) {
    let e = Message::decode(bytes).unwrap_err();
    (e.reason, e.field)
}

#[test]
fn decode_errors_are_typed() {
    let good = terminal().sign_on(1, 1).encode().unwrap();
    assert_eq!(reason(&[]), (Reason::Truncated, None));
    assert_eq!(reason(&good[..good.len() - 1]), (Reason::Truncated, None));
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(reason(&longer), (Reason::BadLength, None));
    // The length agrees but the last field is cut.
    let mut cut = good[..good.len() - 1].to_vec();
    cut[1] -= 1;
    assert_eq!(reason(&cut), (Reason::Truncated, Some(63)));
    let mut tpdu = good.clone();
    tpdu[2] = 0x61;
    assert_eq!(reason(&tpdu), (Reason::BadTpdu, None));
    let mut mti = good.clone();
    mti[13] = 0x0A;
    assert_eq!(reason(&mti), (Reason::BadBcd, None));
    let mut secondary = good.clone();
    secondary[15] |= 0x80;
    assert_eq!(
        reason(&secondary),
        (Reason::SecondaryBitmapUnsupported, None)
    );
    let mut unknown = good.clone();
    unknown[15] |= 0x40; // field 2 is known; field 5 is not
    unknown[15] = (unknown[15] & !0x40) | 0x08;
    assert_eq!(reason(&unknown), (Reason::UnknownField, Some(5)));
    // Field 11's first digit as a nibble A.
    let mut bcd = good.clone();
    bcd[23] = 0xA0;
    assert_eq!(reason(&bcd), (Reason::BadBcd, Some(11)));
    // Field 60's LLL length above its maximum of 17.
    let at60 = 2 + 11 + 2 + 8 + 3 + 8 + 15;
    let mut long = good.clone();
    long[at60 + 1] = 0x18;
    assert_eq!(reason(&long), (Reason::FieldTooLong, Some(60)));
    // Field 60's odd count with a non-zero pad nibble.
    let mut pad = good.clone();
    pad[at60 + 2] = 0x10;
    assert_eq!(reason(&pad), (Reason::BadBcd, Some(60)));
    // Field 41 with a control character.
    let mut text = good;
    text[at60 - 23] = 0x07;
    assert_eq!(reason(&text), (Reason::BadCharacter, Some(41)));
}

#[test]
fn encode_errors_are_typed() {
    let base = terminal().sign_on(1, 1);
    let e = |m: Message| {
        let e = m.encode().unwrap_err();
        (e.reason, e.field)
    };
    assert_eq!(
        e(base.clone().with(5, Field::text("x"))),
        (Reason::UnknownField, Some(5))
    );
    assert_eq!(
        e(base.clone().with(1, Field::text("x"))),
        (Reason::UnknownField, Some(1))
    );
    assert_eq!(
        e(base.clone().with(11, Field::text("000001"))),
        (Reason::WrongKind, Some(11))
    );
    assert_eq!(
        e(base.clone().with(11, Field::Digits("12345".into()))),
        (Reason::BadLength, Some(11))
    );
    assert_eq!(
        e(base.clone().with(11, Field::Digits("12345D".into()))),
        (Reason::BadCharacter, Some(11))
    );
    assert_eq!(
        e(base.clone().with(2, Field::Digits("1".repeat(20)))),
        (Reason::FieldTooLong, Some(2))
    );
    assert_eq!(
        e(base.clone().with(41, Field::text("1234567\u{e9}"))),
        (Reason::BadCharacter, Some(41))
    );
    let mut mti = base;
    mti.mti = 10_000;
    assert_eq!(e(mti), (Reason::BadMti, None));
    let track = terminal()
        .sign_on(1, 1)
        .with(35, Field::Digits("6222021234567890123D2512".into()));
    assert_eq!(Message::decode(&track.encode().unwrap()).unwrap(), track);
}

/// A value that fits `spec`.
fn value(spec: &'static FieldSpec) -> BoxedStrategy<Field> {
    let (min, max) = match spec.len {
        Len::Fixed(n) => (usize::from(n), usize::from(n)),
        Len::LlVar(n) | Len::LllVar(n) => (0, usize::from(n)),
    };
    match spec.kind {
        Kind::Numeric => proptest::collection::vec(0u8..10, min..=max)
            .prop_map(|d| Field::Digits(d.iter().map(|&n| (b'0' + n) as char).collect()))
            .boxed(),
        Kind::Track => proptest::collection::vec(0u8..11, min..=max)
            .prop_map(|d| {
                Field::Digits(
                    d.iter()
                        .map(|&n| if n == 10 { 'D' } else { (b'0' + n) as char })
                        .collect(),
                )
            })
            .boxed(),
        Kind::Text => proptest::collection::vec(0x20u8..0x7F, min..=max)
            .prop_map(|t| Field::Text(t.iter().map(|&c| c as char).collect()))
            .boxed(),
        Kind::Binary => proptest::collection::vec(any::<u8>(), min..=max)
            .prop_map(Field::Bytes)
            .boxed(),
    }
}

fn message() -> impl Strategy<Value = Message> {
    let fields: Vec<_> = spec::FIELDS
        .iter()
        .map(|s| proptest::option::of(value(s)).prop_map(move |v| (s.number, v)))
        .collect();
    (any::<[u8; 4]>(), any::<[u8; 6]>(), 0u16..10_000, fields).prop_map(
        |(addr, header, mti, fields)| Message {
            tpdu: Tpdu {
                destination: [addr[0], addr[1]],
                source: [addr[2], addr[3]],
            },
            header,
            mti,
            fields: fields
                .into_iter()
                .filter_map(|(n, v)| Some((n, v?)))
                .collect(),
        },
    )
}

/// Proptest cases per property (the report counts them).
const CASES: u32 = 512;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn round_trip(m in message()) {
        let bytes = m.encode().unwrap();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Message::decode(&bytes);
    }

    /// Random fields behind a correct length, TPDU and a bitmap of known fields reach the
    /// field decoders; whatever decodes encodes to the same bytes.
    #[test]
    fn random_fields_never_panic(
        bits in any::<u64>(),
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let known = spec::FIELDS
            .iter()
            .fold(0u64, |m, s| m | 1 << (64 - u32::from(s.number)));
        let mut bytes = vec![0, 0, 0x60, 0, 3, 0, 0, 0x60, 0x31, 0, 0x31, 0, 0, 0x08, 0x00];
        bytes.extend_from_slice(&(bits & known).to_be_bytes());
        bytes.extend_from_slice(&body);
        let len = (bytes.len() - 2) as u16;
        bytes[..2].copy_from_slice(&len.to_be_bytes());
        if let Ok(m) = Message::decode(&bytes) {
            prop_assert_eq!(m.encode().unwrap(), bytes);
        }
    }
}
