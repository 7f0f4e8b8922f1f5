//! Errors of the client runtime.

use uuid::Uuid;

use crate::intent::DecodeError;
use crate::rejection::Rejection;
use crate::schema::SchemaError;

/// Why a client store operation failed. Every variant leaves the store as it was: the
/// operation's transaction is rolled back, nothing is deleted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// SQLite refused an operation (I/O, constraint, locked database, …).
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The domain's tables were not created in this store.
    #[error("domain `{0}` is not registered in this client store")]
    UnknownDomain(&'static str),
    /// No table of the domain knows the entity: neither a server projection nor local state.
    /// [`EventSourcedActor::create`](super::EventSourcedActor::create) starts a new one.
    #[error("entity {entity_id} is unknown to domain `{domain}`")]
    UnknownEntity {
        /// The entity asked for.
        entity_id: Uuid,
        /// The domain asked.
        domain: &'static str,
    },
    /// A membership intent for a domain that is not `#[domain(shared)]`.
    #[error("domain `{0}` is not shared: its entities have no members")]
    NotShared(&'static str),
    /// The entity exists, but in another domain's tables.
    #[error("entity {entity_id} belongs to domain `{found}`, not `{expected}`")]
    WrongDomain {
        /// The entity asked for.
        entity_id: Uuid,
        /// The domain the caller expected.
        expected: &'static str,
        /// The domain that holds it.
        found: &'static str,
    },
    /// A stored row does not have the shape its table promises (wrong type, unknown state,
    /// undecodable field, malformed id, foreign row).
    #[error("corrupt row `{id}` in `{table}`: {detail}")]
    CorruptRow {
        /// The table.
        table: String,
        /// The row's `id` as stored.
        id: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A row the server wrote (a synced-down projection) does not decode under this app's
    /// version of the domain: a state its machine does not have, a field value it cannot
    /// read. The server runs a newer version of the domain; update the app. Local data and
    /// pending intents are kept, and rows this version can read still are.
    #[error(
        "row `{id}` in `{table}` was written by a newer version of domain `{domain}` than this \
         app has ({detail}); update the app"
    )]
    ServerAhead {
        /// The domain.
        domain: &'static str,
        /// The synced table.
        table: String,
        /// The row's `id` as stored.
        id: String,
        /// What this version could not read.
        detail: String,
    },
    /// A logged intent does not decode into the domain's event type (unknown type, unsupported
    /// version, malformed payload): it stays in the log untouched.
    #[error("intent `{id}` in `{table}` cannot be decoded: {source}")]
    UndecodableIntent {
        /// The table.
        table: String,
        /// The intent's id.
        id: Uuid,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// The store's domains collide.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Opening the store refused to change a client table (see
    /// [`MigrationError`](crate::schema::MigrationError) for each case and its fix); the file
    /// was not changed.
    #[error("schema migration refused: {0}")]
    Migration(#[from] crate::schema::MigrationError),
    /// An event could not be serialized.
    #[error("serializing an event: {0}")]
    Json(#[from] serde_json::Error),
}

impl ClientError {
    pub(crate) fn corrupt(table: &str, id: impl Into<String>, detail: impl Into<String>) -> Self {
        ClientError::CorruptRow {
            table: table.to_owned(),
            id: id.into(),
            detail: detail.into(),
        }
    }
}

/// Why [`send`](super::EventSourcedActor::send) did not apply an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The client machine rejected the event: nothing was persisted.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// The store failed: nothing was persisted.
    #[error(transparent)]
    Store(#[from] ClientError),
}

impl From<rusqlite::Error> for SendError {
    fn from(e: rusqlite::Error) -> Self {
        SendError::Store(ClientError::Sqlite(e))
    }
}

impl SendError {
    /// The rejection, if the machine said no.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            SendError::Rejected(r) => Some(r),
            SendError::Store(_) => None,
        }
    }
}

/// Shorthand for results of the client runtime.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
