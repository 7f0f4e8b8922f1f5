//! The SQL text of one domain's SQLite store; statements are prepared through the
//! connection's statement cache, so each is parsed once per connection.

use crate::domain::Domain;
use crate::schema::Schema;

use crate::schema::Dialect;
use crate::sync::rows::user_filter;

use super::super::sql::{
    DomainNames, backfill_changes_sql, backfill_members_sql, changes_after_sql, decisions_sql,
    delete_unarchived_sql, latest_archived_sql, membership_log_sql, stamp_member_rows_sql,
    stamp_rows_sql, synced_tables, unstamp_former_members_sql,
};
use crate::schema::intent_column_list;
use crate::schema::{TableDef, TableRole, quote};
use crate::sync::column_list;

/// The statement texts of one domain.
pub(super) struct Statements {
    /// The domain's tables, which `migrate` creates or brings up to date.
    pub schema: Schema,
    /// Cells a projection row carries after its head: the fields, then `members` for a
    /// shared domain.
    pub n_stored: usize,
    pub claim_after: String,
    pub claim_upto: String,
    pub projection_of: String,
    pub ack_of: String,
    pub advance_ack: String,
    pub delete_pending: String,
    pub delete_decided: String,
    pub insert_processed: String,
    pub insert_rejected: String,
    pub upsert_projection: String,
    pub ensure_ack: String,
    pub insert_pending: String,
    pub known_intents: String,
    pub pending_count: String,
    pub latest_archived: String,
    /// The decisions the rebuilt rows include ([`decisions_sql`]).
    pub decisions: String,
    /// The accepted membership intents the rebuilt rows replay ([`membership_log_sql`]).
    pub membership_log: String,
    pub delete_unarchived: String,
    /// Stamps one projection row (`?1` its id) in the change log.
    pub stamp_projection: String,
    /// Stamps one rejection row.
    pub stamp_rejected: String,
    /// Stamps one acknowledgement row.
    pub stamp_ack: String,
    /// Stamps a removed projection (`?1` id, `?2` owner).
    pub stamp_removed: String,
    /// A shared domain's: marks the projection entries of former members as removals.
    pub unstamp_members: Option<String>,
    /// Gives a shared projection's rows from before it was shared their owner
    /// ([`backfill_members_sql`]), then fills an empty change log from the existing rows (see
    /// [`backfill_changes_sql`]).
    pub backfill_changes: String,
    /// A user's change-log entries after a position.
    pub changes_after: String,
    /// Per downloaded table, the statement reading one row of a user (`?1` id, `?2` user).
    pub row_of: Vec<(TableDef, String)>,
}

