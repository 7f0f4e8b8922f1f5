//! Fixtures shared by the root-level tests and benchmarks: the todo domain of the README and
//! the examples with its stricter server machine (`examples/todo_domain.rs`, included here), a
//! small second domain (notes) for multi-domain apps, and database helpers.

#[cfg(feature = "powersync")]
pub mod fake_powersync;
pub mod postgres;
#[cfg(feature = "powersync")]
pub mod powersync;
#[cfg(feature = "powersync")]
pub mod powersync_app;

use sai::{Domain, Event, IntentMeta, machine};

/// Every value of a one-column query, for assertions on raw tables.
pub fn column<T: rusqlite::types::FromSql>(conn: &rusqlite::Connection, sql: &str) -> Vec<T> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .map(|v| v.expect("row"))
        .collect()
}
use serde::{Deserialize, Serialize};

// The todo domain of the README and the examples (client machine and stricter server
// machine): one definition, shared with `examples/`.
#[path = "../../examples/todo_domain.rs"]
mod todo_domain;
pub use todo_domain::*;

// The shared list of the sharing example and tests (`#[domain(shared)]`).
#[path = "../../examples/list_domain.rs"]
mod list_domain;
pub use list_domain::*;

/// The event that creates a todo with `title`.
pub fn create(title: &str) -> TodoEvent {
    TodoEvent::Create {
        title: title.into(),
    }
}

/// A note: a second domain, for apps with more than one.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "note", machine = NoteMachine)]
pub struct Note {
    /// The note's text.
    pub text: String,
}

/// What can happen to a note.
#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoteEvent {
    /// Write (or rewrite) its text.
    Write {
        /// The text.
        text: String,
    },
    /// Archive it for good.
    Archive,
}

/// Sets the text from `Write`.
pub fn set_text(note: &mut Note, event: &NoteEvent, _: &IntentMeta) {
    if let NoteEvent::Write { text } = event {
        note.text = text.clone();
    }
}

/// Whether the acting user owns the note (or it does not exist yet).
pub fn by_owner(_: &Note, _: &NoteEvent, meta: &IntentMeta) -> bool {
    meta.owner_id.is_none_or(|owner| owner == meta.user_id)
}

/// A note's states; client and server use the same machine.
#[machine(domain = Note, event = NoteEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteMachine {
    /// Not written yet.
    #[initial]
    #[on(Write => Written, assign = set_text)]
    Blank,
    /// Has text.
    #[on(Write, assign = set_text)]
    #[on(Archive => Archived, guard = by_owner, reason = "only its owner archives a note")]
    Written,
    /// Archived for good.
    #[final_state]
    Archived,
}

/// A guard with a bug: it panics on the title `PANIC` (user code meeting an input nobody
/// foresaw), and is otherwise [`title_not_empty`].
pub fn panics_on_panic(todo: &Todo, event: &TodoEvent, meta: &IntentMeta) -> bool {
    if let TodoEvent::Create { title } | TodoEvent::Rename { title } = event {
        assert!(title != "PANIC", "a guard met the title {title:?}");
    }
    title_not_empty(todo, event, meta)
}

/// An assign with a bug: the estimate per label divides by the number of labels, so on a
/// todo without labels it is not finite (SQLite would store NaN as NULL).
pub fn estimate_per_label(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
    if let TodoEvent::Estimate { hours } = event {
        todo.estimate = hours.map(|h| h / todo.labels.len() as f64);
    }
}

/// The todo machine with a panicking guard ([`panics_on_panic`]) on create and rename and
/// an assign that can compute NaN ([`estimate_per_label`]): what the server must contain so
/// that one intent never halts the queue.
#[machine(domain = Todo, event = TodoEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanickyTodoMachine {
    #[initial]
    #[on(Create => Active, guard = panics_on_panic, reason = "title must not be empty", assign = set_title)]
    Idle,
    #[on(Toggle => Done, assign = complete)]
    #[on(Rename, guard = panics_on_panic, reason = "title must not be empty", assign = set_title)]
    #[on(Estimate, assign = estimate_per_label)]
    #[on(Label, assign = [add_label, bump_priority])]
    #[on(Delete => Deleted)]
    Active,
    #[on(Toggle => Active, assign = reopen)]
    #[on(Delete => Deleted)]
    Done,
    #[final_state]
    Deleted,
}
