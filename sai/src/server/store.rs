//! The storage trait the processor and ingestion run on, and the records that cross it.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;

use uuid::Uuid;

use crate::domain::Domain;
use crate::intent::{RawIntent, Timestamp};
use crate::value::SqlValue;

use super::decide::{Decisions, ProjectionWrite};
use super::ingest::{IngestError, IngestReport};

/// A boxed database error, kept as the source of a [`StoreError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A projection row as stored: the state's name, the version, the owner and the field cells in
/// [`Domain::COLUMNS`] order.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredProjection {
    /// The machine state's name.
    pub state: String,
    /// Events applied so far.
    pub version: u64,
    /// The user whose intent created the entity.
    pub owner_id: String,
    /// The field cells.
    pub fields: Vec<SqlValue>,
}

/// A pending row that does not read as an intent. It stays in the queue (nothing is lost) and
/// its client waits behind it, as behind any gap.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pending intent row `{id}` is malformed: {detail}")]
pub struct MalformedRow {
    /// The row's `id` column, as text.
    pub id: String,
    /// What did not read.
    pub detail: String,
}

/// What one decision transaction holds: the pending intents it has claimed, the projections
/// of their entities and the acknowledgements of their clients. No other transaction decides
/// these entities until this one ends.
#[derive(Clone, Debug, Default)]
pub struct Claim {
    /// The claimed pending intents, in any order.
    pub intents: Vec<RawIntent>,
    /// Stored projections of the intents' entities that exist.
    pub projections: HashMap<Uuid, StoredProjection>,
    /// For each client in `intents`, the last sequence number decided.
    pub acks: HashMap<String, u64>,
    /// Claimed pending rows that did not read.
    pub malformed: Vec<MalformedRow>,
    /// Projections of the intents' entities that exist but do not read, with why: those
    /// entities are not decided (the rest of the claim is).
    pub unreadable: HashMap<Uuid, String>,
}

/// An entity's latest archived snapshot, as the projection rebuild reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedSnapshot {
    /// The entity.
    pub entity_id: Uuid,
    /// The state's name after the entity's last accepted intent.
    pub state: String,
    /// The entity's version after it.
    pub version: u64,
    /// The fields after it, as JSON.
    pub context: String,
    /// The user whose intent created the entity.
    pub owner_id: String,
}

/// Why a store operation failed. Transient errors are retried by the caller and are never
/// turned into rejections.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database may succeed if asked again: serialization failure, deadlock, lock timeout,
    /// busy database, dropped connection.
    #[error("transient database error: {0}")]
    Transient(#[source] BoxError),
    /// Another transaction decided some of the same intents first; nothing was written.
    #[error("concurrent decision conflict: {0}")]
    Conflict(String),
    /// The database refused the operation for a reason a retry will not change.
    #[error("database error: {0}")]
    Database(#[source] BoxError),
    /// A stored value has a shape the library never writes (for example a negative sequence).
    #[error("stored data is malformed: {0}")]
    Malformed(String),
}

impl StoreError {
    /// Whether retrying the same operation may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_) | StoreError::Conflict(_))
    }
}

/// The server's storage for one domain: the pending queue, the archive of decisions, the
/// projection and the per-client acknowledgements, each operation one transaction.
///
/// A store value is one connection: give each worker its own. Implementations:
/// [`SqliteStore`](super::SqliteStore) and, with the `postgres` feature, `PostgresStore`.
pub trait ServerStore: Send {
    /// The domain whose tables this store holds.
    type Domain: Domain;

