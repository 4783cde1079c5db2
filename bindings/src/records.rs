//! Transaction records: fetching a terminal's new ones, paging through history, and
//! exporting it as CSV.

use std::path::PathBuf;
use std::sync::Arc;

use posmate_core::error::Error as CoreError;
use posmate_core::flows as core_flows;
use posmate_core::store as st;
use posmate_proto::message::{RecordKind, RecordStatus};

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::handles::FlowControl;
use crate::mirror::ffi_mirror;

posmate_core::replay_sync_outcome!(ffi_mirror, core_flows, SyncOutcome);

#[uniffi::export]
impl PosmateCompanion {
    /// Fetches the terminal's new transaction records (never one twice).
    #[uniffi::method(default(control = None))]
    pub async fn sync(
        &self,
        sn: String,
        control: Option<Arc<FlowControl>>,
    ) -> Result<SyncOutcome, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.sync(&sn, &ctl).await?.into())
        })
        .await
    }

    /// One page of records, newest first; pass `page.next` as `query.after` for the next.
    pub fn history(&self, query: HistoryQuery) -> Result<HistoryPage, PosmateError> {
        self.read(|c| Ok(c.history(&query.into())?.into()))
    }

    /// Writes the records matching `query` (all pages) as CSV to `path`; returns the row
    /// count.
    pub async fn export_csv(&self, path: String, query: HistoryQuery) -> Result<u64, PosmateError> {
        let target = PathBuf::from(&path);
        self.call(move |c| async move {
            let file = std::fs::File::create(&target).map_err(|e| CoreError::InvalidInput {
                field: "csv path",
                reason: format!("{}: {e}", target.display()),
            })?;
            c.export_csv(std::io::BufWriter::new(file), &query.into())
        })
        .await
    }
}

/// What a transaction is: the protocol's own type, exposed as is.
#[uniffi::remote(Enum)]
pub enum RecordKind {
    Sale,
    Refund,
    PreAuth,
    PreAuthCompletion,
    BalanceInquiry,
    Void,
}

/// How a transaction ended: the protocol's own type, exposed as is.
#[uniffi::remote(Enum)]
pub enum RecordStatus {
    Approved,
    Declined,
    Reversed,
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
            kinds: q.kinds,
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
            kind: r.kind,
            amount_minor: r.amount_minor,
            currency: r.currency,
            at_ms: r.at_ms,
            masked_pan: r.masked_pan.as_str().into(),
            auth_code: r.auth_code,
            rrn: r.rrn,
            status: r.status,
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
