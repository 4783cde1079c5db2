//! `posmate sim`: host simulated terminals for other processes (the sim link,
//! `docs/sim-link.md`), or — with an action — act on a running one: ring up a sale, read a
//! screen, inject a fault.

use std::path::PathBuf;

use posmate_sim::serve::{Host, HostConfig};
use posmate_sim_world::link::address::{new_token, TokenFile};
use posmate_sim_world::link::control::{ScreenReply, TerminalJson};
use posmate_sim_world::link::server::{self, HostEvent, Shared};
use posmate_sim_world::link::{wire, SimAddress, TcpTransport};
use posmate_sim_world::state;
use posmate_sim_world::world::{self, AcquirerJson};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::{table, Output, Report};
use crate::simhost::control::{self, Control, TEST_PAN};
use crate::simhost::watch;
use crate::transport_select::Mode;
use crate::txn_kind::KindArg;

/// Where `posmate sim` listens, and where its actions connect, unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// Host simulated terminals for other processes, or act on a running `posmate sim`.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  posmate sim                                   3 terminals on 127.0.0.1:7878
  posmate sim --listen 127.0.0.1:0 --terminals 5 --state-file sim.json
  posmate sim --latency-ms 30 --drop-after-writes 12
  posmate --connect-sim 127.0.0.1:7878 pair    another process uses them
  posmate sim ring-up --sn SN2026000001 --amount 12.50
  posmate sim screen --sn SN2026000001
  posmate sim acquirer                          merchant, terminal numbers, activation codes
  posmate --sim sim ring-up --sn SN2026000001 --amount 3 --count 500
  posmate sim --replay ~/.local/share/posmate/sim/traces/1765112345678-SN2026000001-00.trace

At start it prints the simulated acquirer's merchant number and each terminal's
terminal number and activation code (what `posmate activate` needs); then the
terminals' screens (the pairing code among them) as they change. --json prints
one JSON event per line. Actions talk to --connect-sim ADDR (or
POSMATE_SIM_ADDR), by default 127.0.0.1:7878; terminals, screen, ring-up,
acquirer and advance also work on the embedded simulation with --sim."
)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Instead of hosting terminals: replay a recorded connection (a file from
    /// DATA_DIR/sim/traces) against a terminal restored from the flash it started with, and
    /// say whether it answered exactly as recorded (exit 0) or where it first differed (1).
    #[arg(long, value_name = "TRACE", conflicts_with_all = [
        "listen", "terminals", "seed", "sn_prefix", "state_file", "latency_ms", "mtu",
        "drop_after_writes", "ble", "ble_readvertise_ms",
    ])]
    pub replay: Option<PathBuf>,
    #[command(flatten)]
    pub serve: Serve,
}

