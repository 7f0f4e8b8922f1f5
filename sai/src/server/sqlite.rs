//! The embedded store: the domain's server tables in a SQLite file, through rusqlite.
//!
//! SQLite has one writer at a time, so every decision transaction starts with
//! `BEGIN IMMEDIATE`: it holds the database for the whole batch, which is what claims the
//! batch's entities and clients. Several workers (connections) on one file are safe and take
//! turns. A batch is read with one ordered query; statements cost no round trip, so archive
//! rows are written one prepared statement each, and each client's decided intents are
//! removed with one range delete.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, ToSql, TransactionBehavior, params};
use uuid::Uuid;

use crate::domain::Domain;
use crate::intent::{RawIntent, Timestamp};
use crate::schema::{Dialect, Schema, Side};
use crate::value::SqlValue;

use super::decide::{Decisions, ProjectionWrite};
use super::ingest::{IngestError, IngestReport};
use super::store::{
    ArchivedSnapshot, Claim, DomainNames, INTENT_SELECT, MalformedRow, ServerStore, StoreError,
    StoredProjection, archived_snapshot, delete_unarchived_sql, id_conflict_sql,
    latest_archived_sql, raw_intent_from_cells, stored_projection, to_i64, to_u64,
};

/// The nine intent columns (in [`INTENT_SELECT`] order) of a [`RawIntent`], then `extra`
/// columns, as statement parameters.
macro_rules! intent_params {
    ($i:expr; $($extra:expr),* $(,)?) => {
        params![
            $i.id.to_string(),
            $i.entity_id.to_string(),
            $i.client_id,
            $i.user_id,
            to_i64($i.seq)?,
            $i.event_type,
            $i.event_version,
            $i.payload,
            $i.created_at,
            $($extra),*
        ]
    };
}

/// The server tables of domain `D` in a SQLite database. One value is one connection.
pub struct SqliteStore<D> {
    conn: Connection,
    sql: Statements,
    /// Where the next claim starts (see `claim`).
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

/// Converts rusqlite errors, classifying a busy or locked database as transient.
trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Transient(Box::new(e))
            }
            _ => StoreError::Database(Box::new(e)),
        })
    }
}

struct Statements {
    ddl: String,
    claim_after: String,
    claim_upto: String,
    projection_of: String,
    ack_of: String,
    advance_ack: String,
    delete_pending: String,
    delete_decided: String,
    insert_processed: String,
    insert_rejected: String,
    upsert_projection: String,
    ensure_ack: String,
    insert_pending: String,
    id_conflict: String,
    pending_count: String,
    latest_archived: String,
    delete_unarchived: String,
}

