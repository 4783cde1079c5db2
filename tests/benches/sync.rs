//! Journal sync over the simulated 2M PHY link (issue 3): how full the sync keeps the link.
//!
//! One activated simulated terminal books 10,000 sales while the phone is away; the phone
//! reconnects (resume + GetInfo, not measured) and syncs its whole journal through
//! `Companion::sync`, with real SQLCipher writes. Measured in this run, on the link's own
//! virtual clock (`LinkStats`, never wall time):
//! * link utilisation = ATT value bytes the terminal sent during the sync ÷ (virtual elapsed
//!   time × the link model's payload capacity) — target ≥ 0.95;
//! * goodput = record CBOR bytes ÷ (virtual elapsed time × capacity): the share of the link
//!   that carried journal records rather than framing, encryption and CBOR envelopes;
//! * the wall time the sync took on this machine (store writes included), for reference.
//!
//! Elapsed time runs from the end of the last packet before the sync to the end of the last
//! packet of the sync, either direction: it includes the phone's trailing CREDIT, so it is
//! the conservative figure.
//!
//! The verdict is taken on a current-thread tokio runtime. The sim link's clock is causal:
//! a phone write goes on air no earlier than the last notification the phone's reader task
//! has taken, and the simulated terminal queues a whole answer the moment a request lands.
//! With one thread the reader, writer and sync tasks interleave the same way every run, so
//! the trace and the figure are reproducible. On a multi-thread runtime (what the CLI and
//! the app use) the reader can run ahead through answers that are still "on air" while the
//! sync task is elsewhere, which pushes the next request behind them; how often depends on
//! OS scheduling, so those runs are printed as a spread, for information.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p posmate-tests --bench sync`).

use std::time::{Duration, Instant};

use posmate_core::flows::{FlowControl, SyncOutcome};
use posmate_proto::gatt::Micros;
use posmate_sim::acquirer::Review;
use posmate_sim_world::radio::timing::LinkModel;
use posmate_sim_world::radio::trace::TraceKind;
use posmate_sim_world::radio::LinkStats;
use posmate_tests::world::World;

const RECORDS: u64 = 10_000;
const TARGET: f64 = 0.95;
/// Syncs on a multi-thread runtime, printed as a spread.
const THREADED_RUNS: usize = 9;

/// One sync of the whole journal, as the link saw it.
struct Run {
    outcome: SyncOutcome,
    /// Value bytes and notifications the terminal sent, writes the phone made.
    sent: u64,
    notifications: u64,
    writes: u64,
    elapsed_us: Micros,
    /// Connection events in the window, and those that carried fewer notifications than
    /// the model allows (the link idled for part of them).
    events: u64,
    short_events: u64,
    wall: Duration,
    /// When each packet of the sync went on air and how long it was, to compare runs
    /// (the bytes differ: session keys are fresh every run).
    timing: Vec<(Micros, Micros, usize)>,
}

impl Run {
    fn utilisation(&self, capacity: f64) -> f64 {
        self.sent as f64 / (self.elapsed_us as f64 / 1e6 * capacity)
    }

    fn goodput(&self, capacity: f64) -> f64 {
        self.outcome.record_bytes as f64 / (self.elapsed_us as f64 / 1e6 * capacity)
    }
}

