//! The embedded transport: a client store and a server in one process.

use crate::client::{ClientError, ClientStore, ReconcileSummary};
use crate::domain::{Domain, EventOf};
use crate::machine::Machine;
use crate::schema::Schema;
use crate::server::{
    EventProcessor, IngestError, IngestReport, ServerStore, SqliteStore, StoreError, Tally, ingest,
};

use tracing::Instrument;

use super::rows::{replace_synced_rows, sqlite_rows_for_user};

/// How many times one upload renumbers past a taken sequence number before it gives up
/// (each time moves past at least one number the server decided).
const MAX_RENUMBERINGS: usize = 64;

/// Why a sync round stopped. Nothing is lost either way: intents stay in the client's log
/// until their decision has arrived, and a repeated upload is stored once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Reading the client's log or writing its synced tables failed.
    #[error("client store: {0}")]
    Client(#[from] ClientError),
    /// The server refused or could not store the upload.
    #[error("upload: {0}")]
    Ingest(#[from] IngestError),
    /// The server store could not be prepared.
    #[error("server store: {0}")]
    Store(#[from] StoreError),
    /// Reading the server's tables failed.
    #[error("server read: {0}")]
    Server(#[from] rusqlite::Error),
    /// An intent in the log could not be encoded for upload.
    #[error("encoding an intent: {0}")]
    Encode(#[from] serde_json::Error),
    /// The round ran (upload, decide, download), but the server failed to decide part of
    /// what it holds: a database error, or an entity it cannot read. The intents concerned
    /// stay pending and nothing is lost; the report says what the round did, its tally
    /// holds the failures (`report.decided.failures`).
    #[error("{} decision failure(s) in the sync round; first: {}", .report.decided.errors, first_failure(.report))]
    Undecided {
        /// What the round did, failures included.
        report: Box<SyncReport>,
    },
}

fn first_failure(report: &SyncReport) -> String {
    report
        .decided
        .failures
        .first()
        .map_or_else(|| "(not kept)".to_owned(), ToString::to_string)
}

/// What one [`Loopback::sync`] round did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SyncReport {
    /// The upload: intents newly queued and re-uploads skipped.
    pub uploaded: IngestReport,
    /// The server's decisions in this round.
    pub decided: Tally,
    /// The client's reconciliation after the download.
    pub reconciled: ReconcileSummary,
}

/// Connects client stores to an embedded server deciding with machine `M`.
///
/// A round ([`sync`](Self::sync)) is upload → decide → download. Each step is also
/// callable alone, which is how tests model a flaky network: an upload whose response is
/// lost is simply uploaded again, and the server stores it once.
pub struct Loopback<D: Domain, M = <D as Domain>::Machine> {
    processor: EventProcessor<SqliteStore<D>, M>,
    schema: Schema,
}

impl<D, M> Loopback<D, M>
where
    D: Domain,
    M: Machine<Domain = D, Event = EventOf<D>>,
{
    /// A loopback over the processor's server store (migrated here).
    pub async fn new(mut processor: EventProcessor<SqliteStore<D>, M>) -> Result<Self, SyncError> {
        processor.store_mut().migrate().await?;
        Ok(Loopback {
            processor,
            schema: Schema::of::<D>(),
        })
    }

    /// The server side, for inspection.
    pub fn processor_mut(&mut self) -> &mut EventProcessor<SqliteStore<D>, M> {
        &mut self.processor
    }

    /// Uploads `user`'s pending intents from the client store, in per-client sequence order,
    /// as the authenticated `user`. An upload refused because a sequence number was decided
    /// for another intent (a restored or cloned device) is renumbered past it
    /// ([`ClientStore::renumber_past_taken`]) and uploaded again; each retry moves past at
    /// least one taken number.
    pub async fn upload(
        &mut self,
        client: &ClientStore,
        user: &str,
    ) -> Result<IngestReport, SyncError> {
        let mut retries = 0;
        loop {
            let mut intents = client
                .logged_intents::<D>()?
                .into_iter()
                .filter(|i| i.user_id == user)
                .collect::<Vec<_>>();
            intents.sort_by(|a, b| (&a.client_id, a.seq).cmp(&(&b.client_id, b.seq)));
            let raw = intents
                .iter()
                .map(|i| i.to_raw())
                .collect::<Result<Vec<_>, _>>()?;
            match ingest(self.processor.store_mut(), user, &raw).await {
                Err(IngestError::SequenceTaken { client_id, seq, .. })
                    if retries < MAX_RENUMBERINGS =>
                {
                    retries += 1;
                    client.renumber_past_taken::<D>(&client_id, seq)?;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Lets the server decide everything decidable.
    pub async fn decide(&mut self) -> Tally {
        self.processor.process_pending().await
    }

    /// Brings `user`'s projections, rejections and acknowledgements into the client store in
    /// one transaction, then reconciles.
    pub fn download(
        &mut self,
        client: &ClientStore,
        user: &str,
    ) -> Result<ReconcileSummary, SyncError> {
        let rows =
            sqlite_rows_for_user(self.processor.store_mut().connection(), &self.schema, user)?;
        let schema = &self.schema;
        Ok(client.apply_server_data(|tx| replace_synced_rows(tx, schema, &rows))?)
    }

    /// One full round for `user`: upload, decide, download.
    ///
    /// A round in which the server failed to decide something is an error,
    /// [`SyncError::Undecided`], carrying the round's report: a caller using `?` must not
    /// take a failing server for a healthy one (a counter inside an `Ok` is easily missed),
    /// and a caller that wants to go on still has everything the round did. The download
    /// runs first either way, so the client holds every decision that was made.
    pub async fn sync(
        &mut self,
        client: &ClientStore,
        user: &str,
    ) -> Result<SyncReport, SyncError> {
        let span = tracing::info_span!("sai.sync_round", domain = D::NAME, user);
        async {
            let uploaded = self.upload(client, user).await?;
            let decided = self.decide().await;
            let reconciled = self.download(client, user)?;
            let report = SyncReport {
                uploaded,
                decided,
                reconciled,
            };
            tracing::info!(
                inserted = report.uploaded.inserted,
                duplicates = report.uploaded.duplicates,
                accepted = report.decided.accepted,
                rejected = report.decided.rejected,
                errors = report.decided.errors,
                "sync round done"
            );
            if report.decided.errors > 0 {
                return Err(SyncError::Undecided {
                    report: Box::new(report),
                });
            }
            Ok(report)
        }
        .instrument(span)
        .await
    }
}
