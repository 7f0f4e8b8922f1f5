//! The decision transaction on PostgreSQL: lock and read a claim ([`claim`](super::claim)),
//! decide it, write the decisions, commit.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

use crate::intent::Timestamp;
use crate::value::ColumnType;

use super::super::decisions::Decisions;
use super::super::error::StoreError;
use super::super::records::Claim;
use super::claim;
use super::error::Db;
use super::params::{ack_params, archive_params, projection_params, refs, rejection_params};
use super::statements::{Prepared, Sql};

/// One decision transaction (see [`ServerStore::decide_batch`](super::super::ServerStore)).
pub(super) async fn decide_batch<F>(
    client: &mut Client,
    st: &Prepared,
    sql: &Sql,
    cursor: &mut String,
    limit: usize,
    now: Timestamp,
    decide: F,
) -> Result<Decisions, StoreError>
where
    F: FnOnce(Claim) -> Decisions + Send,
{
    let tx = client.transaction().await.db()?;
    let locked = claim::lock_entities(&tx, st, &sql.lock_key, cursor, limit).await?;
    if locked.is_empty() {
        tx.rollback().await.db()?;
        return Ok(Decisions::default());
    }
    let d = decide(claim::read(&tx, st, &locked, limit).await?);
    if d.is_empty() {
        tx.rollback().await.db()?;
        return Ok(d);
    }
    write(&tx, st, &sql.field_types, &d, now).await?;
    stamp_decisions(&tx, st, sql, &d).await?;
    tx.commit().await.db()?;
    Ok(d)
}

/// Stamps the downloaded rows a batch changed in the change log. Last in the transaction:
/// the log's lock is held from here to the commit, which keeps positions in commit order
/// (a position taken before an earlier one commits would let a reader pass it by).
async fn stamp_decisions(
    tx: &Transaction<'_>,
    st: &Prepared,
    sql: &Sql,
    d: &Decisions,
) -> Result<(), StoreError> {
    tx.batch_execute(&sql.lock_changes).await.db()?;
    let projections: Vec<String> = d.projections.iter().map(|p| p.id.to_string()).collect();
    let rejected: Vec<String> = d.rejected.iter().map(|r| r.intent.id.to_string()).collect();
    let acks: Vec<&str> = d.acks.iter().map(|a| a.client_id.as_str()).collect();
    // One after the other: each statement numbers after the positions the previous took.
    if !projections.is_empty() {
        tx.execute(&st.stamp_projection, &[&projections])
            .await
            .db()?;
        if let Some(unstamp) = &st.unstamp_members {
            tx.execute(unstamp, &[&projections]).await.db()?;
        }
    }
    if !rejected.is_empty() {
        tx.execute(&st.stamp_rejected, &[&rejected]).await.db()?;
    }
    if !acks.is_empty() {
        tx.execute(&st.stamp_ack, &[&acks]).await.db()?;
    }
    Ok(())
}

/// Writes a batch's decisions, one set-based statement per table, pipelined; any error
/// leaves the transaction to roll back.
async fn write(
    tx: &Transaction<'_>,
    st: &Prepared,
    field_types: &[ColumnType],
    d: &Decisions,
    now: Timestamp,
) -> Result<(), StoreError> {
    // Acknowledgements first (see the module docs), then the rest; one round trip.
    let ack_params = ack_params(&d.acks, now)?;
    // Stale rows are removed by id; decided ones by their client's range (see
    // `delete_decided`), which must match the decisions exactly.
    let stale_ids: Vec<String> = d.stale.iter().map(Uuid::to_string).collect();
    let decided_count: u64 = d.acks.iter().map(|a| a.to - a.from).sum();
    let processed = archive_params(&d.accepted, now)?;
    let rejected = rejection_params(&d.rejected, now)?;
    let projection = projection_params(field_types, &d.projections, now)?;

    let stale_params: [&(dyn ToSql + Sync); 1] = [&stale_ids];
    let (ack_refs, processed_refs, rejected_refs, projection_refs) = (
        refs(&ack_params),
        refs(&processed),
        refs(&rejected),
        refs(&projection),
    );
    let (acked, deleted, cleared, archived, recorded, projected) = tokio::join!(
        tx.execute(&st.advance_acks, &ack_refs),
        tx.execute(&st.delete_decided, &ack_refs[..3]),
        async {
            if stale_ids.is_empty() {
                return Ok(0);
            }
            tx.execute(&st.delete_pending, &stale_params).await
        },
        tx.execute(&st.insert_processed, &processed_refs),
        tx.execute(&st.insert_rejected, &rejected_refs),
        tx.execute(&st.upsert_projection, &projection_refs),
    );
    // The first failure in statement order is the cause; later ones only report the
    // aborted transaction.
    let (acked, deleted, cleared) = (acked.db()?, deleted.db()?, cleared.db()?);
    archived.db()?;
    recorded.db()?;
    projected.db()?;
    if acked != d.acks.len() as u64 {
        return Err(StoreError::Conflict(
            "a client's acknowledgement moved during the batch".into(),
        ));
    }
    if deleted != decided_count || cleared != stale_ids.len() as u64 {
        return Err(StoreError::Conflict(
            "an intent of the batch is no longer pending".into(),
        ));
    }
    Ok(())
}
