//! `posmate flows`: the lifecycle flows started and not finished (running, paused for a
//! review or after a cut), and resuming one by its id.

use posmate_core::companion::Resumed;
use posmate_core::diagnostics::FlowSummary;
use serde::Serialize;

use super::codes_from_screen;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::{list, Report};
use crate::phone;

/// List the open flows, or resume one.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  posmate flows                              open flows (also: posmate flows list)
  posmate flows resume activation-3f9c0d1e2a4b5c6d

Resuming needs no new input for activation, settlement, a card read on a terminal,
unbinding, and a decommission past its backup; a replacement is resumed by running
`posmate replace` again."
)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// The flows started and not finished.
    #[command(after_help = "Examples:\n  posmate --json flows list")]
    List,
    /// Resume the open flow ID from its saved step.
    #[command(after_help = "Examples:\n  posmate flows resume settlement-0123456789abcdef")]
    Resume {
        id: String,
        /// With --connect-sim: read codes for re-pairing off the simulated screen.
        #[arg(long)]
        from_screen: bool,
    },
}

#[derive(Debug, Serialize)]
pub struct ListReport {
    pub flows: Vec<FlowSummary>,
}

impl Report for ListReport {
    fn human(&self) -> String {
        list(
            &self.flows,
            "no open flows",
            &[
                "FLOW",
                "SN",
                "STEP",
                "STATUS",
                "UPDATED (UTC)",
                "LAST ERROR",
            ],
            |f| {
                vec![
                    f.id.clone(),
                    f.sn.clone().unwrap_or_else(|| "-".into()),
                    f.step.clone(),
                    f.status.as_str().to_owned(),
                    fmt::time(f.updated_at_ms),
                    f.error.clone().unwrap_or_default(),
                ]
            },
        )
    }
}

#[derive(Debug, Serialize)]
pub struct ResumeReport {
    pub id: String,
    pub kind: String,
    /// The finished flow's outcome, as the command that started it prints it.
    pub outcome: Resumed,
}

impl Report for ResumeReport {
    fn human(&self) -> String {
        format!(
            "{} ({}) finished:\n{}\n",
            self.id,
            self.kind,
            serde_json::to_string_pretty(&self.outcome).unwrap_or_default()
        )
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let owned = phone::open(ctx).await?;
    let phone = &owned;
    match args.action.unwrap_or(Action::List) {
        Action::List => {
            let flows = phone.open_flows()?.into_iter().map(Into::into).collect();
            ctx.out.report(&ListReport { flows });
        }
        Action::Resume { id, from_screen } => {
            let kind = phone
                .open_flows()?
                .into_iter()
                .find(|f| f.id == id)
                .map(|f| f.kind)
                .ok_or_else(|| {
                    CliError::new(
                        Exit::NotFound,
                        "flow-not-found",
                        format!("no open flow {id}"),
                    )
                    .hint("`posmate flows` lists the open flows")
                })?;
            codes_from_screen(ctx, phone, from_screen).await?;
            let flow_id = id.clone();
            let result = phone::run_flow(ctx, "resume", |c| async move {
                phone.resume(&flow_id, &c).await
            })
            .await;
            phone.disconnect_all().await;
            ctx.out.report(&ResumeReport {
                id,
                kind,
                outcome: result?,
            });
        }
    }
    Ok(Exit::Ok)
}
