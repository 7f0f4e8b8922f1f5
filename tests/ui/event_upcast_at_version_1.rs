use sai::Event;
use serde::{Deserialize, Serialize};

fn upcast_open(_from: u32, payload: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(payload)
}

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum DoorEvent {
    #[event(upcast = upcast_open)]
    Open { force: bool },
}

fn main() {}
