//! Reconciling: folding the server's decisions into the local log and rebuilding the
//! optimistic projection on top of the server's. The rule (when an intent leaves the log) is
//! stated in the [`client`](super) module docs; [`plan()`] implements it without I/O, and this
//! module reads its facts, writes its outcome and tells listeners:
//!
//! * one entity: [`ClientStore::reconcile_entity`] → [`reconcile_cached`] → [`apply`];
//! * one domain: [`reconcile_domain`] (the entry the store registered for the domain), the
//!   same per entity, then surfacing and listeners;
//! * every domain: [`ClientStore::reconcile_all`].

mod plan;

use rusqlite::Connection;
use uuid::Uuid;

pub use plan::{PendingIntent, PendingStatus};

use self::plan::{Facts, Plan, plan};
use super::cache::LogCache;
use super::error::{ClientError, Result};
use super::notify::DomainChange;
use super::projection::Projection;
use super::store::ClientStore;
use super::summary::{DomainSummary, ReconcileSummary};
use super::tables::{DomainSql, Logged};
use crate::domain::{Domain, IntentOf};
use crate::intent::now_millis;
use crate::rejection::Rejection;

/// The outcome of reconciling one entity.
#[non_exhaustive]
pub struct Reconciled<D: Domain> {
    /// The entity.
    pub entity_id: Uuid,
    /// Its projection now: the server's with the remaining intents applied, or `None` when
    /// neither the server nor the log knows the entity.
    pub projection: Option<Projection<D>>,
    /// Intents removed from the log because their decision is visible.
    pub cleared: Vec<Uuid>,
    /// The intents still pending, with their status.
    pub pending: Vec<PendingIntent<D>>,
    /// Whether the overlay row was written or removed.
    pub changed: bool,
}

impl<D: Domain> Reconciled<D> {
    /// The pending intents predicted to fail, with why.
    pub fn predicted_to_fail(&self) -> impl Iterator<Item = (&IntentOf<D>, &Rejection)> {
        self.pending.iter().filter_map(|p| match &p.status {
            PendingStatus::PredictedToFail(r) => Some((&p.intent, r)),
            _ => None,
        })
    }
}

impl<D: Domain + std::fmt::Debug> std::fmt::Debug for Reconciled<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciled")
            .field("entity_id", &self.entity_id)
            .field("projection", &self.projection)
            .field("cleared", &self.cleared)
            .field("pending", &self.pending)
            .field("changed", &self.changed)
            .finish()
    }
}

impl ClientStore {
    /// Reconciles every entity with local state in every domain, surfaces new rejections and
    /// tells listeners. Entities whose rows cannot be read are reported and left untouched.
    /// When an intent leaves the log, and how rejections are surfaced exactly once, is
    /// stated in the [`client`](super) module docs.
    pub fn reconcile_all(&self) -> Result<ReconcileSummary> {
        let mut summary = ReconcileSummary::default();
        for domain in self.domains() {
            summary
                .domains
                .push((domain.name(), domain.reconcile(self)?));
        }
        Ok(summary)
    }

    /// Reconciles one entity, surfaces the rejections someone listens for, then tells
    /// listeners.
    pub(crate) fn reconcile_entity<D: Domain>(&self, entity_id: Uuid) -> Result<Reconciled<D>> {
        let sql = &self.registered::<D>()?.sql;
        let (reconciled, surfaced) = self.write(|tx, cache| {
            let r = reconcile_cached(sql, tx, cache, entity_id, Pending::Returned)?;
            let s = self.take_surfaceable::<D>(tx)?;
            Ok::<_, ClientError>((r, s))
        })?;
        self.emit_projection::<D>(entity_id, reconciled.projection.as_ref());
        self.emit_rejections::<D>(&surfaced);
        if reconciled.changed {
            self.emit_change(&DomainChange {
                domain: D::NAME,
                entities: vec![entity_id],
                server_data: false,
            });
        }
        Ok(reconciled)
    }

    /// Every pending intent of a domain with its status, grouped by entity (reads only).
    pub fn pending_intents<D: Domain>(&self) -> Result<Vec<PendingIntent<D>>> {
        let sql = &self.registered::<D>()?.sql;
        self.read(|conn| {
            let mut out = Vec::new();
            for entity in sql.entities_with_local_state(conn)? {
                out.extend(pending_of(sql, conn, entity)?);
            }
            Ok(out)
        })
    }

    /// One entity's pending intents with their status (reads only).
    pub(crate) fn pending_intents_of<D: Domain>(
        &self,
        entity_id: Uuid,
    ) -> Result<Vec<PendingIntent<D>>> {
        let sql = &self.registered::<D>()?.sql;
        self.read(|conn| pending_of(sql, conn, entity_id))
    }
}

