//! What every flow runs with, and the persisted-step discipline they share.

use std::sync::Arc;

use async_trait::async_trait;
use posmate_proto::message::{Info, Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{FlowControl, FlowKind, Progress};
use crate::acquirer::Gateway;
use crate::backup::{self, BackupSummary, Passphrase, Scope, WriteOptions};
use crate::error::{Error, Result};
use crate::keystore::SecretStore;
use crate::session::{Session, SessionError};
use crate::store::{AuditEvent, BackupRow, FlowRow, FlowStatus, Store};

/// Wall-clock time in ms since the Unix epoch (a trait so tests and the simulated world can
/// use their own time).
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// How flows reach a terminal: an open session by SN, reconnecting when needed.
#[async_trait]
pub trait TerminalLink: Send + Sync {
    /// A session to `sn`: the open one, or a new one resumed under the reconnect policy.
    async fn session(&self, sn: &str) -> Result<Arc<Session>>;
    /// Forgets the cached session to `sn` (it ended, or the terminal was wiped).
    async fn drop_session(&self, sn: &str);
    /// Pairs with `sn` again (code from the merchant) after it lost its pairing.
    async fn repair(&self, sn: &str) -> Result<Arc<Session>>;
    /// Forgets `sn`'s pinned key.
    fn forget(&self, sn: &str) -> Result<()>;
}

/// Everything a flow step may touch.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub secrets: &'a dyn SecretStore,
    pub gateway: &'a dyn Gateway,
    pub link: &'a dyn TerminalLink,
    pub clock: &'a dyn Clock,
    pub control: &'a FlowControl,
    /// How backups taken by flows are encrypted.
    pub backup: &'a WriteOptions,
}

impl Ctx<'_> {
    /// One request to `sn`. A session that ended is dropped so the next call reconnects;
    /// the terminal's refusals and "not paired" become the core's own errors.
    pub(crate) async fn request(&self, sn: &str, request: Request) -> Result<Response> {
        let session = self.link.session(sn).await?;
        match session.request(request).await {
            Ok(r) => Ok(r),
            Err(e) => {
                if !session.is_open()
                    || matches!(
                        e,
                        SessionError::Timeout(_)
                            | SessionError::Closed(_)
                            | SessionError::Transport(_)
                    )
                {
                    self.link.drop_session(sn).await;
                }
                Err(match Error::from_session(e) {
                    Error::NeedsPairing { .. } => Error::NeedsPairing { sn: sn.into() },
                    other => other,
                })
            }
        }
    }

    /// Appends one audit entry in its own transaction.
    pub(crate) fn audit(
        &self,
        action: &str,
        sn: Option<&str>,
        inputs: serde_json::Value,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let draft = AuditEvent {
            at_ms: self.clock.now_ms(),
            action: action.into(),
            sn: sn.map(str::to_owned),
            inputs,
            outcome: outcome.into(),
            detail,
        };
        self.store.write(|tx| tx.append_audit(&draft).map(|_| ()))?;
        Ok(())
    }

    /// Writes and verifies an encrypted backup of what `scope` covers to `path`, and records
    /// it in the store (as verified, for this terminal or the whole phone); returns the
    /// stored row and what was written. Each caller audits it in its own words.
    pub(crate) fn write_backup(
        &self,
        scope: &Scope,
        path: &std::path::Path,
        passphrase: &Passphrase,
    ) -> Result<(BackupRow, BackupSummary)> {
        let archive = backup::collect(self.store, scope, self.clock.now_ms(), None)?;
        let summary = backup::write_archive(path, &archive, passphrase, self.backup)?;
        let row = BackupRow {
            id: random_id("backup"),
            path: path.display().to_string(),
            sha256: summary.sha256,
            created_at_ms: self.clock.now_ms(),
            verified_at_ms: Some(self.clock.now_ms()),
            records: summary.manifest.records.count,
            sn: match scope {
                Scope::Phone => None,
                Scope::Terminal(sn) => Some(sn.clone()),
            },
        };
        self.store.write(|tx| tx.put_backup(&row))?;
        Ok((row, summary))
    }
}

