//! The simulated radio: scanning, the BLE timing model, every fault, determinism, traces
//! and replay. The terminal here is a tiny deterministic echo peripheral; it is driven only
//! through `proto::gatt::Peripheral`, as real firmware would be.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use posmate_core::transport::{
    scan_for, Connection, DisconnectReason, LinkEvent, LinkEvents, PeripheralId, ScanFilter,
    Stamped, Transport, TransportError,
};
use posmate_proto::gatt::{Advertisement, Lifecycle, Micros, Notification, Peripheral};
use posmate_sim_world::radio::faults::{Action, Direction, FaultPlan, OnPathHook, PacketRef};
use posmate_sim_world::radio::timing::LinkModel;
use posmate_sim_world::radio::trace::{replay, Trace, TraceKind};
use posmate_sim_world::radio::{SimConnection, SimRadio};

/// What the echo terminal observed, for the test to check.
#[derive(Debug, Default)]
struct Seen {
    connects: Vec<(Micros, u16)>,
    writes: Vec<(Micros, Vec<u8>)>,
    disconnects: Vec<Micros>,
    stalls: Vec<Micros>,
}

/// Replies to every write with `prefix ‖ value`, `processing_us` after it arrived (or after
/// a stall ends). A write of `BYE` is answered and then the terminal asks to disconnect. With
/// `reply = false` it is a silent sink.
struct Echo {
    adv: Advertisement,
    prefix: u8,
    reply: bool,
    processing_us: Micros,
    stalled_until: Micros,
    queue: Vec<Notification>,
    bye: bool,
    seen: Arc<Mutex<Seen>>,
}

impl Echo {
    fn new(sn: &str, lifecycle: Lifecycle) -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let echo = Echo {
            adv: Advertisement::for_terminal(sn, 1, lifecycle),
            prefix: 0xE0,
            reply: true,
            processing_us: 0,
            stalled_until: 0,
            queue: Vec::new(),
            bye: false,
            seen: seen.clone(),
        };
        (echo, seen)
    }

    fn sink() -> (Self, Arc<Mutex<Seen>>) {
        let (mut e, seen) = Echo::new("SNSINK000001", Lifecycle::Activated);
        e.reply = false;
        (e, seen)
    }
}

impl Peripheral for Echo {
    fn advertisement(&self) -> Advertisement {
        self.adv.clone()
    }
    fn on_connect(&mut self, now: Micros, mtu: u16) {
        self.seen.lock().unwrap().connects.push((now, mtu));
        self.bye = false;
    }
    fn on_write(&mut self, now: Micros, value: &[u8]) {
        self.seen.lock().unwrap().writes.push((now, value.to_vec()));
        if self.reply {
            let mut data = vec![self.prefix];
            data.extend_from_slice(value);
            self.queue.push(Notification {
                not_before: now.max(self.stalled_until) + self.processing_us,
                data,
            });
        }
        if value == b"BYE" {
            self.bye = true;
        }
    }
    fn on_disconnect(&mut self, now: Micros) {
        self.seen.lock().unwrap().disconnects.push(now);
        self.queue.clear();
    }
    fn poll_notification(&mut self, _now: Micros) -> Option<Notification> {
        (!self.queue.is_empty()).then(|| self.queue.remove(0))
    }
    fn wants_disconnect(&self) -> bool {
        self.bye
    }
    fn stall_until(&mut self, until: Micros) {
        self.seen.lock().unwrap().stalls.push(until);
        self.stalled_until = until;
    }
}

fn radio_with_echo(plan: FaultPlan) -> (SimRadio, PeripheralId, Arc<Mutex<Seen>>) {
    let radio = SimRadio::new(LinkModel::phone_2m());
    let (echo, seen) = Echo::new("SN20260042A1", Lifecycle::Activated);
    let id = radio.add(Box::new(echo), -55);
    radio.set_faults(&id, plan);
    (radio, id, seen)
}

