//! Rejections: the server's rejections of this device's intents, which of them were
//! surfaced to listeners, and which the user cleared. The rules (belonging, exactly-once
//! surfacing) are stated in the [`client`](super) module docs.
//!
//! Rejections arrive in the synced table `{name}_intent_events_rejected`, read-only on a
//! PowerSync client; this device's bookkeeping lives in `{name}_rejections_local`.

use rusqlite::{Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::error::{ClientError, Result};
use super::tables::{int_cell, opt_int_cell, text_cell};
use crate::event::Event;
use crate::intent::now_millis;
use crate::intent::{DecodeError, Timestamp, decode_event};
use crate::rejection::Rejection;
use crate::schema::TableRole;

/// A server rejection of one of this device's intents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRejection {
    /// The rejected intent's id (also the rejection's id).
    pub intent_id: Uuid,
    /// The entity.
    pub entity_id: Uuid,
    /// The client that sent the intent.
    pub client_id: String,
    /// The intent's sequence number.
    pub seq: u64,
    /// The user who sent the intent.
    pub user_id: String,
    /// The event's type name.
    pub event_type: String,
    /// The event's payload version.
    pub event_version: u32,
    /// The event as JSON, as it was sent: what the user tried to do (see
    /// [`event`](Self::event)), to show it or to offer it again.
    pub payload: String,
    /// When the client created the intent (ms since the epoch).
    pub created_at: Timestamp,
    /// The stable rejection code (`guard_failed`, …).
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// The full [`Rejection`] as JSON, as the server stored it.
    pub reason: String,
    /// The state the entity was in, if the step got that far.
    pub state: Option<String>,
    /// When the server rejected it (ms since the epoch).
    pub rejected_at: Timestamp,
    /// Whether listeners were already told.
    pub surfaced: bool,
}

impl StoredRejection {
    /// The structured rejection. Fails on a reason this build does not know (for example a
    /// code added by a newer server); `code` and `message` are always available.
    pub fn rejection(&self) -> Result<Rejection, serde_json::Error> {
        serde_json::from_str(&self.reason)
    }

    /// The rejected event, decoded. Fails as the server's decoding did when the rejection
    /// is itself about an undecodable intent.
    pub fn event<E: Event>(&self) -> Result<E, DecodeError> {
        decode_event(&self.event_type, self.event_version, &self.payload)
    }
}

/// Which bookkeeping timestamp of `{name}_rejections_local` to set.
#[derive(Clone, Copy)]
enum Mark {
    Surfaced,
    Cleared,
}

/// Lists, surfaces and clears one domain's rejections, with every statement rendered once
/// (when the domain is registered). Works on any `rusqlite::Connection`.
pub(crate) struct RejectionSql {
    /// The synced rejection table, unquoted (for error messages).
    table: String,
    select_of_entity: String,
    select_all: String,
    select_unsurfaced: String,
    select_entity_of: String,
    select_bookkeeping: String,
    update_surfaced: String,
    update_cleared: String,
    insert_surfaced: String,
    insert_cleared: String,
}

impl RejectionSql {
    /// Renders the statements of `domain`'s rejection tables.
    pub(crate) fn new(domain: &str) -> Self {
        let rejected = format!("\"{}\"", TableRole::Rejected.table_name(domain));
        let seq = format!("\"{}\"", TableRole::LocalSequence.table_name(domain));
        let local = format!("\"{}\"", TableRole::LocalRejections.table_name(domain));
        let acks = format!("\"{}\"", TableRole::ClientAcks.table_name(domain));
        let select = format!(
            "SELECT r.id, r.entity_id, r.client_id, r.seq, r.event_type, r.code, r.message, \
             r.reason, r.state, r.rejected_at, l.surfaced_at, r.user_id, r.event_version, \
             r.payload, r.created_at \
             FROM {rejected} r JOIN {seq} c ON c.id = r.client_id \
             JOIN {acks} a ON a.id = r.client_id AND a.user_id = r.user_id \
             LEFT JOIN {local} l ON l.id = r.id \
             WHERE l.cleared_at IS NULL"
        );
        let order = "ORDER BY r.rejected_at, r.client_id, r.seq";
        let update = |column: &str| {
            format!("UPDATE {local} SET {column} = COALESCE({column}, ?2) WHERE id = ?1")
        };
        let insert = |column: &str| {
            format!("INSERT INTO {local} (id, entity_id, {column}) VALUES (?1, ?2, ?3)")
        };
        RejectionSql {
            table: TableRole::Rejected.table_name(domain),
            select_of_entity: format!("{select} AND r.entity_id = ?1 {order}"),
            select_all: format!("{select} {order}"),
            select_unsurfaced: format!("{select} AND l.surfaced_at IS NULL {order}"),
            select_entity_of: format!("SELECT entity_id FROM {rejected} WHERE id = ?1"),
            select_bookkeeping: format!("SELECT 1 FROM {local} WHERE id = ?1"),
            update_surfaced: update("surfaced_at"),
            update_cleared: update("cleared_at"),
            insert_surfaced: insert("surfaced_at"),
            insert_cleared: insert("cleared_at"),
        }
    }

