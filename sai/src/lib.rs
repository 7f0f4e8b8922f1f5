//! # sai — event-sourced, offline-first domain entities
//!
//! Declare a domain once — a `#[derive(Domain)]` struct for the entity's fields, a
//! `#[derive(Event)]` enum for what can happen to it and a `#[machine]` enum for its states —
//! and sai derives the rest at compile time: table schemas for SQLite and PostgreSQL, typed
//! intents and projections, and a static transition table that client and server both execute.
//!
//! ```
//! use sai::{Domain, Event, IntentMeta, Machine, Phase, Snapshot, machine};
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
//! let intent = sai::Intent::new(
//!     sai::Uuid::now_v7(), "client-1", "user-1", 1,
//!     TodoEvent::Create { title: "Buy milk".into() }, 0,
//! );
//! let next = Snapshot::<TodoMachine>::initial()
//!     .step_intent(&intent, Phase::Optimistic)
//!     .unwrap();
//! assert_eq!(next.state, TodoMachine::Active);
//! assert_eq!(next.context.title, "Buy milk");
//! ```
//!
//! The modules, from the inside out: [`value`] (column values), [`Domain`], [`Event`],
//! [`Machine`], [`Snapshot`] with the shared step function, [`Rejection`], [`Intent`] and the
//! generated [`schema`]; then the runtimes: [`client`] (a device's SQLite store and actors),
//! `server` (feature `server`: ingestion and the `EventProcessor` on SQLite or, with
//! `postgres`, PostgreSQL), [`sync`] (the embedded loopback transport) and [`powersync`]
//! (sync rules; with the `powersync` feature the client schema, store and upload path).

#![warn(missing_docs)]

pub mod client;
pub mod domain;
pub mod event;
pub mod intent;
pub mod machine;
pub mod powersync;
pub mod rejection;
pub mod schema;
#[cfg(feature = "server")]
pub mod server;
pub mod snapshot;
mod stub;
pub mod sync;
pub mod value;

pub use domain::{ColumnDef, Domain, EventOf, IntentOf, RowError, SnapshotOf};
pub use event::Event;
pub use intent::{DecodeError, Intent, IntentMeta, Phase, RawIntent, Timestamp};
pub use machine::{Assign, AssignFn, Guard, GuardFn, Machine, Transition};
pub use rejection::{FailedGuard, Rejection};
pub use schema::{Dialect, Schema, SchemaError, Side, SyncDirection, TableDef, TableRole};
pub use snapshot::{Replay, Snapshot, UnknownState, replay};
pub use value::{ColumnType, ColumnValue, SqlValue, ValueError};

/// `#[derive(Domain)]`: see the crate documentation.
pub use sai_derive::Domain;
/// `#[derive(Event)]`: see the crate documentation.
pub use sai_derive::Event;
/// `#[machine(domain = …, event = …)]`: see the crate documentation.
pub use sai_derive::machine;

pub use uuid::Uuid;

/// What declaring and stepping a domain needs, in one import: `use sai::prelude::*;`.
///
/// The three macros; the [`Domain`](crate::Domain) and [`Event`](crate::Event) traits under
/// the same names as their derives (a derive and a trait live in different namespaces, so one
/// name brings both); the [`Machine`](crate::Machine) and [`ColumnValue`](crate::ColumnValue)
/// traits for their methods only (`TodoMachine::mermaid()`), unnamed so they take no name
/// from your code; and the types a step uses.
pub mod prelude {
    pub use crate::domain::Domain;
    pub use crate::event::Event;
    pub use crate::machine::Machine as _;
    /// The server store's methods (`migrate`, `projection`, …), with feature `server`.
    #[cfg(feature = "server")]
    pub use crate::server::ServerStore as _;
    pub use crate::value::ColumnValue as _;
    pub use crate::{Intent, IntentMeta, Phase, Rejection, Snapshot, Uuid};
    pub use sai_derive::{Domain, Event, machine};
}

/// Paths used by generated code. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::event::type_of_variant;
    pub use crate::stub::{NoEvent, NoMachine};
    pub use crate::value::{json_from_sql, json_to_sql};
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::{self, Err, Ok};
    pub use std::vec::Vec;
}

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}
