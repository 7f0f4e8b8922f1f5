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
//! ```
//! use sai::client::{ClientIdentity, ClientStore, EventSourcedActor};
//! # use sai::{Domain, Event, machine};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
//! # #[domain(name = "note", machine = NoteMachine)]
//! # pub struct Note { pub text: String }
//! # #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
//! # #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
//! # pub enum NoteEvent { Write { text: String }, Archive }
//! # fn write(n: &mut Note, e: &NoteEvent, _: &sai::IntentMeta) { if let NoteEvent::Write { text } = e { n.text = text.clone(); } }
//! # #[machine(domain = Note, event = NoteEvent)]
//! # pub enum NoteMachine {
//! #     #[initial] #[on(Write => Written, assign = write)] Empty,
//! #     #[on(Write, assign = write)] #[on(Archive => Archived)] Written,
//! #     #[final_state] Archived,
//! # }
//! let store = ClientStore::builder().domain::<Note>().open_in_memory()?;
//! let note = EventSourcedActor::<Note>::create(&store, ClientIdentity::new("phone-1", "alice"))?;
//! let projection = note.send(NoteEvent::Write { text: "hello".into() }).unwrap();
//! assert_eq!(projection.context().text, "hello");
//! assert_eq!(note.pending_intents()?.len(), 1);
//! # Ok::<(), sai::client::ClientError>(())
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
