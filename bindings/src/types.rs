//! The records and enums apps see, each converted from (or into) the core's own type. No
//! rule lives here: validation happens in the core, which answers with a `PosmateError`.

use std::path::PathBuf;

use posmate_core::acquirer as acq;
use posmate_core::backup::{Passphrase, RestoreSummary as CoreRestore};
use posmate_core::companion as comp;
use posmate_core::flows as core_flows;
use posmate_core::keystore::KeystoreChoice;
use posmate_core::store as st;
use posmate_core::transport::{Candidate, ScanFilter as CoreScanFilter};
use posmate_proto::gatt::Lifecycle as CoreLifecycle;
use posmate_proto::message::{Info, RecordKind as CoreKind, RecordStatus as CoreStatus};
use zeroize::Zeroizing;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- opening --------------------------------------------------------------------------------

/// Where the phone's secrets (database key, identity, terminal pins) are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Keystore {
    /// The platform's keystore: the Android Keystore (after `PosmateAndroid.init(context)`),
    /// the iOS Keychain, the kernel keyutils store on Linux (docs/mobile.md, "Keystores on
    /// the phones").
    Os,
    /// The Linux kernel key-retention service (volatile: lost at reboot).
    Keyutils,
    /// In memory, lost when the process exits: tests and demos only.
    Mock,
}

impl From<Keystore> for KeystoreChoice {
    fn from(k: Keystore) -> Self {
        match k {
            Keystore::Os => KeystoreChoice::Os,
            Keystore::Keyutils => KeystoreChoice::LinuxKeyutils,
            Keystore::Mock => KeystoreChoice::Mock,
        }
    }
}

/// How to open a companion. Only `data_dir` and `keystore` are required.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CompanionConfig {
    /// The app's private directory for the database; created if missing.
    pub data_dir: String,
    pub keystore: Keystore,
    /// Accept a keystore that loses the database key at reboot (the user was told).
    #[uniffi(default = false)]
    pub allow_volatile_key: bool,
    /// How long to scan for a terminal whose address changed (default: 3 s over Bluetooth,
    /// less in simulation).
    #[uniffi(default = None)]
    pub scan_time_ms: Option<u64>,
    /// Connection attempts before a reconnect gives up (default 5).
    #[uniffi(default = None)]
    pub reconnect_attempts: Option<u32>,
    /// Longest wait for a terminal's answer (default 15 s).
    #[uniffi(default = None)]
    pub request_timeout_ms: Option<u64>,
    /// scrypt work factor (log2 N) for backups (default 18; lower only for tests).
    #[uniffi(default = None)]
    pub backup_work_factor: Option<u8>,
}

// ---- terminals ------------------------------------------------------------------------------

/// Where a terminal is in its life, as it advertises and reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Lifecycle {
    Factory,
    Activated,
    Suspended,
    Decommissioned,
}

impl From<CoreLifecycle> for Lifecycle {
    fn from(l: CoreLifecycle) -> Self {
        match l {
            CoreLifecycle::Factory => Lifecycle::Factory,
            CoreLifecycle::Activated => Lifecycle::Activated,
            CoreLifecycle::Suspended => Lifecycle::Suspended,
            CoreLifecycle::Decommissioned => Lifecycle::Decommissioned,
        }
    }
}

/// Narrows a scan (every scan already filters on the posmate service).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ScanFilter {
    /// The last characters of the serial number, as printed on the terminal.
    #[uniffi(default = None)]
    pub sn_suffix: Option<String>,
    #[uniffi(default = None)]
    pub name_contains: Option<String>,
}

impl From<ScanFilter> for CoreScanFilter {
    fn from(f: ScanFilter) -> Self {
        let mut filter = CoreScanFilter::any();
        filter.sn_suffix = f.sn_suffix;
        filter.name_contains = f.name_contains;
        filter
    }
}

