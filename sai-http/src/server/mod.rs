//! The backend: an axum router with the upload and download endpoints of one domain, to
//! mount in your own server (merge the routers of several domains).
//!
//! ```no_run
//! # use sai::Domain;
//! # async fn run<Todo: Domain>(url: &str, secret: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use sai::server::PostgresStore;
//! use sai_http::{JwtVerifier, PostgresRows, SyncBackend, serve};
//!
//! let mut stores = Vec::new();
//! for _ in 0..4 {
//!     stores.push(PostgresStore::<Todo>::connect(url).await?);
//! }
//! let backend = SyncBackend::new(
//!     stores,
//!     PostgresRows::new::<Todo>(url, None),
//!     JwtVerifier::hs256(secret, "powersync")?,
//! );
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! serve(listener, backend.router(), std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! An upload is applied in a task of its own: a client that hangs up mid-request does not
//! cut the database transaction short, and graceful shutdown waits for it.

mod answer;
mod pool;
mod rows;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sai::Domain;
use sai::server::{ServerStore, WakeHandle, ingest};

use crate::auth::JwtVerifier;
use crate::wire::{
    self, DownloadResponse, ErrorBody, ErrorCode, UploadRequest, UploadResponse, WireRow,
};
use pool::StorePool;

pub use rows::{BoxFuture, PostgresRows, RowSource};

/// Limits of a backend.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct BackendConfig {
    /// The largest request body accepted, in bytes (default 4 MiB: a full batch of 1,000
    /// intents with payloads of a few kilobytes). A larger one is answered 413.
    pub body_limit: usize,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            body_limit: 4 * 1024 * 1024,
        }
    }
}

impl BackendConfig {
    /// Accepts bodies of at most `bytes`.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }
}

/// The endpoints of one domain (the store's): uploads go through [`sai::server::ingest`] on
/// a pool of stores, downloads through a [`RowSource`]. Stateless beyond its connections:
/// run as many backends as you like behind a load balancer.
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
    rows: Box<dyn RowSource>,
    verifier: JwtVerifier,
    wake: Option<WakeHandle>,
    config: BackendConfig,
}

impl<S: ServerStore + 'static> SyncBackend<S> {
    /// A backend storing uploads through `stores` (one connection each: as many uploads run
    /// at once as there are stores; the stores must be migrated), answering downloads from
    /// `rows`, and admitting requests whose bearer token `verifier` accepts.
    ///
    /// # Panics
    /// If `stores` is empty.
    pub fn new(stores: Vec<S>, rows: impl RowSource, verifier: JwtVerifier) -> Self {
        assert!(!stores.is_empty(), "a backend needs at least one store");
        SyncBackend {
            inner: Arc::new(Inner {
                stores: Arc::new(StorePool::new(stores)),
                rows: Box::new(rows),
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

    /// Wakes this process's workers after each upload that queued something (workers in
    /// other processes wake on their own idle timer).
    pub fn with_wakeup(mut self, wake: WakeHandle) -> Self {
        self.inner_mut().wake = Some(wake);
        self
    }

    /// Replaces the limits.
    pub fn with_config(mut self, config: BackendConfig) -> Self {
        self.inner_mut().config = config;
        self
    }

    /// The router: `POST` [`wire::upload_path`] and `GET` [`wire::download_path`] of the
    /// store's domain, each requiring `Authorization: Bearer <JWT>`.
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
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
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
) -> Result<axum::Json<DownloadResponse>, Answer> {
    let user = authenticate(&inner, &headers).await?;
    let rows = inner.rows.rows_for_user(&user).await.map_err(|e| {
        tracing::warn!(error = %e, "download failed");
        problem(ErrorCode::StoreUnavailable, format!("reading rows: {e}"))
    })?;
    Ok(axum::Json(DownloadResponse {
        rows: rows.iter().map(WireRow::from).collect(),
    }))
}
