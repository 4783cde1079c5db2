//! Profiles: which one is in use, each one's data directory, and two profiles on one
//! machine never seeing each other's data or keys.

use assert_cmd::Command;
use posmate_core::keystore::{KeyringStore, SecretStore};
use serde_json::json;

use crate::common::{activate_args, activation_code, refused, run_json, PASSPHRASE};
use crate::home::{keyutils, Home};

#[test]
fn the_profile_is_flag_then_env_then_default_profile_then_default() {
    let home = Home::new();
    let profile = |cmd: &mut Command| {
        let v = run_json(cmd.args(["config", "show"]), 0, "config-show");
        (v["profile"]["name"].clone(), v["profile"]["source"].clone())
    };
    assert_eq!(
        profile(&mut home.posmate()),
        (json!("default"), json!("default"))
    );
    home.write_config(
        "default_profile = \"f\"\n[profiles.f]\nsim = true\n[profiles.e]\n[profiles.c]\n",
    );
    assert_eq!(profile(&mut home.posmate()), (json!("f"), json!("file")));
    let mut env = home.posmate();
    env.env("POSMATE_PROFILE", "e");
    assert_eq!(profile(&mut env), (json!("e"), json!("env")));
    let mut flag = home.posmate();
    flag.env("POSMATE_PROFILE", "e").args(["--profile", "c"]);
    assert_eq!(profile(&mut flag), (json!("c"), json!("flag")));

    // Each named profile has its own data directory; the default keeps the original one.
    let listed = run_json(
        home.posmate().args(["config", "profiles"]),
        0,
        "config-profiles",
    );
    let rows: Vec<(String, bool, bool, String)> = listed["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["default"].as_bool().unwrap(),
                p["in_use"].as_bool().unwrap(),
                p["data_dir"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let dir = |name: &str| home.profile_dir(name).display().to_string();
    let original = home.data_home().join("posmate").display().to_string();
    assert_eq!(
        rows,
        [
            ("default".into(), false, false, original),
            ("c".into(), false, false, dir("c")),
            ("e".into(), false, false, dir("e")),
            ("f".into(), true, true, dir("f")),
        ]
    );
    refused(
        home.posmate().args(["--profile", "nope", "config", "show"]),
        3,
        "profile-not-found",
    );
    home.posmate()
        .args(["--profile", "../x", "config", "show"])
        .assert()
        .code(2);
}

/// Must show: two profiles on one machine never see each other's data or keys.
#[test]
fn two_profiles_never_see_each_other_s_data_or_keys() {
    let home = Home::new();
    let profile =
        "sim = true\nkeystore = \"keyutils\"\nallow_volatile_key = true\nbackup_work_factor = 10\n";
    home.write_config(&format!("[profiles.a]\n{profile}\n[profiles.b]\n{profile}"));
    let a = || {
        let mut cmd = home.posmate();
        cmd.args(["--profile", "a"]);
        cmd
    };
    let b = || {
        let mut cmd = home.posmate();
        cmd.args(["--profile", "b"]);
        cmd
    };
    let sn = "SN2026000001";
    run_json(a().args(["pair", "--sn", sn]), 0, "pair");
    run_json(
        a().args(activate_args(1)).write_stdin(activation_code(1)),
        0,
        "activate",
    );
    run_json(
        a().args([
            "sim", "ring-up", "--sn", sn, "--amount", "8.80", "--count", "5",
        ]),
        0,
        "sim-ring-up",
    );
    let synced = run_json(a().args(["records", "sync", sn]), 0, "records-sync");
    assert_eq!(synced["inserted"], 5);

    // B has nothing of A: no records, no paired terminal, none of A's keystore entries.
    let (dir_a, dir_b) = (home.profile_dir("a"), home.profile_dir("b"));
    let records = run_json(b().args(["records", "list"]), 0, "records-list");
    assert_eq!(records["records"], json!([]));
    refused(b().arg("info"), 4, "not-paired");
    refused(b().args(["records", "sync", sn]), 3, "unknown-terminal");
    assert!(dir_a.join("posmate.db").exists() && dir_b.join("posmate.db").exists());
    assert!(
        !home.data_home().join("posmate/posmate.db").exists(),
        "the default profile is untouched"
    );
    let (store_a, store_b) = (keyutils(&dir_a).unwrap(), keyutils(&dir_b).unwrap());
    assert_ne!(store_a.namespace(), store_b.namespace());
    let (names_a, names_b) = (store_a.list().unwrap(), store_b.list().unwrap());
    assert!(
        names_a.contains(&format!("terminal-pin.{sn}")),
        "{names_a:?}"
    );
    assert!(
        !names_b.iter().any(|n| n.starts_with("terminal-pin.")),
        "{names_b:?}"
    );
    let secret =
        |store: &KeyringStore, name: &str| store.get(name).unwrap().map(|s| s.expose().to_vec());
    assert!(secret(&store_b, "db-key").is_some());
    assert_ne!(secret(&store_a, "db-key"), secret(&store_b, "db-key"));

    // Wiping B leaves A as it was.
    let pass = home.dir.path().join("passphrase.txt");
    std::fs::write(&pass, format!("{PASSPHRASE}\n")).unwrap();
    let backup = home.dir.path().join("b.age");
    run_json(
        b().args(["wipe-phone", "--yes", "--backup"])
            .arg(&backup)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
        "wipe-phone",
    );
    assert!(!dir_b.join("posmate.db").exists());
    assert_eq!(store_a.list().unwrap(), names_a);
    let kept = run_json(a().args(["records", "list"]), 0, "records-list");
    assert_eq!(kept["records"].as_array().unwrap().len(), 5);
    let info = run_json(a().args(["info", "--sn", sn]), 0, "info");
    assert_eq!(info["lifecycle"], "activated");
}
