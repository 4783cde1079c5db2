//! The provider against published test vectors, called through the table SQLCipher gets,
//! and against databases that SQLCipher's OpenSSL provider wrote.

use std::mem::MaybeUninit;
use std::path::Path;

use rusqlite::Connection;

use super::*;

fn table() -> Provider {
    let mut p = MaybeUninit::<Provider>::uninit();
    // SAFETY: a writable table; setup initialises every field.
    unsafe {
        assert_eq!(posmate_sqlcipher_setup(p.as_mut_ptr()), SQLITE_OK);
        p.assume_init()
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn len(b: &[u8]) -> c_int {
    c_int::try_from(b.len()).unwrap()
}

fn hmac_of(p: &Provider, algorithm: c_int, key: &[u8], parts: (&[u8], Option<&[u8]>)) -> Vec<u8> {
    let size = unsafe { (p.get_hmac_sz)(ptr::null_mut(), algorithm) };
    let mut out = vec![0u8; usize::try_from(size).unwrap()];
    let (in2, in2_sz) = parts.1.map_or((ptr::null(), 0), |b| (b.as_ptr(), len(b)));
    let rc = unsafe {
        (p.hmac)(
            ptr::null_mut(),
            algorithm,
            key.as_ptr(),
            len(key),
            parts.0.as_ptr(),
            len(parts.0),
            in2,
            in2_sz,
            out.as_mut_ptr(),
        )
    };
    assert_eq!(rc, SQLITE_OK);
    out
}

fn kdf_of(
    p: &Provider,
    algorithm: c_int,
    pass: &[u8],
    salt: &[u8],
    rounds: c_int,
    n: usize,
) -> (c_int, Vec<u8>) {
    let mut out = vec![0u8; n];
    let rc = unsafe {
        (p.kdf)(
            ptr::null_mut(),
            algorithm,
            pass.as_ptr(),
            len(pass),
            salt.as_ptr(),
            len(salt),
            rounds,
            len(&out),
            out.as_mut_ptr(),
        )
    };
    (rc, out)
}

fn cipher_of(p: &Provider, mode: c_int, key: &[u8], iv: &[u8], input: &[u8]) -> (c_int, Vec<u8>) {
    let mut out = vec![0u8; input.len()];
    let rc = unsafe {
        (p.cipher)(
            ptr::null_mut(),
            mode,
            key.as_ptr(),
            len(key),
            iv.as_ptr(),
            input.as_ptr(),
            len(input),
            out.as_mut_ptr(),
        )
    };
    (rc, out)
}

#[test]
fn hmac_matches_rfc_2202_and_4231_and_joins_its_two_inputs() {
    let p = table();
    let data: &[u8] = b"what do ya want for nothing?";
    let cases = [
        (SHA1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (SHA256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (
            SHA512,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];
    for (algorithm, expected) in cases {
        assert_eq!(hmac_of(&p, algorithm, b"Jefe", (data, None)), hex(expected));
        // SQLCipher MACs a page and its page number as two inputs.
        let (a, b) = data.split_at(11);
        assert_eq!(hmac_of(&p, algorithm, b"Jefe", (a, Some(b))), hex(expected));
    }
}

#[test]
fn pbkdf2_matches_rfc_6070_and_published_sha2_vectors() {
    let p = table();
    let cases = [
        (SHA1, 2, 20, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
        (SHA256, 2, 32, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"),
        (
            SHA512,
            1,
            64,
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce",
        ),
    ];
    for (algorithm, rounds, n, expected) in cases {
        let (rc, key) = kdf_of(&p, algorithm, b"password", b"salt", rounds, n);
        assert_eq!(rc, SQLITE_OK);
        assert_eq!(key, hex(expected));
    }
}

#[test]
fn aes_256_cbc_matches_sp800_38a_both_ways_and_in_place() {
    let p = table();
    let key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    let iv = hex("000102030405060708090a0b0c0d0e0f");
    let plain = hex(concat!(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
    ));
    let sealed = hex(concat!(
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d",
        "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
    ));
    assert_eq!(
        cipher_of(&p, ENCRYPT, &key, &iv, &plain),
        (SQLITE_OK, sealed.clone())
    );
    assert_eq!(
        cipher_of(&p, DECRYPT, &key, &iv, &sealed),
        (SQLITE_OK, plain.clone())
    );

    // One buffer as both input and output.
    let mut buf = plain.clone();
    let rc = unsafe {
        (p.cipher)(
            ptr::null_mut(),
            ENCRYPT,
            key.as_ptr(),
            len(&key),
            iv.as_ptr(),
            buf.as_ptr(),
            len(&buf),
            buf.as_mut_ptr(),
        )
    };
    assert_eq!(rc, SQLITE_OK);
    assert_eq!(buf, sealed);
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let p = table();
    let key = [7u8; 32];
    let iv = [9u8; 16];
    // A short key, a partial block, an unknown mode.
    assert_eq!(
        cipher_of(&p, ENCRYPT, &key[..16], &iv, &[0u8; 32]).0,
        SQLITE_ERROR
    );
    assert_eq!(
        cipher_of(&p, ENCRYPT, &key, &iv, &[0u8; 31]).0,
        SQLITE_ERROR
    );
    assert_eq!(cipher_of(&p, 5, &key, &iv, &[0u8; 32]).0, SQLITE_ERROR);
    // An unknown hash, zero or negative rounds.
    assert_eq!(kdf_of(&p, 3, b"pw", b"salt", 2, 32).0, SQLITE_ERROR);
    assert_eq!(kdf_of(&p, SHA512, b"pw", b"salt", 0, 32).0, SQLITE_ERROR);
    assert_eq!(kdf_of(&p, SHA512, b"pw", b"salt", -1, 32).0, SQLITE_ERROR);
    unsafe {
        assert_eq!((p.get_hmac_sz)(ptr::null_mut(), 3), 0);
        let mut out = [0u8; 64];
        let rc = (p.hmac)(
            ptr::null_mut(),
            3,
            key.as_ptr(),
            32,
            iv.as_ptr(),
            16,
            ptr::null(),
            0,
            out.as_mut_ptr(),
        );
        assert_eq!(rc, SQLITE_ERROR);
        // No first input.
        let rc = (p.hmac)(
            ptr::null_mut(),
            SHA1,
            key.as_ptr(),
            32,
            ptr::null(),
            0,
            ptr::null(),
            0,
            out.as_mut_ptr(),
        );
        assert_eq!(rc, SQLITE_ERROR);
        // A negative length.
        let rc = (p.random)(ptr::null_mut(), out.as_mut_ptr().cast(), -1);
        assert_eq!(rc, SQLITE_ERROR);
    }
}

#[test]
fn random_fills_the_buffer_with_fresh_bytes() {
    let p = table();
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    unsafe {
        assert_eq!(
            (p.random)(ptr::null_mut(), a.as_mut_ptr().cast(), 32),
            SQLITE_OK
        );
        assert_eq!(
            (p.random)(ptr::null_mut(), b.as_mut_ptr().cast(), 32),
            SQLITE_OK
        );
    }
    assert_ne!(a, [0u8; 32]);
    assert_ne!(a, b);
}

/// The raw key the fixtures were written with: byte i is 7i + 3, then the salt a0..af.
fn fixture_raw_key() -> String {
    let key: String = (0u8..32)
        .map(|b| format!("{:02x}", b.wrapping_mul(7).wrapping_add(3)))
        .collect();
    let salt: String = (0u8..16).map(|b| format!("{:02x}", 0xa0 + b)).collect();
    format!("PRAGMA key = \"x'{key}{salt}'\";")
}

/// Opens a copy of a fixture (opening may write to it) with `key_sql`.
fn open_copy(dir: &Path, name: &str, key_sql: &str) -> Connection {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/sqlcipher-openssl")
        .join(name);
    let to = dir.join(name);
    if !to.exists() {
        std::fs::copy(from, &to).unwrap();
    }
    let conn = Connection::open(&to).unwrap();
    conn.execute_batch("PRAGMA cipher_log_level = NONE")
        .unwrap();
    conn.execute_batch(key_sql).unwrap();
    conn
}

/// Every page's HMAC checked, the rows read back, one more row written and read back.
fn check_fixture(dir: &Path, name: &str, key_sql: &str) {
    let conn = open_copy(dir, name, key_sql);
    let provider: String = conn
        .query_row("PRAGMA cipher_provider", [], |r| r.get(0))
        .unwrap();
    assert_eq!(provider, "posmate-rustcrypto");
    let mut check = conn.prepare("PRAGMA cipher_integrity_check").unwrap();
    let problems: Vec<String> = check
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(problems.is_empty(), "{name}: {problems:?}");
    drop(check);
    let (count, row): (i64, String) = conn
        .query_row(
            "SELECT count(*), (SELECT v FROM t WHERE id = 421) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (count, row.as_str()),
        (600, "row 0421 of the SQLCipher/OpenSSL fixture")
    );
    conn.execute(
        "INSERT INTO t(id, v) VALUES (600, 'written by posmate-rustcrypto')",
        [],
    )
    .unwrap();
    drop(conn);

    let conn = open_copy(dir, name, key_sql);
    let v: String = conn
        .query_row("SELECT v FROM t WHERE id = 600", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "written by posmate-rustcrypto");
}

#[test]
fn opens_and_extends_databases_written_by_sqlciphers_openssl_provider() {
    let dir = tempfile::tempdir().unwrap();
    check_fixture(dir.path(), "raw-key.db", &fixture_raw_key());
    // SQLCipher 4 defaults: PBKDF2-HMAC-SHA512, 256,000 rounds, HMAC-SHA512.
    check_fixture(
        dir.path(),
        "passphrase.db",
        "PRAGMA key = 'correct horse battery staple';",
    );
    // SQLCipher 3: PBKDF2-HMAC-SHA1, 64,000 rounds, HMAC-SHA1, 1 KiB pages.
    check_fixture(
        dir.path(),
        "v3.db",
        "PRAGMA key = 'v3 passphrase'; PRAGMA cipher_compatibility = 3;",
    );
}

#[test]
fn a_wrong_key_does_not_open_a_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_copy(
        dir.path(),
        "passphrase.db",
        "PRAGMA key = 'Correct horse battery staple';",
    );
    let err = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase)
    );
}
