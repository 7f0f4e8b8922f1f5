//! In-process change notification: listeners keyed by domain and entity, and the
//! [`Subscription`] guard that removes one when dropped.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use uuid::Uuid;

/// What a domain-wide watcher is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainChange {
    /// The domain.
    pub domain: &'static str,
    /// Entities whose optimistic projection was written or removed by this client.
    pub entities: Vec<Uuid>,
    /// Whether synced server data arrived: any entity of the domain may have changed.
    pub server_data: bool,
}

type AnyCallback = Arc<dyn Fn(&dyn Any) + Send + Sync>;
type ChangeCallback = Arc<dyn Fn(&DomainChange) + Send + Sync>;

/// What a typed listener listens to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    /// The projection of one entity of a domain.
    Projection(&'static str, Uuid),
    /// Rejections of one entity's intents.
    EntityRejections(&'static str, Uuid),
    /// Rejections of any intent of a domain.
    DomainRejections(&'static str),
}

enum Callback {
    Typed(Topic, AnyCallback),
    Domain(&'static str, ChangeCallback),
}

/// The listeners of one store.
#[derive(Default)]
pub(crate) struct Hub {
    next: AtomicU64,
    listeners: Mutex<HashMap<u64, Callback>>,
    /// What projection listeners were last told, per entity (JSON), so they hear each change once.
    last_projection: Mutex<HashMap<(&'static str, Uuid), String>>,
}

impl Hub {
    fn add(self: &Arc<Self>, callback: Callback) -> Subscription {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.listeners).insert(id, callback);
        Subscription {
            hub: Arc::downgrade(self),
            id,
        }
    }

    pub(crate) fn subscribe(
        self: &Arc<Self>,
        topic: Topic,
        callback: impl Fn(&dyn Any) + Send + Sync + 'static,
    ) -> Subscription {
        self.add(Callback::Typed(topic, Arc::new(callback)))
    }

    pub(crate) fn watch(
        self: &Arc<Self>,
        domain: &'static str,
        callback: impl Fn(&DomainChange) + Send + Sync + 'static,
    ) -> Subscription {
        self.add(Callback::Domain(domain, Arc::new(callback)))
    }

    pub(crate) fn has(&self, topic: Topic) -> bool {
        lock(&self.listeners)
            .values()
            .any(|c| matches!(c, Callback::Typed(t, _) if *t == topic))
    }

    /// Entities of a domain that have projection listeners.
    pub(crate) fn watched_entities(&self, domain: &'static str) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = lock(&self.listeners)
            .values()
            .filter_map(|c| match c {
                Callback::Typed(Topic::Projection(d, e), _) if *d == domain => Some(*e),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Calls the listeners of a topic. Called without any store lock held, so listeners may
    /// call back into the store.
    pub(crate) fn emit(&self, topic: Topic, value: &dyn Any) {
        let targets: Vec<AnyCallback> = lock(&self.listeners)
            .values()
            .filter_map(|c| match c {
                Callback::Typed(t, cb) if *t == topic => Some(cb.clone()),
                _ => None,
            })
            .collect();
        for cb in targets {
            cb(value);
        }
    }

    /// Records what an entity looks like when a listener subscribes, unless known already.
    pub(crate) fn seed_projection(&self, domain: &'static str, entity: Uuid, fingerprint: String) {
        lock(&self.last_projection)
            .entry((domain, entity))
            .or_insert(fingerprint);
    }

    /// Emits a projection unless listeners were already told exactly this value.
    pub(crate) fn emit_projection(
        &self,
        domain: &'static str,
        entity: Uuid,
        fingerprint: String,
        value: &dyn Any,
    ) {
        {
            let mut last = lock(&self.last_projection);
            if last.get(&(domain, entity)) == Some(&fingerprint) {
                return;
            }
            last.insert((domain, entity), fingerprint);
        }
        self.emit(Topic::Projection(domain, entity), value);
    }

    pub(crate) fn emit_change(&self, change: &DomainChange) {
        let targets: Vec<ChangeCallback> = lock(&self.listeners)
            .values()
            .filter_map(|c| match c {
                Callback::Domain(d, cb) if *d == change.domain => Some(cb.clone()),
                _ => None,
            })
            .collect();
        for cb in targets {
            cb(change);
        }
    }

    fn remove(&self, id: u64) {
        let mut listeners = lock(&self.listeners);
        if let Some(Callback::Typed(topic @ Topic::Projection(domain, entity), _)) =
            listeners.remove(&id)
        {
            // Nobody listens any more: what they were told goes stale, so forget it (the
            // next listener is seeded with the projection as it is then).
            if !listeners
                .values()
                .any(|c| matches!(c, Callback::Typed(t, _) if *t == topic))
            {
                lock(&self.last_projection).remove(&(domain, entity));
            }
        }
    }
}

/// A registered listener. Dropping it unsubscribes; [`Subscription::unsubscribe`] does the
/// same explicitly.
#[must_use = "dropping a Subscription unsubscribes immediately"]
pub struct Subscription {
    hub: Weak<Hub>,
    id: u64,
}

impl Subscription {
    /// Stops the listener.
    pub fn unsubscribe(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.remove(self.id);
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

/// Locks a mutex, recovering from a listener that panicked while it was held.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
