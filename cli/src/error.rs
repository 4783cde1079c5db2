//! The CLI's one error type and its exit codes (`docs/cli.md`). Every lower layer's error
//! is translated here once: a stable code, the exit status scripts branch on, the message
//! the layer wrote for people, and a hint for what to do next.

use posmate_core::acquirer::{AcquirerError, TlsReason};
use posmate_core::error::{Advice, Error as CoreError, ErrorKind};
use posmate_core::keystore::KeystoreError;
use posmate_core::session::SessionError;
use posmate_core::terminals::LinkError;
use posmate_core::transport::TransportError;
use posmate_sim::serve::HostError;
use posmate_sim_world::link::SimLinkError;
use posmate_sim_world::open::OpenError;
use posmate_sim_world::state::StateError;
use serde::Serialize;

/// Exit statuses. Stable: scripts depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Exit {
    Ok = 0,
    /// Anything not covered below (a bug, an unexpected answer).
    Other = 1,
    /// Bad arguments (clap's own usage errors exit with 2 too).
    Usage = 2,
    /// No such terminal in range, or nothing found.
    NotFound = 3,
    /// The terminal or a precondition refused: wrong code, locked, not paired.
    Refused = 4,
    /// Bluetooth (or the sim link) is unavailable, or the link failed.
    Transport = 5,
    /// The keystore or the local data directory failed.
    Storage = 6,
    /// The acquirer refused or could not be reached.
    Acquirer = 7,
    /// The user cancelled.
    Cancelled = 8,
    /// A security check failed: possible impostor, tampered link.
    Security = 9,
    /// A command over many items (`fleet activate`) finished with some of them failed; its
    /// report (not an error document) lists which and why.
    Partial = 10,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A failure as the user sees it.
#[derive(Debug, Serialize)]
pub struct CliError {
    /// Stable kebab-case code (the lower layer's code where it has one).
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub exit: u8,
    /// Whether doing the same again (after reconnecting, or later) can succeed; set for the
    /// flows' errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(skip)]
    pub status: Exit,
}

impl CliError {
    pub fn new(status: Exit, code: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            code: code.into(),
            message: message.into(),
            hint: None,
            exit: status.code(),
            retryable: None,
            status,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, "usage", message).hint("see `posmate help` for the commands")
    }

    pub fn storage(what: impl std::fmt::Display, err: std::io::Error) -> Self {
        CliError::new(Exit::Storage, "io", format!("{what}: {err}"))
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit status of each kind of core failure (`docs/cli.md`, "Exit codes"): the one place
/// the CLI decides what a failure means to a script.
impl From<ErrorKind> for Exit {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Internal => Exit::Other,
            ErrorKind::InvalidInput => Exit::Usage,
            ErrorKind::NotFound => Exit::NotFound,
            ErrorKind::Refused => Exit::Refused,
            ErrorKind::Unavailable => Exit::Transport,
            ErrorKind::Storage => Exit::Storage,
            ErrorKind::Acquirer => Exit::Acquirer,
            ErrorKind::Cancelled => Exit::Cancelled,
            ErrorKind::Security => Exit::Security,
        }
    }
}

/// The core's errors keep their code and message; the hint is what the core says the user
/// should do next, in the CLI's terms where the fix is one of its settings.
impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        let hint = match &e {
            CoreError::Acquirer(AcquirerError::Tls { reason, .. }) => tls_fix(*reason).into(),
            _ => e.user_action(),
        };
        let mut err = CliError::new(e.kind().into(), e.code(), e.to_string()).hint(hint);
        err.retryable = Some(e.is_retryable());
        err
    }
}

/// What to change when the acquirer's certificate is refused, naming the CLI's settings.
pub fn tls_fix(reason: TlsReason) -> &'static str {
    match reason {
        TlsReason::UnknownCa => "pass the acquirer's CA with --acquirer-ca FILE, or check the URL",
        TlsReason::PinMismatch => {
            "the acquirer's key is not a pinned one: confirm acquirer_pin with the acquirer \
             before changing it"
        }
        TlsReason::Other => {
            "check the acquirer URL and --acquirer-ca; if it persists, contact the acquirer"
        }
        TlsReason::Expired | TlsReason::NotYetValid | TlsReason::WrongHost => reason.fix(),
    }
}

