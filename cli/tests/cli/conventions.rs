//! What every command shares: usage errors, help with examples, completions, the
//! real-Bluetooth default and its error, exit codes.

use predicates::prelude::*;
use serde_json::Value;

use crate::common::{bare, check_schema, json_of, run_json, run_json_as, DataDir};

const COMMANDS: [&str; 49] = [
    "scan",
    "pair",
    "info",
    "doctor",
    "sim",
    "completions",
    "demo",
    "activate",
    "cards",
    "cards list",
    "cards bind",
    "cards unbind",
    "records",
    "records sync",
    "records list",
    "records export",
    "settle",
    "decommission",
    "replace",
    "dormancy",
    "wipe-phone",
    "backup create",
    "backup verify",
    "backup restore",
    "audit show",
    "audit verify",
    "audit export",
    "flows",
    "flows resume",
    "fleet",
    "fleet activate",
    "fleet status",
    "config",
    "config show",
    "config set",
    "config unset",
    "config profiles",
    "config path",
    "support",
    "support bundle",
    "acquirer",
    "acquirer serve",
    "acquirer admin",
    "acquirer admin reviews",
    "acquirer admin approve",
    "acquirer admin reject",
    "acquirer admin advance",
    "acquirer admin merchant",
    "acquirer admin terminal",
];
const SIM_ACTIONS: [&str; 10] = [
    "terminals",
    "screen",
    "ring-up",
    "present-card",
    "drop",
    "set",
    "fault",
    "link",
    "acquirer",
    "advance",
];

#[test]
fn every_command_has_help_with_examples() {
    bare()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:").and(predicate::str::contains("Exit codes")));
    for command in COMMANDS {
        bare()
            .args(command.split(' '))
            .arg("--help")
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"));
    }
    for action in SIM_ACTIONS {
        bare()
            .args(["sim", action, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"));
    }
}

#[test]
fn bad_arguments_are_usage_errors_with_a_hint() {
    let cases: [&[&str]; 16] = [
        &["scan", "--bogus"],
        &["pair", "--sn", "A", "--id", "B"],
        &["sim", "ring-up", "--sn", "X", "--amount", "1.234"],
        &["scan", "--timeout", "soon"],
        &["--keystore", "vault", "scan"],
        &["--sim", "--connect-sim", "127.0.0.1:1", "scan"],
        // The activation's details are required; the code is never an argument.
        &["activate", "SN2026000001", "--terminal-no", "10020301"],
        &["activate", "SN1", "--activation-code", "ACT07001"],
        &["activate", "--status", "SN1", "--terminal-no", "1"],
        &["cards", "bind", "--holder", "X"],
        &["cards", "bind", "--manual", "--holder", "X"],
        &["cards", "bind", "--manual", "--pan", "6222021234567890128"],
        &["records", "list", "--from", "yesterday"],
        &["records", "list", "--limit", "0"],
        &["decommission", "SN1", "--backup", "b.age"],
        &["--backup-work-factor", "4", "demo"],
    ];
    for args in cases {
        bare()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error:").and(predicate::str::contains("--help")));
    }
    bare().arg("sacn").assert().code(2).stderr(
        predicate::str::contains("tip: some similar subcommands exist: 'scan'")
            .or(predicate::str::contains("similar").and(predicate::str::contains("scan"))),
    );
    // No command: the help, as a usage error.
    bare()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage:"));
}

#[test]
fn from_screen_needs_a_simulation() {
    let dir = DataDir::new();
    let out = dir
        .posmate()
        .args(["--json", "pair", "--from-screen"])
        .output()
        .unwrap();
    // Real Bluetooth comes first; where it exists, the option itself is refused.
    let v = json_of(&out.stdout);
    check_schema("error", &v);
    let code = v["error"]["code"].as_str().unwrap();
    assert!(
        (out.status.code() == Some(5) && code == "bluetooth-unavailable")
            || (out.status.code() == Some(2) && code == "usage"),
        "{v:#}"
    );
}

#[test]
fn completions_for_the_common_shells() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef posmate"),
        ("fish", "complete -c posmate"),
    ] {
        bare()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker).and(predicate::str::contains("connect-sim")));
    }
    let v = run_json(
        &mut {
            let mut c = bare();
            c.args(["completions", "bash"]);
            c
        },
        0,
        "completions",
    );
    assert_eq!(v["shell"], "bash");
}

/// Real Bluetooth is the default. Where the machine has none (CI, containers), every
/// command says what is missing and suggests the simulation; where it has some, scanning
/// works.
#[test]
fn real_bluetooth_is_the_default_and_its_absence_is_explained() {
    let dir = DataDir::new();
    let out = dir
        .posmate()
        .args(["scan", "--timeout", "1s"])
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => {}
        Some(5) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("Bluetooth is unavailable"), "{stderr}");
            assert!(stderr.contains("to fix:"), "{stderr}");
            assert!(stderr.contains("--sim"), "{stderr}");
            let v = run_json(dir.posmate().args(["scan", "--timeout", "1s"]), 5, "scan");
            assert_eq!(v["error"]["code"], "bluetooth-unavailable");
            assert_eq!(v["error"]["exit"], 5);
        }
        other => panic!(
            "scan exited {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn doctor_exit_status_follows_its_checks() {
    let dir = DataDir::new();
    let out = dir.posmate().args(["--json", "doctor"]).output().unwrap();
    let v = json_of(&out.stdout);
    check_schema("doctor", &v);
    assert_eq!(v["mode"], "bluetooth");
    let checks = v["checks"].as_array().unwrap();
    let failed: Vec<&Value> = checks.iter().filter(|c| c["status"] == "fail").collect();
    assert_eq!(v["ok"], failed.is_empty());
    match failed.first() {
        None => assert_eq!(out.status.code(), Some(0)),
        Some(first) => {
            assert!(
                first["fix"].is_string(),
                "a failed check says what to do: {first}"
            );
            let expected = if first["name"].as_str().unwrap().starts_with("bluetooth") {
                5
            } else {
                6
            };
            assert_eq!(out.status.code(), Some(expected));
        }
    }
    // Human output lists the same checks.
    dir.posmate()
        .arg("doctor")
        .assert()
        .stdout(predicate::str::contains("keystore").and(predicate::str::contains("data-dir")));
}

