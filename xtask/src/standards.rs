//! `cargo xtask standards-test`: posmate's key formats and host messages opened by
//! independent implementations.
//! * The `tr31_blocks` example of posmate-proto prints TR-31 key blocks it made (every KBPK
//!   and key size, each usage, masked and unmasked, with optional blocks); Python's `psec`
//!   (PyPI, in a venv under the cache) opens each and must find the same key and, by its
//!   own CMAC, the same key check value (`psec_check.py`).
//! * The `iso8583_messages` example prints CUP ISO 8583 messages (0800/0810, 0500/0510,
//!   0320/0330, 0820 and random messages over every field); Python's `pyiso8583` (a second
//!   venv) decodes each under a CUP spec written in Python and must find the same MTI,
//!   header and fields, and encode them back to the same bytes (`iso8583_check.py`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::common::{pypi_venv, workspace_root};

/// The `psec` release checked against.
const PSEC: &str = "psec==1.3.0";
/// The `pyiso8583` release checked against.
const PYISO8583: &str = "pyiso8583==4.0.1";

pub fn test() -> Result<(), String> {
    eprintln!("\n==> standards: TR-31 key blocks opened by {PSEC}");
    let began = Instant::now();
    check(
        "psec",
        PSEC,
        "tr31_blocks",
        "psec_check.py",
        "psec disagrees with posmate's TR-31 key blocks",
    )?;
    eprintln!("==> standards: CUP ISO 8583 messages decoded by {PYISO8583}");
    check(
        "pyiso8583",
        PYISO8583,
        "iso8583_messages",
        "iso8583_check.py",
        "pyiso8583 disagrees with posmate's ISO 8583 messages",
    )?;
    eprintln!(
        "<== standards: ok in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs posmate-proto's `example` and feeds its output to `script` (in `xtask/src/`) under
/// a cached venv `pypi/<venv>` holding `requirement`.
fn check(
    venv: &str,
    requirement: &str,
    example: &str,
    script: &str,
    disagrees: &str,
) -> Result<(), String> {
    let venv = crate::provision::cache_dir()?.join("pypi").join(venv);
    pypi_venv(&venv, requirement, "standards")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let lines = Command::new(&cargo)
        .args([
            "run",
            "--quiet",
            "-p",
            "posmate-proto",
            "--example",
            example,
        ])
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !lines.status.success() {
        return Err(format!("the {example} example failed ({})", lines.status));
    }
    let script = workspace_root().join("xtask/src").join(script);
    let mut child = Command::new(venv.join("bin/python"))
        .arg(&script)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(&lines.stdout)
        .map_err(|e| {
            format!(
                "cannot feed the {example} output to {}: {e}",
                script.display()
            )
        })?;
    let status = child
        .wait()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("{disagrees} ({status}); its line above says which"));
    }
    Ok(())
}