/// Reconciles every entity of `D` with local state in one transaction, surfaces rejections,
/// tells the listeners of every watched entity whose projection changed and the domain's
/// watchers that server data may have arrived. An entity whose rows cannot be read is
/// reported in `failed` and left untouched; a database error stops the run. This is the
/// entry the store registers for `D`.
pub(crate) fn reconcile_domain<D: Domain>(store: &ClientStore) -> Result<DomainSummary> {
    let sql = &store.registered::<D>()?.sql;
    let watched = store.hub().watched_entities(D::NAME);
    let (entities, failed, surfaced, views) = store.write(|tx, cache| {
        let mut entities: Vec<Reconciled<D>> = Vec::new();
        let mut failed = Vec::new();
        for entity_id in sql.entities_with_local_state(tx)? {
            match reconcile_cached(sql, tx, cache, entity_id, Pending::Cached) {
                Ok(r) => entities.push(r),
                Err(ClientError::Sqlite(e)) => return Err(ClientError::Sqlite(e)),
                Err(e) => failed.push((entity_id, e)),
            }
        }
        sql.clear_decided_member_intents(tx)?;
        let surfaced = store.take_surfaceable::<D>(tx)?;
        // Watched entities without local state may have changed too (server data).
        let mut views = Vec::with_capacity(watched.len());
        for &entity in &watched {
            match entities.iter().find(|r| r.entity_id == entity) {
                Some(r) => views.push((entity, r.projection.clone())),
                None => {
                    if let Ok(p) = sql.current_projection(tx, entity) {
                        views.push((entity, p));
                    }
                }
            }
        }
        Ok::<_, ClientError>((entities, failed, surfaced, views))
    })?;
    for (entity, projection) in &views {
        store.emit_projection::<D>(*entity, projection.as_ref());
    }
    store.emit_rejections::<D>(&surfaced);
    let cleared: usize = entities.iter().map(|r| r.cleared.len()).sum();
    tracing::debug!(
        domain = D::NAME,
        entities = entities.len(),
        cleared,
        surfaced = surfaced.len(),
        failed = failed.len(),
        "reconciled"
    );
    for (entity, e) in &failed {
        tracing::warn!(domain = D::NAME, %entity, error = %e, "entity not reconciled: its rows do not read; left untouched");
    }
    let changed: Vec<Uuid> = entities
        .iter()
        .filter(|r| r.changed)
        .map(|r| r.entity_id)
        .collect();
    // Run after server data may have arrived: watchers hear of it even if no projection of
    // this client changed.
    store.emit_change(&DomainChange {
        domain: D::NAME,
        entities: changed,
        server_data: true,
    });
    Ok(DomainSummary {
        entities: entities.len(),
        cleared,
        surfaced: surfaced.len(),
        failed,
    })
}

/// Where the intents still pending after a reconciliation go besides the cache.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Also into the returned [`Reconciled::pending`] (a copy each).
    Returned,
    /// Only into the cache: the caller keeps no more than the projection and what was
    /// cleared, so the decoded intents move rather than copy (a reconcile of a whole
    /// domain, which is what runs after every download).
    Cached,
}

/// Reconciles one entity on its cached decoded log (read from the table if not cached) and
/// caches the log as it is afterwards.
fn reconcile_cached<D: Domain>(
    sql: &DomainSql<D>,
    tx: &Connection,
    cache: &mut LogCache,
    entity_id: Uuid,
    pending: Pending,
) -> Result<Reconciled<D>> {
    let logged = match cache.take::<D>(entity_id) {
        Some(log) => log,
        None => sql.intents_of(tx, entity_id)?,
    };
    let (mut reconciled, bases) = apply(sql, tx, entity_id, logged)?;
    let after: Vec<Logged<D>> = match pending {
        Pending::Returned => reconciled
            .pending
            .iter()
            .zip(&bases)
            .map(|(p, base)| Logged {
                intent: p.intent.clone(),
                base_version: *base,
            })
            .collect(),
        Pending::Cached => std::mem::take(&mut reconciled.pending)
            .into_iter()
            .zip(bases)
            .map(|(p, base_version)| Logged {
                intent: p.intent,
                base_version,
            })
            .collect(),
    };
    if !after.is_empty() {
        cache.put::<D>(entity_id, after);
    }
    Ok(reconciled)
}

/// Reads what the plan needs besides the log. Everything is read before anything is
/// written: one unreadable row aborts the entity before any write.
fn facts<D: Domain>(
    sql: &DomainSql<D>,
    conn: &Connection,
    entity_id: Uuid,
    logged: &[Logged<D>],
) -> Result<Facts<D>> {
    let server = sql.server_projection(conn, entity_id)?;
    let decided = sql.server_decided(conn, entity_id)?;
    let rejected = sql.rejected_ids(conn, entity_id)?;
    let mut acks = std::collections::HashMap::new();
    let mut previous: Option<&str> = None;
    for row in logged {
        // Runs of one client: look the map up only when the client changes.
        let client = row.intent.client_id.as_str();
        if previous != Some(client) && !acks.contains_key(client) {
            acks.insert(client.to_owned(), sql.acked_seq(conn, client)?);
        }
        previous = Some(client);
    }
    let uploading = sql.uploading_ids(conn, entity_id)?;
    let members = sql.predicted_members(conn, entity_id)?;
    Ok(Facts {
        server,
        decided,
        rejected,
        acks,
        uploading,
        members,
    })
}

