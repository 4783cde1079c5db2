//! `posmate completions <shell>`: the shell completion script, generated from the same
//! definitions clap parses with.

use clap_complete::Shell;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::Report;

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate completions bash > ~/.local/share/bash-completion/completions/posmate
  posmate completions zsh > ~/.zfunc/_posmate
  posmate completions fish > ~/.config/fish/completions/posmate.fish")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Serialize)]
pub struct CompletionsReport {
    pub shell: String,
    pub script: String,
}

impl Report for CompletionsReport {
    fn human(&self) -> String {
        self.script.clone()
    }
}

/// `definition` builds the whole command line (the top-level parser, which is made from
/// the commands and so cannot be named here).
pub fn run(ctx: &Ctx, args: Args, definition: fn() -> clap::Command) -> Result<Exit, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut definition(), "posmate", &mut script);
    ctx.out.report(&CompletionsReport {
        shell: args.shell.to_string(),
        script: String::from_utf8_lossy(&script).into_owned(),
    });
    Ok(Exit::Ok)
}
