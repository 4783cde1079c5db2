//! The reconnect policy, checked on tokio's paused clock: exact waits, exact state order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use posmate_core::transport::manager::{
    AttemptError, ConnectionManager, ConnectionState, Established, ManagerError, ReconnectPolicy,
};
use posmate_core::transport::{PeripheralId, Transport, TransportError};
use posmate_proto::gatt::{Advertisement, Lifecycle, Micros, Notification, Peripheral};
use posmate_sim_world::radio::SimRadio;
use tokio::sync::broadcast;
use tokio::time::Instant;

#[derive(Debug)]
struct Up(u16);

impl Established for Up {
    fn mtu(&self) -> u16 {
        self.0
    }
}

fn policy() -> ReconnectPolicy {
    ReconnectPolicy {
        jitter: false,
        ..ReconnectPolicy::default()
    }
}

fn states(rx: &mut broadcast::Receiver<ConnectionState>) -> Vec<ConnectionState> {
    let mut out = Vec::new();
    while let Ok(s) = rx.try_recv() {
        out.push(s);
    }
    out
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_on_the_documented_schedule() {
    let manager = ConnectionManager::new(policy());
    let mut rx = manager.subscribe();
    let start = Instant::now();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let s = starts.clone();
    let result: Result<Up, _> = manager
        .run_with(
            |attempt| {
                s.lock().unwrap().push(start.elapsed());
                async move { Err::<Up, String>(format!("refused #{attempt}")) }
            },
            |_| true,
        )
        .await;
    // Waits 250, 500, 1000, 2000 ms between five attempts.
    assert_eq!(
        *starts.lock().unwrap(),
        [ms(0), ms(250), ms(750), ms(1750), ms(3750)]
    );
    match result {
        Err(ManagerError::GaveUp {
            attempts: 5,
            last: AttemptError::Failed(e),
        }) => assert_eq!(e, "refused #5"),
        other => panic!("{other:?}"),
    }
    use ConnectionState::*;
    assert_eq!(
        states(&mut rx),
        [
            Connecting { attempt: 1 },
            Reconnecting {
                attempt: 2,
                after: ms(250)
            },
            Connecting { attempt: 2 },
            Reconnecting {
                attempt: 3,
                after: ms(500)
            },
            Connecting { attempt: 3 },
            Reconnecting {
                attempt: 4,
                after: ms(1000)
            },
            Connecting { attempt: 4 },
            Reconnecting {
                attempt: 5,
                after: ms(2000)
            },
            Connecting { attempt: 5 },
            Failed {
                error: "refused #5".into()
            },
        ]
    );
    assert_eq!(
        manager.state(),
        Failed {
            error: "refused #5".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_is_capped_at_max_backoff() {
    let manager = ConnectionManager::new(ReconnectPolicy {
        max_attempts: 6,
        initial_backoff: ms(1000),
        max_backoff: ms(3000),
        ..policy()
    });
    let start = Instant::now();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let s = starts.clone();
    let _ = manager
        .run_with(
            |_| {
                s.lock().unwrap().push(start.elapsed());
                async { Err::<Up, &str>("no") }
            },
            |_| true,
        )
        .await;
    // 1, 2, 3 (capped from 4), 3, 3 s.
    assert_eq!(
        *starts.lock().unwrap(),
        [ms(0), ms(1000), ms(3000), ms(6000), ms(9000), ms(12000)]
    );
}

#[tokio::test(start_paused = true)]
async fn succeeds_on_a_later_attempt_and_reports_the_mtu() {
    let manager = ConnectionManager::new(policy());
    let mut rx = manager.subscribe();
    let up = manager
        .run_with(
            |attempt| async move {
                if attempt < 3 {
                    Err("busy")
                } else {
                    Ok(Up(247))
                }
            },
            |_| true,
        )
        .await
        .unwrap();
    assert_eq!(up.0, 247);
    use ConnectionState::*;
    assert_eq!(
        states(&mut rx),
        [
            Connecting { attempt: 1 },
            Reconnecting {
                attempt: 2,
                after: ms(250)
            },
            Connecting { attempt: 2 },
            Reconnecting {
                attempt: 3,
                after: ms(500)
            },
            Connecting { attempt: 3 },
            Connected { mtu: 247 },
        ]
    );
    manager.disconnected(posmate_core::transport::DisconnectReason::LinkLost);
    assert_eq!(
        states(&mut rx),
        [Disconnected {
            reason: posmate_core::transport::DisconnectReason::LinkLost
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn non_retryable_error_stops_at_once() {
    let manager = ConnectionManager::new(policy());
    let mut rx = manager.subscribe();
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    let result: Result<Up, _> = manager
        .run_with(
            |_| {
                *c.lock().unwrap() += 1;
                async { Err("not a posmate terminal") }
            },
            |e| *e != "not a posmate terminal",
        )
        .await;
    assert!(matches!(
        result,
        Err(ManagerError::NotRetryable {
            attempt: 1,
            error: "not a posmate terminal"
        })
    ));
    assert_eq!(*calls.lock().unwrap(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(
        states(&mut rx),
        [
            ConnectionState::Connecting { attempt: 1 },
            ConnectionState::Failed {
                error: "not a posmate terminal".into()
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_cut_off_at_the_connect_timeout() {
    let manager = ConnectionManager::new(ReconnectPolicy {
        max_attempts: 2,
        connect_timeout: Duration::from_secs(10),
        ..policy()
    });
    let start = Instant::now();
    let result: Result<Up, ManagerError<String>> =
        manager.run_with(|_| std::future::pending(), |_| true).await;
    match result {
        Err(ManagerError::GaveUp {
            attempts: 2,
            last: AttemptError::TimedOut(t),
        }) => assert_eq!(t, Duration::from_secs(10)),
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_millis(20_250));
}

/// A terminal that only advertises; enough to connect to.
struct Quiet(Advertisement);

impl Peripheral for Quiet {
    fn advertisement(&self) -> Advertisement {
        self.0.clone()
    }
    fn on_connect(&mut self, _: Micros, _: u16) {}
    fn on_write(&mut self, _: Micros, _: &[u8]) {}
    fn on_disconnect(&mut self, _: Micros) {}
    fn poll_notification(&mut self, _: Micros) -> Option<Notification> {
        None
    }
    fn wants_disconnect(&self) -> bool {
        false
    }
    fn stall_until(&mut self, _: Micros) {}
}

#[tokio::test(start_paused = true)]
async fn reconnects_to_a_simulated_terminal_that_comes_back_into_range() {
    let radio = SimRadio::default();
    // The first device gets this id; it is not in range yet.
    let id = PeripheralId::new("F0:00:00:00:00:01");
    let later = radio.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(600)).await;
        later.add(
            Box::new(Quiet(Advertisement::for_terminal(
                "SN20260042A1",
                1,
                Lifecycle::Activated,
            ))),
            -60,
        );
    });
    let manager = ConnectionManager::new(policy());
    let mut rx = manager.subscribe();
    let start = Instant::now();
    let conn = manager
        .run_with(|_| radio.connect(&id), TransportError::is_transient)
        .await
        .unwrap();
    assert_eq!(conn.id(), &id);
    // Attempts at 0, 250 and 750 ms; the terminal appeared at 600 ms.
    assert_eq!(start.elapsed(), ms(750));
    assert_eq!(
        states(&mut rx).last(),
        Some(&ConnectionState::Connected { mtu: 247 })
    );
}
