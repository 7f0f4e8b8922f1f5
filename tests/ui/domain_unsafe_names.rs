use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(name = "Note-Book", machine = NoteMachine)]
struct Note {
    #[domain(column = "Text Body")]
    text: String,
}

include!("shared/note.rs");

fn main() {}
