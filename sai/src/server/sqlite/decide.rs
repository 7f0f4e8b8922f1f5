//! The decision transaction on SQLite: claim a batch (read), then write its decisions.

use rusqlite::{Connection, OptionalExtension, ToSql, params};
use uuid::Uuid;

use crate::intent::Timestamp;
use crate::intent::row::{Cells, IntentRow};
use crate::value::SqlValue;

use super::super::decisions::{Decisions, ProjectionWrite};
use super::super::error::StoreError;
use super::super::records::{Claim, StoredProjection};
use super::super::sql::{stored_projection, to_i64, to_u64};
use super::error::Db;
use super::params::intent_params;
use super::statements::Statements;

/// The first `n` cells of a row, or what in them is not a value the library writes (a BLOB,
/// text that is not UTF-8).
fn read_cells(row: &rusqlite::Row<'_>, n: usize) -> Result<Vec<SqlValue>, String> {
    use crate::intent::row::Cell;
    (0..n)
        .map(|i| match row.cell(i) {
            Ok(Cell::Null) => Ok(SqlValue::Null),
            Ok(Cell::Integer(v)) => Ok(SqlValue::Integer(v)),
            Ok(Cell::Real(v)) => Ok(SqlValue::Real(v)),
            Ok(Cell::Text(t)) => Ok(SqlValue::Text(t.to_owned())),
            Err(why) => Err(format!("column {i} {why}")),
        })
        .collect()
}

/// An entity's projection: `Ok(Err(why))` if the row exists but does not read.
pub(super) fn read_projection(
    conn: &Connection,
    sql: &Statements,
    n_fields: usize,
    id: &str,
) -> Result<Result<Option<StoredProjection>, String>, StoreError> {
    let cells = conn
        .prepare_cached(&sql.projection_of)
        .db()?
        .query_row([id], |row| Ok(read_cells(row, 4 + n_fields)))
        .optional()
        .db()?;
    Ok(match cells {
        None => Ok(None),
        Some(Err(why)) => Err(why),
        Some(Ok(cells)) => stored_projection(cells)
            .map(Some)
            .map_err(|e| e.to_string()),
    })
}

/// Claims up to `limit` rows from the clients after `cursor`, then from the start; returns
/// the claim and the cursor for the next one (the last client read if the claim is full,
/// else empty: every candidate was seen).
pub(super) fn claim(
    conn: &Connection,
    sql: &Statements,
    n_fields: usize,
    limit: usize,
    cursor: &str,
) -> Result<(Claim, String), StoreError> {
    let mut claim = Claim::default();
    let mut read = 0usize;
    let mut last_client = String::new();
    for (statement, wanted) in [
        (&sql.claim_after, true),
        (&sql.claim_upto, !cursor.is_empty()),
    ] {
        if !wanted || read >= limit {
            continue;
        }
        let mut stmt = conn.prepare_cached(statement).db()?;
        let mut rows = stmt
            .query(params![to_i64((limit - read) as u64)?, cursor])
            .db()?;
        while let Some(row) = rows.next().db()? {
            read += 1;
            if let rusqlite::types::ValueRef::Text(client) = row.get_ref(2).db()? {
                last_client = String::from_utf8_lossy(client).into_owned();
            }
            match IntentRow::read(row) {
                Ok(intent) => {
                    if !claim.acks.contains_key(intent.client_id) {
                        let last = to_u64(row.get(9).db()?, "last_seq")?;
                        claim.acks.insert(intent.client_id.to_owned(), last);
                    }
                    if let Ok(received) = row.get::<_, i64>(10) {
                        claim.received.insert(intent.id, received);
                    }
                    claim.intents.push(intent.to_raw());
                }
                Err(bad) => claim.malformed.push(bad.into()),
            }
        }
    }
    let next = if read >= limit {
        last_client
    } else {
        String::new()
    };
    let mut entities: Vec<Uuid> = claim.intents.iter().map(|i| i.entity_id).collect();
    entities.sort_unstable();
    entities.dedup();
    for id in entities {
        match read_projection(conn, sql, n_fields, &id.to_string())? {
            Ok(Some(p)) => {
                claim.projections.insert(id, p);
            }
            Ok(None) => {}
            Err(why) => {
                claim.unreadable.insert(id, why);
            }
        }
    }
    Ok((claim, next))
}

