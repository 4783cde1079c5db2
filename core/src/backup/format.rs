//! The archive document: a JSON object a merchant can read after `age -d`, with a manifest
//! that counts and hashes each section.
//!
//! The document is written and read as a stream: a section is hashed item by item while it
//! is serialized or parsed, so checking an archive never holds a second copy of its records,
//! and [`verify_archive`](super::verify_archive) holds none at all.
//!
//! A section's canonical bytes are its compact JSON array, `[item,item,...]`, exactly as
//! `serde_json::to_writer` prints the `Vec`. On reading, each parsed item is printed again and
//! hashed: a manifest match therefore proves that what was parsed is what was meant, not only
//! that the bytes arrived (age's authentication already proves that).

use std::fmt;
use std::io;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::BackupError;
use crate::store::{AuditEntry, CardRow, SettlementRow, StoredRecord, TerminalRow};

/// The `format` field of every posmate archive: how a reader knows the JSON is one.
pub const FORMAT: &str = "posmate-backup";
/// The document version this code writes and the newest it reads.
pub const VERSION: u32 = 1;

/// What an archive covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everything on the phone ("wipe this phone", moving to a new phone).
    Phone,
    /// One terminal before it is decommissioned or replaced; the serial number.
    Terminal(String),
}

/// Where a terminal's journal sync stood, so a restored phone resumes after the archived
/// records instead of fetching them again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorRow {
    pub sn: String,
    #[serde(with = "hex_bytes")]
    pub epoch: [u8; 16],
    pub last_seq: u64,
}

/// The contents of a backup. Only the phone's own rows: masked PANs, public device keys,
/// never a session, database or terminal key (the store holds none of those either).
#[derive(Clone, Debug, PartialEq)]
pub struct Archive {
    pub created_at_ms: u64,
    /// Which phone wrote it, for the merchant's orientation on restore.
    pub phone_id: Option<String>,
    pub merchant_no: Option<String>,
    pub scope: Scope,
    pub terminals: Vec<TerminalRow>,
    pub cursors: Vec<CursorRow>,
    pub records: Vec<StoredRecord>,
    pub cards: Vec<CardRow>,
    pub settlements: Vec<SettlementRow>,
    /// The audit trail at the time of the backup, kept as evidence.
    pub audit: Vec<AuditEntry>,
}

/// Count and SHA-256 of one section's canonical bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionDigest {
    pub count: u64,
    #[serde(with = "hex_bytes")]
    pub sha256: [u8; 32],
}

/// One [`SectionDigest`] per section, stored in the archive and recomputed on every read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub terminals: SectionDigest,
    pub cursors: SectionDigest,
    pub records: SectionDigest,
    pub cards: SectionDigest,
    pub settlements: SectionDigest,
    pub audit: SectionDigest,
}

impl Manifest {
    /// Hashes each section of `archive` without copying it.
    pub fn of(archive: &Archive) -> Result<Manifest, BackupError> {
        Ok(Manifest {
            terminals: digest_of(&archive.terminals)?,
            cursors: digest_of(&archive.cursors)?,
            records: digest_of(&archive.records)?,
            cards: digest_of(&archive.cards)?,
            settlements: digest_of(&archive.settlements)?,
            audit: digest_of(&archive.audit)?,
        })
    }

    /// The sections whose digest differs from `other`'s, for an error message.
    fn differing(&self, other: &Manifest) -> Vec<&'static str> {
        [
            ("terminals", self.terminals == other.terminals),
            ("cursors", self.cursors == other.cursors),
            ("records", self.records == other.records),
            ("cards", self.cards == other.cards),
            ("settlements", self.settlements == other.settlements),
            ("audit", self.audit == other.audit),
        ]
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(name, _)| name)
        .collect()
    }
}

fn digest_of<T: Serialize>(items: &[T]) -> Result<SectionDigest, BackupError> {
    let mut hasher = SectionHasher::new();
    for item in items {
        hasher.add(item).map_err(|e| BackupError::Io {
            detail: format!("could not encode the archive: {e}"),
        })?;
    }
    Ok(hasher.finish())
}

/// Hashes `[item,item,...]` as the items go by.
struct SectionHasher {
    sha: Sha256,
    count: u64,
}

impl SectionHasher {
    fn new() -> Self {
        let mut sha = Sha256::new();
        sha.update(b"[");
        SectionHasher { sha, count: 0 }
    }

