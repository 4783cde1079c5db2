//! Archive tests: round trip, wrong passphrase, damaged and foreign files, manifest checks,
//! CSV export. Archives here use a tiny scrypt work factor so that hundreds can be made.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use posmate_proto::message::{Record, RecordKind, RecordStatus, Totals};
use posmate_proto::pan::MaskedPan;
use serde_json::json;

use super::format::{DigestWriter, Document};
use super::*;
use crate::store::{
    AuditEntry, AuditEvent, CardPurposeKind, CardRow, SettlementRow, StoredRecord, TerminalRow,
    TerminalState,
};

const FAST: WriteOptions = WriteOptions { work_factor: 2 };

fn passphrase() -> Passphrase {
    Passphrase::new("correct horse battery")
}

fn record(sn: &str, seq: u64) -> StoredRecord {
    StoredRecord {
        sn: sn.to_owned(),
        origin_sn: sn.to_owned(),
        epoch: [7; 16],
        merchant_no: Some("M001".to_owned()),
        record: Record {
            seq,
            batch_no: 1 + (seq / 100) as u32,
            kind: if seq.is_multiple_of(5) {
                RecordKind::Refund
            } else {
                RecordKind::Sale
            },
            amount_minor: 100 * seq + 7,
            currency: 156,
            at_ms: 1_700_000_000_000 + seq * 60_000,
            masked_pan: MaskedPan::parse("622848******1234").unwrap(),
            auth_code: format!("{:06}", seq),
            rrn: format!("{:012}", seq * 7),
            status: RecordStatus::Approved,
            orig_seq: None,
        },
    }
}

fn terminal(sn: &str, state: TerminalState, updated_at_ms: u64) -> TerminalRow {
    TerminalRow {
        sn: sn.to_owned(),
        peripheral_id: None,
        model: "P1".to_owned(),
        firmware: "1.0".to_owned(),
        device_key: [9; 32],
        state,
        merchant_no: Some("M001".to_owned()),
        terminal_no: Some("T0001".to_owned()),
        activated_at_ms: Some(1_700_000_000_000),
        replaced_by: None,
        updated_at_ms,
    }
}

fn sample(records: u64) -> Archive {
    let sn = "SN0001";
    Archive {
        created_at_ms: 1_700_100_000_000,
        phone_id: Some("phone-1".to_owned()),
        merchant_no: Some("M001".to_owned()),
        scope: Scope::Phone,
        terminals: vec![terminal(sn, TerminalState::Activated, 1_700_000_000_000)],
        cursors: vec![CursorRow {
            sn: sn.to_owned(),
            epoch: [7; 16],
            last_seq: records,
        }],
        records: (1..=records).map(|seq| record(sn, seq)).collect(),
        cards: vec![CardRow {
            binding_id: "B1".to_owned(),
            merchant_no: "M001".to_owned(),
            purpose: CardPurposeKind::Settlement,
            masked_pan: MaskedPan::parse("622848******1234").unwrap(),
            issuer: "Bank, \"Test\"".to_owned(),
            holder_name: "Li Wei".to_owned(),
            source: "terminal".to_owned(),
            bound_at_ms: 1_700_000_000_000,
        }],
        settlements: vec![SettlementRow {
            sn: sn.to_owned(),
            batch_no: 1,
            epoch: [7; 16],
            first_seq: 1,
            last_seq: records.min(99),
            terminal: Totals::default(),
            phone: Totals::default(),
            matched: true,
            settled_at_ms: 1_700_050_000_000,
        }],
        audit: vec![AuditEntry {
            seq: 1,
            event: AuditEvent {
                at_ms: 1_700_000_000_000,
                action: "activate".to_owned(),
                sn: Some(sn.to_owned()),
                // Floats that serde_json's default (fast) parser does not read back exactly.
                inputs: json!({"terminal_no": "T0001", "ratio": 0.1, "tiny": 1.0715660391465826e-75, "neg": -1.81996730402717e-179}),
                outcome: "ok".to_owned(),
                detail: json!({"z": 1, "a": [1, 2, {"k": null}]}),
            },
            prev_hash: [0; 32],
            hash: [0xAB; 32],
        }],
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Encrypts arbitrary plaintext the way `write_archive` does, for crafted documents.
fn encrypt_to(path: &Path, plaintext: &[u8]) {
    let file = fs::File::create(path).unwrap();
    let mut age = crypt::encrypt(file, &passphrase(), &FAST).unwrap();
    age.write_all(plaintext).unwrap();
    age.finish().unwrap().sync_all().unwrap();
}

/// The document `write_archive` would encrypt, as text to tamper with (a `serde_json::Value`
/// would sort its keys, and the reader wants `format` and `version` first).
fn document(archive: &Archive) -> String {
    let manifest = Manifest::of(archive).unwrap();
    serde_json::to_string(&Document {
        archive,
        manifest: &manifest,
    })
    .unwrap()
}

/// `text` with its one occurrence of `from` replaced.
fn tamper(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from}");
    text.replacen(from, to, 1)
}

fn written(dir: &Path, archive: &Archive) -> (PathBuf, BackupSummary) {
    let path = dir.join("backup.age");
    let summary = write_archive(&path, archive, &passphrase(), &FAST).unwrap();
    (path, summary)
}

#[test]
fn backup_round_trips_and_reports_the_file_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample(250);
    let (path, summary) = written(dir.path(), &archive);

    let bytes = fs::read(&path).unwrap();
    assert_eq!(summary.sha256, sha256(&bytes));
    assert_eq!(summary.size, bytes.len() as u64);
    assert_eq!(summary.sha256_hex().len(), 64);
    assert_eq!(summary.manifest, Manifest::of(&archive).unwrap());
    assert_eq!(summary.manifest.records.count, 250);
    assert_eq!(summary.manifest.audit.count, 1);
    assert_eq!(summary.scope, Scope::Phone);
    assert!(!dir.path().join("backup.age.tmp").exists());
    assert!(bytes.starts_with(b"age-encryption.org/v1\n-> scrypt "));

    let back = read_archive(&path, &passphrase()).unwrap();
    assert_eq!(back, archive);
    let verified = verify_archive(&path, &passphrase(), Some(summary.sha256)).unwrap();
    assert_eq!(verified, summary);
}