/// A posmate terminal advertising nearby.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ScannedTerminal {
    /// What `pair` takes.
    pub peripheral_id: String,
    pub local_name: String,
    /// Signal strength in dBm, when the radio reports it.
    pub rssi: Option<i16>,
    pub sn_suffix: String,
    pub lifecycle: Lifecycle,
    pub protocol_version: u8,
    /// The terminal's pairing window is open (it shows a code).
    pub pairing_open: bool,
    /// Too many wrong codes: pairing is locked for a while.
    pub pairing_locked: bool,
}

impl From<Candidate> for ScannedTerminal {
    fn from(c: Candidate) -> Self {
        ScannedTerminal {
            peripheral_id: c.id.as_str().into(),
            local_name: c.local_name,
            rssi: c.rssi,
            sn_suffix: c.sn_suffix,
            lifecycle: c.lifecycle.into(),
            protocol_version: c.protocol_version,
            pairing_open: c.pairing_open,
            pairing_locked: c.pairing_locked,
        }
    }
}

/// Where a terminal is in its life with this phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TerminalState {
    Paired,
    Activating,
    Activated,
    Suspended,
    Decommissioning,
    Decommissioned,
}

impl From<st::TerminalState> for TerminalState {
    fn from(s: st::TerminalState) -> Self {
        match s {
            st::TerminalState::Paired => TerminalState::Paired,
            st::TerminalState::Activating => TerminalState::Activating,
            st::TerminalState::Activated => TerminalState::Activated,
            st::TerminalState::Suspended => TerminalState::Suspended,
            st::TerminalState::Decommissioning => TerminalState::Decommissioning,
            st::TerminalState::Decommissioned => TerminalState::Decommissioned,
        }
    }
}

/// A terminal this phone knows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Terminal {
    pub sn: String,
    /// Where it was last reached.
    pub peripheral_id: Option<String>,
    pub model: String,
    pub firmware: String,
    pub state: TerminalState,
    pub merchant_no: Option<String>,
    pub terminal_no: Option<String>,
    pub activated_at_ms: Option<u64>,
    /// The terminal that replaced this one.
    pub replaced_by: Option<String>,
    pub updated_at_ms: u64,
}

impl From<st::TerminalRow> for Terminal {
    fn from(r: st::TerminalRow) -> Self {
        Terminal {
            sn: r.sn,
            peripheral_id: r.peripheral_id,
            model: r.model,
            firmware: r.firmware,
            state: r.state.into(),
            merchant_no: r.merchant_no,
            terminal_no: r.terminal_no,
            activated_at_ms: r.activated_at_ms,
            replaced_by: r.replaced_by,
            updated_at_ms: r.updated_at_ms,
        }
    }
}

/// The terminal's own report, over the secure session.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TerminalInfo {
    pub sn: String,
    pub model: String,
    pub firmware: String,
    pub battery_pct: u8,
    pub lifecycle: Lifecycle,
    pub protocol_version: u8,
    pub terminal_no: Option<String>,
    pub merchant_no: Option<String>,
    pub key_slots: u32,
    /// Sequence number of the last record in its journal.
    pub journal_head: u64,
    /// The open batch (what end-of-day settles).
    pub batch_no: u32,
}

impl From<Info> for TerminalInfo {
    fn from(i: Info) -> Self {
        TerminalInfo {
            sn: i.sn,
            model: i.model,
            firmware: i.firmware,
            battery_pct: i.battery_pct,
            lifecycle: i.lifecycle.into(),
            protocol_version: i.protocol_version,
            terminal_no: i.terminal_no,
            merchant_no: i.merchant_no,
            key_slots: i.key_slots.len() as u32,
            journal_head: i.journal_head,
            batch_no: i.batch_no,
        }
    }
}

// ---- flows ----------------------------------------------------------------------------------

/// Where a flow is, after each persisted step.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FlowProgress {
    pub flow_id: String,
    /// `activation`, `card-bind`, `card-unbind`, `settlement`, `decommission`, `replacement`.
    pub kind: String,
    /// The step about to be taken, or `done`.
    pub step: String,
    /// 0.0 at the start, 1.0 when done.
    pub fraction: f32,
    /// A sentence for the merchant.
    pub detail: String,
}

