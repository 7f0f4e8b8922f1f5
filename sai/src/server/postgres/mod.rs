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
//!
//! - `connect`: options and the TLS connector every (re)connection goes through;
//! - `error`: SQLSTATE classification;
//! - `statements`: SQL text, prepared per connection;
//! - `params`: array binding;
//! - `admit`: the admission transaction;
//! - `claim` and `decide`: the decision transaction's read and write halves;
//! - `rebuild`: the projection rebuild.

mod admit;
mod claim;
mod connect;
mod decide;
mod error;
mod params;
mod rebuild;
mod statements;

use std::marker::PhantomData;

use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use crate::domain::Domain;
use crate::intent::{RawIntent, Timestamp, now_millis};
use crate::schema::{
    Dialect, ExistingColumn, RecordedSchema, SCHEMA_TABLE, Side, plan_migration,
    plan_schema_records, schema_table_ddl,
};

use super::admission::{AdmissionFacts, AdmissionPlan, IngestReport};
use super::changes;
use super::decisions::{Decisions, ProjectionWrite};
use super::error::{IngestError, StoreError};
use super::records::{ArchivedSnapshot, Claim, StoredProjection};
use super::sql::{quote, stored_projection, to_i64, to_u64};
use super::store::ServerStore;
use super::wake::{WakeHandle, Wakeup, wakeup};
use crate::sync::{ChangePage, Cursor, SyncRow, row_from_cells};
use crate::value::SqlValue;
use connect::{Connector, connector};
use error::Db;
use statements::{Prepared, Sql};
use std::collections::HashMap;

pub use connect::PostgresOptions;

/// The server tables of domain `D` in PostgreSQL. One value is one connection, reopened
/// after it drops; give each worker its own.
pub struct PostgresStore<D> {
    url: String,
    connector: Connector,
    search_path: Option<String>,
    conn: Option<Connection>,
    sql: Sql,
    /// Where the next claim starts (see `claim::lock_entities`).
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

impl<D: Domain> PostgresOptions<D> {
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
            let client = (self.connector)(self.url.clone(), None).await.db()?;
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

    /// A connection that `LISTEN`s on the domain's channel and rings `ring` at each upload.
    async fn listener(&self, ring: WakeHandle) -> Result<Client, StoreError> {
        listen_on(
            &self.connector,
            &self.url,
            self.search_path.as_deref(),
            &self.sql.channel_of,
            &ring,
        )
        .await
    }

    /// Forgets a connection that an error closed, so the next call reconnects.
    fn after<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() && self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        result
    }
}

impl<D: Domain> ServerStore for PostgresStore<D> {
    type Domain = D;

    async fn migrate(&mut self) -> Result<(), StoreError> {
        // Serialized across processes: concurrent CREATE TABLE IF NOT EXISTS can still race
        // on the catalog, and two migrations must not both plan the same ALTER. PostgreSQL's
        // DDL is transactional: a refused change rolls back the whole migration.
        let lock = "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('sai:migrate', 0));";
        // Copied out: the connection borrows `self` mutably (migrate runs once per start).
        let (ddl, schema) = (self.sql.ddl.clone(), self.sql.schema.clone());
        let current = schema.fingerprints(Side::Server);
        let backfill = self.sql.backfill_changes.clone();
        let result = match self.client().await {
            Ok(conn) => {
                let r = async {
                    // Already migrated to this layout: one read, no lock, no catalog reads.
                    if plan_schema_records(&postgres_recorded(&conn.client).await?, &current)
                        .is_empty()
                    {
                        return Ok(false);
                    }
                    conn.client.batch_execute(lock).await.db()?;
                    // Read again under the lock: a concurrent `migrate` may have just done it.
                    let records =
                        plan_schema_records(&postgres_recorded(&conn.client).await?, &current);
                    if records.is_empty() {
                        conn.client.batch_execute("COMMIT").await.db()?;
                        return Ok(false);
                    }
                    conn.client
                        .batch_execute(&schema_table_ddl(Dialect::Postgres))
                        .await
                        .db()?;
                    conn.client.batch_execute(&ddl).await.db()?;
                    for table in schema.tables_on(Side::Server) {
                        let existing = postgres_catalog(&conn.client, &table.name).await?;
                        let plan = plan_migration(Dialect::Postgres, table, &existing)?;
                        for statement in plan.statements(Dialect::Postgres) {
                            conn.client.batch_execute(&statement).await.db()?;
                        }
                    }
                    let upsert = format!(
                        "INSERT INTO {} (domain, side, fingerprint, version, migrated_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain, side) DO UPDATE SET \
                         fingerprint = excluded.fingerprint, version = excluded.version, \
                         migrated_at = excluded.migrated_at",
                        quote(SCHEMA_TABLE)
                    );
                    for r in &records {
                        conn.client
                            .execute(
                                &upsert,
                                &[
                                    &r.domain,
                                    &Side::Server.as_str(),
                                    &r.fingerprint,
                                    &r.version,
                                    &now_millis(),
                                ],
                            )
                            .await
                            .db()?;
                    }
                    conn.client.batch_execute(&backfill).await.db()?;
                    conn.client.batch_execute("COMMIT").await.db()?;
                    Ok(true)
                }
                .await;
                if r.is_err() {
                    let _ = conn.client.batch_execute("ROLLBACK").await;
                }
                // Statements prepared against the old layout would fail.
                if !matches!(r, Ok(false)) {
                    conn.prepared = None;
                }
                r.map(|_| ())
            }
            Err(e) => Err(e),
        };
        self.after(result)
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
        let result = match self.ready().await {
            Ok((client, st, _)) => {
                admit::admit_upload(client, st, user_id, upload, received_at, admit).await
            }
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
                decide::decide_batch(client, st, sql, &mut cursor, limit, decided_at, decide).await
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
            Ok((client, st, sql)) => {
                rebuild::rebuild_projections(client, st, sql, rebuilt_at, rebuild).await
            }
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
                Ok(Some(row)) => claim::cells(&row, 0).and_then(stored_projection).map(Some),
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

    async fn changes_for_user(
        &mut self,
        user_id: &str,
        after: Cursor,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let result = match self.ready().await {
            Ok((client, st, sql)) => read_changes(client, st, sql, user_id, after, limit).await,
            Err(e) => Err(e),
        };
        self.after(result)
    }

    async fn listen(&mut self) -> Result<Option<Wakeup>, StoreError> {
        let (ring, wakeup) = wakeup();
        // The first connection is made here, so a wrong URL is an error now; the task keeps
        // one listening connection open, reconnecting after it drops.
        let client = self.listener(ring.clone()).await?;
        let (connector, url, search_path) = (
            self.connector.clone(),
            self.url.clone(),
            self.search_path.clone(),
        );
        let channel_of = self.sql.channel_of.clone();
        tokio::spawn(async move {
            let mut client = Some(client);
            while !ring.is_unheard() {
                if let Some(c) = &client
                    && !c.is_closed()
                {
                    tokio::time::sleep(LISTENER_CHECK).await;
                    continue;
                }
                tokio::time::sleep(LISTENER_CHECK).await;
                client = listen_on(&connector, &url, search_path.as_deref(), &channel_of, &ring)
                    .await
                    .ok();
                if client.is_some() {
                    // Uploads made while no connection listened were not heard.
                    ring.wake();
                }
            }
        });
        Ok(Some(wakeup))
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

/// The server's schema records (resolved through the search path); empty when it has none.
async fn postgres_recorded(client: &Client) -> Result<Vec<RecordedSchema>, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&SCHEMA_TABLE])
        .await
        .db()?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!(
                "SELECT domain, fingerprint, version FROM {} WHERE side = $1",
                quote(SCHEMA_TABLE)
            ),
            &[&Side::Server.as_str()],
        )
        .await
        .db()?;
    Ok(rows
        .iter()
        .map(|r| RecordedSchema {
            domain: r.get(0),
            fingerprint: r.get(1),
            version: r.get(2),
        })
        .collect())
}

