//! A small app backend around the fake PowerSync service, shared by the end-to-end tests and
//! the full-loop benchmark: devices are real `powersync` clients; uploads go through
//! `sai::powersync::upload_intents` into the real ingestion and `EventProcessor`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use powersync::error::PowerSyncError;
use powersync::{BackendConnector, PowerSyncCredentials, PowerSyncDatabase, SyncOptions};
use sai::client::ClientStore;
use sai::powersync::{PowerSyncClient, upload_intents};
use sai::server::{EventProcessor, PostgresStore, SqliteStore, ingest};
use sai::sync::{postgres_rows_for_user, sqlite_rows_for_user};
use sai::{RawIntent, Schema};
use tokio::sync::Mutex;

use crate::fake_powersync::FakeService;
use crate::{StrictTodoMachine, Todo};

/// The server behind the backend: a processor and a way to read what a user may download.
#[allow(clippy::large_enum_variant)] // two values per test, size is irrelevant
pub enum Server {
    /// A SQLite server file.
    Sqlite(EventProcessor<SqliteStore<Todo>, StrictTodoMachine>),
    /// PostgreSQL, with a plain client to read rows as replication would.
    Postgres(
        EventProcessor<PostgresStore<Todo>, StrictTodoMachine>,
        tokio_postgres::Client,
    ),
}

/// Any error.
pub type AnyError = Box<dyn std::error::Error + Send + Sync>;

impl Server {
    /// Ingests an upload for `user` and decides everything decidable.
    pub async fn accept(&mut self, user: &str, intents: &[RawIntent]) -> Result<(), AnyError> {
        match self {
            Server::Sqlite(p) => {
                ingest(p.store_mut(), user, intents).await?;
                p.process_pending().await;
            }
            Server::Postgres(p, _) => {
                ingest(p.store_mut(), user, intents).await?;
                p.process_pending().await;
            }
        }
        Ok(())
    }

    /// Lets replication publish what `user` may now download.
    pub async fn publish(&mut self, service: &FakeService, user: &str) {
        let schema = Schema::of::<Todo>();
        let rows = match self {
            Server::Sqlite(p) => {
                sqlite_rows_for_user(p.store_mut().connection(), &schema, user).unwrap()
            }
            Server::Postgres(_, client) => {
                postgres_rows_for_user(client, &schema, user).await.unwrap()
            }
        };
        service.publish(user, rows.into_iter().map(Into::into).collect());
    }

    /// Rows in a server table.
    pub async fn count(&mut self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        match self {
            Server::Sqlite(p) => p
                .store_mut()
                .connection()
                .query_row(&sql, [], |r| r.get(0))
                .unwrap(),
            Server::Postgres(_, client) => client.query_one(&sql, &[]).await.unwrap().get(0),
        }
    }
}

/// The app's backend as PowerSync sees it: credentials, and an upload endpoint that ingests,
/// decides and lets replication publish. `fail_after_ingest` makes the next uploads fail after
/// the server stored them (the response is lost), so PowerSync retries them.
#[derive(Clone)]
pub struct Backend {
    /// The authenticated user (the token).
    pub user: String,
    db: PowerSyncDatabase,
    server: Arc<Mutex<Server>>,
    service: FakeService,
    /// How many of the next uploads fail after the server stored them.
    pub fail_after_ingest: Arc<AtomicUsize>,
}

#[async_trait]
impl BackendConnector for Backend {
    async fn fetch_credentials(&self) -> Result<PowerSyncCredentials, PowerSyncError> {
        Ok(PowerSyncCredentials {
            endpoint: "http://powersync.test/".into(),
            token: self.user.clone(),
        })
    }

    async fn upload_data(&self) -> Result<(), PowerSyncError> {
        upload_intents(&self.db, |intents| async move {
            let mut server = self.server.lock().await;
            let lost = |e: String| std::io::Error::other(e);
            server
                .accept(&self.user, &intents)
                .await
                .map_err(|e| lost(e.to_string()))?;
            server.publish(&self.service, &self.user).await;
            if self.fail_after_ingest.load(Ordering::SeqCst) > 0 {
                self.fail_after_ingest.fetch_sub(1, Ordering::SeqCst);
                return Err(lost(
                    "connection reset after the server stored the upload".into(),
                ));
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }
}

/// One device: a PowerSync client and its connector.
pub struct Device {
    /// The PowerSync client.
    pub client: PowerSyncClient,
    /// Its connector.
    pub backend: Backend,
}

impl Device {
    /// Opens the device's database file `name` in `dir` for `user`.
    pub async fn open(
        dir: &std::path::Path,
        name: &str,
        user: &str,
        server: &Arc<Mutex<Server>>,
        service: &FakeService,
    ) -> Device {
        let client = PowerSyncClient::open(
            dir.join(name),
            ClientStore::builder().domain::<Todo>(),
            service.client(),
        )
        .await
        .unwrap();
        let backend = Backend {
            user: user.into(),
            db: client.db().clone(),
            server: server.clone(),
            service: service.clone(),
            fail_after_ingest: Arc::default(),
        };
        Device { client, backend }
    }

    /// Connects to the service (and wakes the uploader).
    pub async fn connect(&self) {
        let mut options = SyncOptions::new(self.backend.clone());
        options.with_retry_delay(Duration::from_millis(50));
        self.client.db().connect(options).await;
        self.client.wake_uploads().await.unwrap();
    }

    /// The device's client store.
    pub fn store(&self) -> &ClientStore {
        self.client.store()
    }
}

/// Polls `f` until it answers, for at most 20 s.
pub async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..1000 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}
