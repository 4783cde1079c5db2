//! What the cases stand on: the virtual adapters, the peripheral process (`posmate sim
//! --ble hci1`) with its event stream, the merchant reading the pairing code off the
//! terminal's screen, the terminal's control socket, and the phone.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use posmate_core::acquirer::{Gateway, RemoteGateway};
use posmate_core::companion::{Companion, CompanionConfig};
use posmate_core::flows::SystemClock;
use posmate_core::keystore::KeystoreChoice;
use posmate_core::session::{CodeEntry, SessionConfig};
use posmate_core::transport::btle::BtleOptions;
use posmate_core::transport::manager::ReconnectPolicy;
use posmate_sim::acquirer::SimAcquirer;
use posmate_sim::serve::SavedFleet;
use posmate_sim::terminal::Sale;
use posmate_sim::{SimTerminal, TerminalConfig};
use posmate_sim_world::acquirer::InProcess;
use posmate_sim_world::link::TcpTransport;
use posmate_sim_world::open::{self, Mode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// The central's adapter and the peripheral's.
pub const CENTRAL: &str = "hci0";
pub const PERIPHERAL: &str = "hci1";

/// Command-line arguments of the test program.
#[derive(Debug, Clone)]
pub struct Args {
    /// The `posmate` binary that serves the peripheral.
    pub posmate: PathBuf,
    /// Scratch space (state files, the phone's data directory).
    pub work: PathBuf,
    /// Where the peripherals' logs go (kept with the run's results).
    pub out: PathBuf,
    /// Run only the cases whose names contain this.
    pub only: Option<String>,
}

impl Args {
    pub fn parse() -> Result<Args, String> {
        let mut posmate = None;
        let mut work = None;
        let mut out = None;
        let mut only = None;
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
            match a.as_str() {
                "--posmate" => posmate = Some(PathBuf::from(value()?)),
                "--work" => work = Some(PathBuf::from(value()?)),
                "--out" => out = Some(PathBuf::from(value()?)),
                "--only" => only = Some(value()?),
                _ => {
                    return Err(format!(
                        "unknown argument {a}\nusage: posmate-ble-tests --posmate PATH --work DIR \
                         --out DIR [--only NAME]"
                    ))
                }
            }
        }
        Ok(Args {
            posmate: posmate.ok_or("--posmate PATH is required")?,
            work: work.ok_or("--work DIR is required")?,
            out: out.ok_or("--out DIR is required")?,
            only,
        })
    }
}

