//! The CBOR message catalogue (`docs/protocol.md` §3.1, §3.2, §5.2, §6).
//!
//! Structs are minicbor-derived arrays (`#[n(i)]` = array position i); tagged unions
//! (`Body`, `Request`, `Response`, `Event`) use minicbor's default `[index, [fields…]]`;
//! fields the spec types as `u8`/`u16` codes are plain CBOR integers (`index_only` enums,
//! or hand-written codecs where unknown codes must survive).

use crate::gatt::Lifecycle;
use crate::pan::MaskedPan;
use minicbor::{decode as de, encode as en, Decode, Decoder, Encode, Encoder};

mod record;

pub use record::{Record, RecordKind, RecordStatus, Totals};

/// Why bytes are not the expected message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid CBOR for the type (wrong shape, bad code, invalid masked PAN, truncated…).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A whole value decoded but bytes followed it.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
}

/// Encodes a message to CBOR.
pub fn encode<T: Encode<()>>(value: &T) -> Vec<u8> {
    // Writing to a Vec cannot fail and no encoder in this crate returns a custom error, so
    // the error branch is unreachable; it yields an empty (undecodable) body, not a panic.
    minicbor::to_vec(value).unwrap_or_default()
}

/// Decodes exactly one message; trailing bytes are an error.
pub fn decode<'b, T: Decode<'b, ()>>(bytes: &'b [u8]) -> Result<T, DecodeError> {
    let mut d = Decoder::new(bytes);
    let value = d
        .decode::<T>()
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let rest = bytes.len() - d.position();
    if rest != 0 {
        return Err(DecodeError::TrailingBytes(rest));
    }
    Ok(value)
}

impl<C> Encode<C> for Lifecycle {
    fn encode<W: en::Write>(
        &self,
        e: &mut Encoder<W>,
        _ctx: &mut C,
    ) -> Result<(), en::Error<W::Error>> {
        e.u8(self.code())?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for Lifecycle {
    fn decode(d: &mut Decoder<'b>, _ctx: &mut C) -> Result<Self, de::Error> {
        let p = d.position();
        let code = d.u8()?;
        Lifecycle::from_code(code).ok_or_else(|| de::Error::message("unknown lifecycle code").at(p))
    }
}

/// Defines a `u16` code enum whose unknown codes are preserved as `Other(code)`, so a
/// newer peer's codes survive a round trip through an older one.
macro_rules! u16_codes {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A code this version does not know.
            Other(u16),
        }

        impl $name {
            pub fn code(self) -> u16 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Other(c) => c,
                }
            }

            /// Known codes map to their variant, anything else to `Other`.
            pub fn from_code(code: u16) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    c => $name::Other(c),
                }
            }
        }

        impl<C> Encode<C> for $name {
            fn encode<W: en::Write>(
                &self,
                e: &mut Encoder<W>,
                _ctx: &mut C,
            ) -> Result<(), en::Error<W::Error>> {
                e.u16(self.code())?;
                Ok(())
            }
        }

        impl<'b, C> Decode<'b, C> for $name {
            fn decode(d: &mut Decoder<'b>, _ctx: &mut C) -> Result<Self, de::Error> {
                Ok($name::from_code(d.u16()?))
            }
        }
    };
}

u16_codes! {
    /// CLOSE reasons (§3.2).
    CloseReason {
        VersionUnsupported = 1,
        WrongCode = 2,
        PairingLocked = 3,
        NotPaired = 4,
        HandshakeFailed = 5,
        ProtocolViolation = 6,
        Overrun = 7,
        CorruptFrame = 8,
        DecryptFailed = 9,
        Bye = 10,
        PairingNotOpen = 11,
    }
}

u16_codes! {
    /// Response `Error` codes (§6).
    ErrorCode {
        BadRequest = 100,
        Unsupported = 101,
        WrongLifecycleState = 102,
        KeyCheckFailed = 103,
        NotFound = 104,
        CardReadTimeout = 105,
        BatchMismatch = 106,
        Busy = 107,
        StorageFailure = 108,
    }
}

/// What the phone wants from this connection (HELLO `intent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum Intent {
    #[n(0)]
    Pair,
    #[n(1)]
    Resume,
}

/// HELLO_ACK `pairing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum PairingState {
    #[n(0)]
    Closed,
    #[n(1)]
    Open,
    #[n(2)]
    Locked,
}

/// The phone's first frame (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Hello {
    #[n(0)]
    pub min_version: u8,
    #[n(1)]
    pub max_version: u8,
    #[n(2)]
    pub intent: Intent,
    #[n(3)]
    pub rx_window: u16,
    #[n(4)]
    pub max_frame: u16,
}