#[derive(Debug, clap::Args)]
pub struct Serve {
    /// Address to listen on; port 0 picks a free one (printed at start). Keep it on
    /// loopback: the sim link has no authentication.
    #[arg(long, default_value = DEFAULT_ADDR, value_name = "ADDR")]
    pub listen: String,
    /// How many terminals to host (a state file with fewer is topped up).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub terminals: u16,
    /// Seed of new terminals' keys and codes (terminal n gets seed + n).
    #[arg(long, default_value_t = state::DEFAULT_SEED)]
    pub seed: u64,
    /// Serial-number prefix of new terminals (SN = prefix + 6 digits).
    #[arg(long, default_value = state::SN_PREFIX, value_name = "PREFIX")]
    pub sn_prefix: String,
    /// Keep the terminals' flash and the acquirer's books in FILE, so a restart finds them
    /// as they were.
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// One-way link latency added to every write and notification.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// The largest ATT MTU the terminals accept.
    #[arg(long, default_value_t = 247, value_parser = clap::value_parser!(u16).range(23..=517))]
    pub mtu: u16,
    /// Fault: lose every connection right after the terminal received N writes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub drop_after_writes: Option<u64>,
    /// Also serve the first terminal as a real Bluetooth LE peripheral on ADAPTER (Linux,
    /// BlueZ; e.g. hci1), with the MTU the stack negotiates (docs/ble-testing.md).
    #[arg(long, value_name = "ADAPTER")]
    pub ble: Option<String>,
    /// With --ble: re-enable advertising every MS while nobody is connected, for emulated
    /// controllers (btvirt) that report an advertisement only when it starts.
    #[arg(long, value_name = "MS", requires = "ble")]
    pub ble_readvertise_ms: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the hosted terminals with their state and screen.
    #[command(after_help = "Examples:\n  posmate sim terminals\n  posmate --json sim terminals")]
    Terminals,
    /// Show what one terminal's screen shows (the pairing code, say).
    #[command(after_help = "Examples:\n  posmate sim screen --sn SN2026000001")]
    Screen {
        /// Serial number or id of the terminal.
        #[arg(long)]
        sn: String,
    },
    /// The merchant rings up a transaction on the terminal and a card is read.
    #[command(after_help = "Examples:
  posmate sim ring-up --sn SN2026000001 --amount 12.50
  posmate sim ring-up --sn SN2026000001 --amount 5 --kind refund --orig-seq 1
  posmate sim ring-up --sn SN2026000001 --amount 1 --count 3000   a busy month")]
    RingUp {
        #[arg(long)]
        sn: String,
        /// Amount in major units, at most 2 decimals: 12.50.
        #[arg(long, value_parser = parse_amount)]
        amount: u64,
        /// Book this many transactions, each one minor unit more than the last.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(control::MAX_RING_UP)))]
        count: u32,
        /// ISO 4217 numeric currency code.
        #[arg(long, default_value_t = crate::simhost::control::CNY)]
        currency: u16,
        /// The card's number (a test card by default).
        #[arg(long, default_value = TEST_PAN)]
        pan: String,
        #[arg(long, value_enum, default_value_t = KindArg::default())]
        kind: KindArg,
        /// The original record of a refund, void or pre-auth completion.
        #[arg(long)]
        orig_seq: Option<u64>,
    },
    /// Hold a card to the terminal's reader (answers the phone's pending card read).
    #[command(
        after_help = "Examples:\n  posmate sim present-card --sn SN2026000001 --pan 6222021234567890128"
    )]
    PresentCard {
        #[arg(long)]
        sn: String,
        #[arg(long)]
        pan: String,
        /// MMYY.
        #[arg(long, default_value = "1230")]
        expiry: String,
    },
    /// Fault: the terminal's current link is lost now.
    #[command(after_help = "Examples:\n  posmate sim drop --sn SN2026000001")]
    Drop {
        #[arg(long)]
        sn: String,
    },
    /// Fault: the terminal loses its link whenever a request of one kind arrives (mid-flow
    /// failures at a chosen step, whatever the packet count), until --clear.
    #[command(after_help = "Examples:
  posmate sim fault --sn SN2026000007 --drop-on install-keys   activation stops mid-way
  posmate sim fault --sn SN2026000007 --clear                  the radio works again

Kinds: get-info, ping, install-keys, sign-on, read-card, read-journal, close-batch,
wipe, set-lifecycle, unpair. The terminal never acts on the request that was lost.")]
    Fault {
        #[arg(long)]
        sn: String,
        /// The kind of request whose arrival loses the link.
        #[arg(long, value_name = "KIND", value_parser = parse_request_kind, required_unless_present = "clear")]
        drop_on: Option<String>,
        /// Repair the terminal's radio.
        #[arg(long, conflicts_with = "drop_on")]
        clear: bool,
    },
    /// Change a terminal's signal strength or battery level.
    #[command(
        after_help = "Examples:\n  posmate sim set --sn SN2026000002 --rssi -40 --battery 15"
    )]
    Set {
        #[arg(long)]
        sn: String,
        /// Received signal strength in dBm (e.g. -40).
        #[arg(long, allow_hyphen_values = true)]
        rssi: Option<i16>,
        /// Battery level in percent.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        battery: Option<u8>,
    },
    /// Link latency and the drop fault for connections made from now on.
    #[command(after_help = "Examples:
  posmate sim link --latency-ms 50
  posmate sim link --drop-after-writes 3
  posmate sim link --drop-after-writes 0      turn the fault off")]
    Link {
        #[arg(long, value_name = "MS")]
        latency_ms: Option<u64>,
        #[arg(long, value_name = "N")]
        drop_after_writes: Option<u64>,
    },
    /// The simulated acquirer: merchants, terminal numbers, activation codes, its clock.
    #[command(
        after_help = "Examples:\n  posmate sim acquirer\n  posmate --sim --json sim acquirer"
    )]
    Acquirer,
    /// Move the simulated acquirer's clock forward (reviews, dormancy, reopening).
    #[command(after_help = "Examples:
  posmate sim advance --days 80       the terminal nears dormancy
  posmate --sim sim advance --hours 2 a reopening's review ends")]
    Advance {
        #[arg(long, default_value_t = 0)]
        days: u64,
        #[arg(long, default_value_t = 0)]
        hours: u64,
        #[arg(long, default_value_t = 0)]
        ms: u64,
    },
}

