//! `cargo xtask ble-test`: the real-Bluetooth-stack tests (`docs/ble-testing.md`).
//!
//! This machine's kernel has no Bluetooth and no usable KVM, so the tests run under
//! User-Mode Linux: a Linux kernel built as an ordinary program, with Bluetooth and the
//! virtual HCI driver, booted on a small Debian root (dbus, bluez, btvirt) kept in a host
//! folder. In the guest, `btvirt` creates two LE controllers that hear each other; the
//! simulated terminal (`posmate sim --ble hci1`) is the peripheral on one, the test
//! program (`posmate-ble-tests`, the core's btleplug transport) the central on the other.
//!
//! Everything is built once and cached under `/var/cache/posmate` (override with
//! `POSMATE_CACHE`): the kernel (`uml-<KEY>/linux`, 7–11 min to build) and the root
//! (`root-<KEY>/`, about a minute). A cache entry exists only once complete: each is built
//! in a `.partial` folder and renamed. Bumping a key rebuilds that entry.
//!
//! Nothing is skipped: a missing prerequisite is an error that says how to fix it, and a
//! failing test fails the task with the guest's logs and the btsnoop capture's path.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{apt_mirror, capture, ensure_packages, set_mode};

/// Names the kernel build: bump when [`KERNEL_OPTIONS`] change.
const KERNEL_KEY: &str = "6.1-bt-v1";
/// Names the Debian root: bump when [`ROOT_PACKAGES`] change (the init script is rewritten
/// on every run).
const ROOT_KEY: &str = "bookworm-v1";
/// Debian packages the host needs to build the kernel and the root.
const HOST_PACKAGES: &[&str] = &[
    "linux-source-6.1",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "build-essential",
    "debootstrap",
];
/// On top of UML's defconfig: Bluetooth LE with the virtual HCI driver, the AF_ALG crypto
/// that btvirt's emulated controllers use for pairing, devtmpfs, sysrq (to power off) and
/// the kernel keyring (the phone's keystore).
const KERNEL_OPTIONS: &[(&str, bool)] = &[
    ("BT", true),
    ("BT_BREDR", true),
    ("BT_LE", true),
    ("BT_HCIVHCI", true),
    ("DEVTMPFS", true),
    ("DEVTMPFS_MOUNT", true),
    ("MODULES", false),
    ("CRYPTO_ECDH", true),
    ("CRYPTO_USER_API", true),
    ("CRYPTO_USER_API_HASH", true),
    ("CRYPTO_USER_API_SKCIPHER", true),
    ("CRYPTO_CMAC", true),
    ("CRYPTO_ECB", true),
    ("CRYPTO_AES", true),
    ("MAGIC_SYSRQ", true),
    ("KEYS", true),
    ("HOSTFS", true),
    ("TMPFS", true),
];
/// Packages in the guest's root besides debootstrap's minbase: the system bus, BlueZ,
/// btvirt (bluez-test-tools) and `ip` to bring up loopback for the sim's control socket and
/// the sandbox acquirer.
const ROOT_PACKAGES: &str = "dbus,bluez,bluez-test-tools,iproute2";
/// Longest a guest may run before it is stopped and the run failed.
const GUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// The init the guest kernel starts (`init=`): mounts what BlueZ needs, then runs the
/// per-run script from the host folder the kernel command line names (`posmate_run=`,
/// passed to init as an environment variable), and powers off. The kernel's exit status
/// is not the test's: the script writes its own to the run folder.
const GUEST_INIT: &str = r#"#!/bin/sh
# posmate ble-test guest init (written by cargo xtask ble-test).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for d in /run /tmp /var/lib/bluetooth /var/log /root; do mount -t tmpfs tmp "$d"; done
if mount -t hostfs -o "$posmate_run" none /mnt/run; then
    sh /mnt/run/guest.sh > /mnt/run/guest.log 2>&1
    echo "guest script exited with $?" >> /mnt/run/guest.log
else
    echo "posmate-init: cannot mount the run folder $posmate_run"
fi
sync
echo o > /proc/sysrq-trigger
sleep 10
"#;

/// What one run leaves behind (under `target/ble-test/`).
struct RunDir {
    path: PathBuf,
}