/// The entity's pending intents with their status, without writing.
fn pending_of<D: Domain>(
    sql: &DomainSql<D>,
    conn: &Connection,
    entity_id: Uuid,
) -> Result<Vec<PendingIntent<D>>> {
    let logged = sql.intents_of(conn, entity_id)?;
    let facts = facts(sql, conn, entity_id, &logged)?;
    Ok(plan(entity_id, logged, facts)?.pending)
}

/// Reconciles one entity on `logged` (its log as stored): plans, then removes the intents
/// whose decision is visible and writes (or removes) the optimistic overlay. Runs inside the
/// caller's transaction; on error nothing was written. Also returns the `base_version` of
/// each pending intent, which with the pending intents is the log as it is after.
fn apply<D: Domain>(
    sql: &DomainSql<D>,
    conn: &Connection,
    entity_id: Uuid,
    logged: Vec<Logged<D>>,
) -> Result<(Reconciled<D>, Vec<u64>)> {
    let existing = sql.local_projection(conn, entity_id)?;
    let facts = facts(sql, conn, entity_id, &logged)?;
    let Plan {
        raised,
        server,
        cleared,
        pending,
        bases,
        optimistic,
    } = plan(entity_id, logged, facts)?;
    // The projection is written first: its fields' encoding is the one step here that can
    // fail without failing the transaction, and it must not fail after the log moved.
    let mut changed = !cleared.is_empty();
    let projection = match optimistic {
        None => {
            if existing.is_some() {
                sql.delete_local_projection(conn, entity_id)?;
                changed = true;
            }
            server
        }
        Some((snapshot, owner_id)) => {
            let same = existing.as_ref().is_some_and(|e| {
                e.snapshot.state == snapshot.state
                    && e.snapshot.version == snapshot.version
                    && e.owner_id == owner_id
                    && same_context::<D>(&e.snapshot.context, &snapshot.context)
            });
            let updated_at = match (&existing, same) {
                (Some(e), true) => e.updated_at,
                _ => {
                    let now = now_millis();
                    sql.write_local_projection(
                        conn,
                        entity_id,
                        &snapshot,
                        &owner_id,
                        now,
                        existing.is_some(),
                    )?;
                    changed = true;
                    now
                }
            };
            Some(Projection {
                entity_id,
                snapshot,
                owner_id,
                updated_at,
                optimistic: true,
            })
        }
    };
    if !cleared.is_empty() {
        tracing::debug!(
            domain = D::NAME,
            entity = %entity_id,
            cleared = ?cleared,
            pending = pending.len(),
            "intents left the log: their decision is visible"
        );
    }
    sql.delete_intents(conn, &cleared)?;
    // Persist what was learnt from cleared intents, so that it survives their deletion.
    for (id, version) in &raised {
        sql.raise_base_version(conn, *id, *version)?;
    }
    Ok((
        Reconciled {
            entity_id,
            projection,
            cleared,
            pending,
            changed,
        },
        bases,
    ))
}

fn same_context<D: Domain>(a: &D, b: &D) -> bool {
    match (serde_json::to_string(a), serde_json::to_string(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Reconciles one domain's entities on a connection the [`ClientStore`] does not own — one
/// leased from a PowerSync pool, say. With a store, use [`ClientStore::reconcile_all`] (or
/// [`EventSourcedActor::reconcile`](super::EventSourcedActor::reconcile)) instead: it also
/// surfaces rejections and tells listeners.
pub struct ReconciliationEngine<D: Domain> {
    sql: DomainSql<D>,
}

impl<D: Domain> Default for ReconciliationEngine<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Domain> ReconciliationEngine<D> {
    /// An engine for the domain (renders the domain's SQL once).
    pub fn new() -> Self {
        ReconciliationEngine {
            sql: DomainSql::new(),
        }
    }

    /// The entity's pending intents with their status (reads only).
    pub fn pending_intents(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Vec<PendingIntent<D>>> {
        pending_of(&self.sql, conn, entity_id)
    }

    /// Reconciles one entity: removes the intents whose decision is visible, replays the rest
    /// on the server projection and writes (or removes) the optimistic overlay. Run it inside
    /// a transaction; on error nothing was written.
    pub fn reconcile(&self, conn: &Connection, entity_id: Uuid) -> Result<Reconciled<D>> {
        let logged = self.sql.intents_of(conn, entity_id)?;
        Ok(apply(&self.sql, conn, entity_id, logged)?.0)
    }
}

impl<D: Domain> std::fmt::Debug for ReconciliationEngine<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconciliationEngine")
            .field("domain", &D::NAME)
            .finish()
    }
}
