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

fn not_locked(_: &Door, _: &DoorEvent, _: &sai::IntentMeta) -> bool {
    true
}

#[machine(domain = Door, event = DoorEvent)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opened)]
    #[on(Open => Opened, guard = not_locked)]
    Closed,
    #[on(Close => Closed)]
    Opened,
}
fn main() {}
