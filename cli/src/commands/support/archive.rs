//! The bundle file: its parts as a plain tar under one folder, a manifest listing them with
//! their SHA-256, every byte checked by the leak scan before anything is written, and the file
//! written owner-only and atomically (no half bundle is left behind).

use std::io::Write;
use std::path::Path;

use posmate_core::leak_scan::{Leak, LeakScan};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{CliError, Exit};

/// The manifest's format number.
pub const FORMAT: u32 = 1;

/// One file of the bundle.
pub struct Part {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A part that could not be gathered, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub part: String,
    pub code: String,
    pub reason: String,
}

#[derive(Serialize)]
struct PartEntry<'a> {
    name: &'a str,
    bytes: usize,
    sha256: String,
}

/// What the scan covered, recorded in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ScanScope {
    /// How many keystore secrets were searched for (each in every printed form).
    pub keystore_secrets: usize,
    /// Set when the keystore could not be read, so its secrets were not searched for.
    pub keystore_unreadable: Option<String>,
    pub full_card_numbers: bool,
}

#[derive(Serialize)]
struct Manifest<'a> {
    posmate_support_bundle: u32,
    created_at_ms: u64,
    posmate_version: &'static str,
    parts: Vec<PartEntry<'a>>,
    missing: &'a [Missing],
    scan: &'a ScanScope,
}

/// The finished archive, before it is written.
pub struct Archive {
    pub bytes: Vec<u8>,
    pub parts: usize,
}

/// Builds the archive of `parts` (plus its manifest) under folder `root`, and scans all of
/// it; a finding is an error naming where it was, and nothing is returned to write.
pub fn build(
    root: &str,
    created_at_ms: u64,
    parts: &[Part],
    missing: &[Missing],
    scan: &LeakScan,
    scope: &ScanScope,
) -> Result<Archive, CliError> {
    let manifest = Manifest {
        posmate_support_bundle: FORMAT,
        created_at_ms,
        posmate_version: env!("CARGO_PKG_VERSION"),
        parts: parts
            .iter()
            .map(|p| PartEntry {
                name: &p.name,
                bytes: p.bytes.len(),
                sha256: hex(&Sha256::digest(&p.bytes)),
            })
            .collect(),
        missing,
        scan: scope,
    };
    let manifest = Part {
        name: "manifest.json".into(),
        bytes: serde_json::to_vec_pretty(&manifest).expect("the manifest serialises"),
    };
    let mut leaks: Vec<Leak> = Vec::new();
    for part in parts.iter().chain([&manifest]) {
        leaks.extend(scan.scan(&part.name, &part.bytes));
    }
    let mut builder = tar::Builder::new(Vec::new());
    for part in [&manifest].into_iter().chain(parts) {
        let mut header = tar::Header::new_gnu();
        header.set_size(part.bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(created_at_ms / 1000);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(
                &mut header,
                format!("{root}/{}", part.name),
                &part.bytes[..],
            )
            .map_err(|e| io_error("cannot build the bundle", e))?;
    }
    let bytes = builder
        .into_inner()
        .map_err(|e| io_error("cannot build the bundle", e))?;
    // Then every byte of the archive, headers and padding included: what is checked is
    // exactly what is written.
    if leaks.is_empty() {
        leaks = scan.scan("the archive", &bytes);
    }
    if let Some(first) = leaks.first() {
        return Err(CliError::new(
            Exit::Security,
            "bundle-leak",
            format!(
                "the support bundle was not written: {} found {} in {} (at byte {}){}",
                first.what,
                if leaks.len() > 1 {
                    "among other things"
                } else {
                    "once"
                },
                first.part,
                first.offset,
                if leaks.len() > 1 {
                    format!("; {} findings in all", leaks.len())
                } else {
                    String::new()
                },
            ),
        )
        .hint(
            "this is a posmate bug: please report it with the message above (it holds no secret)",
        ));
    }
    Ok(Archive {
        bytes,
        parts: parts.len() + 1,
    })
}

/// Writes `bytes` to `path` owner-only, through a temporary file renamed into place.
pub fn write(path: &Path, bytes: &[u8], force: bool) -> Result<(), CliError> {
    if path.exists() && !force {
        return Err(
            CliError::new(Exit::Usage, "usage", format!("{} exists", path.display()))
                .hint("choose another file, or add --force to replace it"),
        );
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let what = format!("cannot write {}", path.display());
    let result = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(&what, e));
    }
    Ok(())
}

fn io_error(what: &str, e: std::io::Error) -> CliError {
    CliError::new(Exit::Storage, "io", format!("{what}: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> ScanScope {
        ScanScope {
            keystore_secrets: 1,
            keystore_unreadable: None,
            full_card_numbers: true,
        }
    }

    #[test]
    fn a_clean_bundle_lists_its_parts_with_their_hashes() {
        let parts = [Part {
            name: "versions.json".into(),
            bytes: b"{}".to_vec(),
        }];
        let archive = build("b", 1_000, &parts, &[], &LeakScan::new(), &scope()).unwrap();
        let mut tar = tar::Archive::new(&archive.bytes[..]);
        let names: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["b/manifest.json", "b/versions.json"]);
        let text = String::from_utf8_lossy(&archive.bytes).into_owned();
        assert!(
            text.contains(&hex(&Sha256::digest(b"{}"))),
            "the part's hash"
        );
    }

    #[test]
    fn a_secret_or_a_card_number_stops_the_bundle() {
        let mut scan = LeakScan::new();
        scan.add_secret("keystore secret 'db-key'", &[0x5a; 32]);
        for bytes in [
            format!("key {}", "5a".repeat(32)).into_bytes(),
            b"pan=6222021234567890128".to_vec(),
        ] {
            let parts = [Part {
                name: "logs/posmate.log".into(),
                bytes,
            }];
            let err = build("b", 1_000, &parts, &[], &scan, &scope())
                .err()
                .expect("refused");
            assert_eq!(err.code, "bundle-leak");
            assert!(err.message.contains("logs/posmate.log"), "{}", err.message);
            assert!(!err.message.contains("5a5a"), "the message holds no secret");
        }
    }
}