#[test]
fn backup_plaintext_is_json_a_merchant_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written(dir.path(), &sample(3));
    let file = fs::File::open(&path).unwrap();
    let mut plain = crypt::decrypt(std::io::BufReader::new(file), &passphrase()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut plain, &mut text).unwrap();
    assert!(
        text.starts_with(r#"{"format":"posmate-backup","version":1,"created_at_ms":"#),
        "{text}"
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["manifest"]["records"]["count"], 3);
    assert_eq!(doc["scope"], "phone");
    // Masked PAN only; no full card number anywhere.
    assert!(text.contains("622848******1234"));
}

#[test]
fn backup_empty_sections_and_terminal_scope_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive {
        scope: Scope::Terminal("SN0001".to_owned()),
        phone_id: None,
        merchant_no: None,
        ..sample(0)
    };
    let (path, summary) = written(dir.path(), &archive);
    assert_eq!(summary.manifest.records.count, 0);
    assert_eq!(read_archive(&path, &passphrase()).unwrap(), archive);
}

#[test]
fn backup_wrong_passphrase_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written(dir.path(), &sample(5));
    let err = read_archive(&path, &Passphrase::new("correct horse battery!")).unwrap_err();
    assert!(matches!(err, BackupError::WrongPassphrase), "{err:?}");
    assert_eq!(err.code(), "wrong-passphrase");
    assert!(!err.is_retryable());
    assert!(err
        .to_string()
        .starts_with("the passphrase does not open this backup"));
    let err = verify_archive(&path, &Passphrase::new("wrong"), None).unwrap_err();
    assert!(matches!(err, BackupError::WrongPassphrase), "{err:?}");
}

