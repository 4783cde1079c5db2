//! Every command against the simulation embedded in the binary (`--sim`).

use predicates::prelude::*;
use serde_json::Value;

use crate::common::{check_schema, json_of, run_json, DataDir};

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
    assert_eq!(
        check("keystore")["status"],
        "warn",
        "keyutils is not durable"
    );
    assert!(check("keystore")["detail"]
        .as_str()
        .unwrap()
        .contains("not durable"));
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