impl From<&core_flows::Progress> for FlowProgress {
    fn from(p: &core_flows::Progress) -> Self {
        FlowProgress {
            flow_id: p.flow_id.clone(),
            kind: p.kind.clone(),
            step: p.step.clone(),
            fraction: p.fraction,
            detail: p.detail.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FlowStatus {
    Running,
    /// Waiting on something outside the phone, or stopped by a cancel past its point of no
    /// return: resume it.
    Paused,
    Done,
    Failed,
    Cancelled,
}

impl From<st::FlowStatus> for FlowStatus {
    fn from(s: st::FlowStatus) -> Self {
        match s {
            st::FlowStatus::Running => FlowStatus::Running,
            st::FlowStatus::Paused => FlowStatus::Paused,
            st::FlowStatus::Done => FlowStatus::Done,
            st::FlowStatus::Failed => FlowStatus::Failed,
            st::FlowStatus::Cancelled => FlowStatus::Cancelled,
        }
    }
}

/// A flow started and not finished, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FlowInfo {
    pub id: String,
    pub kind: String,
    pub sn: Option<String>,
    pub step: String,
    pub status: FlowStatus,
    pub started_at_ms: u64,
    pub updated_at_ms: u64,
    /// `code: sentence` of the failure that stopped it.
    pub error: Option<String>,
}

impl From<st::FlowRow> for FlowInfo {
    fn from(r: st::FlowRow) -> Self {
        FlowInfo {
            id: r.id,
            kind: r.kind,
            sn: r.sn,
            step: r.step,
            status: r.status.into(),
            started_at_ms: r.started_at_ms,
            updated_at_ms: r.updated_at_ms,
            error: r.error,
        }
    }
}

/// The merchant as the acquirer registered them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantDetails {
    pub legal_name: String,
    pub contact_phone: String,
    pub address: String,
}

impl From<MerchantDetails> for acq::MerchantDetails {
    fn from(m: MerchantDetails) -> Self {
        acq::MerchantDetails {
            legal_name: m.legal_name,
            contact_phone: m.contact_phone,
            address: m.address,
        }
    }
}

/// What activating a terminal needs (from the acquirer's letter).
#[derive(Clone, uniffi::Record)]
pub struct ActivationInput {
    pub sn: String,
    pub terminal_no: String,
    pub merchant_no: String,
    /// One-time code; kept out of the database and logs, wiped from memory after use.
    pub activation_code: String,
    pub merchant: MerchantDetails,
}

impl From<ActivationInput> for core_flows::ActivationInput {
    fn from(a: ActivationInput) -> Self {
        core_flows::ActivationInput {
            sn: a.sn,
            terminal_no: a.terminal_no,
            merchant_no: a.merchant_no,
            activation_code: Zeroizing::new(a.activation_code),
            merchant: a.merchant.into(),
        }
    }
}

/// A key the terminal installed, as it proved it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeySlotProof {
    pub slot: u8,
    pub kind: String,
    /// Key check value (hex).
    pub kcv: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ActivationOutcome {
    Activated {
        flow_id: String,
        sn: String,
        terminal_no: String,
        merchant_no: String,
        test_txn_ref: String,
        key_slots: Vec<KeySlotProof>,
    },
    /// The acquirer is reviewing: poll `activation_status` after `retry_after_ms`.
    Pending {
        flow_id: String,
        application_id: String,
        retry_after_ms: u64,
    },
}

impl From<core_flows::ActivationOutcome> for ActivationOutcome {
    fn from(o: core_flows::ActivationOutcome) -> Self {
        match o {
            core_flows::ActivationOutcome::Activated {
                flow_id,
                sn,
                terminal_no,
                merchant_no,
                test_txn_ref,
                key_slots,
            } => ActivationOutcome::Activated {
                flow_id,
                sn,
                terminal_no,
                merchant_no,
                test_txn_ref,
                key_slots: key_slots
                    .into_iter()
                    .map(|k| KeySlotProof {
                        slot: k.slot,
                        kind: k.kind,
                        kcv: k.kcv,
                    })
                    .collect(),
            },
            core_flows::ActivationOutcome::Pending {
                flow_id,
                application_id,
                retry_after_ms,
            } => ActivationOutcome::Pending {
                flow_id,
                application_id,
                retry_after_ms,
            },
        }
    }
}

/// What a bound card is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CardPurpose {
    /// Where the takings are paid (one per merchant; a new one replaces the old).
    Settlement,
    /// One of the merchant's own credit cards.
    Credit,
}

