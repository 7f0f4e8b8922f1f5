//! The SQL of one domain's client tables and the codecs between their rows and typed values.
//!
//! Every function here takes a `&rusqlite::Connection` (a `Transaction` derefs to one), so the
//! same SQL runs on a connection the store owns or on one leased from another owner.

use std::collections::HashSet;
use std::marker::PhantomData;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::error::{ClientError, Result};
use crate::domain::{Domain, EventOf, IntentOf, SnapshotOf};
use crate::intent::{Intent, Timestamp, decode_event};
use crate::machine::Machine;
use crate::schema::TableRole;
use crate::snapshot::Snapshot;
use crate::value::SqlValue;

/// An entity's projection as a client sees it.
pub struct Projection<D: Domain> {
    /// The entity.
    pub entity_id: Uuid,
    /// State, fields and version (server version plus locally applied pending intents).
    pub snapshot: SnapshotOf<D>,
    /// The user who owns the entity.
    pub owner_id: String,
    /// When the row was last written (ms since the epoch).
    pub updated_at: Timestamp,
    /// Whether pending local intents are applied on top of the server's projection.
    pub optimistic: bool,
}

impl<D: Domain> Projection<D> {
    /// The machine state.
    pub fn state(&self) -> D::Machine {
        self.snapshot.state
    }

    /// The entity's fields.
    pub fn context(&self) -> &D {
        &self.snapshot.context
    }
}

impl<D: Domain> Clone for Projection<D> {
    fn clone(&self) -> Self {
        Projection {
            entity_id: self.entity_id,
            snapshot: self.snapshot.clone(),
            owner_id: self.owner_id.clone(),
            updated_at: self.updated_at,
            optimistic: self.optimistic,
        }
    }
}

impl<D: Domain + std::fmt::Debug> std::fmt::Debug for Projection<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection")
            .field("entity_id", &self.entity_id)
            .field("snapshot", &self.snapshot)
            .field("owner_id", &self.owner_id)
            .field("updated_at", &self.updated_at)
            .field("optimistic", &self.optimistic)
            .finish()
    }
}

impl<D: Domain + PartialEq> PartialEq for Projection<D> {
    fn eq(&self, other: &Self) -> bool {
        self.entity_id == other.entity_id
            && self.snapshot == other.snapshot
            && self.owner_id == other.owner_id
            && self.updated_at == other.updated_at
            && self.optimistic == other.optimistic
    }
}

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

/// Table names and statements of one domain's client tables, rendered once.
pub(crate) struct DomainSql<D> {
    pub local_intents: String,
    pub projection: String,
    pub projection_local: String,
    pub rejected: String,
    pub acks: String,
    pub seq_local: String,
    pub rejections_local: String,
    select_projection_local: String,
    select_projection_server: String,
    update_projection_local: String,
    insert_projection_local: String,
    insert_intent: String,
    select_intents_of: String,
    register_client: String,
    select_send_view: String,
    select_last_seq: String,
    field_count: usize,
    _domain: PhantomData<fn() -> D>,
}

fn q(ident: &str) -> String {
    format!("\"{ident}\"")
}

const INTENT_SELECT: &str = "id, entity_id, client_id, user_id, seq, event_type, event_version, payload, created_at, base_version";

