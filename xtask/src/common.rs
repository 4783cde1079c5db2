//! What more than one task needs, written once: where the workspace and cargo's output
//! are, build stamps (so that an unchanged test program is not compiled again), finding and
//! joining files, running commands, Python tools from PyPI in cached venvs (zig for the
//! cross-check, psec for the standards check), and the Debian host's packages and mirror (the
//! binding runtimes and the BLE test kernel and root are installed from it).

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

// ---- the workspace --------------------------------------------------------------------------

/// The workspace's root folder (xtask is one of its members).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is a member of the workspace")
        .to_path_buf()
}

/// Where cargo builds: `CARGO_TARGET_DIR`, or the workspace's `target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

// ---- build stamps ---------------------------------------------------------------------------

/// A key for a compiled artefact: what it builds on (`base`: a compiler version, another
/// artefact's key) and its inputs' names and contents.
pub fn stamp(inputs: &[impl AsRef<Path>], base: &str) -> String {
    let mut h = DefaultHasher::new();
    base.hash(&mut h);
    for input in inputs {
        let input = input.as_ref();
        input.hash(&mut h);
        fs::read(input).unwrap_or_default().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

fn stamp_path(output: &Path) -> PathBuf {
    output.with_extension("stamp")
}

/// Whether `output` exists and was built from inputs with this key.
pub fn fresh(output: &Path, key: &str) -> bool {
    output.is_file() && fs::read_to_string(stamp_path(output)).is_ok_and(|k| k == key)
}

/// Records that `output` was built from inputs with this key.
pub fn save_stamp(output: &Path, key: &str) -> Result<(), String> {
    let path = stamp_path(output);
    fs::write(&path, key).map_err(|e| format!("{}: {e}", path.display()))
}

// ---- files ----------------------------------------------------------------------------------

/// Every file under `dir` (none if it does not exist).
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    if !dir.exists() {
        return Ok(files);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// The file named `name` somewhere under `dir` (Kotlin nests it by package).
pub fn find_file(dir: &Path, name: &str) -> Result<PathBuf, String> {
    walk(dir)?
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .ok_or_else(|| format!("the generator wrote no {name} under {}", dir.display()))
}

/// A class path (or any `:`-separated path list).
pub fn join_paths(paths: &[&Path]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// Sets a file's permission bits (scripts and the guest's init must be executable).
pub fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

// ---- commands -------------------------------------------------------------------------------

/// Runs `cmd`, failing with what went wrong and `fix`.
pub fn run(what: &str, cmd: &mut Command, fix: &str) -> Result<(), String> {
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{what} failed ({s}). Fix: {fix}")),
        Err(e) => Err(format!("{what} could not start: {e}. Fix: {fix}")),
    }
}

/// A venv at `venv` with the PyPI `requirement` (`name==version`) installed, unless a
/// complete install for that requirement is there already. `task` names who asks, in what
/// is printed. The stamp is written last: a venv without it is an interrupted install.
pub fn pypi_venv(venv: &Path, requirement: &str, task: &str) -> Result<(), String> {
    let stamp = venv.join("posmate-ready");
    let wanted = format!("{requirement}\n");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let began = std::time::Instant::now();
    if venv.exists() {
        fs::remove_dir_all(venv).map_err(|e| {
            format!(
                "cannot remove the incomplete install {}: {e}",
                venv.display()
            )
        })?;
    }
    eprintln!(
        "{task}: installing {requirement} (PyPI) into {}",
        venv.display()
    );
    run(
        "python3 -m venv",
        Command::new("python3").arg("-m").arg("venv").arg(venv),
        "install Python 3 with its venv module",
    )?;
    run(
        &format!("pip install {requirement}"),
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            requirement,
        ]),
        "make PyPI reachable",
    )?;
    fs::write(&stamp, &wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    eprintln!(
        "{task}: {requirement} installed in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A command's standard output, or an error naming it.
pub fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command's standard output (and error: `java -version` prints there), if it ran
/// and succeeded.
pub fn capture(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    })
}

// ---- Debian packages ------------------------------------------------------------------------

/// Installs the Debian packages not installed yet (`apt-get update` first only if the
/// install fails without it). `why` says which task needs them.
pub fn ensure_packages(packages: &[&str], why: &str) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} ({why})", missing.join(" "));
    let install = || {
        Command::new("nice")
            .args([
                "-n",
                "10",
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
            ])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if install() {
        return Ok(());
    }
    run(
        "apt-get update",
        Command::new("apt-get").args(["update", "-q"]),
        "check that apt's mirror answers",
    )?;
    if install() {
        Ok(())
    } else {
        Err(format!(
            "apt-get install {} failed. Fix: install it by hand ({why})",
            missing.join(" ")
        ))
    }
}

fn package_installed(name: &str) -> bool {
    capture("dpkg-query", &["-W", "-f=${Status}", name])
        .is_some_and(|s| s.contains("install ok installed"))
}

/// The Debian mirror apt uses on this machine (the one reachable, so the one debootstrap
/// must use): the first `http…/debian` address of apt's sources.
pub fn apt_mirror() -> Option<String> {
    let sources = [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ];
    for path in sources {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            let uris = if let Some(uri) = line.strip_prefix("URIs:") {
                uri
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest
            } else {
                continue;
            };
            if let Some(u) = uris
                .split_whitespace()
                .find(|w| w.starts_with("http") && w.trim_end_matches('/').ends_with("/debian"))
            {
                return Some(u.to_owned());
            }
        }
    }
    None
}
