//! The backend: an axum router with the upload and download endpoints of one domain, to
//! mount in your own server (merge the routers of several domains).
//!
//! ```no_run
//! # use sai::Domain;
//! # async fn run<Todo: Domain>(url: &str, secret: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use sai::server::PostgresStore;
//! use sai_http::{JwtVerifier, SyncBackend, serve};
//!
//! let mut stores = Vec::new();
//! for _ in 0..4 {
//!     stores.push(PostgresStore::<Todo>::connect(url).await?);
//! }
//! let backend = SyncBackend::new(stores, JwtVerifier::hs256(secret, "powersync")?);
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! serve(listener, backend.router(), std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! Each request's database work runs in a task of its own: a client that hangs up
//! mid-request does not cut a transaction short on a connection other requests reuse, and
//! graceful shutdown waits for it.
//!
//! Downloads are incremental: the device sends its cursor and gets the changes after it, a
//! page at a time ([`ServerStore::changes_for_user`]), so a round costs the changes since the
//! last one, not the user's rows.

mod answer;
mod pool;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sai::Domain;
use sai::server::{ServerStore, WakeHandle, ingest};
use sai::sync::DEFAULT_PAGE_LIMIT;

use crate::auth::JwtVerifier;
use crate::wire::{
    self, DownloadPage, DownloadQuery, ErrorBody, ErrorCode, UploadRequest, UploadResponse,
};
use pool::StorePool;

/// Limits of a backend.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct BackendConfig {
    /// The largest request body accepted, in bytes (default 4 MiB: a full batch of 1,000
    /// intents with payloads of a few kilobytes). A larger one is answered 413.
    pub body_limit: usize,
    /// The most changes one download page holds, whatever the device asks for (default
    /// [`DEFAULT_PAGE_LIMIT`]).
    pub max_page: usize,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            body_limit: 4 * 1024 * 1024,
            max_page: DEFAULT_PAGE_LIMIT,
        }
    }
}

impl BackendConfig {
    /// Accepts bodies of at most `bytes`.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Hands out at most `changes` per download page (at least 1).
    pub fn with_max_page(mut self, changes: usize) -> Self {
        self.max_page = changes.max(1);
        self
    }
}

/// The endpoints of one domain (the store's), on a pool of stores: uploads go through
/// [`sai::server::ingest`], downloads through [`ServerStore::changes_for_user`]. Stateless
/// beyond its connections: run as many backends as you like behind a load balancer.
pub struct SyncBackend<S: ServerStore> {
    inner: Arc<Inner<S>>,
}