impl CliError {
    /// A lower layer's error met outside the core's facade (scanning, pairing, opening the
    /// keystore): the status follows its kind and its code keeps the layer's own, as for
    /// the core's errors; the hint is the CLI's [`next_step`] for that code.
    fn from_layer(kind: ErrorKind, code: &str, message: String) -> Self {
        let err = CliError::new(kind.into(), code, message);
        match next_step(code) {
            Some(hint) => err.hint(hint),
            None => err,
        }
    }
}

const TRY_SIM: &str = "to work without hardware, add --sim (simulated terminals in this \
                       process) or --connect-sim ADDR (a running `posmate sim`)";

/// What to do next about a lower layer's failure, in the CLI's terms (its options and
/// commands). Keyed by the stable code because a wrapping layer keeps the code of the layer
/// that failed (a session's Bluetooth failure is still `bluetooth-unavailable`), so one
/// match covers an error wherever it surfaces, without unwrapping the layers.
fn next_step(code: &str) -> Option<&'static str> {
    Some(match code {
        "bluetooth-unavailable" | "adapter-not-found" => TRY_SIM,
        "not-paired" => "pair it again: posmate pair --sn <SN>",
        "possible-impostor" => {
            "if the terminal was wiped or replaced, forget it and pair again; otherwise do not \
             use it and contact support"
        }
        "identity-mismatch" | "device-key-changed" => {
            "do not use this terminal: it is not the one this phone knows by that SN; report it \
             to the acquirer"
        }
        "unreachable" => "check the terminal is on and in range, then retry",
        keystore if keystore.starts_with("keystore.") => {
            "`posmate doctor` checks the keystore; --keystore chooses another backend"
        }
        _ => return None,
    })
}

/// A control operation on the embedded simulation (`posmate --sim sim …`) failed: no such
/// terminal, or the simulated terminal's own refusal, with the sim link's code for it.
impl From<HostError> for CliError {
    fn from(e: HostError) -> Self {
        let status = match e {
            HostError::NotFound(_) => Exit::NotFound,
            _ => Exit::Refused,
        };
        CliError::new(status, e.code(), e.to_string())
    }
}

impl From<TransportError> for CliError {
    fn from(e: TransportError) -> Self {
        CliError::from_layer(e.kind(), e.code(), e.to_string())
    }
}

impl From<SessionError> for CliError {
    fn from(e: SessionError) -> Self {
        CliError::from_layer(e.kind(), e.code(), e.to_string())
    }
}

impl From<KeystoreError> for CliError {
    fn from(e: KeystoreError) -> Self {
        CliError::from_layer(e.kind(), e.code(), e.to_string())
    }
}

impl From<LinkError> for CliError {
    fn from(e: LinkError) -> Self {
        CliError::from_layer(e.kind(), e.code(), e.to_string())
    }
}

/// The sim server's refusals keep the server's own code. No hint: each message already says
/// what to do (start a server, check the address, match the versions).
impl From<SimLinkError> for CliError {
    fn from(e: SimLinkError) -> Self {
        let status = e.kind().into();
        let code = match &e {
            SimLinkError::Refused { code, .. } => code.clone(),
            other => other.code().to_owned(),
        };
        CliError::new(status, code, e.to_string())
    }
}

impl From<OpenError> for CliError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Bluetooth(e) => e.into(),
            OpenError::SimLink(e) => e.into(),
        }
    }
}

