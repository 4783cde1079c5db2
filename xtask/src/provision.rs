//! `cargo xtask provision`: the foreign runtimes the binding tests run in, installed once
//! and cached under `/var/cache/posmate` (override with `POSMATE_CACHE`).
//!
//! * Kotlin: the full `kotlinc` distribution from the npm package `kotlin-compiler`, JNA from
//!   Debian (`libjna-java`), and a JDK (Debian's, if none is installed).
//! * Swift: Debian bookworm has no Swift, trixie does (`swiftlang`): a minimal trixie root
//!   made with debootstrap, Swift installed in it, and the tests run there under `chroot`.
//! * Python: the machine's `python3`.
//!
//! A cache entry exists only once complete (built in a `.partial` folder, then renamed), so
//! an interrupted provisioning starts over instead of using half an install. Nothing is
//! skipped: whatever cannot be installed is an error saying what to do.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::{apt_mirror, capture, ensure_packages, run, set_mode};

/// The Kotlin compiler's npm package version.
pub const KOTLIN_VERSION: &str = "2.4.20";
/// The Debian trixie package of Swift, and what the tests need beside it (the C library
/// headers for the generated module map, libcrypto for the library's SQLCipher).
const SWIFT_PACKAGES: &[&str] = &["swiftlang=6.0.3-2", "libc6-dev", "libssl3t64"];
/// Names the Swift root: bump when [`SWIFT_PACKAGES`] change.
const SWIFT_KEY: &str = "swift-6.0.3-trixie-v1";
/// Where JNA's jar is once `libjna-java` is installed.
const JNA_JAR: &str = "/usr/share/java/jna.jar";

/// `cargo xtask provision`: every runtime, reporting where each is.
pub fn provision_all() -> Result<(), String> {
    let start = Instant::now();
    let kotlin = kotlin()?;
    eprintln!("provision: kotlinc in {}", kotlin.home.display());
    let swift = swift()?;
    eprintln!("provision: Swift root in {}", swift.root.display());
    let python = python()?;
    eprintln!("provision: {}", python.display());
    eprintln!("provision: done in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Where cached tools live (`POSMATE_CACHE`, by default `/var/cache/posmate`): the binding
/// runtimes, zig for the cross-check, the BLE test kernel and root.
pub fn cache_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("POSMATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/posmate"));
    fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "cannot create the cache folder {}: {e}. Fix: create it, or point POSMATE_CACHE \
             at a writable folder",
            dir.display()
        )
    })?;
    Ok(dir)
}

// ---- Kotlin ---------------------------------------------------------------------------------

/// A Kotlin compiler and what running the tests on the JVM needs.
pub struct Kotlin {
    /// The distribution's root (`bin/kotlinc`, `lib/*.jar`).
    pub home: PathBuf,
    pub jna: PathBuf,
}

impl Kotlin {
    pub fn kotlinc(&self) -> PathBuf {
        self.home.join("bin/kotlinc")
    }

    pub fn lib(&self, jar: &str) -> PathBuf {
        self.home.join("lib").join(jar)
    }
}

