//! `-vvv` traces never print a secret: a whole simulated life (pair, activate, a card
//! tapped and one typed, sales, sync, settlement, a backup) at trace level, and every byte
//! of stderr scanned for the pairing code, the activation code, any card number (a 13–19
//! digit Luhn-valid run), the backup passphrase, and the hex of every key the test can
//! know: the phone's (from its keystore) and the simulated terminal's (from its flash).

use std::process::Output;

use posmate_core::keystore::{KeyringStore, KeystoreChoice, Namespace, SecretStore};
use serde_json::Value;

use crate::common::{
    activate_args, activation_code, luhn, passphrase_file, DataDir, MERCHANT_NAME, PASSPHRASE,
};

/// Runs `args` at trace level with `--sim`, expecting success; returns the output.
fn traced(dir: &DataDir, args: &[&str], stdin: &str) -> Output {
    let out = dir
        .posmate()
        .args([
            "--sim",
            "--allow-volatile-key",
            "--backup-work-factor",
            "10",
            "-vvv",
        ])
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("posmate runs");
    assert!(
        out.status.success(),
        "{args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every run of 13 to 19 digits in `text` (between non-digits) that passes the Luhn check.
fn card_numbers(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|run| (13..=19).contains(&run.len()) && posmate_proto::pan::luhn_valid(run))
        .map(str::to_owned)
        .collect()
}

/// The byte arrays of a simulated terminal's flash that are secrets.
fn terminal_secrets(nvm: &Value) -> Vec<Vec<u8>> {
    let bytes = |v: &Value| -> Vec<u8> {
        v.as_array()
            .map(|a| a.iter().map(|b| b.as_u64().unwrap() as u8).collect())
            .unwrap_or_default()
    };
    let mut secrets = vec![bytes(&nvm["device_seed"]), bytes(&nvm["noise_secret"])];
    for slot in nvm["keys"].as_array().unwrap() {
        secrets.push(bytes(&slot["key"]));
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn trace_logs_of_a_whole_life_hold_no_secret() {
    let dir = DataDir::new();
    let sn = "SN2026000001";
    let pass = passphrase_file(&dir);
    let typed_pan = luhn("622588000000123");
    let mut stderr = Vec::new();

    let paired = traced(&dir, &["pair", "--sn", sn], "");
    // The one place the code may appear: the note that reads the simulated screen, as the
    // merchant would. Everything else on stderr must not hold it.
    let text = String::from_utf8(paired.stderr).unwrap();
    let note = format!("terminal {sn} shows code ");
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix(&note))
        .expect("the screen note names the code")
        .to_owned();
    assert_eq!(code.len(), 6, "{code}");
    stderr.push((
        "pair",
        text.lines()
            .filter(|l| !l.starts_with(&note))
            .collect::<Vec<_>>()
            .join("\n"),
    ));

    let activate: Vec<String> = activate_args(1);
    let activate: Vec<&str> = activate.iter().map(String::as_str).collect();
    let steps: [(&str, Vec<&str>, String); 7] = [
        ("activate", activate, activation_code(1)),
        (
            "tapped card",
            vec!["cards", "bind", "--sn", sn, "--holder", MERCHANT_NAME],
            String::new(),
        ),
        (
            "typed card",
            vec![
                "cards",
                "bind",
                "--manual",
                "--purpose",
                "credit",
                "--expiry",
                "0330",
                "--holder",
                MERCHANT_NAME,
            ],
            format!("{typed_pan}\n"),
        ),
        (
            "ring-up",
            vec![
                "sim", "ring-up", "--sn", sn, "--amount", "12.50", "--count", "20",
            ],
            String::new(),
        ),
        ("sync", vec!["records", "sync", sn], String::new()),
        ("settle", vec!["settle", sn], String::new()),
        ("records", vec!["records", "list"], String::new()),
    ];
    for (what, args, stdin) in steps {
        let out = traced(&dir, &args, &stdin);
        stderr.push((what, String::from_utf8(out.stderr).unwrap()));
    }
    let backup = dir.path().join("phone.age");
    let out = traced(
        &dir,
        &[
            "backup",
            "create",
            backup.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
        "",
    );
    stderr.push(("backup", String::from_utf8(out.stderr).unwrap()));
    // The traces are there: a scan of nothing would pass whatever the code logs.
    assert!(
        stderr
            .iter()
            .any(|(_, e)| e.contains("INFO") && e.contains("DEBUG")),
        "no trace output at -vvv: {stderr:#?}"
    );

    // The keys the test can know.
    let world: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sim/world.json")).unwrap())
            .unwrap();
    let mut keys = terminal_secrets(&world["terminals"][0]["nvm"]);
    assert!(
        keys.len() >= 5,
        "the activated terminal's keys are in its flash"
    );
    posmate_core::keystore::linux::join_session_keyring().unwrap();
    let phone = KeyringStore::open(
        KeystoreChoice::LinuxKeyutils,
        Namespace::anchored(dir.path()).unwrap(),
    )
    .unwrap();
    for name in ["db-key", "phone.noise-static"] {
        keys.push(phone.get(name).unwrap().expect(name).expose().to_vec());
    }

    for (what, text) in &stderr {
        for secret in [
            code.as_str(),
            activation_code(1).trim(),
            PASSPHRASE,
            &typed_pan,
        ] {
            assert!(
                !text.contains(secret),
                "{what}: stderr holds {secret:?}:\n{text}"
            );
        }
        assert_eq!(
            card_numbers(text),
            Vec::<String>::new(),
            "{what}: a card number on stderr:\n{text}"
        );
        for key in &keys {
            let hex = hex(key);
            assert!(
                !text.contains(&hex) && !text.contains(&hex.to_uppercase()),
                "{what}: stderr holds a key ({} bytes):\n{text}",
                key.len()
            );
        }
    }
}

#[test]
fn the_card_number_scan_finds_luhn_valid_runs() {
    let pan = luhn("622202123456789012");
    assert_eq!(
        card_numbers(&format!("at 12:00 card {pan}, ok")),
        vec![pan.clone()]
    );
    assert!(card_numbers("622202******0128 at 2026-01-01T09:30:00Z").is_empty());
    // A run of the right length that fails the check is no card number.
    let mut wrong = pan.clone();
    let last = wrong.pop().unwrap().to_digit(10).unwrap();
    wrong.push(char::from_digit((last + 1) % 10, 10).unwrap());
    assert!(card_numbers(&wrong).is_empty());
}
