//! SIGKILL at random moments (seeded) of `posmate records sync` and `posmate decommission`,
//! then the same command again: it completes, no record is lost or stored twice, and a
//! terminal is never wiped without a backup that decrypts with all its records.
//!
//! The terminals live in a separate `posmate sim` (so they outlive the killed CLI) with
//! link latency and the smallest MTU, so a sync of a few thousand records or a
//! decommission takes long enough for the kills to land inside it.

use std::collections::BTreeMap;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::common::{
    activate_args, activation_code, all_records, passphrase_file, run_json, DataDir, Sim,
};

const SEED: u64 = 0x5EED_2026;
const SYNC_RUNS: usize = 30;
const DECOMMISSION_RUNS: usize = 20;
const SN: &str = "SN2026000001";

/// Runs `cmd` and SIGKILLs it after `delay` unless it ended first; returns whether it was
/// killed. A run that ended by itself must have succeeded.
fn run_and_kill(mut cmd: StdCommand, delay: Duration) -> bool {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("posmate starts");
    let deadline = Instant::now() + delay;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            assert!(status.success(), "{cmd:?} failed: {status}\n{err}");
            return false;
        }
        if Instant::now() >= deadline {
            // std's kill is SIGKILL on Unix: no chance to clean up.
            child.kill().expect("kill");
            child.wait().expect("reaped");
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `posmate` (std, for killing) against `sim` for `dir`.
fn posmate_std(dir: &DataDir, sim: &Sim, args: &[&str]) -> StdCommand {
    let mut cmd = dir.posmate_std();
    cmd.args(["--connect-sim", &sim.addr, "--backup-work-factor", "10"]);
    cmd.args(args);
    cmd
}

/// `posmate` (assert_cmd) against `sim` for `dir`, backups with a light work factor.
fn posmate(dir: &DataDir, sim: &Sim) -> assert_cmd::Command {
    let mut cmd = sim.posmate(dir);
    cmd.args(["--backup-work-factor", "10"]);
    cmd
}

fn slow_sim() -> Sim {
    Sim::start(&["--terminals", "1", "--latency-ms", "10", "--mtu", "23"])
}

fn pair_and_activate(dir: &DataDir, sim: &Sim) {
    run_json(
        posmate(dir, sim).args(["pair", "--sn", SN, "--from-screen"]),
        0,
        "pair",
    );
    let activated = run_json(
        posmate(dir, sim)
            .args(activate_args(1))
            .write_stdin(activation_code(1)),
        0,
        "activate",
    );
    assert_eq!(activated["result"], "activated");
}

#[test]
fn killed_syncs_resume_without_losing_or_repeating_a_record() {
    const PER_RUN: u32 = 2500;
    let sim = slow_sim();
    let dir = DataDir::new();
    pair_and_activate(&dir, &sim);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let ring_up = |run: usize| {
        // Each run's amounts differ from every other's: no duplicate swipe.
        let amount = format!("{}", 50 * (run + 1));
        let count = PER_RUN.to_string();
        posmate(&dir, &sim)
            .args([
                "sim", "ring-up", "--sn", SN, "--amount", &amount, "--count", &count,
            ])
            .assert()
            .success();
    };
    // One sync undisturbed, to learn how long one takes here.
    ring_up(0);
    let started = Instant::now();
    let first = run_json(
        posmate(&dir, &sim).args(["records", "sync", SN]),
        0,
        "records-sync",
    );
    let full = started.elapsed();
    assert_eq!(first["inserted"], PER_RUN);
    let (mut before, mut during, mut after, mut finished) = (0, 0, 0, 0);
    let mut head = u64::from(PER_RUN);
    for run in 1..=SYNC_RUNS {
        ring_up(run);
        head += u64::from(PER_RUN);
        // Most of a run is the process starting and the session resuming: aim the kills
        // at its later part, where the pages arrive.
        let delay = full.mul_f64(rng.gen_range(0.4..1.0));
        let killed = run_and_kill(posmate_std(&dir, &sim, &["records", "sync", SN]), delay);
        let again = run_json(
            posmate(&dir, &sim).args(["records", "sync", SN]),
            0,
            "records-sync",
        );
        assert_eq!(again["last_seq"].as_u64(), Some(head), "run {run}: {again}");
        let inserted = again["inserted"].as_u64().unwrap();
        match (killed, inserted) {
            (false, 0) => finished += 1,
            (true, n) if n == u64::from(PER_RUN) => before += 1,
            (true, 0) => after += 1,
            (true, _) => during += 1,
            (false, n) => panic!("run {run}: an unkilled sync left {n} records behind"),
        }
    }
    // Every record once: 1..=head, none twice.
    let records = all_records(|| posmate(&dir, &sim));
    let mut seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs.len() as u64, head, "no record lost or stored twice");
    assert!(seqs.iter().copied().eq(1..=head));
    println!(
        "sync kills (seed {SEED:#x}): {SYNC_RUNS} runs of {PER_RUN} records, one sync {:.0} ms: \
         {before} killed before the first page was stored, {during} mid-transfer, {after} after \
         the last, {finished} finished before the kill; {head} records, none lost or repeated",
        full.as_secs_f64() * 1000.0
    );
    assert!(
        during >= 3,
        "too few kills landed mid-transfer ({during}) for the test to mean much"
    );
}

