//! The SQL of one domain's client tables, rendered once per domain, and the queries and
//! writes that run it.
//!
//! Every method takes a `&rusqlite::Connection` (a `Transaction` derefs to one), so the same
//! SQL runs on a connection the store owns or on one leased from another owner. The SQL is
//! plain enough to run where the local tables are views (PowerSync's local-only tables): no
//! UPSERT, no `RETURNING`, no `rowid`, no reliance on `changes()`.

mod codec;

use std::collections::HashSet;
use std::marker::PhantomData;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

pub(crate) use codec::{int_cell, opt_int_cell, text_cell};

use super::error::{ClientError, Result};
use super::projection::Projection;
use crate::decided::{self, DecidedMap};
use crate::domain::{Domain, IntentOf, SnapshotOf};
use crate::intent::Timestamp;
use crate::machine::Machine;
use crate::schema::{TableRole, intent_column_list};
use crate::value::SqlValue;

/// One row of the local intent log, decoded.
pub(crate) struct Logged<D: Domain> {
    pub intent: IntentOf<D>,
    pub base_version: u64,
}

impl<D: Domain> Clone for Logged<D> {
    fn clone(&self) -> Self {
        Logged {
            intent: self.intent.clone(),
            base_version: self.base_version,
        }
    }
}

/// Table names and every statement of one domain's client tables, rendered once.
pub(crate) struct DomainSql<D> {
    // Quoted table names (error messages use them unquoted, see `table_name`).
    local_intents: String,
    projection: String,
    projection_local: String,
    acks: String,
    select_projection_local: String,
    select_projection_server: String,
    select_send_view: String,
    select_all_projections: String,
    update_projection_local: String,
    insert_projection_local: String,
    delete_projection_local: String,
    insert_intent: String,
    select_intents_of: String,
    select_all_intents: String,
    select_member_intents: String,
    select_member_intents_of: String,
    delete_decided_member_intents: String,
    /// A shared domain's: the server row's `members`.
    select_members: Option<String>,
    select_entities_with_local_state: String,
    select_holds: String,
    register_client: String,
    select_last_seq: String,
    select_acked_seq: String,
    select_rejected_ids: String,
    select_server_decided: String,
    raise_base_version: String,
    select_intent_client_seq: String,
    delete_intent: String,
    select_floor: String,
    raise_floor: String,
    insert_floor: String,
    /// The domain's upload queue table (PowerSync's `ps_crud` entries name it as `type`).
    queue: String,
    field_count: usize,
    _domain: PhantomData<fn() -> D>,
}

/// Selects log rows that are not membership intents.
const NOT_MEMBER: &str = "event_type NOT LIKE 'sai.member.%'";

fn q(ident: &str) -> String {
    format!("\"{ident}\"")
}

