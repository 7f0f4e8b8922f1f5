//! The embedded client store: one SQLite connection (file or memory) holding the client
//! tables of the registered domains, the per-domain SQL rendered at registration, the decoded
//! log cache, and the listeners. This is the core the other modules build on (it depends on
//! none of them): `send`, `reconcile`, `listen`, `server_data` and `builder` each add their
//! part of `ClientStore`.

use std::any::Any;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use uuid::Uuid;

use super::cache::LogCache;
use super::error::{ClientError, Result};
use super::notify::{Hub, lock};
use super::projection::Projection;
use super::rejections::{RejectionSql, StoredRejection};
use super::summary::DomainSummary;
use super::tables::DomainSql;
use crate::domain::{Domain, IntentOf};

/// Reconciles one registered domain (the store's typed entry point, erased at registration).
pub(crate) type ReconcileFn = fn(&ClientStore) -> Result<DomainSummary>;

/// Everything the store prepared for one domain when it was registered.
pub(crate) struct Registered<D> {
    /// The statements of its client tables.
    pub(crate) sql: DomainSql<D>,
    /// The statements of its rejection tables.
    pub(crate) rejections: RejectionSql,
}

/// One registered domain, type-erased: found by name, downcast to [`Registered<D>`].
pub(crate) struct DomainEntry {
    name: &'static str,
    prepared: Box<dyn Any + Send + Sync>,
    holds: fn(&DomainEntry, &Connection, Uuid) -> Result<bool>,
    reconcile: ReconcileFn,
}

impl DomainEntry {
    /// Renders `D`'s SQL; `reconcile` is the domain's typed reconciliation.
    pub(crate) fn new<D: Domain>(reconcile: ReconcileFn) -> Self {
        DomainEntry {
            name: D::NAME,
            prepared: Box::new(Registered::<D> {
                sql: DomainSql::new(),
                rejections: RejectionSql::new(D::NAME),
            }),
            holds: |entry, conn, entity_id| entry.typed::<D>()?.sql.holds(conn, entity_id),
            reconcile,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Reconciles the domain's entities in `store`.
    pub(crate) fn reconcile(&self, store: &ClientStore) -> Result<DomainSummary> {
        (self.reconcile)(store)
    }

    fn typed<D: Domain>(&self) -> Result<&Registered<D>> {
        self.prepared
            .downcast_ref::<Registered<D>>()
            .ok_or(ClientError::UnknownDomain(D::NAME))
    }
}

/// The connection and what is cached about it, behind one lock.
struct Session {
    conn: Connection,
    cache: LogCache,
}

struct Inner {
    session: Mutex<Session>,
    hub: Arc<Hub>,
    domains: Vec<DomainEntry>,
    data_version: Mutex<Option<i64>>,
}

/// The embedded client store. Cheap to clone; clones share one connection (writers in this
/// process are serialized) and one set of listeners.
#[derive(Clone)]
pub struct ClientStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClientStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStore")
            .field(
                "domains",
                &self
                    .inner
                    .domains
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ClientStore {
    /// A store on a prepared connection, with the registered domains.
    pub(crate) fn from_parts(conn: Connection, domains: Vec<DomainEntry>) -> Self {
        ClientStore {
            inner: Arc::new(Inner {
                session: Mutex::new(Session {
                    conn,
                    cache: LogCache::default(),
                }),
                hub: Arc::new(Hub::default()),
                domains,
                data_version: Mutex::new(None),
            }),
        }
    }

    /// Runs `f` on the store's connection (for reads, or for writes to synced tables made by
    /// a sync layer; call [`reconcile_all`](Self::reconcile_all) after those).
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let mut session = lock(&self.inner.session);
        // `f` may change anything: forget the decoded logs.
        session.cache.clear();
        f(&mut session.conn)
    }

    /// Runs `f` in one immediate transaction, committed if `f` returns `Ok`.
    pub fn transaction<R, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut session = lock(&self.inner.session);
        session.cache.clear();
        let tx = session
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// The store's own write path: one immediate transaction, with the decoded-log cache
    /// checked against other connections' commits first. `f` may update the cache; if
    /// anything fails the cache is dropped, so it never holds what was rolled back. What the
    /// last send left for the next is dropped first: `f` may change what a send reads.
    pub(crate) fn write<R, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &mut LogCache) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<rusqlite::Error> + From<ClientError>,
    {
        self.write_keeping_sends(|tx, cache| {
            cache.forget_sends();
            f(tx, cache)
        })
    }

    /// [`write`](Self::write) for the send path alone, which keeps what the last send left
    /// (and updates it).
    pub(crate) fn write_keeping_sends<R, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &mut LogCache) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<rusqlite::Error> + From<ClientError>,
    {
        let mut guard = lock(&self.inner.session);
        let Session { conn, cache } = &mut *guard;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = cache
            .check(&tx)
            .map_err(E::from)
            .and_then(|()| f(&tx, cache))
            .and_then(|out| tx.commit().map(|()| out).map_err(E::from));
        if out.is_err() {
            cache.rolled_back();
        }
        out
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        f(&lock(&self.inner.session).conn)
    }

