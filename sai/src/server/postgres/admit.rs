//! The admission transaction on PostgreSQL: bind and lock the upload's clients, read the
//! stored intents it may clash with, admit, queue the plan.
//!
//! Concurrency: the upload's clients are bound first (`INSERT … ON CONFLICT DO NOTHING`, so
//! of two first uploads for one client only one user wins) and then read `FOR SHARE`, which
//! waits for a decision in flight on those clients: the `last_seq` admission sees is final
//! until this transaction ends, so a decided intent is never queued again. Intents queued
//! meanwhile by a concurrent upload are skipped by `ON CONFLICT DO NOTHING` and counted as
//! duplicates.

use tokio_postgres::Client;
use uuid::Uuid;

use crate::intent::{RawIntent, Timestamp};

use super::super::admission::{
    AdmissionFacts, AdmissionPlan, ClientBinding, IngestReport, IntentPlace, KnownIntent,
};
use super::super::error::{IngestError, StoreError};
use super::super::sql::{stored_id, to_i64, to_u64};
use super::error::Db;
use super::params::{intent_arrays, refs};
use super::statements::Prepared;

/// One admission transaction (see
/// [`ServerStore::admit_upload`](super::super::ServerStore::admit_upload)).
pub(super) async fn admit_upload<F>(
    client: &mut Client,
    st: &Prepared,
    user_id: &str,
    upload: &[RawIntent],
    received_at: Timestamp,
    admit: F,
) -> Result<IngestReport, IngestError>
where
    F: FnOnce(&AdmissionFacts) -> Result<AdmissionPlan, IngestError> + Send,
{
    let tx = client.transaction().await.db()?;
    let mut clients: Vec<&str> = upload.iter().map(|i| i.client_id.as_str()).collect();
    clients.sort_unstable();
    clients.dedup();
    tx.execute(&st.ensure_acks, &[&clients, &user_id, &received_at])
        .await
        .db()?;
    let mut facts = AdmissionFacts::default();
    for row in tx.query(&st.lock_acks, &[&clients]).await.db()? {
        let (client_id, bound_to, last_seq): (String, String, i64) = (
            row.try_get(0).db()?,
            row.try_get(1).db()?,
            row.try_get(2).db()?,
        );
        let binding = ClientBinding {
            user_id: bound_to,
            last_seq: to_u64(last_seq, "last_seq")?,
        };
        facts.clients.insert(client_id, binding);
    }
    let ids: Vec<String> = upload.iter().map(|i| i.id.to_string()).collect();
    let upload_clients: Vec<&str> = upload.iter().map(|i| i.client_id.as_str()).collect();
    let seqs = upload
        .iter()
        .map(|i| to_i64(i.seq))
        .collect::<Result<Vec<i64>, StoreError>>()?;
    for row in tx
        .query(&st.known_intents, &[&ids, &upload_clients, &seqs])
        .await
        .db()?
    {
        let (place, id, client_id, seq): (i32, &str, String, i64) = (
            row.try_get(0).db()?,
            row.try_get(1).db()?,
            row.try_get(2).db()?,
            row.try_get(3).db()?,
        );
        let seq = to_u64(seq, "seq")?;
        let id = Uuid::parse_str(id).unwrap_or_else(|_| {
            let slot = upload
                .iter()
                .find(|i| i.client_id == client_id && i.seq == seq);
            stored_id(id, slot.map(|i| i.id).unwrap_or_default())
        });
        facts.known.push(KnownIntent {
            id,
            client_id,
            seq,
            place: match place {
                0 => IntentPlace::Queued,
                1 => IntentPlace::Archived,
                _ => IntentPlace::Rejected,
            },
        });
    }

    let plan = admit(&facts)?;
    if !plan.bind.is_empty() {
        tx.execute(&st.ensure_acks, &[&plan.bind, &user_id, &received_at])
            .await
            .db()?;
    }
    let mut inserted = 0;
    if !plan.queue.is_empty() {
        let mut params = intent_arrays(plan.queued(upload))?;
        params.push(Box::new(received_at));
        inserted = tx.execute(&st.insert_pending, &refs(&params)).await.db()?;
    }
    if inserted > 0 {
        // Delivered at the commit, to every connection listening (workers in any process).
        tx.query(&st.notify, &[]).await.db()?;
    }
    tx.commit().await.db()?;
    let inserted = usize::try_from(inserted).unwrap_or(usize::MAX);
    Ok(IngestReport::of_upload(upload.len(), inserted))
}