pub fn kotlin() -> Result<Kotlin, String> {
    ensure_jdk()?;
    ensure_packages(&["libjna-java"], "JNA for the Kotlin binding tests")?;
    let jna = PathBuf::from(JNA_JAR);
    if !jna.is_file() {
        return Err(format!(
            "libjna-java is installed but {JNA_JAR} is missing. Fix: apt-get install --reinstall libjna-java"
        ));
    }
    let cache = cache_dir()?;
    let home = cache.join(format!("kotlin-{KOTLIN_VERSION}"));
    if !home.join("bin/kotlinc").is_file() {
        let start = Instant::now();
        eprintln!(
            "provision: fetching kotlin-compiler@{KOTLIN_VERSION} from npm into {} (~90 MB, once)",
            home.display()
        );
        let partial = cache.join(format!("kotlin-{KOTLIN_VERSION}.partial"));
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        run(
            "npm pack",
            Command::new("npm")
                .args([
                    "pack",
                    "--silent",
                    &format!("kotlin-compiler@{KOTLIN_VERSION}"),
                ])
                .arg("--pack-destination")
                .arg(&partial),
            "check that npm is installed and the npm registry answers (npm view kotlin-compiler)",
        )?;
        let tarball = partial.join(format!("kotlin-compiler-{KOTLIN_VERSION}.tgz"));
        run(
            "untar kotlin-compiler",
            Command::new("tar")
                .arg("-xzf")
                .arg(&tarball)
                .arg("-C")
                .arg(&partial),
            "check the free disk space of the cache folder",
        )?;
        let _ = fs::remove_file(&tarball);
        let dist = find_kotlinc(&partial.join("package")).ok_or_else(|| {
            format!(
                "the npm package kotlin-compiler@{KOTLIN_VERSION} holds no bin/kotlinc \
                 (looked in {}). Fix: pick a version of the package that ships the compiler",
                partial.display()
            )
        })?;
        for script in ["kotlinc", "kotlin"] {
            set_executable(&dist.join("bin").join(script))?;
        }
        let _ = fs::remove_dir_all(&home);
        fs::rename(&dist, &home).map_err(|e| format!("{}: {e}", home.display()))?;
        let _ = fs::remove_dir_all(&partial);
        eprintln!(
            "provision: kotlinc ready in {:.0} s",
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Kotlin { home, jna })
}

/// The folder holding `bin/kotlinc` at or below `dir` (the package nests it one level down
/// in some versions).
fn find_kotlinc(dir: &Path) -> Option<PathBuf> {
    if dir.join("bin/kotlinc").is_file() {
        return Some(dir.to_path_buf());
    }
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .find(|p| p.join("bin/kotlinc").is_file())
}

fn ensure_jdk() -> Result<(), String> {
    if capture("javac", &["-version"]).is_some() && capture("java", &["-version"]).is_some() {
        return Ok(());
    }
    ensure_packages(&["openjdk-17-jdk-headless"], "a JDK for kotlinc")
}

// ---- Swift ----------------------------------------------------------------------------------

/// A Debian trixie root with Swift installed.
pub struct SwiftRoot {
    pub root: PathBuf,
}

pub fn swift() -> Result<SwiftRoot, String> {
    let cache = cache_dir()?;
    let root = cache.join(SWIFT_KEY);
    if root.join("usr/bin/swiftc").exists() && root.join(".posmate-ready").is_file() {
        return Ok(SwiftRoot { root });
    }
    ensure_packages(&["debootstrap"], "debootstrap for the Swift root")?;
    let start = Instant::now();
    eprintln!(
        "provision: building a Debian trixie root with Swift in {} (~3 min, 2.5 GB, once)",
        root.display()
    );
    let partial = cache.join(format!("{SWIFT_KEY}.partial"));
    remove_root(&partial)?;
    let mirror = apt_mirror().ok_or(
        "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or \
         /etc/apt/sources.list. Fix: configure apt with a Debian mirror",
    )?;
    run(
        "debootstrap trixie",
        Command::new("nice")
            .args(["-n", "10", "debootstrap", "--variant=minbase", "trixie"])
            .arg(&partial)
            .arg(&mirror),
        &format!("check that {mirror} serves trixie (apt-get update works)"),
    )?;
    fs::copy("/etc/resolv.conf", partial.join("etc/resolv.conf"))
        .map_err(|e| format!("cannot copy /etc/resolv.conf into the Swift root: {e}"))?;
    {
        let _mounts = Mounts::for_root(&partial)?;
        run(
            "apt-get update (trixie)",
            Command::new("chroot")
                .arg(&partial)
                .args(["apt-get", "update", "-q"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            &format!("check that {mirror} serves trixie"),
        )?;
        run(
            "apt-get install swiftlang (trixie)",
            Command::new("nice")
                .args(["-n", "10", "chroot"])
                .arg(&partial)
                .args(["apt-get", "install", "-y", "-q", "--no-install-recommends"])
                .args(SWIFT_PACKAGES)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "check the disk space (2.5 GB) and that trixie still carries swiftlang 6.0.3-2",
        )?;
        run(
            "apt-get clean (trixie)",
            Command::new("chroot")
                .arg(&partial)
                .args(["apt-get", "clean"]),
            "none needed",
        )?;
    }
    fs::write(partial.join(".posmate-ready"), SWIFT_KEY)
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    remove_root(&root)?;
    fs::rename(&partial, &root).map_err(|e| format!("{}: {e}", root.display()))?;
    eprintln!(
        "provision: Swift root ready in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(SwiftRoot { root })
}

/// `/proc`, `/sys`, `/dev` and `/dev/pts` mounted into a root while it is used; when
/// dropped, even after a failure, everything mounted under the root is unmounted.
pub struct Mounts {
    root: PathBuf,
}

impl Mounts {
    pub fn for_root(root: &Path) -> Result<Mounts, String> {
        // Whatever an interrupted run left mounted goes first, so mounts never stack.
        unmount_under(root);
        let mounts = Mounts {
            root: root.to_path_buf(),
        };
        for (what, args) in [
            ("proc", &["-t", "proc", "proc"][..]),
            ("sys", &["-t", "sysfs", "sysfs"][..]),
            ("dev", &["--bind", "/dev"][..]),
            ("dev/pts", &["--bind", "/dev/pts"][..]),
        ] {
            let target = root.join(what);
            fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            run(
                &format!("mount {what}"),
                Command::new("mount").args(args).arg(&target),
                "run as root (CI does); mounting needs it",
            )?;
        }
        Ok(mounts)
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        unmount_under(&self.root);
    }
}

/// Unmounts everything mounted at or below `dir`, innermost first; a mount still busy (a
/// process left inside) is detached lazily.
fn unmount_under(dir: &Path) {
    let prefix = format!("{}/", dir.display());
    let table = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut inside: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    inside.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in inside {
        let ok = Command::new("umount")
            .arg(m)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

/// Deletes a root folder: unmounts anything still mounted under it first, and never
/// crosses into another file system.
fn remove_root(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    unmount_under(dir);
    run(
        "remove a stale root",
        Command::new("rm")
            .arg("-rf")
            .arg("--one-file-system")
            .arg(dir),
        &format!("remove {} by hand", dir.display()),
    )
}

// ---- Python ---------------------------------------------------------------------------------

pub fn python() -> Result<PathBuf, String> {
    let version = capture("python3", &["--version"]).ok_or(
        "python3 is not installed. Fix: apt-get install python3 (3.8 or newer)".to_string(),
    )?;
    let minor: Option<u32> = version
        .trim()
        .strip_prefix("Python 3.")
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok());
    match minor {
        Some(m) if m >= 8 => Ok(PathBuf::from("python3")),
        _ => Err(format!(
            "{} is too old for the generated bindings. Fix: install Python 3.8 or newer",
            version.trim()
        )),
    }
}

// ---- helpers --------------------------------------------------------------------------------

fn set_executable(path: &Path) -> Result<(), String> {
    if !path.exists() {
        return Ok(());
    }
    set_mode(path, 0o755)
}
