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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use sai::client::{ClientIdentity, EventSourcedActor};

    use super::*;
    use crate::todo_domain::{Todo, TodoEvent};

    /// What the hook's listeners hold while they exist: its count is one plus theirs.
    static MARKER: std::sync::LazyLock<Arc<()>> = std::sync::LazyLock::new(|| Arc::new(()));

    /// Shared with the test: the switch that mounts the hook.
    #[derive(Clone)]
    struct Fixture {
        shown: Rc<RefCell<Option<Signal<bool>>>>,
    }

    #[component]
    fn Root(client: SaiClient) -> Element {
        let fixture = use_context::<Fixture>();
        let shown = use_signal(|| true);
        use_hook(|| *fixture.shown.borrow_mut() = Some(shown));
        rsx! {
            crate::SaiProvider { client,
                if shown() { Watcher {} }
            }
        }
    }

    #[component]
    fn Watcher() -> Element {
        let marker = Arc::clone(&MARKER);
        let logged = use_live::<Todo, _>(
            First::Inline,
            move |_| {
                let _held = &marker;
                true
            },
            |store| Ok(store.logged_intents::<Todo>()?.len()),
        );
        rsx! { p { "logged: {logged}" } }
    }

    #[tokio::test]
    async fn an_unmounted_hook_leaves_no_listener_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = ClientStore::builder()
            .domain::<Todo>()
            .open(dir.path().join("device.db"))
            .unwrap();
        let me = ClientIdentity::new("laptop", "alice");
        let client = SaiClient::new(store.clone(), me.clone());
        let fixture = Fixture {
            shown: Rc::default(),
        };
        let mut dom = VirtualDom::new_with_props(
            Root,
            RootProps {
                client: client.clone(),
            },
        )
        .with_root_context(fixture.clone());
        dom.rebuild_in_place();
        assert!(dioxus_ssr::render(&dom).contains("logged: 0"));
        assert_eq!(
            Arc::strong_count(&MARKER),
            2,
            "the listeners hold the marker"
        );
        assert_eq!(client.notices().listeners(), 1);

        // Mounted, the hook follows a send.
        let todo = EventSourcedActor::<Todo>::create(&store, me).unwrap();
        todo.send(TodoEvent::Create {
            title: "Milk".into(),
        })
        .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !dioxus_ssr::render(&dom).contains("logged: 1") {
            assert!(
                std::time::Instant::now() < deadline,
                "the hook never saw the send"
            );
            let _ = tokio::time::timeout(std::time::Duration::from_millis(20), dom.wait_for_work())
                .await;
            dom.render_immediate(&mut dioxus_core::NoOpMutations);
        }

        // Unmounted: its store watcher and notice listener are gone with it.
        let mut shown = fixture.shown.borrow().expect("Root rendered");
        dom.in_runtime(|| shown.set(false));
        dom.render_immediate(&mut dioxus_core::NoOpMutations);
        assert!(!dioxus_ssr::render(&dom).contains("logged"));
        assert_eq!(client.notices().listeners(), 0);
        assert_eq!(
            Arc::strong_count(&MARKER),
            1,
            "the store must no longer hold the hook's listener"
        );
        // A later send finds no listener of the dropped component to call.
        todo.send(TodoEvent::Toggle).unwrap();
    }
}
