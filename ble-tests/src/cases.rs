//! The cases, in order; later ones build on the phone and terminal earlier ones set up.
//! Each prints one result line; measurements are collected and printed at the end.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use posmate_core::acquirer::{CardPurposeKind, MerchantDetails};
use posmate_core::backup::Passphrase;
use posmate_core::companion::Companion;
use posmate_core::flows::{
    ActivationInput, ActivationOutcome, BackupSpec, BindInput, CardSourceInput, DecommissionInput,
    FlowControl, Progress,
};
use posmate_core::store::{HistoryQuery, StoredRecord, TerminalState};
use posmate_core::transport::btle::{BtleOptions, BtleTransport};
use posmate_core::transport::{
    Candidate, PeripheralId, ScanFilter, Transport, TransportError, Unavailability,
};
use posmate_proto::gatt::Lifecycle;
use posmate_sim::acquirer::{Review, SimAcquirer};
use posmate_sim_world::world::{self, MERCHANT_NAME, MERCHANT_NO, SETTLEMENT_PAN};
use zeroize::Zeroizing;

use crate::harness::{self, btmgmt, Args, Peripheral, CENTRAL, PERIPHERAL};

const SN1: &str = "SN2026100001";
const SN2: &str = "SN2026100002";
/// Records rung up before the measured sync, and before the sync that loses its terminal.
const SYNC_RECORDS: u64 = 400;
const KILL_RECORDS: u64 = 6000;

/// What the cases share.
pub struct Env {
    pub args: Args,
    acquirer: SimAcquirer,
    measures: std::sync::Mutex<Vec<String>>,
    phone: Option<Companion>,
    p1: Option<Peripheral>,
    p1_id: Option<PeripheralId>,
}

pub(crate) type CaseResult = Result<String, String>;

impl Env {
    pub fn new(args: Args) -> Self {
        let acquirer = SimAcquirer::new(2026);
        world::sign_up_merchant(&acquirer, Review::Instant);
        Env {
            args,
            acquirer,
            measures: Default::default(),
            phone: None,
            p1: None,
            p1_id: None,
        }
    }

    pub(crate) fn measure(&self, name: &str, value: String) {
        self.measures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{name}: {value}"));
    }

