//! The PostgreSQL store, through tokio-postgres.
//!
//! Why tokio-postgres: it is the asynchronous driver the rest of the Rust PostgreSQL stack
//! builds on, it pipelines statements sent concurrently on one connection (the reads of a
//! batch, then its writes, travel together: a round trip costs more than a statement here),
//! and it binds arrays natively, so every write of a batch is one set-based statement over
//! `unnest($1::text[], …)` whatever the batch size.
//!
//! Claiming: each batch transaction try-locks its entities with transaction-level advisory
//! locks (`pg_try_advisory_xact_lock` on a hash of domain and entity id), skipping entities
//! another worker holds, and only then reads their pending intents. A lock is released by the
//! commit that made its writes visible, so a worker never sees an entity's queue from before
//! another worker's decisions, and two workers never decide one entity at once. Row locks on
//! intent rows alone (`FOR UPDATE SKIP LOCKED`) would let two workers hold intents of the
//! same entity and overwrite each other's projection. Per-client order across entities is
//! kept by deciding an intent only when its client's acknowledgement is exactly one below
//! it, and the acknowledgement update is guarded by its previous value: a batch that would
//! advance a client twice rolls back whole and is retried.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Socket, Statement};
use uuid::Uuid;

use crate::domain::Domain;
use crate::intent::{RawIntent, Timestamp};
use crate::schema::{Dialect, Schema, Side};
use crate::value::{ColumnType, SqlValue};

use super::decide::{Decisions, ProjectionWrite};
use super::ingest::{IngestError, IngestReport};
use super::store::{
    ArchivedSnapshot, Claim, DomainNames, INTENT_SELECT, MalformedRow, ServerStore, StoreError,
    StoredProjection, archived_snapshot, delete_unarchived_sql, id_conflict_sql,
    latest_archived_sql, quote, raw_intent_from_cells, stored_projection, to_i64, to_u64,
};

/// The server tables of domain `D` in PostgreSQL. One value is one connection, reopened
/// after it drops; give each worker its own.
pub struct PostgresStore<D> {
    url: String,
    connector: Connector,
    search_path: Option<String>,
    conn: Option<Connection>,
    sql: Sql,
    /// Where the next claim starts (see `decide_in`).
    cursor: String,
    domain: PhantomData<fn() -> D>,
}

impl<D> std::fmt::Debug for PostgresStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("search_path", &self.search_path)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

struct Connection {
    client: Client,
    prepared: Option<Prepared>,
}

/// Opens a connection to a URL (and spawns its driver task): the same TLS setup for the first
/// connection and every reconnection.
type Connector = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<Client, tokio_postgres::Error>> + Send>>
        + Send
        + Sync,
>;

fn connector<T>(tls: T) -> Connector
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    Arc::new(move |url: String| {
        let tls = tls.clone();
        Box::pin(async move {
            let (client, connection) = tokio_postgres::connect(&url, tls).await?;
            tokio::spawn(async move {
                // The connection ends when the client is dropped or the server goes away;
                // the next call sees `is_closed` and reconnects.
                let _ = connection.await;
            });
            Ok(client)
        })
    })
}

/// How a [`PostgresStore`] connects: the URL, optionally a schema and a TLS connector.
///
/// ```no_run
/// # async fn f<Task: sai::Domain>(tls: tokio_postgres::NoTls) -> Result<(), sai::server::StoreError> {
/// use sai::server::PostgresStore;
///
/// // `tls`: any tokio-postgres TLS connector, e.g. postgres-native-tls's `MakeTlsConnector`.
/// let store = PostgresStore::<Task>::options("postgres://app@db.example.com/app?sslmode=require")
///     .schema("tasks")
///     .tls(tls)
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
pub struct PostgresOptions<D> {
    url: String,
    schema: Option<String>,
    connector: Connector,
    domain: PhantomData<fn() -> D>,
}

impl<D> std::fmt::Debug for PostgresOptions<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl<D: Domain> PostgresOptions<D> {
    /// Keeps the domain's tables in `schema` (`SET search_path`), also after a reconnection.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Connects through TLS with `tls` (any tokio-postgres `MakeTlsConnect`), for the first
    /// connection and every reconnection. Whether TLS is required follows the URL's
    /// `sslmode`. Without this, connections are plain TCP.
    pub fn tls<T>(mut self, tls: T) -> Self
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        self.connector = connector(tls);
        self
    }

    /// Opens the connection.
    pub async fn connect(self) -> Result<PostgresStore<D>, StoreError> {
        let mut store = PostgresStore {
            url: self.url,
            connector: self.connector,
            search_path: self.schema,
            conn: None,
            sql: Sql::of::<D>(),
            cursor: String::new(),
            domain: PhantomData,
        };
        store.client().await?;
        Ok(store)
    }
}