    /// Creates the domain's server tables if they do not exist (idempotent).
    fn migrate(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores uploaded intents in the pending queue, in one transaction: binds each client to
    /// `user_id` on first sight, refuses clients bound to another user, and skips intents that
    /// are already pending or already decided. Shape checks are done by
    /// [`ingest`](super::ingest()) before this is called.
    fn insert_pending(
        &mut self,
        user_id: &str,
        intents: &[RawIntent],
        received_at: Timestamp,
    ) -> impl Future<Output = Result<IngestReport, IngestError>> + Send;

    /// One decision transaction: claims decidable intents, about `limit` of them, with their
    /// entities (no other transaction decides those entities until this one ends), hands
    /// them to `decide`, then writes every decision — archive or rejection, projection,
    /// pending removal, acknowledgement — and commits. On any error nothing is written.
    /// Returns what was committed.
    fn decide_batch<F>(
        &mut self,
        limit: usize,
        decided_at: Timestamp,
        decide: F,
    ) -> impl Future<Output = Result<Decisions, StoreError>> + Send
    where
        F: FnOnce(Claim) -> Decisions + Send;

    /// Rebuilds the projection table from the archive, in one transaction that holds off
    /// deciding: `rebuild` turns each entity's latest archived snapshot into its projection
    /// row, every row is written, and rows of entities with no archived intent are removed.
    /// On any error nothing is written. Returns how many projections were written.
    fn rebuild_projections<F>(
        &mut self,
        rebuilt_at: Timestamp,
        rebuild: F,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send
    where
        F: FnOnce(Vec<ArchivedSnapshot>) -> Result<Vec<ProjectionWrite>, StoreError> + Send;

    /// The stored projection of an entity.
    fn projection(
        &mut self,
        entity_id: Uuid,
    ) -> impl Future<Output = Result<Option<StoredProjection>, StoreError>> + Send;

    /// A client's bound user and last decided sequence number, if the client was seen.
    fn client_ack(
        &mut self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<(String, u64)>, StoreError>> + Send;

    /// How many intents wait in the pending queue.
    fn pending_count(&mut self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Reads the nine intent columns (in [`INTENT_SELECT`] order) into a [`RawIntent`].
pub(crate) fn raw_intent_from_cells(cells: Vec<SqlValue>) -> Result<RawIntent, MalformedRow> {
    let id_text = match cells.first() {
        Some(SqlValue::Text(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let bad = |detail: String| MalformedRow {
        id: id_text.clone(),
        detail,
    };
    if cells.len() != 9 {
        return Err(bad(format!("expected 9 columns, found {}", cells.len())));
    }
    let mut it = cells.into_iter();
    let mut next = || it.next().unwrap_or(SqlValue::Null);
    let text = |v: SqlValue, col: &str| match v {
        SqlValue::Text(s) => Ok(s),
        other => Err(bad(format!("`{col}` is {other:?}, expected text"))),
    };
    let int = |v: SqlValue, col: &str| match v {
        SqlValue::Integer(i) => Ok(i),
        other => Err(bad(format!("`{col}` is {other:?}, expected an integer"))),
    };
    let uuid = |s: String, col: &str| {
        Uuid::parse_str(&s).map_err(|e| bad(format!("`{col}` is not a UUID ({s:?}): {e}")))
    };
    let id = uuid(text(next(), "id")?, "id")?;
    let entity_id = uuid(text(next(), "entity_id")?, "entity_id")?;
    let client_id = text(next(), "client_id")?;
    let user_id = text(next(), "user_id")?;
    let seq = int(next(), "seq")?;
    let event_type = text(next(), "event_type")?;
    let event_version = int(next(), "event_version")?;
    let payload = text(next(), "payload")?;
    let created_at = int(next(), "created_at")?;
    Ok(RawIntent {
        id,
        entity_id,
        client_id,
        user_id,
        seq: u64::try_from(seq)
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| bad(format!("`seq` is {seq}")))?,
        event_type,
        event_version: u32::try_from(event_version)
            .map_err(|_| bad(format!("`event_version` is {event_version}")))?,
        payload,
        created_at,
    })
}

/// The intent columns every store reads, in the order [`raw_intent_from_cells`] expects.
pub(crate) const INTENT_SELECT: &str = "\"id\", \"entity_id\", \"client_id\", \"user_id\", \"seq\", \"event_type\", \"event_version\", \"payload\", \"created_at\"";

pub(crate) use crate::schema::quote;
use crate::schema::{TableRole, table};

/// The quoted table and field names both stores build their SQL from.
pub(crate) struct DomainNames {
    pub queue: String,
    pub processed: String,
    pub rejected: String,
    pub projection: String,
    pub acks: String,
    /// The projection's field columns, with their types (PostgreSQL binds by type).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub field_columns: Vec<crate::schema::Column>,
    /// The field columns' quoted names.
    pub fields: Vec<String>,
    /// `, "a", "b"`: the fields appended to a column list.
    pub field_list: String,
    /// `, "a" = EXCLUDED."a"`: the fields of an upsert.
    pub set_fields: String,
}

impl DomainNames {
    pub fn of<D: Domain>() -> Self {
        let name = |role: TableRole| quote(&role.table_name(D::NAME));
        let field_columns = table(D::NAME, D::COLUMNS, TableRole::Projection)
            .field_columns()
            .to_vec();
        let fields: Vec<String> = field_columns.iter().map(|c| quote(c.name)).collect();
        DomainNames {
            queue: name(TableRole::IntentQueue),
            processed: name(TableRole::Processed),
            rejected: name(TableRole::Rejected),
            projection: name(TableRole::Projection),
            acks: name(TableRole::ClientAcks),
            field_list: fields.iter().map(|f| format!(", {f}")).collect(),
            set_fields: fields
                .iter()
                .map(|f| format!(", {f} = EXCLUDED.{f}"))
                .collect(),
            field_columns,
            fields,
        }
    }
}

/// Each archived entity's latest snapshot and creator, in [`archived_snapshot`] order; the
/// same SQL on both dialects, served by the archive's (entity_id, version) index.
pub(crate) fn latest_archived_sql(processed: &str) -> String {
    format!(
        "SELECT p.\"entity_id\", p.\"state\", p.\"version\", p.\"context\", \
           (SELECT f.\"user_id\" FROM {processed} f WHERE f.\"entity_id\" = p.\"entity_id\" \
            ORDER BY f.\"version\" LIMIT 1) \
         FROM {processed} p WHERE p.\"version\" = (SELECT MAX(m.\"version\") FROM {processed} m \
           WHERE m.\"entity_id\" = p.\"entity_id\") \
         ORDER BY p.\"entity_id\""
    )
}

/// A condition true when an intent to be queued (its `id`, `client` and `seq` given as SQL
/// expressions) clashes with a stored one: its id already decided, or queued under another
/// (client, seq), or its (client, seq) queued under another id. Same SQL on both dialects.
pub(crate) fn id_conflict_sql(names: &DomainNames, id: &str, client: &str, seq: &str) -> String {
    let DomainNames {
        queue,
        processed,
        rejected,
        ..
    } = names;
    format!(
        "EXISTS (SELECT 1 FROM {processed} WHERE \"id\" = {id}) \
         OR EXISTS (SELECT 1 FROM {rejected} WHERE \"id\" = {id}) \
         OR EXISTS (SELECT 1 FROM {queue} WHERE \"id\" = {id} \
           AND (\"client_id\" <> {client} OR \"seq\" <> {seq})) \
         OR EXISTS (SELECT 1 FROM {queue} WHERE \"client_id\" = {client} AND \"seq\" = {seq} \
           AND \"id\" <> {id})"
    )
}

/// Removes the projections of entities the archive does not know.
pub(crate) fn delete_unarchived_sql(projection: &str, processed: &str) -> String {
    format!("DELETE FROM {projection} WHERE \"id\" NOT IN (SELECT \"entity_id\" FROM {processed})")
}

/// Reads an [`ArchivedSnapshot`] from `entity_id, state, version, context, owner` cells.
pub(crate) fn archived_snapshot(
    entity_id: &str,
    state: String,
    version: i64,
    context: String,
    owner_id: String,
) -> Result<ArchivedSnapshot, StoreError> {
    Ok(ArchivedSnapshot {
        entity_id: Uuid::parse_str(entity_id)
            .map_err(|e| StoreError::Malformed(format!("archived entity id {entity_id:?}: {e}")))?,
        state,
        version: to_u64(version, "archived version")?,
        context,
        owner_id,
    })
}

/// Converts a sequence number or version for an `INTEGER`/`BIGINT` column.
pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Malformed(format!("{v} does not fit a BIGINT")))
}

/// Converts a stored `INTEGER`/`BIGINT` back to a sequence number or version.
pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Malformed(format!("{what} is negative ({v})")))
}

/// Reads `state, version, owner_id, fields…` cells into a [`StoredProjection`].
pub(crate) fn stored_projection(cells: Vec<SqlValue>) -> Result<StoredProjection, StoreError> {
    let mut it = cells.into_iter();
    let (state, version, owner) = (it.next(), it.next(), it.next());
    match (state, version, owner) {
        (Some(SqlValue::Text(state)), Some(SqlValue::Integer(v)), Some(SqlValue::Text(owner))) => {
            Ok(StoredProjection {
                state,
                version: to_u64(v, "projection version")?,
                owner_id: owner,
                fields: it.collect(),
            })
        }
        other => Err(StoreError::Malformed(format!(
            "projection head (state, version, owner_id) reads as {other:?}"
        ))),
    }
}
