//! `posmate settle`: end of day — sync, close the terminal's open batch, and reconcile the
//! terminal's totals with the phone's own records. A mismatch is reported, never hidden.

use posmate_core::flows::SettlementOutcome;
use posmate_proto::message::Totals;

use super::report_flow;
use super::target::known_sn;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::{table, Report};

/// Settle a terminal's open batch (end of day) and reconcile its totals.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate settle SN2026000001
  posmate --json settle | jq .matched

Exit 0 when the terminal's totals match the phone's records; 4 (with the report) when
they do not: the mismatch is stored and shown, never hidden.")]
pub struct Args {
    /// The terminal (optional when this phone knows one).
    pub sn: Option<String>,
}

fn totals_rows(who: &str, t: &Totals) -> Vec<String> {
    vec![
        who.to_owned(),
        format!("{} / {}", t.sale_count, fmt::money(t.sale_minor, 156)),
        format!("{} / {}", t.refund_count, fmt::money(t.refund_minor, 156)),
        format!("{} / {}", t.void_count, fmt::money(t.void_minor, 156)),
    ]
}

/// What `settle` prints: the flow's outcome.
impl Report for SettlementOutcome {
    fn human(&self) -> String {
        let verdict = if self.matched {
            "totals match".to_owned()
        } else {
            "MISMATCH: the terminal's totals differ from the phone's records (kept for review)"
                .to_owned()
        };
        format!(
            "{}: batch {} closed (records {}..{}, {} on the phone); {verdict}\n{}",
            self.sn,
            self.batch_no,
            self.first_seq,
            self.last_seq,
            self.records,
            table(
                &["", "SALES", "REFUNDS", "VOIDS"],
                &[
                    totals_rows("terminal", &self.terminal),
                    totals_rows("phone", &self.phone)
                ]
            )
        )
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let outcome = report_flow(
        ctx,
        "settlement",
        async |phone| known_sn(phone, args.sn),
        async |phone, sn, c| phone.settle(&sn, c).await,
    )
    .await?;
    Ok(if outcome.matched {
        Exit::Ok
    } else {
        Exit::Refused
    })
}
