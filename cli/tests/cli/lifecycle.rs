//! The lifecycle commands end to end, each scenario twice: against the simulation embedded
//! in the binary (`--sim`, kept in the data directory between invocations) and against a
//! separate `posmate sim` process over loopback. Every `--json` output is validated
//! against its schema.

use std::collections::BTreeSet;

use assert_cmd::Command;
use serde_json::Value;

use crate::common::{
    activate_args, activation_code, all_records, luhn, passphrase_file, refused, run_json, DataDir,
    Sim, MERCHANT_NAME, MERCHANT_NO,
};

const SETTLEMENT_PAN: &str = "6222021234567890128";

/// Which simulation a scenario runs against.
enum World {
    Embedded,
    Remote(Sim),
}

impl World {
    fn remote() -> World {
        World::Remote(Sim::start(&[]))
    }

    /// `posmate` for `dir` against this world, work factor lowered for speed.
    fn posmate(&self, dir: &DataDir) -> Command {
        let mut cmd = match self {
            World::Embedded => {
                let mut c = dir.posmate();
                c.arg("--sim");
                c
            }
            World::Remote(sim) => sim.posmate(dir),
        };
        cmd.args(["--backup-work-factor", "10"]);
        cmd
    }

    /// The merchant holds the settlement card to the terminal. In the embedded simulation
    /// `cards bind` taps it itself; a separate sim keeps it for the next card read.
    fn present_card(&self, dir: &DataDir, sn: &str) {
        if let World::Remote(_) = self {
            self.posmate(dir)
                .args(["sim", "present-card", "--sn", sn, "--pan", SETTLEMENT_PAN])
                .assert()
                .success();
        }
    }
}

