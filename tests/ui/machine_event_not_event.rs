use sai::{Domain, machine};
use serde::{Deserialize, Serialize};

#[derive(Domain, Debug, Clone, Default, Serialize, Deserialize)]
#[domain(machine = DoorMachine)]
struct Door {
    label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum DoorEvent {
    Open,
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
