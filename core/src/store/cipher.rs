//! SQLCipher's crypto provider, written in Rust.
//!
//! Why: SQLCipher asks a provider for five primitives (AES-256-CBC without padding,
//! HMAC-SHA1/256/512, PBKDF2 over those hashes, and random bytes). Its default provider is
//! OpenSSL, which Android does not ship to apps, so the mobile library had to carry a
//! vendored OpenSSL: about 4.5 MB of an 11 MB library, for those five functions. This
//! provider serves them from RustCrypto crates instead (`aes` is already in the protocol's
//! dependency tree, `sha2` and `hmac` in the core's), the same code on every platform.
//!
//! The bytes on disk are SQLCipher's own format, unchanged: the tests open databases that
//! the OpenSSL provider wrote (SQLCipher 4 defaults with a raw key and with a passphrase,
//! and SQLCipher 3 settings) and check every page's HMAC.
//!
//! How it is wired: the build passes `-DSQLCIPHER_CRYPTO_CUSTOM=posmate_sqlcipher_setup`
//! to the bundled SQLCipher (`.cargo/config.toml`), whose activation then calls
//! [`posmate_sqlcipher_setup`] to fill in its provider table. That table's layout is
//! SQLCipher 4.14's `struct sqlcipher_provider`; [`Provider`] mirrors it field for field.
//!
//! Every entry point checks its sizes and pointers and answers `SQLITE_ERROR` instead of
//! panicking: a panic cannot cross back into C.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::{ptr, slice};

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

const SQLITE_OK: c_int = 0;
const SQLITE_ERROR: c_int = 1;

/// `SQLCIPHER_ENCRYPT`; `SQLCIPHER_DECRYPT` is 0.
const ENCRYPT: c_int = 1;
const DECRYPT: c_int = 0;

/// `SQLCIPHER_HMAC_SHA1/SHA256/SHA512`, also used for the PBKDF2 variants.
const SHA1: c_int = 0;
const SHA256: c_int = 1;
const SHA512: c_int = 2;

const KEY_SIZE: usize = 32;
const IV_SIZE: usize = 16;
const BLOCK_SIZE: usize = 16;

const NAME: &CStr = c"posmate-rustcrypto";
/// What `PRAGMA cipher_provider_version` reports.
const VERSION: &CStr = c"aes 0.8, cbc 0.1, hmac 0.12, sha1 0.10, sha2 0.10, pbkdf2 0.12";
const CIPHER: &CStr = c"AES-256-CBC";

type Ctx = *mut c_void;

/// SQLCipher 4.14's `struct sqlcipher_provider`.
#[repr(C)]
pub struct Provider {
    init: unsafe extern "C" fn() -> c_int,
    shutdown: unsafe extern "C" fn(),
    get_provider_name: unsafe extern "C" fn(Ctx) -> *const c_char,
    add_random: unsafe extern "C" fn(Ctx, *const c_void, c_int) -> c_int,
    random: unsafe extern "C" fn(Ctx, *mut c_void, c_int) -> c_int,
    hmac: unsafe extern "C" fn(
        Ctx,
        c_int,
        *const u8,
        c_int,
        *const u8,
        c_int,
        *const u8,
        c_int,
        *mut u8,
    ) -> c_int,
    kdf: unsafe extern "C" fn(
        Ctx,
        c_int,
        *const u8,
        c_int,
        *const u8,
        c_int,
        c_int,
        c_int,
        *mut u8,
    ) -> c_int,
    cipher: unsafe extern "C" fn(
        Ctx,
        c_int,
        *const u8,
        c_int,
        *const u8,
        *const u8,
        c_int,
        *mut u8,
    ) -> c_int,
    get_cipher: unsafe extern "C" fn(Ctx) -> *const c_char,
    get_key_sz: unsafe extern "C" fn(Ctx) -> c_int,
    get_iv_sz: unsafe extern "C" fn(Ctx) -> c_int,
    get_block_sz: unsafe extern "C" fn(Ctx) -> c_int,
    get_hmac_sz: unsafe extern "C" fn(Ctx, c_int) -> c_int,
    ctx_init: unsafe extern "C" fn(*mut Ctx) -> c_int,
    ctx_free: unsafe extern "C" fn(*mut Ctx) -> c_int,
    fips_status: unsafe extern "C" fn(Ctx) -> c_int,
    get_provider_version: unsafe extern "C" fn(Ctx) -> *const c_char,
    next: *mut Provider,
}

