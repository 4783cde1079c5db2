//! The store's performance targets (issue 3), measured on real SQLCipher files:
//! (a) `append_records` costs at most 2× a bare prepared INSERT loop into an identical table
//!     (same columns, key and indexes) of the same database, both in one transaction;
//! (b) a history page (limit 50) over 1,000,000 records takes < 5 ms, with and without a
//!     date filter;
//! (c) opening a store of 1,000,000 records takes < 50 ms;
//! (d) no target, a cost to watch: what page encryption (SQLCipher with posmate's Rust
//!     provider, core/src/store/cipher.rs) adds to a full scan of those records, against
//!     the same scan of a plaintext copy of the file.
//! Each line states its target and PASS or MISS; (b) and (c) also print a reference measured
//! in the same run on a raw connection to the same file (the same statement, a bare keyed
//! open), so a MISS can be told apart from a slow machine.
//!
//! Run with `cargo bench -p posmate-core --bench store`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use posmate_core::keystore::{KeyringStore, KeystoreChoice, Namespace, SecretStore};
use posmate_core::store::{HistoryQuery, Store, StoreOptions, DB_FILE};
use posmate_proto::message::{Record, RecordKind, RecordStatus};
use posmate_proto::pan::MaskedPan;
use rusqlite::{params, Connection};

const EPOCH: [u8; 16] = [0xE1; 16];
const APPEND_RECORDS: u64 = 10_000;
const APPEND_PAGE: usize = 60;
const APPEND_ROUNDS: usize = 9;
const BIG: u64 = 1_000_000;
const TERMINALS: u64 = 4;
const BUILD_CHUNK: u64 = 5_000;
const BUILD_PAGE: usize = 1_000;
const HISTORY_RUNS: usize = 300;
const OPEN_RUNS: usize = 15;
/// 2024-01-01T00:00:00Z; one record per minute across the terminals.
const T0: u64 = 1_704_067_200_000;
const MINUTE: u64 = 60_000;

fn main() {
    println!("store benchmark: SQLCipher 4 (raw 256-bit key), WAL, synchronous=FULL");
    append_ratio();
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets = keystore("bench-store-big");
    build(dir.path(), &secrets);
    history(dir.path(), &secrets);
    open_time(dir.path(), &secrets);
    cipher_cost(dir.path(), &secrets);
}

fn keystore(label: &str) -> KeyringStore {
    KeyringStore::open(
        KeystoreChoice::Mock,
        Namespace::new(label).expect("namespace"),
    )
    .expect("mock keystore")
}

fn options() -> StoreOptions {
    StoreOptions {
        allow_volatile_key: true,
        max_pages: None,
    }
}

/// A second connection to the store's file, keyed and configured like the store's own.
fn raw_connection(dir: &Path, secrets: &KeyringStore) -> Connection {
    let key = secrets.get("db-key").expect("keystore").expect("db key");
    let hex: String = key.expose().iter().map(|b| format!("{b:02x}")).collect();
    let conn = Connection::open(dir.join(DB_FILE)).expect("open");
    conn.execute_batch(&format!(
        "PRAGMA cipher_log_level = NONE; PRAGMA key = \"x'{hex}'\";
         PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;"
    ))
    .expect("key");
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .expect("keyed read");
    conn
}

