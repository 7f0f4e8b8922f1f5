//! The client runtime: durable intents, optimistic projections, reconciliation and
//! rejections on SQLite.
//!
//! * [`ClientStore`] — the embedded store: a SQLite file (WAL, `synchronous=FULL` by default,
//!   see [`Durability`]) with the client tables of the registered domains, including the
//!   synced tables a sync layer fills (server projection, rejections, acknowledgements).
//! * [`EventSourcedActor`] — one entity: [`send`](EventSourcedActor::send) an event and get
//!   the optimistic projection back (or the machine's rejection, with nothing stored),
//!   subscribe to changes, hear about and clear rejections, reconcile.
//! * Building blocks usable on any `rusqlite::Connection` (for example one leased from a
//!   PowerSync pool): [`IntentWriter`], [`ReconciliationEngine`], [`RejectionManager`].
//!
//! How and when pending intents leave the log is documented in [`reconcile`]; how
//! rejections are surfaced exactly once in [`rejections`].
//!
//! The SQL is plain enough to run where the local tables are views (PowerSync's local-only
//! tables): no UPSERT, no `RETURNING`, no `rowid`, no reliance on `changes()`. Server data
//! arrives through [`ClientStore::apply_server_data`] (or from another connection, picked
//! up by [`ClientStore::watch_external_changes`]); every entity with local state is then
//! reconciled and listeners are told. Decoded logs are kept in memory between
//! reconciliations and dropped whenever another connection commits.
//!
//! ```
//! use sai::client::{ClientIdentity, ClientStore, EventSourcedActor, PendingStatus};
//! use sai::{Domain, Event, IntentMeta, machine};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
//! #[domain(name = "task", machine = TaskMachine)]
//! pub struct Task {
//!     pub title: String,
//!     pub done: bool,
//! }
//!
//! #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
//! #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
//! pub enum TaskEvent {
//!     Create { title: String },
//!     Toggle,
//! }
//!
//! fn set_title(task: &mut Task, event: &TaskEvent, _: &IntentMeta) {
//!     if let TaskEvent::Create { title } = event {
//!         task.title = title.clone();
//!     }
//! }
//!
//! #[machine(domain = Task, event = TaskEvent)]
//! pub enum TaskMachine {
//!     #[initial]
//!     #[on(Create => Open, assign = set_title)]
//!     New,
//!     #[on(Toggle => Closed, assign = |t: &mut Task, _, _| t.done = true)]
//!     Open,
//!     #[on(Toggle => Open, assign = |t: &mut Task, _, _| t.done = false)]
//!     Closed,
//! }
//!
//! let path = std::env::temp_dir().join(format!("sai-readme-{}.db", sai::Uuid::now_v7()));
//! // One store per device, with the client tables of its domains (WAL, synchronous=FULL).
//! let store = ClientStore::builder().domain::<Task>().open(&path)?;
//! let me = ClientIdentity::new("laptop-1", "alice");
//!
//! let task = EventSourcedActor::<Task>::create(&store, me.clone())?;
//! let _changes = task.subscribe(|p| println!("now {:?}", p.map(|p| p.state())))?;
//! let _rejections = task.on_rejection(|r| println!("server said no: {}", r.message))?;
//!
//! // Stepped by the client machine, logged and projected in one transaction, then announced.
//! let projection = task.send(TaskEvent::Create { title: "Write docs".into() })?;
//! assert_eq!((projection.state(), projection.optimistic), (TaskMachine::Open, true));
//! // The client machine refuses at once what cannot apply; nothing is stored.
//! assert!(task.send(TaskEvent::Create { title: "again".into() }).unwrap_err().rejection().is_some());
//!
//! // What the UI lists: every entity's optimistic projection, and the pending intents.
//! assert_eq!(store.projections::<Task>()?.len(), 1);
//! let pending = store.pending_intents::<Task>()?;
//! assert_eq!((pending[0].intent.seq, &pending[0].status), (1, &PendingStatus::Pending));
//!
//! // Restart: the log and the projection are back.
//! let id = task.entity_id();
//! drop((task, _changes, _rejections, store));
//! let store = ClientStore::builder().domain::<Task>().open(&path)?;
//! let task = EventSourcedActor::<Task>::open(&store, me, id)?;
//! assert_eq!(task.state()?, TaskMachine::Open);
//!
//! // The sync layer writes the server's decision (projection + acknowledgement, one server
//! // transaction) into the synced tables; the intent leaves the log only now.
//! let seq = task.pending_intents()?[0].intent.seq as i64;
//! store.apply_server_data(|tx| {
//!     tx.execute(
//!         "INSERT INTO task_projection (id, state, version, owner_id, updated_at, title, done) \
//!          VALUES (?1, 'Open', 1, 'alice', 0, 'Write docs', 0)",
//!         [id.to_string()],
//!     )?;
//!     tx.execute(
//!         "INSERT INTO task_client_acks (id, user_id, last_seq, updated_at) \
//!          VALUES ('laptop-1', 'alice', ?1, 0)",
//!         [seq],
//!     )?;
//!     Ok(())
//! })?;
//! assert!(task.pending_intents()?.is_empty());
//! assert!(!task.projection()?.unwrap().optimistic);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod actor;
mod cache;
mod error;
mod identity;
mod notify;
pub mod reconcile;
pub mod rejections;
mod store;
mod tables;
mod writer;

pub use actor::EventSourcedActor;
pub use error::{ClientError, Result, SendError};
pub use identity::ClientIdentity;
pub use notify::{DomainChange, Subscription};
pub use reconcile::{
    DomainReconciliation, PendingIntent, PendingStatus, Reconciled, ReconciliationEngine,
};
pub use rejections::{RejectionManager, StoredRejection};
pub use store::{
    ClientStore, ClientStoreBuilder, DomainSummary, Durability, ExternalWatcher, ReconcileSummary,
    StoreOptions, create_tables, prepare_connection,
};
pub use tables::Projection;
pub use writer::{IntentWriter, Written};