fn whole_life(world: World) {
    let dir = DataDir::new();
    let pass = passphrase_file(&dir);
    let sn = "SN2026000001";
    let p = || world.posmate(&dir);

    let acq = run_json(p().args(["sim", "acquirer"]), 0, "sim-acquirer");
    assert_eq!(acq["merchants"][0]["merchant_no"], MERCHANT_NO);
    assert_eq!(acq["terminals"][0]["sn"], sn);
    assert_eq!(acq["terminals"][0]["terminal_no"], "10020301");
    assert_eq!(acq["terminals"][0]["activation_code"], "ACT07001");

    let paired = run_json(p().args(["pair", "--sn", sn, "--from-screen"]), 0, "pair");
    assert_eq!(paired["sn"], sn);

    // Bad input: a clear typed error, and nothing stored.
    let err = refused(
        p().args(activate_args(1)).write_stdin("12\n"),
        2,
        "invalid-input",
    );
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("activation code"));
    let flows = run_json(p().arg("flows"), 0, "flows");
    assert_eq!(flows["flows"], Value::Array(vec![]), "nothing was started");
    refused(
        p().args(activate_args(1)).write_stdin("\n"),
        2,
        "needs-input",
    );

    let activated = run_json(
        p().args(activate_args(1)).write_stdin(activation_code(1)),
        0,
        "activate",
    );
    assert_eq!(activated["result"], "activated");
    assert_eq!(activated["key_slots"].as_array().unwrap().len(), 3);
    let info = run_json(p().args(["info", "--sn", sn]), 0, "info");
    assert_eq!(info["lifecycle"], "activated");
    assert_eq!(info["merchant_no"], MERCHANT_NO);
    // Activating again is refused: nothing to do.
    refused(
        p().args(activate_args(1)).write_stdin(activation_code(1)),
        4,
        "already-activated",
    );

    // Cards: the settlement card read on the terminal, a credit card typed in.
    world.present_card(&dir, sn);
    let card = run_json(
        p().args(["cards", "bind", "--sn", sn, "--holder", MERCHANT_NAME]),
        0,
        "cards-bind",
    );
    assert_eq!(card["masked_pan"], "622202*********0128");
    assert_eq!(card["purpose"], "settlement");
    assert_eq!(card["source"], "terminal");
    let credit_pan = luhn("622588000000123");
    let last = credit_pan.as_bytes()[15] - b'0';
    let typo = format!("{}{}", &credit_pan[..15], (last + 1) % 10);
    refused(
        p().args(["cards", "bind", "--manual", "--purpose", "credit"])
            .args(["--expiry", "0330", "--holder", MERCHANT_NAME])
            .write_stdin(format!("{typo}\n")),
        2,
        "card-number-check-digit",
    );
    let credit = run_json(
        p().args(["cards", "bind", "--manual", "--purpose", "credit"])
            .args(["--expiry", "0330", "--holder", MERCHANT_NAME])
            .write_stdin(format!("{credit_pan}\n")),
        0,
        "cards-bind",
    );
    assert_eq!(
        credit["masked_pan"],
        format!("622588******{}", &credit_pan[12..])
    );
    assert_eq!(credit["source"], "manual");
    let list = run_json(p().args(["cards", "list"]), 0, "cards-list");
    assert_eq!(list["cards"].as_array().unwrap().len(), 2);
    let at_acquirer = run_json(p().args(["cards", "list", "--acquirer"]), 0, "cards-list");
    assert_eq!(at_acquirer["from"], "acquirer");
    assert_eq!(at_acquirer["cards"].as_array().unwrap().len(), 2);
    let unbound = run_json(
        p().args(["cards", "unbind", credit["binding_id"].as_str().unwrap()]),
        0,
        "cards-unbind",
    );
    assert_eq!(unbound["unbound"], credit["binding_id"]);
    let list = run_json(p().args(["cards", "list"]), 0, "cards-list");
    assert_eq!(list["cards"].as_array().unwrap().len(), 1);
    // The settlement card of an active terminal's merchant cannot go.
    refused(
        p().args(["cards", "unbind", card["binding_id"].as_str().unwrap()]),
        7,
        "settlement-card-required",
    );

    // Sales on the terminal, synced, searched page by page, exported.
    let booked = run_json(
        p().args([
            "sim", "ring-up", "--sn", sn, "--amount", "10", "--count", "120",
        ]),
        0,
        "sim-ring-up",
    );
    assert_eq!(
        (booked["first_seq"].as_u64(), booked["seq"].as_u64()),
        (Some(1), Some(120))
    );
    let synced = run_json(p().args(["records", "sync", sn]), 0, "records-sync");
    assert_eq!(synced["inserted"], 120);
    assert_eq!(synced["last_seq"], 120);
    let again = run_json(p().args(["records", "sync"]), 0, "records-sync");
    assert_eq!(again["inserted"], 0, "nothing new the second time");
    let mut seen = BTreeSet::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut c = p();
        c.args(["records", "list", "--limit", "50"]);
        if let Some(a) = &after {
            c.args(["--after", a]);
        }
        let page = run_json(&mut c, 0, "records-list");
        pages += 1;
        for r in page["records"].as_array().unwrap() {
            assert!(
                seen.insert(r["seq"].as_u64().unwrap()),
                "a record twice: {r}"
            );
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (120, 3));
    let window = run_json(
        p().args(["records", "list", "--min", "10.50", "--max", "10.59"]),
        0,
        "records-list",
    );
    assert_eq!(window["records"].as_array().unwrap().len(), 10);
    assert_eq!(window["records"][0]["amount_minor"], 1059, "newest first");
    let refunds = run_json(
        p().args(["records", "list", "--kind", "refund"]),
        0,
        "records-list",
    );
    assert_eq!(refunds["records"], Value::Array(vec![]));
    let later = run_json(
        p().args(["records", "list", "--from", "2099-01-01"]),
        0,
        "records-list",
    );
    assert_eq!(later["records"], Value::Array(vec![]));
    let csv = dir.path().join("records.csv");
    let exported = run_json(
        p().args(["records", "export", "-o"]).arg(&csv),
        0,
        "records-export",
    );
    assert_eq!(exported["records"], 120);
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 121);
    let out = p()
        .args(["records", "export", "--kind", "sale", "--max", "10.04"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);

    let settled = run_json(p().args(["settle", sn]), 0, "settle");
    assert_eq!(settled["matched"], true);
    assert_eq!(settled["terminal"]["sale_count"], 120);
    assert_eq!(settled["terminal"], settled["phone"]);

    // Dormancy: the acquirer's clock moves only when told.
    let d = run_json(p().args(["dormancy", sn]), 0, "dormancy");
    assert_eq!(
        (d["state"].as_str(), d["warning"].as_bool()),
        (Some("active"), Some(false))
    );
    run_json(
        p().args(["sim", "advance", "--days", "80"]),
        0,
        "sim-advance",
    );
    let d = run_json(p().args(["dormancy"]), 0, "dormancy");
    assert_eq!(
        (d["state"].as_str(), d["warning"].as_bool()),
        (Some("active"), Some(true))
    );
    assert_eq!(d["days_left"], 10);
    run_json(
        p().args(["sim", "advance", "--days", "11"]),
        0,
        "sim-advance",
    );
    let d = run_json(p().args(["dormancy"]), 0, "dormancy");
    assert_eq!(d["state"], "dormant");
    let r = run_json(p().args(["dormancy", "--reopen"]), 0, "dormancy-reopen");
    assert_eq!(r["state"], "pending");
    run_json(
        p().args(["sim", "advance", "--hours", "3"]),
        0,
        "sim-advance",
    );
    let r = run_json(p().args(["dormancy", "--reopen"]), 0, "dormancy-reopen");
    assert_eq!(r["state"], "approved");

    // Backups: create, verify, a wrong passphrase, restore into another phone.
    let archive = dir.path().join("phone.age");
    let made = run_json(
        p().args(["backup", "create"])
            .arg(&archive)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
        "backup",
    );
    assert_eq!(
        (made["action"].as_str(), made["records"].as_u64()),
        (Some("created"), Some(120))
    );
    let verified = run_json(
        p().args(["backup", "verify"])
            .arg(&archive)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
        "backup",
    );
    assert_eq!(verified["sha256"], made["sha256"]);
    refused(
        p().args(["backup", "verify"])
            .arg(&archive)
            .write_stdin("not the passphrase\n"),
        4,
        "wrong-passphrase",
    );
    let other = DataDir::new();
    let restored = run_json(
        world
            .posmate(&other)
            .args(["backup", "restore"])
            .arg(&archive)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
        "backup-restore",
    );
    assert_eq!(restored["records_inserted"], 120);
    assert_eq!(all_records(|| world.posmate(&other)).len(), 120);

    // The audit trail.
    let shown = run_json(p().args(["audit", "show"]), 0, "audit-show");
    let actions: Vec<&str> = shown["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["pair", "activate", "backup"] {
        assert!(actions.contains(&action), "no {action} in {actions:?}");
    }
    let check = run_json(p().args(["audit", "verify"]), 0, "audit-verify");
    let jsonl = dir.path().join("audit.jsonl");
    let exported = run_json(
        p().args(["audit", "export", "-o"]).arg(&jsonl),
        0,
        "audit-export",
    );
    assert_eq!(exported["entries"], check["entries"]);
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    for line in lines.lines() {
        crate::common::check_schema("audit-entry", &serde_json::from_str(line).unwrap());
    }
    assert_eq!(
        lines.lines().count() as u64,
        check["entries"].as_u64().unwrap()
    );

    // Destructive without confirmation, and nobody at a terminal: refused, nothing changed.
    let backup = dir.path().join("sn1.age");
    let err = refused(
        p().args(["decommission", sn, "--reason", "shop closed", "--backup"])
            .arg(&backup)
            .arg("--passphrase-file")
            .arg(&pass),
        2,
        "confirmation-required",
    );
    assert!(err["error"]["hint"].as_str().unwrap().contains("--yes"));
    assert!(!backup.exists());
    assert_eq!(
        run_json(p().args(["info", "--sn", sn]), 0, "info")["lifecycle"],
        "activated"
    );
    assert_eq!(
        run_json(p().arg("flows"), 0, "flows")["flows"],
        Value::Array(vec![])
    );

    let gone = run_json(
        p().args([
            "decommission",
            sn,
            "--reason",
            "shop closed",
            "--yes",
            "--backup",
        ])
        .arg(&backup)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg("--from-screen"),
        0,
        "decommission",
    );
    assert_eq!(gone["backup_records"], 120);
    assert_eq!(gone["journal_head"], 120);
    assert!(gone["deregistration_ref"]
        .as_str()
        .unwrap()
        .starts_with("DRG-"));
    let terminals = run_json(p().args(["sim", "terminals"]), 0, "sim-terminals");
    assert_eq!(terminals["terminals"][0]["lifecycle"], "decommissioned");
    let kept = run_json(
        p().args(["backup", "verify"])
            .arg(&backup)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
        "backup",
    );
    assert_eq!(kept["records"], 120);

    // Wiping the phone: the same confirmation rules, then a verified backup first.
    let db = dir.path().join("posmate.db");
    let last = dir.path().join("last.age");
    refused(
        p().args(["wipe-phone", "--backup"])
            .arg(&last)
            .arg("--passphrase-file")
            .arg(&pass),
        2,
        "confirmation-required",
    );
    assert!(db.exists() && !last.exists());
    let wiped = run_json(
        p().args(["wipe-phone", "--yes", "--backup"])
            .arg(&last)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
        "wipe-phone",
    );
    assert!(wiped["backup"]["audit_entries"].as_u64().unwrap() > 5);
    assert!(!db.exists());
    assert!(last.exists());
}

