//! The embedded client store: one SQLite file (or memory) holding the client tables of the
//! registered domains, the connection that serializes writers in this process, and the
//! listeners that hear about changes.

use std::any::Any;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use uuid::Uuid;

use super::cache::LogCache;
use super::error::{ClientError, Result, SendError};
use super::notify::{DomainChange, Hub, Subscription, Topic, lock};
use super::reconcile::{PendingIntent, Reconciled, ReconciliationEngine};
use super::rejections::{RejectionManager, StoredRejection};
use super::tables::{DomainSql, Projection};
use super::writer::IntentWriter;
use crate::domain::{Domain, EventOf, IntentOf};
use crate::schema::{Dialect, Schema, SchemaBuilder, Side};

/// How hard a commit waits for the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// WAL with `synchronous=FULL`: a `send` that returned survives a crash or power loss.
    #[default]
    Full,
    /// WAL with `synchronous=NORMAL`: survives an application crash; a power loss may drop
    /// the last commits (never corrupts the file). Several times faster per `send`.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// Options of a [`ClientStore`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Commit durability; [`Durability::Full`] by default.
    pub durability: Durability,
    /// How long a write waits for another connection's write lock (default 5 s).
    pub busy_timeout: Duration,
    /// SQLite page cache size in KiB (default 32 MiB; SQLite's own default is 2 MiB).
    pub cache_kib: u32,
    /// Whether opening creates the client tables (default). Off when another component owns
    /// them, as PowerSync does (`sai::powersync::PowerSyncClient`).
    pub create_tables: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            cache_kib: 32 * 1024,
            create_tables: true,
        }
    }
}

/// Type-erased per-domain operations the store runs for every registered domain.
trait DomainRuntime: Send + Sync {
    fn name(&self) -> &'static str;
    fn reconcile_all(&self, store: &ClientStore) -> Result<DomainSummary>;
    fn holds(&self, conn: &Connection, entity_id: Uuid) -> Result<bool>;
}

struct Runtime<D>(PhantomData<fn() -> D>);

impl<D: Domain> DomainRuntime for Runtime<D> {
    fn name(&self) -> &'static str {
        D::NAME
    }

    fn reconcile_all(&self, store: &ClientStore) -> Result<DomainSummary> {
        store.reconcile_domain::<D>(true)
    }

    fn holds(&self, conn: &Connection, entity_id: Uuid) -> Result<bool> {
        let sql = DomainSql::<D>::new();
        let query = format!(
            "SELECT 1 FROM {} WHERE id = ?1 UNION ALL SELECT 1 FROM {} WHERE id = ?1 \
             UNION ALL SELECT 1 FROM {} WHERE entity_id = ?1 LIMIT 1",
            sql.projection, sql.projection_local, sql.local_intents
        );
        let mut stmt = conn.prepare_cached(&query)?;
        Ok(stmt.exists([entity_id.to_string()])?)
    }
}

/// What one domain's reconciliation did.
#[derive(Debug, Default)]
pub struct DomainSummary {
    /// Entities reconciled.
    pub entities: usize,
    /// Intents removed from the log because their decision is visible.
    pub cleared: usize,
    /// Rejections handed to listeners.
    pub surfaced: usize,
    /// Entities whose rows could not be read (left untouched), with why.
    pub failed: Vec<(Uuid, ClientError)>,
}

/// What [`ClientStore::reconcile_all`] did, per domain.
#[derive(Debug, Default)]
pub struct ReconcileSummary {
    /// One summary per registered domain, in registration order.
    pub domains: Vec<(&'static str, DomainSummary)>,
}

impl ReconcileSummary {
    /// Intents cleared in all domains.
    pub fn cleared(&self) -> usize {
        self.domains.iter().map(|(_, d)| d.cleared).sum()
    }

    /// Entities that failed in all domains.
    pub fn failed(&self) -> impl Iterator<Item = (&'static str, &Uuid, &ClientError)> {
        self.domains
            .iter()
            .flat_map(|(name, d)| d.failed.iter().map(move |(id, e)| (*name, id, e)))
    }
}

/// Configures and opens a [`ClientStore`].
#[must_use]
pub struct ClientStoreBuilder {
    schema: SchemaBuilder,
    domains: Vec<Arc<dyn DomainRuntime>>,
    options: StoreOptions,
}

impl ClientStoreBuilder {
    /// Adds a domain: its client tables are created on open.
    pub fn domain<D: Domain>(mut self) -> Self {
        self.schema = self.schema.domain::<D>();
        self.domains.push(Arc::new(Runtime::<D>(PhantomData)));
        self
    }

