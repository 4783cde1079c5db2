//! Gathering the bundle's parts. Each part is read on its own and a failure becomes a line in
//! the manifest, not a failed command: a support bundle is most needed exactly when
//! something is broken (the keystore locked, the database key lost, Bluetooth gone).

use std::path::Path;

use posmate_core::diagnostics;
use posmate_core::keystore::SecretStore;
use posmate_core::leak_scan::LeakScan;
use posmate_core::plural::count;
use posmate_core::store::{Store, StoreOptions, DB_FILE};
use posmate_sim_world::recording::{TraceDir, TraceFile};
use serde::Serialize;

use super::archive::{self, Missing, Part, ScanScope};
use crate::commands::doctor;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::logfile;
use crate::output::Report;

/// What `support bundle` prints.
#[derive(Debug, Serialize)]
pub struct BundleReport {
    pub path: String,
    pub bytes: usize,
    pub parts: usize,
    pub missing: Vec<Missing>,
    pub scan: ScanScope,
}

impl Report for BundleReport {
    fn human(&self) -> String {
        let mut out = format!(
            "wrote {} ({}, {}); scanned for {} and full card numbers: none found\n",
            self.path,
            count(self.bytes, "byte", "bytes"),
            count(self.parts, "file", "files"),
            count(
                self.scan.keystore_secrets,
                "keystore secret",
                "keystore secrets"
            ),
        );
        if let Some(why) = &self.scan.keystore_unreadable {
            out.push_str(&format!(
                "note: the keystore could not be read, so its secrets were not searched for: {why}\n"
            ));
        }
        for m in &self.missing {
            out.push_str(&format!(
                "not included: {} ({}: {})\n",
                m.part, m.code, m.reason
            ));
        }
        out
    }
}

#[derive(Serialize)]
struct Versions {
    posmate: &'static str,
    protocol: u8,
    os: &'static str,
    arch: &'static str,
    kernel: Option<String>,
    bluez: Option<String>,
    mode: &'static str,
}

pub async fn run(ctx: &Ctx, output: &Path, force: bool) -> Result<Exit, CliError> {
    if output.exists() && !force {
        // Before any work: the same refusal `archive::write` makes, without the wait.
        archive::write(output, &[], false)?;
    }
    let created_at_ms = now_ms();
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    let doctor = doctor::report(ctx).await;
    parts.push(json_part("versions.json", &versions(doctor.mode)));
    parts.push(json_part("doctor.json", &doctor));

    let data_dir = ctx.data_dir().ok().filter(|d| d.is_dir());
    let (scan, scope) = match data_dir {
        Some(dir) if dir.join(DB_FILE).is_file() => phone_parts(ctx, dir, &mut parts, &mut missing),
        _ => {
            missing.push(Missing {
                part: "phone.json".into(),
                code: "no-phone".into(),
                reason: "this data directory holds no phone database".into(),
            });
            (LeakScan::new(), scope(0, None))
        }
    };
    if let Some(dir) = data_dir {
        parts.push(json_part("links.json", &links(dir)));
        for file in logfile::files(dir) {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            match (name, std::fs::read(&file)) {
                (Some(name), Ok(bytes)) => parts.push(Part {
                    name: format!("logs/{name}"),
                    bytes,
                }),
                (_, Err(e)) => missing.push(Missing {
                    part: format!("logs/{}", file.display()),
                    code: "io".into(),
                    reason: e.to_string(),
                }),
                (None, Ok(_)) => {}
            }
        }
    }
    parts.push(Part {
        name: "README.txt".into(),
        bytes: README.as_bytes().to_vec(),
    });
    let root = format!("posmate-support-{created_at_ms}");
    let built = archive::build(&root, created_at_ms, &parts, &missing, &scan, &scope)?;
    archive::write(output, &built.bytes, force)?;
    ctx.out.report(&BundleReport {
        path: output.display().to_string(),
        bytes: built.bytes.len(),
        parts: built.parts,
        missing,
        scan: scope,
    });
    Ok(Exit::Ok)
}

/// The phone's own part, and the scan for its keystore's secrets.
fn phone_parts(
    ctx: &Ctx,
    dir: &Path,
    parts: &mut Vec<Part>,
    missing: &mut Vec<Missing>,
) -> (LeakScan, ScanScope) {
    let secrets = match ctx.keystore() {
        Ok(s) => s,
        Err(e) => {
            missing.push(Missing {
                part: "phone.json".into(),
                code: e.code.clone(),
                reason: e.message.clone(),
            });
            return (LeakScan::new(), scope(0, Some(e.message)));
        }
    };
    let (scan, scope) = match LeakScan::with_secrets_of(&*secrets) {
        Ok(scan) => {
            let n = secrets.list().map_or(0, |l| l.len());
            (scan, scope(n, None))
        }
        Err(e) => (LeakScan::new(), scope(0, Some(e.to_string()))),
    };
    // The database exists, so opening creates nothing; it is only read. A volatile
    // keystore was accepted when the database was made, so it is accepted here too.
    let opened = Store::open(
        dir,
        &*secrets,
        &StoreOptions {
            allow_volatile_key: true,
            max_pages: None,
        },
    );
    match opened.and_then(|store| diagnostics::collect(&store)) {
        Ok(phone) => parts.push(json_part("phone.json", &phone)),
        Err(e) => {
            let e = posmate_core::error::Error::from(e);
            missing.push(Missing {
                part: "phone.json".into(),
                code: e.code().into(),
                reason: e.to_string(),
            });
        }
    }
    (scan, scope)
}

fn scope(keystore_secrets: usize, keystore_unreadable: Option<String>) -> ScanScope {
    ScanScope {
        keystore_secrets,
        keystore_unreadable,
        full_card_numbers: true,
    }
}

/// The recorded connections' summaries (the traces themselves hold the simulated
/// terminals' flash and stay on this machine).
fn links(dir: &Path) -> serde_json::Value {
    let traces = TraceDir::new(dir.join("sim").join("traces"));
    let summaries: Vec<serde_json::Value> = traces
        .files()
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match TraceFile::read(path) {
                Ok(file) => serde_json::to_value(file.summary(&name)).unwrap_or_default(),
                Err(e) => serde_json::json!({ "file": name, "error": e.code() }),
            }
        })
        .collect();
    serde_json::json!({ "traces": summaries })
}

fn versions(mode: &'static str) -> Versions {
    Versions {
        posmate: env!("CARGO_PKG_VERSION"),
        protocol: posmate_proto::handshake::PROTOCOL_VERSION,
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned()),
        bluez: std::process::Command::new("bluetoothd")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        mode,
    }
}

fn json_part(name: &str, value: &impl Serialize) -> Part {
    Part {
        name: name.into(),
        bytes: serde_json::to_vec_pretty(value).expect("a bundle part serialises"),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

const README: &str = "posmate support bundle
======================

manifest.json   what this bundle holds (with each file's SHA-256), what could not be read
                and why, and what the leak scan covered
versions.json   posmate, protocol, OS, kernel and BlueZ versions, and the mode
doctor.json     `posmate doctor`'s checks at the time the bundle was made
phone.json      the phone's terminals, open and recent flows, cards (masked numbers),
                the newest records (masked) and the audit trail's check and last entries
links.json      summaries of the simulated terminals' recorded connections (sizes,
                times, faults, how they ended); the traces themselves stay on the phone's
                machine and replay with `posmate sim --replay FILE`
logs/           the CLI's log (info level), newest file first

Nothing here is a key, a full card number, an activation or pairing code or a passphrase.
";
