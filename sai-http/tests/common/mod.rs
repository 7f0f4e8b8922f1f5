//! What the HTTP suites share: a backend on 127.0.0.1 over a fresh PostgreSQL schema, tokens,
//! and counts of what the database holds.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sai::prelude::*;
use sai::server::{EventProcessor, PostgresStore, ProcessorConfig, StopHandle, shutdown, wakeup};
use sai_http::{JwtVerifier, SyncBackend, serve};
use sai_suite::{StrictTodoMachine, Todo};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &[u8] = b"test-secret";
pub const AUDIENCE: &str = "sai-tests";

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// An HS256 token with these claims.
pub fn hs256(secret: &[u8], claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).expect("secret"),
    )
    .expect("sign")
}

/// A valid token for `user`.
pub fn token(user: &str) -> String {
    hs256(
        SECRET,
        serde_json::json!({ "sub": user, "aud": AUDIENCE, "exp": now() + 3600 }),
    )
}

/// A backend serving the todo domain on 127.0.0.1, on a PostgreSQL schema of its own.
pub struct Backend {
    pub addr: SocketAddr,
    pub pg_url: String,
    pub schema: String,
    /// A connection to the database, in the backend's schema.
    pub admin: tokio_postgres::Client,
    stop_http: Option<oneshot::Sender<()>>,
    http: Option<JoinHandle<std::io::Result<()>>>,
    stop_workers: Option<StopHandle>,
    workers: Vec<JoinHandle<sai::server::Tally>>,
}

/// Options of a test backend.
pub struct Setup {
    pub label: &'static str,
    pub verifier: JwtVerifier,
    pub workers: usize,
    /// Appended to the stores' connection URL (PostgreSQL options, e.g. a lock timeout).
    pub store_options: Option<&'static str>,
    /// The backend's limits.
    pub config: sai_http::BackendConfig,
}

impl Setup {
    pub fn new(label: &'static str) -> Self {
        Setup {
            label,
            verifier: JwtVerifier::hs256(SECRET, AUDIENCE).expect("secret"),
            workers: 0,
            store_options: None,
            config: sai_http::BackendConfig::default(),
        }
    }
}

/// `url` with `options` (e.g. `options=-c%20lock_timeout%3D50`) appended as a query parameter.
pub fn with_query(url: &str, options: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{options}")
}

impl Backend {
    /// Starts a backend, or `None` when no test PostgreSQL is configured.
    pub async fn start(setup: Setup) -> Option<Backend> {
        let url = sai_suite::postgres::url()?;
        let (admin, schema) = sai_suite::postgres::fresh_schema(&url, setup.label).await;
        let store_url = match setup.store_options {
            Some(o) => with_query(&url, o),
            None => url.clone(),
        };
        // Migrated without the stores' options (a short lock timeout would fail the DDL).
        PostgresStore::<Todo>::connect_in_schema(&url, &schema)
            .await
            .expect("connect")
            .migrate()
            .await
            .expect("migrate");
        let connect = || PostgresStore::<Todo>::connect_in_schema(&store_url, &schema);
        let (wake, waiter) = wakeup();
        let (stop_workers, signal) = shutdown();
        let mut workers = Vec::new();
        for _ in 0..setup.workers {
            let mut processor = EventProcessor::new(connect().await.expect("connect"))
                .with_machine::<StrictTodoMachine>()
                .with_config(ProcessorConfig::default().with_idle_wait(Duration::from_millis(50)))
                .with_wakeup(waiter.clone());
            let signal = signal.clone();
            workers.push(tokio::spawn(async move { processor.run(signal).await }));
        }
        let mut stores = Vec::new();
        for _ in 0..2 {
            stores.push(connect().await.expect("connect"));
        }
        let backend = SyncBackend::new(stores, setup.verifier)
            .with_wakeup(wake)
            .with_config(setup.config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_http, stopped) = oneshot::channel::<()>();
        let http = tokio::spawn(serve(listener, backend.router(), async {
            let _ = stopped.await;
        }));
        Some(Backend {
            addr,
            pg_url: url,
            schema,
            admin,
            stop_http: Some(stop_http),
            http: Some(http),
            stop_workers: Some(stop_workers),
            workers,
        })
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn upload_url(&self) -> String {
        format!("{}{}", self.base(), sai_http::wire::upload_path(Todo::NAME))
    }

    pub fn download_url(&self) -> String {
        format!(
            "{}{}",
            self.base(),
            sai_http::wire::download_path(Todo::NAME)
        )
    }

    /// Rows in a table of the backend's schema.
    pub async fn count(&self, table: &str) -> i64 {
        self.admin
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("count")
            .get(0)
    }

    /// Intents stored in any form: queued, accepted or rejected.
    pub async fn stored_intents(&self) -> i64 {
        self.count("todo_intent_events").await
            + self.count("todo_intent_events_processed").await
            + self.count("todo_intent_events_rejected").await
    }

    /// Asks the server to stop accepting (graceful shutdown), without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(s) = self.stop_http.take() {
            let _ = s.send(());
        }
    }

    /// The server task, to await its end.
    pub fn take_server(&mut self) -> JoinHandle<std::io::Result<()>> {
        self.http.take().expect("server task")
    }

    /// Stops serving (gracefully) and the workers.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop_http.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.http.take() {
            h.await.expect("server task").expect("serve");
        }
        if let Some(s) = self.stop_workers.take() {
            s.stop();
        }
        for w in self.workers.drain(..) {
            w.await.expect("worker");
        }
    }
}

/// An intent of the todo domain, as a device would upload it.
pub fn raw_intent(
    client: &str,
    user: &str,
    seq: u64,
    event: sai_suite::TodoEvent,
) -> sai::RawIntent {
    Intent::new(Uuid::now_v7(), client, user, seq, event, 1_700_000_000_000)
        .to_raw()
        .expect("encode")
}

/// Posts an upload body with `token` (if any); the status and the body as JSON.
pub async fn post(
    url: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// An upload request of these intents, as JSON.
pub fn upload_body(intents: &[sai::RawIntent]) -> Vec<u8> {
    serde_json::to_vec(&sai_http::wire::UploadRequest {
        intents: intents.to_vec(),
    })
    .expect("encode")
}
