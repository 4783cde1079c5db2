//! `cargo xtask keystore-test`: posmate's durable Linux keystore against a real Secret
//! Service. The task starts its own session bus (`dbus-daemon`, with no service directories,
//! so nothing is started behind its back) and `gnome-keyring-daemon` unlocked with a test
//! password, in private XDG folders under the target directory; then it runs the real
//! `posmate` binary with `--keystore os` on the embedded simulation:
//!
//! 1. `doctor` names `secret-service`, durable; `pair` keeps the phone's keys there;
//! 2. with the provider stopped, commands fail with `keystore.unavailable` naming it;
//! 3. after a restart of the daemon (same password, same keyring file) the phone resumes
//!    its session with the terminal without a new code and its encrypted database opens;
//!    `wipe-phone` then deletes every item of the data directory from the collection (the
//!    Secret Service's own search says so), and with the collection locked again,
//!    commands fail naming that;
//! 4. with the bus dead, and with no bus named at all, `doctor` and the commands fail with
//!    the typed message and exit status 6, and nothing was written to the kernel keyutils
//!    store instead (`/proc/keys`, whose view is first shown to see a keyutils phone).
//!
//! Every daemon it started is stopped and waited for, also when a check fails
//! ([`Daemons`]'s `Drop`). Each step prints its time.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{ensure_packages, set_mode, target_dir, workspace_root};

/// The test keyring's password: a fixture of this throwaway keyring, not a secret.
const PASSWORD: &[u8] = b"posmate-keystore-test";

/// How long a daemon may take to appear on the bus.
const READY_WITHIN: Duration = Duration::from_secs(10);

pub fn test() -> Result<(), String> {
    eprintln!("\n==> keystore: posmate's keys in a real Secret Service (gnome-keyring)");
    let began = Instant::now();
    ensure_packages(
        &["dbus-daemon", "dbus-bin", "gnome-keyring"],
        "keystore-test: a session bus and a Secret Service provider",
    )?;
    let posmate = timed("build posmate", build_posmate)?;
    let session = Session::create(&target_dir().join("keystore-test"))?;
    let mut daemons = Daemons::default();
    let bus = timed("start dbus-daemon", || daemons.start_bus(&session))?;
    let session = Session { bus, ..session };
    timed("start gnome-keyring-daemon", || {
        daemons.start_keyring(&session)
    })?;
    let run = Runner {
        posmate: &posmate,
        session: &session,
    };

    timed("keyutils phone shows in /proc/keys (control)", || {
        keyutils_control(&run)
    })?;
    let paired = timed("doctor and pair on secret-service", || {
        durable_pairing(&run)
    })?;
    let namespace = read_namespace(&session.data_dir)?;
    timed("keyring file on disk", || keyring_file(&session))?;

    daemons.stop("gnome-keyring-daemon")?;
    timed("provider stopped: typed failure", || {
        let (code, v) = run.posmate(Bus::Live, &["--sim", "info"])?;
        expect_unavailable(&v, code, "no Secret Service provider")
    })?;
    timed("restart gnome-keyring-daemon", || {
        daemons.start_keyring(&session)
    })?;
    timed("keys read back after the restart", || {
        keys_read_back(&run, &paired)
    })?;

    timed("wipe-phone empties the Secret Service", || {
        wipe_in_secret_service(&run, &namespace)
    })?;
    timed("collection locked: typed failure", || {
        lock_login_collection(&session)?;
        let (code, v) = run.posmate(Bus::Live, &["--sim", "audit", "verify"])?;
        expect_unavailable(&v, code, "default collection is locked")
    })?;

    let dead = session.root.join("no-bus");
    timed("dead bus: doctor and info fail, typed", || {
        no_secret_service(&run, Bus::Dead(&dead), "does not answer")
    })?;
    timed("no bus named: doctor and info fail, typed", || {
        no_secret_service(&run, Bus::Unset, "is not set")
    })?;
    timed("nothing fell back to keyutils", || {
        no_keyutils_keys(&namespace)
    })?;

    drop(daemons);
    fs::remove_dir_all(&session.root).map_err(|e| format!("{}: {e}", session.root.display()))?;
    eprintln!("<== keystore: ok in {:.1} s", began.elapsed().as_secs_f64());
    Ok(())
}

