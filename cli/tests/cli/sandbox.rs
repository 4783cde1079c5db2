//! `posmate acquirer serve` as a child process for the CLI's tests, and the back office
//! reached through `posmate acquirer admin` and the sandbox's admin surface.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::Command;
use posmate_acquirer_api::http::Method;
use posmate_sandbox::admin::TerminalView;
use posmate_sandbox::client::Client;
use serde_json::Value;

use crate::common::{bare, bin, check_schema, NO_CONFIG_HOME, POSMATE_ENV};

/// `posmate acquirer serve` as a child process, stopped (SIGKILL) when dropped.
pub struct Sandbox {
    pub child: Child,
    pub state: PathBuf,
    pub base_url: String,
    pub ca_file: PathBuf,
    pub token_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    /// Serves on a free loopback port with a fresh data directory, plus `args`
    /// (`--demo`: the simulated world's merchants and terminals).
    pub fn serve(args: &[&str]) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("sandbox");
        let mut cmd = StdCommand::new(bin());
        for var in POSMATE_ENV {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .env("XDG_CONFIG_HOME", NO_CONFIG_HOME)
            .args(["--json", "acquirer", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .arg("--state")
            .arg(&state)
            .stdout(Stdio::piped())
            .spawn()
            .expect("posmate acquirer serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("serve prints where it listens");
        let listening: Value = serde_json::from_str(&line).unwrap();
        check_schema("acquirer-serve", &listening);
        let path = |k: &str| PathBuf::from(listening[k].as_str().unwrap());
        Sandbox {
            child,
            base_url: listening["base_url"].as_str().unwrap().to_owned(),
            ca_file: path("ca_file"),
            token_file: path("token_file"),
            state,
            _dir: dir,
        }
    }

    /// `posmate acquirer admin ARGS --state DIR`: the back office.
    pub fn admin(&self, args: &[&str]) -> Command {
        let mut cmd = bare();
        cmd.args(["acquirer", "admin"])
            .args(args)
            .arg("--state")
            .arg(&self.state);
        cmd
    }

    /// The back office's view of `sn` (the admin surface's `terminals/{sn}`).
    pub fn terminal(&self, sn: &str) -> TerminalView {
        let client = Client::new(&self.base_url, &self.ca_file)
            .and_then(|c| c.with_token_file(&self.token_file))
            .unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client.admin(Method::Get, &format!("terminals/{sn}"), None::<&()>))
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
