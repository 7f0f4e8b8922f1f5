use sai::{Domain, Event};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize)]
struct Tags(Vec<String>);

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = NoteMachine)]
struct Note {
    text: String,
    // `skip` keeps serde's own derive on `Note` quiet, so that sai's error shows alone.
    #[serde(skip)]
    #[domain(json)]
    tags: Tags,
}

include!("shared/note.rs");

fn main() {}