/// A flow's persisted row with its typed state.
pub(crate) struct Flow<S> {
    pub row: FlowRow,
    pub state: S,
}

impl<S: Serialize + DeserializeOwned> Flow<S> {
    /// Creates and persists a new flow at its first step.
    pub fn create(ctx: &Ctx<'_>, kind: FlowKind, sn: Option<&str>, state: S) -> Result<Self> {
        let now = ctx.clock.now_ms();
        let row = FlowRow {
            id: new_id(kind),
            kind: kind.as_str().into(),
            sn: sn.map(str::to_owned),
            step: "start".into(),
            state: serde_json::Value::Null,
            status: FlowStatus::Running,
            started_at_ms: now,
            updated_at_ms: now,
            error: None,
        };
        let mut flow = Flow { row, state };
        flow.save(ctx)?;
        Ok(flow)
    }

    /// Loads a persisted flow.
    pub fn load(row: FlowRow) -> Result<Self> {
        let state = serde_json::from_value(row.state.clone()).map_err(|e| Error::InvalidInput {
            field: "flow state",
            reason: format!("flow {} cannot be read by this version: {e}", row.id),
        })?;
        Ok(Flow { row, state })
    }

    pub fn step(&self) -> &str {
        &self.row.step
    }

    /// Persists the state as it is now.
    pub fn save(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        self.row.state = serde_json::to_value(&self.state).map_err(|e| Error::InvalidInput {
            field: "flow state",
            reason: e.to_string(),
        })?;
        self.row.updated_at_ms = ctx.clock.now_ms();
        let row = self.row.clone();
        ctx.store.write(|tx| tx.flow_save(&row))?;
        Ok(())
    }

    /// Checks for cancellation, then persists `step` as the one about to be taken and
    /// reports progress. `resumable` says whether a cancel here pauses (the flow is past a
    /// point of no return and must be finished later) or cancels it.
    pub fn enter(
        &mut self,
        ctx: &Ctx<'_>,
        step: &str,
        fraction: f32,
        detail: &str,
        resumable: bool,
    ) -> Result<()> {
        // The step before this one is done: a resumed flow starts here either way.
        self.row.step = step.into();
        if ctx.control.cancel.is_cancelled() {
            self.row.status = if resumable {
                FlowStatus::Paused
            } else {
                FlowStatus::Cancelled
            };
            self.row.error = Some("cancelled by the user".into());
            self.save(ctx)?;
            return Err(Error::Cancelled);
        }
        self.row.status = FlowStatus::Running;
        self.save(ctx)?;
        self.report(ctx, fraction, detail);
        Ok(())
    }

    pub fn report(&self, ctx: &Ctx<'_>, fraction: f32, detail: &str) {
        ctx.control.progress.on_progress(&Progress {
            flow_id: self.row.id.clone(),
            kind: self.row.kind.clone(),
            step: self.row.step.clone(),
            fraction,
            detail: detail.into(),
        });
    }

    /// Ends the flow with `status`.
    pub fn finish(
        &mut self,
        ctx: &Ctx<'_>,
        status: FlowStatus,
        error: Option<String>,
    ) -> Result<()> {
        if status == FlowStatus::Done {
            self.row.step = "done".into();
        }
        self.row.status = status;
        self.row.error = error;
        self.save(ctx)?;
        if status == FlowStatus::Done {
            self.report(ctx, 1.0, "done");
        }
        Ok(())
    }

    /// Marks the flow failed with `err` (persisted) and returns `err`.
    pub fn fail(&mut self, ctx: &Ctx<'_>, err: Error) -> Error {
        match self.finish(
            ctx,
            FlowStatus::Failed,
            Some(format!("{}: {err}", err.code())),
        ) {
            Ok(()) => err,
            Err(store_err) => store_err,
        }
    }
}

/// The open (running or paused) flow of `kind` for `sn`, if any: each flow resumes the
/// one it left open rather than starting a second.
pub(crate) fn open_flow(ctx: &Ctx<'_>, kind: FlowKind, sn: &str) -> Result<Option<FlowRow>> {
    Ok(ctx
        .store
        .read(|tx| tx.flows_for(sn))?
        .into_iter()
        .find(|f| {
            f.kind == kind.as_str() && matches!(f.status, FlowStatus::Running | FlowStatus::Paused)
        }))
}