/// `args`: `--provision-only` builds and caches the kernel and the root and runs nothing;
/// `--only NAME` runs only the cases whose names contain NAME.
pub fn ble_test(args: &[String]) -> Result<(), String> {
    let provision_only = args.iter().any(|a| a == "--provision-only");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let started = Instant::now();
    preflight()?;
    let cache = crate::provision::cache_dir()?;
    ensure_packages(HOST_PACKAGES, "the kernel and root builds need them")?;
    let kernel = ensure_kernel(&cache)?;
    let root = ensure_root(&cache)?;
    eprintln!(
        "ble-test: kernel and root ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if provision_only {
        return Ok(());
    }
    let bins = build_binaries()?;
    let run = prepare_run(&bins, only.map(String::as_str))?;
    let boot = Instant::now();
    let outcome = boot_guest(&kernel, &root, &run);
    eprintln!(
        "ble-test: guest ran {:.1} s (whole task {:.1} s)",
        boot.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    report(&run, outcome)
}

/// Linux on x86_64, as root (apt-get, debootstrap and hostfs mounts need it).
fn preflight() -> Result<(), String> {
    if !cfg!(target_os = "linux") || !cfg!(target_arch = "x86_64") {
        return Err(
            "the real-Bluetooth-stack tests run User-Mode Linux and need a Linux x86_64 host; \
             run them on Linux (CI does)"
                .into(),
        );
    }
    let uid = capture("id", &["-u"]).unwrap_or_default();
    if uid.trim() != "0" {
        return Err(format!(
            "ble-test must run as root (it installs Debian packages, builds a Debian root \
             with debootstrap and boots it); you are uid {}. Fix: sudo -E cargo xtask ble-test",
            uid.trim()
        ));
    }
    Ok(())
}

/// The cached UML kernel, built if missing.
fn ensure_kernel(cache: &Path) -> Result<PathBuf, String> {
    let dir = cache.join(format!("uml-{KERNEL_KEY}"));
    let linux = dir.join("linux");
    if linux.is_file() {
        return Ok(linux);
    }
    let start = Instant::now();
    eprintln!(
        "ble-test: building the User-Mode Linux kernel into {} (7–11 min, once)",
        dir.display()
    );
    let partial = cache.join(format!("uml-{KERNEL_KEY}.partial"));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let tarball = Path::new("/usr/src/linux-source-6.1.tar.xz");
    if !tarball.is_file() {
        return Err(format!(
            "{} is missing. Fix: apt-get install linux-source-6.1",
            tarball.display()
        ));
    }
    run_logged(
        "unpack linux-source-6.1",
        Command::new("tar")
            .arg("-xJf")
            .arg(tarball)
            .arg("-C")
            .arg(&partial),
    )?;
    let src = partial.join("linux-source-6.1");
    let make = |what: &str, args: &[&str]| {
        run_logged(
            what,
            Command::new("nice")
                .args(["-n", "10", "make", "ARCH=um"])
                .args(args)
                .current_dir(&src),
        )
    };
    make("kernel defconfig", &["defconfig"])?;
    let mut config = Command::new(src.join("scripts/config"));
    config.current_dir(&src);
    for (option, on) in KERNEL_OPTIONS {
        config.arg(if *on { "-e" } else { "-d" }).arg(option);
    }
    run_logged("kernel options", &mut config)?;
    make("kernel olddefconfig", &["olddefconfig"])?;
    check_config(&src.join(".config"))?;
    make("kernel build", &["-j2", "linux"])?;
    run_logged(
        "strip kernel",
        Command::new("strip")
            .arg("-o")
            .arg(partial.join("linux"))
            .arg(src.join("linux")),
    )?;
    fs::remove_dir_all(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&partial, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!(
        "ble-test: kernel built in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(linux)
}

/// Every option the tests rely on survived olddefconfig (a dependency can silently drop
/// one).
fn check_config(path: &Path) -> Result<(), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lost: Vec<&str> = KERNEL_OPTIONS
        .iter()
        .filter(|(_, on)| *on)
        .map(|(o, _)| *o)
        .filter(|o| !text.lines().any(|l| l == format!("CONFIG_{o}=y")))
        .collect();
    if lost.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the UML kernel configuration lost {lost:?} (a dependency is missing); \
             fix KERNEL_OPTIONS in xtask/src/ble.rs"
        ))
    }
}

/// The cached Debian root, built with debootstrap if missing.
fn ensure_root(cache: &Path) -> Result<PathBuf, String> {
    let dir = cache.join(format!("root-{ROOT_KEY}"));
    if !dir.join("usr/bin/btvirt").is_file() {
        build_root(cache, &dir)?;
    }
    install_init(&dir)?;
    Ok(dir)
}

