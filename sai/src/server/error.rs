//! The server's errors: what a store operation, a decision or an upload can fail with. Leaf
//! module: it names no other part of the runtime, so every other part may name it.

use std::error::Error as StdError;

use uuid::Uuid;

use crate::domain::RowError;
use crate::intent::RawIntent;
use crate::machine::UnknownState;

/// A boxed database error, kept as the source of a [`StoreError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A database's own error as a store reports it: everything the database said (message,
/// code, detail, hint; for a failed connection, the I/O cause) in its `Display`, and the
/// driver's error as its `source`. The drivers' own `Display` hides most of it
/// (tokio-postgres shows "db error" for every server error).
#[derive(Debug)]
pub struct DatabaseError {
    message: String,
    code: Option<String>,
    value_refused: bool,
    source: BoxError,
}

impl DatabaseError {
    /// The error of a driver, `source`, described by `message`, with the database's error
    /// code (PostgreSQL's SQLSTATE, SQLite's result code name) if it gave one.
    pub fn new(message: String, code: Option<String>, source: BoxError) -> Self {
        DatabaseError {
            message,
            code,
            value_refused: false,
            source,
        }
    }

    /// Marks the error as the database refusing a value it was given (PostgreSQL's SQLSTATE
    /// class 22, "data exception"; SQLite's "string or blob too big"): the fault of the data
    /// written, not of the database. The processor then finds the intent that carried the
    /// value and rejects it ([`StoreError::refuses_a_value`]).
    pub fn refusing_a_value(mut self) -> Self {
        self.value_refused = true;
        self
    }

    /// The database's error code: PostgreSQL's SQLSTATE (`"22021"`), SQLite's result code
    /// name (`"ConstraintViolation"`).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The full description (the `Display` text).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for DatabaseError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

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
    /// `migrate` refused to change a table (see [`MigrationError`](crate::schema::MigrationError)
    /// for each case and its fix); nothing was changed.
    #[error("schema migration refused: {0}")]
    Migration(#[from] crate::schema::MigrationError),
}

impl StoreError {
    /// Whether retrying the same operation may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_) | StoreError::Conflict(_))
    }

    /// Whether the database refused a value it was given (see
    /// [`DatabaseError::refusing_a_value`]). Never transient.
    pub fn refuses_a_value(&self) -> bool {
        match self {
            StoreError::Database(e) => e
                .downcast_ref::<DatabaseError>()
                .is_some_and(|e| e.value_refused),
            _ => false,
        }
    }

    /// The database's error code, if the database gave one (see [`DatabaseError::code`]).
    pub fn code(&self) -> Option<&str> {
        match self {
            StoreError::Transient(e) | StoreError::Database(e) => e
                .downcast_ref::<DatabaseError>()
                .and_then(DatabaseError::code),
            StoreError::Conflict(_) | StoreError::Malformed(_) | StoreError::Migration(_) => None,
        }
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
    /// another client or sequence number), or the upload gives one (client, sequence number)
    /// two ids. Storing it would break exactly-once, so the upload is refused whole. (A
    /// stored intent holding the (client, sequence number) is
    /// [`SequenceTaken`](IngestError::SequenceTaken).)
    #[error("intent {intent_id} (client `{client_id}`, seq {seq}) clashes with a stored intent")]
    IdConflict {
        /// The intent.
        intent_id: Uuid,
        /// Its client.
        client_id: String,
        /// Its sequence number.
        seq: u64,
    },
    /// The intent's (client, sequence number) already belongs to another intent, decided or
    /// queued. The client reused a sequence number: its device was restored from an older
    /// backup, or its file was copied to a second device. Nothing was stored; the client
    /// recovers by renumbering its pending intents after the server's acknowledgement and
    /// uploading again, under a new client id if two devices share this one.
    #[error(
        "intent {intent_id}: client `{client_id}` seq {seq} is taken by stored intent {stored_intent_id}"
    )]
    SequenceTaken {
        /// The client.
        client_id: String,
        /// The sequence number.
        seq: u64,
        /// The uploaded intent.
        intent_id: Uuid,
        /// The intent stored under that (client, seq).
        stored_intent_id: Uuid,
    },
    /// A user or client id is empty, longer than
    /// [`MAX_IDENTITY_LEN`](super::MAX_IDENTITY_LEN) bytes, or holds a NUL character.
    #[error("{field} is invalid: {problem}")]
    InvalidIdentity {
        /// `"user_id"` or `"client_id"`.
        field: &'static str,
        /// What is wrong.
        problem: String,
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
