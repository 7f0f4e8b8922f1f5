//! The device side: uploads a [`ClientStore`]'s pending intents of one domain to a
//! [`SyncBackend`](crate::SyncBackend) and downloads the user's rows into it.
//!
//! The identity is given once, when the transport is made ([`HttpDevice::new`]): its user is
//! the one whose intents are uploaded, and its token says so to the server.
//!
//! Each answer is handled as the contract says (see the crate docs): 2xx moves on, 5xx and
//! connection failures are retried with exponential backoff ([`RetryPolicy`]), 401 stops the
//! round ([`TransportError::Unauthenticated`]), 409 `sequence_taken` renumbers and uploads
//! again, and any other 4xx *completes* the batch: it is recorded in the device's file
//! ([`completed_uploads`]) and never sent again. Its intents stay in the log, undecided.

mod completed;
mod retry;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::StatusCode;
use sai::client::{ClientError, ClientIdentity, ClientStore, ReconcileSummary};
use sai::schema::Schema;
use sai::sync::{DeviceError, bind_device_user, write_page};
use sai::{Domain, RawIntent};

use crate::wire::{
    self, DownloadPage, ErrorBody, ErrorCode, RowMismatch, UploadRequest, UploadResponse,
};

pub use completed::{CompletedUpload, completed_uploads};
pub use retry::RetryPolicy;

/// At most this many intents go in one upload request.
pub const MAX_BATCH: usize = 500;

/// How many times one upload renumbers past a taken sequence number before it gives up.
const MAX_RENUMBERINGS: usize = 64;

/// Why a device's round stopped. Nothing is lost: intents stay in the log until decided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server refused the token (401): get a new one ([`HttpDevice::set_token`]).
    #[error("the server refused the token: {0}")]
    Unauthenticated(String),
    /// The server could not be reached, or answered 5xx, on every attempt.
    #[error("the server is unavailable after {attempts} attempt(s): {last}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The server refused an upload for a reason that is not the batch's (no backend at
    /// that URL, a proxy's refusal, a batch over the body limit): nothing was completed,
    /// the intents stay in the log for the next upload.
    #[error("upload refused with {status}, batch kept: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The answer's text.
        message: String,
    },
    /// The server answered something this transport cannot read.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// A downloaded row does not fit the device's schema.
    #[error(transparent)]
    Row(#[from] RowMismatch),
    /// The device's store failed.
    #[error("client store: {0}")]
    Client(#[from] ClientError),
    /// The device refused a page (out of order), or is bound to another user than its
    /// identity's (see [`bind_device_user`]).
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The device's record of completed uploads failed.
    #[error("client store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The server kept refusing a reused sequence number after renumbering.
    #[error(
        "sequence number of client `{client_id}` still taken after {MAX_RENUMBERINGS} renumberings"
    )]
    Renumbering {
        /// The client.
        client_id: String,
    },
}

/// What one [`HttpDevice::upload`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadSummary {
    /// Requests the server answered 2xx.
    pub batches: usize,
    /// Intents the server newly queued.
    pub inserted: usize,
    /// Intents the server held already.
    pub duplicates: usize,
    /// Batches refused as malformed (4xx) and completed in this call, one entry per intent.
    pub completed: Vec<CompletedUpload>,
    /// Attempts that failed and were retried (5xx, connection failures).
    pub retries: u32,
    /// Times the device renumbered its intents past a taken sequence number.
    pub renumbered: usize,
}

/// What one [`HttpDevice::sync`] round did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DeviceSyncReport {
    /// The upload.
    pub uploaded: UploadSummary,
    /// The reconciliation after the download.
    pub reconciled: ReconcileSummary,
}

/// A failed attempt, as [`HttpDevice::on_retry`] observers see it.
#[derive(Clone, Debug)]
pub struct RetryEvent {
    /// The request: `"upload"` or `"download"`.
    pub request: &'static str,
    /// The attempt that failed, from 1.
    pub attempt: u32,
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// What failed.
    pub error: String,
    /// The wait before the next attempt.
    pub delay: Duration,
}

type RetryObserver = Arc<dyn Fn(&RetryEvent) + Send + Sync>;

/// A device's HTTP transport for domain `D`.
pub struct HttpDevice<D: Domain> {
    http: reqwest::Client,
    base: String,
    identity: ClientIdentity,
    token: RwLock<String>,
    retry: RetryPolicy,
    on_retry: Option<RetryObserver>,
    schema: Schema,
    domain: std::marker::PhantomData<fn() -> D>,
}