    /// Sets the commit durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.options.durability = durability;
        self
    }

    /// Whether opening creates the client tables (default `true`); see
    /// [`StoreOptions::create_tables`].
    pub fn create_tables(mut self, create: bool) -> Self {
        self.options.create_tables = create;
        self
    }

    /// Sets all options.
    pub fn options(mut self, options: StoreOptions) -> Self {
        self.options = options;
        self
    }

    /// The tables of the registered domains.
    pub fn schema(&self) -> std::result::Result<Schema, crate::schema::SchemaError> {
        self.schema.clone().build()
    }

    /// Opens (creating if needed) the SQLite file at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<ClientStore> {
        let conn = Connection::open(path)?;
        self.finish(conn)
    }

    /// Opens a private in-memory database (tests, previews).
    pub fn open_in_memory(self) -> Result<ClientStore> {
        let conn = Connection::open_in_memory()?;
        self.finish(conn)
    }

    fn finish(self, conn: Connection) -> Result<ClientStore> {
        let schema = self.schema.build()?;
        prepare_connection(&conn, &self.options)?;
        if self.options.create_tables {
            create_tables(&conn, &schema)?;
        }
        Ok(ClientStore {
            inner: Arc::new(Inner {
                session: Mutex::new(Session {
                    conn,
                    cache: LogCache::default(),
                }),
                hub: Arc::new(Hub::default()),
                domains: self.domains,
                data_version: Mutex::new(None),
            }),
        })
    }
}

/// Sets the journal mode, durability and lock wait on a connection.
pub fn prepare_connection(conn: &Connection, options: &StoreOptions) -> Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    // Returns the resulting mode; an in-memory database stays in `memory` mode.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    // A page cache large enough for tens of thousands of pending intents: restore and
    // reconcile read the whole log of an entity.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA cache_size = -{};",
        options.durability.pragma(),
        options.cache_kib
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Creates the client tables of a schema (idempotent), on any connection.
pub fn create_tables(conn: &Connection, schema: &Schema) -> Result<()> {
    conn.execute_batch(&schema.ddl(Dialect::Sqlite, Side::Client))?;
    Ok(())
}

/// The connection and what is cached about it, behind one lock.
struct Session {
    conn: Connection,
    cache: LogCache,
}

