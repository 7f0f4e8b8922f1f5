//! Row codecs of the client tables: a selected row into a typed projection or logged intent,
//! and the cell readers that say which row of which table is corrupt.

use rusqlite::Row;
use rusqlite::types::{Value, ValueRef};
use uuid::Uuid;

use super::{DomainSql, Logged};
use crate::client::error::{ClientError, Result};
use crate::client::projection::Projection;
use crate::domain::{Domain, EventOf};
use crate::intent::row::IntentRow;
use crate::machine::Machine;
use crate::snapshot::Snapshot;
use crate::value::SqlValue;

impl<D: Domain> DomainSql<D> {
    /// Decodes a row selected as `id, state, version, owner_id, updated_at, fields…`.
    pub(super) fn decode_projection(
        &self,
        row: &Row<'_>,
        table: &str,
        optimistic: bool,
    ) -> Result<Projection<D>> {
        let id_text = text_cell(row, 0, table, "?")?;
        let entity_id = Uuid::parse_str(&id_text)
            .map_err(|e| ClientError::corrupt(table, &id_text, format!("id is not a UUID: {e}")))?;
        // The server's rows may come from a newer version of the domain (the device's
        // app is older): what this version cannot read says so. Local rows are this
        // version's own writing, so there it means corruption.
        let unreadable = |detail: String| {
            if optimistic {
                ClientError::corrupt(table, &id_text, detail)
            } else {
                ClientError::ServerAhead {
                    domain: D::NAME,
                    table: table.to_owned(),
                    id: id_text.clone(),
                    detail,
                }
            }
        };
        let state_name = text_cell(row, 1, table, &id_text)?;
        let state = D::Machine::parse_state(&state_name).map_err(|e| unreadable(e.to_string()))?;
        let version = u64::try_from(int_cell(row, 2, table, &id_text)?)
            .map_err(|_| ClientError::corrupt(table, &id_text, "negative version"))?;
        let owner_id = text_cell(row, 3, table, &id_text)?;
        let updated_at = int_cell(row, 4, table, &id_text)?;
        let mut cells = Vec::with_capacity(self.field_count);
        for i in 0..self.field_count {
            let cell: SqlValue = row
                .get(5 + i)
                .map_err(|e| unreadable(format!("column {}: {e}", D::COLUMNS[i].name)))?;
            cells.push(cell);
        }
        let context = D::from_row(cells).map_err(|e| unreadable(e.to_string()))?;
        Ok(Projection {
            entity_id,
            snapshot: Snapshot {
                state,
                context,
                version,
            },
            owner_id,
            updated_at,
            optimistic,
        })
    }

    /// Decodes a log row straight into a typed intent: the hot path of restore and
    /// reconcile. The nine intent columns are read in place by the one intent-row reader
    /// ([`IntentRow`]), so only the owned fields allocate; the client's `base_version`
    /// follows at index 9. `entity`: the entity the query selected the row by, if it did.
    pub(super) fn decode_logged(&self, row: &Row<'_>, entity: Option<Uuid>) -> Result<Logged<D>> {
        let table = Self::table_name(&self.local_intents);
        let read = match entity {
            Some(entity) => IntentRow::read_of(row, entity),
            None => IntentRow::read(row),
        }
        .map_err(|e| ClientError::corrupt(table, e.id, format!("`{}` {}", e.column, e.detail)))?;
        // NULL where the log is a PowerSync view written without it: 0 is always a valid bound.
        let base_version = match row.get_ref(9)? {
            ValueRef::Null => 0,
            ValueRef::Integer(n) => u64::try_from(n).map_err(|_| {
                ClientError::corrupt(table, read.id.to_string(), "negative base_version")
            })?,
            other => {
                return Err(ClientError::corrupt(
                    table,
                    read.id.to_string(),
                    format!(
                        "base_version should be INTEGER, found {:?}",
                        other.data_type()
                    ),
                ));
            }
        };
        let intent =
            read.decode::<EventOf<D>>()
                .map_err(|source| ClientError::UndecodableIntent {
                    table: table.to_owned(),
                    id: read.id,
                    source,
                })?;
        Ok(Logged {
            intent,
            base_version,
        })
    }
}

pub(crate) fn text_cell(row: &Row<'_>, idx: usize, table: &str, id: &str) -> Result<String> {
    match row.get::<_, Value>(idx)? {
        Value::Text(s) => Ok(s),
        other => Err(ClientError::corrupt(
            table,
            id,
            format!("column {idx} should be TEXT, found {other:?}"),
        )),
    }
}

pub(crate) fn int_cell(row: &Row<'_>, idx: usize, table: &str, id: &str) -> Result<i64> {
    match row.get::<_, Value>(idx)? {
        Value::Integer(n) => Ok(n),
        other => Err(ClientError::corrupt(
            table,
            id,
            format!("column {idx} should be INTEGER, found {other:?}"),
        )),
    }
}

pub(crate) fn opt_int_cell(
    row: &Row<'_>,
    idx: usize,
    table: &str,
    id: &str,
) -> Result<Option<i64>> {
    match row.get::<_, Value>(idx)? {
        Value::Null => Ok(None),
        Value::Integer(n) => Ok(Some(n)),
        other => Err(ClientError::corrupt(
            table,
            id,
            format!("column {idx} should be INTEGER or NULL, found {other:?}"),
        )),
    }
}