/// How often the listening task checks its connection (and whether anyone still listens).
const LISTENER_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Opens a connection that rings `ring` at every notification and `LISTEN`s on the channel
/// `channel_of` names (per schema and domain: the admission transaction notifies it).
async fn listen_on(
    connector: &Connector,
    url: &str,
    search_path: Option<&str>,
    channel_of: &str,
    ring: &WakeHandle,
) -> Result<Client, StoreError> {
    let client = connector(url.to_owned(), Some(ring.clone())).await.db()?;
    if let Some(schema) = search_path {
        client
            .batch_execute(&format!("SET search_path TO {};", quote(schema)))
            .await
            .db()?;
    }
    let channel: String = client
        .query_one(channel_of, &[])
        .await
        .db()?
        .try_get(0)
        .db()?;
    client
        .batch_execute(&format!("LISTEN {}", quote(&channel)))
        .await
        .db()?;
    Ok(client)
}

/// One page of a user's changes, read in one repeatable-read snapshot.
async fn read_changes(
    client: &mut Client,
    st: &Prepared,
    sql: &Sql,
    user_id: &str,
    after: Cursor,
    limit: usize,
) -> Result<ChangePage, StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .db()?;
    let limit = limit.max(1);
    let mut entries = Vec::new();
    for row in tx
        .query(
            &st.changes_after,
            &[
                &user_id,
                &to_i64(after.position())?,
                &to_i64(limit as u64 + 1)?,
            ],
        )
        .await
        .db()?
    {
        entries.push((
            row.try_get::<_, i64>(0).db()?,
            row.try_get::<_, String>(1).db()?,
            row.try_get::<_, String>(2).db()?,
            row.try_get::<_, i64>(3).db()? != 0,
        ));
    }
    // The rows named, table by table, one statement each.
    let mut found: HashMap<(String, String), SyncRow> = HashMap::new();
    for ((def, _), statement) in sql.row_of.iter().zip(&st.row_of) {
        let ids: Vec<&str> = entries
            .iter()
            .take(limit)
            .filter(|(_, table, _, removed)| !removed && *table == def.name)
            .map(|(_, _, id, _)| id.as_str())
            .collect();
        if ids.is_empty() {
            continue;
        }
        for row in tx.query(statement, &[&ids, &user_id]).await.db()? {
            let cells = (0..def.columns.len())
                .map(|i| row.try_get::<_, SqlValue>(i))
                .collect::<Result<Vec<_>, _>>()
                .db()?;
            let r = row_from_cells(def, cells);
            found.insert((r.table.clone(), r.id.clone()), r);
        }
    }
    tx.commit().await.db()?;
    changes::page(after, limit, entries, |table, id| {
        Ok(found.remove(&(table.to_owned(), id.to_owned())))
    })
}

/// The columns of `table` (resolved through the search path) in the catalog; empty when the
/// table does not exist. Types as `format_type` spells them (`bigint`, `double precision`).
async fn postgres_catalog(client: &Client, table: &str) -> Result<Vec<ExistingColumn>, StoreError> {
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                    a.atthasdef \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 \
               AND NOT a.attisdropped ORDER BY a.attnum",
            &[&table],
        )
        .await
        .db()?;
    Ok(rows
        .iter()
        .map(|r| ExistingColumn {
            name: r.get(0),
            declared_type: r.get(1),
            nullable: r.get(2),
            has_default: r.get(3),
        })
        .collect())
}
