//! The sandbox's durable state: the simulated acquirer's books and the answers kept per
//! `Idempotency-Key`, kept in the data directory as a snapshot (`books.json`, owner-only)
//! and a journal of the calls since (`books.journal`, [`crate::journal`]).
//!
//! Every call is answered only after its effect is on disk. Writing the whole books after
//! each call made every request pay for serializing all of them (and the books grow with
//! every request id they remember), a file write and two fsyncs; so a call that may have
//! changed the books is appended to the journal instead, and one flush makes every call
//! appended meanwhile durable ([`crate::ledger`]). Replaying the journal over the snapshot
//! gives the same books: the books are deterministic, their random generator and clock
//! being part of them, and a call is replayed by the very code that first handled it
//! ([`Replay`]). The journal is folded into a new snapshot at start and every
//! [`COMPACT_AFTER`] calls.
//!
//! A call whose body carries a full card number (a typed card being bound) is never
//! journaled: the books keep only its masked number and keyed fingerprints, so it is made
//! durable by a new snapshot instead.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use posmate_acquirer_api::http::Method;
use posmate_sim::acquirer::SimAcquirer;
use serde::{Deserialize, Serialize};

use crate::error::SandboxError;
use crate::idempotency::Answers;
use crate::journal::Journal;
use crate::private_file::{self, Access};

/// The snapshot in the data directory.
pub const BOOKS_FILE: &str = "books.json";
/// The calls since the snapshot.
pub const JOURNAL_FILE: &str = "books.journal";
/// The format of the snapshot; a newer one is refused rather than misread. Format 1 had no
/// journal (its books cover sequence number 0).
const FORMAT: u32 = 2;
/// Journaled calls after which the journal is folded into a new snapshot: replaying this
/// many at start takes well under a second.
pub const COMPACT_AFTER: u64 = 10_000;

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    /// The last journaled call these books include.
    #[serde(default)]
    seq: u64,
    books: serde_json::Value,
    answers: Answers,
}

#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    seq: u64,
    books: &'a serde_json::Value,
    answers: &'a Answers,
}

/// Where a journaled call came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// The merchant API.
    Api,
    /// The admin surface (`path` after its prefix).
    Admin,
}

/// A call that may have changed the books, as the journal keeps it: what handling it again
/// needs, and nothing else (no credentials, no other headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub surface: Surface,
    pub method: Method,
    pub path: String,
    pub key: Option<String>,
    pub body: Vec<u8>,
}

/// A record's header; the body follows it after a newline (compact JSON has none).
#[derive(Serialize, Deserialize)]
struct Header {
    seq: u64,
    surface: Surface,
    method: Method,
    path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

/// Handles a journaled call again, exactly as the service did when it answered it.
pub type Replay = fn(&mut Books, &Call);

/// The acquirer and its answers, with the files that keep them.
pub struct Books {
    pub acquirer: SimAcquirer,
    pub answers: Answers,
    dir: PathBuf,
    journal: Journal,
    /// The last call applied to these books, and the last one the snapshot holds.
    seq: u64,
    snapshot_seq: u64,
    replay: Replay,
}

impl Books {
    /// The books kept in `dir` (new, empty ones if there are none), with the journal
    /// replayed and folded into a new snapshot.
    pub fn open(dir: &Path, replay: Replay) -> Result<Self, SandboxError> {
        let mut books = Books::load(dir, replay)?;
        books.snapshot()?;
        Ok(books)
    }

    /// The snapshot and the journal's intact records replayed over it.
    fn load(dir: &Path, replay: Replay) -> Result<Self, SandboxError> {
        let path = dir.join(BOOKS_FILE);
        let (acquirer, answers, seq) = match private_file::read(&path)? {
            Some(bytes) => parse(&path, &bytes)?,
            None => (SimAcquirer::new(rand::random()), Answers::new(), 0),
        };
        let journal_path = dir.join(JOURNAL_FILE);
        let (journal, records) = Journal::open(&journal_path)?;
        let mut books = Books {
            acquirer,
            answers,
            dir: dir.to_owned(),
            journal,
            seq,
            snapshot_seq: seq,
            replay,
        };
        for record in records {
            let (at, call) = decode(&record).ok_or_else(|| SandboxError::Corrupt {
                path: journal_path.clone(),
                detail: "a record is not a journaled call".into(),
            })?;
            if at <= books.seq {
                // Already in the snapshot: it was written, the journal not yet cut.
                continue;
            }
            if at != books.seq + 1 {
                return Err(SandboxError::Corrupt {
                    path: journal_path,
                    detail: format!("call {} follows call {}", at, books.seq),
                });
            }
            replay(&mut books, &call);
            books.seq = at;
        }
        Ok(books)
    }