impl From<CardPurpose> for acq::CardPurposeKind {
    fn from(p: CardPurpose) -> Self {
        match p {
            CardPurpose::Settlement => acq::CardPurposeKind::Settlement,
            CardPurpose::Credit => acq::CardPurposeKind::Credit,
        }
    }
}

impl From<acq::CardPurposeKind> for CardPurpose {
    fn from(p: acq::CardPurposeKind) -> Self {
        match p {
            acq::CardPurposeKind::Settlement => CardPurpose::Settlement,
            acq::CardPurposeKind::Credit => CardPurpose::Credit,
        }
    }
}

/// Where the card's number comes from.
#[derive(Clone, uniffi::Enum)]
pub enum CardSource {
    /// Read on this terminal (tap, insert, swipe): the phone only ever sees it masked.
    Terminal { sn: String, timeout_ms: u32 },
    /// Typed in by the merchant; wiped from memory after use.
    Manual { pan: String, expiry: String },
}

#[derive(Clone, uniffi::Record)]
pub struct BindInput {
    pub merchant_no: String,
    pub purpose: CardPurpose,
    pub holder_name: String,
    pub source: CardSource,
}

impl From<BindInput> for core_flows::BindInput {
    fn from(b: BindInput) -> Self {
        core_flows::BindInput {
            merchant_no: b.merchant_no,
            purpose: b.purpose.into(),
            holder_name: b.holder_name,
            source: match b.source {
                CardSource::Terminal { sn, timeout_ms } => {
                    core_flows::CardSourceInput::Terminal { sn, timeout_ms }
                }
                CardSource::Manual { pan, expiry } => core_flows::CardSourceInput::Manual {
                    pan: Zeroizing::new(pan),
                    expiry,
                },
            },
        }
    }
}

/// A card bound to the merchant, as this phone keeps it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Card {
    pub binding_id: String,
    pub merchant_no: String,
    pub purpose: CardPurpose,
    /// First 6 and last 4 digits at most.
    pub masked_pan: String,
    pub issuer: String,
    pub holder_name: String,
    /// `terminal` or `manual`.
    pub source: String,
    pub bound_at_ms: u64,
}

impl From<st::CardRow> for Card {
    fn from(c: st::CardRow) -> Self {
        Card {
            binding_id: c.binding_id,
            merchant_no: c.merchant_no,
            purpose: c.purpose.into(),
            masked_pan: c.masked_pan.as_str().into(),
            issuer: c.issuer,
            holder_name: c.holder_name,
            source: c.source,
            bound_at_ms: c.bound_at_ms,
        }
    }
}

/// A card as the acquirer has it bound.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AcquirerCard {
    pub binding_id: String,
    pub merchant_no: String,
    pub purpose: CardPurpose,
    pub masked_pan: String,
    pub issuer: Option<String>,
    pub holder_name: String,
    pub bound_at_ms: u64,
    pub replaced: Option<String>,
}