#[test]
fn backup_refuses_a_weak_passphrase_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup.age");
    for weak in [
        "",
        "1234567",
        "  short  ",
        "\u{4e2d}\u{6587}\u{5bc6}\u{7801}",
    ] {
        let err = write_archive(&path, &sample(1), &Passphrase::new(weak), &FAST).unwrap_err();
        assert!(
            matches!(err, BackupError::WeakPassphrase { min_chars: 8 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("at least 8 characters"), "{err}");
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    // Eight characters (not bytes) is enough, whatever the script.
    let eight = "\u{4e2d}\u{6587}\u{5bc6}\u{7801}\u{4e2d}\u{6587}\u{5bc6}\u{7801}";
    write_archive(&path, &sample(1), &Passphrase::new(eight), &FAST).unwrap();
    read_archive(&path, &Passphrase::new(eight)).unwrap();
}

#[test]
fn backup_passphrase_is_not_printed() {
    let printed = format!("{:?}", passphrase());
    assert!(!printed.contains("horse"), "{printed}");
}

#[test]
fn backup_truncated_file_is_damaged_or_not_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written(dir.path(), &sample(40));
    let bytes = fs::read(&path).unwrap();
    // A sample of lengths through the header and nonce, then of the payload. (Each read
    // times scrypt once, as age does; unoptimised that is ~0.1 s.)
    let header_end = find(&bytes, b"\n---").unwrap() + 64;
    let cut = dir.path().join("cut.age");
    let mut cases = 0;
    let lengths = (0..header_end)
        .step_by(4)
        .chain((header_end..bytes.len()).step_by(211));
    for len in lengths.chain([bytes.len() - 1]) {
        fs::write(&cut, &bytes[..len]).unwrap();
        let err = read_archive(&cut, &passphrase()).unwrap_err();
        match err {
            BackupError::Corrupt { .. } => {}
            BackupError::NotABackup { .. } if len < b"age-encryption.org/".len() => {}
            other => panic!("cut at {len} of {}: {other:?}", bytes.len()),
        }
        cases += 1;
    }
    println!("truncation cases: {cases}");
}

/// One bit flipped at a sample of bytes of the header and of the payload. Inside the scrypt
/// stanza a flip may also read as a wrong passphrase (salt, work factor, wrapped key: age
/// cannot tell) or as a file for another kind of recipient (the tag); after it, it is damage.
#[test]
fn backup_bit_flips_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written(dir.path(), &sample(20));
    let bytes = fs::read(&path).unwrap();
    let stanza_end = find(&bytes, b"\n---").unwrap();
    let flipped = dir.path().join("flipped.age");
    let mut cases = 0;
    // Every third header byte (each line and field is hit), then a sample of the payload
    // (every payload byte is authenticated the same way).
    let header = (0..stanza_end + 80).step_by(3);
    let payload = (stanza_end + 80..bytes.len()).step_by(211);
    for pos in header.chain(payload).chain([bytes.len() - 1]) {
        let bit = 1u8 << (pos % 8);
        let mut damaged = bytes.clone();
        damaged[pos] ^= bit;
        fs::write(&flipped, &damaged).unwrap();
        let err = read_archive(&flipped, &passphrase()).unwrap_err();
        let ok = match &err {
            BackupError::Corrupt { .. } => pos >= b"age-encryption.org/".len(),
            BackupError::NotABackup { .. }
            | BackupError::WrongPassphrase
            | BackupError::WorkFactorTooHigh { .. } => pos < stanza_end,
            _ => false,
        };
        assert!(
            ok,
            "bit {bit:#04x} at {pos} (stanza ends at {stanza_end}): {err:?}"
        );
        cases += 1;
    }
    println!("bit-flip cases: {cases}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn backup_manifest_mismatch_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.age");
    let archive = sample(10);

    let doc = document(&archive);
    let manifest = Manifest::of(&archive).unwrap();

    // A manifest that claims another count.
    let tampered = tamper(
        &doc,
        r#""records":{"count":10,"#,
        r#""records":{"count":11,"#,
    );
    encrypt_to(&path, tampered.as_bytes());
    let err = read_archive(&path, &passphrase()).unwrap_err();
    assert!(
        matches!(&err, BackupError::Corrupt { detail } if detail.contains("records")),
        "{err:?}"
    );
    let err = verify_archive(&path, &passphrase(), None).unwrap_err();
    assert!(matches!(&err, BackupError::Corrupt { .. }), "{err:?}");
    assert_eq!(err.code(), "backup-corrupt");

    // A manifest hash of another content.
    let cards_hash = super::format::hex(&manifest.cards.sha256);
    let tampered = tamper(&doc, &cards_hash, &super::format::hex(&[0; 32]));
    encrypt_to(&path, tampered.as_bytes());
    let err = verify_archive(&path, &passphrase(), None).unwrap_err();
    assert!(
        matches!(&err, BackupError::Corrupt { detail } if detail.contains("cards")),
        "{err:?}"
    );

    // A section changed under an intact manifest.
    let tampered = tamper(&doc, r#""auth_code":"000004""#, r#""auth_code":"000005""#);
    encrypt_to(&path, tampered.as_bytes());
    let err = read_archive(&path, &passphrase()).unwrap_err();
    assert!(
        matches!(&err, BackupError::Corrupt { detail } if detail.contains("records")),
        "{err:?}"
    );

    // A section missing altogether.
    let start = doc.rfind(r#","settlements":"#).unwrap();
    let end = doc.rfind(r#","audit":"#).unwrap();
    let tampered = format!("{}{}", &doc[..start], &doc[end..]);
    encrypt_to(&path, tampered.as_bytes());
    let err = read_archive(&path, &passphrase()).unwrap_err();
    assert!(
        matches!(&err, BackupError::Corrupt { detail } if detail.contains("settlements")),
        "{err:?}"
    );

    // The untampered document, pretty-printed, still reads: the manifest hashes what the
    // rows are, not how the file spaced them.
    let pretty = serde_json::to_string_pretty(&Document {
        archive: &archive,
        manifest: &manifest,
    })
    .unwrap();
    encrypt_to(&path, pretty.as_bytes());
    assert_eq!(read_archive(&path, &passphrase()).unwrap(), archive);
}

#[test]
fn backup_from_a_newer_posmate_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.age");
    let doc = tamper(&document(&sample(2)), r#""version":1,"#, r#""version":2,"#);
    encrypt_to(&path, doc.as_bytes());
    let err = read_archive(&path, &passphrase()).unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::NewerFormat {
                found: 2,
                supported: 1
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Update posmate"));
}

#[test]
fn backup_foreign_files_are_not_backups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign");
    let not_a_backup = |path: &Path| {
        let err = read_archive(path, &passphrase()).unwrap_err();
        assert!(matches!(err, BackupError::NotABackup { .. }), "{err:?}");
        assert_eq!(err.code(), "not-a-backup");
        err
    };

    fs::write(&path, b"").unwrap();
    not_a_backup(&path);
    fs::write(&path, b"sn,seq,batch\r\nSN1,1,1\r\n").unwrap();
    not_a_backup(&path);
    fs::write(&path, vec![0u8; 5000]).unwrap();
    not_a_backup(&path);

    // age files holding something else.
    encrypt_to(&path, b"hello");
    not_a_backup(&path);
    encrypt_to(&path, br#"{"format":"other","version":1}"#);
    not_a_backup(&path);
    encrypt_to(&path, br#"{"records":[],"format":"posmate-backup"}"#);
    not_a_backup(&path);

    // An age file encrypted to a key, not a passphrase.
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public();
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut out = encryptor
        .wrap_output(fs::File::create(&path).unwrap())
        .unwrap();
    out.write_all(b"{}").unwrap();
    out.finish().unwrap();
    let err = not_a_backup(&path);
    assert!(err.to_string().contains("not to a passphrase"), "{err}");
}

#[test]
fn backup_asking_for_too_much_scrypt_work_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written(dir.path(), &sample(1));
    // Work factor 2 → 21 in the stanza ("-> scrypt <salt> 2"): 2 GiB of memory if obeyed.
    let text = fs::read(&path).unwrap();
    let line_end = find(&text[22..], b"\n").unwrap() + 22;
    assert_eq!(&text[line_end - 2..line_end], b" 2");
    let mut crafted = text[..line_end].to_vec();
    crafted.extend_from_slice(b"1");
    crafted.extend_from_slice(&text[line_end..]);
    fs::write(&path, crafted).unwrap();
    let err = read_archive(&path, &passphrase()).unwrap_err();
    assert!(
        matches!(err, BackupError::WorkFactorTooHigh { found: 21, max: 20 }),
        "{err:?}"
    );
}

#[test]
fn backup_verify_catches_a_replaced_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, first) = written(dir.path(), &sample(3));
    // Same contents, new encryption: a different file.
    let second = write_archive(&path, &sample(3), &passphrase(), &FAST).unwrap();
    assert_ne!(first.sha256, second.sha256);
    let err = verify_archive(&path, &passphrase(), Some(first.sha256)).unwrap_err();
    assert!(matches!(err, BackupError::Changed), "{err:?}");
    assert_eq!(err.code(), "backup-changed");
    verify_archive(&path, &passphrase(), Some(second.sha256)).unwrap();
}

#[test]
fn backup_write_failure_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("backup.age");
    let err = write_archive(&path, &sample(1), &passphrase(), &FAST).unwrap_err();
    assert!(matches!(err, BackupError::Io { .. }), "{err:?}");
    assert!(err.is_retryable());
    let err = read_archive(&path, &passphrase()).unwrap_err();
    assert!(matches!(err, BackupError::Io { .. }), "{err:?}");
}

#[test]
fn backup_large_archive_streams() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample(10_000);
    let (path, summary) = written(dir.path(), &archive);
    assert_eq!(summary.manifest.records.count, 10_000);
    // Several 64 KiB age chunks.
    assert!(summary.size > 1_000_000, "{}", summary.size);
    let back = read_archive(&path, &passphrase()).unwrap();
    assert_eq!(back.records.len(), 10_000);
    assert_eq!(back.records.last(), archive.records.last());
}

