//! The facade the CLI and the bindings drive: one object per data directory holding the
//! store, the keystore, the link to terminals and the acquirer gateway, with every
//! lifecycle flow as a method. It adds no rules of its own; it wires the flows to the
//! resources they need. How it reaches a terminal by serial number (one open session per
//! terminal, finding where it is) lives in [`crate::terminal_link`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use posmate_proto::message::{Info, Request, Response};

use crate::acquirer::Gateway;
use crate::backup::{self, BackupSummary, Passphrase, RestoreSummary, Scope, WriteOptions};
use crate::error::{Error, Result};
use crate::flows::{
    self, ActivationInput, ActivationOutcome, BindInput, Clock, Ctx, DecommissionInput,
    DecommissionOutcome, DormancyReport, FlowControl, FlowKind, ReplacementInput,
    ReplacementOutcome, SettlementOutcome, SyncOutcome,
};
use crate::keystore::{self, KeyringStore, KeystoreChoice, Namespace, SecretStore};
use crate::session::{CodeEntry, Session, SessionConfig, SessionError};
use crate::store::{
    AuditCheck, AuditEntry, CardRow, FlowRow, FlowStatus, HistoryPage, HistoryQuery, Store,
    StoreOptions, TerminalRow,
};
use crate::terminal_link::{self, Link, Sessions};
use crate::terminals::Terminals;
use crate::transport::manager::ReconnectPolicy;
use crate::transport::observed::{LinkState, ObservedTransport};
use crate::transport::{scan_for, Candidate, PeripheralId, ScanFilter, ScanStream, Transport};

/// How to open a companion.
#[derive(Clone)]
pub struct CompanionConfig {
    pub data_dir: PathBuf,
    pub keystore: KeystoreChoice,
    /// Accept a keystore that is not durable for the database key (the user was told).
    pub allow_volatile_key: bool,
    pub session: SessionConfig,
    pub reconnect: ReconnectPolicy,
    /// Database quota in pages (None: unlimited).
    pub max_db_pages: Option<u32>,
    /// How long to scan for a terminal whose address is not known.
    pub scan_time: Duration,
    /// How backups are encrypted (scrypt work factor).
    pub backup: WriteOptions,
}

impl CompanionConfig {
    pub fn new(data_dir: impl Into<PathBuf>, keystore: KeystoreChoice) -> Self {
        CompanionConfig {
            data_dir: data_dir.into(),
            keystore,
            allow_volatile_key: false,
            session: SessionConfig::default(),
            reconnect: ReconnectPolicy::default(),
            max_db_pages: None,
            scan_time: Duration::from_secs(3),
            backup: WriteOptions::default(),
        }
    }
}

crate::mirrored! {
    (replay_backup_info, derive(Debug, Clone, PartialEq, Eq, Serialize))
    /// A backup as the merchant sees it.
    pub struct BackupInfo {
        pub path: String,
        pub sha256: String,
        pub size: u64,
        pub records: u64,
        pub terminals: u64,
        pub cards: u64,
        pub audit_entries: u64,
        pub created_at_ms: u64,
    }
}

impl BackupInfo {
    fn new(path: &Path, s: &BackupSummary) -> Self {
        BackupInfo {
            path: path.display().to_string(),
            sha256: s.sha256_hex(),
            size: s.size,
            records: s.manifest.records.count,
            terminals: s.manifest.terminals.count,
            cards: s.manifest.cards.count,
            audit_entries: s.manifest.audit.count,
            created_at_ms: s.created_at_ms,
        }
    }
}

/// What "wipe this phone" did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneWipe {
    pub backup: BackupInfo,
    pub keystore_entries_deleted: usize,
    pub files_deleted: Vec<String>,
}

/// posmate's core, opened on one data directory.
pub struct Companion {
    store: Store,
    secrets: Arc<dyn SecretStore>,
    /// One open session per terminal, and how to open more.
    sessions: Sessions,
    /// Every connection goes through it, so the UI sees each one's states.
    transport: Arc<ObservedTransport>,
    gateway: Arc<dyn Gateway>,
    clock: Arc<dyn Clock>,
    config: CompanionConfig,
}

