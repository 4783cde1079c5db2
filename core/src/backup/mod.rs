//! Backups and exports: an encrypted archive of the phone's records, cards, settlements and
//! audit trail, restorable on a new phone; and a CSV of records for the merchant's accountant.
//!
//! An archive is an [age](https://age-encryption.org) file encrypted to a passphrase
//! (scrypt), holding one JSON document (laid out in `format.rs`): a merchant can open it with
//! `age -d` and read it. Nothing destructive may happen on the strength of a backup that was
//! not read back, so [`write_archive`] decrypts and checks what it wrote before it returns,
//! and a flow about to delete data calls [`verify_archive`] with the hash recorded then.

mod crypt;
mod csv;
mod error;
mod format;
mod restore;

#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use serde::de::DeserializeSeed;
use sha2::{Digest, Sha256};

pub use crypt::{Passphrase, WriteOptions, DEFAULT_WORK_FACTOR, MAX_WORK_FACTOR};
pub use csv::export_csv;
pub use error::BackupError;
pub use format::{Archive, CursorRow, Manifest, Scope, SectionDigest, FORMAT, VERSION};
pub use restore::{collect, restore_into, RestoreSummary};

use format::{Document, DocumentSeed, ReadState};

/// What a written or verified archive holds, and the file's fingerprint to record (in the
/// store's `backups` table) and check again before anything is deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// SHA-256 of the encrypted file as it is on disk.
    pub sha256: [u8; 32],
    /// Size of the file in bytes.
    pub size: u64,
    pub created_at_ms: u64,
    pub phone_id: Option<String>,
    pub merchant_no: Option<String>,
    pub scope: Scope,
    /// Counts and hashes of each section, as recomputed from the file.
    pub manifest: Manifest,
}

impl BackupSummary {
    /// The file's SHA-256 in lowercase hex, as `sha256sum` prints it.
    pub fn sha256_hex(&self) -> String {
        format::hex(&self.sha256)
    }

    fn new(header: &Archive, manifest: Manifest, sha256: [u8; 32], size: u64) -> Self {
        BackupSummary {
            sha256,
            size,
            created_at_ms: header.created_at_ms,
            phone_id: header.phone_id.clone(),
            merchant_no: header.merchant_no.clone(),
            scope: header.scope.clone(),
            manifest,
        }
    }
}

/// Writes `archive` to `path`, encrypted to `passphrase`, and proves it can be read back.
///
/// The file is written to `path.tmp` and synced; it is then decrypted and parsed again from
/// disk and its recomputed manifest and header compared with what was meant to be written.
/// Only a file that passed is renamed over `path` (then the directory is synced), so a
/// failure never replaces an existing backup at `path` with a bad one, and leaves no
/// `.tmp` behind.
pub fn write_archive(
    path: &Path,
    archive: &Archive,
    passphrase: &Passphrase,
    opts: &WriteOptions,
) -> Result<BackupSummary, BackupError> {
    passphrase.check_strength()?;
    let intended = Manifest::of(archive)?;
    let tmp = tmp_path(path);
    let written = write_file(&tmp, archive, &intended, passphrase, opts)
        .and_then(|()| scan(&tmp, passphrase, false))
        .and_then(|(read_back, summary)| {
            let header_matches = read_back.created_at_ms == archive.created_at_ms
                && read_back.phone_id == archive.phone_id
                && read_back.merchant_no == archive.merchant_no
                && read_back.scope == archive.scope;
            if summary.manifest != intended || !header_matches {
                return Err(BackupError::Corrupt {
                    detail: "the file written does not read back as the data given".to_owned(),
                });
            }
            Ok(summary)
        });
    let summary = match written {
        Ok(summary) => summary,
        Err(e) => {
            // Best effort: the error that matters is `e`.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(BackupError::from_io(&e));
    }
    sync_dir(path).map_err(|e| BackupError::from_io(&e))?;
    Ok(summary)
}

/// Decrypts and parses the archive at `path`, checking every section against its manifest.
pub fn read_archive(path: &Path, passphrase: &Passphrase) -> Result<Archive, BackupError> {
    scan(path, passphrase, true).map(|(archive, _)| archive)
}

/// Checks the archive at `path` end to end without keeping its contents in memory: it opens
/// with `passphrase`, parses, matches its manifest and, given `expected_sha256` (recorded
/// when it was written), is byte for byte the same file.
pub fn verify_archive(
    path: &Path,
    passphrase: &Passphrase,
    expected_sha256: Option<[u8; 32]>,
) -> Result<BackupSummary, BackupError> {
    let (_, summary) = scan(path, passphrase, false)?;
    match expected_sha256 {
        Some(expected) if expected != summary.sha256 => Err(BackupError::Changed),
        _ => Ok(summary),
    }
}

/// `path` with `.tmp` appended to its file name.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn write_file(
    tmp: &Path,
    archive: &Archive,
    manifest: &Manifest,
    passphrase: &Passphrase,
    opts: &WriteOptions,
) -> Result<(), BackupError> {
    let io_err = |e: io::Error| BackupError::from_io(&e);
    let file = File::create(tmp).map_err(io_err)?;
    let mut age = crypt::encrypt(BufWriter::new(file), passphrase, opts).map_err(io_err)?;
    // serde_json's error converts back into the io::Error underneath when there is one.
    serde_json::to_writer(&mut age, &Document { archive, manifest })
        .map_err(|e| io_err(e.into()))?;
    let file = age
        .finish()
        .map_err(io_err)?
        .into_inner()
        .map_err(|e| io_err(e.into_error()))?;
    file.sync_all().map_err(io_err)
}