impl<D: Domain> DomainSql<D> {
    /// Renders every statement of the domain's tables.
    pub(crate) fn new() -> Self {
        let t = |role: TableRole| q(&role.table_name(D::NAME));
        let fields: Vec<String> = D::COLUMNS.iter().map(|c| q(c.name)).collect();
        let head = "id, state, version, owner_id, updated_at";
        let columns = if fields.is_empty() {
            head.to_owned()
        } else {
            format!("{head}, {}", fields.join(", "))
        };
        let projection_local = t(TableRole::LocalProjection);
        let projection = t(TableRole::Projection);
        let local_intents = t(TableRole::LocalIntents);
        // The shared intent columns, then the client's own `base_version` (index 9).
        let intent_select = format!("{}, base_version", intent_column_list(""));
        let seq_local = t(TableRole::LocalSequence);
        let acks = t(TableRole::ClientAcks);
        let rejected = t(TableRole::Rejected);
        let placeholders: Vec<String> = (1..=5 + fields.len()).map(|i| format!("?{i}")).collect();
        // `?n` numbering shared by the UPDATE and the INSERT of the overlay row.
        let updates: Vec<String> = ["state", "version", "owner_id", "updated_at"]
            .iter()
            .map(|c| (*c).to_owned())
            .chain(fields.iter().cloned())
            .enumerate()
            .map(|(i, c)| format!("{c} = ?{}", i + 2))
            .collect();
        DomainSql {
            select_projection_local: format!(
                "SELECT {columns} FROM {projection_local} WHERE id = ?1"
            ),
            select_projection_server: format!("SELECT {columns} FROM {projection} WHERE id = ?1"),
            select_send_view: format!(
                "SELECT {columns}, 1 FROM {projection_local} WHERE id = ?1 \
                 UNION ALL SELECT {columns}, 0 FROM {projection} WHERE id = ?1"
            ),
            select_all_projections: format!(
                "SELECT {columns}, 1 FROM {projection_local} \
                 UNION ALL SELECT {columns}, 0 FROM {projection} \
                 WHERE id NOT IN (SELECT id FROM {projection_local}) ORDER BY id"
            ),
            update_projection_local: format!(
                "UPDATE {projection_local} SET {} WHERE id = ?1",
                updates.join(", ")
            ),
            insert_projection_local: format!(
                "INSERT INTO {projection_local} ({columns}) VALUES ({})",
                placeholders.join(", ")
            ),
            delete_projection_local: format!("DELETE FROM {projection_local} WHERE id = ?1"),
            insert_intent: format!(
                "INSERT INTO {local_intents} ({intent_select}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            // A shared domain's membership intents (`sai.member.*`) are logged beside the
            // domain's but never replayed by its machine: see `client::members`. Other
            // domains have none, and their reads skip the test.
            select_intents_of: format!(
                "SELECT {intent_select} FROM {local_intents} WHERE entity_id = ?1{} \
                 ORDER BY seq, client_id",
                if D::SHARED {
                    format!(" AND {NOT_MEMBER}")
                } else {
                    String::new()
                }
            ),
            select_all_intents: format!(
                "SELECT {intent_select} FROM {local_intents}{} \
                 ORDER BY entity_id, seq, client_id",
                if D::SHARED {
                    format!(" WHERE {NOT_MEMBER}")
                } else {
                    String::new()
                }
            ),
            select_member_intents: format!(
                "SELECT {intent_select} FROM {local_intents} WHERE NOT {NOT_MEMBER} \
                 ORDER BY client_id, seq"
            ),
            // One entity's, through the entity index: what every send on it predicts with.
            select_member_intents_of: format!(
                "SELECT {intent_select} FROM {local_intents} WHERE entity_id = ?1 \
                 AND NOT {NOT_MEMBER} ORDER BY client_id, seq"
            ),
            delete_decided_member_intents: format!(
                "DELETE FROM {local_intents} WHERE NOT {NOT_MEMBER} \
                 AND seq <= (SELECT a.last_seq FROM {acks} a WHERE a.id = {local_intents}.client_id)"
            ),
            select_members: D::SHARED
                .then(|| format!("SELECT members FROM {projection} WHERE id = ?1")),
            // The log's distinct entities by hopping along the entity index (one seek per
            // entity, not a pass over every intent: a device offline for long holds many).
            select_entities_with_local_state: format!(
                "WITH RECURSIVE e(id) AS ( \
                   SELECT MIN(entity_id) FROM {local_intents} \
                   UNION ALL SELECT (SELECT MIN(entity_id) FROM {local_intents} \
                     WHERE entity_id > e.id) FROM e WHERE e.id IS NOT NULL) \
                 SELECT id FROM e WHERE id IS NOT NULL UNION SELECT id FROM {projection_local}"
            ),
            select_holds: format!(
                "SELECT 1 FROM {projection} WHERE id = ?1 \
                 UNION ALL SELECT 1 FROM {projection_local} WHERE id = ?1 \
                 UNION ALL SELECT 1 FROM {local_intents} WHERE entity_id = ?1 LIMIT 1"
            ),
            register_client: format!("INSERT INTO {seq_local} (id, last_seq) VALUES (?1, 0)"),
            select_last_seq: format!(
                "SELECT (SELECT MAX(seq) FROM {local_intents} WHERE client_id = ?1), \
                 (SELECT last_seq FROM {seq_local} WHERE id = ?1)"
            ),
            select_acked_seq: format!("SELECT last_seq FROM {acks} WHERE id = ?1"),
            select_rejected_ids: format!("SELECT id FROM {rejected} WHERE entity_id = ?1"),
            select_server_decided: format!("SELECT decided FROM {projection} WHERE id = ?1"),
            raise_base_version: format!(
                "UPDATE {local_intents} SET base_version = MAX(base_version, ?2) WHERE id = ?1"
            ),
            select_intent_client_seq: format!(
                "SELECT client_id, seq FROM {local_intents} WHERE id = ?1"
            ),
            delete_intent: format!("DELETE FROM {local_intents} WHERE id = ?1"),
            select_floor: format!("SELECT 1 FROM {seq_local} WHERE id = ?1"),
            raise_floor: format!(
                "UPDATE {seq_local} SET last_seq = MAX(last_seq, ?2) WHERE id = ?1"
            ),
            insert_floor: format!("INSERT INTO {seq_local} (id, last_seq) VALUES (?1, ?2)"),
            queue: TableRole::IntentQueue.table_name(D::NAME),
            local_intents,
            projection,
            projection_local,
            acks,
            field_count: fields.len(),
            _domain: PhantomData,
        }
    }

    fn table_name(quoted: &str) -> &str {
        quoted.trim_matches('"')
    }

    /// Whether any of the domain's tables knows the entity (server row, overlay or log).
    pub(crate) fn holds(&self, conn: &Connection, entity_id: Uuid) -> Result<bool> {
        let mut stmt = conn.prepare_cached(&self.select_holds)?;
        Ok(stmt.exists([entity_id.to_string()])?)
    }

    /// The optimistic overlay row of an entity, if it has one.
    pub(crate) fn local_projection(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Option<Projection<D>>> {
        self.read_projection(
            conn,
            &self.select_projection_local,
            &self.projection_local,
            entity_id,
            true,
        )
    }

    /// The server's (synced) projection of an entity, if it has arrived.
    pub(crate) fn server_projection(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Option<Projection<D>>> {
        self.read_projection(
            conn,
            &self.select_projection_server,
            &self.projection,
            entity_id,
            false,
        )
    }

    /// The projection the UI shows: the overlay if there is one, else the server's.
    pub(crate) fn current_projection(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Option<Projection<D>>> {
        match self.local_projection(conn, entity_id)? {
            Some(p) => Ok(Some(p)),
            None => self.server_projection(conn, entity_id),
        }
    }

    /// What a send steps on, in one query: the current projection (overlay, else server)
    /// and the server's version (0 if its projection has not arrived).
    pub(crate) fn send_view(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<(Option<Projection<D>>, u64)> {
        let mut stmt = conn.prepare_cached(&self.select_send_view)?;
        let mut rows = stmt.query([entity_id.to_string()])?;
        let (mut local, mut server, mut server_version) = (None, None, 0);
        while let Some(row) = rows.next()? {
            if row.get::<_, i64>(5 + self.field_count)? == 1 {
                let table = Self::table_name(&self.projection_local);
                local = Some(self.decode_projection(row, table, true)?);
            } else {
                let table = Self::table_name(&self.projection);
                server_version = u64::try_from(int_cell(row, 2, table, "?")?).map_err(|_| {
                    ClientError::corrupt(table, entity_id.to_string(), "negative version")
                })?;
                if local.is_none() {
                    server = Some(self.decode_projection(row, table, false)?);
                }
            }
        }
        Ok((local.or(server), server_version))
    }

    /// Every entity's current projection: overlay rows, then server rows without an overlay,
    /// ordered by entity id.
    pub(crate) fn all_projections(&self, conn: &Connection) -> Result<Vec<Projection<D>>> {
        let mut stmt = conn.prepare_cached(&self.select_all_projections)?;
        let mut rows = stmt.query([])?;
        let flag = 5 + self.field_count;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let optimistic = row.get::<_, i64>(flag)? == 1;
            let table = if optimistic {
                &self.projection_local
            } else {
                &self.projection
            };
            out.push(self.decode_projection(row, Self::table_name(table), optimistic)?);
        }
        Ok(out)
    }

    fn read_projection(
        &self,
        conn: &Connection,
        sql: &str,
        table: &str,
        entity_id: Uuid,
        optimistic: bool,
    ) -> Result<Option<Projection<D>>> {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query([entity_id.to_string()])?;
        match rows.next()? {
            Some(row) => Ok(Some(self.decode_projection(
                row,
                Self::table_name(table),
                optimistic,
            )?)),
            None => Ok(None),
        }
    }

    /// Writes the optimistic overlay row of an entity: an update if `exists` (the caller read
    /// it in this transaction), else an insert.
    pub(crate) fn write_local_projection(
        &self,
        conn: &Connection,
        entity_id: Uuid,
        snapshot: &SnapshotOf<D>,
        owner_id: &str,
        updated_at: Timestamp,
        exists: bool,
    ) -> Result<()> {
        let fields = snapshot.context.to_row().map_err(|e| {
            ClientError::corrupt(
                Self::table_name(&self.projection_local),
                entity_id.to_string(),
                e.to_string(),
            )
        })?;
        let mut values: Vec<SqlValue> = Vec::with_capacity(5 + fields.len());
        values.push(SqlValue::Text(entity_id.to_string()));
        values.push(SqlValue::Text(snapshot.state.name().to_owned()));
        values.push(SqlValue::Integer(snapshot.version as i64));
        values.push(SqlValue::Text(owner_id.to_owned()));
        values.push(SqlValue::Integer(updated_at));
        values.extend(fields);
        // UPDATE or INSERT as the caller knows the row to exist: plain statements that also
        // work where the table is a view (PowerSync's local-only tables), where neither an
        // UPSERT nor the changes() count of an UPDATE is available.
        let sql = if exists {
            &self.update_projection_local
        } else {
            &self.insert_projection_local
        };
        conn.prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(values.iter()))?;
        Ok(())
    }

    /// Removes the overlay row: the server's projection is the whole truth again.
    pub(crate) fn delete_local_projection(&self, conn: &Connection, entity_id: Uuid) -> Result<()> {
        conn.prepare_cached(&self.delete_projection_local)?
            .execute([entity_id.to_string()])?;
        Ok(())
    }

    /// The next sequence number of a local client (1, 2, 3, … with no gaps as long as the
    /// enclosing transaction commits): one past the highest in the log, past the floor in
    /// `{name}_client_seq_local` that records every seq that left the log, and past the
    /// server's acknowledgement — a file restored from an older copy (or copied to a second
    /// device) has a floor behind what the server decided, and a decided seq is never
    /// issued again. Writes only the client's first time (its floor row), so a send dirties
    /// no counter page.
    pub(crate) fn next_seq(&self, conn: &Connection, client_id: &str) -> Result<u64> {
        let (in_log, floor): (Option<i64>, Option<i64>) = conn
            .prepare_cached(&self.select_last_seq)?
            .query_row([client_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if floor.is_none() {
            conn.prepare_cached(&self.register_client)?
                .execute([client_id])?;
        }
        let last = in_log.unwrap_or(0).max(floor.unwrap_or(0)) as u64;
        Ok(last.max(self.acked_seq(conn, client_id)?) + 1)
    }

    /// Raises a client's sequence floor to at least `seq` (creating its row if needed).
    pub(crate) fn raise_floor(&self, conn: &Connection, client_id: &str, seq: u64) -> Result<()> {
        let known = conn
            .prepare_cached(&self.select_floor)?
            .exists([client_id])?;
        let sql = if known {
            &self.raise_floor
        } else {
            &self.insert_floor
        };
        conn.prepare_cached(sql)?
            .execute(params![client_id, seq as i64])?;
        Ok(())
    }

    /// Appends an intent to the local log.
    pub(crate) fn insert_intent(
        &self,
        conn: &Connection,
        intent: &IntentOf<D>,
        base_version: u64,
    ) -> Result<()> {
        let payload = serde_json::to_string(&intent.event)?;
        let mut stmt = conn.prepare_cached(&self.insert_intent)?;
        stmt.execute(params![
            intent.id.to_string(),
            intent.entity_id.to_string(),
            intent.client_id,
            intent.user_id,
            intent.seq as i64,
            crate::event::Event::event_type(&intent.event),
            intent.event_version,
            payload,
            intent.created_at,
            base_version as i64,
        ])?;
        Ok(())
    }

    /// Appends an intent in its stored form (a membership intent) to the local log.
    pub(crate) fn insert_raw_intent(
        &self,
        conn: &Connection,
        intent: &crate::intent::RawIntent,
    ) -> Result<()> {
        conn.prepare_cached(&self.insert_intent)?.execute(params![
            intent.id.to_string(),
            intent.entity_id.to_string(),
            intent.client_id,
            intent.user_id,
            intent.seq as i64,
            intent.event_type,
            intent.event_version,
            intent.payload,
            intent.created_at,
            0i64,
        ])?;
        Ok(())
    }

    /// The logged intents of one entity, in sequence order.
    pub(crate) fn intents_of(&self, conn: &Connection, entity_id: Uuid) -> Result<Vec<Logged<D>>> {
        let mut stmt = conn.prepare_cached(&self.select_intents_of)?;
        let mut rows = stmt.query([entity_id.to_string()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(self.decode_logged(row, Some(entity_id))?);
        }
        Ok(out)
    }

    /// Every logged intent, grouped by entity, each entity's in sequence order.
    pub(crate) fn all_intents(&self, conn: &Connection) -> Result<Vec<Logged<D>>> {
        let mut stmt = conn.prepare_cached(&self.select_all_intents)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(self.decode_logged(row, None)?);
        }
        Ok(out)
    }

    /// The logged membership intents, by client then sequence number, as uploaded.
    pub(crate) fn member_intents(
        &self,
        conn: &Connection,
    ) -> Result<Vec<crate::intent::RawIntent>> {
        self.read_member_intents(conn, &self.select_member_intents, [])
    }

    /// One entity's logged membership intents, in the same order.
    pub(crate) fn member_intents_of(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Vec<crate::intent::RawIntent>> {
        self.read_member_intents(
            conn,
            &self.select_member_intents_of,
            [entity_id.to_string()],
        )
    }

    fn read_member_intents<P: rusqlite::Params>(
        &self,
        conn: &Connection,
        sql: &str,
        params: P,
    ) -> Result<Vec<crate::intent::RawIntent>> {
        if !D::SHARED {
            return Ok(Vec::new());
        }
        let table = Self::table_name(&self.local_intents);
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let read = crate::intent::row::IntentRow::read(row).map_err(|e| {
                ClientError::corrupt(table, e.id, format!("`{}` {}", e.column, e.detail))
            })?;
            out.push(read.to_raw());
        }
        Ok(out)
    }

    /// Removes the membership intents their client's acknowledgement covers (decided:
    /// accepted into the `members` column, or rejected with a row of their own).
    pub(crate) fn clear_decided_member_intents(&self, conn: &Connection) -> Result<usize> {
        // Only a shared domain logs them; elsewhere this would be a scan of the whole log
        // after every download.
        if !D::SHARED {
            return Ok(0);
        }
        Ok(conn
            .prepare_cached(&self.delete_decided_member_intents)?
            .execute([])?)
    }

    /// The members of a shared entity as the server last said (`None`: not shared, or no
    /// server row yet).
    pub(crate) fn server_members(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Option<crate::membership::Members>> {
        let Some(select) = &self.select_members else {
            return Ok(None);
        };
        let json: Option<String> = conn
            .prepare_cached(select)?
            .query_row([entity_id.to_string()], |r| r.get(0))
            .optional()?;
        json.map(|j| {
            crate::membership::Members::from_json(&j).map_err(|e| {
                ClientError::corrupt(
                    Self::table_name(&self.projection),
                    entity_id.to_string(),
                    format!("members do not read: {e}"),
                )
            })
        })
        .transpose()
    }

    /// The members of a shared entity as the device predicts them: the server's, then this
    /// device's pending membership intents on it applied in order (one the group refuses
    /// changes nothing, as it will on the server).
    pub(crate) fn predicted_members(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<Option<crate::membership::Members>> {
        let Some(mut members) = self.server_members(conn, entity_id)? else {
            return Ok(None);
        };
        for raw in self.member_intents_of(conn, entity_id)? {
            if let Ok(event) = serde_json::from_str::<crate::membership::MemberEvent>(&raw.payload)
                && let Ok(next) = members.apply(&raw.user_id, &event)
            {
                members = next;
            }
        }
        Ok(Some(members))
    }

    /// The entities that have an overlay row or logged intents.
    pub(crate) fn entities_with_local_state(&self, conn: &Connection) -> Result<Vec<Uuid>> {
        let mut stmt = conn.prepare_cached(&self.select_entities_with_local_state)?;
        let mut rows = stmt.query([])?;
        let table = Self::table_name(&self.local_intents);
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let text = text_cell(row, 0, table, "?")?;
            let id = Uuid::parse_str(&text).map_err(|e| {
                ClientError::corrupt(table, &text, format!("entity id is not a UUID: {e}"))
            })?;
            out.push(id);
        }
        Ok(out)
    }

    /// The server's acknowledgement for a client: the highest sequence number it decided.
    pub(crate) fn acked_seq(&self, conn: &Connection, client_id: &str) -> Result<u64> {
        let value: Option<Value> = conn
            .prepare_cached(&self.select_acked_seq)?
            .query_row([client_id], |r| r.get(0))
            .optional()?;
        match value {
            None => Ok(0),
            Some(Value::Integer(n)) if n >= 0 => Ok(n as u64),
            Some(other) => Err(ClientError::corrupt(
                Self::table_name(&self.acks),
                client_id,
                format!("last_seq is {other:?}, not a non-negative integer"),
            )),
        }
    }

    /// Which decisions the server's (synced) projection of the entity includes: its
    /// `decided` column, empty when the row has not arrived or predates the column (`NULL`
    /// or `'{}'`).
    pub(crate) fn server_decided(&self, conn: &Connection, entity_id: Uuid) -> Result<DecidedMap> {
        let mut stmt = conn.prepare_cached(&self.select_server_decided)?;
        let text: Option<Value> = stmt
            .query_row([entity_id.to_string()], |row| row.get(0))
            .optional()?;
        match text {
            Some(Value::Text(text)) => decided::parse(&text).map_err(|e| {
                ClientError::corrupt(
                    Self::table_name(&self.projection),
                    entity_id.to_string(),
                    format!("column `decided` does not read: {e}"),
                )
            }),
            Some(Value::Null) | None => Ok(DecidedMap::new()),
            Some(other) => Err(ClientError::corrupt(
                Self::table_name(&self.projection),
                entity_id.to_string(),
                format!("column `decided` holds {other:?}, not text"),
            )),
        }
    }

    /// The ids of the entity's intents whose rejection has arrived. Ids that are not UUIDs
    /// cannot name a logged intent and are ignored.
    pub(crate) fn rejected_ids(&self, conn: &Connection, entity_id: Uuid) -> Result<HashSet<Uuid>> {
        let mut stmt = conn.prepare_cached(&self.select_rejected_ids)?;
        let mut rows = stmt.query([entity_id.to_string()])?;
        let mut out = HashSet::new();
        while let Some(row) = rows.next()? {
            if let Value::Text(id) = row.get::<_, Value>(0)?
                && let Ok(id) = Uuid::parse_str(&id)
            {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// The ids of the entity's intents still in the device's upload queue (PowerSync's
    /// `ps_crud`: an entry leaves it only once the server stored the upload); empty where
    /// the file has no upload queue.
    pub(crate) fn uploading_ids(
        &self,
        conn: &Connection,
        entity_id: Uuid,
    ) -> Result<HashSet<Uuid>> {
        let has_queue = conn
            .prepare_cached(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ps_crud'",
            )?
            .exists([])?;
        let mut out = HashSet::new();
        if !has_queue {
            return Ok(out);
        }
        let mut stmt = conn.prepare_cached(
            "SELECT json_extract(data, '$.id') FROM ps_crud \
             WHERE json_extract(data, '$.type') = ?1 \
             AND json_extract(data, '$.data.entity_id') = ?2",
        )?;
        let mut rows = stmt.query(params![self.queue, entity_id.to_string()])?;
        while let Some(row) = rows.next()? {
            if let Value::Text(id) = row.get::<_, Value>(0)?
                && let Ok(id) = Uuid::parse_str(&id)
            {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// Raises an intent's `base_version` (never lowers it).
    pub(crate) fn raise_base_version(
        &self,
        conn: &Connection,
        id: Uuid,
        version: u64,
    ) -> Result<()> {
        conn.prepare_cached(&self.raise_base_version)?
            .execute(params![id.to_string(), version as i64])?;
        Ok(())
    }

    /// Deletes intents from the local log by id.
    /// Also raises each client's sequence floor past the deleted seqs, so that a sequence
    /// number is never issued twice.
    pub(crate) fn delete_intents(&self, conn: &Connection, ids: &[Uuid]) -> Result<usize> {
        // Plain SELECT / DELETE / UPDATE or INSERT (no RETURNING, no UPSERT, no reliance on
        // changes()), so that the same SQL works where these tables are views (PowerSync's
        // local-only tables).
        let mut n = 0;
        for id in ids {
            let id = id.to_string();
            let gone: Option<(Value, Value)> = conn
                .prepare_cached(&self.select_intent_client_seq)?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((client, seq)) = gone else { continue };
            conn.prepare_cached(&self.delete_intent)?.execute([&id])?;
            n += 1;
            if let (Value::Text(client), Value::Integer(seq)) = (client, seq)
                && let Ok(seq) = u64::try_from(seq)
            {
                self.raise_floor(conn, &client, seq)?;
            }
        }
        Ok(n)
    }
}
