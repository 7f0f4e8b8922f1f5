//! # sai — event-sourced, offline-first domain entities
//!
//! Declare a domain once — a `#[derive(Domain)]` struct for the entity's fields, a
//! `#[derive(Event)]` enum for what can happen to it and a `#[machine]` enum for its states —
//! and sai derives the rest at compile time: table schemas for SQLite and PostgreSQL, typed
//! intents and projections, and a static transition table that client and server both execute.
//!
//! ```
//! use sai::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
//! #[domain(name = "todo", machine = TodoMachine)]
//! pub struct Todo {
//!     pub title: String,
//!     pub completed: bool,
//! }
//!
//! #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
//! #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
//! pub enum TodoEvent {
//!     Create { title: String },
//!     Toggle,
//! }
//!
//! fn set_title(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
//!     if let TodoEvent::Create { title } = event {
//!         todo.title = title.clone();
//!     }
//! }
//!
//! #[machine(domain = Todo, event = TodoEvent)]
//! #[derive(Clone, Copy, Debug, PartialEq, Eq)]
//! pub enum TodoMachine {
//!     #[initial]
//!     #[on(Create => Active, assign = set_title)]
//!     Idle,
//!     #[on(Toggle => Done, assign = |t: &mut Todo, _, _| t.completed = true)]
//!     Active,
//!     #[on(Toggle => Active, assign = |t: &mut Todo, _, _| t.completed = false)]
//!     Done,
//! }
//!
//! let intent = Intent::new(
//!     Uuid::now_v7(), "client-1", "user-1", 1,
//!     TodoEvent::Create { title: "Buy milk".into() }, 0,
//! );
//! let next = Snapshot::<TodoMachine>::initial()
//!     .step_intent(&intent, Phase::Optimistic)
//!     .unwrap();
//! assert_eq!(next.state, TodoMachine::Active);
//! assert_eq!(next.context.title, "Buy milk");
//! ```
//!
//! [`prelude`] brings the macros, the traits and the types above into scope in one line. The
//! attributes of each macro, with what is a compile error, are documented on the macro:
//! [`Domain`](derive@Domain), [`Event`](derive@Event) and [`machine`](macro@machine).
//!
//! ## Using it
//!
//! ```toml
//! [dependencies]
//! sai = { version = "0.1", features = ["server"] } # or "postgres"; none for a client alone
//! serde = { version = "1", features = ["derive"] }
//! # The server runtime and the sync loop are async:
//! tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
//! ```
//!
//! ## Features
//!
//! | feature | adds | builds |
//! |---|---|---|
//! | (none) | the core ([`Domain`], [`Event`], [`Machine`], [`Snapshot`], [`Intent`], [`Rejection`], [`schema`] and its DDL), the client runtime ([`client`]), the sync rows ([`sync`]), and the PowerSync sync rules and upload batch ([`powersync`]) | rusqlite with a bundled SQLite |
//! | `server` | the server runtime (`sai::server`: `ingest`, `EventProcessor`, `SqliteStore`) and the embedded transport `sai::sync::Loopback` | + tokio |
//! | `postgres` | `server`, plus `sai::server::PostgresStore`, `sai::sync::postgres_rows_for_user` and tokio-postgres encodings of [`SqlValue`] | + tokio-postgres |
//! | `powersync` | the PowerSync client: `sai::powersync::PowerSyncClient`, `client_schema` and `upload_intents` | + the `powersync` crate (needs libclang) |
//!
//! Items that need a feature say so in their documentation.
//!
//! ## Reading these docs
//!
//! `cargo doc -p sai` documents the default build only, so it shows neither the server nor
//! `Loopback`. For everything: `cargo doc -p sai --all-features --open` (the `powersync`
//! feature needs libclang; `--features postgres` shows all but the PowerSync client).
//!
//! ## Where things are
//!
//! The core lives at the crate root, from the inside out: column values ([`SqlValue`],
//! [`ColumnValue`]), the entity ([`Domain`]), what happens to it ([`Event`]), its states
//! ([`Machine`] and its static [`Transition`] table), the one step function client and server
//! share ([`Snapshot::step`], [`replay`]), why a step is refused ([`Rejection`]) and the intent
//! envelope ([`Intent`], [`RawIntent`]). Who belongs to a shared entity, and what each member
//! may do, is [`membership`]. The generated tables and their DDL are in [`schema`].
//! Then the runtimes: [`client`] (a device's SQLite store and actors), `server` (ingestion and
//! the `EventProcessor` on SQLite or PostgreSQL), [`sync`] (sync rows and the loopback
//! transport) and [`powersync`] (sync rules; the PowerSync client).

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The core's modules are private: each of their items has one path, at the crate root.
mod decided;
mod domain;
mod event;
mod intent;
mod machine;
mod rejection;
mod snapshot;
mod state_derives;
mod stub;
mod value;

