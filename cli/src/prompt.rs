//! What the user types: secrets (activation codes, passphrases, card numbers) are read
//! without echo from a terminal, or as one line of stdin from a script — never from the
//! command line, where `ps` and the shell's history would keep them. Destructive commands
//! ask for the terminal's SN to be typed back, or take `--yes` when nobody is there to ask.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use posmate_core::backup::Passphrase;
use zeroize::Zeroizing;

use crate::error::{CliError, Exit};

/// Whether a person can answer: stdin and stderr are terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// One line of stdin, without its line end; `None` at the end of input.
fn stdin_line() -> Result<Option<Zeroizing<String>>, CliError> {
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::storage("cannot read stdin", e))?;
    if read == 0 {
        return Ok(None);
    }
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    Ok(Some(trimmed))
}

/// Reads a secret: without echo after `prompt` on a terminal, else one line of stdin.
/// Nothing given is a usage error naming `what`.
pub fn secret(prompt: &str, what: &str) -> Result<Zeroizing<String>, CliError> {
    let value = if interactive() {
        let term = console::Term::stderr();
        let _ = term.write_str(prompt);
        let _ = std::io::stderr().flush();
        Zeroizing::new(
            term.read_secure_line()
                .map_err(|e| CliError::storage("cannot read the terminal", e))?,
        )
    } else {
        stdin_line()?.unwrap_or_default()
    };
    let trimmed = Zeroizing::new(value.trim().to_owned());
    if trimmed.is_empty() {
        return Err(CliError::new(
            Exit::Usage,
            "needs-input",
            format!("no {what} was given"),
        )
        .hint(format!(
            "type it when asked, or pipe it on stdin (one line): printf '%s\\n' \"$SECRET\" | posmate … ({what} is never taken from the command line)"
        )));
    }
    Ok(trimmed)
}

/// A backup passphrase: the first line of `file`, else typed (twice for a new backup, so a
/// typo cannot lock the merchant out of their own archive), else a line of stdin.
pub fn passphrase(file: Option<&Path>, new: bool) -> Result<Passphrase, CliError> {
    if let Some(path) = file {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            CliError::new(
                Exit::Usage,
                "passphrase-file",
                format!("cannot read the passphrase file {}: {e}", path.display()),
            )
        })?);
        let first = text.lines().next().unwrap_or("").trim().to_owned();
        if first.is_empty() {
            return Err(CliError::new(
                Exit::Usage,
                "needs-input",
                format!("the passphrase file {} is empty", path.display()),
            ));
        }
        return Ok(Passphrase::new(first));
    }
    let first = secret("Backup passphrase: ", "backup passphrase")?;
    if new && interactive() {
        let again = secret("The same passphrase again: ", "backup passphrase")?;
        if *again != *first {
            return Err(CliError::new(
                Exit::Usage,
                "passphrase-mismatch",
                "the two passphrases differ",
            )
            .hint("nothing was changed; run the command again"));
        }
    }
    Ok(Passphrase::new(first.to_string()))
}

/// Asks the user to type `expected` (the terminal's SN) back before a destructive step;
/// `--yes` skips the question. Without a terminal to ask and without `--yes`, refuses:
/// nothing has been changed.
pub fn confirm(action: &str, expected: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !interactive() {
        return Err(CliError::new(
            Exit::Usage,
            "confirmation-required",
            format!("{action} is destructive and nobody is at a terminal to confirm it; nothing was changed"),
        )
        .hint("pass --yes to confirm from a script"));
    }
    eprint!("{action} cannot be undone. Type {expected} to confirm: ");
    let _ = std::io::stderr().flush();
    let typed = stdin_line()?.unwrap_or_default();
    if typed.trim() != expected {
        return Err(CliError::new(
            Exit::Cancelled,
            "cancelled",
            format!("what was typed is not {expected}; nothing was changed"),
        ));
    }
    Ok(())
}