impl<D: Domain> DomainSql<D> {
    pub(crate) fn new() -> Self {
        let t = |role: TableRole| q(&role.table_name(D::NAME));
        let fields: Vec<String> = D::COLUMNS.iter().map(|c| q(c.name)).collect();
        let field_list = fields.join(", ");
        let head = "id, state, version, owner_id, updated_at";
        let projection_local = t(TableRole::LocalProjection);
        let projection = t(TableRole::Projection);
        let local_intents = t(TableRole::LocalIntents);
        let select = |table: &str| {
            if fields.is_empty() {
                format!("SELECT {head} FROM {table} WHERE id = ?1")
            } else {
                format!("SELECT {head}, {field_list} FROM {table} WHERE id = ?1")
            }
        };
        let placeholders: Vec<String> = (1..=5 + fields.len()).map(|i| format!("?{i}")).collect();
        let all_columns = if fields.is_empty() {
            head.to_owned()
        } else {
            format!("{head}, {field_list}")
        };
        // `?n` numbering shared by the UPDATE and the INSERT of the overlay row.
        let updates: Vec<String> = ["state", "version", "owner_id", "updated_at"]
            .iter()
            .map(|c| (*c).to_owned())
            .chain(fields.iter().cloned())
            .enumerate()
            .map(|(i, c)| format!("{c} = ?{}", i + 2))
            .collect();
        DomainSql {
            select_projection_local: select(&projection_local),
            select_projection_server: select(&projection),
            update_projection_local: format!(
                "UPDATE {projection_local} SET {} WHERE id = ?1",
                updates.join(", ")
            ),
            insert_projection_local: format!(
                "INSERT INTO {projection_local} ({all_columns}) VALUES ({})",
                placeholders.join(", ")
            ),
            insert_intent: format!(
                "INSERT INTO {local_intents} ({INTENT_SELECT}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            select_intents_of: format!(
                "SELECT {INTENT_SELECT} FROM {local_intents} WHERE entity_id = ?1 ORDER BY seq, client_id"
            ),
            select_send_view: {
                let cols = if fields.is_empty() {
                    head.to_owned()
                } else {
                    format!("{head}, {field_list}")
                };
                format!(
                    "SELECT {cols}, 1 FROM {projection_local} WHERE id = ?1 \
                     UNION ALL SELECT {cols}, 0 FROM {projection} WHERE id = ?1"
                )
            },
            register_client: format!(
                "INSERT INTO {} (id, last_seq) VALUES (?1, 0)",
                t(TableRole::LocalSequence)
            ),
            select_last_seq: format!(
                "SELECT (SELECT MAX(seq) FROM {local_intents} WHERE client_id = ?1), \
                 (SELECT last_seq FROM {} WHERE id = ?1)",
                t(TableRole::LocalSequence)
            ),
            local_intents,
            projection,
            projection_local,
            rejected: t(TableRole::Rejected),
            acks: t(TableRole::ClientAcks),
            seq_local: t(TableRole::LocalSequence),
            rejections_local: t(TableRole::LocalRejections),
            field_count: fields.len(),
            _domain: PhantomData,
        }
    }