    /// The rejections `sql` selects; a row that does not read fails the query.
    fn query(
        &self,
        conn: &Connection,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredRejection>> {
        self.query_rows(conn, sql, args)?.into_iter().collect()
    }

    /// Each row `sql` selects, read or not.
    fn query_rows(
        &self,
        conn: &Connection,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Result<StoredRejection>>> {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(args)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(self.decode(row));
        }
        Ok(out)
    }

    fn decode(&self, row: &Row<'_>) -> Result<StoredRejection> {
        let table = self.table.as_str();
        let id_text = text_cell(row, 0, table, "?")?;
        let uuid = |text: &str, what: &str| {
            Uuid::parse_str(text).map_err(|e| {
                ClientError::corrupt(table, &id_text, format!("{what} is not a UUID: {e}"))
            })
        };
        let state = match row.get::<_, rusqlite::types::Value>(8)? {
            rusqlite::types::Value::Null => None,
            rusqlite::types::Value::Text(s) => Some(s),
            other => {
                return Err(ClientError::corrupt(
                    table,
                    &id_text,
                    format!("state is {other:?}"),
                ));
            }
        };
        Ok(StoredRejection {
            intent_id: uuid(&id_text, "id")?,
            entity_id: uuid(&text_cell(row, 1, table, &id_text)?, "entity_id")?,
            client_id: text_cell(row, 2, table, &id_text)?,
            seq: u64::try_from(int_cell(row, 3, table, &id_text)?)
                .map_err(|_| ClientError::corrupt(table, &id_text, "negative seq"))?,
            user_id: text_cell(row, 11, table, &id_text)?,
            event_type: text_cell(row, 4, table, &id_text)?,
            event_version: u32::try_from(int_cell(row, 12, table, &id_text)?)
                .map_err(|_| ClientError::corrupt(table, &id_text, "event_version out of range"))?,
            payload: text_cell(row, 13, table, &id_text)?,
            created_at: int_cell(row, 14, table, &id_text)?,
            code: text_cell(row, 5, table, &id_text)?,
            message: text_cell(row, 6, table, &id_text)?,
            reason: text_cell(row, 7, table, &id_text)?,
            state,
            rejected_at: int_cell(row, 9, table, &id_text)?,
            surfaced: opt_int_cell(row, 10, table, &id_text)?.is_some(),
        })
    }

    /// The entity's rejections that were not cleared, oldest first.
    pub(crate) fn rejections(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Vec<StoredRejection>> {
        self.query(conn, &self.select_of_entity, &[&entity_id.to_string()])
    }

    /// Every rejection of the domain that was not cleared, oldest first.
    pub(crate) fn all_rejections(&self, conn: &Connection) -> Result<Vec<StoredRejection>> {
        self.query(conn, &self.select_all, &[])
    }

    /// Rejections not yet surfaced (nor cleared), oldest first. A synced row that does not
    /// read is left where it is, unsurfaced, so it blocks neither the others nor
    /// reconciliation; the listings ([`all_rejections`](Self::all_rejections)) report it.
    pub(crate) fn unsurfaced(&self, conn: &Connection) -> Result<Vec<StoredRejection>> {
        let rows = self.query_rows(conn, &self.select_unsurfaced, &[])?;
        Ok(rows.into_iter().filter_map(Result::ok).collect())
    }

    /// Marks rejections as surfaced. Run it in the transaction that selected them, and tell
    /// listeners after it commits.
    pub(crate) fn mark_surfaced(
        &self,
        conn: &Connection,
        rejections: &[StoredRejection],
    ) -> Result<()> {
        let now = now_millis();
        for r in rejections {
            self.mark(
                conn,
                Mark::Surfaced,
                r.intent_id,
                &r.entity_id.to_string(),
                now,
            )?;
        }
        Ok(())
    }

    /// Clears a rejection: it is no longer listed (the synced row itself is read-only and
    /// stays). Returns whether such a rejection exists.
    pub(crate) fn clear_rejection(&self, conn: &Connection, intent_id: Uuid) -> Result<bool> {
        let entity: Option<rusqlite::types::Value> = conn
            .prepare_cached(&self.select_entity_of)?
            .query_row([intent_id.to_string()], |r| r.get(0))
            .optional()?;
        let Some(entity) = entity else {
            return Ok(false);
        };
        let rusqlite::types::Value::Text(entity) = entity else {
            return Err(ClientError::corrupt(
                &self.table,
                intent_id.to_string(),
                "entity_id is not TEXT",
            ));
        };
        self.mark(conn, Mark::Cleared, intent_id, &entity, now_millis())?;
        Ok(true)
    }

    /// Sets a bookkeeping timestamp once (UPDATE or INSERT after a lookup: plain statements
    /// that also work where the table is a view, as PowerSync's local-only tables are).
    fn mark(
        &self,
        conn: &Connection,
        mark: Mark,
        intent_id: Uuid,
        entity_id: &str,
        at: Timestamp,
    ) -> Result<()> {
        let id = intent_id.to_string();
        let (update, insert) = match mark {
            Mark::Surfaced => (&self.update_surfaced, &self.insert_surfaced),
            Mark::Cleared => (&self.update_cleared, &self.insert_cleared),
        };
        if conn
            .prepare_cached(&self.select_bookkeeping)?
            .exists([&id])?
        {
            conn.prepare_cached(update)?
                .execute(rusqlite::params![id, at])?;
        } else {
            conn.prepare_cached(insert)?
                .execute(rusqlite::params![id, entity_id, at])?;
        }
        Ok(())
    }
}
