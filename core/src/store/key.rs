//! The database key: 32 random bytes in the keystore, applied to SQLCipher as a raw key.
//!
//! A raw key (`PRAGMA key = "x'<64 hex>'"`) skips SQLCipher's PBKDF2 (256,000 rounds, about
//! half a second on a phone): the key is already uniformly random, so stretching it adds
//! nothing, and opening stays far below 50 ms.
//!
//! **Telling a wrong key from a damaged file.** SQLCipher answers both with "file is not a
//! database". So that the store can still say which, each database's salt (the plaintext
//! first 16 bytes of the file) is derived from its key: the file is created, and rekeyed,
//! with `x'<key><salt>'` where `salt = SHA-256("posmate db salt v1" ‖ key)[..16]`. A file
//! whose salt belongs to our key but does not decrypt is damaged; a file with any other salt
//! was made with another key. (The salt is public in every SQLCipher file anyway; revealing
//! 16 bytes of a hash of the key does not reveal the key.)
//!
//! **Rekeying without losing the database.** The new key goes to `db-key.next` before
//! `PRAGMA rekey`, and replaces `db-key` only afterwards; `open` tries `db-key`, then
//! `db-key.next`, and finishes whichever step a crash interrupted.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use rand::RngCore;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::StoreError;
use crate::keystore::{KeystoreError, Secret, SecretStore};

/// Keystore entry holding the database key.
pub(crate) const KEY_NAME: &str = "db-key";
/// Keystore entry holding the key of a rekey in progress.
pub(crate) const NEXT_KEY_NAME: &str = "db-key.next";

const KEY_LEN: usize = 32;
const SALT_LEN: usize = 16;
/// SQLCipher 4's page size (its default; posmate never changes it).
const PAGE_SIZE: u64 = 4096;

/// A database key. Wiped on drop (it lives in a [`Secret`]); `Debug` shows nothing of it.
pub(crate) struct DbKey(Secret);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(<redacted>)")
    }
}

impl DbKey {
    pub(crate) fn generate() -> DbKey {
        let mut bytes = Zeroizing::new(vec![0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        DbKey(Secret::from_slice(&bytes))
    }

    /// The key stored under `name`, if any; an entry of the wrong length is corrupt.
    pub(crate) fn load(secrets: &dyn SecretStore, name: &str) -> Result<Option<DbKey>, StoreError> {
        let Some(secret) = secrets.get(name)? else {
            return Ok(None);
        };
        if secret.len() != KEY_LEN {
            return Err(KeystoreError::Corrupt {
                name: name.to_string(),
                reason: format!("a database key has {KEY_LEN} bytes, not {}", secret.len()),
            }
            .into());
        }
        Ok(Some(DbKey(secret)))
    }

    pub(crate) fn save(&self, secrets: &dyn SecretStore, name: &str) -> Result<(), StoreError> {
        Ok(secrets.set(name, &self.0)?)
    }

    /// The SQLCipher salt of a database created or rekeyed with this key.
    pub(crate) fn salt(&self) -> [u8; SALT_LEN] {
        let digest = Sha256::new()
            .chain_update(b"posmate db salt v1")
            .chain_update(self.0.expose())
            .finalize();
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&digest[..SALT_LEN]);
        salt
    }

    /// `PRAGMA <verb> = "x'<key hex>[<salt hex>]'"`, in a buffer wiped on drop.
    fn pragma(&self, verb: &str, with_salt: bool) -> Zeroizing<String> {
        let mut sql = Zeroizing::new(String::with_capacity(128));
        sql.push_str("PRAGMA ");
        sql.push_str(verb);
        sql.push_str(" = \"x'");
        push_hex(&mut sql, self.0.expose());
        if with_salt {
            push_hex(&mut sql, &self.salt());
        }
        sql.push_str("'\"");
        sql
    }

    /// Applies the key to a fresh connection. `with_salt` sets the salt of a new file.
    fn apply(&self, conn: &Connection, with_salt: bool) -> Result<(), StoreError> {
        conn.execute_batch(&self.pragma("key", with_salt))
            .map_err(|e| keyed_statement_failed("applying the database key", &e))
    }

    /// Re-encrypts the whole database under this key (and its salt).
    pub(crate) fn rekey(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.execute_batch(&self.pragma("rekey", true))
            .map_err(|e| keyed_statement_failed("re-encrypting the database", &e))
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

/// The error of a statement that contained key bytes: its result code only, never its text
/// (rusqlite's `SqlInputError` would quote the statement).
fn keyed_statement_failed(what: &str, err: &rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
        Some(code) => StoreError::Sqlite {
            detail: format!("{what} failed ({code:?})"),
        },
        None => StoreError::Sqlite {
            detail: format!("{what} failed"),
        },
    }
}

/// A connection with the right key applied and verified, or why there is none.
///
/// Neither file nor key: both are created. An empty file (a crash before the first page was
/// written) holds no data and counts as no file. A file without any key entry is
/// `KeyMissing` and is not touched; no new key is ever made for an existing file.
pub(crate) fn unlock(path: &Path, secrets: &dyn SecretStore) -> Result<Connection, StoreError> {
    let len = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e.into()),
    };
    let key = DbKey::load(secrets, KEY_NAME)?;
    let next = DbKey::load(secrets, NEXT_KEY_NAME)?;