    fn table_name(quoted: &str) -> &str {
        quoted.trim_matches('"')
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
        let fields: String = D::COLUMNS
            .iter()
            .map(|c| format!(", {}", q(c.name)))
            .collect();
        let head = "id, state, version, owner_id, updated_at";
        let sql = format!(
            "SELECT {head}{fields}, 1 FROM {local} \
             UNION ALL SELECT {head}{fields}, 0 FROM {server} \
             WHERE id NOT IN (SELECT id FROM {local}) ORDER BY id",
            local = self.projection_local,
            server = self.projection,
        );
        let mut stmt = conn.prepare_cached(&sql)?;
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

    /// Decodes a row selected as `id, state, version, owner_id, updated_at, fields…`.
    pub(crate) fn decode_projection(
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
        let sql = format!("DELETE FROM {} WHERE id = ?1", self.projection_local);
        conn.prepare_cached(&sql)?
            .execute([entity_id.to_string()])?;
        Ok(())
    }

    /// The next sequence number of a local client (1, 2, 3, … with no gaps as long as the
    /// enclosing transaction commits): one past the highest in the log, or past the floor in
    /// `{name}_client_seq_local` that records every seq that left the log. Writes only the
    /// client's first time (its floor row), so a send dirties no counter page.
    pub(crate) fn next_seq(&self, conn: &Connection, client_id: &str) -> Result<u64> {
        let (in_log, floor): (Option<i64>, Option<i64>) = conn
            .prepare_cached(&self.select_last_seq)?
            .query_row([client_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if floor.is_none() {
            conn.prepare_cached(&self.register_client)?
                .execute([client_id])?;
        }
        let last = in_log.unwrap_or(0).max(floor.unwrap_or(0));
        Ok(last as u64 + 1)
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

    /// The logged intents of one entity, in sequence order.
    pub(crate) fn intents_of(&self, conn: &Connection, entity_id: Uuid) -> Result<Vec<Logged<D>>> {
        let mut stmt = conn.prepare_cached(&self.select_intents_of)?;
        let mut rows = stmt.query([entity_id.to_string()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(self.decode_logged(row)?);
        }
        Ok(out)
    }

    /// Every logged intent, grouped by entity, each entity's in sequence order.
    pub(crate) fn all_intents(&self, conn: &Connection) -> Result<Vec<Logged<D>>> {
        let sql = format!(
            "SELECT {INTENT_SELECT} FROM {} ORDER BY entity_id, seq, client_id",
            self.local_intents
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(self.decode_logged(row)?);
        }
        Ok(out)
    }

    /// The entities that have an overlay row or logged intents.
    pub(crate) fn entities_with_local_state(&self, conn: &Connection) -> Result<Vec<Uuid>> {
        let sql = format!(
            "SELECT entity_id FROM {} UNION SELECT id FROM {}",
            self.local_intents, self.projection_local
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let text = text_cell(row, 0, Self::table_name(&self.local_intents), "?")?;
            let id = Uuid::parse_str(&text).map_err(|e| {
                ClientError::corrupt(
                    Self::table_name(&self.local_intents),
                    &text,
                    format!("entity id is not a UUID: {e}"),
                )
            })?;
            out.push(id);
        }
        Ok(out)
    }

    /// Decodes a log row straight into a typed intent: the hot path of restore and
    /// reconcile, so cells are borrowed and only the owned fields allocate. The checks are
    /// those of [`RawIntent::decode`](crate::RawIntent::decode).
    fn decode_logged(&self, row: &Row<'_>) -> Result<Logged<D>> {
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

    /// The server's acknowledgement for a client: the highest sequence number it decided.
    pub(crate) fn acked_seq(&self, conn: &Connection, client_id: &str) -> Result<u64> {
        let sql = format!("SELECT last_seq FROM {} WHERE id = ?1", self.acks);
        let value: Option<Value> = conn
            .prepare_cached(&sql)?
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

    /// The ids of the entity's intents whose rejection has arrived. Ids that are not UUIDs
    /// cannot name a logged intent and are ignored.
    pub(crate) fn rejected_ids(&self, conn: &Connection, entity_id: Uuid) -> Result<HashSet<Uuid>> {
        let sql = format!("SELECT id FROM {} WHERE entity_id = ?1", self.rejected);
        let mut stmt = conn.prepare_cached(&sql)?;
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

    /// Raises an intent's `base_version` (never lowers it).
    pub(crate) fn raise_base_version(
        &self,
        conn: &Connection,
        id: Uuid,
        version: u64,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET base_version = MAX(base_version, ?2) WHERE id = ?1",
            self.local_intents
        );
        conn.prepare_cached(&sql)?
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
        let select = format!(
            "SELECT client_id, seq FROM {} WHERE id = ?1",
            self.local_intents
        );
        let delete = format!("DELETE FROM {} WHERE id = ?1", self.local_intents);
        let floor = format!("SELECT 1 FROM {} WHERE id = ?1", self.seq_local);
        let raise = format!(
            "UPDATE {} SET last_seq = MAX(last_seq, ?2) WHERE id = ?1",
            self.seq_local
        );
        let insert = format!(
            "INSERT INTO {} (id, last_seq) VALUES (?1, ?2)",
            self.seq_local
        );
        let mut n = 0;
        for id in ids {
            let id = id.to_string();
            let gone: Option<(Value, Value)> = conn
                .prepare_cached(&select)?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((client, seq)) = gone else { continue };
            conn.prepare_cached(&delete)?.execute([&id])?;
            n += 1;
            if let (Value::Text(client), Value::Integer(seq)) = (client, seq) {
                let known = conn.prepare_cached(&floor)?.exists([&client])?;
                let sql = if known { &raise } else { &insert };
                conn.prepare_cached(sql)?.execute(params![client, seq])?;
            }
        }
        Ok(n)
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
