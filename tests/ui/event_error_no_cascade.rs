use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = DoorMachine)]
struct Door {
    label: String,
}

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum DoorEvent {
    Open,
    #[event(version = 0)]
    Close,
}

#[machine(domain = Door, event = DoorEvent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened)]
    Closed,
    #[on(Close => Closed)]
    Opened,
}
fn main() {}
