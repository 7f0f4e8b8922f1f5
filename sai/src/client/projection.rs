//! An entity's projection as a client sees it: the server's, or the optimistic overlay with
//! the pending intents applied on top.

use uuid::Uuid;

use crate::domain::{Domain, SnapshotOf};
use crate::intent::Timestamp;

/// An entity's projection as a client sees it.
pub struct Projection<D: Domain> {
    /// The entity.
    pub entity_id: Uuid,
    /// State, fields and version (server version plus locally applied pending intents).
    pub snapshot: SnapshotOf<D>,
    /// The user who owns the entity.
    pub owner_id: String,
    /// When the row was last written (ms since the epoch).
    pub updated_at: Timestamp,
    /// Whether pending local intents are applied on top of the server's projection.
    pub optimistic: bool,
}

impl<D: Domain> Projection<D> {
    /// The machine state.
    pub fn state(&self) -> D::Machine {
        self.snapshot.state
    }

    /// The entity's fields.
    pub fn context(&self) -> &D {
        &self.snapshot.context
    }
}

impl<D: Domain> Clone for Projection<D> {
    fn clone(&self) -> Self {
        Projection {
            entity_id: self.entity_id,
            snapshot: self.snapshot.clone(),
            owner_id: self.owner_id.clone(),
            updated_at: self.updated_at,
            optimistic: self.optimistic,
        }
    }
}

impl<D: Domain + std::fmt::Debug> std::fmt::Debug for Projection<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection")
            .field("entity_id", &self.entity_id)
            .field("snapshot", &self.snapshot)
            .field("owner_id", &self.owner_id)
            .field("updated_at", &self.updated_at)
            .field("optimistic", &self.optimistic)
            .finish()
    }
}

impl<D: Domain + PartialEq> PartialEq for Projection<D> {
    fn eq(&self, other: &Self) -> bool {
        self.entity_id == other.entity_id
            && self.snapshot == other.snapshot
            && self.owner_id == other.owner_id
            && self.updated_at == other.updated_at
            && self.optimistic == other.optimistic
    }
}
