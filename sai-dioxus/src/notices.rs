//! Changes the store does not announce itself: a rejection cleared, a sync round reported.
//! Hooks listen to these beside the store's domain watchers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// What changed outside the store's own notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// A rejection of this domain was cleared.
    RejectionCleared(&'static str),
    /// The sync layer reported a round.
    Round,
}

type Listener = Box<dyn Fn(&Notice) + Send + Sync>;

#[derive(Default)]
struct Inner {
    next: AtomicU64,
    listeners: Mutex<HashMap<u64, Listener>>,
}

/// The listeners of one client.
#[derive(Clone, Default)]
pub(crate) struct Notices {
    inner: Arc<Inner>,
}

impl Notices {
    /// Calls `f` on every notice until the returned guard is dropped.
    pub(crate) fn listen(&self, f: impl Fn(&Notice) + Send + Sync + 'static) -> NoticeGuard {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.listeners).insert(id, Box::new(f));
        NoticeGuard {
            inner: Arc::downgrade(&self.inner),
            id,
        }
    }

    /// How many listeners are registered (tests check that dropped hooks leave none).
    #[cfg(test)]
    pub(crate) fn listeners(&self) -> usize {
        lock(&self.inner.listeners).len()
    }

    /// Tells every listener.
    pub(crate) fn tell(&self, notice: &Notice) {
        for f in lock(&self.inner.listeners).values() {
            f(notice);
        }
    }
}

/// Removes a listener when dropped.
pub(crate) struct NoticeGuard {
    inner: Weak<Inner>,
    id: u64,
}

impl Drop for NoticeGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            lock(&inner.listeners).remove(&self.id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