/// The terminal's answer to HELLO (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct HelloAck {
    #[n(0)]
    pub version: u8,
    #[n(1)]
    pub rx_window: u16,
    #[n(2)]
    pub max_frame: u16,
    /// The terminal's Noise static public key (X25519).
    #[cbor(n(3), with = "minicbor::bytes")]
    pub static_key: [u8; 32],
    #[n(4)]
    pub sn: String,
    #[n(5)]
    pub lifecycle: Lifecycle,
    #[n(6)]
    pub pairing: PairingState,
    #[n(7)]
    pub retry_after_ms: u32,
}

/// CLOSE (§3.2): as its own frame before the handshake, as `Body::Close` after.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Close {
    #[n(0)]
    pub reason: CloseReason,
    #[n(1)]
    pub detail: String,
    #[n(2)]
    pub retry_after_ms: Option<u32>,
    #[n(3)]
    pub attempts_left: Option<u8>,
    #[n(4)]
    pub min_version: Option<u8>,
    #[n(5)]
    pub max_version: Option<u8>,
}

impl Close {
    /// A CLOSE with only a reason and detail.
    pub fn new(reason: CloseReason, detail: impl Into<String>) -> Self {
        Close {
            reason,
            detail: detail.into(),
            retry_after_ms: None,
            attempts_left: None,
            min_version: None,
            max_version: None,
        }
    }
}

/// PAIR1 (§5.2): SPAKE2 message A and Noise XXpsk3 message 1.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Pair1 {
    #[cbor(n(0), with = "minicbor::bytes")]
    pub spake: [u8; 33],
    #[cbor(n(1), with = "minicbor::bytes")]
    pub noise: Vec<u8>,
}

/// PAIR2 (§5.2): SPAKE2 message B and Noise XXpsk3 message 2.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Pair2 {
    #[cbor(n(0), with = "minicbor::bytes")]
    pub spake: [u8; 33],
    #[cbor(n(1), with = "minicbor::bytes")]
    pub noise: Vec<u8>,
}

