//! The reconciliation engine: folds the server's decisions into the local intent log and
//! rebuilds the optimistic projection on top of the server's.
//!
//! # When an intent leaves the pending log
//!
//! The server decides a client's intents in sequence order and, in the same transaction as
//! each decision (projection row written, or rejection row written), sets
//! `{name}_client_acks.last_seq` for that client to the decided sequence number. An intent
//! `(client, seq)` of entity `e` is removed from `{name}_intent_events_local` only when its
//! decision is visible locally:
//!
//! * the synced rejection row (`{name}_intent_events_rejected.id` = the intent id) is there,
//!   or
//! * the acknowledgement covers it (`last_seq >= seq`) **and** the synced projection of `e`
//!   has moved past the version the intent was applied on: an accepted intent raises the
//!   version by one, so an unmoved projection means its effect has not arrived yet.
//!
//! "The version the intent was applied on" is a lower bound kept per intent in
//! `base_version`: the server projection version the client saw when it wrote the intent,
//! raised while walking one client's intents on the entity in sequence order — every earlier
//! intent of that client known to be accepted adds one, and one that is acknowledged but not
//! yet visible is assumed accepted (holding later ones back until it is settled). Bounds
//! learnt from cleared intents are written back to the remaining rows, so they survive the
//! deletion.
//!
//! A sync layer that applies a server transaction atomically (PowerSync checkpoints) makes
//! the second rule exact; when rows arrive out of step, the rule holds an acknowledged
//! intent back until the projection (or the rejection) arrives, so the user never sees an
//! action vanish and reappear. Everything else stays pending: nothing is deleted on a guess.
//!
//! # What the client shows
//!
//! The remaining intents are replayed with the client machine (optimistic phase) on top of
//! the server projection. One the machine rejects there stays pending — the server decides —
//! but is left out of the projection and reported as [`PendingStatus::PredictedToFail`].

use std::collections::HashMap;

use rusqlite::Connection;
use uuid::Uuid;

use super::error::{ClientError, Result};
use super::tables::{DomainSql, Logged, Projection};
use crate::domain::{Domain, IntentOf, SnapshotOf};
use crate::intent::Phase;
use crate::intent::now_millis;
use crate::rejection::Rejection;
use crate::snapshot::replay;

/// Where a pending intent stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendingStatus {
    /// Waiting for the server; applied to the optimistic projection.
    Pending,
    /// The server acknowledged a decision but its data has not arrived yet; still applied.
    Acknowledged,
    /// The client machine rejects it on top of the current server projection: it is left out
    /// of the optimistic projection, and the server will most likely reject it too.
    PredictedToFail(Rejection),
}

/// A logged intent with its status.
#[derive(Clone, Debug)]
pub struct PendingIntent<D: Domain> {
    /// The intent.
    pub intent: IntentOf<D>,
    /// Its status.
    pub status: PendingStatus,
}

/// The outcome of reconciling one entity.
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

/// The result of reconciling every entity of a domain.
pub struct DomainReconciliation<D: Domain> {
    /// One outcome per entity that has local state.
    pub entities: Vec<Reconciled<D>>,
    /// Entities whose local rows could not be read; they were left untouched.
    pub failed: Vec<(Uuid, ClientError)>,
}

/// Folds synced server data into one domain's local log and optimistic projections.
///
/// Works on any `rusqlite::Connection`; the writing methods must run inside a transaction.
pub struct ReconciliationEngine<D: Domain> {
    sql: DomainSql<D>,
}

impl<D: Domain> Default for ReconciliationEngine<D> {
    fn default() -> Self {
        Self::new()
    }
}

/// One local client's walk through an entity's intents, in sequence order.
struct Walk {
    /// The server's acknowledgement for the client.
    acked: u64,
    /// A version the entity is known to have reached before the next intent is applied.
    known: u64,
    /// The same, also counting decided intents whose effect has not arrived as accepted.
    assumed: u64,
}

struct Plan<D: Domain> {
    raised: Vec<(Uuid, u64)>,
    server: Option<Projection<D>>,
    existing: Option<Projection<D>>,
    cleared: Vec<Uuid>,
    pending: Vec<PendingIntent<D>>,
    /// The `base_version` of each pending intent after this reconciliation.
    bases: Vec<u64>,
    snapshot: Option<SnapshotOf<D>>,
    owner_id: Option<String>,
}

