//! How server data gets into a store: written by a sync layer through the store, or
//! committed by another connection to the same file (a sync process, another store). Either
//! way it is followed by [`ClientStore::reconcile_all`].

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rusqlite::Transaction;

use super::error::{ClientError, Result};
use super::notify::lock;
use super::store::ClientStore;
use super::summary::ReconcileSummary;

impl ClientStore {
    /// Applies synced server rows (what a sync layer does after a checkpoint) in one
    /// transaction, then reconciles every domain. `f` must write only the synced tables
    /// (`{name}_projection`, `{name}_intent_events_rejected`, `{name}_client_acks`).
    pub fn apply_server_data(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<ReconcileSummary> {
        self.write_server_data(f)?;
        self.reconcile_all()
    }

    /// Writes synced server rows in one transaction without reconciling (for a sync layer
    /// that reconciles later). Like [`apply_server_data`](Self::apply_server_data), `f` must
    /// write only the synced tables.
    pub fn write_server_data(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<()> {
        self.write(|tx, _| f(tx).map_err(ClientError::from))
    }

    /// Reconciles if another connection (a sync process, another store on the same file)
    /// committed since the last call; `None` if nothing changed.
    pub fn poll_external_changes(&self) -> Result<Option<ReconcileSummary>> {
        let version: i64 = self.read(|c| c.query_row("PRAGMA data_version", [], |r| r.get(0)))?;
        if *self.seen_data_version() == Some(version) {
            return Ok(None);
        }
        // Remembered only once reconciled: a failed reconcile is tried again next poll.
        let summary = self.reconcile_all()?;
        *self.seen_data_version() = Some(version);
        Ok(Some(summary))
    }

    /// Polls for other connections' commits every `interval` on a background thread and
    /// reconciles when there were some. Stops when the returned guard is dropped.
    pub fn watch_external_changes(&self, interval: Duration) -> ExternalWatcher {
        let store = self.clone();
        let (stop, stopped) = mpsc::channel::<()>();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let thread = thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                if let Err(e) = store.poll_external_changes() {
                    lock(&sink).push(e);
                }
            }
        });
        ExternalWatcher {
            stop: Some(stop),
            thread: Some(thread),
            errors,
        }
    }
}

/// Polls for other connections' commits; stops and joins its thread when dropped.
pub struct ExternalWatcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    errors: Arc<Mutex<Vec<ClientError>>>,
}

impl ExternalWatcher {
    /// Errors the background reconciliations hit since the last call.
    pub fn take_errors(&self) -> Vec<ClientError> {
        std::mem::take(&mut *lock(&self.errors))
    }
}

impl Drop for ExternalWatcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for ExternalWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalWatcher").finish_non_exhaustive()
    }
}