/// Classifies a driver error: a failed connection, a serialization failure, a deadlock or a
/// lock or shutdown condition may pass on retry; anything else will not.
fn classify(e: tokio_postgres::Error) -> StoreError {
    let transient = match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") // connection exception
                || c.starts_with("40") // transaction rollback: serialization failure, deadlock
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
        }
        // No SQLSTATE: the connection failed or closed underneath the statement.
        None => {
            e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        }
    };
    if transient {
        StoreError::Transient(Box::new(e))
    } else {
        StoreError::Database(Box::new(e))
    }
}

trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(classify)
    }
}

/// The statement texts of one domain.
struct Sql {
    ddl: String,
    lock_key: String,
    field_types: Vec<ColumnType>,
    candidates_after: String,
    candidates_upto: String,
    pending: String,
    projections: String,
    acks_of_entities: String,
    advance_acks: String,
    delete_pending: String,
    delete_decided: String,
    insert_processed: String,
    insert_rejected: String,
    upsert_projection: String,
    latest_archived: String,
    delete_unarchived: String,
    lock_projection: String,
    ensure_acks: String,
    lock_acks: String,
    insert_pending: String,
    id_conflicts: String,
    projection_of: String,
    ack_of: String,
    pending_count: String,
}

/// The statements, prepared once per connection.
struct Prepared {
    candidates_after: Statement,
    candidates_upto: Statement,
    pending: Statement,
    projections: Statement,
    acks_of_entities: Statement,
    advance_acks: Statement,
    delete_pending: Statement,
    delete_decided: Statement,
    insert_processed: Statement,
    insert_rejected: Statement,
    upsert_projection: Statement,
    latest_archived: Statement,
    delete_unarchived: Statement,
    ensure_acks: Statement,
    lock_acks: Statement,
    insert_pending: Statement,
    id_conflicts: Statement,
    projection_of: Statement,
    ack_of: Statement,
    pending_count: Statement,
}

fn array_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "text[]",
        ColumnType::Integer => "int8[]",
        ColumnType::Real => "float8[]",
    }
}

