//! The todo app's components and its liveview server, shared by `examples/dioxus_todo.rs` and the
//! browser test. The components use only `sai-dioxus` hooks and plain elements, so the same
//! `App` runs under any Dioxus renderer (liveview here, desktop with `dioxus::launch`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dioxus::prelude::*;
use dioxus_liveview::LiveviewRouter;
use sai::client::{ClientIdentity, ClientStore, PendingStatus, StoredRejection};
use sai::server::{EventProcessor, SqliteStore};
use sai::sync::Loopback;
use sai::{Rejection, Uuid};
use sai_dioxus::{
    RejectionScope, SaiClient, SaiProvider, use_actor, use_projection, use_projections,
    use_rejections, use_sync_status,
};

#[path = "../../../examples/todo_domain.rs"]
mod todo_domain;
pub use todo_domain::{StrictTodoMachine, Todo, TodoEvent, TodoMachine};

/// Whether the app's sync loop may talk to the server: the "go offline" switch.
#[derive(Clone, Default)]
pub struct Connectivity(Arc<AtomicBool>);

impl Connectivity {
    /// Online or not.
    pub fn online(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Goes online or offline.
    pub fn set(&self, online: bool) {
        self.0.store(online, Ordering::SeqCst);
    }
}

impl PartialEq for Connectivity {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The page's stylesheet: liveview serves a bare page, so the app brings its own.
const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; }
main { max-width: 560px; margin: 24px auto; background: #fff; border-radius: 10px;
       box-shadow: 0 1px 4px rgba(0,0,0,.12); padding: 20px 24px; }
h1 { font-size: 22px; margin: 0 0 12px; }
.status { display: flex; gap: 12px; align-items: center; font-size: 14px; color: #444;
          margin-bottom: 14px; }
.status .dot { font-weight: 600; }
.status .online { color: #137333; } .status .offline { color: #b3261e; }
.status .failing { color: #b3261e; }
button { border: 1px solid #bbb; background: #fafafa; border-radius: 6px; padding: 4px 10px;
         cursor: pointer; }
form, .add { display: flex; gap: 8px; margin-bottom: 14px; }
input { border: 1px solid #bbb; border-radius: 6px; padding: 4px 8px; }
.add input { flex: 1; }
ul { list-style: none; padding: 0; margin: 0; }
li { display: flex; gap: 8px; align-items: center; padding: 8px 0; border-top: 1px solid #eee; }
li .title { flex: 1; } li.done .title { text-decoration: line-through; color: #888; }
li .estimate-input { width: 56px; }
.badge { font-size: 12px; border-radius: 10px; padding: 1px 8px; }
.badge.pending { background: #fff4ce; color: #7a5a00; }
.badge.synced { background: #e6f4ea; color: #137333; }
.badge.doomed { background: #fce8e6; color: #b3261e; }
.rejection { background: #fce8e6; color: #5f1410; border-radius: 8px; padding: 8px 12px;
             margin-bottom: 12px; display: flex; gap: 8px; align-items: center; }
.rejection span { flex: 1; }
"#;

/// The whole app: the provider, the status bar, the rejections, the form and the list.
#[component]
pub fn App(client: SaiClient, connectivity: Connectivity) -> Element {
    use_context_provider(|| connectivity.clone());
    rsx! {
        style { {STYLE} }
        SaiProvider { client,
            main {
                h1 { "sai · todos" }
                StatusBar {}
                Rejections {}
                AddTodo {}
                TodoList {}
            }
        }
    }
}

/// Online or offline (with the switch), the pending count and how the last round went.
#[component]
fn StatusBar() -> Element {
    let status = use_sync_status::<Todo>();
    let connectivity = use_context::<Connectivity>();
    // The switch lives outside Dioxus (the sync loop reads it); mirror it for rendering.
    let mut online = use_signal(|| connectivity.online());
    let status = status.read();
    let last = match &status.last_round {
        None => "no sync yet".to_owned(),
        Some(r) if r.error.is_some() => "last sync failed".to_owned(),
        Some(_) => "last sync ok".to_owned(),
    };
    rsx! {
        div { class: "status",
            span { class: if online() { "dot online" } else { "dot offline" },
                id: "connectivity",
                if online() { "● online" } else { "● offline" }
            }
            button { id: "toggle-online",
                onclick: move |_| {
                    let next = !online();
                    connectivity.set(next);
                    online.set(next);
                },
                if online() { "Go offline" } else { "Go online" }
            }
            span { id: "pending-count", "{status.pending} pending" }
            span { class: if status.failing() { "failing" } else { "" }, "{last}" }
        }
    }
}

/// A new todo's title and the button that creates it.
#[component]
fn AddTodo() -> Element {
    let client = sai_dioxus::use_sai_client();
    let mut title = use_signal(String::new);
    let mut refused = use_signal(|| None::<String>);
    let add = move |_| {
        let client = client.clone();
        // Taken and emptied at the click, so keys typed while the send runs are kept; put
        // back if the send fails.
        let text = title.replace(String::new());
        set_input("#new-title", "");
        async move {
            match client
                .create::<Todo>(TodoEvent::Create {
                    title: text.clone(),
                })
                .await
            {
                Ok(_) => refused.set(None),
                Err(e) => {
                    refused.set(Some(e.to_string()));
                    title.set(text.clone());
                    set_input("#new-title", &text);
                }
            }
        }
    };
    rsx! {
        div { class: "add",
            // Uncontrolled (no `value` bound): over liveview a re-render carrying an older
            // value would overwrite keys typed while it was on its way.
            input { id: "new-title", placeholder: "What needs doing?",
                oninput: move |e| title.set(e.value()) }
            button { id: "add", onclick: add, "Add" }
        }
        if let Some(why) = refused() { p { class: "refused", "{why}" } }
    }
}

/// Every todo, oldest first.
#[component]
fn TodoList() -> Element {
    let todos = use_projections::<Todo>();
    rsx! {
        ul { id: "todos",
            for p in todos.read().iter().filter(|p| p.state() != TodoMachine::Deleted) {
                TodoRow { key: "{p.entity_id}", id: p.entity_id }
            }
        }
    }
}

/// One todo: title, estimate, whether it waits for the server, and its controls.
#[component]
fn TodoRow(id: Uuid) -> Element {
    let actor = use_actor::<Todo>(id);
    let mut estimate = use_signal(String::new);
    let projection = actor.projection();
    let Some(todo) = projection.read().clone() else {
        return rsx! {};
    };
    let pending = actor.pending();
    let pending = pending.read();
    let doomed = pending
        .iter()
        .any(|p| matches!(p.status, PendingStatus::PredictedToFail(_)));
    // The pending list is read off the UI thread after the first frame; until it arrives,
    // the projection's own flag says whether anything waits for the server.
    let (badge_class, badge) = match (doomed, pending.len(), todo.optimistic) {
        (true, _, _) => ("badge doomed", "will be refused".to_owned()),
        (false, 0, false) => ("badge synced", "synced".to_owned()),
        (false, 0, true) => ("badge pending", "pending".to_owned()),
        (false, n, _) => ("badge pending", format!("pending ({n})")),
    };
    let t = todo.context();
    let hours = t.estimate.map_or(String::new(), |h| format!("{h} h"));
    let done = todo.state() == TodoMachine::Done;
    let (toggle, set_estimate) = (actor.clone(), actor.clone());
    rsx! {
        li { class: if done { "todo done" } else { "todo" }, "data-id": "{id}",
            input { r#type: "checkbox", class: "toggle", checked: done,
                onclick: move |_| {
                    let actor = toggle.clone();
                    async move { let _ = actor.send(TodoEvent::Toggle).await; }
                }
            }
            span { class: "title", "{t.title}" }
            span { class: "estimate", "{hours}" }
            input { class: "estimate-input", placeholder: "hours",
                oninput: move |e| estimate.set(e.value()) }
            button { class: "set-estimate",
                onclick: move |_| {
                    let actor = set_estimate.clone();
                    let typed = estimate.replace(String::new());
                    let input = format!("li[data-id='{id}'] .estimate-input");
                    set_input(&input, "");
                    let hours = typed.trim().parse::<f64>().ok();
                    async move {
                        if actor.send(TodoEvent::Estimate { hours }).await.is_err() {
                            estimate.set(typed.clone());
                            set_input(&input, &typed);
                        }
                    }
                },
                "Set estimate"
            }
            span { class: badge_class, "{badge}" }
        }
    }
}

/// Sets an uncontrolled input's text in the page (emptied once its value is taken).
fn set_input(selector: &str, value: &str) {
    let script = format!(
        "document.querySelector({}).value = {}",
        serde_json::Value::from(selector),
        serde_json::Value::from(value)
    );
    // Fire and forget: a page that is gone has nothing to set.
    let _ = document::eval(&script);
}

/// The server's refusals, each dismissible.
#[component]
fn Rejections() -> Element {
    let rejections = use_rejections::<Todo>(RejectionScope::All);
    let list = rejections.list();
    rsx! {
        for r in list.read().iter() {
            RejectionMessage { key: "{r.intent_id}", rejection: r.clone(),
                dismiss: {
                    let rejections = rejections.clone();
                    move |id| {
                        let rejections = rejections.clone();
                        async move { let _ = rejections.clear(id).await; }
                    }
                }
            }
        }
    }
}

/// One refusal, naming what was refused and on which todo.
#[component]
fn RejectionMessage(rejection: StoredRejection, dismiss: EventHandler<Uuid>) -> Element {
    let todo = use_projection::<Todo>(rejection.entity_id);
    let title = todo
        .read()
        .as_ref()
        .map_or("a todo".to_owned(), |p| format!("“{}”", p.context().title));
    let what = describe(&rejection);
    let why = reason(&rejection);
    let id = rejection.intent_id;
    rsx! {
        div { class: "rejection", role: "alert",
            span { "The server refused {what} on {title}: {why}." }
            button { class: "dismiss", onclick: move |_| dismiss.call(id), "Dismiss" }
        }
    }
}

/// Why, in the domain's words: the failed guards' reasons, else the server's message.
fn reason(rejection: &StoredRejection) -> String {
    match rejection.rejection() {
        Ok(Rejection::GuardFailed { guards, .. }) if !guards.is_empty() => guards
            .iter()
            .map(|g| g.reason.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        _ => rejection.message.clone(),
    }
}

/// What the user tried, in words.
fn describe(rejection: &StoredRejection) -> String {
    match rejection.event::<TodoEvent>() {
        Ok(TodoEvent::Estimate { hours: Some(h) }) => format!("an estimate of {h} hours"),
        Ok(TodoEvent::Estimate { hours: None }) => "clearing the estimate".to_owned(),
        Ok(TodoEvent::Create { title }) => format!("creating “{title}”"),
        Ok(TodoEvent::Rename { title }) => format!("renaming to “{title}”"),
        Ok(TodoEvent::Toggle) => "ticking it off".to_owned(),
        Ok(TodoEvent::Label { label }) => format!("the label “{label}”"),
        Ok(TodoEvent::Delete) => "deleting it".to_owned(),
        Err(_) => format!("“{}”", rejection.event_type),
    }
}

/// A running app: its address and the device's client.
pub struct Running {
    /// Where the browser connects.
    pub addr: SocketAddr,
    /// The device.
    pub client: SaiClient,
    /// The offline switch.
    pub connectivity: Connectivity,
}

/// Opens the device (`device.db`) and the server (`server.db`, deciding with the stricter
/// machine) in `dir`, starts the sync loop (every `every`, while online) and serves the app
/// on `addr`. Runs until the tokio runtime stops.
pub async fn serve(
    dir: &Path,
    addr: SocketAddr,
    every: Duration,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    let store = ClientStore::builder()
        .domain::<Todo>()
        .open(dir.join("device.db"))?;
    let client = SaiClient::new(store, ClientIdentity::new("browser", "alice"));
    let server = SqliteStore::<Todo>::open(dir.join("server.db"))?;
    let mut sync =
        Loopback::new(EventProcessor::new(server).with_machine::<StrictTodoMachine>()).await?;
    let connectivity = Connectivity::default();
    connectivity.set(true);

    let (looping, switch) = (client.clone(), connectivity.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if switch.online() {
                let round = sync.sync(looping.store(), "alice").await;
                looping.record_round(round.map(|_| ()));
            }
        }
    });

    let (app_client, app_switch) = (client.clone(), connectivity.clone());
    // Liveview serves the page under any path below its route ("/" itself is not one) and
    // its socket at /ws: the bare address redirects to /todos.
    let router = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/todos") }),
        )
        .with_virtual_dom("/", move || {
            VirtualDom::new_with_props(
                App,
                AppProps {
                    client: app_client.clone(),
                    connectivity: app_switch.clone(),
                },
            )
        });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router.into_make_service()).await {
            eprintln!("the app server stopped: {e}");
        }
    });
    Ok(Running {
        addr,
        client,
        connectivity,
    })
}