fn record(seq: u64, at_ms: u64) -> Record {
    let kinds = [
        RecordKind::Sale,
        RecordKind::Sale,
        RecordKind::Sale,
        RecordKind::Refund,
        RecordKind::PreAuth,
        RecordKind::PreAuthCompletion,
        RecordKind::Void,
    ];
    Record {
        seq,
        batch_no: 1 + (seq / 500) as u32,
        kind: kinds[seq as usize % kinds.len()],
        amount_minor: 100 + (seq * 7919) % 100_000,
        currency: 978,
        at_ms,
        masked_pan: MaskedPan::parse("411111******1111").expect("masked"),
        auth_code: format!("{:06}", seq % 1_000_000),
        rrn: format!("{:012}", seq * 31),
        status: if seq.is_multiple_of(17) {
            RecordStatus::Declined
        } else {
            RecordStatus::Approved
        },
        orig_seq: None,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// (a) append_records against a bare prepared INSERT loop on the same database.
fn append_ratio() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets = keystore("bench-store-append");
    let store = Store::open(dir.path(), &secrets, &options()).expect("open store");
    let raw = raw_connection(dir.path(), &secrets);
    // The identical table: the schema's own DDL for `records` and its indexes, renamed.
    let ddl: Vec<String> = raw
        .prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'records' AND sql IS NOT NULL")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("schema");
    for sql in &ddl {
        raw.execute_batch(&sql.replace("records", "bare_records"))
            .expect("bare table");
    }

    let journal: Vec<Record> = (1..=APPEND_RECORDS)
        .map(|seq| record(seq, T0 + seq * MINUTE))
        .collect();
    // The bare loop binds values prepared beforehand: nothing but the INSERT is timed.
    type Row = (u64, u32, u8, u64, u16, u64, String, String, String, u8);
    let rows: Vec<Row> = journal
        .iter()
        .map(|r| {
            (
                r.seq,
                r.batch_no,
                r.seq as u8 % 6,
                r.amount_minor,
                r.currency,
                r.at_ms,
                r.masked_pan.as_str().to_string(),
                r.auth_code.clone(),
                r.rrn.clone(),
                0,
            )
        })
        .collect();

    let run_ours = |sn: &str| {
        let start = Instant::now();
        store
            .write(|tx| {
                for page in journal.chunks(APPEND_PAGE) {
                    tx.append_records(sn, Some("M1"), EPOCH, page)?;
                }
                Ok(())
            })
            .expect("append_records");
        start.elapsed()
    };
    let run_bare = |sn: &str| {
        let start = Instant::now();
        let tx = raw.unchecked_transaction().expect("begin");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO bare_records (sn, epoch, seq, origin_sn, merchant_no, \
                     batch_no, kind, amount_minor, currency, at_ms, masked_pan, auth_code, \
                     rrn, status, orig_seq) \
                     VALUES (?1, ?2, ?3, ?1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, NULL)",
                )
                .expect("prepare");
            for r in &rows {
                insert
                    .execute(params![
                        sn,
                        &EPOCH[..],
                        r.0,
                        "M1",
                        r.1,
                        r.2,
                        r.3,
                        r.4,
                        r.5,
                        r.6,
                        r.7,
                        r.8,
                        r.9
                    ])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
        start.elapsed()
    };
    // Alternating which goes first cancels checkpoint and cache effects of the order.
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for round in 0..APPEND_ROUNDS {
        let sn = format!("BENCH{round:03}");
        if round % 2 == 0 {
            ours.push(run_ours(&sn));
            bare.push(run_bare(&sn));
        } else {
            bare.push(run_bare(&sn));
            ours.push(run_ours(&sn));
        }
    }
    let (ours, bare) = (median(ours), median(bare));
    let ratio = ours.as_secs_f64() / bare.as_secs_f64();
    println!(
        "(a) append_records, {APPEND_RECORDS} records in pages of {APPEND_PAGE}: {:.1} ms; \
         bare prepared INSERT loop, identical table: {:.1} ms; ratio {ratio:.2} \
         (target <= 2.0): {}",
        ms(ours),
        ms(bare),
        verdict(ratio <= 2.0)
    );
}

/// Fills the store with BIG records from TERMINALS terminals, one record a minute, synced in
/// time order as the phone would.
fn build(dir: &Path, secrets: &KeyringStore) {
    let store = Store::open(dir, secrets, &options()).expect("open store");
    let start = Instant::now();
    let per_terminal = BIG / TERMINALS;
    let mut from = 1;
    while from <= per_terminal {
        let to = (from + BUILD_CHUNK - 1).min(per_terminal);
        store
            .write(|tx| {
                for t in 0..TERMINALS {
                    let sn = format!("SN{t}");
                    let merchant = if t == 3 { "M2" } else { "M1" };
                    let page: Vec<Record> = (from..=to)
                        .map(|seq| record(seq, T0 + ((seq - 1) * TERMINALS + t) * MINUTE))
                        .collect();
                    for chunk in page.chunks(BUILD_PAGE) {
                        tx.append_records(&sn, Some(merchant), EPOCH, chunk)?;
                    }
                }
                Ok(())
            })
            .expect("build");
        from = to + 1;
    }
    let built = start.elapsed();
    let count = store
        .read(|tx| tx.record_count(None))
        .expect("record count");
    store.compact().expect("compact");
    let size = std::fs::metadata(dir.join(DB_FILE)).map_or(0, |m| m.len());
    println!(
        "(b) built {count} records in {:.1} s ({:.0} MB on disk)",
        built.as_secs_f64(),
        size as f64 / 1e6
    );
}

/// (b) history pages over the big store, with the same statement on a raw connection as
/// the reference.
fn history(dir: &Path, secrets: &KeyringStore) {
    let store = Store::open(dir, secrets, &options()).expect("open store");
    let raw = raw_connection(dir, secrets);
    let span = BIG * MINUTE;
    let middle = T0 + span / 2;
    let week = 7 * 24 * 60 * MINUTE;
    let deep = store
        .read(|tx| {
            tx.history(&HistoryQuery {
                to_ms: Some(middle),
                limit: 1,
                ..Default::default()
            })
        })
        .expect("history")
        .next;
    let cases = [
        ("no filter", HistoryQuery::default(), true),
        (
            "date filter (one week mid-history)",
            HistoryQuery {
                from_ms: Some(middle),
                to_ms: Some(middle + week),
                ..Default::default()
            },
            true,
        ),
        (
            "no filter, keyset page from the middle",
            HistoryQuery {
                after: deep,
                ..Default::default()
            },
            true,
        ),
        (
            "terminal + date filter",
            HistoryQuery {
                sn: Some("SN2".into()),
                from_ms: Some(middle),
                to_ms: Some(middle + week),
                ..Default::default()
            },
            false,
        ),
        (
            "merchant + kinds filter",
            HistoryQuery {
                merchant_no: Some("M2".into()),
                kinds: vec![RecordKind::Refund, RecordKind::Void],
                ..Default::default()
            },
            false,
        ),
    ];
    for (what, query, target) in cases {
        let mut samples = Vec::with_capacity(HISTORY_RUNS);
        let mut returned = 0;
        for _ in 0..HISTORY_RUNS {
            let start = Instant::now();
            let page = store.read(|tx| tx.history(&query)).expect("history");
            samples.push(start.elapsed());
            returned = page.records.len();
            black_box(page);
        }
        let ours = median(samples);
        let reference = median(
            (0..HISTORY_RUNS)
                .map(|_| {
                    let start = Instant::now();
                    raw_history(&raw, &query);
                    start.elapsed()
                })
                .collect(),
        );
        let tail = if target {
            format!(" (target < 5 ms): {}", verdict(ms(ours) < 5.0))
        } else {
            String::new()
        };
        println!(
            "(b) history page, limit 50, {what}: {returned} records, median {:.3} ms; \
             raw statement {:.3} ms{tail}",
            ms(ours),
            ms(reference)
        );
    }
}

/// The statement `history` runs for these filters, on a plain connection: the floor.
fn raw_history(conn: &Connection, q: &HistoryQuery) {
    let mut sql = String::from(
        "SELECT sn, origin_sn, epoch, merchant_no, seq, batch_no, kind, amount_minor, \
         currency, at_ms, masked_pan, auth_code, rrn, status, orig_seq FROM records WHERE 1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut push = |clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    use rusqlite::types::Value::{Integer, Text};
    if let Some(sn) = &q.sn {
        push(" AND sn = ?", Text(sn.clone()));
    }
    if let Some(m) = &q.merchant_no {
        push(" AND merchant_no = ?", Text(m.clone()));
    }
    if let Some(f) = q.from_ms {
        push(" AND at_ms >= ?", Integer(f as i64));
    }
    if let Some(t) = q.to_ms {
        push(" AND at_ms < ?", Integer(t as i64));
    }
    if !q.kinds.is_empty() {
        // Refund = 1, Void = 5 (the only kinds the bench filters on).
        push(" AND kind IN (1, 5) AND ? = 1", Integer(1));
    }
    if let Some(a) = &q.after {
        push(" AND at_ms <= ?", Integer(a.at_ms as i64));
        let n = args.len();
        args.push(Text(a.sn.clone()));
        args.push(Integer(a.seq as i64));
        sql.push_str(&format!(
            " AND (at_ms, sn, seq) < (?{n}, ?{}, ?{})",
            n + 1,
            n + 2
        ));
    }
    sql.push_str(" ORDER BY at_ms DESC, sn DESC, seq DESC LIMIT 51");
    let mut stmt = conn.prepare_cached(&sql).expect("prepare");
    let mut rows = stmt.query(rusqlite::params_from_iter(args)).expect("query");
    while let Some(row) = rows.next().expect("row") {
        black_box(row.get::<_, String>(10).expect("column"));
    }
}

/// (c) opening the big store, against a bare keyed open of the same file.
fn open_time(dir: &Path, secrets: &KeyringStore) {
    let mut samples = Vec::with_capacity(OPEN_RUNS);
    for _ in 0..OPEN_RUNS {
        let start = Instant::now();
        let store = Store::open(dir, secrets, &options()).expect("open store");
        samples.push(start.elapsed());
        drop(store);
    }
    let ours = median(samples);
    let reference = median(
        (0..OPEN_RUNS)
            .map(|_| {
                let start = Instant::now();
                let conn = raw_connection(dir, secrets);
                let elapsed = start.elapsed();
                drop(conn);
                elapsed
            })
            .collect(),
    );
    println!(
        "(c) open a store of {BIG} records: median {:.2} ms; bare keyed open {:.2} ms \
         (target < 50 ms): {}",
        ms(ours),
        ms(reference),
        verdict(ms(ours) < 50.0)
    );
}

/// (d) a full scan of the big store's records table, read through SQLCipher (AES-256-CBC and
/// HMAC-SHA512 per 4 KiB page), against the same scan of a plaintext copy made with
/// `sqlcipher_export`. The file is in the OS cache and far larger than SQLite's page cache,
/// so each scan decrypts every page and the difference is the cipher's cost.
fn cipher_cost(dir: &Path, secrets: &KeyringStore) {
    const SCAN_RUNS: usize = 5;
    let encrypted = raw_connection(dir, secrets);
    let copy = dir.join("plaintext-copy.db");
    encrypted
        .execute_batch(&format!(
            "ATTACH DATABASE '{}' AS plaintext KEY ''; SELECT sqlcipher_export('plaintext'); \
             DETACH DATABASE plaintext;",
            copy.display()
        ))
        .expect("plaintext copy");
    let plaintext = Connection::open(&copy).expect("open plaintext copy");
    let scan = |conn: &Connection| {
        median(
            (0..SCAN_RUNS)
                .map(|_| {
                    let start = Instant::now();
                    let total: i64 = conn
                        .query_row(
                            "SELECT sum(amount_minor + length(rrn)) FROM records",
                            [],
                            |r| r.get(0),
                        )
                        .expect("scan");
                    black_box(total);
                    start.elapsed()
                })
                .collect(),
        )
    };
    let (ours, reference) = (scan(&encrypted), scan(&plaintext));
    println!(
        "(d) full scan of {BIG} records: median {:.0} ms encrypted, plaintext copy {:.0} ms: \
         {:.2}x (no target)",
        ms(ours),
        ms(reference),
        ours.as_secs_f64() / reference.as_secs_f64()
    );
}
