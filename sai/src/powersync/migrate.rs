//! Migrating a PowerSync client's tables when it opens.
//!
//! PowerSync keeps each table's rows as JSON objects in `ps_data__{name}` (synced tables) or
//! `ps_data_local__{name}` (local-only tables), behind a view it regenerates from the client
//! schema: a new column appears by itself, reading `NULL` where a row lacks its key. What a
//! view cannot do is move data, so the declared changes are applied to the JSON: a renamed
//! column's values move to the new key, a new column with a declared default fills rows
//! that lack it, a dropped column's key is removed. Every statement only touches rows that
//! still need it, so applying them twice changes nothing; they run in one transaction with
//! the schema record, and an unchanged schema only reads the record.

use rusqlite::Connection;

use crate::schema::{
    Dialect, ExistingColumn, MigrationError, MigrationStep, Schema, Side, SyncDirection, TableDef,
    plan_migration, plan_schema_records, schema_table_ddl, sqlite_recorded, write_sqlite_records,
};
use crate::value::ColumnType;

/// Where PowerSync stores a table's rows; `None` for tables it stores nowhere (the
/// insert-only upload queue) or that never reach the client.
fn storage_table(t: &TableDef) -> Option<String> {
    match t.role.sync() {
        SyncDirection::Down => Some(format!("ps_data__{}", t.name)),
        SyncDirection::ClientOnly => Some(format!("ps_data_local__{}", t.name)),
        SyncDirection::Up | SyncDirection::ServerOnly => None,
    }
}

/// The keys one table's stored rows hold, each with the JSON types of its values (`null`
/// left out); empty when the table does not exist yet or holds no row.
fn stored_keys(conn: &Connection, storage: &str) -> rusqlite::Result<Vec<(String, Vec<String>)>> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [storage],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut select = conn.prepare(&format!(
        "SELECT j.key, group_concat(DISTINCT j.type) FROM {}, json_each(data) AS j \
         GROUP BY j.key ORDER BY j.key",
        crate::schema::quote(storage)
    ))?;
    select
        .query_map([], |r| {
            let types: String = r.get(1)?;
            let types = types
                .split(',')
                .filter(|t| *t != "null")
                .map(str::to_owned)
                .collect();
            Ok((r.get(0)?, types))
        })?
        .collect()
}

/// Whether values of these JSON types read as a column of type `ty` (an integral value
/// reads as a real; a boolean as an integer).
fn reads_as(json_types: &[String], ty: ColumnType) -> bool {
    json_types.iter().all(|t| match ty {
        ColumnType::Text => t == "text",
        ColumnType::Integer => matches!(t.as_str(), "integer" | "true" | "false"),
        ColumnType::Real => matches!(t.as_str(), "integer" | "real"),
    })
}

/// The stored keys as a catalog, so that the stored JSON is planned by the one
/// [`plan_migration`] the other stores use: a key is a nullable column of the type its
/// values have, `id` (kept beside the JSON) is always there. No row: no table to migrate.
fn stored_catalog(table: &TableDef, keys: &[(String, Vec<String>)]) -> Vec<ExistingColumn> {
    if keys.is_empty() {
        return Vec::new();
    }
    let id = ExistingColumn {
        name: "id".to_owned(),
        declared_type: ColumnType::Text.sqlite().to_owned(),
        nullable: false,
        has_default: false,
    };
    let columns = keys.iter().map(|(key, json_types)| {
        let column = table
            .columns
            .iter()
            .find(|c| c.name == key || c.was == Some(key.as_str()));
        let declared_type = match column {
            Some(c) if reads_as(json_types, c.ty) => c.ty.sqlite(),
            _ => match json_types.first().map(String::as_str) {
                Some("integer" | "true" | "false") => ColumnType::Integer.sqlite(),
                Some("real") => ColumnType::Real.sqlite(),
                _ => ColumnType::Text.sqlite(),
            },
        };
        ExistingColumn {
            name: key.clone(),
            declared_type: declared_type.to_owned(),
            nullable: true,
            has_default: false,
        }
    });
    std::iter::once(id).chain(columns).collect()
}

