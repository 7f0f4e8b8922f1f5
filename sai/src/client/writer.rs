//! The intent writer: appends intents to the durable local log and keeps the optimistic
//! projection in step with it.

use rusqlite::Connection;
use uuid::Uuid;

use super::error::{Result, SendError};
use super::identity::ClientIdentity;
use super::tables::{DomainSql, Projection};
use crate::domain::{Domain, EventOf, IntentOf, SnapshotOf};
use crate::intent::now_millis;
use crate::intent::{Intent, Phase};
use crate::schema::{Dialect, Schema, Side};

/// Appends one client's intents to a domain's local log (`{name}_intent_events_local`).
///
/// Works on any `rusqlite::Connection`; [`write`](IntentWriter::write) must run inside a
/// transaction that the caller commits (the [`ClientStore`](super::ClientStore) and the
/// [`EventSourcedActor`](super::EventSourcedActor) do that for you).
pub struct IntentWriter<D: Domain> {
    identity: ClientIdentity,
    sql: DomainSql<D>,
}

/// What [`IntentWriter::write`] appended and the projection it produced.
pub struct Written<D: Domain> {
    /// The logged intent, with its sequence number.
    pub intent: IntentOf<D>,
    /// The entity's new optimistic projection.
    pub projection: Projection<D>,
}

impl<D: Domain> IntentWriter<D> {
    /// A writer for one client identity.
    pub fn new(identity: ClientIdentity) -> Self {
        IntentWriter {
            identity,
            sql: DomainSql::new(),
        }
    }

    /// The identity it writes for.
    pub fn identity(&self) -> &ClientIdentity {
        &self.identity
    }

    /// Creates the domain's client tables if they do not exist (idempotent).
    pub fn init(&self, conn: &Connection) -> Result<()> {
        conn.execute_batch(&Schema::of::<D>().ddl(Dialect::Sqlite, Side::Client))?;
        Ok(())
    }

    /// Steps `event` on the entity's current projection with the client machine. If the
    /// machine rejects it, nothing is written and the rejection is returned; otherwise the
    /// intent is appended with the client's next sequence number and the optimistic
    /// projection is updated, both on `conn`: run this inside one transaction.
    pub fn write(
        &self,
        conn: &Connection,
        entity_id: Uuid,
        event: EventOf<D>,
    ) -> Result<Written<D>, SendError> {
        let (current, base_version) = self.sql.send_view(conn, entity_id)?;
        let overlay_exists = current.as_ref().is_some_and(|p| p.optimistic);
        // Guards see the owner as the server will: none until the entity exists.
        let (snapshot, owner_id, exists): (SnapshotOf<D>, String, bool) = match current {
            Some(p) => (p.snapshot, p.owner_id, true),
            None => (
                SnapshotOf::<D>::initial(),
                self.identity.user_id.clone(),
                false,
            ),
        };
        let now = now_millis();
        // The sequence number is reserved first because guards may read it; a rejection
        // rolls the caller's transaction back, so no gap is left.
        let seq = self.sql.next_seq(conn, &self.identity.client_id)?;
        let intent = Intent::new(
            entity_id,
            self.identity.client_id.clone(),
            self.identity.user_id.clone(),
            seq,
            event,
            now,
        );
        let meta = intent
            .meta(Phase::Optimistic)
            .with_owner(exists.then_some(owner_id.as_str()));
        let next = snapshot
            .step(&intent.event, &meta)
            .map_err(SendError::Rejected)?;
        self.sql.insert_intent(conn, &intent, base_version)?;
        self.sql
            .write_local_projection(conn, entity_id, &next, &owner_id, now, overlay_exists)?;
        Ok(Written {
            intent,
            projection: Projection {
                entity_id,
                snapshot: next,
                owner_id,
                updated_at: now,
                optimistic: true,
            },
        })
    }

    /// The entity's pending intents (all local clients), in sequence order.
    pub fn pending_intents(&self, conn: &Connection, entity_id: Uuid) -> Result<Vec<IntentOf<D>>> {
        let logged = self.sql.intents_of(conn, entity_id)?;
        Ok(logged.into_iter().map(|l| l.intent).collect())
    }

    /// Every pending intent of the domain, grouped by entity.
    pub fn all_pending_intents(&self, conn: &Connection) -> Result<Vec<IntentOf<D>>> {
        let logged = self.sql.all_intents(conn)?;
        Ok(logged.into_iter().map(|l| l.intent).collect())
    }

    /// Removes intents from the log, returning how many were there (their sequence numbers
    /// are remembered and never reissued). Only for intents whose decision is visible; the
    /// [`ReconciliationEngine`](super::ReconciliationEngine) does this itself.
    pub fn clear_processed_intents(&self, conn: &Connection, ids: &[Uuid]) -> Result<usize> {
        self.sql.delete_intents(conn, ids)
    }
}

impl<D: Domain> std::fmt::Debug for IntentWriter<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentWriter")
            .field("domain", &D::NAME)
            .field("identity", &self.identity)
            .finish()
    }
}
