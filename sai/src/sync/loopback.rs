//! The embedded transport: a client store and a server in one process.

use crate::client::{ClientError, ClientStore, ReconcileSummary};
use crate::domain::{Domain, EventOf};
use crate::machine::Machine;
use crate::server::{
    EventProcessor, IngestError, IngestReport, ServerStore, SqliteStore, StoreError, Tally, ingest,
};

use tracing::Instrument;

use super::changes::{DeviceError, bind_device_user, write_page};

/// How many change-log entries one download page holds by default.
pub const DEFAULT_PAGE_LIMIT: usize = 1000;

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
    /// The server store could not be prepared or read.
    #[error("server store: {0}")]
    Store(#[from] StoreError),
    /// The device refused the round: it syncs for another user
    /// ([`DeviceError::WrongUser`]), or a page did not follow its cursor.
    #[error("device: {0}")]
    Device(#[from] DeviceError),
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

/// Connects client stores to a server deciding with machine `M` on any [`ServerStore`]
/// `S` (the embedded [`SqliteStore`] by default, or `PostgresStore`), in process.
///
/// A round ([`sync`](Self::sync)) is upload → decide → download. Each step is also
/// callable alone, which is how tests model a flaky network: an upload whose response is
/// lost is simply uploaded again, and the server stores it once.
///
/// The user comes from the device: the first round binds the client store to the user it
/// names ([`bind_device_user`]), and a later round naming another user — or a log holding
/// another user's intents — is refused with [`DeviceError::WrongUser`], never skipped.
///
/// Downloads are incremental: each round reads the user's changes after the device's
/// [`Cursor`](super::Cursor) in pages of at most [`page_limit`](Self::with_page_limit)
/// entries, each page written with the new cursor in one transaction, then reconciles once.
pub struct Loopback<D: Domain, M = <D as Domain>::Machine, S = SqliteStore<D>>
where
    S: ServerStore<Domain = D>,
{
    processor: EventProcessor<S, M>,
    page_limit: usize,
}

impl<D, M, S> Loopback<D, M, S>
where
    D: Domain,
    M: Machine<Domain = D, Event = EventOf<D>>,
    S: ServerStore<Domain = D>,
{
    /// A loopback over the processor's server store (migrated here).
    pub async fn new(mut processor: EventProcessor<S, M>) -> Result<Self, SyncError> {
        processor.store_mut().migrate().await?;
        Ok(Loopback {
            processor,
            page_limit: DEFAULT_PAGE_LIMIT,
        })
    }

    /// Reads downloads in pages of at most `limit` change-log entries (at least one).
    pub fn with_page_limit(mut self, limit: usize) -> Self {
        self.page_limit = limit.max(1);
        self
    }

    /// The server side, for inspection.
    pub fn processor_mut(&mut self) -> &mut EventProcessor<S, M> {
        &mut self.processor
    }

    /// Uploads the device's pending intents from the client store, in per-client sequence
    /// order, as the authenticated `user` (the device's user: see the type's docs). An
    /// upload refused because a sequence number was decided for another intent (a restored
    /// or cloned device) is renumbered past it ([`ClientStore::renumber_past_taken`]) and
    /// uploaded again; each retry moves past at least one taken number.
    pub async fn upload(
        &mut self,
        client: &ClientStore,
        user: &str,
    ) -> Result<IngestReport, SyncError> {
        bind_device_user::<D>(client, user)?;
        let mut retries = 0;
        loop {
            let mut raw = client
                .logged_intents::<D>()?
                .iter()
                .map(|i| i.to_raw())
                .collect::<Result<Vec<_>, _>>()?;
            // A shared domain's membership intents travel with them.
            raw.extend(client.logged_member_intents::<D>()?);
            raw.sort_by(|a, b| (&a.client_id, a.seq).cmp(&(&b.client_id, b.seq)));
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

    /// Brings the changes of `user`'s projections, rejections and acknowledgements since the
    /// device's cursor into the client store, page by page (each page and its cursor in one
    /// transaction), then reconciles.
    pub async fn download(
        &mut self,
        client: &ClientStore,
        user: &str,
    ) -> Result<ReconcileSummary, SyncError> {
        let mut cursor = bind_device_user::<D>(client, user)?;
        loop {
            let page = self
                .processor
                .store_mut()
                .changes_for_user(user, cursor, self.page_limit)
                .await?;
            write_page::<D>(client, user, &page)?;
            cursor = page.next;
            if !page.more {
                break;
            }
        }
        Ok(client.reconcile_all()?)
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
            let reconciled = self.download(client, user).await?;
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