/// `?from, ?from+1, …`: `n` numbered placeholders.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Statements {
    pub fn of<D: Domain>() -> Self {
        let synced = synced_tables::<D>();
        let DomainNames {
            intent_queue: queue,
            processed,
            rejected,
            projection,
            client_acks: acks,
            changes,
            intent_columns: intents,
            fields,
            field_list,
            set_fields,
            ..
        } = DomainNames::of::<D>();
        let n_fields = fields.len();
        let intent_q = intent_column_list("q.");
        let claim = |range: &str| {
            format!(
                "SELECT {intent_q}, a.\"last_seq\", q.\"received_at\" FROM {queue} q \
                 JOIN {acks} a ON a.\"id\" = q.\"client_id\" \
                 WHERE {range} AND (q.\"seq\" <= a.\"last_seq\" OR EXISTS (SELECT 1 FROM {queue} h \
                   WHERE h.\"client_id\" = q.\"client_id\" AND h.\"seq\" = a.\"last_seq\" + 1)) \
                 ORDER BY q.\"client_id\", q.\"seq\" LIMIT ?1"
            )
        };
        Statements {
            schema: Schema::of::<D>(),
            n_stored: n_fields,
            // The batch: pending intents in (client, seq) order through the unique index,
            // each with its client's acknowledgement, of clients whose next intent is queued
            // (a client waiting behind a gap starves no one), plus already-decided leftovers
            // to clear. Streams: reads the batch's rows, never the whole queue. No entity is
            // locked apart: the write lock held from `BEGIN IMMEDIATE` is the claim. Read in
            // two ranges around a cursor (clients after it, then from the start), so clients
            // that cannot progress take turns with the others instead of filling every batch.
            claim_after: claim("q.\"client_id\" > ?2"),
            claim_upto: claim("q.\"client_id\" <= ?2"),
            projection_of: format!(
                "SELECT \"state\", \"version\", \"owner_id\", \"decided\"{field_list} FROM {projection} WHERE \"id\" = ?1"
            ),
            ack_of: format!("SELECT \"user_id\", \"last_seq\" FROM {acks} WHERE \"id\" = ?1"),
            advance_ack: format!(
                "UPDATE {acks} SET \"last_seq\" = ?3, \"updated_at\" = ?4 WHERE \"id\" = ?1 AND \"last_seq\" = ?2"
            ),
            delete_pending: format!("DELETE FROM {queue} WHERE \"id\" = ?1"),
            delete_decided: format!(
                "DELETE FROM {queue} WHERE \"client_id\" = ?1 AND \"seq\" > ?2 AND \"seq\" <= ?3"
            ),
            insert_processed: format!(
                "INSERT INTO {processed} ({intents}, \"state\", \"version\", \"context\", \"processed_at\") \
                 VALUES ({})",
                placeholders(1, 13)
            ),
            insert_rejected: format!(
                "INSERT INTO {rejected} ({intents}, \"code\", \"message\", \"reason\", \"state\", \"rejected_at\") \
                 VALUES ({})",
                placeholders(1, 14)
            ),
            upsert_projection: format!(
                "INSERT INTO {projection} (\"id\", \"state\", \"version\", \"owner_id\", \"decided\"{field_list}, \"updated_at\") \
                 VALUES ({}) ON CONFLICT (\"id\") DO UPDATE SET \"state\" = excluded.\"state\", \
                 \"version\" = excluded.\"version\", \"owner_id\" = excluded.\"owner_id\", \
                 \"decided\" = excluded.\"decided\"{set_fields}, \
                 \"updated_at\" = excluded.\"updated_at\"",
                placeholders(1, 6 + n_fields)
            ),
            ensure_ack: format!(
                "INSERT INTO {acks} (\"id\", \"user_id\", \"last_seq\", \"updated_at\") VALUES (?1, ?2, 0, ?3) \
                 ON CONFLICT (\"id\") DO NOTHING"
            ),
            insert_pending: format!(
                "INSERT INTO {queue} ({intents}, \"received_at\") VALUES ({}) ON CONFLICT DO NOTHING",
                placeholders(1, 10)
            ),
            // The stored intents an uploaded one (?1 id, ?2 client, ?3 seq) may clash with,
            // each with where it is (0 queued, 1 archived, 2 rejected); every arm is an
            // index probe.
            known_intents: format!(
                "SELECT 0, \"id\", \"client_id\", \"seq\" FROM {queue} WHERE \"id\" = ?1 \
                 UNION ALL SELECT 0, \"id\", \"client_id\", \"seq\" FROM {queue} \
                   WHERE \"client_id\" = ?2 AND \"seq\" = ?3 \
                 UNION ALL SELECT 1, \"id\", \"client_id\", \"seq\" FROM {processed} \
                   WHERE \"id\" = ?1 OR (\"client_id\" = ?2 AND \"seq\" = ?3) \
                 UNION ALL SELECT 2, \"id\", \"client_id\", \"seq\" FROM {rejected} \
                   WHERE \"id\" = ?1 OR (\"client_id\" = ?2 AND \"seq\" = ?3)"
            ),
            pending_count: format!("SELECT COUNT(*) FROM {queue}"),
            latest_archived: latest_archived_sql(&processed),
            decisions: decisions_sql(&processed, &rejected),
            membership_log: membership_log_sql(&processed),
            delete_unarchived: delete_unarchived_sql(&projection, &processed),
            stamp_projection: stamp(&synced, TableRole::Projection, &changes),
            stamp_rejected: stamp(&synced, TableRole::Rejected, &changes),
            stamp_ack: stamp(&synced, TableRole::ClientAcks, &changes),
            unstamp_members: synced
                .iter()
                .find(|t| t.role == TableRole::Projection && t.has_members())
                .map(|t| unstamp_former_members_sql(&changes, t, "= ?1", Dialect::Sqlite)),
            stamp_removed: format!(
                "INSERT INTO {changes} (\"id\", \"pos\", \"user_id\", \"tbl\", \"row_id\", \"removed\") \
                 SELECT '{name}/' || ?1, (SELECT COALESCE(MAX(\"pos\"), 0) + 1 FROM {changes}), ?2, \
                   '{name}', ?1, 1 WHERE true \
                 ON CONFLICT (\"id\") DO UPDATE SET \"pos\" = excluded.\"pos\", \
                   \"user_id\" = excluded.\"user_id\", \"removed\" = 1",
                name = TableRole::Projection.table_name(D::NAME),
            ),
            backfill_changes: backfill_members_sql(&synced, Dialect::Sqlite)
                + &backfill_changes_sql(&changes, &synced),
            changes_after: changes_after_sql(&changes, "?1", "?2", "?3"),
            row_of: synced
                .iter()
                .map(|t| {
                    let sql = format!(
                        "SELECT {} FROM {} WHERE \"id\" = ?1 AND {}",
                        column_list(t),
                        quote(&t.name),
                        user_filter(t, Dialect::Sqlite, "?2")
                    );
                    (t.clone(), sql)
                })
                .collect(),
        }
    }
}

/// The stamping statement of the downloaded table with `role`.
fn stamp(synced: &[TableDef], role: TableRole, changes: &str) -> String {
    synced
        .iter()
        .find(|t| t.role == role)
        .map(|t| {
            if t.has_members() {
                stamp_member_rows_sql(changes, t, "= ?1", Dialect::Sqlite)
            } else {
                stamp_rows_sql(changes, t, "= ?1")
            }
        })
        .unwrap_or_default()
}
