use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = NoteMachine)]
struct Note {
    id: String,
    #[domain(column = "version")]
    revision: i64,
}

include!("shared/note.rs");

fn main() {}