pub mod client;
pub mod membership;
pub mod powersync;
pub mod schema;
// Feature `server` (see the crate docs' table). No outer doc here: rustdoc would resolve the
// module's own doc links from the crate root.
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
pub mod sync;

pub use domain::{ColumnDef, Domain, EventOf, FieldDefault, IntentOf, RowError, SnapshotOf};
pub use event::Event;
pub use intent::{DecodeError, Intent, IntentMeta, Phase, RawIntent, Timestamp};
pub use machine::{Assign, AssignFn, Guard, GuardFn, Machine, Transition, UnknownState};
pub use rejection::{FailedGuard, Rejection};
pub use snapshot::{MAX_ALWAYS_STEPS, Replay, Snapshot, replay, replay_with_roles};
pub use value::{ColumnType, ColumnValue, SqlValue, ValueError};

/// Makes a struct with named fields a domain: an entity whose fields are the typed columns of
/// its projection, changed only by its machine.
///
/// ```
/// use sai::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
/// #[domain(name = "todo", machine = TodoMachine)]
/// pub struct Todo {
///     pub title: String,
///     pub estimate: Option<f64>,
///     #[domain(json)]
///     pub labels: Vec<String>,
///     #[domain(column = "priority_level")]
///     pub priority: i32,
/// }
/// # #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
/// # #[serde(tag = "type")]
/// # pub enum TodoEvent { Create }
/// # #[machine(domain = Todo, event = TodoEvent)]
/// # #[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// # pub enum TodoMachine { #[initial] Idle }
///
/// assert_eq!(Todo::NAME, "todo");
/// let columns: Vec<_> = Todo::COLUMNS.iter().map(|c| (c.name, c.ty, c.nullable)).collect();
/// assert_eq!(columns, [
///     ("title", sai::ColumnType::Text, false),
///     ("estimate", sai::ColumnType::Real, true),
///     ("labels", sai::ColumnType::Text, false),
///     ("priority_level", sai::ColumnType::Integer, false),
/// ]);
/// // A row is the fields as cells, in column order; it decodes back.
/// let todo = Todo { title: "Buy milk".into(), labels: vec!["errand".into()], ..Todo::default() };
/// assert_eq!(Todo::from_row(todo.to_row()?)?, todo);
/// // The generated aliases: `TodoIntent = Intent<TodoEvent>`, `TodoProjection = Snapshot<TodoMachine>`.
/// let _: TodoProjection = Snapshot::initial();
/// # Ok::<(), sai::RowError>(())
/// ```
///
/// The struct must also derive (or implement) `Clone`, `Default`, `Serialize` and
/// `Deserialize`: a new entity starts from `Default`, and snapshots travel as JSON.
///
/// # Attributes
///
/// | attribute | where | meaning |
/// |---|---|---|
/// | `#[domain(machine = M)]` | struct, required | the domain's own (client) machine, a [`machine`](macro@machine) enum over this domain |
/// | `#[domain(name = "todo")]` | struct | the domain name, which prefixes its tables (`todo_projection`, …); default: the struct name in snake case. Lower-case ASCII letters, digits and `_`, not starting with a digit, at most 39 bytes (so that the longest table name fits PostgreSQL's 63) |
/// | `#[domain(column = "due_at")]` | field | the column name; default: the field name. Same rules as `name`, at most 63 bytes, and not a reserved column (`id`, `state`, `version`, `owner_id`, `decided`, `members`, `updated_at`: sai keeps those in projections) |
/// | `#[domain(json)]` | field | store the field, of any serde type, as JSON text |
/// | `#[domain(was = "title")]` | field | the column's previous name: a migration renames that column, with its data, to this field's column |
/// | `#[domain(default)]`, `#[domain(default = 24)]` | field, not an `Option` | the value existing rows take when a migration adds the column: the type's `Default`, or the expression (of the field's type), encoded by the field's column codec |
/// | `#[domain(shared)]` | struct | each entity is shared with members who read and change it, as the server decides ([`Domain::SHARED`], [`membership`]); its projection gets a `members` column |
/// | `#[domain(dropped = ["legacy"])]` | struct | columns of removed fields that a migration drops with their data ([`Domain::DROPPED`]); other removed columns are kept |
///
/// A field's type maps to its column through [`ColumnValue`]: `String` → `TEXT`; `bool`,
/// `i8`–`i64`, `u8`–`u32` → `INTEGER`; `f32`, `f64` → `REAL`; `Option<T>` → the same column,
/// nullable. Implement [`ColumnValue`] for your own newtypes, or use `#[domain(json)]`.
///
/// # What it generates
///
/// - `impl sai::Domain`: [`Domain::NAME`], [`Domain::COLUMNS`], [`Domain::Machine`],
///   [`Domain::to_row`] and [`Domain::from_row`] (a bad cell is a [`RowError`]), and
///   [`Domain::SHARED`] with `#[domain(shared)]`.
/// - Two type aliases with the struct's visibility: `{Struct}Intent` (an [`Intent`] of the
///   machine's event) and `{Struct}Projection` (a [`Snapshot`] under the domain's machine).
///
/// # Compile errors
///
/// Each on the offending token, with a hint, all reported in one pass: a generic struct; a
/// tuple or unit struct, or an enum; a struct without fields; a missing `machine`, or one that
/// is not a machine over this domain; a `name` or `column` that is not a safe SQL identifier
/// (with a suggestion); a reserved column; two fields with one column; a field type that is
/// not a [`ColumnValue`]; a `was` naming the field's own column or another field's; a
/// `default` on an `Option`; a `dropped` column that a field still uses. `tests/ui/domain_*.rs`
/// shows each with its message.
pub use sai_derive::Domain;

