//! The upload path: PowerSync's queue of intents, grouped by domain and handed to the backend.

use powersync::error::PowerSyncError;
use powersync::{CrudEntry, PowerSyncDatabase};
use serde_json::Value;

use std::collections::HashMap;

use uuid::Uuid;

use crate::client::renumber::renumber;
use crate::intent::RawIntent;
use crate::schema::TableRole;
use crate::server::IngestError;

use super::UploadBatch;

/// Why a queued entry could not be read as an intent. The entry stays queued.
#[derive(Debug, thiserror::Error)]
#[error("upload queue entry {id} of table {table}: {reason}")]
pub struct MalformedUpload {
    /// The queued row's id.
    pub id: String,
    /// Its table.
    pub table: String,
    /// What is wrong.
    pub reason: String,
}

/// What [`upload_intents`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Local transactions uploaded.
    pub transactions: usize,
    /// Intents handed to the backend.
    pub intents: usize,
}

/// At most this many intents go to the backend in one call.
pub const MAX_UPLOAD_BATCH: usize = 1000;

/// Drains PowerSync's upload queue: the intents of consecutive local transactions (up to
/// [`MAX_UPLOAD_BATCH`]), grouped by domain in an [`UploadBatch`], go to `send` in one call —
/// your call to the backend, whose endpoint hands each domain's intents to that domain's
/// `sai::server::ingest` for the authenticated user — and those transactions are completed
/// only when `send` succeeded. On an error nothing is completed, PowerSync retries later, and
/// the server stores a repeated intent once (also when only some domains were stored).
///
/// When `send` fails with [`IngestError::SequenceTaken`] (itself or as a source in its
/// chain: the device reused a decided sequence number, its file restored from an older copy
/// or copied to a second device), the client's undecided intents are renumbered past it in
/// the log and in the queue, and the queue is sent again (see the `client` module docs,
/// "Restored and cloned devices").
///
/// An intent's domain is its queue table's name without the [`TableRole::IntentQueue`]
/// suffix. Use it as the body of `BackendConnector::upload_data`:
///
/// ```ignore
/// upload_intents(&self.db, |batch| self.backend.post("/intents", batch)).await?;
///
/// // The endpoint, for the authenticated `user`, serving one domain…
/// ingest(&mut todos, &user, batch.only(Todo::NAME)?).await?;
/// // …or several: refuse a domain it does not serve before storing anything.
/// batch.check_served(&[Todo::NAME, Note::NAME])?;
/// for (domain, intents) in batch.domains() {
///     match domain {
///         Todo::NAME => ingest(&mut todos, &user, intents).await?,
///         _ => ingest(&mut notes, &user, intents).await?,
///     };
/// }
/// ```
pub async fn upload_intents<F, Fut, E>(
    db: &PowerSyncDatabase,
    mut send: F,
) -> Result<UploadReport, PowerSyncError>
where
    F: FnMut(UploadBatch) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    use futures_lite::StreamExt;
    let mut report = UploadReport::default();
    let mut renumberings = 0;
    loop {
        let mut queue = std::pin::pin!(db.crud_transactions());
        let mut batch = UploadBatch::new();
        let mut last = None;
        while batch.len() < MAX_UPLOAD_BATCH {
            let Some(tx) = queue.try_next().await? else {
                break;
            };
            for entry in &tx.crud {
                let (domain, intent) =
                    queued_intent(entry).map_err(PowerSyncError::upload_error)?;
                batch.push(domain, intent);
            }
            report.transactions += 1;
            last = Some(tx);
        }
        // Completing the last transaction removes every queued entry up to it.
        let Some(last) = last else { return Ok(report) };
        let n = batch.len();
        let domains: HashMap<Uuid, String> = batch
            .domains()
            .flat_map(|(d, intents)| intents.iter().map(move |i| (i.id, d.to_owned())))
            .collect();
        tracing::debug!(
            intents = n,
            transactions = report.transactions,
            "uploading intents"
        );
        if let Err(e) = send(batch).await {
            match sequence_taken(&e) {
                Some((client_id, seq, intent_id)) if renumberings < MAX_RENUMBERINGS => {
                    let Some(domain) = domains.get(&intent_id) else {
                        return Err(PowerSyncError::upload_error(e));
                    };
                    renumberings += 1;
                    let moved = renumber_queued(db, domain, &client_id, seq).await?;
                    tracing::warn!(
                        domain = domain.as_str(),
                        client_id = client_id.as_str(),
                        taken_seq = seq,
                        moved,
                        "upload refused: sequence number taken (restored or cloned device); \
                         renumbered the undecided intents, uploading again"
                    );
                    continue;
                }
                _ => {
                    tracing::debug!(error = %e, "upload failed; PowerSync retries later");
                    return Err(PowerSyncError::upload_error(e));
                }
            }
        }
        last.complete().await?;
        report.intents += n;
    }
}

/// How many times one call renumbers past a taken sequence number before it gives up (each
/// time moves past at least one number the server decided).
const MAX_RENUMBERINGS: usize = 64;

/// The (client, seq, intent) of an [`IngestError::SequenceTaken`] anywhere in `e`'s chain:
/// the endpoint's error, or one it wraps as its source (an HTTP backend rebuilds the
/// refusal from its response).
fn sequence_taken(e: &(dyn std::error::Error + 'static)) -> Option<(String, u64, Uuid)> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(IngestError::SequenceTaken {
            client_id,
            seq,
            intent_id,
            ..
        }) = err.downcast_ref::<IngestError>()
        {
            return Some((client_id.clone(), *seq, *intent_id));
        }
        next = err.source();
    }
    None
}