impl<S: ServerStore> Clone for SyncBackend<S> {
    fn clone(&self) -> Self {
        SyncBackend {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: ServerStore> std::fmt::Debug for SyncBackend<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncBackend")
            .field("domain", &<S::Domain as Domain>::NAME)
            .field("verifier", &self.inner.verifier)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<S> {
    stores: Arc<StorePool<S>>,
    verifier: JwtVerifier,
    wake: Option<WakeHandle>,
    config: BackendConfig,
}

impl<S: ServerStore + 'static> SyncBackend<S> {
    /// A backend on `stores` (one connection each: as many requests reach the database at
    /// once as there are stores; the stores must be migrated), admitting requests whose
    /// bearer token `verifier` accepts.
    ///
    /// # Panics
    /// If `stores` is empty.
    pub fn new(stores: Vec<S>, verifier: JwtVerifier) -> Self {
        assert!(!stores.is_empty(), "a backend needs at least one store");
        SyncBackend {
            inner: Arc::new(Inner {
                stores: Arc::new(StorePool::new(stores)),
                verifier,
                wake: None,
                config: BackendConfig::default(),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner<S> {
        Arc::get_mut(&mut self.inner).unwrap_or_else(|| {
            panic!("configure a SyncBackend before cloning it or building its router")
        })
    }

    /// Wakes this process's workers after each upload that queued something, in process.
    /// Needed for workers on SQLite; on PostgreSQL the upload's `NOTIFY` already wakes
    /// workers in every process, and this only saves them the round trip.
    pub fn with_wakeup(mut self, wake: WakeHandle) -> Self {
        self.inner_mut().wake = Some(wake);
        self
    }

    /// Replaces the limits.
    pub fn with_config(mut self, config: BackendConfig) -> Self {
        self.inner_mut().config = config;
        self
    }

    /// The router: `POST` [`wire::upload_path`] and `GET` [`wire::download_path`]
    /// (`?after=CURSOR&limit=N`) of the store's domain, each requiring
    /// `Authorization: Bearer <JWT>`.
    pub fn router(&self) -> Router {
        let domain = <S::Domain as Domain>::NAME;
        Router::new()
            .route(&wire::upload_path(domain), post(upload::<S>))
            .route(&wire::download_path(domain), get(download::<S>))
            .layer(DefaultBodyLimit::max(self.inner.config.body_limit))
            .with_state(Arc::clone(&self.inner))
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the requests in flight (an upload's transaction always completes).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

struct Answer(StatusCode, ErrorBody);

impl From<ErrorBody> for Answer {
    fn from(body: ErrorBody) -> Self {
        let status =
            StatusCode::from_u16(body.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Answer(status, body)
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let Answer(status, body) = self;
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn problem(code: ErrorCode, message: impl Into<String>) -> Answer {
    Answer::from(ErrorBody {
        code,
        message: message.into(),
        sequence_taken: None,
    })
}

/// The user of the request's bearer token.
async fn authenticate<S>(inner: &Inner<S>, headers: &HeaderMap) -> Result<String, Answer> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 7235).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(Answer::from(answer::auth_refusal(
            &crate::auth::AuthError::MissingToken,
        )));
    };
    inner.verifier.verify(token).await.map_err(|e| {
        tracing::info!(error = %e, "request refused: token does not verify");
        Answer::from(answer::auth_refusal(&e))
    })
}

async fn upload<S: ServerStore + 'static>(
    State(inner): State<Arc<Inner<S>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<UploadResponse>, Answer> {
    let user = authenticate(&inner, &headers).await?;
    let body = body.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::BodyTooLarge
        } else {
            ErrorCode::MalformedBody
        };
        problem(code, e.body_text())
    })?;
    let request: UploadRequest = serde_json::from_slice(&body)
        .map_err(|e| problem(ErrorCode::MalformedBody, format!("upload body: {e}")))?;
    // In a task of its own: if the client hangs up, the transaction still runs to its end
    // rather than being dropped halfway through on a connection other requests reuse.
    let task_inner = Arc::clone(&inner);
    let stored = tokio::spawn(async move {
        let mut store = task_inner.stores.take().await;
        ingest(&mut *store, &user, &request.intents).await
    })
    .await
    .map_err(|e| problem(ErrorCode::StoreFailed, format!("upload task failed: {e}")))?;
    match stored {
        Ok(report) => {
            if report.inserted > 0
                && let Some(wake) = &inner.wake
            {
                wake.wake();
            }
            Ok(axum::Json(UploadResponse {
                inserted: report.inserted,
                duplicates: report.duplicates,
            }))
        }
        Err(e) => Err(Answer::from(answer::ingest_refusal(&e))),
    }
}

async fn download<S: ServerStore + 'static>(
    State(inner): State<Arc<Inner<S>>>,
    headers: HeaderMap,
    query: Result<Query<DownloadQuery>, QueryRejection>,
) -> Result<axum::Json<DownloadPage>, Answer> {
    let user = authenticate(&inner, &headers).await?;
    let Query(query) = query.map_err(|e| problem(ErrorCode::MalformedQuery, e.body_text()))?;
    let limit = query
        .limit
        .unwrap_or(inner.config.max_page)
        .clamp(1, inner.config.max_page);
    let task_inner = Arc::clone(&inner);
    let page = tokio::spawn(async move {
        let mut store = task_inner.stores.take().await;
        store.changes_for_user(&user, query.after, limit).await
    })
    .await
    .map_err(|e| problem(ErrorCode::StoreFailed, format!("download task failed: {e}")))?;
    match page {
        Ok(page) => Ok(axum::Json(DownloadPage::from(&page))),
        Err(e) => {
            tracing::warn!(error = %e, "download failed");
            let code = if e.is_transient() {
                ErrorCode::StoreUnavailable
            } else {
                ErrorCode::StoreFailed
            };
            Err(problem(code, format!("reading changes: {e}")))
        }
    }
}