/// Makes a serde enum a domain's events, with the wire type names (`"CREATE"`) and payload
/// versions the log stores and checks.
///
/// The enum is internally tagged on `type`, as XState events look on the wire:
/// `{"type":"CREATE","title":"Buy milk"}`. The derive reads serde's own `rename_all` and
/// `rename`, so [`Event::TYPES`] are exactly the tags serde writes.
///
/// ```
/// use sai::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
/// #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
/// pub enum TodoEvent {
///     Create { title: String },
///     Toggle,
///     #[serde(rename = "SET_ESTIMATE")]
///     #[event(version = 2)]
///     Estimate { hours: Option<f64>, confidence: u8 },
/// }
///
/// assert_eq!(TodoEvent::TYPES, ["CREATE", "TOGGLE", "SET_ESTIMATE"]);
/// let estimate = TodoEvent::Estimate { hours: Some(2.0), confidence: 80 };
/// assert_eq!((estimate.event_type(), estimate.event_version()), ("SET_ESTIMATE", 2));
/// assert_eq!(
///     serde_json::to_string(&TodoEvent::Toggle).unwrap(),
///     r#"{"type":"TOGGLE"}"#,
/// );
/// ```
///
/// The enum must also derive (or implement) `Debug`, `Clone`, `Serialize` and `Deserialize`.
///
/// # Attributes
///
/// | attribute | where | meaning |
/// |---|---|---|
/// | `#[serde(tag = "type")]` | enum, required | the internal tag sai reads the event type from |
/// | `#[serde(rename_all = "…")]` | enum | serde's rule for the type names: `lowercase`, `UPPERCASE`, `PascalCase`, `camelCase`, `snake_case`, `SCREAMING_SNAKE_CASE`, `kebab-case`, `SCREAMING-KEBAB-CASE`; default: the variant name |
/// | `#[serde(rename = "…")]` | variant | this variant's type name |
/// | `#[event(version = 2)]` | variant | the payload's version, from 1 (the default). Raise it when the payload changes shape: a stored intent of another version is rejected with `unsupported_event_version`, never misread |
/// | `#[event(version = 3, upcast = f)]` | variant | `f: fn(u32, serde_json::Value) -> Result<serde_json::Value, String>` turns a payload of version `from` into version `from + 1`; an older stored intent is upcast step by step (1→2→3) before it is read, on the device (replaying its log) and on the server (deciding). An `Err` is a `malformed_payload` rejection; a newer version than this build's is still `unsupported_event_version`. Refused on a version-1 variant and checked against the signature at compile time |
///
/// Variants are unit or have named fields.
///
/// # What it generates
///
/// `impl sai::Event`: [`Event::TYPES`], [`Event::VARIANTS`], [`Event::VERSIONS`] and
/// [`Event::type_index`], from which [`Event::event_type`] and [`Event::event_version`] follow.
///
/// # Compile errors
///
/// Not an enum; a generic enum; no `tag`, or a tag other than `type`; adjacent tagging
/// (`content = …`) or `untagged`; an unknown `rename_all` rule; separate serialize/deserialize
/// renames (`rename(serialize = …)`); an enum without variants; a tuple variant; `version = 0`;
/// `#[event(…)]` on the enum rather than on a variant; two variants with one type name. After
/// an error the enum still implements [`Event`](trait@Event), so a machine over it reports
/// nothing more.
/// `tests/ui/event_*.rs` shows them.
pub use sai_derive::Event;