/// A request kind `sim fault --drop-on` accepts.
fn parse_request_kind(text: &str) -> Result<String, String> {
    control::request_kind(text)
        .map(|k| k.name().to_owned())
        .map_err(|e| e.to_string())
}

/// `12.50` → 1250 minor units.
pub fn parse_amount(text: &str) -> Result<u64, String> {
    let bad = || format!("'{text}' is not an amount such as 12.50");
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let cents: u64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or_else(bad)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    if let Some(trace) = &args.replay {
        return super::sim_replay::run(ctx, trace);
    }
    match args.action {
        None => serve(ctx, args.serve).await,
        Some(action) => act(ctx, action).await,
    }
}

async fn serve(ctx: &Ctx, args: Serve) -> Result<Exit, CliError> {
    let (mut terminals, books) = match &args.state_file {
        Some(path) => match state::load(path)? {
            Some(mut fleet) => {
                let books = fleet.acquirer.take();
                (fleet.into_terminals(), books)
            }
            None => (Vec::new(), None),
        },
        None => (Vec::new(), None),
    };
    let have = terminals.len();
    let want = usize::from(args.terminals);
    if have < want {
        terminals.extend(state::generate(
            &args.sn_prefix,
            have + 1,
            want - have,
            args.seed,
        ));
    }
    let saved = if books.is_some() { have } else { 0 };
    let acquirer = world::restore_or_new(books, saved, &terminals, args.seed).map_err(|e| {
        state::corrupt(
            args.state_file
                .as_deref()
                .unwrap_or(std::path::Path::new("-")),
            e,
        )
    })?;
    let config = HostConfig {
        mtu: args.mtu,
        latency_us: args.latency_ms.saturating_mul(1000),
        drop_after_writes: args.drop_after_writes,
    };
    let listener = TcpListener::bind(&args.listen).await.map_err(|e| {
        CliError::new(
            Exit::Transport,
            "listen-failed",
            format!("cannot listen on {}: {e}", args.listen),
        )
        .hint("choose another address, e.g. --listen 127.0.0.1:0 for any free port")
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::storage("cannot read the listening address", e))?;
    if !addr.ip().is_loopback() {
        ctx.out.note(&format!(
            "warning: {addr} is not a loopback address; anyone who reaches it can drive \
             these simulated terminals"
        ));
    }
    // The acquirer's JSON API rides on the same link (`acquirer` requests).
    let sns: Vec<String> = terminals.iter().map(|(t, _)| t.sn()).collect();
    let registrations = world::describe(&acquirer, &sns);
    // Only who holds this run's token drives the terminals: printed here, and left for
    // this user on a loopback port (so `--connect-sim 127.0.0.1:PORT` works on this machine).
    let token = new_token();
    let address = SimAddress::new(addr.to_string(), token.clone());
    let _token_file = if addr.ip().is_loopback() {
        match TokenFile::publish(addr.port(), &token) {
            Ok(file) => Some(file),
            Err(e) => {
                ctx.out.note(&format!(
                    "note: the token was not left for this user ({e}); connect with the \
                     address printed below"
                ));
                None
            }
        }
    } else {
        None
    };
    let (shared, events) = Shared::new(
        Host::new(terminals, config),
        acquirer,
        control::served_ops(),
        token,
    );
    let views: Vec<TerminalJson> = shared
        .read(|h, now| h.terminals(now))
        .iter()
        .map(Into::into)
        .collect();
    announce(&ctx.out, &address, &views, &registrations);
    let mut saved = None;
    if let Some(path) = &args.state_file {
        watch::save_if_changed(&shared, path, &mut saved);
    }
    let out = ctx.out;
    let print = move |event: &HostEvent| {
        if out.json {
            out.json_line(event);
        } else {
            out.line(&event.human());
        }
    };
    let watcher = tokio::spawn(watch::watch(
        shared.clone(),
        events,
        print,
        args.state_file.clone(),
    ));
    let ble = super::sim_ble::run(
        out,
        args.ble.clone(),
        args.ble_readvertise_ms,
        shared.clone(),
    );
    let result = tokio::select! {
        r = server::serve(listener, shared.clone()) => r
            .map_err(|e| CliError::new(Exit::Transport, "accept-failed", e.to_string())),
        r = ble => r,
        () = crate::stop_signal::requested() => Ok(()),
    };
    watcher.abort();
    if let Some(path) = &args.state_file {
        watch::save_if_changed(&shared, path, &mut saved);
    }
    if out.json {
        out.json_line(&json!({ "event": "stopped" }));
    } else {
        out.line("posmate sim stopped");
    }
    result?;
    Ok(Exit::Ok)
}

fn announce(
    out: &Output,
    address: &SimAddress,
    terminals: &[TerminalJson],
    acquirer: &AcquirerJson,
) {
    #[derive(Serialize)]
    struct Listening<'a> {
        event: &'static str,
        addr: &'a str,
        /// What `--connect-sim` takes from another process: `TOKEN@HOST:PORT`.
        connect: &'a str,
        protocol: u32,
        terminals: &'a [TerminalJson],
        acquirer: &'a AcquirerJson,
    }
    let connect = address.connect_string();
    if out.json {
        out.json_line(&Listening {
            event: "listening",
            addr: address.socket(),
            connect: &connect,
            protocol: wire::PROTOCOL_VERSION,
            terminals,
            acquirer,
        });
        return;
    }
    out.line(&format!(
        "posmate sim listening on {} (sim-link protocol {})",
        address.socket(),
        wire::PROTOCOL_VERSION
    ));
    out.line(&terminal_table(terminals));
    out.line(&acquirer_text(acquirer));
    out.line(&format!(
        "use them from another shell: posmate --connect-sim {} scan\n\
         (the token before @ changes each run; as this user on this machine, {} alone works)",
        connect.as_str(),
        address.socket()
    ));
}

