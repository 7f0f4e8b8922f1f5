//! The PowerSync client schema for a set of domains.

use powersync::schema::{Column, ColumnType as PsColumnType, Index, IndexedColumn, Table};

use crate::schema::{Schema, SyncDirection, TableDef};
use crate::value::ColumnType;

/// The PowerSync client `Schema` of a set of domains:
///
/// - the server's tables that clients read (projections, rejections, acknowledgements) as
///   synced tables, read-only on the client;
/// - the intent upload queue `{name}_intent_events` as an insert-only table: a row written
///   there goes straight to the upload queue (`ps_crud`) and keeps nothing locally;
/// - the local intent log and optimistic projection as local-only tables, which PowerSync
///   never uploads and never overwrites.
///
/// The server's archive never reaches clients and is left out.
pub fn client_schema(schema: &Schema) -> powersync::schema::Schema {
    let tables = schema
        .tables()
        .iter()
        .filter_map(|t| {
            let (local_only, insert_only) = match t.role.sync() {
                SyncDirection::ServerOnly => return None,
                SyncDirection::Up => (false, true),
                SyncDirection::Down => (false, false),
                SyncDirection::ClientOnly => (true, false),
            };
            Some(Table::create(t.name.clone(), columns(t), |table| {
                table.options.local_only = local_only;
                table.options.insert_only = insert_only;
                if !insert_only {
                    table.indexes = indexes(t);
                }
            }))
        })
        .collect();
    powersync::schema::Schema {
        tables,
        raw_tables: Vec::new(),
    }
}

fn columns(t: &TableDef) -> Vec<Column> {
    // PowerSync adds `id TEXT` itself and rejects a declared one.
    t.columns
        .iter()
        .filter(|c| c.name != "id")
        .map(|c| Column {
            name: c.name.into(),
            column_type: ps_type(c.ty),
        })
        .collect()
}

fn indexes(t: &TableDef) -> Vec<Index> {
    t.unique
        .iter()
        .chain(&t.indexes)
        .map(|cols| Index {
            name: cols.join("_").into(),
            columns: cols
                .iter()
                .map(|c| IndexedColumn {
                    name: (*c).into(),
                    ascending: true,
                    type_name: t
                        .columns
                        .iter()
                        .find(|col| col.name == *c)
                        .map_or("TEXT", |col| col.ty.sqlite())
                        .into(),
                })
                .collect(),
        })
        .collect()
}

fn ps_type(ty: ColumnType) -> PsColumnType {
    match ty {
        ColumnType::Text => PsColumnType::Text,
        ColumnType::Integer => PsColumnType::Integer,
        ColumnType::Real => PsColumnType::Real,
    }
}
