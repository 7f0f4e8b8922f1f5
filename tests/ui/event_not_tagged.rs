use sai::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
enum Untagged {
    Open,
}

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum WrongTag {
    Open,
}

fn main() {}
