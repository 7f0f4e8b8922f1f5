//! The hooks in a real `VirtualDom`, rendered to HTML with dioxus-ssr, over real SQLite
//! files: local sends, downloads committed by another connection, a server rejection, a
//! restart. Each test asserts what the components render and how often they rendered.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use dioxus::prelude::*;
use sai::Uuid;
use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
use sai::server::{EventProcessor, SqliteStore};
use sai::sync::Loopback;
use sai_dioxus::{
    RejectionScope, SaiClient, SaiProvider, UseActor, UseRejections, use_actor, use_projection,
    use_projections, use_rejections, use_sync_status,
};

#[path = "../../examples/todo_domain.rs"]
mod todo_domain;
use todo_domain::{StrictTodoMachine, Todo, TodoEvent};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// How long a test waits for the DOM to show something before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the test components report back: how often each row rendered, and the handles the
/// hooks returned, so the test can act through them.
#[derive(Clone, Default)]
struct Probe {
    renders: Rc<RefCell<HashMap<Uuid, usize>>>,
    actor: Rc<RefCell<Option<UseActor<Todo>>>>,
    rejections: Rc<RefCell<Option<UseRejections<Todo>>>>,
    clicks: Rc<RefCell<Option<Signal<u32>>>>,
}

impl Probe {
    fn renders_of(&self, id: Uuid) -> usize {
        self.renders.borrow().get(&id).copied().unwrap_or(0)
    }
}

#[component]
fn Root(client: SaiClient, watched: Option<Uuid>) -> Element {
    rsx! {
        SaiProvider { client,
            Status {}
            Clicks {}
            Rejections {}
            List {}
            if let Some(id) = watched { ActorView { id } }
        }
    }
}

#[component]
fn Status() -> Element {
    let status = use_sync_status::<Todo>();
    let s = status.read();
    let failing = s.failing();
    rsx! { p { "status: {s.pending} pending, failing={failing}" } }
}

/// Purely local UI state, to see whether the UI thread is free.
#[component]
fn Clicks() -> Element {
    let clicks = use_signal(|| 0u32);
    use_hook(|| *consume_context::<Probe>().clicks.borrow_mut() = Some(clicks));
    rsx! { p { "clicks: {clicks}" } }
}

#[component]
fn Rejections() -> Element {
    let rejections = use_rejections::<Todo>(RejectionScope::All);
    use_hook(|| *consume_context::<Probe>().rejections.borrow_mut() = Some(rejections.clone()));
    let list = rejections.list();
    rsx! {
        for r in list.read().iter() {
            p { key: "{r.intent_id}", "refused {r.event_type}: {r.message}" }
        }
    }
}

#[component]
fn List() -> Element {
    let todos = use_projections::<Todo>();
    rsx! {
        ul {
            for p in todos.read().iter() {
                Row { key: "{p.entity_id}", id: p.entity_id }
            }
        }
    }
}

#[component]
fn Row(id: Uuid) -> Element {
    let projection = use_projection::<Todo>(id);
    *consume_context::<Probe>()
        .renders
        .borrow_mut()
        .entry(id)
        .or_default() += 1;
    let Some(p) = projection.read().clone() else {
        return rsx! { li { "gone" } };
    };
    let t = p.context();
    let estimate = t.estimate.map_or("none".to_owned(), |h| h.to_string());
    rsx! { li { "{t.title} v{p.snapshot.version} optimistic={p.optimistic} estimate={estimate}" } }
}

#[component]
fn ActorView(id: Uuid) -> Element {
    let actor = use_actor::<Todo>(id);
    use_hook(|| *consume_context::<Probe>().actor.borrow_mut() = Some(actor.clone()));
    let pending = actor.pending().read().len();
    let toggle = actor.accepts(&TodoEvent::Toggle);
    let create = actor.accepts(&TodoEvent::Create { title: "x".into() });
    rsx! { p { "actor: pending={pending} toggle={toggle} create={create}" } }
}

/// A `VirtualDom` over a client, with the test's probe in its root context.
struct Screen {
    dom: VirtualDom,
    probe: Probe,
}

impl Screen {
    fn new(client: &SaiClient, watched: Option<Uuid>) -> Self {
        let probe = Probe::default();
        let mut dom = VirtualDom::new_with_props(
            Root,
            RootProps {
                client: client.clone(),
                watched,
            },
        )
        .with_root_context(probe.clone());
        dom.rebuild_in_place();
        Screen { dom, probe }
    }

    fn html(&self) -> String {
        dioxus_ssr::render(&self.dom)
    }

    /// Runs the DOM's tasks and re-renders until the HTML contains `text`; fails after
    /// [`PATIENCE`].
    async fn until_shows(&mut self, text: &str) -> String {
        self.until(&format!("to show {text:?}"), |html| html.contains(text))
            .await
    }

