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
    Close,
    Lock,
}

#[machine(domain = Door, event = DoorEvent)]
enum DoorMachine {
    #[initial]
    #[on(Lock => Locked)]
    Closed,
    #[final_state]
    #[on(Open => Closed)]
    Locked,
}
fn main() {}