/// Makes the rename of the archive durable: on a crash after this the directory entry
/// points at the new file.
#[cfg(unix)]
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Reads the archive at `path` once: decrypts, parses and checks it, hashing the file's
/// bytes on the way. With `keep == false` the sections are checked and dropped.
fn scan(
    path: &Path,
    passphrase: &Passphrase,
    keep: bool,
) -> Result<(Archive, BackupSummary), BackupError> {
    let file = File::open(path).map_err(|e| BackupError::from_io(&e))?;
    let mut source = HashingReader::new(file);
    let mut input = BufReader::with_capacity(64 * 1024, &mut source);

    let plain = match crypt::decrypt(&mut input, passphrase) {
        Ok(plain) => plain,
        Err(e) => {
            drop(input);
            return Err(source.failure().unwrap_or(e));
        }
    };
    let mut state = ReadState::default();
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, plain));
    // `end()` reads the plaintext to its end, so age authenticates the final chunk: a file
    // cut after the document would otherwise go unnoticed.
    let parsed = DocumentSeed {
        keep,
        state: &mut state,
    }
    .deserialize(&mut de)
    .and_then(|parsed| de.end().map(|()| parsed));
    drop(de);
    let (archive, manifest) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            drop(input);
            return Err(classify(e, state, &source));
        }
    };

    // age stops at its final chunk; hash whatever may follow so the digest covers the file.
    io::copy(&mut input, &mut io::sink()).map_err(|e| BackupError::from_io(&e))?;
    drop(input);
    let (sha256, size) = source.finish()?;
    let summary = BackupSummary::new(&archive, manifest, sha256, size);
    Ok((archive, summary))
}

/// Names a failure to parse the decrypted document.
fn classify(err: serde_json::Error, state: ReadState, source: &HashingReader) -> BackupError {
    if let Some(failure) = state.failure {
        return failure;
    }
    if err.is_io() {
        // The disk failed, or age refused a chunk: cut short or altered.
        return source.failure().unwrap_or_else(|| BackupError::Corrupt {
            detail: "its encrypted data is truncated or altered".to_owned(),
        });
    }
    if state.is_posmate {
        BackupError::Corrupt {
            detail: format!(
                "its contents do not parse (line {}, column {})",
                err.line(),
                err.column()
            ),
        }
    } else {
        BackupError::NotABackup {
            detail: "it holds something other than a posmate backup".to_owned(),
        }
    }
}

/// Hashes and counts the file's bytes as they are read, and remembers a read failure so it
/// is reported as the disk's fault rather than as a damaged archive.
struct HashingReader {
    file: File,
    sha: Sha256,
    size: u64,
    failure: Option<io::Error>,
}

impl HashingReader {
    fn new(file: File) -> Self {
        HashingReader {
            file,
            sha: Sha256::new(),
            size: 0,
            failure: None,
        }
    }

    fn failure(&self) -> Option<BackupError> {
        self.failure.as_ref().map(BackupError::from_io)
    }

    fn finish(self) -> Result<([u8; 32], u64), BackupError> {
        match self.failure {
            Some(e) => Err(BackupError::from_io(&e)),
            None => Ok((self.sha.finalize().into(), self.size)),
        }
    }
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read(buf) {
            Ok(n) => {
                self.sha.update(&buf[..n]);
                self.size += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failure.get_or_insert(e);
                Err(copy)
            }
        }
    }
}