#[test]
fn killed_decommissions_resume_and_never_wipe_without_a_verified_backup() {
    const RECORDS: u32 = 60;
    let sim = slow_sim();
    let dir = DataDir::new();
    let pass = passphrase_file(&dir);
    let pass = pass.to_str().unwrap().to_owned();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0xDEC0);
    let mut landed: BTreeMap<String, usize> = BTreeMap::new();
    let mut full: Option<Duration> = None;
    let verify = |path: &str| -> Value {
        run_json(
            posmate(&dir, &sim).args(["backup", "verify", path, "--passphrase-file", &pass]),
            0,
            "backup",
        )
    };
    let lifecycle = || -> String {
        let v = run_json(
            posmate(&dir, &sim).args(["sim", "terminals"]),
            0,
            "sim-terminals",
        );
        v["terminals"][0]["lifecycle"].as_str().unwrap().to_owned()
    };
    for run in 0..=DECOMMISSION_RUNS {
        pair_and_activate(&dir, &sim);
        let amount = format!("{}", run + 1);
        let count = RECORDS.to_string();
        posmate(&dir, &sim)
            .args([
                "sim", "ring-up", "--sn", SN, "--amount", &amount, "--count", &count,
            ])
            .assert()
            .success();
        run_json(posmate(&dir, &sim).args(["settle", SN]), 0, "settle");
        let backup = dir.path().join(format!("run-{run}.age"));
        let backup = backup.to_str().unwrap().to_owned();
        let args = [
            "decommission",
            SN,
            "--reason",
            "kill test",
            "--yes",
            "--from-screen",
            "--backup",
            &backup,
            "--passphrase-file",
            &pass,
        ];
        let where_ = match full {
            // The first run is not killed: it measures how long a decommission takes.
            None => {
                let started = Instant::now();
                run_json(posmate(&dir, &sim).args(args), 0, "decommission");
                full = Some(started.elapsed());
                "(calibration)".to_owned()
            }
            Some(full) => {
                let delay = full.mul_f64(rng.gen_range(0.0..1.0));
                let killed = run_and_kill(posmate_std(&dir, &sim, &args), delay);
                // Right after the kill: a wiped terminal has a verified backup with all
                // of its records. (Wiped, it is `decommissioned`; paired again to collect a
                // lost receipt, it is back to `factory`, waiting for its next owner.)
                if lifecycle() != "activated" {
                    assert_eq!(
                        verify(&backup)["records"],
                        RECORDS,
                        "run {run}: the terminal was wiped; its backup must hold every record"
                    );
                }
                let open = run_json(posmate(&dir, &sim).arg("flows"), 0, "flows");
                let step = open["flows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["kind"] == "decommission")
                    .map(|f| format!("at {}", f["step"].as_str().unwrap()))
                    .unwrap_or_else(|| {
                        if killed {
                            "before the flow started"
                        } else {
                            "finished"
                        }
                        .to_owned()
                    });
                if killed && step != "finished" {
                    // The same command again finishes what was started.
                    let done = run_json(posmate(&dir, &sim).args(args), 0, "decommission");
                    assert_eq!(done["backup_records"], RECORDS, "run {run}: {done}");
                    assert_eq!(done["journal_head"], RECORDS);
                }
                step
            }
        };
        *landed.entry(where_).or_default() += 1;
        let after = lifecycle();
        assert!(
            after == "decommissioned" || after == "factory",
            "run {run}: the terminal is {after}, not wiped"
        );
        assert_eq!(verify(&backup)["records"], RECORDS, "run {run}");
        assert_eq!(
            run_json(posmate(&dir, &sim).arg("flows"), 0, "flows")["flows"],
            Value::Array(vec![]),
            "run {run}: nothing left open"
        );
    }
    println!(
        "decommission kills (seed {:#x}): {DECOMMISSION_RUNS} runs, one decommission {:.0} ms; \
         where the kills landed: {landed:?}",
        SEED ^ 0xDEC0,
        full.unwrap_or_default().as_secs_f64() * 1000.0
    );
    println!(
        "kill tests: {} runs in all ({SYNC_RUNS} sync, {DECOMMISSION_RUNS} decommission)",
        SYNC_RUNS + DECOMMISSION_RUNS
    );
}