impl Companion {
    /// Opens (or creates) the data directory's store with its key in the chosen keystore.
    pub fn open(
        config: CompanionConfig,
        transport: Arc<dyn Transport>,
        gateway: Arc<dyn Gateway>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        crate::private_dir::create_private_dir(&config.data_dir).map_err(|e| {
            Error::Store(crate::store::StoreError::Io {
                detail: format!("{}: {e}", config.data_dir.display()),
            })
        })?;
        let namespace = Namespace::anchored(&config.data_dir)?;
        let secrets: Arc<dyn SecretStore> =
            Arc::new(KeyringStore::open(config.keystore, namespace)?);
        Self::open_with_secrets(config, secrets, transport, gateway, clock)
    }

    /// Opens with an explicit secret store (tests share one store across reopenings).
    pub fn open_with_secrets(
        config: CompanionConfig,
        secrets: Arc<dyn SecretStore>,
        transport: Arc<dyn Transport>,
        gateway: Arc<dyn Gateway>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let store = Store::open(
            &config.data_dir,
            &*secrets,
            &StoreOptions {
                allow_volatile_key: config.allow_volatile_key,
                max_pages: config.max_db_pages,
            },
        )?;
        let transport = Arc::new(ObservedTransport::new(transport));
        let terminals = Terminals::new(
            transport.clone(),
            secrets.clone(),
            config.session.clone(),
            config.reconnect.clone(),
        );
        let sessions = Sessions::new(terminals, transport.clone(), config.scan_time);
        Ok(Companion {
            store,
            secrets,
            sessions,
            transport,
            gateway,
            clock,
            config,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.secrets
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// How long a scan for a terminal whose address is not known lasts.
    pub fn scan_time(&self) -> Duration {
        self.config.scan_time
    }

    /// Now, on the clock the flows use.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Where codes come from when a flow must pair again (after a wipe lost its answer).
    pub fn set_code_entry(&self, entry: Arc<dyn CodeEntry>) {
        self.sessions.set_code_entry(entry);
    }

    /// The flows' link to terminals, recording what it learns in this companion's store.
    fn link(&self) -> Link<'_> {
        self.sessions.link(&self.store, &*self.clock)
    }

    fn ctx<'a>(&'a self, link: &'a Link<'a>, control: &'a FlowControl) -> Ctx<'a> {
        Ctx {
            store: &self.store,
            secrets: &*self.secrets,
            gateway: &*self.gateway,
            link,
            clock: &*self.clock,
            control,
            backup: &self.config.backup,
        }
    }

    /// Runs `f` with a flow context of its own, for work outside a flow (an audit entry, a
    /// backup) that reuses what the flows do.
    fn with_ctx<T>(&self, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
        let link = self.link();
        let control = FlowControl::default();
        f(&self.ctx(&link, &control))
    }

    // ---- terminals --------------------------------------------------------------------

    /// What happens to every connection the companion opens (pairing, reconnecting, a flow's
    /// session), per peripheral and in order, from now on.
    pub fn link_states(&self) -> tokio::sync::broadcast::Receiver<LinkState> {
        self.transport.subscribe()
    }

    /// Terminals advertising nearby, as they are seen, until the stream is dropped.
    pub async fn scan_live(&self, filter: ScanFilter) -> Result<ScanStream> {
        Ok(self
            .transport
            .scan(filter)
            .await
            .map_err(SessionError::from)?)
    }

    /// Terminals advertising nearby.
    pub async fn scan(&self, filter: ScanFilter, duration: Duration) -> Result<Vec<Candidate>> {
        Ok(scan_for(&*self.transport, filter, duration)
            .await
            .map_err(SessionError::from)?)
    }

    /// Pairs with the terminal at `id` (the merchant types the code it shows) and records it.
    pub async fn pair(&self, id: &PeripheralId, code: &dyn CodeEntry) -> Result<TerminalRow> {
        let pairing = self.sessions.pair(id, code).await?;
        // The SN is the one the handshake proved, never one a message names.
        let sn = pairing.session.sn().to_owned();
        match self.record_pairing(&pairing.session, id, &sn).await {
            Ok(row) => {
                self.sessions.keep(sn, pairing.session).await;
                Ok(row)
            }
            Err(e) => {
                self.sessions.refuse(pairing).await;
                // What was refused is evidence too; the refusal stands if it cannot be
                // written.
                let audited = self.with_ctx(|ctx| {
                    ctx.audit(
                        "pair",
                        Some(&sn),
                        json!({ "sn": sn, "peripheral": id.as_str() }),
                        "refused",
                        json!({ "code": e.code() }),
                    )
                });
                if let Err(audit) = audited {
                    tracing::warn!(sn, error = %audit, "could not audit a refused pairing");
                }
                Err(e)
            }
        }
    }

    /// Records a terminal just paired as `sn`: its own report must name that SN, and its
    /// device key must be the one learnt for it (the store refuses another).
    async fn record_pairing(
        &self,
        session: &Session,
        id: &PeripheralId,
        sn: &str,
    ) -> Result<TerminalRow> {
        let info = match session
            .request(Request::GetInfo)
            .await
            .map_err(Error::from_session)?
        {
            Response::Info(info) => info,
            _ => return Err(Error::Session(SessionError::UnexpectedResponse)),
        };
        if info.sn != sn {
            return Err(Error::IdentityMismatch {
                sn: sn.into(),
                found: info.sn,
            });
        }
        let now = self.clock.now_ms();
        let mut row = flows::paired_row(&info, id.as_str(), now);
        self.store.write(|tx| {
            if let Some(old) = tx.terminal(sn)? {
                row.activated_at_ms = old.activated_at_ms;
                row.replaced_by = old.replaced_by;
            }
            tx.upsert_terminal(&row)
        })?;
        self.with_ctx(|ctx| {
            ctx.audit(
                "pair",
                Some(sn),
                json!({ "sn": sn, "peripheral": id.as_str() }),
                "ok",
                json!({ "model": info.model, "firmware": info.firmware, "lifecycle": info.lifecycle.name() }),
            )
        })?;
        Ok(row)
    }

    pub fn terminals(&self) -> Result<Vec<TerminalRow>> {
        Ok(self.store.read(|tx| tx.terminals())?)
    }

    pub fn terminal(&self, sn: &str) -> Result<TerminalRow> {
        terminal_link::known(&self.store, sn)
    }

    /// The terminal's own report (over the secure session).
    pub async fn info(&self, sn: &str) -> Result<Info> {
        self.terminal(sn)?;
        let link = self.link();
        let control = FlowControl::default();
        flows::info(&self.ctx(&link, &control), sn).await
    }

    /// Closes every open session.
    pub async fn disconnect_all(&self) {
        self.sessions.close_all().await;
    }

    // ---- flows ------------------------------------------------------------------------

    pub async fn activate(
        &self,
        input: ActivationInput,
        control: &FlowControl,
    ) -> Result<ActivationOutcome> {
        let link = self.link();
        flows::activate(&self.ctx(&link, control), input).await
    }

    /// Polls a pending activation (resumes its flow).
    pub async fn activation_status(
        &self,
        sn: &str,
        control: &FlowControl,
    ) -> Result<ActivationOutcome> {
        let link = self.link();
        let ctx = self.ctx(&link, control);
        let row = flows::open_flow(&ctx, FlowKind::Activation, sn)?.ok_or_else(|| {
            Error::FlowNotFound {
                id: format!("activation of {sn}"),
            }
        })?;
        flows::resume_activation(&ctx, row).await
    }

    pub async fn bind_card(&self, input: BindInput, control: &FlowControl) -> Result<CardRow> {
        let link = self.link();
        flows::bind(&self.ctx(&link, control), input).await
    }

    pub async fn unbind_card(
        &self,
        merchant_no: &str,
        binding_id: &str,
        control: &FlowControl,
    ) -> Result<()> {
        let link = self.link();
        flows::unbind(&self.ctx(&link, control), merchant_no, binding_id).await
    }

    pub fn cards(&self, merchant_no: &str) -> Result<Vec<CardRow>> {
        Ok(self.store.read(|tx| tx.cards(merchant_no))?)
    }

    /// The merchant's cards as the acquirer has them.
    pub async fn acquirer_cards(
        &self,
        merchant_no: &str,
    ) -> Result<Vec<crate::acquirer::CardBinding>> {
        Ok(self.gateway.cards(merchant_no).await?)
    }

    pub async fn sync(&self, sn: &str, control: &FlowControl) -> Result<SyncOutcome> {
        let link = self.link();
        flows::sync(&self.ctx(&link, control), sn).await
    }

    pub fn history(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        Ok(self.store.read(|tx| tx.history(query))?)
    }

    pub async fn settle(&self, sn: &str, control: &FlowControl) -> Result<SettlementOutcome> {
        let link = self.link();
        flows::settle(&self.ctx(&link, control), sn).await
    }

    pub async fn decommission(
        &self,
        input: DecommissionInput,
        control: &FlowControl,
    ) -> Result<DecommissionOutcome> {
        let link = self.link();
        flows::decommission(&self.ctx(&link, control), input).await
    }

    pub async fn replace(
        &self,
        input: ReplacementInput,
        control: &FlowControl,
    ) -> Result<ReplacementOutcome> {
        let link = self.link();
        flows::replace(&self.ctx(&link, control), input).await
    }

    pub async fn dormancy(&self, sn: &str) -> Result<DormancyReport> {
        let link = self.link();
        let control = FlowControl::default();
        flows::dormancy_check(&self.ctx(&link, &control), sn).await
    }

    pub async fn reopen(&self, sn: &str) -> Result<String> {
        let link = self.link();
        let control = FlowControl::default();
        flows::reopen(&self.ctx(&link, &control), sn).await
    }

    /// Flows started and not finished (running, or paused for review or input).
    pub fn open_flows(&self) -> Result<Vec<FlowRow>> {
        Ok(self.store.read(|tx| tx.open_flows())?)
    }

    /// Resumes an open flow that needs no new input (activation, settlement, card bind
    /// read on a terminal, unbind, and decommission or replacement past their backup).
    /// A finished flow (done, failed or cancelled) is refused with `flow-finished`: running
    /// it again would start a new settlement or decommission, not finish the old one.
    pub async fn resume(&self, flow_id: &str, control: &FlowControl) -> Result<Resumed> {
        let row = self
            .store
            .read(|tx| tx.flow(flow_id))?
            .ok_or_else(|| Error::FlowNotFound { id: flow_id.into() })?;
        if !matches!(row.status, FlowStatus::Running | FlowStatus::Paused) {
            return Err(Error::FlowFinished {
                id: row.id,
                status: row.status.as_str(),
            });
        }
        let link = self.link();
        let ctx = self.ctx(&link, control);
        let sn = row.sn.clone().unwrap_or_default();
        Ok(match FlowKind::parse(&row.kind) {
            Some(FlowKind::Activation) => {
                Resumed::Activation(flows::resume_activation(&ctx, row).await?)
            }
            Some(FlowKind::Settlement) => Resumed::Settlement(flows::settle(&ctx, &sn).await?),
            Some(FlowKind::CardBind) => Resumed::CardBound(flows::resume_bind(&ctx, row).await?),
            Some(FlowKind::CardUnbind) => {
                let merchant = row.state["merchant_no"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let binding_id = row.state["binding_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                flows::resume_unbind(&ctx, row, &merchant, &binding_id).await?;
                Resumed::CardUnbound { binding_id }
            }
            Some(FlowKind::Decommission) => Resumed::Decommissioned(
                flows::decommission(
                    &ctx,
                    DecommissionInput {
                        sn,
                        reason: String::new(),
                        backup: flows::BackupSpec::Existing {
                            backup_id: String::new(),
                        },
                    },
                )
                .await?,
            ),
            Some(FlowKind::Replacement) | None => {
                return Err(Error::NeedsInput {
                    what: "the replacement's inputs (run replace again with the same terminals)",
                })
            }
        })
    }

    // ---- backup, export, audit --------------------------------------------------------

    /// Writes and verifies an encrypted backup of everything on this phone.
    pub fn backup_create(&self, path: &Path, passphrase: &Passphrase) -> Result<BackupInfo> {
        let summary = self.with_ctx(|ctx| {
            let (row, summary) = ctx.write_backup(&Scope::Phone, path, passphrase)?;
            ctx.audit(
                "backup",
                None,
                json!({ "path": row.path }),
                "ok",
                json!({ "sha256": summary.sha256_hex(), "records": summary.manifest.records.count }),
            )?;
            Ok::<_, Error>(summary)
        })?;
        Ok(BackupInfo::new(path, &summary))
    }

    /// Decrypts and checks a backup end to end (passphrase, format, manifest).
    pub fn backup_verify(&self, path: &Path, passphrase: &Passphrase) -> Result<BackupInfo> {
        let summary = backup::verify_archive(path, passphrase, None)?;
        Ok(BackupInfo::new(path, &summary))
    }

    /// Restores an archive into this phone's store (idempotent).
    pub fn restore(&self, path: &Path, passphrase: &Passphrase) -> Result<RestoreSummary> {
        let archive = backup::read_archive(path, passphrase)?;
        // `restore_into` appends the "restore" audit entry in the same transaction.
        Ok(backup::restore_into(&self.store, &archive)?)
    }

    /// Writes the records matching `query` (all pages) as CSV; returns the row count.
    pub fn export_csv(&self, out: impl std::io::Write, query: &HistoryQuery) -> Result<u64> {
        let mut all = Vec::new();
        let mut q = query.clone();
        loop {
            let page = self.history(&q)?;
            all.extend(page.records);
            match page.next {
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
        Ok(backup::export_csv(out, all.into_iter())?)
    }

    pub fn audit_entries(&self, from_seq: u64, limit: u32) -> Result<Vec<AuditEntry>> {
        Ok(self.store.read(|tx| tx.audit(from_seq, limit))?)
    }

    pub fn verify_audit(&self) -> Result<AuditCheck> {
        Ok(self.store.read(|tx| tx.verify_audit())?)
    }

    /// Rotates the database key.
    pub fn rekey(&self) -> Result<()> {
        self.store.rekey(&*self.secrets)?;
        self.with_ctx(|ctx| ctx.audit("rekey", None, json!({}), "ok", json!({})))
    }

    /// Wipes this phone: a verified backup first, then cryptographic erasure of the
    /// database (its key is destroyed before its files are deleted) and every keystore
    /// entry of this data directory (phone identity, pins).
    pub async fn wipe_phone(
        self,
        backup_path: &Path,
        passphrase: &Passphrase,
    ) -> Result<PhoneWipe> {
        let info = self.backup_create(backup_path, passphrase)?;
        let recorded = self
            .store
            .read(|tx| tx.backups())?
            .into_iter()
            .rev()
            .find(|b| b.path == info.path)
            .map(|b| b.sha256);
        backup::verify_archive(backup_path, passphrase, recorded)?;
        self.disconnect_all().await;
        let db = self.store.path().to_path_buf();
        let files = ["", "-wal", "-shm"]
            .iter()
            .map(|s| format!("{}{s}", db.display()))
            .collect();
        let secrets = self.secrets.clone();
        self.store.destroy(&*secrets)?;
        let deleted = keystore::wipe_all(&*secrets)?;
        Ok(PhoneWipe {
            backup: info,
            keystore_entries_deleted: deleted,
            files_deleted: files,
        })
    }
}

/// What finishing a flow with [`Companion::resume`] produced, by the flow's kind. As JSON it
/// is the outcome alone (untagged), as the CLI prints it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Resumed {
    Activation(ActivationOutcome),
    Settlement(SettlementOutcome),
    CardBound(CardRow),
    CardUnbound {
        #[serde(rename = "unbound")]
        binding_id: String,
    },
    Decommissioned(DecommissionOutcome),
}
