//! `posmate doctor`: what works and what to fix — Bluetooth (D-Bus, BlueZ, adapter, power,
//! permission), the keystore (backend, durability), the data directory and, in simulation,
//! the simulated terminals; then the config file and profile in use, and the acquirer
//! configured: its health over HTTPS and its credential's keystore entry.

use btleplug::api::{Central, Manager as _};
use posmate_core::acquirer::https::{self, API_VERSION};
use posmate_core::acquirer::AcquirerError;
use posmate_core::keystore::consent::{self, Consent};
use posmate_core::keystore::SecretStore;
use posmate_core::plural::count;
use posmate_core::transport::btle::{BtleOptions, BtleTransport};
use posmate_core::transport::{TransportError, Unavailability};
use posmate_sim_world::embedded::Embedded;
use posmate_sim_world::link::{wire, TcpTransport};
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{tls_fix, CliError, Exit};
use crate::fmt;
use crate::output::Report;
use crate::settings::ProfileSource;
use crate::transport_select::Mode;

/// Check Bluetooth, the keystore and the data directory, and say what to fix.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate doctor
  posmate --sim doctor               Bluetooth problems are only warnings in simulation
  posmate --json doctor | jq '.checks[] | select(.status == \"fail\")'

Exit status: 0 when nothing failed, else that of the first failed check
(5 Bluetooth or sim link, 6 keystore or data directory, 7 acquirer).")]
pub struct Args {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The keystore check's backend name (`secret-service`, `linux-keyutils`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'static str>,
    /// The keystore check's answer: whether the backend keeps secrets across reboots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durable: Option<bool>,
    /// When the user accepted a volatile keystore for this data directory (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volatile_key_accepted_at: Option<String>,
    /// The exit status this check gives when it fails.
    #[serde(skip)]
    exit: Exit,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>, exit: Exit) -> Self {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: None,
            backend: None,
            durable: None,
            volatile_key_accepted_at: None,
            exit,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

#[derive(Debug, Serialize)]
pub struct DoctorReport {
    pub ok: bool,
    pub mode: &'static str,
    pub checks: Vec<Check>,
}

impl Report for DoctorReport {
    fn human(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let status = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            out.push_str(&format!("{status}  {:<20} {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      {:<20} fix: {fix}\n", ""));
            }
        }
        out.push_str(if self.ok {
            "nothing to fix\n"
        } else {
            "some checks failed; see the fixes above\n"
        });
        out
    }
}

pub async fn run(ctx: &Ctx, _args: Args) -> Result<Exit, CliError> {
    let report = report(ctx).await;
    ctx.out.report(&report);
    Ok(report.exit())
}

/// Runs every check (also for `support bundle`, which includes the report).
pub async fn report(ctx: &Ctx) -> DoctorReport {
    let mode = ctx.mode();
    let mut checks = bluetooth(mode == Mode::Bluetooth).await;
    checks.extend(data_dir(ctx));
    checks.push(keystore(ctx));
    match &mode {
        Mode::Bluetooth => {}
        Mode::Embedded => checks.push(embedded(ctx)),
        Mode::Remote(addr) => checks.push(remote(addr).await),
    }
    checks.push(config(ctx));
    checks.push(acquirer(ctx).await);
    checks.extend(acquirer_credential(ctx));
    DoctorReport {
        ok: checks.iter().all(|c| c.status != Status::Fail),
        mode: match mode {
            Mode::Bluetooth => "bluetooth",
            Mode::Embedded => "sim",
            Mode::Remote(_) => "sim-link",
        },
        checks,
    }
}

impl DoctorReport {
    /// The exit status of the first failed check, or success.
    pub fn exit(&self) -> Exit {
        self.checks
            .iter()
            .find(|c| c.status == Status::Fail)
            .map_or(Exit::Ok, |c| c.exit)
    }
}