#[test]
fn csv_export_has_a_header_and_one_row_per_record() {
    let mut rows = vec![record("SN0001", 1), record("SN0001", 2)];
    rows[1].origin_sn = "SN0000".to_owned();
    rows[1].record.kind = RecordKind::Void;
    rows[1].record.status = RecordStatus::Reversed;
    rows[1].record.orig_seq = Some(1);
    rows[1].record.currency = 392;
    rows[1].record.amount_minor = 1500;
    rows[1].record.auth_code = "=cmd|' /C calc'!A0".to_owned();
    rows[1].record.rrn = "12,34\"5".to_owned();
    let mut out = Vec::new();
    let count = export_csv(&mut out, rows.into_iter()).unwrap();
    assert_eq!(count, 2);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(
        lines,
        [
            "sn,seq,batch,kind,status,amount,currency,time_utc,masked_pan,auth_code,rrn,orig_seq",
            "SN0001,1,1,sale,approved,1.07,CNY,2023-11-14T22:14:20Z,622848******1234,000001,000000000007,",
            "SN0000,2,1,void,reversed,1500,JPY,2023-11-14T22:15:20Z,622848******1234,'=cmd|' /C calc'!A0,\"12,34\"\"5\",1",
        ]
    );
    assert!(text.ends_with("\r\n"));
}

