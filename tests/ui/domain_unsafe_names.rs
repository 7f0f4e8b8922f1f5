use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum NoteEvent {
    Write { text: String },
}

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(name = "Note-Book", machine = NoteMachine)]
struct Note {
    #[domain(column = "Text Body")]
    text: String,
}

include!("shared/note_machine.rs");

fn main() {}
