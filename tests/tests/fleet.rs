//! Fleet runs through the core (`posmate_core::fleet::activate`) on terminals of the in-process
//! radio: each row its own activation, the journal across a reopened phone, retries only
//! when asked, cancellation between rows, and no activation code in the database.

use async_trait::async_trait;
use posmate_core::companion::Companion;
use posmate_core::fleet::{
    FleetCodes, FleetObserver, FleetOptions, FleetPlan, FleetReport, FleetRow, FleetRowReport,
    RowResult,
};
use posmate_core::flows::FlowControl;
use posmate_core::session::CodeEntry;
use posmate_core::store::TerminalState;
use posmate_sim::acquirer::Review;
use posmate_sim::terminal::Screen;
use posmate_sim::SimTerminal;
use posmate_tests::world::*;
use zeroize::Zeroizing;

/// The merchant reads the code off whichever terminal is being paired.
struct Screens(Vec<SimTerminal>);

#[async_trait]
impl CodeEntry for Screens {
    async fn enter_code(&self, sn: &str) -> Option<String> {
        match self.0.iter().find(|t| t.sn() == sn)?.screen() {
            Screen::PairingCode(code) => Some(code),
            _ => None,
        }
    }
}

/// Counts the rows that were started.
#[derive(Default)]
struct Started(std::sync::Mutex<Vec<String>>);

impl FleetObserver for Started {
    fn row_started(&self, _: usize, _: usize, sn: &str) {
        self.0.lock().unwrap().push(sn.to_owned());
    }
    fn row_finished(&self, _: usize, _: usize, _: &FleetRowReport) {}
}

fn rows(w: &World, n: usize) -> Vec<FleetRow> {
    (0..n)
        .map(|i| FleetRow {
            line: i as u64 + 2,
            sn: w.sn(i),
            terminal_no: terminal_no(i),
            merchant_no: MERCHANT_NO.into(),
            merchant: merchant_details(),
        })
        .collect()
}

fn codes(w: &World, n: usize, wrong: Option<usize>) -> FleetCodes {
    let mut codes = FleetCodes::new();
    for i in 0..n {
        let code = if Some(i) == wrong {
            "WRONG999".to_owned()
        } else {
            activation_code(i)
        };
        codes.insert(w.sn(i), Zeroizing::new(code));
    }
    codes
}

