//! One module per command: its clap `Args` (with examples in `after_help`; a command made
//! only of subcommands has an `Action` enum instead, its variant marked `subcommand`), its
//! report (what `--json` prints, schema in `cli/schemas/<command>.schema.json`) and `run`.
//! Adding a command is mechanical: a module here, a variant in [`Command`], an arm in
//! [`run`], a schema, a section in `docs/cli.md`.

pub mod acquirer;
pub mod activate;
pub mod audit;
pub mod backup;
pub mod cards;
pub mod completions;
pub mod config;
pub mod decommission;
pub mod demo;
pub mod doctor;
pub mod dormancy;
pub mod fleet;
pub mod flows;
pub mod info;
pub mod pair;
pub mod records;
pub mod replace;
pub mod scan;
pub mod settle;
pub mod sim;
pub mod sim_ble;
pub mod sim_replay;
pub mod support;
mod target;
pub mod wipe_phone;

use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use posmate_core::companion::Companion;
use posmate_core::flows::FlowControl;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::Report;
use crate::phone;

/// The commands. They live here, beside the modules whose `Args` they name, so that the
/// top-level parser (`cli`) imports the commands and nothing here imports it back.
#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(demo::Args),
    Scan(scan::Args),
    Pair(pair::Args),
    Info(info::Args),
    Activate(activate::Args),
    #[command(subcommand)]
    Cards(cards::Action),
    #[command(subcommand)]
    Records(records::Action),
    Settle(settle::Args),
    Decommission(decommission::Args),
    Replace(replace::Args),
    Dormancy(dormancy::Args),
    #[command(subcommand)]
    Fleet(fleet::Action),
    WipePhone(wipe_phone::Args),
    #[command(subcommand)]
    Backup(backup::Action),
    #[command(subcommand)]
    Audit(audit::Action),
    Flows(flows::Args),
    Doctor(doctor::Args),
    #[command(subcommand)]
    Config(config::Action),
    Sim(sim::Args),
    #[command(subcommand)]
    Support(support::Action),
    Completions(completions::Args),
    #[command(subcommand)]
    Acquirer(acquirer::Action),
}

impl Command {
    /// The subcommand's name, for the log (its arguments are not logged: some are paths
    /// and names a merchant may not want in a support bundle).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Demo(_) => "demo",
            Command::Scan(_) => "scan",
            Command::Pair(_) => "pair",
            Command::Info(_) => "info",
            Command::Activate(_) => "activate",
            Command::Cards(_) => "cards",
            Command::Config(_) => "config",
            Command::Fleet(_) => "fleet",
            Command::Records(_) => "records",
            Command::Settle(_) => "settle",
            Command::Decommission(_) => "decommission",
            Command::Replace(_) => "replace",
            Command::Dormancy(_) => "dormancy",
            Command::WipePhone(_) => "wipe-phone",
            Command::Backup(_) => "backup",
            Command::Audit(_) => "audit",
            Command::Flows(_) => "flows",
            Command::Doctor(_) => "doctor",
            Command::Sim(_) => "sim",
            Command::Support(_) => "support",
            Command::Completions(_) => "completions",
            Command::Acquirer(_) => "acquirer",
        }
    }
}

/// Runs `command`; the exit status on success is usually [`Exit::Ok`] (`doctor` reports
/// failed checks through it). `definition` builds the whole command line, for
/// `completions`: it is passed in because that definition is made from these commands.
pub async fn run(
    ctx: &Ctx,
    command: Command,
    definition: fn() -> clap::Command,
) -> Result<Exit, CliError> {
    match command {
        Command::Scan(args) => scan::run(ctx, args).await,
        Command::Pair(args) => pair::run(ctx, args).await,
        Command::Info(args) => info::run(ctx, args).await,
        Command::Activate(args) => activate::run(ctx, args).await,
        Command::Cards(args) => cards::run(ctx, args).await,
        Command::Records(args) => records::run(ctx, args).await,
        Command::Settle(args) => settle::run(ctx, args).await,
        Command::Decommission(args) => decommission::run(ctx, args).await,
        Command::Replace(args) => replace::run(ctx, args).await,
        Command::Dormancy(args) => dormancy::run(ctx, args).await,
        Command::Fleet(args) => fleet::run(ctx, args).await,
        Command::WipePhone(args) => wipe_phone::run(ctx, args).await,
        Command::Backup(args) => backup::run(ctx, args).await,
        Command::Audit(args) => audit::run(ctx, args).await,
        Command::Flows(args) => flows::run(ctx, args).await,
        Command::Demo(args) => demo::run(ctx, args).await,
        Command::Doctor(args) => doctor::run(ctx, args).await,
        Command::Config(action) => config::run(ctx, action).await,
        Command::Sim(args) => sim::run(ctx, args).await,
        Command::Support(action) => support::run(ctx, action).await,
        Command::Completions(args) => completions::run(ctx, args, definition),
        Command::Acquirer(action) => acquirer::run(ctx, action).await,
    }
}

/// Opens the phone, runs `work` on it, then closes every session it opened whatever `work`
/// returned, so that no command leaves a terminal connected; what `work` returns is
/// reported by the caller only after that.
pub async fn with_phone<T>(
    ctx: &Ctx,
    work: impl AsyncFnOnce(&Companion) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let phone = phone::open(ctx).await?;
    let result = work(&phone).await;
    phone.disconnect_all().await;
    result
}

/// The shape of the commands that run one flow: opens the phone, lets `prepare` check the
/// arguments and build the flow's input (prompts included), runs `flow` on it with a
/// progress bar (Ctrl-C cancels it between steps), closes the phone and prints the
/// outcome, which it returns for the caller to choose the exit status.
pub async fn report_flow<I, T: Report>(
    ctx: &Ctx,
    what: &str,
    prepare: impl AsyncFnOnce(&Companion) -> Result<I, CliError>,
    flow: impl AsyncFnOnce(&Companion, I, &FlowControl) -> posmate_core::error::Result<T>,
) -> Result<T, CliError> {
    let outcome = with_phone(ctx, async |phone| {
        let input = prepare(phone).await?;
        phone::run_flow(ctx, what, |c| async move { flow(phone, input, &c).await }).await
    })
    .await?;
    ctx.out.report(&outcome);
    Ok(outcome)
}

/// `--from-screen` of the flows that may have to pair again (a wipe's answer was lost):
/// with `--connect-sim` the code is read off the simulated screen instead of asked for.
pub async fn codes_from_screen(
    ctx: &Ctx,
    phone: &Companion,
    from_screen: bool,
) -> Result<(), CliError> {
    if from_screen {
        phone.set_code_entry(Arc::new(phone::code_source(ctx, true).await?));
    }
    Ok(())
}

/// Parses `500ms`, `5s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 500ms, 5s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit '{unit}' in '{text}': use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("'{text}': {e}"))
}

/// A usage error for an option that makes no sense with the chosen transport.
pub fn needs_sim(option: &str) -> CliError {
    CliError::new(
        Exit::Usage,
        "usage",
        format!("{option} works only with simulated terminals"),
    )
    .hint("add --sim or --connect-sim ADDR")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
