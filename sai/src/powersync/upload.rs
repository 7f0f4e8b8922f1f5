//! The upload path: PowerSync's queue of intents, handed to the backend.

use powersync::PowerSyncDatabase;
use powersync::error::PowerSyncError;
use serde_json::Value;

use crate::intent::RawIntent;

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
/// [`MAX_UPLOAD_BATCH`]) go to `send` in one call — your call to the backend, which hands
/// them to `sai::server::ingest` for the authenticated user — and those transactions are
/// completed only when `send` succeeded. On an error nothing is completed, PowerSync retries
/// later, and the server stores a repeated intent once.
///
/// Use it as the body of `BackendConnector::upload_data`.
pub async fn upload_intents<F, Fut, E>(
    db: &PowerSyncDatabase,
    mut send: F,
) -> Result<UploadReport, PowerSyncError>
where
    F: FnMut(Vec<RawIntent>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    use futures_lite::StreamExt;
    let mut report = UploadReport::default();
    loop {
        let mut queue = std::pin::pin!(db.crud_transactions());
        let mut intents = Vec::new();
        let mut last = None;
        while intents.len() < MAX_UPLOAD_BATCH {
            let Some(tx) = queue.try_next().await? else {
                break;
            };
            for entry in &tx.crud {
                let data = entry.data.as_ref().map(|m| Value::Object(m.clone()));
                intents.push(
                    raw_intent(&entry.id, &entry.table, data)
                        .map_err(PowerSyncError::upload_error)?,
                );
            }
            report.transactions += 1;
            last = Some(tx);
        }
        // Completing the last transaction removes every queued entry up to it.
        let Some(last) = last else { return Ok(report) };
        let n = intents.len();
        send(intents).await.map_err(PowerSyncError::upload_error)?;
        last.complete().await?;
        report.intents += n;
    }
}

fn raw_intent(id: &str, table: &str, data: Option<Value>) -> Result<RawIntent, MalformedUpload> {
    let bad = |reason: String| MalformedUpload {
        id: id.to_owned(),
        table: table.to_owned(),
        reason,
    };
    if !table.ends_with("_intent_events") {
        return Err(bad("not an intent queue: only intents are uploaded".into()));
    }
    let mut data = data.ok_or_else(|| bad("no data".into()))?;
    let object = data
        .as_object_mut()
        .ok_or_else(|| bad("data is not an object".into()))?;
    object.insert("id".into(), Value::from(id));
    serde_json::from_value(data).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_entries_read_as_intents_or_say_why_not() {
        let data = serde_json::json!({
            "entity_id": "0195f3a4-7a7e-7c4e-9a3b-0a1b2c3d4e5f", "client_id": "c", "user_id": "u",
            "seq": 3, "event_type": "TOGGLE", "event_version": 1,
            "payload": "{\"type\":\"TOGGLE\"}", "created_at": 9
        });
        let id = "0195f3a4-7a7e-7c4e-9a3b-0a1b2c3d4e60";
        let raw = raw_intent(id, "todo_intent_events", Some(data.clone())).unwrap();
        assert_eq!(
            (
                raw.seq,
                raw.event_type.as_str(),
                raw.id.to_string().as_str()
            ),
            (3, "TOGGLE", id)
        );
        let e = raw_intent(id, "todo_projection", Some(data.clone())).unwrap_err();
        assert!(e.reason.contains("not an intent queue"), "{e}");
        let mut missing = data;
        missing.as_object_mut().unwrap().remove("seq");
        let e = raw_intent(id, "todo_intent_events", Some(missing)).unwrap_err();
        assert!(e.reason.contains("seq"), "{e}");
        assert!(raw_intent("not-a-uuid", "todo_intent_events", None).is_err());
    }
}
