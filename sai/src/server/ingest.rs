//! Ingestion: what a backend calls with the intents a client uploaded (the PowerSync upload
//! path). Checks the envelope, binds the client to the authenticated user and queues the
//! intents idempotently.

use std::time::Duration;

use uuid::Uuid;

use crate::intent::RawIntent;

use super::store::{ServerStore, StoreError};
use crate::intent::now_millis;

/// What an upload changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Intents newly queued.
    pub inserted: usize,
    /// Intents already pending or already decided: stored once, skipped now.
    pub duplicates: usize,
}

/// Why an upload was refused. A refused upload stores nothing.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The envelope is not one the library could have produced.
    #[error("intent {intent_id} is malformed: {problem}")]
    Malformed {
        /// The intent.
        intent_id: Uuid,
        /// What is wrong.
        problem: String,
    },
    /// The intent says it acts for another user than the one who uploaded it.
    #[error(
        "intent {intent_id} claims user `{claimed}`, the upload is authenticated as `{user_id}`"
    )]
    WrongUser {
        /// The intent.
        intent_id: Uuid,
        /// The user the intent names.
        claimed: String,
        /// The authenticated user.
        user_id: String,
    },
    /// The client is bound to another user (it was first seen uploading for them).
    #[error("client `{client_id}` belongs to another user than `{user_id}`")]
    Unauthorized {
        /// The client.
        client_id: String,
        /// The authenticated user who was refused.
        user_id: String,
    },
    /// The intent's id is already stored for another intent (decided, or queued under
    /// another client or sequence number), or its (client, sequence number) is queued under
    /// another id. Storing it would break exactly-once, so the upload is refused whole.
    #[error("intent {intent_id} (client `{client_id}`, seq {seq}) clashes with a stored intent")]
    IdConflict {
        /// The intent.
        intent_id: Uuid,
        /// Its client.
        client_id: String,
        /// Its sequence number.
        seq: u64,
    },
    /// The database failed (after retries, if transient).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    pub(crate) fn id_conflict(intent: &RawIntent) -> Self {
        IngestError::IdConflict {
            intent_id: intent.id,
            client_id: intent.client_id.clone(),
            seq: intent.seq,
        }
    }
}

/// The longest client id accepted.
pub const MAX_CLIENT_ID_LEN: usize = 200;

/// Checks the envelope of every intent of an upload by `user_id`; payloads are not decoded
/// here: an undecodable payload is queued and rejected by the processor with its own code, so
/// that the client's sequence still advances.
pub fn check_upload(user_id: &str, intents: &[RawIntent]) -> Result<(), IngestError> {
    for i in intents {
        let malformed = |problem: &str| IngestError::Malformed {
            intent_id: i.id,
            problem: problem.to_owned(),
        };
        if i.user_id != user_id {
            return Err(IngestError::WrongUser {
                intent_id: i.id,
                claimed: i.user_id.clone(),
                user_id: user_id.to_owned(),
            });
        }
        if i.client_id.is_empty() || i.client_id.len() > MAX_CLIENT_ID_LEN {
            return Err(malformed("client_id must have 1 to 200 bytes"));
        }
        if i.seq == 0 || i.seq > i64::MAX as u64 {
            return Err(malformed("seq must be between 1 and 2^63-1"));
        }
        if i.event_type.is_empty() {
            return Err(malformed("event_type is empty"));
        }
    }
    // Within the upload too: one id is one (client, seq), and one (client, seq) one id.
    let mut by_id = std::collections::HashMap::new();
    let mut by_seq = std::collections::HashMap::new();
    for i in intents {
        let seq = (i.client_id.as_str(), i.seq);
        if *by_id.entry(i.id).or_insert(seq) != seq || *by_seq.entry(seq).or_insert(i.id) != i.id {
            return Err(IngestError::id_conflict(i));
        }
    }
    Ok(())
}

/// Queues an upload by the authenticated `user_id`: checks it ([`check_upload`]), then stores
/// it in one transaction, retrying transient database errors a few times.
///
/// Idempotent: an intent already pending or already decided is counted as a duplicate and
/// stored once. A client is bound to the first user it uploads for; an upload claiming a
/// client of another user is refused whole ([`IngestError::Unauthorized`]).
pub async fn ingest<S: ServerStore>(
    store: &mut S,
    user_id: &str,
    intents: &[RawIntent],
) -> Result<IngestReport, IngestError> {
    check_upload(user_id, intents)?;
    if intents.is_empty() {
        return Ok(IngestReport::default());
    }
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match store.insert_pending(user_id, intents, now_millis()).await {
            Err(IngestError::Store(e)) if e.is_transient() && attempt < 5 => {
                tokio::time::sleep(super::backoff(Duration::from_millis(20), attempt)).await;
            }
            other => return other,
        }
    }
}
