//! `cargo xtask cross-check`: `cargo clippy` (`cargo check` plus lints) of the crates that
//! carry platform-specific Rust (Android JNI init, keystores, CoreBluetooth through btleplug)
//! for the phone targets, on a machine with neither the Android NDK nor Xcode.
//!
//! Rust needs no SDK to type-check, but build scripts still compile C (SQLCipher's
//! amalgamation) with the target's C compiler. zig's bundled clang (PyPI `ziglang`, in a venv
//! under the cache) stands in for it: per-target wrapper scripts, set as `CC_<target>` and
//! `AR_<target>`, compile that C against zig's musl (Android) or Darwin (iOS) headers. The
//! objects are never linked and never shipped: this is a type check, not a mobile build
//! (that needs the NDK or Xcode). SQLCipher needs no OpenSSL on any target: it uses
//! posmate's Rust crypto provider (`core/src/store/cipher.rs`).
//!
//! Warnings, clippy's included, are errors, as on the host: code that only one platform
//! compiles is linted there and nowhere else.
//!
//! macOS is checked the same way, for the login Keychain backend (no Mac runs it here).
//!
//! rustup adds the targets' standard libraries to the toolchain; zig is cached in
//! `/var/cache/posmate/zig` (or `$POSMATE_CACHE/zig`). The check builds in `cross` under
//! cargo's target directory, apart from the host build. Nothing is skipped: whatever is missing is installed, or the
//! error names it and the fix.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::{output, pypi_venv};

/// The phone targets, and macOS for its login Keychain backend, each with the zig target
/// whose C headers stand in for its SDK's.
const TARGETS: &[(&str, &str)] = &[
    ("aarch64-linux-android", "aarch64-linux-musl"),
    ("armv7-linux-androideabi", "arm-linux-musleabi"),
    ("aarch64-apple-ios", "aarch64-macos"),
    ("aarch64-apple-darwin", "aarch64-macos"),
];
/// The crates checked: the core and the UniFFI layer (JNI init lives there).
const CRATES: &[&str] = &["posmate-core", "posmate-ffi"];
/// The `ziglang` package installed from PyPI.
const ZIGLANG_VERSION: &str = "0.17.0";

/// `cargo xtask cross-check`.
pub fn cross_check() -> Result<(), String> {
    let start = Instant::now();
    eprintln!(
        "\n==> cross-check: {} for {}",
        CRATES.join(", "),
        target_names()
    );
    rust_targets()?;
    let zig = Zig::provision()?;
    eprintln!(
        "cross-check: toolchain ready in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = crate::common::target_dir().join("cross");
    let sqlite_flags = workspace_sqlite_flags()?;
    let mut failed = Vec::new();
    for &(target, _) in TARGETS {
        let began = Instant::now();
        let mut check = Command::new(&cargo);
        check
            .args(["clippy", "--target", target, "--target-dir"])
            .arg(&target_dir);
        for krate in CRATES {
            check.args(["-p", krate]);
        }
        // Code that only one platform compiles is otherwise never linted.
        check.env("RUSTFLAGS", "-D warnings");
        zig.configure(&mut check, target, &sqlite_flags);
        let ok = check
            .status()
            .map_err(|e| format!("cross-check (could not start {cargo}: {e})"))?
            .success();
        eprintln!(
            "cross-check: {target}: {} in {:.1} s",
            if ok { "ok" } else { "FAILED" },
            began.elapsed().as_secs_f64()
        );
        if !ok {
            failed.push(target);
        }
    }
    eprintln!(
        "<== cross-check: {} in {:.1} s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("cross-check ({})", failed.join(", ")))
    }
}

fn target_names() -> String {
    TARGETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
}

/// Adds the phone targets' standard libraries that rustup does not have yet.
fn rust_targets() -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"])?;
    let missing: Vec<&str> = TARGETS
        .iter()
        .map(|t| t.0)
        .filter(|t| !installed.lines().any(|line| line.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("cross-check: rustup target add {}", missing.join(" "));
    let status = Command::new("rustup")
        .args(["target", "add"])
        .args(&missing)
        .status()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`rustup target add {}` failed (see above). Fix: the standard libraries come from \
             rustup's distribution server; make it reachable and run again",
            missing.join(" ")
        ))
    }
}

/// zig's C compiler, installed, with the wrappers and stand-ins the check needs.
struct Zig {
    /// Where the cache keeps zig's own compilation cache, the wrappers and stand-ins.
    dir: PathBuf,
}