impl Sql {
    fn of<D: Domain>() -> Self {
        let names = DomainNames::of::<D>();
        let id_conflicts = format!(
            "SELECT u.id FROM unnest($1::text[], $2::text[], $3::int8[]) AS u(id, client_id, seq) \
             JOIN {} a ON a.\"id\" = u.client_id WHERE u.seq > a.\"last_seq\" AND ({}) LIMIT 1",
            names.acks,
            id_conflict_sql(&names, "u.id", "u.client_id", "u.seq")
        );
        let DomainNames {
            queue,
            processed,
            rejected,
            projection,
            acks,
            field_columns: field_cols,
            fields,
            field_list,
            set_fields,
            ..
        } = names;
        let field_arrays: String = field_cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!(", ${}::{}", i + 5, array_type(c.ty)))
            .collect();
        let intent_arrays = "$1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
                             $6::text[], $7::int8[], $8::text[], $9::int8[]";
        let candidates = |range: &str| {
            format!(
                "SELECT s.entity_id, s.client_id FROM ( \
                   SELECT q.\"entity_id\" AS entity_id, q.\"client_id\" AS client_id FROM {queue} q \
                   CROSS JOIN LATERAL (SELECT \"last_seq\" FROM {acks} \
                     WHERE \"id\" = q.\"client_id\" OFFSET 0) a \
                   WHERE {range} AND (q.\"seq\" <= a.\"last_seq\" OR EXISTS (SELECT 1 FROM {queue} h \
                     WHERE h.\"client_id\" = q.\"client_id\" AND h.\"seq\" = a.\"last_seq\" + 1 OFFSET 0)) \
                   ORDER BY q.\"client_id\", q.\"seq\" LIMIT $3 \
                 ) s WHERE pg_try_advisory_xact_lock(hashtextextended($2::text || s.entity_id, 0)) \
                 LIMIT $1"
            )
        };
        Sql {
            ddl: Schema::of::<D>().ddl(Dialect::Postgres, Side::Server),
            lock_key: format!("{}:", D::NAME),
            field_types: field_cols.iter().map(|c| c.ty).collect(),
            // Pending intents of clients whose next intent is queued, in (client, seq) order
            // through the unique index: each client's rows come as a chain starting at its
            // head, so every batch can decide, and a client waiting behind a gap is skipped,
            // so it starves no one. Already-decided leftovers come too, to be cleared.
            // Streamed, two index probes a row, at most `$3` rows; rows of entities another
            // worker holds fail the try-lock and are skipped, and locking stops after `$1`
            // rows. `OFFSET 0` keeps the planner from turning the probes into joins over the
            // whole queue. Two ranges around a cursor (clients after it, then from the start),
            // so clients that cannot progress take turns with the others.
            candidates_after: candidates("q.\"client_id\" > $4"),
            candidates_upto: candidates("q.\"client_id\" <= $4"),
            pending: format!(
                // Entity by entity through the entity index: one ORDER BY … LIMIT over all of
                // them would walk the (client, seq) index across the whole queue instead.
                "SELECT p.* FROM unnest($1::text[]) AS e(id) CROSS JOIN LATERAL ( \
                   SELECT {INTENT_SELECT} FROM {queue} WHERE \"entity_id\" = e.id \
                   ORDER BY \"client_id\", \"seq\" LIMIT $2) p"
            ),
            projections: format!(
                "SELECT \"id\", \"state\", \"version\", \"owner_id\"{field_list} FROM {projection} \
                 WHERE \"id\" = ANY($1::text[])"
            ),
            acks_of_entities: format!(
                "SELECT \"id\", \"last_seq\" FROM {acks} WHERE \"id\" IN \
                 (SELECT \"client_id\" FROM {queue} WHERE \"entity_id\" = ANY($1::text[]))"
            ),
            advance_acks: format!(
                "UPDATE {acks} AS a SET \"last_seq\" = d.to_seq, \"updated_at\" = $4 \
                 FROM unnest($1::text[], $2::int8[], $3::int8[]) AS d(id, from_seq, to_seq) \
                 WHERE a.\"id\" = d.id AND a.\"last_seq\" = d.from_seq"
            ),
            delete_pending: format!("DELETE FROM {queue} WHERE \"id\" = ANY($1::text[])"),
            // A client's decided intents are exactly its sequence numbers in (from, to].
            delete_decided: format!(
                "DELETE FROM {queue} q \
                 USING unnest($1::text[], $2::int8[], $3::int8[]) AS d(client_id, from_seq, to_seq) \
                 WHERE q.\"client_id\" = d.client_id AND q.\"seq\" > d.from_seq AND q.\"seq\" <= d.to_seq"
            ),
            insert_processed: format!(
                "INSERT INTO {processed} ({INTENT_SELECT}, \"state\", \"version\", \"context\", \"processed_at\") \
                 SELECT u.*, $13 FROM unnest({intent_arrays}, $10::text[], $11::int8[], $12::text[]) AS u"
            ),
            insert_rejected: format!(
                "INSERT INTO {rejected} ({INTENT_SELECT}, \"code\", \"message\", \"reason\", \"state\", \"rejected_at\") \
                 SELECT u.*, $14 FROM unnest({intent_arrays}, $10::text[], $11::text[], $12::text[], $13::text[]) AS u"
            ),
            upsert_projection: format!(
                "INSERT INTO {projection} (\"id\", \"state\", \"version\", \"owner_id\"{field_list}, \"updated_at\") \
                 SELECT u.*, ${} FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[]{field_arrays}) AS u \
                 ON CONFLICT (\"id\") DO UPDATE SET \"state\" = EXCLUDED.\"state\", \
                 \"version\" = EXCLUDED.\"version\", \"owner_id\" = EXCLUDED.\"owner_id\"{set_fields}, \
                 \"updated_at\" = EXCLUDED.\"updated_at\"",
                5 + fields.len()
            ),
            latest_archived: latest_archived_sql(&processed),
            delete_unarchived: delete_unarchived_sql(&projection, &processed),
            lock_projection: format!("LOCK TABLE {projection} IN SHARE ROW EXCLUSIVE MODE"),
            ensure_acks: format!(
                "INSERT INTO {acks} (\"id\", \"user_id\", \"last_seq\", \"updated_at\") \
                 SELECT c, $2, 0, $3 FROM unnest($1::text[]) AS c ON CONFLICT (\"id\") DO NOTHING"
            ),
            // FOR SHARE waits for a decision in flight on the client, so the `last_seq` read
            // here is final for this upload: a decided intent is never queued again.
            lock_acks: format!(
                "SELECT \"id\", \"user_id\", \"last_seq\" FROM {acks} WHERE \"id\" = ANY($1::text[]) \
                 ORDER BY \"id\" FOR SHARE"
            ),
            insert_pending: format!(
                "INSERT INTO {queue} ({INTENT_SELECT}, \"received_at\") \
                 SELECT u.id, u.entity_id, u.client_id, u.user_id, u.seq, u.event_type, \
                        u.event_version, u.payload, u.created_at, $10 \
                 FROM unnest({intent_arrays}) AS u(id, entity_id, client_id, user_id, seq, \
                      event_type, event_version, payload, created_at) \
                 JOIN {acks} a ON a.\"id\" = u.client_id \
                 WHERE u.seq > a.\"last_seq\" ON CONFLICT DO NOTHING"
            ),
            id_conflicts,
            projection_of: format!(
                "SELECT \"state\", \"version\", \"owner_id\"{field_list} FROM {projection} WHERE \"id\" = $1"
            ),
            ack_of: format!("SELECT \"user_id\", \"last_seq\" FROM {acks} WHERE \"id\" = $1"),
            pending_count: format!("SELECT COUNT(*) FROM {queue}"),
        }
    }

    async fn prepare(&self, c: &Client) -> Result<Prepared, StoreError> {
        Ok(Prepared {
            candidates_after: c.prepare(&self.candidates_after).await.db()?,
            candidates_upto: c.prepare(&self.candidates_upto).await.db()?,
            pending: c.prepare(&self.pending).await.db()?,
            projections: c.prepare(&self.projections).await.db()?,
            acks_of_entities: c.prepare(&self.acks_of_entities).await.db()?,
            advance_acks: c.prepare(&self.advance_acks).await.db()?,
            delete_pending: c.prepare(&self.delete_pending).await.db()?,
            delete_decided: c.prepare(&self.delete_decided).await.db()?,
            insert_processed: c.prepare(&self.insert_processed).await.db()?,
            insert_rejected: c.prepare(&self.insert_rejected).await.db()?,
            upsert_projection: c.prepare(&self.upsert_projection).await.db()?,
            latest_archived: c.prepare(&self.latest_archived).await.db()?,
            delete_unarchived: c.prepare(&self.delete_unarchived).await.db()?,
            ensure_acks: c.prepare(&self.ensure_acks).await.db()?,
            lock_acks: c.prepare(&self.lock_acks).await.db()?,
            insert_pending: c.prepare(&self.insert_pending).await.db()?,
            id_conflicts: c.prepare(&self.id_conflicts).await.db()?,
            projection_of: c.prepare(&self.projection_of).await.db()?,
            ack_of: c.prepare(&self.ack_of).await.db()?,
            pending_count: c.prepare(&self.pending_count).await.db()?,
        })
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// The parameters of `upsert_projection`: one array per column.
fn projection_params(
    sql: &Sql,
    projections: &[ProjectionWrite],
    now: Timestamp,
) -> Result<Vec<Param>, StoreError> {
    let field_rows: Vec<&[SqlValue]> = projections.iter().map(|p| p.fields.as_slice()).collect();
    for (p, row) in projections.iter().zip(&field_rows) {
        if row.len() != sql.field_types.len() {
            return Err(StoreError::Malformed(format!(
                "projection of {} has {} field cells, the table has {} columns",
                p.id,
                row.len(),
                sql.field_types.len()
            )));
        }
    }
    let mut projection: Vec<Param> = vec![
        Box::new(
            projections
                .iter()
                .map(|p| p.id.to_string())
                .collect::<Vec<_>>(),
        ),
        Box::new(projections.iter().map(|p| p.state).collect::<Vec<_>>()),
        Box::new(
            projections
                .iter()
                .map(|p| to_i64(p.version))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Box::new(
            projections
                .iter()
                .map(|p| p.owner_id.clone())
                .collect::<Vec<_>>(),
        ),
    ];
    for (i, ty) in sql.field_types.iter().enumerate() {
        projection.push(field_array(*ty, i, &field_rows)?);
    }
    projection.push(Box::new(now));
    Ok(projection)
}

/// The nine intent columns as arrays, in `INTENT_SELECT` order.
fn intent_arrays<'a>(
    intents: impl Iterator<Item = &'a RawIntent> + Clone,
) -> Result<Vec<Param>, StoreError> {
    let col = |f: fn(&RawIntent) -> String| -> Param {
        Box::new(intents.clone().map(f).collect::<Vec<String>>())
    };
    let seqs = intents
        .clone()
        .map(|i| to_i64(i.seq))
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(vec![
        col(|i| i.id.to_string()),
        col(|i| i.entity_id.to_string()),
        col(|i| i.client_id.clone()),
        col(|i| i.user_id.clone()),
        Box::new(seqs),
        col(|i| i.event_type.clone()),
        Box::new(
            intents
                .clone()
                .map(|i| i64::from(i.event_version))
                .collect::<Vec<i64>>(),
        ),
        col(|i| i.payload.clone()),
        Box::new(intents.map(|i| i.created_at).collect::<Vec<i64>>()),
    ])
}

/// One field column of a batch of projections as a typed array.
fn field_array(ty: ColumnType, index: usize, rows: &[&[SqlValue]]) -> Result<Param, StoreError> {
    let wrong = |v: &SqlValue| {
        StoreError::Malformed(format!("field cell {v:?} does not fit a {ty} column"))
    };
    Ok(match ty {
        ColumnType::Text => Box::new(
            rows.iter()
                .map(|r| match &r[index] {
                    SqlValue::Null => Ok(None),
                    SqlValue::Text(s) => Ok(Some(s.clone())),
                    v => Err(wrong(v)),
                })
                .collect::<Result<Vec<Option<String>>, _>>()?,
        ),
        ColumnType::Integer => Box::new(
            rows.iter()
                .map(|r| match &r[index] {
                    SqlValue::Null => Ok(None),
                    SqlValue::Integer(v) => Ok(Some(*v)),
                    v => Err(wrong(v)),
                })
                .collect::<Result<Vec<Option<i64>>, _>>()?,
        ),
        ColumnType::Real => Box::new(
            rows.iter()
                .map(|r| match &r[index] {
                    SqlValue::Null => Ok(None),
                    SqlValue::Real(v) => Ok(Some(*v)),
                    SqlValue::Integer(v) => Ok(Some(*v as f64)),
                    v => Err(wrong(v)),
                })
                .collect::<Result<Vec<Option<f64>>, _>>()?,
        ),
    })
}

fn cells(row: &Row, from: usize) -> Result<Vec<SqlValue>, StoreError> {
    (from..row.len())
        .map(|i| row.try_get::<_, SqlValue>(i).db())
        .collect()
}

/// Reads the nine intent columns (in [`INTENT_SELECT`] order) of a row. Well-formed rows are
/// read in place; any other row is read cell by cell to say what is wrong with it.
fn intent_of_row(row: &Row) -> Result<Result<RawIntent, MalformedRow>, StoreError> {
    let text = |i: usize| row.try_get::<_, &str>(i).ok();
    let int = |i: usize| row.try_get::<_, i64>(i).ok();
    let read = || {
        Some(RawIntent {
            id: Uuid::parse_str(text(0)?).ok()?,
            entity_id: Uuid::parse_str(text(1)?).ok()?,
            client_id: text(2)?.to_owned(),
            user_id: text(3)?.to_owned(),
            seq: u64::try_from(int(4)?).ok().filter(|s| *s > 0)?,
            event_type: text(5)?.to_owned(),
            event_version: u32::try_from(int(6)?).ok()?,
            payload: text(7)?.to_owned(),
            created_at: int(8)?,
        })
    };
    match read() {
        Some(raw) => Ok(Ok(raw)),
        None => Ok(raw_intent_from_cells(cells(row, 0)?)),
    }
}

impl<D: Domain> PostgresStore<D> {
    /// Connects to `url` (a `postgres://` URL or key-value string), without TLS.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::options(url).connect().await
    }

    /// Connects without TLS and keeps the domain's tables in `schema`.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        Self::options(url).schema(schema).connect().await
    }

    /// Connection options for `url`: add a schema or a TLS connector, then
    /// [`connect`](PostgresOptions::connect).
    pub fn options(url: impl Into<String>) -> PostgresOptions<D> {
        PostgresOptions {
            url: url.into(),
            schema: None,
            connector: connector(NoTls),
            domain: PhantomData,
        }
    }

    /// The server process id of the current connection (to find it in `pg_stat_activity`).
    pub async fn backend_pid(&mut self) -> Result<i32, StoreError> {
        let client = self.client().await?;
        let row = client
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .db()?;
        row.try_get(0).db()
    }

    /// The open connection, reconnecting if it was lost.
    async fn client(&mut self) -> Result<&mut Connection, StoreError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let client = (self.connector)(self.url.clone()).await.db()?;
            // The batch statements are cheap but estimated dear (their row counts are
            // unknowable); JIT compiling them would cost more than running them.
            let mut setup = String::from("SET jit = off;");
            if let Some(schema) = &self.search_path {
                setup.push_str(&format!(" SET search_path TO {};", quote(schema)));
            }
            client.batch_execute(&setup).await.db()?;
            self.conn = Some(Connection {
                client,
                prepared: None,
            });
        }
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Malformed("no connection".into()))
    }

    /// The connection with its statements prepared (after the tables exist).
    async fn ready(&mut self) -> Result<(&mut Client, &Prepared, &Sql), StoreError> {
        self.client().await?;
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| StoreError::Malformed("no connection".into()))?;
        if conn.prepared.is_none() {
            conn.prepared = Some(self.sql.prepare(&conn.client).await?);
        }
        let Connection { client, prepared } = conn;
        let prepared = prepared
            .as_ref()
            .ok_or_else(|| StoreError::Malformed("statements not prepared".into()))?;
        Ok((client, prepared, &self.sql))
    }

    /// Forgets a connection that an error closed, so the next call reconnects.
    fn after<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() && self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        result
    }

    async fn decide_in<F>(
        client: &mut Client,
        st: &Prepared,
        sql: &Sql,
        cursor: &mut String,
        limit: usize,
        now: Timestamp,
        decide: F,
    ) -> Result<Decisions, StoreError>
    where
        F: FnOnce(Claim) -> Decisions + Send,
    {
        let tx = client.transaction().await.db()?;
        let limit_i = to_i64(limit as u64)?;
        let window = limit_i.saturating_mul(8).max(64);
        let mut rows: Vec<(String, String)> = Vec::new();
        for (statement, wanted) in [
            (&st.candidates_after, true),
            (&st.candidates_upto, !cursor.is_empty()),
        ] {
            let room = limit_i - rows.len() as i64;
            if !wanted || room <= 0 {
                continue;
            }
            for r in tx
                .query(statement, &[&room, &sql.lock_key, &window, &*cursor])
                .await
                .db()?
            {
                rows.push((r.try_get(0).db()?, r.try_get(1).db()?));
            }
        }
        // The next claim starts after the last client read, or from the start if this one
        // saw every candidate.
        *cursor = match rows.last() {
            Some((_, client)) if rows.len() >= limit => client.clone(),
            _ => String::new(),
        };
        let rows: Vec<String> = rows.into_iter().map(|(entity, _)| entity).collect();
        let mut seen = std::collections::HashSet::new();
        let locked: Vec<String> = rows
            .into_iter()
            .filter(|e| seen.insert(e.clone()))
            .collect();
        if locked.is_empty() {
            tx.rollback().await.db()?;
            return Ok(Decisions::default());
        }
        // Read after the locks are held: each statement sees every decision committed by
        // the previous holders. Pipelined: one round trip for the three reads.
        let max_rows = limit_i.saturating_mul(2).max(64);
        let (pending_params, by_entity): ([&(dyn ToSql + Sync); 2], [&(dyn ToSql + Sync); 1]) =
            ([&locked, &max_rows], [&locked]);
        let (pending, projections, acks) = tokio::join!(
            tx.query(&st.pending, &pending_params),
            tx.query(&st.projections, &by_entity),
            tx.query(&st.acks_of_entities, &by_entity),
        );
        let (pending, projections, acks) = (pending.db()?, projections.db()?, acks.db()?);
        let mut claim = Claim::default();
        for row in &pending {
            match intent_of_row(row)? {
                Ok(raw) => claim.intents.push(raw),
                Err(bad) => claim.malformed.push(bad),
            }
        }
        for row in &projections {
            let id: String = row.try_get(0).db()?;
            if let Ok(id) = Uuid::parse_str(&id) {
                // A row that does not read stops its entity, not the batch.
                match cells(row, 1).and_then(stored_projection) {
                    Ok(p) => {
                        claim.projections.insert(id, p);
                    }
                    Err(e) => {
                        claim.unreadable.insert(id, e.to_string());
                    }
                }
            }
        }
        let mut ack_map = HashMap::new();
        for row in &acks {
            let (client, last): (String, i64) = (row.try_get(0).db()?, row.try_get(1).db()?);
            ack_map.insert(client, to_u64(last, "last_seq")?);
        }
        claim.acks = ack_map;

        let d = decide(claim);
        if d.is_empty() {
            tx.rollback().await.db()?;
            return Ok(d);
        }

        // Acknowledgements first (see the module docs), then the rest; one round trip.
        let ack_params: Vec<Param> = vec![
            Box::new(
                d.acks
                    .iter()
                    .map(|a| a.client_id.clone())
                    .collect::<Vec<_>>(),
            ),
            Box::new(
                d.acks
                    .iter()
                    .map(|a| to_i64(a.from))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Box::new(
                d.acks
                    .iter()
                    .map(|a| to_i64(a.to))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Box::new(now),
        ];
        // Stale rows are removed by id; decided ones by their client's range (see
        // `delete_decided`), which must match the decisions exactly.
        let stale_ids: Vec<String> = d.stale.iter().map(Uuid::to_string).collect();
        let decided_count: u64 = d.acks.iter().map(|a| a.to - a.from).sum();
        let mut processed = intent_arrays(d.accepted.iter().map(|a| &a.intent))?;
        processed.push(Box::new(
            d.accepted.iter().map(|a| a.state).collect::<Vec<_>>(),
        ));
        processed.push(Box::new(
            d.accepted
                .iter()
                .map(|a| to_i64(a.version))
                .collect::<Result<Vec<_>, _>>()?,
        ));
        processed.push(Box::new(
            d.accepted
                .iter()
                .map(|a| a.context.clone())
                .collect::<Vec<_>>(),
        ));
        processed.push(Box::new(now));
        let mut rejected = intent_arrays(d.rejected.iter().map(|r| &r.intent))?;
        rejected.push(Box::new(
            d.rejected
                .iter()
                .map(|r| r.code.to_owned())
                .collect::<Vec<_>>(),
        ));
        rejected.push(Box::new(
            d.rejected
                .iter()
                .map(|r| r.message.clone())
                .collect::<Vec<_>>(),
        ));
        rejected.push(Box::new(
            d.rejected
                .iter()
                .map(|r| r.reason.clone())
                .collect::<Vec<_>>(),
        ));
        rejected.push(Box::new(
            d.rejected.iter().map(|r| r.state).collect::<Vec<_>>(),
        ));
        rejected.push(Box::new(now));
        let projection = projection_params(sql, &d.projections, now)?;

        let stale_params: [&(dyn ToSql + Sync); 1] = [&stale_ids];
        let (ack_refs, processed_refs, rejected_refs, projection_refs) = (
            refs(&ack_params),
            refs(&processed),
            refs(&rejected),
            refs(&projection),
        );
        let (acked, deleted, cleared, archived, recorded, projected) = tokio::join!(
            tx.execute(&st.advance_acks, &ack_refs),
            tx.execute(&st.delete_decided, &ack_refs[..3]),
            async {
                if stale_ids.is_empty() {
                    return Ok(0);
                }
                tx.execute(&st.delete_pending, &stale_params).await
            },
            tx.execute(&st.insert_processed, &processed_refs),
            tx.execute(&st.insert_rejected, &rejected_refs),
            tx.execute(&st.upsert_projection, &projection_refs),
        );
        // The first failure in statement order is the cause; later ones only report the
        // aborted transaction.
        let (acked, deleted, cleared) = (acked.db()?, deleted.db()?, cleared.db()?);
        archived.db()?;
        recorded.db()?;
        projected.db()?;
        if acked != d.acks.len() as u64 {
            return Err(StoreError::Conflict(
                "a client's acknowledgement moved during the batch".into(),
            ));
        }
        if deleted != decided_count || cleared != stale_ids.len() as u64 {
            return Err(StoreError::Conflict(
                "an intent of the batch is no longer pending".into(),
            ));
        }
        tx.commit().await.db()?;
        Ok(d)
    }

    async fn rebuild_in<F>(
        client: &mut Client,
        st: &Prepared,
        sql: &Sql,
        now: Timestamp,
        rebuild: F,
    ) -> Result<usize, StoreError>
    where
        F: FnOnce(Vec<ArchivedSnapshot>) -> Result<Vec<ProjectionWrite>, StoreError> + Send,
    {
        let tx = client.transaction().await.db()?;
        // Deciders write projections, so they wait here until the rebuild commits; the
        // archive is read after the lock, so it holds every decision committed before.
        tx.batch_execute(&sql.lock_projection).await.db()?;
        let mut archived = Vec::new();
        for row in tx.query(&st.latest_archived, &[]).await.db()? {
            let id: &str = row.try_get(0).db()?;
            archived.push(archived_snapshot(
                id,
                row.try_get(1).db()?,
                row.try_get(2).db()?,
                row.try_get(3).db()?,
                row.try_get(4).db()?,
            )?);
        }
        let projections = rebuild(archived)?;
        tx.execute(&st.delete_unarchived, &[]).await.db()?;
        if !projections.is_empty() {
            let params = projection_params(sql, &projections, now)?;
            tx.execute(&st.upsert_projection, &refs(&params))
                .await
                .db()?;
        }
        tx.commit().await.db()?;
        Ok(projections.len())
    }

    async fn insert_in(
        client: &mut Client,
        st: &Prepared,
        user_id: &str,
        intents: &[RawIntent],
        received_at: Timestamp,
    ) -> Result<IngestReport, IngestError> {
        let tx = client.transaction().await.db()?;
        let mut clients: Vec<String> = intents.iter().map(|i| i.client_id.clone()).collect();
        clients.sort();
        clients.dedup();
        tx.execute(&st.ensure_acks, &[&clients, &user_id, &received_at])
            .await
            .db()?;
        for row in tx.query(&st.lock_acks, &[&clients]).await.db()? {
            let (client_id, owner): (String, String) = (row.try_get(0).db()?, row.try_get(1).db()?);
            if owner != user_id {
                return Err(IngestError::Unauthorized {
                    client_id,
                    user_id: user_id.to_owned(),
                });
            }
        }
        let mut params = intent_arrays(intents.iter())?;
        // The id, client and seq arrays (see `intent_arrays`).
        let keys = [&params[0], &params[2], &params[4]].map(|p| p.as_ref() as &(dyn ToSql + Sync));
        if let Some(row) = tx.query_opt(&st.id_conflicts, &keys).await.db()? {
            let id: &str = row.try_get(0).db()?;
            if let Some(i) = intents.iter().find(|i| i.id.to_string() == id) {
                return Err(IngestError::id_conflict(i));
            }
        }
        params.push(Box::new(received_at));
        let inserted = tx.execute(&st.insert_pending, &refs(&params)).await.db()?;
        tx.commit().await.db()?;
        let inserted = usize::try_from(inserted).unwrap_or(usize::MAX);
        Ok(IngestReport {
            inserted,
            duplicates: intents.len().saturating_sub(inserted),
        })
    }
}

impl<D: Domain> ServerStore for PostgresStore<D> {
    type Domain = D;

    async fn migrate(&mut self) -> Result<(), StoreError> {
        // Serialized across processes: concurrent CREATE TABLE IF NOT EXISTS can still race
        // on the catalog.
        let ddl = format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('sai:migrate', 0)); {} COMMIT;",
            self.sql.ddl
        );
        let result = match self.client().await {
            Ok(conn) => {
                let r = conn.client.batch_execute(&ddl).await.db();
                if r.is_err() {
                    let _ = conn.client.batch_execute("ROLLBACK").await;
                }
                conn.prepared = None;
                r
            }
            Err(e) => Err(e),
        };
        self.after(result)
    }

    async fn insert_pending(
        &mut self,
        user_id: &str,
        intents: &[RawIntent],
        received_at: Timestamp,
    ) -> Result<IngestReport, IngestError> {
        let result = match self.ready().await {
            Ok((client, st, _)) => Self::insert_in(client, st, user_id, intents, received_at).await,
            Err(e) => Err(e.into()),
        };
        if result.is_err() && self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        result
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
        let mut cursor = std::mem::take(&mut self.cursor);
        let result = match self.ready().await {
            Ok((client, st, sql)) => {
                Self::decide_in(client, st, sql, &mut cursor, limit, decided_at, decide).await
            }
            Err(e) => Err(e),
        };
        self.cursor = cursor;
        self.after(result)
    }

    async fn rebuild_projections<F>(
        &mut self,
        rebuilt_at: Timestamp,
        rebuild: F,
    ) -> Result<usize, StoreError>
    where
        F: FnOnce(Vec<ArchivedSnapshot>) -> Result<Vec<ProjectionWrite>, StoreError> + Send,
    {
        let result = match self.ready().await {
            Ok((client, st, sql)) => Self::rebuild_in(client, st, sql, rebuilt_at, rebuild).await,
            Err(e) => Err(e),
        };
        self.after(result)
    }

    async fn projection(
        &mut self,
        entity_id: Uuid,
    ) -> Result<Option<StoredProjection>, StoreError> {
        let result = match self.ready().await {
            Ok((client, st, _)) => match client
                .query_opt(&st.projection_of, &[&entity_id.to_string()])
                .await
                .db()
            {
                Ok(Some(row)) => cells(&row, 0).and_then(stored_projection).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        self.after(result)
    }

    async fn client_ack(&mut self, client_id: &str) -> Result<Option<(String, u64)>, StoreError> {
        let result = match self.ready().await {
            Ok((client, st, _)) => match client.query_opt(&st.ack_of, &[&client_id]).await.db() {
                Ok(Some(row)) => (|| {
                    let user: String = row.try_get(0).db()?;
                    let last: i64 = row.try_get(1).db()?;
                    Ok(Some((user, to_u64(last, "last_seq")?)))
                })(),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        self.after(result)
    }

    async fn pending_count(&mut self) -> Result<u64, StoreError> {
        let result = match self.ready().await {
            Ok((client, st, _)) => match client.query_one(&st.pending_count, &[]).await.db() {
                Ok(row) => row
                    .try_get::<_, i64>(0)
                    .db()
                    .and_then(|n| to_u64(n, "count")),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        self.after(result)
    }
}