    async fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let html = self.html();
            if done(&html) {
                return html;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting {what}: {html}"
            );
            let _ = tokio::time::timeout(Duration::from_millis(20), self.dom.wait_for_work()).await;
            self.dom.render_immediate(&mut dioxus_core::NoOpMutations);
        }
    }

    /// Lets queued work run for `span`, so a test can check that nothing else rendered.
    async fn settle(&mut self, span: Duration) {
        let until = Instant::now() + span;
        while Instant::now() < until {
            let _ = tokio::time::timeout(Duration::from_millis(10), self.dom.wait_for_work()).await;
            self.dom.render_immediate(&mut dioxus_core::NoOpMutations);
        }
    }
}

fn device(dir: &Path, name: &str) -> Result<ClientStore, AnyError> {
    Ok(ClientStore::builder()
        .domain::<Todo>()
        .open(dir.join(name))?)
}

fn alice(device: &str) -> ClientIdentity {
    ClientIdentity::new(device, "alice")
}

async fn strict_server(dir: &Path) -> Result<Loopback<Todo, StrictTodoMachine>, AnyError> {
    let server = SqliteStore::<Todo>::open(dir.join("server.db"))?;
    Ok(Loopback::new(EventProcessor::new(server).with_machine::<StrictTodoMachine>()).await?)
}

fn create(store: &ClientStore, who: &str, title: &str) -> Result<Uuid, AnyError> {
    let actor = EventSourcedActor::<Todo>::create(store, alice(who))?;
    actor.send(TodoEvent::Create {
        title: title.into(),
    })?;
    Ok(actor.entity_id())
}

#[tokio::test]
async fn a_send_rerenders_the_row_it_changed_and_no_other() -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let store = device(dir.path(), "laptop.db")?;
    let milk = create(&store, "laptop", "Buy milk")?;
    let dog = create(&store, "laptop", "Walk the dog")?;
    let client = SaiClient::new(store.clone(), alice("laptop"));
    let mut screen = Screen::new(&client, Some(milk));

    let html = screen
        .until_shows("actor: pending=1 toggle=true create=false")
        .await;
    assert!(html.contains("Buy milk v1 optimistic=true"), "{html}");
    assert!(html.contains("Walk the dog v1 optimistic=true"), "{html}");
    assert!(html.contains("status: 2 pending"), "{html}");
    let (milk_before, dog_before) = (screen.probe.renders_of(milk), screen.probe.renders_of(dog));

    // A send through the hook: logged off the UI thread, then every view of the entity moves.
    let actor = screen
        .probe
        .actor
        .borrow()
        .clone()
        .expect("ActorView rendered");
    let sent = actor
        .send(TodoEvent::Rename {
            title: "Buy oat milk".into(),
        })
        .await?;
    assert_eq!(sent.seq(), 3);
    // Each hook refreshes on its own, so each is awaited.
    screen
        .until_shows("actor: pending=2 toggle=true create=false")
        .await;
    screen.until_shows("Buy oat milk v2 optimistic=true").await;
    screen.until_shows("status: 3 pending").await;

    // A send by other code on the same store (another handle) is shown the same way.
    EventSourcedActor::<Todo>::open(&store, alice("laptop"), milk)?.send(TodoEvent::Toggle)?;
    screen.until_shows("Buy oat milk v3").await;
    screen
        .until_shows("actor: pending=3 toggle=true create=false")
        .await;
    screen.until_shows("status: 4 pending").await;
    screen.settle(Duration::from_millis(100)).await;

    assert!(screen.probe.renders_of(milk) > milk_before);
    assert_eq!(
        screen.probe.renders_of(dog),
        dog_before,
        "the row of the todo nobody touched must not render again"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_committed_by_another_connection_reaches_the_component() -> Result<(), AnyError>
{
    let dir = tempfile::tempdir()?;
    let mut sync = strict_server(dir.path()).await?;
    let phone = device(dir.path(), "phone.db")?;
    // The UI's store and the sync process's connection: one file, two connections.
    let laptop_ui = device(dir.path(), "laptop.db")?;
    let laptop_sync = device(dir.path(), "laptop.db")?;
    let poll = Duration::from_millis(5);
    let client = SaiClient::new(laptop_ui.clone(), alice("laptop"));
    client.watch_external_changes(poll);

    let local = create(&laptop_ui, "laptop", "Only on the laptop")?;
    let milk = create(&phone, "phone", "Buy milk")?;
    sync.sync(&phone, "alice").await?;
    let mut screen = Screen::new(&client, None);
    screen.until_shows("Only on the laptop v1").await;
    assert!(!screen.html().contains("Buy milk"));

    sync.download(&laptop_sync, "alice").await?;
    screen.until_shows("Buy milk v1 optimistic=false").await;
    let local_renders = screen.probe.renders_of(local);

    // The phone edits; the laptop's sync connection downloads; the laptop's screen follows.
    let phone_actor = EventSourcedActor::<Todo>::open(&phone, alice("phone"), milk)?;
    let mut latencies = Vec::new();
    for round in 1..=200 {
        let title = format!("Buy milk #{round}");
        phone_actor.send(TodoEvent::Rename {
            title: title.clone(),
        })?;
        sync.sync(&phone, "alice").await?;
        sync.download(&laptop_sync, "alice").await?;
        let committed = Instant::now();
        screen
            .until_shows(&format!("{title} v{} optimistic=false", round + 1))
            .await;
        latencies.push(committed.elapsed());
    }
    assert!(client.take_errors().is_empty());
    assert_eq!(
        screen.probe.renders_of(local),
        local_renders,
        "downloads that do not change the laptop's own todo must not render its row"
    );

    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "download committed on another connection -> component shows it ({} rounds, poll every {poll:?}): p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        at(0.50),
        at(0.99),
        latencies[latencies.len() - 1],
    );
    Ok(())
}

