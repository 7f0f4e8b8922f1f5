use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = NoteMachine)]
struct Note {
    text: String,
    views: u64,
    tags: Vec<String>,
}

include!("shared/note.rs");

fn main() {}
