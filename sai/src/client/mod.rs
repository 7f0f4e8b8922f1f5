//! The client runtime: durable intents, optimistic projections, reconciliation and
//! rejections on SQLite.
//!
//! * [`ClientStore`] — the embedded store: a SQLite file (WAL, `synchronous=FULL` by default,
//!   see [`Durability`]) with the client tables of the registered domains, including the
//!   synced tables a sync layer fills (server projection, rejections, acknowledgements).
//! * [`EventSourcedActor`] — a handle on one entity (store, entity id, identity; no state of
//!   its own): [`send`](EventSourcedActor::send) an event and get what was logged and the
//!   optimistic projection back (or the machine's rejection, with nothing stored), subscribe
//!   to changes, hear about and clear rejections, reconcile.
//! * For a connection the store does not own (one leased from a PowerSync pool):
//!   [`IntentWriter`] and [`ReconciliationEngine`]. A [`ClientStore`] (also the one of
//!   `sai::powersync::PowerSyncClient`) needs neither.
//!
//! The SQL is plain enough to run where the local tables are views (PowerSync's local-only
//! tables): no UPSERT, no `RETURNING`, no `rowid`, no reliance on `changes()`. Server data
//! arrives through [`ClientStore::apply_server_data`] (or from another connection, picked
//! up by [`ClientStore::watch_external_changes`]); every entity with local state is then
//! reconciled ([`ClientStore::reconcile_all`]) and listeners are told. Decoded logs are kept
//! in memory between reconciliations and dropped whenever another connection commits.
//!
//! # When an intent leaves the log
//!
//! The server decides a client's intents in sequence order and, in the same transaction as
//! each decision, sets `{name}_client_acks.last_seq` for that client to the decided sequence
//! number and writes the decision: a rejection row, and the entity's projection row (on
//! acceptance, and on a rejection when the entity exists, with the same state and fields).
//! The projection row's `decided` column records which decisions it includes: a JSON object
//! mapping each client id with a decision on the entity to
//! `{"through": <its last decided seq on the entity>, "rejected": [<its rejected seqs>]}`.
//!
//! An intent `(client, seq)` of entity `e` is removed from `{name}_intent_events_local` only
//! when its decision is visible locally, never on a guess, whatever order the synced tables
//! arrive in:
//!
//! * the synced rejection row (`{name}_intent_events_rejected.id` = the intent id) is there:
//!   it leaves (and the rejection is surfaced, below); or
//! * the synced projection of `e` has `decided[client].through >= seq`:
//!   * `seq` is in `decided[client].rejected`: it was rejected and its rejection row has not
//!     arrived. It stays in the log, reported as [`PendingStatus::Rejected`], and is **not**
//!     replayed onto the projection (its effect is not the server's); its row clears it;
//!   * otherwise it was accepted and this projection includes its effect: it leaves.
//!
//! Everything else stays pending and is replayed. A projection that does not name the
//! client, or names it with a lower `through`, does not include the intent's decision, even
//! when the acknowledgement covers it (the projection is older than the acknowledgement);
//! such an acknowledged intent is reported as [`PendingStatus::Acknowledged`]. An intent
//! still in the device's upload queue (PowerSync's `ps_crud`) is never taken for decided:
//! the server has not stored it, so a decision under its number is another intent's.
//!
//! **Rows written before the `decided` column existed** (the column empty, `'{}'` or `NULL`:
//! a projection never carries an empty map once a decision wrote it) keep the earlier rule:
//! the intent leaves when the acknowledgement covers it (`last_seq >= seq`) and the
//! projection has moved past the version the intent was applied on (`base_version`, a lower
//! bound raised while walking one client's intents in sequence order — every earlier intent
//! known to be accepted adds one, one acknowledged but not visible is assumed accepted).
//! That rule is exact only when the sync layer applies a server transaction atomically; so
//! after upgrading a server, add the column and run `EventProcessor::rebuild_projections`
//! once: it recomputes the column of every row from the archived and rejected intents.
//!
//! The remaining intents are replayed with the client machine (optimistic phase) on top of
//! the server projection. One the machine rejects there stays pending — the server decides —
//! but is left out of the projection and reported as [`PendingStatus::PredictedToFail`].
//!
//! # Restored and cloned devices
//!
//! The server decides each client's intents in sequence order, exactly once per
//! (client, seq). A device whose file is restored from an older copy, or copied to a second
//! device (two devices, one client id), could issue a sequence number the server already
//! decided for another intent. Two rules make every intent sent afterwards decided exactly
//! once or rejected visibly, never dropped as a false duplicate:
//!
//! * a send takes the number after the highest in the log, the floor of numbers that left
//!   the log, **and the server's acknowledgement** (`{name}_client_acks.last_seq`): once the
//!   acknowledgement has been downloaded, no decided number is issued again;
//! * an upload carrying another intent under a decided (client, seq) is refused whole with
//!   [`IngestError::SequenceTaken`](crate::server::IngestError::SequenceTaken) (ingest never
//!   counts it as a duplicate); the client then moves that intent and its later ones, in
//!   order, past the taken number and the acknowledgement it holds
//!   ([`ClientStore::renumber_past_taken`]) and uploads again. They are not decided under
//!   their old numbers (the server said so for the first; it decides in order for the rest),
//!   nothing leaves the log, and their ids are kept, so a rejection still names them.
//!   [`Loopback`](crate::sync::Loopback) does this on its own, and so does
//!   `sai::powersync::upload_intents` (renumbering the queued upload entries too).
//! * until the server has stored an intent, an acknowledgement covering its number is
//!   another intent's: on PowerSync an intent still in the upload queue (`ps_crud`) is never
//!   taken for decided, so a reused number cannot clear it before the refusal renumbers it.
//!   Over [`Loopback`](crate::sync::Loopback), a round uploads before it downloads, so the
//!   refusal comes first (a bare `download` after a restore and before any upload is the
//!   one order this does not cover).
//!
//! # Rejections are surfaced exactly once
//!
//! Rejections arrive in the synced table `{name}_intent_events_rejected`, which is read-only
//! on a PowerSync client. The client's own bookkeeping lives in `{name}_rejections_local`
//! (one row per rejection id: `surfaced_at`, `cleared_at`). A rejection belongs to this device
//! when its `client_id` has issued intents here (has a `{name}_client_seq_local` row) **and**
//! its `user_id` is the user the server bound that client to: the client's acknowledgement
//! row (`{name}_client_acks.user_id`), which the server writes in the same transaction as
//! every decision. A row naming another user on this device's client id is never listed nor
//! surfaced; a rejection whose acknowledgement has not arrived yet waits for it.
//!
//! A rejection is handed to `on_rejection` listeners ([`ClientStore::on_rejection`],
//! [`EventSourcedActor::on_rejection`]) only when one is registered for its entity (or
//! domain); it is marked surfaced in the same transaction that selects it, that transaction
//! commits, and only then are the listeners called. A later reconcile, another actor or a
//! reopened store therefore never hands it out again; one that arrives while nobody listens
//! waits, unmarked, for the first listener. It stays listed
//! ([`EventSourcedActor::rejections`]) until cleared. Clearing surfaces first, in its own
//! transaction, every rejection someone listens for (one that arrived through another
//! connection and was not reconciled yet included), so clearing never skips a listener.
//!
//! The one exception: a rejection cleared while **no** listener for its entity or domain
//! was registered is never handed to a listener registered later — clearing says the user
//! has dealt with it (it was listed). Every other rejection reaches the listeners exactly
//! once.
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
//! #[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
//! let sent = task.send(TaskEvent::Create { title: "Write docs".into() })?;
//! assert_eq!(sent.seq(), 1);
//! assert_eq!((sent.projection().state(), sent.projection().optimistic), (TaskMachine::Open, true));
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
//! // transaction) into the synced tables; the intent leaves the log only now: the projection
//! // row says it includes laptop-1's intent 1.
//! let seq = task.pending_intents()?[0].intent.seq as i64;
//! store.apply_server_data(|tx| {
//!     tx.execute(
//!         "INSERT INTO task_projection \
//!          (id, state, version, owner_id, decided, updated_at, title, done) \
//!          VALUES (?1, 'Open', 1, 'alice', '{\"laptop-1\":{\"through\":1,\"rejected\":[]}}', \
//!          0, 'Write docs', 0)",
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
mod builder;
mod cache;
mod error;
mod identity;
mod listen;
mod members;
mod notify;
mod projection;
mod reconcile;
mod rejections;
pub(crate) mod renumber;
mod send;
mod server_data;
mod store;
mod summary;
mod tables;

pub use actor::EventSourcedActor;
pub use builder::{
    ClientStoreBuilder, Durability, StoreOptions, create_tables, prepare_connection,
};
pub use error::{ClientError, Result, SendError};
pub use identity::ClientIdentity;
pub use notify::{DomainChange, Subscription};
pub use projection::Projection;
pub use reconcile::{PendingIntent, PendingStatus, Reconciled, ReconciliationEngine};
pub use rejections::StoredRejection;
pub use send::{IntentWriter, Sent};
pub use server_data::ExternalWatcher;
pub use store::ClientStore;
pub use summary::{DomainSummary, ReconcileSummary};
