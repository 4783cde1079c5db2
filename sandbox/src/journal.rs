//! The books' append-only journal: one record per call that may have changed the books,
//! appended before the call is answered and made durable by one `fdatasync` shared by every
//! call waiting at the time (group commit, in [`crate::books`]). Rewriting the whole books
//! file for every call cost a full serialization, write and two fsyncs per request; a
//! journal record is a few hundred bytes and its flush is shared.
//!
//! A record is framed as `length (u32 LE) · CRC-32C of length and payload (u32 LE) ·
//! payload`. A crash can leave the last records half written, written without the pages
//! before them, or the file longer with zeros where they were to go (the CRC covers the
//! length so that zeros never read as a record): such records were never flushed, so never
//! answered. Opening reads records up to
//! the first that is cut short or fails its CRC and cuts the file there (a torn tail).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crc::{Crc, CRC_32_ISCSI};

use crate::error::SandboxError;

const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);
/// Length and CRC.
const HEADER: usize = 8;
/// No record is larger: a call's body is at most `MAX_BODY` (64 KiB). A length above it
/// is a torn or damaged header, not a record.
const MAX_RECORD: usize = 1 << 20;

/// The journal file, open for appending.
pub struct Journal {
    path: PathBuf,
    file: Arc<File>,
    /// Bytes in the file: where the next record goes.
    len: u64,
}

impl Journal {
    /// Opens (or creates, owner-only) the journal at `path`: the payloads of its intact
    /// records in order, with any torn tail cut off.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Vec<u8>>), SandboxError> {
        let fail = |what, e| SandboxError::io(what, path, e);
        let created = !path.exists();
        // Appending: after a torn tail is cut, writes go on from the new end, not from where
        // reading stopped (which would leave a hole of zeros).
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| fail("cannot open", e))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail("cannot restrict", e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| fail("cannot read", e))?;
        let (payloads, intact) = records(&bytes);
        let mut journal = Journal {
            path: path.to_owned(),
            file: Arc::new(file),
            len: bytes.len() as u64,
        };
        if intact < bytes.len() {
            journal.truncate(intact as u64)?;
        }
        if created {
            let dir = path.parent().unwrap_or(Path::new("."));
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| fail("cannot flush the directory of", e))?;
        }
        Ok((journal, payloads))
    }

    /// Appends one record (not yet durable: see [`Self::file`]).
    pub fn append(&mut self, payload: &[u8]) -> Result<(), SandboxError> {
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        let len = (payload.len() as u32).to_le_bytes();
        frame.extend_from_slice(&len);
        frame.extend_from_slice(&checksum(len, payload).to_le_bytes());
        frame.extend_from_slice(payload);
        (&*self.file)
            .write_all(&frame)
            .map_err(|e| SandboxError::io("cannot write", &self.path, e))?;
        self.len += frame.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The file, for `sync_data` without holding whoever owns the journal.
    pub fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Cuts the file to `len` bytes, durably: a snapshot now holds everything before, or
    /// what follows was never flushed.
    pub fn truncate(&mut self, len: u64) -> Result<(), SandboxError> {
        self.file
            .set_len(len)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| SandboxError::io("cannot truncate", &self.path, e))?;
        self.len = len;
        Ok(())
    }
}

fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut digest = CRC.digest();
    digest.update(&len);
    digest.update(payload);
    digest.finalize()
}

/// The payloads of the intact records at the start of `bytes`, and where they end.
fn records(bytes: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut payloads = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            break;
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if checksum(header[..4].try_into().expect("4 bytes"), payload) != crc {
            break;
        }
        payloads.push(payload.to_vec());
        at += HEADER + len;
    }
    (payloads, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("books.journal");
        let (mut journal, none) = Journal::open(&path).unwrap();
        assert!(none.is_empty());
        journal.append(b"one").unwrap();
        journal.append(b"").unwrap();
        journal.append(b"three").unwrap();
        let whole = journal.len();
        drop(journal);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        // Every cut inside the last record (a crash mid-write) keeps the first two.
        let bytes = std::fs::read(&path).unwrap();
        for cut in (whole as usize - 5 - HEADER)..whole as usize {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let (journal, payloads) = Journal::open(&path).unwrap();
            assert_eq!(payloads, [b"one".to_vec(), Vec::new()], "cut at {cut}");
            assert_eq!(journal.len(), (2 * HEADER + 3) as u64);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), journal.len());
        }

        // A record whose bytes did not all reach the disk fails its CRC: it and everything
        // after it are dropped, and appending goes on from there.
        let mut damaged = bytes.clone();
        damaged[HEADER + 3 + 4] ^= 0xff; // the second record's CRC
        std::fs::write(&path, &damaged).unwrap();
        let (mut journal, payloads) = Journal::open(&path).unwrap();
        assert_eq!(payloads, [b"one".to_vec()]);
        journal.append(b"four").unwrap();
        drop(journal);
        let (_, payloads) = Journal::open(&path).unwrap();
        assert_eq!(payloads, [b"one".to_vec(), b"four".to_vec()]);

        // Zeros where records were to go (the size reached the disk, the data did not), or
        // a length no record has, end the journal too.
        for tail in [[0x00; 12], [0xff; 12]] {
            let mut torn = bytes[..HEADER + 3].to_vec();
            torn.extend_from_slice(&tail);
            std::fs::write(&path, &torn).unwrap();
            let (_, payloads) = Journal::open(&path).unwrap();
            assert_eq!(payloads, [b"one".to_vec()], "{tail:?}");
        }
    }
}