/// The Bluetooth checks, from what opening the radio says. Without `required` (in
/// simulation) a failure is a warning.
async fn bluetooth(required: bool) -> Vec<Check> {
    let bad = if required { Status::Fail } else { Status::Warn };
    let names = [
        "bluetooth.dbus",
        "bluetooth.bluez",
        "bluetooth.adapter",
        "bluetooth.power",
        "bluetooth.permission",
    ];
    let check =
        |i: usize, status, detail: String| Check::new(names[i], status, detail, Exit::Transport);
    match BtleTransport::new(BtleOptions::default()).await {
        Ok(_) => {
            let adapters = adapter_names().await.join(", ");
            vec![
                check(0, Status::Ok, "the system bus answers".into()),
                check(1, Status::Ok, "BlueZ is running".into()),
                check(2, Status::Ok, format!("adapters: {adapters}")),
                check(3, Status::Ok, "the adapter is powered on".into()),
                check(4, Status::Ok, "access granted".into()),
            ]
        }
        Err(TransportError::BluetoothUnavailable { cause, .. }) => {
            // The checks run in order; the cause says which one failed first.
            let failed_at = match cause {
                Unavailability::NoSystemBus => 0,
                Unavailability::BlueZMissing | Unavailability::BlueZCannotStart => 1,
                Unavailability::NoAdapter => 2,
                Unavailability::AdapterPoweredOff => 3,
                Unavailability::PermissionDenied => 4,
            };
            let mut detail = cause.to_string();
            if !required {
                detail.push_str(" (not needed in simulation)");
            }
            (0..names.len())
                .map(|i| match i.cmp(&failed_at) {
                    std::cmp::Ordering::Less => check(i, Status::Ok, "passed".into()),
                    std::cmp::Ordering::Equal => check(i, bad, detail.clone()).fix(cause.fix()),
                    std::cmp::Ordering::Greater => check(
                        i,
                        Status::Skip,
                        "not checked: an earlier check failed".into(),
                    ),
                })
                .collect()
        }
        Err(e) => vec![Check::new("bluetooth", bad, e.to_string(), Exit::Transport)],
    }
}

/// Adapter names as the platform reports them (`hci0 (usb:…)`).
async fn adapter_names() -> Vec<String> {
    let Ok(manager) = btleplug::platform::Manager::new().await else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for adapter in manager.adapters().await.unwrap_or_default() {
        if let Ok(info) = adapter.adapter_info().await {
            names.push(info);
        }
    }
    names.sort();
    names
}

fn data_dir(ctx: &Ctx) -> Option<Check> {
    let check = |status, detail: String| Check::new("data-dir", status, detail, Exit::Storage);
    let dir = match ctx.ensure_data_dir() {
        Ok(dir) => dir,
        Err(e) => {
            let fix = e
                .hint
                .clone()
                .unwrap_or_else(|| "pass --data-dir DIR".into());
            return Some(check(Status::Fail, e.message).fix(fix));
        }
    };
    let probe = dir.join(".doctor-probe");
    let written = std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe));
    Some(match written {
        Ok(()) => check(Status::Ok, format!("{} is writable", dir.display())),
        Err(e) => check(
            Status::Fail,
            format!("cannot write in {}: {e}", dir.display()),
        )
        .fix("choose a writable directory with --data-dir"),
    })
}

