//! The terminal's journal as the protocol carries it (`docs/protocol.md` §6): what a
//! transaction is, how it ended, one record, and a batch's totals.
//!
//! These are the one definition every side uses: the firmware (posmate-sim) keeps its
//! journal in them, the phone (posmate-core) stores and prints them, and the bindings expose
//! them. With the `serde` feature they serialise in the spelling the phone's JSON (records,
//! backups, flow state) has always used: snake_case names, fields as declared.

use minicbor::{Decode, Encode};
#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::pan::MaskedPan;

/// Defines a fieldless enum carried on the wire as its code (`index_only`), with its
/// variants in code order ([`RecordKind::ALL`]), their codes and their snake_case names:
/// the list is written once, so the wire codes, the names and serde cannot drift apart.
macro_rules! named_codes {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $code:tt $text:tt,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
        #[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
        #[cbor(index_only)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[n($code)]
                #[cfg_attr(feature = "serde", serde(rename = $text))]
                $variant,
            )*
        }

        impl $name {
            /// Every variant, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire code (also what the phone's database stores).
            pub fn code(self) -> u8 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            pub fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// The snake_case name JSON and CSV use.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }
    };
}

named_codes! {
    /// What a transaction is (`Record.kind`).
    RecordKind {
        Sale = 0 "sale",
        Refund = 1 "refund",
        PreAuth = 2 "pre_auth",
        PreAuthCompletion = 3 "pre_auth_completion",
        BalanceInquiry = 4 "balance_inquiry",
        Void = 5 "void",
    }
}

named_codes! {
    /// How a transaction ended (`Record.status`).
    RecordStatus {
        Approved = 0 "approved",
        Declined = 1 "declined",
        Reversed = 2 "reversed",
    }
}

/// One transaction in the terminal's journal.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Record {
    #[n(0)]
    pub seq: u64,
    #[n(1)]
    pub batch_no: u32,
    #[n(2)]
    pub kind: RecordKind,
    #[n(3)]
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    #[n(4)]
    pub currency: u16,
    #[n(5)]
    pub at_ms: u64,
    #[n(6)]
    pub masked_pan: MaskedPan,
    #[n(7)]
    pub auth_code: String,
    #[n(8)]
    pub rrn: String,
    #[n(9)]
    pub status: RecordStatus,
    /// The record a void or completion refers to.
    #[n(10)]
    pub orig_seq: Option<u64>,
}

/// A batch's totals over its approved records. Sales include pre-auth completions;
/// pre-auths and balance inquiries move no money and are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Totals {
    #[n(0)]
    pub sale_count: u32,
    #[n(1)]
    pub sale_minor: u64,
    #[n(2)]
    pub refund_count: u32,
    #[n(3)]
    pub refund_minor: u64,
    #[n(4)]
    pub void_count: u32,
    #[n(5)]
    pub void_minor: u64,
}

impl Totals {
    /// Counts one approved record of `kind` (others are not counted, see above). Saturates
    /// rather than wraps: a total that overflowed would silently match a small one.
    pub fn add(&mut self, kind: RecordKind, amount_minor: u64) {
        let (count, minor) = match kind {
            RecordKind::Sale | RecordKind::PreAuthCompletion => {
                (&mut self.sale_count, &mut self.sale_minor)
            }
            RecordKind::Refund => (&mut self.refund_count, &mut self.refund_minor),
            RecordKind::Void => (&mut self.void_count, &mut self.void_minor),
            RecordKind::PreAuth | RecordKind::BalanceInquiry => return,
        };
        *count = count.saturating_add(1);
        *minor = minor.saturating_add(amount_minor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_follow_the_list() {
        for (i, k) in RecordKind::ALL.iter().enumerate() {
            assert_eq!(usize::from(k.code()), i);
            assert_eq!(RecordKind::from_code(k.code()), Some(*k));
        }
        assert_eq!(RecordKind::from_code(6), None);
        assert_eq!(RecordKind::PreAuthCompletion.name(), "pre_auth_completion");
        assert_eq!(RecordStatus::ALL.len(), 3);
        assert_eq!(RecordStatus::Reversed.name(), "reversed");
    }

    #[test]
    fn totals_count_money_moving_kinds_only() {
        let mut t = Totals::default();
        for k in RecordKind::ALL {
            t.add(*k, 10);
        }
        assert_eq!((t.sale_count, t.sale_minor), (2, 20));
        assert_eq!((t.refund_count, t.void_count, t.void_minor), (1, 1, 10));
    }

    /// The JSON the phone has always written for records (backups, `records list`'s
    /// source, flow state): any change here breaks archives already on disk.
    #[cfg(feature = "serde")]
    #[test]
    fn serde_spelling_is_the_phones_json() {
        let r = Record {
            seq: 7,
            batch_no: 2,
            kind: RecordKind::PreAuthCompletion,
            amount_minor: 1250,
            currency: 156,
            at_ms: 9,
            masked_pan: MaskedPan::parse("411111******1111").unwrap(),
            auth_code: "123456".into(),
            rrn: "000000000001".into(),
            status: RecordStatus::Approved,
            orig_seq: Some(6),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"seq":7,"batch_no":2,"kind":"pre_auth_completion","amount_minor":1250,"currency":156,"at_ms":9,"masked_pan":"411111******1111","auth_code":"123456","rrn":"000000000001","status":"approved","orig_seq":6}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
        let full = text.replace("411111******1111", "4111111111111111");
        assert!(serde_json::from_str::<Record>(&full).is_err());
        let t = Totals {
            sale_count: 1,
            ..Totals::default()
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"sale_count":1,"sale_minor":0,"refund_count":0,"refund_minor":0,"void_count":0,"void_minor":0}"#
        );
    }
}
