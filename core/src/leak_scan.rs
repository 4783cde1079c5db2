//! Checks bytes that are about to leave the phone (a support bundle, an export) for what must
//! never be in them: the phone's secrets — in the forms they could have been printed in — and
//! full card numbers.
//!
//! The scan is the last gate, not the redaction itself: what goes into such a file is built
//! from views that never hold secrets. The gate exists because a future change can add a
//! field or a log line that does, and the merchant's keys must not depend on every such
//! change being reviewed.

use std::collections::BTreeMap;

use posmate_proto::pan;
use zeroize::Zeroizing;

use crate::keystore::{Result as KeystoreResult, SecretStore};

/// Secrets shorter than this are not searched for: a few bytes occur by chance.
const MIN_SECRET_LEN: usize = 8;

/// What was found, without the secret itself: the caller may print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Which part of the output (a file name in a bundle).
    pub part: String,
    /// `keystore secret '<entry>' as <form>` or `full card number`.
    pub what: String,
    /// Byte offset in that part.
    pub offset: usize,
}

/// The patterns a scan looks for.
#[derive(Default)]
pub struct LeakScan {
    /// (label, encoded form), e.g. ("keystore secret 'db-key'", "hex").
    needles: Vec<(String, Zeroizing<Vec<u8>>)>,
}

impl LeakScan {
    /// A scan for full card numbers only.
    pub fn new() -> Self {
        LeakScan::default()
    }

    /// A scan for full card numbers and every secret `store` holds, raw and as hex (either
    /// case) and base64 (standard and URL alphabets, padded or not).
    pub fn with_secrets_of(store: &dyn SecretStore) -> KeystoreResult<Self> {
        let mut scan = LeakScan::new();
        for name in store.list()? {
            if let Some(secret) = store.get(&name)? {
                scan.add_secret(&format!("keystore secret '{name}'"), secret.expose());
            }
        }
        Ok(scan)
    }

    /// Also looks for `secret`, labelled `label` in findings.
    pub fn add_secret(&mut self, label: &str, secret: &[u8]) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut forms: BTreeMap<&str, Zeroizing<Vec<u8>>> = BTreeMap::new();
        forms.insert("raw bytes", Zeroizing::new(secret.to_vec()));
        let hex = Zeroizing::new(hex_lower(secret));
        forms.insert("hex", Zeroizing::new(hex.to_ascii_uppercase()));
        forms.insert("lowercase hex", Zeroizing::new(hex.to_vec()));
        for (name, alphabet) in [("base64", STANDARD), ("base64url", URL_SAFE)] {
            let encoded = Zeroizing::new(base64(secret, alphabet));
            // Without its padding, a prefix of the padded form: search the unpadded one.
            let unpadded = encoded
                .iter()
                .take_while(|&&b| b != b'=')
                .copied()
                .collect();
            forms.insert(name, Zeroizing::new(unpadded));
        }
        let mut seen: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for (form, needle) in forms {
            // Hex of digits only is the same in either case: report it once.
            if !seen.contains(&needle) {
                self.needles
                    .push((format!("{label} as {form}"), needle.clone()));
                seen.push(needle);
            }
        }
    }

    /// Every leak in `bytes`, named as `part`.
    pub fn scan(&self, part: &str, bytes: &[u8]) -> Vec<Leak> {
        let mut leaks: Vec<Leak> = pan::full_pans(bytes)
            .into_iter()
            .map(|r| Leak {
                part: part.into(),
                what: "full card number".into(),
                offset: r.start,
            })
            .collect();
        for (label, needle) in &self.needles {
            if let Some(offset) = find(bytes, needle) {
                leaks.push(Leak {
                    part: part.into(),
                    what: label.clone(),
                    offset,
                });
            }
        }
        leaks.sort_by_key(|l| l.offset);
        leaks
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn hex_lower(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .collect()
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// RFC 4648 base64 with padding.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..4 {
            out.push(if i < chars {
                alphabet[((n >> (18 - 6 * i)) & 63) as usize]
            } else {
                b'='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes(), STANDARD), expected.as_bytes());
        }
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE), b"-_8=");
    }

    #[test]
    fn finds_a_secret_in_every_printed_form() {
        // Starts with bytes whose base64 differs between the two alphabets.
        let mut secret = vec![0xfb, 0xff, 0xfe];
        secret.extend((0u8..29).map(|i| i.wrapping_mul(37) ^ 0xa5));
        let mut scan = LeakScan::new();
        scan.add_secret("keystore secret 'k'", &secret);
        let hex = String::from_utf8(hex_lower(&secret)).unwrap();
        let b64 = String::from_utf8(base64(&secret, STANDARD)).unwrap();
        let b64url = String::from_utf8(base64(&secret, URL_SAFE)).unwrap();
        let mut raw = b"log: ".to_vec();
        raw.extend_from_slice(&secret);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (raw, "raw bytes"),
            (format!("key={hex}").into_bytes(), "lowercase hex"),
            (format!("KEY {}", hex.to_uppercase()).into_bytes(), "hex"),
            (format!("\"k\":\"{b64}\"").into_bytes(), "base64"),
            (
                format!("k={}", b64url.trim_end_matches('=')).into_bytes(),
                "base64url",
            ),
        ];
        for (text, form) in cases {
            let leaks = scan.scan("f", &text);
            assert!(
                leaks
                    .iter()
                    .any(|l| l.what.ends_with(&format!("as {form}"))),
                "{form}: {leaks:?}"
            );
            assert!(
                leaks.iter().all(|l| !l.what.contains(&hex)),
                "never the secret itself"
            );
        }
        assert!(scan.scan("f", b"nothing secret here at all").is_empty());
    }

    #[test]
    fn reports_full_card_numbers_with_their_offset() {
        let leaks = LeakScan::new().scan("logs/posmate.log", b"pan 6222021234567890128");
        assert_eq!(
            leaks,
            vec![Leak {
                part: "logs/posmate.log".into(),
                what: "full card number".into(),
                offset: 4
            }]
        );
    }

    #[test]
    fn short_secrets_are_not_searched_for() {
        let mut scan = LeakScan::new();
        scan.add_secret("tiny", b"abc");
        assert!(scan.scan("f", b"abcabc").is_empty());
    }

    #[test]
    fn reads_every_secret_of_a_store() {
        let store = crate::keystore::KeyringStore::open(
            crate::keystore::KeystoreChoice::Mock,
            crate::keystore::Namespace::new("leak-scan-test").unwrap(),
        )
        .unwrap();
        store
            .set("db-key", &crate::keystore::Secret::from_slice(&[7u8; 32]))
            .unwrap();
        let scan = LeakScan::with_secrets_of(&store).unwrap();
        let leaks = scan.scan("f", &hex_lower(&[7u8; 32]));
        assert_eq!(leaks.len(), 1);
        assert_eq!(leaks[0].what, "keystore secret 'db-key' as hex");
    }
}
