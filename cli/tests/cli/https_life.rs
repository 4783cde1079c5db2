//! A terminal's whole life with the acquirer over the network: `posmate sim` hosts the
//! terminals and `posmate acquirer serve` is the acquirer, two child processes, and every
//! step is the CLI reaching the terminals over the sim link and the acquirer over HTTPS
//! (`--acquirer-url`, trusting only the sandbox's CA through `--acquirer-ca`). The review
//! is decided by a person through `posmate acquirer admin`, and the acquirer's clock moves
//! only through it too, so each outcome below is the sandbox's, not the sim's.

use std::path::Path;

use assert_cmd::Command;

use crate::common::{
    activate_args, activation_code, json_of, passphrase_file, refused, run_json, DataDir, Sim,
    MERCHANT_NAME, MERCHANT_NO,
};
use crate::sandbox::Sandbox;

const SETTLEMENT_PAN: &str = "6222021234567890128";

/// `posmate --connect-sim … --acquirer-url … --acquirer-ca …` for `dir`.
fn phone(sim: &Sim, acquirer: &Sandbox, dir: &DataDir) -> Command {
    let mut cmd = sim.posmate(dir);
    cmd.args(["--acquirer-url", &acquirer.base_url])
        .arg("--acquirer-ca")
        .arg(&acquirer.ca_file)
        .args(["--backup-work-factor", "10"]);
    cmd
}

#[test]
fn an_acquirer_whose_ca_is_not_trusted_is_refused_with_the_fix_and_nothing_sent() {
    let sim = Sim::start(&[]);
    let acquirer = Sandbox::serve(&["--demo"]);
    let dir = DataDir::new();
    let sn = "SN2026000001";
    let untrusting = || {
        let mut cmd = sim.posmate(&dir);
        cmd.args(["--acquirer-url", &acquirer.base_url]);
        cmd
    };
    run_json(
        untrusting().args(["pair", "--sn", sn, "--from-screen"]),
        0,
        "pair",
    );
    let err = refused(
        untrusting()
            .args(activate_args(1))
            .write_stdin(activation_code(1)),
        7,
        "tls",
    );
    let hint = err["error"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("--acquirer-ca"), "{err:#}");
    assert_eq!(err["error"]["retryable"], false, "{err:#}");
    // The handshake failed before any request: the acquirer never saw the application.
    assert_eq!(acquirer.terminal(sn).state, "unknown");
    assert_eq!(acquirer.terminal(sn).applications, 0);
    // With the CA the same command goes through (the demo merchant is reviewed at once).
    let activated = run_json(
        phone(&sim, &acquirer, &dir)
            .args(activate_args(1))
            .write_stdin(activation_code(1)),
        0,
        "activate",
    );
    assert_eq!(activated["result"], "activated", "{activated:#}");
    assert_eq!(acquirer.terminal(sn).applications, 1);
}

