//! Table layouts derived from domain definitions, and their DDL.
//!
//! Every domain `name` owns these tables (the layout is the same on every database; only the
//! type names differ):
//!
//! | table | where | purpose |
//! |---|---|---|
//! | `{name}_intent_events` | server (client outbox under PowerSync) | pending intents, the upload queue |
//! | `{name}_intent_events_processed` | server | archive of accepted intents with the resulting snapshot |
//! | `{name}_intent_events_rejected` | server, synced down | rejections with code, message and reason |
//! | `{name}_projection` | server, synced down | authoritative state, version and one column per field |
//! | `{name}_client_acks` | server, synced down | per client, the last sequence number decided |
//! | `{name}_changes` | server | the change log of the synced tables: per row, its latest change position (incremental downloads) |
//! | `{name}_intent_events_local` | client only | the durable local intent log |
//! | `{name}_projection_local` | client only | the optimistic projection (an overlay: one row per entity with pending intents) |
//! | `{name}_client_seq_local` | client only | per local client, a floor for its next sequence number (the highest that left the local log) |
//! | `{name}_rejections_local` | client only | which synced rejections were surfaced to listeners or cleared |
//! | `{name}_sync_cursor_local` | client only | the device's user and its download cursor (incremental downloads) |
//!
//! The synced-down tables are read-only on a PowerSync client (a local write there is reverted
//! at the next checkpoint), so every piece of client bookkeeping lives in a `*_local` table.

mod ddl;
mod migrate;
mod record;

use std::collections::BTreeMap;

use crate::domain::{ColumnDef, Domain, FieldDefault};
use crate::value::{ColumnType, SqlValue};

pub use ddl::Dialect;
pub(crate) use ddl::quote;
pub use migrate::{ExistingColumn, MigrationError, MigrationPlan, MigrationStep, plan_migration};
pub use record::{
    RecordedSchema, SCHEMA_TABLE, SchemaRecord, plan_schema_records, schema_table_ddl,
};

/// Column names the library uses in projection tables; entity fields may not take them.
///
/// `#[derive(Domain)]` rejects them with its own copy (the derive cannot depend on sai); a
/// unit test below fails when the two lists differ.
pub const RESERVED_COLUMNS: &[&str] = &[
    "id",
    "state",
    "version",
    "owner_id",
    "decided",
    "members",
    "updated_at",
];

/// Which database holds a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The authoritative server database (PostgreSQL or SQLite).
    Server,
    /// The client's local SQLite database.
    Client,
}

/// What a table is for. Each domain has one table of each role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableRole {
    /// Pending intents awaiting a decision (`{name}_intent_events`).
    IntentQueue,
    /// Accepted intents with their snapshot (`{name}_intent_events_processed`).
    Processed,
    /// Rejected intents with their reason (`{name}_intent_events_rejected`).
    Rejected,
    /// Authoritative projection (`{name}_projection`).
    Projection,
    /// Per-client acknowledgement: the last sequence number decided (`{name}_client_acks`).
    ClientAcks,
    /// The change log of the downloaded tables (`{name}_changes`): one entry per row (and
    /// per removed row), stamped with the position of its latest change.
    Changes,
    /// Client-local intent log (`{name}_intent_events_local`).
    LocalIntents,
    /// Client-local optimistic projection (`{name}_projection_local`).
    LocalProjection,
    /// Client-local sequence floor, one row per local client (`{name}_client_seq_local`):
    /// the highest sequence number that left the local log.
    LocalSequence,
    /// Client-local bookkeeping of synced rejections: surfaced, cleared (`{name}_rejections_local`).
    LocalRejections,
    /// Client-local download cursor: the device's user and the change position it has
    /// applied (`{name}_sync_cursor_local`).
    LocalCursor,
}

/// How a table's rows move between client and server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncDirection {
    /// Written by clients, uploaded, never downloaded (an insert-only outbox).
    Up,
    /// Written by the server, downloaded by clients, read-only there.
    Down,
    /// Never leaves the server.
    ServerOnly,
    /// Never leaves the client.
    ClientOnly,
}

