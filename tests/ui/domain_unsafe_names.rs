use sai::{Domain, Event, machine};
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

#[machine(domain = Note, event = NoteEvent)]
enum NoteMachine {
    #[initial]
    #[on(Write)]
    Draft,
}

fn main() {}
