use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = NoteMachine)]
struct Note {
    #[domain(was = "version")]
    text: String,
}

include!("shared/note.rs");

fn main() {}