fn main() {
    let model = LinkModel::phone_2m();
    let capacity = model.payload_capacity_bytes_per_sec();
    println!(
        "sync benchmark: {RECORDS} journal records over the simulated link phone_2m (2M PHY, \
         {} ms connection interval, {} packets per event, MTU {}): payload capacity \
         {capacity:.1} B/s",
        model.conn_interval_us as f64 / 1e3,
        model.packets_per_event,
        model.mtu
    );

    let single = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    let run = single().block_on(sync_once(&model));
    let again = single().block_on(sync_once(&model));
    let o = &run.outcome;
    println!(
        "current-thread runtime: {} records in {} pages ({:.0} records a page), {} record \
         CBOR bytes; the terminal sent {} value bytes in {} notifications, the phone made \
         {} writes",
        o.inserted,
        o.pages,
        o.inserted as f64 / o.pages.max(1) as f64,
        o.record_bytes,
        run.sent,
        run.notifications,
        run.writes
    );
    println!(
        "virtual time {:.1} ms over {} connection events, {} of them not full; capacity \
         carries the same bytes in {:.1} ms; a second run's packet timing is {}",
        run.elapsed_us as f64 / 1e3,
        run.events,
        run.short_events,
        run.sent as f64 / capacity * 1e3,
        if again.timing == run.timing && again.elapsed_us == run.elapsed_us {
            "identical (deterministic)"
        } else {
            "DIFFERENT (not deterministic)"
        }
    );
    println!(
        "wall time of the sync: {:.0} ms ({:.3}× its virtual time)",
        run.wall.as_secs_f64() * 1e3,
        run.wall.as_secs_f64() * 1e6 / run.elapsed_us as f64
    );
    println!(
        "goodput (record CBOR bytes ÷ elapsed × capacity): {:.3} (no target: the rest is CBOR \
         envelopes, frame and segment headers, AEAD tags)",
        run.goodput(capacity)
    );

    let threaded = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut spread: Vec<f64> = (0..THREADED_RUNS)
        .map(|_| threaded.block_on(sync_once(&model)).utilisation(capacity))
        .collect();
    spread.sort_by(f64::total_cmp);
    println!(
        "multi-thread runtime (2 workers), {THREADED_RUNS} runs, for information: link \
         utilisation min {:.3}, median {:.3}, max {:.3} (varies with OS scheduling: see the \
         bench's notes)",
        spread[0],
        spread[THREADED_RUNS / 2],
        spread[THREADED_RUNS - 1]
    );

    let utilisation = run.utilisation(capacity);
    println!(
        "link utilisation (terminal's ATT value bytes ÷ elapsed × capacity), current-thread \
         runtime: {utilisation:.3} (target >= {TARGET}): {}",
        if utilisation >= TARGET {
            "PASS"
        } else {
            "MISS"
        }
    );
}

/// The last connection's stats and how many trace events it has recorded so far.
fn link_now(w: &World) -> (LinkStats, usize) {
    let stats = *w.radio.stats(&w.ids[0]).last().expect("a connection");
    let events = w
        .radio
        .traces(&w.ids[0])
        .last()
        .map_or(0, |t| t.events.len());
    (stats, events)
}

/// A fresh world whose terminal booked RECORDS sales while the phone was away, then one
/// full sync.
async fn sync_once(model: &LinkModel) -> Run {
    let w = World::new(1, 77, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;
    // The day's sales are booked while the phone is away, so the terminal pushes no
    // JournalAppended events into the measured sync.
    phone.disconnect_all().await;
    for k in 0..RECORDS {
        // Distinct amounts: the same card for the same amount within a minute is refused
        // as a duplicate swipe.
        w.sale(0, 100 + k);
    }
    phone.info(&sn).await.expect("reconnects");
    let (before, trace_from) = link_now(&w);

    let started = Instant::now();
    let outcome = phone
        .sync(&sn, &FlowControl::default())
        .await
        .expect("sync");
    let wall = started.elapsed();
    let (after, _) = link_now(&w);
    assert_eq!(outcome.inserted, RECORDS, "{outcome:?}");
    assert_eq!(outcome.last_seq, RECORDS, "{outcome:?}");

    let mut trace = w.radio.traces(&w.ids[0]).pop().expect("trace");
    trace.events.drain(..trace_from);
    // Notifications per connection event, by arrival.
    let interval = model.conn_interval_us;
    let first = before.elapsed_us / interval;
    let last = after.elapsed_us.saturating_sub(1) / interval;
    let mut per_event = vec![0u32; (last - first + 1) as usize];
    for e in &trace.events {
        if let TraceKind::Notify { arrives, .. } = e.kind {
            let i = (arrives.saturating_sub(1) / interval).saturating_sub(first) as usize;
            if let Some(n) = per_event.get_mut(i) {
                *n += 1;
            }
        }
    }
    Run {
        outcome,
        sent: after.to_phone.app_bytes - before.to_phone.app_bytes,
        notifications: after.to_phone.packets - before.to_phone.packets,
        writes: after.to_terminal.packets - before.to_terminal.packets,
        elapsed_us: after.elapsed_us - before.elapsed_us,
        events: per_event.len() as u64,
        short_events: per_event
            .iter()
            .filter(|n| **n < model.packets_per_event)
            .count() as u64,
        wall,
        timing: trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                TraceKind::Write { data } => Some((e.t, e.t, data.len())),
                TraceKind::Notify { arrives, data } => Some((e.t, *arrives, data.len())),
                _ => None,
            })
            .collect(),
    }
}
