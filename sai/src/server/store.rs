//! The storage trait the processor and ingestion run on. Each operation is one transaction
//! that reads facts, hands them to a pure policy (`admit`, `decide`, a rebuild) and writes
//! its plan; the records, plans and errors that cross it live in their own modules.

use std::future::Future;

use uuid::Uuid;

use crate::domain::Domain;
use crate::intent::{RawIntent, Timestamp};
use crate::sync::{ChangePage, Cursor};

use super::admission::{AdmissionFacts, AdmissionPlan, IngestReport};
use super::decisions::{Decisions, ProjectionWrite};
use super::error::{IngestError, StoreError};
use super::records::{ArchivedSnapshot, Claim, StoredProjection};

/// The server's storage for one domain: the pending queue, the archive of decisions, the
/// projection and the per-client acknowledgements, each operation one transaction.
///
/// A store value is one connection: give each worker its own. Implementations:
/// [`SqliteStore`](super::SqliteStore) and, with the `postgres` feature, `PostgresStore`.
pub trait ServerStore: Send {
    /// The domain whose tables this store holds.
    type Domain: Domain;

    /// Creates the domain's server tables, or brings existing ones to the domain's layout
    /// (idempotent), in one transaction: columns the domain gained are added, unsafe changes
    /// are refused with [`StoreError::Migration`] and change nothing (see
    /// [`plan_migration`](crate::schema::plan_migration)).
    fn migrate(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One admission transaction for an upload by `user_id`: reads the [`AdmissionFacts`] of
    /// `upload` (its clients' bindings, the stored intents sharing an id or a (client, seq)
    /// with it), hands them to `admit`, then binds the plan's new clients to `user_id` and
    /// queues its intents (an intent queued meanwhile is counted a duplicate), and commits.
    /// A refusal from `admit` writes nothing. Concurrent uploads must not queue an intent
    /// decided meanwhile, nor bind one client to two users.
    fn admit_upload<F>(
        &mut self,
        user_id: &str,
        upload: &[RawIntent],
        received_at: Timestamp,
        admit: F,
    ) -> impl Future<Output = Result<IngestReport, IngestError>> + Send
    where
        F: FnOnce(&AdmissionFacts) -> Result<AdmissionPlan, IngestError> + Send;

    /// One decision transaction: claims decidable intents, about `limit` of them, with their
    /// entities (no other transaction decides those entities until this one ends), hands
    /// them to `decide`, then writes every decision — archive or rejection, projection,
    /// pending removal, acknowledgement — and commits. On any error nothing is written.
    /// Returns what was committed.
    fn decide_batch<F>(
        &mut self,
        limit: usize,
        decided_at: Timestamp,
        decide: F,
    ) -> impl Future<Output = Result<Decisions, StoreError>> + Send
    where
        F: FnOnce(Claim) -> Decisions + Send;

    /// Rebuilds the projection table from the archive, in one transaction that holds off
    /// deciding: `rebuild` turns each entity's latest archived snapshot into its projection
    /// row, every row is written, and rows of entities with no archived intent are removed.
    /// On any error nothing is written. Returns how many projections were written.
    fn rebuild_projections<F>(
        &mut self,
        rebuilt_at: Timestamp,
        rebuild: F,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send
    where
        F: FnOnce(Vec<ArchivedSnapshot>) -> Result<Vec<ProjectionWrite>, StoreError> + Send;

    /// The stored projection of an entity.
    fn projection(
        &mut self,
        entity_id: Uuid,
    ) -> impl Future<Output = Result<Option<StoredProjection>, StoreError>> + Send;

    /// A client's bound user and last decided sequence number, if the client was seen.
    fn client_ack(
        &mut self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<(String, u64)>, StoreError>> + Send;

    /// How many intents wait in the pending queue.
    fn pending_count(&mut self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// One page of `user_id`'s downloads after `after`: the change-log entries of the user's
    /// rows (projections, rejections, acknowledgements, removed projections) past that
    /// position, at most `limit` of them, in position order, each changed row as it is now;
    /// `next` is the last position read, `more` whether entries wait after it. Read in one
    /// snapshot. Every write that changes a downloaded row stamps it in its own transaction,
    /// and positions are handed out in commit order, so a position once handed out is never
    /// followed by an earlier one: paging by `next` skips nothing. Costs the entries read,
    /// whatever the user's total rows.
    fn changes_for_user(
        &mut self,
        user_id: &str,
        after: Cursor,
        limit: usize,
    ) -> impl Future<Output = Result<ChangePage, StoreError>> + Send;
}
