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
    #[on(Open => Opne)]
    Closed,
    #[on(Close => Closed)]
    #[on(Close => Opened)]
    Opened,
    #[final_state]
    #[on(Lock => Closed)]
    Locked,
}
fn main() {}