impl<D: Domain> ReconciliationEngine<D> {
    /// An engine for the domain.
    pub fn new() -> Self {
        ReconciliationEngine {
            sql: DomainSql::new(),
        }
    }

    /// Computes, without writing, which intents are decided and what the rest produce.
    fn plan(&self, conn: &Connection, entity_id: Uuid, logged: Vec<Logged<D>>) -> Result<Plan<D>> {
        let server = self.sql.server_projection(conn, entity_id)?;
        let existing = self.sql.local_projection(conn, entity_id)?;
        let server_version = server.as_ref().map_or(0, |p| p.snapshot.version);
        // Decode everything first: one unreadable row aborts the plan before any write.
        let rejected = self.sql.rejected_ids(conn, entity_id)?;
        let mut walks: HashMap<String, Walk> = HashMap::new();
        let mut cleared = Vec::new();
        let mut raised = Vec::new();
        let mut kept: Vec<(IntentOf<D>, bool, u64)> = Vec::with_capacity(logged.len());
        for row in logged {
            let intent = row.intent;
            if intent.entity_id != entity_id {
                return Err(ClientError::corrupt(
                    D::NAME,
                    intent.id.to_string(),
                    "intent filed under another entity",
                ));
            }
            let walk = match walks.get_mut(&intent.client_id) {
                Some(w) => w,
                None => {
                    let acked = self.sql.acked_seq(conn, &intent.client_id)?;
                    walks.entry(intent.client_id.clone()).or_insert(Walk {
                        acked,
                        known: 0,
                        assumed: 0,
                    })
                }
            };
            walk.known = walk.known.max(row.base_version);
            walk.assumed = walk.assumed.max(walk.known);
            if rejected.contains(&intent.id) {
                cleared.push(intent.id);
                continue;
            }
            let decided = walk.acked >= intent.seq;
            if decided && server_version > walk.assumed {
                // Accepted and visible: the entity is now past this intent's version.
                cleared.push(intent.id);
                walk.known += 1;
                walk.assumed += 1;
            } else {
                if walk.known > row.base_version {
                    raised.push((intent.id, walk.known));
                }
                if decided {
                    // Decided but its effect not visible: if it was accepted, the next
                    // intent's effect needs a version past it.
                    walk.assumed += 1;
                }
                kept.push((intent, decided, walk.known.max(row.base_version)));
            }
        }
        if kept.is_empty() {
            return Ok(Plan {
                raised,
                server,
                existing,
                cleared,
                pending: Vec::new(),
                bases: Vec::new(),
                snapshot: None,
                owner_id: None,
            });
        }
        let base = server
            .as_ref()
            .map_or_else(SnapshotOf::<D>::initial, |p| p.snapshot.clone());
        let server_owner = server.as_ref().map(|p| p.owner_id.as_str());
        let result = replay(
            base,
            server_owner,
            kept.iter().map(|(i, _, _)| i),
            Phase::Optimistic,
        );
        let bases = kept.iter().map(|(_, _, b)| *b).collect();
        let mut failures = result.rejected.into_iter().peekable();
        let pending = kept
            .into_iter()
            .map(|(intent, decided, _)| {
                let failed = match failures.peek() {
                    Some((id, _)) if *id == intent.id => failures.next().map(|(_, r)| r),
                    _ => None,
                };
                let status = match (decided, failed) {
                    (true, _) => PendingStatus::Acknowledged,
                    (false, Some(r)) => PendingStatus::PredictedToFail(r),
                    (false, None) => PendingStatus::Pending,
                };
                PendingIntent { intent, status }
            })
            .collect();
        // No server row and nothing accepted (its creation was rejected): no entity, whatever
        // is still pending on it.
        let exists = result.owner.is_some();
        Ok(Plan {
            raised,
            server,
            existing,
            cleared,
            pending,
            bases,
            snapshot: exists.then_some(result.snapshot),
            owner_id: result.owner,
        })
    }

