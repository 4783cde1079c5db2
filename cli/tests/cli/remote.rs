//! Every command against a separate `posmate sim` process over the loopback sim link.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::{json, Value};

use crate::common::{check_schema, run_json, run_json_as, DataDir, Sim};

#[test]
fn scan_pair_info_over_the_sim_link() {
    let mut sim = Sim::start(&[]);
    let dir = DataDir::new();
    let scan = run_json(sim.posmate(&dir).arg("scan"), 0, "scan");
    assert_eq!(scan["transport"], "sim-link");
    assert_eq!(scan["terminals"].as_array().unwrap().len(), 3);
    assert_eq!(scan["terminals"][0]["id"], "F0:00:00:00:00:01");

    let paired = run_json(
        sim.posmate(&dir)
            .args(["pair", "--sn", "000002", "--from-screen"]),
        0,
        "pair",
    );
    assert_eq!(paired["sn"], "SN2026000002");
    // The sim printed the code the phone read off its screen, and the link's life.
    let shown = sim.wait_for("a pairing code", |e| {
        e["event"] == "screen" && e["screen"]["kind"] == "pairing-code"
    });
    assert_eq!(shown["sn"], "SN2026000002");
    sim.wait_for("a connection", |e| {
        e["event"] == "connected" && e["sn"] == "SN2026000002" && e["mtu"] == 247
    });
    sim.wait_for("a disconnection", |e| e["event"] == "disconnected");

    let info = run_json(sim.posmate(&dir).arg("info"), 0, "info");
    assert_eq!(info["sn"], "SN2026000002");
    assert_eq!(info["id"], "F0:00:00:00:00:02");
}

