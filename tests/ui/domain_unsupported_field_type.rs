use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum NoteEvent {
    Write { text: String },
}

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = NoteMachine)]
struct Note {
    text: String,
    views: u64,
    tags: Vec<String>,
}

#[machine(domain = Note, event = NoteEvent)]
enum NoteMachine {
    #[initial]
    #[on(Write)]
    Draft,
}

fn main() {}
