//! `cargo xtask standards-test`: posmate's key formats opened by an independent
//! implementation. The `tr31_blocks` example of posmate-proto prints TR-31 key blocks it
//! made (every KBPK and key size, each usage, masked and unmasked, with optional blocks);
//! Python's `psec` (PyPI, in a venv under the cache) opens each and must find the same key
//! and, by its own CMAC, the same key check value (`psec_check.py`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::common::{pypi_venv, workspace_root};

/// The `psec` release checked against.
const PSEC: &str = "psec==1.3.0";

pub fn test() -> Result<(), String> {
    eprintln!("\n==> standards: TR-31 key blocks opened by {PSEC}");
    let began = Instant::now();
    let venv = crate::provision::cache_dir()?.join("pypi/psec");
    pypi_venv(&venv, PSEC, "standards")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let blocks = Command::new(&cargo)
        .args([
            "run",
            "--quiet",
            "-p",
            "posmate-proto",
            "--example",
            "tr31_blocks",
        ])
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !blocks.status.success() {
        return Err(format!(
            "the tr31_blocks example failed ({})",
            blocks.status
        ));
    }
    let script = workspace_root().join("xtask/src/psec_check.py");
    let mut check = Command::new(venv.join("bin/python"))
        .arg(&script)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    check
        .stdin
        .take()
        .expect("piped")
        .write_all(&blocks.stdout)
        .map_err(|e| format!("cannot feed the key blocks to psec: {e}"))?;
    let status = check.wait().map_err(|e| format!("psec check: {e}"))?;
    if !status.success() {
        return Err(format!(
            "psec disagrees with posmate's TR-31 key blocks ({status}); its line above says which"
        ));
    }
    eprintln!(
        "<== standards: ok in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}