impl From<acq::CardBinding> for AcquirerCard {
    fn from(c: acq::CardBinding) -> Self {
        AcquirerCard {
            binding_id: c.binding_id,
            merchant_no: c.merchant_no,
            purpose: c.purpose.into(),
            masked_pan: c.masked_pan,
            issuer: c.issuer,
            holder_name: c.holder_name,
            bound_at_ms: c.bound_at_ms,
            replaced: c.replaced,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncOutcome {
    pub sn: String,
    /// Records new to this phone.
    pub inserted: u64,
    /// Records it already had.
    pub skipped: u64,
    pub last_seq: u64,
    pub head: u64,
    pub pages: u64,
    pub record_bytes: u64,
}

impl From<core_flows::SyncOutcome> for SyncOutcome {
    fn from(s: core_flows::SyncOutcome) -> Self {
        SyncOutcome {
            sn: s.sn,
            inserted: s.inserted,
            skipped: s.skipped,
            last_seq: s.last_seq,
            head: s.head,
            pages: s.pages,
            record_bytes: s.record_bytes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Totals {
    pub sale_count: u32,
    pub sale_minor: u64,
    pub refund_count: u32,
    pub refund_minor: u64,
    pub void_count: u32,
    pub void_minor: u64,
}

impl From<core_flows::TotalsView> for Totals {
    fn from(t: core_flows::TotalsView) -> Self {
        Totals {
            sale_count: t.sale_count,
            sale_minor: t.sale_minor,
            refund_count: t.refund_count,
            refund_minor: t.refund_minor,
            void_count: t.void_count,
            void_minor: t.void_minor,
        }
    }
}

/// End of day: the batch the terminal closed, its totals and the phone's.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SettlementOutcome {
    pub flow_id: String,
    pub sn: String,
    pub batch_no: u32,
    pub first_seq: u64,
    pub last_seq: u64,
    pub terminal: Totals,
    pub phone: Totals,
    /// Whether the phone's records add up to the terminal's totals.
    pub matched: bool,
    pub records: u64,
}

impl From<core_flows::SettlementOutcome> for SettlementOutcome {
    fn from(s: core_flows::SettlementOutcome) -> Self {
        SettlementOutcome {
            flow_id: s.flow_id,
            sn: s.sn,
            batch_no: s.batch_no,
            first_seq: s.first_seq,
            last_seq: s.last_seq,
            terminal: s.terminal.into(),
            phone: s.phone.into(),
            matched: s.matched,
            records: s.records,
        }
    }
}

/// The backup a destructive flow takes first.
#[derive(Clone, uniffi::Enum)]
pub enum BackupChoice {
    /// Write a new encrypted archive to `path` (verified before anything is destroyed).
    Write { path: String, passphrase: String },
    /// A backup this phone already wrote and verified (by its id).
    Existing { backup_id: String },
}

impl From<BackupChoice> for core_flows::BackupSpec {
    fn from(b: BackupChoice) -> Self {
        match b {
            BackupChoice::Write { path, passphrase } => core_flows::BackupSpec::Write {
                path: PathBuf::from(path),
                passphrase: Passphrase::new(passphrase),
            },
            BackupChoice::Existing { backup_id } => core_flows::BackupSpec::Existing { backup_id },
        }
    }
}

#[derive(Clone, uniffi::Record)]
pub struct DecommissionInput {
    pub sn: String,
    /// Why (recorded with the acquirer and in the audit trail).
    pub reason: String,
    pub backup: BackupChoice,
}

/// A terminal decommissioned: backed up, deregistered, wiped with a signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DecommissionOutcome {
    pub flow_id: String,
    pub sn: String,
    pub reason: String,
    pub backup_path: String,
    pub backup_sha256: String,
    pub backup_records: u64,
    pub deregistration_ref: String,
    pub deregistered_at_ms: u64,
    pub receipt_nonce: String,
    pub wiped_at_ms: u64,
    pub journal_head: u64,
    pub receipt_signature: String,
}

impl From<core_flows::DecommissionOutcome> for DecommissionOutcome {
    fn from(d: core_flows::DecommissionOutcome) -> Self {
        DecommissionOutcome {
            flow_id: d.flow_id,
            sn: d.sn,
            reason: d.reason,
            backup_path: d.backup_path,
            backup_sha256: d.backup_sha256,
            backup_records: d.backup_records,
            deregistration_ref: d.deregistration_ref,
            deregistered_at_ms: d.deregistered_at_ms,
            receipt_nonce: d.receipt_nonce,
            wiped_at_ms: d.wiped_at_ms,
            journal_head: d.journal_head,
            receipt_signature: d.receipt_signature,
        }
    }
}

/// What finishing an open flow with `resume` produced, by the flow's kind.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ResumeOutcome {
    Activation { outcome: ActivationOutcome },
    Settlement { outcome: SettlementOutcome },
    CardBound { card: Card },
    CardUnbound { binding_id: String },
    Decommissioned { outcome: DecommissionOutcome },
}

impl From<comp::Resumed> for ResumeOutcome {
    fn from(r: comp::Resumed) -> Self {
        match r {
            comp::Resumed::Activation(o) => ResumeOutcome::Activation { outcome: o.into() },
            comp::Resumed::Settlement(o) => ResumeOutcome::Settlement { outcome: o.into() },
            comp::Resumed::CardBound(row) => ResumeOutcome::CardBound { card: row.into() },
            comp::Resumed::CardUnbound { binding_id } => ResumeOutcome::CardUnbound { binding_id },
            comp::Resumed::Decommissioned(o) => ResumeOutcome::Decommissioned { outcome: o.into() },
        }
    }
}

#[derive(Clone, uniffi::Record)]
pub struct ReplacementInput {
    pub old_sn: String,
    /// The new terminal's activation (same merchant as the old one).
    pub new_terminal: ActivationInput,
    pub backup_path: String,
    pub passphrase: String,
}

impl From<ReplacementInput> for core_flows::ReplacementInput {
    fn from(r: ReplacementInput) -> Self {
        core_flows::ReplacementInput {
            old_sn: r.old_sn,
            new: r.new_terminal.into(),
            backup_path: PathBuf::from(r.backup_path),
            passphrase: Passphrase::new(r.passphrase),
        }
    }
}

// Handed across the FFI once, by value: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ReplacementOutcome {
    Replaced {
        flow_id: String,
        old_sn: String,
        new_sn: String,
        records_moved: u64,
        settlement_card: Option<String>,
        decommission: DecommissionOutcome,
    },
    /// The new terminal's activation is under review: run `replace` again later.
    Pending {
        flow_id: String,
        application_id: String,
        retry_after_ms: u64,
    },
}

impl From<core_flows::ReplacementOutcome> for ReplacementOutcome {
    fn from(o: core_flows::ReplacementOutcome) -> Self {
        match o {
            core_flows::ReplacementOutcome::Replaced {
                flow_id,
                old_sn,
                new_sn,
                records_moved,
                settlement_card,
                decommission,
            } => ReplacementOutcome::Replaced {
                flow_id,
                old_sn,
                new_sn,
                records_moved,
                settlement_card,
                decommission: (*decommission).into(),
            },
            core_flows::ReplacementOutcome::Pending {
                flow_id,
                application_id,
                retry_after_ms,
            } => ReplacementOutcome::Pending {
                flow_id,
                application_id,
                retry_after_ms,
            },
        }
    }
}

/// The acquirer's view of a terminal's activity.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DormancyReport {
    pub sn: String,
    /// `active`, `dormant`, `deregistered`, `pending`, `unknown`.
    pub state: String,
    pub last_trade_at_ms: Option<u64>,
    pub dormant_at_ms: Option<u64>,
    /// Whole days until dormancy (0 when dormant).
    pub days_left: Option<u64>,
    /// Whether the merchant should act now.
    pub warning: bool,
    pub message: String,
}

impl From<core_flows::DormancyReport> for DormancyReport {
    fn from(d: core_flows::DormancyReport) -> Self {
        DormancyReport {
            sn: d.sn,
            state: d.state,
            last_trade_at_ms: d.last_trade_at_ms,
            dormant_at_ms: d.dormant_at_ms,
            days_left: d.days_left,
            warning: d.warning,
            message: d.message,
        }
    }
}

// ---- records ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordKind {
    Sale,
    Refund,
    PreAuth,
    PreAuthCompletion,
    BalanceInquiry,
    Void,
}

