//! The sandbox's durable state: the simulated acquirer's books and the answers kept per
//! `Idempotency-Key`, in one owner-only file of the data directory.
//!
//! Every call is answered only after its effect is on disk: [`Books::commit`] serializes the
//! state after each call and, when it differs from what the file holds, replaces the file
//! atomically and durably before the caller sends the answer. Reads can change the books
//! too (a status poll may end a review and issue keys; the clock may settle a timed one),
//! so the comparison, not the method, decides. If the write fails the state goes back to
//! what the file holds, so nothing is answered that a restart would not know.

use std::path::{Path, PathBuf};

use posmate_sim::acquirer::SimAcquirer;
use serde::{Deserialize, Serialize};

use crate::error::SandboxError;
use crate::idempotency::Answers;
use crate::private_file::{self, Access};

/// The books file in the data directory.
pub const BOOKS_FILE: &str = "books.json";
/// The format of the books file; a newer one is refused rather than misread.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    books: serde_json::Value,
    answers: Answers,
}

/// The acquirer and its answers, with the bytes last written to disk.
pub struct Books {
    pub acquirer: SimAcquirer,
    pub answers: Answers,
    path: PathBuf,
    on_disk: Vec<u8>,
}

impl Books {
    /// The books kept in `dir`, or new (empty) ones written there at once.
    pub fn open(dir: &Path) -> Result<Self, SandboxError> {
        let path = dir.join(BOOKS_FILE);
        match private_file::read(&path)? {
            Some(bytes) => {
                let (acquirer, answers) = parse(&path, &bytes)?;
                Ok(Books {
                    acquirer,
                    answers,
                    path,
                    on_disk: bytes,
                })
            }
            None => {
                let acquirer = SimAcquirer::new(rand::random());
                let mut books = Books {
                    acquirer,
                    answers: Answers::new(),
                    path,
                    on_disk: Vec::new(),
                };
                books.commit()?;
                Ok(books)
            }
        }
    }

    /// Writes the state if it changed since the last write; on failure the state is put
    /// back to the file's, and the error is to be answered instead of the call's result.
    pub fn commit(&mut self) -> Result<(), SandboxError> {
        let now = serde_json::to_vec(&SavedRef {
            format: FORMAT,
            books: &self.acquirer.save(),
            answers: &self.answers,
        })
        .expect("the books serialize");
        if now == self.on_disk {
            return Ok(());
        }
        match private_file::write_atomic(&self.path, &now, Access::Owner) {
            Ok(()) => {
                self.on_disk = now;
                Ok(())
            }
            Err(e) => {
                if !self.on_disk.is_empty() {
                    let (acquirer, answers) =
                        parse(&self.path, &self.on_disk).expect("the books last written parse");
                    self.acquirer = acquirer;
                    self.answers = answers;
                }
                Err(e)
            }
        }
    }
}

#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    books: &'a serde_json::Value,
    answers: &'a Answers,
}

fn parse(path: &Path, bytes: &[u8]) -> Result<(SimAcquirer, Answers), SandboxError> {
    let corrupt = |detail: String| SandboxError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let saved: Saved = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("not a books file (line {})", e.line())))?;
    if saved.format != FORMAT {
        return Err(corrupt(format!(
            "format {} (this sandbox reads {FORMAT})",
            saved.format
        )));
    }
    let acquirer = SimAcquirer::restore(saved.books).map_err(|e| {
        corrupt(format!(
            "the acquirer's books do not read back (line {})",
            e.line()
        ))
    })?;
    Ok((acquirer, saved.answers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn books_survive_a_reopen_and_are_written_only_when_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut books = Books::open(dir.path()).unwrap();
        books.acquirer.set_now(5);
        books.commit().unwrap();
        let file = dir.path().join(BOOKS_FILE);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let written = std::fs::metadata(&file).unwrap().modified().unwrap();
        books.commit().unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            written
        );
        books.acquirer.advance(7);
        books.commit().unwrap();
        let again = Books::open(dir.path()).unwrap();
        assert_eq!(again.acquirer.now_ms(), 12);
    }

    #[test]
    fn a_books_file_of_another_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(BOOKS_FILE), b"{\"format\": 9}").unwrap();
        let e = Books::open(dir.path()).err().unwrap();
        assert_eq!(e.code(), "sandbox-corrupt");
    }
}