#[test]
fn the_code_typed_on_stdin_pairs_and_an_empty_line_cancels() {
    let mut sim = Sim::start(&["--terminals", "1"]);
    let dir = DataDir::new();
    sim.forget();
    let mut pair = dir
        .posmate_std()
        .args(["--connect-sim", &sim.addr, "--json", "pair"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The merchant reads the code off the terminal (the sim's stdout) and types it.
    let shown = sim.wait_for("a pairing code", |e| e["screen"]["kind"] == "pairing-code");
    let code = shown["screen"]["code"].as_str().unwrap().to_owned();
    writeln!(pair.stdin.take().unwrap(), "{code}").unwrap();
    let out = pair.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema("pair", &v);

    // A second pairing attempt where the merchant gives up.
    let other = DataDir::new();
    let err = run_json(sim.posmate(&other).arg("pair").write_stdin("\n"), 8, "pair");
    assert_eq!(err["error"]["code"], "cancelled");
}

#[test]
fn sim_actions_drive_the_terminals() {
    let sim = Sim::start(&[]);
    let dir = DataDir::new();
    let list = run_json(
        sim.posmate(&dir).args(["sim", "terminals"]),
        0,
        "sim-terminals",
    );
    assert_eq!(list["terminals"].as_array().unwrap().len(), 3);
    assert_eq!(list["terminals"][2]["sn"], "SN2026000003");
    assert_eq!(list["terminals"][0]["screen"]["kind"], "unactivated");

    let screen = run_json(
        sim.posmate(&dir)
            .args(["sim", "screen", "--sn", "F0:00:00:00:00:02"]),
        0,
        "sim-screen",
    );
    assert_eq!(screen["sn"], "SN2026000002");

    // A factory-fresh terminal cannot take payments: refused, nothing booked.
    let err = run_json(
        sim.posmate(&dir).args([
            "sim",
            "ring-up",
            "--sn",
            "SN2026000001",
            "--amount",
            "12.50",
        ]),
        4,
        "sim-ring-up",
    );
    assert_eq!(err["error"]["code"], "not-in-service");
    let err = run_json(
        sim.posmate(&dir).args(["sim", "screen", "--sn", "SN9999"]),
        3,
        "sim-screen",
    );
    assert_eq!(err["error"]["code"], "not-found");

    let held = run_json(
        sim.posmate(&dir).args([
            "sim",
            "present-card",
            "--sn",
            "SN2026000001",
            "--pan",
            "6222020200112233445",
        ]),
        0,
        "sim-present-card",
    );
    assert_eq!(held["outcome"], "held");

    let dropped = run_json(
        sim.posmate(&dir)
            .args(["sim", "drop", "--sn", "SN2026000001"]),
        0,
        "sim-drop",
    );
    assert_eq!(dropped["dropped"], false);

    // Signal strength decides the scan order.
    run_json(
        sim.posmate(&dir).args([
            "sim",
            "set",
            "--sn",
            "SN2026000003",
            "--rssi",
            "-30",
            "--battery",
            "15",
        ]),
        0,
        "sim-set",
    );
    let scan = run_json(sim.posmate(&dir).arg("scan"), 0, "scan");
    assert_eq!(scan["terminals"][0]["local_name"], "POSMATE-000003");
    assert_eq!(scan["terminals"][0]["rssi"], -30);

    let link = run_json(
        sim.posmate(&dir).args(["sim", "link", "--latency-ms", "5"]),
        0,
        "sim-link",
    );
    assert_eq!(link["latency_ms"], 5);
    assert_eq!(link["drop_after_writes"], Value::Null);

    sim.posmate(&dir)
        .args(["sim", "terminals"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SN2026000003").and(predicate::str::contains("-30 dBm")));
}

#[test]
fn a_dropped_link_fails_pairing_with_a_transport_error_until_the_fault_is_off() {
    let mut sim = Sim::start(&["--drop-after-writes", "1"]);
    let dir = DataDir::new();
    let err = run_json(sim.posmate(&dir).args(["pair", "--from-screen"]), 5, "pair");
    assert!(
        ["disconnected", "session-closed", "connect-failed"]
            .contains(&err["error"]["code"].as_str().unwrap()),
        "{err:#}"
    );
    sim.wait_for("the lost link", |e| {
        e["event"] == "disconnected" && e["reason"] == "link-lost"
    });
    run_json(
        sim.posmate(&dir)
            .args(["sim", "link", "--drop-after-writes", "0"]),
        0,
        "sim-link",
    );
    run_json(sim.posmate(&dir).args(["pair", "--from-screen"]), 0, "pair");
}

#[test]
fn dropping_a_link_tells_both_ends() {
    let mut sim = Sim::start(&["--terminals", "1"]);
    let dir = DataDir::new();
    let mut raw = RawClient::open(&sim);
    let reply = raw.call(json!({"op": "connect", "id": "F0:00:00:00:00:01"}));
    assert_eq!(reply["ok"], true, "{reply}");
    let dropped = run_json(
        sim.posmate(&dir)
            .args(["sim", "drop", "--sn", "SN2026000001"]),
        0,
        "sim-drop",
    );
    assert_eq!(dropped["dropped"], true);
    let down = raw.next();
    assert_eq!(down["ev"], "disconnected");
    assert_eq!(down["reason"], "link-lost");
    sim.wait_for("the lost link", |e| e["reason"] == "link-lost");
}

#[test]
fn latency_slows_the_handshake_by_its_round_trips() {
    let sim = Sim::start(&["--latency-ms", "40", "--terminals", "1"]);
    let dir = DataDir::new();
    let started = Instant::now();
    run_json(sim.posmate(&dir).args(["pair", "--from-screen"]), 0, "pair");
    // HELLO, PAIR1, PAIR3 and GetInfo are four round trips of 2 × 40 ms at least.
    assert!(
        started.elapsed() >= Duration::from_millis(320),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_state_file_keeps_terminals_across_a_restart() {
    let dir = DataDir::new();
    let state = dir.path().join("sim-state.json");
    let state_arg = state.to_str().unwrap().to_owned();
    let sim = Sim::start(&["--state-file", &state_arg]);
    let paired = run_json(sim.posmate(&dir).args(["pair", "--from-screen"]), 0, "pair");
    // Killed without warning: what was saved while running must suffice.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let saved = std::fs::read_to_string(&state).unwrap_or_default();
        if saved.contains("\"paired_phones\":[[") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pairing never reached {state:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sim.kill();
    let sim = Sim::start(&["--state-file", &state_arg, "--terminals", "4"]);
    let list = run_json(
        sim.posmate(&dir).args(["sim", "terminals"]),
        0,
        "sim-terminals",
    );
    assert_eq!(
        list["terminals"].as_array().unwrap().len(),
        4,
        "topped up to 4"
    );
    // The restarted terminal still knows the phone: no code needed.
    let info = run_json(sim.posmate(&dir).arg("info"), 0, "info");
    assert_eq!(info["sn"], paired["sn"]);
}

#[test]
fn an_unreachable_sim_is_a_transport_error_with_a_hint() {
    let dir = DataDir::new();
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let err = run_json(
        dir.posmate().args(["--connect-sim", &addr, "scan"]),
        5,
        "scan",
    );
    assert_eq!(err["error"]["code"], "sim-unreachable");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("posmate sim --listen"));
    let v = run_json_as(
        dir.posmate().args(["--connect-sim", &addr, "doctor"]),
        5,
        "doctor",
    );
    assert_eq!(v["ok"], false);
    let link = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sim-link")
        .unwrap();
    assert_eq!(link["status"], "fail");
    assert!(link["fix"]
        .as_str()
        .unwrap()
        .contains("posmate sim --listen"));
}

#[test]
fn doctor_checks_the_sim_link() {
    let sim = Sim::start(&[]);
    let dir = DataDir::new();
    let v = run_json(sim.posmate(&dir).arg("doctor"), 0, "doctor");
    assert_eq!(v["mode"], "sim-link");
    let link = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sim-link")
        .unwrap();
    assert_eq!(link["status"], "ok");
    assert!(link["detail"].as_str().unwrap().contains("3 terminals"));
}

/// A client speaking the sim link by hand, as another language's test harness would.
struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    /// A connection to `sim`, introduced with its token.
    fn open(sim: &Sim) -> Self {
        let mut c = RawClient::connect(&sim.addr);
        let token = sim.connect.split_once('@').unwrap().0;
        let hello = c.call(json!({"op": "hello", "version": 1, "token": token}));
        assert_eq!(hello["ok"], true, "{hello}");
        c
    }

    /// A bare TCP connection to `addr`.
    fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn send(&mut self, request: Value) {
        writeln!(self.writer, "{request}").unwrap();
    }

    fn next(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    fn call(&mut self, request: Value) -> Value {
        self.send(request);
        self.next()
    }

    /// Whether the server closed the connection (nothing more to read).
    fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(self.reader.read_line(&mut line), Ok(0))
    }
}

#[test]
fn the_sim_link_protocol_by_hand() {
    let sim = Sim::start(&["--terminals", "2"]);
    let mut c = RawClient::connect(&sim.addr);
    let token = sim.connect.split_once('@').unwrap().0;
    let hello = c.call(json!({"op": "hello", "version": 1, "token": token}));
    assert_eq!(hello["ok"], true);
    assert_eq!(hello["result"]["protocol"], 1);
    assert_eq!(hello["result"]["terminals"], 2);
    let e = c.call(json!({"op": "hello", "version": 2}));
    assert_eq!(e["error"]["code"], "unsupported-version");
    let e = c.call(json!({"op": "fly"}));
    assert_eq!(e["error"]["code"], "bad-request");
    let e = c.call(json!({"op": "write", "data": "00"}));
    assert_eq!(e["error"]["code"], "not-connected");
    let e = c.call(json!({"op": "connect", "id": "F0:00:00:00:00:09"}));
    assert_eq!(e["error"]["code"], "not-found");
    // The acquirer's refusals are its API's answers, carried as a successful reply.
    let e = c.call(json!({"op": "acquirer", "body": {"op": "cards", "merchant_no": "M1"}}));
    assert_eq!(e["ok"], true);
    assert_eq!(e["result"]["body"]["error"]["code"], "invalid");

    // Scan: every terminal at once, as advertising reports.
    let mut s = RawClient::open(&sim);
    assert_eq!(s.call(json!({"op": "scan"}))["ok"], true);
    let adv = s.next();
    assert_eq!(adv["ev"], "adv");
    assert_eq!(adv["services"][0], "7a6d0001-5f3c-4c1e-9b1a-706f736d6174");
    assert!(adv["manufacturer_data"]["65535"]
        .as_str()
        .unwrap()
        .starts_with("504d"));

    // Connect with a small MTU; a too-long write cuts the link.
    let mut l = RawClient::open(&sim);
    let r = l.call(json!({"op": "connect", "id": "F0:00:00:00:00:02", "mtu": 23}));
    assert_eq!(r["result"]["mtu"], 23);
    let busy = c.call(json!({"op": "connect", "id": "F0:00:00:00:00:02"}));
    assert_eq!(busy["error"]["code"], "connect-failed");
    l.send(json!({"op": "write", "data": "00".repeat(21)}));
    let down = l.next();
    assert_eq!(down["ev"], "disconnected");
    assert_eq!(down["reason"], "link-lost");

    // Disconnecting politely.
    let mut l = RawClient::open(&sim);
    assert_eq!(
        l.call(json!({"op": "connect", "id": "F0:00:00:00:00:02"}))["ok"],
        true
    );
    l.send(json!({"op": "disconnect"}));
    assert_eq!(l.next()["reason"], "local-request");
}

/// Without --json the sim prints readable lines: the address first, then what the
/// terminals' screens show — the pairing code the merchant types.
#[test]
fn the_readable_sim_output_shows_the_pairing_code() {
    let mut child = std::process::Command::new(crate::common::bin())
        .args(["sim", "--listen", "127.0.0.1:0", "--terminals", "1"])
        .env_remove("POSMATE_SIM")
        .env_remove("POSMATE_SIM_ADDR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("posmate sim listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let dir = DataDir::new();
    let mut pair = dir
        .posmate_std()
        .args(["--connect-sim", &addr, "pair"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = loop {
        let line = lines.next().expect("the sim keeps printing").unwrap();
        if let Some(code) = line.strip_prefix("SN2026000001 screen: pairing code ") {
            break code.to_owned();
        }
    };
    writeln!(pair.stdin.take().unwrap(), "{code}").unwrap();
    let out = pair.wait_with_output().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("paired with SN2026000001"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Enter the 6-digit code terminal SN2026000001 shows"),
        "{stderr}"
    );
}

/// The core's acquirer gateway, unchanged, reaches the sim's simulated acquirer through the
/// sim link (`TcpTransport` as its `Exchange`).
#[test]
fn the_acquirer_gateway_works_over_the_sim_link() {
    use posmate_core::acquirer::{AcquirerError, Gateway, RemoteGateway};
    use posmate_sim_world::link::TcpTransport;

    let sim = Sim::start(&["--terminals", "1"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let gateway = RemoteGateway::new(TcpTransport::open(&sim.addr).await.unwrap());
        let err = gateway.cards("123456789012345").await.unwrap_err();
        assert!(matches!(err, AcquirerError::UnknownMerchant), "{err:?}");
        let err = gateway.cards("M1").await.unwrap_err();
        assert!(matches!(err, AcquirerError::Invalid { .. }), "{err:?}");
    });
    drop(sim);
    // With the sim gone the acquirer is unreachable, which flows treat as retryable.
    runtime.block_on(async {
        let sim = Sim::start(&["--terminals", "1"]);
        let transport = TcpTransport::open(&sim.addr).await.unwrap();
        sim.kill();
        let gateway = RemoteGateway::new(transport);
        let err = gateway.cards("123456789012345").await.unwrap_err();
        assert!(matches!(err, AcquirerError::Unreachable { .. }), "{err:?}");
    });
}

/// Only who holds the run's token drives the sim: not another local user (who cannot read
/// the token file), not a web page (whose browser sends an HTTP request line first).
#[test]
fn the_sim_link_lets_in_only_who_holds_the_token() {
    let sim = Sim::start(&["--terminals", "1"]);
    let token = sim.connect.split_once('@').unwrap().0.to_owned();
    assert_eq!(token.len(), 32);

    // A request before the hello, a hello with a wrong or no token: refused, then closed.
    for first in [
        json!({"op": "scan"}),
        json!({"op": "screen", "sn": "SN2026000001"}),
        json!({"op": "hello", "version": 1, "token": "0".repeat(32)}),
        json!({"op": "hello", "version": 1}),
    ] {
        let mut c = RawClient::connect(&sim.addr);
        let e = c.call(first.clone());
        assert_eq!(e["error"]["code"], "unauthorized", "{first}: {e}");
        assert!(c.closed(), "{first}: the connection is closed");
    }
    // A browser's request to the port: one line of HTTP, answered and closed.
    let mut c = RawClient::connect(&sim.addr);
    write!(
        c.writer,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n{{\"op\":\"scan\"}}\n"
    )
    .unwrap();
    assert_eq!(c.next()["error"]["code"], "bad-request");
    assert!(c.closed());
    // Let in, the first line that is not a request still ends the connection.
    let mut c = RawClient::open(&sim);
    writeln!(c.writer, "[1, 2]").unwrap();
    assert_eq!(c.next()["error"]["code"], "bad-request");
    assert!(c.closed());

    // The CLI with a wrong token: a typed refusal naming no token.
    let dir = DataDir::new();
    let wrong = format!("{}@{}", "f".repeat(32), sim.addr);
    let e = run_json_as(
        dir.posmate().args(["--connect-sim", &wrong, "scan"]),
        9,
        "error",
    );
    assert_eq!(e["error"]["code"], "sim-unauthorized", "{e}");
    assert!(!e.to_string().contains(&"f".repeat(32)), "{e}");
    // Another user: no token file of theirs names this port, so the sim refuses them.
    let other_home = tempfile::tempdir().unwrap();
    let e = run_json_as(
        dir.posmate()
            .env("HOME", other_home.path())
            .env("XDG_RUNTIME_DIR", other_home.path())
            .args(["--connect-sim", &sim.addr, "scan"]),
        9,
        "error",
    );
    assert_eq!(e["error"]["code"], "sim-unauthorized", "{e}");
    // A remote address needs the token written out.
    let e = run_json_as(
        dir.posmate()
            .args(["--connect-sim", "192.0.2.7:7878", "scan"]),
        9,
        "error",
    );
    assert_eq!(e["error"]["code"], "sim-no-token", "{e}");
    // This user, on this machine: the address alone finds the token; with it, anywhere.
    for addr in [&sim.addr, &sim.connect] {
        let scan = run_json(
            dir.posmate().args(["--connect-sim", addr, "scan"]),
            0,
            "scan",
        );
        assert_eq!(scan["terminals"].as_array().unwrap().len(), 1);
    }
}
