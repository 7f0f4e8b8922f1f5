use sai::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
#[event(version = 2)]
enum DoorEvent {
    Open { force: bool },
}

fn main() {}