/// Fills in SQLCipher's provider table; called once by SQLCipher's activation.
///
/// # Safety
/// `p` points to writable memory for one `sqlcipher_provider` (SQLCipher allocates it).
#[no_mangle]
pub unsafe extern "C" fn posmate_sqlcipher_setup(p: *mut Provider) -> c_int {
    if p.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: the caller gives a valid, writable, suitably aligned table.
    unsafe {
        p.write(Provider {
            init,
            shutdown,
            get_provider_name,
            add_random,
            random,
            hmac,
            kdf,
            cipher,
            get_cipher,
            get_key_sz,
            get_iv_sz,
            get_block_sz,
            get_hmac_sz,
            ctx_init,
            ctx_free,
            fips_status,
            get_provider_version,
            next: ptr::null_mut(),
        })
    };
    SQLITE_OK
}

/// Keeps [`posmate_sqlcipher_setup`] in every binary that opens a database.
///
/// SQLCipher's object file refers to the symbol, but the linker reads this crate's archive
/// before SQLCipher's and only keeps members something already asked for; referring to it
/// from the code that opens connections makes sure it is there.
pub(super) fn link() {
    std::hint::black_box(posmate_sqlcipher_setup as unsafe extern "C" fn(*mut Provider) -> c_int);
}

/// A byte slice from C, `None` for a null pointer with a non-zero or negative length.
///
/// # Safety
/// A non-null `ptr` points to `len` readable bytes.
unsafe fn bytes<'a>(ptr: *const u8, len: c_int) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    Some(unsafe { slice::from_raw_parts(ptr, len) })
}

unsafe extern "C" fn init() -> c_int {
    SQLITE_OK
}

unsafe extern "C" fn shutdown() {}

unsafe extern "C" fn get_provider_name(_: Ctx) -> *const c_char {
    NAME.as_ptr()
}

unsafe extern "C" fn get_provider_version(_: Ctx) -> *const c_char {
    VERSION.as_ptr()
}

/// Extra entropy offered by the application (`PRAGMA cipher_add_random`). The OS source
/// behind [`random`] does not take seeds, and needs none; accepted and ignored.
unsafe extern "C" fn add_random(_: Ctx, _: *const c_void, _: c_int) -> c_int {
    SQLITE_OK
}

/// Random bytes for page IVs and database salts, from the OS.
unsafe extern "C" fn random(_: Ctx, buffer: *mut c_void, length: c_int) -> c_int {
    let Ok(len) = usize::try_from(length) else {
        return SQLITE_ERROR;
    };
    if len == 0 {
        return SQLITE_OK;
    }
    if buffer.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher passes a buffer of `length` writable bytes.
    let out = unsafe { slice::from_raw_parts_mut(buffer.cast::<u8>(), len) };
    match rand::rngs::OsRng.try_fill_bytes(out) {
        Ok(()) => SQLITE_OK,
        Err(_) => SQLITE_ERROR,
    }
}

/// HMAC of `in || in2` (`in2` may be null) into `out`, which holds `get_hmac_sz` bytes.
#[allow(clippy::too_many_arguments)] // SQLCipher's signature.
unsafe extern "C" fn hmac(
    _: Ctx,
    algorithm: c_int,
    key: *const u8,
    key_sz: c_int,
    input: *const u8,
    in_sz: c_int,
    input2: *const u8,
    in2_sz: c_int,
    out: *mut u8,
) -> c_int {
    // SQLCipher's own providers refuse a missing first input too.
    if input.is_null() || out.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher passes buffers of the sizes it names.
    let (Some(key), Some(input)) = (unsafe { bytes(key, key_sz) }, unsafe {
        bytes(input, in_sz)
    }) else {
        return SQLITE_ERROR;
    };
    let input2 = if input2.is_null() {
        &[][..]
    } else {
        // SAFETY: as above.
        match unsafe { bytes(input2, in2_sz) } {
            Some(b) => b,
            None => return SQLITE_ERROR,
        }
    };
    fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: [&[u8]; 2], out: *mut u8) -> c_int {
        let Ok(mut m) = <M as Mac>::new_from_slice(key) else {
            return SQLITE_ERROR;
        };
        for part in parts {
            m.update(part);
        }
        let tag = m.finalize().into_bytes();
        // SAFETY: `out` holds get_hmac_sz(algorithm) = tag.len() bytes.
        unsafe { ptr::copy_nonoverlapping(tag.as_ptr(), out, tag.len()) };
        SQLITE_OK
    }
    let parts = [input, input2];
    match algorithm {
        SHA1 => mac::<Hmac<Sha1>>(key, parts, out),
        SHA256 => mac::<Hmac<Sha256>>(key, parts, out),
        SHA512 => mac::<Hmac<Sha512>>(key, parts, out),
        _ => SQLITE_ERROR,
    }
}

