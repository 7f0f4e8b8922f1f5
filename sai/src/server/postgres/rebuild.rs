//! The projection rebuild on PostgreSQL: the archive's latest snapshots in, every
//! projection row rewritten, in one transaction that holds off deciding.

use tokio_postgres::Client;

use crate::intent::Timestamp;

use super::super::decisions::ProjectionWrite;
use super::super::error::StoreError;
use super::super::records::ArchivedSnapshot;
use super::super::sql::{archived_snapshot, attach_decided, attach_membership};
use super::error::Db;
use super::params::{projection_params, refs};
use super::statements::{Prepared, Sql};

/// One rebuild transaction (see
/// [`ServerStore::rebuild_projections`](super::super::ServerStore::rebuild_projections)).
pub(super) async fn rebuild_projections<F>(
    client: &mut Client,
    st: &Prepared,
    sql: &Sql,
    now: Timestamp,
    rebuild: F,
) -> Result<usize, StoreError>
where
    F: FnOnce(Vec<ArchivedSnapshot>) -> Result<Vec<ProjectionWrite>, StoreError> + Send,
{
    let tx = client.transaction().await.db()?;
    // Deciders write projections, so they wait here until the rebuild commits; the
    // archive is read after the lock, so it holds every decision committed before.
    tx.batch_execute(&sql.lock_projection).await.db()?;
    let mut archived = Vec::new();
    for row in tx.query(&st.latest_archived, &[]).await.db()? {
        let id: &str = row.try_get(0).db()?;
        archived.push(archived_snapshot(
            id,
            row.try_get(1).db()?,
            row.try_get(2).db()?,
            row.try_get(3).db()?,
            row.try_get(4).db()?,
        )?);
    }
    let mut decisions = Vec::new();
    for row in tx.query(&st.decisions, &[]).await.db()? {
        decisions.push((
            row.try_get(0).db()?,
            row.try_get(1).db()?,
            row.try_get(2).db()?,
            row.try_get::<_, i32>(3).db().map(i64::from)?,
        ));
    }
    attach_decided(&mut archived, decisions)?;
    let mut membership = Vec::new();
    for row in tx.query(&st.membership_log, &[]).await.db()? {
        membership.push((
            row.try_get(0).db()?,
            row.try_get(1).db()?,
            row.try_get(2).db()?,
        ));
    }
    attach_membership(&mut archived, membership);
    let projections = rebuild(archived)?;
    let mut removed_ids = Vec::new();
    let mut removed_owners = Vec::new();
    for row in tx.query(&st.delete_unarchived, &[]).await.db()? {
        removed_ids.push(row.try_get::<_, String>(0).db()?);
        removed_owners.push(row.try_get::<_, String>(1).db()?);
    }
    if !projections.is_empty() {
        let params = projection_params(&sql.field_types, &projections, now)?;
        tx.execute(&st.upsert_projection, &refs(&params))
            .await
            .db()?;
    }
    // The change log last (see `decide::stamp_decisions`): removals, then every row.
    tx.batch_execute(&sql.lock_changes).await.db()?;
    if !removed_ids.is_empty() {
        tx.execute(&st.stamp_removed, &[&removed_ids, &removed_owners])
            .await
            .db()?;
        // A shared row's members each have an entry: every one of them is a removal now.
        if let Some(unstamp) = &st.unstamp_members {
            tx.execute(unstamp, &[&removed_ids]).await.db()?;
        }
    }
    let ids: Vec<String> = projections.iter().map(|p| p.id.to_string()).collect();
    if !ids.is_empty() {
        tx.execute(&st.stamp_projection, &[&ids]).await.db()?;
    }
    tx.commit().await.db()?;
    Ok(projections.len())
}