/// Runs one named step and prints its time.
fn timed<T>(what: &str, step: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let start = Instant::now();
    let result = step();
    let ms = start.elapsed().as_millis();
    match &result {
        Ok(_) => eprintln!("  ok    {what} ({ms} ms)"),
        Err(e) => eprintln!("  FAIL  {what} ({ms} ms): {e}"),
    }
    result.map_err(|e| format!("keystore-test: {what}: {e}"))
}

fn build_posmate() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    crate::common::run(
        "cargo build -p posmate-cli",
        Command::new(cargo)
            .args(["build", "--quiet", "-p", "posmate-cli"])
            .current_dir(workspace_root()),
        "fix the build",
    )?;
    Ok(target_dir().join("debug/posmate"))
}

/// The private folders of one run, and the bus once it is up.
struct Session {
    root: PathBuf,
    runtime: PathBuf,
    home: PathBuf,
    data_home: PathBuf,
    /// posmate's data directory.
    data_dir: PathBuf,
    /// The address `dbus-daemon` printed (empty until it started).
    bus: String,
}

impl Session {
    fn create(root: &Path) -> Result<Session, String> {
        if root.exists() {
            fs::remove_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
        }
        let session = Session {
            root: root.to_path_buf(),
            runtime: root.join("runtime"),
            home: root.join("home"),
            data_home: root.join("home/.local/share"),
            data_dir: root.join("posmate"),
            bus: String::new(),
        };
        for dir in [
            &session.runtime,
            &session.data_home,
            &root.join("no-bus-runtime"),
        ] {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        // XDG_RUNTIME_DIR must be owner-only, or gnome-keyring refuses it.
        set_mode(&session.runtime, 0o700)?;
        Ok(session)
    }

    /// The environment of every process of this session: nothing from the caller's but
    /// PATH, so no POSMATE_* setting or desktop bus leaks in.
    fn env(&self, cmd: &mut Command, bus: Bus<'_>) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", &self.data_home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"));
        match bus {
            Bus::Live => {
                cmd.env("XDG_RUNTIME_DIR", &self.runtime)
                    .env("DBUS_SESSION_BUS_ADDRESS", &self.bus);
            }
            Bus::Dead(socket) => {
                cmd.env("XDG_RUNTIME_DIR", &self.runtime).env(
                    "DBUS_SESSION_BUS_ADDRESS",
                    format!("unix:path={}", socket.display()),
                );
            }
            // libdbus also looks for $XDG_RUNTIME_DIR/bus: an empty runtime folder.
            Bus::Unset => {
                cmd.env("XDG_RUNTIME_DIR", self.root.join("no-bus-runtime"));
            }
        }
    }
}

/// Which session bus a process is given.
#[derive(Clone, Copy)]
enum Bus<'a> {
    /// The task's running `dbus-daemon`.
    Live,
    /// DBUS_SESSION_BUS_ADDRESS naming a socket nobody listens on.
    Dead(&'a Path),
    /// No DBUS_SESSION_BUS_ADDRESS at all.
    Unset,
}

/// The daemons this task started; each is killed and waited for when dropped.
#[derive(Default)]
struct Daemons(Vec<(&'static str, Child)>);

impl Daemons {
    /// A session bus on a socket in the private runtime folder, with no service
    /// directories: a missing provider stays missing instead of being activated.
    fn start_bus(&mut self, session: &Session) -> Result<String, String> {
        let config = session.root.join("session.conf");
        let socket = session.runtime.join("bus");
        fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"
 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context=\"default\">
    <allow send_destination=\"*\" eavesdrop=\"true\"/>
    <allow eavesdrop=\"true\"/>
    <allow own=\"*\"/>
  </policy>
</busconfig>
",
                socket.display()
            ),
        )
        .map_err(|e| format!("{}: {e}", config.display()))?;
        let mut cmd = Command::new("dbus-daemon");
        session.env(&mut cmd, Bus::Unset);
        cmd.arg("--nofork")
            .arg("--print-address=1")
            .arg(format!("--config-file={}", config.display()))
            .stdout(Stdio::piped())
            .stderr(log(session, "dbus-daemon")?);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start dbus-daemon: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        self.0.push(("dbus-daemon", child));
        let mut address = String::new();
        BufReader::new(stdout)
            .read_line(&mut address)
            .map_err(|e| format!("reading dbus-daemon's address: {e}"))?;
        let address = address.trim().to_string();
        if !address.starts_with("unix:") {
            return Err(format!(
                "dbus-daemon printed no address (see {})",
                session.root.join("dbus-daemon.log").display()
            ));
        }
        Ok(address)
    }

    /// gnome-keyring's Secret Service, its login keyring unlocked (or created) with the
    /// test password read on stdin; ready once it owns org.freedesktop.secrets.
    fn start_keyring(&mut self, session: &Session) -> Result<(), String> {
        let mut cmd = Command::new("gnome-keyring-daemon");
        session.env(&mut cmd, Bus::Live);
        cmd.args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(log(session, "gnome-keyring-stdout")?)
            .stderr(log(session, "gnome-keyring")?);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start gnome-keyring-daemon: {e}"))?;
        let mut stdin = child.stdin.take().expect("piped");
        self.0.push(("gnome-keyring-daemon", child));
        stdin
            .write_all(PASSWORD)
            .map_err(|e| format!("handing gnome-keyring-daemon its password: {e}"))?;
        drop(stdin);
        let deadline = Instant::now() + READY_WITHIN;
        while !owns_secrets(session) {
            if Instant::now() > deadline {
                return Err(format!(
                    "gnome-keyring-daemon did not appear on the bus within {} s (see {})",
                    READY_WITHIN.as_secs(),
                    session.root.join("gnome-keyring.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills the named daemon and waits for it.
    fn stop(&mut self, name: &str) -> Result<(), String> {
        let at = self
            .0
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| format!("{name} is not running"))?;
        let (_, mut child) = self.0.remove(at);
        child.kill().map_err(|e| format!("killing {name}: {e}"))?;
        child
            .wait()
            .map_err(|e| format!("waiting for {name}: {e}"))?;
        Ok(())
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        while let Some((_, mut child)) = self.0.pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A log file for a daemon's output, in the run's folder.
fn log(session: &Session, name: &str) -> Result<fs::File, String> {
    let path = session.root.join(format!("{name}.log"));
    fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether something owns org.freedesktop.secrets on the session's bus.
fn owns_secrets(session: &Session) -> bool {
    let mut cmd = Command::new("dbus-send");
    session.env(&mut cmd, Bus::Live);
    cmd.args([
        "--session",
        "--print-reply",
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.NameHasOwner",
        "string:org.freedesktop.secrets",
    ]);
    cmd.output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
}

/// The items the Secret Service holds for posmate's `namespace`, by its own attribute
/// search (keyring-core's store sets `service` to `posmate:<namespace>`).
fn secret_service_items(session: &Session, namespace: &str) -> Result<usize, String> {
    let mut cmd = Command::new("dbus-send");
    session.env(&mut cmd, Bus::Live);
    cmd.args([
        "--session",
        "--print-reply",
        "--dest=org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.SearchItems",
    ])
    .arg(format!("dict:string:string:service,posmate:{namespace}"));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run dbus-send: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "searching the Secret Service failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .matches("object path \"")
        .count())
}

/// `wipe-phone` (after its verified backup) deletes every secret of the data directory,
/// found through posmate's index: none is left in the collection.
fn wipe_in_secret_service(run: &Runner<'_>, namespace: &str) -> Result<(), String> {
    let before = secret_service_items(run.session, namespace)?;
    // The database key, the phone's identity, the terminal's pin and the index.
    if before != 4 {
        return Err(format!(
            "items of namespace {namespace} the Secret Service lists: {before}, where posmate \
             wrote 4: the search cannot be trusted to find them"
        ));
    }
    let pass = run.session.root.join("wipe-pass");
    fs::write(&pass, "wipe-passphrase\n").map_err(|e| format!("{}: {e}", pass.display()))?;
    let backup = run.session.root.join("phone.age");
    let (code, wiped) = run.posmate(
        Bus::Live,
        &[
            "--sim",
            "--backup-work-factor",
            "10",
            "wipe-phone",
            "--backup",
            backup.to_str().expect("a UTF-8 path"),
            "--passphrase-file",
            pass.to_str().expect("a UTF-8 path"),
            "--yes",
        ],
    )?;
    // The database key is destroyed first, on its own (cryptographic erasure); the count is
    // of what the index listed after it: the identity and the pin.
    ensure(
        code == 0 && wiped["keystore_entries_deleted"] == 2,
        "wipe-phone deletes the identity and the pin after the database key",
        &wiped,
    )?;
    match secret_service_items(run.session, namespace)? {
        0 => Ok(()),
        left => Err(format!(
            "items of namespace {namespace} survived the wipe: {left}"
        )),
    }
}

/// Locks gnome-keyring's login collection (which needs no prompt, unlike unlocking).
fn lock_login_collection(session: &Session) -> Result<(), String> {
    let mut cmd = Command::new("dbus-send");
    session.env(&mut cmd, Bus::Live);
    cmd.args([
        "--session",
        "--print-reply",
        "--dest=org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.Lock",
        "array:objpath:/org/freedesktop/secrets/collection/login",
    ]);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run dbus-send: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "locking the login collection failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Runs `posmate --json` in the session.
struct Runner<'a> {
    posmate: &'a Path,
    session: &'a Session,
}

impl Runner<'_> {
    /// `posmate --json --data-dir DATA --keystore os ARGS` on `bus`: its exit status and
    /// its one JSON document.
    fn posmate(&self, bus: Bus<'_>, args: &[&str]) -> Result<(i32, Value), String> {
        self.with(bus, &self.session.data_dir, &["--keystore", "os"], args)
    }

    fn with(
        &self,
        bus: Bus<'_>,
        data_dir: &Path,
        keystore: &[&str],
        args: &[&str],
    ) -> Result<(i32, Value), String> {
        let mut cmd = Command::new(self.posmate);
        self.session.env(&mut cmd, bus);
        cmd.arg("--json")
            .arg("--data-dir")
            .arg(data_dir)
            .args(keystore)
            .args(args)
            .stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.posmate.display()))?;
        let value = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "`posmate {}` printed no JSON document ({e}): {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok((out.status.code().unwrap_or(-1), value))
    }
}

/// Fails unless `cond`, showing the document.
fn ensure(cond: bool, what: &str, doc: &Value) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("{what}: {doc}"))
    }
}

fn keystore_check(doctor: &Value) -> Result<&Value, String> {
    doctor["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == "keystore"))
        .ok_or_else(|| format!("doctor has no keystore check: {doctor}"))
}

/// A keyutils phone (with the user's consent) pairs, its keys show in /proc/keys, and it is
/// wiped again: proof that the final check would see keys had any gone there.
fn keyutils_control(run: &Runner<'_>) -> Result<(), String> {
    let dir = run.session.root.join("keyutils-control");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let keyutils = ["--keystore", "keyutils", "--allow-volatile-key"];
    let (code, v) = run.with(Bus::Live, &dir, &keyutils, &["--sim", "pair"])?;
    ensure(
        code == 0 && v["keystore"] == "linux-keyutils",
        "keyutils pair",
        &v,
    )?;
    let namespace = read_namespace(&dir)?;
    let seen = keyutils_entries(&namespace)?;
    if seen == 0 {
        return Err(format!(
            "/proc/keys shows none of the keyutils phone's keys (namespace {namespace}): \
             the fallback check could not see one"
        ));
    }
    let pass = dir.join("pass");
    fs::write(&pass, "control-passphrase\n").map_err(|e| format!("{}: {e}", pass.display()))?;
    let backup = dir.join("phone.age");
    let (code, v) = run.with(
        Bus::Live,
        &dir,
        &keyutils,
        &[
            "--sim",
            "--backup-work-factor",
            "10",
            "wipe-phone",
            "--backup",
            backup.to_str().expect("a UTF-8 path"),
            "--passphrase-file",
            pass.to_str().expect("a UTF-8 path"),
            "--yes",
        ],
    )?;
    ensure(code == 0, "wiping the keyutils phone", &v)?;
    // The kernel drops invalidated keys from /proc/keys in its garbage collector, soon
    // after the wipe rather than at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    while keyutils_entries(&namespace)? != 0 {
        if Instant::now() > deadline {
            return Err("the keyutils phone's keys survived its wipe".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// doctor reports the Secret Service as the durable store; pair keeps the keys there.
fn durable_pairing(run: &Runner<'_>) -> Result<Value, String> {
    let (code, doctor) = run.posmate(Bus::Live, &["--sim", "doctor"])?;
    let check = keystore_check(&doctor)?;
    ensure(code == 0, "doctor exits 0", &doctor)?;
    ensure(
        check["status"] == "ok" && check["backend"] == "secret-service" && check["durable"] == true,
        "doctor names secret-service, durable",
        check,
    )?;
    let (code, paired) = run.posmate(Bus::Live, &["--sim", "pair"])?;
    ensure(
        code == 0 && paired["keystore"] == "secret-service" && paired["keystore_durable"] == true,
        "pair keeps the keys in the durable secret-service",
        &paired,
    )?;
    let consent = run.session.data_dir.join("keystore-volatile-consent");
    if consent.exists() {
        return Err("a durable keystore needed no consent, yet one was recorded".into());
    }
    Ok(paired)
}

/// gnome-keyring keeps the login keyring as a file under XDG_DATA_HOME.
fn keyring_file(session: &Session) -> Result<(), String> {
    let dir = session.data_home.join("keyrings");
    let files = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let keyrings = files
        .filter_map(Result::ok)
        .filter(|f| f.path().extension().is_some_and(|e| e == "keyring"))
        .count();
    if keyrings == 0 {
        return Err(format!("no .keyring file in {}", dir.display()));
    }
    Ok(())
}

/// After the restart: the phone resumes its session with the paired terminal (its identity
/// and the terminal's pin read back) and the encrypted database opens (its key read back).
fn keys_read_back(run: &Runner<'_>, paired: &Value) -> Result<(), String> {
    let (code, info) = run.posmate(Bus::Live, &["--sim", "info"])?;
    ensure(
        code == 0 && info["sn"] == paired["sn"] && info["id"] == paired["id"],
        "info resumes the paired terminal without a new code",
        &info,
    )?;
    let (code, audit) = run.posmate(Bus::Live, &["--sim", "audit", "verify"])?;
    ensure(
        code == 0 && audit["entries"].as_u64().is_some_and(|n| n >= 1),
        "the database opens and its audit chain verifies",
        &audit,
    )?;
    let (code, doctor) = run.posmate(Bus::Live, &["--sim", "doctor"])?;
    ensure(
        code == 0 && keystore_check(&doctor)?["status"] == "ok",
        "doctor is content again",
        &doctor,
    )
}

/// A command's error is the keystore's typed `Unavailable`, naming `missing` and the fix.
fn expect_unavailable(v: &Value, code: i32, missing: &str) -> Result<(), String> {
    let err = &v["error"];
    let message = err["message"].as_str().unwrap_or_default();
    ensure(
        code == 6
            && err["code"] == "keystore.unavailable"
            && message.contains(missing)
            && message.contains("gnome-keyring-daemon")
            && message.contains("--keystore keyutils --allow-volatile-key")
            && !message.contains('\n'),
        &format!("exit 6, keystore.unavailable, '{missing}' and the fix, one line"),
        v,
    )
}

/// No Secret Service reachable on `bus`: doctor fails its keystore check (exit 6) naming
/// `missing` and the fix, and a command needing the keys fails the same way.
fn no_secret_service(run: &Runner<'_>, bus: Bus<'_>, missing: &str) -> Result<(), String> {
    let (code, doctor) = run.posmate(bus, &["--sim", "doctor"])?;
    let check = keystore_check(&doctor)?;
    let detail = check["detail"].as_str().unwrap_or_default();
    let fix = check["fix"].as_str().unwrap_or_default();
    ensure(
        code == 6
            && doctor["ok"] == false
            && check["status"] == "fail"
            && detail.contains(missing)
            && fix.contains("gnome-keyring-daemon"),
        &format!("doctor fails its keystore check with '{missing}' and the fix"),
        &doctor,
    )?;
    let (code, info) = run.posmate(bus, &["--sim", "info"])?;
    expect_unavailable(&info, code, missing)?;
    let (code, audit) = run.posmate(bus, &["--sim", "audit", "verify"])?;
    expect_unavailable(&audit, code, missing)
}

/// None of the phone's names went to the kernel keyutils store.
fn no_keyutils_keys(namespace: &str) -> Result<(), String> {
    match keyutils_entries(namespace)? {
        0 => Ok(()),
        n => Err(format!(
            "keyutils keys of namespace {namespace}: {n}; posmate fell back to keyutils"
        )),
    }
}

/// How many keys of posmate's `namespace` the kernel lists in /proc/keys (the keyutils
/// store names them `keyring:<name>@posmate:<namespace>`).
fn keyutils_entries(namespace: &str) -> Result<usize, String> {
    let keys = fs::read_to_string("/proc/keys").map_err(|e| format!("/proc/keys: {e}"))?;
    let marker = format!("@posmate:{namespace}");
    Ok(keys.lines().filter(|l| l.contains(&marker)).count())
}

fn read_namespace(dir: &Path) -> Result<String, String> {
    let path = dir.join("keystore-namespace");
    fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", path.display()))
}
