//! SQL shared by both stores: the quoted names of a domain's tables, the statements that read
//! the same on SQLite and PostgreSQL, and the conversions between stored integers and
//! sequence numbers.

use std::collections::HashMap;

use uuid::Uuid;

use crate::decided::{self, DecidedMap};

use crate::domain::Domain;
use crate::schema::{Column, SyncDirection, TableDef, TableRole, intent_column_list, table_of};
use crate::value::SqlValue;

use crate::schema::Dialect;
use crate::sync::rows::member_keys;

use super::error::StoreError;
use super::records::{ArchivedSnapshot, StoredProjection};

pub(crate) use crate::schema::quote;

/// The quoted table and field names both stores build their SQL from; each table is named
/// after its [`TableRole`].
pub(crate) struct DomainNames {
    /// [`TableRole::IntentQueue`].
    pub intent_queue: String,
    /// [`TableRole::Processed`].
    pub processed: String,
    /// [`TableRole::Rejected`].
    pub rejected: String,
    /// [`TableRole::Projection`].
    pub projection: String,
    /// [`TableRole::ClientAcks`].
    pub client_acks: String,
    /// [`TableRole::Changes`].
    pub changes: String,
    /// `"id", "entity_id", …`: the nine intent columns, in the order
    /// [`intent::row`](crate::intent::row) reads them.
    pub intent_columns: String,
    /// The projection's field columns, with their types (PostgreSQL binds by type).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub field_columns: Vec<Column>,
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
        // A shared domain's `members` column travels as a last field cell.
        let field_columns = table_of::<D>(TableRole::Projection)
            .stored_columns()
            .to_vec();
        let fields: Vec<String> = field_columns.iter().map(|c| quote(c.name)).collect();
        DomainNames {
            intent_queue: name(TableRole::IntentQueue),
            processed: name(TableRole::Processed),
            rejected: name(TableRole::Rejected),
            projection: name(TableRole::Projection),
            client_acks: name(TableRole::ClientAcks),
            changes: name(TableRole::Changes),
            intent_columns: intent_column_list(""),
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

/// Every decision a rebuilt projection row includes, as `entity_id, client_id, seq,
/// rejected (0/1)` rows: each client's last accepted seq per entity, and every rejected
/// intent. The same SQL on both dialects; folded by [`decided_by_entity`].
pub(crate) fn decisions_sql(processed: &str, rejected: &str) -> String {
    format!(
        "SELECT \"entity_id\", \"client_id\", MAX(\"seq\"), 0 FROM {processed} \
           GROUP BY \"entity_id\", \"client_id\" \
         UNION ALL SELECT \"entity_id\", \"client_id\", \"seq\", 1 FROM {rejected}"
    )
}

/// Folds [`decisions_sql`] rows into each archived snapshot's `decided` column. Rejections on
/// entities the archive does not hold (rejected creations) have no row to go to.
pub(crate) fn attach_decided(
    archived: &mut [ArchivedSnapshot],
    rows: impl IntoIterator<Item = (String, String, i64, i64)>,
) -> Result<(), StoreError> {
    let mut by_entity: HashMap<String, DecidedMap> = HashMap::new();
    for (entity, client, seq, rejected) in rows {
        let seq = to_u64(seq, "decided seq")?;
        decided::record(
            by_entity.entry(entity).or_default(),
            &client,
            seq,
            rejected != 0,
        );
    }
    for a in archived {
        if let Some(map) = by_entity.get(&a.entity_id.to_string()) {
            a.decided = decided::render(map);
        }
    }
    Ok(())
}

/// Every accepted membership intent (`sai.member.*`) as `entity_id, user_id, payload` rows, in
/// entity then version order: what a rebuilt shared row replays into its `members` column.
/// The same SQL on both dialects; folded by [`attach_membership`].
pub(crate) fn membership_log_sql(processed: &str) -> String {
    format!(
        "SELECT \"entity_id\", \"user_id\", \"payload\" FROM {processed} \
         WHERE \"event_type\" LIKE 'sai.member.%' ORDER BY \"entity_id\", \"version\""
    )
}

/// Hands each archived snapshot its accepted membership intents, in order.
pub(crate) fn attach_membership(
    archived: &mut [ArchivedSnapshot],
    rows: impl IntoIterator<Item = (String, String, String)>,
) {
    let mut by_entity: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (entity, user, payload) in rows {
        by_entity.entry(entity).or_default().push((user, payload));
    }
    for a in archived {
        if let Some(log) = by_entity.remove(&a.entity_id.to_string()) {
            a.membership = log;
        }
    }
}

/// Removes the projections of entities the archive does not know, returning each removed
/// row's id and owner (for its removal entry in the change log).
pub(crate) fn delete_unarchived_sql(projection: &str, processed: &str) -> String {
    format!(
        "DELETE FROM {projection} WHERE \"id\" NOT IN (SELECT \"entity_id\" FROM {processed}) \
         RETURNING \"id\", \"owner_id\""
    )
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
        decided: decided::EMPTY.to_owned(),
        membership: Vec::new(),
    })
}

