use sai::{Domain, Event, machine};
use serde::{Deserialize, Serialize};

include!("shared/door.rs");

#[machine(domain = Door, event = DoorEvent)]
enum DoorMachine {
    #[initial]
    #[on(Open => Opening)]
    Closed,
    #[always(Opened)]
    Opening,
    #[always(Opening)]
    Opened,
}
fn main() {}
