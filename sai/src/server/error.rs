//! The server's errors: what a store operation, a decision or an upload can fail with. Leaf
//! module: it names no other part of the runtime, so every other part may name it.

use std::error::Error as StdError;

use uuid::Uuid;

use crate::domain::RowError;
use crate::intent::RawIntent;
use crate::machine::UnknownState;

/// A boxed database error, kept as the source of a [`StoreError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store operation failed. Transient errors are retried by the caller and are never
/// turned into rejections.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database may succeed if asked again: serialization failure, deadlock, lock timeout,
    /// busy database, dropped connection.
    #[error("transient database error: {0}")]
    Transient(#[source] BoxError),
    /// Another transaction decided some of the same intents first; nothing was written.
    #[error("concurrent decision conflict: {0}")]
    Conflict(String),
    /// The database refused the operation for a reason a retry will not change.
    #[error("database error: {0}")]
    Database(#[source] BoxError),
    /// A stored value has a shape the library never writes (for example a negative sequence).
    #[error("stored data is malformed: {0}")]
    Malformed(String),
}

impl StoreError {
    /// Whether retrying the same operation may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_) | StoreError::Conflict(_))
    }
}

/// A pending row that does not read as an intent. It stays in the queue (nothing is lost) and
/// its client waits behind it, as behind any gap.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pending intent row `{id}` is malformed: {detail}")]
pub struct MalformedRow {
    /// The row's `id` column, as text.
    pub id: String,
    /// What did not read.
    pub detail: String,
}

/// Why part of a batch could not be decided. The intents concerned stay pending: these are
/// server-side data problems, never the client's fault, so they are not rejections.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// The stored projection names a state the deciding machine does not have.
    #[error("entity {entity}: {source}")]
    UnknownState {
        /// The entity.
        entity: Uuid,
        /// The state found.
        #[source]
        source: UnknownState,
    },
    /// The stored projection's fields do not decode.
    #[error("entity {entity}: stored projection does not decode: {source}")]
    ProjectionRow {
        /// The entity.
        entity: Uuid,
        /// Which column failed.
        #[source]
        source: RowError,
    },
    /// The stored projection row does not read (a cell of the wrong type, a negative
    /// version).
    #[error("entity {entity}: stored projection does not read: {detail}")]
    UnreadableProjection {
        /// The entity.
        entity: Uuid,
        /// What did not read.
        detail: String,
    },
    /// A pending row does not read as an intent.
    #[error(transparent)]
    MalformedRow(#[from] MalformedRow),
    /// A client has pending intents but no acknowledgement row (ingestion always writes one).
    #[error("client `{client_id}` has pending intents but no acknowledgement row")]
    MissingAck {
        /// The client.
        client_id: String,
    },
    /// The new context could not be encoded; the whole batch is abandoned.
    #[error("entity {entity}: context does not encode: {detail}")]
    Encode {
        /// The entity.
        entity: Uuid,
        /// The encoder's message.
        detail: String,
    },
}

/// Why an upload was refused. A refused upload stores nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// The intent's (client, sequence number) was already decided for another intent: the
    /// device reused a sequence number (its file was restored from an older copy, or copied
    /// to a second device). Nothing of the upload is stored; the client renumbers its
    /// undecided intents past the taken number and uploads again (see the `client` module
    /// docs, "Restored and cloned devices").
    #[error(
        "intent {intent_id}: seq {seq} of client `{client_id}` was decided for intent {stored_intent_id}"
    )]
    SequenceTaken {
        /// The client.
        client_id: String,
        /// The taken sequence number.
        seq: u64,
        /// The refused intent.
        intent_id: Uuid,
        /// The intent decided under that (client, seq).
        stored_intent_id: Uuid,
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

impl From<crate::intent::row::IntentRowError> for MalformedRow {
    fn from(e: crate::intent::row::IntentRowError) -> Self {
        MalformedRow {
            id: e.id,
            detail: format!("`{}` {}", e.column, e.detail),
        }
    }
}
