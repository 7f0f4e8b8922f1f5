use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = NoteMachine)]
struct Note {
    text: String,
    #[domain(default = Some(4))]
    hours: Option<i64>,
}

include!("shared/note.rs");

fn main() {}
