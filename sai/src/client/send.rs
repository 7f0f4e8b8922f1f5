//! Sending: an event is stepped by the client machine and, if accepted, logged as an intent
//! and projected in one transaction. [`append`] is that step on a connection; the store's
//! send path runs it in its own transaction and then tells listeners; [`IntentWriter`] runs
//! it on a connection the caller owns.

use rusqlite::Connection;
use uuid::Uuid;

use super::cache::SendView;
use super::error::{Result, SendError};
use super::identity::ClientIdentity;
use super::notify::DomainChange;
use super::projection::Projection;
use super::store::ClientStore;
use super::tables::DomainSql;
use crate::domain::{Domain, EventOf, IntentOf, SnapshotOf};
use crate::intent::{Intent, Phase, now_millis};
use crate::membership::Role;
use crate::rejection::Rejection;

/// What a send logged, and the projection it produced: what a UI needs to show the pending
/// action (its id to match a later rejection, its sequence number) and the entity now.
#[non_exhaustive]
pub struct Sent<D: Domain> {
    /// The logged intent, with its id and sequence number.
    pub intent: IntentOf<D>,
    /// The entity's new optimistic projection.
    pub projection: Projection<D>,
}

impl<D: Domain> Sent<D> {
    /// The intent's id (also the id of its rejection, if the server rejects it).
    pub fn intent_id(&self) -> Uuid {
        self.intent.id
    }

    /// The intent's sequence number for its client.
    pub fn seq(&self) -> u64 {
        self.intent.seq
    }

    /// The entity's new optimistic projection.
    pub fn projection(&self) -> &Projection<D> {
        &self.projection
    }

    /// The projection, dropping the rest.
    pub fn into_projection(self) -> Projection<D> {
        self.projection
    }
}

impl<D: Domain> Clone for Sent<D> {
    fn clone(&self) -> Self {
        Sent {
            intent: self.intent.clone(),
            projection: self.projection.clone(),
        }
    }
}

impl<D: Domain + std::fmt::Debug> std::fmt::Debug for Sent<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sent")
            .field("intent", &self.intent)
            .field("projection", &self.projection)
            .finish()
    }
}

/// What a send steps on: the entity's current projection (overlay, else server), the
/// server's version of the entity and the client's next sequence number.
pub(crate) struct SendBasis<D: Domain> {
    current: Option<Projection<D>>,
    server_version: u64,
    seq: u64,
}

