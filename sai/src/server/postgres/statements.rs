//! The SQL text of one domain's PostgreSQL store, and its statements prepared once per
//! connection.

use tokio_postgres::{Client, Statement};

use crate::domain::Domain;
use crate::schema::{Dialect, Schema, Side};
use crate::value::ColumnType;

use super::super::error::StoreError;
use crate::sync::rows::user_filter;

use super::super::sql::{
    DomainNames, backfill_changes_sql, backfill_members_sql, changes_after_sql, decisions_sql,
    delete_unarchived_sql, latest_archived_sql, membership_log_sql, quote, stamp_member_rows_sql,
    stamp_rows_sql, synced_tables, unstamp_former_members_sql,
};
use super::error::Db;
use crate::schema::{TableDef, TableRole};
use crate::sync::column_list;

/// The statement texts of one domain.
pub(super) struct Sql {
    pub ddl: String,
    /// The domain's tables, which `migrate` brings up to date.
    pub schema: Schema,
    pub lock_key: String,
    pub field_types: Vec<ColumnType>,
    pub candidates_after: String,
    pub candidates_upto: String,
    pub pending: String,
    pub projections: String,
    pub acks_of_entities: String,
    pub advance_acks: String,
    pub delete_pending: String,
    pub delete_decided: String,
    pub insert_processed: String,
    pub insert_rejected: String,
    pub upsert_projection: String,
    pub latest_archived: String,
    /// The decisions the rebuilt rows include ([`decisions_sql`]).
    pub decisions: String,
    /// The accepted membership intents the rebuilt rows replay ([`membership_log_sql`]).
    pub membership_log: String,
    pub delete_unarchived: String,
    pub lock_projection: String,
    pub ensure_acks: String,
    pub lock_acks: String,
    pub insert_pending: String,
    pub known_intents: String,
    pub projection_of: String,
    pub ack_of: String,
    pub pending_count: String,
    /// The `LISTEN`/`NOTIFY` channel of this schema and domain (`SELECT` it).
    pub channel_of: String,
    /// Notifies the channel (in the admission transaction: delivered at its commit).
    pub notify: String,
    /// Serialises stamping: held from the first stamp to the commit, so change positions
    /// are handed out in commit order (readers are not blocked).
    pub lock_changes: String,
    /// Stamps projection rows (`$1` ids) in the change log.
    pub stamp_projection: String,
    /// Stamps rejection rows.
    pub stamp_rejected: String,
    /// Stamps acknowledgement rows.
    pub stamp_ack: String,
    /// Stamps removed projections (`$1` ids, `$2` owners).
    pub stamp_removed: String,
    /// A shared domain's: marks the projection entries of former members as removals.
    pub unstamp_members: Option<String>,
    /// Gives a shared projection's rows from before it was shared their owner, then fills an
    /// empty change log from the existing rows.
    pub backfill_changes: String,
    /// A user's change-log entries after a position.
    pub changes_after: String,
    /// Per downloaded table, the statement reading rows of a user (`$1` ids, `$2` user).
    pub row_of: Vec<(TableDef, String)>,
}

/// The statements, prepared once per connection.
pub(super) struct Prepared {
    pub candidates_after: Statement,
    pub candidates_upto: Statement,
    pub pending: Statement,
    pub projections: Statement,
    pub acks_of_entities: Statement,
    pub advance_acks: Statement,
    pub delete_pending: Statement,
    pub delete_decided: Statement,
    pub insert_processed: Statement,
    pub insert_rejected: Statement,
    pub upsert_projection: Statement,
    pub latest_archived: Statement,
    /// See [`Sql::decisions`].
    pub decisions: Statement,
    /// See [`Sql::membership_log`].
    pub membership_log: Statement,
    pub delete_unarchived: Statement,
    pub ensure_acks: Statement,
    pub lock_acks: Statement,
    pub insert_pending: Statement,
    pub known_intents: Statement,
    pub projection_of: Statement,
    pub ack_of: Statement,
    pub pending_count: Statement,
    pub notify: Statement,
    pub stamp_projection: Statement,
    pub stamp_rejected: Statement,
    pub stamp_ack: Statement,
    pub stamp_removed: Statement,
    pub unstamp_members: Option<Statement>,
    pub changes_after: Statement,
    /// See [`Sql::row_of`], in the same order.
    pub row_of: Vec<Statement>,
}

fn array_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "text[]",
        ColumnType::Integer => "int8[]",
        ColumnType::Real => "float8[]",
    }
}

