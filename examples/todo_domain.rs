//! The todo domain every example uses: the entity, its events, the client's machine and the
//! server's stricter machine. It is the README's quick-start domain plus a JSON column
//! (`labels`), a renamed column (`priority`) and an estimate that the server caps.
//!
//! Each example includes this file with `mod todo_domain;`; the test suite's fixtures
//! (`tests/support/lib.rs`) include it too, so examples and tests share one definition.

// Each example uses a part of the domain (`sync_rules` only the entity, say).
#![allow(dead_code)]

use sai::prelude::*;
use serde::{Deserialize, Serialize};

/// A todo item: the entity. Each field is a typed column of its projection table.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "todo", machine = TodoMachine)]
pub struct Todo {
    pub title: String,
    pub completed: bool,
    /// Estimated hours, if any (a nullable `REAL`).
    pub estimate: Option<f64>,
    /// Any serde type can be a column, stored as JSON text.
    #[domain(json)]
    pub labels: Vec<String>,
    /// Stored under another column name.
    #[domain(column = "priority_level")]
    pub priority: i32,
}

/// What can happen to a todo, in XState's wire form: `{"type":"CREATE","title":"…"}`.
#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TodoEvent {
    Create { title: String },
    Toggle,
    Rename { title: String },
    Estimate { hours: Option<f64> },
    Label { label: String },
    Delete,
}

// Guards and assigns are plain, pure functions of the context, the event and the intent's
// metadata (who, when, which phase): client and server run the same ones.

pub fn title_not_empty(_: &Todo, event: &TodoEvent, _: &IntentMeta) -> bool {
    match event {
        TodoEvent::Create { title } | TodoEvent::Rename { title } => !title.trim().is_empty(),
        _ => true,
    }
}

pub fn set_title(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
    if let TodoEvent::Create { title } | TodoEvent::Rename { title } = event {
        todo.title = title.clone();
    }
}

pub fn complete(todo: &mut Todo, _: &TodoEvent, _: &IntentMeta) {
    todo.completed = true;
}

pub fn reopen(todo: &mut Todo, _: &TodoEvent, _: &IntentMeta) {
    todo.completed = false;
}

pub fn set_estimate(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
    if let TodoEvent::Estimate { hours } = event {
        todo.estimate = *hours;
    }
}

pub fn add_label(todo: &mut Todo, event: &TodoEvent, _: &IntentMeta) {
    if let TodoEvent::Label { label } = event {
        todo.labels.push(label.clone());
    }
}

/// Runs after `add_label` on the same transition: assigns run in written order.
pub fn bump_priority(todo: &mut Todo, _: &TodoEvent, _: &IntentMeta) {
    todo.priority = todo.labels.len() as i32;
}

/// The client's machine: what a device accepts at once, optimistically.
#[machine(domain = Todo, event = TodoEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TodoMachine {
    #[initial]
    #[on(Create => Active, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
    Idle,
    #[on(Toggle => Done, assign = complete)]
    #[on(Rename, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
    #[on(Estimate, assign = set_estimate)]
    #[on(Label, assign = [add_label, bump_priority])]
    #[on(Delete => Deleted)]
    Active,
    #[on(Toggle => Active, assign = reopen)]
    #[on(Delete => Deleted)]
    Done,
    #[final_state]
    Deleted,
}

/// The server's cap: at most 40 hours, checked in the authoritative step only (the optimistic
/// step lets every estimate through), so a device learns of it from the server's rejection.
pub fn estimate_within_budget(_: &Todo, event: &TodoEvent, meta: &IntentMeta) -> bool {
    match event {
        TodoEvent::Estimate { hours: Some(h) } => meta.phase == Phase::Optimistic || *h <= 40.0,
        _ => true,
    }
}

/// The server's machine: the same states and events as [`TodoMachine`] (snapshots meet by
/// state name), with the estimate guarded. `EventProcessor::with_machine` decides with it.
#[machine(domain = Todo, event = TodoEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrictTodoMachine {
    #[initial]
    #[on(Create => Active, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
    Idle,
    #[on(Toggle => Done, assign = complete)]
    #[on(Rename, guard = title_not_empty, reason = "title must not be empty", assign = set_title)]
    #[on(Estimate, guard = estimate_within_budget, reason = "estimates above 40 hours need a split", assign = set_estimate)]
    #[on(Label, assign = [add_label, bump_priority])]
    #[on(Delete => Deleted)]
    Active,
    #[on(Toggle => Active, assign = reopen)]
    #[on(Delete => Deleted)]
    Done,
    #[final_state]
    Deleted,
}