/// A simulated world's state file: the hints say how to start afresh.
impl From<StateError> for CliError {
    fn from(e: StateError) -> Self {
        let hint = match &e {
            StateError::Corrupt { .. } => {
                Some("move it away to start with fresh simulated terminals")
            }
            StateError::Books { .. } => Some("move it away to start with a fresh simulated world"),
            StateError::Io { .. } | StateError::Version { .. } => None,
        };
        let mut error = CliError::new(Exit::Storage, e.code(), e.to_string());
        error.hint = hint.map(Into::into);
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each exit status means, as the table in `docs/cli.md` words it. Exhaustive, so a
    /// new status cannot be added without its row.
    fn meaning(exit: Exit) -> &'static str {
        match exit {
            Exit::Ok => "success",
            Exit::Other => "anything else",
            Exit::Usage => {
                "usage: bad arguments or input, an option that does not fit the mode, a \
                 destructive command not confirmed"
            }
            Exit::NotFound => "not found",
            Exit::Refused => "refused, or a precondition is not met",
            Exit::Transport => "Bluetooth or the sim link is unavailable, or the link failed",
            Exit::Storage => "keystore or local storage",
            Exit::Acquirer => "acquirer: unreachable, or its refusal",
            Exit::Cancelled => "cancelled by the user",
            Exit::Security => "a security check failed",
            Exit::Partial => "some items of a many-item command failed (its report lists them)",
        }
    }

    /// The `| code | meaning |` cells of the table under `## Exit codes` in `docs/cli.md`.
    fn documented_exit_codes() -> Vec<(u8, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cli.md");
        let doc = std::fs::read_to_string(path).expect("docs/cli.md");
        let (_, section) = doc
            .split_once("\n## Exit codes\n")
            .expect("an Exit codes section");
        section
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .filter_map(|row| {
                let mut cells = row.split('|').skip(1).map(str::trim);
                let code = cells.next()?.parse().ok()?;
                Some((code, cells.next()?.to_owned()))
            })
            .collect()
    }

    /// The table is what `From<ErrorKind> for Exit` says: one row for success, then a row
    /// for each kind's status in code order (clap's usage errors share 2 with invalid input),
    /// then the partial failure of a many-item command.
    #[test]
    fn the_exit_code_table_in_the_docs_is_the_kinds_match() {
        let mut statuses = vec![Exit::Ok];
        for kind in ErrorKind::ALL {
            let status = Exit::from(kind);
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
        // Not a kind of error: a report whose rows partly failed.
        statuses.push(Exit::Partial);
        statuses.sort_by_key(|status| status.code());
        let expected: Vec<(u8, String)> = statuses
            .iter()
            .map(|&status| (status.code(), meaning(status).to_owned()))
            .collect();
        let documented = documented_exit_codes();
        for kind in ErrorKind::ALL {
            let status = Exit::from(kind);
            let row = (status.code(), meaning(status).to_owned());
            assert!(
                documented.contains(&row),
                "docs/cli.md has no row {row:?} for kind {kind}; it has {documented:?}"
            );
        }
        assert_eq!(documented, expected, "docs/cli.md's exit code table");
    }

    /// A wrapped lower-layer error gets the hint of the layer that failed.
    #[test]
    fn wrapped_errors_keep_the_hint_of_the_layer_that_failed() {
        let adapter = || TransportError::AdapterNotFound {
            name: "hci9".into(),
            available: vec![],
        };
        let cases: [(CliError, CliError); 3] = [
            (SessionError::Transport(adapter()).into(), adapter().into()),
            (
                LinkError::Session(SessionError::NotPaired).into(),
                SessionError::NotPaired.into(),
            ),
            (
                LinkError::Keystore(KeystoreError::PinConflict { sn: "SN1".into() }).into(),
                KeystoreError::PinConflict { sn: "SN1".into() }.into(),
            ),
        ];
        for (wrapped, alone) in cases {
            assert!(alone.hint.is_some(), "{alone:?} has a hint");
            assert_eq!(
                (wrapped.code, wrapped.hint, wrapped.exit),
                (alone.code, alone.hint, alone.exit)
            );
        }
        let gave_up = CliError::from(LinkError::GaveUp {
            attempts: 3,
            last: "timeout".into(),
        });
        assert_eq!(gave_up.status, Exit::Transport);
        assert!(gave_up.hint.is_some());
    }
}