    /// What the store prepared for `D`; [`ClientError::UnknownDomain`] if `D` is not
    /// registered.
    pub(crate) fn registered<D: Domain>(&self) -> Result<&Registered<D>> {
        self.inner
            .domains
            .iter()
            .find(|d| d.name == D::NAME)
            .ok_or(ClientError::UnknownDomain(D::NAME))?
            .typed::<D>()
    }

    pub(crate) fn domains(&self) -> &[DomainEntry] {
        &self.inner.domains
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// The `PRAGMA data_version` the last reconciliation of other connections' commits saw.
    pub(crate) fn seen_data_version(&self) -> std::sync::MutexGuard<'_, Option<i64>> {
        lock(&self.inner.data_version)
    }

    /// Checks that `entity_id` is an entity of `D`: [`ClientError::WrongDomain`] if another
    /// registered domain holds it, [`ClientError::UnknownEntity`] if none does.
    pub(crate) fn locate<D: Domain>(&self, entity_id: Uuid) -> Result<()> {
        let mine = self.registered::<D>()?;
        let conn = &lock(&self.inner.session).conn;
        if mine.sql.holds(conn, entity_id)? {
            return Ok(());
        }
        for other in self.inner.domains.iter().filter(|d| d.name != D::NAME) {
            if (other.holds)(other, conn, entity_id)? {
                return Err(ClientError::WrongDomain {
                    entity_id,
                    expected: D::NAME,
                    found: other.name,
                });
            }
        }
        Err(ClientError::UnknownEntity {
            entity_id,
            domain: D::NAME,
        })
    }

    /// The optimistic projection of one entity (the server's if nothing is pending).
    pub fn projection<D: Domain>(&self, entity_id: Uuid) -> Result<Option<Projection<D>>> {
        let sql = &self.registered::<D>()?.sql;
        self.read(|c| sql.current_projection(c, entity_id))
    }

    /// The optimistic projections of every entity of a domain (a list view), by entity id.
    pub fn projections<D: Domain>(&self) -> Result<Vec<Projection<D>>> {
        let sql = &self.registered::<D>()?.sql;
        self.read(|c| sql.all_projections(c))
    }

    /// Every intent in a domain's local log, grouped by entity, in sequence order — what a
    /// transport uploads. Unlike [`pending_intents`](Self::pending_intents) it replays
    /// nothing and carries no status.
    pub fn logged_intents<D: Domain>(&self) -> Result<Vec<IntentOf<D>>> {
        let sql = &self.registered::<D>()?.sql;
        let logged = self.read(|c| sql.all_intents(c))?;
        Ok(logged.into_iter().map(|l| l.intent).collect())
    }

    /// Every rejection of a domain that was not cleared.
    pub fn rejections<D: Domain>(&self) -> Result<Vec<StoredRejection>> {
        let rejections = &self.registered::<D>()?.rejections;
        self.read(|c| rejections.all_rejections(c))
    }

    /// One entity's rejections that were not cleared.
    pub(crate) fn entity_rejections<D: Domain>(
        &self,
        entity_id: Uuid,
    ) -> Result<Vec<StoredRejection>> {
        let rejections = &self.registered::<D>()?.rejections;
        self.read(|c| rejections.rejections(c, entity_id))
    }

    /// Clears a rejection so it is no longer listed; `false` if there is no such rejection.
    /// Unlike [`EventSourcedActor::clear_rejection`](super::EventSourcedActor::clear_rejection)
    /// it needs no handle on the entity, which may be gone (its creation was rejected).
    /// Rejections someone listens for are surfaced first, in the same transaction: one that
    /// arrived through another connection and was not reconciled yet still reaches its
    /// listeners once, before it is cleared.
    pub fn clear_rejection<D: Domain>(&self, intent_id: Uuid) -> Result<bool> {
        let rejections = &self.registered::<D>()?.rejections;
        let (surfaced, cleared) = self.write(|tx, _| {
            let surfaced = self.take_surfaceable::<D>(tx)?;
            let cleared = rejections.clear_rejection(tx, intent_id)?;
            Ok::<_, ClientError>((surfaced, cleared))
        })?;
        self.emit_rejections::<D>(&surfaced);
        Ok(cleared)
    }
}
