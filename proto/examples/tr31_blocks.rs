//! Prints TR-31 key blocks made by posmate, one per line as `KBPK BLOCK KEY KCV` (hex; KCV
//! `-` for keys that are not AES-128), for an independent implementation to open:
//! `cargo xtask test` feeds them to Python's `psec` (`xtask/src/standards.rs`). Seeded, so a
//! failure reproduces.

use posmate_proto::keybundle::kcv;
use posmate_proto::tr31::{wrap, Header, OptionalBlock};
use rand_chacha::rand_core::{RngCore, SeedableRng};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn main() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2026);
    let usages: [(&[u8; 2], u8, u8); 4] = [
        (b"P0", b'A', b'E'),
        (b"M3", b'A', b'C'),
        (b"D0", b'A', b'B'),
        (b"B1", b'A', b'X'),
    ];
    for kbpk_len in [16, 24, 32] {
        for key_len in [16, 24, 32] {
            for (i, (usage, algorithm, mode)) in usages.iter().enumerate() {
                let mut kbpk = vec![0u8; kbpk_len];
                let mut key = vec![0u8; key_len];
                rng.fill_bytes(&mut kbpk);
                rng.fill_bytes(&mut key);
                let optional_blocks = match i {
                    // A DUKPT initial key carries its key serial number.
                    3 => vec![OptionalBlock {
                        id: *b"KS",
                        data: "00604B120F9292800000".into(),
                    }],
                    _ => Vec::new(),
                };
                let header = Header {
                    key_usage: **usage,
                    algorithm: *algorithm,
                    mode_of_use: *mode,
                    key_version: *b"00",
                    exportability: b'E',
                    optional_blocks,
                };
                // Half the blocks hide the key's length, as HSMs may.
                let mask = if i % 2 == 0 { key_len } else { 32 };
                let block = wrap(&kbpk, &header, &key, mask, &mut rng).expect("a valid header");
                let check = <[u8; 16]>::try_from(&key[..])
                    .map(|k| hex(&kcv(&k)))
                    .unwrap_or_else(|_| "-".into());
                println!("{} {block} {} {check}", hex(&kbpk), hex(&key));
            }
        }
    }
}
