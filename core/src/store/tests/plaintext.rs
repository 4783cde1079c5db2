//! What the database file holds on disk: decrypted page by page with the key, a deleted
//! terminal's data must be gone, not just unlinked.

use super::*;

/// SQLCipher 4 page layout with a raw key: AES-256-CBC under the key itself over each page
/// minus its 80 reserved bytes (16-byte IV, 64-byte HMAC-SHA512); page 1 keeps its first 16
/// bytes (the salt) in the clear.
fn decrypt_page(page: &[u8], number: u32, key: &[u8]) -> Vec<u8> {
    use aes::cipher::generic_array::GenericArray;
    use aes::cipher::{BlockDecrypt, KeyInit};
    const RESERVE: usize = 80;
    let cipher = aes::Aes256::new(GenericArray::from_slice(key));
    let start = if number == 1 { 16 } else { 0 };
    let end = page.len() - RESERVE;
    let mut prev: [u8; 16] = page[end..end + 16].try_into().unwrap();
    let mut out = Vec::with_capacity(page.len());
    for block in page[start..end].chunks(16) {
        let mut b = GenericArray::clone_from_slice(block);
        cipher.decrypt_block(&mut b);
        out.extend(b.iter().zip(prev).map(|(x, p)| x ^ p));
        prev = block.try_into().unwrap();
    }
    out
}

