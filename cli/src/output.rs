//! How results reach the user: readable text by default, one JSON document with `--json`
//! (the schemas in `cli/schemas/`, documented in `docs/cli.md`). Progress and notes go to
//! stderr and only to a terminal, so stdout stays clean for pipes.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::error::CliError;

/// The progress bar's layout: what runs, how far, and about how long is left.
const BAR_TEMPLATE: &str = "{spinner} {prefix} [{bar:30}] {percent:>3}% {msg}{left}";

/// `{left}`: " (about 3s left)" — nothing before the first step (there is no rate to
/// estimate from yet) or once it is done.
fn time_left(state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write) {
    let done = state.len().is_some_and(|len| state.pos() >= len);
    if state.pos() > 0 && !done {
        let _ = write!(
            out,
            " (about {} left)",
            indicatif::HumanDuration(state.eta())
        );
    }
}

/// A command's result: serialised as-is with `--json`, rendered by [`Report::human`]
/// otherwise.
pub trait Report: Serialize {
    /// The readable form, ending with a newline.
    fn human(&self) -> String;
}

/// Where output goes and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

impl Output {
    /// Prints a command's result on stdout.
    pub fn report(&self, report: &impl Report) {
        if self.json {
            self.json_line(report);
        } else {
            print!("{}", report.human());
        }
    }

    /// One JSON document on one line (streams such as `posmate sim` print several).
    pub fn json_line(&self, value: &impl Serialize) {
        let text = serde_json::to_string(value).expect("reports serialise");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// A line of readable text on stdout (streams), flushed at once.
    pub fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// A note for people (warnings, prompts' context) on stderr; silent with `--json` or
    /// `-q`.
    pub fn note(&self, text: &str) {
        if !self.json && !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Prints an error: `{"error": …}` on stdout with `--json`, text on stderr otherwise.
    pub fn error(&self, err: &CliError) {
        if self.json {
            #[derive(Serialize)]
            struct Wrapped<'a> {
                error: &'a CliError,
            }
            self.json_line(&Wrapped { error: err });
        } else {
            eprintln!("error: {}", err.message);
            if let Some(hint) = &err.hint {
                eprintln!("  hint: {hint}");
            }
        }
    }

    /// A spinner on stderr for a step that may take more than a second; hidden when
    /// stderr is not a terminal, with `--json` and with `-q`.
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        if !self.shows_progress() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("the template is valid"),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }
}

impl Output {
    /// Whether progress may be drawn: stderr is a terminal, and neither `--json` nor `-q`.
    pub fn shows_progress(&self) -> bool {
        !self.json && !self.quiet && std::io::stderr().is_terminal()
    }

    /// A progress bar of `len` steps on stderr, with the time left (estimated from the
    /// rate so far) and a prefix naming the operation; or a hidden one (see
    /// [`Self::shows_progress`]). Every long operation whose length is known draws this one.
    pub fn bar(&self, len: u64) -> ProgressBar {
        if !self.shows_progress() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(BAR_TEMPLATE)
                .expect("the template is valid")
                .with_key("left", time_left)
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }
}

/// Lowercase hex for keys and fingerprints in reports.
pub fn hex(bytes: &[u8]) -> String {
    posmate_sim_world::link::wire::hex(bytes)
}

/// A list for people: the items as rows under `header`, or the sentence `none` when there
/// is nothing to list (an empty table would read as a failure).
pub fn list<T>(
    items: &[T],
    none: &str,
    header: &[&str],
    row: impl FnMut(&T) -> Vec<String>,
) -> String {
    if items.is_empty() {
        return format!("{none}\n");
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    table(header, &rows)
}

/// Left-aligned columns under a header, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["A", "LONGER"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["q".into(), "22".into()],
            ],
        );
        assert_eq!(t, "A    LONGER\nxyz  1\nq    22\n");
    }
}
