use rand_core::SeedableRng;

use super::*;
use crate::keybundle::kcv;

fn hex(s: &str) -> Vec<u8> {
    from_hex(s.as_bytes()).unwrap()
}

/// TR-31:2018 A.7.4 (and psec's and openemv's known-value tests): an AES-128 PIN key under
/// an AES-256 KBPK.
const A74_KBPK: &str = "88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6";
const A74_KEY: &str = "3F419E1CB7079442AA37474C2EFBF8B8";
const A74_BLOCK: &str = "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34";

fn pin_key_header() -> Header {
    Header {
        key_usage: *b"P0",
        algorithm: b'A',
        mode_of_use: b'E',
        key_version: *b"00",
        exportability: b'E',
        optional_blocks: Vec::new(),
    }
}

#[test]
fn wraps_the_published_a74_block_exactly() {
    // The example's padding, so the block is reproducible.
    let pad = hex("1C2965473CE206BB855B01533782");
    let block = wrap_with_padding(&hex(A74_KBPK), &pin_key_header(), &hex(A74_KEY), &pad).unwrap();
    assert_eq!(block, A74_BLOCK);
}

#[test]
fn opens_published_and_hsm_made_blocks() {
    let aaaa = "4141414141414141414141414141414141414141414141414141414141414141";
    let cases = [
        // TR-31:2018 A.7.4.
        (A74_KBPK, A74_BLOCK, A74_KEY, *b"P0", b'A'),
        // ANSI X9.143:2021 8.1: the same key, its length masked to 32 bytes.
        (A74_KBPK, "D0144P0AE00E00002C77FA3F4A553BED6E88AE5C172A4166E3D4ACA8E2AC71C158A476FAC12C13C3829DE55D3AB54C48F4C4FEF7AC75E90FC47F1B77E7B19A73ED46E64410082557", A74_KEY, *b"P0", b'A'),
        // A Thales payShield 10k: a double-length TDES BDK (B0) in a D block.
        (aaaa, "D0112B0TN00N000037DB9B046B7B0048785690759580ABC3B9842AB4BB7717B49E92528E575785D8123559376A2553B27BE94F054F4E971C", "1FA1F7CEC798D91545DA8AE0C7796BD9", *b"B0", b'T'),
        // A Thales payShield 10k: an AES-256 data key.
        (aaaa, "D0144D0AN00N0000127862F945C2DED04530FAF7CDBC8B0BA10C7AA79BD5E0C2C5D6AC173BF588E4B19ACF1357178D50EA0AB193228E13958304FC6149632DFDCADF3A5B3D57E814", "BE19E6A07A760F10EF8E83A226B63AAD141F463FDDD4F47DB244B4023EC3CACC", *b"D0", b'A'),
        // ISO 20038:2017 B.3 (the KBPK is ASCII "256-bit AES wrapping (ISO 20038)").
        ("3235362D62697420414553207772617070696E67202849534F20323030333829", "D0112M3TV16N000018462FA5903B8D2B82FEE26B29713C0BE7ED81601087F12252093D06FC0A012C1CF769AD0E3E9E4877166AB013FC22B4", "767361707064642032454552206B6479", *b"M3", b'T'),
    ];
    for (kbpk, block, key, usage, algorithm) in cases {
        let (header, opened) = unwrap(&hex(kbpk), block).unwrap();
        assert_eq!(&opened[..], &hex(key)[..], "{block}");
        assert_eq!((header.key_usage, header.algorithm), (usage, algorithm));
        assert_eq!(
            super::header(block).unwrap(),
            header,
            "the header reads without a key"
        );
    }
}

/// X9.143's KCV of the A.7.4 key, printed with the example: AES-CMAC of the zero block.
#[test]
fn the_a74_key_has_the_published_kcv() {
    let key: [u8; 16] = hex(A74_KEY).try_into().unwrap();
    assert_eq!(kcv(&key), [0x08, 0x79, 0x3E]);
}

