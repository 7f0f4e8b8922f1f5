use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(name = "a_note_with_a_name_far_longer_than_any_table_allows", machine = NoteMachine)]
struct Note {
    text: String,
}

include!("shared/note.rs");

fn main() {}
