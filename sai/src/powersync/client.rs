//! The client store on a PowerSync database.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use powersync::env::PowerSyncEnvironment;
use powersync::error::PowerSyncError;
use powersync::http::HttpClient;
use powersync::{ConnectionPool, PowerSyncDatabase, SyncOptions};

use crate::client::{ClientError, ClientStore, ClientStoreBuilder, Subscription};
use crate::schema::{INTENT_COLUMNS, Schema, SchemaError, TableRole};

use super::client_schema;

/// How often the store checks for downloads it was not told about.
const RECONCILE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// How often the upload queue is looked at while it is not empty: PowerSync's uploader
/// starts on a change notification of `ps_crud`, and one sent before it listens (just after
/// `connect`, racing the first download) is lost; the next look sends another.
const UPLOAD_RECHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Why a PowerSync client could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The PowerSync database failed.
    #[error("powersync: {0}")]
    PowerSync(#[from] PowerSyncError),
    /// The client store failed.
    #[error("client store: {0}")]
    Client(#[from] ClientError),
    /// The domains' tables collide.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// A device on PowerSync: the same [`ClientStore`] (and so the same actor API) as on plain
/// SQLite, running on the PowerSync database file.
///
/// - The store's tables are PowerSync's: synced tables for the server's data, local-only
///   tables for the intent log and optimistic projection, an insert-only upload queue.
/// - Every intent appended to a local log is also queued for upload (`{name}_intent_events`),
///   by a trigger, in the same transaction as the log row and the projection.
/// - After each local change PowerSync's uploader is woken; after each download that
///   touches the synced tables the store reconciles (surfacing rejections, clearing decided
///   intents).
///
/// Call [`connect`](Self::connect) with a connector whose `upload_data` uses
/// [`upload_intents`](super::upload_intents). Dropping the client disconnects it.
pub struct PowerSyncClient {
    db: PowerSyncDatabase,
    store: ClientStore,
    _wake_uploads: Vec<Subscription>,
    reconciler: Option<tokio::task::JoinHandle<()>>,
    upload_watch: Option<tokio::task::JoinHandle<()>>,
    errors: Arc<Mutex<Vec<ClientError>>>,
}

impl PowerSyncClient {
    /// Opens (creating if needed) the PowerSync database at `path` for the builder's domains,
    /// talking to the service through `http`, and starts PowerSync's sync tasks on tokio.
    /// Rows stored by an earlier version of the domains are migrated (a renamed column's
    /// values move, new columns with a declared default are filled, dropped columns are
    /// removed); a default without a SQL literal is refused with
    /// [`ClientError::Migration`].
    pub async fn open(
        path: impl AsRef<Path>,
        builder: ClientStoreBuilder,
        http: impl HttpClient,
    ) -> Result<Self, OpenError> {
        let path: PathBuf = path.as_ref().to_owned();
        let schema = builder.schema()?;
        // A refused change is found before PowerSync regenerates its views, so the file is
        // left as the earlier version wrote it.
        rusqlite::Connection::open(&path)
            .and_then(|conn| super::migrate::check_powersync(&conn, &schema))
            .map_err(ClientError::from)?
            .map_err(ClientError::from)?;
        PowerSyncEnvironment::powersync_auto_extension()?;
        let pool = ConnectionPool::open(&path)?;
        let env =
            PowerSyncEnvironment::custom(http, pool.clone(), PowerSyncEnvironment::tokio_timer());
        let db = PowerSyncDatabase::new(env, client_schema(&schema));
        db.async_tasks().spawn_with_tokio();
        // The first lease applies the schema, creating the views the store works on.
        drop(db.writer().await?);

        // PowerSync owns the tables; the caller's other store options stay as given.
        let store = builder.create_tables(false).open(&path)?;
        // The stored rows move to the domain's layout (renames, defaults, drops).
        store
            .with_connection(|conn| super::migrate::migrate_powersync(conn, &schema))
            .map_err(ClientError::from)?
            .map_err(ClientError::from)?;
        store
            .with_connection(|conn| conn.execute_batch(&outbox_triggers(&schema)))
            .map_err(ClientError::from)?;

        let notifiers = Arc::clone(pool.update_notifiers());
        // Only local sends queue intents; a reconcile after a download does not.
        let wake_uploads = store.watch_all(move |change| {
            if !change.server_data {
                notifiers.notify_updates(&["ps_crud".to_owned()].into_iter().collect());
            }
        });
        let synced: Vec<String> = schema
            .tables()
            .iter()
            .filter(|t| t.role.user_column().is_some())
            .map(|t| t.name.clone())
            .collect();
        let mut changes = Box::pin(db.watch_tables(true, synced));
        let reconciling = store.clone();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::clone(&errors);
        let reconciler = tokio::spawn(async move {
            use futures_lite::StreamExt;
            loop {
                // A download wakes us at once; the poll is the safety net for a notification
                // that fires before the commit is visible to the store's connection.
                tokio::select! {
                    change = changes.next() => if change.is_none() { return },
                    () = tokio::time::sleep(RECONCILE_POLL) => {}
                }
                let store = reconciling.clone();
                // Reconciles only if another connection committed since the last look; a
                // failed reconcile is kept for `take_errors` and tried again next time.
                let polled = tokio::task::spawn_blocking(move || store.poll_external_changes());
                if let Ok(Err(e)) = polled.await {
                    failed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(e);
                }
            }
        });
        let upload_watch = tokio::spawn(watch_upload_queue(db.clone(), pool.clone()));
        Ok(PowerSyncClient {
            db,
            store,
            _wake_uploads: wake_uploads,
            reconciler: Some(reconciler),
            upload_watch: Some(upload_watch),
            errors,
        })
    }

    /// Starts syncing with `options` (whose connector's `upload_data` should call
    /// [`upload_intents`](super::upload_intents)), and makes sure intents queued while
    /// offline are uploaded: powersync 0.0.6 can miss the upload that should follow
    /// `connect` when it races the first download.
    pub async fn connect(&self, options: SyncOptions) -> Result<(), PowerSyncError> {
        self.db.connect(options).await;
        self.wake_uploads().await
    }

    /// Errors the background reconciliation hit since the last call (each is retried at
    /// the next download or poll).
    pub fn take_errors(&self) -> Vec<ClientError> {
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The PowerSync database (connect, disconnect, status).
    pub fn db(&self) -> &PowerSyncDatabase {
        &self.db
    }

    /// The client store: create and open actors on it as on plain SQLite.
    pub fn store(&self) -> &ClientStore {
        &self.store
    }

    /// Makes PowerSync's uploader look at the queue again ([`connect`](Self::connect) does
    /// it; harmless at any time).
    pub async fn wake_uploads(&self) -> Result<(), PowerSyncError> {
        wake_uploads(&self.db).await
    }
}

impl Drop for PowerSyncClient {
    fn drop(&mut self) {
        for task in [self.reconciler.take(), self.upload_watch.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        // A connector usually holds a clone of the database, which would keep syncing
        // after the client is gone; reopening the file would then run two sync engines.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let db = self.db.clone();
            runtime.spawn(async move { db.disconnect().await });
        }
    }
}

/// Makes the uploader of `db` look at its queue again, by touching a queued row: powersync
/// 0.0.6 can miss the upload that should follow `connect` when it races the first download.
/// Harmless at any time.
pub async fn wake_uploads(db: &PowerSyncDatabase) -> Result<(), PowerSyncError> {
    let writer = db.writer().await?;
    writer.execute(
        "UPDATE ps_crud SET data = data WHERE id = (SELECT min(id) FROM ps_crud)",
        [],
    )?;
    Ok(())
}

/// Keeps PowerSync's uploader going while intents are queued: after each completed
/// checkpoint (a sync status change) and every [`UPLOAD_RECHECK`], if `ps_crud` is not
/// empty, announces a change of it. An uploader already running ignores the announcement
/// (and retries a failed upload after its own delay); an idle connected one starts; a
/// disconnected one does not listen. So uploads after a (re)connect never depend on winning
/// the race between `connect` and the first download.
async fn watch_upload_queue(db: PowerSyncDatabase, pool: ConnectionPool) {
    use futures_lite::StreamExt;
    let mut status = std::pin::pin!(db.watch_status());
    loop {
        tokio::select! {
            s = status.next() => if s.is_none() { return },
            () = tokio::time::sleep(UPLOAD_RECHECK) => {}
        }
        let queued = match db.reader().await {
            Ok(reader) => reader
                .query_row("SELECT EXISTS (SELECT 1 FROM ps_crud)", [], |r| {
                    r.get::<_, bool>(0)
                })
                .unwrap_or(false),
            Err(_) => false,
        };
        if queued {
            pool.update_notifiers()
                .notify_updates(&["ps_crud".to_owned()].into_iter().collect());
        }
    }
}

/// Temporary triggers (this connection only) that queue each logged intent for upload.
fn outbox_triggers(schema: &Schema) -> String {
    let names: Vec<&str> = std::iter::once("id")
        .chain(INTENT_COLUMNS.iter().map(|c| c.name))
        .collect();
    let cols = names.join(", ");
    let new_cols = names
        .iter()
        .map(|c| format!("NEW.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut domains: Vec<&str> = schema.tables().iter().map(|t| t.domain).collect();
    domains.dedup();
    domains
        .into_iter()
        .map(|d| {
            let log = TableRole::LocalIntents.table_name(d);
            let queue = TableRole::IntentQueue.table_name(d);
            format!(
                "CREATE TEMP TRIGGER IF NOT EXISTS sai_outbox_{d} INSTEAD OF INSERT ON main.{log} \
                 BEGIN INSERT INTO {queue} ({cols}) VALUES ({new_cols}); END;\n"
            )
        })
        .collect()
}
