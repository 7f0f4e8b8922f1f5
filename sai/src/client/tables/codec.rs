//! Row codecs of the client tables: a selected row into a typed projection or logged intent,
//! and the cell readers that say which row of which table is corrupt.

use rusqlite::Row;
use rusqlite::types::{Value, ValueRef};
use uuid::Uuid;

use super::{DomainSql, Logged};
use crate::client::error::{ClientError, Result};
use crate::client::projection::Projection;
use crate::domain::{Domain, EventOf};
use crate::intent::{Intent, decode_event};
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
        let state_name = text_cell(row, 1, table, &id_text)?;
        let state = D::Machine::from_name(&state_name).ok_or_else(|| {
            ClientError::corrupt(
                table,
                &id_text,
                format!("machine `{}` has no state `{state_name}`", D::Machine::NAME),
            )
        })?;
        let version = u64::try_from(int_cell(row, 2, table, &id_text)?)
            .map_err(|_| ClientError::corrupt(table, &id_text, "negative version"))?;
        let owner_id = text_cell(row, 3, table, &id_text)?;
        let updated_at = int_cell(row, 4, table, &id_text)?;
        let mut cells = Vec::with_capacity(self.field_count);
        for i in 0..self.field_count {
            let cell: SqlValue = row.get(5 + i).map_err(|e| {
                ClientError::corrupt(
                    table,
                    &id_text,
                    format!("column {}: {e}", D::COLUMNS[i].name),
                )
            })?;
            cells.push(cell);
        }
        let context =
            D::from_row(cells).map_err(|e| ClientError::corrupt(table, &id_text, e.to_string()))?;
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
    /// reconcile, so cells are borrowed and only the owned fields allocate. The checks are
    /// those of [`RawIntent::decode`](crate::RawIntent::decode).
    pub(super) fn decode_logged(&self, row: &Row<'_>) -> Result<Logged<D>> {
        let table = Self::table_name(&self.local_intents);
        let id_bytes = text_ref(row, 0, table, "?")?;
        let id = Uuid::try_parse_ascii(id_bytes).map_err(|e| {
            ClientError::corrupt(table, lossy(id_bytes), format!("id is not a UUID: {e}"))
        })?;
        let corrupt = |detail: String| ClientError::corrupt(table, id.to_string(), detail);
        let text = |idx: usize| -> Result<&str> {
            match row.get_ref(idx)? {
                ValueRef::Text(bytes) => {
                    std::str::from_utf8(bytes).map_err(|e| corrupt(format!("column {idx}: {e}")))
                }
                other => Err(corrupt(format!(
                    "column {idx} should be TEXT, found {:?}",
                    other.data_type()
                ))),
            }
        };
        let int = |idx: usize| -> Result<i64> {
            match row.get_ref(idx)? {
                ValueRef::Integer(n) => Ok(n),
                other => Err(corrupt(format!(
                    "column {idx} should be INTEGER, found {:?}",
                    other.data_type()
                ))),
            }
        };
        let entity_id = Uuid::try_parse_ascii(text(1)?.as_bytes())
            .map_err(|e| corrupt(format!("entity_id is not a UUID: {e}")))?;
        let seq = u64::try_from(int(4)?).map_err(|_| corrupt("negative seq".into()))?;
        let event_version =
            u32::try_from(int(6)?).map_err(|_| corrupt("event_version out of range".into()))?;
        // NULL where the log is a PowerSync view written without it: 0 is always a valid bound.
        let base_version = match row.get_ref(9)? {
            ValueRef::Null => 0,
            _ => u64::try_from(int(9)?).map_err(|_| corrupt("negative base_version".into()))?,
        };
        let event =
            decode_event::<EventOf<D>>(text(5)?, event_version, text(7)?).map_err(|source| {
                ClientError::UndecodableIntent {
                    table: table.to_owned(),
                    id,
                    source,
                }
            })?;
        Ok(Logged {
            intent: Intent {
                id,
                entity_id,
                client_id: text(2)?.to_owned(),
                user_id: text(3)?.to_owned(),
                seq,
                event_version,
                event,
                created_at: int(8)?,
            },
            base_version,
        })
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn text_ref<'r>(row: &'r Row<'_>, idx: usize, table: &str, id: &str) -> Result<&'r [u8]> {
    match row.get_ref(idx)? {
        ValueRef::Text(t) => Ok(t),
        other => Err(ClientError::corrupt(
            table,
            id,
            format!("column {idx} should be TEXT, found {:?}", other.data_type()),
        )),
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