    fn add<T: Serialize>(&mut self, item: &T) -> serde_json::Result<()> {
        if self.count > 0 {
            self.sha.update(b",");
        }
        serde_json::to_writer(DigestWriter(&mut self.sha), item)?;
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> SectionDigest {
        self.sha.update(b"]");
        SectionDigest {
            count: self.count,
            sha256: self.sha.finalize().into(),
        }
    }
}

/// Feeds whatever is written into a hash (sha2's own `io::Write` needs its `std` feature).
pub(crate) struct DigestWriter<'a>(pub &'a mut Sha256);

impl io::Write for DigestWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The document as written: the archive with its manifest, `format` and `version` first so
/// that a reader decides what it is looking at before it meets any section.
pub(crate) struct Document<'a> {
    pub archive: &'a Archive,
    pub manifest: &'a Manifest,
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.archive;
        let mut doc = s.serialize_struct("Archive", 13)?;
        doc.serialize_field("format", FORMAT)?;
        doc.serialize_field("version", &VERSION)?;
        doc.serialize_field("created_at_ms", &a.created_at_ms)?;
        doc.serialize_field("phone_id", &a.phone_id)?;
        doc.serialize_field("merchant_no", &a.merchant_no)?;
        doc.serialize_field("scope", &a.scope)?;
        doc.serialize_field("manifest", self.manifest)?;
        doc.serialize_field("terminals", &a.terminals)?;
        doc.serialize_field("cursors", &a.cursors)?;
        doc.serialize_field("records", &a.records)?;
        doc.serialize_field("cards", &a.cards)?;
        doc.serialize_field("settlements", &a.settlements)?;
        doc.serialize_field("audit", &a.audit)?;
        doc.end()
    }
}

/// What the reader learnt besides the parse result: whether the document declared itself a
/// posmate archive (which decides between "not a backup" and "damaged" for a later parse
/// error), and the precise failure when the reader itself rejected something.
#[derive(Default)]
pub(crate) struct ReadState {
    pub is_posmate: bool,
    pub failure: Option<BackupError>,
}

impl ReadState {
    fn fail<E: de::Error>(&mut self, err: BackupError) -> E {
        let msg = err.to_string();
        self.failure.get_or_insert(err);
        E::custom(msg)
    }
}

/// Parses a document, checking it section by section against its manifest.
///
/// With `keep == false` the sections are hashed and dropped: the returned archive has the
/// header fields and empty sections. The returned manifest is the recomputed one, equal to
/// the stored one (a mismatch is an error).
pub(crate) struct DocumentSeed<'a> {
    pub keep: bool,
    pub state: &'a mut ReadState,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = (Archive, Manifest);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