/// Makes an enum of states a [`Machine`] over a domain and its events: a static transition
/// table that the client (optimistically) and the server (authoritatively) both step.
///
/// ```
/// use sai::prelude::*;
/// use serde::{Deserialize, Serialize};
/// # #[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
/// # #[domain(name = "todo", machine = TodoMachine)]
/// # pub struct Todo { pub title: String, pub completed: bool }
/// # #[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
/// # #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
/// # pub enum TodoEvent { Create { title: String }, Rename { title: String }, Toggle, Delete }
///
/// fn title_not_empty(_: &Todo, event: &TodoEvent, _: &IntentMeta) -> bool {
///     match event {
///         TodoEvent::Create { title } | TodoEvent::Rename { title } => !title.trim().is_empty(),
///         _ => true,
///     }
/// }
///
/// fn set_title(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
///     if let TodoEvent::Create { title } | TodoEvent::Rename { title } = event {
///         todo.title = title.clone();
///     }
/// }
///
/// #[machine(domain = Todo, event = TodoEvent)]
/// #[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// pub enum TodoMachine {
///     #[initial]
///     #[on(Create => Active, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
///     Idle,
///     #[on(Toggle => Done, assign = |t: &mut Todo, _, _| t.completed = true)]
///     #[on(Rename, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
///     #[on(Delete => Deleted)]
///     Active,
///     #[on(Toggle => Active, assign = |t: &mut Todo, _, _| t.completed = false)]
///     #[on(Delete => Deleted)]
///     Done,
///     #[final_state]
///     Deleted,
/// }
///
/// let entity = Uuid::now_v7();
/// let intent = |seq, event| Intent::new(entity, "client-1", "alice", seq, event, 0);
/// let create = intent(1, TodoEvent::Create { title: "Buy milk".into() });
/// let todo = Snapshot::<TodoMachine>::initial().step_intent(&create, Phase::Optimistic)?;
/// assert_eq!((todo.state, todo.version), (TodoMachine::Active, 1));
/// // A targetless transition keeps the state and runs its assigns.
/// let rename = intent(2, TodoEvent::Rename { title: "Buy oat milk".into() });
/// let todo = todo.step_intent(&rename, Phase::Optimistic)?;
/// assert_eq!((todo.state, todo.context.title.as_str()), (TodoMachine::Active, "Buy oat milk"));
/// // A failing guard is a rejection that names it and gives its reason.
/// let blank = intent(3, TodoEvent::Rename { title: " ".into() });
/// let no = todo.step_intent(&blank, Phase::Optimistic).unwrap_err();
/// assert_eq!((no.code(), no.to_string().ends_with("title must not be empty")), ("guard_failed", true));
/// assert_eq!(TodoMachine::Active.accepted_events(), ["TOGGLE", "RENAME", "DELETE"]);
/// assert!(TodoMachine::Deleted.is_final());
/// # Ok::<(), Rejection>(())
/// ```
///
/// # Attributes
///
/// `#[machine(domain = D, event = E)]` on the enum, both keys required: `D` a
/// [`Domain`](derive@Domain) struct, `E` its [`Event`](derive@Event) enum. The enum derives
/// `Clone, Copy, Debug, PartialEq, Eq` itself, written above or below `#[machine]` (and may add
/// more, such as `Hash`): the macro derives nothing, because a derive written above an
/// attribute macro is expanded apart from it and would clash with one the macro added. A
/// missing one is a single error on the enum's name that names the line to add. The variants
/// are the states (unit variants; the entity's data lives in the domain's fields), and take:
///
/// | attribute | meaning |
/// |---|---|
/// | `#[initial]` | the state a new entity starts in; exactly one state has it |
/// | `#[final_state]` | a final state: it accepts no more events (XState's `type: 'final'`) and has no `#[on]` |
/// | `#[on(Event => Target, …)]` | a transition on the event variant `Event` to the state `Target`; several per state |
/// | `#[on(Event, …)]` | a targetless transition: the state stays, the assigns run, the version rises |
/// | `#[always(Target, guard = g, assign = a)]` | an eventless transition (XState's `always`), tried after every step that reaches this state, in written order, until none applies; without `Target` it is targetless. Keys as in `#[on]` but no `reason` |
/// | `#[entry(a, b)]` / `#[exit(a, b)]` | actions (`fn(&mut D, &E, &IntentMeta)`, with the triggering event) run when a transition enters / leaves the state. Not on the initial state's entry (there is no event before the first one; use the domain's `Default`) |
/// | `#[parent(P)]` | the state is a child of the compound state `P`; exactly one of `P`'s children is `#[initial]` (the child entering `P` enters). An entity is always in an atomic state, stored by its path, `P.Child` |
///
/// and inside `#[on(…)]`, after the event and target:
///
/// | key | meaning |
/// |---|---|
/// | `guard = f` | `fn(&D, &E, &IntentMeta) -> bool`, a path or a non-capturing closure. `guard = not(f)` inverts it. Repeat the key, or write `guard = [f, not(g)]`: the transition is taken only if every guard passes |
/// | `server_guard = f` | a guard like `guard = f` (also `not(f)`), checked in the authoritative (server) phase only: the client's optimistic step takes it as passed. A stricter server without a second machine |
/// | `reason = "…"` | right after a single guard: the human reason reported when that guard fails; default ``guard `f` failed`` (``guard `not(f)` failed``) |
/// | `assign = f` or `assign = [f, g]` | `fn(&mut D, &E, &IntentMeta)`, paths or non-capturing closures, run in written order |
///
/// Guards and assigns are pure and synchronous: the time, the user, the entity's owner
/// (`meta.owner_id`, its creator; `None` before it exists) and the [`Phase`] come in
/// [`IntentMeta`], never from the clock, so replay is deterministic and client and server
/// decide alike. The transition table names them by their path (or by the closure's text, up
/// to 40 characters).
///
/// # Semantics
///
/// The deterministic subset of XState v5. The candidates for an event in a state are tried in
/// written order, and the first whose guards all pass (or that has none) is taken. Taking it
/// runs, in XState's order, the source state's `#[exit]` actions, the transition's assigns and
/// the target's `#[entry]` actions (exit and entry only if the state changes: a targetless or
/// self transition stays, as XState v5's default `reenter: false`). Then the reached state's
/// `#[always]` transitions are tried, with the same event, until none applies; a loop of
/// unguarded ones is a compile error, and past [`MAX_ALWAYS_STEPS`] the step is the
/// rejection `always_loop` and changes nothing. With compound states (`#[parent]`) an event is
/// tried on the current state, then on each ancestor; exit actions run innermost first, entry
/// actions outermost first, for the states below the transition's domain (XState v5: the
/// source when the target is inside it, else their innermost common ancestor). The
/// snapshot's version rises by one per event. Otherwise the step is a [`Rejection`]:
/// `not_accepted` (no transition for the event), `guard_failed` (naming every failed guard
/// with its reason), `final_state` or `always_loop`.
///
/// A stricter server, two ways: `server_guard = f` on the transitions the server checks
/// further (one machine; the client predicts them as passing), or a second machine over the
/// same domain and events when more than guards differ; snapshots meet by state name
/// ([`Snapshot::convert`]), and any guard can read [`IntentMeta::phase`].
///
/// # What it generates
///
/// `impl sai::Machine` ([`Machine::NAME`], [`Machine::INITIAL`], [`Machine::STATES`],
/// [`Machine::TRANSITIONS`], …, with [`Machine::transition_table`] and [`Machine::mermaid`]
/// renderings). No derives: those are written on the enum (see above).
///
/// # Compile errors
///
/// All in one pass, each on the offending token with a hint: a missing `domain` or `event`, or
/// an unknown key in `#[machine(…)]` (the others are still read); not an enum, or a generic
/// one; a missing state derive; a state with data; no `#[initial]`, or two; a state both `#[initial]` and
/// `#[final_state]`; transitions on a final state; an unknown event variant or target state
/// ("did you mean …"), or one written with its enum (`Event::Open`); `->` for `=>`; an unknown
/// key in `#[on]` ("did you mean …"), a quoted guard or assign, `assign = a, b` for
/// `assign = [a, b]`, a `reason` without a guard, after a list of guards or given twice; a
/// candidate that can never be taken (after an unguarded one for the same event, or after one
/// whose guards are all among its own); a state unreachable from the initial state; a guard or
/// assign with the wrong signature; an event type that is not an [`Event`](trait@Event).
/// `tests/ui/machine_*.rs` shows them.
pub use sai_derive::machine;