/// Every page image in the database file and its WAL, decrypted.
fn plaintext_pages(db: &Path, key: &[u8]) -> Vec<Vec<u8>> {
    const PAGE: usize = 4096;
    let mut pages = Vec::new();
    let main = file_bytes(db);
    for (i, page) in main.chunks(PAGE).enumerate() {
        let plain = decrypt_page(page, i as u32 + 1, key);
        if i == 0 {
            // Bytes 16.. of the SQLite header: page size 4096, 80 reserved bytes.
            assert_eq!(&plain[..2], &[0x10, 0x00], "page 1 did not decrypt");
            assert_eq!(plain[4], 80);
        }
        pages.push(plain);
    }
    let wal = file_bytes(&key::sidecar(db, "-wal"));
    if wal.len() > 32 {
        for frame in wal[32..].chunks(24 + PAGE) {
            let number = u32::from_be_bytes(frame[..4].try_into().unwrap());
            pages.push(decrypt_page(&frame[24..], number, key));
        }
    }
    pages
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn store_deleted_terminal_leaves_no_plaintext_behind() {
    const MARK: &[u8] = b"ZQX-MARK";
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-wipe");
    let store = open(dir.path(), &secrets).unwrap();
    let db = store.path().to_path_buf();
    let key = key_bytes(&secrets, KEY_NAME).unwrap();
    let marked: Vec<Record> = records(1..=300)
        .into_iter()
        .map(|r| Record {
            rrn: format!("ZQX-MARK{}", r.seq),
            ..r
        })
        .collect();
    store
        .write(|tx| {
            tx.upsert_terminal(&TerminalRow {
                model: "ZQX-MARK-MODEL".into(),
                ..terminal("GONE")
            })?;
            tx.upsert_terminal(&terminal("KEPT"))?;
            tx.append_records("GONE", Some("M1"), EPOCH, &marked)?;
            tx.append_records("KEPT", Some("M1"), EPOCH, &records(1..=300))
        })
        .unwrap();
    let raw_files = [file_bytes(&db), file_bytes(&key::sidecar(&db, "-wal"))].concat();
    assert!(!contains(&raw_files, MARK), "plaintext on disk");
    let found = plaintext_pages(&db, &key)
        .iter()
        .filter(|p| contains(p, MARK))
        .count();
    assert!(found > 0, "the page decryption does not work");

    store.write(|tx| tx.delete_terminal("GONE")).unwrap();
    // secure_delete alone: once the WAL is folded in, no live page keeps the deleted data.
    checkpoint(&store.lock()).unwrap();
    let main_only: Vec<Vec<u8>> = plaintext_pages(&db, &key);
    assert!(
        !main_only.iter().any(|p| contains(p, MARK)),
        "deleted data survives in the database file"
    );

    store.compact().unwrap();
    assert_eq!(file_bytes(&key::sidecar(&db, "-wal")).len(), 0);
    assert!(!plaintext_pages(&db, &key).iter().any(|p| contains(p, MARK)));
    let raw_files = [file_bytes(&db), file_bytes(&key::sidecar(&db, "-wal"))].concat();
    assert!(!contains(&raw_files, MARK));
    assert!(!raw_files.starts_with(b"SQLite format 3"));
    assert_eq!(store.read(|tx| tx.record_count(None)).unwrap(), 300);
    assert_eq!(
        store.read(|tx| tx.terminals()).unwrap(),
        vec![terminal("KEPT")]
    );
}

#[test]
fn store_masks_card_numbers_in_free_text_before_it_reaches_the_file() {
    const PAN: &str = "6222021234567890128";
    const MASKED: &str = "622202*********0128";
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-pan-free-text");
    let store = open(dir.path(), &secrets).unwrap();
    let key = key_bytes(&secrets, KEY_NAME).unwrap();
    let with_pan = format!("declined: card {PAN} is blocked");
    let card = CardRow {
        binding_id: "B1".into(),
        merchant_no: "M1".into(),
        purpose: CardPurposeKind::Settlement,
        masked_pan: MaskedPan::parse(MASKED).unwrap(),
        issuer: format!("Bank {PAN}"),
        holder_name: format!("ANA {PAN}"),
        source: "terminal".into(),
        bound_at_ms: 1,
    };
    let entry = store
        .write(|tx| {
            tx.upsert_terminal(&TerminalRow {
                model: format!("PM {PAN}"),
                firmware: PAN.into(),
                ..terminal("SN1")
            })?;
            tx.upsert_card(&card)?;
            tx.append_records(
                "SN1",
                Some("M1"),
                EPOCH,
                &[Record {
                    rrn: PAN.into(),
                    auth_code: format!("A {PAN}"),
                    ..record(1, 1_700_000_000_000)
                }],
            )?;
            tx.flow_save(&FlowRow {
                id: "f1".into(),
                kind: "activation".into(),
                sn: Some("SN1".into()),
                step: "submit".into(),
                state: json!({}),
                status: FlowStatus::Failed,
                started_at_ms: 1,
                updated_at_ms: 2,
                error: Some(with_pan.clone()),
            })?;
            tx.append_audit(&AuditEvent {
                at_ms: 3,
                action: "activate".into(),
                sn: Some("SN1".into()),
                inputs: json!({"reason": with_pan, "merchant_no": "M1"}),
                outcome: "failed".into(),
                detail: json!({"acquirer": {"detail": with_pan}}),
            })
        })
        .unwrap();
    assert_eq!(
        entry.event.detail["acquirer"]["detail"],
        format!("declined: card {MASKED} is blocked")
    );
    let check = store.read(|tx| tx.verify_audit()).unwrap();
    assert_eq!(check.entries, 1, "the chain covers what was stored");
    assert_eq!(store.read(|tx| tx.audit(1, 10)).unwrap(), vec![entry]);
    let flow = store.read(|tx| tx.flow("f1")).unwrap().unwrap();
    assert_eq!(
        flow.error.unwrap(),
        format!("declined: card {MASKED} is blocked")
    );
    let cards = store.read(|tx| tx.cards("M1")).unwrap();
    assert_eq!(cards[0].holder_name, format!("ANA {MASKED}"));
    checkpoint(&store.lock()).unwrap();
    let pages = plaintext_pages(store.path(), &key);
    assert!(
        pages.iter().any(|p| contains(p, MASKED.as_bytes())),
        "the page decryption does not work"
    );
    assert!(
        !pages.iter().any(|p| contains(p, PAN.as_bytes())),
        "a full card number reached the database file"
    );
}
