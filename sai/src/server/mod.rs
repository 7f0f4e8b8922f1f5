//! The server runtime: the authority that decides every uploaded intent exactly once.
//! Needs the `server` feature (`postgres` adds [`PostgresStore`]).
//!
//! - [`ingest()`] is what a backend calls with a client's upload: it checks the envelope,
//!   binds the client to the authenticated user and queues the intents idempotently.
//! - [`EventProcessor`] decides pending intents in batches with the domain's machine or a
//!   stricter one: accepted intents are archived with their snapshot and update the
//!   projection, rejected ones are recorded with their code, and the client's acknowledgement
//!   advances — all in one transaction per batch.
//! - [`ServerStore`] is the storage behind both, with two implementations: [`SqliteStore`]
//!   (embedded, the default) and `PostgresStore` (feature `postgres`).
//!
//! Policy is pure and written once ([`admit`], [`decide`]): a store reads the facts, hands
//! them to the policy and writes its plan in the same transaction. Modules depend one way
//! only, no two on each other: `error` (leaf) ← `records`, `decisions`, `admission` ←
//! `store` (the trait) ← `ingest`, `processor`; `decide` needs only the records and plans;
//! the stores (`sqlite/`, `postgres/`) implement `store` on the SQL both share (`sql`).
//!
//! Guarantees: a client's intents are decided in sequence order (a gap waits); an intent is
//! decided at most once (re-uploads and already-decided intents are no-ops); an entity is
//! never decided by two workers at once; transient database errors are retried and never
//! become rejections; an undecodable intent is rejected with its own code and does not block
//! the intents behind it; a batch that fails writes nothing.
//!
//! One user's input never halts another's work: a failure attributable to one intent is that
//! intent's rejection and the rest of its batch commits. Domain code that panics is
//! `step_panicked`; a value no store can hold (checked alike for every store: NUL in text, a
//! non-finite real) is `unstorable_value`, as is a value the database itself refuses (see
//! [`StoreError::refuses_a_value`]: the processor then decides one intent at a time to find
//! it). Errors carry the database's own message and code ([`DatabaseError`]).

mod admission;
mod changes;
mod decide;
mod decisions;
mod error;
mod ingest;
mod outcome;
#[cfg(feature = "postgres")]
mod postgres;
mod processor;
mod records;
mod retry;
mod sql;
mod sqlite;
mod storable;
mod store;

pub use admission::{
    AdmissionFacts, AdmissionPlan, ClientBinding, IngestReport, IntentPlace, KnownIntent,
    MAX_CLIENT_ID_LEN, MAX_IDENTITY_LEN, admit, check_upload,
};
pub use decide::{Writers, decide};
pub use decisions::{AcceptedIntent, AckAdvance, Decisions, ProjectionWrite, RejectedIntent};
pub use error::{BoxError, DatabaseError, DecideError, IngestError, MalformedRow, StoreError};
pub use ingest::ingest;
pub use outcome::{Outcome, Verdict};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
pub use processor::{
    EventProcessor, ProcessError, ProcessorConfig, Shutdown, StopHandle, Tally, WakeHandle, Wakeup,
    shutdown, wakeup,
};
pub use records::{ArchivedSnapshot, Claim, StoredProjection};
pub use sqlite::SqliteStore;
pub use store::ServerStore;
