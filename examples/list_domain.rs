//! A shared shopping list: the domain of the sharing example (`shared_list`) and of the
//! sharing tests. `#[domain(shared)]` makes each list a group: its creator owns it and
//! invites others as viewers, editors or owners; the server decides who may do what.
//!
//! The sharing example includes this file with `mod list_domain;`; the test suite's fixtures
//! (`tests/support/lib.rs`) include it too.

#![allow(dead_code)]

use sai::prelude::*;
use serde::{Deserialize, Serialize};

/// A list several users see and change.
#[derive(Domain, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[domain(name = "list", machine = ListMachine, shared)]
pub struct List {
    pub title: String,
    /// The items, stored as JSON text.
    #[domain(json)]
    pub items: Vec<String>,
}

/// What can happen to a list.
#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ListEvent {
    Create { title: String },
    AddItem { item: String },
    Archive,
}

fn set_title(list: &mut List, event: &ListEvent, _: &IntentMeta) {
    if let ListEvent::Create { title } = event {
        list.title = title.clone();
    }
}

fn add_item(list: &mut List, event: &ListEvent, _: &IntentMeta) {
    if let ListEvent::AddItem { item } = event {
        list.items.push(item.clone());
    }
}

/// Only an owner archives a list: the guard reads the member's role, which the device
/// predicts as the server decides it.
pub fn by_an_owner(_: &List, _: &ListEvent, meta: &IntentMeta) -> bool {
    meta.role() == Some(Role::Owner)
}

/// A list's states.
#[machine(domain = List, event = ListEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMachine {
    #[initial]
    #[on(Create => Open, assign = set_title)]
    New,
    #[on(AddItem, assign = add_item)]
    #[on(Archive => Archived, guard = by_an_owner, reason = "only an owner archives a list")]
    Open,
    #[final_state]
    Archived,
}
