//! The books shared by every connection, and when an answer may leave: only once what its
//! call did, and everything the call could have seen, is on disk.
//!
//! Calls are applied to the books one at a time under one lock, as before; what changed is
//! the wait for the disk. A call that may have changed the books appends itself to the
//! journal under the lock, and then waits, without the lock, for a flush that covers it
//! (group commit): the first waiter to find no flush running flushes the journal up to the
//! last record appended and wakes every call that flush covered, while further calls are
//! applied and appended meanwhile for the next one. So one `fdatasync` makes a whole batch
//! of concurrent calls durable, and the batch grows with the load. A call that changed
//! nothing (an answer replayed for its `Idempotency-Key`) still waits for what it may have
//! seen.
//!
//! If a write or flush fails, nothing after the last good flush can be trusted: the books
//! go back to what the disk holds (the journal cut there, then read again), and every call
//! not covered by that flush is answered with a retryable 503, so nothing is answered that
//! a restart would not know.

use std::sync::{Condvar, Mutex, MutexGuard};

use posmate_acquirer_api::http::HttpResponse;

use crate::books::{Books, Call, COMPACT_AFTER};
use crate::problems;

/// How a call's effect reaches the disk.
pub enum Change {
    /// It changed nothing.
    None,
    /// Appended to the journal.
    Journal(Call),
    /// In a new snapshot of all the books: for a call that must not be journaled (its body
    /// carries a full card number).
    Snapshot,
}

/// The books and their durability.
pub struct Ledger {
    state: Mutex<State>,
    flushed: Condvar,
}

struct State {
    books: Books,
    /// The last call on disk, and the journal's length up to it.
    durable: u64,
    durable_len: u64,
    /// A flush is running (without the lock).
    flushing: bool,
    /// Snapshots written so far.
    snapshots: u64,
    /// Failures so far; `lost_after[g]` is the last durable call when failure `g` happened:
    /// calls applied before it and numbered above it were lost.
    generation: usize,
    lost_after: Vec<u64>,
    /// The books could not be read back after a failure: every call is refused until a
    /// restart, rather than answered from books the disk does not hold.
    broken: bool,
}

impl Ledger {
    pub fn new(books: Books) -> Self {
        let durable = books.seq();
        let durable_len = books.journal_len();
        Ledger {
            state: Mutex::new(State {
                books,
                durable,
                durable_len,
                flushing: false,
                snapshots: 0,
                generation: 0,
                lost_after: Vec::new(),
                broken: false,
            }),
            flushed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => {
                // A call panicked under the lock: its change may be half made in memory.
                self.state.clear_poison();
                let mut state = poisoned.into_inner();
                self.fail(&mut state, &"a call panicked while changing the books");
                state
            }
        }
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.flushed.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `call` on the books, and returns its answer once its effect is durable, or a
    /// retryable 503 if the disk failed (the books are then as the disk holds them).
    pub fn run(&self, call: impl FnOnce(&mut Books) -> (HttpResponse, Change)) -> HttpResponse {
        let mut state = self.lock();
        if state.broken {
            return problems::unavailable();
        }
        let (response, change) = call(&mut state.books);
        let generation = state.generation;
        let seq = match change {
            Change::None => state.books.seq(),
            Change::Journal(call) => match state.books.append(&call) {
                Ok(seq) => seq,
                Err(e) => {
                    self.fail(&mut state, &e);
                    return problems::unavailable();
                }
            },
            Change::Snapshot => {
                let after = state.snapshots;
                let covered = self.snapshot(state, generation, |s| s.snapshots > after);
                return if covered {
                    response
                } else {
                    problems::unavailable()
                };
            }
        };
        if state.books.pending() >= COMPACT_AFTER {
            let covered = self.snapshot(state, generation, |s| s.durable >= seq);
            return if covered {
                response
            } else {
                problems::unavailable()
            };
        }
        loop {
            if state.generation != generation {
                return if seq <= state.lost_after[generation] {
                    response
                } else {
                    problems::unavailable()
                };
            }
            if state.durable >= seq {
                return response;
            }
            if state.flushing {
                state = self.wait(state);
                continue;
            }
            // Lead a flush of everything appended so far.
            state.flushing = true;
            let (target, len) = (state.books.seq(), state.books.journal_len());
            let file = state.books.journal_file();
            drop(state);
            let flushed = file.sync_data();
            state = self.lock();
            state.flushing = false;
            match flushed {
                Ok(()) => {
                    state.durable = target;
                    state.durable_len = len;
                }
                Err(e) => self.fail(&mut state, &format!("cannot flush the journal: {e}")),
            }
            self.flushed.notify_all();
        }
    }

    /// Writes a snapshot of all the books once no flush is running, unless what the call of
    /// `generation` that asked needs is `covered` by then (calls that found the journal
    /// long while one snapshot was waiting need no snapshot each); whether that call is
    /// durable.
    fn snapshot(
        &self,
        mut state: MutexGuard<'_, State>,
        generation: usize,
        covered: impl Fn(&State) -> bool,
    ) -> bool {
        while state.flushing {
            state = self.wait(state);
        }
        if state.generation != generation {
            // A failed write meanwhile put the books back as on disk, without this call.
            return false;
        }
        if covered(&state) {
            return true;
        }
        let written = state.books.snapshot();
        let ok = match written {
            Ok(()) => {
                state.durable = state.books.seq();
                state.durable_len = state.books.journal_len();
                state.snapshots += 1;
                true
            }
            Err(e) => {
                self.fail(&mut state, &e);
                false
            }
        };
        self.flushed.notify_all();
        ok
    }

    /// After a failed write or flush: back to the disk's books, and every call not yet
    /// durable is to be refused.
    fn fail(&self, state: &mut State, error: &dyn std::fmt::Display) {
        eprintln!("posmate-sandbox: {error}; the books go back to what the disk holds");
        state.lost_after.push(state.durable);
        state.generation += 1;
        let durable_len = state.durable_len;
        match state.books.reload(durable_len) {
            Ok(()) => {
                state.durable = state.books.seq();
                state.durable_len = state.books.journal_len();
            }
            Err(e) => {
                eprintln!(
                    "posmate-sandbox: {e} [{}]; answering 503 until restarted",
                    e.code()
                );
                state.broken = true;
            }
        }
        self.flushed.notify_all();
    }
}