fn build_root(cache: &Path, dir: &Path) -> Result<(), String> {
    let start = Instant::now();
    eprintln!(
        "ble-test: building the guest's Debian root into {} (about a minute, once)",
        dir.display()
    );
    let partial = cache.join(format!("root-{ROOT_KEY}.partial"));
    let _ = fs::remove_dir_all(&partial);
    // apt reaches only the mirror it is configured with; without one, Debian's own.
    let mirror = apt_mirror().unwrap_or_else(|| "http://deb.debian.org/debian".into());
    run_logged(
        "debootstrap",
        Command::new("debootstrap")
            .args(["--variant=minbase", &format!("--include={ROOT_PACKAGES}")])
            .arg("bookworm")
            .arg(&partial)
            .arg(&mirror),
    )
    .map_err(|e| format!("{e}\nFix: check that {mirror} is reachable (apt-get update works)"))?;
    // Trim what the guest never reads.
    for sub in [
        "usr/share/doc",
        "usr/share/man",
        "usr/share/locale",
        "var/cache/apt",
    ] {
        let _ = fs::remove_dir_all(partial.join(sub));
    }
    let _ = fs::remove_dir_all(dir);
    fs::rename(&partial, dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!(
        "ble-test: root built in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The guest's init and the mount point of the run folder (the root is mounted read-only
/// in the guest, so both are made here).
fn install_init(root: &Path) -> Result<(), String> {
    let mount_point = root.join("mnt/run");
    fs::create_dir_all(&mount_point).map_err(|e| format!("{}: {e}", mount_point.display()))?;
    let init = root.join("sbin/posmate-init");
    if fs::read_to_string(&init).ok().as_deref() != Some(GUEST_INIT) {
        fs::write(&init, GUEST_INIT).map_err(|e| format!("{}: {e}", init.display()))?;
    }
    set_mode(&init, 0o755)
}

/// Builds the peripheral (`posmate`) and the test program; returns their paths. They run
/// in the guest as they are: the guest is Debian bookworm with the host's glibc.
fn build_binaries() -> Result<Vec<PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_step(
        "build the peripheral and the test program",
        Command::new(&cargo).args([
            "build",
            "-p",
            "posmate-cli",
            "-p",
            "posmate-ble-tests",
            "--bins",
        ]),
    )?;
    let target = crate::common::target_dir();
    let bins = ["posmate", "posmate-ble-tests"]
        .iter()
        .map(|b| target.join("debug").join(b))
        .collect::<Vec<_>>();
    for b in &bins {
        if !b.is_file() {
            return Err(format!("{} was not built", b.display()));
        }
    }
    Ok(bins)
}

/// Run folders kept (older ones are removed before a new run).
const RUNS_KEPT: usize = 5;

/// A fresh run folder with the binaries and the guest's script.
fn prepare_run(bins: &[PathBuf], only: Option<&str>) -> Result<RunDir, String> {
    let base = crate::common::target_dir().join("ble-test");
    prune_runs(&base);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = base.join(format!("run-{stamp}"));
    fs::create_dir_all(path.join("bin")).map_err(|e| format!("{}: {e}", path.display()))?;
    for b in bins {
        let name = b.file_name().expect("a binary has a name");
        let to = path.join("bin").join(name);
        // A hard link costs nothing; a copy where the run folder is on another filesystem.
        fs::hard_link(b, &to)
            .or_else(|_| fs::copy(b, &to).map(|_| ()))
            .map_err(|e| format!("{}: {e}", b.display()))?;
    }
    let script = path.join("guest.sh");
    let only = only.map_or(String::new(), |o| format!(" --only {o}"));
    fs::write(&script, GUEST_SCRIPT.replace("{ONLY}", &only))
        .map_err(|e| format!("{}: {e}", script.display()))?;
    // The newest run is also reachable as target/ble-test/latest.
    let latest = base.join("latest");
    let _ = fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(&path, &latest);
    Ok(RunDir { path })
}

/// Removes all but the newest run folders (each holds its binaries and capture).
fn prune_runs(base: &Path) {
    let mut runs: Vec<PathBuf> = fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
        })
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(RUNS_KEPT - 1);
    for old in &runs[..excess] {
        let _ = fs::remove_dir_all(old);
    }
}

