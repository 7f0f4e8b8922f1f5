//! Wake-up switches for idle workers: a [`WakeHandle`] rings, every [`Wakeup`] clone
//! hears it. In process by hand ([`wakeup`]), or from the database
//! ([`ServerStore::listen`](super::ServerStore::listen): PostgreSQL `LISTEN`).

use tokio::sync::watch;

/// Creates a wake-up switch for worker loops: call [`WakeHandle::wake`] after queuing
/// intents (after [`ingest`](super::ingest())), and every [`EventProcessor::run`](super::EventProcessor::run) given a
/// clone of the [`Wakeup`] stops idling. A wake while a worker is busy is not lost: its next
/// idle wait ends at once.
pub fn wakeup() -> (WakeHandle, Wakeup) {
    let (tx, rx) = watch::channel(0u64);
    (WakeHandle(std::sync::Arc::new(tx)), Wakeup(rx))
}

/// Wakes the idle workers that hold the matching [`Wakeup`]; clone it for each caller.
#[derive(Clone, Debug)]
pub struct WakeHandle(std::sync::Arc<watch::Sender<u64>>);

impl WakeHandle {
    /// Ends the idle wait of every worker holding the matching [`Wakeup`].
    pub fn wake(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A worker's view of the wake-up switch; clone it for each worker.
#[derive(Clone, Debug)]
pub struct Wakeup(watch::Receiver<u64>);

impl Wakeup {
    /// Resolves at the next wake; never, if there is no switch or its handles are gone.
    pub(crate) async fn woken(wakeup: &mut Option<Wakeup>) {
        if let Some(w) = wakeup
            && w.0.changed().await.is_ok()
        {
            return;
        }
        *wakeup = None;
        std::future::pending::<()>().await
    }
}

impl WakeHandle {
    /// Whether every [`Wakeup`] is gone (nobody is woken any more).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn is_unheard(&self) -> bool {
        self.0.receiver_count() == 0
    }
}