    /// The entity's pending intents with their status (reads only).
    pub fn pending_intents(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Vec<PendingIntent<D>>> {
        let logged = self.sql.intents_of(conn, entity_id)?;
        Ok(self.plan(conn, entity_id, logged)?.pending)
    }

    /// Reconciles one entity: removes the intents whose decision is visible, replays the rest
    /// on the server projection and writes (or removes) the optimistic overlay. Run it inside
    /// a transaction; on error nothing was written.
    pub fn reconcile(&self, conn: &Connection, entity_id: Uuid) -> Result<Reconciled<D>> {
        let logged = self.sql.intents_of(conn, entity_id)?;
        Ok(self.reconcile_logged(conn, entity_id, logged)?.0)
    }

    /// The entity's log as stored, decoded.
    pub(crate) fn load(&self, conn: &Connection, entity_id: Uuid) -> Result<Vec<Logged<D>>> {
        self.sql.intents_of(conn, entity_id)
    }

    /// [`reconcile`](Self::reconcile) on a log already read (the store keeps decoded logs in
    /// memory); also returns the log as it is after the reconciliation.
    pub(crate) fn reconcile_logged(
        &self,
        conn: &Connection,
        entity_id: Uuid,
        logged: Vec<Logged<D>>,
    ) -> Result<(Reconciled<D>, Vec<Logged<D>>)> {
        let plan = self.plan(conn, entity_id, logged)?;
        // The projection is written first: its fields' encoding is the one step here that
        // can fail without failing the transaction, and it must not fail after the log moved.
        let mut changed = !plan.cleared.is_empty();
        let projection = match plan.snapshot {
            None => {
                if plan.existing.is_some() {
                    self.sql.delete_local_projection(conn, entity_id)?;
                    changed = true;
                }
                plan.server
            }
            Some(snapshot) => {
                let owner_id = plan.owner_id.unwrap_or_default();
                let same = plan.existing.as_ref().is_some_and(|e| {
                    e.snapshot.state == snapshot.state
                        && e.snapshot.version == snapshot.version
                        && e.owner_id == owner_id
                        && same_context::<D>(&e.snapshot.context, &snapshot.context)
                });
                let updated_at = match (&plan.existing, same) {
                    (Some(e), true) => e.updated_at,
                    _ => {
                        let now = now_millis();
                        self.sql.write_local_projection(
                            conn,
                            entity_id,
                            &snapshot,
                            &owner_id,
                            now,
                            plan.existing.is_some(),
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
        self.sql.delete_intents(conn, &plan.cleared)?;
        // Persist what was learnt from cleared intents, so that it survives their deletion.
        for (id, version) in &plan.raised {
            self.sql.raise_base_version(conn, *id, *version)?;
        }
        let log_after = plan
            .pending
            .iter()
            .zip(&plan.bases)
            .map(|(p, base)| Logged {
                intent: p.intent.clone(),
                base_version: *base,
            })
            .collect();
        Ok((
            Reconciled {
                entity_id,
                projection,
                cleared: plan.cleared,
                pending: plan.pending,
                changed,
            },
            log_after,
        ))
    }

    /// Reconciles every entity with local state (logged intents or an overlay row). An entity
    /// whose rows cannot be read is reported in `failed` and left untouched; the others are
    /// still reconciled. Run it inside a transaction.
    pub fn reconcile_all(&self, conn: &Connection) -> Result<DomainReconciliation<D>> {
        self.reconcile_each(conn, |entity_id| self.reconcile(conn, entity_id))
    }

    /// Runs `one` for every entity with local state: a database error stops the run, any
    /// other error is the entity's own and is reported in `failed`.
    pub(crate) fn reconcile_each(
        &self,
        conn: &Connection,
        mut one: impl FnMut(Uuid) -> Result<Reconciled<D>>,
    ) -> Result<DomainReconciliation<D>> {
        let mut entities = Vec::new();
        let mut failed = Vec::new();
        for entity_id in self.sql.entities_with_local_state(conn)? {
            match one(entity_id) {
                Ok(r) => entities.push(r),
                Err(ClientError::Sqlite(e)) => return Err(ClientError::Sqlite(e)),
                Err(e) => failed.push((entity_id, e)),
            }
        }
        Ok(DomainReconciliation { entities, failed })
    }
}

fn same_context<D: Domain>(a: &D, b: &D) -> bool {
    match (serde_json::to_string(a), serde_json::to_string(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl<D: Domain> std::fmt::Debug for ReconciliationEngine<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconciliationEngine")
            .field("domain", &D::NAME)
            .finish()
    }
}