impl<D: Domain> std::fmt::Debug for HttpDevice<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDevice")
            .field("domain", &D::NAME)
            .field("server", &self.base)
            .field("identity", &self.identity)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// One request's outcome, before the contract decides what it means.
enum Reply {
    Ok(axum::body::Bytes),
    Refused(StatusCode, Option<ErrorBody>, String),
}

impl<D: Domain> HttpDevice<D> {
    /// A transport to the backend at `server` (`http://host:port`), for `identity`'s user,
    /// authenticated with `token` (a JWT whose `sub` is that user).
    pub fn new(
        server: impl Into<String>,
        identity: ClientIdentity,
        token: impl Into<String>,
    ) -> Self {
        HttpDevice {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                // A redirected POST becomes a GET that some other handler refuses; never
                // follow one with a batch.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            base: server.into().trim_end_matches('/').to_owned(),
            identity,
            token: RwLock::new(token.into()),
            retry: RetryPolicy::default(),
            on_retry: None,
            schema: Schema::of::<D>(),
            domain: std::marker::PhantomData,
        }
    }

    /// Retries with `policy`.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Calls `f` after each failed attempt that will be retried (for logs and metrics).
    pub fn on_retry(mut self, f: impl Fn(&RetryEvent) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Arc::new(f));
        self
    }

    /// Uses `token` from now on (a refreshed JWT of the same user).
    pub fn set_token(&self, token: impl Into<String>) {
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token.into();
    }

    /// The identity the device uploads as.
    pub fn identity(&self) -> &ClientIdentity {
        &self.identity
    }

    fn bearer(&self) -> String {
        format!(
            "Bearer {}",
            self.token.read().unwrap_or_else(|e| e.into_inner())
        )
    }

    /// Sends one request, retrying connection failures and 5xx per the policy; any other
    /// answer is returned for the caller to interpret.
    async fn request(
        &self,
        name: &'static str,
        build: impl Fn() -> reqwest::RequestBuilder,
        retries: &mut u32,
    ) -> Result<Reply, TransportError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (status, error) = match build().header("authorization", self.bearer()).send().await
            {
                Ok(response) if response.status().is_success() => match response.bytes().await {
                    Ok(body) => return Ok(Reply::Ok(body)),
                    Err(e) => (None, format!("reading the answer: {e}")),
                },
                // 5xx, and the two 4xx that say "later" (timeout, rate limit), are retried.
                Ok(response)
                    if response.status().is_server_error()
                        || matches!(
                            response.status(),
                            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
                        ) =>
                {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    (Some(status.as_u16()), format!("{status}: {text}"))
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    let body = serde_json::from_str::<ErrorBody>(&text).ok();
                    return Ok(Reply::Refused(status, body, text));
                }
                Err(e) => (None, describe(&e)),
            };
            let Some(delay) = self.retry.delay_after(attempt) else {
                return Err(TransportError::Unavailable {
                    attempts: attempt,
                    last: error,
                });
            };
            *retries += 1;
            let event = RetryEvent {
                request: name,
                attempt,
                status,
                error,
                delay,
            };
            tracing::warn!(request = name, attempt, status, error = %event.error, ?delay, "request failed; retrying");
            if let Some(observer) = &self.on_retry {
                observer(&event);
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Uploads the user's pending intents of `D` from `store`, in batches of at most
    /// [`MAX_BATCH`] in per-client sequence order, each handled as the contract says.
    pub async fn upload(&self, store: &ClientStore) -> Result<UploadSummary, TransportError> {
        // The identity is given once: a device bound to another user uploads nothing.
        bind_device_user::<D>(store, &self.identity.user_id)?;
        let mut summary = UploadSummary::default();
        let url = format!("{}{}", self.base, wire::upload_path(D::NAME));
        'renumbered: loop {
            let done = completed::completed_ids(store, D::NAME)?;
            let mut intents = store
                .logged_intents::<D>()?
                .into_iter()
                .map(|i| i.to_raw())
                .collect::<Result<Vec<RawIntent>, _>>()
                .map_err(|e| TransportError::Protocol(format!("encoding an intent: {e}")))?;
            // A shared domain's membership intents travel with them.
            intents.extend(store.logged_member_intents::<D>()?);
            intents.retain(|i| !done.contains(&i.id));
            intents.sort_by(|a, b| (&a.client_id, a.seq).cmp(&(&b.client_id, b.seq)));
            for batch in intents.chunks(MAX_BATCH) {
                let body = serde_json::to_vec(&UploadRequest {
                    intents: batch.to_vec(),
                })
                .map_err(|e| TransportError::Protocol(e.to_string()))?;
                let reply = self
                    .request(
                        "upload",
                        || {
                            self.http
                                .post(&url)
                                .header("content-type", "application/json")
                                .body(body.clone())
                        },
                        &mut summary.retries,
                    )
                    .await?;
                match reply {
                    Reply::Ok(bytes) => {
                        let answer: UploadResponse = serde_json::from_slice(&bytes)
                            .map_err(|e| TransportError::Protocol(format!("upload answer: {e}")))?;
                        summary.batches += 1;
                        summary.inserted += answer.inserted;
                        summary.duplicates += answer.duplicates;
                    }
                    Reply::Refused(StatusCode::UNAUTHORIZED, body, text) => {
                        return Err(TransportError::Unauthenticated(
                            body.map_or(text, |b| b.message),
                        ));
                    }
                    Reply::Refused(
                        _,
                        Some(ErrorBody {
                            code: ErrorCode::SequenceTaken,
                            sequence_taken: Some(taken),
                            ..
                        }),
                        _,
                    ) => {
                        if summary.renumbered >= MAX_RENUMBERINGS {
                            return Err(TransportError::Renumbering {
                                client_id: taken.client_id,
                            });
                        }
                        summary.renumbered += 1;
                        let moved = store.renumber_past_taken::<D>(&taken.client_id, taken.seq)?;
                        tracing::warn!(client_id = %taken.client_id, seq = taken.seq, moved,
                            "upload refused: sequence number taken (restored or cloned device); renumbered, uploading again");
                        continue 'renumbered;
                    }
                    Reply::Refused(status, body, text) => {
                        // The contract: a batch the backend calls malformed is completed and
                        // not sent again. Any other refusal (a wrong URL, a proxy, a batch
                        // over the body limit) is not the batch's fault: keep it, say why.
                        let Some(ErrorBody { code, message, .. }) =
                            body.filter(|b| b.code.completes_batch())
                        else {
                            return Err(TransportError::Refused {
                                status: status.as_u16(),
                                message: text,
                            });
                        };
                        tracing::warn!(%status, ?code, error = %message, intents = batch.len(),
                            "upload refused as malformed; completing the batch, it is not sent again");
                        let refused: Vec<CompletedUpload> = batch
                            .iter()
                            .map(|i| CompletedUpload {
                                domain: D::NAME.to_owned(),
                                intent_id: i.id,
                                code,
                                message: message.clone(),
                            })
                            .collect();
                        completed::record(store, &refused)?;
                        summary.completed.extend(refused);
                    }
                }
            }
            return Ok(summary);
        }
    }

    /// Downloads the changes of `D` after the device's cursor, page by page, each page and
    /// the cursor it moves to written in one transaction, then reconciles once.
    pub async fn download(&self, store: &ClientStore) -> Result<ReconcileSummary, TransportError> {
        let user = &self.identity.user_id;
        let url = format!("{}{}", self.base, wire::download_path(D::NAME));
        let mut cursor = bind_device_user::<D>(store, user)?;
        let mut retries = 0;
        loop {
            let after = cursor.position().to_string();
            let reply = self
                .request(
                    "download",
                    || self.http.get(&url).query(&[("after", after.as_str())]),
                    &mut retries,
                )
                .await?;
            let bytes = match reply {
                Reply::Ok(bytes) => bytes,
                Reply::Refused(StatusCode::UNAUTHORIZED, body, text) => {
                    return Err(TransportError::Unauthenticated(
                        body.map_or(text, |b| b.message),
                    ));
                }
                Reply::Refused(status, _, text) => {
                    return Err(TransportError::Protocol(format!(
                        "download answered {status}: {text}"
                    )));
                }
            };
            let page: DownloadPage = serde_json::from_slice(&bytes)
                .map_err(|e| TransportError::Protocol(format!("download answer: {e}")))?;
            let page = page.to_change_page(&self.schema)?;
            if page.more && page.next <= page.after {
                return Err(TransportError::Protocol(format!(
                    "a page after {} says more follow but does not move the cursor",
                    page.after
                )));
            }
            write_page::<D>(store, user, &page)?;
            cursor = page.next;
            if !page.more {
                break;
            }
        }
        Ok(store.reconcile_all()?)
    }

    /// One round: upload, then download (the server decides in between, in its workers).
    pub async fn sync(&self, store: &ClientStore) -> Result<DeviceSyncReport, TransportError> {
        let uploaded = self.upload(store).await?;
        let reconciled = self.download(store).await?;
        Ok(DeviceSyncReport {
            uploaded,
            reconciled,
        })
    }
}

/// A reqwest error with its causes (its `Display` alone hides the I/O error).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
