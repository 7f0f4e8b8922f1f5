//! What a reconciliation of the whole store reports.

use uuid::Uuid;

use super::error::ClientError;

/// What one domain's reconciliation did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DomainSummary {
    /// Entities reconciled.
    pub entities: usize,
    /// Intents removed from the log because their decision is visible.
    pub cleared: usize,
    /// Rejections handed to listeners.
    pub surfaced: usize,
    /// Entities whose rows could not be read (left untouched), with why.
    pub failed: Vec<(Uuid, ClientError)>,
}

/// What [`ClientStore::reconcile_all`](super::ClientStore::reconcile_all) did, per domain.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ReconcileSummary {
    /// One summary per registered domain, in registration order.
    pub domains: Vec<(&'static str, DomainSummary)>,
}

impl ReconcileSummary {
    /// Intents cleared in all domains.
    pub fn cleared(&self) -> usize {
        self.domains.iter().map(|(_, d)| d.cleared).sum()
    }

    /// Entities that failed in all domains.
    pub fn failed(&self) -> impl Iterator<Item = (&'static str, &Uuid, &ClientError)> {
        self.domains
            .iter()
            .flat_map(|(name, d)| d.failed.iter().map(move |(id, e)| (*name, id, e)))
    }
}
