//! `posmate dormancy`: how close a terminal is to being closed by the acquirer for lack of
//! trading, and (`--reopen`) asking the acquirer to reopen a dormant one.

use posmate_core::flows::DormancyReport;
use posmate_core::plural::count;
use serde::Serialize;

use super::target::known_sn;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::Report;
use crate::phone;

/// Check a terminal's dormancy with the acquirer, or ask to reopen it (--reopen).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate dormancy SN2026000001
  posmate dormancy SN2026000001 --reopen      ask again until it says approved
  posmate --sim sim advance --days 80         (simulation) let time pass

Acquirers close a terminal after about 90 days without trading; posmate warns 14 days
ahead.")]
pub struct Args {
    /// The terminal (optional when this phone knows one).
    pub sn: Option<String>,
    /// Ask the acquirer to reopen the (dormant) terminal.
    #[arg(long)]
    pub reopen: bool,
}

impl Report for DormancyReport {
    fn human(&self) -> String {
        let mut out = format!("{}: {} — {}\n", self.sn, self.state, self.message);
        if let Some(t) = self.last_trade_at_ms {
            out.push_str(&format!("last trade      {}\n", fmt::time(t)));
        }
        if let Some(t) = self.dormant_at_ms {
            out.push_str(&format!(
                "dormant from    {}{}\n",
                fmt::time(t),
                self.days_left
                    .map(|d| format!(" ({} left)", count(d, "day", "days")))
                    .unwrap_or_default()
            ));
        }
        out
    }
}

#[derive(Debug, Serialize)]
pub struct ReopenReport {
    pub sn: String,
    /// "pending" while the acquirer reviews, then "approved".
    pub state: String,
}

impl Report for ReopenReport {
    fn human(&self) -> String {
        match self.state.as_str() {
            "approved" => format!("{}: reopened; it can trade again\n", self.sn),
            _ => format!(
                "{}: the acquirer is reviewing the reopening; ask again later (posmate dormancy --reopen)\n",
                self.sn
            ),
        }
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let phone = phone::open(ctx).await?;
    let sn = known_sn(&phone, args.sn)?;
    if args.reopen {
        let state = phone.reopen(&sn).await?;
        ctx.out.report(&ReopenReport { sn, state });
    } else {
        ctx.out.report(&phone.dormancy(&sn).await?);
    }
    Ok(Exit::Ok)
}
