//! Helpers: a data directory per test (whose keyutils keys are wiped at the end), the
//! `posmate` binary, JSON-schema validation, and a `posmate sim` child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use posmate_core::keystore::{wipe_all, KeyringStore, KeystoreChoice, Namespace};
use serde_json::Value;

/// The environment variables posmate reads; cleared so the developer's shell cannot steer
/// a test.
pub const POSMATE_ENV: [&str; 15] = [
    "POSMATE_SIM",
    "POSMATE_SIM_ADDR",
    "POSMATE_DATA_DIR",
    "POSMATE_KEYSTORE",
    "POSMATE_CONFIG",
    "POSMATE_PROFILE",
    "POSMATE_JSON",
    "POSMATE_QUIET",
    "POSMATE_VERBOSE",
    "POSMATE_ALLOW_VOLATILE_KEY",
    "POSMATE_BACKUP_WORK_FACTOR",
    "POSMATE_ACQUIRER_URL",
    "POSMATE_ACQUIRER_CREDENTIAL",
    "RUST_LOG",
    "XDG_CONFIG_HOME",
];

/// The config directory every test's posmate sees unless the test gives its own: one that
/// does not exist, so the developer's own config file cannot steer a test.
pub const NO_CONFIG_HOME: &str = "/nonexistent/posmate-tests/config";

/// A fresh data directory; the phone keys posmate stored for it (keyutils, linked into the
/// user's persistent keyring) are deleted when it is dropped.
pub struct DataDir {
    dir: tempfile::TempDir,
}

impl DataDir {
    pub fn new() -> Self {
        DataDir {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `posmate --data-dir DIR --keystore keyutils` with a clean environment, the user
    /// accepting the volatile store (POSMATE_ALLOW_VOLATILE_KEY=1).
    pub fn posmate(&self) -> Command {
        self.with_keystore("keyutils")
    }

    /// `posmate --data-dir DIR --keystore KEYSTORE` with a clean environment, the user
    /// accepting a volatile store.
    pub fn with_keystore(&self, keystore: &str) -> Command {
        let mut cmd = self.without_consent(keystore);
        cmd.env("POSMATE_ALLOW_VOLATILE_KEY", "1");
        cmd
    }

    /// `posmate --data-dir DIR --keystore KEYSTORE` with a clean environment and no consent
    /// to a volatile store given on this call.
    pub fn without_consent(&self, keystore: &str) -> Command {
        let mut cmd = bare();
        cmd.arg("--data-dir").arg(self.path());
        cmd.args(["--keystore", keystore]);
        cmd
    }

    /// The same as a std command, for interactive runs.
    pub fn posmate_std(&self) -> StdCommand {
        let mut cmd = StdCommand::new(bin());
        for var in POSMATE_ENV {
            cmd.env_remove(var);
        }
        cmd.env("XDG_CONFIG_HOME", NO_CONFIG_HOME);
        cmd.arg("--data-dir").arg(self.path());
        cmd.args(["--keystore", "keyutils"]);
        cmd.env("POSMATE_ALLOW_VOLATILE_KEY", "1");
        cmd
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        {
            if posmate_core::keystore::linux::join_session_keyring().is_err() {
                return;
            }
            let Ok(ns) = Namespace::anchored(self.path()) else {
                return;
            };
            if let Ok(store) = KeyringStore::open(KeystoreChoice::LinuxKeyutils, ns) {
                let _ = wipe_all(&store);
            }
        }
    }
}

pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("posmate")
}

/// `posmate` with a clean environment and no options.
pub fn bare() -> Command {
    let mut cmd = Command::new(bin());
    for var in POSMATE_ENV {
        cmd.env_remove(var);
    }
    cmd.env("XDG_CONFIG_HOME", NO_CONFIG_HOME);
    cmd
}

/// Parses stdout as one JSON document.
pub fn json_of(output: &[u8]) -> Value {
    serde_json::from_slice(output).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(output)
        )
    })
}

