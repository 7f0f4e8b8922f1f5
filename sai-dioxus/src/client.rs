//! The value the provider puts in context: a store, the device identity, the sync layer's
//! reports and the crate's own change notices.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use sai::client::{ClientError, ClientIdentity, ClientStore, ExternalWatcher};

use crate::notices::{Notice, Notices};

/// How the last sync round ended, as the sync layer reported it ([`SaiClient::record_round`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundOutcome {
    /// When the round finished.
    pub finished_at: SystemTime,
    /// Why it failed; `None` if it succeeded.
    pub error: Option<String>,
}

struct Shared {
    store: ClientStore,
    identity: ClientIdentity,
    notices: Notices,
    last_round: Mutex<Option<RoundOutcome>>,
    /// Store errors hooks hit while reading, for the app to show or log.
    errors: Mutex<Vec<ClientError>>,
    /// Kept so the background poll runs as long as the client does.
    external: Mutex<Option<ExternalWatcher>>,
}

/// A device's store and identity, shared by every hook under one
/// [`SaiProvider`](crate::SaiProvider). Cheap to clone; clones are equal (`==`) only to
/// each other, so a provider re-renders only when it is handed another client.
#[derive(Clone)]
pub struct SaiClient {
    shared: Arc<Shared>,
}

impl SaiClient {
    /// A client over `store`, writing intents as `identity`.
    pub fn new(store: ClientStore, identity: ClientIdentity) -> Self {
        SaiClient {
            shared: Arc::new(Shared {
                store,
                identity,
                notices: Notices::default(),
                last_round: Mutex::new(None),
                errors: Mutex::new(Vec::new()),
                external: Mutex::new(None),
            }),
        }
    }

    /// Polls for commits by other connections to the store's file every `interval` (a sync
    /// process, another store) and reconciles, so hooks hear about downloads they did not
    /// make. Runs until the last clone of this client is dropped, or until called again.
    pub fn watch_external_changes(&self, interval: Duration) -> &Self {
        let watcher = self.shared.store.watch_external_changes(interval);
        *lock(&self.shared.external) = Some(watcher);
        self
    }

    /// The store.
    pub fn store(&self) -> &ClientStore {
        &self.shared.store
    }

    /// The identity intents are written for.
    pub fn identity(&self) -> &ClientIdentity {
        &self.shared.identity
    }

    /// What the sync layer calls after each round, so [`use_sync_status`](crate::use_sync_status)
    /// can show the last round and whether syncing is failing.
    pub fn record_round<E: std::fmt::Display>(&self, result: Result<(), E>) {
        *lock(&self.shared.last_round) = Some(RoundOutcome {
            finished_at: SystemTime::now(),
            error: result.err().map(|e| e.to_string()),
        });
        self.shared.notices.tell(&Notice::Round);
    }

    /// How the last reported round ended; `None` before the first.
    pub fn last_round(&self) -> Option<RoundOutcome> {
        lock(&self.shared.last_round).clone()
    }

    /// Store errors the hooks hit since the last call (a hook whose read fails keeps showing
    /// its last value), and the background poller's.
    pub fn take_errors(&self) -> Vec<ClientError> {
        let mut errors = std::mem::take(&mut *lock(&self.shared.errors));
        if let Some(watcher) = &*lock(&self.shared.external) {
            errors.extend(watcher.take_errors());
        }
        errors
    }

    /// The value, or `None` with the error kept for [`take_errors`](Self::take_errors).
    pub(crate) fn keep_errors<T>(&self, read: Result<T, ClientError>) -> Option<T> {
        read.map_err(|e| lock(&self.shared.errors).push(e)).ok()
    }

    pub(crate) fn notices(&self) -> &Notices {
        &self.shared.notices
    }
}

impl PartialEq for SaiClient {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl std::fmt::Debug for SaiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaiClient")
            .field("store", &self.shared.store)
            .field("identity", &self.shared.identity)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
