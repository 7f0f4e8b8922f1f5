//! A fixed set of server stores (one connection each) shared by the requests: a request takes
//! one for its upload and gives it back when done, waiting while all are in use.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) struct StorePool<S> {
    idle: Mutex<Vec<S>>,
    permits: Arc<Semaphore>,
}

impl<S> StorePool<S> {
    pub(crate) fn new(stores: Vec<S>) -> Self {
        StorePool {
            permits: Arc::new(Semaphore::new(stores.len())),
            idle: Mutex::new(stores),
        }
    }

    /// A store for the caller alone, back in the pool when the guard drops.
    pub(crate) async fn take(self: &Arc<Self>) -> Pooled<S> {
        // The semaphore is never closed, so acquiring only waits.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the pool's semaphore is never closed"));
        let store = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| unreachable!("a permit is held only while a store is idle"));
        Pooled {
            store: Some(store),
            pool: Arc::clone(self),
            _permit: permit,
        }
    }
}

pub(crate) struct Pooled<S> {
    store: Option<S>,
    pool: Arc<StorePool<S>>,
    // Dropped after `drop` put the store back, so a waiter finds it.
    _permit: OwnedSemaphorePermit,
}

impl<S> Deref for Pooled<S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.store.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<S> DerefMut for Pooled<S> {
    fn deref_mut(&mut self) -> &mut S {
        self.store.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<S> Drop for Pooled<S> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(store);
        }
    }
}