#[test]
fn csv_export_to_a_full_disk_says_the_disk_is_full() {
    let Ok(full) = fs::OpenOptions::new().write(true).open("/dev/full") else {
        panic!("/dev/full is needed to simulate a full disk");
    };
    let rows = (1..=2000).map(|seq| record("SN0001", seq));
    let err = export_csv(std::io::BufWriter::new(full), rows).unwrap_err();
    assert!(matches!(err, BackupError::Full), "{err:?}");
    assert_eq!(err.code(), "storage-full");
    assert!(err.is_retryable());
}

#[test]
fn backup_section_hash_covers_exactly_the_compact_json_array() {
    let archive = sample(3);
    let manifest = Manifest::of(&archive).unwrap();
    let compact = serde_json::to_vec(&archive.records).unwrap();
    assert_eq!(manifest.records.sha256, sha256(&compact));
    let mut sha = sha2::Sha256::default();
    serde_json::to_writer(DigestWriter(&mut sha), &archive.terminals).unwrap();
    assert_eq!(
        manifest.terminals.sha256,
        <[u8; 32]>::from(sha2::Digest::finalize(sha))
    );
    assert_eq!(manifest.terminals.count, 1);
}

mod restore {
    use super::*;
    use crate::keystore::{KeyringStore, KeystoreChoice, Namespace};
    use crate::store::{AuditEvent, Store, StoreOptions};

    const EPOCH: [u8; 16] = [7; 16];

    fn open(dir: &Path, label: &str) -> Store {
        let secrets =
            KeyringStore::open(KeystoreChoice::Mock, Namespace::new(label).unwrap()).unwrap();
        let opts = StoreOptions {
            allow_volatile_key: true,
            max_pages: None,
        };
        Store::open(dir, &secrets, &opts).unwrap()
    }