/// Waits for BlueZ to list both virtual adapters and switches them on. Start-up in the
/// guest is slow and unordered, so this polls.
pub async fn adapters_ready(timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        let last = match try_power_on().await {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "BlueZ did not offer powered adapters {CENTRAL} and {PERIPHERAL} within \
                 {timeout:?}: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn try_power_on() -> Result<(), String> {
    let session = bluer::Session::new().await.map_err(|e| e.to_string())?;
    let names = session.adapter_names().await.map_err(|e| e.to_string())?;
    for name in [CENTRAL, PERIPHERAL] {
        if !names.iter().any(|n| n == name) {
            return Err(format!("adapters so far: {names:?}"));
        }
        let adapter = session.adapter(name).map_err(|e| e.to_string())?;
        if !adapter.is_powered().await.map_err(|e| e.to_string())? {
            adapter
                .set_powered(true)
                .await
                .map_err(|e| format!("powering {name} on: {e}"))?;
        }
    }
    Ok(())
}

/// An adapter through BlueZ's D-Bus API (quicker than btmgmt for a sudden power cut).
pub async fn adapter(name: &str) -> Result<bluer::Adapter, String> {
    let session = bluer::Session::new().await.map_err(|e| e.to_string())?;
    session.adapter(name).map_err(|e| e.to_string())
}

/// Removes the peripheral adapter's device from the central's BlueZ (its cached name,
/// advertisement and GATT database), as "forget this device" does.
pub async fn forget_peripheral() -> Result<(), String> {
    let session = bluer::Session::new().await.map_err(|e| e.to_string())?;
    let address = session
        .adapter(PERIPHERAL)
        .map_err(|e| e.to_string())?
        .address()
        .await
        .map_err(|e| e.to_string())?;
    let central = session.adapter(CENTRAL).map_err(|e| e.to_string())?;
    match central.remove_device(address).await {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind == bluer::ErrorKind::DoesNotExist || e.kind == bluer::ErrorKind::NotFound =>
        {
            Ok(())
        }
        Err(e) => Err(format!("removing {address} from {CENTRAL}: {e}")),
    }
}

/// `btmgmt --index N <args>`: switches an adapter off or on as a user would.
pub async fn btmgmt(adapter: &str, args: &[&str]) -> Result<(), String> {
    let index = adapter.trim_start_matches("hci");
    let out = Command::new("btmgmt")
        .arg("--index")
        .arg(index)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run btmgmt: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "btmgmt --index {index} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A fresh terminal's flash as `posmate sim --state-file` reads it; returns the terminal
/// (whose device key the acquirer must know).
pub fn write_terminal(path: &Path, sn: &str, seed: u64) -> Result<SimTerminal, String> {
    let terminal = SimTerminal::new(TerminalConfig::new(sn.to_owned(), seed));
    let fleet = SavedFleet::of(&[(terminal.clone(), -50)]);
    let text = serde_json::to_vec(&fleet).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(terminal)
}

/// Rings up `count` sales of `amount_minor + i` on the terminal whose flash is in `path`
/// (its process stopped), and writes the flash back.
pub fn ring_up_offline(path: &Path, count: u64, amount_minor: u64) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fleet: SavedFleet = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let mut terminals = fleet.into_terminals();
    let (terminal, _) = terminals.first().ok_or("no terminal in the state file")?;
    for i in 0..count {
        terminal
            .ring_up(
                terminal.link_now(),
                &Sale::new(amount_minor + i, 156, "6222021234567890128"),
            )
            .map_err(|e| format!("ring-up {i}: {e}"))?;
    }
    let terminal = terminals.remove(0);
    let text = serde_json::to_vec(&SavedFleet::of(&[terminal])).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Everything the peripheral printed, shared with whoever waits for a line.
#[derive(Default)]
struct Lines {
    events: Mutex<Vec<Value>>,
    more: Notify,
}

/// `posmate --json sim --ble hci1 …` serving one terminal from its state file.
pub struct Peripheral {
    child: Child,
    lines: Arc<Lines>,
    /// The control socket (sim link) of the process.
    pub addr: String,
    /// `TOKEN@HOST:PORT` of its sim link, from the `listening` event.
    pub connect: String,
    pub sn: String,
    pub log: PathBuf,
}

impl Peripheral {
    /// Starts the process and waits until it advertises.
    pub async fn start(
        args: &Args,
        state: &Path,
        sn: &str,
        name: &str,
    ) -> Result<Peripheral, String> {
        let log = args.out.join(format!("peripheral-{name}.log"));
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(args.out.join(format!("peripheral-{name}.err")))
            .map_err(|e| e.to_string())?;
        let mut child = Command::new(&args.posmate)
            .args(["--json", "-v", "sim", "--ble", PERIPHERAL])
            .args(["--listen", "127.0.0.1:0", "--terminals", "1"])
            // btvirt reports an advertisement once, when advertising is enabled.
            .args(["--ble-readvertise-ms", "250"])
            .arg("--state-file")
            .arg(state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", args.posmate.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let lines = Arc::new(Lines::default());
        let feed = lines.clone();
        let log_path = log.clone();
        tokio::spawn(async move {
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .await
                .ok();
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Some(f) = &mut file {
                    let _ = f.write_all(format!("{line}\n").as_bytes()).await;
                }
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    feed.events
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(v);
                    feed.more.notify_waiters();
                }
            }
            feed.events
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(json!({ "event": "exited" }));
            feed.more.notify_waiters();
        });
        let mut p = Peripheral {
            child,
            lines,
            addr: String::new(),
            connect: String::new(),
            sn: sn.to_owned(),
            log,
        };
        let (_, listening) = p.wait_for("listening", 0, Duration::from_secs(30)).await?;
        p.addr = listening["addr"].as_str().unwrap_or_default().to_owned();
        p.connect = listening["connect"].as_str().unwrap_or_default().to_owned();
        p.wait_for("ble-advertising", 0, Duration::from_secs(30))
            .await?;
        Ok(p)
    }

    /// How many lines were seen so far (a mark for [`Self::wait_for`]).
    pub fn mark(&self) -> usize {
        self.lines
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The first `event` line at or after `from`; fails if the process exits first.
    pub async fn wait_for(
        &self,
        event: &str,
        from: usize,
        timeout: Duration,
    ) -> Result<(usize, Value), String> {
        wait_line(&self.lines, from, timeout, |v| v["event"] == event)
            .await
            .map_err(|e| {
                format!(
                    "{e} waiting for {event} from the peripheral ({})",
                    self.log.display()
                )
            })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Switches the terminal off: the process stops as on Ctrl-C; it saves its flash, stops
    /// advertising and drops its link (BlueZ owns the LE link and would keep it up), which
    /// this checks.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(pid) = self.child.id() {
            // SAFETY: signals a child process of ours by its pid.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
            return Err("the peripheral did not stop on SIGTERM within 10 s".into());
        }
        let radio = adapter(PERIPHERAL).await?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut connected = Vec::new();
            for address in radio.device_addresses().await.map_err(|e| e.to_string())? {
                let device = radio.device(address).map_err(|e| e.to_string())?;
                if device.is_connected().await.unwrap_or(false) {
                    connected.push(address);
                }
            }
            if connected.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the stopped terminal still has a link to {connected:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_exit(&mut self) {
        let _ = self.child.wait().await;
    }

    /// The merchant at this terminal: types the code its screen shows.
    pub fn merchant(&self) -> Merchant {
        Merchant {
            lines: self.lines.clone(),
            from: self.mark(),
            sn: self.sn.clone(),
        }
    }

    /// Rings up `count` sales of `amount_minor + i` on the terminal, on one control
    /// connection's worth of requests. Returns their total.
    pub async fn ring_up(&self, count: u64, amount_minor: u64) -> Result<u64, String> {
        let t = TcpTransport::open(&self.connect)
            .await
            .map_err(|e| format!("control socket {}: {e}", self.addr))?;
        let mut total = 0;
        for i in 0..count {
            let amount = amount_minor + i;
            t.request(&json!({ "op": "ring-up", "sn": self.sn, "amount_minor": amount }))
                .await
                .map_err(|e| format!("ring-up {i}: {e}"))?;
            total += amount;
        }
        Ok(total)
    }
}

/// SIGKILL to `pid`.
pub fn kill(pid: u32) -> Result<(), String> {
    // SAFETY: signals a child process of ours by its pid.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("kill {pid}: {}", std::io::Error::last_os_error()))
    }
}

async fn wait_line(
    lines: &Lines,
    from: usize,
    timeout: Duration,
    want: impl Fn(&Value) -> bool,
) -> Result<(usize, Value), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let more = lines.more.notified();
        {
            let events = lines.events.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((i, v)) = events.iter().enumerate().skip(from).find(|(_, v)| want(v)) {
                return Ok((i, v.clone()));
            }
            if events.iter().skip(from).any(|v| v["event"] == "exited") {
                return Err("the peripheral exited".into());
            }
        }
        if tokio::time::timeout_at(deadline, more).await.is_err() {
            return Err(format!("nothing within {timeout:?}"));
        }
    }
}

