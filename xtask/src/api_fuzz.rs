//! `cargo xtask api-fuzz`: the published contract (`acquirer-api/openapi.yaml`) against the
//! sandbox acquirer over real TLS, by an independent tool: schemathesis (PyPI, pinned, in a
//! venv under the cache like psec) generates valid and invalid calls for every operation
//! from the spec alone and runs every check it has on the answers — no 5xx, each answer's
//! status, content type, headers and body as the spec says, invalid calls refused, valid
//! ones accepted, 405 with `Allow` for methods a route does not take. The sandbox is the
//! `posmate-sandbox` binary cargo builds, on loopback with the demo world (so that valid
//! calls meet real merchants and terminals), in a fresh data directory; schemathesis
//! verifies its certificate against the sandbox's own CA.
//!
//! Bounded: a fixed seed and at most [`MAX_EXAMPLES`] cases per operation and phase (about
//! 800 calls), about 20 s warm on two cores. `schemathesis.toml` beside this file holds what
//! the command line cannot: which statuses count as accepting a valid call (it says why)
//! and the demo world's numbers to draw from; `schemathesis_hooks.py` adds one check, that
//! a valid call is refused 422 only for a rule no schema can state.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::common::{pypi_venv, target_dir, workspace_root};

/// The schemathesis release run; its command line changed a lot between 3.x and 4.x.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// Cases per operation and phase: enough to reach every documented status, small enough
/// for CI.
const MAX_EXAMPLES: &str = "25";
/// The generator's seed: the same cases every run, so a failure reproduces.
const SEED: &str = "20261207";

/// The sandbox process, killed when dropped (also when the step fails).
struct Sandbox(Child);

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn test() -> Result<(), String> {
    eprintln!("\n==> api-fuzz: acquirer-api/openapi.yaml against the sandbox by {SCHEMATHESIS}");
    let began = Instant::now();
    let venv = crate::provision::cache_dir()?.join("pypi/schemathesis");
    pypi_venv(&venv, SCHEMATHESIS, "api-fuzz")?;
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    crate::common::run(
        "cargo build -p posmate-sandbox",
        Command::new(&cargo)
            .args(["build", "--quiet", "-p", "posmate-sandbox", "--bin"])
            .arg("posmate-sandbox")
            .current_dir(&root),
        "fix the build error above",
    )?;
    let work = target_dir().join("api-fuzz");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let (_sandbox, base_url, ca) = start(&target_dir().join("debug/posmate-sandbox"), &work)?;

    let output = Command::new(venv.join("bin/schemathesis"))
        .arg("--config-file")
        .arg(root.join("xtask/src/schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(root.join("acquirer-api/openapi.yaml"))
        .args(["--url", &base_url, "--tls-verify"])
        .arg(&ca)
        .args([
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
        ])
        // One worker: with two, CPython 3.11's `ast` (which hypothesis uses to describe its
        // filters) failed two runs in five here with `SystemError: AST constructor
        // recursion depth mismatch`, its depth counter shared between threads; and the
        // sandbox answers one call at a time anyway.
        .args(["--workers", "1", "--generation-database", "none"])
        // A call the sandbox never answers fails the run instead of hanging it. A call whose
        // connection fails is sent once more, after a second: one cold run here lost a call
        // to `SSL: EOF occurred in violation of protocol` on a keep-alive connection the
        // sandbox's 10 s header timeout closed as it was reused (then without TLS
        // close_notify; sandbox/tests/tls_close.rs now holds it to sending one). A call that
        // makes the sandbox drop its connection fails on the resend too.
        .args(["--request-timeout", "10", "--request-retries", "1"])
        // Whatever it writes stays in the scratch folder, out of the work tree.
        .current_dir(&work)
        .env("CI", "true")
        // The one check of our own (see the file): a valid call refused 422 only for a
        // rule no schema can state.
        .env(
            "SCHEMATHESIS_HOOKS",
            root.join("xtask/src/schemathesis_hooks.py"),
        )
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run schemathesis: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    eprint!("{text}");
    let summary = summary(&text);
    eprintln!("api-fuzz: {summary}");
    if !output.status.success() {
        return Err(format!(
            "schemathesis found the sandbox or the spec wrong ({}): {summary}; each failure \
             above says how to reproduce it (run from {})",
            output.status,
            work.display()
        ));
    }
    eprintln!("<== api-fuzz: ok in {:.1} s", began.elapsed().as_secs_f64());
    Ok(())
}

/// Starts the sandbox on loopback in `dir`: the process, its base URL and its CA file.
fn start(binary: &Path, dir: &Path) -> Result<(Sandbox, String, PathBuf), String> {
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--demo", "--data-dir"])
        .arg(dir.join("sandbox"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let sandbox = Sandbox(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("the sandbox said nothing: {e}"))?;
    let started: serde_json::Value = serde_json::from_str(&line)
        .map_err(|e| format!("the sandbox's first line is not its JSON ({e}): {line}"))?;
    let field = |name: &str| {
        started[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the sandbox's first line has no {name}: {line}"))
    };
    Ok((
        sandbox,
        field("base_url")?,
        PathBuf::from(field("ca_file")?),
    ))
}

/// One line from schemathesis's closing summary: operations tested, cases generated,
/// failures.
fn summary(text: &str) -> String {
    let after = |label: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(label))
            .next_back()
            .map(str::trim)
            .unwrap_or("?")
            .to_owned()
    };
    let cases = text
        .lines()
        .map(str::trim)
        .rfind(|l| l.contains(" generated"))
        .unwrap_or("?");
    format!(
        "{} operations tested (of {}), test cases: {cases}; {}",
        after("Tested:"),
        after("Selected:"),
        // The closing rule: `==== 2 warnings in 15.65s ====`, `==== 3 failures in …`.
        text.lines()
            .filter(|l| l.starts_with("==="))
            .map(|l| l.trim_matches(|c| c == '=' || c == ' '))
            .rfind(|l| l.contains(" in "))
            .unwrap_or("no closing line")
    )
}