pub use uuid::Uuid;

/// What declaring and stepping a domain needs, in one import: `use sai::prelude::*;`.
///
/// The three macros; the [`Domain`] and [`Event`] traits under
/// the same names as their derives (a derive and a trait live in different namespaces, so one
/// name brings both); the [`Machine`] and [`ColumnValue`] traits for their methods only (`TodoMachine::mermaid()`), unnamed so they take no name
/// from your code; and the types a step uses.
pub mod prelude {
    pub use crate::domain::Domain;
    pub use crate::event::Event;
    pub use crate::machine::Machine as _;
    pub use crate::membership::{MemberEvent, Role};
    /// The server store's methods (`migrate`, `projection`, …), with feature `server`.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    pub use crate::server::ServerStore as _;
    pub use crate::value::ColumnValue as _;
    pub use crate::{Intent, IntentMeta, Phase, Rejection, Snapshot, Uuid};
    pub use sai_derive::{Domain, Event, machine};
}

/// Paths used by generated code. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::event::type_of_variant;
    pub use crate::machine::machine_of;
    pub use crate::state_derives::MachineStateDerives;
    pub use crate::stub::{NoEvent, NoMachine};
    pub use crate::value::{json_from_sql, json_to_sql};
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::{self, Err, Ok};
    pub use serde_json::Value as JsonValue;
    pub use std::vec::Vec;
}

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}