impl From<CoreKind> for RecordKind {
    fn from(k: CoreKind) -> Self {
        match k {
            CoreKind::Sale => RecordKind::Sale,
            CoreKind::Refund => RecordKind::Refund,
            CoreKind::PreAuth => RecordKind::PreAuth,
            CoreKind::PreAuthCompletion => RecordKind::PreAuthCompletion,
            CoreKind::BalanceInquiry => RecordKind::BalanceInquiry,
            CoreKind::Void => RecordKind::Void,
        }
    }
}

impl From<RecordKind> for CoreKind {
    fn from(k: RecordKind) -> Self {
        match k {
            RecordKind::Sale => CoreKind::Sale,
            RecordKind::Refund => CoreKind::Refund,
            RecordKind::PreAuth => CoreKind::PreAuth,
            RecordKind::PreAuthCompletion => CoreKind::PreAuthCompletion,
            RecordKind::BalanceInquiry => CoreKind::BalanceInquiry,
            RecordKind::Void => CoreKind::Void,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordStatus {
    Approved,
    Declined,
    Reversed,
}

impl From<CoreStatus> for RecordStatus {
    fn from(s: CoreStatus) -> Self {
        match s {
            CoreStatus::Approved => RecordStatus::Approved,
            CoreStatus::Declined => RecordStatus::Declined,
            CoreStatus::Reversed => RecordStatus::Reversed,
        }
    }
}

/// Where the next page starts: pass `HistoryPage.next` back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryCursor {
    pub at_ms: u64,
    pub sn: String,
    pub seq: u64,
}

/// Which records, newest first, one page at a time.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct HistoryQuery {
    #[uniffi(default = None)]
    pub sn: Option<String>,
    #[uniffi(default = None)]
    pub merchant_no: Option<String>,
    #[uniffi(default = None)]
    pub from_ms: Option<u64>,
    /// Exclusive.
    #[uniffi(default = None)]
    pub to_ms: Option<u64>,
    /// Empty: every kind.
    #[uniffi(default = [])]
    pub kinds: Vec<RecordKind>,
    #[uniffi(default = None)]
    pub min_minor: Option<u64>,
    #[uniffi(default = None)]
    pub max_minor: Option<u64>,
    /// Page size, clamped to 1..=500.
    #[uniffi(default = 50)]
    pub limit: u32,
    /// The previous page's `next`; none for the newest page.
    #[uniffi(default = None)]
    pub after: Option<HistoryCursor>,
}

impl From<HistoryQuery> for st::HistoryQuery {
    fn from(q: HistoryQuery) -> Self {
        st::HistoryQuery {
            sn: q.sn,
            merchant_no: q.merchant_no,
            from_ms: q.from_ms,
            to_ms: q.to_ms,
            kinds: q.kinds.into_iter().map(Into::into).collect(),
            min_minor: q.min_minor,
            max_minor: q.max_minor,
            limit: q.limit,
            after: q.after.map(|c| st::HistoryCursor {
                at_ms: c.at_ms,
                sn: c.sn,
                seq: c.seq,
            }),
        }
    }
}

/// One transaction record on this phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransactionRecord {
    /// The terminal it is filed under (after a replacement, the new one).
    pub sn: String,
    /// The terminal whose journal it came from.
    pub origin_sn: String,
    pub merchant_no: Option<String>,
    pub seq: u64,
    pub batch_no: u32,
    pub kind: RecordKind,
    pub amount_minor: u64,
    /// ISO 4217 numeric (156 = CNY).
    pub currency: u16,
    pub at_ms: u64,
    pub masked_pan: String,
    pub auth_code: String,
    pub rrn: String,
    pub status: RecordStatus,
    pub orig_seq: Option<u64>,
}