/// The acquirer's registrations, readable.
fn acquirer_text(a: &AcquirerJson) -> String {
    let merchants: Vec<Vec<String>> = a
        .merchants
        .iter()
        .map(|m| {
            vec![
                m.merchant_no.clone(),
                m.legal_name.clone(),
                m.contact_phone.clone(),
                m.address.clone(),
                m.review.clone(),
            ]
        })
        .collect();
    let terminals: Vec<Vec<String>> = a
        .terminals
        .iter()
        .map(|t| {
            vec![
                t.sn.clone(),
                t.terminal_no.clone(),
                t.activation_code.clone(),
                t.state.clone(),
                t.applications.to_string(),
            ]
        })
        .collect();
    format!(
        "simulated acquirer (clock {} UTC):\n{}\n{}",
        crate::fmt::time(a.now_ms),
        table(
            &["MERCHANT NO", "NAME", "PHONE", "ADDRESS", "REVIEW"],
            &merchants
        )
        .trim_end(),
        table(
            &[
                "SN",
                "TERMINAL NO",
                "ACTIVATION CODE",
                "ACQUIRER STATE",
                "APPLICATIONS"
            ],
            &terminals
        )
        .trim_end()
    )
}

fn terminal_table(terminals: &[TerminalJson]) -> String {
    let rows: Vec<Vec<String>> = terminals
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.sn.clone(),
                t.local_name.clone(),
                format!("{} dBm", t.rssi),
                t.lifecycle.clone(),
                t.screen.human(),
                if t.connected { "connected" } else { "-" }.into(),
            ]
        })
        .collect();
    table(
        &["ID", "SN", "NAME", "RSSI", "STATE", "SCREEN", "LINK"],
        &rows,
    )
}

/// The result of an action, printed as JSON as the sim returned it.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct ActionReport {
    #[serde(skip)]
    human: String,
    result: Value,
}

impl Report for ActionReport {
    fn human(&self) -> String {
        format!("{}\n", self.human.trim_end())
    }
}