impl Statements {
    fn of<D: Domain>() -> Self {
        let names = DomainNames::of::<D>();
        let id_conflict = format!(
            "SELECT 1 WHERE {}",
            id_conflict_sql(&names, "?1", "?2", "?3")
        );
        let DomainNames {
            queue,
            processed,
            rejected,
            projection,
            acks,
            fields,
            field_list,
            set_fields,
            ..
        } = names;
        let placeholders = |from: usize, n: usize| {
            (from..from + n)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let n_fields = fields.len();
        let intent_q = INTENT_SELECT
            .split(", ")
            .map(|c| format!("q.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let claim = |range: &str| {
            format!(
                "SELECT {intent_q}, a.\"last_seq\" FROM {queue} q \
                 JOIN {acks} a ON a.\"id\" = q.\"client_id\" \
                 WHERE {range} AND (q.\"seq\" <= a.\"last_seq\" OR EXISTS (SELECT 1 FROM {queue} h \
                   WHERE h.\"client_id\" = q.\"client_id\" AND h.\"seq\" = a.\"last_seq\" + 1)) \
                 ORDER BY q.\"client_id\", q.\"seq\" LIMIT ?1"
            )
        };
        Statements {
            ddl: Schema::of::<D>().ddl(Dialect::Sqlite, Side::Server),
            // The batch: pending intents in (client, seq) order through the unique index,
            // each with its client's acknowledgement, of clients whose next intent is queued
            // (a client waiting behind a gap starves no one), plus already-decided leftovers
            // to clear. Streams: reads the batch's rows, never the whole queue. No entity is
            // locked apart: the write lock held from `BEGIN IMMEDIATE` is the claim. Read in
            // two ranges around a cursor (clients after it, then from the start), so clients
            // that cannot progress take turns with the others instead of filling every batch.
            claim_after: claim("q.\"client_id\" > ?2"),
            claim_upto: claim("q.\"client_id\" <= ?2"),
            projection_of: format!(
                "SELECT \"state\", \"version\", \"owner_id\"{field_list} FROM {projection} WHERE \"id\" = ?1"
            ),
            ack_of: format!("SELECT \"user_id\", \"last_seq\" FROM {acks} WHERE \"id\" = ?1"),
            advance_ack: format!(
                "UPDATE {acks} SET \"last_seq\" = ?3, \"updated_at\" = ?4 WHERE \"id\" = ?1 AND \"last_seq\" = ?2"
            ),
            delete_pending: format!("DELETE FROM {queue} WHERE \"id\" = ?1"),
            delete_decided: format!(
                "DELETE FROM {queue} WHERE \"client_id\" = ?1 AND \"seq\" > ?2 AND \"seq\" <= ?3"
            ),
            insert_processed: format!(
                "INSERT INTO {processed} ({INTENT_SELECT}, \"state\", \"version\", \"context\", \"processed_at\") \
                 VALUES ({})",
                placeholders(1, 13)
            ),
            insert_rejected: format!(
                "INSERT INTO {rejected} ({INTENT_SELECT}, \"code\", \"message\", \"reason\", \"state\", \"rejected_at\") \
                 VALUES ({})",
                placeholders(1, 14)
            ),
            upsert_projection: format!(
                "INSERT INTO {projection} (\"id\", \"state\", \"version\", \"owner_id\"{field_list}, \"updated_at\") \
                 VALUES ({}) ON CONFLICT (\"id\") DO UPDATE SET \"state\" = excluded.\"state\", \
                 \"version\" = excluded.\"version\", \"owner_id\" = excluded.\"owner_id\"{set_fields}, \
                 \"updated_at\" = excluded.\"updated_at\"",
                placeholders(1, 5 + n_fields)
            ),
            ensure_ack: format!(
                "INSERT INTO {acks} (\"id\", \"user_id\", \"last_seq\", \"updated_at\") VALUES (?1, ?2, 0, ?3) \
                 ON CONFLICT (\"id\") DO NOTHING"
            ),
            insert_pending: format!(
                "INSERT INTO {queue} ({INTENT_SELECT}, \"received_at\") VALUES ({}) ON CONFLICT DO NOTHING",
                placeholders(1, 10)
            ),
            id_conflict,
            pending_count: format!("SELECT COUNT(*) FROM {queue}"),
            latest_archived: latest_archived_sql(&processed),
            delete_unarchived: delete_unarchived_sql(&projection, &processed),
        }
    }
}

/// The first `n` cells of a row, or what in them is not a value the library writes (a BLOB,
/// text that is not UTF-8).
fn read_cells(
    row: &rusqlite::Row<'_>,
    n: usize,
) -> rusqlite::Result<Result<Vec<SqlValue>, String>> {
    use rusqlite::types::ValueRef;
    let mut cells = Vec::with_capacity(n);
    for i in 0..n {
        cells.push(match row.get_ref(i)? {
            ValueRef::Null => SqlValue::Null,
            ValueRef::Integer(v) => SqlValue::Integer(v),
            ValueRef::Real(v) => SqlValue::Real(v),
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(t) => SqlValue::Text(t.to_owned()),
                Err(e) => return Ok(Err(format!("column {i} is not UTF-8: {e}"))),
            },
            ValueRef::Blob(b) => return Ok(Err(format!("column {i} is a {}-byte BLOB", b.len()))),
        });
    }
    Ok(Ok(cells))
}

impl<D: Domain> SqliteStore<D> {
    /// An entity's projection: `Ok(Err(why))` if the row exists but does not read.
    fn read_projection(
        conn: &Connection,
        sql: &Statements,
        id: &str,
    ) -> Result<Result<Option<StoredProjection>, String>, StoreError> {
        let cells = conn
            .prepare_cached(&sql.projection_of)
            .db()?
            .query_row([id], |row| read_cells(row, 3 + D::COLUMNS.len()))
            .optional()
            .db()?;
        Ok(match cells {
            None => Ok(None),
            Some(Err(why)) => Err(why),
            Some(Ok(cells)) => stored_projection(cells)
                .map(Some)
                .map_err(|e| e.to_string()),
        })
    }

