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
    Dialect, MigrationError, Schema, Side, SyncDirection, TableDef, plan_schema_records,
    schema_table_ddl, sqlite_recorded, write_sqlite_records,
};

/// Where PowerSync stores a table's rows; `None` for tables it stores nowhere (the
/// insert-only upload queue) or that never reach the client.
fn storage_table(t: &TableDef) -> Option<String> {
    match t.role.sync() {
        SyncDirection::Down => Some(format!("ps_data__{}", t.name)),
        SyncDirection::ClientOnly => Some(format!("ps_data_local__{}", t.name)),
        SyncDirection::Up | SyncDirection::ServerOnly => None,
    }
}

/// The JSON rewrites that apply the schema's declared renames, defaults and drops to the
/// rows PowerSync stores. Pure; refuses a default without a SQL literal.
pub(crate) fn json_migration(schema: &Schema) -> Result<Vec<String>, MigrationError> {
    let mut statements = Vec::new();
    for t in schema.tables() {
        let Some(storage) = storage_table(t) else {
            continue;
        };
        let table = crate::schema::quote(&storage);
        for c in &t.columns {
            let key = format!("'$.{}'", c.name);
            if let Some(was) = c.was {
                let old = format!("'$.{was}'");
                statements.push(format!(
                    "UPDATE {table} SET data = json_remove(json_set(data, {key}, \
                     json_extract(data, {old})), {old}) \
                     WHERE json_type(data, {old}) IS NOT NULL AND json_type(data, {key}) IS NULL"
                ));
            }
            if let Some(default) = c.default {
                let literal =
                    default
                        .literal()
                        .map_err(|e| MigrationError::UnrepresentableDefault {
                            table: t.name.clone(),
                            column: c.name,
                            value: format!("{:?}", e.0),
                        })?;
                statements.push(format!(
                    "UPDATE {table} SET data = json_set(data, {key}, {literal}) \
                     WHERE json_type(data, {key}) IS NULL"
                ));
            }
        }
        for dropped in &t.dropped {
            let key = format!("'$.{dropped}'");
            statements.push(format!(
                "UPDATE {table} SET data = json_remove(data, {key}) \
                 WHERE json_type(data, {key}) IS NOT NULL"
            ));
        }
    }
    Ok(statements)
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
    let statements = match json_migration(schema) {
        Ok(s) => s,
        Err(refused) => return Ok(Err(refused)),
    };
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let records = plan_schema_records(&sqlite_recorded(&tx, Side::Client)?, &current);
    if !records.is_empty() {
        tx.execute_batch(&schema_table_ddl(Dialect::Sqlite))?;
        for statement in statements {
            tx.execute_batch(&statement)?;
        }
        write_sqlite_records(&tx, Side::Client, &records)?;
    }
    tx.commit()?;
    Ok(Ok(()))
}
