//! The event-sourced actor: one entity, as the UI uses it.

use uuid::Uuid;

use super::error::{Result, SendError};
use super::identity::ClientIdentity;
use super::notify::Subscription;
use super::reconcile::{PendingIntent, Reconciled, ReconciliationEngine};
use super::rejections::{RejectionManager, StoredRejection};
use super::store::ClientStore;
use super::tables::Projection;
use super::writer::IntentWriter;
use crate::domain::{Domain, EventOf, SnapshotOf};

/// One entity of domain `D`, driven by one client identity: send events, read the optimistic
/// projection, hear about changes and rejections.
///
/// Actors are handles: every read goes to the store, so two actors on the same entity (in
/// one process or two) always agree.
pub struct EventSourcedActor<D: Domain> {
    store: ClientStore,
    entity_id: Uuid,
    writer: IntentWriter<D>,
    engine: ReconciliationEngine<D>,
    rejections: RejectionManager<D>,
}

impl<D: Domain> EventSourcedActor<D> {
    fn new(store: &ClientStore, identity: ClientIdentity, entity_id: Uuid) -> Self {
        EventSourcedActor {
            store: store.clone(),
            entity_id,
            writer: IntentWriter::new(identity),
            engine: ReconciliationEngine::new(),
            rejections: RejectionManager::new(),
        }
    }

    /// An actor for a new entity with a fresh (v7) id. Nothing is stored until the first
    /// [`send`](Self::send).
    pub fn create(store: &ClientStore, identity: ClientIdentity) -> Result<Self> {
        store.registered::<D>()?;
        Ok(Self::new(store, identity, Uuid::now_v7()))
    }

    /// An actor for an existing entity: its projection is restored from the server's
    /// projection with the pending intents replayed on top (a reconciliation). Fails with
    /// [`ClientError::WrongDomain`](super::ClientError::WrongDomain) if the id belongs to
    /// another registered domain; an id nobody knows yet opens in the initial state.
    pub fn open(store: &ClientStore, identity: ClientIdentity, entity_id: Uuid) -> Result<Self> {
        store.check_entity_domain::<D>(entity_id)?;
        let actor = Self::new(store, identity, entity_id);
        store.reconcile_entity::<D>(entity_id)?;
        Ok(actor)
    }

    /// The entity's id.
    pub fn entity_id(&self) -> Uuid {
        self.entity_id
    }

    /// The identity this actor writes for.
    pub fn identity(&self) -> &ClientIdentity {
        self.writer.identity()
    }

    /// Steps the event with the client machine. On acceptance the intent is logged and the
    /// optimistic projection updated in one transaction, then subscribers are told; the new
    /// projection is returned. On rejection nothing is stored.
    pub fn send(&self, event: EventOf<D>) -> Result<Projection<D>, SendError> {
        self.store.send(&self.writer, self.entity_id, event)
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

    /// Calls `f` once for each server rejection of an intent on this entity. Rejections that
    /// arrived while nobody listened are delivered right away.
    pub fn on_rejection(
        &self,
        f: impl Fn(&StoredRejection) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.store.subscribe_rejections::<D>(self.entity_id, f)
    }

    /// This entity's rejections that were not cleared.
    pub fn rejections(&self) -> Result<Vec<StoredRejection>> {
        self.store
            .read(|c| self.rejections.rejections(c, self.entity_id))
    }

    /// Every rejection of the domain that was not cleared.
    pub fn all_rejections(&self) -> Result<Vec<StoredRejection>> {
        self.store.read(|c| self.rejections.all_rejections(c))
    }

    /// Clears a rejection so it is no longer listed; `false` if there is no such rejection.
    pub fn clear_rejection(&self, intent_id: Uuid) -> Result<bool> {
        self.store
            .write(|tx, _| self.rejections.clear_rejection(tx, intent_id))
    }

    /// The entity's pending intents with their status.
    pub fn pending_intents(&self) -> Result<Vec<PendingIntent<D>>> {
        self.store
            .read(|c| self.engine.pending_intents(c, self.entity_id))
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
            .field("identity", self.writer.identity())
            .finish()
    }
}
