//! `posmate fleet activate` on 50 simulated terminals hosted by a separate `posmate sim`,
//! with five bad rows (a malformed SN, a wrong activation code, a terminal the acquirer
//! knows under another merchant, a row listed twice, a terminal that loses its link as its
//! keys are installed): SIGKILLed once 20 terminals are active, run again, and run a third
//! time — 45 activated, 5 reported with their reasons, and the acquirer's books show every
//! good terminal activated by exactly one application.

use std::io::Write;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{check_schema, json_of, run_json, DataDir, Sim, MERCHANT_NAME, MERCHANT_NO};

const TERMINALS: usize = 50;
/// Its code is wrong in the codes given.
const WRONG_CODE: usize = 46;
/// Its numbers go on a row with a malformed SN; it is never reached.
const MALFORMED: usize = 47;
/// Another phone applied for it under the second merchant first.
const OTHER_MERCHANT: usize = 48;
/// It loses its link whenever its keys are being installed.
const DROPS: usize = 49;
/// Listed twice.
const TWICE: usize = 10;
/// The simulated acquirer's second merchant (its reviews wait for two polls).
const REVIEW_MERCHANT_NO: &str = "898310148160020";
const REVIEW_MERCHANT_NAME: &str = "Li Si Tea House";

fn sn(n: usize) -> String {
    format!("SN2026{n:06}")
}

fn terminal_no(n: usize) -> String {
    format!("1002{:04}", 300 + n)
}

/// A CSV row for terminal `n` under the demo merchant; the address has a comma and UTF-8.
fn row(sn: &str, n: usize) -> String {
    format!(
        "{sn},{},{MERCHANT_NO},{MERCHANT_NAME},+86 138 0000 {n:04},\"{n} 文化路, Hangzhou\"\n",
        terminal_no(n)
    )
}

