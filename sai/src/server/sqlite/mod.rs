//! The embedded store: the domain's server tables in a SQLite file, through rusqlite.
//!
//! SQLite has one writer at a time, so every transaction that writes starts with
//! `BEGIN IMMEDIATE`: it holds the database for the whole batch or upload, which is what
//! claims the batch's entities and clients. Several workers (connections) on one file are
//! safe and take turns. A batch is read with one ordered query; statements cost no round
//! trip, so archive rows are written one prepared statement each, and each client's decided
//! intents are removed with one range delete.
//!
//! - `statements`: the SQL text; `params`: intent rows as statement parameters;
//! - `error`: which SQLite errors are transient;
//! - `admit`: the admission transaction's reads and writes;
//! - `decide`: the decision transaction's claim and writes.

mod admit;
mod decide;
mod error;
mod params;
mod statements;

use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use crate::domain::Domain;
use crate::intent::{RawIntent, Timestamp};

use super::admission::{AdmissionFacts, AdmissionPlan, IngestReport};
use super::changes::{self, ChangeEntry};
use super::decisions::{Decisions, ProjectionWrite};
use super::error::{IngestError, StoreError};
use super::records::{ArchivedSnapshot, Claim, StoredProjection};
use super::sql::{archived_snapshot, attach_decided, attach_membership, to_i64, to_u64};
use super::store::ServerStore;
use crate::sync::{ChangePage, Cursor, row_from_cells};
use crate::value::SqlValue;
use error::Db;
use statements::Statements;

/// The server tables of domain `D` in a SQLite database. One value is one connection.
///
/// SQLite is synchronous: every operation blocks its thread, for as long as the statements
/// run or, when another connection holds the write lock, up to the busy timeout (5 s with
/// [`open`](Self::open)). On a multi-threaded tokio runtime the store runs that work through
/// [`tokio::task::block_in_place`], so the worker's other tasks move to other threads
/// meanwhile; on a current-thread runtime there is no other thread, and the work runs inline.
pub struct SqliteStore<D> {
    conn: Connection,
    sql: Statements,
    /// Where the next claim starts (see `decide::claim`).
    cursor: String,
    domain: PhantomData<fn() -> D>,
}

impl<D> std::fmt::Debug for SqliteStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.conn.path())
            .finish_non_exhaustive()
    }
}

impl<D: Domain> SqliteStore<D> {
    /// Opens (or creates) a database file in WAL mode, waiting up to 5 s for a busy writer.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path).db()?;
        conn.pragma_update(None, "journal_mode", "WAL").db()?;
        conn.busy_timeout(Duration::from_secs(5)).db()?;
        Ok(Self::from_connection(conn))
    }

    /// Uses an open connection as it is configured.
    pub fn from_connection(conn: Connection) -> Self {
        SqliteStore {
            conn,
            sql: Statements::of::<D>(),
            cursor: String::new(),
            domain: PhantomData,
        }
    }

    /// The underlying connection, for reads outside the runtime.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Runs blocking database work: through `block_in_place` on a multi-threaded runtime (the
/// worker hands its other tasks to other threads), inline anywhere else (a current-thread
/// runtime has no other thread to hand them to, and `block_in_place` would panic there).
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

impl<D: Domain> ServerStore for SqliteStore<D> {
    type Domain = D;

    async fn migrate(&mut self) -> Result<(), StoreError> {
        // SQLite's DDL is transactional: the tables are created and migrated in one
        // `BEGIN IMMEDIATE`, so a refused change leaves the file as it was.
        blocking(|| {
            crate::schema::migrate_sqlite(
                &self.conn,
                &self.sql.schema,
                crate::schema::Side::Server,
                &self.sql.backfill_changes,
            )
            .db()??;
            Ok(())
        })
    }