/// Writes a batch's decisions; any error leaves the transaction to roll back.
pub(super) fn write(
    conn: &Connection,
    sql: &Statements,
    d: &Decisions,
    now: Timestamp,
) -> Result<(), StoreError> {
    // Acknowledgements first, guarded by their previous value: if another transaction
    // moved one, this batch is stale and rolls back whole. A client's decided intents
    // are exactly its sequence numbers in (from, to], so one range delete removes them.
    let mut advance = conn.prepare_cached(&sql.advance_ack).db()?;
    let mut delete = conn.prepare_cached(&sql.delete_decided).db()?;
    for a in &d.acks {
        let (from, to) = (to_i64(a.from)?, to_i64(a.to)?);
        let moved = advance.execute(params![a.client_id, from, to, now]).db()?;
        if moved != 1 {
            return Err(StoreError::Conflict(format!(
                "client `{}` is no longer at sequence {}",
                a.client_id, a.from
            )));
        }
        let deleted = delete.execute(params![a.client_id, from, to]).db()?;
        if deleted as u64 != a.to - a.from {
            return Err(StoreError::Conflict(format!(
                "intents {}..={} of client `{}` are no longer pending",
                a.from + 1,
                a.to,
                a.client_id
            )));
        }
    }
    let mut delete_stale = conn.prepare_cached(&sql.delete_pending).db()?;
    for id in &d.stale {
        delete_stale.execute([id.to_string()]).db()?;
    }
    let mut processed = conn.prepare_cached(&sql.insert_processed).db()?;
    for a in &d.accepted {
        let i = &a.intent;
        processed
            .execute(intent_params![i; a.state, to_i64(a.version)?, a.context, now])
            .db()?;
    }
    let mut rejected = conn.prepare_cached(&sql.insert_rejected).db()?;
    for r in &d.rejected {
        let i = &r.intent;
        rejected
            .execute(intent_params![i; r.code, r.message, r.reason, r.state, now])
            .db()?;
    }
    upsert_projections(conn, sql, &d.projections, now)?;
    // Last: the change log of what clients download, in this transaction (the write lock
    // held since `BEGIN IMMEDIATE` makes positions follow commit order).
    stamp(
        conn,
        &sql.stamp_projection,
        d.projections.iter().map(|p| p.id.to_string()),
    )?;
    if let Some(unstamp) = &sql.unstamp_members {
        stamp(
            conn,
            unstamp,
            d.projections.iter().map(|p| p.id.to_string()),
        )?;
    }
    stamp(
        conn,
        &sql.stamp_rejected,
        d.rejected.iter().map(|r| r.intent.id.to_string()),
    )?;
    stamp(
        conn,
        &sql.stamp_ack,
        d.acks.iter().map(|a| a.client_id.clone()),
    )
}

/// Stamps rows of one downloaded table as changed, one statement each.
pub(super) fn stamp(
    conn: &Connection,
    statement: &str,
    ids: impl IntoIterator<Item = String>,
) -> Result<(), StoreError> {
    let mut stamp = conn.prepare_cached(statement).db()?;
    for id in ids {
        stamp.execute([id]).db()?;
    }
    Ok(())
}

/// Upserts projection rows, one prepared statement each.
pub(super) fn upsert_projections(
    conn: &Connection,
    sql: &Statements,
    projections: &[ProjectionWrite],
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut upsert = conn.prepare_cached(&sql.upsert_projection).db()?;
    for p in projections {
        let (id, version) = (p.id.to_string(), to_i64(p.version)?);
        let head: [&dyn ToSql; 5] = [&id, &p.state, &version, &p.owner_id, &p.decided];
        let fields = p.fields.iter().map(|f| f as &dyn ToSql);
        upsert
            .execute(rusqlite::params_from_iter(
                head.into_iter().chain(fields).chain([&now as &dyn ToSql]),
            ))
            .db()?;
    }
    Ok(())
}