/// The 50 rows: terminals 1–45, with the five bad rows spread among them. Returns the CSV
/// and the line of each bad row.
fn fleet_csv() -> (String, [(u64, &'static str); 5]) {
    let mut csv = String::from("sn,terminal_no,merchant_no,merchant_name,phone,address\n");
    let mut line = 1u64;
    let mut bad = [(0u64, ""); 5];
    let mut push = |csv: &mut String, text: String| {
        csv.push_str(&text);
        line += 1;
        line
    };
    for n in 1..=45 {
        push(&mut csv, row(&sn(n), n));
        match n {
            5 => bad[0] = (push(&mut csv, row("SN2026_000047", MALFORMED)), "malformed"),
            15 => {
                bad[1] = (
                    push(&mut csv, row(&sn(WRONG_CODE), WRONG_CODE)),
                    "wrong-code",
                )
            }
            25 => {
                bad[2] = (
                    push(&mut csv, row(&sn(OTHER_MERCHANT), OTHER_MERCHANT)),
                    "other-merchant",
                )
            }
            35 => bad[3] = (push(&mut csv, row(&sn(TWICE), TWICE)), "duplicate"),
            40 => bad[4] = (push(&mut csv, row(&sn(DROPS), DROPS)), "drops"),
            _ => {}
        }
    }
    (csv, bad)
}

/// The codes: right for every listed terminal but one.
fn codes() -> String {
    let mut codes = String::from("sn,code\n");
    for n in (1..=45).chain([WRONG_CODE, OTHER_MERCHANT, DROPS]) {
        let code = if n == WRONG_CODE { 9999 } else { 7000 + n };
        codes.push_str(&format!("{} ACT{code:05}\n", sn(n)));
    }
    codes
}

/// The simulated acquirer's registrations: (state, applications) of each terminal.
fn books_of(sim: &Sim, dir: &DataDir) -> Vec<(String, u64)> {
    let v = run_json(
        sim.posmate(dir).args(["sim", "acquirer"]),
        0,
        "sim-acquirer",
    );
    v["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["state"].as_str().unwrap().to_owned(),
                t["applications"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `posmate --json fleet activate [EXTRA] --csv CSV` for `dir` on `sim`, the codes on
/// stdin, as a child.
fn spawn_fleet(
    dir: &DataDir,
    sim: &Sim,
    csv: &std::path::Path,
    extra: &[&str],
) -> std::process::Child {
    let mut cmd: StdCommand = dir.posmate_std();
    cmd.args(["--connect-sim", &sim.addr, "--allow-volatile-key", "--json"])
        .args(["fleet", "activate"])
        .args(extra)
        .arg("--csv")
        .arg(csv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("posmate starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(codes().as_bytes())
        .unwrap();
    child
}

/// Runs the fleet to its end; returns its report (checked against the schema) after
/// checking the exit status is 10 (some rows failed).
fn finish_fleet(dir: &DataDir, sim: &Sim, csv: &std::path::Path, extra: &[&str]) -> Value {
    let out = spawn_fleet(dir, sim, csv, extra)
        .wait_with_output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(10),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out.stdout);
    check_schema("fleet-activate", &report);
    report
}

#[test]
fn a_fleet_of_fifty_with_five_bad_rows_survives_a_sigkill_and_activates_each_terminal_once() {
    let started = Instant::now();
    let sim = Sim::start(&["--terminals", &TERMINALS.to_string()]);
    // Terminal 48 is the tea house's: another phone applied for it first (under review).
    let other = DataDir::new();
    run_json(
        sim.posmate(&other).args([
            "--allow-volatile-key",
            "pair",
            "--sn",
            &sn(OTHER_MERCHANT),
            "--from-screen",
        ]),
        0,
        "pair",
    );
    let pending = run_json(
        sim.posmate(&other)
            .args([
                "--allow-volatile-key",
                "activate",
                &sn(OTHER_MERCHANT),
                "--terminal-no",
                &terminal_no(OTHER_MERCHANT),
                "--merchant-no",
                REVIEW_MERCHANT_NO,
                "--merchant-name",
                REVIEW_MERCHANT_NAME,
                "--phone",
                "+86 139 0000 0000",
                "--address",
                "3 Hefang Street, Hangzhou",
            ])
            .write_stdin(format!("ACT{:05}\n", 7000 + OTHER_MERCHANT)),
        0,
        "activate",
    );
    assert_eq!(pending["result"], "pending");
    let dir = DataDir::new();
    run_json(
        sim.posmate(&dir).args([
            "sim",
            "fault",
            "--sn",
            &sn(DROPS),
            "--drop-on",
            "install-keys",
        ]),
        0,
        "sim-fault",
    );
    let (csv, bad) = fleet_csv();
    let csv_path = dir.path().join("shops.csv");
    std::fs::write(&csv_path, &csv).unwrap();

    // Run 1, SIGKILLed once the acquirer has 20 of the fleet's terminals active.
    let mut child = spawn_fleet(&dir, &sim, &csv_path, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let active = books_of(&sim, &dir)
            .iter()
            .filter(|(s, _)| s == "active")
            .count();
        if active >= 20 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the first run ended ({status}) before it could be killed at 20 active");
        }
        assert!(Instant::now() < deadline, "only {active} active after 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let at_kill = books_of(&sim, &dir);
    let active_at_kill = at_kill.iter().filter(|(s, _)| s == "active").count();
    assert!(active_at_kill < 45, "the kill landed after the whole run");

    // Run 2 goes on where run 1 stood.
    let report = finish_fleet(&dir, &sim, &csv_path, &[]);
    assert_eq!(report["totals"]["rows"], 50);
    assert_eq!(report["totals"]["activated"], 45, "{report:#}");
    assert_eq!(report["totals"]["failed"], 5, "{report:#}");
    let rows = report["rows"].as_array().unwrap();
    let by_line = |line: u64| rows.iter().find(|r| r["line"] == line).unwrap();
    let expect = |line: u64, result: &str, code: &str| {
        let r = by_line(line);
        assert_eq!(
            (r["result"].as_str(), r["code"].as_str()),
            (Some(result), Some(code)),
            "{r:#}"
        );
        assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty()), "{r:#}");
        assert!(
            r["next_step"].as_str().is_some_and(|s| !s.is_empty()),
            "{r:#}"
        );
        r.clone()
    };
    let malformed = expect(bad[0].0, "invalid", "invalid-input");
    assert!(malformed["reason"].as_str().unwrap().starts_with("SN:"));
    assert_eq!(malformed["attempts"], 0, "nothing was sent for it");
    expect(bad[1].0, "failed", "wrong-activation-code");
    expect(bad[2].0, "failed", "owned-by-another-merchant");
    let twice = expect(bad[3].0, "duplicate", "duplicate");
    assert!(twice["reason"].as_str().unwrap().contains("also on line"));
    let drops = by_line(bad[4].0);
    assert_eq!(drops["result"], "failed", "{drops:#}");
    assert!(
        drops["next_step"]
            .as_str()
            .unwrap()
            .contains("install-keys"),
        "the lost link leaves the activation saved at install-keys: {drops:#}"
    );
    let resumed_from_journal = rows
        .iter()
        .filter(|r| r["result"] == "activated" && r["from_journal"] == true)
        .count();
    assert!(
        resumed_from_journal >= 19,
        "run 2 should skip what run 1 finished, but took only {resumed_from_journal} rows from the journal"
    );
    assert!(
        rows.iter().all(|r| r["attempts"].as_u64().unwrap() <= 2),
        "no row was started more than once per run"
    );

    // Run 3: every row is settled in the journal; nothing is sent again.
    let again = finish_fleet(&dir, &sim, &csv_path, &[]);
    assert_eq!(again["totals"], report["totals"]);
    for r in again["rows"].as_array().unwrap() {
        if matches!(r["result"].as_str(), Some("activated" | "failed")) {
            assert_eq!(r["from_journal"], true, "{r:#}");
        }
    }

    // The acquirer's books: each good terminal active after exactly one application.
    let books = books_of(&sim, &dir);
    for n in 1..=45 {
        assert_eq!(books[n - 1], ("active".to_owned(), 1), "terminal {n}");
    }
    assert_eq!(books[WRONG_CODE - 1], ("unknown".to_owned(), 0));
    assert_eq!(books[MALFORMED - 1], ("unknown".to_owned(), 0));
    assert_eq!(
        books[OTHER_MERCHANT - 1],
        ("pending".to_owned(), 1),
        "only the other phone's"
    );
    assert_eq!(
        books[DROPS - 1].1,
        1,
        "its keys were never installed, its application is one"
    );
    assert_eq!(books[TERMINALS - 1], ("unknown".to_owned(), 0));
    // Run 4, the radio repaired: --retry-failed resumes the interrupted activation (no
    // second application) and tries the refused rows again, which are refused again.
    run_json(
        sim.posmate(&dir)
            .args(["sim", "fault", "--sn", &sn(DROPS), "--clear"]),
        0,
        "sim-fault",
    );
    let retried = finish_fleet(&dir, &sim, &csv_path, &["--retry-failed"]);
    assert_eq!(
        retried["totals"]["activated"], 46,
        "{:#}",
        retried["totals"]
    );
    assert_eq!(retried["totals"]["failed"], 4);
    let drops = retried["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line"] == bad[4].0)
        .unwrap()
        .clone();
    assert_eq!(
        (drops["result"].as_str(), drops["from_journal"].as_bool()),
        (Some("activated"), Some(false)),
        "{drops:#}"
    );
    assert_eq!(
        books_of(&sim, &dir)[DROPS - 1],
        ("active".to_owned(), 1),
        "resumed, not applied again"
    );
    let status = run_json(
        sim.posmate(&dir)
            .args(["--allow-volatile-key", "fleet", "status"]),
        0,
        "fleet-status",
    );
    // 45 + the one resumed; the wrong code's and the other merchant's stay paired.
    let totals = &status["totals"];
    assert_eq!(totals["terminals"], 48, "{totals:#}");
    assert_eq!(totals["by_state"]["activated"], 46, "{totals:#}");
    assert_eq!(totals["by_state"]["paired"], 2, "{totals:#}");
    assert_eq!(totals["dormancy_unknown"], 0, "{totals:#}");
    println!(
        "fleet: 50 rows, killed at {active_at_kill} active, {resumed_from_journal} rows taken from \
         the journal by run 2; {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn bad_fleet_input_is_refused_before_anything_is_sent() {
    let dir = DataDir::new();
    let write = |name: &str, text: &str, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let good_csv = write(
        "shops.csv",
        &format!(
            "sn,terminal_no,merchant_no,merchant_name,phone,address\n{}",
            row(&sn(1), 1)
        ),
        0o644,
    );
    let no_column = write(
        "short.csv",
        "sn,terminal_no\nSN2026000001,10020301\n",
        0o644,
    );
    let shared_codes = write("codes.txt", "SN2026000001 ACT07001\n", 0o644);
    let private_codes = write("private.txt", "SN2026000001 ACT07001 extra\n", 0o600);
    // No sim listens there: none of these may get as far as connecting.
    let nowhere = "127.0.0.1:9";
    let fleet = |args: &[&str], stdin: &str| {
        let mut cmd = dir.posmate();
        cmd.args([
            "--connect-sim",
            nowhere,
            "--allow-volatile-key",
            "fleet",
            "activate",
        ])
        .args(args)
        .write_stdin(stdin.to_owned());
        cmd
    };
    let cases: [(Vec<&str>, &str, &str); 5] = [
        (
            vec!["--csv", &no_column],
            "SN2026000001 ACT07001\n",
            "csv-header",
        ),
        (vec!["--csv", &good_csv], "", "needs-input"),
        (
            vec!["--csv", &good_csv],
            "SN2026000001\n",
            "codes-malformed",
        ),
        (
            vec!["--csv", &good_csv, "--codes-file", &shared_codes],
            "",
            "codes-file-permissions",
        ),
        (
            vec!["--csv", &good_csv, "--codes-file", &private_codes],
            "",
            "codes-malformed",
        ),
    ];
    for (args, stdin, code) in cases {
        let err = crate::common::refused(&mut fleet(&args, stdin), 2, code);
        let text = err.to_string();
        assert!(!text.contains("ACT07001"), "a code in an error: {text}");
    }
    // Real Bluetooth types pairing codes on stdin: the activation codes need a file.
    let err = crate::common::refused(
        dir.posmate()
            .args(["fleet", "activate", "--csv", &good_csv])
            .write_stdin("SN2026000001 ACT07001\n"),
        2,
        "usage",
    );
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--codes-file"));
    assert!(
        !dir.path().join("posmate.db").exists(),
        "bad input must not create the phone's database"
    );
}

#[test]
fn fleet_status_shows_each_terminal_its_last_sync_unsettled_records_and_dormancy() {
    let dir = DataDir::new();
    let sim = || {
        let mut cmd = dir.posmate();
        cmd.args(["--sim", "--allow-volatile-key"]);
        cmd
    };
    let empty = run_json(sim().args(["fleet", "status"]), 0, "fleet-status");
    assert_eq!(empty["totals"]["terminals"], 0);
    let csv = dir.path().join("two.csv");
    std::fs::write(
        &csv,
        format!(
            "sn,terminal_no,merchant_no,merchant_name,phone,address\n{}{}",
            row(&sn(1), 1),
            row(&sn(2), 2)
        ),
    )
    .unwrap();
    let report = run_json(
        sim()
            .args(["fleet", "activate", "--csv", csv.to_str().unwrap()])
            .write_stdin("SN2026000001,ACT07001\nSN2026000002,ACT07002\n"),
        0,
        "fleet-activate",
    );
    assert_eq!(report["totals"]["activated"], 2, "{report:#}");
    assert!(report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["paired"] == true));
    sim()
        .args([
            "sim",
            "ring-up",
            "--sn",
            &sn(2),
            "--amount",
            "12.50",
            "--count",
            "3",
        ])
        .assert()
        .success();
    run_json(sim().args(["records", "sync", &sn(2)]), 0, "records-sync");
    sim()
        .args(["sim", "advance", "--days", "80"])
        .assert()
        .success();
    let status = run_json(sim().args(["fleet", "status"]), 0, "fleet-status");
    let terminals = status["terminals"].as_array().unwrap();
    assert_eq!(terminals.len(), 2);
    let (first, second) = (&terminals[0], &terminals[1]);
    assert_eq!(first["last_sync_at_ms"], Value::Null, "never synced");
    assert!(second["last_sync_at_ms"].as_u64().is_some());
    assert_eq!(first["unsettled"]["records"], 0);
    assert_eq!(second["unsettled"]["records"], 3);
    assert_eq!(
        second["unsettled"]["totals"]["sale_minor"],
        1250 + 1251 + 1252
    );
    for t in terminals {
        assert_eq!(t["state"], "activated");
        assert_eq!(t["dormancy"]["state"], "active", "{t:#}");
        assert_eq!(
            t["dormancy"]["warning"], true,
            "80 days without trading: {t:#}"
        );
    }
    assert_eq!(status["totals"]["dormancy_warnings"], 2);
    assert_eq!(status["totals"]["unsettled_records"], 3);
    run_json(sim().args(["settle", &sn(2)]), 0, "settle");
    let settled = run_json(sim().args(["fleet", "status"]), 0, "fleet-status");
    assert_eq!(settled["totals"]["unsettled_records"], 0, "{settled:#}");
}

#[test]
fn sim_fault_names_a_request_kind_and_needs_a_running_sim() {
    let dir = DataDir::new();
    dir.posmate()
        .args(["sim", "fault", "--sn", &sn(1), "--drop-on", "install_keys"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("install-keys"));
    crate::common::refused(
        dir.posmate().args([
            "--sim",
            "--allow-volatile-key",
            "sim",
            "fault",
            "--sn",
            &sn(1),
            "--drop-on",
            "install-keys",
        ]),
        2,
        "usage",
    );
}
