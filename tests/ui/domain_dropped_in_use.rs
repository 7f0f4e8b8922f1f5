use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = NoteMachine, dropped = ["text", "Legacy Notes", "state"])]
struct Note {
    text: String,
}

include!("shared/note.rs");

fn main() {}