/// Validates `value` against `cli/schemas/<name>.schema.json`, listing every violation.
pub fn check_schema(name: &str, value: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(format!("{name}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "output does not match {name}.schema.json: {errors:#?}\n{value:#}"
    );
}

/// Runs `cmd` expecting `exit`; returns stdout parsed as JSON, validated against `schema`
/// (the error schema for a failure).
pub fn run_json(cmd: &mut Command, exit: i32, schema: &str) -> Value {
    run_json_as(cmd, exit, if exit == 0 { schema } else { "error" })
}

/// Like [`run_json`], validating against `schema` whatever the exit status (`doctor`
/// reports its failed checks as a report, not an error).
pub fn run_json_as(cmd: &mut Command, exit: i32, schema: &str) -> Value {
    let out = cmd.arg("--json").output().expect("posmate runs");
    assert_eq!(
        out.status.code(),
        Some(exit),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let value = json_of(&out.stdout);
    check_schema(schema, &value);
    value
}

/// A `posmate sim` child process on a free loopback port, with its JSON event stream.
pub struct Sim {
    child: Child,
    /// `HOST:PORT` (a client on this machine finds the token in this user's token file).
    pub addr: String,
    /// `TOKEN@HOST:PORT`, as another process is told to connect.
    pub connect: String,
    events: mpsc::Receiver<Value>,
    /// Every event seen so far, in order.
    pub seen: Vec<Value>,
}

impl Sim {
    /// Starts `posmate --json sim --listen 127.0.0.1:0 EXTRA…` and waits for it to listen.
    pub fn start(extra: &[&str]) -> Sim {
        let mut cmd = StdCommand::new(bin());
        for var in POSMATE_ENV {
            cmd.env_remove(var);
        }
        cmd.env("XDG_CONFIG_HOME", NO_CONFIG_HOME);
        let mut child = cmd
            .args(["--json", "sim", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("posmate sim starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("sim printed a non-JSON line ({e}): {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut sim = Sim {
            child,
            addr: String::new(),
            connect: String::new(),
            events,
            seen: Vec::new(),
        };
        let listening = sim.wait_for("the listening event", |e| e["event"] == "listening");
        sim.addr = listening["addr"].as_str().expect("addr").to_owned();
        sim.connect = listening["connect"].as_str().expect("connect").to_owned();
        sim
    }

    /// The next event matching `pred`, within 10 s (events before it are kept in `seen`).
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {what} from posmate sim; saw {:#?}", self.seen));
            check_schema("sim-event", &event);
            self.seen.push(event.clone());
            if pred(&event) {
                return event;
            }
        }
    }

    /// Takes the events printed so far without waiting.
    pub fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            check_schema("sim-event", &event);
            self.seen.push(event);
        }
    }

    /// Forgets the events seen so far (so `wait_for` looks only at new ones).
    pub fn forget(&mut self) {
        self.drain();
        self.seen.clear();
    }

    /// A posmate command against this sim.
    pub fn posmate(&self, dir: &DataDir) -> Command {
        let mut cmd = dir.posmate();
        cmd.args(["--connect-sim", &self.connect]);
        cmd
    }

    /// Ends the process at once (no chance to save on the way out).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo merchant of the simulated acquirer (`posmate sim acquirer`).
pub const MERCHANT_NO: &str = "898310148160012";
pub const MERCHANT_NAME: &str = "Zhang San Noodles";
pub const PASSPHRASE: &str = "correct horse battery staple";

/// `activate`'s arguments for the `n`th simulated terminal and the demo merchant (the code
/// goes on stdin).
pub fn activate_args(n: usize) -> Vec<String> {
    [
        "activate".to_owned(),
        format!("SN2026{n:06}"),
        "--terminal-no".into(),
        format!("1002{:04}", 300 + n),
        "--merchant-no".into(),
        MERCHANT_NO.into(),
        "--merchant-name".into(),
        MERCHANT_NAME.into(),
        "--phone".into(),
        "+86 138 0000 0000".into(),
        "--address".into(),
        "12 Wenhua Road, Hangzhou".into(),
    ]
    .into()
}

/// The activation code of the `n`th simulated terminal, as a line of stdin.
pub fn activation_code(n: usize) -> String {
    format!("ACT{:05}\n", 7000 + n)
}

/// A passphrase file in `dir`.
pub fn passphrase_file(dir: &DataDir) -> PathBuf {
    let path = dir.path().join("passphrase.txt");
    std::fs::write(&path, format!("{PASSPHRASE}\n")).unwrap();
    path
}

/// `digits` with its Luhn check digit appended.
pub fn luhn(digits: &str) -> String {
    posmate_proto::pan::with_check_digit(digits)
}

/// Runs `cmd` expecting a usage-style failure `exit` with error `code`; returns the error.
pub fn refused(cmd: &mut Command, exit: i32, code: &str) -> Value {
    let err = run_json(cmd, exit, "error");
    assert_eq!(err["error"]["code"], code, "{err:#}");
    err
}

/// Every record of the phone, newest first, page by page (checking each page's schema).
pub fn all_records(mut cmd: impl FnMut() -> Command) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut c = cmd();
        c.args(["records", "list", "--limit", "500"]);
        if let Some(a) = &after {
            c.args(["--after", a]);
        }
        let page = run_json(&mut c, 0, "records-list");
        all.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return all,
        }
    }
}
