use sai::Event;
use serde::{Deserialize, Serialize};

// Takes the payload as text: not the upcaster signature.
fn upcast_open(_from: u32, payload: String) -> Result<String, String> {
    Ok(payload)
}

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum DoorEvent {
    #[event(version = 2, upcast = upcast_open)]
    Open { force: bool },
}

fn main() {}