impl<D: Domain> SendBasis<D> {
    /// Reads the basis from the tables.
    fn read(
        sql: &DomainSql<D>,
        identity: &ClientIdentity,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Self, SendError> {
        let (current, server_version) = sql.send_view(conn, entity_id)?;
        // The sequence number is reserved first because guards may read it; a rejection
        // rolls the caller's transaction back, so no gap is left.
        let seq = sql.next_seq(conn, &identity.client_id)?;
        Ok(SendBasis {
            current,
            server_version,
            seq,
        })
    }
}

/// Steps `event` on the entity's current projection with the client machine. If the machine
/// rejects it, nothing is written and the rejection is returned; otherwise the intent is
/// appended with the client's next sequence number and the optimistic projection updated,
/// both on `conn`: the caller runs this inside one transaction.
pub(crate) fn append<D: Domain>(
    sql: &DomainSql<D>,
    identity: &ClientIdentity,
    conn: &Connection,
    entity_id: Uuid,
    event: EventOf<D>,
) -> Result<Sent<D>, SendError> {
    let basis = SendBasis::read(sql, identity, conn, entity_id)?;
    append_on(sql, identity, conn, entity_id, event, basis)
}

/// [`append`] on a basis already known.
fn append_on<D: Domain>(
    sql: &DomainSql<D>,
    identity: &ClientIdentity,
    conn: &Connection,
    entity_id: Uuid,
    event: EventOf<D>,
    basis: SendBasis<D>,
) -> Result<Sent<D>, SendError> {
    let SendBasis {
        current,
        server_version,
        seq,
    } = basis;
    let overlay_exists = current.as_ref().is_some_and(|p| p.optimistic);
    // Guards see the owner as the server will: none until the entity exists.
    let (snapshot, owner_id, exists): (SnapshotOf<D>, String, bool) = match current {
        Some(p) => (p.snapshot, p.owner_id, true),
        None => (SnapshotOf::<D>::initial(), identity.user_id.clone(), false),
    };
    let now = now_millis();
    let intent = Intent::new(
        entity_id,
        identity.client_id.clone(),
        identity.user_id.clone(),
        seq,
        event,
        now,
    );
    let role = predicted_role(sql, conn, &intent)?;
    let meta = intent
        .meta(Phase::Optimistic)
        .with_owner(exists.then_some(owner_id.as_str()))
        .with_role(role);
    let next = snapshot
        .step(&intent.event, &meta)
        .map_err(SendError::Rejected)?;
    sql.insert_intent(conn, &intent, server_version)?;
    sql.write_local_projection(conn, entity_id, &next, &owner_id, now, overlay_exists)?;
    Ok(Sent {
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

/// On a shared entity, the acting user's role as the device last downloaded the members,
/// refusing as the server would: `not_member` outside the group (or invited, not joined),
/// `read_only` for a viewer. An entity without a server row yet is the user's own creation
/// (owner). `None` for a domain that is not shared.
fn predicted_role<D: Domain>(
    sql: &DomainSql<D>,
    conn: &Connection,
    intent: &IntentOf<D>,
) -> Result<Option<Role>, SendError> {
    if !D::SHARED {
        return Ok(None);
    }
    let Some(members) = sql.predicted_members(conn, intent.entity_id)? else {
        return Ok(Some(Role::Owner));
    };
    let event_type = crate::event::Event::event_type(&intent.event).to_owned();
    let user_id = intent.user_id.clone();
    match members.role_of(&intent.user_id) {
        None => Err(SendError::Rejected(Rejection::NotMember {
            event_type,
            user_id,
        })),
        Some(role) if !role.writes() => Err(SendError::Rejected(Rejection::ReadOnly {
            event_type,
            user_id,
            role,
        })),
        Some(role) => Ok(Some(role)),
    }
}

impl ClientStore {
    /// The send path of every actor: [`append`] in one store transaction, then listeners
    /// are told.
    pub(crate) fn send<D: Domain>(
        &self,
        identity: &ClientIdentity,
        entity_id: Uuid,
        event: EventOf<D>,
    ) -> Result<Sent<D>, SendError> {
        let sql = &self.registered::<D>()?.sql;
        let sent = self.write_keeping_sends(|tx, cache| {
            // The cached decoded log no longer matches the table.
            cache.forget::<D>(entity_id);
            // What the last send left, if nothing else was written since (see `cache`).
            let view = cache.take_send_view::<D>(entity_id);
            let last_seq = cache.last_seq::<D>(&identity.client_id);
            let basis = match (view, last_seq) {
                (Some(view), Some(last)) => SendBasis {
                    current: Some(view.current),
                    server_version: view.server_version,
                    seq: last + 1,
                },
                _ => SendBasis::read(sql, identity, tx, entity_id)?,
            };
            let server_version = basis.server_version;
            let sent = append_on(sql, identity, tx, entity_id, event, basis)?;
            cache.put_send_view::<D>(
                entity_id,
                SendView {
                    current: sent.projection.clone(),
                    server_version,
                },
            );
            cache.put_last_seq::<D>(&identity.client_id, sent.intent.seq);
            Ok::<_, SendError>(sent)
        })?;
        self.emit_projection::<D>(entity_id, Some(&sent.projection));
        self.emit_change(&DomainChange {
            domain: D::NAME,
            entities: vec![entity_id],
            server_data: false,
        });
        Ok(sent)
    }
}

/// Appends one client's intents to a domain's local log on a connection the
/// [`ClientStore`] does not own — one leased from a PowerSync pool, say. With a store, use
/// [`EventSourcedActor::send`](super::EventSourcedActor::send) instead: it also keeps the
/// store's cache and listeners in step.
pub struct IntentWriter<D: Domain> {
    identity: ClientIdentity,
    sql: DomainSql<D>,
}

impl<D: Domain> IntentWriter<D> {
    /// A writer for one client identity (renders the domain's SQL once).
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

    /// Steps `event` on the entity's current projection with the client machine. If the
    /// machine rejects it, nothing is written and the rejection is returned; otherwise the
    /// intent is appended with the client's next sequence number and the optimistic
    /// projection is updated, both on `conn`: run this inside one transaction you commit.
    pub fn write(
        &self,
        conn: &Connection,
        entity_id: Uuid,
        event: EventOf<D>,
    ) -> Result<Sent<D>, SendError> {
        append(&self.sql, &self.identity, conn, entity_id, event)
    }

    /// The entity's logged intents (all local clients), in sequence order, without status.
    pub fn logged_intents(&self, conn: &Connection, entity_id: Uuid) -> Result<Vec<IntentOf<D>>> {
        let logged = self.sql.intents_of(conn, entity_id)?;
        Ok(logged.into_iter().map(|l| l.intent).collect())
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