    /// A phone with two terminals: SN0001 with `records` synced records, a settlement, a
    /// card and some audit entries; SN0002 synced once before its first sale.
    fn source_phone(dir: &Path, label: &str, records: u64) -> Store {
        let store = open(dir, label);
        let archive = sample(records);
        store
            .write(|tx| {
                tx.upsert_terminal(&archive.terminals[0])?;
                tx.upsert_terminal(&terminal("SN0002", TerminalState::Paired, 5))?;
                let journal: Vec<Record> =
                    archive.records.iter().map(|r| r.record.clone()).collect();
                tx.append_records("SN0001", Some("M001"), EPOCH, &journal)?;
                tx.reset_cursor("SN0002", [2; 16])?;
                tx.put_settlement(&archive.settlements[0])?;
                tx.upsert_card(&archive.cards[0])?;
                for action in ["pair", "activate"] {
                    tx.append_audit(&AuditEvent {
                        at_ms: 1_700_000_000_000,
                        action: action.to_owned(),
                        sn: Some("SN0001".to_owned()),
                        inputs: json!({"sn": "SN0001"}),
                        outcome: "ok".to_owned(),
                        detail: json!({}),
                    })?;
                }
                Ok(())
            })
            .unwrap();
        store
    }

    /// Everything but the audit trail, which a restore extends by design.
    fn data(store: &Store) -> Archive {
        Archive {
            audit: Vec::new(),
            ..collect(store, &Scope::Phone, 0, None).unwrap()
        }
    }

    #[test]
    fn restore_into_a_new_phone_then_again_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = source_phone(&dir.path().join("a"), "restore-a", 300);
        let archive = collect(&source, &Scope::Phone, 42, Some("phone-a".to_owned())).unwrap();
        assert_eq!(archive.records.len(), 300);
        assert!(archive
            .records
            .windows(2)
            .all(|w| w[0].record.at_ms <= w[1].record.at_ms));
        assert_eq!(archive.terminals.len(), 2);
        assert_eq!(archive.cursors.len(), 2);
        assert_eq!(archive.audit.len(), 2);
        assert_eq!(archive.merchant_no.as_deref(), Some("M001"));

        let path = dir.path().join("phone.age");
        let written = write_archive(&path, &archive, &passphrase(), &FAST).unwrap();
        verify_archive(&path, &passphrase(), Some(written.sha256)).unwrap();
        let read = read_archive(&path, &passphrase()).unwrap();
        assert_eq!(read, archive);

        let target = open(&dir.path().join("b"), "restore-b");
        let first = restore_into(&target, &read).unwrap();
        assert_eq!(
            first,
            RestoreSummary {
                terminals: 2,
                cursors: 2,
                records_inserted: 300,
                records_present: 0,
                cards: 1,
                settlements: 1,
                audit_entries: 2,
            }
        );
        let restored = data(&target);
        assert_eq!(restored, data(&source));

        let second = restore_into(&target, &read).unwrap();
        assert_eq!(
            second,
            RestoreSummary {
                records_present: 300,
                audit_entries: 2,
                ..RestoreSummary::default()
            }
        );
        assert_eq!(data(&target), restored);