#[test]
fn a_terminal_s_whole_life_embedded() {
    whole_life(World::Embedded);
}

#[test]
fn a_terminal_s_whole_life_over_the_sim_link() {
    whole_life(World::remote());
}

fn review_then_status(world: World) {
    let dir = DataDir::new();
    let p = || world.posmate(&dir);
    let sn = "SN2026000002";
    run_json(p().args(["pair", "--sn", sn, "--from-screen"]), 0, "pair");
    // The second merchant's activations stay under review until polled twice.
    let mut args = activate_args(2);
    args[5] = "898310148160020".into();
    args[7] = "Li Si Tea House".into();
    let pending = run_json(
        p().args(&args).write_stdin(activation_code(2)),
        0,
        "activate",
    );
    assert_eq!(pending["result"], "pending");
    let flows = run_json(p().arg("flows"), 0, "flows");
    let open = &flows["flows"][0];
    assert_eq!(open["kind"], "activation");
    assert_eq!(open["id"], pending["flow_id"]);
    let still = run_json(p().args(["activate", "--status", sn]), 0, "activate");
    assert_eq!(still["result"], "pending");
    let resumed = run_json(
        p().args(["flows", "resume", open["id"].as_str().unwrap()]),
        0,
        "flows-resume",
    );
    assert_eq!(resumed["outcome"]["result"], "activated");
    assert_eq!(
        run_json(p().arg("flows"), 0, "flows")["flows"],
        Value::Array(vec![])
    );
    refused(
        p().args(["flows", "resume", "activation-0000000000000000"]),
        3,
        "flow-not-found",
    );
}