/// The error for a persisted step this version's `flow` does not know (a row written by
/// another version, or damaged).
pub(crate) fn unknown_step(flow: &str, step: &str) -> Error {
    Error::InvalidInput {
        field: "flow step",
        reason: format!("unknown {flow} step '{step}'"),
    }
}

/// `sn`'s info, checked to come from `sn` (a terminal answering for another is refused)
/// with the device key the phone learnt for it, before any step acts on it.
pub(crate) async fn info(ctx: &Ctx<'_>, sn: &str) -> Result<Info> {
    match ctx.request(sn, Request::GetInfo).await? {
        Response::Info(info) if info.sn == sn => {
            let learnt = ctx.store.read(|tx| tx.learnt_device_key(sn))?;
            if learnt.is_some_and(|k| k != info.device_key) {
                return Err(crate::store::StoreError::DeviceKeyChanged { sn: sn.into() }.into());
            }
            Ok(info)
        }
        Response::Info(info) => Err(Error::WrongTerminal {
            expected: sn.into(),
            found: info.sn,
        }),
        _ => Err(Error::Session(SessionError::UnexpectedResponse)),
    }
}

/// A flow id: kind plus random bits, readable in logs ("activation-af9c…").
pub(crate) fn new_id(kind: FlowKind) -> String {
    random_id(kind.as_str())
}

/// `prefix-` and 62 random bits as 16 hex digits, the first always a letter (a, b, e or f).
///
/// Ids go wherever the phone writes (audit, support bundles, logs), and all of that is
/// scanned for full card numbers, which refuses on purpose anything that could be one. A
/// plain hex id is 16 decimal digits one time in 1,800; one in ten of those that start
/// with 2–6 passes Luhn and is a "card number" (a support bundle was once refused for a
/// flow id). A letter first means no digit run in an id ever starts a number by itself.
pub(crate) fn random_id(prefix: &str) -> String {
    id_from_bits(prefix, rand::random())
}

fn id_from_bits(prefix: &str, bits: u64) -> String {
    format!("{prefix}-{:016x}", bits | 0xa << 60)
}

/// An idempotency key for one acquirer request.
pub(crate) fn request_id() -> String {
    format!("req-{:032x}", rand::random::<u128>())
}

/// Whether a step's failure leaves the flow resumable (link or network trouble) rather than
/// failed: the step is repeated on resume.
pub(crate) fn is_interruption(e: &Error) -> bool {
    match e {
        Error::Session(_) | Error::Unreachable { .. } | Error::NeedsPairing { .. } => true,
        Error::Acquirer(a) => a.is_retryable(),
        Error::Store(s) => s.is_retryable(),
        Error::TerminalRefused { .. } => e.is_retryable(),
        Error::NeedsInput { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use posmate_proto::pan::{contains_full_pan, luhn_valid};

    use super::*;

    #[test]
    fn an_id_of_decimal_looking_bits_is_no_card_number() {
        // 16 decimal digits, a scheme's first digit, a valid check digit: what plain hex
        // made of these bits would have been.
        let bits = 0x4111_1111_1111_1111;
        assert!(luhn_valid(&format!("{bits:016x}")));
        assert!(contains_full_pan(format!("flow-{bits:016x}").as_bytes()));

        let id = id_from_bits("activation", bits);
        assert_eq!(id, "activation-e111111111111111");
        assert!(!contains_full_pan(id.as_bytes()), "{id}");
    }

    #[test]
    fn ids_start_their_random_part_with_a_letter_and_differ() {
        let ids: Vec<String> = (0..2000).map(|_| random_id("backup")).collect();
        for id in &ids {
            let random = id.strip_prefix("backup-").unwrap();
            assert_eq!(random.len(), 16, "{id}");
            assert!(
                matches!(random.as_bytes()[0], b'a' | b'b' | b'e' | b'f'),
                "{id}"
            );
            assert!(!contains_full_pan(id.as_bytes()), "{id}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