        // Each restore is on the record, naming the archive's own audit head.
        let audit = target.read(|tx| tx.audit(1, 10)).unwrap();
        assert_eq!(audit.len(), 2);
        assert!(audit
            .iter()
            .all(|e| e.event.action == "restore" && e.event.outcome == "ok"));
        assert_eq!(
            audit[0].event.detail["archived_audit_head"],
            json!(super::super::format::hex(&archive.audit[1].hash))
        );
        assert_eq!(target.read(|tx| tx.verify_audit()).unwrap().entries, 2);
    }

    #[test]
    fn restore_never_rolls_back_newer_data() {
        let dir = tempfile::tempdir().unwrap();
        let source = source_phone(&dir.path().join("a"), "newer-a", 50);
        let old = collect(&source, &Scope::Phone, 1, None).unwrap();
        // The phone went on: more sales synced, the terminal decommissioned since.
        source
            .write(|tx| {
                let more: Vec<Record> = (51..=60).map(|s| record("SN0001", s).record).collect();
                tx.append_records("SN0001", Some("M001"), EPOCH, &more)?;
                tx.upsert_terminal(&terminal(
                    "SN0001",
                    TerminalState::Decommissioned,
                    2_000_000_000_000,
                ))
            })
            .unwrap();
        let before = data(&source);
        let summary = restore_into(&source, &old).unwrap();
        assert_eq!(summary.terminals, 0);
        assert_eq!(summary.records_inserted, 0);
        assert_eq!(summary.records_present, 50);
        assert_eq!(data(&source), before);
    }

    #[test]
    fn restore_takes_back_moved_and_earlier_journal_records() {
        let dir = tempfile::tempdir().unwrap();
        let source = source_phone(&dir.path().join("a"), "moved-a", 20);
        // Later than SN0001's records, each at its own minute.
        let at = |mut r: StoredRecord, minutes: u64| {
            r.record.at_ms = 1_800_000_000_000 + minutes * 60_000;
            r.record
        };
        source
            .write(|tx| {
                // SN0001 replaced by SN0003: its history moves over (keeping its epoch and
                // origin), then SN0003 trades itself under its own journal.
                tx.upsert_terminal(&terminal("SN0003", TerminalState::Activated, 9))?;
                tx.move_records("SN0001", "SN0003")?;
                let own: Vec<Record> = (1..=5).map(|s| at(record("SN0003", s), s)).collect();
                tx.append_records("SN0003", Some("M001"), [3; 16], &own)?;
                // SN0002 trades, is wiped (a new journal, seqs from 1 again), trades again.
                let first: Vec<Record> =
                    (1..=3).map(|s| at(record("SN0002", s), 100 + s)).collect();
                tx.append_records("SN0002", Some("M001"), [2; 16], &first)?;
                tx.reset_cursor("SN0002", [4; 16])?;
                let second: Vec<Record> =
                    (1..=2).map(|s| at(record("SN0002", s), 200 + s)).collect();
                tx.append_records("SN0002", Some("M001"), [4; 16], &second)?;
                Ok(())
            })
            .unwrap();
        let archive = collect(&source, &Scope::Phone, 1, None).unwrap();
        assert_eq!(archive.records.len(), 30);
        let moved = |a: &Archive| {
            a.records
                .iter()
                .filter(|r| r.sn == "SN0003" && r.origin_sn == "SN0001" && r.epoch == EPOCH)
                .count()
        };
        let earlier = |a: &Archive| {
            a.records
                .iter()
                .filter(|r| r.sn == "SN0002" && r.epoch == [2; 16])
                .count()
        };
        assert_eq!((moved(&archive), earlier(&archive)), (20, 3));

        let target = open(&dir.path().join("b"), "moved-b");
        let summary = restore_into(&target, &archive).unwrap();
        assert_eq!(summary.records_inserted, 30);
        assert_eq!(summary.records_present, 0);
        assert_eq!(summary.cursors, 3);
        let restored = data(&target);
        assert_eq!(restored, data(&source), "every record, filed as before");
        assert_eq!((moved(&restored), earlier(&restored)), (20, 3));
        // The cursors are the source's: each terminal's next sync goes on from its current
        // journal, not from the records restored beside it.
        target
            .read(|tx| {
                assert_eq!(tx.sync_cursor("SN0002")?.unwrap().epoch, [4; 16]);
                assert_eq!(tx.sync_cursor("SN0002")?.unwrap().last_seq, 2);
                assert_eq!(tx.sync_cursor("SN0003")?.unwrap().epoch, [3; 16]);
                assert_eq!(tx.sync_cursor("SN0003")?.unwrap().last_seq, 5);
                Ok(())
            })
            .unwrap();
        let audit = target.read(|tx| tx.audit(1, 10)).unwrap();
        assert_eq!(audit[0].event.outcome, "ok");
        assert_eq!(audit[0].event.detail["records_inserted"], json!(30));

        let again = restore_into(&target, &archive).unwrap();
        assert_eq!((again.records_inserted, again.records_present), (0, 30));
        assert_eq!(data(&target), restored);
    }

    #[test]
    fn collect_for_one_terminal_holds_only_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let source = source_phone(dir.path(), "scope-a", 10);
        let archive = collect(&source, &Scope::Terminal("SN0002".to_owned()), 1, None).unwrap();
        assert_eq!(archive.terminals.len(), 1);
        assert_eq!(archive.terminals[0].sn, "SN0002");
        assert_eq!(archive.cursors.len(), 1);
        assert!(archive.records.is_empty());
        assert!(archive.settlements.is_empty());
        assert_eq!(archive.cards.len(), 1, "the merchant's cards");
        assert_eq!(archive.audit.len(), 2, "the whole audit trail");
        let archive = collect(&source, &Scope::Terminal("SN0001".to_owned()), 1, None).unwrap();
        assert_eq!(archive.records.len(), 10);
        assert_eq!(archive.settlements.len(), 1);
    }
}