    pub fn measures(&self) -> Vec<String> {
        self.measures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Opens the phone unless an earlier case did.
    async fn open_phone(&mut self) -> Result<(), String> {
        if self.phone.is_none() {
            let dir = self.args.work.join("phone");
            self.phone = Some(harness::phone(&dir, &self.acquirer).await?);
        }
        Ok(())
    }

    fn phone(&self) -> Result<&Companion, String> {
        self.phone
            .as_ref()
            .ok_or_else(|| "needs the phone from the pairing case".to_owned())
    }

    /// Switches off what earlier cases left on the radio (the first terminal, the first
    /// phone's links) and closes that phone, so that a case can start afresh.
    pub(crate) async fn retire(&mut self) -> Result<(), String> {
        if let Some(p1) = self.p1.take() {
            p1.stop().await?;
        }
        if let Some(phone) = self.phone.take() {
            phone.disconnect_all().await;
        }
        Ok(())
    }

    fn p1(&self) -> Result<&Peripheral, String> {
        self.p1
            .as_ref()
            .ok_or_else(|| "needs the peripheral from the scan case".to_owned())
    }

    pub(crate) fn state_file(&self, name: &str) -> PathBuf {
        self.args.work.join(format!("{name}.json"))
    }
}

/// Every case by name, in the order they run.
pub const CASES: &[&str] = &[
    "no_adapter",
    "scan_with_filters",
    "pairing",
    "reconnect_paired",
    "lifecycle_activate_bind_sync_settle_decommission",
    "peripheral_disappears_mid_sync",
    "adapter_powered_off",
    "sandbox_https_lifecycle",
];

pub async fn run(env: &mut Env, name: &str) -> CaseResult {
    match name {
        "no_adapter" => no_adapter().await,
        "scan_with_filters" => scan_with_filters(env).await,
        "pairing" => pairing(env).await,
        "reconnect_paired" => reconnect_paired(env).await,
        "lifecycle_activate_bind_sync_settle_decommission" => lifecycle(env).await,
        "peripheral_disappears_mid_sync" => disappears_mid_sync(env).await,
        "adapter_powered_off" => adapter_powered_off().await,
        "sandbox_https_lifecycle" => crate::sandbox_life::run(env).await,
        other => Err(format!("no case {other}")),
    }
}

/// Fails with `why` unless `cond`.
pub(crate) fn check(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

/// An error with its sources (the platform's own words), for a failing case's report.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// An adapter name BlueZ does not have: the typed error lists the ones it has.
async fn no_adapter() -> CaseResult {
    let err = BtleTransport::new(BtleOptions {
        adapter: Some("hci7".into()),
        ..BtleOptions::default()
    })
    .await
    .err()
    .ok_or("opening hci7 succeeded")?;
    match &err {
        TransportError::AdapterNotFound { name, available } => {
            check(name == "hci7", || format!("named {name}"))?;
            check(
                available.iter().any(|a| a == CENTRAL) && available.iter().any(|a| a == PERIPHERAL),
                || format!("available lists {available:?}"),
            )?;
        }
        other => return Err(format!("expected adapter-not-found, got {other:?}")),
    }
    check(err.code() == "adapter-not-found", || err.code().into())?;
    Ok(format!("{err}"))
}

/// Scans until a candidate matching `filter` shows up (or `timeout`).
pub(crate) async fn first_match(
    transport: &dyn Transport,
    filter: ScanFilter,
    timeout: Duration,
    want: impl Fn(&Candidate) -> bool,
) -> Result<Option<(Candidate, Duration)>, String> {
    let start = Instant::now();
    let mut stream = transport.scan(filter).await.map_err(|e| chain(&e))?;
    let deadline = tokio::time::Instant::now() + timeout;
    while let Ok(Some(c)) = tokio::time::timeout_at(deadline, stream.next()).await {
        if want(&c) {
            return Ok(Some((c, start.elapsed())));
        }
    }
    Ok(None)
}

async fn scan_with_filters(env: &mut Env) -> CaseResult {
    let state = env.state_file("t1");
    let t1 = harness::write_terminal(&state, SN1, 9001)?;
    world::register(&env.acquirer, [&t1], 0);
    let p1 = Peripheral::start(&env.args, &state, SN1, "t1").await?;
    env.p1 = Some(p1);
    let transport = BtleTransport::new(BtleOptions {
        adapter: Some(CENTRAL.into()),
        ..BtleOptions::default()
    })
    .await
    .map_err(|e| chain(&e))?;
    let (found, took) = first_match(
        &transport,
        ScanFilter::sn_suffix("100001"),
        Duration::from_secs(10),
        |_| true,
    )
    .await?
    .ok_or("the terminal was not found by its SN suffix within 10 s")?;
    check(found.local_name == "POSMATE-100001", || {
        format!("local name {}", found.local_name)
    })?;
    check(found.lifecycle == Lifecycle::Factory, || {
        format!("lifecycle {:?}", found.lifecycle)
    })?;
    check(found.protocol_version == 1, || {
        format!("protocol version {}", found.protocol_version)
    })?;
    check(!found.pairing_open && !found.pairing_locked, || {
        format!("{found:?}")
    })?;
    env.measure("scan start to the terminal's advertisement", ms(took));
    let by_name = ScanFilter {
        name_contains: Some("posmate-1000".into()),
        ..ScanFilter::default()
    };
    first_match(&transport, by_name, Duration::from_secs(5), |_| true)
        .await?
        .ok_or("not found by name")?;
    let other = first_match(
        &transport,
        ScanFilter::sn_suffix("999999"),
        Duration::from_secs(2),
        |_| true,
    )
    .await?;
    check(other.is_none(), || {
        format!("a filter for 999999 found {other:?}")
    })?;
    env.p1_id = Some(found.peripheral_id.clone());
    Ok(format!(
        "{} ({}) by SN suffix in {}, by name; nothing for another suffix",
        found.local_name,
        found.peripheral_id,
        ms(took)
    ))
}

async fn pairing(env: &mut Env) -> CaseResult {
    env.open_phone().await?;
    let phone = env.phone()?;
    let p1 = env.p1()?;
    let merchant = p1.merchant();
    let mark = p1.mark();
    // The phone's own scan lists for a fixed time; this one stops at the first sighting,
    // as an app does when the merchant taps the terminal.
    let scanner = BtleTransport::new(BtleOptions {
        adapter: Some(CENTRAL.into()),
        ..BtleOptions::default()
    })
    .await
    .map_err(|e| chain(&e))?;
    let start = Instant::now();
    let (found, seen) = first_match(
        &scanner,
        ScanFilter::sn_suffix("100001"),
        Duration::from_secs(10),
        |_| true,
    )
    .await?
    .ok_or("scan found no terminal within 10 s")?;
    let paired = Instant::now();
    let row = phone
        .pair(&found.peripheral_id, &merchant)
        .await
        .map_err(|e| chain(&e))?;
    let took = start.elapsed();
    let pairing = paired.elapsed();
    check(row.sn == SN1, || format!("paired with {}", row.sn))?;
    check(row.state == TerminalState::Paired, || {
        format!("state {:?}", row.state)
    })?;
    let (_, connected) = p1
        .wait_for("ble-connected", mark, Duration::from_secs(5))
        .await?;
    let mtu = connected["mtu"].as_u64().unwrap_or(0);
    check((23..=517).contains(&mtu), || format!("mtu {mtu}"))?;
    // The code was read off the terminal's screen, not guessed.
    p1.wait_for("screen", mark, Duration::from_secs(1)).await?;
    env.measure(
        "scan start to session up (first sighting, connect, pair with the screen's code)",
        format!(
            "{} (scan {}, connect + pairing {})",
            ms(took),
            ms(seen),
            ms(pairing)
        ),
    );
    env.measure("ATT MTU negotiated by the stack", mtu.to_string());
    Ok(format!("paired {} in {} (MTU {mtu})", row.sn, ms(took)))
}

/// Disconnects and resumes the paired session (no code) three times.
async fn reconnect_paired(env: &mut Env) -> CaseResult {
    let mut times = Vec::new();
    for _ in 0..3 {
        let phone = env.phone()?;
        let p1 = env.p1()?;
        let mark = p1.mark();
        phone.disconnect_all().await;
        p1.wait_for("ble-disconnected", mark, Duration::from_secs(10))
            .await?;
        p1.wait_for("ble-advertising", mark, Duration::from_secs(10))
            .await?;
        let mark = p1.mark();
        let start = Instant::now();
        let info = phone.info(SN1).await.map_err(|e| chain(&e))?;
        times.push(start.elapsed());
        check(info.sn == SN1, || format!("info from {}", info.sn))?;
        // No code was shown: a resume, not a new pairing.
        let screens = p1
            .wait_for("screen", mark, Duration::from_millis(200))
            .await;
        if let Ok((_, s)) = screens {
            check(s["screen"]["kind"] != "pairing-code", || {
                "the terminal showed a pairing code on reconnect".into()
            })?;
        }
    }
    times.sort();
    env.measure(
        "reconnect to the paired terminal (connect, resume, one request), median of 3",
        ms(times[1]),
    );
    Ok(format!(
        "resumed without a code 3 times: {}",
        times.iter().map(|t| ms(*t)).collect::<Vec<_>>().join(", ")
    ))
}

fn merchant_details() -> MerchantDetails {
    MerchantDetails {
        legal_name: MERCHANT_NAME.into(),
        contact_phone: "+86 138 0000 0000".into(),
        address: "12 Wenhua Road, Hangzhou".into(),
    }
}

pub(crate) fn activation(sn: &str, terminal_no: &str, code: &str) -> ActivationInput {
    ActivationInput {
        sn: sn.into(),
        terminal_no: terminal_no.into(),
        merchant_no: MERCHANT_NO.into(),
        activation_code: Zeroizing::new(code.into()),
        merchant: merchant_details(),
    }
}

/// Activates `sn`, the standard world's terminal `n`, and binds the merchant's settlement
/// card typed by hand: the start of every whole-life case. Checks the three key slots and
/// that the phone keeps only the masked number.
pub(crate) async fn activate_and_bind(
    phone: &Companion,
    sn: &str,
    n: usize,
    ctl: &FlowControl,
) -> Result<(), String> {
    let outcome = phone
        .activate(
            activation(sn, &world::terminal_no(n), &world::activation_code(n)),
            ctl,
        )
        .await
        .map_err(|e| format!("activate: {}", chain(&e)))?;
    let ActivationOutcome::Activated { key_slots, .. } = outcome else {
        return Err(format!("activation did not finish: {outcome:?}"));
    };
    check(key_slots.len() == 3, || {
        format!("{} key slots", key_slots.len())
    })?;
    let card = phone
        .bind_card(
            BindInput {
                merchant_no: MERCHANT_NO.into(),
                purpose: CardPurposeKind::Settlement,
                holder_name: MERCHANT_NAME.into(),
                source: CardSourceInput::Manual {
                    pan: Zeroizing::new(SETTLEMENT_PAN.into()),
                    expiry: "0330".into(),
                },
            },
            ctl,
        )
        .await
        .map_err(|e| format!("bind: {}", chain(&e)))?;
    check(card.masked_pan.as_str() == "622202*********0128", || {
        format!("masked {}", card.masked_pan.as_str())
    })
}

/// Every record held for `sn`, page by page (a history page holds at most 500).
pub(crate) fn all_records(phone: &Companion, sn: &str) -> Result<Vec<StoredRecord>, String> {
    let mut query = history(sn);
    let mut all = Vec::new();
    loop {
        let page = phone.history(&query).map_err(|e| chain(&e))?;
        all.extend(page.records);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(all),
        }
    }
}

fn history(sn: &str) -> HistoryQuery {
    HistoryQuery {
        sn: Some(sn.into()),
        merchant_no: None,
        from_ms: None,
        to_ms: None,
        kinds: Vec::new(),
        min_minor: None,
        max_minor: None,
        limit: 500,
        after: None,
    }
}

async fn lifecycle(env: &mut Env) -> CaseResult {
    let ctl = FlowControl::default();
    let phone = env.phone()?;
    let p1 = env.p1()?;
    activate_and_bind(phone, SN1, 1, &ctl).await?;
    let total = p1.ring_up(SYNC_RECORDS, 1_000).await?;
    env.acquirer.record_trade(SN1, env.acquirer.now_ms());
    let start = Instant::now();
    let synced = phone
        .sync(SN1, &ctl)
        .await
        .map_err(|e| format!("sync: {e}"))?;
    let took = start.elapsed();
    check(
        synced.inserted == SYNC_RECORDS && synced.last_seq == SYNC_RECORDS,
        || format!("{synced:?}"),
    )?;
    let again = phone.sync(SN1, &ctl).await.map_err(|e| chain(&e))?;
    check(again.inserted == 0, || format!("second sync {again:?}"))?;
    let held = all_records(phone, SN1)?.len();
    check(held as u64 == SYNC_RECORDS, || format!("{held} held"))?;
    let secs = took.as_secs_f64();
    env.measure(
        &format!(
            "sync throughput ({SYNC_RECORDS} records, {} pages)",
            synced.pages
        ),
        format!(
            "{:.0} records/s, {:.0} bytes/s of journal ({} bytes in {:.2} s)",
            synced.inserted as f64 / secs,
            synced.record_bytes as f64 / secs,
            synced.record_bytes,
            secs
        ),
    );
    let settled = phone
        .settle(SN1, &ctl)
        .await
        .map_err(|e| format!("settle: {e}"))?;
    check(settled.matched, || format!("{settled:?}"))?;
    check(
        u64::from(settled.terminal.sale_count) == SYNC_RECORDS
            && settled.terminal.sale_minor == total,
        || format!("{settled:?}"),
    )?;
    let backup = env.args.work.join("t1.age");
    let d = phone
        .decommission(
            DecommissionInput {
                sn: SN1.into(),
                reason: "shop closed".into(),
                backup: BackupSpec::Write {
                    path: backup.clone(),
                    passphrase: Passphrase::new("correct horse battery"),
                },
            },
            &ctl,
        )
        .await
        .map_err(|e| format!("decommission: {e}"))?;
    check(d.backup_records == SYNC_RECORDS, || format!("{d:?}"))?;
    check(phone.terminal(SN1).is_err(), || {
        "the phone still knows the terminal".into()
    })?;
    // On the air, the terminal now says it is decommissioned.
    let transport = BtleTransport::new(BtleOptions {
        adapter: Some(CENTRAL.into()),
        ..BtleOptions::default()
    })
    .await
    .map_err(|e| chain(&e))?;
    first_match(
        &transport,
        ScanFilter::sn_suffix("100001"),
        Duration::from_secs(10),
        |c| c.lifecycle == Lifecycle::Decommissioned,
    )
    .await?
    .ok_or("the terminal does not advertise decommissioned")?;
    Ok(format!(
        "activated, card bound, {SYNC_RECORDS} records synced in {:.2} s, settled (matched), \
         decommissioned with a verified backup; advertises decommissioned",
        took.as_secs_f64()
    ))
}

/// The terminal's process is killed mid-sync and its radio goes silent (a power cut);
/// it comes back from its flash and the sync completes with every record once.
async fn disappears_mid_sync(env: &mut Env) -> CaseResult {
    if let Some(p1) = env.p1.take() {
        p1.stop().await?;
    }
    // The next terminal is served from the same adapter, so it has the same address:
    // the phone's BlueZ forgets what it cached about the previous one.
    harness::forget_peripheral().await?;
    let ctl = FlowControl::default();
    let state = env.state_file("t2");
    let t2 = harness::write_terminal(&state, SN2, 9002)?;
    env.acquirer.register_terminal(
        SN2,
        t2.device_key(),
        &world::terminal_no(2),
        &world::activation_code(2),
    );
    let p2 = Peripheral::start(&env.args, &state, SN2, "t2").await?;
    env.open_phone().await?;
    let phone = env.phone()?;
    let found = phone
        .scan(ScanFilter::sn_suffix("100002"), Duration::from_secs(2))
        .await
        .map_err(|e| chain(&e))?;
    let id = found
        .first()
        .map(|c| c.peripheral_id.clone())
        .ok_or("t2 not found")?;
    phone
        .pair(&id, &p2.merchant())
        .await
        .map_err(|e| format!("pair t2: {e}"))?;
    phone
        .activate(
            activation(SN2, &world::terminal_no(2), &world::activation_code(2)),
            &ctl,
        )
        .await
        .map_err(|e| format!("activate t2: {e}"))?;
    // A busy month on the terminal: the merchant's sales go straight into its flash while
    // it is off (the same firmware; thousands of control requests would take minutes).
    p2.stop().await?;
    harness::ring_up_offline(&state, KILL_RECORDS, 500)?;
    let p2 = Peripheral::start(&env.args, &state, SN2, "t2-busy").await?;

    let pid = p2.pid().ok_or("t2 exited")?;
    let killed = Arc::new(AtomicBool::new(false));
    let at_kill = Arc::new(std::sync::Mutex::new(0u64));
    let radio = harness::adapter(PERIPHERAL).await?;
    let (radio_off_tx, radio_off) = tokio::sync::oneshot::channel();
    let radio_off_tx = std::sync::Mutex::new(Some(radio_off_tx));
    let sink = {
        let killed = killed.clone();
        let at_kill = at_kill.clone();
        move |p: &Progress| {
            if p.fraction > 0.0 && !killed.swap(true, Ordering::SeqCst) {
                *at_kill.lock().unwrap_or_else(|e| e.into_inner()) =
                    (f64::from(p.fraction) * KILL_RECORDS as f64) as u64;
                // A power cut: the firmware stops at once and its radio goes silent, so
                // the link drops now (a killed process alone would leave BlueZ's link up).
                let killed = harness::kill(pid);
                let tx = radio_off_tx
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                let radio = radio.clone();
                tokio::spawn(async move {
                    let off = radio
                        .set_powered(false)
                        .await
                        .map_err(|e| format!("switching {PERIPHERAL} off: {e}"));
                    if let Some(tx) = tx {
                        let _ = tx.send(killed.and(off));
                    }
                });
            }
        }
    };
    let first = phone.sync(SN2, &FlowControl::new(Arc::new(sink))).await;
    check(killed.load(Ordering::SeqCst), || {
        format!("the sync reported no progress: {first:?}")
    })?;
    // The cut must land mid-sync: with pages still on their way, not after the last one.
    check(first.is_err(), || {
        format!("the first sync finished despite the cut: {first:?}")
    })?;
    radio_off
        .await
        .map_err(|_| "the power cut did not happen".to_owned())??;
    let mut p2 = p2;
    p2.wait_exit().await;
    let first_inserted = match &first {
        Ok(o) => o.inserted,
        Err(_) => all_records(phone, SN2)?.len() as u64,
    };
    btmgmt(PERIPHERAL, &["power", "on"]).await?;
    let back = Instant::now();
    let p2 = Peripheral::start(&env.args, &state, SN2, "t2-restarted").await?;
    let resumed = Instant::now();
    let second = phone
        .sync(SN2, &ctl)
        .await
        .map_err(|e| format!("sync after the terminal came back: {e}"))?;
    let recovery = back.elapsed();
    let rest = resumed.elapsed().as_secs_f64();
    let records = all_records(phone, SN2)?;
    let outcomes = format!("first sync: {first:?}; after the restart: {second:?}");
    let check =
        |cond: bool, why: &dyn Fn() -> String| check(cond, || format!("{}; {outcomes}", why()));
    let seqs: BTreeSet<u64> = records.iter().map(|r| r.record.seq).collect();
    check(records.len() as u64 == KILL_RECORDS, &|| {
        format!("{} records held, {} expected", records.len(), KILL_RECORDS)
    })?;
    check(seqs.len() == records.len(), &|| "duplicate records".into())?;
    check(
        seqs.first() == Some(&1) && seqs.last() == Some(&KILL_RECORDS),
        &|| format!("seqs {:?}..{:?}", seqs.first(), seqs.last()),
    )?;
    check(second.last_seq == KILL_RECORDS, &|| format!("{second:?}"))?;
    check(first_inserted + second.inserted == KILL_RECORDS, &|| {
        format!(
            "{first_inserted} before the cut + {} after != {KILL_RECORDS}",
            second.inserted
        )
    })?;
    env.measure(
        "terminal restarted from flash to sync complete",
        ms(recovery),
    );
    env.measure(
        &format!(
            "sync throughput after the restart ({} records, {} pages, reconnect and resume included)",
            second.inserted, second.pages
        ),
        format!(
            "{:.0} records/s, {:.0} bytes/s of journal ({} bytes in {rest:.2} s)",
            second.inserted as f64 / rest,
            second.record_bytes as f64 / rest,
            second.record_bytes
        ),
    );
    p2.stop().await?;
    let cut = match first {
        Ok(_) => "the first sync finished".to_owned(),
        Err(e) => format!("the first sync failed: {e}"),
    };
    Ok(format!(
        "killed at ~{} of {KILL_RECORDS}; {cut}; {first_inserted} stored before, {} after the \
         restart; all {KILL_RECORDS} once, seqs 1..={KILL_RECORDS}",
        at_kill.lock().unwrap_or_else(|e| e.into_inner()),
        second.inserted
    ))
}

/// The central's adapter switched off with btmgmt: opening it and scanning on it are
/// typed errors; switched on again it works.
async fn adapter_powered_off() -> CaseResult {
    let open = || {
        BtleTransport::new(BtleOptions {
            adapter: Some(CENTRAL.into()),
            ..BtleOptions::default()
        })
    };
    let transport = open().await.map_err(|e| chain(&e))?;
    btmgmt(CENTRAL, &["power", "off"]).await?;
    let result = async {
        let err = open()
            .await
            .err()
            .ok_or("opening a powered-off adapter succeeded")?;
        check(
            matches!(
                err,
                TransportError::BluetoothUnavailable {
                    cause: Unavailability::AdapterPoweredOff,
                    ..
                }
            ),
            || format!("open: expected adapter-off, got {err:?}"),
        )?;
        let scan = transport
            .scan(ScanFilter::any())
            .await
            .err()
            .ok_or("scanning on a powered-off adapter succeeded")?;
        check(
            matches!(
                scan,
                TransportError::BluetoothUnavailable {
                    cause: Unavailability::AdapterPoweredOff,
                    ..
                }
            ),
            || format!("scan: expected adapter-off, got {scan:?}"),
        )?;
        Ok::<_, String>(format!("{err}"))
    }
    .await;
    btmgmt(CENTRAL, &["power", "on"]).await?;
    let message = result?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    open().await.map_err(|e| format!("after power on: {e}"))?;
    Ok(message)
}
