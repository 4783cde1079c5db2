//! The fleet at a glance: every terminal this phone knows, with its state and numbers, when
//! its journal was last synced, what of it is not settled yet and how far it is from the
//! acquirer's dormancy cut-off, plus totals.

use std::collections::BTreeMap;

use posmate_proto::message::Totals;
use serde::Serialize;

use crate::companion::Companion;
use crate::error::Result;
use crate::flows::DormancyReport;
use crate::store::TerminalState;

/// What the phone holds of a terminal's batches not settled yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnsettledBatch {
    /// Records of any kind and status.
    pub records: u64,
    /// The approved ones, as settlement counts them (minor units of the terminal's currency).
    pub totals: Totals,
}

/// One terminal of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetTerminal {
    pub sn: String,
    pub state: TerminalState,
    pub terminal_no: Option<String>,
    pub merchant_no: Option<String>,
    pub activated_at_ms: Option<u64>,
    /// When its journal was last synced to this phone.
    pub last_sync_at_ms: Option<u64>,
    pub unsettled: UnsettledBatch,
    /// The acquirer's view, for activated terminals.
    pub dormancy: Option<DormancyReport>,
    /// Why the acquirer could not be asked (the rest of the row is still the phone's).
    pub dormancy_error: Option<String>,
}

/// The fleet's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FleetTerminalsTotals {
    pub terminals: usize,
    /// How many terminals are in each state.
    pub by_state: BTreeMap<String, usize>,
    pub unsettled_records: u64,
    pub unsettled: Totals,
    /// Terminals dormant or close to it (the acquirer's warning).
    pub dormancy_warnings: usize,
    /// Activated terminals whose dormancy could not be asked.
    pub dormancy_unknown: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetStatus {
    pub terminals: Vec<FleetTerminal>,
    pub totals: FleetTerminalsTotals,
}

/// Every terminal this phone knows, by SN. Only activated terminals are asked about
/// dormancy (one acquirer call each); a failed call is reported on its row, not fatal.
pub async fn status(phone: &Companion) -> Result<FleetStatus> {
    let mut terminals = Vec::new();
    let mut totals = FleetTerminalsTotals::default();
    for t in phone.terminals()? {
        let (last_sync_at_ms, (records, batch)) = phone
            .store()
            .read(|tx| Ok((tx.synced_at(&t.sn)?, tx.unsettled(&t.sn)?)))?;
        let (dormancy, dormancy_error) = if t.state == TerminalState::Activated {
            match phone.dormancy(&t.sn).await {
                Ok(report) => (Some(report), None),
                Err(e) => (None, Some(format!("{}: {e}", e.code()))),
            }
        } else {
            (None, None)
        };
        totals.terminals += 1;
        *totals.by_state.entry(t.state.as_str().into()).or_default() += 1;
        totals.unsettled_records += records;
        add_totals(&mut totals.unsettled, &batch);
        totals.dormancy_warnings += usize::from(dormancy.as_ref().is_some_and(|d| d.warning));
        totals.dormancy_unknown += usize::from(dormancy_error.is_some());
        terminals.push(FleetTerminal {
            sn: t.sn,
            state: t.state,
            terminal_no: t.terminal_no,
            merchant_no: t.merchant_no,
            activated_at_ms: t.activated_at_ms,
            last_sync_at_ms,
            unsettled: UnsettledBatch {
                records,
                totals: batch,
            },
            dormancy,
            dormancy_error,
        });
    }
    Ok(FleetStatus { terminals, totals })
}

fn add_totals(sum: &mut Totals, t: &Totals) {
    sum.sale_count = sum.sale_count.saturating_add(t.sale_count);
    sum.sale_minor = sum.sale_minor.saturating_add(t.sale_minor);
    sum.refund_count = sum.refund_count.saturating_add(t.refund_count);
    sum.refund_minor = sum.refund_minor.saturating_add(t.refund_minor);
    sum.void_count = sum.void_count.saturating_add(t.void_count);
    sum.void_minor = sum.void_minor.saturating_add(t.void_minor);
}
