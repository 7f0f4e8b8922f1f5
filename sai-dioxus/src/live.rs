//! The bridge every hook is built on: a signal holding what a component reads from the
//! store, re-read when the store says the data may have changed and set only when it did.
//!
//! The store calls its listeners on whichever thread committed (the UI's own send, the
//! external-change poller, a sync task). Listeners only push a wake-up into a channel; a task
//! owned by the component drains it, re-reads off the UI thread and writes the signal. A
//! signal written with an equal value is left alone, so only components whose data changed
//! re-render. Dropping the component drops the task and the subscriptions.

use std::rc::Rc;
use std::sync::Arc;

use dioxus::prelude::*;
use sai::Domain;
use sai::client::{ClientError, ClientStore, DomainChange, Subscription};
use tokio::sync::mpsc;

use crate::client::SaiClient;
use crate::notices::{Notice, NoticeGuard};
use crate::provider::use_sai_client;

/// What a hook is told about; it decides whether to read again.
pub(crate) enum Change<'a> {
    /// A domain's watcher fired: a send, a reconciliation, server data.
    Domain(&'a DomainChange),
    /// A crate notice: a rejection cleared, a sync round reported.
    Notice(&'a Notice),
}

/// How a hook reads its value from the store.
pub(crate) type Reader<T> = Arc<dyn Fn(&ClientStore) -> Result<T, ClientError> + Send + Sync>;

/// The subscriptions a live value holds; dropped with the component's hooks.
struct Held {
    _store: Subscription,
    _notices: NoticeGuard,
}

/// When a hook reads its first value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum First {
    /// While rendering: a read of one statement, so the first frame is complete.
    Inline,
    /// Off the UI thread, like every later read: the value starts at its default.
    Deferred,
}

/// A signal with `read(store)`, read first as `first` says and again after each change
/// `relevant` accepts.
pub(crate) fn use_live<D, T>(
    first: First,
    relevant: impl Fn(Change<'_>) -> bool + Send + Sync + 'static,
    read: impl Fn(&ClientStore) -> Result<T, ClientError> + Send + Sync + 'static,
) -> Signal<T>
where
    D: Domain,
    T: PartialEq + Default + Send + 'static,
{
    let client = use_sai_client();
    let (value, _held) = use_hook(|| {
        let read: Reader<T> = Arc::new(read);
        let (wake, woken) = mpsc::unbounded_channel::<()>();
        // Subscribe before the first read, so no change falls between the two.
        let held = Rc::new(subscribe::<D>(&client, relevant, wake.clone()));
        let value = Signal::new(match first {
            First::Inline => client.keep_errors(read(client.store())).unwrap_or_default(),
            First::Deferred => {
                let _ = wake.send(());
                T::default()
            }
        });
        spawn(refresh(client.clone(), read, woken, value));
        (value, held)
    });
    value
}

/// Registers the store watcher and the notice listener, both waking `wake`.
fn subscribe<D: Domain>(
    client: &SaiClient,
    relevant: impl Fn(Change<'_>) -> bool + Send + Sync + 'static,
    wake: mpsc::UnboundedSender<()>,
) -> Held {
    let relevant = Arc::new(relevant);
    let (on_change, on_notice) = (relevant.clone(), relevant);
    let wake_on_notice = wake.clone();
    let store = client
        .store()
        .watch::<D>(move |c| {
            if on_change(Change::Domain(c)) {
                let _ = wake.send(());
            }
        })
        // A hook over an unregistered domain is a programming error, found on first render.
        .unwrap_or_else(|e| panic!("sai-dioxus: {e}"));
    let notices = client.notices().listen(move |n| {
        if on_notice(Change::Notice(n)) {
            let _ = wake_on_notice.send(());
        }
    });
    Held {
        _store: store,
        _notices: notices,
    }
}

/// Re-reads after each wake-up (several queued wake-ups make one read) and sets the signal
/// only when the value changed.
async fn refresh<T: PartialEq + Send + 'static>(
    client: SaiClient,
    read: Reader<T>,
    mut woken: mpsc::UnboundedReceiver<()>,
    mut value: Signal<T>,
) {
    while woken.recv().await.is_some() {
        while woken.try_recv().is_ok() {}
        let (store, reader) = (client.store().clone(), read.clone());
        let next = off_ui(move || reader(&store)).await;
        // A failed read keeps what is shown; the error waits in `SaiClient::take_errors`.
        let Some(next) = client.keep_errors(next) else {
            continue;
        };
        if *value.peek() != next {
            value.set(next);
        }
    }
}

/// Runs `job` on tokio's blocking pool when there is a runtime, so the UI thread never waits
/// for the store's connection (a sync transaction may hold it); inline otherwise.
pub(crate) async fn off_ui<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => match runtime.spawn_blocking(job).await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        },
        Err(_) => job(),
    }
}