impl From<st::StoredRecord> for TransactionRecord {
    fn from(s: st::StoredRecord) -> Self {
        let r = s.record;
        TransactionRecord {
            sn: s.sn,
            origin_sn: s.origin_sn,
            merchant_no: s.merchant_no,
            seq: r.seq,
            batch_no: r.batch_no,
            kind: r.kind.into(),
            amount_minor: r.amount_minor,
            currency: r.currency,
            at_ms: r.at_ms,
            masked_pan: r.masked_pan.as_str().into(),
            auth_code: r.auth_code,
            rrn: r.rrn,
            status: r.status.into(),
            orig_seq: r.orig_seq,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryPage {
    pub records: Vec<TransactionRecord>,
    /// Pass as `HistoryQuery.after` for the next page; none after the last page.
    pub next: Option<HistoryCursor>,
}

impl From<st::HistoryPage> for HistoryPage {
    fn from(p: st::HistoryPage) -> Self {
        HistoryPage {
            records: p.records.into_iter().map(Into::into).collect(),
            next: p.next.map(|c| HistoryCursor {
                at_ms: c.at_ms,
                sn: c.sn,
                seq: c.seq,
            }),
        }
    }
}

// ---- backup, audit ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

impl From<comp::BackupInfo> for BackupInfo {
    fn from(b: comp::BackupInfo) -> Self {
        BackupInfo {
            path: b.path,
            sha256: b.sha256,
            size: b.size,
            records: b.records,
            terminals: b.terminals,
            cards: b.cards,
            audit_entries: b.audit_entries,
            created_at_ms: b.created_at_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RestoreSummary {
    pub terminals: u64,
    pub cursors: u64,
    pub records_inserted: u64,
    /// Records this phone already had.
    pub records_present: u64,
    pub cards: u64,
    pub settlements: u64,
    pub audit_entries: u64,
}

impl From<CoreRestore> for RestoreSummary {
    fn from(r: CoreRestore) -> Self {
        RestoreSummary {
            terminals: r.terminals,
            cursors: r.cursors,
            records_inserted: r.records_inserted,
            records_present: r.records_present,
            cards: r.cards,
            settlements: r.settlements,
            audit_entries: r.audit_entries,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhoneWipe {
    pub backup: BackupInfo,
    pub keystore_entries_deleted: u64,
    pub files_deleted: Vec<String>,
}

impl From<comp::PhoneWipe> for PhoneWipe {
    fn from(w: comp::PhoneWipe) -> Self {
        PhoneWipe {
            backup: w.backup.into(),
            keystore_entries_deleted: w.keystore_entries_deleted as u64,
            files_deleted: w.files_deleted,
        }
    }
}

/// One entry of the tamper-evident audit trail.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditEntry {
    pub seq: u64,
    pub at_ms: u64,
    pub action: String,
    pub sn: Option<String>,
    /// The action's inputs as JSON (secrets are never recorded).
    pub inputs_json: String,
    /// `ok`, `failed`, `pending`, …
    pub outcome: String,
    pub detail_json: String,
    /// Hex SHA-256 chaining this entry to the one before.
    pub hash: String,
}

impl From<st::AuditEntry> for AuditEntry {
    fn from(a: st::AuditEntry) -> Self {
        AuditEntry {
            seq: a.seq,
            at_ms: a.at_ms,
            action: a.action,
            sn: a.sn,
            inputs_json: a.inputs.to_string(),
            outcome: a.outcome,
            detail_json: a.detail.to_string(),
            hash: hex(&a.hash),
        }
    }
}

/// The audit chain checked end to end.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditCheck {
    pub entries: u64,
    /// The last entry's hash (hex): keep it elsewhere to detect entries cut off the end.
    pub head: String,
}

impl From<st::AuditCheck> for AuditCheck {
    fn from(a: st::AuditCheck) -> Self {
        AuditCheck {
            entries: a.entries,
            head: hex(&a.head),
        }
    }
}