/// Reads the pairing code off the terminal's screen, as printed by the peripheral.
pub struct Merchant {
    lines: Arc<Lines>,
    from: usize,
    sn: String,
}

#[async_trait]
impl CodeEntry for Merchant {
    async fn enter_code(&self, _sn: &str) -> Option<String> {
        let sn = self.sn.clone();
        let (_, line) = wait_line(&self.lines, self.from, Duration::from_secs(15), |v| {
            v["event"] == "screen"
                && v["sn"] == sn.as_str()
                && v["screen"]["kind"] == "pairing-code"
        })
        .await
        .ok()?;
        line["screen"]["code"].as_str().map(str::to_owned)
    }
}

/// The phone: the core's `Companion` on the central adapter through btleplug, the kernel
/// keyring as its keystore, the acquirer in this process.
pub async fn phone(dir: &Path, acquirer: &SimAcquirer) -> Result<Companion, String> {
    let gateway = Arc::new(RemoteGateway::new(InProcess::new(acquirer.clone())));
    phone_with(dir, gateway).await
}

/// The phone as [`phone`], its acquirer behind `acquirer` (the sandbox over HTTPS, say).
pub async fn phone_with(dir: &Path, acquirer: Arc<dyn Gateway>) -> Result<Companion, String> {
    let opened = open::open(Mode::Bluetooth {
        options: BtleOptions {
            adapter: Some(CENTRAL.into()),
            connect_timeout: Duration::from_secs(10),
        },
        acquirer,
    })
    .await
    .map_err(|e| format!("opening {CENTRAL}: {e}"))?;
    let mut config = CompanionConfig::new(dir, KeystoreChoice::LinuxKeyutils);
    // The kernel keyring does not survive a reboot; this phone lives for one run.
    config.allow_volatile_key = true;
    config.session = SessionConfig {
        step_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
    };
    config.reconnect = ReconnectPolicy {
        max_attempts: 3,
        connect_timeout: Duration::from_secs(10),
        ..ReconnectPolicy::default()
    };
    config.scan_time = Duration::from_secs(2);
    config.backup = posmate_core::backup::WriteOptions { work_factor: 10 };
    Companion::open(
        config,
        opened.transport,
        opened.gateway,
        Arc::new(SystemClock),
    )
    .map_err(|e| format!("opening the phone: {e}"))
}