/// Renumbers the client's intents of `domain` past `taken` (see the `client` module docs,
/// "Restored and cloned devices") in the local log and in the queued upload entries, in one
/// transaction on PowerSync's writer. Returns how many moved.
async fn renumber_queued(
    db: &PowerSyncDatabase,
    domain: &str,
    client_id: &str,
    taken: u64,
) -> Result<usize, PowerSyncError> {
    let writer = db.writer().await?;
    let tx = writer.unchecked_transaction()?;
    let moves = renumber(&tx, domain, client_id, taken).map_err(PowerSyncError::upload_error)?;
    let queue = TableRole::IntentQueue.table_name(domain);
    for (id, seq) in &moves {
        tx.execute(
            "UPDATE ps_crud SET data = json_set(data, '$.data.seq', ?2) \
             WHERE json_extract(data, '$.type') = ?3 AND json_extract(data, '$.id') = ?1",
            rusqlite::params![id.to_string(), *seq as i64, queue],
        )?;
    }
    tx.commit()?;
    Ok(moves.len())
}

/// A queue entry as its domain's name and the intent.
fn queued_intent(entry: &CrudEntry) -> Result<(&str, RawIntent), MalformedUpload> {
    let bad = |reason: String| MalformedUpload {
        id: entry.id.clone(),
        table: entry.table.clone(),
        reason,
    };
    let domain = TableRole::IntentQueue
        .domain_of(&entry.table)
        .ok_or_else(|| bad("not an intent queue: only intents are uploaded".into()))?;
    let mut data = entry.data.clone().ok_or_else(|| bad("no data".into()))?;
    data.insert("id".into(), Value::from(entry.id.as_str()));
    let intent = serde_json::from_value(Value::Object(data)).map_err(|e| bad(e.to_string()))?;
    Ok((domain, intent))
}

#[cfg(test)]
mod tests {
    use powersync::UpdateType;
    use serde_json::json;

    use super::*;

    fn entry(table: &str, id: &str, data: Option<Value>) -> CrudEntry {
        CrudEntry {
            client_id: 1,
            transaction_id: 1,
            update_type: UpdateType::Put,
            table: table.into(),
            id: id.into(),
            metadata: None,
            data: data.map(|d| d.as_object().unwrap().clone()),
            previous_values: None,
        }
    }

    fn queued(table: &str, seq: u64) -> CrudEntry {
        let data = json!({
            "entity_id": "0195f3a4-7a7e-7c4e-9a3b-0a1b2c3d4e5f", "client_id": "c", "user_id": "u",
            "seq": seq, "event_type": "TOGGLE", "event_version": 1,
            "payload": "{\"type\":\"TOGGLE\"}", "created_at": 9
        });
        entry(table, &crate::Uuid::now_v7().to_string(), Some(data))
    }

    #[test]
    fn queue_entries_read_as_intents_or_say_why_not() {
        let e = queued("todo_intent_events", 3);
        let (domain, raw) = queued_intent(&e).unwrap();
        assert_eq!(
            (domain, raw.seq, raw.event_type.as_str(), raw.id.to_string()),
            ("todo", 3, "TOGGLE", e.id.clone())
        );
        let mut missing = queued("todo_intent_events", 3);
        missing.data.as_mut().unwrap().remove("seq");
        let err = queued_intent(&missing).unwrap_err();
        assert!(err.reason.contains("seq"), "{err}");
        let mut bad_id = queued("todo_intent_events", 3);
        bad_id.id = "not-a-uuid".into();
        assert!(queued_intent(&bad_id).is_err());
        let err = queued_intent(&entry("todo_intent_events", "x", None)).unwrap_err();
        assert_eq!(err.reason, "no data");
    }

    #[test]
    fn the_domain_is_the_queue_table_without_its_suffix() {
        for (table, domain) in [
            ("todo_intent_events", "todo"),
            ("shopping_list_intent_events", "shopping_list"),
            // A domain name may itself end like a role's suffix: only the last one goes.
            ("audit_intent_events_intent_events", "audit_intent_events"),
        ] {
            assert_eq!(queued_intent(&queued(table, 1)).unwrap().0, domain);
            assert_eq!(TableRole::IntentQueue.table_name(domain), table);
        }
        for table in [
            "todo_projection",
            "todo_intent_events_local",
            "todo_intent_events_rejected",
            "_intent_events",
            "intent_events",
            "",
        ] {
            let err = queued_intent(&queued(table, 1)).unwrap_err();
            assert_eq!(err.table, table);
            assert!(err.reason.contains("not an intent queue"), "{err}");
        }
    }

    #[test]
    fn queue_entries_of_two_domains_group_per_domain_in_queue_order() {
        let queue = [
            queued("todo_intent_events", 1),
            queued("note_intent_events", 1),
            queued("todo_intent_events", 2),
            queued("note_intent_events", 2),
            queued("todo_intent_events", 3),
        ];
        let mut batch = UploadBatch::new();
        for e in &queue {
            let (domain, intent) = queued_intent(e).unwrap();
            batch.push(domain, intent);
        }
        let groups: Vec<(&str, Vec<String>)> = batch
            .domains()
            .map(|(d, intents)| (d, intents.iter().map(|i| i.id.to_string()).collect()))
            .collect();
        let ids = |picks: &[usize]| picks.iter().map(|&i| queue[i].id.clone()).collect();
        assert_eq!(groups, [("todo", ids(&[0, 2, 4])), ("note", ids(&[1, 3]))]);
    }
}