/// The JSON rewrites that bring the rows PowerSync stores to the schema's layout, planned by
/// [`plan_migration`] from the keys the rows hold: a renamed column's values move to the new
/// key, a new column with a declared default fills the rows, a declared drop removes its key.
/// An unsafe change (a type change, a new required field without a default, a rename onto a
/// key that is there) is refused as on the other stores. Reads only.
pub(crate) fn json_migration(
    conn: &Connection,
    schema: &Schema,
) -> rusqlite::Result<Result<Vec<String>, MigrationError>> {
    let mut statements = Vec::new();
    for t in schema.tables() {
        let Some(storage) = storage_table(t) else {
            continue;
        };
        let catalog = stored_catalog(t, &stored_keys(conn, &storage)?);
        let plan = match plan_migration(Dialect::Sqlite, t, &catalog) {
            Ok(plan) => plan,
            Err(refused) => return Ok(Err(refused)),
        };
        let table = crate::schema::quote(&storage);
        for step in &plan.steps {
            match step {
                MigrationStep::RenameColumn { from, to } => {
                    let (old, key) = (format!("'$.{from}'"), format!("'$.{to}'"));
                    statements.push(format!(
                        "UPDATE {table} SET data = json_remove(json_set(data, {key}, \
                         json_extract(data, {old})), {old}) WHERE json_type(data, {old}) IS NOT NULL"
                    ));
                }
                MigrationStep::AddColumn(c) => {
                    // Without a default the view reads `NULL` where a row lacks the key.
                    let Some(default) = c.default else { continue };
                    let literal = default.literal().map_err(|e| e.0);
                    let Ok(literal) = literal else {
                        unreachable!("plan_migration refuses a default without a literal")
                    };
                    let key = format!("'$.{}'", c.name);
                    statements.push(format!(
                        "UPDATE {table} SET data = json_set(data, {key}, {literal}) \
                         WHERE json_type(data, {key}) IS NULL"
                    ));
                }
                MigrationStep::DropColumn(name) => {
                    let key = format!("'$.{name}'");
                    statements.push(format!(
                        "UPDATE {table} SET data = json_remove(data, {key}) \
                         WHERE json_type(data, {key}) IS NOT NULL"
                    ));
                }
            }
        }
    }
    Ok(Ok(statements))
}

/// Whether the stored rows can be brought to `schema`'s layout: the refusal, if any, before
/// anything (PowerSync's views included) is changed. Reads only; `Ok(Ok(()))` also when the
/// recorded fingerprints already match.
pub(crate) fn check_powersync(
    conn: &Connection,
    schema: &Schema,
) -> rusqlite::Result<Result<(), MigrationError>> {
    let current = schema.fingerprints(Side::Client);
    if plan_schema_records(&sqlite_recorded(conn, Side::Client)?, &current).is_empty() {
        return Ok(Ok(()));
    }
    Ok(json_migration(conn, schema)?.map(drop))
}

/// Applies [`json_migration`] and records the schema, in one `BEGIN IMMEDIATE` transaction,
/// unless the recorded fingerprints already match. Call after PowerSync applied its schema.
pub(crate) fn migrate_powersync(
    conn: &Connection,
    schema: &Schema,
) -> rusqlite::Result<Result<(), MigrationError>> {
    let current = schema.fingerprints(Side::Client);
    if plan_schema_records(&sqlite_recorded(conn, Side::Client)?, &current).is_empty() {
        return Ok(Ok(()));
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let records = plan_schema_records(&sqlite_recorded(&tx, Side::Client)?, &current);
    if !records.is_empty() {
        // Planned under the lock: another opener may have migrated meanwhile.
        let statements = match json_migration(&tx, schema)? {
            Ok(s) => s,
            Err(refused) => return Ok(Err(refused)),
        };
        tx.execute_batch(&schema_table_ddl(Dialect::Sqlite))?;
        for statement in statements {
            tx.execute_batch(&statement)?;
        }
        write_sqlite_records(&tx, Side::Client, &records)?;
    }
    tx.commit()?;
    Ok(Ok(()))
}