#[test]
fn a_terminal_s_whole_life_with_the_acquirer_over_https() {
    let sim = Sim::start(&[]);
    let acquirer = Sandbox::serve(&["--demo"]);
    let dir = DataDir::new();
    let pass = passphrase_file(&dir);
    let sn = "SN2026000001";
    let p = || phone(&sim, &acquirer, &dir);
    let admin = |args: &[&str], schema: &str| run_json(&mut acquirer.admin(args), 0, schema);

    // The sandbox's staff review this merchant's activations by hand.
    let merchant = admin(
        &[
            "merchant",
            "--merchant-no",
            MERCHANT_NO,
            "--name",
            MERCHANT_NAME,
            "--review",
            "manual",
        ],
        "acquirer-admin-merchant",
    );
    assert_eq!(merchant["review"]["kind"], "manual");
    assert_eq!(acquirer.terminal(sn).state, "unknown");

    let paired = run_json(p().args(["pair", "--sn", sn, "--from-screen"]), 0, "pair");
    assert_eq!(paired["sn"], sn);

    // Activation: submitted over HTTPS, then waiting for a person.
    let pending = run_json(
        p().args(activate_args(1)).write_stdin(activation_code(1)),
        0,
        "activate",
    );
    assert_eq!(pending["result"], "pending", "{pending:#}");
    let application = pending["application_id"].as_str().unwrap().to_owned();
    let still = run_json(p().args(["activate", "--status", sn]), 0, "activate");
    assert_eq!(
        (still["result"].as_str(), still["application_id"].as_str()),
        (Some("pending"), Some(application.as_str()))
    );
    let reviews = admin(&["reviews"], "acquirer-admin-reviews");
    let listed = reviews["reviews"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{reviews:#}");
    assert_eq!(
        (
            listed[0]["application_id"].as_str(),
            listed[0]["sn"].as_str()
        ),
        (Some(application.as_str()), Some(sn))
    );
    assert_eq!(listed[0]["merchant_no"], MERCHANT_NO);
    // The sim's own acquirer never heard of it: the activation went to the sandbox.
    let sim_books = run_json(p().args(["sim", "acquirer"]), 0, "sim-acquirer");
    assert_eq!(sim_books["terminals"][0]["sn"], sn);
    assert_eq!(
        sim_books["terminals"][0]["applications"], 0,
        "{sim_books:#}"
    );

    let decided = admin(&["approve", &application], "acquirer-admin-decision");
    assert_eq!(decided["decision"], "approve");
    let flows = run_json(p().arg("flows"), 0, "flows");
    let flow = flows["flows"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(flow, pending["flow_id"].as_str().unwrap());
    let resumed = run_json(p().args(["flows", "resume", &flow]), 0, "flows-resume");
    let activated = &resumed["outcome"];
    assert_eq!(activated["result"], "activated", "{resumed:#}");
    assert_eq!(activated["key_slots"].as_array().unwrap().len(), 3);
    assert_eq!(activated["merchant_no"], MERCHANT_NO);
    let info = run_json(p().args(["info", "--sn", sn]), 0, "info");
    assert_eq!(info["lifecycle"], "activated");
    let view = acquirer.terminal(sn);
    assert_eq!((view.state.as_str(), view.applications), ("active", 1));
    refused(
        p().args(activate_args(1)).write_stdin(activation_code(1)),
        4,
        "already-activated",
    );

    // Cards: the settlement card tapped on the terminal, bound at the sandbox.
    let held = run_json(
        p().args(["sim", "present-card", "--sn", sn, "--pan", SETTLEMENT_PAN]),
        0,
        "sim-present-card",
    );
    assert_eq!(held["outcome"], "held");
    let card = run_json(
        p().args(["cards", "bind", "--sn", sn, "--holder", MERCHANT_NAME]),
        0,
        "cards-bind",
    );
    assert_eq!(card["masked_pan"], "622202*********0128");
    assert_eq!(card["purpose"], "settlement");
    let at_acquirer = run_json(p().args(["cards", "list", "--acquirer"]), 0, "cards-list");
    assert_eq!(at_acquirer["from"], "acquirer");
    let bound = at_acquirer["cards"].as_array().unwrap();
    assert_eq!(bound.len(), 1, "{at_acquirer:#}");
    assert_eq!(bound[0]["binding_id"], card["binding_id"]);
    refused(
        p().args(["cards", "unbind", card["binding_id"].as_str().unwrap()]),
        7,
        "settlement-card-required",
    );

    // Sales on the terminal, synced and settled.
    let booked = run_json(
        p().args([
            "sim", "ring-up", "--sn", sn, "--amount", "10", "--count", "5",
        ]),
        0,
        "sim-ring-up",
    );
    assert_eq!(booked["seq"], 5);
    let synced = run_json(p().args(["records", "sync", sn]), 0, "records-sync");
    assert_eq!(
        (synced["inserted"].as_u64(), synced["last_seq"].as_u64()),
        (Some(5), Some(5))
    );
    let settled = run_json(p().args(["settle", sn]), 0, "settle");
    assert_eq!(settled["matched"], true);
    assert_eq!(settled["terminal"]["sale_count"], 5);

    // Dormancy, on the sandbox's clock, moved by its back office.
    let d = run_json(p().args(["dormancy", sn]), 0, "dormancy");
    assert_eq!(
        (
            d["state"].as_str(),
            d["warning"].as_bool(),
            d["days_left"].as_u64()
        ),
        (Some("active"), Some(false), Some(90))
    );
    admin(&["advance", "--days", "80"], "acquirer-admin-advance");
    let d = run_json(p().args(["dormancy", sn]), 0, "dormancy");
    assert_eq!(
        (
            d["state"].as_str(),
            d["warning"].as_bool(),
            d["days_left"].as_u64()
        ),
        (Some("active"), Some(true), Some(10))
    );
    admin(&["advance", "--days", "11"], "acquirer-admin-advance");
    let d = run_json(p().args(["dormancy", sn]), 0, "dormancy");
    assert_eq!(d["state"], "dormant", "{d:#}");
    assert_eq!(acquirer.terminal(sn).state, "dormant");
    let r = run_json(p().args(["dormancy", sn, "--reopen"]), 0, "dormancy-reopen");
    assert_eq!(r["state"], "pending");
    admin(&["advance", "--hours", "3"], "acquirer-admin-advance");
    let r = run_json(p().args(["dormancy", sn, "--reopen"]), 0, "dormancy-reopen");
    assert_eq!(r["state"], "approved");
    assert_eq!(acquirer.terminal(sn).state, "active");

    // Decommission: backed up, deregistered at the sandbox, wiped on the terminal.
    let backup = dir.path().join("sn1.age");
    let gone = run_json(
        p().args(["decommission", sn, "--reason", "shop closed", "--yes"])
            .arg("--backup")
            .arg(&backup)
            .arg("--passphrase-file")
            .arg(&pass)
            .arg("--from-screen"),
        0,
        "decommission",
    );
    assert_eq!(gone["backup_records"], 5);
    assert!(
        gone["deregistration_ref"]
            .as_str()
            .unwrap()
            .starts_with("DRG-2026-"),
        "{gone:#}"
    );
    assert!(backup_is_verified(&p, &backup, &pass));
    assert_eq!(acquirer.terminal(sn).state, "deregistered");
    let terminals = run_json(p().args(["sim", "terminals"]), 0, "sim-terminals");
    assert_eq!(terminals["terminals"][0]["lifecycle"], "decommissioned");
}

/// The decommission's backup opens with the passphrase and holds the terminal's records.
fn backup_is_verified(p: &impl Fn() -> Command, backup: &Path, pass: &Path) -> bool {
    let out = p()
        .args(["--json", "backup", "verify"])
        .arg(backup)
        .arg("--passphrase-file")
        .arg(pass)
        .output()
        .unwrap();
    out.status.success() && json_of(&out.stdout)["records"] == 5
}
