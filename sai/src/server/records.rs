//! The records a store reads for the runtime: what a decision transaction claims, a stored
//! projection, an archived snapshot.

use std::collections::HashMap;

use uuid::Uuid;

use crate::intent::{RawIntent, Timestamp};
use crate::value::SqlValue;

use super::error::MalformedRow;

/// A projection row as stored: the state's name, the version, the owner and the field cells in
/// [`Domain::COLUMNS`](crate::Domain::COLUMNS) order (then, for a shared domain, the
/// `members` column's text).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredProjection {
    /// The machine state's name.
    pub state: String,
    /// Events applied so far.
    pub version: u64,
    /// The user whose intent created the entity.
    pub owner_id: String,
    /// Which decisions the row includes: the `decided` column's JSON (by client id, the last
    /// sequence number decided on the entity and the ones rejected).
    pub decided: String,
    /// The field cells (then, for a shared domain, the `members` column's text).
    pub fields: Vec<SqlValue>,
}

/// What one decision transaction holds: the pending intents it has claimed, the projections
/// of their entities and the acknowledgements of their clients. No other transaction decides
/// these entities until this one ends.
#[derive(Clone, Debug, Default)]
pub struct Claim {
    /// The claimed pending intents, in any order.
    pub intents: Vec<RawIntent>,
    /// Stored projections of the intents' entities that exist.
    pub projections: HashMap<Uuid, StoredProjection>,
    /// For each client in `intents`, the last sequence number decided.
    pub acks: HashMap<String, u64>,
    /// Claimed pending rows that did not read.
    pub malformed: Vec<MalformedRow>,
    /// Projections of the intents' entities that exist but do not read, with why: those
    /// entities are not decided (the rest of the claim is).
    pub unreadable: HashMap<Uuid, String>,
    /// When the server stored each intent (`received_at`), by id: intents of different
    /// clients are decided in this order (an intent missing here counts as received first).
    pub received: HashMap<Uuid, Timestamp>,
}

/// An entity's latest archived snapshot, as the projection rebuild reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedSnapshot {
    /// The entity.
    pub entity_id: Uuid,
    /// The state's name after the entity's last accepted intent.
    pub state: String,
    /// The entity's version after it.
    pub version: u64,
    /// The fields after it, as JSON.
    pub context: String,
    /// The user whose intent created the entity.
    pub owner_id: String,
    /// Which decisions the rebuilt row includes, as the `decided` column's JSON, recomputed
    /// from the archived and rejected intents.
    pub decided: String,
    /// For a shared domain, its accepted membership intents as `(user_id, payload)`, in
    /// version order: the rebuild replays them into the `members` column.
    pub membership: Vec<(String, String)>,
}