impl Zig {
    /// Installs `ziglang` into a venv unless a complete install is cached, then writes the
    /// wrappers and stand-ins (cheap; rewritten only where they differ).
    fn provision() -> Result<Zig, String> {
        let dir = crate::provision::cache_dir()?.join("zig");
        let zig = Zig { dir };
        pypi_venv(
            &zig.dir.join("venv"),
            &format!("ziglang=={ZIGLANG_VERSION}"),
            "cross-check",
        )?;
        let version = output(&zig.zig().to_string_lossy(), &["version"])?;
        if version.trim() != ZIGLANG_VERSION {
            return Err(format!(
                "{} reports version {:?}, expected {ZIGLANG_VERSION}",
                zig.zig().display(),
                version.trim()
            ));
        }
        zig.write_stand_ins()?;
        Ok(zig)
    }

    /// The zig executable inside the venv's `ziglang` package.
    fn zig(&self) -> PathBuf {
        let lib = self.dir.join("venv/lib");
        fs::read_dir(&lib)
            .ok()
            .and_then(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path().join("site-packages/ziglang/zig"))
                    .find(|p| p.exists())
            })
            .unwrap_or_else(|| lib.join("python3/site-packages/ziglang/zig"))
    }

    fn wrapper(&self, tool: &str, target: &str) -> PathBuf {
        self.dir.join("bin").join(format!("{tool}-{target}"))
    }

    fn sdk_stand_in(&self) -> PathBuf {
        self.dir.join("empty-sdk")
    }

    /// The per-target `cc` and `ar` wrappers, and an empty folder that stands in for the iOS
    /// SDK (the `cc` crate asks `xcrun` for one otherwise).
    fn write_stand_ins(&self) -> Result<(), String> {
        let zig = self.zig();
        for &(target, zig_target) in TARGETS {
            // cc-rs passes the Rust triple and the SDK's flags; zig wants its own triple and
            // brings its own headers, so those are dropped.
            let cc = format!(
                "#!/bin/bash\n\
                 # posmate cross-check: zig's clang standing in for {target}'s C compiler.\n\
                 # For `cargo check` only: its objects are never linked or shipped.\n\
                 args=()\n\
                 skip=0\n\
                 for a in \"$@\"; do\n\
                 \x20 if ((skip)); then skip=0; continue; fi\n\
                 \x20 case \"$a\" in\n\
                 \x20   --target=*|-m*-version-min=*) continue ;;\n\
                 \x20   -target|-isysroot) skip=1; continue ;;\n\
                 \x20 esac\n\
                 \x20 args+=(\"$a\")\n\
                 done\n\
                 exec {zig} cc -target {zig_target} \"${{args[@]}}\"\n",
                zig = zig.display()
            );
            write_script(&self.wrapper("cc", target), &cc)?;
            let ar = format!("#!/bin/sh\nexec {} ar \"$@\"\n", zig.display());
            write_script(&self.wrapper("ar", target), &ar)?;
        }

        let sdk = self.sdk_stand_in();
        fs::create_dir_all(&sdk).map_err(|e| write_error(&sdk, e))
    }

    /// Points `cargo check --target target` at the stand-ins.
    fn configure(&self, cmd: &mut Command, target: &str, sqlite_flags: &str) {
        let var = target.replace('-', "_");
        cmd.env(format!("CC_{var}"), self.wrapper("cc", target))
            .env(format!("AR_{var}"), self.wrapper("ar", target))
            .env("ZIG_GLOBAL_CACHE_DIR", self.dir.join("cache"))
            .env("ZIG_LOCAL_CACHE_DIR", self.dir.join("cache"));
        if target.contains("apple") {
            // zig has no iOS SDK, so no <os/log.h>: SQLCipher's log device is left out. The
            // workspace forces LIBSQLITE3_FLAGS (.cargo/config.toml), so the flag is added
            // there, next to the provider's.
            cmd.env("SDKROOT", self.sdk_stand_in()).args([
                "--config",
                &format!(
                    "env.LIBSQLITE3_FLAGS.value = \"{sqlite_flags} -DSQLCIPHER_OMIT_LOG_DEVICE\""
                ),
            ]);
        }
    }
}

/// The `LIBSQLITE3_FLAGS` value `.cargo/config.toml` sets (SQLCipher with posmate's crypto
/// provider), read from there so the iOS check extends it rather than a copy of it.
fn workspace_sqlite_flags() -> Result<String, String> {
    let config = crate::common::workspace_root().join(".cargo/config.toml");
    let text = fs::read_to_string(&config)
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("LIBSQLITE3_FLAGS"))
        .find_map(|rest| {
            rest.split_once("value = \"")?
                .1
                .split_once('"')
                .map(|(v, _)| v.to_owned())
        })
        .ok_or_else(|| format!("{} sets no LIBSQLITE3_FLAGS value", config.display()))
}

/// Writes an executable script unless it already has exactly this content (an unchanged
/// file keeps its timestamp).
fn write_script(path: &Path, content: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if fs::read_to_string(path).ok().as_deref() == Some(content) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
    }
    fs::write(path, content).map_err(|e| write_error(path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, e: std::io::Error) -> String {
    format!("cannot write {}: {e}", path.display())
}