impl Sql {
    pub fn of<D: Domain>() -> Self {
        let DomainNames {
            intent_queue: queue,
            processed,
            rejected,
            projection,
            client_acks: acks,
            changes,
            intent_columns: intents,
            field_columns: field_cols,
            fields,
            field_list,
            set_fields,
        } = DomainNames::of::<D>();
        let field_arrays: String = field_cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!(", ${}::{}", i + 6, array_type(c.ty)))
            .collect();
        let intent_arrays = "$1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
                             $6::text[], $7::int8[], $8::text[], $9::int8[]";
        let candidates = |range: &str| {
            format!(
                "SELECT s.entity_id, s.client_id FROM ( \
                   SELECT q.\"entity_id\" AS entity_id, q.\"client_id\" AS client_id FROM {queue} q \
                   CROSS JOIN LATERAL (SELECT \"last_seq\" FROM {acks} \
                     WHERE \"id\" = q.\"client_id\" OFFSET 0) a \
                   WHERE {range} AND (q.\"seq\" <= a.\"last_seq\" OR EXISTS (SELECT 1 FROM {queue} h \
                     WHERE h.\"client_id\" = q.\"client_id\" AND h.\"seq\" = a.\"last_seq\" + 1 OFFSET 0)) \
                   ORDER BY q.\"client_id\", q.\"seq\" LIMIT $3 \
                 ) s WHERE pg_try_advisory_xact_lock(hashtextextended($2::text || s.entity_id, 0)) \
                 LIMIT $1"
            )
        };
        let synced = synced_tables::<D>();
        const ROWS: &str = "= ANY($1::text[])";
        let stamp = |role: TableRole| {
            synced
                .iter()
                .find(|t| t.role == role)
                .map(|t| {
                    if t.has_members() {
                        stamp_member_rows_sql(&changes, t, ROWS, Dialect::Postgres)
                    } else {
                        stamp_rows_sql(&changes, t, ROWS)
                    }
                })
                .unwrap_or_default()
        };
        let unstamp_members = synced
            .iter()
            .find(|t| t.role == TableRole::Projection && t.has_members())
            .map(|t| unstamp_former_members_sql(&changes, t, ROWS, Dialect::Postgres));
        // Per schema and domain, hashed: a channel name is an identifier (at most 63 bytes).
        let channel = format!("'sai_' || md5(current_schema() || ':{}')", D::NAME);
        Sql {
            channel_of: format!("SELECT {channel}"),
            notify: format!("SELECT pg_notify({channel}, '')"),
            lock_changes: format!("LOCK TABLE {changes} IN EXCLUSIVE MODE"),
            stamp_projection: stamp(TableRole::Projection),
            stamp_rejected: stamp(TableRole::Rejected),
            stamp_ack: stamp(TableRole::ClientAcks),
            unstamp_members,
            stamp_removed: format!(
                "INSERT INTO {changes} (\"id\", \"pos\", \"user_id\", \"tbl\", \"row_id\", \"removed\") \
                 SELECT '{name}/' || r.id, m.base + ROW_NUMBER() OVER (ORDER BY r.id), r.owner, \
                   '{name}', r.id, 1 \
                 FROM unnest($1::text[], $2::text[]) AS r(id, owner) \
                 CROSS JOIN (SELECT COALESCE(MAX(\"pos\"), 0) AS base FROM {changes}) m \
                 ON CONFLICT (\"id\") DO UPDATE SET \"pos\" = EXCLUDED.\"pos\", \
                   \"user_id\" = EXCLUDED.\"user_id\", \"removed\" = 1",
                name = TableRole::Projection.table_name(D::NAME),
            ),
            backfill_changes: backfill_members_sql(&synced, Dialect::Postgres)
                + &backfill_changes_sql(&changes, &synced),
            changes_after: changes_after_sql(&changes, "$1", "$2", "$3"),
            row_of: synced
                .iter()
                .map(|t| {
                    let sql = format!(
                        "SELECT {} FROM {} WHERE \"id\" = ANY($1::text[]) AND {}",
                        column_list(t),
                        quote(&t.name),
                        user_filter(t, Dialect::Postgres, "$2")
                    );
                    (t.clone(), sql)
                })
                .collect(),
            ddl: Schema::of::<D>().ddl(Dialect::Postgres, Side::Server),
            schema: Schema::of::<D>(),
            lock_key: format!("{}:", D::NAME),
            field_types: field_cols.iter().map(|c| c.ty).collect(),
            // Pending intents of clients whose next intent is queued, in (client, seq) order
            // through the unique index: each client's rows come as a chain starting at its
            // head, so every batch can decide, and a client waiting behind a gap is skipped,
            // so it starves no one. Already-decided leftovers come too, to be cleared.
            // Streamed, two index probes a row, at most `$3` rows; rows of entities another
            // worker holds fail the try-lock and are skipped, and locking stops after `$1`
            // rows. `OFFSET 0` keeps the planner from turning the probes into joins over the
            // whole queue. Two ranges around a cursor (clients after it, then from the start),
            // so clients that cannot progress take turns with the others.
            candidates_after: candidates("q.\"client_id\" > $4"),
            candidates_upto: candidates("q.\"client_id\" <= $4"),
            pending: format!(
                // Entity by entity through the entity index: one ORDER BY … LIMIT over all of
                // them would walk the (client, seq) index across the whole queue instead.
                "SELECT p.* FROM unnest($1::text[]) AS e(id) CROSS JOIN LATERAL ( \
                   SELECT {intents}, \"received_at\" FROM {queue} WHERE \"entity_id\" = e.id \
                   ORDER BY \"client_id\", \"seq\" LIMIT $2) p"
            ),
            projections: format!(
                "SELECT \"id\", \"state\", \"version\", \"owner_id\", \"decided\"{field_list} FROM {projection} \
                 WHERE \"id\" = ANY($1::text[])"
            ),
            acks_of_entities: format!(
                "SELECT \"id\", \"last_seq\" FROM {acks} WHERE \"id\" IN \
                 (SELECT \"client_id\" FROM {queue} WHERE \"entity_id\" = ANY($1::text[]))"
            ),
            advance_acks: format!(
                "UPDATE {acks} AS a SET \"last_seq\" = d.to_seq, \"updated_at\" = $4 \
                 FROM unnest($1::text[], $2::int8[], $3::int8[]) AS d(id, from_seq, to_seq) \
                 WHERE a.\"id\" = d.id AND a.\"last_seq\" = d.from_seq"
            ),
            delete_pending: format!("DELETE FROM {queue} WHERE \"id\" = ANY($1::text[])"),
            // A client's decided intents are exactly its sequence numbers in (from, to].
            delete_decided: format!(
                "DELETE FROM {queue} q \
                 USING unnest($1::text[], $2::int8[], $3::int8[]) AS d(client_id, from_seq, to_seq) \
                 WHERE q.\"client_id\" = d.client_id AND q.\"seq\" > d.from_seq AND q.\"seq\" <= d.to_seq"
            ),
            insert_processed: format!(
                "INSERT INTO {processed} ({intents}, \"state\", \"version\", \"context\", \"processed_at\") \
                 SELECT u.*, $13 FROM unnest({intent_arrays}, $10::text[], $11::int8[], $12::text[]) AS u"
            ),
            insert_rejected: format!(
                "INSERT INTO {rejected} ({intents}, \"code\", \"message\", \"reason\", \"state\", \"rejected_at\") \
                 SELECT u.*, $14 FROM unnest({intent_arrays}, $10::text[], $11::text[], $12::text[], $13::text[]) AS u"
            ),
            upsert_projection: format!(
                "INSERT INTO {projection} (\"id\", \"state\", \"version\", \"owner_id\", \"decided\"{field_list}, \"updated_at\") \
                 SELECT u.*, ${} FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[]{field_arrays}) AS u \
                 ON CONFLICT (\"id\") DO UPDATE SET \"state\" = EXCLUDED.\"state\", \
                 \"version\" = EXCLUDED.\"version\", \"owner_id\" = EXCLUDED.\"owner_id\", \
                 \"decided\" = EXCLUDED.\"decided\"{set_fields}, \
                 \"updated_at\" = EXCLUDED.\"updated_at\"",
                6 + fields.len()
            ),
            latest_archived: latest_archived_sql(&processed),
            decisions: decisions_sql(&processed, &rejected),
            membership_log: membership_log_sql(&processed),
            delete_unarchived: delete_unarchived_sql(&projection, &processed),
            lock_projection: format!("LOCK TABLE {projection} IN SHARE ROW EXCLUSIVE MODE"),
            ensure_acks: format!(
                "INSERT INTO {acks} (\"id\", \"user_id\", \"last_seq\", \"updated_at\") \
                 SELECT c, $2, 0, $3 FROM unnest($1::text[]) AS c ON CONFLICT (\"id\") DO NOTHING"
            ),
            // FOR SHARE waits for a decision in flight on the client, so the `last_seq` read
            // here is final for this upload: a decided intent is never queued again.
            lock_acks: format!(
                "SELECT \"id\", \"user_id\", \"last_seq\" FROM {acks} WHERE \"id\" = ANY($1::text[]) \
                 ORDER BY \"id\" FOR SHARE"
            ),
            insert_pending: format!(
                "INSERT INTO {queue} ({intents}, \"received_at\") \
                 SELECT u.id, u.entity_id, u.client_id, u.user_id, u.seq, u.event_type, \
                        u.event_version, u.payload, u.created_at, $10 \
                 FROM unnest({intent_arrays}) AS u(id, entity_id, client_id, user_id, seq, \
                      event_type, event_version, payload, created_at) \
                 ON CONFLICT DO NOTHING"
            ),
            // The stored intents the upload ($1 ids, $2 clients, $3 seqs) may clash with,
            // each with where it is (0 queued, 1 archived, 2 rejected).
            known_intents: format!(
                "SELECT 0, q.\"id\", q.\"client_id\", q.\"seq\" FROM {queue} q WHERE q.\"id\" = ANY($1::text[]) \
                 UNION SELECT 0, q.\"id\", q.\"client_id\", q.\"seq\" FROM {queue} q \
                   JOIN unnest($2::text[], $3::int8[]) AS u(client_id, seq) \
                   ON q.\"client_id\" = u.client_id AND q.\"seq\" = u.seq \
                 UNION ALL SELECT 1, \"id\", \"client_id\", \"seq\" FROM {processed} WHERE \"id\" = ANY($1::text[]) \
                 UNION ALL SELECT 1, p.\"id\", p.\"client_id\", p.\"seq\" FROM {processed} p \
                   JOIN unnest($2::text[], $3::int8[]) AS u(client_id, seq) \
                   ON p.\"client_id\" = u.client_id AND p.\"seq\" = u.seq \
                 UNION ALL SELECT 2, \"id\", \"client_id\", \"seq\" FROM {rejected} WHERE \"id\" = ANY($1::text[]) \
                 UNION ALL SELECT 2, r.\"id\", r.\"client_id\", r.\"seq\" FROM {rejected} r \
                   JOIN unnest($2::text[], $3::int8[]) AS u(client_id, seq) \
                   ON r.\"client_id\" = u.client_id AND r.\"seq\" = u.seq"
            ),
            projection_of: format!(
                "SELECT \"state\", \"version\", \"owner_id\", \"decided\"{field_list} FROM {projection} WHERE \"id\" = $1"
            ),
            ack_of: format!("SELECT \"user_id\", \"last_seq\" FROM {acks} WHERE \"id\" = $1"),
            pending_count: format!("SELECT COUNT(*) FROM {queue}"),
        }
    }

    pub async fn prepare(&self, c: &Client) -> Result<Prepared, StoreError> {
        Ok(Prepared {
            candidates_after: c.prepare(&self.candidates_after).await.db()?,
            candidates_upto: c.prepare(&self.candidates_upto).await.db()?,
            pending: c.prepare(&self.pending).await.db()?,
            projections: c.prepare(&self.projections).await.db()?,
            acks_of_entities: c.prepare(&self.acks_of_entities).await.db()?,
            advance_acks: c.prepare(&self.advance_acks).await.db()?,
            delete_pending: c.prepare(&self.delete_pending).await.db()?,
            delete_decided: c.prepare(&self.delete_decided).await.db()?,
            insert_processed: c.prepare(&self.insert_processed).await.db()?,
            insert_rejected: c.prepare(&self.insert_rejected).await.db()?,
            upsert_projection: c.prepare(&self.upsert_projection).await.db()?,
            latest_archived: c.prepare(&self.latest_archived).await.db()?,
            decisions: c.prepare(&self.decisions).await.db()?,
            membership_log: c.prepare(&self.membership_log).await.db()?,
            delete_unarchived: c.prepare(&self.delete_unarchived).await.db()?,
            ensure_acks: c.prepare(&self.ensure_acks).await.db()?,
            lock_acks: c.prepare(&self.lock_acks).await.db()?,
            insert_pending: c.prepare(&self.insert_pending).await.db()?,
            known_intents: c.prepare(&self.known_intents).await.db()?,
            projection_of: c.prepare(&self.projection_of).await.db()?,
            ack_of: c.prepare(&self.ack_of).await.db()?,
            pending_count: c.prepare(&self.pending_count).await.db()?,
            notify: c.prepare(&self.notify).await.db()?,
            stamp_projection: c.prepare(&self.stamp_projection).await.db()?,
            stamp_rejected: c.prepare(&self.stamp_rejected).await.db()?,
            stamp_ack: c.prepare(&self.stamp_ack).await.db()?,
            stamp_removed: c.prepare(&self.stamp_removed).await.db()?,
            unstamp_members: match &self.unstamp_members {
                Some(sql) => Some(c.prepare(sql).await.db()?),
                None => None,
            },
            changes_after: c.prepare(&self.changes_after).await.db()?,
            row_of: {
                let mut prepared = Vec::new();
                for (_, sql) in &self.row_of {
                    prepared.push(c.prepare(sql).await.db()?);
                }
                prepared
            },
        })
    }
}
