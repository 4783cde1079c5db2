//! Establishing a connection, and establishing it again, under a reconnect policy.
//!
//! The manager does not know what "connected" means: the session layer hands it a closure
//! that connects *and* completes its handshake, and a predicate saying which failures are
//! worth retrying. The manager times each attempt out, backs off between attempts and
//! publishes every state change on a broadcast channel, in order.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::sync::broadcast;

use super::{Connection, DisconnectReason};

/// When and how often to try again.
///
/// Attempt 1 starts at once. Before attempt `n ≥ 2` the manager waits
/// `min(initial_backoff × multiplier^(n−2), max_backoff)`; with `jitter` the wait is drawn
/// uniformly from `[wait/2, wait]` so that many phones do not retry in lockstep. Every
/// attempt gets at most `connect_timeout`. After `max_attempts` failed attempts the manager
/// gives up with the last error.
///
/// Defaults: 5 attempts, 250 ms doubling to at most 8 s (waits 0.25, 0.5, 1, 2 s), jitter on,
/// 10 s per attempt — a terminal that reboots is back within the ~14 s this spans.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub multiplier: f64,
    pub jitter: bool,
    pub connect_timeout: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            multiplier: 2.0,
            jitter: true,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl ReconnectPolicy {
    /// The wait before `attempt` (from 1) without jitter; zero for the first.
    pub fn backoff(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let factor = self.multiplier.max(1.0).powi(attempt as i32 - 2);
        let wait = self.initial_backoff.as_secs_f64() * factor;
        if wait >= self.max_backoff.as_secs_f64() {
            self.max_backoff
        } else {
            self.initial_backoff.mul_f64(factor)
        }
    }

    fn wait_before(&self, attempt: u32) -> Duration {
        let wait = self.backoff(attempt);
        if self.jitter && !wait.is_zero() {
            wait.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
        } else {
            wait
        }
    }
}

/// Where the connection stands, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    Idle,
    Connecting {
        attempt: u32,
    },
    Connected {
        mtu: u16,
    },
    /// Attempt `attempt` starts `after` this wait.
    Reconnecting {
        attempt: u32,
        after: Duration,
    },
    Disconnected {
        reason: DisconnectReason,
    },
    /// Gave up; `error` is the last failure's message.
    Failed {
        error: String,
    },
}

/// What the manager establishes: anything that can say its MTU (a raw connection, or the
/// session layer's session over one).
pub trait Established {
    fn mtu(&self) -> u16;
}

impl Established for Box<dyn Connection> {
    fn mtu(&self) -> u16 {
        self.as_ref().mtu()
    }
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError<E> {
    #[error("{0}")]
    Failed(E),
    #[error("no connection within {0:?}")]
    TimedOut(Duration),
}

/// Why the manager stopped trying.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError<E> {
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        attempts: u32,
        last: AttemptError<E>,
    },
    #[error("attempt {attempt} failed and retrying cannot help: {error}")]
    NotRetryable { attempt: u32, error: E },
}

/// Runs establishment attempts and publishes [`ConnectionState`]s.
pub struct ConnectionManager {
    policy: ReconnectPolicy,
    states: broadcast::Sender<ConnectionState>,
    current: Arc<Mutex<ConnectionState>>,
}

impl ConnectionManager {
    pub fn new(policy: ReconnectPolicy) -> Self {
        ConnectionManager {
            policy,
            states: broadcast::channel(64).0,
            current: Arc::new(Mutex::new(ConnectionState::Idle)),
        }
    }

    pub fn policy(&self) -> &ReconnectPolicy {
        &self.policy
    }

    /// Every state from now on, in order.
    pub fn subscribe(&self) -> broadcast::Receiver<ConnectionState> {
        self.states.subscribe()
    }

    pub fn state(&self) -> ConnectionState {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn publish(&self, state: ConnectionState) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = state.clone();
        // Nobody listening is fine.
        let _ = self.states.send(state);
    }

    /// Records that an established connection went down (the session layer calls this,
    /// then `run_with` again to reconnect).
    pub fn disconnected(&self, reason: DisconnectReason) {
        self.publish(ConnectionState::Disconnected { reason });
    }

    /// Calls `establish(attempt)` (attempt from 1) until it succeeds, a failure is not
    /// retryable, or the policy's attempts are used up. Timeouts are always retryable.
    pub async fn run_with<T, E, F, Fut>(
        &self,
        mut establish: F,
        is_retryable: impl Fn(&E) -> bool,
    ) -> Result<T, ManagerError<E>>
    where
        T: Established,
        E: fmt::Display,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let max = self.policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            if attempt > 1 {
                let after = self.policy.wait_before(attempt);
                self.publish(ConnectionState::Reconnecting { attempt, after });
                tokio::time::sleep(after).await;
            }
            self.publish(ConnectionState::Connecting { attempt });
            let timeout = self.policy.connect_timeout;
            let error = match tokio::time::timeout(timeout, establish(attempt)).await {
                Ok(Ok(done)) => {
                    self.publish(ConnectionState::Connected { mtu: done.mtu() });
                    return Ok(done);
                }
                Ok(Err(error)) if !is_retryable(&error) => {
                    self.publish(ConnectionState::Failed {
                        error: error.to_string(),
                    });
                    return Err(ManagerError::NotRetryable { attempt, error });
                }
                Ok(Err(error)) => AttemptError::Failed(error),
                Err(_) => AttemptError::TimedOut(timeout),
            };
            if attempt >= max {
                self.publish(ConnectionState::Failed {
                    error: error.to_string(),
                });
                return Err(ManagerError::GaveUp {
                    attempts: attempt,
                    last: error,
                });
            }
            tracing::debug!(attempt, %error, "connection attempt failed; retrying");
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = ReconnectPolicy::default();
        let waits: Vec<_> = (1..=8).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, [0, 250, 500, 1000, 2000, 4000, 8000, 8000]);
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let p = ReconnectPolicy::default();
        for _ in 0..200 {
            let w = p.wait_before(4);
            assert!(
                w >= Duration::from_millis(500) && w <= Duration::from_millis(1000),
                "{w:?}"
            );
        }
    }
}