/// The guest's part of a run: system bus, two virtual controllers, BlueZ, a capture, then
/// the test program, which starts the peripheral itself (it kills and restarts it).
///
/// BlueZ runs with one ATT bearer (`Channels = 1`, no EATT): with EATT between two BlueZ
/// stacks, notifications travel as Multiple Handle Value Notifications over two credit-based
/// channels, and in runs here some never reached the central (btsnoop: 303 sent on hci1,
/// 298 received on hci0), which the protocol's sequence numbers catch as a violation
/// (`docs/ble-testing.md`, "Known limits").
const GUEST_SCRIPT: &str = r#"#!/bin/sh
R=/mnt/run
cd "$R"
# Loopback: the sim's control socket and the sandbox acquirer's HTTPS listener (the tests
# check it is up and fail if not).
ip link set lo up || echo "guest: cannot bring the loopback interface up"
mkdir -p /run/dbus
dbus-daemon --system --fork
printf '[GATT]\nChannels = 1\n' > "$R/main.conf"
btmon -w "$R/btsnoop.log" > /dev/null 2>&1 &
btvirt -L -l2 > "$R/btvirt.log" 2>&1 &
bluetoothd -n -f "$R/main.conf" > "$R/bluetoothd.log" 2>&1 &
"$R/bin/posmate-ble-tests" --posmate "$R/bin/posmate" --work /tmp/ble-tests --out "$R"{ONLY} \
    > "$R/tests.log" 2>&1
echo $? > "$R/exit-code"
sync
"#;

enum Outcome {
    Exited,
    TimedOut,
}

/// Boots the guest and waits for it to power off (or times it out).
fn boot_guest(kernel: &Path, root: &Path, run: &RunDir) -> Result<Outcome, String> {
    let console = fs::File::create(run.path.join("console.log"))
        .map_err(|e| format!("{}: {e}", run.path.display()))?;
    let mut child = Command::new(kernel)
        .arg("mem=768M")
        .arg("rootfstype=hostfs")
        .arg(format!("rootflags={}", root.display()))
        .arg("ro")
        .arg("init=/sbin/posmate-init")
        .arg("con0=null,fd:1")
        .arg("con=null")
        .arg("ssl=null")
        .arg("quiet")
        .arg("panic=-1")
        .arg(format!("posmate_run={}", run.path.display()))
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the UML kernel {}: {e}", kernel.display()))?;
    let deadline = Instant::now() + GUEST_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(Outcome::Exited),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Outcome::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for the guest: {e}")),
        }
    }
}

/// Prints the test program's output; on failure also the guest's logs and the capture.
fn report(run: &RunDir, outcome: Result<Outcome, String>) -> Result<(), String> {
    let dir = &run.path;
    let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
    let tests = read("tests.log");
    print!("{tests}");
    let code = read("exit-code").trim().parse::<i32>().ok();
    let failure = match (&outcome, code) {
        (Err(e), _) => Some(e.clone()),
        (Ok(Outcome::TimedOut), _) => Some(format!(
            "the guest did not finish within {} s",
            GUEST_TIMEOUT.as_secs()
        )),
        (Ok(Outcome::Exited), Some(0)) => None,
        (Ok(Outcome::Exited), Some(c)) => Some(format!("the test program exited with {c}")),
        (Ok(Outcome::Exited), None) => {
            Some("the guest powered off without the test program's exit code".into())
        }
    };
    let Some(failure) = failure else {
        eprintln!(
            "ble-test: passed; logs and btsnoop capture in {}",
            dir.display()
        );
        return Ok(());
    };
    let mut text = String::new();
    for name in ["console.log", "guest.log", "btvirt.log", "bluetoothd.log"] {
        let body = read(name);
        let _ = writeln!(text, "---- {name} (last 60 lines) ----");
        let lines: Vec<&str> = body.lines().collect();
        for l in &lines[lines.len().saturating_sub(60)..] {
            let _ = writeln!(text, "{l}");
        }
    }
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("peripheral") && name.ends_with(".log") {
            let _ = writeln!(text, "---- {name} (last 40 lines) ----");
            let body = read(&name);
            let lines: Vec<&str> = body.lines().collect();
            for l in &lines[lines.len().saturating_sub(40)..] {
                let _ = writeln!(text, "{l}");
            }
        }
    }
    eprint!("{text}");
    Err(format!(
        "ble-test: {failure}\n  logs: {}\n  btsnoop capture (open with wireshark or `btmon -r`): {}",
        dir.display(),
        dir.join("btsnoop.log").display()
    ))
}

/// Runs a step that prints a lot (apt, debootstrap, make): its output goes to a log under
/// the cache's `logs/`, shown in part when it fails.
fn run_logged(what: &str, cmd: &mut Command) -> Result<(), String> {
    let start = Instant::now();
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", cmd.get_program()))?;
    if output.status.success() {
        eprintln!(
            "ble-test: {what} ok ({:.1} s)",
            start.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let mut tail = String::from_utf8_lossy(&output.stdout).into_owned();
    tail.push_str(&String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = tail.lines().collect();
    Err(format!(
        "{what} failed ({}):\n{}",
        output.status,
        lines[lines.len().saturating_sub(40)..].join("\n")
    ))
}

/// Runs a step with its output shown (cargo).
fn run_step(what: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("ble-test: {what}");
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}
