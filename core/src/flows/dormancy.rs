//! Dormancy: acquirers close terminals after about three months without trading. The phone
//! warns ahead of the acquirer's own deadline and asks for reopening.

use serde::Serialize;
use serde_json::json;

use super::context::Ctx;
use crate::acquirer::{AcquirerTerminalState, ReopenState};
use crate::error::{Error, Result};

/// Warn this long before the terminal goes dormant (14 days).
pub const DORMANCY_WARNING_MS: u64 = 14 * 24 * 3600 * 1000;

crate::mirrored! {
    (replay_dormancy_report, derive(Debug, Clone, PartialEq, Eq, Serialize))
    /// What the acquirer says about a terminal's trading activity.
    pub struct DormancyReport {
        pub sn: String,
        /// The acquirer's view: "active", "dormant", "deregistered", "pending", "unknown".
        pub state: String,
        pub last_trade_at_ms: Option<u64>,
        pub dormant_at_ms: Option<u64>,
        /// Whole days until dormancy (0 when dormant).
        pub days_left: Option<u64>,
        /// Whether the merchant should act now.
        pub warning: bool,
        pub message: String,
    }
}

fn merchant_of(ctx: &Ctx<'_>, sn: &str) -> Result<String> {
    let row = ctx
        .store
        .read(|tx| tx.terminal(sn))?
        .ok_or_else(|| Error::UnknownTerminal { sn: sn.into() })?;
    row.merchant_no.ok_or_else(|| Error::NotActivated {
        sn: sn.into(),
        state: row.state.as_str().into(),
    })
}

/// Asks the acquirer how close `sn` is to dormancy.
pub(crate) async fn check(ctx: &Ctx<'_>, sn: &str) -> Result<DormancyReport> {
    let merchant = merchant_of(ctx, sn)?;
    let st = ctx.gateway.terminal_status(&merchant, sn).await?;
    let day = 24 * 3600 * 1000;
    let days_left = st
        .dormant_after_ms
        .map(|at| at.saturating_sub(st.now_ms).div_ceil(day));
    let (state, warning, message) = match st.state {
        AcquirerTerminalState::Dormant => (
            "dormant",
            true,
            "the acquirer has closed this terminal for lack of trading; request reopening"
                .to_owned(),
        ),
        AcquirerTerminalState::Active => {
            let left = st.dormant_after_ms.map(|at| at.saturating_sub(st.now_ms));
            match left {
                Some(ms) if ms <= DORMANCY_WARNING_MS => (
                    "active",
                    true,
                    format!(
                        "no trading for a long time: the acquirer closes this terminal in {} unless it trades",
                        crate::plural::count(days_left.unwrap_or(0), "day", "days")
                    ),
                ),
                _ => ("active", false, "trading recently; nothing to do".to_owned()),
            }
        }
        AcquirerTerminalState::Pending => (
            "pending",
            false,
            "a reopening or activation is under review".to_owned(),
        ),
        AcquirerTerminalState::Deregistered => (
            "deregistered",
            false,
            "the terminal is deregistered".to_owned(),
        ),
        AcquirerTerminalState::Unknown => (
            "unknown",
            false,
            "the acquirer does not know this terminal".to_owned(),
        ),
    };
    Ok(DormancyReport {
        sn: sn.into(),
        state: state.into(),
        last_trade_at_ms: st.last_trade_at_ms,
        dormant_at_ms: st.dormant_after_ms,
        days_left,
        warning,
        message,
    })
}

/// Asks the acquirer to reopen a dormant terminal; returns the acquirer's state
/// ("pending" while under review, "approved").
pub(crate) async fn reopen(ctx: &Ctx<'_>, sn: &str) -> Result<String> {
    let merchant = merchant_of(ctx, sn)?;
    let st = ctx.gateway.reopen(&merchant, sn).await?;
    let state = match st.state {
        ReopenState::Pending { .. } => "pending",
        ReopenState::Approved => "approved",
    };
    ctx.audit(
        "reopen",
        Some(sn),
        json!({ "sn": sn, "merchant_no": merchant }),
        state,
        json!({}),
    )?;
    Ok(state.into())
}
