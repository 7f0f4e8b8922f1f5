//! Ingestion: what a backend calls with the intents a client uploaded (the PowerSync upload
//! path). Checks the envelope, then admits the upload in one store transaction
//! ([`admission`](super::admission)), retrying transient database errors.

use std::time::Duration;

use tracing::Instrument;

use crate::intent::{RawIntent, now_millis};

use super::admission::{IngestReport, admit, check_upload};
use super::error::IngestError;
use super::store::ServerStore;

/// Queues an upload by the authenticated `user_id`: checks it ([`check_upload`]), then stores
/// it in one transaction, retrying transient database errors a few times.
///
/// Idempotent: an intent already pending or already decided is counted as a duplicate and
/// stored once. A client is bound to the first user it uploads for; an upload claiming a
/// client of another user is refused whole ([`IngestError::Unauthorized`]). An intent under a
/// (client, seq) that another intent holds, queued or decided, is refused whole
/// ([`IngestError::SequenceTaken`]): a restored or cloned device, never a duplicate. An empty,
/// oversized or NUL-holding user or client id is refused ([`IngestError::InvalidIdentity`]).
/// The full rule is in [`admit`]'s docs.
pub async fn ingest<S: ServerStore>(
    store: &mut S,
    user_id: &str,
    intents: &[RawIntent],
) -> Result<IngestReport, IngestError> {
    let span = tracing::info_span!("sai.ingest", user_id, intents = intents.len());
    let result = admit_with_retries(store, user_id, intents)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    match &result {
        Ok(report) => tracing::info!(
            inserted = report.inserted,
            duplicates = report.duplicates,
            "upload admitted"
        ),
        Err(e) => tracing::warn!(error = %e, "upload refused; nothing stored"),
    }
    result
}

async fn admit_with_retries<S: ServerStore>(
    store: &mut S,
    user_id: &str,
    intents: &[RawIntent],
) -> Result<IngestReport, IngestError> {
    // Fails fast without a transaction; `admit` checks again, being complete on its own.
    check_upload(user_id, intents)?;
    if intents.is_empty() {
        return Ok(IngestReport::default());
    }
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let admitted = store
            .admit_upload(user_id, intents, now_millis(), |facts| {
                admit(user_id, intents, facts)
            })
            .await;
        match admitted {
            Err(IngestError::Store(e)) if e.is_transient() && attempt < 5 => {
                tracing::warn!(attempt, error = %e, "upload failed transiently; retrying");
                tokio::time::sleep(super::retry::backoff(Duration::from_millis(20), attempt)).await;
            }
            other => return other,
        }
    }
}