impl TableRole {
    /// Every role, in a fixed order.
    pub const ALL: [TableRole; 11] = [
        TableRole::IntentQueue,
        TableRole::Processed,
        TableRole::Rejected,
        TableRole::Projection,
        TableRole::ClientAcks,
        TableRole::Changes,
        TableRole::LocalIntents,
        TableRole::LocalProjection,
        TableRole::LocalSequence,
        TableRole::LocalRejections,
        TableRole::LocalCursor,
    ];

    /// The suffix after the domain name.
    pub const fn suffix(self) -> &'static str {
        match self {
            TableRole::IntentQueue => "_intent_events",
            TableRole::Processed => "_intent_events_processed",
            TableRole::Rejected => "_intent_events_rejected",
            TableRole::Projection => "_projection",
            TableRole::ClientAcks => "_client_acks",
            TableRole::Changes => "_changes",
            TableRole::LocalIntents => "_intent_events_local",
            TableRole::LocalProjection => "_projection_local",
            TableRole::LocalSequence => "_client_seq_local",
            TableRole::LocalRejections => "_rejections_local",
            TableRole::LocalCursor => "_sync_cursor_local",
        }
    }

    /// How rows of this table travel.
    pub const fn sync(self) -> SyncDirection {
        match self {
            TableRole::IntentQueue => SyncDirection::Up,
            TableRole::Processed | TableRole::Changes => SyncDirection::ServerOnly,
            TableRole::Rejected | TableRole::Projection | TableRole::ClientAcks => {
                SyncDirection::Down
            }
            TableRole::LocalIntents
            | TableRole::LocalProjection
            | TableRole::LocalSequence
            | TableRole::LocalRejections
            | TableRole::LocalCursor => SyncDirection::ClientOnly,
        }
    }

    /// Whether a plain database on `side` holds this table. The client keeps a copy of the
    /// downloaded tables; the upload queue lives only on the server (the local intent log is
    /// the client's outbox).
    pub const fn is_on(self, side: Side) -> bool {
        matches!(
            (self.sync(), side),
            (SyncDirection::Up | SyncDirection::ServerOnly, Side::Server)
                | (SyncDirection::Down, _)
                | (SyncDirection::ClientOnly, Side::Client)
        )
    }

    /// For a table clients download, the column naming the user a row belongs to: the
    /// projection's owner, the rejected intent's or the client's user.
    pub const fn user_column(self) -> Option<&'static str> {
        match self {
            TableRole::Projection => Some("owner_id"),
            TableRole::Rejected | TableRole::ClientAcks => Some("user_id"),
            _ => None,
        }
    }

    /// The table name for a domain.
    pub fn table_name(self, domain: &str) -> String {
        format!("{domain}{}", self.suffix())
    }

    /// The domain that `table` belongs to, if it is a table of this role: the inverse of
    /// [`table_name`](Self::table_name). `None` when the suffix differs or no name precedes it.
    pub fn domain_of(self, table: &str) -> Option<&str> {
        table.strip_suffix(self.suffix()).filter(|d| !d.is_empty())
    }
}

/// One column of a generated table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Storage class.
    pub ty: ColumnType,
    /// Whether `NULL` is allowed.
    pub nullable: bool,
    /// The value a row takes when an insert leaves the column out, if any.
    pub default: Option<ColumnDefault>,
    /// The column's previous name, which a migration renames (a field's
    /// `#[domain(was = "…")]`).
    pub was: Option<&'static str>,
}

impl Column {
    const fn required(name: &'static str, ty: ColumnType) -> Self {
        Column {
            name,
            ty,
            nullable: false,
            default: None,
            was: None,
        }
    }

    const fn optional(name: &'static str, ty: ColumnType) -> Self {
        Column {
            name,
            ty,
            nullable: true,
            default: None,
            was: None,
        }
    }
}

/// A column's default value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnDefault {
    /// A SQL literal the library declares for its own columns.
    Sql(&'static str),
    /// A field's declared default, encoded by the field's column codec.
    Field(FieldDefault),
}

/// A declared default that no SQL literal can hold (`NULL` for a required column, a
/// non-finite float, text with a NUL character).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0:?} cannot be written as a SQL default")]
pub struct UnrepresentableDefault(pub SqlValue);