/// Everything the phone receives until the link is down.
async fn drain(events: &mut LinkEvents) -> Vec<Stamped> {
    let mut out = Vec::new();
    while let Some(s) = events.recv_stamped().await {
        out.push(s);
    }
    out
}

fn notifications(events: &[Stamped]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|s| match &s.event {
            LinkEvent::Notification(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

fn written(seen: &Arc<Mutex<Seen>>) -> Vec<Vec<u8>> {
    seen.lock()
        .unwrap()
        .writes
        .iter()
        .map(|w| w.1.clone())
        .collect()
}

// ---------------------------------------------------------------- scanning

#[tokio::test(start_paused = true)]
async fn scan_finds_several_terminals_with_their_advertisements() {
    let radio = SimRadio::default();
    let (a, _) = Echo::new("SN20260042A1", Lifecycle::Activated);
    let (mut b, _) = Echo::new("SN20269999B2", Lifecycle::Factory);
    b.adv.pairing_open = true;
    let (mut c, _) = Echo::new("SN2026000777", Lifecycle::Decommissioned);
    c.adv.protocol_version = 2;
    let ida = radio.add(Box::new(a), -70);
    let idb = radio.add(Box::new(b), -40);
    let idc = radio.add(Box::new(c), -90);

    let found = scan_for(&radio, ScanFilter::any(), Duration::from_secs(2))
        .await
        .unwrap();
    let ids: Vec<_> = found.iter().map(|c| c.peripheral_id.clone()).collect();
    assert_eq!(
        ids,
        [idb.clone(), ida.clone(), idc.clone()],
        "strongest first"
    );
    assert_eq!(found[0].sn_suffix, "269999B2");
    assert_eq!(found[0].local_name, "POSMATE-9999B2");
    assert_eq!(found[0].lifecycle, Lifecycle::Factory);
    assert!(found[0].pairing_open && !found[0].pairing_locked);
    assert_eq!(found[0].rssi, Some(-40));
    assert_eq!(found[1].lifecycle, Lifecycle::Activated);
    assert_eq!(found[2].protocol_version, 2);
    assert_eq!(found[2].lifecycle, Lifecycle::Decommissioned);

    let only = scan_for(
        &radio,
        ScanFilter::sn_suffix("0042a1"),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].peripheral_id, ida);
    let by_name = ScanFilter {
        name_contains: Some("000777".into()),
        ..ScanFilter::default()
    };
    let only = scan_for(&radio, by_name, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        only.iter().map(|c| &c.peripheral_id).collect::<Vec<_>>(),
        [&idc]
    );
    let none = scan_for(
        &radio,
        ScanFilter::sn_suffix("NOPE"),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(start_paused = true)]
async fn scan_reports_changes_and_hides_connected_terminals() {
    let radio = SimRadio::default();
    let (a, _) = Echo::new("SN20260042A1", Lifecycle::Activated);
    let id = radio.add(Box::new(a), -70);
    let mut scan = radio.scan(ScanFilter::any()).await.unwrap();
    assert_eq!(scan.next().await.unwrap().rssi, Some(-70));
    radio.set_rssi(&id, -60);
    assert_eq!(scan.next().await.unwrap().rssi, Some(-60));
    // No change, no report: the stream waits.
    let idle = tokio::time::timeout(Duration::from_secs(5), scan.next()).await;
    assert!(idle.is_err(), "unchanged advertisement reported again");
    let (b, _) = Echo::new("SN2026BBBBBB", Lifecycle::Factory);
    let idb = radio.add(Box::new(b), -80);
    assert_eq!(scan.next().await.unwrap().peripheral_id, idb);

    let conn = radio.connect(&id).await.unwrap();
    let seen = scan_for(&radio, ScanFilter::any(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        seen.iter().map(|c| &c.peripheral_id).collect::<Vec<_>>(),
        [&idb],
        "connected terminals stop advertising"
    );
    drop(conn);
    let seen = scan_for(&radio, ScanFilter::any(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(seen.len(), 2);
    assert!(radio.remove(&idb));
    let seen = scan_for(&radio, ScanFilter::any(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        seen.iter().map(|c| &c.peripheral_id).collect::<Vec<_>>(),
        [&id]
    );
}

#[tokio::test]
async fn connecting_to_an_absent_or_busy_terminal_is_typed() {
    let (radio, id, _) = radio_with_echo(FaultPlan::new());
    let missing = PeripheralId::new("AA:BB:CC:DD:EE:FF");
    let err = radio.connect(&missing).await.err().unwrap();
    assert!(matches!(err, TransportError::NotFound { .. }), "{err}");
    let _first = radio.connect(&id).await.unwrap();
    let err = radio.connect(&id).await.err().unwrap();
    assert!(matches!(err, TransportError::ConnectFailed { .. }), "{err}");
}

// ---------------------------------------------------------------- timing

/// Independent arithmetic from the preset's numbers (2M PHY: 4 µs per byte).
fn phone_2m_expectation() -> (Micros, Micros, u64) {
    let value = 244u64;
    let air = (2 + 4 + 2 + (4 + 3 + value) + 3) * 4; // preamble, AA, header, L2CAP+ATT+value, CRC
    let empty = (2 + 4 + 2 + 3) * 4;
    let exchange = air + 150 + empty + 150;
    let per_event = (15_000 / exchange).min(10);
    (air, exchange, per_event)
}

#[tokio::test]
async fn bulk_transfer_takes_exactly_the_modelled_time() {
    let radio = SimRadio::new(LinkModel::phone_2m());
    let (sink, seen) = Echo::sink();
    let id = radio.add(Box::new(sink), -50);
    let conn = radio.connect_sim(&id).unwrap();
    assert_eq!(conn.mtu(), 247);
    const N: u64 = 1000;
    for i in 0..N {
        conn.write(&[i as u8; 244]).await.unwrap();
    }
    let (air, exchange, per_event) = phone_2m_expectation();
    assert_eq!((air, exchange, per_event), (1048, 1392, 10));
    let times: Vec<Micros> = seen.lock().unwrap().writes.iter().map(|w| w.0).collect();
    for (k, t) in times.iter().enumerate() {
        let k = k as u64;
        let expected = (k / per_event) * 15_000 + (k % per_event) * exchange + air;
        assert_eq!(*t, expected, "packet {k}");
    }
    let last = ((N - 1) / per_event) * 15_000 + ((N - 1) % per_event) * exchange + air;
    let stats = conn.stats();
    assert_eq!(stats.elapsed_us, last);
    assert_eq!(stats.to_terminal.packets, N);
    assert_eq!(stats.to_terminal.app_bytes, N * 244);
    assert_eq!(stats.to_terminal.att_bytes, N * 247);

    let capacity = LinkModel::phone_2m().payload_capacity_bytes_per_sec();
    let expected_capacity = (per_event * 244) as f64 / 0.015;
    assert!((capacity - expected_capacity).abs() < 1e-6, "{capacity}");
    let rate = stats.payload_rate(Direction::ToTerminal);
    assert!(
        rate >= 0.99 * capacity,
        "rate {rate} vs capacity {capacity}"
    );
    assert!(
        rate <= 1.001 * capacity,
        "rate {rate} beats the model's capacity {capacity}"
    );
}

#[tokio::test]
async fn legacy_link_carries_four_small_packets_per_30ms_event() {
    let radio = SimRadio::new(LinkModel::legacy_1m());
    let (sink, seen) = Echo::sink();
    let id = radio.add(Box::new(sink), -50);
    let conn = radio.connect_sim(&id).unwrap();
    assert_eq!(conn.mtu(), 23);
    for i in 0..40u8 {
        conn.write(&[i; 20]).await.unwrap();
    }
    let air = (1 + 4 + 2 + 27 + 3) * 8; // 1M: 8 µs per byte
    let exchange = air + 150 + (1 + 4 + 2 + 3) * 8 + 150;
    let times: Vec<Micros> = seen.lock().unwrap().writes.iter().map(|w| w.0).collect();
    for (k, t) in times.iter().enumerate() {
        let k = k as u64;
        assert_eq!(
            *t,
            (k / 4) * 30_000 + (k % 4) * exchange + air,
            "packet {k}"
        );
    }
    let capacity = LinkModel::legacy_1m().payload_capacity_bytes_per_sec();
    assert!((capacity - 4.0 * 20.0 / 0.030).abs() < 1e-6);
    assert!(conn.stats().payload_rate(Direction::ToTerminal) >= 0.99 * capacity);
}

#[tokio::test]
async fn a_reply_rides_the_next_event_after_processing() {
    let radio = SimRadio::new(LinkModel::phone_2m());
    let (mut echo, seen) = Echo::new("SN20260042A1", Lifecycle::Activated);
    echo.processing_us = 2_000;
    let id = radio.add(Box::new(echo), -50);
    let conn = radio.connect_sim(&id).unwrap();
    let mut events = conn.take_events().unwrap();
    conn.write(b"ping").await.unwrap();
    // Write: 4-byte value, LL payload 11: (2+4+2+11+3)×4 = 88 µs.
    assert_eq!(seen.lock().unwrap().writes[0].0, 88);
    let reply = events.recv_stamped().await.unwrap();
    assert_eq!(reply.event, LinkEvent::Notification(b"\xE0ping".to_vec()));
    // Ready at 2088: the terminal's side of event 1 starts after the central's empty PDU
    // and T_IFS (44 + 150); 5-byte value → 12 LL bytes → 92 µs.
    assert_eq!(reply.at, 15_000 + 194 + 92);
    // The phone answers only after reading it: its next write cannot precede it.
    assert_eq!(conn.phone_time(), reply.at);
    conn.write(b"pong").await.unwrap();
    assert_eq!(seen.lock().unwrap().writes[1].0, 30_000 + 88);
}

#[tokio::test]
async fn mtu_stuck_at_23_is_honoured() {
    let (radio, id, seen) = radio_with_echo(FaultPlan::new().mtu_stuck_at_23());
    let conn = radio.connect(&id).await.unwrap();
    assert_eq!(conn.mtu(), 23);
    assert_eq!(seen.lock().unwrap().connects, [(0, 23)]);
    let err = conn.write(&[0; 21]).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::ValueTooLong {
                len: 21,
                max: 20,
                mtu: 23
            }
        ),
        "{err}"
    );
    assert!(
        written(&seen).is_empty(),
        "an oversized value must not reach the terminal"
    );
    conn.write(&[0; 20]).await.unwrap();
    assert_eq!(written(&seen), [vec![0; 20]]);
    // Without the fault the same device negotiates the model's MTU.
    drop(conn);
    radio.set_faults(&id, FaultPlan::new());
    assert_eq!(radio.connect(&id).await.unwrap().mtu(), 247);
}

// ---------------------------------------------------------------- faults

async fn three_writes(plan: FaultPlan) -> (Arc<Mutex<Seen>>, Vec<Stamped>, SimConnection) {
    let (radio, id, seen) = radio_with_echo(plan);
    let conn = radio.connect_sim(&id).unwrap();
    let mut events = conn.take_events().unwrap();
    for v in [b"a0".as_slice(), b"b1", b"c2"] {
        let _ = conn.write(v).await;
    }
    conn.disconnect().await.unwrap();
    let got = drain(&mut events).await;
    (seen, got, conn)
}

#[tokio::test]
async fn drop_fault_loses_exactly_the_named_packet() {
    let (seen, got, _) =
        three_writes(FaultPlan::new().drop_packet(PacketRef::to_terminal(1))).await;
    assert_eq!(written(&seen), [b"a0".to_vec(), b"c2".to_vec()]);
    assert_eq!(
        notifications(&got),
        [b"\xE0a0".to_vec(), b"\xE0c2".to_vec()]
    );
    let (seen, got, _) = three_writes(FaultPlan::new().drop_packet(PacketRef::to_phone(0))).await;
    assert_eq!(written(&seen).len(), 3);
    assert_eq!(
        notifications(&got),
        [b"\xE0b1".to_vec(), b"\xE0c2".to_vec()]
    );
}

#[tokio::test]
async fn corrupt_fault_flips_one_byte() {
    let (seen, got, _) = three_writes(FaultPlan::new().corrupt(PacketRef::to_terminal(0), 1)).await;
    assert_eq!(written(&seen)[0], [b'a', b'0' ^ 0xFF]);
    assert_eq!(notifications(&got)[0], [0xE0, b'a', b'0' ^ 0xFF]);
    let (_, got, _) = three_writes(FaultPlan::new().corrupt(PacketRef::to_phone(2), 0)).await;
    assert_eq!(
        notifications(&got),
        [b"\xE0a0".to_vec(), b"\xE0b1".to_vec(), b"\x1Fc2".to_vec()]
    );
}

#[tokio::test]
async fn duplicate_fault_delivers_twice() {
    let (seen, got, conn) =
        three_writes(FaultPlan::new().duplicate(PacketRef::to_terminal(1))).await;
    assert_eq!(
        written(&seen),
        [
            b"a0".to_vec(),
            b"b1".to_vec(),
            b"b1".to_vec(),
            b"c2".to_vec()
        ]
    );
    assert_eq!(notifications(&got).len(), 4);
    assert_eq!(
        conn.stats().to_terminal.packets,
        4,
        "the copy uses air time too"
    );
    let (_, got, _) = three_writes(FaultPlan::new().duplicate(PacketRef::to_phone(0))).await;
    assert_eq!(
        notifications(&got),
        [
            b"\xE0a0".to_vec(),
            b"\xE0a0".to_vec(),
            b"\xE0b1".to_vec(),
            b"\xE0c2".to_vec()
        ]
    );
}

#[tokio::test]
async fn disconnect_fault_drops_the_link_after_the_named_packet() {
    let (radio, id, seen) =
        radio_with_echo(FaultPlan::new().disconnect_after(PacketRef::to_terminal(1)));
    let conn = radio.connect(&id).await.unwrap();
    let mut events = conn.take_events().unwrap();
    conn.write(b"a0").await.unwrap();
    conn.write(b"b1").await.unwrap();
    let err = conn.write(b"c2").await.unwrap_err();
    assert!(matches!(err, TransportError::Disconnected), "{err}");
    assert_eq!(written(&seen), [b"a0".to_vec(), b"b1".to_vec()]);
    let got = drain(&mut events).await;
    // The reply to a0 was on its way; b1's reply never left the terminal.
    assert_eq!(notifications(&got), [b"\xE0a0".to_vec()]);
    assert_eq!(
        got.last().unwrap().event,
        LinkEvent::Disconnected(DisconnectReason::LinkLost)
    );
    assert_eq!(seen.lock().unwrap().disconnects.len(), 1);

    let (_, got, _) = three_writes(FaultPlan::new().disconnect_after(PacketRef::to_phone(1))).await;
    assert_eq!(
        notifications(&got),
        [b"\xE0a0".to_vec(), b"\xE0b1".to_vec()]
    );
    assert_eq!(
        got.last().unwrap().event,
        LinkEvent::Disconnected(DisconnectReason::LinkLost)
    );
}

#[tokio::test]
async fn extra_latency_delays_one_direction() {
    let (seen0, got0, _) = three_writes(FaultPlan::new()).await;
    let (seen1, got1, _) =
        three_writes(FaultPlan::new().extra_latency(Direction::ToTerminal, 5_000)).await;
    let t0: Vec<_> = seen0.lock().unwrap().writes.iter().map(|w| w.0).collect();
    let t1: Vec<_> = seen1.lock().unwrap().writes.iter().map(|w| w.0).collect();
    assert_eq!(t1, t0.iter().map(|t| t + 5_000).collect::<Vec<_>>());
    assert_eq!(
        notifications(&got1),
        notifications(&got0),
        "bytes unchanged"
    );

    let (seen2, got2, _) =
        three_writes(FaultPlan::new().extra_latency(Direction::ToPhone, 7_000)).await;
    let t2: Vec<_> = seen2.lock().unwrap().writes.iter().map(|w| w.0).collect();
    assert_eq!(t2, t0);
    assert_eq!(got2[0].at, got0[0].at + 7_000);
    assert_eq!(notifications(&got2), notifications(&got0));
}

#[tokio::test]
async fn stall_fault_makes_the_terminal_busy() {
    let (radio, id, seen) =
        radio_with_echo(FaultPlan::new().stall_terminal(PacketRef::to_terminal(1), 100_000));
    let conn = radio.connect_sim(&id).unwrap();
    let mut events = conn.take_events().unwrap();
    conn.write(b"a0").await.unwrap();
    conn.write(b"b1").await.unwrap();
    conn.disconnect().await.unwrap();
    let got = drain(&mut events).await;
    let arrival_b1 = seen.lock().unwrap().writes[1].0;
    assert_eq!(seen.lock().unwrap().stalls, [arrival_b1 + 100_000]);
    assert!(got[0].at < 15_000, "a0 answered in the first event");
    assert_eq!(got[1].event, LinkEvent::Notification(b"\xE0b1".to_vec()));
    assert!(
        got[1].at >= arrival_b1 + 100_000,
        "b1 answered only after the stall"
    );
}

#[tokio::test]
async fn on_path_attacker_can_relay_rewrite_and_replay() {
    // Records what the phone sends; rewrites the terminal's replies; replays the phone's
    // first packet after its third.
    let recorded: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let rec = recorded.clone();
    let hook = OnPathHook::new(move |dir, bytes: &mut Vec<u8>| match dir {
        Direction::ToTerminal => {
            let mut rec = rec.lock().unwrap();
            rec.push(bytes.clone());
            if rec.len() == 3 {
                Action::ForwardThenInject(vec![rec[0].clone()])
            } else {
                Action::Forward
            }
        }
        Direction::ToPhone => {
            bytes[0] = 0xAA;
            Action::Forward
        }
    });
    let (seen, got, conn) = three_writes(FaultPlan::new().on_path(hook)).await;
    assert_eq!(
        written(&seen),
        [
            b"a0".to_vec(),
            b"b1".to_vec(),
            b"c2".to_vec(),
            b"a0".to_vec()
        ]
    );
    assert_eq!(recorded.lock().unwrap().len(), 3);
    // The trace says what the attacker did.
    let faults: Vec<String> = conn
        .trace()
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Fault {
                direction, what, ..
            } => Some(format!("{direction:?}: {what}")),
            _ => None,
        })
        .collect();
    assert_eq!(faults.len(), 5, "{faults:?}");
    assert_eq!(faults[2], "ToTerminal: on-path hook injected 1 packet");
    assert_eq!(
        faults
            .iter()
            .filter(|f| f.as_str() == "ToPhone: rewritten by on-path hook")
            .count(),
        4
    );
    assert_eq!(
        notifications(&got),
        [
            b"\xAAa0".to_vec(),
            b"\xAAb1".to_vec(),
            b"\xAAc2".to_vec(),
            b"\xAAa0".to_vec()
        ]
    );
}

// ---------------------------------------------------------------- disconnects

#[tokio::test]
async fn terminal_initiated_close_arrives_after_its_last_notification() {
    let (radio, id, seen) = radio_with_echo(FaultPlan::new());
    let conn = radio.connect(&id).await.unwrap();
    let mut events = conn.take_events().unwrap();
    conn.write(b"x").await.unwrap();
    conn.write(b"BYE").await.unwrap();
    let got = drain(&mut events).await;
    let kinds: Vec<_> = got.iter().map(|s| s.event.clone()).collect();
    assert_eq!(
        kinds,
        [
            LinkEvent::Notification(b"\xE0x".to_vec()),
            LinkEvent::Notification(b"\xE0BYE".to_vec()),
            LinkEvent::Disconnected(DisconnectReason::RemoteClosed),
        ]
    );
    assert!(
        got.windows(2).all(|w| w[0].at <= w[1].at),
        "timestamps monotonic"
    );
    assert!(matches!(
        conn.write(b"y").await,
        Err(TransportError::Disconnected)
    ));
    assert_eq!(seen.lock().unwrap().disconnects.len(), 1);
}

#[tokio::test]
async fn local_disconnect_and_drop_close_the_link_and_allow_reconnect() {
    let (radio, id, seen) = radio_with_echo(FaultPlan::new());
    let conn = radio.connect(&id).await.unwrap();
    let mut events = conn.take_events().unwrap();
    assert!(conn.take_events().is_none(), "one reader only");
    conn.write(b"q").await.unwrap();
    conn.disconnect().await.unwrap();
    assert_eq!(
        drain(&mut events)
            .await
            .iter()
            .map(|s| s.event.clone())
            .collect::<Vec<_>>(),
        [
            LinkEvent::Notification(b"\xE0q".to_vec()),
            LinkEvent::Disconnected(DisconnectReason::LocalRequest)
        ]
    );
    assert!(matches!(
        conn.write(b"q").await,
        Err(TransportError::Disconnected)
    ));
    drop(conn);
    let again = radio.connect(&id).await.unwrap();
    let mut events = again.take_events().unwrap();
    drop(again);
    assert_eq!(
        events.recv().await,
        Some(LinkEvent::Disconnected(DisconnectReason::LocalRequest))
    );
    assert_eq!(events.recv().await, None);
    assert_eq!(seen.lock().unwrap().disconnects.len(), 2);
    assert_eq!(seen.lock().unwrap().connects.len(), 2);
    assert_eq!(radio.traces(&id).len(), 2);
    assert_eq!(radio.stats(&id)[0].to_terminal.packets, 1);
}

#[tokio::test]
async fn leaving_range_loses_the_link() {
    let (radio, id, _) = radio_with_echo(FaultPlan::new());
    let conn = radio.connect(&id).await.unwrap();
    let mut events = conn.take_events().unwrap();
    assert!(radio.remove(&id));
    assert_eq!(
        events.recv().await,
        Some(LinkEvent::Disconnected(DisconnectReason::LinkLost))
    );
    assert!(matches!(
        conn.write(b"z").await,
        Err(TransportError::Disconnected)
    ));
    assert!(matches!(
        radio.connect(&id).await.err().unwrap(),
        TransportError::NotFound { .. }
    ));
}

// ---------------------------------------------------------------- determinism, traces, replay

/// A scripted exchange: the phone writes, reads what it needs, writes again.
async fn scripted(plan: FaultPlan) -> Trace {
    let (radio, id, _) = radio_with_echo(plan);
    let conn = radio.connect_sim(&id).unwrap();
    let mut events = conn.take_events().unwrap();
    for round in 0..5u8 {
        for i in 0..(round + 1) {
            conn.write(&[round, i, 0x55]).await.unwrap();
        }
        for _ in 0..(round + 1) {
            events.recv().await.unwrap();
        }
    }
    conn.write(b"BYE").await.unwrap();
    drain(&mut events).await;
    conn.trace()
}

#[tokio::test]
async fn same_script_gives_identical_traces() {
    let plan = || {
        FaultPlan::new()
            .corrupt(PacketRef::to_terminal(4), 1)
            .duplicate(PacketRef::to_phone(2))
            .extra_latency(Direction::ToPhone, 1_234)
    };
    let a = scripted(plan()).await;
    let b = scripted(plan()).await;
    assert!(a.events.len() > 20);
    assert_eq!(a, b);
    assert_eq!(a.to_json_lines(), b.to_json_lines());
    // Run on a different thread and runtime, still the same.
    let c = std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
            .block_on(scripted(plan()))
    })
    .join()
    .unwrap();
    assert_eq!(a, c);
}

#[tokio::test]
async fn trace_round_trips_and_replays_exactly() {
    let trace = scripted(FaultPlan::new().stall_terminal(PacketRef::to_terminal(3), 40_000)).await;
    let text = trace.to_json_lines();
    let parsed = Trace::from_json_lines(&text).unwrap();
    assert_eq!(parsed, trace);
    assert_eq!(parsed.writes().len(), 16);
    assert_eq!(parsed.notifications().len(), 16);

    let (mut fresh, seen) = Echo::new("SN20260042A1", Lifecycle::Activated);
    let report = replay(&parsed, &mut fresh);
    assert!(report.is_exact(), "{report:?}");
    assert_eq!(report.writes_replayed, 16);
    assert_eq!(report.notifications_matched, 16);
    assert_eq!(
        seen.lock().unwrap().stalls.len(),
        1,
        "the stall was replayed"
    );

    let (mut other, _) = Echo::new("SN20260042A1", Lifecycle::Activated);
    other.prefix = 0xE1;
    let report = replay(&parsed, &mut other);
    let d = report.divergence.expect("a different terminal diverges");
    assert_eq!(d.index, 0);
    assert_eq!(d.expected, Some(vec![0xE0, 0, 0, 0x55]));
    assert_eq!(d.got, Some(vec![0xE1, 0, 0, 0x55]));

    let (mut mute, _) = Echo::sink();
    let d = replay(&parsed, &mut mute).divergence.unwrap();
    assert_eq!((d.index, d.got), (0, None));
}

#[tokio::test]
async fn replay_finds_a_later_divergence() {
    let trace = scripted(FaultPlan::new()).await;
    // A terminal that behaves the same until its fourth reply.
    struct Drifting(Echo, usize);
    impl Peripheral for Drifting {
        fn advertisement(&self) -> Advertisement {
            self.0.advertisement()
        }
        fn on_connect(&mut self, now: Micros, mtu: u16) {
            self.0.on_connect(now, mtu)
        }
        fn on_write(&mut self, now: Micros, value: &[u8]) {
            self.0.on_write(now, value)
        }
        fn on_disconnect(&mut self, now: Micros) {
            self.0.on_disconnect(now)
        }
        fn poll_notification(&mut self, now: Micros) -> Option<Notification> {
            let mut n = self.0.poll_notification(now)?;
            self.1 += 1;
            if self.1 == 4 {
                n.data.push(0xFF);
            }
            Some(n)
        }
        fn wants_disconnect(&self) -> bool {
            self.0.wants_disconnect()
        }
        fn stall_until(&mut self, until: Micros) {
            self.0.stall_until(until)
        }
    }
    let (echo, _) = Echo::new("SN20260042A1", Lifecycle::Activated);
    let report = replay(&trace, &mut Drifting(echo, 0));
    let d = report.divergence.unwrap();
    assert_eq!(d.index, 3);
    assert_eq!(report.notifications_matched, 3);
    assert_eq!(d.expected, Some(vec![0xE0, 2, 0, 0x55]));
    assert_eq!(d.got, Some(vec![0xE0, 2, 0, 0x55, 0xFF]));
}