async fn act(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    let control = match action {
        Action::Terminals => Control::Terminals,
        Action::Screen { sn } => Control::Screen { sn },
        Action::RingUp {
            sn,
            amount,
            count,
            currency,
            pan,
            kind,
            orig_seq,
        } => Control::RingUp {
            sn,
            amount_minor: amount,
            count,
            currency,
            pan,
            kind,
            orig_seq,
        },
        Action::PresentCard { sn, pan, expiry } => Control::PresentCard { sn, pan, expiry },
        Action::Drop { sn } => Control::Drop { sn },
        Action::Set { sn, rssi, battery } => Control::Set { sn, rssi, battery },
        Action::Fault { sn, drop_on, .. } => Control::Fault { sn, drop_on },
        Action::Link {
            latency_ms,
            drop_after_writes,
        } => Control::Link {
            latency_ms,
            drop_after_writes,
        },
        Action::Acquirer => Control::Acquirer,
        Action::Advance { days, hours, ms } => Control::Advance {
            ms: days
                .saturating_mul(86_400_000)
                .saturating_add(hours.saturating_mul(3_600_000))
                .saturating_add(ms),
        },
    };
    let result = match ctx.mode() {
        // The embedded world: loaded from the data directory, changed, saved at exit.
        Mode::Embedded => {
            let link = ctx.link().await?;
            let mut sim = link.embedded().expect("--sim opens the embedded world");
            control::apply(&mut sim, control.clone())?
        }
        Mode::Remote(addr) => remote_act(&addr, &control).await?,
        Mode::Bluetooth => remote_act(DEFAULT_ADDR, &control).await?,
    };
    let human = describe(&control, &result);
    ctx.out.report(&ActionReport { human, result });
    Ok(Exit::Ok)
}

async fn remote_act(addr: &str, control: &Control) -> Result<Value, CliError> {
    let remote = TcpTransport::open(addr).await?;
    let request = serde_json::to_value(control).expect("a request serialises");
    Ok(remote.request(&request).await?)
}

/// The readable form of an action's result.
fn describe(control: &Control, result: &Value) -> String {
    let s = |key: &str| {
        result
            .get(key)
            .map(|v| v.to_string().replace('"', ""))
            .unwrap_or_default()
    };
    match control {
        Control::Terminals => {
            let list: Vec<TerminalJson> = result
                .get("terminals")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            terminal_table(&list)
        }
        Control::Screen { .. } => match serde_json::from_value::<ScreenReply>(result.clone()) {
            Ok(r) => format!("{}: {}", r.sn, r.screen.human()),
            Err(_) => result.to_string(),
        },
        Control::RingUp { count: 1, .. } => format!(
            "{}: booked record {} ({}), card {}",
            s("sn"),
            s("seq"),
            s("status"),
            s("masked_pan")
        ),
        Control::RingUp { .. } => format!(
            "{}: booked records {} to {} (the last {}), card {}",
            s("sn"),
            s("first_seq"),
            s("seq"),
            s("status"),
            s("masked_pan")
        ),
        Control::Acquirer => match serde_json::from_value::<AcquirerJson>(result.clone()) {
            Ok(a) => acquirer_text(&a),
            Err(_) => result.to_string(),
        },
        Control::Advance { .. } => format!(
            "the acquirer's clock is now {} UTC",
            result
                .get("now_ms")
                .and_then(Value::as_u64)
                .map(crate::fmt::time)
                .unwrap_or_default()
        ),
        Control::PresentCard { .. } => match s("outcome").as_str() {
            "answered" => "the card answered the phone's card read".into(),
            _ => "no card read was pending: the card is held for the next one".into(),
        },
        Control::Drop { .. } => match result.get("dropped").and_then(Value::as_bool) {
            Some(true) => "the link was dropped".into(),
            _ => "the terminal had no link to drop".into(),
        },
        Control::Set { .. } => "done".into(),
        Control::Fault { .. } => match result.get("drop_on").and_then(Value::as_str) {
            Some(kind) => format!("{}: the link is lost whenever {kind} arrives", s("sn")),
            None => format!("{}: the radio works again", s("sn")),
        },
        Control::Link { .. } => format!(
            "new connections: mtu {}, latency {} ms, drop after writes: {}",
            s("mtu"),
            s("latency_ms"),
            match result.get("drop_after_writes").and_then(Value::as_u64) {
                Some(n) => n.to_string(),
                None => "off".into(),
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_to_minor_units() {
        assert_eq!(parse_amount("12.50"), Ok(1250));
        assert_eq!(parse_amount("12.5"), Ok(1250));
        assert_eq!(parse_amount("7"), Ok(700));
        assert_eq!(parse_amount("0.01"), Ok(1));
        assert!(parse_amount("1.234").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount(".5").is_err());
        assert!(parse_amount("abc").is_err());
    }
}
