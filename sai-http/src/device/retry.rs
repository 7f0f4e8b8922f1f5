//! When to try a request again: exponential backoff, capped, for a bounded number of
//! attempts. Pure: attempt numbers in, delays out.

use std::time::Duration;

/// How a device retries a request the server answered 5xx or that did not reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; doubled after each further one.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Attempts per request before the round gives up (nothing is lost: the next round
    /// sends the same intents again).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// A policy waiting `first_delay`, doubling up to `max_delay`, for `max_attempts`
    /// attempts in all.
    pub fn new(first_delay: Duration, max_delay: Duration, max_attempts: u32) -> Self {
        RetryPolicy {
            first_delay,
            max_delay,
            max_attempts,
        }
    }

    /// The wait after failed attempt number `attempt` (from 1), or `None` if that was the
    /// last one.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        Some(
            self.first_delay
                .checked_mul(factor)
                .unwrap_or(self.max_delay)
                .min(self.max_delay),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_stop_after_the_last_attempt() {
        let p = RetryPolicy::new(Duration::from_millis(100), Duration::from_millis(350), 5);
        let delays: Vec<_> = (1..=5).map(|a| p.delay_after(a)).collect();
        let ms = |m| Some(Duration::from_millis(m));
        assert_eq!(delays, [ms(100), ms(200), ms(350), ms(350), None]);
        // No overflow far out.
        let long = RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(9), u32::MAX);
        assert_eq!(long.delay_after(200), Some(Duration::from_secs(9)));
    }
}
