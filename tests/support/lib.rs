//! Fixtures shared by the root-level tests, examples and benchmarks: the todo domain from the
//! README, a stricter server machine for it, a small second domain (notes) for multi-domain
//! apps, and database helpers.

#[cfg(feature = "powersync")]
pub mod fake_powersync;
pub mod postgres;
#[cfg(feature = "powersync")]
pub mod powersync;
#[cfg(feature = "powersync")]
pub mod powersync_app;

use sai::{Domain, Event, IntentMeta, Phase, machine};

/// Every value of a one-column query, for assertions on raw tables.
pub fn column<T: rusqlite::types::FromSql>(conn: &rusqlite::Connection, sql: &str) -> Vec<T> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .map(|v| v.expect("row"))
        .collect()
}
use serde::{Deserialize, Serialize};

/// A todo item: the entity.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "todo", machine = TodoMachine)]
pub struct Todo {
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub completed: bool,
    /// Estimated hours, if any.
    pub estimate: Option<f64>,
    /// Free-form labels, stored as JSON.
    #[domain(json)]
    pub labels: Vec<String>,
    /// Stored under another column name.
    #[domain(column = "priority_level")]
    pub priority: i32,
}

/// What can happen to a todo.
#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TodoEvent {
    /// Create it with a title.
    Create {
        /// The title.
        title: String,
    },
    /// Flip done / not done.
    Toggle,
    /// Change the title.
    Rename {
        /// The new title.
        title: String,
    },
    /// Set or clear the estimate.
    Estimate {
        /// Hours.
        hours: Option<f64>,
    },
    /// Add a label.
    Label {
        /// The label.
        label: String,
    },
    /// Delete it for good.
    Delete,
}

/// The event that creates a todo with `title`.
pub fn create(title: &str) -> TodoEvent {
    TodoEvent::Create {
        title: title.into(),
    }
}

/// Sets the title from `Create` or `Rename`.
pub fn set_title(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
    if let TodoEvent::Create { title } | TodoEvent::Rename { title } = event {
        todo.title = title.clone();
    }
}

/// Guards `Create` and `Rename`: the new title must not be blank.
pub fn title_not_empty(_: &Todo, event: &TodoEvent, _: &IntentMeta) -> bool {
    match event {
        TodoEvent::Create { title } | TodoEvent::Rename { title } => !title.trim().is_empty(),
        _ => true,
    }
}

/// Marks it done.
pub fn complete(todo: &mut Todo, _: &TodoEvent, _: &IntentMeta) {
    todo.completed = true;
}

/// Marks it not done.
pub fn reopen(todo: &mut Todo, _: &TodoEvent, _: &IntentMeta) {
    todo.completed = false;
}

/// Sets the estimate.
pub fn set_estimate(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
    if let TodoEvent::Estimate { hours } = event {
        todo.estimate = *hours;
    }
}

/// Adds a label.
pub fn add_label(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
    if let TodoEvent::Label { label } = event {
        todo.labels.push(label.clone());
    }
}

/// Counts every label change as raising the priority (to exercise assign order).
pub fn bump_priority(todo: &mut Todo, _: &TodoEvent, _: &IntentMeta) {
    todo.priority = todo.labels.len() as i32;
}

/// The client's machine: optimistic and permissive.
#[machine(domain = Todo, event = TodoEvent)]
pub enum TodoMachine {
    /// Not created yet.
    #[initial]
    #[on(Create => Active, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
    Idle,
    /// Open.
    #[on(Toggle => Done, assign = complete)]
    #[on(Rename, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
    #[on(Estimate, assign = set_estimate)]
    #[on(Label, assign = [add_label, bump_priority])]
    #[on(Delete => Deleted)]
    Active,
    /// Done.
    #[on(Toggle => Active, assign = reopen)]
    #[on(Delete => Deleted)]
    Done,
    /// Gone for good.
    #[final_state]
    Deleted,
}

/// The server only lets a todo be estimated at most 40 hours, and only by its creator's client
/// during the authoritative step: stricter than the client.
pub fn estimate_within_budget(_: &Todo, event: &TodoEvent, meta: &IntentMeta) -> bool {
    match event {
        TodoEvent::Estimate { hours: Some(h) } => meta.phase == Phase::Optimistic || *h <= 40.0,
        _ => true,
    }
}

/// The server's machine: same states and events as [`TodoMachine`], stricter estimate guard.
#[machine(domain = Todo, event = TodoEvent)]
pub enum StrictTodoMachine {
    /// Not created yet.
    #[initial]
    #[on(Create => Active, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
    Idle,
    /// Open.
    #[on(Toggle => Done, assign = complete)]
    #[on(Rename, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
    #[on(Estimate, guard = estimate_within_budget, reason = "estimates above 40 hours need a split", assign = set_estimate)]
    #[on(Label, assign = [add_label, bump_priority])]
    #[on(Delete => Deleted)]
    Active,
    /// Done.
    #[on(Toggle => Active, assign = reopen)]
    #[on(Delete => Deleted)]
    Done,
    /// Gone for good.
    #[final_state]
    Deleted,
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
