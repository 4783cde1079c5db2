//! Every command against the simulation embedded in the binary (`--sim`).

use predicates::prelude::*;
use serde_json::Value;

use crate::common::{check_schema, json_of, run_json, run_json_as, DataDir};

#[test]
fn scan_lists_the_simulated_terminals_strongest_first() {
    let dir = DataDir::new();
    let v = run_json(dir.posmate().args(["--sim", "scan"]), 0, "scan");
    assert_eq!(v["transport"], "sim");
    let names: Vec<&str> = v["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["local_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["POSMATE-000001", "POSMATE-000002", "POSMATE-000003"]
    );
    assert_eq!(v["terminals"][0]["rssi"], -50);
    assert_eq!(v["terminals"][0]["lifecycle"], "factory");

    let filtered = run_json(
        dir.posmate().args(["--sim", "scan", "--sn", "000002"]),
        0,
        "scan",
    );
    assert_eq!(filtered["terminals"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["terminals"][0]["sn_suffix"], "26000002");

    dir.posmate()
        .args(["--sim", "scan"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ID").and(predicate::str::contains("POSMATE-000003")));
}

#[test]
fn pair_then_info_in_separate_processes() {
    let dir = DataDir::new();
    let paired = run_json(dir.posmate().args(["--sim", "pair"]), 0, "pair");
    assert_eq!(paired["sn"], "SN2026000001");
    assert_eq!(paired["keystore"], "linux-keyutils");
    assert_eq!(paired["keystore_durable"], false);
    // The simulated terminals' flash is kept in the data directory …
    let state = std::fs::read_to_string(dir.path().join("sim/world.json")).unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(
        state["terminals"][0]["nvm"]["paired_phones"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // … and the phone's keys in the keystore: a new process resumes without a code.
    let info = run_json(dir.posmate().args(["--sim", "info"]), 0, "info");
    assert_eq!(info["sn"], "SN2026000001");
    assert_eq!(info["id"], paired["id"]);
    assert_eq!(info["lifecycle"], "factory");
    assert_eq!(info["journal_head"], 0);
    dir.posmate()
        .args(["--sim", "info", "--sn", "SN2026000001"])
        .assert()
        .success()
        .stdout(predicate::str::contains("model        PM-100"));
}

#[test]
fn info_finds_the_paired_terminal_among_others() {
    let dir = DataDir::new();
    run_json(
        dir.posmate().args(["--sim", "pair", "--sn", "000003"]),
        0,
        "pair",
    );
    // Without --sn, info tries the terminals in range (strongest first) until one knows us.
    let info = run_json(dir.posmate().args(["--sim", "info"]), 0, "info");
    assert_eq!(info["sn"], "SN2026000003");
}

#[test]
fn info_before_pairing_is_refused() {
    let dir = DataDir::new();
    let err = run_json(dir.posmate().args(["--sim", "info"]), 4, "info");
    assert_eq!(err["error"]["code"], "not-paired");
    assert_eq!(err["error"]["exit"], 4);
    assert!(err["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("posmate pair"));
}

#[test]
fn a_wrong_code_pins_nothing_and_a_right_one_pairs() {
    let dir = DataDir::new();
    // A code on the command line is refused before anything happens: `ps` and the shell's
    // history would keep it.
    let out = dir
        .posmate()
        .args(["--sim", "pair", "--code", "123456"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--code'"));
    assert!(!dir.path().join("posmate.db").exists());
    // The terminal draws a random code; 000000 is wrong but for a one-in-a-million chance.
    let err = run_json(
        dir.posmate()
            .args(["--sim", "pair", "--sn", "000002", "--type-code"])
            .write_stdin("000000\n"),
        4,
        "pair",
    );
    assert_eq!(err["error"]["code"], "wrong-code");
    let err = run_json(
        dir.posmate()
            .args(["--sim", "pair", "--sn", "000002", "--type-code"])
            .write_stdin("12ab\n"),
        4,
        "pair",
    );
    assert_eq!(err["error"]["code"], "bad-code");
    // Nothing was pinned, and the terminal counted the one wrong attempt.
    let err = run_json(
        dir.posmate().args(["--sim", "info", "--sn", "000002"]),
        4,
        "info",
    );
    assert_eq!(err["error"]["code"], "not-paired");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sim/world.json")).unwrap())
            .unwrap();
    assert_eq!(state["terminals"][1]["nvm"]["lockout"]["failures"], 1);
    run_json(
        dir.posmate().args(["--sim", "pair", "--sn", "000002"]),
        0,
        "pair",
    );
    run_json(
        dir.posmate().args(["--sim", "info", "--sn", "000002"]),
        0,
        "info",
    );
}

#[test]
fn the_mock_keystore_forgets_the_phone_at_exit() {
    let dir = DataDir::new();
    let mut pair = dir.with_keystore("mock");
    pair.args(["--sim", "pair"]);
    let paired = run_json(&mut pair, 0, "pair");
    assert_eq!(paired["keystore"], "mock");
    let mut info = dir.with_keystore("mock");
    info.args(["--sim", "info"]);
    let err = run_json(&mut info, 4, "info");
    assert_eq!(err["error"]["code"], "not-paired");
}

#[test]
fn doctor_in_simulation_passes_and_says_where_the_terminals_live() {
    let dir = DataDir::new();
    let v = run_json(dir.posmate().args(["--sim", "doctor"]), 0, "doctor");
    assert_eq!(v["mode"], "sim");
    assert_eq!(v["ok"], true);
    let checks = v["checks"].as_array().unwrap();
    let check = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {v:#}"))
    };
    // keyutils is not durable: accepted on this call, so a warning.
    let keystore = check("keystore");
    assert_eq!(keystore["status"], "warn", "{keystore}");
    assert_eq!(keystore["backend"], "linux-keyutils");
    assert_eq!(keystore["durable"], false);
    assert!(keystore["detail"]
        .as_str()
        .unwrap()
        .contains("NOT durable, accepted by --allow-volatile-key on this call"));
    assert_eq!(check("data-dir")["status"], "ok");
    assert_eq!(check("sim")["status"], "ok");
    assert!(check("sim")["detail"]
        .as_str()
        .unwrap()
        .contains("3 simulated terminals"));
    // No Bluetooth check fails in simulation: they warn at most.
    assert!(checks
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("bluetooth"))
        .all(|c| c["status"] != "fail"));
}

#[test]
fn sim_actions_that_need_a_live_sim_refuse_the_embedded_one() {
    let dir = DataDir::new();
    let v = run_json(
        dir.posmate().args(["--sim", "sim", "terminals"]),
        0,
        "sim-terminals",
    );
    assert_eq!(v["terminals"].as_array().unwrap().len(), 3);
    dir.posmate()
        .args([
            "--sim",
            "sim",
            "present-card",
            "--sn",
            "SN2026000001",
            "--pan",
            "6222021234567890128",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("running `posmate sim`"))
        .stderr(predicate::str::contains("hint:"));
}

#[test]
fn posmate_sim_env_selects_the_simulation() {
    let dir = DataDir::new();
    let out = dir
        .posmate()
        .env("POSMATE_SIM", "1")
        .args(["--json", "scan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out.stdout);
    check_schema("scan", &v);
    assert_eq!(v["transport"], "sim");
    // The command line beats the environment.
    let v = run_json(
        dir.posmate()
            .env("POSMATE_SIM_ADDR", "127.0.0.1:1")
            .args(["--sim", "scan"]),
        0,
        "scan",
    );
    assert_eq!(v["transport"], "sim");
    let err = run_json(
        dir.posmate()
            .env("POSMATE_SIM", "1")
            .args(["--connect-sim", "127.0.0.1:1", "scan"]),
        5,
        "scan",
    );
    assert_eq!(err["error"]["code"], "sim-unreachable");
    // POSMATE_SIM=0 means real Bluetooth.
    let out = dir
        .posmate()
        .env("POSMATE_SIM", "0")
        .args(["--json", "scan", "--timeout", "1s"])
        .output()
        .unwrap();
    if out.status.code() == Some(0) {
        assert_eq!(json_of(&out.stdout)["transport"], "bluetooth");
    } else {
        assert_eq!(out.status.code(), Some(5));
    }
}

#[test]
fn a_volatile_keystore_holds_the_database_key_only_with_recorded_consent() {
    let dir = DataDir::new();
    // --sim implies nothing: without consent the phone is refused and nothing is created.
    let err = run_json(
        dir.without_consent("keyutils").args(["--sim", "pair"]),
        6,
        "error",
    );
    assert_eq!(err["error"]["code"], "keystore-not-durable");
    assert!(err["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("--allow-volatile-key"));
    assert!(!dir.path().join("posmate.db").exists());
    assert!(!dir.path().join("sim/world.json").exists());
    assert!(!dir.path().join("keystore-volatile-consent").exists());
    let doctor = run_json_as(
        dir.without_consent("keyutils").args(["--sim", "doctor"]),
        6,
        "doctor",
    );
    let keystore = keystore_check(&doctor);
    assert_eq!(keystore["status"], "fail", "{keystore}");
    assert!(keystore["fix"]
        .as_str()
        .unwrap()
        .contains("--allow-volatile-key"));

    // Accepted once, on the call that creates the database: recorded with the backend.
    let paired = run_json(
        dir.without_consent("keyutils")
            .args(["--allow-volatile-key", "--sim", "pair"]),
        0,
        "pair",
    );
    assert_eq!(paired["keystore_durable"], false);
    let record: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("keystore-volatile-consent")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["backend"], "linux-keyutils");

    // Later calls need no flag (the database opens); doctor says who accepted what, and
    // when.
    let audit = run_json(
        dir.without_consent("keyutils")
            .args(["--sim", "audit", "verify"]),
        0,
        "audit-verify",
    );
    assert!(audit["entries"].as_u64().unwrap() >= 1, "{audit}");
    let doctor = run_json(
        dir.without_consent("keyutils").args(["--sim", "doctor"]),
        0,
        "doctor",
    );
    let keystore = keystore_check(&doctor);
    assert_eq!(keystore["status"], "warn", "{keystore}");
    let accepted = keystore["volatile_key_accepted_at"].as_str().unwrap();
    assert!(keystore["detail"].as_str().unwrap().contains(&format!(
        "linux-keyutils, NOT durable, volatile key accepted by the user on {accepted} UTC"
    )));

    // The consent names its backend: another volatile store is asked about anew.
    let err = run_json(
        dir.without_consent("mock")
            .args(["--sim", "audit", "verify"]),
        6,
        "error",
    );
    assert_eq!(err["error"]["code"], "keystore-not-durable");
}

fn keystore_check(doctor: &Value) -> Value {
    doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "keystore")
        .cloned()
        .unwrap_or_else(|| panic!("no keystore check in {doctor:#}"))
}

#[test]
fn without_a_secret_service_the_os_keystore_fails_typed_and_falls_back_to_nothing() {
    let dir = DataDir::new();
    let dead = format!("unix:path={}", dir.path().join("no-bus").display());
    for args in [
        &["--sim", "pair"][..],
        &["--sim", "info"],
        &["--sim", "audit", "verify"],
    ] {
        let mut cmd = dir.without_consent("os");
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &dead).args(args);
        let err = run_json(&mut cmd, 6, "error");
        assert_eq!(err["error"]["code"], "keystore.unavailable", "{args:?}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message
                .starts_with("the secret-service keystore is unavailable: the D-Bus session bus")
                && message.contains("does not answer")
                && message.contains("gnome-keyring-daemon")
                && message.contains("--keystore keyutils --allow-volatile-key"),
            "{message}"
        );
    }
    assert!(!dir.path().join("posmate.db").exists());
    let mut doctor = dir.without_consent("os");
    doctor
        .env("DBUS_SESSION_BUS_ADDRESS", &dead)
        .args(["--sim", "doctor"]);
    let v = run_json_as(&mut doctor, 6, "doctor");
    let keystore = keystore_check(&v);
    assert_eq!(keystore["status"], "fail", "{keystore}");
    assert!(keystore["detail"]
        .as_str()
        .unwrap()
        .ends_with("does not answer"));
    assert!(keystore["fix"]
        .as_str()
        .unwrap()
        .starts_with("start a Secret Service such as gnome-keyring-daemon"));
}
