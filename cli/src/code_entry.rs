//! Where the pairing code comes from: the user typing it on stdin, or — in simulation — the
//! simulated terminal's screen, read as a merchant would read it. Never the command line,
//! which other users' `ps` and the shell's history keep. The
//! terminal is the one the pairing reached: its SN is what the handshake reports.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use async_trait::async_trait;
use posmate_core::session::CodeEntry;
use posmate_sim::terminal::Screen;
use posmate_sim::SimTerminal;
use posmate_sim_world::link::TcpTransport;

use crate::output::Output;
use crate::simhost::control::Control;
use posmate_sim_world::link::control::ScreenReply;

pub enum CodeSource {
    /// Typed on stdin (a prompt goes to stderr).
    Prompt(Output),
    /// Read off the screen of the embedded simulated terminal with that SN.
    EmbeddedScreen(Vec<SimTerminal>, Output),
    /// Read off the screen of the terminal with that SN hosted by `posmate sim`.
    RemoteScreen(Arc<TcpTransport>, Output),
}

#[async_trait]
impl CodeEntry for CodeSource {
    async fn enter_code(&self, sn: &str) -> Option<String> {
        match self {
            CodeSource::Prompt(out) => {
                let out = *out;
                let sn = sn.to_owned();
                tokio::task::spawn_blocking(move || prompt(&out, &sn))
                    .await
                    .ok()
                    .flatten()
            }
            CodeSource::EmbeddedScreen(terminals, out) => {
                match terminals.iter().find(|t| t.sn() == sn)?.screen() {
                    Screen::PairingCode(code) => {
                        out.note(&format!("terminal {sn} shows code {code}"));
                        Some(code)
                    }
                    // Nothing to read: the merchant can only cancel.
                    _ => None,
                }
            }
            CodeSource::RemoteScreen(remote, out) => {
                let request = serde_json::to_value(Control::Screen { sn: sn.to_owned() })
                    .expect("a request serialises");
                let reply = remote.request(&request).await.ok()?;
                let screen: ScreenReply = serde_json::from_value(reply).ok()?;
                let code = screen.screen.code?;
                out.note(&format!("terminal {sn} shows code {code}"));
                Some(code)
            }
        }
    }
}

/// Asks for the code on stdin; an empty line or the end of input cancels.
fn prompt(out: &Output, sn: &str) -> Option<String> {
    if !out.json && !out.quiet {
        eprint!("Enter the 6-digit code terminal {sn} shows (empty to cancel): ");
    }
    // Typed at a terminal it is not echoed, like the other secrets posmate asks for.
    if crate::prompt::interactive() {
        let line = zeroize::Zeroizing::new(console::Term::stderr().read_secure_line().ok()?);
        let code = line.trim();
        return (!code.is_empty()).then(|| code.to_owned());
    }
    let stdin = std::io::stdin();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line).ok()?;
    if !stdin.is_terminal() && !out.json && !out.quiet {
        eprintln!();
    }
    let code = line.trim();
    (read > 0 && !code.is_empty()).then(|| code.to_owned())
}
