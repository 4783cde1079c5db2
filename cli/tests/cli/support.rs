//! `posmate support bundle` and `posmate sim --replay`: a data directory filled with real
//! flows, cards, records and a backup gives a bundle in which a raw byte scan finds no
//! keystore secret, no full card number, no activation code and no passphrase; each
//! connection the embedded simulation recorded replays exactly, and an altered one does not.

use std::collections::BTreeMap;

use base64::Engine as _;
use posmate_core::keystore::{KeyringStore, KeystoreChoice, Namespace, SecretStore};

use crate::common::*;

const SN: &str = "SN2026000001";
const SETTLEMENT_PAN: &str = "6222021234567890128";
const RING_UP_PAN: &str = "4111111111111111";

/// Every form a secret could be printed in, found independently of posmate's own scan.
fn forms(secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let engines = [
        ("base64", base64::engine::general_purpose::STANDARD_NO_PAD),
        (
            "base64url",
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ),
    ];
    let mut out = vec![
        ("raw".to_string(), secret.to_vec()),
        ("hex".into(), hex.clone().into_bytes()),
        ("HEX".into(), hex.to_uppercase().into_bytes()),
    ];
    for (name, engine) in engines {
        out.push((name.into(), engine.encode(secret).into_bytes()));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whole runs of 13–19 digits (spaces and dashes between them allowed; no letter or digit
/// right before or after, so digits inside a hex hash or key do not count, as
/// `docs/security.md` defines a card number) that start with a scheme digit and pass Luhn.
fn luhn_runs(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut digits = String::new();
    let mut whole = true;
    let mut before = b'.';
    for &b in bytes.iter().chain([b'.'].iter()) {
        if b.is_ascii_digit() {
            if digits.is_empty() {
                whole = !before.is_ascii_alphanumeric();
            }
            digits.push(b as char);
        } else if (b == b' ' || b == b'-') && !digits.is_empty() {
        } else {
            if whole
                && !b.is_ascii_alphanumeric()
                && (13..=19).contains(&digits.len())
                && matches!(digits.as_bytes()[0], b'2'..=b'6')
                && posmate_proto::pan::luhn_valid(&digits)
            {
                found.push(digits.clone());
            }
            digits.clear();
        }
        before = b;
    }
    found
}

#[test]
fn the_independent_scan_finds_whole_card_numbers_only() {
    let pan = RING_UP_PAN;
    for text in [
        format!("pan={pan}\n"),
        format!("\"{pan}\""),
        "4111 1111 1111 1111.".to_string(),
    ] {
        assert_eq!(luhn_runs(text.as_bytes()), vec![pan.to_string()], "{text}");
    }
    for text in [
        format!("a3{pan}ff"),
        format!("card{pan}"),
        format!("{pan}ab"),
        "e3530111333300000c".to_string(),
    ] {
        assert_eq!(luhn_runs(text.as_bytes()), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn a_support_bundle_of_a_busy_phone_holds_no_secret_and_its_traces_replay() {
    let dir = DataDir::new();
    let p = || {
        let mut cmd = dir.posmate();
        cmd.args([
            "--sim",
            "--allow-volatile-key",
            "--backup-work-factor",
            "10",
        ]);
        cmd
    };
    let pass = passphrase_file(&dir);
    run_json(p().args(["pair", "--sn", SN]), 0, "pair");
    run_json(
        p().args(activate_args(1)).write_stdin(activation_code(1)),
        0,
        "activate",
    );
    run_json(
        p().args(["cards", "bind", "--sn", SN, "--holder", MERCHANT_NAME]),
        0,
        "cards-bind",
    );
    let credit_pan = luhn("622588000000123");
    run_json(
        p().args(["cards", "bind", "--manual", "--purpose", "credit"])
            .args(["--expiry", "0330", "--holder", MERCHANT_NAME])
            .write_stdin(format!("{credit_pan}\n")),
        0,
        "cards-bind",
    );
    run_json(
        p().args([
            "sim", "ring-up", "--sn", SN, "--amount", "12.50", "--count", "40",
        ]),
        0,
        "sim-ring-up",
    );
    run_json(p().args(["records", "sync", SN]), 0, "records-sync");
    run_json(p().args(["settle", SN]), 0, "settle");
    let archive = dir.path().join("phone.age");
    run_json(
        p().args(["backup", "create"])
            .arg(&archive)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
        "backup",
    );

    let bundle_path = dir.path().join("support.tar");
    let report = run_json(
        p().args(["support", "bundle", "-o"]).arg(&bundle_path),
        0,
        "support-bundle",
    );
    assert_eq!(report["missing"], serde_json::json!([]), "{report:#}");
    let secrets = keystore_secrets(&dir);
    assert!(
        secrets.len() >= 3,
        "db key, identity, terminal pin: {secrets:?}"
    );
    assert_eq!(report["scan"]["keystore_secrets"], secrets.len());

    // The raw bytes of the file, as a support engineer receives it.
    let bytes = std::fs::read(&bundle_path).unwrap();
    for (name, secret) in &secrets {
        for (form, needle) in forms(secret) {
            assert!(
                !contains(&bytes, &needle),
                "keystore secret {name} as {form}"
            );
        }
    }
    for text in [
        SETTLEMENT_PAN,
        RING_UP_PAN,
        credit_pan.as_str(),
        "ACT07001",
        PASSPHRASE,
    ] {
        assert!(
            !contains(&bytes, text.as_bytes()),
            "{text} is in the bundle"
        );
    }
    assert_eq!(luhn_runs(&bytes), Vec::<String>::new());

    // What it holds: a diagnosis's worth.
    let files = untar(&bytes);
    let names: Vec<&str> = files.keys().map(|n| n.split_once('/').unwrap().1).collect();
    for expected in [
        "manifest.json",
        "versions.json",
        "doctor.json",
        "phone.json",
        "links.json",
        "logs/posmate.log",
        "README.txt",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let part = |name: &str| -> serde_json::Value {
        let (_, bytes) = files.iter().find(|(n, _)| n.ends_with(name)).unwrap();
        serde_json::from_slice(bytes).unwrap()
    };
    let phone = part("/phone.json");
    assert_eq!(phone["terminals"][0]["sn"], SN);
    assert_eq!(phone["terminals"][0]["state"], "activated");
    let masked: Vec<&str> = phone["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["masked_pan"].as_str().unwrap())
        .collect();
    assert!(masked.contains(&"622202*********0128"), "{masked:?}");
    assert_eq!(phone["recent_records"].as_array().unwrap().len(), 40);
    assert!(phone["audit_check"]["entries"].as_u64().unwrap() >= 5);
    assert!(
        phone["recent_flows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f.get("state").is_none()),
        "a flow's saved inputs stay out"
    );
    let manifest = part("/manifest.json");
    assert_eq!(manifest["parts"].as_array().unwrap().len(), files.len() - 1);
    let log = files
        .iter()
        .find(|(n, _)| n.ends_with("logs/posmate.log"))
        .unwrap()
        .1;
    let log = String::from_utf8_lossy(log);
    assert!(log.contains("command=\"activate\""), "{log}");
    let links = part("/links.json");
    let traces = links["traces"].as_array().unwrap();
    assert!(traces.len() >= 5, "{links:#}");
    assert!(traces
        .iter()
        .all(|t| t["mtu"] == 247 && t["writes"].as_u64() > Some(0)));

    // Every recorded connection replays exactly: pairing, activation, the card read, the
    // sync and the settlement.
    let trace_dir = dir.path().join("sim").join("traces");
    let mut trace_files: Vec<_> = std::fs::read_dir(&trace_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    trace_files.sort();
    assert_eq!(trace_files.len(), traces.len());
    let mut lifecycles = Vec::new();
    for file in &trace_files {
        let replayed = run_json(bare().args(["sim", "--replay"]).arg(file), 0, "sim-replay");
        assert_eq!(replayed["exact"], true, "{replayed:#}");
        assert!(replayed["notifications_matched"].as_u64().unwrap() > 0);
        lifecycles.push(replayed["lifecycle_after"].as_str().unwrap().to_owned());
    }
    assert!(
        lifecycles.contains(&"activated".to_string()),
        "{lifecycles:?}"
    );

    // An altered recording does not replay: one notification byte changed.
    let text = std::fs::read_to_string(&trace_files[1]).unwrap();
    let at = text.find("\"event\":\"notify\"").expect("a notification");
    let data = at + text[at..].find("\"data\":\"").unwrap() + 8 + 4;
    let mut altered = text.into_bytes();
    altered[data] = if altered[data] == b'0' { b'1' } else { b'0' };
    let altered_path = dir.path().join("altered.trace");
    std::fs::write(&altered_path, altered).unwrap();
    let out = bare()
        .args(["--json", "sim", "--replay"])
        .arg(&altered_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let first_doc = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let report: serde_json::Value = serde_json::from_str(&first_doc).unwrap();
    check_schema("sim-replay", &report);
    assert_eq!(report["exact"], false);
    assert_eq!(report["divergence"]["notification"], 0);
    refused(
        bare().args(["sim", "--replay"]).arg(&archive),
        2,
        "trace-invalid",
    );

    // An existing file is not replaced without --force.
    refused(
        p().args(["support", "bundle", "-o"]).arg(&bundle_path),
        2,
        "usage",
    );
    run_json(
        p().args(["support", "bundle", "--force", "-o"])
            .arg(&bundle_path),
        0,
        "support-bundle",
    );

    // Wiping the phone deletes the log with the rest.
    let wiped = run_json(
        p().args(["wipe-phone", "--yes", "--backup"])
            .arg(dir.path().join("last.age"))
            .arg("--passphrase-file")
            .arg(&pass),
        0,
        "wipe-phone",
    );
    assert!(wiped["files_deleted"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f.as_str().unwrap().ends_with("logs/posmate.log")));
    assert!(!dir.path().join("logs").exists());
}

#[test]
fn a_bundle_without_a_phone_still_tells_what_is_missing() {
    let dir = DataDir::new();
    let out = dir.path().join("b.tar");
    let report = run_json(
        dir.posmate()
            .args(["--sim", "support", "bundle", "-o"])
            .arg(&out),
        0,
        "support-bundle",
    );
    assert_eq!(report["missing"][0]["code"], "no-phone", "{report:#}");
    assert!(
        !dir.path().join("posmate.db").exists(),
        "no phone was created"
    );
    let files = untar(&std::fs::read(&out).unwrap());
    assert!(files.keys().any(|n| n.ends_with("/doctor.json")));
}

/// The keystore secrets posmate holds for `dir`, read through the keystore itself.
fn keystore_secrets(dir: &DataDir) -> Vec<(String, Vec<u8>)> {
    #[cfg(target_os = "linux")]
    posmate_core::keystore::linux::join_session_keyring().unwrap();
    let ns = Namespace::anchored(dir.path()).unwrap();
    let store = KeyringStore::open(KeystoreChoice::LinuxKeyutils, ns).unwrap();
    store
        .list()
        .unwrap()
        .into_iter()
        .map(|name| {
            let secret = store.get(&name).unwrap().unwrap();
            (name, secret.expose().to_vec())
        })
        .collect()
}

fn untar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (name, data)
        })
        .collect()
}