struct Inner {
    session: Mutex<Session>,
    hub: Arc<Hub>,
    domains: Vec<Arc<dyn DomainRuntime>>,
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
                    .map(|d| d.name())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ClientStore {
    /// Starts configuring a store.
    pub fn builder() -> ClientStoreBuilder {
        ClientStoreBuilder {
            schema: Schema::builder(),
            domains: Vec::new(),
            options: StoreOptions::default(),
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

    /// Applies synced server rows (what a sync layer does after a checkpoint) in one
    /// transaction, then reconciles every domain. `f` must write only the synced tables
    /// (`{name}_projection`, `{name}_intent_events_rejected`, `{name}_client_acks`).
    pub fn apply_server_data(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<ReconcileSummary> {
        self.write_server_data(f)?;
        self.reconcile_all()
    }

    /// Writes synced server rows in one transaction without reconciling (for a sync layer
    /// that reconciles later). Like [`apply_server_data`](Self::apply_server_data), `f` must
    /// write only the synced tables.
    pub fn write_server_data(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<()> {
        self.write(|tx, _| f(tx).map_err(ClientError::from))
    }

    /// The store's own write path: one immediate transaction, with the decoded-log cache
    /// checked against other connections' commits first. `f` may update the cache; if
    /// anything fails the cache is dropped, so it never holds what was rolled back.
    pub(crate) fn write<R, E>(
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

    /// Reconciles every entity with local state in every domain, surfaces new rejections and
    /// tells listeners. Entities whose rows cannot be read are reported and left untouched.
    pub fn reconcile_all(&self) -> Result<ReconcileSummary> {
        let mut summary = ReconcileSummary::default();
        for domain in &self.inner.domains {
            summary
                .domains
                .push((domain.name(), domain.reconcile_all(self)?));
        }
        Ok(summary)
    }

    /// Reconciles if another connection (a sync process, another store on the same file)
    /// committed since the last call; `None` if nothing changed.
    pub fn poll_external_changes(&self) -> Result<Option<ReconcileSummary>> {
        let version: i64 = self.read(|c| c.query_row("PRAGMA data_version", [], |r| r.get(0)))?;
        if *lock(&self.inner.data_version) == Some(version) {
            return Ok(None);
        }
        // Remembered only once reconciled: a failed reconcile is tried again next poll.
        let summary = self.reconcile_all()?;
        *lock(&self.inner.data_version) = Some(version);
        Ok(Some(summary))
    }

    /// Polls for other connections' commits every `interval` on a background thread and
    /// reconciles when there were some. Stops when the returned guard is dropped.
    pub fn watch_external_changes(&self, interval: Duration) -> ExternalWatcher {
        let store = self.clone();
        let (stop, stopped) = mpsc::channel::<()>();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let thread = thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                if let Err(e) = store.poll_external_changes() {
                    lock(&sink).push(e);
                }
            }
        });
        ExternalWatcher {
            stop: Some(stop),
            thread: Some(thread),
            errors,
        }
    }

    pub(crate) fn registered<D: Domain>(&self) -> Result<()> {
        if self.inner.domains.iter().any(|d| d.name() == D::NAME) {
            Ok(())
        } else {
            Err(ClientError::UnknownDomain(D::NAME))
        }
    }

    /// Fails with [`ClientError::WrongDomain`] if the entity is unknown to `D` but known to
    /// another registered domain.
    pub(crate) fn check_entity_domain<D: Domain>(&self, entity_id: Uuid) -> Result<()> {
        self.registered::<D>()?;
        let conn = &lock(&self.inner.session).conn;
        let mine = self
            .inner
            .domains
            .iter()
            .find(|d| d.name() == D::NAME)
            .map(|d| d.holds(conn, entity_id))
            .transpose()?
            .unwrap_or(false);
        if mine {
            return Ok(());
        }
        for other in self.inner.domains.iter().filter(|d| d.name() != D::NAME) {
            if other.holds(conn, entity_id)? {
                return Err(ClientError::WrongDomain {
                    entity_id,
                    expected: D::NAME,
                    found: other.name(),
                });
            }
        }
        Ok(())
    }

    /// The optimistic projection of one entity (the server's if nothing is pending).
    pub fn projection<D: Domain>(&self, entity_id: Uuid) -> Result<Option<Projection<D>>> {
        self.registered::<D>()?;
        let conn = &lock(&self.inner.session).conn;
        DomainSql::<D>::new().current_projection(conn, entity_id)
    }

    /// The optimistic projections of every entity of a domain (a list view), by entity id.
    pub fn projections<D: Domain>(&self) -> Result<Vec<Projection<D>>> {
        self.registered::<D>()?;
        let conn = &lock(&self.inner.session).conn;
        DomainSql::<D>::new().all_projections(conn)
    }

    /// Every intent in a domain's local log, grouped by entity, in sequence order — what a
    /// transport uploads. Unlike [`pending_intents`](Self::pending_intents) it replays
    /// nothing.
    pub fn logged_intents<D: Domain>(&self) -> Result<Vec<IntentOf<D>>> {
        self.registered::<D>()?;
        let logged = self.read(|c| DomainSql::<D>::new().all_intents(c))?;
        Ok(logged.into_iter().map(|l| l.intent).collect())
    }

    /// Every pending intent of a domain with its status, grouped by entity.
    pub fn pending_intents<D: Domain>(&self) -> Result<Vec<PendingIntent<D>>> {
        self.registered::<D>()?;
        let conn = &lock(&self.inner.session).conn;
        let sql = DomainSql::<D>::new();
        let engine = ReconciliationEngine::<D>::new();
        let mut out = Vec::new();
        for entity in sql.entities_with_local_state(conn)? {
            out.extend(engine.pending_intents(conn, entity)?);
        }
        Ok(out)
    }

    /// Every rejection of a domain that was not cleared.
    pub fn rejections<D: Domain>(&self) -> Result<Vec<StoredRejection>> {
        self.registered::<D>()?;
        let conn = &lock(&self.inner.session).conn;
        RejectionManager::<D>::new().all_rejections(conn)
    }

    /// Calls `f` after every change to a domain: a `send`, a reconciliation, server data.
    pub fn watch<D: Domain>(
        &self,
        f: impl Fn(&DomainChange) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.registered::<D>()?;
        Ok(self.inner.hub.watch(D::NAME, f))
    }

    /// Calls `f` after each change in any registered domain.
    pub fn watch_all(
        &self,
        f: impl Fn(&DomainChange) + Send + Sync + 'static,
    ) -> Vec<Subscription> {
        let f = Arc::new(f);
        self.inner
            .domains
            .iter()
            .map(|d| {
                let f = f.clone();
                self.inner.hub.watch(d.name(), move |c| f(c))
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

    /// Calls `f` once for each rejection of a domain's intents (see
    /// [`rejections`](super::rejections) for the exactly-once rule). Rejections that arrived
    /// while nobody listened are delivered right away.
    pub fn on_rejection<D: Domain>(
        &self,
        f: impl Fn(&StoredRejection) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        // The nil entity is the domain-wide topic.
        self.subscribe_rejections::<D>(Uuid::nil(), f)
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
            .inner
            .hub
            .subscribe(Topic::Projection(D::NAME, entity_id), move |any| {
                if let Some(p) = any.downcast_ref::<Option<Projection<D>>>() {
                    f(p.as_ref());
                }
            });
        // Remember what the entity looks like now, so the listener hears changes only. Read
        // after subscribing: a change in between is emitted (and recorded) first, and the
        // seed then leaves that record alone.
        let current = self.projection::<D>(entity_id)?;
        self.inner
            .hub
            .seed_projection(D::NAME, entity_id, fingerprint(current.as_ref()));
        Ok(sub)
    }

    pub(crate) fn subscribe_rejections<D: Domain>(
        &self,
        entity_id: Uuid,
        f: impl Fn(&StoredRejection) + Send + Sync + 'static,
    ) -> Result<Subscription> {
        self.registered::<D>()?;
        let sub = self
            .inner
            .hub
            .subscribe(Topic::Rejection(D::NAME, entity_id), move |any| {
                if let Some(r) = any.downcast_ref::<StoredRejection>() {
                    f(r);
                }
            });
        self.surface_rejections::<D>()?;
        Ok(sub)
    }

    /// Selects and marks the rejections someone listens for, in the caller's transaction.
    fn take_surfaceable<D: Domain>(&self, tx: &Connection) -> Result<Vec<StoredRejection>> {
        let hub = &self.inner.hub;
        let domain_wide = hub.has(Topic::Rejection(D::NAME, Uuid::nil()));
        let manager = RejectionManager::<D>::new();
        let due: Vec<StoredRejection> = manager
            .unsurfaced(tx)?
            .into_iter()
            .filter(|r| domain_wide || hub.has(Topic::Rejection(D::NAME, r.entity_id)))
            .collect();
        manager.mark_surfaced(tx, &due)?;
        Ok(due)
    }

    fn emit_rejections<D: Domain>(&self, rejections: &[StoredRejection]) {
        for r in rejections {
            self.inner
                .hub
                .emit(Topic::Rejection(D::NAME, r.entity_id), r);
            self.inner
                .hub
                .emit(Topic::Rejection(D::NAME, Uuid::nil()), r);
        }
    }

    /// Hands rejections that arrived while nobody listened to the listeners now registered.
    pub(crate) fn surface_rejections<D: Domain>(&self) -> Result<usize> {
        let due = self.write(|tx, _| self.take_surfaceable::<D>(tx))?;
        self.emit_rejections::<D>(&due);
        Ok(due.len())
    }

    /// Appends an intent and updates the optimistic projection in one transaction, then
    /// tells listeners.
    pub(crate) fn send<D: Domain>(
        &self,
        writer: &IntentWriter<D>,
        entity_id: Uuid,
        event: EventOf<D>,
    ) -> Result<Projection<D>, SendError> {
        let written = self.write(|tx, cache| {
            cache.forget::<D>(entity_id);
            writer.write(tx, entity_id, event)
        })?;
        let projection = written.projection;
        self.emit_projection::<D>(entity_id, Some(&projection));
        self.inner.hub.emit_change(&DomainChange {
            domain: D::NAME,
            entities: vec![entity_id],
            server_data: false,
        });
        Ok(projection)
    }

    fn emit_projection<D: Domain>(&self, entity_id: Uuid, projection: Option<&Projection<D>>) {
        if self.inner.hub.has(Topic::Projection(D::NAME, entity_id)) {
            let owned: Option<Projection<D>> = projection.cloned();
            self.inner.hub.emit_projection(
                D::NAME,
                entity_id,
                fingerprint(projection),
                &owned as &dyn Any,
            );
        }
    }

    /// Reconciles one entity: see [`ReconciliationEngine::reconcile`].
    pub(crate) fn reconcile_entity<D: Domain>(&self, entity_id: Uuid) -> Result<Reconciled<D>> {
        self.registered::<D>()?;
        let engine = ReconciliationEngine::<D>::new();
        let (reconciled, surfaced) = self.write(|tx, cache| {
            let r = reconcile_cached(&engine, tx, cache, entity_id)?;
            let s = self.take_surfaceable::<D>(tx)?;
            Ok::<_, ClientError>((r, s))
        })?;
        self.emit_projection::<D>(entity_id, reconciled.projection.as_ref());
        self.emit_rejections::<D>(&surfaced);
        if reconciled.changed {
            self.inner.hub.emit_change(&DomainChange {
                domain: D::NAME,
                entities: vec![entity_id],
                server_data: false,
            });
        }
        Ok(reconciled)
    }

    /// Reconciles every entity of a domain with local state, surfaces rejections and tells
    /// the listeners of every watched entity whose projection changed.
    fn reconcile_domain<D: Domain>(&self, server_data: bool) -> Result<DomainSummary> {
        let engine = ReconciliationEngine::<D>::new();
        let sql = DomainSql::<D>::new();
        let watched = self.inner.hub.watched_entities(D::NAME);
        let (report, surfaced, views) = self.write(|tx, cache| {
            let report = engine.reconcile_each(tx, |entity_id| {
                reconcile_cached(&engine, tx, cache, entity_id)
            })?;
            let surfaced = self.take_surfaceable::<D>(tx)?;
            let mut views = Vec::with_capacity(watched.len());
            for &entity in &watched {
                match report.entities.iter().find(|r| r.entity_id == entity) {
                    Some(r) => views.push((entity, r.projection.clone())),
                    None => {
                        if let Ok(p) = sql.current_projection(tx, entity) {
                            views.push((entity, p));
                        }
                    }
                }
            }
            Ok::<_, ClientError>((report, surfaced, views))
        })?;
        for (entity, projection) in &views {
            self.emit_projection::<D>(*entity, projection.as_ref());
        }
        self.emit_rejections::<D>(&surfaced);
        let changed: Vec<Uuid> = report
            .entities
            .iter()
            .filter(|r| r.changed)
            .map(|r| r.entity_id)
            .collect();
        if server_data || !changed.is_empty() {
            self.inner.hub.emit_change(&DomainChange {
                domain: D::NAME,
                entities: changed,
                server_data,
            });
        }
        Ok(DomainSummary {
            entities: report.entities.len(),
            cleared: report.entities.iter().map(|r| r.cleared.len()).sum(),
            surfaced: surfaced.len(),
            failed: report.failed,
        })
    }
}

/// Reconciles one entity on its cached decoded log (read from the table if not cached) and
/// caches the log as it is afterwards.
fn reconcile_cached<D: Domain>(
    engine: &ReconciliationEngine<D>,
    tx: &Connection,
    cache: &mut LogCache,
    entity_id: Uuid,
) -> Result<Reconciled<D>> {
    let logged = match cache.take::<D>(entity_id) {
        Some(log) => log,
        None => engine.load(tx, entity_id)?,
    };
    let (reconciled, after) = engine.reconcile_logged(tx, entity_id, logged)?;
    if !after.is_empty() {
        cache.put::<D>(entity_id, after);
    }
    Ok(reconciled)
}

/// What listeners were told, to tell each change once.
fn fingerprint<D: Domain>(projection: Option<&Projection<D>>) -> String {
    match projection {
        None => "null".to_owned(),
        Some(p) => serde_json::to_string(&(&p.snapshot, p.optimistic, &p.owner_id))
            .unwrap_or_else(|e| format!("unserializable: {e}")),
    }
}

/// Polls for other connections' commits; stops and joins its thread when dropped.
pub struct ExternalWatcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    errors: Arc<Mutex<Vec<ClientError>>>,
}

impl ExternalWatcher {
    /// Errors the background reconciliations hit since the last call.
    pub fn take_errors(&self) -> Vec<ClientError> {
        std::mem::take(&mut *lock(&self.errors))
    }
}

impl Drop for ExternalWatcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for ExternalWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalWatcher").finish_non_exhaustive()
    }
}
