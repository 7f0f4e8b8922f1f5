//! The event-sourced actor: a handle on one entity, as the UI uses it.

use uuid::Uuid;

use super::error::{Result, SendError};
use super::identity::ClientIdentity;
use super::notify::{Subscription, Topic};
use super::projection::Projection;
use super::reconcile::{PendingIntent, Reconciled};
use super::rejections::StoredRejection;
use super::send::Sent;
use super::store::ClientStore;
use crate::domain::{Domain, EventOf, SnapshotOf};

/// A handle on one entity of domain `D` for one client identity: the store, the entity's id
/// and who acts. It holds no state of its own — every read and write goes to the store — so
/// two handles on the same entity (in one process or two) always agree, and a handle is
/// cheap to create, clone and drop.
///
/// Through it: send events, read the optimistic projection, hear about changes and
/// rejections.
pub struct EventSourcedActor<D: Domain> {
    store: ClientStore,
    entity_id: Uuid,
    identity: ClientIdentity,
    _domain: std::marker::PhantomData<fn() -> D>,
}

impl<D: Domain> Clone for EventSourcedActor<D> {
    fn clone(&self) -> Self {
        Self::handle(self.store.clone(), self.identity.clone(), self.entity_id)
    }
}

impl<D: Domain> EventSourcedActor<D> {
    fn handle(store: ClientStore, identity: ClientIdentity, entity_id: Uuid) -> Self {
        EventSourcedActor {
            store,
            entity_id,
            identity,
            _domain: std::marker::PhantomData,
        }
    }

    /// A handle on a new entity with a fresh (v7) id. Nothing is stored until the first
    /// [`send`](Self::send).
    pub fn create(store: &ClientStore, identity: ClientIdentity) -> Result<Self> {
        store.registered::<D>()?;
        Ok(Self::handle(store.clone(), identity, Uuid::now_v7()))
    }

    /// A handle on an existing entity: its projection is restored from the server's
    /// projection with the pending intents replayed on top (a reconciliation). Fails with
    /// [`ClientError::UnknownEntity`](super::ClientError::UnknownEntity) if no table of `D`
    /// knows the id (neither a server projection nor local state: use
    /// [`create`](Self::create) to start an entity), and with
    /// [`ClientError::WrongDomain`](super::ClientError::WrongDomain) if the id belongs to
    /// another registered domain.
    pub fn open(store: &ClientStore, identity: ClientIdentity, entity_id: Uuid) -> Result<Self> {
        store.locate::<D>(entity_id)?;
        store.reconcile_entity::<D>(entity_id)?;
        Ok(Self::handle(store.clone(), identity, entity_id))
    }

    /// The entity's id.
    pub fn entity_id(&self) -> Uuid {
        self.entity_id
    }

    /// The identity this handle writes for.
    pub fn identity(&self) -> &ClientIdentity {
        &self.identity
    }

    /// Steps the event with the client machine. On acceptance the intent is logged and the
    /// optimistic projection updated in one transaction, then subscribers are told; what was
    /// logged (intent id, sequence number) and the new projection are returned. On rejection
    /// nothing is stored.
    pub fn send(&self, event: EventOf<D>) -> Result<Sent<D>, SendError> {
        self.store.send(&self.identity, self.entity_id, event)
    }

    /// Logs a membership event on this (shared) entity for upload, as this actor's user;
    /// see [`ClientStore::send_membership`].
    pub fn send_membership(
        &self,
        event: crate::membership::MemberEvent,
    ) -> Result<crate::intent::RawIntent, SendError> {
        self.store
            .send_membership::<D>(&self.identity, self.entity_id, event)
    }

    /// The members of this shared entity as the device predicts them: the server's, with
    /// this device's pending membership intents applied. `None` for a domain that is not
    /// shared, or an entity the server has not sent yet.
    pub fn members(&self) -> Result<Option<crate::membership::Members>> {
        self.store.members::<D>(self.entity_id)
    }

    /// The current (optimistic) projection, or `None` if the entity does not exist yet.
    pub fn projection(&self) -> Result<Option<Projection<D>>> {
        self.store.projection::<D>(self.entity_id)
    }

    /// The current snapshot (the initial one if the entity does not exist yet).
    pub fn snapshot(&self) -> Result<SnapshotOf<D>> {
        Ok(self
            .projection()?
            .map_or_else(SnapshotOf::<D>::initial, |p| p.snapshot))
    }

    /// The current machine state.
    pub fn state(&self) -> Result<D::Machine> {
        Ok(self.snapshot()?.state)
    }

    /// Calls `f` with the new projection after each change (a send by any actor of this
    /// store, a reconciliation); `None` if the entity disappeared (its creation was rejected).
    pub fn subscribe(
        &self,
        f: impl Fn(Option<&Projection<D>>) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.store.subscribe_projection::<D>(self.entity_id, f)
    }

    /// Calls `f` once for each server rejection of an intent on this entity (exactly once:
    /// see the [`client`](super) module docs). Rejections that arrived while nobody listened
    /// are delivered right away.
    pub fn on_rejection(
        &self,
        f: impl Fn(&StoredRejection) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.store
            .subscribe_rejections::<D>(Topic::EntityRejections(D::NAME, self.entity_id), f)
    }

    /// This entity's rejections that were not cleared.
    pub fn rejections(&self) -> Result<Vec<StoredRejection>> {
        self.store.entity_rejections::<D>(self.entity_id)
    }

    /// Every rejection of the domain that was not cleared.
    pub fn all_rejections(&self) -> Result<Vec<StoredRejection>> {
        self.store.rejections::<D>()
    }

    /// Clears a rejection so it is no longer listed; `false` if there is no such rejection.
    pub fn clear_rejection(&self, intent_id: Uuid) -> Result<bool> {
        self.store.clear_rejection::<D>(intent_id)
    }

    /// The entity's pending intents with their status.
    pub fn pending_intents(&self) -> Result<Vec<PendingIntent<D>>> {
        self.store.pending_intents_of::<D>(self.entity_id)
    }

    /// Folds the server data that arrived into this entity now (the store does it for every
    /// entity in [`ClientStore::reconcile_all`]).
    pub fn reconcile(&self) -> Result<Reconciled<D>> {
        self.store.reconcile_entity::<D>(self.entity_id)
    }
}

impl<D: Domain> std::fmt::Debug for EventSourcedActor<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSourcedActor")
            .field("domain", &D::NAME)
            .field("entity_id", &self.entity_id)
            .field("identity", &self.identity)
            .finish()
    }
}
