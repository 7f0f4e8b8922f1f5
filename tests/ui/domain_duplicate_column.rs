use sai::{Domain, Event};
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
    #[domain(column = "text")]
    body: String,
}

include!("shared/note_machine.rs");

fn main() {}