    if len == 0 {
        // Journal files without a database are leftovers of a crash during creation (or of
        // a deleted database); SQLite would try to replay them into the new file.
        remove_if_present(&sidecar(path, "-wal"))?;
        remove_if_present(&sidecar(path, "-shm"))?;
        remove_if_present(&sidecar(path, "-journal"))?;
        let key = match (key, next) {
            (Some(key), next) => {
                if next.is_some() {
                    secrets.delete(NEXT_KEY_NAME)?;
                }
                key
            }
            (None, Some(next)) => {
                next.save(secrets, KEY_NAME)?;
                secrets.delete(NEXT_KEY_NAME)?;
                next
            }
            (None, None) => {
                let key = DbKey::generate();
                key.save(secrets, KEY_NAME)?;
                key
            }
        };
        return create(path, &key);
    }

    if key.is_none() && next.is_none() {
        return Err(StoreError::KeyMissing {
            path: path.to_path_buf(),
        });
    }
    if let Some(key) = &key {
        if let Some(conn) = try_key(path, key)? {
            if next.is_some() {
                // A rekey was interrupted before `PRAGMA rekey` committed.
                secrets.delete(NEXT_KEY_NAME)?;
            }
            return Ok(conn);
        }
    }
    if let Some(next) = &next {
        if let Some(conn) = try_key(path, next)? {
            // A rekey committed but the keystore was not updated: finish it.
            next.save(secrets, KEY_NAME)?;
            secrets.delete(NEXT_KEY_NAME)?;
            return Ok(conn);
        }
    }
    Err(classify(path, len, [key.as_ref(), next.as_ref()]))
}

/// Serialises SQLite's initialisation, which SQLCipher's part of is not safe to race.
static INITIALISING: Mutex<()> = Mutex::new(());

/// Opens a connection once SQLite, SQLCipher included, is wholly initialised.
///
/// `sqlite3_initialize` marks SQLite initialised *before* it runs SQLCipher's extra
/// initialisation, outside its own lock. A thread opening its first connection meanwhile
/// sees SQLite ready and keys its connection before SQLCipher is: `PRAGMA key` then fails
/// with a bare `SQLITE_ERROR` (seen as "applying the database key failed (Unknown)" when
/// several phones opened at once in one process). Initialising under one lock first means
/// no connection is keyed before the initialisation that let it open has finished; once
/// initialised, `sqlite3_initialize` returns at once.
fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    {
        let _one_at_a_time = INITIALISING.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: sqlite3_initialize takes no arguments and may be called at any time.
        let rc = unsafe { rusqlite::ffi::sqlite3_initialize() };
        if rc != rusqlite::ffi::SQLITE_OK {
            return Err(StoreError::Sqlite {
                detail: format!("SQLite could not be initialised (result code {rc})"),
            });
        }
    }
    Ok(Connection::open_with_flags(path, flags)?)
}

/// Opens an existing file with `key`; `None` if the key does not decrypt it.
pub(super) fn try_key(path: &Path, key: &DbKey) -> Result<Option<Connection>, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = open_connection(path, flags)?;
    quiet(&conn)?;
    key.apply(&conn, false)?;
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())) {
        Ok(()) => Ok(Some(conn)),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => Ok(None),
        Err(e) => Err(StoreError::from(e).with_path(path)),
    }
}

/// Creates a new database file encrypted with `key`.
fn create(path: &Path, key: &DbKey) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = open_connection(path, flags)?;
    quiet(&conn)?;
    key.apply(&conn, true)?;
    // Writes the first page at once, so the file is never left holding only a rollback
    // journal; everything after goes through the WAL.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Sqlite {
            detail: format!("the database refused WAL mode (it is in {mode} mode)"),
        });
    }
    Ok(conn)
}

/// SQLCipher logs decryption failures to stderr by default; the store reports them itself.
fn quiet(conn: &Connection) -> Result<(), StoreError> {
    super::cipher::link();
    conn.execute_batch("PRAGMA cipher_log_level = NONE")?;
    Ok(())
}

/// Why none of the keys opened the file: damage, or a key for another file.
fn classify(path: &Path, len: u64, keys: [Option<&DbKey>; 2]) -> StoreError {
    let corrupt = |detail: &str| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    if len < PAGE_SIZE || !len.is_multiple_of(PAGE_SIZE) {
        return corrupt("its size is not a whole number of database pages");
    }
    let mut page = vec![0u8; PAGE_SIZE as usize];
    if let Err(e) = fs::File::open(path).and_then(|mut f| f.read_exact(&mut page)) {
        return e.into();
    }
    if page.starts_with(b"SQLite format 3\0") {
        return corrupt("it is an unencrypted SQLite file, not posmate's encrypted database");
    }
    // Encrypted pages look uniformly random (about 255 of 256 byte values in 4096 bytes);
    // zeroed or text-filled pages are damage, not ciphertext.
    let mut seen = [false; 256];
    page.iter().for_each(|&b| seen[usize::from(b)] = true);
    if seen.iter().filter(|&&s| s).count() < 192 {
        return corrupt("its first page is not encrypted data");
    }
    if keys.iter().flatten().any(|k| page[..SALT_LEN] == k.salt()) {
        return corrupt("it was made with this phone's key but no longer decrypts");
    }
    StoreError::WrongKey {
        path: path.to_path_buf(),
    }
}

/// `posmate.db` + suffix: SQLite's `-wal`, `-shm` and `-journal` files.
pub(crate) fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    name.into()
}

pub(crate) fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}