    /// What a restart would find in `dir`: the snapshot with the journal's intact records
    /// replayed over it, as JSON, writing no new snapshot. The journal's sequence numbers
    /// are left out: they count calls journaled, and a repeat answered from its
    /// `Idempotency-Key` changes nothing and is not journaled.
    pub fn durable_state(dir: &Path, replay: Replay) -> Result<serde_json::Value, SandboxError> {
        let books = Books::load(dir, replay)?;
        Ok(serde_json::json!({
            "books": books.acquirer.save(),
            "answers": books.answers,
        }))
    }

    /// Appends `call` to the journal (durable once the journal's file is flushed) and
    /// returns its sequence number.
    pub fn append(&mut self, call: &Call) -> Result<u64, SandboxError> {
        self.journal.append(&encode(self.seq + 1, call))?;
        self.seq += 1;
        Ok(self.seq)
    }

    /// The last call applied.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Calls journaled since the snapshot.
    pub fn pending(&self) -> u64 {
        self.seq - self.snapshot_seq
    }

    /// The journal's length in bytes, and its file (to flush without holding the books).
    pub fn journal_len(&self) -> u64 {
        self.journal.len()
    }

    pub fn journal_file(&self) -> Arc<File> {
        self.journal.file()
    }

    /// Writes all the books as a new snapshot (atomically and durably), then empties the
    /// journal. Once the snapshot is written everything is durable, so a journal that
    /// cannot be cut is only reported: its records are in the snapshot and skipped when
    /// replayed.
    pub fn snapshot(&mut self) -> Result<(), SandboxError> {
        let bytes = serde_json::to_vec(&SavedRef {
            format: FORMAT,
            seq: self.seq,
            books: &self.acquirer.save(),
            answers: &self.answers,
        })
        .expect("the books serialize");
        private_file::write_atomic(&self.dir.join(BOOKS_FILE), &bytes, Access::Owner)?;
        self.snapshot_seq = self.seq;
        if let Err(e) = self.journal.truncate(0) {
            eprintln!("posmate-sandbox: {e} [{}]", e.code());
        }
        Ok(())
    }

    /// Back to what the disk holds: the journal cut to its first `journal_len` bytes (what
    /// was flushed), then snapshot and journal read again.
    pub fn reload(&mut self, journal_len: u64) -> Result<(), SandboxError> {
        self.journal.truncate(journal_len)?;
        *self = Books::load(&self.dir, self.replay)?;
        Ok(())
    }
}

fn encode(seq: u64, call: &Call) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(&Header {
        seq,
        surface: call.surface,
        method: call.method,
        path: call.path.clone(),
        key: call.key.clone(),
    })
    .expect("a header serializes");
    bytes.push(b'\n');
    bytes.extend_from_slice(&call.body);
    bytes
}

fn decode(record: &[u8]) -> Option<(u64, Call)> {
    let end = record.iter().position(|&b| b == b'\n')?;
    let header: Header = serde_json::from_slice(&record[..end]).ok()?;
    Some((
        header.seq,
        Call {
            surface: header.surface,
            method: header.method,
            path: header.path,
            key: header.key,
            body: record[end + 1..].to_vec(),
        },
    ))
}