/// PBKDF2-HMAC with `workfactor` rounds, `key_sz` bytes into `key`.
#[allow(clippy::too_many_arguments)] // SQLCipher's signature.
unsafe extern "C" fn kdf(
    _: Ctx,
    algorithm: c_int,
    pass: *const u8,
    pass_sz: c_int,
    salt: *const u8,
    salt_sz: c_int,
    workfactor: c_int,
    key_sz: c_int,
    key: *mut u8,
) -> c_int {
    let Ok(rounds) = u32::try_from(workfactor) else {
        return SQLITE_ERROR;
    };
    let Ok(key_len) = usize::try_from(key_sz) else {
        return SQLITE_ERROR;
    };
    if rounds == 0 || key.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher passes buffers of the sizes it names.
    let (Some(pass), Some(salt)) = (unsafe { bytes(pass, pass_sz) }, unsafe {
        bytes(salt, salt_sz)
    }) else {
        return SQLITE_ERROR;
    };
    // SAFETY: `key` holds `key_sz` writable bytes.
    let out = unsafe { slice::from_raw_parts_mut(key, key_len) };
    match algorithm {
        SHA1 => pbkdf2::pbkdf2_hmac::<Sha1>(pass, salt, rounds, out),
        SHA256 => pbkdf2::pbkdf2_hmac::<Sha256>(pass, salt, rounds, out),
        SHA512 => pbkdf2::pbkdf2_hmac::<Sha512>(pass, salt, rounds, out),
        _ => return SQLITE_ERROR,
    }
    SQLITE_OK
}

/// AES-256-CBC without padding over `in_sz` bytes (a whole number of blocks: SQLCipher
/// encrypts a page at a time).
#[allow(clippy::too_many_arguments)] // SQLCipher's signature.
unsafe extern "C" fn cipher(
    _: Ctx,
    mode: c_int,
    key: *const u8,
    key_sz: c_int,
    iv: *const u8,
    input: *const u8,
    in_sz: c_int,
    out: *mut u8,
) -> c_int {
    let Ok(len) = usize::try_from(in_sz) else {
        return SQLITE_ERROR;
    };
    if key.is_null() || iv.is_null() || usize::try_from(key_sz) != Ok(KEY_SIZE) {
        return SQLITE_ERROR;
    }
    if len % BLOCK_SIZE != 0 || (len > 0 && (input.is_null() || out.is_null())) {
        return SQLITE_ERROR;
    }
    if len == 0 {
        return SQLITE_OK;
    }
    // SAFETY: the key and IV hold KEY_SIZE and IV_SIZE bytes; `input` and `out` hold `len`
    // bytes each and may overlap, so the input is copied into `out` (a copy that allows
    // overlap) and the cipher works in place there.
    let (key, iv, buf) = unsafe {
        ptr::copy(input, out, len);
        (
            slice::from_raw_parts(key, KEY_SIZE),
            slice::from_raw_parts(iv, IV_SIZE),
            slice::from_raw_parts_mut(out, len),
        )
    };
    // The key schedules are wiped on drop (the `zeroize` features of aes and cbc).
    let done = match mode {
        ENCRYPT => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()
            .and_then(|c| c.encrypt_padded_mut::<NoPadding>(buf, len).ok().map(drop)),
        DECRYPT => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()
            .and_then(|c| c.decrypt_padded_mut::<NoPadding>(buf).ok().map(drop)),
        _ => None,
    };
    match done {
        Some(()) => SQLITE_OK,
        None => SQLITE_ERROR,
    }
}

unsafe extern "C" fn get_cipher(_: Ctx) -> *const c_char {
    CIPHER.as_ptr()
}

unsafe extern "C" fn get_key_sz(_: Ctx) -> c_int {
    KEY_SIZE as c_int
}

unsafe extern "C" fn get_iv_sz(_: Ctx) -> c_int {
    IV_SIZE as c_int
}

unsafe extern "C" fn get_block_sz(_: Ctx) -> c_int {
    BLOCK_SIZE as c_int
}

unsafe extern "C" fn get_hmac_sz(_: Ctx, algorithm: c_int) -> c_int {
    match algorithm {
        SHA1 => 20,
        SHA256 => 32,
        SHA512 => 64,
        _ => 0,
    }
}

/// The provider keeps no per-connection state.
unsafe extern "C" fn ctx_init(ctx: *mut Ctx) -> c_int {
    if !ctx.is_null() {
        // SAFETY: SQLCipher passes the address of its context pointer.
        unsafe { *ctx = ptr::null_mut() };
    }
    SQLITE_OK
}

unsafe extern "C" fn ctx_free(_: *mut Ctx) -> c_int {
    SQLITE_OK
}

/// Not a FIPS-validated module.
unsafe extern "C" fn fips_status(_: Ctx) -> c_int {
    0
}

#[cfg(test)]
mod tests;
