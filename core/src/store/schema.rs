//! The schema and its migrations, versioned by SQLite's `user_version`.
//!
//! Migration *n* (1-based) takes the database from version n−1 to n in one transaction, so a
//! crash leaves the previous version intact. A database with a higher version than this
//! build knows was written by a newer posmate: it is refused before anything is changed
//! (opening it would silently ignore columns and tables the newer version relies on).
//! Migrations are append-only: never edit one that has shipped.
//!
//! Index design (see `benches/store.rs` for the numbers): `records` is a WITHOUT ROWID table
//! keyed by (sn, epoch, seq), which is also the uniqueness guard against double inserts.
//! History pages are served newest-first straight from an index whose order matches the
//! keyset (at_ms, sn, seq), one per leading filter (none, terminal, merchant), so a page
//! reads ~limit index entries however large the table is. Batch totals read one batch
//! through `records_by_batch`.

use rusqlite::{Connection, TransactionBehavior};

use super::error::StoreError;

const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this build writes and understands.
pub(crate) const SUPPORTED: u32 = MIGRATIONS.len() as u32;

const V1: &str = r#"
CREATE TABLE terminals (
    sn              TEXT PRIMARY KEY NOT NULL,
    peripheral_id   TEXT,
    model           TEXT NOT NULL,
    firmware        TEXT NOT NULL,
    device_key      BLOB NOT NULL CHECK (length(device_key) = 32),
    state           TEXT NOT NULL,
    merchant_no     TEXT,
    terminal_no     TEXT,
    activated_at_ms INTEGER,
    replaced_by     TEXT,
    updated_at_ms   INTEGER NOT NULL
);

CREATE TABLE sync_cursors (
    sn       TEXT PRIMARY KEY NOT NULL,
    epoch    BLOB NOT NULL CHECK (length(epoch) = 16),
    last_seq INTEGER NOT NULL
);

-- kind and status hold the protocol's codes (protocol.md §6, message.rs).
CREATE TABLE records (
    sn           TEXT NOT NULL,
    epoch        BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    origin_sn    TEXT NOT NULL,
    merchant_no  TEXT,
    batch_no     INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency     INTEGER NOT NULL,
    at_ms        INTEGER NOT NULL,
    masked_pan   TEXT NOT NULL,
    auth_code    TEXT NOT NULL,
    rrn          TEXT NOT NULL,
    status       INTEGER NOT NULL,
    orig_seq     INTEGER,
    PRIMARY KEY (sn, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX records_by_time ON records (at_ms, sn, seq);
CREATE INDEX records_by_terminal ON records (sn, at_ms, seq);
CREATE INDEX records_by_merchant ON records (merchant_no, at_ms, sn, seq);
CREATE INDEX records_by_batch ON records (sn, epoch, batch_no);

CREATE TABLE settlements (
    sn                   TEXT NOT NULL,
    epoch                BLOB NOT NULL,
    batch_no             INTEGER NOT NULL,
    first_seq            INTEGER NOT NULL,
    last_seq             INTEGER NOT NULL,
    terminal_sale_count  INTEGER NOT NULL,
    terminal_sale_minor  INTEGER NOT NULL,
    terminal_refund_count INTEGER NOT NULL,
    terminal_refund_minor INTEGER NOT NULL,
    terminal_void_count  INTEGER NOT NULL,
    terminal_void_minor  INTEGER NOT NULL,
    phone_sale_count     INTEGER NOT NULL,
    phone_sale_minor     INTEGER NOT NULL,
    phone_refund_count   INTEGER NOT NULL,
    phone_refund_minor   INTEGER NOT NULL,
    phone_void_count     INTEGER NOT NULL,
    phone_void_minor     INTEGER NOT NULL,
    matched              INTEGER NOT NULL,
    settled_at_ms        INTEGER NOT NULL,
    PRIMARY KEY (sn, epoch, batch_no)
);

CREATE TABLE cards (
    binding_id  TEXT PRIMARY KEY NOT NULL,
    merchant_no TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    masked_pan  TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    source      TEXT NOT NULL,
    bound_at_ms INTEGER NOT NULL
);
CREATE INDEX cards_by_merchant ON cards (merchant_no, bound_at_ms);

-- inputs and detail hold canonical JSON; the hash covers exactly that text.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY NOT NULL,
    at_ms     INTEGER NOT NULL,
    action    TEXT NOT NULL,
    sn        TEXT,
    inputs    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TABLE flows (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    sn            TEXT,
    step          TEXT NOT NULL,
    state         TEXT NOT NULL,
    status        TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    error         TEXT
);
CREATE INDEX flows_by_status ON flows (status, started_at_ms);
CREATE INDEX flows_by_terminal ON flows (sn, started_at_ms);

CREATE TABLE backups (
    id             TEXT PRIMARY KEY NOT NULL,
    path           TEXT NOT NULL,
    sha256         BLOB NOT NULL CHECK (length(sha256) = 32),
    created_at_ms  INTEGER NOT NULL,
    verified_at_ms INTEGER,
    records        INTEGER NOT NULL,
    sn             TEXT
);
"#;

/// Fleet runs (`core::fleet`): one journal row per (run, terminal) so a re-run of the same
/// source skips what is done and resumes what was running; and when each terminal's
/// journal was last synced, for the fleet's status.
const V2: &str = r#"
CREATE TABLE fleet_rows (
    run_id        TEXT NOT NULL,
    sn            TEXT NOT NULL,
    line          INTEGER NOT NULL,
    state         TEXT NOT NULL,
    flow_id       TEXT,
    error_code    TEXT,
    reason        TEXT,
    next_step     TEXT,
    result        TEXT,
    attempts      INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, sn)
) WITHOUT ROWID;

CREATE TABLE sync_times (
    sn            TEXT PRIMARY KEY NOT NULL,
    synced_at_ms  INTEGER NOT NULL
);
"#;

/// The device key each terminal first showed the phone, kept when the terminal is
/// forgotten: a factory device key never changes, so a different one under the same SN is an
/// impostor, whatever row comes and goes (`store::device_keys`). Learnt from the rows there
/// are.
const V3: &str = r#"
CREATE TABLE device_keys (
    sn            TEXT PRIMARY KEY NOT NULL,
    device_key    BLOB NOT NULL CHECK (length(device_key) = 32),
    learnt_at_ms  INTEGER NOT NULL
);

INSERT INTO device_keys (sn, device_key, learnt_at_ms)
    SELECT sn, device_key, updated_at_ms FROM terminals;
"#;

/// The database's schema version.
pub(crate) fn version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    u32::try_from(v).map_err(|_| StoreError::bad_value("schema version", v))
}

/// Brings the database up to [`SUPPORTED`], or refuses a newer one without touching it.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > SUPPORTED {
        return Err(StoreError::NewerSchema {
            found,
            supported: SUPPORTED,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let target = index as u32 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while this one waited for the write lock.
        if version(&tx)? >= target {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
    }
    Ok(())
}