/// Which store holds the keys, whether it is durable, and for a volatile one whether the
/// user accepted it for this data directory (and when): accepted is a warning, not accepted
/// a failure (every command that opens the phone would refuse), unreachable a failure.
fn keystore(ctx: &Ctx) -> Check {
    let check = |status, detail: String| Check::new("keystore", status, detail, Exit::Storage);
    let store = match ctx.keystore() {
        Ok(store) => store,
        Err(e) => {
            // The keystore's message is "<what is missing>. To fix: <what to do>".
            let (detail, fix) = match e.message.split_once(". To fix: ") {
                Some((detail, fix)) => (detail.to_string(), fix.to_string()),
                None => (
                    e.message.clone(),
                    "choose another backend with --keystore".into(),
                ),
            };
            let mut detail = detail;
            if let Err(reason) = ctx.keyring_session() {
                detail.push_str(&format!(" (no session keyring: {reason})"));
            }
            return check(Status::Fail, detail).fix(fix);
        }
    };
    let info = store.backend();
    let dir = match ctx.ensure_data_dir() {
        Ok(dir) => dir,
        Err(e) => return check(Status::Fail, e.message),
    };
    let mut result = match consent::check(dir, &info, ctx.settings.allow_volatile_key) {
        Err(e) => check(Status::Fail, e.to_string()),
        Ok(Consent::NotNeeded) => check(
            Status::Ok,
            format!("{}, durable: {}", info.name, info.description),
        ),
        Ok(Consent::Recorded(c)) => {
            let when = fmt::time(c.accepted_at_ms);
            let mut check = check(
                Status::Warn,
                format!(
                    "{}, NOT durable, volatile key accepted by the user on {when} UTC: {}",
                    info.name, info.description
                ),
            )
            .fix(KEEP_ACROSS_REBOOTS);
            check.volatile_key_accepted_at = Some(when);
            check
        }
        Ok(Consent::GivenNow) => check(
            Status::Warn,
            format!(
                "{}, NOT durable, accepted by --allow-volatile-key on this call (recorded when a \
                 command first opens the phone): {}",
                info.name, info.description
            ),
        )
        .fix(KEEP_ACROSS_REBOOTS),
        Ok(Consent::Missing) => check(
            Status::Fail,
            format!(
                "{}, NOT durable, and keeping the database key there was not accepted for this \
                 data directory",
                info.name
            ),
        )
        .fix(
            "choose --keystore os (durable), or accept the risk once with \
             --allow-volatile-key (recorded in the data directory)",
        ),
    };
    result.backend = Some(info.name);
    result.durable = Some(info.durable);
    result
}

/// How to get off a volatile keystore keeping the phone's data (a backup holds no secret
/// key, so the new phone pairs its terminals again).
const KEEP_ACROSS_REBOOTS: &str = "to keep the keys across reboots, move to the durable store: \
                                   posmate backup create FILE, then posmate --keystore os \
                                   --data-dir NEW_DIR backup restore FILE, and pair the \
                                   terminals again there";

fn embedded(ctx: &Ctx) -> Check {
    let check = |status, detail: String| Check::new("sim", status, detail, Exit::Storage);
    match ctx
        .ensure_data_dir()
        .and_then(|dir| Embedded::open(dir).map_err(CliError::from))
    {
        Ok(sim) => {
            let state = if sim.path().exists() {
                "kept in"
            } else {
                "fresh; will be kept in"
            };
            check(
                Status::Ok,
                format!(
                    "{}, {state} {}",
                    count(
                        sim.terminal_count(),
                        "simulated terminal",
                        "simulated terminals"
                    ),
                    sim.path().display()
                ),
            )
        }
        Err(e) => {
            let fix = e.hint.clone().unwrap_or_default();
            check(Status::Fail, e.message).fix(fix)
        }
    }
}

async fn remote(addr: &str) -> Check {
    match TcpTransport::open(addr).await {
        Ok(t) => Check::new(
            "sim-link",
            Status::Ok,
            format!(
                "{} at {addr}: {}, sim-link protocol {}",
                t.server().server,
                count(t.server().terminals, "terminal", "terminals"),
                wire::PROTOCOL_VERSION
            ),
            Exit::Transport,
        ),
        Err(e) => Check::new("sim-link", Status::Fail, e.to_string(), Exit::Transport)
            .fix(format!("start one: posmate sim --listen {addr}")),
    }
}

/// Which config file and profile this run uses: the first thing to know when a setting is
/// not what was expected (`posmate config show` says where each one came from).
fn config(ctx: &Ctx) -> Check {
    let settings = &ctx.settings;
    let from = match settings.profile_source {
        ProfileSource::Flag => "from --profile",
        ProfileSource::Env => "from POSMATE_PROFILE",
        ProfileSource::File => "the file's default_profile",
        ProfileSource::Default => "none chosen",
    };
    let file = match (&settings.config.path, settings.config.exists) {
        (Some(path), true) => format!("config file {}", path.display()),
        (Some(path), false) => format!("no config file at {} (defaults)", path.display()),
        (None, _) => "no config directory on this platform (defaults)".into(),
    };
    let detail = format!("profile {} ({from}); {file}", settings.profile);
    match settings
        .config
        .path
        .as_deref()
        .filter(|p| others_may_write(p))
    {
        // Whoever can write the file chooses the data directory and the acquirer.
        Some(path) => Check::new("config", Status::Warn, detail, Exit::Usage).fix(format!(
            "other users may change it: chmod go-w {}",
            path.display()
        )),
        None => Check::new("config", Status::Ok, detail, Exit::Usage),
    }
}