fn parse(path: &Path, bytes: &[u8]) -> Result<(SimAcquirer, Answers, u64), SandboxError> {
    let corrupt = |detail: String| SandboxError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let saved: Saved = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("not a books file (line {})", e.line())))?;
    if !(1..=FORMAT).contains(&saved.format) {
        return Err(corrupt(format!(
            "format {} (this sandbox reads 1 to {FORMAT})",
            saved.format
        )));
    }
    let acquirer = SimAcquirer::restore(saved.books).map_err(|e| {
        corrupt(format!(
            "the acquirer's books do not read back (line {})",
            e.line()
        ))
    })?;
    Ok((acquirer, saved.answers, saved.seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A replay for these tests: the body says how far to move the acquirer's clock.
    fn advance(books: &mut Books, call: &Call) {
        let ms: u64 = std::str::from_utf8(&call.body).unwrap().parse().unwrap();
        books.acquirer.advance(ms);
    }

    fn clock(ms: u64) -> Call {
        Call {
            surface: Surface::Admin,
            method: Method::Post,
            path: "clock".into(),
            key: None,
            body: ms.to_string().into_bytes(),
        }
    }

    #[test]
    fn books_survive_a_reopen_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut books = Books::open(dir.path(), advance).unwrap();
        books.acquirer.set_now(5);
        books.snapshot().unwrap();
        for name in [BOOKS_FILE, JOURNAL_FILE] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        books.acquirer.advance(7);
        books.snapshot().unwrap();
        let again = Books::open(dir.path(), advance).unwrap();
        assert_eq!(again.acquirer.now_ms(), 12);
    }

    #[test]
    fn journaled_calls_are_replayed_in_order_then_folded_into_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut books = Books::open(dir.path(), advance).unwrap();
        let start = books.acquirer.now_ms();
        for (i, ms) in [3u64, 4, 5].into_iter().enumerate() {
            advance(&mut books, &clock(ms));
            assert_eq!(books.append(&clock(ms)).unwrap(), i as u64 + 1);
        }
        assert_eq!(books.pending(), 3);
        let snapshot = std::fs::read(dir.path().join(BOOKS_FILE)).unwrap();
        drop(books);

        let again = Books::open(dir.path(), advance).unwrap();
        assert_eq!(again.acquirer.now_ms(), start + 12);
        assert_eq!(
            (again.seq(), again.pending(), again.journal_len()),
            (3, 0, 0)
        );
        drop(again);

        // A crash after the snapshot was written but before the journal was cut: the
        // records it already holds are not applied twice.
        let folded = std::fs::read(dir.path().join(BOOKS_FILE)).unwrap();
        std::fs::write(dir.path().join(BOOKS_FILE), &snapshot).unwrap();
        let mut books = Books::load(dir.path(), advance).unwrap();
        for ms in [3u64, 4, 5] {
            books.append(&clock(ms)).unwrap();
        }
        drop(books);
        std::fs::write(dir.path().join(BOOKS_FILE), &folded).unwrap();
        let again = Books::open(dir.path(), advance).unwrap();
        assert_eq!(again.acquirer.now_ms(), start + 12);
        assert_eq!(again.seq(), 3);
    }

    #[test]
    fn a_torn_last_record_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let mut books = Books::open(dir.path(), advance).unwrap();
        let start = books.acquirer.now_ms();
        books.append(&clock(10)).unwrap();
        books.append(&clock(20)).unwrap();
        drop(books);
        // The second record was cut short by a crash mid-write (it was never flushed, so
        // never answered).
        let path = dir.path().join(JOURNAL_FILE);
        let len = std::fs::metadata(&path).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 3).unwrap();
        drop(file);
        let mut books = Books::open(dir.path(), advance).unwrap();
        assert_eq!(books.acquirer.now_ms(), start + 10);
        assert_eq!(books.seq(), 1);
        // Numbering goes on after the last intact call.
        assert_eq!(books.append(&clock(1)).unwrap(), 2);
    }

    #[test]
    fn reload_goes_back_to_what_was_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let mut books = Books::open(dir.path(), advance).unwrap();
        let start = books.acquirer.now_ms();
        advance(&mut books, &clock(10));
        books.append(&clock(10)).unwrap();
        let flushed = books.journal_len();
        advance(&mut books, &clock(20));
        books.append(&clock(20)).unwrap();
        books.reload(flushed).unwrap();
        assert_eq!(books.acquirer.now_ms(), start + 10);
        assert_eq!((books.seq(), books.journal_len()), (1, flushed));
    }

    #[test]
    fn a_books_file_of_another_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(BOOKS_FILE), b"{\"format\": 9}").unwrap();
        let e = Books::open(dir.path(), advance).err().unwrap();
        assert_eq!(e.code(), "sandbox-corrupt");
    }
}
