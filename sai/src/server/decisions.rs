//! The decision plan: what [`decide`](super::decide()) hands the store to write for one
//! batch, in one transaction.

use uuid::Uuid;

use crate::intent::RawIntent;
use crate::value::SqlValue;

use super::error::DecideError;

/// An accepted intent with the snapshot it produced, for the archive.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptedIntent {
    /// The intent as uploaded.
    pub intent: RawIntent,
    /// The state's name after the step.
    pub state: &'static str,
    /// The entity's version after the step.
    pub version: u64,
    /// The entity's fields after the step, as JSON.
    pub context: String,
}

/// A rejected intent with why, for the rejection table.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectedIntent {
    /// The intent as uploaded.
    pub intent: RawIntent,
    /// The stable rejection code ([`Rejection::code`](crate::Rejection::code)).
    pub code: &'static str,
    /// The human-readable message.
    pub message: String,
    /// The whole [`Rejection`](crate::Rejection) as JSON.
    pub reason: String,
    /// The entity's state when the intent was rejected.
    pub state: Option<&'static str>,
}

/// The projection row to upsert for an entity after the batch.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectionWrite {
    /// The entity.
    pub id: Uuid,
    /// The state's name.
    pub state: &'static str,
    /// The version.
    pub version: u64,
    /// The owner: kept when the row exists, the creating intent's user otherwise.
    pub owner_id: String,
    /// Which decisions the row includes, as the `decided` column's JSON: by client id, the
    /// last sequence number decided on the entity and the ones rejected.
    pub decided: String,
    /// The field cells in [`Domain::COLUMNS`](crate::Domain::COLUMNS) order, then, for a
    /// shared domain, the `members` column's text.
    pub fields: Vec<SqlValue>,
}

/// A client's acknowledgement moving from `from` to `to` (the store checks `from` still holds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckAdvance {
    /// The client.
    pub client_id: String,
    /// The last sequence decided before the batch.
    pub from: u64,
    /// The last sequence decided by the batch.
    pub to: u64,
}

/// Everything one batch decided, ready to be written in one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Decisions {
    /// Accepted intents, in decision order.
    pub accepted: Vec<AcceptedIntent>,
    /// Rejected intents, in decision order.
    pub rejected: Vec<RejectedIntent>,
    /// One row per entity changed by the batch.
    pub projections: Vec<ProjectionWrite>,
    /// One advance per client with a decision.
    pub acks: Vec<AckAdvance>,
    /// Pending rows already covered by their client's acknowledgement: removed, not decided.
    pub stale: Vec<Uuid>,
    /// Entities or rows that could not be decided; their intents stay pending.
    pub errors: Vec<DecideError>,
    /// Pending rows the claim held (read or malformed), decided or not.
    pub claimed: usize,
}

impl Decisions {
    /// Whether the batch writes anything.
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty() && self.rejected.is_empty() && self.stale.is_empty()
    }

    /// How many intents were decided.
    pub fn decided(&self) -> usize {
        self.accepted.len() + self.rejected.len()
    }
}
