use sai::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
enum DoorEvent {
    Open { force: bool },
}

fn main() {}
