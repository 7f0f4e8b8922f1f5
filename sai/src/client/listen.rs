//! Listening to a store: subscriptions to projections, domain changes and rejections, and the
//! emission of what changed (called by the send and reconcile paths after they commit).
//!
//! Rejections are surfaced exactly once, as the [`client`](super) module docs state: selected
//! and marked surfaced in one transaction, handed to listeners only after it commits.

use std::any::Any;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use uuid::Uuid;

use super::error::Result;
use super::notify::{DomainChange, Subscription, Topic, lock};
use super::projection::Projection;
use super::rejections::StoredRejection;
use super::store::ClientStore;
use crate::domain::Domain;

impl ClientStore {
    /// Calls `f` after every change to a domain: a `send`, a reconciliation, server data.
    pub fn watch<D: Domain>(
        &self,
        f: impl Fn(&DomainChange) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.registered::<D>()?;
        Ok(self.hub().watch(D::NAME, f))
    }

    /// Calls `f` after each change in any registered domain.
    pub fn watch_all(
        &self,
        f: impl Fn(&DomainChange) + Send + Sync + 'static,
    ) -> Vec<Subscription> {
        let f = Arc::new(f);
        self.domains()
            .iter()
            .map(|d| {
                let f = f.clone();
                self.hub().watch(d.name(), move |c| f(c))
            })
            .collect()
    }

    /// Like [`watch`](Self::watch), delivering the changes on a channel.
    pub fn watch_channel<D: Domain>(&self) -> Result<(mpsc::Receiver<DomainChange>, Subscription)> {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let sub = self.watch::<D>(move |c| {
            let _ = lock(&tx).send(c.clone());
        })?;
        Ok((rx, sub))
    }

    /// An entity's projection as a channel: the current value first, then the value after
    /// each change, until the [`Subscription`] is dropped. A view renders the last value it
    /// received (a change racing the subscription may deliver one value twice).
    pub fn projection_channel<D: Domain>(
        &self,
        entity_id: Uuid,
    ) -> Result<(mpsc::Receiver<Option<Projection<D>>>, Subscription)> {
        let (tx, rx) = mpsc::channel();
        let listener = Mutex::new(tx.clone());
        let sub = self.subscribe_projection::<D>(entity_id, move |p| {
            let _ = lock(&listener).send(p.cloned());
        })?;
        // Read after subscribing, so no change falls between the value and the updates.
        let _ = tx.send(self.projection::<D>(entity_id)?);
        Ok((rx, sub))
    }

    /// Calls `f` once for each rejection of a domain's intents (exactly once across
    /// listeners, reconciliations and restarts: see the [`client`](super) module docs).
    /// Rejections that arrived while nobody listened are delivered right away.
    pub fn on_rejection<D: Domain>(
        &self,
        f: impl Fn(&StoredRejection) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.subscribe_rejections::<D>(Topic::DomainRejections(D::NAME), f)
    }

    /// Calls `f` with an entity's new projection after each change to it (a send, a
    /// reconciliation, server data); `None` if it disappeared (its creation was rejected).
    /// Needs no identity: this is the read side a view uses.
    pub fn subscribe_projection<D: Domain>(
        &self,
        entity_id: Uuid,
        f: impl Fn(Option<&Projection<D>>) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.registered::<D>()?;
        let sub = self
            .hub()
            .subscribe(Topic::Projection(D::NAME, entity_id), move |any| {
                if let Some(p) = any.downcast_ref::<Option<Projection<D>>>() {
                    f(p.as_ref());
                }
            });
        // Remember what the entity looks like now, so the listener hears changes only. Read
        // after subscribing: a change in between is emitted (and recorded) first, and the
        // seed then leaves that record alone.
        let current = self.projection::<D>(entity_id)?;
        self.hub()
            .seed_projection(D::NAME, entity_id, fingerprint(current.as_ref()));
        Ok(sub)
    }

    /// Subscribes `f` to a rejection topic of `D` and hands it what waited for a listener.
    pub(crate) fn subscribe_rejections<D: Domain>(
        &self,
        topic: Topic,
        f: impl Fn(&StoredRejection) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.registered::<D>()?;
        let sub = self.hub().subscribe(topic, move |any| {
            if let Some(r) = any.downcast_ref::<StoredRejection>() {
                f(r);
            }
        });
        self.surface_rejections::<D>()?;
        Ok(sub)
    }

    /// Selects and marks the rejections someone listens for, in the caller's transaction.
    pub(crate) fn take_surfaceable<D: Domain>(
        &self,
        tx: &Connection,
    ) -> Result<Vec<StoredRejection>> {
        let rejections = &self.registered::<D>()?.rejections;
        let hub = self.hub();
        let domain_wide = hub.has(Topic::DomainRejections(D::NAME));
        let due: Vec<StoredRejection> = rejections
            .unsurfaced(tx)?
            .into_iter()
            .filter(|r| domain_wide || hub.has(Topic::EntityRejections(D::NAME, r.entity_id)))
            .collect();
        rejections.mark_surfaced(tx, &due)?;
        for r in &due {
            tracing::debug!(domain = D::NAME, rejection = %r.intent_id, entity = %r.entity_id, code = r.code.as_str(), "rejection surfaced");
        }
        Ok(due)
    }

    /// Tells the listeners of each rejection's entity and of its domain.
    pub(crate) fn emit_rejections<D: Domain>(&self, rejections: &[StoredRejection]) {
        for r in rejections {
            self.hub()
                .emit(Topic::EntityRejections(D::NAME, r.entity_id), r);
            self.hub().emit(Topic::DomainRejections(D::NAME), r);
        }
    }

    /// Hands rejections that arrived while nobody listened to the listeners now registered.
    fn surface_rejections<D: Domain>(&self) -> Result<usize> {
        let due = self.write(|tx, _| self.take_surfaceable::<D>(tx))?;
        self.emit_rejections::<D>(&due);
        Ok(due.len())
    }

    /// Tells an entity's projection listeners, unless they were told this value already.
    pub(crate) fn emit_projection<D: Domain>(
        &self,
        entity_id: Uuid,
        projection: Option<&Projection<D>>,
    ) {
        if self.hub().has(Topic::Projection(D::NAME, entity_id)) {
            let owned: Option<Projection<D>> = projection.cloned();
            self.hub().emit_projection(
                D::NAME,
                entity_id,
                fingerprint(projection),
                &owned as &dyn Any,
            );
        }
    }

    /// Tells a domain's watchers.
    pub(crate) fn emit_change(&self, change: &DomainChange) {
        self.hub().emit_change(change);
    }
}

/// What listeners were told, to tell each change once.
fn fingerprint<D: Domain>(projection: Option<&Projection<D>>) -> String {
    match projection {
        None => "null".to_owned(),
        Some(p) => serde_json::to_string(&(&p.snapshot, p.optimistic, &p.owner_id))
            .unwrap_or_else(|e| format!("unserializable: {e}")),
    }
}