type Section<T> = Option<(SectionDigest, Vec<T>)>;

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = (Archive, Manifest);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a posmate-backup document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let state = self.state;
        let keep = self.keep;
        let mut version_ok = false;
        let mut created_at_ms = None;
        let mut phone_id = None;
        let mut merchant_no = None;
        let mut scope = None;
        let mut stored_manifest: Option<Manifest> = None;
        let mut terminals: Section<TerminalRow> = None;
        let mut cursors: Section<CursorRow> = None;
        let mut records: Section<StoredRecord> = None;
        let mut cards: Section<CardRow> = None;
        let mut settlements: Section<SettlementRow> = None;
        let mut audit: Section<AuditEntry> = None;

        while let Some(key) = map.next_key::<String>()? {
            if !state.is_posmate {
                if key != "format" {
                    return Err(
                        state.fail(not_ours("it does not start with a posmate-backup marker"))
                    );
                }
                let format: String = map.next_value()?;
                if format != FORMAT {
                    return Err(state.fail(not_ours("its format marker is not posmate-backup")));
                }
                state.is_posmate = true;
                continue;
            }
            if !version_ok {
                if key != "version" {
                    return Err(state.fail(corrupt("its format version is missing")));
                }
                let version: u32 = map.next_value()?;
                if version > VERSION {
                    return Err(state.fail(BackupError::NewerFormat {
                        found: version,
                        supported: VERSION,
                    }));
                }
                if version != VERSION {
                    return Err(state.fail(corrupt("its format version is not valid")));
                }
                version_ok = true;
                continue;
            }
            match key.as_str() {
                "created_at_ms" => set_once(&mut created_at_ms, &mut map, state, &key)?,
                "phone_id" => set_once(&mut phone_id, &mut map, state, &key)?,
                "merchant_no" => set_once(&mut merchant_no, &mut map, state, &key)?,
                "scope" => set_once(&mut scope, &mut map, state, &key)?,
                "manifest" => set_once(&mut stored_manifest, &mut map, state, &key)?,
                "terminals" => section(&mut terminals, &mut map, state, keep, &key)?,
                "cursors" => section(&mut cursors, &mut map, state, keep, &key)?,
                "records" => section(&mut records, &mut map, state, keep, &key)?,
                "cards" => section(&mut cards, &mut map, state, keep, &key)?,
                "settlements" => section(&mut settlements, &mut map, state, keep, &key)?,
                "audit" => section(&mut audit, &mut map, state, keep, &key)?,
                // A later version-1 writer may add a field; this reader has no use for it.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !state.is_posmate {
            return Err(state.fail(not_ours("it has no posmate-backup marker")));
        }
        if !version_ok {
            return Err(state.fail(corrupt("its format version is missing")));
        }

        macro_rules! required {
            ($slot:ident) => {
                match $slot {
                    Some(value) => value,
                    None => {
                        return Err(state.fail(corrupt(concat!(
                            "its ",
                            stringify!($slot),
                            " field is missing"
                        ))))
                    }
                }
            };
        }
        let created_at_ms = required!(created_at_ms);
        let phone_id = phone_id.flatten();
        let merchant_no = merchant_no.flatten();
        let scope = required!(scope);
        let stored_manifest = required!(stored_manifest);
        let (terminals_digest, terminals) = required!(terminals);
        let (cursors_digest, cursors) = required!(cursors);
        let (records_digest, records) = required!(records);
        let (cards_digest, cards) = required!(cards);
        let (settlements_digest, settlements) = required!(settlements);
        let (audit_digest, audit) = required!(audit);

        let computed = Manifest {
            terminals: terminals_digest,
            cursors: cursors_digest,
            records: records_digest,
            cards: cards_digest,
            settlements: settlements_digest,
            audit: audit_digest,
        };
        let differing = stored_manifest.differing(&computed);
        if !differing.is_empty() {
            return Err(state.fail(BackupError::Corrupt {
                detail: format!(
                    "its manifest does not match its {} section{}",
                    differing.join(", "),
                    if differing.len() > 1 { "s" } else { "" }
                ),
            }));
        }

        let archive = Archive {
            created_at_ms,
            phone_id,
            merchant_no,
            scope,
            terminals,
            cursors,
            records,
            cards,
            settlements,
            audit,
        };
        Ok((archive, computed))
    }
}

fn not_ours(detail: &str) -> BackupError {
    BackupError::NotABackup {
        detail: detail.to_owned(),
    }
}

fn corrupt(detail: &str) -> BackupError {
    BackupError::Corrupt {
        detail: detail.to_owned(),
    }
}

fn duplicate(key: &str) -> BackupError {
    BackupError::Corrupt {
        detail: format!("its {key} field appears twice"),
    }
}

fn set_once<'de, A: MapAccess<'de>, T: DeserializeOwned>(
    slot: &mut Option<T>,
    map: &mut A,
    state: &mut ReadState,
    key: &str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(state.fail(duplicate(key)));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn section<'de, A: MapAccess<'de>, T: DeserializeOwned + Serialize>(
    slot: &mut Section<T>,
    map: &mut A,
    state: &mut ReadState,
    keep: bool,
    key: &str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(state.fail(duplicate(key)));
    }
    *slot = Some(map.next_value_seed(SectionSeed::<T> {
        keep,
        item: PhantomData,
    })?);
    Ok(())
}

/// Parses one section's array, hashing every item and keeping it only if asked.
struct SectionSeed<T> {
    keep: bool,
    item: PhantomData<T>,
}

impl<'de, T: DeserializeOwned + Serialize> DeserializeSeed<'de> for SectionSeed<T> {
    type Value = (SectionDigest, Vec<T>);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: DeserializeOwned + Serialize> Visitor<'de> for SectionSeed<T> {
    type Value = (SectionDigest, Vec<T>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut hasher = SectionHasher::new();
        let mut items = Vec::new();
        if self.keep {
            items.reserve(seq.size_hint().unwrap_or(0));
        }
        while let Some(item) = seq.next_element::<T>()? {
            hasher.add(&item).map_err(de::Error::custom)?;
            if self.keep {
                items.push(item);
            }
        }
        Ok((hasher.finish(), items))
    }
}

/// Lowercase hex, as `sha256sum` prints it.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses exactly `2 * N` hex digits (either case).
pub(crate) fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Fixed-size byte strings as hex in the document, readable next to `sha256sum` output.
mod hex_bytes {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(d)?;
        super::unhex(&text)
            .ok_or_else(|| de::Error::custom(format!("expected {} hex digits", 2 * N)))
    }
}