/// Whether users other than the owner may write `path` (false when it does not exist).
#[cfg(unix)]
fn others_may_write(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o022 != 0)
}

#[cfg(not(unix))]
fn others_may_write(_path: &std::path::Path) -> bool {
    false
}

/// The acquirer the flows reach over HTTPS: `GET /v1/health` through the client they
/// use, so a refused certificate, an unreachable host or another API version shows here
/// with its fix rather than in the middle of an activation.
async fn acquirer(ctx: &Ctx) -> Check {
    let check = |status, detail: String| Check::new("acquirer", status, detail, Exit::Acquirer);
    let client = match ctx.acquirer_client() {
        Ok(Some(client)) => client,
        Ok(None) => {
            return match (&ctx.settings.acquirer_url, ctx.mode()) {
                (_, Mode::Bluetooth) => check(Status::Warn, "no acquirer_url configured".into())
                    .fix("posmate config set acquirer_url https://… (or pass --acquirer-url URL)"),
                (Some(url), _) => check(
                    Status::Ok,
                    format!(
                        "the simulated acquirer: --sim leaves the profile's {} unused (pass \
                         --acquirer-url URL to use it)",
                        url.as_str()
                    ),
                ),
                (None, _) => check(
                    Status::Ok,
                    "no acquirer_url configured: the simulated acquirer".into(),
                ),
            }
        }
        Err(e) => {
            return check(Status::Fail, e.to_string())
                .fix("posmate config show lists where the acquirer settings come from")
        }
    };
    let url = client.base_url().to_owned();
    match https::health(&client).await {
        Ok(h) if h.api_version == API_VERSION => check(
            Status::Ok,
            format!("{url}: {}, API v{}", h.server, h.api_version),
        ),
        Ok(h) => check(
            Status::Warn,
            format!(
                "{url}: {} speaks API v{}, posmate speaks v{API_VERSION}",
                h.server, h.api_version
            ),
        )
        .fix(format!(
            "update posmate, or check that the URL names the acquirer's v{API_VERSION} API"
        )),
        Err(e) => {
            let fix = match &e {
                AcquirerError::Tls { reason, .. } => tls_fix(*reason).into(),
                _ => e.user_action(),
            };
            check(Status::Fail, format!("{url}: {e} ({})", e.code())).fix(fix)
        }
    }
}

/// Whether the keystore entry the acquirer credential reference names exists in this data
/// directory's keystore (only when an acquirer is configured).
fn acquirer_credential(ctx: &Ctx) -> Option<Check> {
    let check =
        |status, detail: String| Check::new("acquirer.credential", status, detail, Exit::Acquirer);
    let settings = &ctx.settings;
    let url = settings.acquirer_url.as_ref()?;
    let Some(credential) = &settings.acquirer_credential else {
        return Some(
            check(
                Status::Warn,
                format!("{}, without a credential", url.as_str()),
            )
            .fix("name its keystore entry: posmate config set acquirer_credential NAME"),
        );
    };
    let entry = credential.entry();
    let present = ctx.keystore().ok().and_then(|store| store.list().ok());
    Some(match present {
        Some(names) if names.contains(&entry) => check(
            Status::Ok,
            format!("{}, credential in keystore entry {entry}", url.as_str()),
        ),
        Some(_) => check(
            Status::Warn,
            format!(
                "{}, but keystore entry {entry} does not exist",
                url.as_str()
            ),
        )
        .fix(format!(
            "store the acquirer's credential in this data directory's keystore as {entry}"
        )),
        None => check(
            Status::Skip,
            format!(
                "{}, credential {entry} not checked: the keystore did not open",
                url.as_str()
            ),
        ),
    })
}
