//! The read half of a decision transaction on PostgreSQL: lock a batch of entities, then
//! read their pending intents, projections and clients' acknowledgements.

use std::collections::{HashMap, HashSet};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use crate::intent::row::IntentRow;
use crate::value::SqlValue;

use super::super::error::StoreError;
use super::super::records::Claim;
use super::super::sql::{stored_projection, to_i64, to_u64};
use super::error::Db;
use super::statements::Prepared;

/// The cells of a row from index `from` on.
pub(super) fn cells(row: &Row, from: usize) -> Result<Vec<SqlValue>, StoreError> {
    (from..row.len())
        .map(|i| row.try_get::<_, SqlValue>(i).db())
        .collect()
}

/// Try-locks up to `limit` entities with decidable intents, starting after `cursor` (which
/// it moves on), and returns their entity ids; empty if no entity could be locked.
pub(super) async fn lock_entities(
    tx: &Transaction<'_>,
    st: &Prepared,
    lock_key: &str,
    cursor: &mut String,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let limit_i = to_i64(limit as u64)?;
    let window = limit_i.saturating_mul(8).max(64);
    let mut rows: Vec<(String, String)> = Vec::new();
    for (statement, wanted) in [
        (&st.candidates_after, true),
        (&st.candidates_upto, !cursor.is_empty()),
    ] {
        let room = limit_i - rows.len() as i64;
        if !wanted || room <= 0 {
            continue;
        }
        for r in tx
            .query(statement, &[&room, &lock_key, &window, &*cursor])
            .await
            .db()?
        {
            rows.push((r.try_get(0).db()?, r.try_get(1).db()?));
        }
    }
    // The next claim starts after the last client read, or from the start if this one saw
    // every candidate.
    *cursor = match rows.last() {
        Some((_, client)) if rows.len() >= limit => client.clone(),
        _ => String::new(),
    };
    let mut seen = HashSet::new();
    Ok(rows
        .into_iter()
        .map(|(entity, _)| entity)
        .filter(|e| seen.insert(e.clone()))
        .collect())
}

/// Reads the claim of the `locked` entities: run after the locks are held, so each
/// statement sees every decision committed by the previous holders. Pipelined: one round
/// trip for the three reads.
pub(super) async fn read(
    tx: &Transaction<'_>,
    st: &Prepared,
    locked: &[String],
    limit: usize,
) -> Result<Claim, StoreError> {
    let max_rows = to_i64(limit as u64)?.saturating_mul(2).max(64);
    let (pending_params, by_entity): ([&(dyn ToSql + Sync); 2], [&(dyn ToSql + Sync); 1]) =
        ([&locked, &max_rows], [&locked]);
    let (pending, projections, acks) = tokio::join!(
        tx.query(&st.pending, &pending_params),
        tx.query(&st.projections, &by_entity),
        tx.query(&st.acks_of_entities, &by_entity),
    );
    let (pending, projections, acks) = (pending.db()?, projections.db()?, acks.db()?);
    let mut claim = Claim::default();
    for row in &pending {
        match IntentRow::read(row) {
            Ok(intent) => {
                if let Ok(received) = row.try_get::<_, i64>(9) {
                    claim.received.insert(intent.id, received);
                }
                claim.intents.push(intent.to_raw());
            }
            Err(bad) => claim.malformed.push(bad.into()),
        }
    }
    for row in &projections {
        let id: String = row.try_get(0).db()?;
        if let Ok(id) = Uuid::parse_str(&id) {
            // A row that does not read stops its entity, not the batch.
            match cells(row, 1).and_then(stored_projection) {
                Ok(p) => {
                    claim.projections.insert(id, p);
                }
                Err(e) => {
                    claim.unreadable.insert(id, e.to_string());
                }
            }
        }
    }
    let mut ack_map = HashMap::new();
    for row in &acks {
        let (client, last): (String, i64) = (row.try_get(0).db()?, row.try_get(1).db()?);
        ack_map.insert(client, to_u64(last, "last_seq")?);
    }
    claim.acks = ack_map;
    Ok(claim)
}