#[test]
fn a_pending_review_is_polled_embedded() {
    review_then_status(World::Embedded);
}

#[test]
fn a_pending_review_is_polled_over_the_sim_link() {
    review_then_status(World::remote());
}

#[test]
fn replace_carries_the_history_to_the_new_terminal() {
    let world = World::Embedded;
    let dir = DataDir::new();
    let pass = passphrase_file(&dir);
    let p = || world.posmate(&dir);
    for sn in ["SN2026000001", "SN2026000002"] {
        run_json(p().args(["pair", "--sn", sn]), 0, "pair");
    }
    run_json(
        p().args(activate_args(1)).write_stdin(activation_code(1)),
        0,
        "activate",
    );
    run_json(
        p().args([
            "cards",
            "bind",
            "--sn",
            "SN2026000001",
            "--holder",
            MERCHANT_NAME,
        ]),
        0,
        "cards-bind",
    );
    p().args([
        "sim",
        "ring-up",
        "--sn",
        "SN2026000001",
        "--amount",
        "3",
        "--count",
        "40",
    ])
    .assert()
    .success();
    run_json(
        p().args(["records", "sync", "SN2026000001"]),
        0,
        "records-sync",
    );
    let replaced = run_json(
        p().args([
            "replace",
            "SN2026000001",
            "SN2026000002",
            "--terminal-no",
            "10020302",
        ])
        .args([
            "--merchant-name",
            MERCHANT_NAME,
            "--phone",
            "+86 138 0000 0000",
        ])
        .args(["--address", "12 Wenhua Road, Hangzhou", "--yes", "--backup"])
        .arg(dir.path().join("old.age"))
        .arg("--passphrase-file")
        .arg(&pass)
        .write_stdin(activation_code(2)),
        0,
        "replace",
    );
    assert_eq!(replaced["result"], "replaced");
    assert_eq!(replaced["records_moved"], 40);
    assert_eq!(replaced["settlement_card"], "622202*********0128");
    let records = all_records(p);
    assert_eq!(records.len(), 40);
    assert!(records
        .iter()
        .all(|r| r["sn"] == "SN2026000002" && r["origin_sn"] == "SN2026000001"));
    let info = run_json(p().args(["info", "--sn", "SN2026000002"]), 0, "info");
    assert_eq!(info["lifecycle"], "activated");
}
