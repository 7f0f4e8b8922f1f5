//! A small app backend around the fake PowerSync service, shared by the end-to-end tests and
//! the full-loop benchmark: devices are real `powersync` clients; uploads go through
//! `sai::powersync::upload_intents` into the real ingestion and `EventProcessor` of each
//! domain the server serves (todos and notes).

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use powersync::error::PowerSyncError;
use powersync::{BackendConnector, PowerSyncCredentials, PowerSyncDatabase, SyncOptions};
use sai::client::{ClientStore, ClientStoreBuilder};
use sai::powersync::{PowerSyncClient, UploadBatch, upload_intents};
use sai::schema::Schema;
use sai::server::{EventProcessor, PostgresStore, ServerStore, SqliteStore, ingest};
use sai::sync::{postgres_rows_for_user, sqlite_rows_for_user};
use sai::{Domain, EventOf, Machine, RawIntent};
use tokio::sync::Mutex;

use crate::fake_powersync::FakeService;
use crate::{List, ListMachine, Note, NoteMachine, StrictTodoMachine, Todo};

/// Any error.
pub type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// One domain's processor, on the SQLite or the PostgreSQL server.
#[allow(clippy::large_enum_variant)] // two values per server, size is irrelevant
pub enum Processor<D: Domain, M> {
    /// On the SQLite server file.
    Sqlite(EventProcessor<SqliteStore<D>, M>),
    /// On PostgreSQL.
    Postgres(EventProcessor<PostgresStore<D>, M>),
}

impl<D: Domain, M: Machine<Domain = D, Event = EventOf<D>>> Processor<D, M> {
    /// Ingests `intents` for `user` and decides everything decidable.
    pub async fn accept(&mut self, user: &str, intents: &[RawIntent]) -> Result<(), AnyError> {
        match self {
            Processor::Sqlite(p) => ingest_and_decide(p, user, intents).await,
            Processor::Postgres(p) => ingest_and_decide(p, user, intents).await,
        }
    }
}

async fn ingest_and_decide<S, M>(
    p: &mut EventProcessor<S, M>,
    user: &str,
    intents: &[RawIntent],
) -> Result<(), AnyError>
where
    S: ServerStore,
    M: Machine<Domain = S::Domain, Event = EventOf<S::Domain>>,
{
    ingest(p.store_mut(), user, intents).await?;
    p.process_pending().await;
    Ok(())
}

/// A plain connection to the server database, to read rows as replication would.
enum Reader {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

/// The server behind the backend: one database holding the domains' tables, a processor per
/// domain, and a way to read what a user may download.
pub struct Server {
    todos: Processor<Todo, StrictTodoMachine>,
    notes: Processor<Note, NoteMachine>,
    lists: Processor<List, ListMachine>,
    reader: Reader,
}

impl Server {
    /// The domains the server serves.
    pub const DOMAINS: [&str; 3] = [Todo::NAME, Note::NAME, List::NAME];

    /// The server's tables, as the sync rules see them.
    pub fn schema() -> Schema {
        Schema::builder()
            .domain::<Todo>()
            .domain::<Note>()
            .domain::<List>()
            .build()
            .unwrap()
    }

    /// A server on the SQLite file `path`, its tables created.
    pub async fn sqlite(path: &Path) -> Server {
        let mut todos = SqliteStore::<Todo>::open(path).unwrap();
        todos.migrate().await.unwrap();
        let mut notes = SqliteStore::<Note>::open(path).unwrap();
        notes.migrate().await.unwrap();
        let mut lists = SqliteStore::<List>::open(path).unwrap();
        lists.migrate().await.unwrap();
        Server {
            todos: Processor::Sqlite(EventProcessor::new(todos).with_machine()),
            notes: Processor::Sqlite(EventProcessor::new(notes)),
            lists: Processor::Sqlite(EventProcessor::new(lists)),
            reader: Reader::Sqlite(rusqlite::Connection::open(path).unwrap()),
        }
    }