async fn run(
    w: &World,
    phone: &Companion,
    plan: &FleetPlan,
    codes: &FleetCodes,
    retry_failed: bool,
) -> (FleetReport, Vec<String>) {
    let started = Started::default();
    let report = posmate_core::fleet::activate(
        phone,
        plan,
        codes,
        &Screens(w.terminals.clone()),
        FleetOptions { retry_failed },
        &started,
        &FlowControl::default(),
    )
    .await
    .expect("the journal works");
    let started = started.0.into_inner().unwrap();
    (report, started)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_run_journals_each_row_and_a_rerun_sends_nothing_twice() {
    let w = World::new(4, 61, Review::Instant);
    let plan = FleetPlan::new(b"four terminals", rows(&w, 4));
    let first = {
        let phone = w.phone();
        let (report, started) = run(&w, &phone, &plan, &codes(&w, 4, Some(2)), false).await;
        assert_eq!(started.len(), 4);
        report
    };
    assert_eq!(
        (first.totals.activated, first.totals.failed),
        (3, 1),
        "{first:#?}"
    );
    let wrong = &first.rows[2];
    assert_eq!(wrong.result, RowResult::Failed);
    assert_eq!(wrong.code.as_deref(), Some("wrong-activation-code"));
    assert!(first.rows.iter().all(|r| r.paired && !r.from_journal));

    // A reopened phone (the app was killed and started again) runs the same plan: every
    // row comes from the journal, nothing is started.
    let phone = w.phone();
    let (again, started) = run(&w, &phone, &plan, &codes(&w, 4, None), false).await;
    assert!(started.is_empty(), "started again: {started:?}");
    assert!(again.rows.iter().all(|r| r.from_journal));
    assert_eq!(again.totals, first.totals);

    // Retrying with the right code activates the failed row, and only it.
    let (retried, started) = run(&w, &phone, &plan, &codes(&w, 4, None), true).await;
    assert_eq!(started, [w.sn(2)]);
    assert_eq!(retried.totals.activated, 4);
    assert_eq!(retried.rows[2].attempts, 2);
    for i in 0..4 {
        assert_eq!(w.acquirer.activations(&w.sn(i)), 1, "terminal {i}");
        assert_eq!(
            phone.terminal(&w.sn(i)).unwrap().state,
            TerminalState::Activated
        );
    }

    // No activation code anywhere in the database, read decrypted as a forensic tool
    // would; the journal holds every row done.
    let key = w.secrets.get("db-key").unwrap().expect("db key");
    drop(phone);
    let (dump, journal) = decrypted(&w.dir.join("posmate.db"), key.expose());
    for i in 0..4 {
        let code = activation_code(i);
        assert!(
            !dump.windows(code.len()).any(|b| b == code.as_bytes()),
            "{code} is in the database"
        );
    }
    assert!(!dump.windows(8).any(|b| b == b"WRONG999"));
    let name = MERCHANT_NAME.as_bytes();
    assert!(
        dump.windows(name.len()).any(|b| b == name),
        "the dump reads the database's plaintext"
    );
    assert_eq!(journal, ["done"; 4]);
}

/// Every text and blob value of every table, and the fleet journal's row states.
fn decrypted(path: &std::path::Path, key: &[u8]) -> (Vec<u8>, Vec<String>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";"))
        .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(tables.iter().any(|t| t == "fleet_rows"), "{tables:?}");
    let mut dump = Vec::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..n {
                if let rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) =
                    row.get_ref(i).unwrap()
                {
                    dump.extend_from_slice(b);
                    dump.push(b'|');
                }
            }
        }
    }
    let journal = conn
        .prepare("SELECT state FROM fleet_rows ORDER BY line")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (dump, journal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_between_rows_and_the_next_run_goes_on() {
    let w = World::new(2, 62, Review::Instant);
    let plan = FleetPlan::new(b"two terminals", rows(&w, 2));
    let phone = w.phone();
    let control = FlowControl::default();
    control.cancel.cancel();
    let started = Started::default();
    let report = posmate_core::fleet::activate(
        &phone,
        &plan,
        &codes(&w, 2, None),
        &Screens(w.terminals.clone()),
        FleetOptions::default(),
        &started,
        &control,
    )
    .await
    .unwrap();
    assert!(report.cancelled);
    assert_eq!(report.totals.not_run, 2);
    assert!(started.0.lock().unwrap().is_empty());
    assert!(phone.terminals().unwrap().is_empty(), "nothing was paired");
    let (next, _) = run(&w, &phone, &plan, &codes(&w, 2, None), false).await;
    assert_eq!(next.totals.activated, 2);
    assert!(!next.cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_without_a_code_fails_alone_and_an_unlisted_terminal_is_not_touched() {
    let w = World::new(3, 63, Review::Instant);
    let plan = FleetPlan::new(b"two of three", rows(&w, 2));
    let phone = w.phone();
    let mut some = FleetCodes::new();
    some.insert(w.sn(1), Zeroizing::new(activation_code(1)));
    let (report, started) = run(&w, &phone, &plan, &some, false).await;
    assert_eq!(started.len(), 2);
    assert_eq!(
        report.rows[0].code.as_deref(),
        Some("missing-activation-code")
    );
    assert_eq!(report.rows[1].result, RowResult::Activated);
    assert!(
        phone.terminal(&w.sn(0)).is_err(),
        "no code: not even paired, nothing sent"
    );
    assert_eq!(w.acquirer.activations(&w.sn(0)), 0);
    assert_eq!(w.acquirer.activations(&w.sn(2)), 0);
}