#[tokio::test]
async fn a_rejection_is_shown_until_cleared_and_survives_a_restart() -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let mut sync = strict_server(dir.path()).await?;
    let store = device(dir.path(), "laptop.db")?;
    let client = SaiClient::new(store.clone(), alice("laptop"));

    let sent = client
        .create::<Todo>(TodoEvent::Create {
            title: "Plan the trip".into(),
        })
        .await?;
    let trip = sent.projection().entity_id;
    sync.sync(&store, "alice").await?;
    client.record_round(Ok::<(), String>(()));

    let mut screen = Screen::new(&client, Some(trip));
    screen
        .until_shows("Plan the trip v1 optimistic=false")
        .await;
    screen.until_shows("actor: pending=0").await;
    screen.until_shows("status: 0 pending, failing=false").await;

    // Offline: the device accepts an estimate the server will refuse.
    let actor = screen
        .probe
        .actor
        .borrow()
        .clone()
        .expect("ActorView rendered");
    actor
        .send(TodoEvent::Estimate { hours: Some(80.0) })
        .await?;
    screen.until_shows("actor: pending=1").await;
    screen.until_shows("optimistic=true estimate=80").await;
    client.record_round(Err("network unreachable"));
    screen.until_shows("status: 1 pending, failing=true").await;

    // Online again: the server refuses; the rejection is listed, the estimate rolled back.
    sync.sync(&store, "alice").await?;
    client.record_round(Ok::<(), String>(()));
    let html = screen
        .until_shows("refused ESTIMATE: ESTIMATE rejected in state Active: estimates above 40 hours need a split")
        .await;
    assert!(html.contains("Plan the trip"), "{html}");
    // Each hook refreshes on its own: the row, the status and the actor follow.
    screen
        .until_shows("Plan the trip v1 optimistic=false estimate=none")
        .await;
    screen.until_shows("status: 0 pending, failing=false").await;
    screen.until_shows("actor: pending=0").await;

    // Restart: a new store on the file, a new DOM; the rejection is still there.
    drop(screen);
    drop((client, store));
    let store = device(dir.path(), "laptop.db")?;
    let client = SaiClient::new(store.clone(), alice("laptop"));
    let mut screen = Screen::new(&client, Some(trip));
    screen
        .until_shows("refused ESTIMATE: ESTIMATE rejected in state Active: estimates above 40 hours need a split")
        .await;
    screen
        .until_shows("Plan the trip v1 optimistic=false")
        .await;

    // Dismissed: gone from the screen and from the store.
    let rejections = screen
        .probe
        .rejections
        .borrow()
        .clone()
        .expect("Rejections rendered");
    let id = rejections.list().peek()[0].intent_id;
    assert!(rejections.clear(id).await?);
    screen
        .until("the rejection to disappear", |html| {
            !html.contains("refused")
        })
        .await;
    assert!(store.rejections::<Todo>()?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_ui_keeps_rendering_while_another_writer_holds_the_store() -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let store = device(dir.path(), "laptop.db")?;
    create(&store, "laptop", "Buy milk")?;
    let client = SaiClient::new(store.clone(), alice("laptop"));
    let mut screen = Screen::new(&client, None);
    screen.until_shows("status: 1 pending, failing=false").await;

    // A long write on the store's connection (a sync layer's transaction, say).
    let (locked, is_locked) = std::sync::mpsc::channel();
    let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, released) = (store.clone(), released.clone());
        std::thread::spawn(move || {
            store.transaction(|_| {
                locked.send(()).expect("the test waits");
                std::thread::sleep(Duration::from_millis(500));
                released.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, rusqlite::Error>(())
            })
        })
    };
    is_locked.recv()?;

    // The status hook must re-read now; its read waits for the lock, off the UI thread.
    client.record_round(Err("timeout"));
    let mut clicks = screen.probe.clicks.borrow().expect("Clicks rendered");
    screen.dom.in_runtime(|| clicks += 1);
    screen.until_shows("clicks: 1").await;
    assert!(
        !released.load(std::sync::atomic::Ordering::SeqCst),
        "the UI rendered a local change only after the writer let go of the store"
    );

    screen.until_shows("status: 1 pending, failing=true").await;
    assert!(released.load(std::sync::atomic::Ordering::SeqCst));
    writer.join().expect("the writer finished")?;
    Ok(())
}