impl ColumnDefault {
    /// The default as a SQL literal, the same in every [`Dialect`]: an integer, a float in
    /// Rust's round-tripping notation, or text in single quotes with quotes doubled.
    pub fn literal(&self) -> Result<String, UnrepresentableDefault> {
        let value = match self {
            ColumnDefault::Sql(sql) => return Ok((*sql).to_owned()),
            ColumnDefault::Field(f) => f.value(),
        };
        match &value {
            SqlValue::Integer(i) => Ok(i.to_string()),
            SqlValue::Real(r) if r.is_finite() => Ok(format!("{r:?}")),
            SqlValue::Text(t) if !t.contains('\0') => Ok(format!("'{}'", t.replace('\'', "''"))),
            _ => Err(UnrepresentableDefault(value)),
        }
    }
}

/// A table's full description: enough to render DDL or a PowerSync table definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    /// The domain that owns it.
    pub domain: &'static str,
    /// What it is for.
    pub role: TableRole,
    /// `{domain}{suffix}`.
    pub name: String,
    /// Columns; the first is always `id TEXT` (the primary key, as PowerSync requires).
    pub columns: Vec<Column>,
    /// Unique constraints besides the primary key.
    pub unique: Vec<&'static [&'static str]>,
    /// Secondary indexes.
    pub indexes: Vec<&'static [&'static str]>,
    /// Columns of removed fields that a migration drops (projection tables: the domain's
    /// [`Domain::DROPPED`]).
    pub dropped: Vec<&'static str>,
}

impl TableDef {
    /// The entity field columns of a projection table (empty for other tables).
    pub fn field_columns(&self) -> &[Column] {
        let stored = self.stored_columns();
        match stored.last() {
            Some(last) if last.name == MEMBERS.name => &stored[..stored.len() - 1],
            _ => stored,
        }
    }

    /// The columns a projection row carries after its head (`id`, `state`, `version`,
    /// `owner_id`, `decided`) and before `updated_at`: the field columns, then `members`
    /// for a shared domain. Empty for other tables.
    pub(crate) fn stored_columns(&self) -> &[Column] {
        match self.role {
            TableRole::Projection | TableRole::LocalProjection => {
                &self.columns[PROJECTION_HEAD.len()..self.columns.len() - 1]
            }
            _ => &[],
        }
    }

    /// Whether the table is the projection of a shared domain: it has the `members` column.
    pub fn has_members(&self) -> bool {
        self.stored_columns()
            .last()
            .is_some_and(|c| c.name == MEMBERS.name)
    }
}

use ColumnType::{Integer, Text};

const ID: Column = Column::required("id", Text);

/// Columns every intent row carries, after `id`.
pub const INTENT_COLUMNS: &[Column] = &[
    Column::required("entity_id", Text),
    Column::required("client_id", Text),
    Column::required("user_id", Text),
    Column::required("seq", Integer),
    Column::required("event_type", Text),
    Column::required("event_version", Integer),
    Column::required("payload", Text),
    Column::required("created_at", Integer),
];