    /// A server in the PostgreSQL schema `schema` at `url`, its tables created; `client`
    /// reads that schema.
    pub async fn postgres(url: &str, schema: &str, client: tokio_postgres::Client) -> Server {
        let mut todos = PostgresStore::<Todo>::connect_in_schema(url, schema)
            .await
            .unwrap();
        todos.migrate().await.unwrap();
        let mut notes = PostgresStore::<Note>::connect_in_schema(url, schema)
            .await
            .unwrap();
        notes.migrate().await.unwrap();
        let mut lists = PostgresStore::<List>::connect_in_schema(url, schema)
            .await
            .unwrap();
        lists.migrate().await.unwrap();
        Server {
            todos: Processor::Postgres(EventProcessor::new(todos).with_machine()),
            notes: Processor::Postgres(EventProcessor::new(notes)),
            lists: Processor::Postgres(EventProcessor::new(lists)),
            reader: Reader::Postgres(client),
        }
    }

    /// The upload endpoint's work for `user`: refuses a batch with a domain the server does
    /// not serve, else ingests each domain's intents into its store and decides them.
    pub async fn accept(&mut self, user: &str, batch: &UploadBatch) -> Result<(), AnyError> {
        batch.check_served(&Self::DOMAINS)?;
        for (domain, intents) in batch.domains() {
            match domain {
                Todo::NAME => self.todos.accept(user, intents).await?,
                Note::NAME => self.notes.accept(user, intents).await?,
                List::NAME => self.lists.accept(user, intents).await?,
                _ => unreachable!("checked above"),
            }
        }
        Ok(())
    }

    /// Lets replication publish what `user` may now download.
    pub async fn publish(&mut self, service: &FakeService, user: &str) {
        let schema = Self::schema();
        let rows = match &self.reader {
            Reader::Sqlite(conn) => sqlite_rows_for_user(conn, &schema, user).unwrap(),
            Reader::Postgres(client) => {
                postgres_rows_for_user(client, &schema, user).await.unwrap()
            }
        };
        service.publish(user, rows.into_iter().map(Into::into).collect());
    }

    /// Rows in a server table.
    pub async fn count(&mut self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        match &self.reader {
            Reader::Sqlite(conn) => conn.query_row(&sql, [], |r| r.get(0)).unwrap(),
            Reader::Postgres(client) => client.query_one(&sql, &[]).await.unwrap().get(0),
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
    /// Every batch the upload endpoint was sent, in order (failed attempts too).
    pub uploads: Arc<StdMutex<Vec<UploadBatch>>>,
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
        upload_intents(&self.db, |batch| async move {
            self.uploads.lock().unwrap().push(batch.clone());
            let mut server = self.server.lock().await;
            server
                .accept(&self.user, &batch)
                .await
                .map_err(UploadFailed)?;
            server.publish(&self.service, &self.user).await;
            if self.fail_after_ingest.load(Ordering::SeqCst) > 0 {
                self.fail_after_ingest.fetch_sub(1, Ordering::SeqCst);
                return Err(UploadFailed(
                    "connection reset after the server stored the upload".into(),
                ));
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }
}

/// Why the upload endpoint failed, with the server's error as the source: the client
/// recognises a refusal it recovers from (a taken sequence number) in the chain, as it would
/// in an error an HTTP backend rebuilds from its response.
#[derive(Debug)]
pub struct UploadFailed(pub AnyError);

impl std::fmt::Display for UploadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upload failed: {}", self.0)
    }
}

impl std::error::Error for UploadFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
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
    /// Opens the device's database file `name` in `dir` for `user`, with the todo domain.
    pub async fn open(
        dir: &Path,
        name: &str,
        user: &str,
        server: &Arc<Mutex<Server>>,
        service: &FakeService,
    ) -> Device {
        let todos = ClientStore::builder().domain::<Todo>();
        Self::open_with(dir, name, user, server, service, todos).await
    }

    /// Opens the device's database file `name` in `dir` for `user`, with the builder's domains.
    pub async fn open_with(
        dir: &Path,
        name: &str,
        user: &str,
        server: &Arc<Mutex<Server>>,
        service: &FakeService,
        builder: ClientStoreBuilder,
    ) -> Device {
        let client = PowerSyncClient::open(dir.join(name), builder, service.client())
            .await
            .unwrap();
        let backend = Backend {
            user: user.into(),
            db: client.db().clone(),
            server: server.clone(),
            service: service.clone(),
            fail_after_ingest: Arc::default(),
            uploads: Arc::default(),
        };
        Device { client, backend }
    }

    /// Connects to the service (and wakes the uploader).
    pub async fn connect(&self) {
        let mut options = SyncOptions::new(self.backend.clone());
        options.with_retry_delay(Duration::from_millis(50));
        self.client.connect(options).await.unwrap();
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
