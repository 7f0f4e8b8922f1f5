//! Dioxus hooks for [`sai`]: components that show event-sourced, offline-first entities
//! and re-render when the data they show changes — after a local send, a reconciliation, or
//! a download committed by another connection.
//!
//! * [`SaiProvider`] puts a [`SaiClient`] (a `ClientStore` and the device identity) in
//!   context.
//! * [`use_projection`], [`use_projections`]: one entity, or every entity of a domain in a
//!   stable order.
//! * [`use_actor`]: an entity's projection, its pending intents with their status,
//!   whether an event is accepted now, and `send`.
//! * [`use_rejections`]: the server's rejections of one entity or of all, with `clear`.
//! * [`use_sync_status`]: pending count, last round, failing or not.
//!
//! Each hook holds a signal; listeners on the store wake a task owned by the component,
//! which re-reads on tokio's blocking pool and writes the signal only if the value changed,
//! so only the components whose data changed re-render. Dropping a component drops its
//! subscriptions. The UI thread reads the store at most once per hook, on first render (one
//! statement); later reads, sends and clears run off it.
//!
//! ```
//! use dioxus::prelude::*;
//! use sai::Uuid;
//! use sai_dioxus::{RejectionScope, SaiClient, SaiProvider, use_actor, use_projections, use_rejections};
//! # #[path = "../../examples/todo_domain.rs"]
//! # mod todo_domain;
//! use todo_domain::{Todo, TodoEvent};
//!
//! #[component]
//! fn Todos(client: SaiClient) -> Element {
//!     rsx! { SaiProvider { client, Refusals {} List {} } }
//! }
//!
//! #[component]
//! fn List() -> Element {
//!     let todos = use_projections::<Todo>(); // every todo, oldest first
//!     rsx! { for p in todos.read().iter() { Row { key: "{p.entity_id}", id: p.entity_id } } }
//! }
//!
//! #[component]
//! fn Row(id: Uuid) -> Element {
//!     let todo = use_actor::<Todo>(id); // re-renders when this todo changes, not another
//!     let Some(p) = todo.projection().read().clone() else { return rsx! {} };
//!     // `optimistic`: intents wait for the server; `todo.pending()` lists them with status.
//!     rsx! {
//!         li { "{p.context().title}" if p.optimistic { " (pending)" }
//!             button {
//!                 disabled: !todo.accepts(&TodoEvent::Toggle),
//!                 onclick: move |_| { let todo = todo.clone(); async move { let _ = todo.send(TodoEvent::Toggle).await; } },
//!                 "Done"
//!             }
//!         }
//!     }
//! }
//!
//! #[component]
//! fn Refusals() -> Element {
//!     let rejections = use_rejections::<Todo>(RejectionScope::All);
//!     rsx! {
//!         for r in rejections.list().read().iter() {
//!             p { key: "{r.intent_id}", "Refused: {r.event_type}: {r.message}" }
//!         }
//!     }
//! }
//!
//! # let dir = tempfile::tempdir().unwrap();
//! use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
//! let store = ClientStore::builder().domain::<Todo>().open(dir.path().join("device.db"))?;
//! let me = ClientIdentity::new("laptop", "alice");
//! EventSourcedActor::<Todo>::create(&store, me.clone())?
//!     .send(TodoEvent::Create { title: "Write docs".into() })?;
//!
//! let mut dom = VirtualDom::new_with_props(Todos, TodosProps { client: SaiClient::new(store, me) });
//! dom.rebuild_in_place();
//! let html = dioxus_ssr::render(&dom);
//! assert!(html.contains("Write docs") && html.contains("(pending)"), "{html}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod actor;
mod client;
mod live;
mod notices;
mod projection;
mod provider;
mod rejections;
mod status;

// The examples' todo domain, for the unit tests.
#[cfg(test)]
#[path = "../../examples/todo_domain.rs"]
mod todo_domain;

pub use actor::{PendingIntents, UseActor, use_actor};
pub use client::{RoundOutcome, SaiClient};
pub use projection::{use_projection, use_projections};
pub use provider::{SaiProvider, use_sai_client};
pub use rejections::{RejectionScope, UseRejections, use_rejections};
pub use status::{SyncStatus, use_sync_status};
