use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
struct Note {
    text: String,
}

include!("shared/note.rs");

fn main() {}