    /// Claims up to `limit` rows from the clients after `cursor`, then from the start; returns
    /// the claim and the cursor for the next one (the last client read if the claim is full,
    /// else empty: every candidate was seen).
    fn claim(
        conn: &Connection,
        sql: &Statements,
        limit: usize,
        cursor: &str,
    ) -> Result<(Claim, String), StoreError> {
        let mut claim = Claim::default();
        let mut read = 0usize;
        let mut last_client = String::new();
        for (statement, wanted) in [
            (&sql.claim_after, true),
            (&sql.claim_upto, !cursor.is_empty()),
        ] {
            if !wanted || read >= limit {
                continue;
            }
            let mut stmt = conn.prepare_cached(statement).db()?;
            let mut rows = stmt
                .query(params![to_i64((limit - read) as u64)?, cursor])
                .db()?;
            while let Some(row) = rows.next().db()? {
                read += 1;
                if let rusqlite::types::ValueRef::Text(client) = row.get_ref(2).db()? {
                    last_client = String::from_utf8_lossy(client).into_owned();
                }
                match intent_of_row(row).db()? {
                    Ok(raw) => {
                        if !claim.acks.contains_key(&raw.client_id) {
                            let last = to_u64(row.get(9).db()?, "last_seq")?;
                            claim.acks.insert(raw.client_id.clone(), last);
                        }
                        claim.intents.push(raw);
                    }
                    Err(bad) => claim.malformed.push(bad),
                }
            }
        }
        let next = if read >= limit {
            last_client
        } else {
            String::new()
        };
        let mut entities: Vec<Uuid> = claim.intents.iter().map(|i| i.entity_id).collect();
        entities.sort_unstable();
        entities.dedup();
        for id in entities {
            match Self::read_projection(conn, sql, &id.to_string())? {
                Ok(Some(p)) => {
                    claim.projections.insert(id, p);
                }
                Ok(None) => {}
                Err(why) => {
                    claim.unreadable.insert(id, why);
                }
            }
        }
        Ok((claim, next))
    }

    fn write(
        conn: &Connection,
        sql: &Statements,
        d: &Decisions,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // Acknowledgements first, guarded by their previous value: if another transaction
        // moved one, this batch is stale and rolls back whole. A client's decided intents
        // are exactly its sequence numbers in (from, to], so one range delete removes them.
        let mut advance = conn.prepare_cached(&sql.advance_ack).db()?;
        let mut delete = conn.prepare_cached(&sql.delete_decided).db()?;
        for a in &d.acks {
            let (from, to) = (to_i64(a.from)?, to_i64(a.to)?);
            let moved = advance.execute(params![a.client_id, from, to, now]).db()?;
            if moved != 1 {
                return Err(StoreError::Conflict(format!(
                    "client `{}` is no longer at sequence {}",
                    a.client_id, a.from
                )));
            }
            let deleted = delete.execute(params![a.client_id, from, to]).db()?;
            if deleted as u64 != a.to - a.from {
                return Err(StoreError::Conflict(format!(
                    "intents {}..={} of client `{}` are no longer pending",
                    a.from + 1,
                    a.to,
                    a.client_id
                )));
            }
        }
        let mut delete_stale = conn.prepare_cached(&sql.delete_pending).db()?;
        for id in &d.stale {
            delete_stale.execute([id.to_string()]).db()?;
        }
        let mut processed = conn.prepare_cached(&sql.insert_processed).db()?;
        for a in &d.accepted {
            let i = &a.intent;
            processed
                .execute(intent_params![i; a.state, to_i64(a.version)?, a.context, now])
                .db()?;
        }
        let mut rejected = conn.prepare_cached(&sql.insert_rejected).db()?;
        for r in &d.rejected {
            let i = &r.intent;
            rejected
                .execute(intent_params![i; r.code, r.message, r.reason, r.state, now])
                .db()?;
        }
        Self::upsert_projections(conn, sql, &d.projections, now)
    }

    fn upsert_projections(
        conn: &Connection,
        sql: &Statements,
        projections: &[ProjectionWrite],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut upsert = conn.prepare_cached(&sql.upsert_projection).db()?;
        for p in projections {
            let (id, version) = (p.id.to_string(), to_i64(p.version)?);
            let head: [&dyn ToSql; 4] = [&id, &p.state, &version, &p.owner_id];
            let fields = p.fields.iter().map(|f| f as &dyn ToSql);
            upsert
                .execute(rusqlite::params_from_iter(
                    head.into_iter().chain(fields).chain([&now as &dyn ToSql]),
                ))
                .db()?;
        }
        Ok(())
    }
}

/// Reads the nine intent columns (in [`INTENT_SELECT`] order) of a row. Well-formed rows are
/// read in place; any other row is read cell by cell to say what is wrong with it.
fn intent_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RawIntent, MalformedRow>> {
    use rusqlite::types::ValueRef::{Integer, Text};
    let text = |v: &[u8]| std::str::from_utf8(v).ok().map(str::to_owned);
    let cells = (
        row.get_ref(0)?,
        row.get_ref(1)?,
        row.get_ref(2)?,
        row.get_ref(3)?,
        row.get_ref(4)?,
        row.get_ref(5)?,
        row.get_ref(6)?,
        row.get_ref(7)?,
        row.get_ref(8)?,
    );
    let read = match cells {
        (
            Text(id),
            Text(entity_id),
            Text(client_id),
            Text(user_id),
            Integer(seq),
            Text(event_type),
            Integer(event_version),
            Text(payload),
            Integer(created_at),
        ) => (|| {
            Some(RawIntent {
                id: Uuid::try_parse_ascii(id).ok()?,
                entity_id: Uuid::try_parse_ascii(entity_id).ok()?,
                client_id: text(client_id)?,
                user_id: text(user_id)?,
                seq: u64::try_from(seq).ok().filter(|s| *s > 0)?,
                event_type: text(event_type)?,
                event_version: u32::try_from(event_version).ok()?,
                payload: text(payload)?,
                created_at,
            })
        })(),
        _ => None,
    };
    match read {
        Some(raw) => Ok(Ok(raw)),
        None => Ok(match read_cells(row, 9)? {
            Ok(cells) => raw_intent_from_cells(cells),
            Err(detail) => Err(MalformedRow {
                id: match row.get_ref(0)? {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                },
                detail,
            }),
        }),
    }
}

impl<D: Domain> ServerStore for SqliteStore<D> {
    type Domain = D;