#[test]
fn a_broken_data_dir_is_a_storage_error() {
    let dir = DataDir::new();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let mut cmd = bare();
    cmd.arg("--data-dir").arg(&file).args(["--sim", "scan"]);
    let v = run_json(&mut cmd, 6, "scan");
    assert_eq!(v["error"]["exit"], 6);
    let mut doctor = bare();
    doctor
        .arg("--data-dir")
        .arg(&file)
        .args(["--keystore", "mock", "--sim", "doctor"]);
    let v = run_json_as(&mut doctor, 6, "doctor");
    assert_eq!(v["ok"], false);
}

#[test]
fn quiet_and_json_keep_stderr_clean() {
    let dir = DataDir::new();
    let out = dir
        .posmate()
        .args(["--sim", "--json", "pair"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dir
        .posmate()
        .args(["--sim", "-q", "info"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SN2026000001"));
}

/// Counts read as people write them ("1 keystore entry", "2 keystore entries"): no message
/// of the CLI, the core, the simulated world or the app shells hedges with "entr(ies)" or
/// "record(s)"; they use `posmate_core::plural::count` (the Android screens `counted`).
#[test]
fn no_message_hedges_its_plural() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut hedged = Vec::new();
    let mut files = 0;
    let sources = [
        "cli/src",
        "core/src",
        "sim/src",
        "sim-world/src",
        "android",
        "ios/Sources",
    ];
    for crate_dir in sources {
        let mut dirs = vec![root.join(crate_dir)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                let name = entry.file_name();
                if path.is_dir() {
                    if name != "build" && name != ".build" {
                        dirs.push(path);
                    }
                    continue;
                }
                let source = path
                    .extension()
                    .is_some_and(|e| e == "rs" || e == "kt" || e == "swift");
                if !source {
                    continue;
                }
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let code = line.trim_start();
                    if code.starts_with("//") || !code.contains('"') {
                        continue;
                    }
                    // The text inside string literals: every other piece between quotes.
                    let hedge = code.split('"').skip(1).step_by(2).any(|text| {
                        ["(s)", "(es)", "(ies)"].iter().any(|h| {
                            text.match_indices(h).any(|(i, _)| {
                                text[..i].chars().last().is_some_and(char::is_alphabetic)
                            })
                        })
                    });
                    if hedge {
                        hedged.push(format!("{}:{}: {}", path.display(), n + 1, code));
                    }
                }
            }
        }
    }
    assert!(files > 50, "the sources were found ({files} files)");
    assert!(hedged.is_empty(), "hedged plurals:\n{}", hedged.join("\n"));
}

/// A flow draws a progress bar with the time left on a terminal's stderr. The sync runs
/// under `script` (util-linux: stderr is a pseudo-terminal) against a sim whose link is
/// slow enough that the bar is drawn between pages.
#[test]
fn flows_draw_a_bar_with_the_time_left_on_a_terminal() {
    let dir = DataDir::new();
    let sim = crate::common::Sim::start(&["--terminals", "1", "--latency-ms", "15"]);
    // A volatile keystore holds a new database: consent given explicitly.
    let phone = || {
        let mut cmd = sim.posmate(&dir);
        cmd.arg("--allow-volatile-key");
        cmd
    };
    run_json(phone().args(["pair", "--from-screen"]), 0, "pair");
    run_json(
        phone()
            .args(crate::common::activate_args(1))
            .write_stdin(crate::common::activation_code(1)),
        0,
        "activate",
    );
    let ring_up = [
        "sim",
        "ring-up",
        "--sn",
        "SN2026000001",
        "--amount",
        "1",
        "--count",
        "3000",
    ];
    run_json(phone().args(ring_up), 0, "sim-ring-up");
    let posmate = crate::common::bin();
    let command = format!(
        "'{}' --data-dir '{}' --keystore keyutils --allow-volatile-key --connect-sim {} \
         records sync",
        posmate.display(),
        dir.path().display(),
        sim.addr
    );
    let mut script = std::process::Command::new("script");
    for var in crate::common::POSMATE_ENV {
        script.env_remove(var);
    }
    let out = script
        .env("XDG_CONFIG_HOME", crate::common::NO_CONFIG_HOME)
        .args(["-qfec", &command, "/dev/null"])
        .output()
        .expect("util-linux `script` runs (Debian: bsdutils)");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("3000 new records"), "{screen}");
    assert!(
        screen.contains("sync [") && screen.contains(" left)"),
        "no bar with the time left:\n{screen}"
    );
}
