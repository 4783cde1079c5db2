//! Bounded retries for a call whose answer did not come: a few attempts, exponential
//! back-off with jitter (so phones that lost the acquirer together do not come back in
//! step), and a total time budget so a merchant is never kept waiting for long.
//!
//! Only what [`AcquirerError::is_retryable`] says may succeed unchanged is retried
//! (unreachable, timed out, unavailable); an answer the acquirer decided is final. Retrying
//! is safe because every attempt carries the same `Idempotency-Key`, which the flows save
//! with the step before the first attempt.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::acquirer::AcquirerError;

/// How often and how patiently a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; each further wait doubles, up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// No attempt starts after this much time since the first began.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, 0.5 s then 1 s apart (each ±50 % jitter), within a minute: two
    /// request timeouts of the default client fit, a third would not start.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(4),
            budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Exactly one attempt.
    pub fn once() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Runs `attempt(n)` (n from 1) until it succeeds, fails for good, or the attempts or
    /// the budget run out; the last error is returned.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, AcquirerError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, AcquirerError>>,
    {
        let began = Instant::now();
        let mut n = 1;
        loop {
            let error = match attempt(n).await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if !error.is_retryable() || n >= self.attempts.max(1) {
                return Err(error);
            }
            let wait = self.backoff(n);
            if began.elapsed() + wait >= self.budget {
                return Err(error);
            }
            tracing::debug!(
                attempt = n,
                code = error.code(),
                wait_ms = wait.as_millis() as u64,
                "acquirer call retried"
            );
            tokio::time::sleep(wait).await;
            n += 1;
        }
    }

    /// The wait after attempt `n`: `first_backoff · 2^(n-1)`, capped, then a random share
    /// of 50 to 100 % of it.
    pub fn backoff(&self, n: u32) -> Duration {
        let doubled = self
            .first_backoff
            .saturating_mul(1u32 << (n - 1).min(16))
            .min(self.max_backoff);
        doubled.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(150),
            budget: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below_it() {
        let p = policy();
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let capped = p.backoff(5);
            assert!((75..=150).contains(&capped.as_millis()), "{capped:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_what_may_succeed_unchanged_and_stops_at_the_limit() {
        let tries = AtomicU32::new(0);
        let result: Result<(), _> = policy()
            .run(|_| async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(AcquirerError::Unavailable { status: 503 })
            })
            .await;
        assert_eq!(result, Err(AcquirerError::Unavailable { status: 503 }));
        assert_eq!(tries.load(Ordering::SeqCst), 3);

        let tries = AtomicU32::new(0);
        let result: Result<(), _> = policy()
            .run(|_| async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(AcquirerError::UnknownMerchant)
            })
            .await;
        assert_eq!(result, Err(AcquirerError::UnknownMerchant));
        assert_eq!(tries.load(Ordering::SeqCst), 1);

        let result = policy()
            .run(|n| async move {
                if n < 3 {
                    Err(AcquirerError::Timeout)
                } else {
                    Ok(n)
                }
            })
            .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn no_attempt_starts_after_the_budget() {
        let p = RetryPolicy {
            attempts: 10,
            budget: Duration::from_secs(5),
            ..policy()
        };
        let tries = AtomicU32::new(0);
        let result: Result<(), _> = p
            .run(|_| async {
                tries.fetch_add(1, Ordering::SeqCst);
                // Each attempt takes 3 s of (paused, auto-advanced) time: the second ends past
                // the budget.
                tokio::time::sleep(Duration::from_secs(3)).await;
                Err(AcquirerError::Timeout)
            })
            .await;
        assert_eq!(result, Err(AcquirerError::Timeout));
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }
}