#[test]
fn any_change_to_a_block_or_a_wrong_kbpk_is_refused() {
    let kbpk = hex(A74_KBPK);
    for i in 0..A74_BLOCK.len() {
        let mut bytes = A74_BLOCK.as_bytes().to_vec();
        // Another character of the same class, so the block stays well-formed where it can.
        bytes[i] = match bytes[i] {
            b'0' => b'1',
            b'9' => b'8',
            c if c.is_ascii_digit() => c + 1,
            b'F' => b'E',
            b'A'..=b'E' => bytes[i] + 1,
            c => c ^ 0x01,
        };
        let altered = String::from_utf8(bytes).unwrap();
        assert!(unwrap(&kbpk, &altered).is_err(), "position {i} accepted");
    }
    let mut other = kbpk.clone();
    other[0] ^= 1;
    assert_eq!(unwrap(&other, A74_BLOCK), Err(Tr31Error::Mac));
    assert_eq!(
        unwrap(&kbpk[..20], A74_BLOCK),
        Err(Tr31Error::KbpkLength(20))
    );
    for len in 0..A74_BLOCK.len() {
        assert!(
            unwrap(&kbpk, &A74_BLOCK[..len]).is_err(),
            "{len} characters accepted"
        );
    }
    assert_eq!(
        unwrap(&kbpk, &A74_BLOCK.replacen('D', "B", 1)),
        Err(Tr31Error::Version('B'))
    );
}

#[test]
fn round_trips_every_kbpk_size_with_optional_blocks_and_masking() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let mut header = pin_key_header();
    header.key_usage = *b"B1";
    header.mode_of_use = b'X';
    header.optional_blocks.push(OptionalBlock {
        id: *b"KS",
        data: "00604B120F9292800000".into(),
    });
    for kbpk_len in [16, 24, 32] {
        let kbpk = vec![0x5A; kbpk_len];
        for (key_len, mask) in [(16, 16), (16, 32), (32, 32), (24, 0)] {
            let key: Vec<u8> = (0..key_len as u8).collect();
            let block = wrap(&kbpk, &header, &key, mask, &mut rng).unwrap();
            assert_eq!(block.len() % 16, 0);
            assert_eq!(decimal(&block.as_bytes()[1..5]), Some(block.len()));
            let (back, opened) = unwrap(&kbpk, &block).unwrap();
            assert_eq!(back, header);
            assert_eq!(&opened[..], &key[..]);
            let again = wrap(&kbpk, &header, &key, mask, &mut rng).unwrap();
            assert_ne!(again, block, "the padding is random");
        }
    }
}

#[test]
fn headers_that_cannot_be_written_are_refused() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let kbpk = [1u8; 16];
    let mut header = pin_key_header();
    header.optional_blocks.push(OptionalBlock {
        id: *b"PB",
        data: "00".into(),
    });
    assert!(matches!(
        wrap(&kbpk, &header, &[0; 16], 16, &mut rng),
        Err(Tr31Error::Header(_))
    ));
    let mut header = pin_key_header();
    header.algorithm = b' ';
    assert!(matches!(
        wrap(&kbpk, &header, &[0; 16], 16, &mut rng),
        Err(Tr31Error::Header(_))
    ));
}

proptest::proptest! {
    /// Any text, and any mutation of a real block, is an error or a block, never a panic.
    #[test]
    fn arbitrary_input_never_panics(
        text in "\\PC{0,160}",
        at in 0usize..112,
        byte in proptest::num::u8::ANY,
    ) {
        let _ = unwrap(&hex(A74_KBPK), &text);
        let _ = super::header(&text);
        let mut bytes = A74_BLOCK.as_bytes().to_vec();
        bytes[at] = byte;
        if let Ok(altered) = String::from_utf8(bytes) {
            if altered != A74_BLOCK {
                proptest::prop_assert!(unwrap(&hex(A74_KBPK), &altered).is_err());
            }
        }
    }
}