/// A stored intent's id, read for admission beside the `uploaded` intent it was found for.
/// An id that is not a UUID (a malformed pending row) can only have matched by (client, seq),
/// so it is another intent's id: it stands as an id other than `uploaded`, which admission
/// then refuses as a conflict, as it would any other id in that slot.
pub(crate) fn stored_id(text: &str, uploaded: Uuid) -> Uuid {
    Uuid::parse_str(text).unwrap_or(if uploaded.is_nil() {
        Uuid::max()
    } else {
        Uuid::nil()
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

/// Reads `state, version, owner_id, decided, fields…` cells into a [`StoredProjection`].
pub(crate) fn stored_projection(cells: Vec<SqlValue>) -> Result<StoredProjection, StoreError> {
    let mut it = cells.into_iter();
    let (state, version, owner, decided) = (it.next(), it.next(), it.next(), it.next());
    match (state, version, owner, decided) {
        (
            Some(SqlValue::Text(state)),
            Some(SqlValue::Integer(v)),
            Some(SqlValue::Text(owner)),
            Some(SqlValue::Text(decided)),
        ) => Ok(StoredProjection {
            state,
            version: to_u64(v, "projection version")?,
            owner_id: owner,
            decided,
            fields: it.collect(),
        }),
        other => Err(StoreError::Malformed(format!(
            "projection head (state, version, owner_id, decided) reads as {other:?}"
        ))),
    }
}

/// The tables clients download, in a fixed order, each with the column naming its user.
pub(crate) fn synced_tables<D: Domain>() -> Vec<TableDef> {
    crate::schema::Schema::of::<D>()
        .tables()
        .iter()
        .filter(|t| t.role.sync() == SyncDirection::Down)
        .cloned()
        .collect()
}

/// The column naming the user a downloaded row belongs to.
pub(crate) fn user_column(t: &TableDef) -> &'static str {
    t.role.user_column().unwrap_or("user_id")
}

const CHANGE_COLUMNS: &str = "(\"id\", \"pos\", \"user_id\", \"tbl\", \"row_id\", \"removed\")";

/// Stamps rows of `t` (those `row_filter` selects, as [`stamp_rows_sql`]) of a shared
/// domain's projection as changed for each of their members: one entry per (row, member),
/// `{table}/{row id}/{user}`.
pub(crate) fn stamp_member_rows_sql(
    changes: &str,
    t: &TableDef,
    row_filter: &str,
    db: Dialect,
) -> String {
    format!(
        "INSERT INTO {changes} {CHANGE_COLUMNS} \
         SELECT '{name}/' || r.\"id\" || '/' || m.key, \
                b.base + ROW_NUMBER() OVER (ORDER BY r.\"id\", m.key), \
                m.key, '{name}', r.\"id\", 0 \
         FROM {table} r CROSS JOIN {keys} \
           CROSS JOIN (SELECT COALESCE(MAX(\"pos\"), 0) AS base FROM {changes}) b \
         WHERE r.\"id\" {row_filter} \
         ON CONFLICT (\"id\") DO UPDATE SET \"pos\" = excluded.\"pos\", \
           \"user_id\" = excluded.\"user_id\", \"removed\" = 0",
        name = t.name,
        table = quote(&t.name),
        keys = member_keys(db, "r"),
    )
}

/// For rows of a shared domain's projection (those `row_filter` selects), marks the entries
/// of users who are no longer members as removals at new positions: a removed member's
/// device deletes the row. Run after [`stamp_member_rows_sql`].
pub(crate) fn unstamp_former_members_sql(
    changes: &str,
    t: &TableDef,
    row_filter: &str,
    db: Dialect,
) -> String {
    format!(
        "INSERT INTO {changes} {CHANGE_COLUMNS} \
         SELECT c.\"id\", b.base + ROW_NUMBER() OVER (ORDER BY c.\"id\"), c.\"user_id\", \
                c.\"tbl\", c.\"row_id\", 1 \
         FROM {changes} c \
           CROSS JOIN (SELECT COALESCE(MAX(\"pos\"), 0) AS base FROM {changes}) b \
         WHERE c.\"tbl\" = '{name}' AND c.\"row_id\" {row_filter} AND c.\"removed\" = 0 \
           AND NOT EXISTS (SELECT 1 FROM {table} r CROSS JOIN {keys} \
                           WHERE r.\"id\" = c.\"row_id\" AND m.key = c.\"user_id\") \
         ON CONFLICT (\"id\") DO UPDATE SET \"pos\" = excluded.\"pos\", \"removed\" = 1",
        name = t.name,
        table = quote(&t.name),
        keys = member_keys(db, "r"),
    )
}

/// Stamps rows of `t` (those `row_filter` selects, e.g. `= ?1` or `= ANY($1::text[])`) as
/// changed: each row's change-log entry moves to the next positions after the highest, in
/// row id order. The same SQL on both dialects; the caller serialises stamping (SQLite's
/// single writer, PostgreSQL's lock on the log) so that positions are handed out in commit
/// order.
pub(crate) fn stamp_rows_sql(changes: &str, t: &TableDef, row_filter: &str) -> String {
    format!(
        "INSERT INTO {changes} {CHANGE_COLUMNS} \
         SELECT '{name}/' || r.\"id\", m.base + ROW_NUMBER() OVER (ORDER BY r.\"id\"), \
                r.{user}, '{name}', r.\"id\", 0 \
         FROM {table} r CROSS JOIN (SELECT COALESCE(MAX(\"pos\"), 0) AS base FROM {changes}) m \
         WHERE r.\"id\" {row_filter} \
         ON CONFLICT (\"id\") DO UPDATE SET \"pos\" = excluded.\"pos\", \
           \"user_id\" = excluded.\"user_id\", \"removed\" = 0",
        name = t.name,
        table = quote(&t.name),
        user = quote(user_column(t)),
    )
}

/// Fills an empty change log with one entry per existing downloaded row (a database
/// created before the log existed); does nothing once the log holds an entry. Runs in the
/// migration's transaction. The same SQL on both dialects.
pub(crate) fn backfill_changes_sql(changes: &str, synced: &[TableDef]) -> String {
    let union = synced
        .iter()
        .map(|t| {
            format!(
                "SELECT '{name}' AS tbl, \"id\" AS row_id, {user} AS user_id FROM {table}",
                name = t.name,
                table = quote(&t.name),
                user = quote(user_column(t)),
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "INSERT INTO {changes} {CHANGE_COLUMNS} \
         SELECT a.tbl || '/' || a.row_id, ROW_NUMBER() OVER (ORDER BY a.tbl, a.row_id), \
                a.user_id, a.tbl, a.row_id, 0 \
         FROM ({union}) a WHERE NOT EXISTS (SELECT 1 FROM {changes})"
    )
}

/// For a shared domain's projection, gives rows without members (written before the domain
/// was shared: the column was added empty) their creator as joined owner, as
/// [`Members::created_by`](crate::membership::Members::created_by) would; nothing for other
/// tables. Runs in the migration's transaction, before [`backfill_changes_sql`].
pub(crate) fn backfill_members_sql(synced: &[TableDef], dialect: Dialect) -> String {
    synced
        .iter()
        .filter(|t| t.has_members())
        .map(|t| {
            let owner = match dialect {
                Dialect::Sqlite => {
                    "json_object(\"owner_id\", \
                     json_object('role', 'owner', 'joined', json('true')))"
                }
                Dialect::Postgres => {
                    "jsonb_build_object(\"owner_id\", \
                     jsonb_build_object('role', 'owner', 'joined', true))::text"
                }
            };
            format!(
                "UPDATE {} SET \"members\" = {owner} WHERE \"members\" = '{{}}';\n",
                quote(&t.name)
            )
        })
        .collect()
}

/// A user's change-log entries after a position, in position order: `pos, tbl, row_id,
/// removed`. Placeholders: user, position, limit.
pub(crate) fn changes_after_sql(changes: &str, user: &str, after: &str, limit: &str) -> String {
    format!(
        "SELECT \"pos\", \"tbl\", \"row_id\", \"removed\" FROM {changes} \
         WHERE \"user_id\" = {user} AND \"pos\" > {after} ORDER BY \"pos\" LIMIT {limit}"
    )
}
