//! Fleet run journals, sync times and what is not settled yet.

use super::*;

fn journal_row(run: &str, sn: &str, line: u64) -> FleetJournalRow {
    FleetJournalRow {
        run_id: run.into(),
        sn: sn.into(),
        line,
        state: FleetRowState::Running,
        flow_id: None,
        error_code: None,
        reason: None,
        next_step: None,
        result: None,
        attempts: 1,
        updated_at_ms: 5,
    }
}

#[test]
fn store_fleet_rows_are_kept_per_run_and_sn_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-fleet");
    let store = open(dir.path(), &secrets).unwrap();
    let mut failed = journal_row("run-a", "SN2", 3);
    failed.state = FleetRowState::Failed;
    failed.error_code = Some("wrong-activation-code".into());
    failed.reason = Some("the activation code is wrong".into());
    let mut done = journal_row("run-a", "SN1", 2);
    done.state = FleetRowState::Done;
    done.result = Some(json!({ "result": "activated", "sn": "SN1" }));
    store
        .write(|tx| {
            tx.fleet_put(&failed)?;
            tx.fleet_put(&done)?;
            tx.fleet_put(&journal_row("run-b", "SN1", 2))
        })
        .unwrap();
    // Saving again replaces the row of the same run and SN.
    done.attempts = 2;
    store.write(|tx| tx.fleet_put(&done)).unwrap();
    drop(store);
    let store = open(dir.path(), &secrets).unwrap();
    let rows = store.read(|tx| tx.fleet_rows("run-a")).unwrap();
    assert_eq!(
        rows,
        vec![done.clone(), failed],
        "in line order, one per SN"
    );
    assert_eq!(
        store.read(|tx| tx.fleet_row("run-b", "SN1")).unwrap(),
        Some(journal_row("run-b", "SN1", 2)),
        "another run of the same terminal is its own row"
    );
    assert_eq!(store.read(|tx| tx.fleet_row("run-c", "SN1")).unwrap(), None);
}

#[test]
fn store_sync_times_and_unsettled_batches() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-unsettled");
    let store = open(dir.path(), &secrets).unwrap();
    assert_eq!(store.read(|tx| tx.synced_at("SN1")).unwrap(), None);
    store.write(|tx| tx.mark_synced("SN1", 10)).unwrap();
    store.write(|tx| tx.mark_synced("SN1", 20)).unwrap();
    assert_eq!(store.read(|tx| tx.synced_at("SN1")).unwrap(), Some(20));
    let mut journal = records(1..=4);
    journal[2].batch_no = 2;
    journal[3].batch_no = 2;
    journal[3].status = RecordStatus::Declined;
    store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &journal))
        .unwrap();
    let (count, totals) = store.read(|tx| tx.unsettled("SN1")).unwrap();
    assert_eq!(count, 4);
    assert_eq!(
        (totals.sale_count, totals.sale_minor),
        (3, 1001 + 1002 + 1003)
    );
    // Batch 1 settled: only batch 2 is left, and its declined record moves no money.
    store
        .write(|tx| {
            tx.put_settlement(&SettlementRow {
                sn: "SN1".into(),
                batch_no: 1,
                epoch: EPOCH,
                first_seq: 1,
                last_seq: 2,
                terminal: Totals::default(),
                phone: Totals::default(),
                matched: true,
                settled_at_ms: 30,
            })
        })
        .unwrap();
    let (count, totals) = store.read(|tx| tx.unsettled("SN1")).unwrap();
    assert_eq!((count, totals.sale_count, totals.sale_minor), (2, 1, 1003));
    assert_eq!(
        store.read(|tx| tx.unsettled("SN2")).unwrap(),
        (0, Totals::default())
    );
}
