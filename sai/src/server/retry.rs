//! How long to wait between attempts, for the processor and ingestion alike.

/// The wait before retry number `attempt` (1-based): `base`, doubled for each further one.
pub(super) fn backoff(base: std::time::Duration, attempt: u32) -> std::time::Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16))
}