/// One message inside SECURE (§6).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Envelope {
    /// Request number from 1 (the response repeats it); 0 for events.
    #[n(0)]
    pub id: u32,
    #[n(1)]
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Body {
    #[n(0)]
    Request(#[n(0)] Request),
    #[n(1)]
    Response(#[n(0)] Response),
    #[n(2)]
    Event(#[n(0)] Event),
    #[n(3)]
    Close(#[n(0)] Close),
}

/// Card-read purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum CardPurpose {
    #[n(0)]
    Settlement,
    #[n(1)]
    Credit,
}

/// How the card was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum EntryMode {
    #[n(0)]
    Tap,
    #[n(1)]
    Insert,
    #[n(2)]
    Swipe,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Request {
    #[n(0)]
    GetInfo,
    #[n(1)]
    InstallKeys {
        #[cbor(n(0), with = "minicbor::bytes")]
        bundle: Vec<u8>,
    },
    #[n(2)]
    SignOn {
        #[n(0)]
        terminal_no: String,
        #[n(1)]
        merchant_no: String,
    },
    #[n(3)]
    ReadCard {
        #[n(0)]
        purpose: CardPurpose,
        #[n(1)]
        timeout_ms: u32,
    },
    #[n(4)]
    ReadJournal {
        #[n(0)]
        from_seq: u64,
        #[n(1)]
        max_records: u16,
    },
    #[n(5)]
    CloseBatch {
        #[n(0)]
        batch_no: u32,
    },
    #[n(6)]
    Wipe {
        #[cbor(n(0), with = "minicbor::bytes")]
        nonce: [u8; 16],
        #[n(1)]
        reason: String,
    },
    /// `state` is 1 (activated) or 2 (suspended); the terminal rejects others with
    /// `WrongLifecycleState`.
    #[n(7)]
    SetLifecycle {
        #[n(0)]
        state: Lifecycle,
    },
    #[n(8)]
    Unpair,
    #[n(9)]
    Ping {
        #[cbor(n(0), with = "minicbor::bytes")]
        payload: Vec<u8>,
    },
}

/// Key kinds in a [`KeySlot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum KeyKind {
    #[n(0)]
    Tmk,
    #[n(1)]
    PinKey,
    #[n(2)]
    MacKey,
    #[n(3)]
    DataKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct KeySlot {
    #[n(0)]
    pub slot: u8,
    #[n(1)]
    pub kind: KeyKind,
    /// Key check value.
    #[cbor(n(2), with = "minicbor::bytes")]
    pub kcv: [u8; 3],
}

/// Response `Info`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Info {
    #[n(0)]
    pub sn: String,
    #[n(1)]
    pub model: String,
    #[n(2)]
    pub firmware: String,
    #[n(3)]
    pub battery_pct: u8,
    #[n(4)]
    pub lifecycle: Lifecycle,
    #[n(5)]
    pub protocol_version: u8,
    #[n(6)]
    pub terminal_no: Option<String>,
    #[n(7)]
    pub merchant_no: Option<String>,
    /// Factory Ed25519 device key, never erased.
    #[cbor(n(8), with = "minicbor::bytes")]
    pub device_key: [u8; 32],
    #[n(9)]
    pub key_slots: Vec<KeySlot>,
    #[cbor(n(10), with = "minicbor::bytes")]
    pub journal_epoch: [u8; 16],
    #[n(11)]
    pub journal_head: u64,
    #[n(12)]
    pub batch_no: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Response {
    #[n(0)]
    Info(#[n(0)] Info),
    #[n(1)]
    KeysInstalled {
        #[n(0)]
        slots: Vec<KeySlot>,
    },
    #[n(2)]
    SignedOn {
        #[n(0)]
        test_txn_ref: String,
    },
    #[n(3)]
    CardRead {
        #[n(0)]
        masked_pan: MaskedPan,
        #[n(1)]
        token: String,
        #[n(2)]
        entry: EntryMode,
        /// "MMYY".
        #[n(3)]
        expiry: String,
    },
    #[n(4)]
    JournalPage {
        #[cbor(n(0), with = "minicbor::bytes")]
        epoch: [u8; 16],
        #[n(1)]
        records: Vec<Record>,
        #[n(2)]
        head: u64,
    },
    #[n(5)]
    BatchClosed {
        #[n(0)]
        batch_no: u32,
        #[n(1)]
        first_seq: u64,
        #[n(2)]
        last_seq: u64,
        #[n(3)]
        totals: Totals,
    },
    #[n(6)]
    WipeReceipt {
        #[n(0)]
        sn: String,
        #[cbor(n(1), with = "minicbor::bytes")]
        nonce: [u8; 16],
        #[n(2)]
        wiped_at_ms: u64,
        #[n(3)]
        journal_head: u64,
        #[cbor(n(4), with = "minicbor::bytes")]
        signature: [u8; 64],
    },
    #[n(7)]
    Done,
    #[n(8)]
    Pong {
        #[cbor(n(0), with = "minicbor::bytes")]
        payload: Vec<u8>,
    },
    #[n(9)]
    Error {
        #[n(0)]
        code: ErrorCode,
        #[n(1)]
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Event {
    #[n(0)]
    JournalAppended {
        #[n(0)]
        head: u64,
    },
    #[n(1)]
    LifecycleChanged {
        #[n(0)]
        state: Lifecycle,
    },
    #[n(2)]
    PairConfirmed {
        #[n(0)]
        sn: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(v: &T)
    where
        T: Encode<()> + for<'b> Decode<'b, ()> + PartialEq + core::fmt::Debug,
    {
        let bytes = encode(v);
        assert_eq!(&decode::<T>(&bytes).unwrap(), v);
    }

    fn info() -> Info {
        Info {
            sn: "SN20260042A1".into(),
            model: "PM-1".into(),
            firmware: "1.0.3".into(),
            battery_pct: 87,
            lifecycle: Lifecycle::Activated,
            protocol_version: 1,
            terminal_no: Some("T001".into()),
            merchant_no: None,
            device_key: [7; 32],
            key_slots: vec![KeySlot {
                slot: 1,
                kind: KeyKind::PinKey,
                kcv: [1, 2, 3],
            }],
            journal_epoch: [9; 16],
            journal_head: 42,
            batch_no: 3,
        }
    }

    #[test]
    fn hello_is_a_five_element_array_of_integers() {
        let h = Hello {
            min_version: 1,
            max_version: 1,
            intent: Intent::Resume,
            rx_window: 32,
            max_frame: 65535,
        };
        // [1, 1, 1, 32, 65535]
        assert_eq!(
            encode(&h),
            vec![0x85, 0x01, 0x01, 0x01, 0x18, 0x20, 0x19, 0xFF, 0xFF]
        );
        round_trip(&h);
    }

    #[test]
    fn envelope_body_is_index_tagged() {
        let e = Envelope {
            id: 5,
            body: Body::Request(Request::GetInfo),
        };
        // [5, [0, [[0, []]]]]
        assert_eq!(
            encode(&e),
            vec![0x82, 0x05, 0x82, 0x00, 0x81, 0x82, 0x00, 0x80]
        );
        round_trip(&e);
    }

    #[test]
    fn byte_fields_are_cbor_byte_strings() {
        let p = Pair1 {
            spake: [0xAA; 33],
            noise: vec![1, 2, 3],
        };
        let b = encode(&p);
        assert_eq!(&b[..3], &[0x82, 0x58, 33]);
        assert_eq!(&b[b.len() - 4..], &[0x43, 1, 2, 3]);
        round_trip(&p);
        // A spake field of the wrong length is rejected.
        let short = encode(&Pair2 {
            spake: [0; 33],
            noise: vec![],
        });
        let mut bad = short.clone();
        bad[2] = 32;
        assert!(decode::<Pair2>(&bad).is_err());
    }

    #[test]
    fn close_trailing_options_are_omitted_and_unknown_reasons_survive() {
        let c = Close::new(CloseReason::Bye, "done");
        assert_eq!(encode(&c)[0], 0x82);
        round_trip(&c);
        let c = Close {
            reason: CloseReason::Other(4711),
            detail: String::new(),
            retry_after_ms: None,
            attempts_left: Some(2),
            min_version: Some(1),
            max_version: Some(1),
        };
        round_trip(&c);
        assert_eq!(CloseReason::from_code(4711), CloseReason::Other(4711));
        for code in 1..=11 {
            assert_eq!(CloseReason::from_code(code).code(), code);
            assert!(!matches!(
                CloseReason::from_code(code),
                CloseReason::Other(_)
            ));
        }
        for code in 100..=108 {
            assert!(!matches!(ErrorCode::from_code(code), ErrorCode::Other(_)));
        }
        assert_eq!(ErrorCode::from_code(999).code(), 999);
    }

    #[test]
    fn every_message_round_trips() {
        round_trip(&HelloAck {
            version: 1,
            rx_window: 4,
            max_frame: 4096,
            static_key: [3; 32],
            sn: "SN1".into(),
            lifecycle: Lifecycle::Factory,
            pairing: PairingState::Locked,
            retry_after_ms: 60_000,
        });
        let pan = MaskedPan::mask("4111111111111111").unwrap();
        let bodies = vec![
            Body::Response(Response::Info(info())),
            Body::Response(Response::CardRead {
                masked_pan: pan.clone(),
                token: "tok".into(),
                entry: EntryMode::Tap,
                expiry: "1228".into(),
            }),
            Body::Response(Response::JournalPage {
                epoch: [1; 16],
                records: vec![Record {
                    seq: 1,
                    batch_no: 1,
                    kind: RecordKind::Void,
                    amount_minor: 1250,
                    currency: 978,
                    at_ms: 1_700_000_000_000,
                    masked_pan: pan,
                    auth_code: "A1".into(),
                    rrn: "R1".into(),
                    status: RecordStatus::Reversed,
                    orig_seq: Some(0),
                }],
                head: 1,
            }),
            Body::Response(Response::WipeReceipt {
                sn: "SN".into(),
                nonce: [2; 16],
                wiped_at_ms: 5,
                journal_head: 6,
                signature: [8; 64],
            }),
            Body::Response(Response::Error {
                code: ErrorCode::Busy,
                message: "busy".into(),
            }),
            Body::Request(Request::SetLifecycle {
                state: Lifecycle::Suspended,
            }),
            Body::Event(Event::PairConfirmed { sn: "SN".into() }),
            Body::Close(Close::new(CloseReason::DecryptFailed, "")),
        ];
        for body in bodies {
            round_trip(&Envelope { id: 0, body });
        }
    }

    #[test]
    fn trailing_bytes_and_garbage_are_errors() {
        let mut b = encode(&Envelope {
            id: 1,
            body: Body::Request(Request::Unpair),
        });
        b.push(0);
        assert_eq!(decode::<Envelope>(&b), Err(DecodeError::TrailingBytes(1)));
        assert!(matches!(
            decode::<Envelope>(&[0xFF]),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode::<Envelope>(&[]),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn a_full_pan_in_a_card_read_fails_to_decode() {
        let good = encode(&Response::CardRead {
            masked_pan: MaskedPan::mask("4111111111111111").unwrap(),
            token: "t".into(),
            entry: EntryMode::Insert,
            expiry: "0130".into(),
        });
        let needle = b"411111******1111";
        let at = good
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        let mut bad = good.clone();
        bad[at..at + needle.len()].copy_from_slice(b"4111111111111111");
        assert!(decode::<Response>(&good).is_ok());
        assert!(matches!(
            decode::<Response>(&bad),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn unknown_lifecycle_and_enum_codes_are_rejected() {
        // [0, [9]] : LifecycleChanged with state 9.
        assert!(decode::<Event>(&[0x82, 0x01, 0x81, 0x09]).is_err());
        assert!(decode::<Event>(&[0x82, 0x01, 0x81, 0x02]).is_ok());
        assert!(decode::<Intent>(&[0x02]).is_err());
    }
}