    async fn migrate(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch(&self.sql.ddl).db()
    }

    async fn insert_pending(
        &mut self,
        user_id: &str,
        intents: &[RawIntent],
        received_at: Timestamp,
    ) -> Result<IngestReport, IngestError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let mut last_seq: HashMap<&str, u64> = HashMap::new();
        {
            let mut ensure = tx.prepare_cached(&self.sql.ensure_ack).db()?;
            let mut read = tx.prepare_cached(&self.sql.ack_of).db()?;
            let clients: BTreeSet<&str> = intents.iter().map(|i| i.client_id.as_str()).collect();
            for client in clients {
                ensure.execute(params![client, user_id, received_at]).db()?;
                let (owner, last): (String, i64) = read
                    .query_row([client], |r| Ok((r.get(0)?, r.get(1)?)))
                    .db()?;
                if owner != user_id {
                    return Err(IngestError::Unauthorized {
                        client_id: client.to_owned(),
                        user_id: user_id.to_owned(),
                    });
                }
                last_seq.insert(client, to_u64(last, "last_seq")?);
            }
        }
        let mut report = IngestReport::default();
        {
            let mut insert = tx.prepare_cached(&self.sql.insert_pending).db()?;
            let mut conflict = tx.prepare_cached(&self.sql.id_conflict).db()?;
            for i in intents {
                // Already decided (and removed from the queue): a re-upload is a no-op.
                if i.seq <= last_seq[i.client_id.as_str()] {
                    report.duplicates += 1;
                    continue;
                }
                let (id, seq) = (i.id.to_string(), to_i64(i.seq)?);
                if conflict.exists(params![id, i.client_id, seq]).db()? {
                    return Err(IngestError::id_conflict(i));
                }
                let n = insert.execute(intent_params![i; received_at]).db()?;
                if n == 1 {
                    report.inserted += 1;
                } else {
                    report.duplicates += 1;
                }
            }
        }
        tx.commit().db()?;
        Ok(report)
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let (claim, next) = Self::claim(&tx, &self.sql, limit, &self.cursor)?;
        self.cursor = next;
        if claim.intents.is_empty() && claim.malformed.is_empty() {
            return Ok(Decisions::default());
        }
        let decisions = decide(claim);
        if !decisions.is_empty() {
            Self::write(&tx, &self.sql, &decisions, decided_at)?;
            tx.commit().db()?;
        }
        Ok(decisions)
    }

    async fn rebuild_projections<F>(
        &mut self,
        rebuilt_at: Timestamp,
        rebuild: F,
    ) -> Result<usize, StoreError>
    where
        F: FnOnce(Vec<ArchivedSnapshot>) -> Result<Vec<ProjectionWrite>, StoreError> + Send,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let archived = tx
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
        let projections = rebuild(archived)?;
        tx.execute(&self.sql.delete_unarchived, []).db()?;
        Self::upsert_projections(&tx, &self.sql, &projections, rebuilt_at)?;
        tx.commit().db()?;
        Ok(projections.len())
    }

    async fn projection(
        &mut self,
        entity_id: Uuid,
    ) -> Result<Option<StoredProjection>, StoreError> {
        Self::read_projection(&self.conn, &self.sql, &entity_id.to_string())?
            .map_err(StoreError::Malformed)
    }

    async fn client_ack(&mut self, client_id: &str) -> Result<Option<(String, u64)>, StoreError> {
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached(&self.sql.ack_of)
            .db()?
            .query_row([client_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .db()?;
        row.map(|(user, last)| Ok((user, to_u64(last, "last_seq")?)))
            .transpose()
    }

    async fn pending_count(&mut self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(&self.sql.pending_count)
            .db()?
            .query_row([], |r| r.get(0))
            .db()?;
        to_u64(n, "count")
    }
}