    async fn admit_upload<F>(
        &mut self,
        user_id: &str,
        upload: &[RawIntent],
        received_at: Timestamp,
        admit: F,
    ) -> Result<IngestReport, IngestError>
    where
        F: FnOnce(&AdmissionFacts) -> Result<AdmissionPlan, IngestError> + Send,
    {
        blocking(|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db()?;
            let facts = admit::facts(&tx, &self.sql, upload)?;
            let plan = admit(&facts)?;
            let inserted = admit::write(&tx, &self.sql, user_id, upload, &plan, received_at)?;
            tx.commit().db()?;
            Ok(IngestReport::of_upload(upload.len(), inserted))
        })
    }

    async fn decide_batch<F>(
        &mut self,
        limit: usize,
        decided_at: Timestamp,
        decide: F,
    ) -> Result<Decisions, StoreError>
    where
        F: FnOnce(Claim) -> Decisions + Send,
    {
        blocking(|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db()?;
            let n_fields = self.sql.n_stored;
            let (claim, next) = decide::claim(&tx, &self.sql, n_fields, limit, &self.cursor)?;
            self.cursor = next;
            if claim.intents.is_empty() && claim.malformed.is_empty() {
                return Ok(Decisions::default());
            }
            let decisions = decide(claim);
            if !decisions.is_empty() {
                decide::write(&tx, &self.sql, &decisions, decided_at)?;
                tx.commit().db()?;
            }
            Ok(decisions)
        })
    }

    async fn rebuild_projections<F>(
        &mut self,
        rebuilt_at: Timestamp,
        rebuild: F,
    ) -> Result<usize, StoreError>
    where
        F: FnOnce(Vec<ArchivedSnapshot>) -> Result<Vec<ProjectionWrite>, StoreError> + Send,
    {
        blocking(|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db()?;
            let mut archived = tx
                .prepare_cached(&self.sql.latest_archived)
                .db()?
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .db()?
                .map(|row| {
                    let (id, state, version, context, owner): (String, _, _, _, _) = row.db()?;
                    archived_snapshot(&id, state, version, context, owner)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let decisions = tx
                .prepare_cached(&self.sql.decisions)
                .db()?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .db()?
                .collect::<Result<Vec<_>, _>>()
                .db()?;
            attach_decided(&mut archived, decisions)?;
            let membership = tx
                .prepare_cached(&self.sql.membership_log)
                .db()?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .db()?
                .collect::<Result<Vec<_>, _>>()
                .db()?;
            attach_membership(&mut archived, membership);
            let projections = rebuild(archived)?;
            let removed = tx
                .prepare_cached(&self.sql.delete_unarchived)
                .db()?
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .db()?
                .collect::<Result<Vec<_>, _>>()
                .db()?;
            decide::upsert_projections(&tx, &self.sql, &projections, rebuilt_at)?;
            let mut tombstone = tx.prepare_cached(&self.sql.stamp_removed).db()?;
            for (id, owner) in &removed {
                tombstone.execute([id, owner]).db()?;
            }
            drop(tombstone);
            // A shared row's members each have an entry: every one of them is a removal now.
            if let Some(unstamp) = &self.sql.unstamp_members {
                decide::stamp(&tx, unstamp, removed.iter().map(|(id, _)| id.clone()))?;
            }
            decide::stamp(
                &tx,
                &self.sql.stamp_projection,
                projections.iter().map(|p| p.id.to_string()),
            )?;
            tx.commit().db()?;
            Ok(projections.len())
        })
    }

    async fn projection(
        &mut self,
        entity_id: Uuid,
    ) -> Result<Option<StoredProjection>, StoreError> {
        blocking(|| {
            let id = entity_id.to_string();
            decide::read_projection(&self.conn, &self.sql, self.sql.n_stored, &id)?
                .map_err(StoreError::Malformed)
        })
    }

    async fn client_ack(&mut self, client_id: &str) -> Result<Option<(String, u64)>, StoreError> {
        blocking(|| {
            let row: Option<(String, i64)> = self
                .conn
                .prepare_cached(&self.sql.ack_of)
                .db()?
                .query_row([client_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .db()?;
            row.map(|(user, last)| Ok((user, to_u64(last, "last_seq")?)))
                .transpose()
        })
    }

    async fn changes_for_user(
        &mut self,
        user_id: &str,
        after: Cursor,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        blocking(|| {
            // One read transaction: the entries and the rows they name come from one snapshot.
            let tx =
                rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)
                    .db()?;
            let limit = limit.max(1);
            let entries = tx
                .prepare_cached(&self.sql.changes_after)
                .db()?
                .query_map(
                    rusqlite::params![
                        user_id,
                        to_i64(after.position())?,
                        to_i64(limit as u64 + 1)?
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0)),
                )
                .db()?
                .collect::<Result<Vec<ChangeEntry>, _>>()
                .db()?;
            let page = changes::page(after, limit, entries, |table, id| {
                let Some((def, sql)) = self.sql.row_of.iter().find(|(t, _)| t.name == table) else {
                    return Ok(None);
                };
                let cells = tx
                    .prepare_cached(sql)
                    .db()?
                    .query_row([id, user_id], |r| {
                        (0..def.columns.len())
                            .map(|i| r.get::<_, SqlValue>(i))
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .optional()
                    .db()?;
                Ok(cells.map(|cells| row_from_cells(def, cells)))
            })?;
            tx.finish().db()?;
            Ok(page)
        })
    }

    async fn pending_count(&mut self) -> Result<u64, StoreError> {
        blocking(|| {
            let n: i64 = self
                .conn
                .prepare_cached(&self.sql.pending_count)
                .db()?
                .query_row([], |r| r.get(0))
                .db()?;
            to_u64(n, "count")
        })
    }
}