/// The intent columns (`id`, then [`INTENT_COLUMNS`]) as a quoted SQL list, each name prefixed
/// with `qualifier` (`"q."` or nothing): the one column order every intent-row reader expects.
pub(crate) fn intent_column_list(qualifier: &str) -> String {
    std::iter::once(ID.name)
        .chain(INTENT_COLUMNS.iter().map(|c| c.name))
        .map(|c| format!("{qualifier}{}", quote(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

const PROJECTION_HEAD: &[Column] = &[
    ID,
    Column::required("state", Text),
    Column::required("version", Integer),
    Column::required("owner_id", Text),
    // Which decisions the row includes (see `crate::decided`): the client's exact rule for
    // when an intent leaves its log. Rows written without it read as none.
    Column {
        name: "decided",
        ty: Text,
        nullable: false,
        default: Some(ColumnDefault::Sql("'{}'")),
        was: None,
    },
];

/// The column of a shared domain's projections (`#[domain(shared)]`) holding its members as
/// JSON ([`Members`](crate::membership::Members)), before `updated_at`.
pub const MEMBERS: Column = Column {
    name: "members",
    ty: Text,
    nullable: false,
    default: Some(ColumnDefault::Sql("'{}'")),
    was: None,
};

/// The tables of one domain, given its name and field columns.
pub fn domain_tables(domain: &'static str, fields: &[ColumnDef]) -> Vec<TableDef> {
    TableRole::ALL
        .iter()
        .map(|&role| table(domain, fields, role))
        .collect()
}

/// The tables of domain `D`, with the columns it declares dropped.
fn tables_of_domain<D: Domain>() -> Vec<TableDef> {
    TableRole::ALL
        .iter()
        .map(|&role| table_of::<D>(role))
        .collect()
}

/// One table of domain `D`: [`table`], with the columns it declares dropped and, for a
/// shared domain's projections, the [`MEMBERS`] column.
pub(crate) fn table_of<D: Domain>(role: TableRole) -> TableDef {
    let mut t = table(D::NAME, D::COLUMNS, role);
    if matches!(t.role, TableRole::Projection | TableRole::LocalProjection) {
        t.dropped = D::DROPPED.to_vec();
        if D::SHARED {
            let at = t.columns.len() - 1;
            t.columns.insert(at, MEMBERS);
        }
    }
    t
}

/// One table of a domain.
pub fn table(domain: &'static str, fields: &[ColumnDef], role: TableRole) -> TableDef {
    let intent = |extra: &[Column]| {
        let mut cols = vec![ID];
        cols.extend_from_slice(INTENT_COLUMNS);
        cols.extend_from_slice(extra);
        cols
    };
    let projection = || {
        let mut cols = PROJECTION_HEAD.to_vec();
        cols.extend(fields.iter().map(|f| Column {
            name: f.name,
            ty: f.ty,
            nullable: f.nullable,
            default: f.default.map(ColumnDefault::Field),
            was: f.was,
        }));
        cols.push(Column::required("updated_at", Integer));
        cols
    };
    const CLIENT_SEQ: &[&str] = &["client_id", "seq"];
    const ENTITY: &[&str] = &["entity_id"];
    // The local log is read per entity in (seq, client) order: the index serves the order.
    const ENTITY_SEQ_CLIENT: &[&str] = &["entity_id", "seq", "client_id"];
    let (columns, unique, indexes): (Vec<Column>, Vec<&'static [&'static str]>, _) = match role {
        TableRole::IntentQueue => (
            intent(&[Column::required("received_at", Integer)]),
            vec![CLIENT_SEQ],
            vec![ENTITY],
        ),
        TableRole::Processed => (
            intent(&[
                Column::required("state", Text),
                Column::required("version", Integer),
                Column::required("context", Text),
                Column::required("processed_at", Integer),
            ]),
            vec![CLIENT_SEQ],
            vec![&["entity_id", "version"][..]],
        ),
        TableRole::Rejected => (
            intent(&[
                Column::required("code", Text),
                Column::required("message", Text),
                Column::required("reason", Text),
                Column::optional("state", Text),
                Column::required("rejected_at", Integer),
            ]),
            vec![CLIENT_SEQ],
            vec![ENTITY],
        ),
        TableRole::Projection | TableRole::LocalProjection => (projection(), vec![], vec![]),
        TableRole::ClientAcks => (
            vec![
                ID,
                Column::required("user_id", Text),
                Column::required("last_seq", Integer),
                Column::required("updated_at", Integer),
            ],
            vec![],
            vec![],
        ),
        // `base_version`: the server projection version the client saw when it wrote the
        // intent; reconciliation uses it to tell whether the decision's effect is visible.
        TableRole::LocalIntents => (
            intent(&[Column::required("base_version", Integer)]),
            vec![CLIENT_SEQ],
            vec![ENTITY_SEQ_CLIENT],
        ),
        TableRole::LocalSequence => (
            vec![ID, Column::required("last_seq", Integer)],
            vec![],
            vec![],
        ),
        TableRole::LocalRejections => (
            vec![
                ID,
                Column::required("entity_id", Text),
                Column::optional("surfaced_at", Integer),
                Column::optional("cleared_at", Integer),
            ],
            vec![],
            vec![],
        ),
        // `id` is `{table}/{row id}`: one entry per row, moved to a new `pos` at each change,
        // so the log holds as many entries as rows (plus removals), never the history.
        // Read per user after a position; `pos` alone finds the highest position.
        TableRole::Changes => (
            vec![
                ID,
                Column::required("pos", Integer),
                Column::required("user_id", Text),
                Column::required("tbl", Text),
                Column::required("row_id", Text),
                Column::required("removed", Integer),
            ],
            vec![],
            vec![&["user_id", "pos"][..], &["pos"][..]],
        ),
        // `id` is the device's user; `position` the last change applied.
        TableRole::LocalCursor => (
            vec![ID, Column::required("position", Integer)],
            vec![],
            vec![],
        ),
    };
    TableDef {
        domain,
        role,
        name: role.table_name(domain),
        columns,
        unique,
        indexes,
        dropped: Vec::new(),
    }
}

/// Two domains whose tables would share a name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("table `{table}` would be created by both domain `{first}` and domain `{second}`")]
#[non_exhaustive]
pub struct SchemaError {
    /// The colliding table name.
    pub table: String,
    /// The domain that claimed it first.
    pub first: &'static str,
    /// The domain that claimed it again.
    pub second: &'static str,
}

/// The tables of a set of domains, free of name collisions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    tables: Vec<TableDef>,
}

/// Collects domains into a [`Schema`]; collisions are reported by [`SchemaBuilder::build`].
#[derive(Clone, Debug, Default)]
pub struct SchemaBuilder {
    tables: Vec<TableDef>,
}

impl SchemaBuilder {
    /// Adds a domain's tables.
    pub fn domain<D: Domain>(mut self) -> Self {
        self.tables.extend(tables_of_domain::<D>());
        self
    }

    /// Adds the tables of a domain given by name and fields (for tools that work on metadata).
    pub fn tables_of(mut self, domain: &'static str, fields: &[ColumnDef]) -> Self {
        self.tables.extend(domain_tables(domain, fields));
        self
    }

    /// Checks that no two tables share a name.
    pub fn build(self) -> Result<Schema, SchemaError> {
        let mut seen: BTreeMap<&str, &'static str> = BTreeMap::new();
        for t in &self.tables {
            if let Some(first) = seen.insert(&t.name, t.domain) {
                return Err(SchemaError {
                    table: t.name.clone(),
                    first,
                    second: t.domain,
                });
            }
        }
        Ok(Schema {
            tables: self.tables,
        })
    }
}

impl Schema {
    /// Starts a schema.
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    /// The schema of a single domain.
    pub fn of<D: Domain>() -> Schema {
        Schema {
            tables: tables_of_domain::<D>(),
        }
    }

    /// Every table, domain by domain.
    pub fn tables(&self) -> &[TableDef] {
        &self.tables
    }

    /// The tables a database on `side` holds.
    pub fn tables_on(&self, side: Side) -> impl Iterator<Item = &TableDef> {
        self.tables.iter().filter(move |t| t.role.is_on(side))
    }

    /// Idempotent DDL (`CREATE … IF NOT EXISTS`) for the tables on `side`.
    pub fn ddl(&self, dialect: Dialect, side: Side) -> String {
        self.tables_on(side)
            .map(|t| ddl::create_table(dialect, t))
            .collect()
    }
}

/// The columns of `table` in a SQLite database's catalog; empty when the table does not exist.
pub(crate) fn sqlite_catalog(
    conn: &rusqlite::Connection,
    table: &str,
) -> rusqlite::Result<Vec<ExistingColumn>> {
    let mut stmt =
        conn.prepare("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?1)")?;
    stmt.query_map([table], |r| {
        Ok(ExistingColumn {
            name: r.get(0)?,
            declared_type: r.get(1)?,
            nullable: r.get::<_, i64>(2)? == 0,
            has_default: r.get::<_, Option<String>>(3)?.is_some(),
        })
    })?
    .collect()
}

/// Brings the tables of `schema` on `side` of a SQLite database to the schema's layout in one
/// transaction (`BEGIN IMMEDIATE`): creates missing tables, applies each table's
/// [`MigrationPlan`], runs `finally` (more statements, e.g. filling a new table from existing
/// ones; may be empty) and records each domain's fingerprint in [`SCHEMA_TABLE`]. When every
/// domain is already recorded with its current fingerprint, it only reads that table (so
/// `finally` runs once per layout change). The outer error is SQLite's; the inner one a
/// refused change. Either way the transaction is rolled back and nothing changes.
pub(crate) fn migrate_sqlite(
    conn: &rusqlite::Connection,
    schema: &Schema,
    side: Side,
    finally: &str,
) -> rusqlite::Result<Result<(), MigrationError>> {
    let current = schema.fingerprints(side);
    if plan_schema_records(&sqlite_recorded(conn, side)?, &current).is_empty() {
        return Ok(Ok(()));
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let records = plan_schema_records(&sqlite_recorded(&tx, side)?, &current);
    if records.is_empty() {
        return tx.commit().map(Ok);
    }
    tx.execute_batch(&schema_table_ddl(Dialect::Sqlite))?;
    tx.execute_batch(&schema.ddl(Dialect::Sqlite, side))?;
    for table in schema.tables_on(side) {
        let existing = sqlite_catalog(&tx, &table.name)?;
        match plan_migration(Dialect::Sqlite, table, &existing) {
            Ok(plan) => {
                for statement in plan.statements(Dialect::Sqlite) {
                    tx.execute_batch(&statement)?;
                }
            }
            // Dropping `tx` rolls back the tables created above too.
            Err(refused) => return Ok(Err(refused)),
        }
    }
    tx.execute_batch(finally)?;
    write_sqlite_records(&tx, side, &records)?;
    tx.commit()?;
    Ok(Ok(()))
}

/// Writes schema records (inside the migration's transaction).
pub(crate) fn write_sqlite_records(
    conn: &rusqlite::Connection,
    side: Side,
    records: &[SchemaRecord],
) -> rusqlite::Result<()> {
    let mut upsert = conn.prepare(&format!(
        "INSERT INTO {} (domain, side, fingerprint, version, migrated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (domain, side) DO UPDATE SET \
         fingerprint = excluded.fingerprint, version = excluded.version, \
         migrated_at = excluded.migrated_at",
        quote(SCHEMA_TABLE)
    ))?;
    for r in records {
        upsert.execute(rusqlite::params![
            r.domain,
            side.as_str(),
            r.fingerprint,
            r.version,
            crate::intent::now_millis()
        ])?;
    }
    Ok(())
}

/// The schema records of `side` in a SQLite database; empty when it has none yet.
pub(crate) fn sqlite_recorded(
    conn: &rusqlite::Connection,
    side: Side,
) -> rusqlite::Result<Vec<RecordedSchema>> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [SCHEMA_TABLE],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT domain, fingerprint, version FROM {} WHERE side = ?1",
        quote(SCHEMA_TABLE)
    ))?;
    stmt.query_map([side.as_str()], |r| {
        Ok(RecordedSchema {
            domain: r.get(0)?,
            fingerprint: r.get(1)?,
            version: r.get(2)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::RESERVED_COLUMNS;

    /// The derive's copy of the list, in `sai-derive/src/sql_ident.rs`, is read from its
    /// source: sai-derive cannot depend on sai, which depends on it.
    #[test]
    fn the_derive_reserves_the_same_columns() {
        let source = include_str!("../../../sai-derive/src/sql_ident.rs");
        let declaration = "pub const RESERVED_COLUMNS: &[&str] = &[";
        let start = source
            .find(declaration)
            .expect("sai-derive declares RESERVED_COLUMNS as a `&[&str]` literal")
            + declaration.len();
        let end = start + source[start..].find(']').expect("the list ends");
        let derive_list: Vec<&str> = source[start..end]
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| name.trim_matches('"'))
            .collect();
        assert_eq!(
            derive_list, RESERVED_COLUMNS,
            "sai-derive's RESERVED_COLUMNS differs from sai::schema::RESERVED_COLUMNS"
        );
    }
}
