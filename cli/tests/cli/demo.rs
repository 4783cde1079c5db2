//! `posmate demo`, the README's main command: a terminal's whole life in one run, nothing
//! left behind without `--data-dir`, everything kept with it.

use crate::common::{bare, run_json, DataDir};

#[test]
fn the_demo_runs_a_whole_life_and_leaves_nothing_behind() {
    // The demo's temporary directory goes where TMPDIR says: here, an empty one to watch.
    let tmp = tempfile::tempdir().unwrap();
    let v = run_json(
        bare().env("TMPDIR", tmp.path()).args([
            "--backup-work-factor",
            "10",
            "demo",
            "--sales",
            "150",
        ]),
        0,
        "demo",
    );
    let s = &v["summary"];
    assert_eq!(s["sales_rung_up"], 150);
    assert_eq!(s["records_synced"], 150);
    assert_eq!(s["totals_matched"], true);
    assert_eq!(s["settlement_card"], "622202*********0128");
    assert!(s["deregistration_ref"]
        .as_str()
        .unwrap()
        .starts_with("DRG-"));
    let steps: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "scan",
            "pair",
            "activate",
            "bind card",
            "sales",
            "sync",
            "settle",
            "backup",
            "decommission",
            "wipe phone"
        ]
    );
    // Pairing and syncing crossed the simulated link: they took simulated BLE time.
    for step in &v["steps"].as_array().unwrap()[1..=3] {
        assert!(step["ble_ms"].as_f64().unwrap() > 0.0, "{step}");
    }
    assert_eq!(v["data_dir"], serde_json::Value::Null);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left {left:?}");
}

#[test]
fn with_a_data_dir_the_demo_keeps_its_backups_and_world() {
    let dir = DataDir::new();
    let v = run_json(
        dir.posmate()
            .args(["--backup-work-factor", "10", "demo", "--sales", "5"]),
        0,
        "demo",
    );
    assert_eq!(v["data_dir"].as_str(), Some(dir.path().to_str().unwrap()));
    for kept in ["SN2026000001.age", "phone-final.age", "sim/world.json"] {
        assert!(dir.path().join(kept).exists(), "{kept}");
    }
    // The phone itself was wiped at the end of the demo.
    assert!(!dir.path().join("posmate.db").exists());
    // The world remembers: the terminal is decommissioned.
    let t = run_json(
        dir.posmate().args(["--sim", "sim", "terminals"]),
        0,
        "sim-terminals",
    );
    assert_eq!(t["terminals"][0]["lifecycle"], "decommissioned");
    // A used directory is refused rather than mixed into.
    let err = run_json(dir.posmate().arg("demo"), 2, "error");
    assert_eq!(err["error"]["code"], "usage");
}
